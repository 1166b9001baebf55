/* spool: durable segmented record log with per-output cursors (see spool.h for the format and fsync policy). */
#include "logship/spool/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "clock.h"
#include "buf.h"
#include "jsonw.h"
#include "log.h"
#include "atomicfile.h"
#include "logship/spool/spool_marks.h"

#define WBUF_CAP (256u * 1024u)
#define MAX_SEGMENTS 100000u
/* Kept free for cursor and position files while segments fill the disk:
 * each state-file write needs one new block until its rename frees the old
 * one, so 16 outputs and the positions file fit. */
#define RESERVE_BYTES (64u * 1024u)
#define RESERVE_NAME "space-reserve"
#define WERR_LOG_NS (60LL * 1000000000)   /* "still failing" log period */

/* ---- record codec: the one place that knows the byte layout (spool.h) ---- */

static const unsigned char REC_MAGIC[4] = { 0xF5, 'L', 'S', '2' };
#define REC_FRAME 12u           /* magic, len, crc */
#define FIXED_BODY 40u          /* seq, ts, append, 3 lengths, reserved */
#define B_SEQ 0u
#define B_TS 8u
#define B_APP 16u
#define B_LL 24u
#define B_NL 28u
#define B_OL 32u
#define OLD_FRAME 8u            /* format 1: len, crc, no magic */

struct hole {                   /* bytes of a segment that hold no valid record */
    uint64_t off, len;
    uint64_t lost;              /* records known to be in it (seq gap), 0 at a segment's end */
    int      counted;           /* lost already added to dropped_total */
};

struct seg {
    uint64_t base;      /* seq in the file name */
    uint64_t first_seq; /* first valid record's seq (base when none) */
    uint64_t next_seq;  /* one past the last valid record's seq (base when none) */
    uint64_t size;      /* bytes visible to readers */
    uint64_t nrecs;     /* valid records */
    struct hole *holes; /* found at open or by a reader; sorted by off */
    size_t   nholes;
    int      gap_counted; /* seqs missing between this segment's end and the next one's start */
};

struct ls_spool {
    char    *dir;
    char    *marks_path;
    struct ls_spool_opts o;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    struct seg *segs;          /* sorted by base; guarded by mu */
    size_t  nsegs, capsegs;
    uint64_t total_bytes, total_recs;
    uint64_t gen;              /* bumped whenever readers may find more */
    uint64_t vis_next_seq;     /* next seq as readers see it (under mu) */
    struct ls_spool_reader **rds;
    size_t  nrds;
    struct ls_marks *marks;    /* per-file high-water marks (under mu) */
    int      marks_warned;
    /* writer side: only the writer thread touches these */
    int      wfd;              /* active segment, -1 when none */
    uint64_t active_base;
    char    *wbuf;
    size_t   wlen;
    uint64_t wbuf_first_seq, wbuf_next_seq, wbuf_nrecs;
    uint64_t next_seq;
    uint64_t w_active;         /* bytes flushed to the active segment */
    uint64_t w_total;          /* total_bytes as of the last look (only readers lower it) */
    int      dirty;            /* written but not fdatasync'ed */
    int64_t  last_sync_ns;
    int      full;             /* atomic */
    int      nospace;          /* atomic: the last segment write found the filesystem full */
    int      reserve_held;     /* RESERVE_NAME exists with its full size */
    int64_t  werr_since_ns, werr_logged_ns;
    uint64_t werr_attempts;    /* refused writes in the current episode */
    metrics_family *m_werr;
    uint64_t dropped;          /* atomic: records/events counted in count_dropped */
    struct ls_mark *wmarks;    /* marks of buffered records */
    size_t   nwmarks, capwmarks;
    struct ls_mark *dmarks;    /* marks of written records not yet synced (applied once durable) */
    size_t   ndmarks, capdmarks;
    char     wm_pre[128];      /* origin prefix (up to '@') of wmarks[nwmarks-1] */
    size_t   wm_prelen;
    metrics_child *m_bytes, *m_recs, *m_blocked, *m_corrupt_bytes;
    metrics_family *m_dropped, *m_recover;
};

struct ls_spool_reader {
    struct ls_spool *sp;
    char    *name;
    char    *cursor_path;
    /* acknowledged position (written under sp->mu by this thread; read by cleanup) */
    uint64_t acked_seg, acked_off, acked_seq;
    /* read position: just after the last record in the batch */
    uint64_t read_seg, read_off, read_seq;
    /* highest seq handed to the output (in memory / in the cursor file) */
    uint64_t sent_seq, sent_saved;
    int      sent_warned;      /* a failed in-flight mark write was logged (once per episode) */
    int      fd;
    uint64_t fd_seg;
    char    *mem;
    size_t   cap, used, batch_bytes;
    struct ls_record *recs;
    int64_t *app;
    size_t   n, capn;
    uint64_t seen_gen;
};


