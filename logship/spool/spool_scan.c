/* spool_scan: what open finds in the spool directory (every segment walked record by record, resynchronising
 * over damaged bytes; holes and their counters, torn tails, format-1 segments, garbage marks), kept apart from
 * the normal write and read paths. */
#include "logship/spool/spool_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>

#include "atomicfile.h"
#include "buf.h"
#include "log.h"
#include "logship/spool/spool_record.h"
/* A window on the walked range: mem[0..have) holds the bytes from base on,
 * pos is the next byte to look at. */
struct window {
    char    *mem;
    size_t   cap, have, pos;
    uint64_t base;
    int      eof;
};

/* Keep mem[pos..have) and read more of the range behind it. 0 or -1. */
static int refill(const struct ls_spool_walk *w, struct window *wn)
{
    memmove(wn->mem, wn->mem + wn->pos, wn->have - wn->pos);
    wn->base += wn->pos;
    wn->have -= wn->pos;
    wn->pos = 0;
    while (!wn->eof && wn->have < wn->cap) {
        uint64_t at = wn->base + wn->have;
        size_t want = wn->cap - wn->have;
        if ((uint64_t)want > w->to - at)
            want = (size_t)(w->to - at);
        if (want == 0) {
            wn->eof = 1;
            break;
        }
        ssize_t r = pread(w->fd, wn->mem + wn->have, want, (off_t)at);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            wn->eof = 1;
        wn->have += (size_t)r;
    }
    return 0;
}

int ls_spool_walk(struct ls_spool_walk *w)
{
    w->good_end = w->from;
    w->stop_off = w->to;
    w->nrecs = 0;
    w->first_seq = w->last_seq = 0;
    struct window wn = { .cap = w->max_body + LS_SPOOL_REC_HDR + (256u << 10), .base = w->from };
    wn.mem = malloc(wn.cap);
    if (!wn.mem)
        return -1;
    int rc = -1;
    uint64_t hole = UINT64_MAX;
    uint64_t expect = w->expect;
    for (;;) {
        if (wn.pos >= wn.have) {
            if (wn.eof)
                break;
            if (refill(w, &wn) != 0)
                goto out;
            continue;
        }
        const char *p = wn.mem + wn.pos;
        uint64_t abs = wn.base + wn.pos;
        long k = ls_spool_rec_check(p, wn.have - wn.pos, w->max_body);
        if (k > 0 && ls_spool_rec_seq(p) < expect)
            k = -1; /* seqs only grow within a segment: an old copy or a fluke */
        if (k == 0 && !wn.eof) {
            if (refill(w, &wn) != 0)
                goto out;
            continue;
        }
        if (k > 0) {
            uint64_t seq = ls_spool_rec_seq(p);
            if (hole != UINT64_MAX) {
                if (w->on_hole)
                    w->on_hole(w->ctx, hole, abs - hole, seq - expect, 0);
                hole = UINT64_MAX;
            }
            if (w->stop_first_valid) {
                w->stop_off = abs;
                break;
            }
            if (w->nrecs++ == 0)
                w->first_seq = seq;
            w->last_seq = seq;
            expect = seq + 1;
            w->good_end = abs + (uint64_t)k;
            if (w->on_rec && w->on_rec(w->ctx, abs, p, (size_t)k)) {
                w->stop_off = abs + (uint64_t)k;
                break;
            }
            wn.pos += (size_t)k;
            continue;
        }
        /* Not a record here (or one cut short by the end): resync at the next magic. */
        if (hole == UINT64_MAX)
            hole = abs;
        const char *q = ls_spool_rec_resync(p, wn.have - wn.pos);
        wn.pos = q ? (size_t)(q - wn.mem) : wn.have;
    }
    if (hole != UINT64_MAX && w->on_hole)
        w->on_hole(w->ctx, hole, w->to - hole, 0, 1);
    rc = 0;
out:
    free(wn.mem);
    return rc;
}

static int seg_cmp(const void *a, const void *b)
{
    const struct ls_spool_seg *x = a;
    const struct ls_spool_seg *y = b;
    return x->base < y->base ? -1 : x->base > y->base;
}

static void note_origin(struct ls_marks *ms, const char *o, size_t n, uint64_t seq)
{
    struct ls_mark m;
    if (ls_marks_parse_origin(o, n, seq, &m))
        (void)ls_marks_put(ms, &m);
}

struct scan_ctx {
    struct ls_spool *sp;
    struct ls_spool_seg *s;
    const char *path;
    int is_last;
    uint64_t tail;      /* start of a torn tail of the last segment, UINT64_MAX none */
    int oom;
};

static int scan_rec(void *ctx, uint64_t off, const char *p, size_t n)
{
    struct scan_ctx *c = ctx;
    struct ls_record r;
    int64_t app;
    (void)off;
    (void)n;
    ls_spool_rec_decode(p, &r, &app);
    note_origin(c->sp->marks, r.origin, r.origin_len, r.seq);
    return 0;
}

