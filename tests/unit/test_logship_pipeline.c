/* test_logship_pipeline: the engine's verdict handling, fan-out and shutdown, with a scripted source and outputs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/lib/tmpdir.h"
#include "log.h"
#include "logship/engine/pipeline.h"

static char g_dir[256];

/* ---- a source that emits lines "n-<i>" for i < total ---- */
struct fsrc {
    unsigned next, total, committed_at;
};

static long fsrc_poll(void *ctx, struct ls_emitter *em, size_t budget)
{
    struct fsrc *s = ctx;
    long used = 0;
    while (s->next < s->total && (size_t)used < budget) {
        char line[32];
        int l = snprintf(line, sizeof(line), "n-%u", s->next);
        struct ls_record r = { .ts_ns = s->next, .labels = "{a=\"b\"}", .labels_len = 7,
                               .line = line, .line_len = (size_t)l, .origin = "x", .origin_len = 1 };
        int rc = em->emit(em, &r);
        if (rc != 0)
            break;
        s->next++;
        used += l + 1;
    }
    return used;
}
static int fsrc_commit(void *ctx)
{
    struct fsrc *s = ctx;
    s->committed_at = s->next;
    return 0;
}
static int fsrc_wait_fd(void *ctx)
{
    (void)ctx;
    return -1;
}
static int fsrc_finished(void *ctx)
{
    struct fsrc *s = ctx;
    return s->next >= s->total;
}
static void fsrc_destroy(void *ctx)
{
    (void)ctx;
}
static const struct ls_source_ops fsrc_ops = { "fake", fsrc_poll, fsrc_commit, fsrc_wait_fd,
                                               fsrc_finished, fsrc_destroy };

/* ---- an output with scripted behaviour ---- */
enum mode { M_OK, M_RETRY_FIRST, M_PARTIAL_ODD, M_DROP_FIRST, M_DEAD, M_HANG_FIRST };
struct fout {
    enum mode mode;
    unsigned *seen;      /* per line number: times delivered (acked as done) */
    unsigned total;
    unsigned calls, retries_left;
    pthread_mutex_t mu;
};

static unsigned num(const struct ls_record *r)
{
    return (unsigned)strtoul(r->line + 2, NULL, 10);
}

static enum ls_verdict fout_flush(void *ctx, const struct ls_batch *b, struct ls_flush_result *res)
{
    struct fout *o = ctx;
    pthread_mutex_lock(&o->mu);
    o->calls++;
    enum ls_verdict v = LS_DONE;
    switch (o->mode) {
    case M_OK:
        break;
    case M_RETRY_FIRST:
        if (o->retries_left > 0) {
            o->retries_left--;
            res->http_status = 503;
            v = LS_RETRY;
        }
        break;
    case M_DROP_FIRST:
        if (o->retries_left > 0) {
            o->retries_left--;
            res->http_status = 400;
            snprintf(res->reason, sizeof(res->reason), "bad");
            v = LS_DROP;
        }
        break;
    case M_PARTIAL_ODD: {
        /* the first time a record is seen: odd numbers retry, multiples of 10 drop */
        int any = 0;
        for (size_t i = 0; i < b->n; i++) {
            unsigned k = num(&b->recs[i]);
            if (k % 10 == 0 && o->seen[k] == 0) {
                res->item[i] = LS_DROP;
                o->seen[k] = 1000; /* mark dropped */
                any = 1;
            } else if (k % 2 == 1 && o->seen[k] == 0) {
                res->item[i] = LS_RETRY;
                o->seen[k] = 500; /* mark asked to retry */
                any = 1;
            } else {
                res->item[i] = LS_DONE;
            }
        }
        for (size_t i = 0; i < b->n; i++) {
            unsigned k = num(&b->recs[i]);
            if (res->item[i] == LS_DONE)
                o->seen[k] = o->seen[k] == 500 ? 1 : o->seen[k] + 1;
        }
        pthread_mutex_unlock(&o->mu);
        return any ? LS_PARTIAL : LS_DONE;
    }
    case M_HANG_FIRST:
        if (o->retries_left > 0) {
            o->retries_left--;
            pthread_mutex_unlock(&o->mu);
            usleep(1200000); /* a request that does not return for a while */
            pthread_mutex_lock(&o->mu);
        }
        break;
    case M_DEAD:
        res->http_status = 0;
        snprintf(res->reason, sizeof(res->reason), "connect");
        v = LS_RETRY;
        break;
    }
    if (v == LS_DONE)
        for (size_t i = 0; i < b->n; i++)
            o->seen[num(&b->recs[i])]++;
    pthread_mutex_unlock(&o->mu);
    return v;
}
static void fout_destroy(void *ctx)
{
    (void)ctx;
}
static const struct ls_output_ops fout_ops = { "fake", NULL, fout_flush, fout_destroy };

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/test_pipeline.XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tmpdir_remove(g_dir);
    return 0;
}

