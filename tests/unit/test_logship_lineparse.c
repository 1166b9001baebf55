/* Unit tests for lineparse: timestamps, labels, canonical label strings, invalid UTF-8, NUL, long and
 * empty lines, the JSON scanner. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics.h"
#include "jsonscan.h"
#include "utf8.h"
#include "logship/in/lineparse.h"

struct fix {
    metrics_registry     *reg;
    struct ls_srcmetrics *m;
    struct ls_lineparse  *lp;
    struct ls_record      rec;
    char                  err[256];
};

static const char *const DEF_STATIC[] = { "service=hello", "env=prod" };

static struct fix *mk(const struct ls_parse_conf *pc)
{
    struct fix *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->reg = metrics_new();
    assert_non_null(f->reg);
    f->m = ls_srcmetrics_get(f->reg);
    assert_non_null(f->m);
    f->lp = ls_lineparse_new(pc, f->m, f->err, sizeof(f->err));
    assert_non_null(f->lp);
    return f;
}

static void rm(struct fix *f)
{
    ls_lineparse_free(f->lp);
    ls_srcmetrics_put(f->m);
    metrics_free(f->reg);
    free(f);
}

static struct ls_parse_conf conf(enum ls_format fmt)
{
    struct ls_parse_conf pc;
    memset(&pc, 0, sizeof(pc));
    pc.format = fmt;
    pc.static_labels = DEF_STATIC;
    pc.n_static_labels = 2;
    pc.max_line_bytes = 1024;
    return pc;
}

/* Parse s; returns what ls_lineparse_line returned. */
static int parse(struct fix *f, const char *s, size_t n, size_t cut)
{
    struct ls_line_in in = { s, n, cut, 0, NULL, 42 };
    memset(&f->rec, 0, sizeof(f->rec));
    return ls_lineparse_line(f->lp, &in, &f->rec);
}

static int parse_s(struct fix *f, const char *s)
{
    return parse(f, s, strlen(s), 0);
}

static void assert_labels(struct fix *f, const char *want)
{
    assert_int_equal(f->rec.labels_len, strlen(want));
    assert_memory_equal(f->rec.labels, want, strlen(want));
}

static void assert_line(struct fix *f, const char *want, size_t n)
{
    assert_int_equal(f->rec.line_len, n);
    assert_memory_equal(f->rec.line, want, n);
}

static void test_json_ts_and_level(void **st)
{
    struct ls_parse_conf pc = conf(LS_FORMAT_JSON);
    struct fix *f = mk(&pc);
    const char *l = "{\"ts\":\"2026-11-28T02:03:04.123456789Z\",\"level\":\"info\",\"msg\":\"hi\"}";
    (void)st;
    assert_int_equal(parse_s(f, l), 1);
    assert_true(f->rec.ts_ns == 1795831384123456789LL);
    assert_labels(f, "{env=\"prod\",level=\"info\",service=\"hello\"}");
    assert_line(f, l, strlen(l));
    rm(f);
}

static void test_ts_fields_order_and_forms(void **st)
{
    struct ls_parse_conf pc = conf(LS_FORMAT_JSON);
    struct fix *f = mk(&pc);
    (void)st;
    /* "time" is used when "ts" is absent; offsets are honoured */
    assert_int_equal(parse_s(f, "{\"time\":\"2026-11-28T03:03:04+01:00\"}"), 1);
    assert_true(f->rec.ts_ns == 1795831384000000000LL);
    assert_int_equal(parse_s(f, "{\"@timestamp\":\"2026-11-28T02:03:04.5Z\"}"), 1);
    assert_true(f->rec.ts_ns == 1795831384500000000LL);
    /* first field in ts_fields order wins, not first in the line */
    assert_int_equal(parse_s(f, "{\"time\":\"2020-01-01T00:00:00Z\",\"ts\":\"2026-11-28T02:03:04Z\"}"), 1);
    assert_true(f->rec.ts_ns == 1795831384000000000LL);
    /* numbers: seconds, fractional seconds, ms, µs, ns */
    assert_int_equal(parse_s(f, "{\"ts\":1795831384}"), 1);
    assert_true(f->rec.ts_ns == 1795831384000000000LL);
    assert_int_equal(parse_s(f, "{\"ts\":1795831384.25}"), 1);
    assert_true(f->rec.ts_ns == 1795831384250000000LL);
    assert_int_equal(parse_s(f, "{\"ts\":1795831384123}"), 1);
    assert_true(f->rec.ts_ns == 1795831384123000000LL);
    assert_int_equal(parse_s(f, "{\"ts\":1795831384123456}"), 1);
    assert_true(f->rec.ts_ns == 1795831384123456000LL);
    assert_int_equal(parse_s(f, "{\"ts\":1795831384123456789}"), 1);
    assert_true(f->rec.ts_ns == 1795831384123456789LL);
    /* unparsable: falls to the next field, then to the read time */
    assert_int_equal(parse_s(f, "{\"ts\":\"yesterday\",\"time\":\"2026-11-28T02:03:04Z\"}"), 1);
    assert_true(f->rec.ts_ns == 1795831384000000000LL);
    assert_int_equal(parse_s(f, "{\"ts\":\"yesterday\"}"), 1);
    assert_true(f->rec.ts_ns == 42);
    assert_int_equal(parse_s(f, "{\"ts\":-5}"), 1);
    assert_true(f->rec.ts_ns == 42);
    assert_int_equal(parse_s(f, "{\"ts\":true}"), 1);
    assert_true(f->rec.ts_ns == 42);
    rm(f);
}

