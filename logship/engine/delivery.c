/* delivery: one thread per output moving its cursor's records to the backend and applying the verdicts (pipeline.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "array.h"
#include "logship/engine/engine.h"

#define BATCH_TICK_MS 20           /* how often a filling batch looks for more */
#define NO_DELAY (-1)

static void count_for(metrics_family *f, const char *output, size_t n)
{
    const char *vals[1] = { output };
    if (f && n > 0)
        metrics_family_add(f, vals, (double)n);
}

static int grow(struct ls_delivery *d, size_t n)
{
    size_t c1 = d->cap, c2 = d->cap;
    if (array_grow((void **)&d->items, &c1, n, sizeof(*d->items), 0) != 0 ||
        array_grow((void **)&d->resend, &c2, n, sizeof(*d->resend), 0) != 0)
        return -1;
    d->cap = c1;
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

/* The lag gauge: the age of the oldest record in the reader's batch. */
static void show_lag(struct ls_delivery *d)
{
    size_t n;
    const int64_t *app;
    ls_spool_reader_batch(d->rd, &n, &app);
    if (n > 0)
        metrics_set(d->m_lag, (double)(clock_real_ns() - app[0]) / 1e9);
}

/* Acknowledge the reader's whole batch; retry the cursor write until it works. */
static void finish_batch(struct ls_delivery *d)
{
    size_t n;
    const int64_t *app;
    ls_spool_reader_batch(d->rd, &n, &app);
    int64_t now = clock_real_ns();
    for (size_t i = 0; i < n && d->m_acklat; i++)
        metrics_observe(d->m_acklat, (double)(now - app[i]) / 1e9);
    while (ls_spool_reader_ack(d->rd) != 0) {
        if (atomic_load(&d->pipe->aborting))
            return;
        ls_engine_nap(d->pipe, 1000);
    }
    ls_backoff_reset(&d->backoff);
    d->holding = 0;
}

static void log_result(enum log_level lvl, const char *msg, const struct ls_delivery *d,
                       const struct ls_flush_result *r, size_t count, const char *reason, int64_t delay_ms)
{
    char st[16], cnt[24], dl[24];
    snprintf(st, sizeof(st), "%d", r->http_status);
    snprintf(cnt, sizeof(cnt), "%zu", count);
    snprintf(dl, sizeof(dl), "%" PRId64, delay_ms);
    log_kv(lvl, msg, "output", d->name, "status", st, "reason", reason, "entries", cnt,
           "retry_in_ms", delay_ms >= 0 ? dl : "-", "detail", r->detail,
           r->fix ? "fix" : NULL, r->fix, NULL);
}

/* Enter or leave the configuration-error state; while any output is in it,
 * /ready answers 503 (ls_pipeline_ready), since no restart fixes a refused
 * privilege or a missing index: someone must act. */
static void set_config_state(struct ls_delivery *d, int on)
{
    if (d->in_config == on)
        return;
    d->in_config = on;
    atomic_fetch_add(&d->pipe->config_errs, on ? 1 : -1);
    if (!on)
        log_kv(LOGL_INFO, "backend accepts logship's configuration again; ready", "output", d->name, NULL);
}

/* The wait before resending the RETRY items of a partial answer that stored
 * ndone and asks to retry nr. When the output says its item RETRYs mean a
 * momentarily full queue and the answer stored at least as many as it
 * refused, the backend is mostly accepting: resend after the batch wait
 * (within [ENGINE_ROUND_GAP_MS, the initial backoff]) rather than a backoff
 * draw, because a batch needs several such rounds (10 % refused, then 1 %,
 * ...) and nothing newer is sent meanwhile. The retry set at least halves
 * each such round, so at most log2(batch) of them run back to back; any
 * other answer (and one that stores nothing, which is not LS_PARTIAL) draws
 * from the backoff as before. A Retry-After is always honoured. */
static int64_t partial_delay(struct ls_delivery *d, size_t ndone, size_t nr, int64_t retry_after_ms)
{
    const struct ls_pipeline_opts *po = &d->pipe->opts;
    if (!d->ops->resend_soon_on_progress || ndone < nr)
        return ls_backoff_next(&d->backoff, retry_after_ms);
    int64_t wait = po->batch_wait_ms < po->backoff_initial_ms ? po->batch_wait_ms : po->backoff_initial_ms;
    if (wait < ENGINE_ROUND_GAP_MS)
        wait = ENGINE_ROUND_GAP_MS;
    if (retry_after_ms > wait)
        wait = retry_after_ms < po->backoff_max_ms ? retry_after_ms : po->backoff_max_ms;
    return wait;
}

/* Read the next batch from the spool into d->pending. Returns 1 with a batch
 * in hand, 0 to look again (nothing yet, the batch is still filling, a read
 * error) and -1 when draining found nothing left (the thread ends). */
static int take_batch(struct ls_delivery *d)
{
    struct ls_pipeline *p = d->pipe;
    if (ls_spool_reader_fill(d->rd) < 0) {
        ls_engine_nap(p, 1000);
        return 0;
    }
    size_t n;
    const int64_t *app;
    const struct ls_record *recs = ls_spool_reader_batch(d->rd, &n, &app);
    if (n == 0) {
        metrics_set(d->m_lag, 0);
        if (atomic_load(&p->draining))
            return -1;
        ls_spool_wait(d->rd, 250);
        return 0;
    }
    int64_t now = clock_real_ns();
    metrics_set(d->m_lag, (double)(now - app[0]) / 1e9);
    if (!ls_spool_reader_batch_full(d->rd) && !atomic_load(&p->draining)) {
        int64_t due = app[0] + p->opts.batch_wait_ms * 1000000;
        if (now < due) {
            /* Look again at most every BATCH_TICK_MS rather than on every
             * spool flush: a trickle then costs a few wakeups per batch, and
             * a flood still fills the batch on time. */
            int64_t left = (due - now) / 1000000 + 1;
            ls_engine_nap(p, left < BATCH_TICK_MS ? left : BATCH_TICK_MS);
            if (clock_real_ns() < due || ls_spool_reader_fill(d->rd) > 0)
                return 0;
            recs = ls_spool_reader_batch(d->rd, &n, &app);
        }
    }
    if (grow(d, n) != 0) {
        ls_engine_nap(p, 1000);
        return 0;
    }
    d->holding = 1;
    d->pending = recs;
    d->n_pending = n;
    return 1;
}

/* Hand the batch in hand to the output once; res gets its answer. */
static enum ls_verdict send_batch(struct ls_delivery *d, struct ls_flush_result *res)
{
    /* Records handed out before (an earlier attempt, or the run before a
     * crash) may be at the backend already; the mark is saved before the
     * send so the next run knows it too. */
    struct ls_batch b = { d->pending, d->n_pending, ls_spool_reader_maybe_sent(d->rd, d->pending, d->n_pending) };
    (void)ls_spool_reader_mark_sent(d->rd, d->pending[d->n_pending - 1].seq);
    memset(res, 0, sizeof(*res));
    for (size_t i = 0; i < d->n_pending; i++)
        d->items[i] = LS_DONE;
    res->item = d->items;
    res->retry_after_ms = -1;
    int64_t t0 = clock_mono_ns();
    enum ls_verdict v = d->ops->flush(d->ctx, &b, res);
    metrics_observe(d->m_send, (double)(clock_mono_ns() - t0) / 1e9);
    res->reason[sizeof(res->reason) - 1] = '\0';
    res->detail[sizeof(res->detail) - 1] = '\0';
    count_for(d->pipe->f_dups, d->name, res->duplicates);
    count_for(d->pipe->f_maybe, d->name, res->maybe_duplicates);
    return v;
}

static int64_t on_done(struct ls_delivery *d)
{
    engine_fam_add(d->pipe->f_batches, d->name, "done", 1);
    metrics_add(d->m_entries, (double)d->n_pending);
    metrics_set(d->m_up, 1);
    set_config_state(d, 0);
    finish_batch(d);
    return NO_DELAY;
}

static int64_t on_drop(struct ls_delivery *d, const struct ls_flush_result *res)
{
    struct ls_pipeline *p = d->pipe;
    size_t npend = d->n_pending;
    size_t nd = res->dropped > 0 && res->dropped <= npend ? res->dropped : npend;
    const char *why = res->reason[0] ? res->reason : "rejected";
    engine_fam_add(p->f_batches, d->name, "drop", 1);
    engine_fam_add(p->f_dropped, d->name, why, (double)nd);
    metrics_add(d->m_entries, (double)(npend - nd));
    metrics_set(d->m_up, 1);
    set_config_state(d, 0);
    log_result(LOGL_WARN, "backend rejected entries: dropped", d, res, nd, why, NO_DELAY);
    finish_batch(d);
    return NO_DELAY;
}

/* Per-record verdicts: count what was stored and dropped, keep the RETRY and
 * CONFIG records in d->resend as the batch in hand. */
static int64_t on_partial(struct ls_delivery *d, const struct ls_flush_result *res)
{
    struct ls_pipeline *p = d->pipe;
    size_t nd = 0, ndone = 0, nc = 0, nr = 0;
    for (size_t i = 0; i < d->n_pending; i++) {
        if (d->items[i] == LS_DONE) {
            ndone++;
        } else if (d->items[i] == LS_DROP) {
            nd++;
        } else {
            nc += d->items[i] == LS_CONFIG;
            d->resend[nr++] = d->pending[i]; /* RETRY, CONFIG: resend */
        }
    }
    set_config_state(d, nc > 0);
    const char *why = res->reason[0] ? res->reason : "rejected";
    engine_fam_add(p->f_batches, d->name, "partial", 1);
    metrics_add(d->m_entries, (double)ndone);
    metrics_set(d->m_up, 1);
    if (nd > 0) {
        engine_fam_add(p->f_dropped, d->name, why, (double)nd);
        log_result(LOGL_WARN, "backend rejected some entries: dropped", d, res, nd, why, NO_DELAY);
    }
    if (nr == 0) {
        finish_batch(d);
        return NO_DELAY;
    }
    d->pending = d->resend;
    d->n_pending = nr;
    if (nc > 0) {
        /* items refused for the cluster's reasons (privilege, missing
         * index): kept, probed at the configuration-error period */
        engine_fam_add(p->f_retries, d->name, "config", 1);
        metrics_set(d->m_up, 0);
        int64_t delay = p->opts.config_retry_ms;
        log_result(LOGL_ERROR, "backend refuses entries for a configuration reason; "
                   "data is kept and retried", d, res, nc, "config", delay);
        return delay;
    }
    /* Anything stored is progress: start the backoff again, so a few
     * rejected items do not hold the queue behind them for minutes after an
     * outage doubled the ceiling. */
    if (ndone > 0)
        ls_backoff_reset(&d->backoff);
    int64_t delay = partial_delay(d, ndone, nr, res->retry_after_ms);
    char tmp[32];
    const char *reason = retry_reason(res, tmp, sizeof(tmp));
    engine_fam_add(p->f_retries, d->name, reason, 1);
    log_result(LOGL_INFO, "resending entries the backend asked to retry", d, res, nr, reason, delay);
    return delay;
}

static int64_t on_config(struct ls_delivery *d, const struct ls_flush_result *res)
{
    struct ls_pipeline *p = d->pipe;
    set_config_state(d, 1);
    engine_fam_add(p->f_batches, d->name, "config", 1);
    engine_fam_add(p->f_retries, d->name, "config", 1);
    metrics_set(d->m_up, 0);
    int64_t delay = p->opts.config_retry_ms;
    log_result(LOGL_ERROR, "backend says logship's configuration is wrong (auth, URL, tenant, "
               "privileges); data is kept and retried", d, res, d->n_pending, "config", delay);
    return delay;
}

static int64_t on_retry(struct ls_delivery *d, enum ls_verdict v, const struct ls_flush_result *res)
{
    char tmp[32];
    const char *why = retry_reason(res, tmp, sizeof(tmp));
    if (v != LS_RETRY) {
        log_kv(LOGL_ERROR, "output returned an unknown verdict; retrying", "output", d->name, NULL);
        why = "bad_verdict";
    }
    engine_fam_add(d->pipe->f_batches, d->name, "retry", 1);
    engine_fam_add(d->pipe->f_retries, d->name, why, 1);
    metrics_set(d->m_up, res->backend_up ? 1 : 0);
    int64_t delay = ls_backoff_next(&d->backoff, res->retry_after_ms);
    log_result(LOGL_WARN, "send failed; will retry", d, res, d->n_pending, why, delay);
    return delay;
}

/* Apply one answer: count, log, acknowledge or keep the batch. Returns how
 * long to wait before the next send, or NO_DELAY. */
static int64_t apply_verdict(struct ls_delivery *d, enum ls_verdict v, const struct ls_flush_result *res)
{
    if (v == LS_DONE)
        return on_done(d);
    if (v == LS_DROP)
        return on_drop(d, res);
    if (v == LS_PARTIAL)
        return on_partial(d, res);
    if (v == LS_CONFIG)
        return on_config(d, res);
    return on_retry(d, v, res);
}

/* Wait out a backoff in steps, so the lag gauge keeps ageing and the
 * heartbeat says that waiting is not being stuck. */
static void wait_out(struct ls_delivery *d, int64_t delay)
{
    for (int64_t left = delay; left > 0 && !atomic_load(&d->pipe->aborting); left -= 1000) {
        ls_engine_nap(d->pipe, left < 1000 ? left : 1000);
        ls_engine_beat(&d->heartbeat);
        show_lag(d);
    }
}

void *ls_delivery_main(void *arg)
{
    struct ls_delivery *d = arg;
    struct ls_pipeline *p = d->pipe;
    while (!atomic_load(&p->aborting)) {
        ls_engine_beat(&d->heartbeat);
        if (d->holding) {
            show_lag(d);
        } else {
            int r = take_batch(d);
            if (r < 0)
                break;
            if (r == 0)
                continue;
        }
        struct ls_flush_result res;
        enum ls_verdict v = send_batch(d, &res);
        wait_out(d, apply_verdict(d, v, &res));
    }
    pthread_mutex_lock(&p->mu);
    d->done = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}
