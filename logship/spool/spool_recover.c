/* spool_recover: the repairs a reader makes (a cursor file that does not fit the spool, damaged bytes met
 * while reading), each logged and counted, kept apart from the normal read path. */
#include "logship/spool/spool_int.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "logship/spool/spool_record.h"
struct find_ctx {
    uint64_t want, off;
    int found;
};

static int find_rec(void *ctx, uint64_t off, const char *p, size_t n)
{
    struct find_ctx *c = ctx;
    (void)n;
    if (ls_spool_rec_seq(p) < c->want)
        return 0;
    c->off = off;
    c->found = 1;
    return 1;
}

/* Does the cursor (sg, off, seq) name a record boundary of the spool? Caller holds mu. */
static int cursor_fits(struct ls_spool *sp, char *tmp, size_t tmpcap, uint64_t sg, uint64_t off,
                       uint64_t seq)
{
    size_t i = ls_spool_seg_find(sp, sg);
    if (i == sp->nsegs)
        return 0;
    struct ls_spool_seg *s = &sp->segs[i];
    if (off > s->size)
        return 0;
    if (off == s->size)
        return seq >= s->next_seq;
    struct ls_spool_hole *h = ls_spool_seg_hole_at(s, off);
    if (h)
        return h->off == off;
    int fd = ls_spool_seg_open(sp, sg);
    if (fd < 0)
        return 0;
    size_t want = tmpcap;
    if (want > s->size - off)
        want = (size_t)(s->size - off);
    ssize_t got = pread(fd, tmp, want, (off_t)off);
    close(fd);
    return got > 0 && ls_spool_rec_check(tmp, (size_t)got, sp->o.max_record_bytes) > 0 &&
           ls_spool_rec_seq(tmp) == seq;
}

/* The cursor (sg, seq) is inside the spool but not at a record boundary we
 * know: find its record by seq (logged and counted unless it is the first
 * record of a segment whose predecessor was deleted, the normal case). */
static void reposition_by_seq(struct ls_spool_reader *rd, uint64_t sg, uint64_t seq)
{
    struct ls_spool *sp = rd->sp;
    size_t i = 0;
    while (i + 1 < sp->nsegs && sp->segs[i].next_seq <= seq)
        i++;
    struct ls_spool_seg *s = &sp->segs[i];
    struct find_ctx fc = { seq, s->size, 0 };
    int fd = ls_spool_seg_open(sp, s->base);
    if (fd >= 0) {
        struct ls_spool_walk w = { .fd = fd, .from = 0, .to = s->size, .max_body = sp->o.max_record_bytes,
                                   .expect = s->base, .on_rec = find_rec, .ctx = &fc };
        (void)ls_spool_walk(&w);
        close(fd);
    }
    rd->read_seg = s->base;
    rd->read_off = fc.found ? fc.off : s->size;
    rd->read_seq = seq;
    if (seq == s->first_seq && rd->read_off == 0 && ls_spool_seg_find(sp, sg) == sp->nsegs)
        return;
    char path[LS_SPOOL_PATH_MAX];
    char a[24];
    char b[24];
    ls_spool_seg_path(sp, s->base, path, sizeof(path));
    ls_spool_u64s(a, sizeof(a), seq);
    ls_spool_u64s(b, sizeof(b), rd->read_off);
    log_kv(LOGL_WARN, "spool: cursor did not match a record boundary; repositioned by sequence number",
           "path", rd->cursor_path, "cursor_seq", a, "segment", path, "offset", b, NULL);
    ls_spool_count_recovery(sp, "cursor_moved");
}

/* Set the reader's read position from its cursor file (see
 * ls_spool_place_reader). Caller holds mu. */
static void position(struct ls_spool_reader *rd, enum ls_cursor_load lr, uint64_t seq, uint64_t sg, uint64_t off)
{
    struct ls_spool *sp = rd->sp;
    char a[24];
    char b[24];
    rd->read_seg = 0;
    rd->read_off = 0;
    rd->read_seq = sp->nsegs ? sp->segs[0].first_seq : sp->next_seq;
    if (lr == LS_CURSOR_ABSENT)
        return; /* a new output: the oldest record */
    if (lr == LS_CURSOR_GARBAGE) {
        log_kv(LOGL_WARN, "spool: unreadable cursor, starting at the oldest record (records may be sent again)",
               "path", rd->cursor_path, NULL);
        ls_spool_count_recovery(sp, "cursor_garbage");
        return;
    }
    if (seq > sp->next_seq) {
        /* The tail this cursor saw was lost (power loss): never reuse its seqs. */
        if (sp->nsegs > 0) {
            ls_spool_u64s(a, sizeof(a), seq);
            ls_spool_u64s(b, sizeof(b), sp->next_seq);
            log_kv(LOGL_WARN, "spool: cursor is ahead of the spool's last record (data lost in a power "
                   "loss after delivery); continuing after it", "path", rd->cursor_path, "cursor_seq", a,
                   "spool_next_seq", b, NULL);
            ls_spool_count_recovery(sp, "cursor_ahead");
        }
        sp->next_seq = sp->vis_next_seq = seq;
    }
    if (cursor_fits(sp, rd->mem, rd->cap, sg, off, seq)) {
        rd->read_seg = sg;
        rd->read_off = off;
        rd->read_seq = seq;
        return;
    }
    if (sp->nsegs == 0 || seq >= sp->segs[sp->nsegs - 1].next_seq) {
        /* Everything spooled was delivered: continue after the newest record. */
        rd->read_seq = seq;
        if (sp->nsegs > 0) {
            rd->read_seg = sp->segs[sp->nsegs - 1].base;
            rd->read_off = sp->segs[sp->nsegs - 1].size;
        }
        return;
    }
    if (seq < sp->segs[0].first_seq) {
        uint64_t miss = sp->segs[0].first_seq - seq;
        ls_spool_u64s(a, sizeof(a), seq);
        ls_spool_u64s(b, sizeof(b), miss);
        log_kv(LOGL_ERROR, "spool: cursor points before the oldest record (its segment is gone); "
               "starting at the oldest", "path", rd->cursor_path, "cursor_seq", a, "records_missing", b, NULL);
        ls_spool_count_dropped(sp, "missing", miss);
        return;
    }
    reposition_by_seq(rd, sg, seq);
}

