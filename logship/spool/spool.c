/* spool: the spool's life cycle (open, close), its segment table and counters, and the accessors of
 * spool.h; the writer, the readers, recovery, the full-disk state and the record codec are the other
 * spool_*.c files. */
#include "logship/spool/spool_int.h"
#include "array.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "logship/spool/spool_record.h"

/* ---- segment table ------------------------------------------------------- */

void ls_spool_seg_path(const struct ls_spool *sp, uint64_t base, char *out, size_t n)
{
    snprintf(out, n, "%s/seg-%020" PRIu64 ".log", sp->dir, base);
}

int ls_spool_seg_open(const struct ls_spool *sp, uint64_t base)
{
    char path[LS_SPOOL_PATH_MAX];
    ls_spool_seg_path(sp, base, path, sizeof(path));
    return open(path, O_RDONLY | O_CLOEXEC);
}

void ls_spool_count_dropped(struct ls_spool *sp, const char *reason, uint64_t n)
{
    const char *v[1] = { reason };
    atomic_fetch_add_explicit(&sp->dropped, n, memory_order_relaxed);
    if (sp->m_dropped)
        metrics_family_add(sp->m_dropped, v, (double)n);
}

void ls_spool_count_recovery(struct ls_spool *sp, const char *kind)
{
    const char *v[1] = { kind };
    if (sp->m_recover)
        metrics_family_add(sp->m_recover, v, 1);
}

void ls_spool_update_gauges(struct ls_spool *sp)
{
    if (sp->m_bytes)
        metrics_set(sp->m_bytes, (double)sp->total_bytes);
    if (sp->m_recs)
        metrics_set(sp->m_recs, (double)sp->total_recs);
}

int ls_spool_seg_push(struct ls_spool *sp, const struct ls_spool_seg *s)
{
    size_t need = sp->nsegs + 1;
    if (array_grow((void **)&sp->segs, &sp->capsegs, need, sizeof(*sp->segs), LS_SPOOL_MAX_SEGMENTS) != 0)
        return -1;
    sp->segs[sp->nsegs++] = *s;
    return 0;
}

struct ls_spool_hole *ls_spool_seg_add_hole(struct ls_spool_seg *s, uint64_t off, uint64_t len, uint64_t lost)
{
    struct ls_spool_hole *nh = realloc(s->holes, (s->nholes + 1) * sizeof(*nh));
    if (!nh)
        return NULL;
    s->holes = nh;
    size_t i = s->nholes;
    for (; i > 0 && nh[i - 1].off > off; i--)
        nh[i] = nh[i - 1];
    nh[i] = (struct ls_spool_hole){ off, len, lost, 0 };
    s->nholes++;
    return &nh[i];
}

struct ls_spool_hole *ls_spool_seg_hole_at(struct ls_spool_seg *s, uint64_t off)
{
    for (size_t i = 0; i < s->nholes; i++)
        if (s->holes[i].off <= off && off < s->holes[i].off + (s->holes[i].len ? s->holes[i].len : 1))
            return &s->holes[i];
    return NULL;
}

size_t ls_spool_seg_find(const struct ls_spool *sp, uint64_t base)
{
    for (size_t i = 0; i < sp->nsegs; i++)
        if (sp->segs[i].base == base)
            return i;
    return sp->nsegs;
}

/* Make the marks durable before a segment file goes away, so the lines it
 * held stay known to the sources. 0, or -1 (logged once per episode; the
 * segment is deleted anyway: a lost mark can only make a file re-read lines
 * after a crash, while a kept segment could wedge a full disk). Caller holds mu. */
int ls_spool_marks_sync_locked(struct ls_spool *sp)
{
    if (!ls_marks_dirty(sp->marks))
        return 0;
    if (ls_marks_save(sp->marks, sp->marks_path) == 0) {
        sp->marks_warned = 0;
        return 0;
    }
    if (!sp->marks_warned)
        log_kv(LOGL_ERROR, "spool: cannot save file marks; after a crash, lines of deleted segments may "
               "be read again", "path", sp->marks_path, "error", strerror(errno), NULL);
    sp->marks_warned = 1;
    return -1;
}

