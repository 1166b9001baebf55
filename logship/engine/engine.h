/* engine: the state reader.c, delivery.c and pipeline.c share (the engine's own; nothing outside engine/ sees it). */
#ifndef LOGSHIP_ENGINE_H
#define LOGSHIP_ENGINE_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "metrics.h"
#include "logship/core/backoff.h"
#include "logship/core/output.h"
#include "logship/engine/pipeline.h"

#define ENGINE_MAX_SOURCES 64
#define ENGINE_ROUND_GAP_MS 5   /* pause after a busy reader round so writes coalesce */

/* One output and its delivery thread: the spool cursor it reads, the batch
 * it holds, its backoff and its metric series. */
struct ls_delivery {
    struct ls_pipeline *pipe;
    const struct ls_output_ops *ops;
    void    *ctx;
    char     name[64];
    struct ls_spool_reader *rd;
    struct ls_backoff backoff;
    pthread_t thread;
    int      started;
    int      done;               /* guarded by pipe->mu */
    /* the thread's own state */
    int      in_config;          /* the last answer was a configuration error */
    int      holding;            /* pending/n_pending is a batch still to deliver */
    const struct ls_record *pending;
    size_t   n_pending;
    enum ls_verdict *items;      /* per-record verdicts of the last answer */
    struct ls_record *resend;    /* the records a partial answer asked to resend */
    size_t   cap;                /* entries in items and resend */
    metrics_child *m_entries, *m_up, *m_lag, *m_send, *m_acklat;
    _Atomic int64_t heartbeat;   /* mono ns of the last progress (ls_pipeline_health) */
};

/* Why the reader loop makes no progress (ls_pipeline_health). */
enum ls_engine_reader_why { ENGINE_WEDGED = 0, ENGINE_DISK_FULL, ENGINE_SOURCE_FAILING };

struct ls_pipeline {
    struct ls_pipeline_opts opts;
    struct ls_delivery *outputs[LS_MAX_OUTPUTS];
    size_t   n_outputs;
    struct ls_source *sources[ENGINE_MAX_SOURCES];
    size_t   n_sources;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    atomic_int draining, aborting, ready;
    atomic_int config_errs;          /* outputs whose backend refuses our configuration */
    atomic_int src_failing;          /* sources in retry backoff */
    _Atomic int64_t reader_heartbeat;
    atomic_int reader_why;           /* enum ls_engine_reader_why */
    metrics_family *f_dups, *f_maybe;
    metrics_family *f_entries, *f_batches, *f_retries, *f_dropped, *f_send, *f_up, *f_lag, *f_acklat;
};

/* Set one of p's flags and wake every thread waiting on p->cv. */
void ls_engine_raise(struct ls_pipeline *p, atomic_int *flag);

/* Sleep up to ms, waking early when the pipeline aborts. */
void ls_engine_nap(struct ls_pipeline *p, int64_t ms);

/* The delivery thread of one output (pthread start routine, arg: struct
 * ls_delivery). Returns when the pipeline aborts, or when it drains and the
 * output's cursor has reached the end of the spool. */
void *ls_delivery_main(void *arg);

/* Run the reader loop until *stop, or every source finished; returns the
 * stop deadline (mono ns) when stdin was drained after a signal, else 0.
 * Leaves making what was read durable to the caller (see pipeline.h). */
int64_t ls_engine_read(struct ls_pipeline *p, volatile sig_atomic_t *stop, volatile sig_atomic_t *reopen);

/* Save every source's position; 0, or -1 when one failed (logged). */
int ls_engine_commit_sources(struct ls_pipeline *p);

/* Mark progress now on a heartbeat (reader or delivery) that ls_pipeline_health reads. */
static inline void ls_engine_beat(_Atomic int64_t *hb)
{
    atomic_store_explicit(hb, clock_mono_ns(), memory_order_relaxed);
}

/* Add v to family f's child for the two label values a, b (f NULL, no registry: nothing). */
static inline void engine_fam_add(metrics_family *f, const char *a, const char *b, double v)
{
    const char *vals[2] = { a, b };
    metrics_family_add(f, vals, v);
}

#endif
