/* test_common_metrics: the registry renders exactly the Prometheus text format and updates are exact under threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static char *render(metrics_registry *r)
{
    buf_t b;
    buf_init(&b, 1 << 20);
    assert_int_equal(metrics_render(r, &b), 0);
    char *s = buf_steal(&b, NULL);
    assert_non_null(s);
    return s;
}

static void test_counter_gauge_text(void **st)
{
    (void)st;
    metrics_registry *r = metrics_new();
    const char *lab[] = {"route", "code"};
    metrics_family *req = metrics_counter(r, "http_requests_total", "Requests \\ served\nby route.", 2, lab);
    metrics_family *up = metrics_gauge(r, "up", "Always 1.", 0, NULL);
    metrics_family *temp = metrics_gauge(r, "temp_celsius", "Temperature.", 0, NULL);
    assert_non_null(req);
    assert_non_null(up);
    metrics_family_add(req, (const char *[]){"/", "200"}, 12);
    metrics_family_add(req, (const char *[]){"a\"b\\c\nd", "500"}, 1);
    metrics_family_add(req, (const char *[]){"/", "200"}, -5); /* ignored */
    metrics_family_set(up, NULL, 1);
    metrics_child *t = metrics_child_get(temp, NULL);
    metrics_set(t, -3.5);
    metrics_add(t, -1);
    assert_true(metrics_value(t) == -4.5);
    char *s = render(r);
    assert_string_equal(s,
        "# HELP http_requests_total Requests \\\\ served\\nby route.\n"
        "# TYPE http_requests_total counter\n"
        "http_requests_total{route=\"/\",code=\"200\"} 12\n"
        "http_requests_total{route=\"a\\\"b\\\\c\\nd\",code=\"500\"} 1\n"
        "# HELP up Always 1.\n"
        "# TYPE up gauge\n"
        "up 1\n"
        "# HELP temp_celsius Temperature.\n"
        "# TYPE temp_celsius gauge\n"
        "temp_celsius -4.5\n");
    free(s);
    metrics_free(r);
}

static void test_numbers(void **st)
{
    (void)st;
    metrics_registry *r = metrics_new();
    const char *lab[] = {"k"};
    metrics_family *g = metrics_gauge(r, "g", "", 1, lab);
    metrics_family_set(g, (const char *[]){"big"}, 1e15);
    metrics_family_set(g, (const char *[]){"tiny"}, 0.1);
    metrics_family_set(g, (const char *[]){"inf"}, INFINITY);
    metrics_family_set(g, (const char *[]){"ninf"}, -INFINITY);
    metrics_family_set(g, (const char *[]){"nan"}, NAN);
    metrics_family_set(g, (const char *[]){"huge"}, 1e300);
    metrics_family_set(g, (const char *[]){"\xc3\xa9\xff\xe2\x82"}, 2);
    char *s = render(r);
    assert_string_equal(s, "# HELP g \n# TYPE g gauge\n"
                           "g{k=\"big\"} 1000000000000000\n"
                           "g{k=\"tiny\"} 0.1\n"
                           "g{k=\"inf\"} +Inf\n"
                           "g{k=\"ninf\"} -Inf\n"
                           "g{k=\"nan\"} NaN\n"
                           "g{k=\"huge\"} 1e+300\n"
                           "g{k=\"\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"} 2\n");
    free(s);
    metrics_free(r);
}

