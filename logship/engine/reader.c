/* reader: the engine's reader loop, moving input from the sources into the spool and checkpointing it (pipeline.h). */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "logship/engine/engine.h"

#define POLL_BUDGET (1u << 20)     /* input bytes per source poll call */
#define ROUND_BUDGET (4u << 20)    /* input bytes per source per round */
#define IDLE_TIMER_MS 100
#define FULL_RETRY_MS 50
#define NOSPACE_RETRY_MS 250       /* retry period while the spool's filesystem is full */
#define ERROR_RETRY_MS 1000        /* retry period after another spool error */
#define SRC_BACKOFF_INITIAL_MS 500
#define SRC_BACKOFF_MAX_MS 30000

/* What the spool said to this round's appends. */
struct emit_state {
    struct ls_spool *spool;
    int blocked, error, nospace;
};

/* The reader loop's state between rounds. */
struct reader {
    struct ls_pipeline *p;
    struct emit_state es;
    struct ls_emitter em;
    struct pollfd pfd[ENGINE_MAX_SOURCES];
    struct ls_backoff backoff[ENGINE_MAX_SOURCES];   /* per source, after a failed poll */
    int64_t retry_at[ENGINE_MAX_SOURCES];            /* mono ns; 0: poll now */
    int     failing[ENGINE_MAX_SOURCES];
    int64_t last_commit, stop_deadline;
    uint64_t consumed;         /* input read since the last source checkpoint */
    int     wait_ms;           /* pause before the next round; 0: poll the sources' descriptors */
};

/* Every refusal is backpressure for the source (it keeps the record and
 * offers it again): a full spool, a full filesystem, other write errors. */
static int emit_record(struct ls_emitter *em, const struct ls_record *rec)
{
    struct emit_state *e = em->ctx;
    switch (ls_spool_append(e->spool, rec)) {
    case LS_SPOOL_OK:
        return 0;
    case LS_SPOOL_TOO_LARGE: /* can never fit: the spool logged and counted the drop */
        return 0;
    case LS_SPOOL_FULL:
        e->blocked = 1;
        break;
    case LS_SPOOL_NOSPACE:
        e->nospace = 1;
        break;
    default: /* LS_SPOOL_ERR */
        e->error = 1;
        break;
    }
    return 1;
}

static int refused(const struct emit_state *e)
{
    return e->blocked || e->error || e->nospace;
}

static int finished(const struct ls_source *s)
{
    return s->ops->finished && s->ops->finished(s->ctx);
}

int ls_engine_commit_sources(struct ls_pipeline *p)
{
    int rc = 0;
    for (size_t i = 0; i < p->n_sources; i++) {
        struct ls_source *s = p->sources[i];
        if (s->ops->commit && s->ops->commit(s->ctx) != 0) {
            log_kv(LOGL_WARN, "source checkpoint failed; will retry", "source", s->ops->kind, NULL);
            rc = -1;
        }
    }
    return rc;
}

/* 1 while a drain_on_stop source (stdin) can still produce input. */
static int drain_pending(struct ls_pipeline *p)
{
    for (size_t i = 0; i < p->n_sources; i++)
        if (p->sources[i]->drain_on_stop && !finished(p->sources[i]))
            return 1;
    return 0;
}

/* 1 when the loop must end: a stop without stdin to drain, a second
 * signal, stdin drained, or the drain's deadline passed. */
static int stopping(struct reader *r, volatile sig_atomic_t *stop)
{
    struct ls_pipeline *p = r->p;
    if (*stop && r->stop_deadline == 0) {
        if (!drain_pending(p))
            return 1;
        /* stdin has no checkpoint: what we do not read now is lost. */
        r->stop_deadline = clock_mono_ns() + p->opts.shutdown_timeout_ms * 1000000;
        atomic_store(&p->ready, 0);
        log_kv(LOGL_INFO, "stopping: reading stdin to its end first (a second signal skips this)", NULL);
    }
    if (r->stop_deadline == 0)
        return 0;
    if (*stop >= 2 || !drain_pending(p))
        return 1;
    if (clock_mono_ns() >= r->stop_deadline) {
        log_kv(LOGL_WARN, "stopping: stdin did not end within the shutdown timeout; "
               "what was not read is not shipped", NULL);
        return 1;
    }
    return 0;
}

