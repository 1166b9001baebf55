/* pipeline: the engine's lifecycle: outputs and sources in, threads started, /ready, health, the drain (pipeline.h). */
#include "logship/engine/pipeline.h"

#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "logship/engine/engine.h"

void ls_engine_raise(struct ls_pipeline *p, atomic_int *flag)
{
    pthread_mutex_lock(&p->mu);
    atomic_store(flag, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void ls_engine_nap(struct ls_pipeline *p, int64_t ms)
{
    struct timespec ts = clock_mono_deadline(ms);
    pthread_mutex_lock(&p->mu);
    while (!atomic_load(&p->aborting))
        if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&p->mu);
}

static const double send_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 };
static const double ack_buckets[] = { 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1, 2.5, 5, 10, 30, 60, 300 };

enum family_type { COUNTER, GAUGE, HISTOGRAM };

/* One metric family of the engine: labelled by output, and by a second
 * label when by is set; registered in this order. */
struct family_decl {
    size_t offset;               /* its metrics_family * in struct ls_pipeline */
    enum family_type type;
    const char *name, *help, *by;
    const double *buckets;
    size_t n_buckets;
};

#define FAMILY(field, type, name, help, by) { offsetof(struct ls_pipeline, field), type, name, help, by, NULL, 0 }
#define HISTOGRAM_OF(field, name, help, b) \
    { offsetof(struct ls_pipeline, field), HISTOGRAM, name, help, NULL, b, sizeof(b) / sizeof((b)[0]) }

static const struct family_decl families[] = {
    FAMILY(f_entries, COUNTER, "logship_output_entries_total", "Entries the output acknowledged as stored.", NULL),
    FAMILY(f_dups, COUNTER, "logship_output_duplicates_total",
           "Entries the backend already had (e.g. Elasticsearch 409 on a replayed _id); also in "
           "logship_output_entries_total.", NULL),
    FAMILY(f_maybe, COUNTER, "logship_output_maybe_duplicates_total",
           "Entries resent after a crash or a failed attempt that the backend may already have held, where "
           "the output could not check.", NULL),
    FAMILY(f_batches, COUNTER, "logship_output_batches_total",
           "Requests sent, by result (done, drop, retry, config, partial).", "result"),
    FAMILY(f_retries, COUNTER, "logship_output_retries_total", "Requests that will be retried, by reason.", "reason"),
    FAMILY(f_dropped, COUNTER, "logship_output_dropped_total", "Entries the backend rejected for good, by reason.",
           "reason"),
    HISTOGRAM_OF(f_send, "logship_output_send_seconds", "Time one request took.", send_buckets),
    FAMILY(f_up, GAUGE, "logship_output_up",
           "1 when the last request got an answer that was not a 5xx or config error.", NULL),
    FAMILY(f_lag, GAUGE, "logship_output_lag_seconds",
           "Age of the oldest entry this output has not acknowledged yet.", NULL),
    HISTOGRAM_OF(f_acklat, "logship_output_ack_latency_seconds",
                 "From an entry's spool append to its acknowledgement.", ack_buckets),
};

static void register_families(struct ls_pipeline *p, metrics_registry *reg)
{
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        const struct family_decl *d = &families[i];
        const char *labels[2] = { "output", d->by };
        size_t n = d->by ? 2 : 1;
        metrics_family *f;
        if (d->type == COUNTER)
            f = metrics_counter(reg, d->name, d->help, n, labels);
        else if (d->type == GAUGE)
            f = metrics_gauge(reg, d->name, d->help, n, labels);
        else
            f = metrics_histogram(reg, d->name, d->help, n, labels, d->n_buckets, d->buckets);
        *(metrics_family **)((char *)p + d->offset) = f;
    }
}

