/* test_logship_loki_resp: Loki's status → verdict table and the reading of its 400 bodies (bodies as a real Loki 2.8 wrote them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "logship/out/loki_resp.h"

static const char PARTIAL[] =
    "entry with timestamp 2026-11-27 20:57:14.967224927 +0000 UTC ignored, reason: 'entry too far behind, "
    "oldest acceptable timestamp is: 2026-11-27T22:57:15Z' for stream: {job=\"test\"}, user 'fake', "
    "total ignored: 1 out of 2\n";
static const char TOO_NEW[] = "entry for stream '{job=\"test-future\"}' has timestamp too new: 2026-11-28T00:57:14Z\n";
static const char TOO_OLD[] = "entry for stream '{job=\"x\"}' has timestamp too old: 2026-11-01T00:00:00Z, "
                              "oldest acceptable timestamp is: 2026-11-20T00:00:00Z\n";
static const char TOO_LONG[] = "Max entry size '262144' bytes exceeded for stream '{job=\"test-big\"}' while adding "
                               "an entry with length '307200' bytes\n";
static const char NO_LABELS[] = "error at least one label pair is required per stream\n";
static const char BAD_JSON[] = "loghttp.PushRequest.Streams: []*loghttp.Stream: ReadObjectCB: object not ended "
                               "with }, error found in #10 byte of ...|{\"streams\"|...\n";
static const char SNAPPY[] = "snappy: corrupt input\n";
static const char RATE[] = "Ingestion rate limit exceeded for user fake (limit: 52428 bytes/sec) while attempting to "
                           "ingest '60' lines totaling '61440' bytes, reduce log volume or contact your Loki "
                           "administrator to see if the limit can be increased\n";

static enum ls_verdict judge(long status, const char *body, size_t n, struct ls_flush_result *res)
{
    struct ls_loki_answer a;
    memset(&a, 0, sizeof(a));
    memset(res, 0x5a, sizeof(*res)); /* the verdict must fill what it reports */
    a.status = status;
    a.body = body;
    a.body_len = body ? strlen(body) : 0;
    a.retry_after_ms = -1;
    return ls_loki_verdict(&a, n, res, NULL);
}

static void test_success(void **st)
{
    (void)st;
    struct ls_flush_result r;
    assert_int_equal(judge(204, "", 10, &r), LS_DONE);
    assert_int_equal(r.http_status, 204);
    assert_int_equal(r.dropped, 0);
    assert_int_equal(judge(200, NULL, 10, &r), LS_DONE);
    assert_string_equal(r.detail, "");
}

static void test_400_partial_counts_and_reason(void **st)
{
    (void)st;
    struct ls_flush_result r;
    assert_int_equal(judge(400, PARTIAL, 2, &r), LS_DROP);
    assert_string_equal(r.reason, "too_far_behind");
    assert_int_equal(r.dropped, 1);
    assert_int_equal(r.http_status, 400);
    assert_int_equal(strncmp(r.detail, "entry with timestamp", 20), 0);
    assert_int_not_equal(r.detail[strlen(r.detail) - 1], '\n');
    /* N larger than the batch cannot be: clamp */
    assert_int_equal(judge(400, PARTIAL, 0, &r), LS_DROP);
    assert_int_equal(r.dropped, 0);
}

