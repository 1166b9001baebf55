/* Unit tests for the strict JSON scanner: grammar edges, depth, the object walk and unescaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "jsonscan.h"

static int valid(const char *s)
{
    return jsonscan_valid(s, strlen(s));
}

static void test_grammar(void **state)
{
    (void)state;
    const char *good[] = {"{}", "[]", " 0 ", "-0.5e+3", "\"a\\u00e9\\n\"", "{\"a\":[1,{\"b\":null}]}",
                          "true", "1E05", "[\"\\ud83d\\ude00\"]"};
    const char *bad[] = {"", "{", "{\"a\":}", "[1,]", "01", "2.", "-", "1e", "tru", "\"\\x\"", "\"a\x01\"",
                         "{\"a\" 1}", "[1 2]", "{} {}", "NaN", "\"\\u12\""};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(valid(good[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(valid(bad[i]));
}

static void test_depth(void **state)
{
    (void)state;
    char deep[2 * JSONSCAN_MAX_DEPTH + 3];
    size_t n = 0;
    for (int i = 0; i < JSONSCAN_MAX_DEPTH; i++)
        deep[n++] = '[';
    for (int i = 0; i < JSONSCAN_MAX_DEPTH; i++)
        deep[n++] = ']';
    assert_true(jsonscan_valid(deep, n));
    assert_null(jsonscan_value(deep, deep + n, JSONSCAN_MAX_DEPTH - 1));
    memmove(deep + 1, deep, n);
    deep[0] = '[';
    deep[n + 1] = ']';
    assert_false(jsonscan_valid(deep, n + 2));
}

static void test_object_walk(void **state)
{
    (void)state;
    const char *s = " { \"a\" : 1 , \"b\\u0063\" : {\"x\":[]}, \"d\":\"e\" } tail";
    const char *e = s + strlen(s);
    struct jsonscan_obj o;
    assert_int_equal(jsonscan_obj_open(&o, s, e), 0);
    int seen = 0, r;
    while ((r = jsonscan_obj_next(&o)) == 1) {
        if (seen == 1)
            assert_true(jsonscan_key_is(&o, "bc", 2));
        else
            assert_false(jsonscan_key_is(&o, "bc", 2));
        o.p = jsonscan_value(o.p, e, 8);
        seen++;
    }
    assert_int_equal(r, 0);
    assert_int_equal(seen, 3);
    assert_string_equal(o.p, " tail");
    const char *bad = "{\"a\":1,}";
    assert_int_equal(jsonscan_obj_open(&o, bad, bad + strlen(bad)), 0);
    assert_int_equal(jsonscan_obj_next(&o), 1);
    o.p = jsonscan_value(o.p, o.e, 8);
    assert_int_equal(jsonscan_obj_next(&o), -1);
    assert_int_equal(jsonscan_obj_open(&o, "[]", NULL), -1);
}

static void test_unescape(void **state)
{
    (void)state;
    const char *raw = "a\\n\\u00e9\\ud83d\\ude00\\udc00\\/x\\";
    buf_t b;
    buf_init(&b, 256);
    assert_int_equal(jsonscan_unescape(raw, strlen(raw), &b), 0);
    const char want[] = "a\n\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbd/x\\";
    assert_int_equal(b.len, sizeof(want) - 1);
    assert_memory_equal(b.p, want, b.len);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grammar),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_object_walk),
        cmocka_unit_test(test_unescape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
