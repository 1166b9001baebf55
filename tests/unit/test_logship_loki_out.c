/* test_logship_loki_out: the Loki output's flush verdicts against the Loki receiver (partial 400s, 429/5xx/401, splitting, per-record verdicts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "logship/core/output.h"
#include "loki_harness.h"

#include "logship/out/out_loki.h"

static struct rx RX;

static int setup(void **st)
{
    (void)st;
    return rx_start(&RX, NULL);
}

static int teardown(void **st)
{
    (void)st;
    rx_stop(&RX);
    return 0;
}

static int reset(void **st)
{
    (void)st;
    return rx_do(&RX, "reset", NULL);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#define MAXR 4096
static struct ls_record R[MAXR];
static char LINES[MAXR][256];
static enum ls_verdict ITEMS[MAXR];

static void mk(size_t i, const char *labels, int64_t ts, size_t len)
{
    memset(&R[i], 0, sizeof(R[i]));
    R[i].seq = i;
    R[i].labels = labels;
    R[i].labels_len = strlen(labels);
    R[i].ts_ns = ts;
    int n = snprintf(LINES[i], sizeof(LINES[i]), "line %zu ", i);
    while ((size_t)n < len && (size_t)n < sizeof(LINES[i]) - 1)
        LINES[i][n++] = 'x';
    LINES[i][n] = '\0';
    R[i].line = LINES[i];
    R[i].line_len = (size_t)n;
}

static void *make(const char *url, const char *encoding, int compress, uint64_t batch_bytes, const char *tenant)
{
    static struct ls_output_conf c;
    static struct ls_loki_settings own;
    memset(&c, 0, sizeof(c));
    own.encoding = encoding && strcmp(encoding, "json") == 0 ? LS_LOKI_JSON : LS_LOKI_PROTOBUF;
    own.tenant = (char *)tenant;
    c.name = "loki";
    c.url = url;
    c.settings = &own;
    c.compress = compress;
    c.batch_bytes = batch_bytes;
    c.request_timeout_ms = 5000;
    char err[256] = "";
    void *o = ls_output_loki.create(&c, err, sizeof(err));
    if (!o)
        fail_msg("create: %s", err);
    return o;
}

/* Flush R[0..n), the first nm marked maybe-sent (sent before, never acknowledged). */
static enum ls_verdict flush_m(void *o, size_t n, size_t nm, struct ls_flush_result *res)
{
    struct ls_batch b = { R, n, nm };
    memset(res, 0, sizeof(*res));
    res->retry_after_ms = -1;
    for (size_t i = 0; i < n; i++)
        ITEMS[i] = LS_DONE;
    res->item = ITEMS;
    return ls_output_loki.flush(o, &b, res);
}

static enum ls_verdict flush(void *o, size_t n, struct ls_flush_result *res)
{
    return flush_m(o, n, 0, res);
}

static const char A[] = "{level=\"info\",service=\"hello\"}";
static const char B[] = "{level=\"warn\",service=\"hello\"}";

static void check_roundtrip(const char *enc, int gz, const char *expect_ctype, const char *expect_cenc)
{
    void *o = make(RX.url, enc, gz, 0, "team-a");
    int64_t t = now_ns();
    for (size_t i = 0; i < 50; i++)
        mk(i, i % 3 ? A : B, t + (int64_t)i, 100);
    struct ls_flush_result res;
    assert_int_equal(flush(o, 50, &res), LS_DONE);
    assert_int_equal(rx_state_int(&RX, "stored"), 50);
    char v[128];
    assert_int_equal(rx_request_field(&RX, 0, "X-Scope-OrgID", NULL, v, sizeof(v)), 0);
    assert_string_equal(v, "team-a");
    assert_int_equal(rx_request_field(&RX, 0, "Content-Type", NULL, v, sizeof(v)), 0);
    assert_string_equal(v, expect_ctype);
    if (expect_cenc) {
        assert_int_equal(rx_request_field(&RX, 0, "Content-Encoding", NULL, v, sizeof(v)), 0);
        assert_string_equal(v, expect_cenc);
    } else {
        assert_int_not_equal(rx_request_field(&RX, 0, "Content-Encoding", NULL, v, sizeof(v)), 0);
    }
    /* the same batch again: Loki stores exact duplicates once */
    assert_int_equal(flush(o, 50, &res), LS_DONE);
    assert_int_equal(rx_state_int(&RX, "stored"), 50);
    ls_output_loki.destroy(o);
}

