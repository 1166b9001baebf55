/* test_hellod_reqid: the X-Request-Id echo rule and the generated ids' shape and uniqueness. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "service/reqid.h"

static int valid(const char *s)
{
    return reqid_valid(s, strlen(s));
}

static void test_accepts_common_id_shapes(void **state)
{
    (void)state;
    assert_true(valid("a"));
    assert_true(valid("123e4567-e89b-12d3-a456-426614174000"));
    assert_true(valid("0123456789abcdef0123456789abcdef"));
    assert_true(valid("dGVzdA=="));
    assert_true(valid("svc:orders/42+retry_1.x"));
    char max[REQID_MAX + 1];
    memset(max, 'Z', REQID_MAX);
    max[REQID_MAX] = '\0';
    assert_true(valid(max));
}

static void test_rejects_everything_else(void **state)
{
    (void)state;
    char over[REQID_MAX + 2];
    memset(over, 'a', REQID_MAX + 1);
    over[REQID_MAX + 1] = '\0';
    assert_false(valid(over));
    assert_false(valid(""));
    assert_false(reqid_valid(NULL, 3));
    assert_false(valid("has space"));
    assert_false(valid("tab\there"));
    assert_false(valid("quote\""));
    assert_false(valid("back\\slash"));
    assert_false(valid("crlf\r\nX-Evil: 1"));
    assert_false(valid("semi;colon"));
    assert_false(valid("caf\xc3\xa9"));
    assert_false(valid("\xff\xfe"));
    assert_false(valid("<script>"));
    /* an embedded NUL counts as a byte, and is refused */
    assert_false(reqid_valid("ab\0cd", 5));
    /* the length given is what counts, not the NUL */
    assert_true(reqid_valid("abcdef", 3));
}

static void test_generated_ids_are_32_hex_and_valid(void **state)
{
    (void)state;
    for (int i = 0; i < 1000; i++) {
        char id[REQID_GEN_LEN + 1];
        reqid_generate(id);
        assert_int_equal(strlen(id), REQID_GEN_LEN);
        for (int k = 0; k < REQID_GEN_LEN; k++)
            assert_non_null(strchr("0123456789abcdef", id[k]));
        assert_true(valid(id)); /* our own ids pass our own rule */
    }
}

static int cmp(const void *a, const void *b)
{
    return memcmp(a, b, REQID_GEN_LEN + 1);
}

#define PER_THREAD 5000
#define NTHREADS 4

static void *gen_many(void *arg)
{
    char (*out)[REQID_GEN_LEN + 1] = arg;
    for (int i = 0; i < PER_THREAD; i++)
        reqid_generate(out[i]);
    return NULL;
}

static void test_ids_unique_across_threads(void **state)
{
    (void)state;
    char (*ids)[REQID_GEN_LEN + 1] = calloc(PER_THREAD * NTHREADS, REQID_GEN_LEN + 1);
    pthread_t th[NTHREADS];
    assert_non_null(ids);
    for (int t = 0; t < NTHREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, gen_many, ids + t * PER_THREAD), 0);
    for (int t = 0; t < NTHREADS; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);
    qsort(ids, PER_THREAD * NTHREADS, REQID_GEN_LEN + 1, cmp);
    for (int i = 1; i < PER_THREAD * NTHREADS; i++)
        assert_true(memcmp(ids[i - 1], ids[i], REQID_GEN_LEN) != 0);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_common_id_shapes),
        cmocka_unit_test(test_rejects_everything_else),
        cmocka_unit_test(test_generated_ids_are_32_hex_and_valid),
        cmocka_unit_test(test_ids_unique_across_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
