/* test_hellod_response: the exact bytes of hellod's responses (status line, headers, HEAD, Date). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "buf.h"
#include "service/response.h"

/* Drop the Date line so the rest can be compared byte for byte. */
static void strip_date(char *s)
{
    char *d = strstr(s, "Date: ");
    char *e = d ? strstr(d, "\r\n") : NULL;
    assert_non_null(e);
    memmove(d, e + 2, strlen(e + 2) + 1);
}

static void test_full_response(void **state)
{
    (void)state;
    buf_t b;
    struct resp_head h;
    const char body[] = "{\"message\":\"Hello World\"}";

    buf_init(&b, 4096);
    memset(&h, 0, sizeof(h));
    h.status = 200;
    h.content_type = "application/json";
    h.request_id = "abc";
    h.hsts = "max-age=60";
    assert_int_equal(resp_build(&b, &h, body, strlen(body), 0), 0);
    strip_date(b.p);
    assert_string_equal(b.p, "HTTP/1.1 200 OK\r\n"
                             "Content-Type: application/json\r\n"
                             "Content-Length: 25\r\n"
                             "X-Request-Id: abc\r\n"
                             "X-Content-Type-Options: nosniff\r\n"
                             "Strict-Transport-Security: max-age=60\r\n"
                             "\r\n"
                             "{\"message\":\"Hello World\"}");
    assert_null(strstr(b.p, "Server:"));
    buf_free(&b);
}

static void test_head_keeps_length_drops_body(void **state)
{
    (void)state;
    buf_t b;
    struct resp_head h;

    buf_init(&b, 4096);
    memset(&h, 0, sizeof(h));
    h.status = 405;
    h.content_type = "application/json";
    h.request_id = "r";
    h.allow = "GET, HEAD";
    h.conn_close = 1;
    assert_int_equal(resp_build(&b, &h, "{\"error\":\"x\"}", 13, 1), 0);
    strip_date(b.p);
    assert_string_equal(b.p, "HTTP/1.1 405 Method Not Allowed\r\n"
                             "Content-Type: application/json\r\n"
                             "Content-Length: 13\r\n"
                             "X-Request-Id: r\r\n"
                             "X-Content-Type-Options: nosniff\r\n"
                             "Allow: GET, HEAD\r\n"
                             "Connection: close\r\n"
                             "\r\n");
    buf_free(&b);
}

static void test_redirect_and_keep_alive_headers(void **state)
{
    (void)state;
    buf_t b;
    struct resp_head h;

    buf_init(&b, 4096);
    memset(&h, 0, sizeof(h));
    h.status = 308;
    h.content_type = "application/json";
    h.request_id = "r";
    h.location = "https://h:1/";
    h.conn_keep_alive = 1;
    assert_int_equal(resp_build(&b, &h, "{}", 2, 0), 0);
    assert_non_null(strstr(b.p, "HTTP/1.1 308 Permanent Redirect\r\n"));
    assert_non_null(strstr(b.p, "Location: https://h:1/\r\n"));
    assert_non_null(strstr(b.p, "Connection: keep-alive\r\n"));
    assert_null(strstr(b.p, "Strict-Transport-Security"));
    buf_free(&b);
}

static void test_cap_is_an_error(void **state)
{
    (void)state;
    buf_t b;
    struct resp_head h;

    buf_init(&b, 64);
    memset(&h, 0, sizeof(h));
    h.status = 200;
    h.content_type = "application/json";
    h.request_id = "r";
    assert_int_equal(resp_build(&b, &h, "{}", 2, 0), -1);
    buf_free(&b);
}

static void test_reasons_and_date(void **state)
{
    (void)state;
    char d[32];
    assert_string_equal(resp_reason(404), "Not Found");
    assert_string_equal(resp_reason(503), "Service Unavailable");
    assert_string_equal(resp_reason(299), "Unknown");
    resp_date(d);
    /* "Sun, 06 Nov 1994 08:49:37 GMT" */
    assert_int_equal(strlen(d), 29);
    assert_int_equal(d[3], ',');
    assert_string_equal(d + 25, " GMT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_response),
        cmocka_unit_test(test_head_keeps_length_drops_body),
        cmocka_unit_test(test_redirect_and_keep_alive_headers),
        cmocka_unit_test(test_cap_is_an_error),
        cmocka_unit_test(test_reasons_and_date),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
