/* test_logship_backoff: full-jitter exponential backoff bounds, growth, cap, Retry-After and reset. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>

#include "logship/core/backoff.h"

/* A scripted RNG: returns the values in order, then repeats the last. */
struct script { const uint64_t *v; size_t n, i; };

static uint64_t scripted(void *ctx)
{
    struct script *s = ctx;
    uint64_t r = s->v[s->i < s->n ? s->i : s->n - 1];
    s->i++;
    return r;
}

static uint64_t max_rng(void *ctx)
{
    (void)ctx;
    return UINT64_MAX;
}

static void test_ceiling_doubles_to_cap(void **state)
{
    (void)state;
    struct ls_backoff b;
    ls_backoff_init(&b, 500, 300000, max_rng, NULL);
    int64_t want[] = { 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000,
                       300000, 300000, 300000 };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_int_equal(ls_backoff_ceiling(&b), want[i]);
        /* UINT64_MAX % (ceil+1) is some value <= ceil */
        int64_t d = ls_backoff_next(&b, -1);
        assert_true(d >= 0 && d <= want[i]);
    }
    for (int i = 0; i < 100; i++)
        assert_true(ls_backoff_next(&b, -1) <= 300000);
}

static void test_full_jitter_uses_rng(void **state)
{
    (void)state;
    const uint64_t vals[] = { 0, 500, 1001, 7 };
    struct script s = { vals, 4, 0 };
    struct ls_backoff b;
    ls_backoff_init(&b, 500, 300000, scripted, &s);
    assert_int_equal(ls_backoff_next(&b, -1), 0);      /* 0 % 501 */
    assert_int_equal(ls_backoff_next(&b, -1), 500);    /* 500 % 1001 */
    assert_int_equal(ls_backoff_next(&b, -1), 1001);   /* 1001 % 2001 */
    assert_int_equal(ls_backoff_next(&b, -1), 7);
}

static void test_retry_after_is_a_floor_capped(void **state)
{
    (void)state;
    const uint64_t vals[] = { 0 };
    struct script s = { vals, 1, 0 };
    struct ls_backoff b;
    ls_backoff_init(&b, 500, 10000, scripted, &s);
    assert_int_equal(ls_backoff_next(&b, 3000), 3000);
    assert_int_equal(ls_backoff_next(&b, 999999), 10000);
    assert_int_equal(ls_backoff_next(&b, 0), 0);
}

static void test_reset_and_default_rng(void **state)
{
    (void)state;
    struct ls_backoff b;
    ls_backoff_init(&b, 500, 300000, NULL, NULL);
    int64_t sum = 0;
    for (int i = 0; i < 5; i++)
        sum += ls_backoff_next(&b, -1);
    assert_int_equal(ls_backoff_ceiling(&b), 16000);
    ls_backoff_reset(&b);
    assert_int_equal(ls_backoff_ceiling(&b), 500);
    /* The internal RNG spreads: 200 draws under 500 are not all equal. */
    int64_t first = ls_backoff_next(&b, -1), differ = 0;
    for (int i = 0; i < 200; i++) {
        ls_backoff_reset(&b);
        int64_t d = ls_backoff_next(&b, -1);
        assert_true(d >= 0 && d <= 500);
        differ += d != first;
    }
    assert_true(differ > 100);
    assert_true(sum >= 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ceiling_doubles_to_cap),
        cmocka_unit_test(test_full_jitter_uses_rng),
        cmocka_unit_test(test_retry_after_is_a_floor_capped),
        cmocka_unit_test(test_reset_and_default_rng),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