struct run {
    struct ls_spool *sp;
    struct ls_pipeline *p;
    struct fsrc src;
    struct ls_source source;
    struct fout outs[2];
};

static void run_setup_bo(struct run *r, unsigned total, uint64_t spool_max, int64_t shutdown_ms,
                         int64_t bo_initial_ms, int64_t bo_max_ms)
{
    char err[256] = "";
    struct ls_spool_opts so = { .dir = g_dir, .max_bytes = spool_max, .max_record_bytes = 4096,
                                .fsync = LS_FSYNC_NEVER };
    r->sp = ls_spool_open(&so, err, sizeof(err));
    assert_non_null(r->sp);
    struct ls_pipeline_opts po = { .spool = r->sp, .batch_bytes = 8192, .batch_wait_ms = 5,
                                   .shutdown_timeout_ms = shutdown_ms, .backoff_initial_ms = bo_initial_ms,
                                   .backoff_max_ms = bo_max_ms, .config_retry_ms = 5, .commit_interval_ms = 10 };
    r->p = ls_pipeline_new(&po, err, sizeof(err));
    assert_non_null(r->p);
    r->src.total = total;
    r->source.ops = &fsrc_ops;
    r->source.ctx = &r->src;
    assert_int_equal(ls_pipeline_add_source(r->p, &r->source), 0);
}

static void run_setup(struct run *r, unsigned total, uint64_t spool_max, int64_t shutdown_ms)
{
    run_setup_bo(r, total, spool_max, shutdown_ms, 1, 5);
}

static void add_out(struct run *r, int i, enum mode m, unsigned retries)
{
    char err[256] = "", name[16];
    struct fout *o = &r->outs[i];
    o->mode = m;
    o->total = r->src.total;
    o->retries_left = retries;
    o->seen = calloc(r->src.total + 1, sizeof(unsigned));
    pthread_mutex_init(&o->mu, NULL);
    snprintf(name, sizeof(name), "out%d", i);
    assert_int_equal(ls_pipeline_add_output(r->p, &fout_ops, o, name, err, sizeof(err)), 0);
}

static int run_it(struct run *r)
{
    volatile sig_atomic_t stop = 0, reopen = 0;
    assert_int_equal(ls_pipeline_start(r->p), 0);
    return ls_pipeline_run(r->p, &stop, &reopen);
}

static void run_free(struct run *r, int nouts)
{
    ls_pipeline_free(r->p);
    ls_spool_close(r->sp);
    for (int i = 0; i < nouts; i++) {
        free(r->outs[i].seen);
        pthread_mutex_destroy(&r->outs[i].mu);
    }
}

static void test_all_delivered_once(void **state)
{
    (void)state;
    struct run r;
    memset(&r, 0, sizeof(r));
    run_setup(&r, 20000, 8u << 20, 10000);
    add_out(&r, 0, M_OK, 0);
    assert_int_equal(run_it(&r), 0);
    for (unsigned i = 0; i < 20000; i++)
        assert_int_equal(r.outs[0].seen[i], 1);
    assert_int_equal(r.src.committed_at, 20000);
    run_free(&r, 1);
}