/* CRC-32C (Castagnoli): the SSE4.2 instruction when the CPU has it (about
 * ten times zlib's crc32 here, which was a quarter of logship's CPU), else
 * a table. Both give the same values, so a spool moves between them. */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int crc_hw;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
        crc_table[i] = c;
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc32c_sw(uint32_t crc, const unsigned char *p, size_t n)
{
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const unsigned char *p, size_t n)
{
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

static uint32_t crc32c(uint32_t crc, const void *data, size_t n)
{
    crc = ~crc;
#if defined(__x86_64__)
    if (crc_hw)
        return ~crc32c_hw(crc, data, n);
#endif
    return ~crc32c_sw(crc, data, n);
}

static uint32_t rec_crc(uint32_t len, const char *body)
{
    return crc32c(crc32c(0, &len, 4), body, len);
}

static uint32_t rd32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t rec_seq(const char *p)
{
    uint64_t v;
    memcpy(&v, p + REC_FRAME + B_SEQ, 8);
    return v;
}

/* Bytes one record of body_len bytes (labels+line+origin) takes. */
static size_t rec_size(size_t body_len)
{
    return REC_FRAME + FIXED_BODY + body_len;
}

/* Encode rec with seq and append time at dst (rec_size bytes). */
static void rec_encode(char *dst, const struct ls_record *rec, uint64_t seq, int64_t app_ns)
{
    uint32_t ll = (uint32_t)rec->labels_len, nl = (uint32_t)rec->line_len,
             ol = (uint32_t)rec->origin_len, zero = 0;
    uint32_t len = FIXED_BODY + ll + nl + ol;
    char *b = dst + REC_FRAME;
    memcpy(b + B_SEQ, &seq, 8);
    memcpy(b + B_TS, &rec->ts_ns, 8);
    memcpy(b + B_APP, &app_ns, 8);
    memcpy(b + B_LL, &ll, 4);
    memcpy(b + B_NL, &nl, 4);
    memcpy(b + B_OL, &ol, 4);
    memcpy(b + 36, &zero, 4);
    if (ll)
        memcpy(b + FIXED_BODY, rec->labels, ll);
    if (nl)
        memcpy(b + FIXED_BODY + ll, rec->line, nl);
    if (ol)
        memcpy(b + FIXED_BODY + ll + nl, rec->origin, ol);
    uint32_t crc = rec_crc(len, b);
    memcpy(dst, REC_MAGIC, 4);
    memcpy(dst + 4, &len, 4);
    memcpy(dst + 8, &crc, 4);
}

/* Decode a checked record at p; the record points into p. */
static void rec_decode(const char *p, struct ls_record *r, int64_t *app_ns)
{
    const char *b = p + REC_FRAME;
    uint32_t ll = rd32(b + B_LL), nl = rd32(b + B_NL), ol = rd32(b + B_OL);
    memcpy(&r->seq, b + B_SEQ, 8);
    memcpy(&r->ts_ns, b + B_TS, 8);
    memcpy(app_ns, b + B_APP, 8);
    r->labels = b + FIXED_BODY;
    r->labels_len = ll;
    r->line = b + FIXED_BODY + ll;
    r->line_len = nl;
    r->origin = b + FIXED_BODY + ll + nl;
    r->origin_len = ol;
}

/* Validate the record at p (avail bytes). Returns the total record size
 * (>0), 0 when more bytes are needed, -1 when these bytes are no record. */
static long rec_check(const char *p, size_t avail, size_t max_body)
{
    if (avail < REC_FRAME)
        return avail > 0 && memcmp(p, REC_MAGIC, avail < 4 ? avail : 4) != 0 ? -1 : 0;
    if (memcmp(p, REC_MAGIC, 4) != 0)
        return -1;
    uint32_t len = rd32(p + 4);
    if (len < FIXED_BODY || len > max_body + FIXED_BODY)
        return -1;
    if (avail < REC_FRAME + (size_t)len)
        return 0;
    const char *b = p + REC_FRAME;
    if (rec_crc(len, b) != rd32(p + 8))
        return -1;
    if ((uint64_t)rd32(b + B_LL) + rd32(b + B_NL) + rd32(b + B_OL) + FIXED_BODY != len)
        return -1;
    return (long)(REC_FRAME + len);
}

/* Is p (avail bytes, the start of a segment) a record of format 1 (before
 * the per-record magic)? */
static int old_rec_at(const char *p, size_t avail, size_t max_body)
{
    if (avail < OLD_FRAME || memcmp(p, REC_MAGIC, 4) == 0)
        return 0;
    uint32_t len = rd32(p);
    if (len < FIXED_BODY || len > max_body + FIXED_BODY || avail < OLD_FRAME + (size_t)len)
        return 0;
    return rec_crc(len, p + OLD_FRAME) == rd32(p + 4);
}

/* ---- walking a segment's bytes, resynchronising after damage ------------- */

struct walk {
    int      fd;
    uint64_t from, to;          /* byte range to walk */
    size_t   max_body;
    uint64_t expect;            /* seq the first record from `from` on should have */
    int      stop_first_valid;  /* stop (before it) at the first valid record */
    /* per valid record; return 1 to stop the walk */
    int    (*on_rec)(void *ctx, uint64_t off, const char *p, size_t n);
    /* per hole [off, off+len); at_end: it runs to the end of the range */
    void   (*on_hole)(void *ctx, uint64_t off, uint64_t len, uint64_t lost, int at_end);
    void    *ctx;
    /* out */
    uint64_t good_end;          /* end of the last valid record (from when none) */
    uint64_t stop_off;          /* where it stopped (to when it walked it all) */
    uint64_t first_seq, last_seq, nrecs;
};

/* Keep mem[pos..have) and read more of the range behind it. 0 or -1. */
static int refill(struct walk *w, char *mem, size_t cap, uint64_t *base, size_t *have, size_t *pos,
                  int *eof)
{
    memmove(mem, mem + *pos, *have - *pos);
    *base += *pos;
    *have -= *pos;
    *pos = 0;
    while (!*eof && *have < cap) {
        size_t want = cap - *have;
        if ((uint64_t)want > w->to - (*base + *have))
            want = (size_t)(w->to - (*base + *have));
        if (want == 0) {
            *eof = 1;
            break;
        }
        ssize_t r = pread(w->fd, mem + *have, want, (off_t)(*base + *have));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            *eof = 1;
        *have += (size_t)r;
    }
    return 0;
}

/* Walk [from, to) of fd: every valid record (magic, length bounds, CRC,
 * increasing seq) goes to on_rec; bytes between them are reported as holes
 * and skipped by scanning for the next magic. 0, or -1 on a read error. */
static int walk_segment(struct walk *w)
{
    size_t cap = w->max_body + LS_SPOOL_REC_HDR + (256u << 10);
    char *mem = malloc(cap);
    uint64_t base = w->from, hole = UINT64_MAX, expect = w->expect;
    size_t have = 0, pos = 0;
    int eof = 0, rc = -1;
    w->good_end = w->from;
    w->stop_off = w->to;
    w->nrecs = 0;
    w->first_seq = w->last_seq = 0;
    if (!mem)
        return -1;
    for (;;) {
        if (pos >= have) {
            if (eof)
                break;
            if (refill(w, mem, cap, &base, &have, &pos, &eof) != 0)
                goto out;
            continue;
        }
        uint64_t abs = base + pos;
        long k = rec_check(mem + pos, have - pos, w->max_body);
        if (k > 0 && rec_seq(mem + pos) < expect)
            k = -1; /* seqs only grow within a segment: an old copy or a fluke */
        if (k == 0 && !eof) {
            if (refill(w, mem, cap, &base, &have, &pos, &eof) != 0)
                goto out;
            continue;
        }
        if (k > 0) {
            uint64_t seq = rec_seq(mem + pos);
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
            if (w->on_rec && w->on_rec(w->ctx, abs, mem + pos, (size_t)k)) {
                w->stop_off = abs + (uint64_t)k;
                break;
            }
            pos += (size_t)k;
            continue;
        }
        /* Not a record here (or one cut short by the end): resync at the next magic. */
        if (hole == UINT64_MAX)
            hole = abs;
        const char *q = have - pos > 1 ? memchr(mem + pos + 1, REC_MAGIC[0], have - pos - 1) : NULL;
        pos = q ? (size_t)(q - mem) : have;
    }
    if (hole != UINT64_MAX && w->on_hole)
        w->on_hole(w->ctx, hole, w->to - hole, 0, 1);
    rc = 0;
out:
    free(mem);
    return rc;
}

/* ---- segment table ------------------------------------------------------- */

static void seg_path(const struct ls_spool *sp, uint64_t base, char *out, size_t n)
{
    snprintf(out, n, "%s/seg-%020" PRIu64 ".log", sp->dir, base);
}

static void count_dropped(struct ls_spool *sp, const char *reason, uint64_t n)
{
    const char *v[1] = { reason };
    __atomic_add_fetch(&sp->dropped, n, __ATOMIC_RELAXED);
    if (sp->m_dropped)
        metrics_family_add(sp->m_dropped, v, (double)n);
}

static void count_recovery(struct ls_spool *sp, const char *kind)
{
    const char *v[1] = { kind };
    if (sp->m_recover)
        metrics_family_add(sp->m_recover, v, 1);
}

static void u64s(char *out, size_t n, uint64_t v)
{
    snprintf(out, n, "%" PRIu64, v);
}

static int is_nospace(int e)
{
    return e == ENOSPC || e == EDQUOT;
}

static void update_blocked(struct ls_spool *sp)
{
    if (sp->m_blocked)
        metrics_set(sp->m_blocked, __atomic_load_n(&sp->full, __ATOMIC_RELAXED) ||
                                   __atomic_load_n(&sp->nospace, __ATOMIC_RELAXED));
}

/* (Re)make the reserve file. 0, LS_SPOOL_NOSPACE, or -1 with errno set. */
static int reserve_make(struct ls_spool *sp)
{
    char path[4096];
    static const char zeros[4096];
    struct stat st;
    if (sp->reserve_held)
        return 0;
    snprintf(path, sizeof(path), "%s/" RESERVE_NAME, sp->dir);
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == RESERVE_BYTES &&
        (uint64_t)st.st_blocks * 512 >= RESERVE_BYTES) {
        sp->reserve_held = 1;
        return 0;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return is_nospace(errno) ? LS_SPOOL_NOSPACE : -1;
    size_t done = 0;
    int e = 0;
    while (done < RESERVE_BYTES) {
        ssize_t w = write(fd, zeros, sizeof(zeros));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            e = w < 0 ? errno : ENOSPC;
            break;
        }
        done += (size_t)w;
    }
    close(fd);
    if (done < RESERVE_BYTES) {
        (void)unlink(path);
        errno = e;
        return is_nospace(e) ? LS_SPOOL_NOSPACE : -1;
    }
    sp->reserve_held = 1;
    return 0;
}

/* Give the reserve's blocks to cursor and position writes. */
static void reserve_release(struct ls_spool *sp)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/" RESERVE_NAME, sp->dir);
    if (unlink(path) != 0 && errno != ENOENT)
        log_kv(LOG_WARN, "spool: cannot release the space reserve", "path", path,
               "error", strerror(errno), NULL);
    sp->reserve_held = 0;
}

/* Count and log (the first time, then once per WERR_LOG_NS) a refused
 * segment write; returns the code for the caller. */
static int write_failed(struct ls_spool *sp, int e, const char *what, const char *path)
{
    const char *reason = is_nospace(e) ? "nospace" : "io";
    const char *v[1] = { reason };
    int64_t now = clock_mono_ns();
    if (sp->m_werr)
        metrics_family_add(sp->m_werr, v, 1);
    if (sp->werr_attempts++ == 0) {
        sp->werr_since_ns = now;
        sp->werr_logged_ns = now;
        if (is_nospace(e))
            log_kv(LOG_ERROR, "spool: filesystem full; reading paused until space returns (nothing is lost)",
                   "dir", sp->dir, "op", what, "path", path, "error", strerror(e), NULL);
        else
            log_kv(LOG_ERROR, "spool: write failed; retrying", "dir", sp->dir, "op", what, "path", path,
                   "error", strerror(e), NULL);
    } else if (now - sp->werr_logged_ns >= WERR_LOG_NS) {
        char secs[24], n[24];
        snprintf(secs, sizeof(secs), "%" PRId64, (now - sp->werr_since_ns) / 1000000000);
        snprintf(n, sizeof(n), "%" PRIu64, sp->werr_attempts);
        sp->werr_logged_ns = now;
        log_kv(LOG_WARN, "spool: writes still failing", "dir", sp->dir, "op", what, "reason", reason,
               "error", strerror(e), "for_s", secs, "attempts", n, NULL);
    }
    if (!is_nospace(e))
        return -1;
    if (!__atomic_load_n(&sp->nospace, __ATOMIC_RELAXED)) {
        __atomic_store_n(&sp->nospace, 1, __ATOMIC_RELAXED);
        update_blocked(sp);
    }
    if (sp->reserve_held)
        reserve_release(sp);
    return LS_SPOOL_NOSPACE;
}