static void scan_hole(void *ctx, uint64_t off, uint64_t len, uint64_t lost, int at_end)
{
    struct scan_ctx *c = ctx;
    if (at_end && c->is_last) {
        c->tail = off;
        return;
    }
    if (!ls_spool_seg_add_hole(c->s, off, len, lost))
        c->oom = 1;
    char o[24];
    char l[24];
    char r[24];
    ls_spool_u64s(o, sizeof(o), off);
    ls_spool_u64s(l, sizeof(l), len);
    ls_spool_u64s(r, sizeof(r), lost);
    log_kv(LOGL_ERROR, "spool: corrupt bytes in a segment; the records after them are kept",
           "segment", c->path, "offset", o, "bytes", l, "records", at_end ? "unknown" : r, NULL);
    if (c->sp->m_corrupt_bytes)
        metrics_add(c->sp->m_corrupt_bytes, (double)len);
}

/* Has every output's cursor file moved past the segment base (size bytes)?
 * 0 when one has not, or when there is no cursor file at all. */
static int every_cursor_past(struct ls_spool *sp, uint64_t base, uint64_t size)
{
    DIR *d = opendir(sp->dir);
    if (!d)
        return 0;
    int n = 0;
    int past = 1;
    struct dirent *de;
    while (past && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (strncmp(de->d_name, "cursor-", 7) != 0 || l < 12 || strcmp(de->d_name + l - 5, ".json") != 0)
            continue;
        buf_t b;
        buf_init(&b, 4096);
        char path[LS_SPOOL_PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", sp->dir, de->d_name);
        json_object *o = NULL;
        json_object *sg;
        json_object *off;
        past = atomicfile_read(path, &b) == 0 && (o = json_tokener_parse(b.p ? b.p : "")) &&
               json_object_object_get_ex(o, "seg", &sg) && json_object_object_get_ex(o, "off", &off) &&
               ((uint64_t)json_object_get_int64(sg) > base ||
                ((uint64_t)json_object_get_int64(sg) == base && (uint64_t)json_object_get_int64(off) >= size));
        json_object_put(o);
        buf_free(&b);
        n++;
    }
    closedir(d);
    return past && n > 0;
}

/* Segment s starts with a record of spool format 1 (fd closed): delete it
 * when every output had delivered it (returns 1), else refuse the spool (-1
 * with err: it is never misread). */
static int drop_format1(struct ls_spool *sp, const struct ls_spool_seg *s, const char *path, char *err,
                        size_t errlen)
{
    if (every_cursor_past(sp, s->base, s->size) && unlink(path) == 0) {
        log_kv(LOGL_INFO, "spool: deleted a delivered segment of the older spool format", "segment", path, NULL);
        return 1;
    }
    snprintf(err, errlen, "spool: %s was written by an older logship (spool format 1) and holds "
             "undelivered records; drain it with that version or move %s aside", path, sp->dir);
    return -1;
}

/* Cut the torn tail of the last segment at byte tail (logged, counted). 0, or -1 with err. */
static int cut_tail(struct ls_spool *sp, struct ls_spool_seg *s, const char *path, uint64_t tail, char *err,
                    size_t errlen)
{
    char cut[24];
    char at[24];
    ls_spool_u64s(cut, sizeof(cut), s->size - tail);
    ls_spool_u64s(at, sizeof(at), tail);
    log_kv(LOGL_WARN, "spool: truncating torn tail", "segment", path, "offset", at, "bytes", cut, NULL);
    if (truncate(path, (off_t)tail) != 0) {
        snprintf(err, errlen, "spool: cannot truncate %s: %s", path, strerror(errno));
        return -1;
    }
    ls_spool_count_dropped(sp, "torn_tail", 1);
    s->size = tail;
    return 0;
}

/* Scan segment s fully: exact counts, holes, marks; cut a torn tail when it
 * is the last one. A format-1 segment every output had delivered is deleted
 * (returns 1); one with data still to send refuses the spool (-1 with err:
 * it is never misread). 0, or -1 with err. */
static int scan_one(struct ls_spool *sp, struct ls_spool_seg *s, int is_last, char *err, size_t errlen)
{
    char path[LS_SPOOL_PATH_MAX];
    ls_spool_seg_path(sp, s->base, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "spool: cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char head[4096];
    ssize_t hn = pread(fd, head, sizeof(head), 0);
    if (hn > 0 && ls_spool_rec_is_format1(head, (size_t)hn, sp->o.max_record_bytes)) {
        close(fd);
        return drop_format1(sp, s, path, err, errlen);
    }
    struct scan_ctx c = { sp, s, path, is_last, UINT64_MAX, 0 };
    struct ls_spool_walk w = { .fd = fd, .from = 0, .to = s->size, .max_body = sp->o.max_record_bytes,
                               .expect = s->base, .on_rec = scan_rec, .on_hole = scan_hole, .ctx = &c };
    int r = ls_spool_walk(&w);
    close(fd);
    if (r != 0 || c.oom) {
        snprintf(err, errlen, "spool: cannot scan %s: %s", path, c.oom ? "out of memory" : strerror(errno));
        return -1;
    }
    s->nrecs = w.nrecs;
    s->first_seq = w.nrecs ? w.first_seq : s->base;
    s->next_seq = w.nrecs ? w.last_seq + 1 : s->base;
    if (c.tail != UINT64_MAX)
        return cut_tail(sp, s, path, c.tail, err, errlen);
    if (s->size == 0 && !is_last)
        log_kv(LOGL_ERROR, "spool: empty segment; its records are lost (counted when an output "
               "passes it)", "segment", path, NULL);
    return 0;
}

/* The seq a segment file name seg-<20 digits>.log gives, or -1 when nm is no segment name. */
static int segment_name(const char *nm, uint64_t *base)
{
    if (strlen(nm) != 4 + 20 + 4 || strncmp(nm, "seg-", 4) != 0 || strcmp(nm + 24, ".log") != 0)
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long b = strtoull(nm + 4, &end, 10);
    if (errno || end != nm + 24)
        return -1;
    *base = b;
    return 0;
}

/* Put every segment file of sp->dir in the table (unscanned, sorted) and
 * delete state-file temporaries a crash left. 0, or -1 with err. */
static int list_segments(struct ls_spool *sp, char *err, size_t errlen)
{
    DIR *d = opendir(sp->dir);
    if (!d) {
        snprintf(err, errlen, "spool: cannot open %s: %s", sp->dir, strerror(errno));
        return -1;
    }
    int rc = -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        char path[LS_SPOOL_PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", sp->dir, nm);
        if ((strncmp(nm, "cursor-", 7) == 0 || strncmp(nm, "marks.json", 10) == 0) && strstr(nm, ".tmp.")) {
            (void)unlink(path);
            continue;
        }
        uint64_t b;
        struct stat st;
        if (segment_name(nm, &b) != 0 || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        struct ls_spool_seg s = { .base = b, .first_seq = b, .next_seq = b, .size = (uint64_t)st.st_size };
        if (ls_spool_seg_push(sp, &s) != 0) {
            snprintf(err, errlen, "spool: too many segments in %s", sp->dir);
            goto out;
        }
    }
    if (sp->nsegs > 1)
        qsort(sp->segs, sp->nsegs, sizeof(*sp->segs), seg_cmp);
    rc = 0;
out:
    closedir(d);
    return rc;
}

int ls_spool_load_segments(struct ls_spool *sp, char *err, size_t errlen)
{
    if (list_segments(sp, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < sp->nsegs;) {
        int r = scan_one(sp, &sp->segs[i], i + 1 == sp->nsegs, err, errlen);
        if (r < 0)
            return -1;
        if (r == 1) {
            memmove(&sp->segs[i], &sp->segs[i + 1], (sp->nsegs - i - 1) * sizeof(*sp->segs));
            sp->nsegs--;
            continue;
        }
        i++;
    }
    if (sp->nsegs > 0 && sp->segs[sp->nsegs - 1].size == 0) {
        /* Created but never written (a crash in between): nothing was in it. */
        char path[LS_SPOOL_PATH_MAX];
        ls_spool_seg_path(sp, sp->segs[sp->nsegs - 1].base, path, sizeof(path));
        (void)unlink(path);
        free(sp->segs[sp->nsegs - 1].holes);
        sp->nsegs--;
    }
    sp->next_seq = ls_marks_max_seq(sp->marks) + 1;
    for (size_t i = 0; i < sp->nsegs; i++) {
        sp->total_bytes += sp->segs[i].size;
        sp->total_recs += sp->segs[i].nrecs;
        if (sp->segs[i].next_seq > sp->next_seq)
            sp->next_seq = sp->segs[i].next_seq;
        if (sp->segs[i].base >= sp->next_seq)
            sp->next_seq = sp->segs[i].base + 1;
    }
    sp->vis_next_seq = sp->next_seq;
    return 0;
}


int ls_spool_load_marks(struct ls_spool *sp, char *err, size_t errlen)
{
    int mr = ls_marks_load(sp->marks, sp->marks_path);
    if (mr < 0) {
        snprintf(err, errlen, "spool: cannot read %s: %s", sp->marks_path, strerror(errno));
        return -1;
    }
    if (mr == 1) {
        char aside[LS_SPOOL_PATH_MAX + 16];
        snprintf(aside, sizeof(aside), "%s.corrupt", sp->marks_path);
        if (rename(sp->marks_path, aside) != 0)
            aside[0] = '\0';
        log_kv(LOGL_ERROR, "spool: file marks are garbage; moved aside (files resume from "
               "positions.json and the records still spooled; lines of deleted segments may be read again)",
               "path", sp->marks_path, "moved_to", aside, NULL);
        ls_spool_count_recovery(sp, "marks_garbage");
    }
    return 0;
}