struct ls_pipeline *ls_pipeline_new(const struct ls_pipeline_opts *opts, char *err, size_t errlen)
{
    struct ls_pipeline *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "pipeline: out of memory");
        return NULL;
    }
    p->opts = *opts;
    if (p->opts.batch_bytes == 0)
        p->opts.batch_bytes = 1u << 20;
    if (p->opts.backoff_initial_ms <= 0)
        p->opts.backoff_initial_ms = 500;
    if (p->opts.backoff_max_ms <= 0)
        p->opts.backoff_max_ms = 300000;
    if (p->opts.config_retry_ms <= 0)
        p->opts.config_retry_ms = 30000;
    if (p->opts.commit_interval_ms <= 0)
        p->opts.commit_interval_ms = 1000;
    pthread_mutex_init(&p->mu, NULL);
    clock_cond_init(&p->cv);
    if (opts->reg)
        register_families(p, opts->reg);
    return p;
}

int ls_pipeline_add_output(struct ls_pipeline *p, const struct ls_output_ops *ops, void *ctx,
                           const char *name, char *err, size_t errlen)
{
    struct ls_delivery *d = NULL;
    if (p->n_outputs >= LS_MAX_OUTPUTS) {
        snprintf(err, errlen, "pipeline: too many outputs");
        goto out;
    }
    d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "pipeline: out of memory");
        goto out;
    }
    d->pipe = p;
    d->ops = ops;
    d->ctx = ctx;
    snprintf(d->name, sizeof(d->name), "%s", name);
    d->rd = ls_spool_reader_open(p->opts.spool, name, p->opts.batch_bytes, err, errlen);
    if (!d->rd)
        goto out;
    ls_backoff_init(&d->backoff, p->opts.backoff_initial_ms, p->opts.backoff_max_ms, NULL, NULL);
    ls_engine_beat(&d->heartbeat);
    const char *v[1] = { d->name };
    if (p->f_entries) {
        d->m_entries = metrics_child_get(p->f_entries, v);
        d->m_up = metrics_child_get(p->f_up, v);
        d->m_lag = metrics_child_get(p->f_lag, v);
        d->m_send = metrics_child_get(p->f_send, v);
        d->m_acklat = metrics_child_get(p->f_acklat, v);
        /* Make the per-output series visible from the start. */
        engine_fam_add(p->f_batches, d->name, "done", 0);
        engine_fam_add(p->f_retries, d->name, "error", 0);
        engine_fam_add(p->f_dropped, d->name, "rejected", 0);
        metrics_set(d->m_up, 1);
    }
    p->outputs[p->n_outputs++] = d;
    return 0;
out:
    free(d);
    if (ops && ops->destroy)
        ops->destroy(ctx);
    return -1;
}

int ls_pipeline_add_source(struct ls_pipeline *p, struct ls_source *s)
{
    if (p->n_sources >= ENGINE_MAX_SOURCES)
        return -1;
    p->sources[p->n_sources++] = s;
    return 0;
}

int ls_pipeline_start(struct ls_pipeline *p)
{
    ls_engine_beat(&p->reader_heartbeat);
    for (size_t i = 0; i < p->n_outputs; i++) {
        ls_engine_beat(&p->outputs[i]->heartbeat);
        if (pthread_create(&p->outputs[i]->thread, NULL, ls_delivery_main, p->outputs[i]) != 0) {
            log_kv(LOGL_ERROR, "pipeline: cannot start output thread", "output", p->outputs[i]->name, NULL);
            ls_engine_raise(p, &p->aborting);
            return -1;
        }
        p->outputs[i]->started = 1;
    }
    atomic_store(&p->ready, 1);
    return 0;
}

int ls_pipeline_ready(struct ls_pipeline *p)
{
    return atomic_load(&p->ready) && !ls_spool_nospace(p->opts.spool) && !atomic_load(&p->src_failing) &&
           atomic_load(&p->config_errs) == 0;
}

