/* pipeline: the engine: one reader loop (sources → spool) and one thread per output (spool → backend).
 *
 * Files: reader.c is the reader loop, delivery.c the per-output delivery
 * thread (verdicts, backoff, retries, configuration-error probes, drop
 * counters), pipeline.c the lifecycle below; engine.h is their shared state.
 *
 * Reader loop: waits on the sources' descriptors (poll(2), with a 100 ms
 * timer for sources without one), polls every source, flushes the spool so
 * outputs see new records, and at every checkpoint period syncs the spool
 * (per its fsync policy) and only then calls each source's commit(). When the
 * spool is full and blocking, sources are not polled (backpressure).
 *
 * Output threads: each reads its own cursor's records into a batch bounded
 * by batch_bytes and batch_wait (measured from the first record's spool
 * append), calls ops->flush and applies the verdict: DONE acks (cursor
 * persisted); DROP counts by reason, logs the first KB and acks; RETRY
 * keeps the batch and waits with full-jitter backoff (honouring Retry-After),
 * reading nothing more meanwhile; CONFIG logs an error and probes every
 * config_retry_ms, keeping the data; LS_PARTIAL resends exactly the RETRY
 * items until none is left, then acks (after batch_wait when the output sets
 * resend_soon_on_progress and the answer stored at least as many as it
 * refused, else after a backoff draw). Outputs run independently, so a dead
 * one only holds back the others once the spool is full.
 *
 * Bad days: a full filesystem (LS_SPOOL_NOSPACE) pauses reading with the
 * refused record kept by its source, retried every 250 ms, and /ready is
 * 503 meanwhile; any other append error is retried after 1 s; a source
 * whose poll fails is retried with backoff (0.5 s doubling to 30 s) and
 * logged, never abandoned, and /ready is 503 until it polls again.
 *
 * Stuck (ls_pipeline_health): the reader loop or an output thread has not
 * made progress for stall_timeout_ms. The reader makes progress with every
 * round in which the spool accepted writes and no source was failing
 * (idle rounds and waiting on a spool at its --spool-max-bytes cap count:
 * that is the outputs' job); an output with every loop turn, including
 * each second of a backoff or a config-error wait and each idle wait for
 * data, but not while one flush call or a cursor write hangs. So a dead
 * backend is not "stuck" (a restart would not help), while a hung thread,
 * a full disk that never frees or a source that keeps failing is. Also
 * unhealthy, whatever stall_timeout_ms says, from the first failed spool
 * fdatasync on: only a restart makes checkpoints durable again.
 *
 * Shutdown: when *stop is set (SIGTERM/SIGINT) or every source has finished
 * (stdin EOF), reading stops, except that sources with drain_on_stop
 * (stdin) are read on until they finish, *stop reaches 2 (a second signal)
 * or shutdown_timeout_ms has passed; then the spool is synced, sources
 * commit, and the outputs keep sending what is in the spool until it is all
 * acknowledged or the same deadline (shutdown_timeout_ms after the signal)
 * has passed. */
#ifndef LOGSHIP_PIPELINE_H
#define LOGSHIP_PIPELINE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include "metrics.h"
#include "logship/core/output.h"
#include "logship/core/source.h"
#include "logship/spool/spool.h"

struct ls_pipeline_opts {
    struct ls_spool *spool;
    size_t   batch_bytes;
    int64_t  batch_wait_ms;
    int64_t  shutdown_timeout_ms;
    int64_t  backoff_initial_ms, backoff_max_ms, config_retry_ms;
    int64_t  commit_interval_ms;   /* source checkpoint period (the fsync interval) */
    int      commit_every_round;   /* fsync policy "always" */
    int64_t  stall_timeout_ms;     /* ls_pipeline_health; <= 0: never stuck */
    metrics_registry *reg;         /* may be NULL */
};

struct ls_pipeline;

/* Create the engine and register its metric families. NULL + err on failure. */
struct ls_pipeline *ls_pipeline_new(const struct ls_pipeline_opts *o, char *err, size_t errlen);

/* Add an output instance (ctx made by ops->create; the pipeline calls
 * ops->destroy(ctx) in ls_pipeline_free). Opens its spool reader. Call
 * before ls_pipeline_start. 0, or -1 with err (ctx is then destroyed). */
int ls_pipeline_add_output(struct ls_pipeline *p, const struct ls_output_ops *ops, void *ctx,
                           const char *name, char *err, size_t errlen);

/* Add a source (not owned: the caller frees it after ls_pipeline_run). */
int ls_pipeline_add_source(struct ls_pipeline *p, struct ls_source *s);

/* Start the output threads. 0 or -1 (logged). */
int ls_pipeline_start(struct ls_pipeline *p);

/* Run the reader loop in the calling thread until *stop becomes nonzero or
 * every source has finished, then shut down as described above. *reopen,
 * when set, is cleared and the log file reopened. Returns 0 when everything
 * read was delivered, 1 when data stays in the spool for the next start
 * (timeout), -1 when a thread could not be stopped (the caller should exit
 * without freeing). */
int ls_pipeline_run(struct ls_pipeline *p, volatile sig_atomic_t *stop, volatile sig_atomic_t *reopen);

/* 1 while running normally (for /ready): started, not shutting down, the
 * spool's filesystem not full, no source failing. Thread-safe. */
int ls_pipeline_ready(struct ls_pipeline *p);

/* 1 when healthy; 0 when stuck (see above) with a one-line reason in why.
 * Thread-safe. */
int ls_pipeline_health(struct ls_pipeline *p, char *why, size_t whylen);

/* Destroy outputs and free. NULL-safe; only after run returned >= 0 or
 * when start was never called. */
void ls_pipeline_free(struct ls_pipeline *p);

#endif
