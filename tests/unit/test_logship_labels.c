/* Unit tests for the label string grammar: what the builder writes, the parser reads back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "logship/core/labels.h"

struct collect {
    buf_t out; /* name=value;... unescaped */
};

static int collect_pair(void *ctx, const char *name, size_t nlen, const char *val, size_t vlen)
{
    struct collect *c = ctx;
    if (buf_add(&c->out, name, nlen) != 0 || buf_addc(&c->out, '=') != 0 || buf_add(&c->out, val, vlen) != 0 ||
        buf_addc(&c->out, ';') != 0)
        return -1;
    return 0;
}

static void test_round_trip(void **state)
{
    (void)state;
    buf_t s, esc, scratch;
    buf_init(&s, 4096);
    buf_init(&esc, 4096);
    buf_init(&scratch, 4096);
    const char v1[] = "a\\b\"c\nd\te";
    assert_int_equal(buf_addc(&s, '{'), 0);
    assert_int_equal(ls_labels_escape(&esc, v1, strlen(v1)), 0);
    assert_int_equal(esc.len, strlen("a\\\\b\\\"c\\nd\\te"));
    assert_int_equal(ls_labels_add_escaped(&s, "job", 3, esc.p, esc.len), 0);
    assert_int_equal(ls_labels_add_escaped(&s, "x_1", 3, "y", 1), 0);
    assert_int_equal(buf_addc(&s, '}'), 0);
    assert_int_equal(s.len, strlen("{job=\"a\\\\b\\\"c\\nd\\te\",x_1=\"y\"}"));
    assert_memory_equal(s.p, "{job=\"a\\\\b\\\"c\\nd\\te\",x_1=\"y\"}", s.len);

    struct collect c;
    buf_init(&c.out, 4096);
    assert_int_equal(ls_labels_each(s.p, s.len, &scratch, collect_pair, &c), 0);
    const char want[] = "job=a\\b\"c\nd\te;x_1=y;";
    assert_int_equal(c.out.len, sizeof(want) - 1);
    assert_memory_equal(c.out.p, want, c.out.len);
    buf_free(&c.out);
    buf_free(&s);
    buf_free(&esc);
    buf_free(&scratch);
}

static void test_malformed(void **state)
{
    (void)state;
    const char *good[] = {"{}", "{ }", "{a=\"\"}", "{a=\"b\", c=\"d\"}", "{ _x9=\"\\t\"}"};
    const char *bad[] = {"", "{", "a=\"b\"", "{a=\"b\",}", "{9a=\"b\"}", "{a=b}", "{a=\"b}", "{a=\"\\x\"}",
                         "{a=\"b\"c=\"d\"}", "{a =\"b\"}", "{a=\"b\",  }"};
    buf_t scratch;
    buf_init(&scratch, 64);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(ls_labels_each(good[i], strlen(good[i]), &scratch, NULL, NULL), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(ls_labels_each(bad[i], strlen(bad[i]), &scratch, NULL, NULL), -1);
    buf_free(&scratch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
