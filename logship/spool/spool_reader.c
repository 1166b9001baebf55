/* spool_reader: each output's reader (batches read from the segments, the acknowledged cursor and the
 * in-flight "sent" mark in cursor-<name>.json), one thread per reader. */
#include "logship/spool/spool_int.h"
#include "array.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>

#include "atomicfile.h"
#include "buf.h"
#include "clock.h"
#include "log.h"
#include "logship/spool/spool_record.h"

/* Read the cursor file. 0 with seq, sg, off, sent set, 1 when absent, 2
 * when garbage, -1 on an I/O error. */
static enum ls_cursor_load load_cursor(struct ls_spool_reader *rd, uint64_t *seq, uint64_t *sg, uint64_t *off,
                       uint64_t *sent)
{
    buf_t b;
    buf_init(&b, 4096);
    int r = atomicfile_read(rd->cursor_path, &b);
    if (r != 0) {
        buf_free(&b);
        return r > 0 ? LS_CURSOR_ABSENT : LS_CURSOR_ERROR;
    }
    enum ls_cursor_load rc = LS_CURSOR_GARBAGE;
    json_object *o = json_tokener_parse(b.p ? b.p : "");
    if (o && json_object_get_type(o) == json_type_object) {
        int ok = 1;
        const char *keys[4] = { "seq", "seg", "off", "sent" };
        uint64_t *dst[4] = { seq, sg, off, sent };
        *sent = 0;
        for (int k = 0; k < 4; k++) {
            json_object *v;
            if (!json_object_object_get_ex(o, keys[k], &v)) {
                ok = ok && k == 3; /* "sent" is new: absent means nothing in flight */
                continue;
            }
            if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
                ok = 0;
            else
                *dst[k] = (uint64_t)json_object_get_int64(v);
        }
        if (ok)
            rc = LS_CURSOR_READ;
    }
    json_object_put(o);
    buf_free(&b);
    return rc;
}

/* Free rd and what it holds (it is not registered). */
static void reader_free(struct ls_spool_reader *rd)
{
    if (rd->fd >= 0)
        close(rd->fd);
    free(rd->recs);
    free(rd->app);
    free(rd->mem);
    free(rd->name);
    free(rd->cursor_path);
    free(rd);
}

/* Is name usable in a file name ([A-Za-z0-9_.-], not empty)? */
static int name_ok(const char *name)
{
    for (const char *c = name; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_' || *c == '.'))
            return 0;
    }
    return 1;
}

struct ls_spool_reader *ls_spool_reader_open(struct ls_spool *sp, const char *name,
                                             size_t batch_bytes, char *err, size_t errlen)
{
    if (!name_ok(name)) {
        snprintf(err, errlen, "spool: bad reader name '%s'", name);
        return NULL;
    }
    struct ls_spool_reader *rd = calloc(1, sizeof(*rd));
    if (!rd) {
        snprintf(err, errlen, "spool: out of memory");
        return NULL;
    }
    size_t plen = strlen(sp->dir) + strlen(name) + 32;
    rd->sp = sp;
    rd->fd = -1;
    rd->batch_bytes = batch_bytes ? batch_bytes : (1u << 20);
    rd->cap = rd->batch_bytes + sp->o.max_record_bytes + LS_SPOOL_REC_HDR;
    rd->name = strdup(name);
    rd->cursor_path = malloc(plen);
    rd->mem = malloc(rd->cap);
    if (!rd->name || !rd->cursor_path || !rd->mem) {
        snprintf(err, errlen, "spool: out of memory");
        goto out;
    }
    snprintf(rd->cursor_path, plen, "%s/cursor-%s.json", sp->dir, name);
    uint64_t seq = 0;
    uint64_t sg = 0;
    uint64_t off = 0;
    uint64_t sent = 0;
    enum ls_cursor_load lr = load_cursor(rd, &seq, &sg, &off, &sent);
    if (lr == LS_CURSOR_ERROR) {
        snprintf(err, errlen, "spool: cannot read %s: %s", rd->cursor_path, strerror(errno));
        goto out;
    }
    rd->sent_seq = rd->sent_saved = lr == LS_CURSOR_READ ? sent : 0;
    pthread_mutex_lock(&sp->mu);
    ls_spool_place_reader(rd, lr, seq, sg, off);
    struct ls_spool_reader **nr = realloc(sp->rds, (sp->nrds + 1) * sizeof(*nr));
    if (nr) {
        sp->rds = nr;
        sp->rds[sp->nrds++] = rd;
    }
    pthread_mutex_unlock(&sp->mu);
    if (nr)
        return rd;
    snprintf(err, errlen, "spool: out of memory");
out:
    reader_free(rd);
    return NULL;
}

