/* spool: durable segmented record log with per-output cursors (see spool.h for the format and fsync policy). */
#include "logship/spool.h"

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

#include "buf.h"
#include "jsonw.h"
#include "log.h"
#include "logship/checkpoint.h"

#define FIXED_BODY 40u          /* seq, ts, append, 3 lengths, reserved */
#define WBUF_CAP (256u * 1024u)
#define MAX_SEGMENTS 100000u
/* Kept free for cursor and position files while segments fill the disk:
 * each state-file write needs one new block until its rename frees the old
 * one, so 16 outputs and the positions file fit. */
#define RESERVE_BYTES (64u * 1024u)
#define RESERVE_NAME "space-reserve"
#define WERR_LOG_NS (60LL * 1000000000)   /* "still failing" log period */

struct seg {
    uint64_t base;      /* seq in the file name */
    uint64_t first_seq; /* first record's seq (== base for segments we wrote) */
    uint64_t next_seq;  /* one past the last record's seq */
    uint64_t size;      /* bytes visible to readers */
    uint64_t nrecs;
};

struct ls_spool {
    char    *dir;
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
    metrics_child *m_bytes, *m_recs, *m_blocked;
    metrics_family *m_dropped;
};

struct ls_spool_reader {
    struct ls_spool *sp;
    char    *name;
    char    *cursor_path;
    /* acknowledged position (written under sp->mu by this thread; read by cleanup) */
    uint64_t acked_seg, acked_off, acked_seq;
    /* read position: just after the last record in the batch */
    uint64_t read_seg, read_off, read_seq;
    int      fd;
    uint64_t fd_seg;
    char    *mem;
    size_t   cap, used, batch_bytes;
    struct ls_record *recs;
    int64_t *app;
    size_t   n, capn;
    uint64_t seen_gen;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

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
    int64_t now = mono_ns();
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
    snprintf(ms, sizeof(ms), "%" PRId64, (mono_ns() - sp->werr_since_ns) / 1000000);
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

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
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

/* Validate the record framing at p (avail bytes). Returns the total record
 * size (>0), 0 when more bytes are needed, -1 when corrupt. */
static long rec_check(const char *p, size_t avail, size_t max_body)
{
    uint32_t len, crc, ll, nl, ol;
    if (avail < 8)
        return 0;
    memcpy(&len, p, 4);
    memcpy(&crc, p + 4, 4);
    if (len < FIXED_BODY || len > max_body + FIXED_BODY)
        return -1;
    if (avail < 8 + (size_t)len)
        return 0;
    if (rec_crc(len, p + 8) != crc)
        return -1;
    memcpy(&ll, p + 8 + 24, 4);
    memcpy(&nl, p + 8 + 28, 4);
    memcpy(&ol, p + 8 + 32, 4);
    if ((uint64_t)ll + nl + ol + FIXED_BODY != len)
        return -1;
    return (long)(8 + len);
}

/* Scan a segment file; set *good to the size of its valid prefix. */
static int scan_segment(const char *path, size_t max_body, uint64_t *good, uint64_t *first,
                        uint64_t *next, uint64_t *nrecs)
{
    int rc = -1;
    size_t cap = max_body + 8 + FIXED_BODY + (256u << 10);
    char *mem = malloc(cap);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint64_t off = 0;
    size_t have = 0;
    *good = 0;
    *nrecs = 0;
    if (!mem || fd < 0)
        goto out;
    for (;;) {
        ssize_t r = pread(fd, mem + have, cap - have, (off_t)(off + have));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            goto out;
        }
        have += (size_t)r;
        size_t pos = 0;
        for (;;) {
            long n = rec_check(mem + pos, have - pos, max_body);
            if (n <= 0) {
                if (n < 0)
                    r = 0; /* stop at corruption */
                break;
            }
            uint64_t seq;
            memcpy(&seq, mem + pos + 8, 8);
            if (*nrecs == 0)
                *first = seq;
            *next = seq + 1;
            (*nrecs)++;
            pos += (size_t)n;
        }
        off += pos;
        *good = off;
        if (r == 0)
            break;
        memmove(mem, mem + pos, have - pos);
        have -= pos;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(mem);
    return rc;
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
        if (strncmp(nm, "cursor-", 7) == 0 && strstr(nm, ".tmp.") != NULL) {
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
        if (stat(path, &st) != 0)
            continue;
        struct seg s = { .base = b, .first_seq = b, .next_seq = b, .size = (uint64_t)st.st_size };
        if (seg_push(sp, &s) != 0) {
            snprintf(err, errlen, "spool: too many segments in %s", sp->dir);
            goto out;
        }
    }
    if (sp->nsegs > 1)
        qsort(sp->segs, sp->nsegs, sizeof(*sp->segs), seg_cmp);
    for (size_t i = 0; i + 1 < sp->nsegs; i++) {
        sp->segs[i].next_seq = sp->segs[i + 1].base;
        sp->segs[i].nrecs = sp->segs[i + 1].base - sp->segs[i].base;
    }
    if (sp->nsegs > 0) {
        struct seg *last = &sp->segs[sp->nsegs - 1];
        uint64_t good = 0, first = last->base, next = last->base, nrecs = 0;
        seg_path(sp, last->base, path, sizeof(path));
        if (scan_segment(path, sp->o.max_record_bytes, &good, &first, &next, &nrecs) != 0) {
            snprintf(err, errlen, "spool: cannot scan %s: %s", path, strerror(errno));
            goto out;
        }
        if (good < last->size) {
            char cut[32], at[32];
            snprintf(cut, sizeof(cut), "%" PRIu64, last->size - good);
            snprintf(at, sizeof(at), "%" PRIu64, good);
            log_kv(LOG_WARN, "spool: truncating torn tail", "segment", path, "offset", at,
                   "bytes", cut, NULL);
            if (truncate(path, (off_t)good) != 0) {
                snprintf(err, errlen, "spool: cannot truncate %s: %s", path, strerror(errno));
                goto out;
            }
            count_dropped(sp, "torn_tail", 1);
            last->size = good;
        }
        last->first_seq = nrecs ? first : last->base;
        last->next_seq = nrecs ? next : last->base;
        last->nrecs = nrecs;
        if (last->size == 0) {
            (void)unlink(path);
            sp->nsegs--;
        }
    }
    sp->next_seq = 1;
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
    pthread_mutex_init(&sp->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sp->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (!sp->dir || !sp->wbuf) {
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
                                        "Records lost by the spool, by reason (full, torn_tail, corrupt).",
                                        1, rl);
        sp->m_werr = metrics_counter(o->reg, "logship_spool_write_errors_total",
                                     "Spool writes refused, by reason (nospace: filesystem full, reading "
                                     "paused; io: other errors, retried).", 1, rl);
        if (sp->m_werr) {
            const char *ns[1] = { "nospace" };
            metrics_family_add(sp->m_werr, ns, 0);
        }
    }
    if (load_segments(sp, err, errlen) != 0)
        goto fail;
    if (probe_dir(sp, err, errlen) != 0)
        goto fail;
    sp->last_sync_ns = mono_ns();
    sp->w_total = sp->total_bytes;
    pthread_mutex_lock(&sp->mu);
    update_gauges(sp);
    pthread_mutex_unlock(&sp->mu);
    return sp;
fail:
    pthread_mutex_destroy(&sp->mu);
    pthread_cond_destroy(&sp->cv);
    free(sp->segs);
    free(sp->wbuf);
    free(sp->dir);
    free(sp);
    return NULL;
}

/* Close the active segment (sync it unless NEVER). */
static int roll(struct ls_spool *sp)
{
    int rc = 0;
    if (sp->wfd < 0)
        return 0;
    if (sp->o.fsync != LS_FSYNC_NEVER && sp->dirty && fdatasync(sp->wfd) != 0)
        rc = -1;
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
        (void)fsync_dir(sp->dir);
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
    sp->gen++;
    update_gauges(sp);
    pthread_cond_broadcast(&sp->cv);
    pthread_mutex_unlock(&sp->mu);
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
    uint32_t len = (uint32_t)(body + FIXED_BODY);
    size_t total = 8 + (size_t)len;
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
    uint32_t ll = (uint32_t)rec->labels_len, nl = (uint32_t)rec->line_len,
             ol = (uint32_t)rec->origin_len, zero = 0;
    char *b = hdr + 8;
    memcpy(b, &seq, 8);
    memcpy(b + 8, &rec->ts_ns, 8);
    memcpy(b + 16, &now, 8);
    memcpy(b + 24, &ll, 4);
    memcpy(b + 28, &nl, 4);
    memcpy(b + 32, &ol, 4);
    memcpy(b + 36, &zero, 4);
    if (ll)
        memcpy(b + FIXED_BODY, rec->labels, ll);
    if (nl)
        memcpy(b + FIXED_BODY + ll, rec->line, nl);
    if (ol)
        memcpy(b + FIXED_BODY + ll + nl, rec->origin, ol);
    uint32_t crc = rec_crc(len, b);
    memcpy(hdr, &len, 4);
    memcpy(hdr + 4, &crc, 4);
    sp->next_seq++;
    if (big) {
        /* A record larger than the write buffer goes straight out. */
        char *save = sp->wbuf;
        sp->wbuf = big;
        sp->wlen = total;
        sp->wbuf_first_seq = seq;
        sp->wbuf_next_seq = seq + 1;
        sp->wbuf_nrecs = 1;
        int fr = ls_spool_flush(sp);
        sp->wbuf = save;
        if (fr != 0) {
            sp->wlen = 0;
            sp->wbuf_nrecs = 0;
            sp->next_seq--;
        }
        free(big);
        return fr;
    }
    sp->wlen += total;
    sp->wbuf_next_seq = sp->next_seq;
    sp->wbuf_nrecs++;
    return 0;
}

int ls_spool_commit_point(struct ls_spool *sp, int force)
{
    if (ls_spool_flush(sp) != 0)
        return -1;
    if (sp->o.fsync == LS_FSYNC_NEVER || !sp->dirty || sp->wfd < 0)
        return 1;
    int64_t now = mono_ns();
    if (!force && sp->o.fsync == LS_FSYNC_INTERVAL &&
        now - sp->last_sync_ns < sp->o.fsync_interval_ms * 1000000)
        return 0;
    if (fdatasync(sp->wfd) != 0) {
        log_kv(LOG_ERROR, "spool: fdatasync failed", "error", strerror(errno), NULL);
        return -1;
    }
    sp->dirty = 0;
    sp->last_sync_ns = now;
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
    free(sp->rds);
    free(sp->segs);
    free(sp->wbuf);
    free(sp->dir);
    free(sp);
}

/* ---- readers ------------------------------------------------------------ */

static int load_cursor(struct ls_spool_reader *rd)
{
    buf_t b;
    int rc = 1;
    buf_init(&b, 4096);
    int r = ls_checkpoint_read(rd->cursor_path, &b);
    if (r != 0) {
        buf_free(&b);
        return r;
    }
    json_object *o = json_tokener_parse(b.p ? b.p : "");
    json_object *v;
    if (o && json_object_get_type(o) == json_type_object) {
        uint64_t seq = 0, sg = 0, off = 0;
        int ok = 1;
        if (json_object_object_get_ex(o, "seq", &v)) seq = (uint64_t)json_object_get_int64(v); else ok = 0;
        if (json_object_object_get_ex(o, "seg", &v)) sg = (uint64_t)json_object_get_int64(v); else ok = 0;
        if (json_object_object_get_ex(o, "off", &v)) off = (uint64_t)json_object_get_int64(v); else ok = 0;
        if (ok) {
            rd->acked_seq = rd->read_seq = seq;
            rd->acked_seg = rd->read_seg = sg;
            rd->acked_off = rd->read_off = off;
            rc = 0;
        }
    }
    if (rc != 0)
        log_kv(LOG_WARN, "spool: unreadable cursor, starting at the oldest record",
               "path", rd->cursor_path, NULL);
    json_object_put(o);
    buf_free(&b);
    return rc == 0 ? 0 : 1;
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
    rd->acked_seq = rd->read_seq = 1;
    int lr = load_cursor(rd);
    if (lr < 0) {
        snprintf(err, errlen, "spool: cannot read %s: %s", rd->cursor_path, strerror(errno));
        goto fail;
    }
    pthread_mutex_lock(&sp->mu);
    if (lr == 1 && sp->nsegs > 0)
        rd->acked_seq = rd->read_seq = sp->segs[0].first_seq;
    if (rd->acked_seq > sp->next_seq) {
        /* The tail this cursor saw was lost (power loss): never reuse its seqs. */
        sp->next_seq = rd->acked_seq;
        sp->vis_next_seq = rd->acked_seq;
    }
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
    struct ls_record *r = &rd->recs[rd->n];
    uint32_t ll, nl, ol;
    const char *b = p + 8;
    memcpy(&r->seq, b, 8);
    memcpy(&r->ts_ns, b + 8, 8);
    memcpy(&rd->app[rd->n], b + 16, 8);
    memcpy(&ll, b + 24, 4);
    memcpy(&nl, b + 28, 4);
    memcpy(&ol, b + 32, 4);
    r->labels = b + FIXED_BODY;
    r->labels_len = ll;
    r->line = b + FIXED_BODY + ll;
    r->line_len = nl;
    r->origin = b + FIXED_BODY + ll + nl;
    r->origin_len = ol;
    rd->n++;
    return 0;
}

long ls_spool_reader_fill(struct ls_spool_reader *rd)
{
    struct ls_spool *sp = rd->sp;
    long added = 0;
    char path[4096];
    while (rd->used < rd->batch_bytes) {
        uint64_t size, next_base = 0;
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
        if (has_next)
            next_base = sp->segs[i + 1].base;
        pthread_mutex_unlock(&sp->mu);
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
            char at[32];
            seg_path(sp, rd->read_seg, path, sizeof(path));
            snprintf(at, sizeof(at), "%" PRIu64, rd->read_off);
            log_kv(LOG_ERROR, "spool: corrupt record, skipping the rest of the segment",
                   "segment", path, "offset", at, "reader", rd->name, NULL);
            count_dropped(sp, "corrupt", 1);
            rd->read_off = size;
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
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&sp->mu);
    while (sp->gen == rd->seen_gen) {
        if (pthread_cond_timedwait(&sp->cv, &sp->mu, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&sp->mu);
}

int ls_spool_reader_ack(struct ls_spool_reader *rd)
{
    struct ls_spool *sp = rd->sp;
    char js[128];
    if (rd->read_seg == rd->acked_seg && rd->read_off == rd->acked_off && rd->n == 0)
        return 0;
    int l = snprintf(js, sizeof(js), "{\"seq\":%" PRIu64 ",\"seg\":%" PRIu64 ",\"off\":%" PRIu64 "}\n",
                     rd->read_seq, rd->read_seg, rd->read_off);
    if (ls_checkpoint_write(rd->cursor_path, js, (size_t)l) != 0) {
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