static void test_retry_then_done(void **state)
{
    (void)state;
    struct run r;
    memset(&r, 0, sizeof(r));
    run_setup(&r, 3000, 8u << 20, 10000);
    add_out(&r, 0, M_RETRY_FIRST, 5);
    assert_int_equal(run_it(&r), 0);
    for (unsigned i = 0; i < 3000; i++)
        assert_int_equal(r.outs[0].seen[i], 1);
    assert_int_equal(r.outs[0].retries_left, 0);
    run_free(&r, 1);
}

static void test_partial_resends_only_retry_items(void **state)
{
    (void)state;
    struct run r;
    memset(&r, 0, sizeof(r));
    run_setup(&r, 2000, 8u << 20, 10000);
    add_out(&r, 0, M_PARTIAL_ODD, 0);
    assert_int_equal(run_it(&r), 0);
    for (unsigned i = 0; i < 2000; i++) {
        if (i % 10 == 0)
            assert_int_equal(r.outs[0].seen[i], 1000); /* dropped, never resent */
        else
            assert_int_equal(r.outs[0].seen[i], 1);    /* delivered exactly once */
    }
    run_free(&r, 1);
}

/* ---- outputs for issue 8: progress after failures, per-item configuration errors ---- */

/* retries_left whole failures (the backoff ceiling doubles), then answers
 * that store one record and ask to retry the rest */
static enum ls_verdict creep_flush(void *ctx, const struct ls_batch *b, struct ls_flush_result *res)
{
    struct fout *o = ctx;
    enum ls_verdict v = LS_DONE;
    pthread_mutex_lock(&o->mu);
    o->calls++;
    if (o->retries_left > 0) {
        o->retries_left--;
        res->http_status = 503;
        v = LS_RETRY;
    } else if (b->n > 1) {
        for (size_t i = 0; i < b->n; i++)
            res->item[i] = i == 0 ? LS_DONE : LS_RETRY;
        o->seen[num(&b->recs[0])]++;
        res->http_status = 200;
        snprintf(res->reason, sizeof(res->reason), "rate_limited");
        v = LS_PARTIAL;
    } else {
        o->seen[num(&b->recs[0])]++;
    }
    pthread_mutex_unlock(&o->mu);
    return v;
}
static const struct ls_output_ops creep_ops = { "creep", NULL, creep_flush, fout_destroy };

static struct ls_pipeline *g_pipe;   /* for outputs that look at the engine's state */
static int g_ready_in_config = -1;   /* ls_pipeline_ready seen by the flush after a config answer */

/* retries_left answers refuse odd records for a configuration reason (as an
 * ES item security_exception does), storing the others; then all is stored */
static enum ls_verdict config_flush(void *ctx, const struct ls_batch *b, struct ls_flush_result *res)
{
    struct fout *o = ctx;
    enum ls_verdict v = LS_DONE;
    pthread_mutex_lock(&o->mu);
    o->calls++;
    if (o->calls == 2 && g_pipe)
        g_ready_in_config = ls_pipeline_ready(g_pipe);
    if (o->retries_left > 0) {
        o->retries_left--;
        size_t nc = 0;
        for (size_t i = 0; i < b->n; i++) {
            unsigned k = num(&b->recs[i]);
            res->item[i] = k % 2 ? LS_CONFIG : LS_DONE;
            nc += k % 2;
        }
        res->fix = "grant the privilege";
        res->http_status = 200;
        v = nc == b->n ? LS_CONFIG : LS_PARTIAL;
    }
    for (size_t i = 0; i < b->n; i++)
        if (v == LS_DONE || res->item[i] == LS_DONE)
            o->seen[num(&b->recs[i])]++;
    pthread_mutex_unlock(&o->mu);
    return v;
}
static const struct ls_output_ops config_ops = { "config", NULL, config_flush, fout_destroy };

static void add_out_ops(struct run *r, int i, const struct ls_output_ops *ops, unsigned retries)
{
    char err[256] = "", name[16];
    struct fout *o = &r->outs[i];
    o->mode = M_OK;
    o->total = r->src.total;
    o->retries_left = retries;
    o->seen = calloc(r->src.total + 1, sizeof(unsigned));
    pthread_mutex_init(&o->mu, NULL);
    snprintf(name, sizeof(name), "out%d", i);
    assert_int_equal(ls_pipeline_add_output(r->p, ops, o, name, err, sizeof(err)), 0);
}

