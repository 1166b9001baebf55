/* test_common_buf: buf_t grows geometrically, never past its cap, and fails without side effects. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static void test_append_and_nul(void **st)
{
    (void)st;
    buf_t b;
    buf_init(&b, 0);
    assert_null(b.p);
    assert_int_equal(buf_add(&b, "", 0), 0);
    assert_non_null(b.p);
    assert_string_equal(b.p, "");
    assert_int_equal(buf_adds(&b, "ab"), 0);
    assert_int_equal(buf_addc(&b, 'c'), 0);
    assert_int_equal(buf_printf(&b, "-%d-%s", 42, "x"), 0);
    assert_string_equal(b.p, "abc-42-x");
    assert_int_equal(b.len, 8);
    buf_truncate(&b, 2);
    assert_string_equal(b.p, "ab");
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.p, "");
    buf_free(&b);
}

static void test_long_printf(void **st)
{
    (void)st;
    buf_t b;
    char big[1000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    buf_init(&b, 0);
    assert_int_equal(buf_adds(&b, ">"), 0);
    assert_int_equal(buf_printf(&b, "%s|%s", big, big), 0);
    assert_int_equal(b.len, 1 + 999 * 2 + 1);
    assert_int_equal(b.p[b.len], '\0');
    buf_free(&b);
}

static void test_cap(void **st)
{
    (void)st;
    buf_t b;
    buf_init(&b, 5);
    assert_int_equal(buf_adds(&b, "abcd"), 0);
    assert_int_equal(buf_adds(&b, "ef"), -1);
    assert_string_equal(b.p, "abcd");
    assert_int_equal(buf_addc(&b, 'e'), 0);
    assert_int_equal(buf_addc(&b, 'f'), -1);
    assert_int_equal(buf_printf(&b, "%d", 1), -1);
    assert_string_equal(b.p, "abcde");
    assert_true(b.cap <= 6);
    assert_int_equal(buf_reserve(&b, 1), -1);
    assert_int_equal(buf_reserve(&b, SIZE_MAX), -1);
    buf_free(&b);
}

static void test_geometric_growth(void **st)
{
    (void)st;
    buf_t b;
    int reallocs = 0;
    size_t cap = 0;
    buf_init(&b, 0);
    for (int i = 0; i < 1000000; i++) {
        assert_int_equal(buf_addc(&b, 'x'), 0);
        if (b.cap != cap) {
            reallocs++;
            cap = b.cap;
        }
    }
    assert_true(reallocs < 30);
    buf_free(&b);
}

static void test_steal(void **st)
{
    (void)st;
    buf_t b;
    size_t len = 99;
    buf_init(&b, 0);
    assert_null(buf_steal(&b, &len));
    assert_int_equal(len, 0);
    assert_int_equal(buf_adds(&b, "hi"), 0);
    char *p = buf_steal(&b, &len);
    assert_string_equal(p, "hi");
    assert_int_equal(len, 2);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_nul),
        cmocka_unit_test(test_long_printf),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_geometric_growth),
        cmocka_unit_test(test_steal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