static void test_histogram(void **st)
{
    (void)st;
    metrics_registry *r = metrics_new();
    const char *lab[] = {"route"};
    const double bk[] = {0.005, 0.1, 1};
    metrics_family *h = metrics_histogram(r, "req_seconds", "Latency.", 1, lab, 3, bk);
    assert_non_null(h);
    metrics_child *c = metrics_child_get(h, (const char *[]){"/"});
    metrics_observe(c, 0.001);
    metrics_observe(c, 0.005); /* le is inclusive */
    metrics_observe(c, 0.05);
    metrics_observe(c, 3);
    metrics_observe(c, NAN); /* ignored */
    assert_true(metrics_value(c) == 4);
    char *s = render(r);
    assert_string_equal(s, "# HELP req_seconds Latency.\n# TYPE req_seconds histogram\n"
                           "req_seconds_bucket{route=\"/\",le=\"0.005\"} 2\n"
                           "req_seconds_bucket{route=\"/\",le=\"0.1\"} 3\n"
                           "req_seconds_bucket{route=\"/\",le=\"1\"} 3\n"
                           "req_seconds_bucket{route=\"/\",le=\"+Inf\"} 4\n"
                           "req_seconds_sum{route=\"/\"} 3.056\n"
                           "req_seconds_count{route=\"/\"} 4\n");
    free(s);
    metrics_free(r);
}

static void test_validation(void **st)
{
    (void)st;
    metrics_registry *r = metrics_new();
    const char *good[] = {"a_b"}, *bad[] = {"1a"}, *colon[] = {"a:b"}, *dup[] = {"x", "x"};
    const char *le[] = {"le"}, *reserved[] = {"__x"};
    const double up[] = {1, 2}, down[] = {2, 1};
    assert_non_null(metrics_counter(r, "ns:sub_total", "", 1, good));
    assert_null(metrics_counter(r, "ns:sub_total", "", 0, NULL));
    assert_null(metrics_counter(r, "9lives", "", 0, NULL));
    assert_null(metrics_counter(r, "bad-name", "", 0, NULL));
    assert_null(metrics_counter(r, "", "", 0, NULL));
    assert_null(metrics_counter(r, "c1", "", 1, bad));
    assert_null(metrics_counter(r, "c2", "", 1, colon));
    assert_null(metrics_counter(r, "c3", "", 2, dup));
    assert_null(metrics_counter(r, "c4", "", 1, reserved));
    assert_null(metrics_counter(r, "c5", "", METRICS_MAX_LABELS + 1, good));
    assert_null(metrics_histogram(r, "h1", "", 1, le, 2, up));
    assert_null(metrics_histogram(r, "h2", "", 0, NULL, 2, down));
    assert_non_null(metrics_histogram(r, "h3", "", 0, NULL, 2, up));
    assert_non_null(metrics_gauge(r, "_ok:name9", "", 0, NULL));
    metrics_free(r);
}

static void test_child_identity_and_cap(void **st)
{
    (void)st;
    metrics_registry *r = metrics_new();
    const char *lab[] = {"a", "b"};
    metrics_family *f = metrics_counter(r, "c", "h", 2, lab);
    metrics_child *x = metrics_child_get(f, (const char *[]){"1", "2"});
    assert_ptr_equal(x, metrics_child_get(f, (const char *[]){"1", "2"}));
    assert_ptr_not_equal(x, metrics_child_get(f, (const char *[]){"12", ""}));
    assert_ptr_not_equal(x, metrics_child_get(f, (const char *[]){"2", "1"}));
    buf_t b;
    buf_init(&b, 20);
    assert_int_equal(metrics_render(r, &b), -1);
    buf_free(&b);
    metrics_free(r);
}

static metrics_child *g_child;
static metrics_family *g_fam;

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++) {
        metrics_inc(g_child);
        metrics_family_add(g_fam, (const char *[]){i % 2 ? "odd" : "even"}, 0.5);
    }
    return NULL;
}

static void test_threads(void **st)
{
    (void)st;
    metrics_registry *r = metrics_new();
    const char *lab[] = {"p"};
    g_child = metrics_child_get(metrics_counter(r, "n_total", "", 0, NULL), NULL);
    g_fam = metrics_gauge(r, "g", "", 1, lab);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, NULL), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_true(metrics_value(g_child) == 400000);
    assert_true(metrics_value(metrics_child_get(g_fam, (const char *[]){"odd"})) == 100000);
    metrics_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_gauge_text),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_child_identity_and_cap),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
