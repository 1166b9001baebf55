/* test_logship_es_bulk: the _bulk NDJSON encoder and the response parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>
#include <cmocka.h>

#include "logship/out/es_bulk.h"
#include "logship/out/event.h"
#include "timefmt.h"

static struct ls_record rec_of(const char *line, const char *labels, const char *origin, int64_t ts)
{
    struct ls_record r;
    memset(&r, 0, sizeof r);
    r.seq = 7;
    r.ts_ns = ts;
    r.line = line;
    r.line_len = strlen(line);
    r.labels = labels;
    r.labels_len = labels ? strlen(labels) : 0;
    r.origin = origin;
    r.origin_len = origin ? strlen(origin) : 0;
    return r;
}

static char *doc_of(const char *line, const char *labels)
{
    static char out[4096];
    buf_t b;
    struct ls_record r = rec_of(line, labels, "f:1:2:abc@0", 1764295384123456789LL);
    buf_init(&b, 1 << 20);
    assert_int_equal(ls_event_encode(&b, &r), 0);
    assert_true(b.len < sizeof out);
    memcpy(out, b.p, b.len + 1);
    buf_free(&b);
    return out;
}

static void test_timestamp(void **state)
{
    char ts[32];
    (void)state;
    assert_int_equal(timefmt_rfc3339_ns(ts, 1764295384123456789LL), 30);
    assert_string_equal(ts, "2025-11-28T02:03:04.123456789Z");
    timefmt_rfc3339_ns(ts, 0);
    assert_string_equal(ts, "1970-01-01T00:00:00.000000000Z");
    timefmt_rfc3339_ns(ts, -1);
    assert_string_equal(ts, "1969-12-31T23:59:59.999999999Z");
    timefmt_rfc3339_ns(ts, INT64_MAX);   /* clamped, still well-formed */
    assert_int_equal(strlen(ts), 30);
}