/* 1 when source i is read this round: not finished, not backing off, and
 * (while stopping) one that is drained. */
static int wanted(const struct reader *r, size_t i, int64_t now)
{
    const struct ls_source *s = r->p->sources[i];
    return r->retry_at[i] <= now && !(r->stop_deadline && !s->drain_on_stop) && !finished(s);
}

/* Sleep until a source's descriptor is readable, the idle timer, or the
 * pause the last round asked for. */
static void wait_for_input(struct reader *r)
{
    if (r->wait_ms > 0) {
        (void)poll(NULL, 0, r->wait_ms);
        return;
    }
    nfds_t n = 0;
    int64_t now = clock_mono_ns();
    for (size_t i = 0; i < r->p->n_sources; i++) {
        struct ls_source *s = r->p->sources[i];
        int fd = s->ops->wait_fd ? s->ops->wait_fd(s->ctx) : -1;
        if (fd >= 0 && wanted(r, i, now)) {
            r->pfd[n].fd = fd;
            r->pfd[n].events = POLLIN;
            r->pfd[n].revents = 0;
            n++;
        }
    }
    (void)poll(n ? r->pfd : NULL, n, IDLE_TIMER_MS);
}

/* A failed poll: never abandoned, since a transient error (a vanished
 * directory, EIO, OOM) must not end shipping for good. */
static void source_failed(struct reader *r, size_t i)
{
    struct ls_pipeline *p = r->p;
    int64_t d = ls_backoff_next(&r->backoff[i], -1);
    char dl[24];
    r->retry_at[i] = clock_mono_ns() + d * 1000000;
    snprintf(dl, sizeof(dl), "%" PRId64, d);
    if (!r->failing[i]) {
        r->failing[i] = 1;
        atomic_fetch_add(&p->src_failing, 1);
    }
    log_kv(LOGL_ERROR, "source failed; retrying (not ready meanwhile)", "source", p->sources[i]->ops->kind,
           "retry_in_ms", dl, NULL);
}

static void source_recovered(struct reader *r, size_t i)
{
    if (!r->failing[i])
        return;
    r->failing[i] = 0;
    atomic_fetch_sub(&r->p->src_failing, 1);
    ls_backoff_reset(&r->backoff[i]);
    log_kv(LOGL_INFO, "source reads again", "source", r->p->sources[i]->ops->kind, NULL);
}

/* Poll source i until it has nothing more, the spool refuses, or the round's
 * budget is spent; returns the input bytes consumed. */
static size_t read_source(struct reader *r, size_t i)
{
    struct ls_source *s = r->p->sources[i];
    size_t used = 0;
    for (;;) {
        long n = s->ops->poll(s->ctx, &r->em, POLL_BUDGET);
        if (n < 0) {
            source_failed(r, i);
            break;
        }
        source_recovered(r, i);
        used += (size_t)n;
        if (n == 0 || refused(&r->es) || used >= ROUND_BUDGET)
            break;
    }
    return used;
}

/* One round over the sources; returns 1 when every source has finished.
 * *consumed_round gets the input bytes read. */
static int read_round(struct reader *r, size_t *consumed_round)
{
    struct ls_pipeline *p = r->p;
    memset(&r->es, 0, sizeof(r->es));
    r->es.spool = p->opts.spool;
    int all_finished = 1;
    *consumed_round = 0;
    int64_t now = clock_mono_ns();
    for (size_t i = 0; i < p->n_sources && !refused(&r->es); i++) {
        struct ls_source *s = p->sources[i];
        if (r->stop_deadline && !s->drain_on_stop)
            continue;
        if (r->retry_at[i] > now) {
            all_finished = 0;
            continue;
        }
        if (finished(s))
            continue;
        size_t used = read_source(r, i);
        r->consumed += used;
        *consumed_round += used;
        if (r->failing[i] || !finished(s))
            all_finished = 0;
    }
    return all_finished && !refused(&r->es);
}