void ls_spool_place_reader(struct ls_spool_reader *rd, enum ls_cursor_load lr, uint64_t seq, uint64_t sg,
                           uint64_t off)
{
    position(rd, lr, seq, sg, off);
    rd->acked_seg = rd->read_seg;
    rd->acked_off = rd->read_off;
    rd->acked_seq = rd->read_seq;
}

struct dmg_ctx {
    uint64_t lost;
};

static void dmg_hole(void *ctx, uint64_t off, uint64_t len, uint64_t lost, int at_end)
{
    struct dmg_ctx *c = ctx;
    (void)off;
    (void)len;
    (void)at_end;
    c->lost = lost;
}

/* The end of a hole already known at byte at of the reader's segment: 1
 * with *end set, 0 when none is known, -1 when the segment is gone. */
static int known_hole(struct ls_spool_reader *rd, uint64_t at, uint64_t *end)
{
    struct ls_spool *sp = rd->sp;
    pthread_mutex_lock(&sp->mu);
    size_t i = ls_spool_seg_find(sp, rd->read_seg);
    struct ls_spool_hole *h = i < sp->nsegs ? ls_spool_seg_hole_at(&sp->segs[i], at) : NULL;
    int r = i == sp->nsegs ? -1 : h ? 1 : 0;
    if (h)
        *end = h->off + h->len;
    pthread_mutex_unlock(&sp->mu);
    return r;
}

/* Record the hole [at, *end) holding lost records in the reader's segment
 * unless a reader did first (then *end and *lost become that hole's). 1
 * when the caller is the first to pass it (logs and counts the loss). */
static int note_hole(struct ls_spool_reader *rd, uint64_t at, uint64_t *end, uint64_t *lost)
{
    struct ls_spool *sp = rd->sp;
    int fresh = 0;
    int count = 0;
    pthread_mutex_lock(&sp->mu);
    size_t i = ls_spool_seg_find(sp, rd->read_seg);
    if (i < sp->nsegs) {
        struct ls_spool_hole *h = ls_spool_seg_hole_at(&sp->segs[i], at);
        if (!h) {
            h = ls_spool_seg_add_hole(&sp->segs[i], at, *end - at, *lost);
            fresh = 1;
        }
        if (h) {
            *end = h->off + h->len;
            *lost = h->lost;
            count = !h->counted;
            h->counted = 1;
        }
    }
    pthread_mutex_unlock(&sp->mu);
    if (fresh && sp->m_corrupt_bytes)
        metrics_add(sp->m_corrupt_bytes, (double)(*end - at));
    return count;
}

/* The bytes at the reader's position (segment size bytes long) are no
 * record: skip them to the next valid record. The hole is counted once
 * across readers (corrupt bytes when first found, lost records when first
 * passed) and logged with where it is. 0, or -1 on a read error. */
int ls_spool_skip_damage(struct ls_spool_reader *rd, uint64_t size)
{
    struct ls_spool *sp = rd->sp;
    uint64_t at = rd->read_off;
    uint64_t end = 0;
    uint64_t lost = 0;
    int known = known_hole(rd, at, &end);
    if (known < 0)
        return 0; /* deleted meanwhile: the table lookup moves on */
    if (!known) {
        struct dmg_ctx dc = { 0 };
        struct ls_spool_walk w = { .fd = rd->fd, .from = at, .to = size, .max_body = sp->o.max_record_bytes,
                                   .expect = rd->read_seq, .stop_first_valid = 1,
                                   .on_hole = dmg_hole, .ctx = &dc };
        if (ls_spool_walk(&w) != 0) {
            log_kv(LOGL_ERROR, "spool: read failed", "error", strerror(errno), NULL);
            return -1;
        }
        end = w.stop_off > at ? w.stop_off : size; /* always progress */
        lost = dc.lost;
    }
    if (note_hole(rd, at, &end, &lost)) {
        char path[LS_SPOOL_PATH_MAX];
        char o[24];
        char l[24];
        char r[24];
        ls_spool_seg_path(sp, rd->read_seg, path, sizeof(path));
        ls_spool_u64s(o, sizeof(o), at);
        ls_spool_u64s(l, sizeof(l), end - at);
        ls_spool_u64s(r, sizeof(r), lost);
        log_kv(LOGL_ERROR, "spool: skipping corrupt bytes; the records after them are delivered",
               "segment", path, "offset", o, "bytes", l, "records_lost", r, "reader", rd->name, NULL);
        if (lost > 0)
            ls_spool_count_dropped(sp, "corrupt", lost);
    }
    rd->read_off = end > at ? end : size;
    return 0;
}
