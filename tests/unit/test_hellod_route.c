/* test_hellod_route: routing decisions (route template, status) and the HTTPS redirect target. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "buf.h"
#include "service/route.h"

static void test_match_is_exact(void **state)
{
    (void)state;
    assert_int_equal(route_match("/helloworld"), ROUTE_HELLO);
    assert_int_equal(route_match("/healthz"), ROUTE_HEALTHZ);
    assert_int_equal(route_match("/readyz"), ROUTE_READYZ);
    assert_int_equal(route_match("/metrics"), ROUTE_METRICS);
    const char *miss[] = {"/", "", "/helloworld/", "/HELLOWORLD", "/helloworldx", "helloworld",
                          "/hello%77orld", "/metrics/x", NULL};
    for (int i = 0; miss[i]; i++)
        assert_int_equal(route_match(miss[i]), ROUTE_NOT_FOUND);
    assert_int_equal(route_match(NULL), ROUTE_NOT_FOUND);
}

static void test_methods(void **state)
{
    (void)state;
    assert_int_equal(route_method("GET"), METHOD_GET);
    assert_int_equal(route_method("HEAD"), METHOD_HEAD);
    assert_int_equal(route_method("PATCH"), METHOD_PATCH);
    assert_int_equal(route_method("get"), METHOD_OTHER);   /* methods are case-sensitive */
    assert_int_equal(route_method("BREW"), METHOD_OTHER);
    assert_int_equal(route_method(NULL), METHOD_OTHER);
    assert_string_equal(route_method_name(METHOD_OTHER), "other");
    assert_string_equal(route_method_name(METHOD_DELETE), "DELETE");
}

static void test_labels_are_templates(void **state)
{
    (void)state;
    assert_string_equal(route_name(ROUTE_HELLO), "helloworld");
    assert_string_equal(route_name(ROUTE_NOT_FOUND), "not_found");
    assert_string_equal(route_name(ROUTE_REDIRECT), "redirect");
    assert_string_equal(route_name(ROUTE_INVALID), "invalid");
    assert_string_equal(route_name((enum route_id)99), "invalid");
}

static void check(int tls, enum method_id m, const char *path, int ready,
                  enum route_id want_route, int want_status)
{
    struct route_decision d = route_decide(tls, m, path, ready);
    assert_int_equal(d.route, want_route);
    assert_int_equal(d.status, want_status);
}

static void test_decisions(void **state)
{
    (void)state;
    check(1, METHOD_GET, "/helloworld", 1, ROUTE_HELLO, 200);
    check(1, METHOD_HEAD, "/helloworld", 1, ROUTE_HELLO, 200);
    check(1, METHOD_POST, "/helloworld", 1, ROUTE_HELLO, 405);
    check(1, METHOD_OTHER, "/healthz", 1, ROUTE_HEALTHZ, 405);
    check(1, METHOD_OPTIONS, "/metrics", 1, ROUTE_METRICS, 405);
    check(1, METHOD_GET, "/nope", 1, ROUTE_NOT_FOUND, 404);
    check(1, METHOD_POST, "/nope", 1, ROUTE_NOT_FOUND, 404);   /* unknown path wins */
    check(1, METHOD_GET, "/readyz", 1, ROUTE_READYZ, 200);
    check(1, METHOD_GET, "/readyz", 0, ROUTE_READYZ, 503);
    check(1, METHOD_GET, "/healthz", 0, ROUTE_HEALTHZ, 200);   /* alive while draining */
    check(1, METHOD_GET, "/helloworld", 0, ROUTE_HELLO, 200);  /* in-flight work still served */
    check(0, METHOD_GET, "/helloworld", 1, ROUTE_REDIRECT, 301);
    check(0, METHOD_HEAD, "/x", 1, ROUTE_REDIRECT, 301);
    check(0, METHOD_POST, "/helloworld", 1, ROUTE_REDIRECT, 308);
    check(0, METHOD_GET, "/readyz", 0, ROUTE_REDIRECT, 301);
}

static void loc_ok(const char *host, int port, const char *path, const char *query,
                   const char *want)
{
    buf_t b;
    buf_init(&b, 4096);
    assert_int_equal(route_redirect_location(&b, host, port, path, query), 0);
    assert_string_equal(b.p, want);
    buf_free(&b);
}

static void loc_bad(const char *host)
{
    buf_t b;
    buf_init(&b, 4096);
    assert_int_equal(route_redirect_location(&b, host, 8443, "/", NULL), -1);
    buf_free(&b);
}

static void test_redirect_location(void **state)
{
    (void)state;
    loc_ok("example.com", 8443, "/helloworld", NULL, "https://example.com:8443/helloworld");
    loc_ok("example.com:8080", 8443, "/a", "b=1&c=%20", "https://example.com:8443/a?b=1&c=%20");
    loc_ok("example.com", 443, "/", NULL, "https://example.com/");
    loc_ok("10.0.0.1:80", 9443, "/x", "", "https://10.0.0.1:9443/x?");
    loc_ok("[::1]:8080", 8443, "/", NULL, "https://[::1]:8443/");
    loc_ok("[2001:db8::1]", 443, "/p", NULL, "https://[2001:db8::1]/p");
    loc_ok("h", 8443, NULL, NULL, "https://h:8443/");
    loc_ok("h", 8443, "*", NULL, "https://h:8443/");
    /* bytes outside RFC 3986 are encoded; valid %XX kept; stray % encoded */
    loc_ok("h", 8443, "/a b\"<>\\^`{|}", NULL, "https://h:8443/a%20b%22%3C%3E%5C%5E%60%7B%7C%7D");
    loc_ok("h", 8443, "/%41%zz%", "q=%4", "https://h:8443/%41%25zz%25?q=%254");
    loc_ok("h", 8443, "/\xff\x01\r\n", "a?b", "https://h:8443/%FF%01%0D%0A?a?b");
    loc_ok("h", 8443, "/~user/!$&'()*+,;=:@", NULL, "https://h:8443/~user/!$&'()*+,;=:@");
    loc_ok("h:", 8443, "/", NULL, "https://h:8443/"); /* RFC 3986 allows an empty port */
}

static void test_redirect_refuses_bad_hosts(void **state)
{
    (void)state;
    loc_bad(NULL);
    loc_bad("");
    loc_bad(":8080");
    loc_bad("evil.com/path");
    loc_bad("user@evil.com");
    loc_bad("a b");
    loc_bad("host\r\nX-Injected: 1");
    loc_bad("h:80x");
    loc_bad("h:123456");
    loc_bad("[]");
    loc_bad("[::1");
    loc_bad("[::1]x");
    loc_bad("[zz::1]");
    loc_bad("caf\xc3\xa9.example");
    char longhost[300];
    memset(longhost, 'a', sizeof(longhost) - 1);
    longhost[sizeof(longhost) - 1] = '\0';
    loc_bad(longhost);
}

static void test_redirect_respects_buffer_cap(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 16);
    assert_int_equal(route_redirect_location(&b, "example.com", 8443, "/a-long-path", NULL), -1);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_is_exact),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_labels_are_templates),
        cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_redirect_location),
        cmocka_unit_test(test_redirect_refuses_bad_hosts),
        cmocka_unit_test(test_redirect_respects_buffer_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