static int push_rec(struct ls_spool_reader *rd, const char *p)
{
    size_t c1 = rd->capn, c2 = rd->capn;
    if (array_grow((void **)&rd->recs, &c1, rd->n + 1, sizeof(*rd->recs), 0) != 0 ||
        array_grow((void **)&rd->app, &c2, rd->n + 1, sizeof(*rd->app), 0) != 0)
        return -1;
    rd->capn = c1;
    ls_spool_rec_decode(p, &rd->recs[rd->n], &rd->app[rd->n]);
    rd->n++;
    return 0;
}

/* Where a reader stands in the segment table. */
struct place {
    uint64_t size;       /* visible bytes of the reader's segment */
    uint64_t next_base;  /* the next segment's name, when has_next */
    int      has_next;
};

/* Find the reader's segment (the oldest one left when its own is gone) and
 * count, once across readers, the seqs missing between it and the next.
 * 0, or 1 when there is no segment to read. */
static int locate(struct ls_spool_reader *rd, struct place *pl)
{
    struct ls_spool *sp = rd->sp;
    uint64_t gap = 0;
    pthread_mutex_lock(&sp->mu);
    rd->seen_gen = sp->gen;
    size_t i = 0;
    while (i < sp->nsegs && sp->segs[i].base < rd->read_seg)
        i++;
    if (i == sp->nsegs) {
        pthread_mutex_unlock(&sp->mu);
        return 1;
    }
    if (sp->segs[i].base != rd->read_seg) {
        /* Our segment is gone (dropped when full) or we start fresh. */
        rd->read_seg = sp->segs[i].base;
        rd->read_off = 0;
    }
    pl->size = sp->segs[i].size;
    pl->has_next = i + 1 < sp->nsegs;
    if (pl->has_next) {
        pl->next_base = sp->segs[i + 1].base;
        uint64_t from = sp->segs[i].next_seq > rd->read_seq ? sp->segs[i].next_seq : rd->read_seq;
        /* (next's base, not its first valid seq: a hole at its start counts its own) */
        if (rd->read_off >= pl->size && !sp->segs[i].gap_counted && sp->segs[i + 1].base > from) {
            /* Seqs this reader expected that are in neither segment (an
             * empty or cut segment): lost, counted by the first reader. A
             * reader whose cursor is past them had them delivered. */
            gap = sp->segs[i + 1].base - from;
            sp->segs[i].gap_counted = 1;
        }
    }
    pthread_mutex_unlock(&sp->mu);
    if (gap > 0) {
        char path[LS_SPOOL_PATH_MAX];
        char g[24];
        ls_spool_seg_path(sp, rd->read_seg, path, sizeof(path));
        ls_spool_u64s(g, sizeof(g), gap);
        log_kv(LOGL_ERROR, "spool: records missing at the end of a segment", "segment", path,
               "records_lost", g, "reader", rd->name, NULL);
        ls_spool_count_dropped(sp, "corrupt", gap);
    }
    return 0;
}

/* Have rd->fd open on the reader's segment. 0, 1 when the segment was
 * deleted meanwhile (look it up again), or -1 (logged). */
static int open_segment(struct ls_spool_reader *rd)
{
    if (rd->fd >= 0 && rd->fd_seg == rd->read_seg)
        return 0;
    if (rd->fd >= 0)
        close(rd->fd);
    rd->fd = ls_spool_seg_open(rd->sp, rd->read_seg);
    if (rd->fd < 0 && errno == ENOENT)
        return 1;
    if (rd->fd < 0) {
        char path[LS_SPOOL_PATH_MAX];
        ls_spool_seg_path(rd->sp, rd->read_seg, path, sizeof(path));
        log_kv(LOGL_ERROR, "spool: cannot open segment", "segment", path, "error", strerror(errno), NULL);
        return -1;
    }
    rd->fd_seg = rd->read_seg;
    return 0;
}