static void test_custom_fields(void **st)
{
    static const char *const ts[] = { "when" };
    static const char *const lf[] = { "lvl", "app-name", "9x" };
    struct ls_parse_conf pc = conf(LS_FORMAT_JSON);
    struct fix *f;
    (void)st;
    pc.ts_fields = ts;
    pc.n_ts_fields = 1;
    pc.label_fields = lf;
    pc.n_label_fields = 3;
    pc.static_labels = NULL;
    pc.n_static_labels = 0;
    f = mk(&pc);
    assert_int_equal(parse_s(f, "{\"ts\":\"2026-11-28T02:03:04Z\",\"when\":\"2026-11-28T02:03:05Z\","
                                "\"lvl\":\"warn\",\"app-name\":\"x\",\"9x\":\"y\"}"), 1);
    assert_true(f->rec.ts_ns == 1795831385000000000LL);
    assert_labels(f, "{_9x=\"y\",app_name=\"x\",lvl=\"warn\"}");
    rm(f);
}

static void test_label_values(void **st)
{
    struct ls_parse_conf pc = conf(LS_FORMAT_JSON);
    struct fix *f = mk(&pc);
    char big[600];
    char want[400];
    (void)st;
    /* escapes decoded, then escaped for the label string */
    assert_int_equal(parse_s(f, "{\"level\":\"a\\\"b\\\\c\\nd\\u00e9\"}"), 1);
    assert_labels(f, "{env=\"prod\",level=\"a\\\"b\\\\c d\xc3\xa9\",service=\"hello\"}");
    /* non-string values are never promoted */
    assert_int_equal(parse_s(f, "{\"level\":3}"), 1);
    assert_labels(f, "{env=\"prod\",service=\"hello\"}");
    assert_int_equal(parse_s(f, "{\"level\":{\"x\":\"y\"}}"), 1);
    assert_labels(f, "{env=\"prod\",service=\"hello\"}");
    /* empty value: omitted */
    assert_int_equal(parse_s(f, "{\"level\":\"\"}"), 1);
    assert_labels(f, "{env=\"prod\",service=\"hello\"}");
    /* long values are capped at 128 bytes */
    memcpy(big, "{\"level\":\"", 10);
    memset(big + 10, 'v', 500);
    memcpy(big + 510, "\"}", 3);
    assert_int_equal(parse_s(f, big), 1);
    memcpy(want, "{env=\"prod\",level=\"", 19);
    memset(want + 19, 'v', 128);
    memcpy(want + 147, "\",service=\"hello\"}", 19);
    assert_labels(f, want);
    /* a surrogate escape that is not a pair becomes U+FFFD */
    assert_int_equal(parse_s(f, "{\"level\":\"\\ud800x\"}"), 1);
    assert_labels(f, "{env=\"prod\",level=\"\xef\xbf\xbdx\",service=\"hello\"}");
    /* static labels win over fields of the same name */
    assert_int_equal(parse_s(f, "{\"level\":\"info\",\"service\":\"evil\"}"), 1);
    assert_labels(f, "{env=\"prod\",level=\"info\",service=\"hello\"}");
    rm(f);
}

/* The label string is cached across lines with the same inputs: changes must
 * still show. */