/* Segment size from the cap (spool.h); 0 when max_bytes holds fewer than
 * four of the largest records. */
static uint64_t segment_size(const struct ls_spool_opts *o)
{
    uint64_t s = o->segment_bytes;
    if (s == 0) {
        s = o->max_bytes / 8;
        if (s < (64u << 10))
            s = 64u << 10;
        if (s > (64u << 20))
            s = 64u << 20;
    }
    /* At least four segments fit, so a full spool always has closed
     * segments that acknowledgements can free. */
    if (s > o->max_bytes / 4)
        s = o->max_bytes / 4;
    return s;
}

static void register_metrics(struct ls_spool *sp, metrics_registry *reg)
{
    const char *rl[1] = { "reason" };
    metrics_family *f = metrics_gauge(reg, "logship_spool_bytes", "Bytes held in spool segment files.", 0, NULL);
    sp->m_bytes = f ? metrics_child_get(f, NULL) : NULL;
    f = metrics_gauge(reg, "logship_spool_records", "Records held in spool segment files.", 0, NULL);
    sp->m_recs = f ? metrics_child_get(f, NULL) : NULL;
    f = metrics_gauge(reg, "logship_spool_blocked", "1 while the spool is full and sources are held back.", 0, NULL);
    sp->m_blocked = f ? metrics_child_get(f, NULL) : NULL;
    /* The cap itself, so an alert can say "80% full" without knowing the flags. */
    f = metrics_gauge(reg, "logship_spool_max_bytes", "The spool's size cap (--spool-max-bytes).", 0, NULL);
    if (f)
        metrics_family_set(f, NULL, (double)sp->o.max_bytes);
    sp->m_dropped = metrics_counter(reg, "logship_spool_dropped_total",
                                    "Records lost by the spool, by reason (full, torn_tail, corrupt, "
                                    "missing, too_large).", 1, rl);
    f = metrics_counter(reg, "logship_spool_corrupt_bytes_total",
                        "Bytes of spool segments found damaged (skipped; the records after them are kept).",
                        0, NULL);
    sp->m_corrupt_bytes = f ? metrics_child_get(f, NULL) : NULL;
    const char *kl[1] = { "kind" };
    sp->m_recover = metrics_counter(reg, "logship_spool_recoveries_total",
                                    "Spool state found inconsistent at open and repaired, by kind "
                                    "(cursor_garbage, cursor_moved, cursor_ahead, marks_garbage).", 1, kl);
    sp->m_werr = metrics_counter(reg, "logship_spool_write_errors_total",
                                 "Spool writes refused, by reason (nospace: filesystem full, reading "
                                 "paused; io: other errors, retried).", 1, rl);
    if (sp->m_werr) {
        const char *ns[1] = { "nospace" };
        metrics_family_add(sp->m_werr, ns, 0);
    }
}