enum take { TAKE_MORE, TAKE_FULL, TAKE_CORRUPT, TAKE_OOM };

/* Decode the records among the got bytes just read to mem+used (remaining:
 * the visible bytes from there on) into the batch; *pos: bytes taken. */
static enum take take_records(struct ls_spool_reader *rd, size_t got, uint64_t remaining, size_t *pos)
{
    *pos = 0;
    if (got == 0)
        return TAKE_CORRUPT; /* the file is shorter than we wrote: cut from outside */
    for (;;) {
        if (rd->used + *pos >= rd->batch_bytes)
            return TAKE_FULL;
        const char *p = rd->mem + rd->used + *pos;
        long n = ls_spool_rec_check(p, got - *pos, rd->sp->o.max_record_bytes);
        if (n < 0)
            return TAKE_CORRUPT;
        if (n == 0) {
            /* Every valid record fits in cap; so either pread was short
             * (read again) or the visible data ends inside a record. */
            if ((uint64_t)got - *pos >= remaining - *pos && *pos < remaining)
                return TAKE_CORRUPT;
            return TAKE_MORE;
        }
        if (push_rec(rd, p) != 0)
            return TAKE_OOM;
        *pos += (size_t)n;
    }
}

/* Publish the records just taken unless drop-oldest deleted the segment
 * meanwhile: it counted those records as lost, so they must not be
 * delivered too (the count stays exact). Both sides hold mu. 1 when
 * published, 0 when the segment is gone. */
static int publish_taken(struct ls_spool_reader *rd)
{
    struct ls_spool *sp = rd->sp;
    pthread_mutex_lock(&sp->mu);
    int alive = ls_spool_seg_find(sp, rd->read_seg) < sp->nsegs;
    if (alive)
        atomic_store_explicit(&rd->read_seq, rd->recs[rd->n - 1].seq + 1, memory_order_release);
    pthread_mutex_unlock(&sp->mu);
    return alive;
}

long ls_spool_reader_fill(struct ls_spool_reader *rd)
{
    long added = 0;
    while (rd->used < rd->batch_bytes) {
        struct place pl = { 0 };
        if (locate(rd, &pl) != 0)
            break;
        if (rd->read_off >= pl.size) {
            if (!pl.has_next)
                break;
            /* Done with this file: an open descriptor would keep a deleted
             * segment's blocks allocated, which a full disk cannot spare. */
            if (rd->fd >= 0) {
                close(rd->fd);
                rd->fd = -1;
            }
            rd->read_seg = pl.next_base;
            rd->read_off = 0;
            continue;
        }
        int o = open_segment(rd);
        if (o < 0)
            return -1;
        if (o > 0)
            continue; /* deleted meanwhile: the table lookup moves on */
        uint64_t remaining = pl.size - rd->read_off;
        size_t want = rd->cap - rd->used;
        if (want > remaining)
            want = (size_t)remaining;
        ssize_t got = pread(rd->fd, rd->mem + rd->used, want, (off_t)rd->read_off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            log_kv(LOGL_ERROR, "spool: read failed", "error", strerror(errno), NULL);
            return -1;
        }
        size_t n_before = rd->n;
        size_t pos = 0;
        enum take t = take_records(rd, (size_t)got, remaining, &pos);
        if (t == TAKE_OOM)
            return -1;
        if (pos > 0) {
            if (!publish_taken(rd)) {
                rd->n = n_before;
                continue; /* the table lookup moves us to the oldest segment left */
            }
            rd->used += pos;
            rd->read_off += pos;
            added += (long)(rd->n - n_before);
        }
        if (t == TAKE_CORRUPT) {
            if (ls_spool_skip_damage(rd, pl.size) != 0)
                return -1;
            continue;
        }
        if (t == TAKE_FULL)
            break;
    }
    return added;
}

const struct ls_record *ls_spool_reader_batch(struct ls_spool_reader *rd, size_t *n,
                                              const int64_t **append_ns)
{
    *n = rd->n;
    if (append_ns)
        *append_ns = rd->app;
    return rd->recs;
}

