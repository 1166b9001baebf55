/* test_logship_loki_query: the query_range URL and the reading of its answer (exact labels, paging cut, malformed bodies). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "logship/out/loki_query.h"

static const char LAB[] = "{level=\"info\",service=\"hello\"}";

struct seen {
    int64_t ts[16];
    char line[16][32];
    size_t n;
};

static void on_entry(void *ctx, int64_t ts, const char *line, size_t len)
{
    struct seen *s = ctx;
    if (s->n < 16) {
        s->ts[s->n] = ts;
        snprintf(s->line[s->n], sizeof(s->line[0]), "%.*s", (int)len, line);
    }
    s->n++;
}

static int parse(const char *body, size_t limit, struct seen *s, struct ls_loki_page *pg)
{
    memset(s, 0, sizeof(*s));
    return ls_loki_query_parse(body, strlen(body), LAB, strlen(LAB), limit, on_entry, s, pg);
}

static void test_url(void **st)
{
    (void)st;
    char *u = ls_loki_query_url("http://l:3100/loki/api/v1/push", LAB, strlen(LAB), 5, 10, 1000);
    assert_string_equal(u, "http://l:3100/loki/api/v1/query_range?query=%7Blevel%3D%22info%22%2Cservice%3D%22hello"
                           "%22%7D&start=5&end=10&limit=1000&direction=forward");
    free(u);
    u = ls_loki_query_url("https://l/base/", "{a=\"x y\"}", 9, -1, 0, 7);
    assert_string_equal(u, "https://l/base/loki/api/v1/query_range?query=%7Ba%3D%22x%20y%22%7D&start=-1&end=0"
                           "&limit=7&direction=forward");
    free(u);
}

/* Only the stream with exactly these labels counts: a selector also matches supersets. */
static void test_exact_labels_only(void **st)
{
    (void)st;
    struct seen s;
    struct ls_loki_page pg;
    const char *body =
        "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":["
        "{\"stream\":{\"service\":\"hello\",\"level\":\"info\",\"pod\":\"a\"},\"values\":[[\"1\",\"super\"]]},"
        "{\"stream\":{\"service\":\"hello\",\"level\":\"info\"},\"values\":[[\"2\",\"mine\"],[\"3\",\"m2\",{\"k\":\"v\"}]]},"
        "{\"stream\":{\"service\":\"hello\",\"level\":\"infox\"},\"values\":[[\"4\",\"other\"]]}"
        "],\"stats\":{}}}";
    assert_int_equal(parse(body, 1000, &s, &pg), 0);
    assert_int_equal(pg.returned, 4);
    assert_int_equal(pg.reported, 2);
    assert_int_equal(pg.more, 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.ts[0], 2);
    assert_string_equal(s.line[0], "mine");
    assert_int_equal(s.ts[1], 3);
}

/* A full page: its newest timestamp is left for the next page, which starts there. */
static void test_full_page_cut(void **st)
{
    (void)st;
    struct seen s;
    struct ls_loki_page pg;
    const char *body = "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":["
                       "{\"stream\":{\"service\":\"hello\",\"level\":\"info\"},\"values\":"
                       "[[\"10\",\"a\"],[\"11\",\"b\"],[\"12\",\"c\"],[\"12\",\"d\"]]}]}}";
    assert_int_equal(parse(body, 4, &s, &pg), 0);
    assert_int_equal(pg.more, 1);
    assert_int_equal(pg.next_start, 12);
    assert_int_equal(s.n, 2);
    assert_int_equal(parse(body, 5, &s, &pg), 0);   /* not full: everything */
    assert_int_equal(pg.more, 0);
    assert_int_equal(s.n, 4);
    const char *one_ts = "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":["
                         "{\"stream\":{\"service\":\"hello\",\"level\":\"info\"},\"values\":"
                         "[[\"12\",\"a\"],[\"12\",\"b\"]]}]}}";
    assert_int_equal(parse(one_ts, 2, &s, &pg), -1); /* cannot page past one timestamp */
}

static void test_malformed(void **st)
{
    (void)st;
    struct seen s;
    struct ls_loki_page pg;
    static const char *bad[] = {
        "",
        "not json",
        "{\"status\":\"error\",\"data\":{\"resultType\":\"streams\",\"result\":[]}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[]}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":{}}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":[{\"stream\":{},\"values\":[[1,\"a\"]]}]}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":[{\"stream\":{},\"values\":[[\"1x\",\"a\"]]}]}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":[{\"stream\":{},\"values\":[[\"1\"]]}]}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":[{\"stream\":{},\"values\":[[\"99999999999999999999\",\"a\"]]}]}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":[{\"stream\":{}}]}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":[]}", /* cut */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(bad[i], 1000, &s, &pg), -1);
    assert_int_equal(parse("{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":[]}}", 1000, &s,
                           &pg), 0);
    assert_int_equal(pg.returned, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_exact_labels_only),
        cmocka_unit_test(test_full_page_cut),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