static void test_protobuf(void **st)
{
    (void)st;
    check_roundtrip("protobuf", 1, "application/x-protobuf", NULL);
}

static void test_json_gzip(void **st)
{
    (void)st;
    check_roundtrip("json", 1, "application/json", "gzip");
}

static void test_json_plain(void **st)
{
    (void)st;
    check_roundtrip("json", 0, "application/json", NULL);
}

static void test_url_forms(void **st)
{
    (void)st;
    char u1[200], u2[200];
    snprintf(u1, sizeof(u1), "%s/", RX.url);
    snprintf(u2, sizeof(u2), "%s/loki/api/v1/push", RX.url);
    const char *urls[] = { u1, u2 };
    int64_t t = now_ns();
    for (int k = 0; k < 2; k++) {
        void *o = make(urls[k], NULL, 1, 0, NULL);
        mk(0, A, t + k, 10);
        struct ls_flush_result res;
        assert_int_equal(flush(o, 1, &res), LS_DONE);
        ls_output_loki.destroy(o);
    }
    assert_int_equal(rx_state_int(&RX, "stored"), 2);
    char err[256];
    struct ls_output_conf bad = { .name = "loki", .url = "ftp://x" };
    assert_null(ls_output_loki.create(&bad, err, sizeof(err)));
    struct ls_loki_settings xml = { .encoding = 7 }, ctl = { .tenant = "a\nb" };
    struct ls_output_conf bad2 = { .name = "loki", .url = RX.url, .settings = &xml };
    assert_null(ls_output_loki.create(&bad2, err, sizeof(err)));
    struct ls_output_conf bad3 = { .name = "loki", .url = RX.url, .settings = &ctl };
    assert_null(ls_output_loki.create(&bad3, err, sizeof(err)));
    ls_output_loki.destroy(NULL);
}

/* A partial 400 ("entry too far behind"): dropped = N of Loki's "N out of M", the rest stored. */
static void test_partial_400_too_far_behind(void **st)
{
    (void)st;
    void *o = make(RX.url, "protobuf", 1, 0, NULL);
    int64_t t = now_ns();
    mk(0, A, t, 10);
    struct ls_flush_result res;
    assert_int_equal(flush(o, 1, &res), LS_DONE);
    mk(0, A, t - 2 * 3600 * INT64_C(1000000000), 10);  /* two hours behind the stream's newest */
    mk(1, A, t - 3 * 3600 * INT64_C(1000000000), 10);
    mk(2, A, t + 1, 10);
    mk(3, B, t - 2 * 3600 * INT64_C(1000000000), 10);  /* another stream: fine */
    assert_int_equal(flush(o, 4, &res), LS_DROP);
    assert_string_equal(res.reason, "too_far_behind");
    assert_int_equal(res.dropped, 2);
    assert_int_equal(res.http_status, 400);
    assert_non_null(strstr(res.detail, "total ignored: 2 out of 3"));
    assert_int_equal(rx_state_int(&RX, "stored"), 3);
    ls_output_loki.destroy(o);
}

/* A 400 that does not say how many: estimated by Loki's default limits. */
static void test_400_too_new_estimated(void **st)
{
    (void)st;
    void *o = make(RX.url, "json", 1, 0, NULL);
    int64_t t = now_ns();
    mk(0, A, t, 10);
    mk(1, A, t + 3600 * INT64_C(1000000000), 10);
    mk(2, A, t + 2, 10);
    struct ls_flush_result res;
    assert_int_equal(flush(o, 3, &res), LS_DROP);
    assert_string_equal(res.reason, "too_new");
    assert_int_equal(res.dropped, 1);
    assert_int_equal(rx_state_int(&RX, "stored"), 2);
    ls_output_loki.destroy(o);
}

