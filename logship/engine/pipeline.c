/* pipeline: reader loop, per-output threads, verdict handling, backoff and shutdown (see pipeline.h). */
#include "logship/engine/pipeline.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "logship/core/backoff.h"

#define MAX_OUTPUTS 16
#define MAX_SOURCES 64
#define POLL_BUDGET (1u << 20)     /* input bytes per source poll call */
#define ROUND_BUDGET (4u << 20)    /* input bytes per source per round */
#define IDLE_TIMER_MS 100
#define FULL_RETRY_MS 50
#define BATCH_TICK_MS 20           /* how often a filling batch looks for more */
#define ROUND_GAP_MS 5             /* pause after a busy round so writes coalesce */
#define NOSPACE_RETRY_MS 250       /* retry period while the spool's filesystem is full */
#define ERROR_RETRY_MS 1000        /* retry period after another spool error */
#define SRC_BACKOFF_INITIAL_MS 500
#define SRC_BACKOFF_MAX_MS 30000

struct out {
    struct ls_pipeline *p;
    const struct ls_output_ops *ops;
    void    *ctx;
    char     name[64];
    struct ls_spool_reader *rd;
    struct ls_backoff bo;
    pthread_t th;
    int      started;
    int      done;               /* guarded by p->mu */
    int      in_config;          /* the last answer was a configuration error (this thread only) */
    enum ls_verdict *items;
    struct ls_record *sub;
    size_t   cap;                /* entries in items and sub */
    metrics_child *m_entries, *m_up, *m_lag, *m_send, *m_acklat;
    int64_t  hb;                 /* atomic: mono ns of the last progress (ls_pipeline_health) */
};

struct ls_pipeline {
    struct ls_pipeline_opts o;
    struct out *outs[MAX_OUTPUTS];
    size_t   nouts;
    int      config_errs;        /* atomic: outputs whose backend refuses our configuration */
    struct ls_source *srcs[MAX_SOURCES];
    size_t   nsrcs;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    int      draining, abort_, ready;   /* atomics */
    int      src_failing;               /* atomic: sources in retry backoff */
    int64_t  hb_reader;                 /* atomic: mono ns of the reader's last progress */
    int      reader_why;                /* atomic: why not: 0 wedged, 1 disk full, 2 source failing */
    metrics_family *f_dups, *f_maybe;
    metrics_family *f_entries, *f_batches, *f_retries, *f_dropped, *f_send, *f_up, *f_lag, *f_acklat;
};



static int flag(const int *f)
{
    return __atomic_load_n(f, __ATOMIC_ACQUIRE);
}

static void beat(int64_t *hb)
{
    __atomic_store_n(hb, clock_mono_ns(), __ATOMIC_RELAXED);
}