/* After failures doubled the backoff ceiling to 3.2 s (max 60 s), answers
 * that each store one record must restart the backoff: the eleven partial
 * rounds then sleep at most 50 ms each and everything is delivered well
 * within the 20 s shutdown timeout. Kept doubling, they would sleep draws
 * below 3.2, 6.4, 12.8, 25.6, 51.2, 60, ... s (the issue-8 stall). */
static void test_progress_resets_backoff(void **state)
{
    (void)state;
    struct run r;
    memset(&r, 0, sizeof(r));
    run_setup_bo(&r, 12, 8u << 20, 20000, 50, 60000);
    add_out_ops(&r, 0, &creep_ops, 6);
    assert_int_equal(run_it(&r), 0);
    for (unsigned i = 0; i < 12; i++)
        assert_int_equal(r.outs[0].seen[i], 1);
    run_free(&r, 1);
}

/* Elasticsearch-like item 429s: each answer stores the first half (rounded
 * up) of a batch and asks to retry the rest, so a batch of 12 needs four
 * rounds (12, 6, 3, 1), each storing at least as much as it refuses. */
static enum ls_verdict halve_flush(void *ctx, const struct ls_batch *b, struct ls_flush_result *res)
{
    struct fout *o = ctx;
    enum ls_verdict v = LS_DONE;
    size_t keep = (b->n + 1) / 2;
    pthread_mutex_lock(&o->mu);
    o->calls++;
    if (b->n > 1) {
        for (size_t i = 0; i < b->n; i++)
            res->item[i] = i < keep ? LS_DONE : LS_RETRY;
        res->http_status = 200;
        snprintf(res->reason, sizeof(res->reason), "http_429");
        v = LS_PARTIAL;
    } else {
        keep = b->n;
    }
    for (size_t i = 0; i < keep; i++)
        o->seen[num(&b->recs[i])]++;
    pthread_mutex_unlock(&o->mu);
    return v;
}
static const struct ls_output_ops halve_ops = { "halve", NULL, halve_flush, fout_destroy, 1 };

/* An output whose item RETRYs mean a momentarily full queue
 * (resend_soon_on_progress, as Elasticsearch's) gets the leftovers of an
 * answer that stored at least half resent after the batch wait (5 ms), not
 * after a backoff draw: with a 60 s initial backoff the three resends finish
 * in well under the 20 s shutdown timeout. Drawing from the backoff (the
 * old behaviour), the three waits of up to 60 s each would sum to less
 * than 20 s only about once in 160 runs, and the drain would time out. */
static void test_progress_resends_soon(void **state)
{
    (void)state;
    struct run r;
    memset(&r, 0, sizeof(r));
    run_setup_bo(&r, 12, 8u << 20, 20000, 60000, 60000);
    add_out_ops(&r, 0, &halve_ops, 0);
    assert_int_equal(run_it(&r), 0);
    for (unsigned i = 0; i < 12; i++)
        assert_int_equal(r.outs[0].seen[i], 1);
    run_free(&r, 1);
}

static const struct ls_source_ops endless_src_ops = { "endless", fsrc_poll, fsrc_commit, fsrc_wait_fd,
                                                      NULL, fsrc_destroy };

struct cfg_watcher {
    struct ls_pipeline *p;
    struct fout *o;
    unsigned total;
    volatile sig_atomic_t *stop;
    int ready_after;
};

/* Wait (10 s at most) until every record was delivered and /ready is back, then stop. */
static void *watch_cfg_ready(void *arg)
{
    struct cfg_watcher *w = arg;
    for (int i = 0; i < 1000 && w->ready_after != 1; i++) {
        unsigned got = 0;
        pthread_mutex_lock(&w->o->mu);
        for (unsigned k = 0; k < w->total; k++)
            got += w->o->seen[k] == 1;
        pthread_mutex_unlock(&w->o->mu);
        if (got == w->total)
            w->ready_after = ls_pipeline_ready(w->p);
        usleep(10000);
    }
    *w->stop = 1;
    return NULL;
}