static void test_retry_and_config_statuses(void **st)
{
    (void)st;
    void *o = make(RX.url, "protobuf", 1, 0, NULL);
    mk(0, A, now_ns(), 10);
    struct ls_flush_result res;
    assert_int_equal(rx_do(&RX, "fail", "{\"n\":1,\"status\":429}"), 0);
    assert_int_equal(flush(o, 1, &res), LS_RETRY);
    assert_string_equal(res.reason, "rate_limited");
    assert_int_equal(res.http_status, 429);
    assert_int_equal(res.retry_after_ms, -1);
    assert_int_equal(rx_do(&RX, "fail", "{\"n\":1,\"status\":429,\"retry_after\":\"2\"}"), 0);
    assert_int_equal(flush(o, 1, &res), LS_RETRY);
    assert_int_equal(res.retry_after_ms, 2000);
    assert_int_equal(rx_do(&RX, "fail", "{\"n\":1,\"status\":500}"), 0);
    assert_int_equal(flush(o, 1, &res), LS_RETRY);
    assert_string_equal(res.reason, "server_error");
    assert_int_equal(rx_do(&RX, "fail", "{\"n\":1,\"status\":401,\"body\":\"no org id\"}"), 0);
    assert_int_equal(flush(o, 1, &res), LS_CONFIG);
    assert_string_equal(res.detail, "no org id");
    assert_int_equal(rx_do(&RX, "fail", "{\"n\":1,\"status\":413}"), 0);
    assert_int_equal(flush(o, 1, &res), LS_DROP);
    assert_int_equal(res.dropped, 1);
    assert_int_equal(rx_state_int(&RX, "stored"), 0);
    assert_int_equal(flush(o, 1, &res), LS_DONE);
    assert_int_equal(rx_state_int(&RX, "stored"), 1);
    ls_output_loki.destroy(o);
}

static void test_timeout_and_refused(void **st)
{
    (void)st;
    static struct ls_output_conf c;
    memset(&c, 0, sizeof(c));
    c.name = "loki";
    c.url = RX.url;
    c.request_timeout_ms = 300;
    char err[256];
    void *o = ls_output_loki.create(&c, err, sizeof(err));
    assert_non_null(o);
    mk(0, A, now_ns(), 10);
    struct ls_flush_result res;
    assert_int_equal(rx_do(&RX, "delay", "{\"seconds\":1.5}"), 0);
    assert_int_equal(flush(o, 1, &res), LS_RETRY);
    assert_string_equal(res.reason, "timeout");
    assert_int_equal(res.http_status, 0);
    assert_int_equal(rx_do(&RX, "delay", "{\"seconds\":0}"), 0);
    ls_output_loki.destroy(o);
    c.url = "http://127.0.0.1:1";
    o = ls_output_loki.create(&c, err, sizeof(err));
    assert_non_null(o);
    assert_int_equal(flush(o, 1, &res), LS_RETRY);
    assert_string_equal(res.reason, "connection");
    assert_true(strlen(res.detail) > 0);
    ls_output_loki.destroy(o);
}

/* batch_bytes bounds what Loki decodes: a batch that encodes larger goes as several pushes. */
static void test_split_to_batch_bytes(void **st)
{
    (void)st;
    void *o = make(RX.url, "json", 0, 4096, NULL);
    int64_t t = now_ns();
    for (size_t i = 0; i < 200; i++)
        mk(i, i % 2 ? A : B, t + (int64_t)i, 200);
    struct ls_flush_result res;
    assert_int_equal(flush(o, 200, &res), LS_DONE);
    assert_int_equal(rx_state_int(&RX, "stored"), 200);
    long n = rx_requests(&RX);
    assert_true(n >= 10);
    for (long k = 0; k < n; k++) {
        char v[32];
        assert_int_equal(rx_request_field(&RX, (size_t)k, NULL, "decoded_bytes", v, sizeof(v)), 0);
        assert_true(strtol(v, NULL, 10) <= 4096);
    }
    ls_output_loki.destroy(o);
}