int ls_spool_reader_batch_full(struct ls_spool_reader *rd)
{
    return rd->used >= rd->batch_bytes;
}

void ls_spool_wait(struct ls_spool_reader *rd, int64_t timeout_ms)
{
    struct ls_spool *sp = rd->sp;
    struct timespec ts = clock_mono_deadline(timeout_ms);
    pthread_mutex_lock(&sp->mu);
    while (sp->gen == rd->seen_gen) {
        if (pthread_cond_timedwait(&sp->cv, &sp->mu, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&sp->mu);
}

/* Replace the cursor file: durable (fsync) or only atomic (rename). 0 or -1. */
static int write_cursor(struct ls_spool_reader *rd, uint64_t seq, uint64_t sg, uint64_t off,
                        uint64_t sent, int durable)
{
    char js[160];
    int l = snprintf(js, sizeof(js), "{\"seq\":%" PRIu64 ",\"seg\":%" PRIu64 ",\"off\":%" PRIu64
                     ",\"sent\":%" PRIu64 "}\n", seq, sg, off, sent);
    int r = durable ? atomicfile_write(rd->cursor_path, js, (size_t)l)
                    : atomicfile_replace(rd->cursor_path, js, (size_t)l);
    if (r == 0 && sent > rd->sent_saved)
        rd->sent_saved = sent;
    return r;
}

int ls_spool_reader_mark_sent(struct ls_spool_reader *rd, uint64_t seq)
{
    if (seq > rd->sent_seq)
        rd->sent_seq = seq;
    if (seq <= rd->sent_saved)
        return 0;
    if (write_cursor(rd, rd->acked_seq, rd->acked_seg, rd->acked_off, rd->sent_seq,
                     rd->sp->o.fsync == LS_FSYNC_ALWAYS) != 0) {
        if (!rd->sent_warned)
            log_kv(LOGL_WARN, "spool: cannot save the in-flight mark (a replay after a crash will not be "
                   "marked maybe-sent)", "path", rd->cursor_path, "error", strerror(errno), NULL);
        rd->sent_warned = 1;
        return -1;
    }
    rd->sent_warned = 0;
    return 0;
}

size_t ls_spool_reader_maybe_sent(const struct ls_spool_reader *rd, const struct ls_record *recs,
                                  size_t n)
{
    size_t k = 0;
    while (k < n && recs[k].seq <= rd->sent_seq)
        k++;
    return k;
}

int ls_spool_reader_ack(struct ls_spool_reader *rd)
{
    struct ls_spool *sp = rd->sp;
    if (rd->read_seg == rd->acked_seg && rd->read_off == rd->acked_off && rd->n == 0)
        return 0;
    if (write_cursor(rd, rd->read_seq, rd->read_seg, rd->read_off, rd->sent_seq, 1) != 0) {
        log_kv(LOGL_ERROR, "spool: cannot persist cursor", "path", rd->cursor_path,
               "error", strerror(errno), NULL);
        return -1;
    }
    pthread_mutex_lock(&sp->mu);
    rd->acked_seg = rd->read_seg;
    rd->acked_off = rd->read_off;
    rd->acked_seq = rd->read_seq;
    ls_spool_cleanup_locked(sp);
    pthread_mutex_unlock(&sp->mu);
    rd->used = 0;
    rd->n = 0;
    return 0;
}

uint64_t ls_spool_reader_backlog(struct ls_spool_reader *rd)
{
    struct ls_spool *sp = rd->sp;
    pthread_mutex_lock(&sp->mu);
    uint64_t v = sp->vis_next_seq > rd->acked_seq ? sp->vis_next_seq - rd->acked_seq : 0;
    pthread_mutex_unlock(&sp->mu);
    return v;
}

void ls_spool_reader_close(struct ls_spool_reader *rd)
{
    if (!rd)
        return;
    struct ls_spool *sp = rd->sp;
    pthread_mutex_lock(&sp->mu);
    for (size_t i = 0; i < sp->nrds; i++) {
        if (sp->rds[i] == rd) {
            sp->rds[i] = sp->rds[--sp->nrds];
            break;
        }
    }
    pthread_mutex_unlock(&sp->mu);
    reader_free(rd);
}