/* Items refused for a configuration reason: kept and resent (never
 * dropped), /ready 0 meanwhile, and 1 again once the backend accepts. */
static void test_config_items_not_ready_until_accepted(void **state)
{
    (void)state;
    struct run r;
    memset(&r, 0, sizeof(r));
    run_setup(&r, 100, 8u << 20, 2000);
    r.source.ops = &endless_src_ops;     /* the run ends by stop, so /ready is not shutdown's 0 */
    add_out_ops(&r, 0, &config_ops, 3);
    g_pipe = r.p;
    g_ready_in_config = -1;
    volatile sig_atomic_t stop = 0, reopen = 0;
    struct cfg_watcher w = { r.p, &r.outs[0], 100, &stop, -1 };
    pthread_t th;
    assert_int_equal(ls_pipeline_start(r.p), 0);
    assert_int_equal(pthread_create(&th, NULL, watch_cfg_ready, &w), 0);
    assert_int_equal(ls_pipeline_run(r.p, &stop, &reopen), 0);
    pthread_join(th, NULL);
    g_pipe = NULL;
    assert_int_equal(g_ready_in_config, 0);
    assert_int_equal(w.ready_after, 1);
    for (unsigned i = 0; i < 100; i++)
        assert_int_equal(r.outs[0].seen[i], 1);   /* each stored once, none dropped */
    run_free(&r, 1);
}

static void test_drop_acks_and_flows_on(void **state)
{
    (void)state;
    struct run r;
    memset(&r, 0, sizeof(r));
    run_setup(&r, 3000, 8u << 20, 10000);
    add_out(&r, 0, M_DROP_FIRST, 1);
    assert_int_equal(run_it(&r), 0);
    unsigned zero = 0, one = 0;
    for (unsigned i = 0; i < 3000; i++) {
        zero += r.outs[0].seen[i] == 0;
        one += r.outs[0].seen[i] == 1;
    }
    assert_true(zero > 0);           /* the first batch was dropped */
    assert_int_equal(zero + one, 3000); /* and nothing resent */
    run_free(&r, 1);
}

static void test_fanout_dead_output_does_not_block_live_one(void **state)
{
    (void)state;
    struct run r;
    memset(&r, 0, sizeof(r));
    run_setup(&r, 5000, 8u << 20, 2000);
    add_out(&r, 0, M_OK, 0);
    add_out(&r, 1, M_DEAD, 0);
    /* Data stays in the spool for the dead output: run returns 1. */
    assert_int_equal(run_it(&r), 1);
    for (unsigned i = 0; i < 5000; i++)
        assert_int_equal(r.outs[0].seen[i], 1);
    assert_true(r.outs[1].calls > 1);
    run_free(&r, 2);

    /* Restart with the dead one alive: it catches up on everything, and the
     * other output gets nothing twice. */
    memset(&r, 0, sizeof(r));
    run_setup(&r, 0, 8u << 20, 10000);
    r.src.total = 0;
    add_out(&r, 0, M_OK, 0);
    r.outs[1].total = 5000;
    struct fout *o = &r.outs[1];
    o->mode = M_OK;
    o->seen = calloc(5001, sizeof(unsigned));
    pthread_mutex_init(&o->mu, NULL);
    char err[256];
    assert_int_equal(ls_pipeline_add_output(r.p, &fout_ops, o, "out1", err, sizeof(err)), 0);
    /* A source that is finished from the start ends the run at once: the
     * outputs then drain what the spool holds. */
    assert_int_equal(run_it(&r), 0);
    for (unsigned i = 0; i < 5000; i++)
        assert_int_equal(o->seen[i], 1);
    run_free(&r, 2);
}

static void test_backpressure_small_spool(void **state)
{
    (void)state;
    struct run r;
    memset(&r, 0, sizeof(r));
    /* 64 KiB spool (the minimum for 4 KiB records) and 60k lines (4 MB). */
    run_setup(&r, 60000, 64u << 10, 20000);
    add_out(&r, 0, M_OK, 0);
    assert_int_equal(run_it(&r), 0);
    for (unsigned i = 0; i < 60000; i++)
        assert_int_equal(r.outs[0].seen[i], 1);
    assert_true(ls_spool_bytes(r.sp) <= (64u << 10));
    run_free(&r, 1);
}