/* Split pushes where a later one is rate limited: per-record verdicts, earlier pushes DONE. */
static void test_partial_when_later_push_rate_limited(void **st)
{
    (void)st;
    void *o = make(RX.url, "protobuf", 1, 4096, NULL);
    int64_t t = now_ns();
    for (size_t i = 0; i < 100; i++)
        mk(i, A, t + (int64_t)i, 200);
    /* the bucket admits about one push (<= ~4 KB of lines), then nothing for a long while */
    assert_int_equal(rx_do(&RX, "rate_limit", "{\"bytes_per_sec\":1,\"burst\":4200}"), 0);
    struct ls_flush_result res;
    assert_int_equal(flush(o, 100, &res), LS_PARTIAL);
    long stored = rx_state_int(&RX, "stored");
    assert_true(stored > 0 && stored < 100);
    size_t done = 0, retry = 0;
    for (size_t i = 0; i < 100; i++) {
        if (ITEMS[i] == LS_DONE)
            done++;
        else if (ITEMS[i] == LS_RETRY)
            retry++;
    }
    assert_int_equal(done, (size_t)stored);
    assert_int_equal(retry, 100 - (size_t)stored);
    /* in time order: what was stored is the oldest */
    for (size_t i = 0; i < 100; i++)
        assert_int_equal(ITEMS[i], i < (size_t)stored ? LS_DONE : LS_RETRY);
    assert_string_equal(res.reason, "rate_limited");
    assert_int_equal(res.http_status, 429);
    assert_int_equal(rx_do(&RX, "rate_limit", "{\"bytes_per_sec\":null}"), 0);
    ls_output_loki.destroy(o);
}

/* 413 from a proxy: the output halves its pushes instead of dropping, and keeps the smaller bound. */
static void test_413_halves_pushes(void **st)
{
    (void)st;
    void *o = make(RX.url, "protobuf", 1, 0, NULL);
    int64_t t = now_ns();
    for (size_t i = 0; i < 64; i++)
        mk(i, i % 2 ? A : B, t + (int64_t)i, 200);
    struct ls_flush_result res;
    assert_int_equal(rx_do(&RX, "fail", "{\"n\":2,\"status\":413}"), 0);
    assert_int_equal(flush(o, 64, &res), LS_DONE);
    assert_int_equal(rx_state_int(&RX, "stored"), 64);
    long n = rx_requests(&RX);
    assert_true(n >= 5); /* 413, 413, then at least quarters */
    /* the next batch goes in small pushes from the start */
    for (size_t i = 0; i < 64; i++)
        mk(i, A, t + 100 + (int64_t)i, 200);
    assert_int_equal(flush(o, 64, &res), LS_DONE);
    assert_true(rx_requests(&RX) - n >= 4);
    assert_int_equal(rx_state_int(&RX, "stored"), 128);
    ls_output_loki.destroy(o);
}

/* Records whose label string is not valid are dropped and counted; the rest goes. */
static void test_bad_labels_dropped(void **st)
{
    (void)st;
    void *o = make(RX.url, "protobuf", 1, 0, NULL);
    int64_t t = now_ns();
    mk(0, A, t, 10);
    mk(1, "not a label set", t + 1, 10);
    mk(2, A, t + 2, 10);
    struct ls_flush_result res;
    assert_int_equal(flush(o, 3, &res), LS_DROP);
    assert_string_equal(res.reason, "bad_labels");
    assert_int_equal(res.dropped, 1);
    assert_int_equal(rx_state_int(&RX, "stored"), 2);
    /* with the push itself failing, the bad one is dropped and the rest retried */
    assert_int_equal(rx_do(&RX, "fail", "{\"n\":1,\"status\":503}"), 0);
    assert_int_equal(flush(o, 3, &res), LS_PARTIAL);
    assert_int_equal(ITEMS[0], LS_RETRY);
    assert_int_equal(ITEMS[1], LS_DROP);
    assert_int_equal(ITEMS[2], LS_RETRY);
    ls_output_loki.destroy(o);
}

