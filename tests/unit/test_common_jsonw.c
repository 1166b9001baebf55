/* test_common_jsonw: jsonw turns every hostile byte sequence into a valid JSON string in valid UTF-8. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "utf8.h"
#include "test_common_json_check.h"

static void encode_ok(const char *in, size_t n, buf_t *b)
{
    buf_reset(b);
    assert_int_equal(jsonw_str(b, in, n), 0);
    if (!jc_is_json_string(b->p, b->len))
        fail_msg("not a valid JSON string: %s", b->p);
}

static void expect(const char *in, size_t n, const char *want)
{
    buf_t b;
    buf_init(&b, 0);
    encode_ok(in, n, &b);
    assert_string_equal(b.p, want);
    buf_free(&b);
}

static void test_plain_and_escapes(void **st)
{
    (void)st;
    expect("hello", 5, "\"hello\"");
    expect("", 0, "\"\"");
    expect("a\"b\\c/", 6, "\"a\\\"b\\\\c/\"");
    expect("\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"");
    expect("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"");
    expect("a\0b", 3, "\"a\\u0000b\"");
}

static void test_utf8_kept_and_repaired(void **st)
{
    (void)st;
    expect("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    expect("\xef\xbf\xbf\xf4\x8f\xbf\xbf", 7, "\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\"");
    /* overlong '/' and NUL */
    expect("\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    expect("\xe0\x80\xaf", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    expect("\xc0\x80", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    /* surrogate U+D800 */
    expect("\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    /* > U+10FFFF */
    expect("\xf4\x90\x80\x80", 4, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    /* truncated sequence followed by ASCII */
    expect("\xe2\x82x", 3, "\"\xef\xbf\xbd\xef\xbf\xbdx\"");
    /* truncated at end of input */
    expect("ok\xf0\x9f\x98", 5, "\"ok\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
}

static void test_every_byte_alone_and_pairs(void **st)
{
    (void)st;
    buf_t b;
    buf_init(&b, 0);
    char in[3];
    for (int x = 0; x < 256; x++) {
        in[0] = (char)x;
        encode_ok(in, 1, &b);
        for (int y = 0; y < 256; y++) {
            in[1] = (char)y;
            encode_ok(in, 2, &b);
            in[2] = (char)0x80;
            encode_ok(in, 3, &b);
        }
    }
    buf_free(&b);
}

static void test_random_hostile(void **st)
{
    (void)st;
    static const unsigned char alphabet[] = {0x00, 0x22, 0x5c, 0x0a, 0x41, 0x7f, 0x80, 0xbf, 0xc0,
                                             0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff,
                                             0xa0, 0x90, 0x8f, 0x9f};
    buf_t b;
    char in[64];
    unsigned seed = 12345;
    buf_init(&b, 0);
    for (int round = 0; round < 200000; round++) {
        size_t n = (size_t)(rand_r(&seed) % sizeof in);
        for (size_t i = 0; i < n; i++)
            in[i] = (char)alphabet[(size_t)rand_r(&seed) % sizeof alphabet];
        encode_ok(in, n, &b);
        /* Valid UTF-8 without specials must come back byte for byte. */
        if (utf8_valid(in, n) && !memchr(in, '"', n) && !memchr(in, '\\', n)) {
            int plain = 1;
            for (size_t i = 0; i < n; i++)
                plain &= (unsigned char)in[i] >= 0x20;
            if (plain) {
                assert_int_equal(b.len, n + 2);
                assert_memory_equal(b.p + 1, in, n);
            }
        }
        assert_int_equal(utf8_valid(in, n), jc_utf8((const unsigned char *)in, n));
    }
    buf_free(&b);
}

static void test_long_ascii_span(void **st)
{
    (void)st;
    buf_t b;
    size_t n = 100000;
    char *in = malloc(n);
    assert_non_null(in);
    memset(in, 'x', n);
    in[n / 2] = '"';
    buf_init(&b, 0);
    encode_ok(in, n, &b);
    assert_int_equal(b.len, n + 3);
    free(in);
    buf_free(&b);
}

static void test_cap_leaves_buffer_unchanged(void **st)
{
    (void)st;
    buf_t b;
    buf_init(&b, 16);
    assert_int_equal(buf_adds(&b, "{"), 0);
    assert_int_equal(jsonw_kv_str(&b, "k", "0123456789abcdef"), -1);
    assert_string_equal(b.p, "{");
    assert_int_equal(jsonw_kv_int(&b, "a", 1), 0);
    assert_int_equal(jsonw_str(&b, "\x01\x01", 2), -1); /* 14 bytes would not fit */
    assert_string_equal(b.p, "{\"a\":1");
    buf_free(&b);
}

static void test_capped(void **st)
{
    (void)st;
    buf_t b;
    int cut = -1;
    buf_init(&b, 0);
    assert_int_equal(jsonw_str_capped(&b, "hello", 5, 100, &cut), 0);
    assert_string_equal(b.p, "\"hello\"");
    assert_int_equal(cut, 0);
    /* room for 4 bytes of content: the euro sign (3 bytes) fits after 'a', the
     * next one does not and is not split. */
    buf_reset(&b);
    assert_int_equal(jsonw_str_capped(&b, "a\xe2\x82\xac\xe2\x82\xac", 7, 6, &cut), 0);
    assert_string_equal(b.p, "\"a\xe2\x82\xac\"");
    assert_int_equal(cut, 1);
    /* escapes are not split either */
    buf_reset(&b);
    assert_int_equal(jsonw_str_capped(&b, "ab\x01", 3, 7, &cut), 0);
    assert_string_equal(b.p, "\"ab\"");
    assert_int_equal(cut, 1);
    buf_reset(&b);
    assert_int_equal(jsonw_str_capped(&b, "x", 1, 1, &cut), -1);
    buf_free(&b);
}

static void test_object_helpers(void **st)
{
    (void)st;
    buf_t b;
    buf_init(&b, 0);
    assert_int_equal(buf_addc(&b, '{'), 0);
    assert_int_equal(jsonw_kv_str(&b, "s", "v"), 0);
    assert_int_equal(jsonw_kv_str(&b, "n", NULL), 0);
    assert_int_equal(jsonw_kv_strn(&b, "b", "x\0y", 3), 0);
    assert_int_equal(jsonw_kv_int(&b, "i", INT64_MIN), 0);
    assert_int_equal(jsonw_kv_uint(&b, "u", UINT64_MAX), 0);
    assert_int_equal(jsonw_kv_double(&b, "d", 1.5, 3), 0);
    assert_int_equal(jsonw_kv_double(&b, "z", -0.0001, 2), 0);
    assert_int_equal(jsonw_kv_double(&b, "inf", 1.0 / 0.0, 2), 0);
    assert_int_equal(jsonw_kv_bool(&b, "t", 7), 0);
    assert_int_equal(jsonw_kv_bool(&b, "f", 0), 0);
    assert_int_equal(jsonw_kv_raw(&b, "r", "[1,2]", 5), 0);
    assert_int_equal(jsonw_kv_str(&b, "k\"ey", ""), 0);
    assert_int_equal(buf_addc(&b, '}'), 0);
    assert_string_equal(b.p, "{\"s\":\"v\",\"n\":null,\"b\":\"x\\u0000y\",\"i\":-9223372036854775808,"
                             "\"u\":18446744073709551615,\"d\":1.500,\"z\":0.00,\"inf\":null,"
                             "\"t\":true,\"f\":false,\"r\":[1,2],\"k\\\"ey\":\"\"}");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_escapes),
        cmocka_unit_test(test_utf8_kept_and_repaired),
        cmocka_unit_test(test_every_byte_alone_and_pairs),
        cmocka_unit_test(test_random_hostile),
        cmocka_unit_test(test_long_ascii_span),
        cmocka_unit_test(test_cap_leaves_buffer_unchanged),
        cmocka_unit_test(test_capped),
        cmocka_unit_test(test_object_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