static long bad_poll(void *ctx, struct ls_emitter *em, size_t budget)
{
    (void)ctx;
    (void)em;
    (void)budget;
    return -1;
}
static const struct ls_source_ops bad_ops = { "bad", bad_poll, fsrc_commit, fsrc_wait_fd,
                                              fsrc_finished, fsrc_destroy };

struct stopper {
    struct ls_pipeline *p;
    volatile sig_atomic_t *stop;
    int ready_seen;
    unsigned after_us;   /* 0: 300 ms */
};

static int never_finished(void *ctx)
{
    (void)ctx;
    return 0;
}

static void *stop_later(void *arg)
{
    struct stopper *st = arg;
    usleep(st->after_us ? st->after_us : 300000);
    st->ready_seen = ls_pipeline_ready(st->p);
    *st->stop = 1;
    return NULL;
}

static void test_failed_source_keeps_running_not_ready(void **state)
{
    (void)state;
    struct run r;
    memset(&r, 0, sizeof(r));
    run_setup(&r, 10, 8u << 20, 1000);
    struct ls_source bad = { &bad_ops, &r.src };
    assert_int_equal(ls_pipeline_add_source(r.p, &bad), 0);
    add_out(&r, 0, M_OK, 0);
    volatile sig_atomic_t stop = 0, reopen = 0;
    struct stopper st = { r.p, &stop, -1, 0 };
    pthread_t th;
    assert_int_equal(ls_pipeline_start(r.p), 0);
    assert_int_equal(pthread_create(&th, NULL, stop_later, &st), 0);
    /* The good source finishes at once; the failed one must not end the run. */
    assert_int_equal(ls_pipeline_run(r.p, &stop, &reopen), 0);
    pthread_join(th, NULL);
    assert_int_equal(st.ready_seen, 0);
    assert_int_equal(stop, 1);
    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(r.outs[0].seen[i], 1);
    run_free(&r, 1);
}

/* ---- in-flight marks: which records a batch says may be at the backend already ---- */
struct mout {
    int    fail;                 /* answer RETRY to everything */
    size_t calls, first_n, first_maybe, later_maybe_short;
};

static enum ls_verdict mout_flush(void *ctx, const struct ls_batch *b, struct ls_flush_result *res)
{
    struct mout *o = ctx;
    if (o->calls++ == 0) {
        o->first_n = b->n;
        o->first_maybe = b->n_maybe_sent;
    } else if (o->fail && b->n_maybe_sent != b->n) {
        o->later_maybe_short++; /* a resend of the same batch must be all maybe-sent */
    }
    if (!o->fail)
        return LS_DONE;
    res->http_status = 503;
    return LS_RETRY;
}

static const struct ls_output_ops mout_ops = { "fake", NULL, mout_flush, fout_destroy };

static void test_maybe_sent_after_retry_and_restart(void **state)
{
    (void)state;
    char err[256] = "";
    for (int run = 0; run < 2; run++) {
        static struct mout first;
        struct mout o = { .fail = run == 0 };
        struct fsrc src = { .next = run ? 300 : 0, .total = run ? 400 : 300 };
        struct ls_source source = { &fsrc_ops, &src };
        struct ls_spool_opts so = { .dir = g_dir, .max_bytes = 8u << 20, .max_record_bytes = 4096,
                                    .fsync = LS_FSYNC_NEVER };
        struct ls_spool *sp = ls_spool_open(&so, err, sizeof(err));
        assert_non_null(sp);
        /* the second run reads bigger batches, so its first batch holds more than was in flight */
        struct ls_pipeline_opts po = { .spool = sp, .batch_bytes = run ? 65536 : 2048, .batch_wait_ms = 5,
                                       .shutdown_timeout_ms = run ? 10000 : 300, .backoff_initial_ms = 1,
                                       .backoff_max_ms = 5, .config_retry_ms = 5, .commit_interval_ms = 10 };
        struct ls_pipeline *p = ls_pipeline_new(&po, err, sizeof(err));
        assert_non_null(p);
        assert_int_equal(ls_pipeline_add_source(p, &source), 0);
        assert_int_equal(ls_pipeline_add_output(p, &mout_ops, &o, "m", err, sizeof(err)), 0);
        volatile sig_atomic_t stop = 0, reopen = 0;
        assert_int_equal(ls_pipeline_start(p), 0);
        int rc = ls_pipeline_run(p, &stop, &reopen);
        ls_pipeline_free(p);
        ls_spool_close(sp);
        assert_int_equal(o.later_maybe_short, 0);
        if (run == 0) {
            assert_int_not_equal(rc, 0);      /* stopped with the batch never acknowledged */
            assert_true(o.calls > 1);
            assert_int_equal(o.first_maybe, 0);
            first = o;
        } else {
            assert_int_equal(rc, 0);
            assert_true(o.first_n > first.first_n);
            assert_int_equal(o.first_maybe, first.first_n); /* exactly what was in flight */
        }
    }
}