static void test_400_reasons(void **st)
{
    (void)st;
    static const struct {
        const char *body, *reason;
    } cases[] = {
        { TOO_NEW, "too_new" },     { TOO_OLD, "too_old" },   { TOO_LONG, "line_too_long" },
        { NO_LABELS, "no_labels" }, { BAD_JSON, "bad_body" }, { SNAPPY, "bad_body" },
        { "Content-Encoding \"br\" not supported\n", "bad_body" },
        { "entry for stream '{a=\"b\"}' has 16 label names; limit 15\n", "other" },
        { "", "other" },
        { "entry out of order for stream: {a=\"b\"}, total ignored: 3 out of 10", "too_far_behind" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ls_flush_result r;
        assert_int_equal(judge(400, cases[i].body, 10, &r), LS_DROP);
        assert_string_equal(r.reason, cases[i].reason);
    }
    struct ls_flush_result r;
    /* without "total ignored" the count is unknown: 0, the caller estimates */
    judge(400, TOO_NEW, 10, &r);
    assert_int_equal(r.dropped, 0);
    judge(400, cases[9].body, 10, &r);
    assert_int_equal(r.dropped, 3);
}

static void test_status_table(void **st)
{
    (void)st;
    static const struct {
        long status;
        enum ls_verdict v;
        const char *reason;
    } t[] = {
        { 429, LS_RETRY, "rate_limited" }, { 500, LS_RETRY, "server_error" }, { 502, LS_RETRY, "server_error" },
        { 503, LS_RETRY, "server_error" }, { 504, LS_RETRY, "server_error" }, { 408, LS_RETRY, "timeout" },
        { 401, LS_CONFIG, "unauthorized" }, { 403, LS_CONFIG, "forbidden" }, { 404, LS_CONFIG, "not_found" },
        { 301, LS_CONFIG, "redirect" },    { 413, LS_DROP, "request_too_large" }, { 422, LS_DROP, "http_422" },
        { 407, LS_CONFIG, "proxy_auth" },
        { 100, LS_RETRY, "bad_status" },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct ls_flush_result r;
        assert_int_equal(judge(t[i].status, "body\n", 5, &r), t[i].v);
        assert_string_equal(r.reason, t[i].reason);
        assert_int_equal(r.http_status, t[i].status);
        assert_string_equal(r.detail, "body");
    }
}

/* The per-stream 429 as Loki 2.8 writes it: part stored, at most 10 entries listed. */
static const char STREAM_429[] =
    "entry with timestamp 2026-11-29 18:42:36.05134 +0000 UTC ignored, reason: 'Per stream rate limit exceeded "
    "(limit: 3MB/sec) while attempting to ingest for stream '{level=\"info\", service=\"hellod\"}' totaling 258B, "
    "consider splitting a stream via additional labels or contact your Loki administrator to see if the limit can "
    "be increased' for stream: {level=\"info\", service=\"hellod\"},\n"
    "entry with timestamp 2026-11-29 18:42:36 +0000 UTC ignored, reason: 'Per stream rate limit exceeded' for "
    "stream: {level=\"info\", service=\"hellod\"},\n"
    "user 'fake', total ignored: 2 out of 5\n";

static void test_413_407_and_stream_429(void **st)
{
    (void)st;
    struct ls_flush_result r;
    /* 413 for one entry: too long, dropped (not halved forever) */
    assert_int_equal(judge(413, "Request Entity Too Large\n", 1, &r), LS_DROP);
    assert_string_equal(r.reason, "line_too_long");
    assert_int_equal(r.dropped, 1);
    assert_int_equal(judge(407, "Proxy Authentication Required\n", 3, &r), LS_CONFIG);
    assert_string_equal(r.reason, "proxy_auth");
    /* the ingester's per-stream 429 is told apart from the distributor's */
    assert_int_equal(judge(429, STREAM_429, 5, &r), LS_RETRY);
    assert_string_equal(r.reason, "stream_rate_limited");
    assert_int_equal(judge(429, RATE, 5, &r), LS_RETRY);
    assert_string_equal(r.reason, "rate_limited");
}

static void test_parse_listed(void **st)
{
    (void)st;
    int64_t ts[4];
    const int64_t base = INT64_C(1795977756) * 1000000000; /* 2026-11-29 18:42:36 UTC */
    assert_int_equal(ls_loki_parse_listed(STREAM_429, strlen(STREAM_429), ts, 4), 2);
    assert_int_equal(ts[0], base + 51340000);
    assert_int_equal(ts[1], base);
    /* more lines than room: all counted, max stored */
    assert_int_equal(ls_loki_parse_listed(STREAM_429, strlen(STREAM_429), ts, 1), 2);
    /* a malformed time is not counted (the caller then asks Loki) */
    static const char bad[] = "entry with timestamp 2026-13-99 99:00:00 +0000 UTC ignored, reason: 'x'\n"
                              "entry with timestamp yesterday ignored, reason: 'x'\n"
                              "entry with timestamp 2026-11-29 18:42:36.5 -0100 UTC ignored, reason: 'x'\n";
    assert_int_equal(ls_loki_parse_listed(bad, strlen(bad), ts, 4), 1);
    assert_int_equal(ts[0], base + 3600 * INT64_C(1000000000) + 500000000);
    assert_int_equal(ls_loki_parse_listed(RATE, strlen(RATE), ts, 4), 0);
    assert_int_equal(ls_loki_parse_listed(NULL, 0, ts, 4), 0);
    /* cut in the middle of a line: the length is honoured */
    assert_int_equal(ls_loki_parse_listed(STREAM_429, 60, ts, 4), 0);
}

static void test_classify(void **st)
{
    (void)st;
    const int64_t now = INT64_C(1795813034000000000), day = INT64_C(86400000000000);
    struct ls_record r;
    memset(&r, 0, sizeof(r));
    r.ts_ns = now;
    assert_null(ls_loki_classify(&r, now));
    r.ts_ns = now - 8 * day;
    assert_string_equal(ls_loki_classify(&r, now), "too_old");
    r.ts_ns = now + day;
    assert_string_equal(ls_loki_classify(&r, now), "too_new");
    r.ts_ns = now;
    r.line_len = 262145;
    assert_string_equal(ls_loki_classify(&r, now), "line_too_long");
}

static void test_429_keeps_loki_body_and_retry_after(void **st)
{
    (void)st;
    struct ls_loki_answer a;
    struct ls_flush_result r;
    memset(&a, 0, sizeof(a));
    a.status = 429;
    a.body = RATE;
    a.body_len = strlen(RATE);
    a.retry_after_ms = -1;
    assert_int_equal(ls_loki_verdict(&a, 60, &r, NULL), LS_RETRY);
    assert_int_equal(r.retry_after_ms, -1); /* Loki sends none */
    assert_int_equal(strncmp(r.detail, "Ingestion rate limit exceeded", 29), 0);
    a.retry_after_ms = 7000; /* a proxy did */
    assert_int_equal(ls_loki_verdict(&a, 60, &r, NULL), LS_RETRY);
    assert_int_equal(r.retry_after_ms, 7000);
}

static void test_no_response(void **st)
{
    (void)st;
    struct ls_loki_answer a;
    struct ls_flush_result r;
    memset(&a, 0, sizeof(a));
    a.retry_after_ms = -1;
    a.error = "Failed to connect to 127.0.0.1 port 1: Connection refused";
    assert_int_equal(ls_loki_verdict(&a, 5, &r, NULL), LS_RETRY);
    assert_string_equal(r.reason, "connection");
    assert_int_equal(r.http_status, 0);
    assert_string_equal(r.detail, a.error);
    a.timed_out = 1;
    a.error = NULL;
    assert_int_equal(ls_loki_verdict(&a, 5, &r, NULL), LS_RETRY);
    assert_string_equal(r.reason, "timeout");
}

static void test_detail_is_first_kb(void **st)
{
    (void)st;
    static char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    struct ls_flush_result r;
    judge(400, big, 1, &r);
    assert_int_equal(strlen(r.detail), sizeof(r.detail) - 1);
}

static void test_parse_ignored(void **st)
{
    (void)st;
    uint64_t n, m;
#define P(s) ls_loki_parse_ignored(s, strlen(s), &n, &m)
    assert_int_equal(P("total ignored: 5 out of 9"), 0);
    assert_int_equal(n, 5);
    assert_int_equal(m, 9);
    assert_int_equal(P("a, total ignored: 1 out of 2,\nb, total ignored: 7 out of 70\n"), 0);
    assert_int_equal(n, 7); /* the last one is the summary */
    assert_int_equal(m, 70);
    assert_int_equal(P("total ignored: 5 out of 4"), -1);
    assert_int_equal(P("total ignored: x out of 4"), -1);
    assert_int_equal(P("total ignored: 5 of 9"), -1);
    assert_int_equal(P("total ignored: 5 out of "), -1);
    assert_int_equal(P("total ignored: 99999999999999999999999 out of 1"), -1);
    assert_int_equal(P("nothing here"), -1);
    assert_int_equal(P(""), -1);
    assert_int_equal(ls_loki_parse_ignored(NULL, 0, &n, &m), -1);
    /* not NUL-terminated: the length is honoured */
    static const char cut[] = "total ignored: 12 out of 345";
    assert_int_equal(ls_loki_parse_ignored(cut, strlen(cut) - 1, &n, &m), 0);
    assert_int_equal(m, 34);
#undef P
}

static void test_estimate(void **st)
{
    (void)st;
    const int64_t now = INT64_C(1795813034000000000), day = INT64_C(86400000000000);
    static char longline[300000];
    struct ls_record r[5];
    memset(r, 0, sizeof(r));
    r[0].ts_ns = now;
    r[1].ts_ns = now - 8 * day;
    r[2].ts_ns = now + day;
    r[3].ts_ns = now;
    r[3].line = longline;
    r[3].line_len = sizeof(longline);
    r[4].ts_ns = now + 60 * INT64_C(1000000000); /* one minute ahead is fine */
    /* Loki names one reason per push; every entry over a default limit counts */
    assert_int_equal(ls_loki_estimate_rejected("too_old", r, 5, now), 3);
    assert_int_equal(ls_loki_estimate_rejected("too_new", r, 5, now), 3);
    assert_int_equal(ls_loki_estimate_rejected("line_too_long", r, 5, now), 3);
    assert_int_equal(ls_loki_estimate_rejected("no_labels", r, 5, now), 0);
    assert_int_equal(ls_loki_estimate_rejected("too_old", r, 1, now), 0);
    assert_int_equal(ls_loki_estimate_rejected("too_old", r, 2, now), 1);
    assert_int_equal(ls_loki_estimate_rejected("too_new", r + 2, 1, now), 1);
    assert_int_equal(ls_loki_estimate_rejected("line_too_long", r + 3, 2, now), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success),
        cmocka_unit_test(test_400_partial_counts_and_reason),
        cmocka_unit_test(test_400_reasons),
        cmocka_unit_test(test_status_table),
        cmocka_unit_test(test_429_keeps_loki_body_and_retry_after),
        cmocka_unit_test(test_413_407_and_stream_429),
        cmocka_unit_test(test_parse_listed),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_no_response),
        cmocka_unit_test(test_detail_is_first_kb),
        cmocka_unit_test(test_parse_ignored),
        cmocka_unit_test(test_estimate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