/* Make the round's appends visible to the outputs and, at every checkpoint
 * period, durable (per the fsync policy) before the sources save their
 * positions. Returns the spool's answer (< 0 or LS_SPOOL_NOSPACE: trouble). */
static int checkpoint(struct reader *r)
{
    struct ls_pipeline *p = r->p;
    int64_t now = clock_mono_ns();
    if (r->consumed == 0 ||
        (!p->opts.commit_every_round && now - r->last_commit < p->opts.commit_interval_ms * 1000000))
        return ls_spool_flush(p->opts.spool);
    int fr = ls_spool_commit_point(p->opts.spool, 1);
    if (fr == 1) {
        /* On failure consumed stays, so the next period tries again. */
        if (ls_engine_commit_sources(p) == 0)
            r->consumed = 0;
        r->last_commit = now;
    }
    return fr;
}

/* The pause before the next round: back off from a refusing spool, or let
 * writes coalesce after a busy round that did not spend its budget. */
static int next_wait(const struct emit_state *e, size_t consumed_round)
{
    if (e->nospace)
        return NOSPACE_RETRY_MS;
    if (e->blocked)
        return FULL_RETRY_MS;
    if (e->error)
        return ERROR_RETRY_MS;
    return consumed_round > 0 && consumed_round < ROUND_BUDGET ? ENGINE_ROUND_GAP_MS : 0;
}

/* Progress for ls_pipeline_health: waiting on the spool's cap is legitimate
 * (the outputs must move), a full disk or a failing source is not. */
static void report_progress(struct ls_pipeline *p)
{
    int why = ls_spool_nospace(p->opts.spool) ? ENGINE_DISK_FULL
              : atomic_load(&p->src_failing) ? ENGINE_SOURCE_FAILING : ENGINE_WEDGED;
    atomic_store_explicit(&p->reader_why, why, memory_order_relaxed);
    if (why == ENGINE_WEDGED)
        ls_engine_beat(&p->reader_heartbeat);
}

int64_t ls_engine_read(struct ls_pipeline *p, volatile sig_atomic_t *stop, volatile sig_atomic_t *reopen)
{
    struct reader r;
    memset(&r, 0, sizeof(r));
    r.p = p;
    r.em = (struct ls_emitter){ emit_record, &r.es };
    r.last_commit = clock_mono_ns();
    for (size_t i = 0; i < p->n_sources; i++)
        ls_backoff_init(&r.backoff[i], SRC_BACKOFF_INITIAL_MS, SRC_BACKOFF_MAX_MS, NULL, NULL);
    while (!stopping(&r, stop)) {
        if (reopen && *reopen) {
            *reopen = 0;
            if (log_reopen() != 0)
                log_kv(LOGL_WARN, "cannot reopen the log file", NULL);
        }
        wait_for_input(&r);
        if (*stop && r.stop_deadline == 0)
            continue; /* decide above whether stdin still needs reading */
        size_t consumed_round;
        int all_finished = read_round(&r, &consumed_round);
        r.wait_ms = next_wait(&r.es, consumed_round);
        int fr = checkpoint(&r);
        if (fr < 0 || fr == LS_SPOOL_NOSPACE)
            r.wait_ms = ls_spool_nospace(p->opts.spool) ? NOSPACE_RETRY_MS : ERROR_RETRY_MS;
        report_progress(p);
        if (all_finished && p->n_sources > 0) {
            log_kv(LOGL_INFO, "every source has finished", NULL);
            break;
        }
    }
    return r.stop_deadline;
}