/* ---- a source that fails its first polls, then reads like fsrc ---- */
struct flaky {
    struct fsrc inner;
    unsigned fails_left, polls_failed;
};
static long flaky_poll(void *ctx, struct ls_emitter *em, size_t budget)
{
    struct flaky *f = ctx;
    if (f->fails_left > 0) {
        f->fails_left--;
        f->polls_failed++;
        return -1;
    }
    return fsrc_poll(&f->inner, em, budget);
}
static int flaky_finished(void *ctx)
{
    struct flaky *f = ctx;
    return f->fails_left == 0 && fsrc_finished(&f->inner);
}
static const struct ls_source_ops flaky_ops = { "flaky", flaky_poll, fsrc_commit, fsrc_wait_fd,
                                                flaky_finished, fsrc_destroy };

struct watcher {
    struct ls_pipeline *p;
    int ready_low, ready_high, health_low, out1_flagged;
    char why[256];
    volatile int done;
};

static void *watch(void *arg)
{
    struct watcher *w = arg;
    while (!w->done) {
        char why[256] = "";
        int rd = ls_pipeline_ready(w->p);
        if (rd)
            w->ready_high = 1;
        else
            w->ready_low = 1;
        if (!ls_pipeline_health(w->p, why, sizeof(why))) {
            if (strstr(why, "out1"))
                w->out1_flagged = 1;
            if (!w->health_low) {
                w->health_low = 1;
                snprintf(w->why, sizeof(w->why), "%s", why);
            }
        }
        usleep(20000);
    }
    return NULL;
}

/* A source whose poll fails is retried with backoff (not ready meanwhile),
 * then everything it has is delivered. */
static void test_failing_source_is_retried_not_abandoned(void **state)
{
    (void)state;
    struct run r;
    memset(&r, 0, sizeof(r));
    run_setup(&r, 0, 8u << 20, 10000);
    struct flaky f;
    memset(&f, 0, sizeof(f));
    f.inner.total = 500;
    f.fails_left = 2;
    struct ls_source fs = { &flaky_ops, &f };
    assert_int_equal(ls_pipeline_add_source(r.p, &fs), 0);
    r.src.total = 500; /* add_out sizes seen[] from it; the fake source itself is finished */
    add_out(&r, 0, M_OK, 0);
    r.src.total = 0;
    struct watcher w = { .p = r.p };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, watch, &w), 0);
    assert_int_equal(run_it(&r), 0);
    w.done = 1;
    pthread_join(th, NULL);
    assert_int_equal(f.polls_failed, 2);
    assert_int_equal(w.ready_low, 1);
    for (unsigned i = 0; i < 500; i++)
        assert_int_equal(r.outs[0].seen[i], 1);
    run_free(&r, 1);
}

