/* test_logship_spool_marks: per-file resume marks: origin parsing, newest-wins, the size cap, marks.json round
 * trip and garbage. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logship/spool/spool_marks.h"

static void test_parse_origin(void **state)
{
    (void)state;
    struct ls_mark m;
    const char *ok = "f:64769:123456:00000000deadbeef@987654321";
    assert_int_equal(ls_marks_parse_origin(ok, strlen(ok), 7, &m), 1);
    assert_int_equal(m.dev, 64769);
    assert_int_equal(m.ino, 123456);
    assert_int_equal(m.fp, 0xdeadbeefu);
    assert_int_equal(m.off, 987654321u);
    assert_int_equal(m.seq, 7);
    static const char *const bad[] = {
        "stdin:1700000000@12", "in@5", "f:1:2:00000000deadbeef", "f:1:2:00000000deadbee@5",
        "f:1:2:00000000deadbeeg@5", "f:x:2:00000000deadbeef@5", "f:1:2:00000000deadbeef@",
        "f:1:2:00000000deadbeef@5x", "f:1:2:00000000DEADBEEF@5", "f:1:99999999999999999999999:00000000deadbeef@5",
        "", "f:",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(ls_marks_parse_origin(bad[i], strlen(bad[i]), 1, &m), 0);
    /* only the given length counts */
    assert_int_equal(ls_marks_parse_origin(ok, strlen(ok) - 3, 1, &m), 1);
    assert_int_equal(m.off, 987654u);
}

static void test_newest_wins_and_cap(void **state)
{
    (void)state;
    struct ls_marks *ms = ls_marks_new();
    struct ls_mark m = { .dev = 1, .ino = 2, .fp = 3, .off = 100, .seq = 10 }, got;
    assert_int_equal(ls_marks_put(ms, &m), 0);
    m.off = 50;  /* older record (a copytruncated file's old content): ignored */
    m.seq = 5;
    assert_int_equal(ls_marks_put(ms, &m), 0);
    assert_int_equal(ls_marks_get(ms, 1, 2, &got), 1);
    assert_int_equal(got.off, 100);
    m.off = 10;  /* newer record at a lower offset (after copytruncate): wins */
    m.seq = 11;
    assert_int_equal(ls_marks_put(ms, &m), 0);
    assert_int_equal(ls_marks_get(ms, 1, 2, &got), 1);
    assert_int_equal(got.off, 10);
    assert_int_equal(ls_marks_get(ms, 1, 3, &got), 0);
    /* past the cap the file marked longest ago goes */
    for (uint64_t i = 0; i < LS_MARKS_MAX + 10; i++) {
        struct ls_mark k = { .dev = 9, .ino = 1000 + i, .fp = 1, .off = i, .seq = 100 + i };
        assert_int_equal(ls_marks_put(ms, &k), 0);
    }
    assert_int_equal(ls_marks_count(ms), LS_MARKS_MAX);
    assert_int_equal(ls_marks_get(ms, 1, 2, &got), 0);
    assert_int_equal(ls_marks_get(ms, 9, 1000, &got), 0);
    assert_int_equal(ls_marks_get(ms, 9, 1000 + LS_MARKS_MAX + 9, &got), 1);
    assert_int_equal(ls_marks_max_seq(ms), 100 + LS_MARKS_MAX + 9);
    ls_marks_free(ms);
}

static void test_save_load_and_garbage(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_marks.XXXXXX", path[256], tmp[300];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/marks.json", dir);
    struct ls_marks *ms = ls_marks_new(), *back = ls_marks_new();
    struct ls_mark got;
    assert_int_equal(ls_marks_load(back, path), 0); /* absent: empty */
    for (uint64_t i = 1; i <= 100; i++) {
        struct ls_mark k = { .dev = i, .ino = i * 7, .fp = UINT64_MAX - i, .off = i << 40, .seq = i };
        assert_int_equal(ls_marks_put(ms, &k), 0);
    }
    assert_true(ls_marks_dirty(ms));
    assert_int_equal(ls_marks_save(ms, path), 0);
    assert_false(ls_marks_dirty(ms));
    assert_int_equal(ls_marks_load(back, path), 0);
    assert_int_equal(ls_marks_count(back), 100);
    assert_int_equal(ls_marks_get(back, 42, 294, &got), 1);
    assert_int_equal(got.fp, UINT64_MAX - 42);
    assert_int_equal(got.off, (uint64_t)42 << 40);
    /* garbage (valid JSON with one bad entry, or not JSON): nothing merged */
    static const char *const junk[] = {
        "{\"marks\":[{\"dev\":1,\"ino\":2,\"fp\":\"03\",\"off\":4,\"seq\":5},{\"dev\":\"x\"}]}",
        "{\"marks\":[{\"dev\":1,\"ino\":2,\"fp\":\"zz\",\"off\":4,\"seq\":5}]}",
        "{\"marks\":[{\"dev\":-1,\"ino\":2,\"fp\":\"03\",\"off\":4,\"seq\":5}]}",
        "{\"marks\":{}}", "[", "",
    };
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        struct ls_marks *g = ls_marks_new();
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(junk[i], f);
        fclose(f);
        assert_int_equal(ls_marks_load(g, path), 1);
        assert_int_equal(ls_marks_count(g), 0);
        ls_marks_free(g);
    }
    unlink(path);
    snprintf(tmp, sizeof(tmp), "%s", dir);
    rmdir(tmp);
    ls_marks_free(ms);
    ls_marks_free(back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_origin),
        cmocka_unit_test(test_newest_wins_and_cap),
        cmocka_unit_test(test_save_load_and_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