/* Free everything sp holds (readers are closed, files are not touched). */
static void destroy(struct ls_spool *sp)
{
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

struct ls_spool *ls_spool_open(const struct ls_spool_opts *o, char *err, size_t errlen)
{
    struct ls_spool *sp = calloc(1, sizeof(*sp));
    if (!sp) {
        snprintf(err, errlen, "spool: out of memory");
        return NULL;
    }
    pthread_mutex_init(&sp->mu, NULL);
    clock_cond_init(&sp->cv);
    ls_spool_rec_init();
    sp->o = *o;
    sp->wfd = -1;
    if (sp->o.max_record_bytes == 0)
        sp->o.max_record_bytes = 1u << 20;
    sp->o.segment_bytes = segment_size(&sp->o);
    if (sp->o.max_bytes < ls_spool_min_bytes(sp->o.max_record_bytes)) {
        snprintf(err, errlen, "spool: max bytes %" PRIu64 " must be at least 4 times the largest record (%zu)",
                 sp->o.max_bytes, sp->o.max_record_bytes + LS_SPOOL_REC_HDR);
        goto out;
    }
    sp->dir = strdup(o->dir);
    sp->wbuf = malloc(LS_SPOOL_WBUF_CAP);
    sp->marks = ls_marks_new();
    if (sp->dir) {
        size_t ml = strlen(sp->dir) + sizeof("/marks.json");
        sp->marks_path = malloc(ml);
        if (sp->marks_path)
            snprintf(sp->marks_path, ml, "%s/marks.json", sp->dir);
    }
    if (!sp->dir || !sp->wbuf || !sp->marks || !sp->marks_path) {
        snprintf(err, errlen, "spool: out of memory");
        goto out;
    }
    if (mkdir(sp->dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "spool: cannot create %s: %s", sp->dir, strerror(errno));
        goto out;
    }
    if (o->reg)
        register_metrics(sp, o->reg);
    if (ls_spool_load_marks(sp, err, errlen) != 0)
        goto out;
    if (ls_spool_load_segments(sp, err, errlen) != 0)
        goto out;
    if (ls_spool_probe_dir(sp, err, errlen) != 0)
        goto out;
    sp->last_sync_ns = clock_mono_ns();
    sp->w_total = sp->total_bytes;
    pthread_mutex_lock(&sp->mu);
    ls_spool_update_gauges(sp);
    pthread_mutex_unlock(&sp->mu);
    return sp;
out:
    destroy(sp);
    return NULL;
}

/* Is segment i behind every reader's acknowledged position? Caller holds mu. */
static int seg_consumed(const struct ls_spool *sp, size_t i)
{
    const struct ls_spool_seg *s = &sp->segs[i];
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
void ls_spool_drop_first(struct ls_spool *sp)
{
    char path[LS_SPOOL_PATH_MAX];
    ls_spool_seg_path(sp, sp->segs[0].base, path, sizeof(path));
    if (unlink(path) != 0 && errno != ENOENT)
        log_kv(LOGL_WARN, "spool: cannot delete segment", "segment", path, "error", strerror(errno), NULL);
    sp->total_bytes -= sp->segs[0].size;
    sp->total_recs -= sp->segs[0].nrecs;
    free(sp->segs[0].holes);
    memmove(sp->segs, sp->segs + 1, (sp->nsegs - 1) * sizeof(*sp->segs));
    sp->nsegs--;
    sp->gen++;
    pthread_cond_broadcast(&sp->cv);
}

/* Caller holds mu. */
void ls_spool_cleanup_locked(struct ls_spool *sp)
{
    int any = 0;
    while (sp->nsegs > 0 && sp->nrds > 0 && seg_consumed(sp, 0)) {
        (void)ls_spool_marks_sync_locked(sp);
        ls_spool_drop_first(sp);
        any = 1;
    }
    if (any)
        ls_spool_update_gauges(sp);
}

void ls_spool_wake_all(struct ls_spool *sp)
{
    pthread_mutex_lock(&sp->mu);
    sp->gen++;
    pthread_cond_broadcast(&sp->cv);
    pthread_mutex_unlock(&sp->mu);
}

/* *v read under the spool's mutex. */
static uint64_t read_locked(struct ls_spool *sp, const uint64_t *v)
{
    pthread_mutex_lock(&sp->mu);
    uint64_t r = *v;
    pthread_mutex_unlock(&sp->mu);
    return r;
}

uint64_t ls_spool_bytes(struct ls_spool *sp)
{
    return read_locked(sp, &sp->total_bytes);
}

uint64_t ls_spool_records(struct ls_spool *sp)
{
    return read_locked(sp, &sp->total_recs);
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
    return atomic_load_explicit(&sp->dropped, memory_order_relaxed);
}

void ls_spool_close(struct ls_spool *sp)
{
    if (!sp)
        return;
    if (ls_spool_flush(sp) != LS_SPOOL_OK && sp->wlen > 0) {
        char n[24];
        ls_spool_u64s(n, sizeof(n), sp->wbuf_nrecs);
        log_kv(LOGL_ERROR, "spool: exiting with records that could not be written; file sources read them "
               "again at the next start, stdin lines among them are lost", "records", n, NULL);
    }
    (void)ls_spool_roll(sp);
    destroy(sp);
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