/* stdin-like sources (drain_on_stop) are read to their end after a stop. */
static void test_drain_on_stop_source_read_to_end(void **state)
{
    (void)state;
    struct run r;
    memset(&r, 0, sizeof(r));
    run_setup(&r, 3000, 8u << 20, 10000);
    r.source.drain_on_stop = 1;
    add_out(&r, 0, M_OK, 0);
    volatile sig_atomic_t stop = 1, reopen = 0; /* stopped before reading anything */
    assert_int_equal(ls_pipeline_start(r.p), 0);
    assert_int_equal(ls_pipeline_run(r.p, &stop, &reopen), 0);
    for (unsigned i = 0; i < 3000; i++)
        assert_int_equal(r.outs[0].seen[i], 1);
    run_free(&r, 1);

    /* A second signal (stop == 2) skips it: nothing is read. */
    memset(&r, 0, sizeof(r));
    run_setup(&r, 3000, 8u << 20, 10000);
    r.source.drain_on_stop = 1;
    add_out(&r, 0, M_OK, 0);
    stop = 2;
    assert_int_equal(ls_pipeline_start(r.p), 0);
    assert_int_equal(ls_pipeline_run(r.p, &stop, &reopen), 0);
    assert_int_equal(r.src.next, 0);
    run_free(&r, 1);
}

/* An output whose flush does not return for longer than stall_timeout_ms
 * makes ls_pipeline_health report it; backing off from a dead backend does not. */
static void test_health_reports_a_hung_output_not_a_dead_backend(void **state)
{
    (void)state;
    char err[256] = "";
    struct run r;
    memset(&r, 0, sizeof(r));
    struct ls_spool_opts so = { .dir = g_dir, .max_bytes = 8u << 20, .max_record_bytes = 4096,
                                .fsync = LS_FSYNC_NEVER };
    r.sp = ls_spool_open(&so, err, sizeof(err));
    assert_non_null(r.sp);
    struct ls_pipeline_opts po = { .spool = r.sp, .batch_bytes = 8192, .batch_wait_ms = 5,
                                   .shutdown_timeout_ms = 1000, .backoff_initial_ms = 50,
                                   .backoff_max_ms = 100, .commit_interval_ms = 10,
                                   .stall_timeout_ms = 300 };
    r.p = ls_pipeline_new(&po, err, sizeof(err));
    assert_non_null(r.p);
    r.src.total = 200;
    static struct ls_source_ops endless_ops;
    endless_ops = fsrc_ops;
    endless_ops.finished = never_finished; /* like a followed file: the run ends on stop */
    r.source.ops = &endless_ops;
    r.source.ctx = &r.src;
    assert_int_equal(ls_pipeline_add_source(r.p, &r.source), 0);
    add_out(&r, 0, M_HANG_FIRST, 1);
    add_out(&r, 1, M_DEAD, 0);
    struct watcher w = { .p = r.p };
    pthread_t th;
    assert_int_equal(ls_pipeline_start(r.p), 0);
    assert_int_equal(pthread_create(&th, NULL, watch, &w), 0);
    volatile sig_atomic_t stop = 0, reopen = 0;
    struct stopper st = { r.p, &stop, -1, 1800000 };
    pthread_t th2;
    assert_int_equal(pthread_create(&th2, NULL, stop_later, &st), 0);
    /* out1 is dead: data stays in the spool (1) */
    assert_int_equal(ls_pipeline_run(r.p, &stop, &reopen), 1);
    pthread_join(th2, NULL);
    w.done = 1;
    pthread_join(th, NULL);
    assert_int_equal(w.health_low, 1);
    assert_non_null(strstr(w.why, "out0"));
    assert_int_equal(w.out1_flagged, 0); /* retrying a dead backend is not stuck */
    for (unsigned i = 0; i < 200; i++)
        assert_int_equal(r.outs[0].seen[i], 1);
    run_free(&r, 2);
}

int main(void)
{
    log_init("test", 2, NULL, LOGL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_all_delivered_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_then_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_resends_only_retry_items, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_resets_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_resends_soon, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_items_not_ready_until_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop_acks_and_flows_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fanout_dead_output_does_not_block_live_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backpressure_small_spool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_source_keeps_running_not_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_maybe_sent_after_retry_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_source_is_retried_not_abandoned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain_on_stop_source_read_to_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_reports_a_hung_output_not_a_dead_backend, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