/* A segment write worked: end a failure episode. */
static void write_ok(struct ls_spool *sp)
{
    if (sp->werr_attempts == 0)
        return;
    char ms[24], n[24];
    snprintf(ms, sizeof(ms), "%" PRId64, (clock_mono_ns() - sp->werr_since_ns) / 1000000);
    snprintf(n, sizeof(n), "%" PRIu64, sp->werr_attempts);
    log_kv(LOG_INFO, "spool: writing again; reading resumed", "dir", sp->dir, "paused_ms", ms,
           "refused_writes", n, NULL);
    sp->werr_attempts = 0;
    if (__atomic_load_n(&sp->nospace, __ATOMIC_RELAXED)) {
        __atomic_store_n(&sp->nospace, 0, __ATOMIC_RELAXED);
        update_blocked(sp);
    }
}

/* Caller holds mu. */
static void update_gauges(struct ls_spool *sp)
{
    if (sp->m_bytes)
        metrics_set(sp->m_bytes, (double)sp->total_bytes);
    if (sp->m_recs)
        metrics_set(sp->m_recs, (double)sp->total_recs);
}


static int seg_push(struct ls_spool *sp, const struct seg *s)
{
    if (sp->nsegs == sp->capsegs) {
        size_t nc = sp->capsegs ? sp->capsegs * 2 : 16;
        if (nc > MAX_SEGMENTS)
            return -1;
        struct seg *ns = realloc(sp->segs, nc * sizeof(*ns));
        if (!ns)
            return -1;
        sp->segs = ns;
        sp->capsegs = nc;
    }
    sp->segs[sp->nsegs++] = *s;
    return 0;
}

static int seg_cmp(const void *a, const void *b)
{
    const struct seg *x = a, *y = b;
    return x->base < y->base ? -1 : x->base > y->base;
}

/* Record a hole in s (kept sorted). Returns it, or NULL on OOM. */
static struct hole *seg_add_hole(struct seg *s, uint64_t off, uint64_t len, uint64_t lost)
{
    struct hole *nh = realloc(s->holes, (s->nholes + 1) * sizeof(*nh));
    size_t i;
    if (!nh)
        return NULL;
    s->holes = nh;
    for (i = s->nholes; i > 0 && nh[i - 1].off > off; i--)
        nh[i] = nh[i - 1];
    nh[i] = (struct hole){ off, len, lost, 0 };
    s->nholes++;
    return &nh[i];
}

/* The hole of s that holds byte off, or NULL. */
static struct hole *seg_hole_at(struct seg *s, uint64_t off)
{
    for (size_t i = 0; i < s->nholes; i++)
        if (s->holes[i].off <= off && off < s->holes[i].off + (s->holes[i].len ? s->holes[i].len : 1))
            return &s->holes[i];
    return NULL;
}

/* Index of the segment named base, or nsegs. Caller holds mu. */
static size_t seg_find(const struct ls_spool *sp, uint64_t base)
{
    for (size_t i = 0; i < sp->nsegs; i++)
        if (sp->segs[i].base == base)
            return i;
    return sp->nsegs;
}

/* ---- per-file marks (spool_marks.h) -------------------------------------- */

static void note_origin(struct ls_marks *ms, const char *o, size_t n, uint64_t seq)
{
    struct ls_mark m;
    if (ls_marks_parse_origin(o, n, seq, &m))
        (void)ls_marks_put(ms, &m);
}

/* Make the marks durable before a segment file goes away, so the lines it
 * held stay known to the sources. 0, or -1 (logged once per episode; the
 * segment is deleted anyway: a lost mark can only make a file re-read lines
 * after a crash, while a kept segment could wedge a full disk). Caller holds mu. */
static int marks_sync_locked(struct ls_spool *sp)
{
    if (!ls_marks_dirty(sp->marks))
        return 0;
    if (ls_marks_save(sp->marks, sp->marks_path) == 0) {
        sp->marks_warned = 0;
        return 0;
    }
    if (!sp->marks_warned)
        log_kv(LOG_ERROR, "spool: cannot save file marks; after a crash, lines of deleted segments may "
               "be read again", "path", sp->marks_path, "error", strerror(errno), NULL);
    sp->marks_warned = 1;
    return -1;
}

/* ---- open: scan every segment -------------------------------------------- */

struct scan_ctx {
    struct ls_spool *sp;
    struct seg *s;
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
    rec_decode(p, &r, &app);
    note_origin(c->sp->marks, r.origin, r.origin_len, r.seq);
    return 0;
}

static void scan_hole(void *ctx, uint64_t off, uint64_t len, uint64_t lost, int at_end)
{
    struct scan_ctx *c = ctx;
    char o[24], l[24], r[24];
    if (at_end && c->is_last) {
        c->tail = off;
        return;
    }
    if (!seg_add_hole(c->s, off, len, lost))
        c->oom = 1;
    u64s(o, sizeof(o), off);
    u64s(l, sizeof(l), len);
    u64s(r, sizeof(r), lost);
    log_kv(LOG_ERROR, "spool: corrupt bytes in a segment; the records after them are kept",
           "segment", c->path, "offset", o, "bytes", l, "records", at_end ? "unknown" : r, NULL);
    if (c->sp->m_corrupt_bytes)
        metrics_add(c->sp->m_corrupt_bytes, (double)len);
}

/* Has every output's cursor file moved past the segment base (size bytes)?
 * 0 when one has not, or when there is no cursor file at all. */
