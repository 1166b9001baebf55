/* file_identity: what makes a followed file the same file, (dev, inode) plus an FNV-1a hash of its
 * first bytes, and the pure rotation decision built on it; no state of the source. */
#include "logship/in/file_tail.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"

enum ls_rot ls_rotation_decide(const struct ls_file_id *known, uint64_t offset,
                               const struct ls_file_obs *obs)
{
    if (!obs->exists)
        return LS_ROT_GONE;
    if (obs->dev != known->dev || obs->ino != known->ino)
        return LS_ROT_OTHER;
    if (obs->size < offset)
        return LS_ROT_TRUNCATED;
    if (known->fp_len > 0 && (obs->size < known->fp_len || !obs->fp_ok || obs->fp != known->fp))
        return LS_ROT_TRUNCATED;
    return obs->size > offset ? LS_ROT_GROWN : LS_ROT_IDLE;
}

/* Read up to n bytes of fd's head into b (stopping early at its end or an error). Bytes read. */
static size_t read_head(int fd, void *b, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)b + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

int ls_file_observe(int fd, uint32_t want_fp, struct ls_file_obs *o)
{
    memset(o, 0, sizeof(*o));
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    o->exists = 1;
    o->dev = (uint64_t)st.st_dev;
    o->ino = (uint64_t)st.st_ino;
    o->size = (uint64_t)st.st_size;
    if (want_fp == 0) {
        o->fp_ok = 1;
        o->fp = ls_fingerprint("", 0);
        return 0;
    }
    if (o->size < want_fp)
        return 0;
    char b[LS_FP_BYTES];
    if (read_head(fd, b, want_fp) == want_fp) {
        o->fp = ls_fingerprint(b, want_fp);
        o->fp_ok = 1;
    }
    return 0;
}

void ls_file_refresh_fp(struct ls_tfile *f, uint64_t size)
{
    uint32_t n = size >= LS_FP_BYTES ? LS_FP_BYTES : (uint32_t)size;
    if (n <= f->id.fp_len && f->id.fp_len > 0)
        return;
    size_t got = read_head(f->fd, f->head.b, n);
    f->head.dev = f->id.dev;
    f->head.ino = f->id.ino;
    f->head.len = (uint32_t)got;
    f->id.fp = ls_fingerprint(f->head.b, got);
    f->id.fp_len = (uint32_t)got;
}

void ls_file_set_origin(struct ls_tfile *f)
{
    char pre[80];
    snprintf(pre, sizeof(pre), "f:%" PRIu64 ":%" PRIu64 ":%016" PRIx64, f->id.dev, f->id.ino,
             f->id.fp);
    ls_reader_set_origin(&f->rd, pre);
}

int ls_file_head_matches(int fd, uint64_t off, uint64_t fp)
{
    unsigned char b[LS_FP_BYTES];
    size_t got = read_head(fd, b, sizeof(b));
    size_t lo = off + 1 < LS_FP_BYTES ? (size_t)off + 1 : LS_FP_BYTES;
    uint64_t h = HASH_FNV64_INIT;
    for (size_t i = 0; i < got; i++) {
        h = hash_fnv1a64_add(h, b + i, 1); /* ls_fingerprint, one byte at a time */
        if (i + 1 >= lo && h == fp)
            return 1;
    }
    return 0;
}

int ls_file_dir_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return -1;
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= cap)
        return -1;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return 0;
}