static void test_label_cache(void **st)
{
    struct ls_parse_conf pc = conf(LS_FORMAT_JSON);
    struct fix *f = mk(&pc);
    struct ls_line_in in = { "{\"level\":\"info\"}", 16, 0, 0, "stdout", 42 };
    (void)st;
    assert_int_equal(parse_s(f, "{\"level\":\"info\"}"), 1);
    assert_labels(f, "{env=\"prod\",level=\"info\",service=\"hello\"}");
    assert_int_equal(parse_s(f, "{\"level\":\"info\",\"x\":1}"), 1);
    assert_labels(f, "{env=\"prod\",level=\"info\",service=\"hello\"}");
    assert_int_equal(parse_s(f, "{\"level\":\"warn\"}"), 1);
    assert_labels(f, "{env=\"prod\",level=\"warn\",service=\"hello\"}");
    assert_int_equal(parse_s(f, "not json"), 1);
    assert_labels(f, "{env=\"prod\",service=\"hello\"}");
    assert_int_equal(parse_s(f, "{\"level\":\"w\\u0061rn\"}"), 1);
    assert_labels(f, "{env=\"prod\",level=\"warn\",service=\"hello\"}");
    assert_int_equal(ls_lineparse_line(f->lp, &in, &f->rec), 1);
    assert_labels(f, "{env=\"prod\",level=\"info\",service=\"hello\",stream=\"stdout\"}");
    in.stream = "stderr";
    assert_int_equal(ls_lineparse_line(f->lp, &in, &f->rec), 1);
    assert_labels(f, "{env=\"prod\",level=\"info\",service=\"hello\",stream=\"stderr\"}");
    assert_int_equal(parse_s(f, "{\"level\":\"info\"}"), 1);
    assert_labels(f, "{env=\"prod\",level=\"info\",service=\"hello\"}");
    rm(f);
}

static void test_static_label_precedence_and_fallback(void **st)
{
    static const char *const sl[] = { "level=fixed", "b=\"q\\" };
    struct ls_parse_conf pc = conf(LS_FORMAT_JSON);
    struct fix *f;
    (void)st;
    pc.static_labels = sl;
    pc.n_static_labels = 2;
    f = mk(&pc);
    assert_int_equal(parse_s(f, "{\"level\":\"info\"}"), 1);
    assert_labels(f, "{b=\"\\\"q\\\\\",level=\"fixed\"}");
    rm(f);
    pc.static_labels = NULL;
    pc.n_static_labels = 0;
    f = mk(&pc);
    assert_int_equal(parse_s(f, "plain"), 1);
    assert_labels(f, "{job=\"logship\"}");
    rm(f);
}

static void test_bad_static_label(void **st)
{
    static const char *const sl[] = { "novalue" };
    static const char *const sl2[] = { "=x" };
    struct ls_parse_conf pc = conf(LS_FORMAT_JSON);
    char err[128];
    (void)st;
    pc.static_labels = sl;
    pc.n_static_labels = 1;
    assert_null(ls_lineparse_new(&pc, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "novalue"));
    pc.static_labels = sl2;
    assert_null(ls_lineparse_new(&pc, NULL, err, sizeof(err)));
    pc.n_static_labels = 0;
    pc.max_line_bytes = 10;
    assert_null(ls_lineparse_new(&pc, NULL, err, sizeof(err)));
}

static void test_stream_label(void **st)
{
    struct ls_parse_conf pc = conf(LS_FORMAT_DOCKER);
    struct fix *f = mk(&pc);
    struct ls_line_in in = { "{\"level\":\"warn\",\"ts\":\"2020-01-01T00:00:00Z\"}", 0, 0, 7, "stderr", 42 };
    (void)st;
    in.len = strlen(in.p);
    assert_int_equal(ls_lineparse_line(f->lp, &in, &f->rec), 1);
    assert_labels(f, "{env=\"prod\",level=\"warn\",service=\"hello\",stream=\"stderr\"}");
    assert_true(f->rec.ts_ns == 7); /* the container time wins */
    rm(f);
}

static void test_non_json_and_raw(void **st)
{
    struct ls_parse_conf pc = conf(LS_FORMAT_JSON);
    struct fix *f = mk(&pc);
    const char *bad[] = { "hello world", "{\"level\":\"info\"", "{\"level\":\"info\"} trailing",
                          "{level:\"info\"}", "[1,2]", "{\"level\":\"info\",}", "{\"a\":01}",
                          "{\"a\":tru}", "{\"a\":\"\\x\"}", "{\"a\":\"ctl\x01\"}" };
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse_s(f, bad[i]), 1);
        assert_labels(f, "{env=\"prod\",service=\"hello\"}");
        assert_true(f->rec.ts_ns == 42);
        assert_line(f, bad[i], strlen(bad[i]));
    }
    rm(f);
    pc.format = LS_FORMAT_RAW;
    f = mk(&pc);
    assert_int_equal(parse_s(f, "{\"level\":\"info\",\"ts\":\"2026-11-28T02:03:04Z\"}"), 1);
    assert_labels(f, "{env=\"prod\",service=\"hello\"}");
    assert_true(f->rec.ts_ns == 42);
    rm(f);
}