static void test_doc_id(void **state)
{
    char a[ES_BULK_ID_LEN + 1], b[ES_BULK_ID_LEN + 1], c[ES_BULK_ID_LEN + 1];
    struct ls_record r1 = rec_of("x", "{a=\"b\"}", "f:1:2:abc@0", 1);
    struct ls_record r2 = rec_of("y", "{a=\"c\"}", "f:1:2:abc@0", 2);
    struct ls_record r3 = rec_of("x", "{a=\"b\"}", "f:1:2:abc@4", 1);
    (void)state;
    ls_es_docid(&r1, a);
    ls_es_docid(&r2, b);
    ls_es_docid(&r3, c);
    assert_int_equal(strlen(a), ES_BULK_ID_LEN);
    assert_string_equal(a, b);            /* same origin, same id: replays collide */
    assert_string_not_equal(a, c);
    for (size_t i = 0; i < ES_BULK_ID_LEN; i++)
        assert_true((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f'));
    /* sha256("f:1:2:abc@0") prefix, computed independently */
    struct ls_record r4 = rec_of("x", NULL, NULL, 1);
    r4.seq = 42;
    ls_es_docid(&r4, c);
    struct ls_record r5 = rec_of("x", NULL, "seq:42", 1);
    ls_es_docid(&r5, b);
    assert_string_equal(b, c);
}

static void test_index_names(void **state)
{
    char out[ES_BULK_INDEX_MAX], err[256];
    (void)state;
    assert_int_equal(ls_es_bulk_index_name("logs-%Y.%m.%d", 1764295384123456789LL, out, sizeof out), 15);
    assert_string_equal(out, "logs-2025.11.28");
    assert_true(ls_es_bulk_index_name("logs-%H%%", 1764295384123456789LL, out, sizeof out) > 0);
    assert_string_equal(out, "logs-02%");
    assert_int_equal(ls_es_bulk_index_check(ES_BULK_DEFAULT_INDEX, err, sizeof err), 0);
    assert_int_equal(ls_es_bulk_index_check("logs-%Y.%m.%d", err, sizeof err), 0);
    assert_int_equal(ls_es_bulk_index_check("Logs", err, sizeof err), -1);
    assert_int_equal(ls_es_bulk_index_check("logs-%s", err, sizeof err), -1);
    assert_int_equal(ls_es_bulk_index_check("", err, sizeof err), -1);
    assert_int_equal(ls_es_bulk_index_check("_x", err, sizeof err), -1);
    assert_int_equal(ls_es_bulk_index_check("a b", err, sizeof err), -1);
    assert_int_equal(ls_es_bulk_index_check("logs-%", err, sizeof err), -1);
    assert_int_equal(ls_es_bulk_index_name("abc", 0, out, 3), -1);   /* no room for the NUL */
}

static void test_doc_json_line(void **state)
{
    (void)state;
    assert_string_equal(
        doc_of("{\"level\":\"info\",\"msg\":\"hi\",\"n\":1.5e3,\"o\":{\"a\":[1,null,true]}}",
               "{level=\"info\",service=\"hello\"}"),
        "{\"@timestamp\":\"2025-11-28T02:03:04.123456789Z\",\"level\":\"info\",\"msg\":\"hi\","
        "\"n\":1.5e3,\"o\":{\"a\":[1,null,true]},\"service\":\"hello\"}");
    /* the line's own @timestamp gives way; repeated keys are kept once (the first) */
    assert_string_equal(doc_of(" {\"@timestamp\":\"x\",\"a\":1,\"a\":2,\"\\u0061\":3} ", "{a=\"z\"}"),
                        "{\"@timestamp\":\"2025-11-28T02:03:04.123456789Z\",\"a\":1}");
    assert_string_equal(doc_of("{}", "{service=\"hello\"}"),
                        "{\"@timestamp\":\"2025-11-28T02:03:04.123456789Z\",\"service\":\"hello\"}");
}

static void test_doc_plain_line(void **state)
{
    (void)state;
    assert_string_equal(doc_of("plain \"text\"", "{service=\"hello\"}"),
                        "{\"@timestamp\":\"2025-11-28T02:03:04.123456789Z\",\"message\":\"plain "
                        "\\\"text\\\"\",\"service\":\"hello\"}");
    /* not quite JSON: shipped whole as message */
    const char *bad[] = { "{\"a\":1", "{\"a\":1}x", "{\"a\":01}", "{'a':1}", "[1,2]", "{\"a\":\"\x01\"}",
                          "{\"a\":\"\xff\"}", "{\"a\":tru}", "{\"a\":1,}", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *d = doc_of(bad[i], "{service=\"hello\"}");
        assert_non_null(strstr(d, "\"message\":"));
        assert_non_null(strstr(d, "\"service\":\"hello\"}"));
    }
    /* a label called message does not repeat the key */
    assert_string_equal(doc_of("x", "{message=\"m\",z=\"a\\\"b\\\\c\\nd\"}"),
                        "{\"@timestamp\":\"2025-11-28T02:03:04.123456789Z\",\"message\":\"x\","
                        "\"z\":\"a\\\"b\\\\c\\nd\"}");
    /* a malformed label string never breaks the document */
    assert_string_equal(doc_of("x", "{broken"),
                        "{\"@timestamp\":\"2025-11-28T02:03:04.123456789Z\",\"message\":\"x\"}");
}

static void test_doc_many_keys(void **state)
{
    char line[8192];
    size_t o = 0;
    (void)state;
    line[o++] = '{';
    for (int i = 0; i < 200; i++)
        o += (size_t)snprintf(line + o, sizeof line - o, "%s\"k%d\":%d", i ? "," : "", i, i);
    line[o++] = '}';
    line[o] = '\0';
    const char *d = doc_of(line, "{service=\"hello\"}");
    assert_non_null(strstr(d, "\"message\":\"{\\\"k0\\\":0,"));   /* kept whole, not cut */
}

static void test_pair_and_cap(void **state)
{
    buf_t b;
    struct ls_record r = rec_of("hello", "{service=\"hello\"}", "o1", 0);
    char id[ES_BULK_ID_LEN + 1];
    char want[512];
    (void)state;
    ls_es_docid(&r, id);
    snprintf(want, sizeof want,
             "{\"create\":{\"_index\":\"logs-hello-default\",\"_id\":\"%s\"}}\n"
             "{\"@timestamp\":\"1970-01-01T00:00:00.000000000Z\",\"message\":\"hello\",\"service\":\"hello\"}\n",
             id);
    buf_init(&b, 1 << 20);
    assert_int_equal(ls_es_bulk_encode_pair(&b, "logs-hello-default", &r), 0);
    assert_string_equal(b.p, want);
    buf_free(&b);
    /* without an index (the URL names the target) */
    buf_reset(&b);
    assert_int_equal(ls_es_bulk_encode_pair(&b, NULL, &r), 0);
    snprintf(want, sizeof want, "{\"create\":{\"_id\":\"%s\"}}\n", id);
    assert_memory_equal(b.p, want, strlen(want));
    buf_free(&b);
    buf_init(&b, 1 << 20);
    assert_int_equal(ls_es_bulk_encode_pair(&b, "logs-hello-default", &r), 0);
    size_t one = b.len;
    buf_free(&b);
    /* at the cap: -1 and nothing half-written */
    buf_init(&b, one + 10);
    assert_int_equal(ls_es_bulk_encode_pair(&b, "logs-hello-default", &r), 0);
    size_t len = b.len;
    assert_int_equal(ls_es_bulk_encode_pair(&b, "logs-hello-default", &r), -1);
    assert_int_equal(b.len, len);
    buf_free(&b);
}

static void test_parse_response(void **state)
{
    struct ls_es_bulk_item it[4];
    struct ls_es_bulk_resp r;
    const char *body =
        "{\"took\":3,\"errors\":true,\"items\":[{\"create\":{\"_index\":\"x\",\"_id\":\"a\",\"status\":201,"
        "\"result\":\"created\",\"_shards\":{\"total\":2}}},"
        "{\"create\":{\"status\":429,\"error\":{\"type\":\"es_rejected_execution_exception\","
        "\"reason\":\"rejected \\\"q\\\" \\u00e9\",\"caused_by\":{\"type\":\"x\"}}}},"
        "{\"create\":{\"status\":409,\"error\":{\"type\":\"version_conflict_engine_exception\"}}},"
        "{\"index\":{\"error\":\"plain string\",\"status\":400}}]}";
    (void)state;
    assert_int_equal(ls_es_bulk_parse_response(body, strlen(body), it, 4, &r), 0);
    assert_int_equal(r.errors, 1);
    assert_int_equal(r.nitems, 4);
    assert_int_equal(r.total, 4);
    assert_int_equal(r.complete, 1);
    assert_int_equal(it[0].status, 201);
    assert_string_equal(it[0].type, "");
    assert_int_equal(it[1].status, 429);
    assert_string_equal(it[1].type, "es_rejected_execution_exception");
    assert_string_equal(it[1].reason, "rejected \"q\" \xc3\xa9");
    assert_int_equal(it[2].status, 409);
    assert_int_equal(it[3].status, 400);
    assert_string_equal(it[3].reason, "plain string");

    /* cut short: the complete items still count, the rest do not */
    for (size_t cut = 0; cut < strlen(body); cut++) {
        assert_true(ls_es_bulk_parse_response(body, cut, it, 4, &r) <= 0);
        assert_int_equal(r.complete, 0);
        assert_true(r.nitems <= 4);
    }
    const char *p = strstr(body, "{\"create\":{\"status\":409");
    assert_int_equal(ls_es_bulk_parse_response(body, (size_t)(p - body), it, 4, &r), 0);
    assert_int_equal(r.nitems, 2);
    /* more items than room */
    assert_int_equal(ls_es_bulk_parse_response(body, strlen(body), it, 2, &r), 0);
    assert_int_equal(r.nitems, 2);
    assert_int_equal(r.total, 4);
    /* filter_path shape, no errors flag */
    const char *fp = "{\"items\":[{\"create\":{\"status\":201}},{\"create\":{\"status\":201}}]}";
    assert_int_equal(ls_es_bulk_parse_response(fp, strlen(fp), it, 4, &r), 0);
    assert_int_equal(r.errors, -1);
    assert_int_equal(r.nitems, 2);
    assert_int_equal(r.complete, 1);
    /* not a bulk response */
    assert_int_equal(ls_es_bulk_parse_response("<html>", 6, it, 4, &r), -1);
    assert_int_equal(ls_es_bulk_parse_response("", 0, it, 4, &r), -1);
    const char *err = "{\"error\":{\"type\":\"x\"},\"status\":400}";
    assert_int_equal(ls_es_bulk_parse_response(err, strlen(err), it, 4, &r), 0);
    assert_int_equal(r.nitems, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timestamp),
        cmocka_unit_test(test_doc_id),
        cmocka_unit_test(test_index_names),
        cmocka_unit_test(test_doc_json_line),
        cmocka_unit_test(test_doc_plain_line),
        cmocka_unit_test(test_doc_many_keys),
        cmocka_unit_test(test_pair_and_cap),
        cmocka_unit_test(test_parse_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
