/* spool_writer: the writer side of the spool (append into the write buffer, flush to the active
 * segment, rollover, the size cap and drop-oldest, fdatasync per policy and the marks that wait for it),
 * used by the reader loop's thread only. */
#include "logship/spool/spool_int.h"
#include "array.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "clock.h"
#include "fdio.h"
#include "log.h"
#include "logship/spool/spool_record.h"

/* Written records' marks wait in dmarks until their data is synced, so that
 * marks.json (durable) never claims a line whose record a power loss could
 * still take. Writer thread only. */
static void dmarks_add(struct ls_spool *sp)
{
    if (sp->nwmarks == 0)
        return;
    size_t need = sp->ndmarks + sp->nwmarks;
    if (array_grow((void **)&sp->dmarks, &sp->capdmarks, need, sizeof(*sp->dmarks), 0) != 0)
        return; /* those lines may be read again after a crash: no loss */
    memcpy(sp->dmarks + sp->ndmarks, sp->wmarks, sp->nwmarks * sizeof(*sp->wmarks));
    sp->ndmarks += sp->nwmarks;
}

/* The data of the marks in dmarks is durable: record them. Never after a
 * failed fdatasync (a mark is a high-water mark: it would claim the lines
 * before it too). */
static void dmarks_apply(struct ls_spool *sp)
{
    if (sp->ndmarks == 0 || sp->sync_lost) {
        sp->ndmarks = 0;
        return;
    }
    pthread_mutex_lock(&sp->mu);
    for (size_t i = 0; i < sp->ndmarks; i++)
        (void)ls_marks_put(sp->marks, &sp->dmarks[i]);
    pthread_mutex_unlock(&sp->mu);
    sp->ndmarks = 0;
}

/* An fdatasync of the active segment failed. The kernel may have dropped
 * the dirty pages and marked them clean, so a retried fdatasync could
 * succeed on nothing (fsyncgate): durability is never claimed again in this
 * run (ls_spool_commit_point fails from now on), and the marks waiting for
 * this sync are dropped (a lost mark only makes a file re-read lines after
 * a restart; see spool.h). */
static void sync_failed(struct ls_spool *sp, int e)
{
    if (!sp->sync_lost) {
        log_kv(LOGL_ERROR, "spool: fdatasync failed", "error", strerror(e), "dir", sp->dir,
               "effect", "no source checkpoint is committed until logship restarts; lines since the last "
               "checkpoint are then read again", NULL);
        const char *v[1] = { "io" };
        if (sp->m_werr)
            metrics_family_add(sp->m_werr, v, 1);
    }
    sp->sync_lost = 1;
    sp->ndmarks = 0;
}

/* fdatasync the active segment if it holds unsynced data. 0, or LS_SPOOL_ERR
 * (see sync_failed). */
static int sync_active(struct ls_spool *sp)
{
    if (!sp->dirty)
        return LS_SPOOL_OK;
    if (fdatasync(sp->wfd) != 0) {
        sync_failed(sp, errno);
        return LS_SPOOL_ERR;
    }
    sp->dirty = 0;
    return LS_SPOOL_OK;
}

int ls_spool_roll(struct ls_spool *sp)
{
    if (sp->wfd < 0)
        return LS_SPOOL_OK;
    int rc = LS_SPOOL_OK;
    if (sp->o.fsync != LS_FSYNC_NEVER)
        rc = sync_active(sp);
    if (rc == LS_SPOOL_OK)
        dmarks_apply(sp); /* before the segment can be deleted, so marks.json covers it */
    if (close(sp->wfd) != 0)
        rc = LS_SPOOL_ERR;
    pthread_mutex_lock(&sp->mu);
    sp->wfd = -1;   /* seg_consumed reads it under mu */
    pthread_mutex_unlock(&sp->mu);
    sp->dirty = 0;
    return rc;
}

/* Create the active segment, named after the first buffered record.
 * LS_SPOOL_OK, or the refusal's code (counted and logged). */
