/* test_hellod_framing: the framing rules on header fields, and on a head laid out the way civetweb leaves it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "civetweb.h"
#include "service/framing.h"

#define F(n, v) {n, v}

static void test_fields(void **state)
{
    (void)state;
    struct framing_field ok1[] = {F("Host", "x"), F("Content-Length", "5"), F("content-length", "05")};
    struct framing_field ok2[] = {F("Transfer-Encoding", "Chunked")};
    struct framing_field dup[] = {F("Content-Length", "0"), F("Content-Length", "38")};
    struct framing_field both[] = {F("Content-Length", "5"), F("Transfer-Encoding", "chunked")};
    struct framing_field gzip[] = {F("Transfer-Encoding", "gzip, chunked")};
    struct framing_field ident[] = {F("Transfer-Encoding", "identity")};
    struct framing_field te2[] = {F("Transfer-Encoding", "chunked"), F("Transfer-Encoding", "chunked")};
    struct framing_field sign[] = {F("Content-Length", "+5")};
    struct framing_field list[] = {F("Content-Length", "5, 5")};
    struct framing_field empty[] = {F("Content-Length", "")};

    assert_null(framing_check_fields(ok1, 3));
    assert_null(framing_check_fields(ok2, 1));
    assert_null(framing_check_fields(NULL, 0));
    assert_non_null(framing_check_fields(dup, 2));
    assert_non_null(framing_check_fields(both, 2));
    assert_non_null(framing_check_fields(gzip, 1));
    assert_non_null(framing_check_fields(ident, 1));
    assert_non_null(framing_check_fields(te2, 2));
    assert_non_null(framing_check_fields(sign, 1));
    assert_non_null(framing_check_fields(list, 1));
    assert_non_null(framing_check_fields(empty, 1));
}

/* "GET /x HTTP/1.1\r\nHost: x\r\n" then what follows the last field, as civetweb leaves it:
 * CR/LF and the colon zeroed, the head's final LF zeroed. */
static const char *check_raw(size_t zeroed_sep, const char *after_last)
{
    static char buf[128];
    struct mg_request_info ri;
    size_t n = 0, name_at, value_at;

    memset(buf, 'Z', sizeof(buf));
    memset(&ri, 0, sizeof(ri));
    memcpy(buf, "GET\0/x\0HTTP/1.1\0\0", 17);
    n = 17;
    name_at = n;
    memcpy(buf + n, "Host", 4);
    n += 4;
    memset(buf + n, 0, zeroed_sep); /* the colon, and any spaces before it, zeroed */
    n += zeroed_sep;
    value_at = n;
    memcpy(buf + n, "x\0\0", 3);
    n += 3;
    memcpy(buf + n, after_last, strlen(after_last) + 1);
    ri.request_method = buf;
    ri.request_uri = buf + 4;
    ri.http_version = buf + 12;
    ri.num_headers = 1;
    ri.http_headers[0].name = buf + name_at;
    ri.http_headers[0].value = buf + value_at;
    return framing_check(&ri, sizeof(buf));
}

static void test_raw_head(void **state)
{
    (void)state;
    assert_null(check_raw(1, "\r"));              /* "Host:x\r\n\r\n" */
    assert_non_null(check_raw(2, "\r"));          /* "Host :x": a zeroed space before the colon */
    assert_non_null(check_raw(1, " folded\r"));   /* an obs-fold line after the last field */
    assert_non_null(check_raw(1, "X-Next: 1\r")); /* an unparsed field after the last one */
}

static void test_isprint_takes_htab_only_extra(void **state)
{
    (void)state;
    assert_true(hellod_isprint('\t'));
    assert_true(hellod_isprint(' '));
    assert_true(hellod_isprint('~'));
    assert_false(hellod_isprint(0x7f));
    assert_false(hellod_isprint('\x01'));
    assert_true(framing_take_bad_byte());
    assert_false(framing_take_bad_byte());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_raw_head),
        cmocka_unit_test(test_isprint_takes_htab_only_extra),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