/* Maybe-sent entries Loki holds are not sent again; the others are. Paged: 2,500
 * entries in groups of 7 sharing a timestamp, so page cuts fall inside groups. */
static void test_maybe_sent_checked_with_the_query_api(void **st)
{
    (void)st;
    void *o = make(RX.url, "protobuf", 1, 0, "team-q");
    int64_t t = now_ns() - 60 * INT64_C(1000000000);
    const size_t n = 2500, stored = 1700;
    for (size_t i = 0; i < n; i++)
        mk(i, i % 5 ? A : B, t + (int64_t)(i / 7), 40);
    struct ls_flush_result res;
    assert_int_equal(flush(o, stored, &res), LS_DONE);  /* a push whose answer was lost */
    long reqs = rx_requests(&RX);
    assert_int_equal(flush_m(o, n, n, &res), LS_DONE);
    assert_int_equal(res.duplicates, stored);
    assert_int_equal(res.maybe_duplicates, 0);
    assert_int_equal(rx_state_int(&RX, "stored"), (long)n);
    assert_int_equal(rx_state_int(&RX, "duplicates"), 0);       /* no replay reached Loki */
    assert_true(rx_state_int(&RX, "query_requests") >= 3);      /* two streams, paged */
    assert_int_equal(rx_requests(&RX) - reqs, 2);               /* one push per stream */
    /* everything held: nothing is pushed */
    reqs = rx_requests(&RX);
    assert_int_equal(flush_m(o, n, n, &res), LS_DONE);
    assert_int_equal(res.duplicates, n);
    assert_int_equal(rx_requests(&RX), reqs);
    ls_output_loki.destroy(o);
}

/* The query API refused: resend as before and count what could not be checked. */
static void test_maybe_sent_unchecked_counted(void **st)
{
    (void)st;
    void *o = make(RX.url, "json", 1, 0, NULL);
    int64_t t = now_ns();
    for (size_t i = 0; i < 30; i++)
        mk(i, A, t + (int64_t)i, 40);
    struct ls_flush_result res;
    assert_int_equal(flush(o, 10, &res), LS_DONE);
    assert_int_equal(rx_do(&RX, "query_status", "{\"status\":404}"), 0);
    /* an outage: nothing taken, so nothing counted yet (not once per retry) */
    assert_int_equal(rx_do(&RX, "fail", "{\"n\":1,\"status\":503}"), 0);
    assert_int_equal(flush_m(o, 30, 20, &res), LS_RETRY);
    assert_int_equal(res.maybe_duplicates, 0);
    assert_int_equal(flush_m(o, 30, 20, &res), LS_DONE);
    assert_int_equal(res.duplicates, 0);
    assert_int_equal(res.maybe_duplicates, 20);
    assert_int_equal(rx_state_int(&RX, "duplicates"), 10);      /* the replays reached Loki */
    assert_int_equal(rx_do(&RX, "query_status", "{\"status\":null}"), 0);
    ls_output_loki.destroy(o);
}

/* A per-stream 429 that lists all it ignored: only those are retried, the rest is done. */
static void test_stream_429_retries_only_the_listed(void **st)
{
    (void)st;
    void *o = make(RX.url, "protobuf", 1, 0, NULL);
    int64_t t = now_ns();
    for (size_t i = 0; i < 20; i++)
        mk(i, A, t + (int64_t)i, 100);
    /* room for about 15 of 20 lines: 5 ignored, all listed */
    assert_int_equal(rx_do(&RX, "limits", "{\"per_stream_rate_bytes\":1,\"per_stream_burst_bytes\":1500}"), 0);
    struct ls_flush_result res;
    assert_int_equal(flush(o, 20, &res), LS_PARTIAL);
    long stored = rx_state_int(&RX, "stored");
    assert_true(stored > 10 && stored < 20);
    for (size_t i = 0; i < 20; i++)
        assert_int_equal(ITEMS[i], i < (size_t)stored ? LS_DONE : LS_RETRY);
    assert_string_equal(res.reason, "stream_rate_limited");
    assert_int_equal(rx_state_int(&RX, "query_requests"), 0);   /* the body said it all */
    assert_int_equal(rx_do(&RX, "limits", "{\"per_stream_rate_bytes\":3145728,\"per_stream_burst_bytes\":15728640}"), 0);
    ls_output_loki.destroy(o);
}