int ls_pipeline_health(struct ls_pipeline *p, char *why, size_t whylen)
{
    static const char *const reader_why[] = { "wedged", "the spool's filesystem is full",
                                              "a source keeps failing" };
    int64_t now = clock_mono_ns(), lim = p->opts.stall_timeout_ms * 1000000;
    if (atomic_load(&p->draining))
        return 1;
    if (ls_spool_sync_lost(p->opts.spool)) {
        snprintf(why, whylen, "spool: an fdatasync failed; no checkpoint is committed until logship restarts");
        return 0;
    }
    if (p->opts.stall_timeout_ms <= 0)
        return 1;
    int64_t age = now - atomic_load_explicit(&p->reader_heartbeat, memory_order_relaxed);
    if (atomic_load(&p->ready) && age > lim) {
        int w = atomic_load_explicit(&p->reader_why, memory_order_relaxed);
        snprintf(why, whylen, "reader loop: no progress for %" PRId64 " s (%s)", age / 1000000000,
                 reader_why[w >= ENGINE_WEDGED && w <= ENGINE_SOURCE_FAILING ? w : ENGINE_WEDGED]);
        return 0;
    }
    int ok = 1;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->n_outputs && ok; i++) {
        struct ls_delivery *d = p->outputs[i];
        age = now - atomic_load_explicit(&d->heartbeat, memory_order_relaxed);
        if (d->started && !d->done && age > lim) {
            snprintf(why, whylen, "output %s: no progress for %" PRId64 " s (a request or a cursor "
                     "write does not return)", d->name, age / 1000000000);
            ok = 0;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return ok;
}

static int all_done(struct ls_pipeline *p)
{
    for (size_t i = 0; i < p->n_outputs; i++)
        if (p->outputs[i]->started && !p->outputs[i]->done)
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

int ls_pipeline_run(struct ls_pipeline *p, volatile sig_atomic_t *stop, volatile sig_atomic_t *reopen)
{
    int64_t stop_deadline = ls_engine_read(p, stop, reopen);
    /* Shutdown: make what was read durable, save positions, drain. */
    atomic_store(&p->ready, 0);
    if (ls_spool_commit_point(p->opts.spool, 1) == 1)
        ls_engine_commit_sources(p);
    char ms[24];
    snprintf(ms, sizeof(ms), "%" PRId64, p->opts.shutdown_timeout_ms);
    log_kv(LOGL_INFO, "stopping: sending what was read", "timeout_ms", ms, NULL);
    ls_engine_raise(p, &p->draining);
    ls_spool_wake_all(p->opts.spool);
    /* One budget for the whole stop: reading stdin above and sending here. */
    int64_t deadline = stop_deadline ? stop_deadline : clock_mono_ns() + p->opts.shutdown_timeout_ms * 1000000;
    int clean = wait_outputs(p, deadline);
    if (!clean) {
        ls_engine_raise(p, &p->aborting);
        ls_spool_wake_all(p->opts.spool);
        if (!wait_outputs(p, clock_mono_ns() + 2000000000LL)) {
            log_kv(LOGL_ERROR, "an output did not stop in time; exiting without waiting for it", NULL);
            return -1;
        }
    }
    int rc = 0;
    for (size_t i = 0; i < p->n_outputs; i++) {
        struct ls_delivery *d = p->outputs[i];
        if (d->started) {
            pthread_join(d->thread, NULL);
            d->started = 0;
        }
        uint64_t left = ls_spool_reader_backlog(d->rd);
        if (left > 0) {
            char nb[24];
            snprintf(nb, sizeof(nb), "%" PRIu64, left);
            log_kv(LOGL_WARN, "stopping with unsent entries; they stay in the spool for the next start",
                   "output", d->name, "entries", nb, NULL);
            rc = 1;
        }
    }
    return rc;
}

void ls_pipeline_free(struct ls_pipeline *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_outputs; i++) {
        struct ls_delivery *d = p->outputs[i];
        if (d->started) {
            ls_engine_raise(p, &p->aborting);
            ls_spool_wake_all(p->opts.spool);
            pthread_join(d->thread, NULL);
        }
        if (d->ops->destroy)
            d->ops->destroy(d->ctx);
        ls_spool_reader_close(d->rd);
        free(d->items);
        free(d->resend);
        free(d);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