static int create_active(struct ls_spool *sp)
{
    char path[LS_SPOOL_PATH_MAX];
    struct ls_spool_seg s = { .base = sp->wbuf_first_seq, .first_seq = sp->wbuf_first_seq,
                     .next_seq = sp->wbuf_first_seq };
    ls_spool_seg_path(sp, s.base, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        return ls_spool_write_failed(sp, errno, "create segment", path);
    if (sp->o.fsync != LS_FSYNC_NEVER)
        (void)atomicfile_fsync_dir(sp->dir);
    pthread_mutex_lock(&sp->mu);
    int rc = ls_spool_seg_push(sp, &s);
    if (rc == 0) {
        sp->wfd = fd;
        sp->active_base = s.base;
    }
    pthread_mutex_unlock(&sp->mu);
    if (rc != 0) {
        close(fd);
        (void)unlink(path);
        return LS_SPOOL_ERR;
    }
    sp->w_active = 0;
    return LS_SPOOL_OK;
}

/* A segment write was refused (no space, or an I/O error on this file):
 * close the active segment if it holds records (the active one is never
 * deleted, so acknowledgements could not free it, and a file that fails
 * writes must not wedge the spool) and start the next one at once, so
 * readers move off the old file and its blocks are really freed when it is
 * deleted. */
static void abandon_active(struct ls_spool *sp)
{
    if (sp->wfd < 0 || sp->w_active == 0)
        return;
    (void)ls_spool_roll(sp);
    pthread_mutex_lock(&sp->mu);
    ls_spool_cleanup_locked(sp);
    pthread_mutex_unlock(&sp->mu);
    (void)create_active(sp); /* an empty file needs no blocks; if it fails, the next flush tries */
}

/* Write all of the write buffer at the end of the active segment. 0, or the
 * errno of the failure with *done bytes written. */
static int write_buffer(struct ls_spool *sp, size_t *done)
{
    if (fdio_write_all(sp->wfd, sp->wbuf, sp->wlen, done, NULL) != 0)
        return errno;
    return 0;
}

/* A segment write failed (errno e) after done bytes: partial writes would
 * split a record, so cut the file back to the last whole flush (readers
 * never see half a record) and keep the buffer; count the refusal and move
 * to a fresh segment. Returns the refusal's code. */
static int write_refused(struct ls_spool *sp, size_t done, int e)
{
    pthread_mutex_lock(&sp->mu);
    uint64_t size = sp->segs[sp->nsegs - 1].size;
    pthread_mutex_unlock(&sp->mu);
    if (done > 0 && ftruncate(sp->wfd, (off_t)size) != 0)
        log_kv(LOGL_ERROR, "spool: cannot cut partial write", "error", strerror(errno), NULL);
    char path[LS_SPOOL_PATH_MAX];
    ls_spool_seg_path(sp, sp->active_base, path, sizeof(path));
    int r = ls_spool_write_failed(sp, e, "write", path);
    abandon_active(sp);
    return r;
}

/* The write buffer is in the active segment: show it to the readers and
 * start an empty buffer. */
static void publish(struct ls_spool *sp)
{
    pthread_mutex_lock(&sp->mu);
    struct ls_spool_seg *s = &sp->segs[sp->nsegs - 1];
    s->size += sp->wlen;
    s->nrecs += sp->wbuf_nrecs;
    s->next_seq = sp->wbuf_next_seq;
    sp->total_bytes += sp->wlen;
    sp->total_recs += sp->wbuf_nrecs;
    sp->w_total = sp->total_bytes;
    sp->w_active = s->size;
    sp->vis_next_seq = sp->wbuf_next_seq;
    if (sp->o.fsync == LS_FSYNC_NEVER) /* no durability promised: known at once */
        for (size_t i = 0; i < sp->nwmarks; i++)
            (void)ls_marks_put(sp->marks, &sp->wmarks[i]);
    sp->gen++;
    ls_spool_update_gauges(sp);
    pthread_cond_broadcast(&sp->cv);
    pthread_mutex_unlock(&sp->mu);
    if (sp->o.fsync != LS_FSYNC_NEVER)
        dmarks_add(sp);
    sp->nwmarks = 0;
    sp->wlen = 0;
    sp->wbuf_nrecs = 0;
    sp->dirty = 1;
}

int ls_spool_flush(struct ls_spool *sp)
{
    int paused = atomic_load_explicit(&sp->nospace, memory_order_relaxed);
    if (sp->wlen == 0 && !paused)
        return LS_SPOOL_OK;
    if (paused) {
        int r = ls_spool_space_resume(sp);
        if (r != LS_SPOOL_OK)
            return r;
        if (sp->wlen == 0) {
            ls_spool_write_ok(sp); /* space is back (the spool started paused, nothing waits) */
            return LS_SPOOL_OK;
        }
    }
    if (sp->wfd < 0) {
        int r = create_active(sp);
        if (r != LS_SPOOL_OK)
            return r;
    }
    size_t done = 0;
    int e = write_buffer(sp, &done);
    if (e)
        return write_refused(sp, done, e);
    ls_spool_write_ok(sp);
    publish(sp);
    return LS_SPOOL_OK;
}

static uint64_t active_size(struct ls_spool *sp)
{
    return sp->wfd < 0 ? 0 : sp->w_active;
}

static void set_full(struct ls_spool *sp, int v)
{
    if (atomic_load_explicit(&sp->full, memory_order_relaxed) == v)
        return;
    atomic_store_explicit(&sp->full, v, memory_order_relaxed);
    ls_spool_update_blocked(sp);
}

/* Make room for need more bytes: LS_SPOOL_OK, LS_SPOOL_FULL (blocking),
 * LS_SPOOL_NOSPACE or LS_SPOOL_ERR. */
static int make_room(struct ls_spool *sp, uint64_t need)
{
    /* w_total can only be too high (readers delete), so this is safe. */
    if (sp->w_total + sp->wlen + need <= sp->o.max_bytes)
        return LS_SPOOL_OK;
    pthread_mutex_lock(&sp->mu);
    sp->w_total = sp->total_bytes;
    pthread_mutex_unlock(&sp->mu);
    if (sp->w_total + sp->wlen + need <= sp->o.max_bytes)
        return LS_SPOOL_OK;
    int fr = ls_spool_flush(sp);
    if (fr != LS_SPOOL_OK)
        return fr;
    if (!sp->o.drop_oldest)
        return LS_SPOOL_FULL;
    for (;;) {
        pthread_mutex_lock(&sp->mu);
        if (sp->total_bytes + need <= sp->o.max_bytes || sp->nsegs == 0) {
            sp->w_total = sp->total_bytes;
            pthread_mutex_unlock(&sp->mu);
            return LS_SPOOL_OK;
        }
        if (sp->wfd >= 0 && sp->segs[0].base == sp->active_base) {
            pthread_mutex_unlock(&sp->mu);
            if (ls_spool_roll(sp) != LS_SPOOL_OK)
                return LS_SPOOL_ERR;
            continue;
        }
        struct ls_spool_seg *s = &sp->segs[0];
        uint64_t minack = UINT64_MAX;
        /* What the slowest reader has not even read into memory is lost;
         * a batch it holds will still be delivered. */
        for (size_t r = 0; r < sp->nrds; r++) {
            uint64_t rs = atomic_load_explicit(&sp->rds[r]->read_seq, memory_order_acquire);
            if (rs < minack)
                minack = rs;
        }
        uint64_t from = s->first_seq > minack ? s->first_seq : minack;
        if (sp->nrds == 0)
            from = s->first_seq;
        uint64_t lost = s->next_seq > from ? s->next_seq - from : 0;
        char nb[32];
        char path[LS_SPOOL_PATH_MAX];
        ls_spool_u64s(nb, sizeof(nb), lost);
        ls_spool_seg_path(sp, s->base, path, sizeof(path));
        (void)ls_spool_marks_sync_locked(sp); /* dropping anyway: lines whose mark is lost may be read again */
        ls_spool_drop_first(sp);
        ls_spool_update_gauges(sp);
        pthread_mutex_unlock(&sp->mu);
        if (lost > 0) {
            ls_spool_count_dropped(sp, "full", lost);
            log_kv(LOGL_WARN, "spool full: dropped oldest segment", "segment", path,
                   "records", nb, NULL);
        }
    }
}

/* Remember the mark of a buffered record; flush applies it once written.
 * Consecutive records of one file only move the offset (no parsing). */
static void wmark_note(struct ls_spool *sp, const struct ls_record *rec, uint64_t seq)
{
    const char *o = rec->origin;
    size_t n = rec->origin_len;
    const char *at = n >= 2 && o[0] == 'f' && o[1] == ':' ? memchr(o, '@', n) : NULL;
    if (!at)
        return;
    size_t pl = (size_t)(at - o);
    if (sp->nwmarks > 0 && pl == sp->wm_prelen && memcmp(o, sp->wm_pre, pl) == 0) {
        uint64_t off = 0;
        const char *p = at + 1;
        for (; p < o + n && *p >= '0' && *p <= '9' && off < UINT64_MAX / 10 - 10; p++)
            off = off * 10 + (uint64_t)(*p - '0');
        if (p == o + n && p > at + 1) {
            sp->wmarks[sp->nwmarks - 1].off = off;
            sp->wmarks[sp->nwmarks - 1].seq = seq;
            return;
        }
    }
    struct ls_mark m;
    if (!ls_marks_parse_origin(o, n, seq, &m))
        return;
    if (array_grow((void **)&sp->wmarks, &sp->capwmarks, sp->nwmarks + 1, sizeof(*sp->wmarks), 0) != 0)
        return; /* the file is then re-read up to its positions.json after a crash: no loss */
    sp->wmarks[sp->nwmarks++] = m;
    sp->wm_prelen = pl < sizeof(sp->wm_pre) ? pl : 0;
    if (sp->wm_prelen)
        memcpy(sp->wm_pre, o, pl);
}

/* Roll before a record of total bytes would push the active segment over
 * its size. LS_SPOOL_OK or the refusal's code. */
static int roll_if_due(struct ls_spool *sp, size_t total)
{
    uint64_t asz = active_size(sp);
    if (asz + sp->wlen + total <= sp->o.segment_bytes || asz + sp->wlen == 0)
        return LS_SPOOL_OK;
    int r = ls_spool_flush(sp);
    if (r != LS_SPOOL_OK)
        return r;
    if (ls_spool_roll(sp) != LS_SPOOL_OK)
        return LS_SPOOL_ERR;
    pthread_mutex_lock(&sp->mu);
    ls_spool_cleanup_locked(sp);
    pthread_mutex_unlock(&sp->mu);
    return LS_SPOOL_OK;
}

/* A record larger than the write buffer (encoded in big, total bytes, seq)
 * goes straight out; the buffer was flushed before, so its mark is the only
 * one. Returns the flush's code; on failure nothing was taken. */
static int append_big(struct ls_spool *sp, const struct ls_record *rec, char *big, size_t total, uint64_t seq)
{
    char *save = sp->wbuf;
    sp->wbuf = big;
    sp->wlen = total;
    sp->wbuf_first_seq = seq;
    sp->wbuf_next_seq = seq + 1;
    sp->wbuf_nrecs = 1;
    wmark_note(sp, rec, seq);
    int fr = ls_spool_flush(sp);
    sp->wbuf = save;
    if (fr != LS_SPOOL_OK) {
        sp->wlen = 0;
        sp->wbuf_nrecs = 0;
        sp->nwmarks = 0;
        sp->next_seq--;
    }
    return fr;
}

int ls_spool_append(struct ls_spool *sp, const struct ls_record *rec)
{
    uint64_t body = (uint64_t)rec->labels_len + rec->line_len + rec->origin_len;
    if (body > sp->o.max_record_bytes) {
        char n[24];
        ls_spool_u64s(n, sizeof(n), body);
        log_kv(LOGL_ERROR, "spool: record too large, dropped", "bytes", n, NULL);
        ls_spool_count_dropped(sp, "too_large", 1);
        return LS_SPOOL_TOO_LARGE;
    }
    size_t total = ls_spool_rec_size((size_t)body);
    /* While the disk is full take nothing new: the buffer waits for space. */
    if (atomic_load_explicit(&sp->nospace, memory_order_relaxed)) {
        int r = ls_spool_flush(sp);
        if (r != LS_SPOOL_OK)
            return r;
    }
    int r = make_room(sp, total);
    set_full(sp, r == LS_SPOOL_FULL);
    if (r != LS_SPOOL_OK)
        return r;
    r = roll_if_due(sp, total);
    if (r != LS_SPOOL_OK)
        return r;
    if (sp->wlen + total > LS_SPOOL_WBUF_CAP) {
        r = ls_spool_flush(sp);
        if (r != LS_SPOOL_OK)
            return r;
    }
    if (sp->wlen == 0)
        sp->wbuf_first_seq = sp->next_seq;
    char *big = NULL;
    if (total > LS_SPOOL_WBUF_CAP) {
        big = malloc(total);
        if (!big)
            return LS_SPOOL_ERR;
    }
    uint64_t seq = sp->next_seq++;
    ls_spool_rec_encode(big ? big : sp->wbuf + sp->wlen, rec, seq, clock_real_ns());
    if (big) {
        r = append_big(sp, rec, big, total, seq);
        free(big);
        return r;
    }
    wmark_note(sp, rec, seq);
    sp->wlen += total;
    sp->wbuf_next_seq = sp->next_seq;
    sp->wbuf_nrecs++;
    return LS_SPOOL_OK;
}

int ls_spool_commit_point(struct ls_spool *sp, int force)
{
    if (ls_spool_flush(sp) != LS_SPOOL_OK)
        return LS_SPOOL_ERR;
    if (sp->sync_lost)
        return LS_SPOOL_ERR;
    if (sp->o.fsync == LS_FSYNC_NEVER || !sp->dirty || sp->wfd < 0) {
        dmarks_apply(sp);
        return 1;
    }
    int64_t now = clock_mono_ns();
    if (!force && sp->o.fsync == LS_FSYNC_INTERVAL &&
        now - sp->last_sync_ns < sp->o.fsync_interval_ms * 1000000)
        return 0;
    if (sync_active(sp) != LS_SPOOL_OK)
        return LS_SPOOL_ERR;
    sp->last_sync_ns = now;
    dmarks_apply(sp);
    return 1;
}

int ls_spool_full(struct ls_spool *sp)
{
    return atomic_load_explicit(&sp->full, memory_order_relaxed);
}

int ls_spool_nospace(struct ls_spool *sp)
{
    return atomic_load_explicit(&sp->nospace, memory_order_relaxed);
}

int ls_spool_sync_lost(struct ls_spool *sp)
{
    return atomic_load_explicit(&sp->sync_lost, memory_order_relaxed);
}