/* Two streams where Loki reports only the last: the first stream's rejection is not lost. */
static void test_each_stream_reported(void **st)
{
    (void)st;
    void *o = make(RX.url, "protobuf", 1, 0, NULL);
    int64_t t = now_ns();
    mk(0, A, t, 10);
    struct ls_flush_result res;
    assert_int_equal(flush(o, 1, &res), LS_DONE);
    mk(0, A, t - 2 * 3600 * INT64_C(1000000000), 10);  /* too far behind in A */
    mk(1, B, t, 10);                                     /* B is fine and would be last */
    assert_int_equal(flush(o, 2, &res), LS_DROP);
    assert_int_equal(res.dropped, 1);
    assert_string_equal(res.reason, "too_far_behind");
    ls_output_loki.destroy(o);
}

/* The distributor's 400 names one reason for a push refused for several: counted
 * exactly (the query API shows what was stored) and as "mixed". A whole-push 400
 * (bad body) is the whole push under its reason, with no lookup. */
static void test_mixed_400_counted_as_mixed(void **st)
{
    (void)st;
    void *o = make(RX.url, "protobuf", 1, 0, NULL);
    int64_t t = now_ns(), day = 86400 * INT64_C(1000000000);
    mk(0, A, t - 8 * day, 10);   /* too old */
    mk(1, A, t - 8 * day + 1, 10);
    mk(2, A, t, 10);
    mk(3, A, t + day, 10);       /* too new: the body names only this one */
    struct ls_flush_result res;
    assert_int_equal(flush(o, 4, &res), LS_DROP);
    assert_int_equal(res.dropped, 3);
    assert_string_equal(res.reason, "mixed");
    assert_int_equal(rx_state_int(&RX, "stored"), 1);
    /* all rejected for the reason named: that reason */
    mk(0, B, t + day, 10);
    mk(1, B, t + day + 1, 10);
    mk(2, B, t, 10);
    assert_int_equal(flush(o, 3, &res), LS_DROP);
    assert_int_equal(res.dropped, 2);
    assert_string_equal(res.reason, "too_new");
    long q = rx_state_int(&RX, "query_requests");
    assert_int_equal(rx_do(&RX, "fail", "{\"n\":1,\"status\":400,\"body\":\"snappy: corrupt input\"}"), 0);
    assert_int_equal(flush(o, 3, &res), LS_DROP);
    assert_int_equal(res.dropped, 3);
    assert_string_equal(res.reason, "bad_body");
    assert_int_equal(rx_state_int(&RX, "query_requests"), q);
    ls_output_loki.destroy(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_protobuf, reset),
        cmocka_unit_test_setup(test_json_gzip, reset),
        cmocka_unit_test_setup(test_json_plain, reset),
        cmocka_unit_test_setup(test_url_forms, reset),
        cmocka_unit_test_setup(test_partial_400_too_far_behind, reset),
        cmocka_unit_test_setup(test_400_too_new_estimated, reset),
        cmocka_unit_test_setup(test_retry_and_config_statuses, reset),
        cmocka_unit_test_setup(test_timeout_and_refused, reset),
        cmocka_unit_test_setup(test_split_to_batch_bytes, reset),
        cmocka_unit_test_setup(test_partial_when_later_push_rate_limited, reset),
        cmocka_unit_test_setup(test_bad_labels_dropped, reset),
        cmocka_unit_test_setup(test_413_halves_pushes, reset),
        cmocka_unit_test_setup(test_maybe_sent_checked_with_the_query_api, reset),
        cmocka_unit_test_setup(test_maybe_sent_unchecked_counted, reset),
        cmocka_unit_test_setup(test_stream_429_retries_only_the_listed, reset),
        cmocka_unit_test_setup(test_each_stream_reported, reset),
        cmocka_unit_test_setup(test_mixed_400_counted_as_mixed, reset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
