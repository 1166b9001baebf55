/* file_read: one followed file's read loop: skip what the spool already holds (the resume mark),
 * then pread chunks into the file's line reader until its end, the budget or backpressure. */
#include "logship/in/file_tail.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Before the first read of f: skip what the spool already holds of it. */
static void apply_mark(struct ls_fsrc *s, struct ls_tfile *f)
{
    f->mark_checked = 1;
    /* the marked line must still be in the file (a smaller file was
     * truncated and holds other lines) and the head must be the same */
    uint64_t off, fp;
    struct stat st;
    if (!s->resume_fn || !s->resume_fn(s->resume_ctx, f->id.dev, f->id.ino, &off, &fp) ||
        fstat(f->fd, &st) != 0 || (uint64_t)st.st_size <= off ||
        !ls_file_head_matches(f->fd, off, fp))
        return;
    if (!f->from_saved && f->off != 0) {
        /* started at the tail, but the spool holds lines of it: a crash
         * before the first checkpoint; continue where they stop */
        f->off = 0;
        ls_reader_reset(&f->rd, 0);
    }
    if (off < f->off)
        return; /* positions.json is past it already */
    ls_reader_skip_to(&f->rd, off);
    char a[24], b[24];
    snprintf(a, sizeof(a), "%" PRIu64, f->off);
    snprintf(b, sizeof(b), "%" PRIu64, off);
    log_kv(LOGL_INFO, "resuming after the last line already in the spool", "path", f->path, "from",
           a, "spooled_line_at", b, NULL);
}

long ls_file_read(struct ls_fsrc *s, struct ls_tfile *f, struct ls_emitter *em, size_t budget,
                  int64_t now, int *stop)
{
    *stop = 0;
    if (!f->mark_checked)
        apply_mark(s, f);
    if (f->eof_since != 0) {
        /* At its end last time: one fstat says whether anything changed (the
         * cheap idle path). If so, make sure the new bytes continue the file
         * and are not a truncated-and-rewritten file read from the middle. */
        struct stat st;
        if (fstat(f->fd, &st) == 0 && (uint64_t)st.st_size == f->off)
            return 0;
        if (!f->gone)
            ls_file_check_truncation(s, f);
    }
    long total = 0;
    while ((size_t)total < budget) {
        ssize_t n = pread(f->fd, s->rbuf, LS_FILE_READ_CHUNK, (off_t)f->off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_kv(LOGL_WARN, "read failed, dropping file", "path", f->path, "error",
                   strerror(errno), NULL);
            f->gone = 1;
            f->eof_since = 1;
            break;
        }
        if (n == 0) {
            if (f->eof_since == 0)
                f->eof_since = now;
            break;
        }
        f->eof_since = 0;
        if (f->id.fp_len < LS_FP_BYTES) {
            ls_file_refresh_fp(f, f->off + (uint64_t)n);
            ls_file_set_origin(f);
        }
        long used = ls_reader_feed(&f->rd, s->rbuf, (size_t)n, f->off, em, now, stop);
        if (used < 0)
            return -1;
        f->off += (uint64_t)used;
        total += used;
        metrics_add(s->globs[f->glob].bytes, (double)used);
        if (*stop) {
            s->pending = f;
            break;
        }
        if (n < LS_FILE_READ_CHUNK) { /* a short read of a regular file: its end, for now */
            f->eof_since = now;
            break;
        }
    }
    return total;
}