static int every_cursor_past(struct ls_spool *sp, uint64_t base, uint64_t size)
{
    DIR *d = opendir(sp->dir);
    struct dirent *de;
    char path[4096];
    int n = 0, past = 1;
    if (!d)
        return 0;
    while (past && (de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (strncmp(de->d_name, "cursor-", 7) != 0 || l < 12 || strcmp(de->d_name + l - 5, ".json") != 0)
            continue;
        buf_t b;
        buf_init(&b, 4096);
        snprintf(path, sizeof(path), "%s/%s", sp->dir, de->d_name);
        json_object *o = NULL, *sg, *off;
        past = atomicfile_read(path, &b) == 0 && (o = json_tokener_parse(b.p ? b.p : "")) != NULL &&
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

/* Scan segment s fully: exact counts, holes, marks; cut a torn tail when it
 * is the last one. A format-1 segment every output had delivered is deleted
 * (returns 1); one with data still to send refuses the spool (-1 with err:
 * it is never misread). 0, or -1 with err. */
static int scan_one(struct ls_spool *sp, struct seg *s, int is_last, char *err, size_t errlen)
{
    char path[4096], head[4096];
    seg_path(sp, s->base, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "spool: cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    ssize_t hn = pread(fd, head, sizeof(head), 0);
    if (hn > 0 && old_rec_at(head, (size_t)hn, sp->o.max_record_bytes)) {
        close(fd);
        if (every_cursor_past(sp, s->base, s->size) && unlink(path) == 0) {
            log_kv(LOG_INFO, "spool: deleted a delivered segment of the older spool format", "segment",
                   path, NULL);
            return 1;
        }
        snprintf(err, errlen, "spool: %s was written by an older logship (spool format 1) and holds "
                 "undelivered records; drain it with that version or move %s aside", path, sp->dir);
        return -1;
    }
    struct scan_ctx c = { sp, s, path, is_last, UINT64_MAX, 0 };
    struct walk w = { .fd = fd, .from = 0, .to = s->size, .max_body = sp->o.max_record_bytes,
                      .expect = s->base, .on_rec = scan_rec,
                      .on_hole = scan_hole, .ctx = &c };
    int r = walk_segment(&w);
    close(fd);
    if (r != 0 || c.oom) {
        snprintf(err, errlen, "spool: cannot scan %s: %s", path, c.oom ? "out of memory" : strerror(errno));
        return -1;
    }
    s->nrecs = w.nrecs;
    s->first_seq = w.nrecs ? w.first_seq : s->base;
    s->next_seq = w.nrecs ? w.last_seq + 1 : s->base;
    if (c.tail != UINT64_MAX) {
        char cut[24], at[24];
        u64s(cut, sizeof(cut), s->size - c.tail);
        u64s(at, sizeof(at), c.tail);
        log_kv(LOG_WARN, "spool: truncating torn tail", "segment", path, "offset", at,
               "bytes", cut, NULL);
        if (truncate(path, (off_t)c.tail) != 0) {
            snprintf(err, errlen, "spool: cannot truncate %s: %s", path, strerror(errno));
            return -1;
        }
        count_dropped(sp, "torn_tail", 1);
        s->size = c.tail;
    } else if (s->size == 0 && !is_last) {
        log_kv(LOG_ERROR, "spool: empty segment; its records are lost (counted when an output "
               "passes it)", "segment", path, NULL);
    }
    return 0;
}

static int load_segments(struct ls_spool *sp, char *err, size_t errlen)
{
    int rc = -1;
    DIR *d = opendir(sp->dir);
    struct dirent *de;
    char path[4096];
    if (!d) {
        snprintf(err, errlen, "spool: cannot open %s: %s", sp->dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        size_t l = strlen(nm);
        if ((strncmp(nm, "cursor-", 7) == 0 || strncmp(nm, "marks.json", 10) == 0) &&
            strstr(nm, ".tmp.") != NULL) {
            snprintf(path, sizeof(path), "%s/%s", sp->dir, nm);
            (void)unlink(path);
            continue;
        }
        if (l != 4 + 20 + 4 || strncmp(nm, "seg-", 4) != 0 || strcmp(nm + 24, ".log") != 0)
            continue;
        char *end = NULL;
        errno = 0;
        unsigned long long b = strtoull(nm + 4, &end, 10);
        if (errno || end != nm + 24)
            continue;
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", sp->dir, nm);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        struct seg s = { .base = b, .first_seq = b, .next_seq = b, .size = (uint64_t)st.st_size };
        if (seg_push(sp, &s) != 0) {
            snprintf(err, errlen, "spool: too many segments in %s", sp->dir);
            goto out;
        }
    }
    if (sp->nsegs > 1)
        qsort(sp->segs, sp->nsegs, sizeof(*sp->segs), seg_cmp);
    for (size_t i = 0; i < sp->nsegs;) {
        int r = scan_one(sp, &sp->segs[i], i + 1 == sp->nsegs, err, errlen);
        if (r < 0)
            goto out;
        if (r == 1) {
            memmove(&sp->segs[i], &sp->segs[i + 1], (sp->nsegs - i - 1) * sizeof(*sp->segs));
            sp->nsegs--;
            continue;
        }
        i++;
    }
    if (sp->nsegs > 0 && sp->segs[sp->nsegs - 1].size == 0) {
        /* Created but never written (a crash in between): nothing was in it. */
        seg_path(sp, sp->segs[sp->nsegs - 1].base, path, sizeof(path));
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
    rc = 0;
out:
    closedir(d);
    return rc;
}
/* Fail fast on a spool directory nothing can be written to, rather than
 * retrying forever; a full filesystem is only backpressure. */
static int probe_dir(struct ls_spool *sp, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/.probe-%ld", sp->dir, (long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0 && !is_nospace(errno)) {
        snprintf(err, errlen, "spool: cannot write in %s: %s", sp->dir, strerror(errno));
        return -1;
    }
    if (fd >= 0) {
        close(fd);
        (void)unlink(path);
    }
    /* Restarted on a full disk: leave what is free to cursor writes (the
     * outputs must be able to acknowledge to free segments), as at runtime. */
    struct statvfs vf;
    if (fd < 0 || (statvfs(sp->dir, &vf) == 0 &&
                   (uint64_t)vf.f_bavail * vf.f_frsize < 2 * (uint64_t)RESERVE_BYTES)) {
        sp->reserve_held = 1; /* so that write_failed deletes a reserve left by the last run */
        (void)write_failed(sp, ENOSPC, "open", sp->dir);
        return 0;
    }
    int r = reserve_make(sp);
    if (r == -1) {
        snprintf(err, errlen, "spool: cannot write in %s: %s", sp->dir, strerror(errno));
        return -1;
    }
    if (r == LS_SPOOL_NOSPACE || fd < 0)
        (void)write_failed(sp, ENOSPC, "open", sp->dir);
    return 0;
}

struct ls_spool *ls_spool_open(const struct ls_spool_opts *o, char *err, size_t errlen)
{
    struct ls_spool *sp = calloc(1, sizeof(*sp));
    pthread_condattr_t ca;
    if (!sp) {
        snprintf(err, errlen, "spool: out of memory");
        return NULL;
    }
    pthread_once(&crc_once, crc_init);
    sp->o = *o;
    sp->wfd = -1;
    if (sp->o.max_record_bytes == 0)
        sp->o.max_record_bytes = 1u << 20;
    if (sp->o.segment_bytes == 0) {
        uint64_t s = sp->o.max_bytes / 8;
        if (s < (64u << 10))
            s = 64u << 10;
        if (s > (64u << 20))
            s = 64u << 20;
        sp->o.segment_bytes = s;
    }
    /* At least four segments fit, so a full spool always has closed
     * segments that acknowledgements can free. */
    if (sp->o.segment_bytes > sp->o.max_bytes / 4)
        sp->o.segment_bytes = sp->o.max_bytes / 4;
    if (sp->o.max_bytes < 4 * ((uint64_t)sp->o.max_record_bytes + LS_SPOOL_REC_HDR)) {
        snprintf(err, errlen, "spool: max bytes %" PRIu64 " must be at least 4 times the largest record (%zu)",
                 sp->o.max_bytes, sp->o.max_record_bytes + LS_SPOOL_REC_HDR);
        free(sp);
        return NULL;
    }
    sp->dir = strdup(o->dir);
    sp->wbuf = malloc(WBUF_CAP);
    sp->marks = ls_marks_new();
    if (sp->dir) {
        size_t ml = strlen(sp->dir) + sizeof("/marks.json");
        sp->marks_path = malloc(ml);
        if (sp->marks_path)
            snprintf(sp->marks_path, ml, "%s/marks.json", sp->dir);
    }
    pthread_mutex_init(&sp->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sp->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (!sp->dir || !sp->wbuf || !sp->marks || !sp->marks_path) {
        snprintf(err, errlen, "spool: out of memory");
        goto fail;
    }
    if (mkdir(sp->dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "spool: cannot create %s: %s", sp->dir, strerror(errno));
        goto fail;
    }
    if (o->reg) {
        const char *rl[1] = { "reason" };
        metrics_family *f;
        f = metrics_gauge(o->reg, "logship_spool_bytes", "Bytes held in spool segment files.", 0, NULL);
        sp->m_bytes = f ? metrics_child_get(f, NULL) : NULL;
        f = metrics_gauge(o->reg, "logship_spool_records", "Records held in spool segment files.", 0, NULL);
        sp->m_recs = f ? metrics_child_get(f, NULL) : NULL;
        f = metrics_gauge(o->reg, "logship_spool_blocked",
                          "1 while the spool is full and sources are held back.", 0, NULL);
        sp->m_blocked = f ? metrics_child_get(f, NULL) : NULL;
        /* The cap itself, so an alert can say "80% full" without knowing the flags. */
        f = metrics_gauge(o->reg, "logship_spool_max_bytes", "The spool's size cap (--spool-max-bytes).", 0, NULL);
        if (f) metrics_family_set(f, NULL, (double)sp->o.max_bytes);
        sp->m_dropped = metrics_counter(o->reg, "logship_spool_dropped_total",
                                        "Records lost by the spool, by reason (full, torn_tail, corrupt, "
                                        "missing, too_large).", 1, rl);
        f = metrics_counter(o->reg, "logship_spool_corrupt_bytes_total",
                            "Bytes of spool segments found damaged (skipped; the records after them are kept).",
                            0, NULL);
        sp->m_corrupt_bytes = f ? metrics_child_get(f, NULL) : NULL;
        const char *kl[1] = { "kind" };
        sp->m_recover = metrics_counter(o->reg, "logship_spool_recoveries_total",
                                        "Spool state found inconsistent at open and repaired, by kind "
                                        "(cursor_garbage, cursor_moved, cursor_ahead, marks_garbage).", 1, kl);
        sp->m_werr = metrics_counter(o->reg, "logship_spool_write_errors_total",
                                     "Spool writes refused, by reason (nospace: filesystem full, reading "
                                     "paused; io: other errors, retried).", 1, rl);
        if (sp->m_werr) {
            const char *ns[1] = { "nospace" };
            metrics_family_add(sp->m_werr, ns, 0);
        }
    }
    {
        int mr = ls_marks_load(sp->marks, sp->marks_path);
        if (mr < 0) {
            snprintf(err, errlen, "spool: cannot read %s: %s", sp->marks_path, strerror(errno));
            goto fail;
        }
        if (mr == 1) {
            char aside[4200];
            snprintf(aside, sizeof(aside), "%s.corrupt", sp->marks_path);
            if (rename(sp->marks_path, aside) != 0)
                aside[0] = '\0';
            log_kv(LOG_ERROR, "spool: file marks are garbage; moved aside (files resume from "
                   "positions.json and the records still spooled; lines of deleted segments may be read again)",
                   "path", sp->marks_path, "moved_to", aside, NULL);
            count_recovery(sp, "marks_garbage");
        }
    }
    if (load_segments(sp, err, errlen) != 0)
        goto fail;
    if (probe_dir(sp, err, errlen) != 0)
        goto fail;
    sp->last_sync_ns = clock_mono_ns();
    sp->w_total = sp->total_bytes;
    pthread_mutex_lock(&sp->mu);
    update_gauges(sp);
    pthread_mutex_unlock(&sp->mu);
    return sp;
fail:
    pthread_mutex_destroy(&sp->mu);
    pthread_cond_destroy(&sp->cv);
    for (size_t i = 0; i < sp->nsegs; i++)
        free(sp->segs[i].holes);
    ls_marks_free(sp->marks);
    free(sp->marks_path);
    free(sp->segs);
    free(sp->wbuf);
    free(sp->dir);
    free(sp);
    return NULL;
}

/* Written records' marks wait in dmarks until their data is synced, so that
 * marks.json (durable) never claims a line whose record a power loss could
 * still take. Writer thread only. */
static void dmarks_add(struct ls_spool *sp)
{
    if (sp->nwmarks == 0)
        return;
    if (sp->ndmarks + sp->nwmarks > sp->capdmarks) {
        size_t nc = sp->capdmarks ? sp->capdmarks : 16;
        while (nc < sp->ndmarks + sp->nwmarks)
            nc *= 2;
        struct ls_mark *nm = realloc(sp->dmarks, nc * sizeof(*nm));
        if (!nm)
            return; /* those lines may be read again after a crash: no loss */
        sp->dmarks = nm;
        sp->capdmarks = nc;
    }
    memcpy(sp->dmarks + sp->ndmarks, sp->wmarks, sp->nwmarks * sizeof(*sp->wmarks));
    sp->ndmarks += sp->nwmarks;
}

static void dmarks_apply(struct ls_spool *sp)
{
    if (sp->ndmarks == 0)
        return;
    pthread_mutex_lock(&sp->mu);
    for (size_t i = 0; i < sp->ndmarks; i++)
        (void)ls_marks_put(sp->marks, &sp->dmarks[i]);
    pthread_mutex_unlock(&sp->mu);
    sp->ndmarks = 0;
}

/* Close the active segment (sync it unless NEVER). */
static int roll(struct ls_spool *sp)
{
    int rc = 0;
    if (sp->wfd < 0)
        return 0;
    if (sp->o.fsync != LS_FSYNC_NEVER && sp->dirty && fdatasync(sp->wfd) != 0)
        rc = -1;
    if (rc == 0)
        dmarks_apply(sp); /* before the segment can be deleted, so marks.json covers it */
    if (close(sp->wfd) != 0)
        rc = -1;
    pthread_mutex_lock(&sp->mu);
    sp->wfd = -1;   /* seg_consumed reads it under mu */
    pthread_mutex_unlock(&sp->mu);
    sp->dirty = 0;
    return rc;
}

/* Is segment i behind every reader's acknowledged position? Caller holds mu. */
static int seg_consumed(const struct ls_spool *sp, size_t i)
{
    const struct seg *s = &sp->segs[i];
    if (sp->wfd >= 0 && s->base == sp->active_base)
        return 0;
    for (size_t r = 0; r < sp->nrds; r++) {
        const struct ls_spool_reader *rd = sp->rds[r];
        if (rd->acked_seg > s->base)
            continue;
        if (rd->acked_seg == s->base && rd->acked_off >= s->size)
            continue;
        return 0;
    }
    return 1;
}

/* Remove segs[0] and its file. Caller holds mu. */
static void drop_first(struct ls_spool *sp)
{
    char path[4096];
    seg_path(sp, sp->segs[0].base, path, sizeof(path));
    if (unlink(path) != 0 && errno != ENOENT)
        log_kv(LOG_WARN, "spool: cannot delete segment", "segment", path, "error", strerror(errno), NULL);
    sp->total_bytes -= sp->segs[0].size;
    sp->total_recs -= sp->segs[0].nrecs;
    free(sp->segs[0].holes);
    memmove(sp->segs, sp->segs + 1, (sp->nsegs - 1) * sizeof(*sp->segs));
    sp->nsegs--;
    sp->gen++;
    pthread_cond_broadcast(&sp->cv);
}

/* Caller holds mu. */
static void cleanup_locked(struct ls_spool *sp)
{
    int any = 0;
    while (sp->nsegs > 0 && sp->nrds > 0 && seg_consumed(sp, 0)) {
        (void)marks_sync_locked(sp);
        drop_first(sp);
        any = 1;
    }
    if (any)
        update_gauges(sp);
}

static int create_active(struct ls_spool *sp)
{
    char path[4096];
    struct seg s = { .base = sp->wbuf_first_seq, .first_seq = sp->wbuf_first_seq,
                     .next_seq = sp->wbuf_first_seq };
    seg_path(sp, s.base, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        return write_failed(sp, errno, "create segment", path);
    if (sp->o.fsync != LS_FSYNC_NEVER)
        (void)atomicfile_fsync_dir(sp->dir);
    pthread_mutex_lock(&sp->mu);
    int rc = seg_push(sp, &s);
    if (rc == 0) {
        sp->wfd = fd;
        sp->active_base = s.base;
    }
    pthread_mutex_unlock(&sp->mu);
    if (rc != 0) {
        close(fd);
        (void)unlink(path);
        return -1;
    }
    sp->w_active = 0;
    return 0;
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
    (void)roll(sp);
    pthread_mutex_lock(&sp->mu);
    cleanup_locked(sp);
    pthread_mutex_unlock(&sp->mu);
    (void)create_active(sp); /* an empty file needs no blocks; if it fails, the next flush tries */
}

int ls_spool_flush(struct ls_spool *sp)
{
    size_t off = 0;
    int e = 0;
    char path[4096];
    if (sp->wlen == 0 && !__atomic_load_n(&sp->nospace, __ATOMIC_RELAXED))
        return 0;
    if (__atomic_load_n(&sp->nospace, __ATOMIC_RELAXED)) {
        /* Resume only when the buffer and the reserve fit with a reserve's
         * worth to spare: else re-making the reserve would only take back
         * the blocks it just gave to cursor writes. (Quotas do not show
         * here; the write itself tells.) */
        struct statvfs vf;
        if (statvfs(sp->dir, &vf) == 0 &&
            (uint64_t)vf.f_bavail * vf.f_frsize < 2 * (uint64_t)RESERVE_BYTES + sp->wlen)
            return write_failed(sp, ENOSPC, "statvfs", sp->dir);
        /* Segment data never eats the reserve: it comes back first. */
        int r = reserve_make(sp);
        if (r != 0) {
            snprintf(path, sizeof(path), "%s/" RESERVE_NAME, sp->dir);
            return write_failed(sp, r == LS_SPOOL_NOSPACE ? ENOSPC : errno, "reserve", path);
        }
        if (sp->wlen == 0) {
            write_ok(sp); /* space is back (the spool started paused, nothing waits) */
            return 0;
        }
    }
    if (sp->wfd < 0) {
        int r = create_active(sp);
        if (r != 0)
            return r;
    }
    while (off < sp->wlen) {
        ssize_t w = write(sp->wfd, sp->wbuf + off, sp->wlen - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            e = errno;
            break;
        }
        off += (size_t)w;
    }
    if (off < sp->wlen) {
        /* Partial writes would split a record: cut the file back to the last
         * whole flush so readers never see half a record, keep the buffer. */
        pthread_mutex_lock(&sp->mu);
        uint64_t size = sp->segs[sp->nsegs - 1].size;
        pthread_mutex_unlock(&sp->mu);
        if (off > 0 && ftruncate(sp->wfd, (off_t)size) != 0)
            log_kv(LOG_ERROR, "spool: cannot cut partial write", "error", strerror(errno), NULL);
        seg_path(sp, sp->active_base, path, sizeof(path));
        int r = write_failed(sp, e, "write", path);
        abandon_active(sp);
        return r;
    }
    write_ok(sp);
    pthread_mutex_lock(&sp->mu);
    struct seg *s = &sp->segs[sp->nsegs - 1];
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
    update_gauges(sp);
    pthread_cond_broadcast(&sp->cv);
    pthread_mutex_unlock(&sp->mu);
    if (sp->o.fsync != LS_FSYNC_NEVER)
        dmarks_add(sp);
    sp->nwmarks = 0;
    sp->wlen = 0;
    sp->wbuf_nrecs = 0;
    sp->dirty = 1;
    return 0;
}

static uint64_t active_size(struct ls_spool *sp)
{
    return sp->wfd < 0 ? 0 : sp->w_active;
}

static void set_full(struct ls_spool *sp, int v)
{
    if (__atomic_load_n(&sp->full, __ATOMIC_RELAXED) == v)
        return;
    __atomic_store_n(&sp->full, v, __ATOMIC_RELAXED);
    update_blocked(sp);
}

/* Make room for need more bytes. 0, 1 (full, blocking), LS_SPOOL_NOSPACE, -1 error. */
static int make_room(struct ls_spool *sp, uint64_t need)
{
    /* w_total can only be too high (readers delete), so this is safe. */
    if (sp->w_total + sp->wlen + need <= sp->o.max_bytes)
        return 0;
    pthread_mutex_lock(&sp->mu);
    sp->w_total = sp->total_bytes;
    pthread_mutex_unlock(&sp->mu);
    if (sp->w_total + sp->wlen + need <= sp->o.max_bytes)
        return 0;
    int fr = ls_spool_flush(sp);
    if (fr != 0)
        return fr;
    if (!sp->o.drop_oldest)
        return 1;
    for (;;) {
        pthread_mutex_lock(&sp->mu);
        if (sp->total_bytes + need <= sp->o.max_bytes || sp->nsegs == 0) {
            sp->w_total = sp->total_bytes;
            pthread_mutex_unlock(&sp->mu);
            return 0;
        }
        if (sp->wfd >= 0 && sp->segs[0].base == sp->active_base) {
            pthread_mutex_unlock(&sp->mu);
            if (roll(sp) != 0)
                return -1;
            continue;
        }
        struct seg *s = &sp->segs[0];
        uint64_t minack = UINT64_MAX;
        /* What the slowest reader has not even read into memory is lost;
         * a batch it holds will still be delivered. */
        for (size_t r = 0; r < sp->nrds; r++) {
            uint64_t rs = __atomic_load_n(&sp->rds[r]->read_seq, __ATOMIC_ACQUIRE);
            if (rs < minack)
                minack = rs;
        }
        uint64_t from = s->first_seq > minack ? s->first_seq : minack;
        if (sp->nrds == 0)
            from = s->first_seq;
        uint64_t lost = s->next_seq > from ? s->next_seq - from : 0;
        char nb[32], path[4096];
        snprintf(nb, sizeof(nb), "%" PRIu64, lost);
        seg_path(sp, s->base, path, sizeof(path));
        (void)marks_sync_locked(sp); /* dropping anyway: lines whose mark is lost may be read again */
        drop_first(sp);
        update_gauges(sp);
        pthread_mutex_unlock(&sp->mu);
        if (lost > 0) {
            count_dropped(sp, "full", lost);
            log_kv(LOG_WARN, "spool full: dropped oldest segment", "segment", path,
                   "records", nb, NULL);
        }
    }
}

/* Remember the mark of a buffered record; flush applies it once written.
 * Consecutive records of one file only move the offset (no parsing). */
static void wmark_note(struct ls_spool *sp, const struct ls_record *rec, uint64_t seq)
{
    const char *o = rec->origin, *at;
    size_t n = rec->origin_len;
    if (n < 2 || o[0] != 'f' || o[1] != ':' || !(at = memchr(o, '@', n)))
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
    if (sp->nwmarks == sp->capwmarks) {
        size_t nc = sp->capwmarks ? sp->capwmarks * 2 : 16;
        struct ls_mark *nm = realloc(sp->wmarks, nc * sizeof(*nm));
        if (!nm)
            return; /* the file is then re-read up to its positions.json after a crash: no loss */
        sp->wmarks = nm;
        sp->capwmarks = nc;
    }
    sp->wmarks[sp->nwmarks++] = m;
    sp->wm_prelen = pl < sizeof(sp->wm_pre) ? pl : 0;
    if (sp->wm_prelen)
        memcpy(sp->wm_pre, o, pl);
}

int ls_spool_append(struct ls_spool *sp, const struct ls_record *rec)
{
    uint64_t body = (uint64_t)rec->labels_len + rec->line_len + rec->origin_len;
    if (body > sp->o.max_record_bytes) {
        char n[24];
        snprintf(n, sizeof(n), "%" PRIu64, body);
        log_kv(LOG_ERROR, "spool: record too large, dropped", "bytes", n, NULL);
        count_dropped(sp, "too_large", 1);
        return -1;
    }
    size_t total = rec_size((size_t)body);
    int r;
    /* While the disk is full take nothing new: the buffer waits for space. */
    if (__atomic_load_n(&sp->nospace, __ATOMIC_RELAXED) && (r = ls_spool_flush(sp)) != 0)
        return r;
    r = make_room(sp, total);
    if (r != 0) {
        set_full(sp, r == 1);
        return r;
    }
    set_full(sp, 0);
    /* Roll before this record would push the active segment over its size. */
    uint64_t asz = active_size(sp);
    if (asz + sp->wlen + total > sp->o.segment_bytes && asz + sp->wlen > 0) {
        if ((r = ls_spool_flush(sp)) != 0)
            return r;
        if (roll(sp) != 0)
            return -1;
        pthread_mutex_lock(&sp->mu);
        cleanup_locked(sp);
        pthread_mutex_unlock(&sp->mu);
    }
    if (sp->wlen + total > WBUF_CAP && (r = ls_spool_flush(sp)) != 0)
        return r;
    if (sp->wlen == 0)
        sp->wbuf_first_seq = sp->next_seq;
    char *hdr = NULL, *big = NULL;
    if (total > WBUF_CAP) {
        big = malloc(total);
        if (!big)
            return -1;
        hdr = big;
    } else {
        hdr = sp->wbuf + sp->wlen;
    }
    uint64_t seq = sp->next_seq;
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    int64_t now = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec;
    rec_encode(hdr, rec, seq, now);
    sp->next_seq++;
    if (big) {
        /* A record larger than the write buffer goes straight out. */
        char *save = sp->wbuf;
        sp->wbuf = big;
        sp->wlen = total;
        sp->wbuf_first_seq = seq;
        sp->wbuf_next_seq = seq + 1;
        sp->wbuf_nrecs = 1;
        wmark_note(sp, rec, seq); /* the buffer was flushed above: this is the only mark */
        int fr = ls_spool_flush(sp);
        sp->wbuf = save;
        if (fr != 0) {
            sp->wlen = 0;
            sp->wbuf_nrecs = 0;
            sp->nwmarks = 0;
            sp->next_seq--;
        }
        free(big);
        return fr;
    }
    wmark_note(sp, rec, seq);
    sp->wlen += total;
    sp->wbuf_next_seq = sp->next_seq;
    sp->wbuf_nrecs++;
    return 0;
}

int ls_spool_commit_point(struct ls_spool *sp, int force)
{
    if (ls_spool_flush(sp) != 0)
        return -1;
    if (sp->o.fsync == LS_FSYNC_NEVER || !sp->dirty || sp->wfd < 0) {
        dmarks_apply(sp);
        return 1;
    }
    int64_t now = clock_mono_ns();
    if (!force && sp->o.fsync == LS_FSYNC_INTERVAL &&
        now - sp->last_sync_ns < sp->o.fsync_interval_ms * 1000000)
        return 0;
    if (fdatasync(sp->wfd) != 0) {
        log_kv(LOG_ERROR, "spool: fdatasync failed", "error", strerror(errno), NULL);
        return -1;
    }
    sp->dirty = 0;
    sp->last_sync_ns = now;
    dmarks_apply(sp);
    return 1;
}

int ls_spool_full(struct ls_spool *sp)
{
    return __atomic_load_n(&sp->full, __ATOMIC_RELAXED);
}

int ls_spool_nospace(struct ls_spool *sp)
{
    return __atomic_load_n(&sp->nospace, __ATOMIC_RELAXED);
}

int ls_spool_record_fits(const struct ls_spool *sp, const struct ls_record *rec)
{
    return (uint64_t)rec->labels_len + rec->line_len + rec->origin_len <= sp->o.max_record_bytes;
}

void ls_spool_wake_all(struct ls_spool *sp)
{
    pthread_mutex_lock(&sp->mu);
    sp->gen++;
    pthread_cond_broadcast(&sp->cv);
    pthread_mutex_unlock(&sp->mu);
}

uint64_t ls_spool_bytes(struct ls_spool *sp)
{
    pthread_mutex_lock(&sp->mu);
    uint64_t v = sp->total_bytes;
    pthread_mutex_unlock(&sp->mu);
    return v;
}

uint64_t ls_spool_records(struct ls_spool *sp)
{
    pthread_mutex_lock(&sp->mu);
    uint64_t v = sp->total_recs;
    pthread_mutex_unlock(&sp->mu);
    return v;
}

size_t ls_spool_segments(struct ls_spool *sp)
{
    pthread_mutex_lock(&sp->mu);
    size_t v = sp->nsegs;
    pthread_mutex_unlock(&sp->mu);
    return v;
}

uint64_t ls_spool_dropped(struct ls_spool *sp)
{
    return __atomic_load_n(&sp->dropped, __ATOMIC_RELAXED);
}

uint64_t ls_spool_next_seq(struct ls_spool *sp)
{
    pthread_mutex_lock(&sp->mu);
    uint64_t v = sp->vis_next_seq;
    pthread_mutex_unlock(&sp->mu);
    return v;
}

void ls_spool_close(struct ls_spool *sp)
{
    if (!sp)
        return;
    if (ls_spool_flush(sp) != 0 && sp->wlen > 0) {
        char n[24];
        snprintf(n, sizeof(n), "%" PRIu64, sp->wbuf_nrecs);
        log_kv(LOG_ERROR, "spool: exiting with records that could not be written; file sources read them "
               "again at the next start, stdin lines among them are lost", "records", n, NULL);
    }
    (void)roll(sp);
    pthread_mutex_destroy(&sp->mu);
    pthread_cond_destroy(&sp->cv);
    for (size_t i = 0; i < sp->nsegs; i++)
        free(sp->segs[i].holes);
    ls_marks_free(sp->marks);
    free(sp->marks_path);
    free(sp->wmarks);
    free(sp->dmarks);
    free(sp->rds);
    free(sp->segs);
    free(sp->wbuf);
    free(sp->dir);
    free(sp);
}

int ls_spool_resume_mark(struct ls_spool *sp, uint64_t dev, uint64_t ino, uint64_t *off, uint64_t *fp)
{
    struct ls_mark m;
    pthread_mutex_lock(&sp->mu);
    int r = ls_marks_get(sp->marks, dev, ino, &m);
    pthread_mutex_unlock(&sp->mu);
    if (r) {
        *off = m.off;
        *fp = m.fp;
    }
    return r;
}

/* ---- readers ------------------------------------------------------------ */

/* Read the cursor file. 0 with seq, sg, off, sent set, 1 when absent, 2
 * when garbage, -1 on an I/O error. */
static int load_cursor(struct ls_spool_reader *rd, uint64_t *seq, uint64_t *sg, uint64_t *off,
                       uint64_t *sent)
{
    buf_t b;
    int rc = 2;
    buf_init(&b, 4096);
    int r = atomicfile_read(rd->cursor_path, &b);
    if (r != 0) {
        buf_free(&b);
        return r;
    }
    json_object *o = json_tokener_parse(b.p ? b.p : "");
    json_object *v;
    if (o && json_object_get_type(o) == json_type_object) {
        int ok = 1;
        const char *keys[4] = { "seq", "seg", "off", "sent" };
        uint64_t *dst[4] = { seq, sg, off, sent };
        *sent = 0;
        for (int k = 0; k < 4; k++) {
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
            rc = 0;
    }
    json_object_put(o);
    buf_free(&b);
    return rc;
}

struct find_ctx {
    uint64_t want, off;
    int found;
};

static int find_rec(void *ctx, uint64_t off, const char *p, size_t n)
{
    struct find_ctx *c = ctx;
    (void)n;
    if (rec_seq(p) < c->want)
        return 0;
    c->off = off;
    c->found = 1;
    return 1;
}

/* Does the cursor (sg, off, seq) name a record boundary of the spool? Caller holds mu. */
static int cursor_fits(struct ls_spool *sp, char *tmp, size_t tmpcap, uint64_t sg, uint64_t off,
                       uint64_t seq)
{
    size_t i = seg_find(sp, sg);
    if (i == sp->nsegs)
        return 0;
    struct seg *s = &sp->segs[i];
    if (off > s->size)
        return 0;
    if (off == s->size)
        return seq >= s->next_seq;
    struct hole *h = seg_hole_at(s, off);
    if (h)
        return h->off == off;
    char path[4096];
    seg_path(sp, sg, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t want = tmpcap;
    if (want > s->size - off)
        want = (size_t)(s->size - off);
    ssize_t got = pread(fd, tmp, want, (off_t)off);
    close(fd);
    return got > 0 && rec_check(tmp, (size_t)got, sp->o.max_record_bytes) > 0 && rec_seq(tmp) == seq;
}

/* Position a new reader from its cursor file, repairing what does not fit
 * the spool (logged and counted). Caller holds mu. */
static void place_reader(struct ls_spool_reader *rd, int lr, uint64_t seq, uint64_t sg, uint64_t off)
{
    struct ls_spool *sp = rd->sp;
    char a[24], b[24];
    rd->read_seg = 0;
    rd->read_off = 0;
    rd->read_seq = sp->nsegs ? sp->segs[0].first_seq : sp->next_seq;
    if (lr == 1)
        goto done; /* a new output: the oldest record */
    if (lr == 2) {
        log_kv(LOG_WARN, "spool: unreadable cursor, starting at the oldest record (records may be sent again)",
               "path", rd->cursor_path, NULL);
        count_recovery(sp, "cursor_garbage");
        goto done;
    }
    if (seq > sp->next_seq) {
        /* The tail this cursor saw was lost (power loss): never reuse its seqs. */
        if (sp->nsegs > 0) {
            u64s(a, sizeof(a), seq);
            u64s(b, sizeof(b), sp->next_seq);
            log_kv(LOG_WARN, "spool: cursor is ahead of the spool's last record (data lost in a power "
                   "loss after delivery); continuing after it", "path", rd->cursor_path, "cursor_seq", a,
                   "spool_next_seq", b, NULL);
            count_recovery(sp, "cursor_ahead");
        }
        sp->next_seq = sp->vis_next_seq = seq;
    }
    if (cursor_fits(sp, rd->mem, rd->cap, sg, off, seq)) {
        rd->read_seg = sg;
        rd->read_off = off;
        rd->read_seq = seq;
        goto done;
    }
    if (sp->nsegs == 0 || seq >= sp->segs[sp->nsegs - 1].next_seq) {
        /* Everything spooled was delivered: continue after the newest record. */
        rd->read_seq = seq;
        if (sp->nsegs > 0) {
            rd->read_seg = sp->segs[sp->nsegs - 1].base;
            rd->read_off = sp->segs[sp->nsegs - 1].size;
        }
        goto done;
    }
    if (seq < sp->segs[0].first_seq) {
        uint64_t miss = sp->segs[0].first_seq - seq;
        u64s(a, sizeof(a), seq);
        u64s(b, sizeof(b), miss);
        log_kv(LOG_ERROR, "spool: cursor points before the oldest record (its segment is gone); "
               "starting at the oldest", "path", rd->cursor_path, "cursor_seq", a, "records_missing", b, NULL);
        count_dropped(sp, "missing", miss);
        goto done;
    }
    /* Inside the spool but not at a record boundary we know: find it by seq. */
    size_t i = 0;
    while (i + 1 < sp->nsegs && sp->segs[i].next_seq <= seq)
        i++;
    struct seg *s = &sp->segs[i];
    struct find_ctx fc = { seq, s->size, 0 };
    char path[4096];
    seg_path(sp, s->base, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        struct walk w = { .fd = fd, .from = 0, .to = s->size, .max_body = sp->o.max_record_bytes,
                          .expect = s->base, .on_rec = find_rec, .ctx = &fc };
        (void)walk_segment(&w);
        close(fd);
    }
    rd->read_seg = s->base;
    rd->read_off = fc.found ? fc.off : s->size;
    rd->read_seq = seq;
    if (!(seq == s->first_seq && rd->read_off == 0 && seg_find(sp, sg) == sp->nsegs)) {
        /* (A cursor at the first record of a segment whose predecessor was
         * deleted is the normal case, not worth a word.) */
        u64s(a, sizeof(a), seq);
        u64s(b, sizeof(b), rd->read_off);
        log_kv(LOG_WARN, "spool: cursor did not match a record boundary; repositioned by sequence number",
               "path", rd->cursor_path, "cursor_seq", a, "segment", path, "offset", b, NULL);
        count_recovery(sp, "cursor_moved");
    }
done:
    rd->acked_seg = rd->read_seg;
    rd->acked_off = rd->read_off;
    rd->acked_seq = rd->read_seq;
}

struct ls_spool_reader *ls_spool_reader_open(struct ls_spool *sp, const char *name,
                                             size_t batch_bytes, char *err, size_t errlen)
{
    struct ls_spool_reader *rd = calloc(1, sizeof(*rd));
    size_t plen = strlen(sp->dir) + strlen(name) + 32;
    if (!rd)
        goto oom;
    for (const char *c = name; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_' || *c == '.')) {
            snprintf(err, errlen, "spool: bad reader name '%s'", name);
            free(rd);
            return NULL;
        }
    }
    rd->sp = sp;
    rd->fd = -1;
    rd->batch_bytes = batch_bytes ? batch_bytes : (1u << 20);
    rd->cap = rd->batch_bytes + sp->o.max_record_bytes + LS_SPOOL_REC_HDR;
    rd->name = strdup(name);
    rd->cursor_path = malloc(plen);
    rd->mem = malloc(rd->cap);
    if (!rd->name || !rd->cursor_path || !rd->mem)
        goto oom;
    snprintf(rd->cursor_path, plen, "%s/cursor-%s.json", sp->dir, name);
    uint64_t seq = 0, sg = 0, off = 0, sent = 0;
    int lr = load_cursor(rd, &seq, &sg, &off, &sent);
    if (lr < 0) {
        snprintf(err, errlen, "spool: cannot read %s: %s", rd->cursor_path, strerror(errno));
        goto fail;
    }
    rd->sent_seq = rd->sent_saved = lr == 0 ? sent : 0;
    pthread_mutex_lock(&sp->mu);
    place_reader(rd, lr, seq, sg, off);
    struct ls_spool_reader **nr = realloc(sp->rds, (sp->nrds + 1) * sizeof(*nr));
    if (nr) {
        sp->rds = nr;
        sp->rds[sp->nrds++] = rd;
    }
    pthread_mutex_unlock(&sp->mu);
    if (!nr)
        goto oom;
    return rd;
oom:
    snprintf(err, errlen, "spool: out of memory");
fail:
    if (rd) {
        free(rd->name);
        free(rd->cursor_path);
        free(rd->mem);
        free(rd);
    }
    return NULL;
}

static int push_rec(struct ls_spool_reader *rd, const char *p)
{
    if (rd->n == rd->capn) {
        size_t nc = rd->capn ? rd->capn * 2 : 256;
        struct ls_record *nr = realloc(rd->recs, nc * sizeof(*nr));
        if (!nr)
            return -1;
        rd->recs = nr;
        int64_t *na = realloc(rd->app, nc * sizeof(*na));
        if (!na)
            return -1;
        rd->app = na;
        rd->capn = nc;
    }
    rec_decode(p, &rd->recs[rd->n], &rd->app[rd->n]);
    rd->n++;
    return 0;
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

/* The bytes at the reader's position (segment size bytes long) are no
 * record: skip them to the next valid record. The hole is counted once
 * across readers (corrupt bytes when first found, lost records when first
 * passed) and logged with where it is. 0, or -1 on a read error. */
static int skip_damage(struct ls_spool_reader *rd, uint64_t size)
{
    struct ls_spool *sp = rd->sp;
    uint64_t at = rd->read_off, end = 0, lost = 0;
    int have = 0, count = 0, fresh = 0;
    char path[4096], o[24], l[24], r[24];
    pthread_mutex_lock(&sp->mu);
    size_t i = seg_find(sp, rd->read_seg);
    struct hole *h = i < sp->nsegs ? seg_hole_at(&sp->segs[i], at) : NULL;
    int gone = i == sp->nsegs;
    if (h) {
        have = 1;
        end = h->off + h->len;
    }
    pthread_mutex_unlock(&sp->mu);
    if (gone)
        return 0; /* deleted meanwhile: the table lookup moves on */
    if (!have) {
        struct dmg_ctx dc = { 0 };
        struct walk w = { .fd = rd->fd, .from = at, .to = size, .max_body = sp->o.max_record_bytes,
                          .expect = rd->read_seq, .stop_first_valid = 1,
                          .on_hole = dmg_hole, .ctx = &dc };
        if (walk_segment(&w) != 0) {
            log_kv(LOG_ERROR, "spool: read failed", "error", strerror(errno), NULL);
            return -1;
        }
        end = w.stop_off > at ? w.stop_off : size; /* always progress */
        lost = dc.lost;
    }
    pthread_mutex_lock(&sp->mu);
    i = seg_find(sp, rd->read_seg);
    if (i < sp->nsegs) {
        h = seg_hole_at(&sp->segs[i], at);
        if (!h) {
            h = seg_add_hole(&sp->segs[i], at, end - at, lost);
            fresh = 1;
        }
        if (h) {
            end = h->off + h->len;
            lost = h->lost;
            count = !h->counted;
            h->counted = 1;
        }
    }
    pthread_mutex_unlock(&sp->mu);
    seg_path(sp, rd->read_seg, path, sizeof(path));
    u64s(o, sizeof(o), at);
    u64s(l, sizeof(l), end - at);
    u64s(r, sizeof(r), lost);
    if (fresh && sp->m_corrupt_bytes)
        metrics_add(sp->m_corrupt_bytes, (double)(end - at));
    if (count) {
        log_kv(LOG_ERROR, "spool: skipping corrupt bytes; the records after them are delivered",
               "segment", path, "offset", o, "bytes", l, "records_lost", r, "reader", rd->name, NULL);
        if (lost > 0)
            count_dropped(sp, "corrupt", lost);
    }
    rd->read_off = end > at ? end : size;
    return 0;
}

long ls_spool_reader_fill(struct ls_spool_reader *rd)
{
    struct ls_spool *sp = rd->sp;
    long added = 0;
    char path[4096];
    while (rd->used < rd->batch_bytes) {
        uint64_t size, next_base = 0, gap = 0;
        int has_next;
        pthread_mutex_lock(&sp->mu);
        rd->seen_gen = sp->gen;
        size_t i = 0;
        while (i < sp->nsegs && sp->segs[i].base < rd->read_seg)
            i++;
        if (i == sp->nsegs) {
            pthread_mutex_unlock(&sp->mu);
            break;
        }
        if (sp->segs[i].base != rd->read_seg) {
            /* Our segment is gone (dropped when full) or we start fresh. */
            rd->read_seg = sp->segs[i].base;
            rd->read_off = 0;
        }
        size = sp->segs[i].size;
        has_next = i + 1 < sp->nsegs;
        if (has_next) {
            next_base = sp->segs[i + 1].base;
            uint64_t from = sp->segs[i].next_seq > rd->read_seq ? sp->segs[i].next_seq : rd->read_seq;
            /* (next's base, not its first valid seq: a hole at its start counts its own) */
            if (rd->read_off >= size && !sp->segs[i].gap_counted && sp->segs[i + 1].base > from) {
                /* Seqs this reader expected that are in neither segment (an
                 * empty or cut segment): lost, counted by the first reader. A
                 * reader whose cursor is past them had them delivered. */
                gap = sp->segs[i + 1].base - from;
                sp->segs[i].gap_counted = 1;
            }
        }
        pthread_mutex_unlock(&sp->mu);
        if (gap > 0) {
            char g[24];
            seg_path(sp, rd->read_seg, path, sizeof(path));
            u64s(g, sizeof(g), gap);
            log_kv(LOG_ERROR, "spool: records missing at the end of a segment", "segment", path,
                   "records_lost", g, "reader", rd->name, NULL);
            count_dropped(sp, "corrupt", gap);
        }
        if (rd->read_off >= size) {
            if (!has_next)
                break;
            /* Done with this file: an open descriptor would keep a deleted
             * segment's blocks allocated, which a full disk cannot spare. */
            if (rd->fd >= 0) {
                close(rd->fd);
                rd->fd = -1;
            }
            rd->read_seg = next_base;
            rd->read_off = 0;
            continue;
        }
        if (rd->fd < 0 || rd->fd_seg != rd->read_seg) {
            if (rd->fd >= 0)
                close(rd->fd);
            seg_path(sp, rd->read_seg, path, sizeof(path));
            rd->fd = open(path, O_RDONLY | O_CLOEXEC);
            if (rd->fd < 0) {
                if (errno == ENOENT)
                    continue; /* deleted meanwhile: the table lookup moves on */
                log_kv(LOG_ERROR, "spool: cannot open segment", "segment", path,
                       "error", strerror(errno), NULL);
                return -1;
            }
            rd->fd_seg = rd->read_seg;
        }
        size_t want = rd->cap - rd->used;
        if (want > size - rd->read_off)
            want = (size_t)(size - rd->read_off);
        ssize_t got = pread(rd->fd, rd->mem + rd->used, want, (off_t)rd->read_off);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            log_kv(LOG_ERROR, "spool: read failed", "error", strerror(errno), NULL);
            return -1;
        }
        size_t pos = 0, n_before = rd->n;
        long added_before = added;
        int corrupt = 0, full = 0;
        uint64_t remaining = size - rd->read_off; /* visible bytes from mem+used on */
        if (got == 0)
            corrupt = 1; /* the file is shorter than we wrote: cut from outside */
        while (!corrupt) {
            if (rd->used + pos >= rd->batch_bytes) {
                full = 1;
                break;
            }
            long n = rec_check(rd->mem + rd->used + pos, (size_t)got - pos, sp->o.max_record_bytes);
            if (n < 0) {
                corrupt = 1;
                break;
            }
            if (n == 0) {
                /* Every valid record fits in cap; so either pread was short
                 * (read again) or the visible data ends inside a record. */
                if ((uint64_t)got - pos >= remaining - pos && pos < remaining)
                    corrupt = 1;
                break;
            }
            if (push_rec(rd, rd->mem + rd->used + pos) != 0)
                return -1;
            pos += (size_t)n;
            added++;
        }
        if (pos > 0) {
            /* Publish what we took unless drop-oldest deleted the segment
             * meanwhile: it counted those records as lost, so they must not
             * be delivered too (the count stays exact). Both sides hold mu. */
            pthread_mutex_lock(&sp->mu);
            int alive = 0;
            for (size_t k = 0; k < sp->nsegs && !alive; k++)
                alive = sp->segs[k].base == rd->read_seg;
            if (alive)
                __atomic_store_n(&rd->read_seq, rd->recs[rd->n - 1].seq + 1, __ATOMIC_RELEASE);
            pthread_mutex_unlock(&sp->mu);
            if (!alive) {
                rd->n = n_before;
                added = added_before;
                continue; /* the table lookup moves us to the oldest segment left */
            }
            rd->used += pos;
            rd->read_off += pos;
        }
        if (corrupt) {
            if (skip_damage(rd, size) != 0)
                return -1;
            continue;
        }
        if (full)
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
            log_kv(LOG_WARN, "spool: cannot save the in-flight mark (a replay after a crash will not be "
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
        log_kv(LOG_ERROR, "spool: cannot persist cursor", "path", rd->cursor_path,
               "error", strerror(errno), NULL);
        return -1;
    }
    pthread_mutex_lock(&sp->mu);
    rd->acked_seg = rd->read_seg;
    rd->acked_off = rd->read_off;
    rd->acked_seq = rd->read_seq;
    cleanup_locked(sp);
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
    if (rd->fd >= 0)
        close(rd->fd);
    free(rd->recs);
    free(rd->app);
    free(rd->mem);
    free(rd->name);
    free(rd->cursor_path);
    free(rd);
}