static void set_flag(struct ls_pipeline *p, int *f)
{
    pthread_mutex_lock(&p->mu);
    __atomic_store_n(f, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Sleep up to ms, waking early on abort. */
static void nap(struct ls_pipeline *p, int64_t ms)
{
    struct timespec ts = clock_mono_deadline(ms);
    pthread_mutex_lock(&p->mu);
    while (!flag(&p->abort_))
        if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&p->mu);
}

static void fam_add(metrics_family *f, const char *a, const char *b, double v)
{
    const char *vals[2] = { a, b };
    if (f)
        metrics_family_add(f, vals, v);
}

static void child_set(metrics_child *c, double v)
{
    if (c)
        metrics_set(c, v);
}

static void child_add(metrics_child *c, double v)
{
    if (c)
        metrics_add(c, v);
}

static void child_observe(metrics_child *c, double v)
{
    if (c)
        metrics_observe(c, v);
}

struct ls_pipeline *ls_pipeline_new(const struct ls_pipeline_opts *o, char *err, size_t errlen)
{
    struct ls_pipeline *p = calloc(1, sizeof(*p));
    pthread_condattr_t ca;
    if (!p) {
        snprintf(err, errlen, "pipeline: out of memory");
        return NULL;
    }
    p->o = *o;
    if (p->o.batch_bytes == 0)
        p->o.batch_bytes = 1u << 20;
    if (p->o.backoff_initial_ms <= 0)
        p->o.backoff_initial_ms = 500;
    if (p->o.backoff_max_ms <= 0)
        p->o.backoff_max_ms = 300000;
    if (p->o.config_retry_ms <= 0)
        p->o.config_retry_ms = 30000;
    if (p->o.commit_interval_ms <= 0)
        p->o.commit_interval_ms = 1000;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (o->reg) {
        const char *l1[1] = { "output" };
        const char *lres[2] = { "output", "result" };
        const char *lrea[2] = { "output", "reason" };
        static const double send_b[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 };
        static const double ack_b[] = { 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1, 2.5, 5, 10, 30, 60, 300 };
        p->f_entries = metrics_counter(o->reg, "logship_output_entries_total",
                                       "Entries the output acknowledged as stored.", 1, l1);
        p->f_dups = metrics_counter(o->reg, "logship_output_duplicates_total",
                                    "Entries the backend already had (e.g. Elasticsearch 409 on a replayed "
                                    "_id); also in logship_output_entries_total.", 1, l1);
        p->f_maybe = metrics_counter(o->reg, "logship_output_maybe_duplicates_total",
                                     "Entries resent after a crash or a failed attempt that the backend may "
                                     "already have held, where the output could not check.", 1, l1);
        p->f_batches = metrics_counter(o->reg, "logship_output_batches_total",
                                       "Requests sent, by result (done, drop, retry, config, partial).", 2, lres);
        p->f_retries = metrics_counter(o->reg, "logship_output_retries_total",
                                       "Requests that will be retried, by reason.", 2, lrea);
        p->f_dropped = metrics_counter(o->reg, "logship_output_dropped_total",
                                       "Entries the backend rejected for good, by reason.", 2, lrea);
        p->f_send = metrics_histogram(o->reg, "logship_output_send_seconds",
                                      "Time one request took.", 1, l1,
                                      sizeof(send_b) / sizeof(send_b[0]), send_b);
        p->f_up = metrics_gauge(o->reg, "logship_output_up",
                                "1 when the last request got an answer that was not a 5xx or config error.", 1, l1);
        p->f_lag = metrics_gauge(o->reg, "logship_output_lag_seconds",
                                 "Age of the oldest entry this output has not acknowledged yet.", 1, l1);
        p->f_acklat = metrics_histogram(o->reg, "logship_output_ack_latency_seconds",
                                        "From an entry's spool append to its acknowledgement.", 1, l1,
                                        sizeof(ack_b) / sizeof(ack_b[0]), ack_b);
    }
    return p;
}

int ls_pipeline_add_output(struct ls_pipeline *p, const struct ls_output_ops *ops, void *ctx,
                           const char *name, char *err, size_t errlen)
{
    struct out *o = NULL;
    if (p->nouts >= MAX_OUTPUTS) {
        snprintf(err, errlen, "pipeline: too many outputs");
        goto fail;
    }
    o = calloc(1, sizeof(*o));
    if (!o) {
        snprintf(err, errlen, "pipeline: out of memory");
        goto fail;
    }
    o->p = p;
    o->ops = ops;
    o->ctx = ctx;
    snprintf(o->name, sizeof(o->name), "%s", name);
    o->rd = ls_spool_reader_open(p->o.spool, name, p->o.batch_bytes, err, errlen);
    if (!o->rd)
        goto fail;
    ls_backoff_init(&o->bo, p->o.backoff_initial_ms, p->o.backoff_max_ms, NULL, NULL);
    o->hb = clock_mono_ns();
    const char *v[1] = { o->name };
    if (p->f_entries) {
        o->m_entries = metrics_child_get(p->f_entries, v);
        o->m_up = metrics_child_get(p->f_up, v);
        o->m_lag = metrics_child_get(p->f_lag, v);
        o->m_send = metrics_child_get(p->f_send, v);
        o->m_acklat = metrics_child_get(p->f_acklat, v);
        /* Make the per-output series visible from the start. */
        fam_add(p->f_batches, o->name, "done", 0);
        fam_add(p->f_retries, o->name, "error", 0);
        fam_add(p->f_dropped, o->name, "rejected", 0);
        child_set(o->m_up, 1);
    }
    p->outs[p->nouts++] = o;
    return 0;
fail:
    free(o);
    if (ops && ops->destroy)
        ops->destroy(ctx);
    return -1;
}

int ls_pipeline_add_source(struct ls_pipeline *p, struct ls_source *s)
{
    if (p->nsrcs >= MAX_SOURCES)
        return -1;
    p->srcs[p->nsrcs++] = s;
    return 0;
}

static int grow(struct out *o, size_t n)
{
    if (n <= o->cap)
        return 0;
    size_t nc = o->cap ? o->cap : 256;
    while (nc < n)
        nc *= 2;
    enum ls_verdict *ni = realloc(o->items, nc * sizeof(*ni));
    if (!ni)
        return -1;
    o->items = ni;
    struct ls_record *ns = realloc(o->sub, nc * sizeof(*ns));
    if (!ns)
        return -1;
    o->sub = ns;
    o->cap = nc;
    return 0;
}

static const char *retry_reason(const struct ls_flush_result *r, char *tmp, size_t n)
{
    if (r->reason[0])
        return r->reason;
    if (r->http_status > 0) {
        snprintf(tmp, n, "http_%d", r->http_status);
        return tmp;
    }
    return "error";
}

/* Acknowledge the reader's whole batch; retry the cursor write until it works. */
static void finish_batch(struct out *o)
{
    struct ls_pipeline *p = o->p;
    size_t n;
    const int64_t *app;
    ls_spool_reader_batch(o->rd, &n, &app);
    int64_t now = clock_real_ns();
    for (size_t i = 0; i < n && o->m_acklat; i++)
        child_observe(o->m_acklat, (double)(now - app[i]) / 1e9);
    while (ls_spool_reader_ack(o->rd) != 0) {
        if (flag(&p->abort_))
            return;
        nap(p, 1000);
    }
    ls_backoff_reset(&o->bo);
}

static void log_result(enum log_level lvl, const char *msg, const struct out *o,
                       const struct ls_flush_result *r, size_t count, const char *reason, int64_t delay_ms)
{
    char st[16], cnt[24], dl[24];
    snprintf(st, sizeof(st), "%d", r->http_status);
    snprintf(cnt, sizeof(cnt), "%zu", count);
    snprintf(dl, sizeof(dl), "%" PRId64, delay_ms);
    log_kv(lvl, msg, "output", o->name, "status", st, "reason", reason, "entries", cnt,
           "retry_in_ms", delay_ms >= 0 ? dl : "-", "detail", r->detail,
           r->fix ? "fix" : NULL, r->fix, NULL);
}

/* Enter or leave the configuration-error state; while any output is in it,
 * /ready answers 503 (ls_pipeline_ready), since no restart fixes a refused
 * privilege or a missing index: someone must act. */
static void set_config_state(struct out *o, int on)
{
    if (o->in_config == on)
        return;
    o->in_config = on;
    __atomic_add_fetch(&o->p->config_errs, on ? 1 : -1, __ATOMIC_ACQ_REL);
    if (!on)
        log_kv(LOG_INFO, "backend accepts logship's configuration again; ready", "output", o->name, NULL);
}

/* The wait before resending the RETRY items of a partial answer that stored
 * ndone and asks to retry nr. When the output says its item RETRYs mean a
 * momentarily full queue and the answer stored at least as many as it
 * refused, the backend is mostly accepting: resend after the batch wait
 * (within [ROUND_GAP_MS, the initial backoff]) rather than a backoff draw,
 * because a batch needs several such rounds (10 % refused, then 1 %, ...)
 * and nothing newer is sent meanwhile. The retry set at least halves each
 * such round, so at most log2(batch) of them run back to back; any other
 * answer (and one that stores nothing, which is not LS_PARTIAL) draws from
 * the backoff as before. A Retry-After is always honoured. */
static int64_t partial_delay(struct out *o, size_t ndone, size_t nr, int64_t retry_after_ms)
{
    const struct ls_pipeline_opts *po = &o->p->o;
    if (!o->ops->resend_soon_on_progress || ndone < nr)
        return ls_backoff_next(&o->bo, retry_after_ms);
    int64_t d = po->batch_wait_ms < po->backoff_initial_ms ? po->batch_wait_ms : po->backoff_initial_ms;
    if (d < ROUND_GAP_MS)
        d = ROUND_GAP_MS;
    if (retry_after_ms > d)
        d = retry_after_ms < po->backoff_max_ms ? retry_after_ms : po->backoff_max_ms;
    return d;
}

static void *out_main(void *arg)
{
    struct out *o = arg;
    struct ls_pipeline *p = o->p;
    const struct ls_record *pend = NULL;
    size_t npend = 0;
    int holding = 0;
    char tmp[32];

    while (!flag(&p->abort_)) {
        beat(&o->hb);
        if (!holding) {
            const int64_t *app;
            size_t n;
            if (ls_spool_reader_fill(o->rd) < 0) {
                nap(p, 1000);
                continue;
            }
            const struct ls_record *recs = ls_spool_reader_batch(o->rd, &n, &app);
            if (n == 0) {
                child_set(o->m_lag, 0);
                if (flag(&p->draining))
                    break;
                ls_spool_wait(o->rd, 250);
                continue;
            }
            int64_t now = clock_real_ns();
            child_set(o->m_lag, (double)(now - app[0]) / 1e9);
            if (!ls_spool_reader_batch_full(o->rd) && !flag(&p->draining)) {
                int64_t due = app[0] + p->o.batch_wait_ms * 1000000;
                if (now < due) {
                    /* Look again at most every BATCH_TICK_MS rather than on
                     * every spool flush: a trickle then costs a few wakeups
                     * per batch, and a flood still fills the batch on time. */
                    int64_t left = (due - now) / 1000000 + 1;
                    nap(p, left < BATCH_TICK_MS ? left : BATCH_TICK_MS);
                    if (clock_real_ns() < due || ls_spool_reader_fill(o->rd) > 0)
                        continue;
                    recs = ls_spool_reader_batch(o->rd, &n, &app);
                }
            }
            if (grow(o, n) != 0) {
                nap(p, 1000);
                continue;
            }
            holding = 1;
            pend = recs;
            npend = n;
        } else {
            size_t n;
            const int64_t *app;
            ls_spool_reader_batch(o->rd, &n, &app);
            child_set(o->m_lag, (double)(clock_real_ns() - app[0]) / 1e9);
        }

        /* Records handed out before (an earlier attempt, or the run before a
         * crash) may be at the backend already; the mark is saved before the
         * send so the next run knows it too. */
        struct ls_batch b = { pend, npend, ls_spool_reader_maybe_sent(o->rd, pend, npend) };
        (void)ls_spool_reader_mark_sent(o->rd, pend[npend - 1].seq);
        struct ls_flush_result res;
        memset(&res, 0, sizeof(res));
        for (size_t i = 0; i < npend; i++)
            o->items[i] = LS_DONE;
        res.item = o->items;
        res.retry_after_ms = -1;
        int64_t t0 = clock_mono_ns();
        enum ls_verdict v = o->ops->flush(o->ctx, &b, &res);
        child_observe(o->m_send, (double)(clock_mono_ns() - t0) / 1e9);
        res.reason[sizeof(res.reason) - 1] = '\0';
        res.detail[sizeof(res.detail) - 1] = '\0';
        int64_t delay = -1;
        if (res.duplicates > 0 && p->f_dups) {
            const char *dv[1] = { o->name };
            metrics_family_add(p->f_dups, dv, (double)res.duplicates);
        }
        if (res.maybe_duplicates > 0 && p->f_maybe) {
            const char *dv[1] = { o->name };
            metrics_family_add(p->f_maybe, dv, (double)res.maybe_duplicates);
        }

        if (v == LS_DONE) {
            fam_add(p->f_batches, o->name, "done", 1);
            child_add(o->m_entries, (double)npend);
            child_set(o->m_up, 1);
            set_config_state(o, 0);
            finish_batch(o);
            holding = 0;
        } else if (v == LS_DROP) {
            size_t nd = res.dropped > 0 && res.dropped <= npend ? res.dropped : npend;
            const char *why = res.reason[0] ? res.reason : "rejected";
            fam_add(p->f_batches, o->name, "drop", 1);
            fam_add(p->f_dropped, o->name, why, (double)nd);
            child_add(o->m_entries, (double)(npend - nd));
            child_set(o->m_up, 1);
            set_config_state(o, 0);
            log_result(LOG_WARN, "backend rejected entries: dropped", o, &res, nd, why, -1);
            finish_batch(o);
            holding = 0;
        } else if (v == LS_PARTIAL) {
            size_t nd = 0, nr = 0, ndone = 0, nc = 0, k = 0;
            for (size_t i = 0; i < npend; i++) {
                if (o->items[i] == LS_DONE)
                    ndone++;
                else if (o->items[i] == LS_DROP)
                    nd++;
                else {
                    nc += o->items[i] == LS_CONFIG;
                    o->sub[k++] = pend[i]; /* RETRY, CONFIG: resend */
                }
            }
            nr = k;
            set_config_state(o, nc > 0);
            const char *why = res.reason[0] ? res.reason : "rejected";
            fam_add(p->f_batches, o->name, "partial", 1);
            child_add(o->m_entries, (double)ndone);
            child_set(o->m_up, 1);
            if (nd > 0) {
                fam_add(p->f_dropped, o->name, why, (double)nd);
                log_result(LOG_WARN, "backend rejected some entries: dropped", o, &res, nd, why, -1);
            }
            if (nr == 0) {
                finish_batch(o);
                holding = 0;
            } else if (nc > 0) {
                /* items refused for the cluster's reasons (privilege, missing
                 * index): kept, probed at the configuration-error period */
                pend = o->sub;
                npend = nr;
                fam_add(p->f_retries, o->name, "config", 1);
                child_set(o->m_up, 0);
                delay = p->o.config_retry_ms;
                log_result(LOG_ERROR, "backend refuses entries for a configuration reason; "
                           "data is kept and retried", o, &res, nc, "config", delay);
            } else {
                pend = o->sub;
                npend = nr;
                /* Anything stored is progress: start the backoff again, so a
                 * few rejected items do not hold the queue behind them for
                 * minutes after an outage doubled the ceiling. */
                if (ndone > 0)
                    ls_backoff_reset(&o->bo);
                delay = partial_delay(o, ndone, nr, res.retry_after_ms);
                fam_add(p->f_retries, o->name, retry_reason(&res, tmp, sizeof(tmp)), 1);
                log_result(LOG_INFO, "resending entries the backend asked to retry", o, &res, nr,
                           retry_reason(&res, tmp, sizeof(tmp)), delay);
            }
        } else if (v == LS_CONFIG) {
            set_config_state(o, 1);
            fam_add(p->f_batches, o->name, "config", 1);
            fam_add(p->f_retries, o->name, "config", 1);
            child_set(o->m_up, 0);
            delay = p->o.config_retry_ms;
            log_result(LOG_ERROR, "backend says logship's configuration is wrong (auth, URL, tenant, "
                       "privileges); data is kept and retried", o, &res, npend, "config", delay);
        } else {
            const char *why = retry_reason(&res, tmp, sizeof(tmp));
            if (v != LS_RETRY) {
                log_kv(LOG_ERROR, "output returned an unknown verdict; retrying", "output", o->name, NULL);
                why = "bad_verdict";
            }
            fam_add(p->f_batches, o->name, "retry", 1);
            fam_add(p->f_retries, o->name, why, 1);
            child_set(o->m_up, res.http_status > 0 && res.http_status < 500 ? 1 : 0);
            delay = ls_backoff_next(&o->bo, res.retry_after_ms);
            log_result(LOG_WARN, "send failed; will retry", o, &res, npend, why, delay);
        }
        /* Wait in steps so the lag gauge keeps ageing while we back off. */
        for (int64_t left = delay; left > 0 && !flag(&p->abort_); left -= 1000) {
            size_t n;
            const int64_t *app;
            nap(p, left < 1000 ? left : 1000);
            beat(&o->hb); /* waiting out a backoff is not being stuck */
            ls_spool_reader_batch(o->rd, &n, &app);
            if (n > 0)
                child_set(o->m_lag, (double)(clock_real_ns() - app[0]) / 1e9);
        }
    }
    pthread_mutex_lock(&p->mu);
    o->done = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int ls_pipeline_start(struct ls_pipeline *p)
{
    beat(&p->hb_reader);
    for (size_t i = 0; i < p->nouts; i++) {
        beat(&p->outs[i]->hb);
        if (pthread_create(&p->outs[i]->th, NULL, out_main, p->outs[i]) != 0) {
            log_kv(LOG_ERROR, "pipeline: cannot start output thread", "output", p->outs[i]->name, NULL);
            set_flag(p, &p->abort_);
            return -1;
        }
        p->outs[i]->started = 1;
    }
    __atomic_store_n(&p->ready, 1, __ATOMIC_RELEASE);
    return 0;
}

int ls_pipeline_ready(struct ls_pipeline *p)
{
    return flag(&p->ready) && !ls_spool_nospace(p->o.spool) && !flag(&p->src_failing) &&
           __atomic_load_n(&p->config_errs, __ATOMIC_ACQUIRE) == 0;
}

int ls_pipeline_health(struct ls_pipeline *p, char *why, size_t whylen)
{
    static const char *const reader_why[] = { "wedged", "the spool's filesystem is full",
                                              "a source keeps failing" };
    int64_t now = clock_mono_ns(), lim = p->o.stall_timeout_ms * 1000000;
    if (p->o.stall_timeout_ms <= 0 || flag(&p->draining))
        return 1;
    int64_t age = now - __atomic_load_n(&p->hb_reader, __ATOMIC_RELAXED);
    if (flag(&p->ready) && age > lim) {
        int w = __atomic_load_n(&p->reader_why, __ATOMIC_RELAXED);
        snprintf(why, whylen, "reader loop: no progress for %" PRId64 " s (%s)", age / 1000000000,
                 reader_why[w >= 0 && w <= 2 ? w : 0]);
        return 0;
    }
    int ok = 1;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->nouts && ok; i++) {
        struct out *o = p->outs[i];
        age = now - __atomic_load_n(&o->hb, __ATOMIC_RELAXED);
        if (o->started && !o->done && age > lim) {
            snprintf(why, whylen, "output %s: no progress for %" PRId64 " s (a request or a cursor "
                     "write does not return)", o->name, age / 1000000000);
            ok = 0;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return ok;
}

struct emit_ctx {
    struct ls_spool *sp;
    int blocked, error, nospace;
};

/* Every refusal is backpressure for the source (it keeps the record and
 * offers it again): a full spool, a full filesystem, other write errors. */
static int emit_cb(struct ls_emitter *em, const struct ls_record *rec)
{
    struct emit_ctx *e = em->ctx;
    int r = ls_spool_append(e->sp, rec);
    if (r == 0)
        return 0;
    if (r == 1) {
        e->blocked = 1;
    } else if (r == LS_SPOOL_NOSPACE) {
        e->nospace = 1;
    } else {
        /* Too large to ever fit: the spool logged and counted the drop. */
        if (!ls_spool_record_fits(e->sp, rec))
            return 0;
        e->error = 1;
    }
    return 1;
}

/* 0 when every source saved its position, -1 when one failed (retried at
 * the next checkpoint period). */
static int commit_sources(struct ls_pipeline *p)
{
    int rc = 0;
    for (size_t i = 0; i < p->nsrcs; i++) {
        struct ls_source *s = p->srcs[i];
        if (s->ops->commit && s->ops->commit(s->ctx) != 0) {
            log_kv(LOG_WARN, "source checkpoint failed; will retry", "source", s->ops->kind, NULL);
            rc = -1;
        }
    }
    return rc;
}

static int all_done(struct ls_pipeline *p)
{
    for (size_t i = 0; i < p->nouts; i++)
        if (p->outs[i]->started && !p->outs[i]->done)
            return 0;
    return 1;
}

/* Wait (under no lock) until every output thread finished or deadline. */
static int wait_outputs(struct ls_pipeline *p, int64_t deadline)
{
    int ok;
    pthread_mutex_lock(&p->mu);
    while (!(ok = all_done(p))) {
        int64_t left = deadline - clock_mono_ns();
        if (left <= 0)
            break;
        struct timespec ts = clock_mono_deadline(left < 50000000 ? left / 1000000 + 1 : 50);
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
    return ok;
}

/* 1 while a drain_on_stop source (stdin) can still produce input. */
static int drain_pending(struct ls_pipeline *p)
{
    for (size_t i = 0; i < p->nsrcs; i++) {
        struct ls_source *s = p->srcs[i];
        if (s->drain_on_stop && !(s->ops->finished && s->ops->finished(s->ctx)))
            return 1;
    }
    return 0;
}

int ls_pipeline_run(struct ls_pipeline *p, volatile sig_atomic_t *stop, volatile sig_atomic_t *reopen)
{
    struct emit_ctx ec = { p->o.spool, 0, 0, 0 };
    struct ls_emitter em = { emit_cb, &ec };
    struct pollfd pfd[MAX_SOURCES];
    struct ls_backoff sbo[MAX_SOURCES];
    int64_t retry_at[MAX_SOURCES] = { 0 };
    int failing[MAX_SOURCES] = { 0 };
    int64_t last_commit = clock_mono_ns(), stop_deadline = 0;
    uint64_t consumed = 0;
    int wait_ms = 0;

    for (size_t i = 0; i < p->nsrcs; i++)
        ls_backoff_init(&sbo[i], SRC_BACKOFF_INITIAL_MS, SRC_BACKOFF_MAX_MS, NULL, NULL);
    for (;;) {
        if (*stop && stop_deadline == 0) {
            if (!drain_pending(p))
                break;
            /* stdin has no checkpoint: what we do not read now is lost. */
            stop_deadline = clock_mono_ns() + p->o.shutdown_timeout_ms * 1000000;
            __atomic_store_n(&p->ready, 0, __ATOMIC_RELEASE);
            log_kv(LOG_INFO, "stopping: reading stdin to its end first (a second signal skips this)", NULL);
        }
        if (stop_deadline != 0) {
            if (*stop >= 2 || !drain_pending(p))
                break;
            if (clock_mono_ns() >= stop_deadline) {
                log_kv(LOG_WARN, "stopping: stdin did not end within the shutdown timeout; "
                       "what was not read is not shipped", NULL);
                break;
            }
        }
        if (reopen && *reopen) {
            *reopen = 0;
            if (log_reopen() != 0)
                log_kv(LOG_WARN, "cannot reopen the log file", NULL);
        }
        if (wait_ms > 0) {
            (void)poll(NULL, 0, wait_ms);
        } else {
            nfds_t n = 0;
            int64_t now = clock_mono_ns();
            for (size_t i = 0; i < p->nsrcs; i++) {
                struct ls_source *s = p->srcs[i];
                int fd = s->ops->wait_fd ? s->ops->wait_fd(s->ctx) : -1;
                if (fd >= 0 && retry_at[i] <= now && !(stop_deadline && !s->drain_on_stop) &&
                    !(s->ops->finished && s->ops->finished(s->ctx))) {
                    pfd[n].fd = fd;
                    pfd[n].events = POLLIN;
                    pfd[n].revents = 0;
                    n++;
                }
            }
            (void)poll(n ? pfd : NULL, n, IDLE_TIMER_MS);
        }
        if (*stop && stop_deadline == 0)
            continue; /* decide above whether stdin still needs reading */
        ec.blocked = 0;
        ec.error = 0;
        ec.nospace = 0;
        int finished = 1;
        size_t consumed_round = 0;
        int64_t now = clock_mono_ns();
        for (size_t i = 0; i < p->nsrcs && !ec.blocked && !ec.error && !ec.nospace; i++) {
            struct ls_source *s = p->srcs[i];
            if (stop_deadline && !s->drain_on_stop)
                continue;
            if (retry_at[i] > now) {
                finished = 0;
                continue;
            }
            if (s->ops->finished && s->ops->finished(s->ctx))
                continue;
            size_t used = 0;
            for (;;) {
                long r = s->ops->poll(s->ctx, &em, POLL_BUDGET);
                if (r < 0) {
                    /* Never abandoned: a transient error (a vanished
                     * directory, EIO, OOM) must not end shipping for good. */
                    int64_t d = ls_backoff_next(&sbo[i], -1);
                    char dl[24];
                    retry_at[i] = clock_mono_ns() + d * 1000000;
                    snprintf(dl, sizeof(dl), "%" PRId64, d);
                    if (!failing[i]) {
                        failing[i] = 1;
                        __atomic_add_fetch(&p->src_failing, 1, __ATOMIC_RELEASE);
                    }
                    log_kv(LOG_ERROR, "source failed; retrying (not ready meanwhile)",
                           "source", s->ops->kind, "retry_in_ms", dl, NULL);
                    break;
                }
                if (failing[i]) {
                    failing[i] = 0;
                    __atomic_sub_fetch(&p->src_failing, 1, __ATOMIC_RELEASE);
                    ls_backoff_reset(&sbo[i]);
                    log_kv(LOG_INFO, "source reads again", "source", s->ops->kind, NULL);
                }
                used += (size_t)r;
                if (r == 0 || ec.blocked || ec.error || ec.nospace || used >= ROUND_BUDGET)
                    break;
            }
            consumed += used;
            consumed_round += used;
            if (failing[i] || !(s->ops->finished && s->ops->finished(s->ctx)))
                finished = 0;
        }
        if (ec.blocked || ec.error || ec.nospace)
            finished = 0;
        wait_ms = ec.nospace ? NOSPACE_RETRY_MS : ec.blocked ? FULL_RETRY_MS : ec.error ? ERROR_RETRY_MS : 0;
        if (wait_ms == 0 && consumed_round > 0 && consumed_round < ROUND_BUDGET)
            wait_ms = ROUND_GAP_MS;
        now = clock_mono_ns();
        int fr = 0;
        if (consumed > 0 && (p->o.commit_every_round ||
                             now - last_commit >= p->o.commit_interval_ms * 1000000)) {
            fr = ls_spool_commit_point(p->o.spool, 1);
            if (fr == 1) {
                /* On failure consumed stays, so the next period tries again. */
                if (commit_sources(p) == 0)
                    consumed = 0;
                last_commit = now;
            }
        } else {
            fr = ls_spool_flush(p->o.spool);
        }
        if (fr < 0 || fr == LS_SPOOL_NOSPACE)
            wait_ms = ls_spool_nospace(p->o.spool) ? NOSPACE_RETRY_MS : ERROR_RETRY_MS;
        /* Progress for ls_pipeline_health: waiting on the spool's cap is
         * legitimate (the outputs must move), a full disk or a failing
         * source is not. */
        int why = ls_spool_nospace(p->o.spool) ? 1 : flag(&p->src_failing) ? 2 : 0;
        __atomic_store_n(&p->reader_why, why, __ATOMIC_RELAXED);
        if (why == 0)
            beat(&p->hb_reader);
        if (finished && p->nsrcs > 0) {
            log_kv(LOG_INFO, "every source has finished", NULL);
            break;
        }
    }

    /* Shutdown: make what was read durable, save positions, drain. */
    __atomic_store_n(&p->ready, 0, __ATOMIC_RELEASE);
    if (ls_spool_commit_point(p->o.spool, 1) == 1)
        commit_sources(p);
    char ms[24];
    snprintf(ms, sizeof(ms), "%" PRId64, p->o.shutdown_timeout_ms);
    log_kv(LOG_INFO, "stopping: sending what was read", "timeout_ms", ms, NULL);
    set_flag(p, &p->draining);
    ls_spool_wake_all(p->o.spool);
    /* One budget for the whole stop: reading stdin above and sending here. */
    int64_t deadline = stop_deadline ? stop_deadline : clock_mono_ns() + p->o.shutdown_timeout_ms * 1000000;
    int clean = wait_outputs(p, deadline);
    if (!clean) {
        set_flag(p, &p->abort_);
        ls_spool_wake_all(p->o.spool);
        if (!wait_outputs(p, clock_mono_ns() + 2000000000LL)) {
            log_kv(LOG_ERROR, "an output did not stop in time; exiting without waiting for it", NULL);
            return -1;
        }
    }
    int rc = 0;
    for (size_t i = 0; i < p->nouts; i++) {
        struct out *o = p->outs[i];
        if (o->started) {
            pthread_join(o->th, NULL);
            o->started = 0;
        }
        uint64_t left = ls_spool_reader_backlog(o->rd);
        if (left > 0) {
            char nb[24];
            snprintf(nb, sizeof(nb), "%" PRIu64, left);
            log_kv(LOG_WARN, "stopping with unsent entries; they stay in the spool for the next start",
                   "output", o->name, "entries", nb, NULL);
            rc = 1;
        }
    }
    return rc;
}

void ls_pipeline_free(struct ls_pipeline *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nouts; i++) {
        struct out *o = p->outs[i];
        if (o->started) {
            set_flag(p, &p->abort_);
            ls_spool_wake_all(p->o.spool);
            pthread_join(o->th, NULL);
        }
        if (o->ops->destroy)
            o->ops->destroy(o->ctx);
        ls_spool_reader_close(o->rd);
        free(o->items);
        free(o->sub);
        free(o);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