static void test_invalid_utf8_and_nul(void **st)
{
    struct ls_parse_conf pc = conf(LS_FORMAT_JSON);
    struct fix *f = mk(&pc);
    (void)st;
    assert_int_equal(parse(f, "a\xff" "b", 3, 0), 1);
    assert_line(f, "a\xef\xbf\xbd" "b", 5);
    assert_int_equal(parse(f, "a\0b", 3, 0), 1);
    assert_line(f, "a\xef\xbf\xbd" "b", 5);
    /* overlong, surrogate, truncated sequence, > U+10FFFF */
    assert_int_equal(parse(f, "\xc0\xaf|\xed\xa0\x80|\xe2\x82|\xf4\x90\x80\x80", 15, 0), 1);
    assert_true(f->rec.line_len > 15);
    assert_int_equal(metrics_value(f->m->invalid_encoding), 3);
    /* valid multibyte text is untouched */
    assert_int_equal(parse_s(f, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"), 1);
    assert_line(f, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15);
    /* a JSON line with a bad byte stays JSON (fields still found) */
    assert_int_equal(parse_s(f, "{\"level\":\"info\",\"msg\":\"x\xff\"}"), 1);
    assert_labels(f, "{env=\"prod\",level=\"info\",service=\"hello\"}");
    rm(f);
    pc.on_invalid = LS_INVALID_DROP;
    f = mk(&pc);
    assert_int_equal(parse(f, "a\0b", 3, 0), 0);
    assert_int_equal(parse(f, "a\x80", 2, 0), 0);
    assert_int_equal(metrics_value(f->m->drop_invalid), 2);
    assert_int_equal(metrics_value(f->m->invalid_encoding), 0);
    rm(f);
}

static void test_empty_and_crlf(void **st)
{
    struct ls_parse_conf pc = conf(LS_FORMAT_JSON);
    struct fix *f = mk(&pc);
    (void)st;
    assert_int_equal(parse(f, "", 0, 0), 0);
    assert_int_equal(parse(f, "\r", 1, 0), 0);
    assert_int_equal(metrics_value(f->m->drop_empty), 2);
    assert_int_equal(parse_s(f, "x\r"), 1);
    assert_line(f, "x", 1);
    assert_int_equal(parse_s(f, " "), 1);
    rm(f);
}

static void test_long_lines(void **st)
{
    struct ls_parse_conf pc = conf(LS_FORMAT_JSON);
    struct fix *f = mk(&pc);
    char *big = malloc(4000);
    const char *marker;
    (void)st;
    memset(big, 'x', 4000);
    /* the reader kept 1024 bytes and cut 2976 */
    assert_int_equal(parse(f, big, 1024, 2976), 1);
    assert_true(f->rec.line_len <= 1024);
    marker = "\xe2\x80\xa6[truncated 3024 bytes]";
    assert_int_equal(f->rec.line_len, 1024 - LS_TRUNC_RESERVE + strlen(marker));
    assert_memory_equal(f->rec.line + 1024 - LS_TRUNC_RESERVE, marker, strlen(marker));
    /* longer than max without a reader cut: the same */
    assert_int_equal(parse(f, big, 2000, 0), 1);
    assert_true(f->rec.line_len <= 1024);
    assert_int_equal(metrics_value(f->m->truncated), 2);
    /* the cut never splits a UTF-8 character */
    {
        size_t i;
        for (i = 0; i + 1 < 2000; i += 2) {
            big[i] = (char)0xc3;
            big[i + 1] = (char)0xa9;
        }
        big[1023 - LS_TRUNC_RESERVE] = 'y'; /* shift the boundary by one */
        assert_int_equal(parse(f, big + 1, 1999, 0), 1);
        assert_true(f->rec.line_len <= 1024);
        assert_true(utf8_clean(f->rec.line, f->rec.line_len));
    }
    /* invalid bytes that grow past the cap when repaired are cut too */
    memset(big, 0xff, 1000);
    assert_int_equal(parse(f, big, 1000, 0), 1);
    assert_true(f->rec.line_len <= 1024);
    assert_true(utf8_clean(f->rec.line, f->rec.line_len));
    assert_non_null(memmem(f->rec.line, f->rec.line_len, "[truncated ", 11));
    rm(f);
    pc.on_long = LS_LONG_DROP;
    f = mk(&pc);
    assert_int_equal(parse(f, big, 1024, 5), 0);
    assert_int_equal(parse(f, big, 1500, 0), 0);
    assert_int_equal(metrics_value(f->m->drop_too_long), 2);
    rm(f);
    free(big);
}

static void test_json_scan(void **st)
{
    struct ls_jfield fl[2] = { { "a", 1, 0, 0, NULL, 0 }, { "b\"c", 3, 0, 0, NULL, 0 } };
    char deep[300];
    size_t i;
    (void)st;
    assert_int_equal(ls_json_scan("{}", 2, fl, 2), 0);
    assert_int_equal(fl[0].type, 0);
    {
        const char *j = " {\"a\" : [1, {\"x\": [true,false,null]}, -1.5e3] , \"b\\\"c\":\"v\"} ";
        assert_int_equal(ls_json_scan(j, strlen(j), fl, 2), 0);
    }
    assert_int_equal(fl[0].type, 'a');
    assert_int_equal(fl[1].type, 's');
    assert_int_equal(fl[1].vlen, 1);
    assert_int_equal(ls_json_scan("{\"a\":\"x\",\"a\":\"y\"}", 17, fl, 2), 0);
    assert_memory_equal(fl[0].v, "x", 1);
    assert_int_equal(ls_json_scan("{\"a\":1}x", 8, fl, 2), -1);
    assert_int_equal(ls_json_scan("{\"a\":1", 6, fl, 2), -1);
    assert_int_equal(ls_json_scan("{\"a\"", 4, fl, 2), -1);
    assert_int_equal(ls_json_scan("{\"a\":-}", 7, fl, 2), -1);
    assert_int_equal(ls_json_scan("{\"a\":1.}", 8, fl, 2), -1);
    assert_int_equal(ls_json_scan("{\"a\":\"\\u12\"}", 12, fl, 2), -1);
    /* nesting beyond the limit is not JSON for us */
    for (i = 0; i < 100; i++)
        deep[5 + i] = '[';
    memcpy(deep, "{\"a\":", 5);
    for (i = 0; i < 100; i++)
        deep[105 + i] = ']';
    deep[205] = '}';
    assert_int_equal(ls_json_scan(deep, 206, fl, 2), -1);
    /* within the limit it is */
    assert_int_equal(ls_json_scan("{\"a\":[[[[[]]]]]}", 16, fl, 2), 0);
}

static void test_unescape(void **st)
{
    buf_t b;
    (void)st;
    buf_init(&b, 64);
    assert_int_equal(jsonscan_unescape("a\\u0000b\\ud83d\\ude00\\/\\t", 24, &b), 0);
    assert_int_equal(b.len, 9);
    assert_memory_equal(b.p, "a\0b\xf0\x9f\x98\x80/\t", 9);
    buf_reset(&b);
    assert_int_equal(jsonscan_unescape("\\udc00\\u", 8, &b), 0);
    assert_memory_equal(b.p, "\xef\xbf\xbd\xef\xbf\xbd", 6);
    buf_free(&b);
}

static void test_metrics_shared(void **st)
{
    metrics_registry *r = metrics_new();
    struct ls_srcmetrics *a, *b, *c;
    (void)st;
    a = ls_srcmetrics_get(r);
    b = ls_srcmetrics_get(r);
    assert_non_null(a);
    assert_ptr_equal(a, b);
    ls_srcmetrics_put(a);
    ls_srcmetrics_put(b);
    c = ls_srcmetrics_get(r); /* registry still alive: families reused */
    assert_non_null(c);
    ls_srcmetrics_put(c);
    metrics_free(r);
    assert_non_null(ls_srcmetrics_get(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_ts_and_level),
        cmocka_unit_test(test_ts_fields_order_and_forms),
        cmocka_unit_test(test_custom_fields),
        cmocka_unit_test(test_label_values),
        cmocka_unit_test(test_label_cache),
        cmocka_unit_test(test_static_label_precedence_and_fallback),
        cmocka_unit_test(test_bad_static_label),
        cmocka_unit_test(test_stream_label),
        cmocka_unit_test(test_non_json_and_raw),
        cmocka_unit_test(test_invalid_utf8_and_nul),
        cmocka_unit_test(test_empty_and_crlf),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_json_scan),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_metrics_shared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
