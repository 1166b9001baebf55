/* Unit tests for docker json-file decoding: single records, 16 KB splits re-joined, interleaved
 * streams, malformed records, caps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "logship/in/docker.h"

static int feed(struct ls_docker *d, const char *rec, uint64_t off, struct ls_docker_line *out)
{
    return ls_docker_feed(d, rec, strlen(rec), 0, off, out);
}

static void test_single(void **st)
{
    struct ls_docker *d = ls_docker_new(1024);
    struct ls_docker_line l;
    (void)st;
    assert_int_equal(feed(d, "{\"log\":\"hello \\\"x\\\"\\n\",\"stream\":\"stdout\","
                             "\"time\":\"2026-11-27T12:00:00.123456789Z\"}", 10, &l), 1);
    assert_int_equal(l.malformed, 0);
    assert_int_equal(l.len, 9);
    assert_memory_equal(l.line, "hello \"x\"", 9);
    assert_string_equal(l.stream, "stdout");
    assert_true(l.ts_ns == 1795780800123456789LL);
    assert_true(l.start_off == 10);
    assert_true(ls_docker_pending_off(d) == UINT64_MAX);
    ls_docker_free(d);
}

/* Split a 40000-byte line into 16 KB pieces as Docker does. */
static void test_split_rejoin(void **st)
{
    struct ls_docker *d = ls_docker_new(256 * 1024);
    struct ls_docker_line l;
    char *line = malloc(40001), *rec = malloc(20000);
    size_t pos = 0, i, piece = 16384;
    uint64_t off = 0;
    int k = 0;
    (void)st;
    for (i = 0; i < 40000; i++)
        line[i] = (char)('a' + i % 26);
    line[40000] = '\0';
    while (pos < 40000) {
        size_t n = 40000 - pos < piece ? 40000 - pos : piece;
        int last = pos + n == 40000;
        snprintf(rec, 20000, "{\"log\":\"%.*s%s\",\"stream\":\"stderr\",\"time\":\"2026-11-27T12:00:0%dZ\"}",
                 (int)n, line + pos, last ? "\\n" : "", (int)(pos / piece));
        k = feed(d, rec, off, &l);
        if (!last) {
            assert_int_equal(k, 0);
            assert_true(ls_docker_pending_off(d) == 0);
        }
        off += strlen(rec) + 1;
        pos += n;
    }
    assert_int_equal(k, 1);
    assert_int_equal(l.len, 40000);
    assert_memory_equal(l.line, line, 40000);
    assert_int_equal(l.cut, 0);
    assert_string_equal(l.stream, "stderr");
    assert_true(l.start_off == 0);
    assert_true(l.ts_ns == 1795780800000000000LL); /* the first piece's time */
    assert_true(ls_docker_pending_off(d) == UINT64_MAX);
    free(line);
    free(rec);
    ls_docker_free(d);
}

static void test_interleaved_streams(void **st)
{
    struct ls_docker *d = ls_docker_new(1024);
    struct ls_docker_line l;
    (void)st;
    assert_int_equal(feed(d, "{\"log\":\"out-a \",\"stream\":\"stdout\",\"time\":\"2026-11-27T12:00:00Z\"}", 0, &l), 0);
    assert_int_equal(
        feed(d, "{\"log\":\"err-a \",\"stream\":\"stderr\",\"time\":\"2026-11-27T12:00:01Z\"}", 100, &l), 0);
    assert_true(ls_docker_pending_off(d) == 0);
    assert_int_equal(
        feed(d, "{\"log\":\"whole\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-27T12:00:02Z\"}", 200, &l), 1);
    /* stdout's pending piece is joined with this record, not lost */
    assert_int_equal(l.len, 11);
    assert_memory_equal(l.line, "out-a whole", 11);
    assert_true(l.start_off == 0);
    assert_true(ls_docker_pending_off(d) == 100);
    assert_int_equal(
        feed(d, "{\"log\":\"err-b\\n\",\"stream\":\"stderr\",\"time\":\"2026-11-27T12:00:03Z\"}", 300, &l), 1);
    assert_int_equal(l.len, 11);
    assert_memory_equal(l.line, "err-a err-b", 11);
    assert_string_equal(l.stream, "stderr");
    assert_true(l.start_off == 100);
    assert_true(ls_docker_pending_off(d) == UINT64_MAX);
    ls_docker_free(d);
}

static void test_malformed(void **st)
{
    struct ls_docker *d = ls_docker_new(1024);
    struct ls_docker_line l;
    const char *bad[] = { "not json", "{\"log\":1,\"stream\":\"stdout\"}", "{\"stream\":\"stdout\"}",
                          "{\"log\":\"x\\n\",\"stream\":5}", "{\"log\":\"x\\n\"", "" };
    size_t i;
    (void)st;
    /* a pending piece survives malformed records in between */
    assert_int_equal(feed(d, "{\"log\":\"part\",\"stream\":\"stdout\",\"time\":\"x\"}", 0, &l), 0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(feed(d, bad[i], 50 + i, &l), 1);
        assert_int_equal(l.malformed, 1);
        assert_int_equal(l.len, strlen(bad[i]));
        assert_null(l.stream);
        assert_true(l.start_off == 50 + i);
    }
    /* a record the reader had to cut is malformed too */
    assert_int_equal(ls_docker_feed(d, "{\"log\":\"abc", 11, 100, 60, &l), 1);
    assert_int_equal(l.malformed, 1);
    assert_int_equal(l.cut, 100);
    assert_int_equal(feed(d, "{\"log\":\"-end\\n\",\"stream\":\"stdout\"}", 70, &l), 1);
    assert_int_equal(l.len, 8);
    assert_memory_equal(l.line, "part-end", 8);
    assert_true(l.ts_ns == 0); /* unparsable time */
    /* missing stream: stdout */
    assert_int_equal(feed(d, "{\"log\":\"x\\n\"}", 80, &l), 1);
    assert_string_equal(l.stream, "stdout");
    ls_docker_free(d);
}

static void test_cap_and_flush(void **st)
{
    struct ls_docker *d = ls_docker_new(300);
    struct ls_docker_line l;
    char rec[400];
    int i;
    (void)st;
    for (i = 0; i < 3; i++) {
        char piece[201];
        memset(piece, 'a' + i, 200);
        piece[200] = '\0';
        snprintf(rec, sizeof(rec), "{\"log\":\"%s\",\"stream\":\"stdout\"}", piece);
        assert_int_equal(feed(d, rec, (uint64_t)i * 100, &l), 0);
    }
    /* nothing completes: the file ends (rotated away) and the partial is flushed */
    assert_int_equal(ls_docker_flush(d, &l), 1);
    assert_int_equal(l.len, 300);
    assert_int_equal(l.cut, 300);
    assert_true(l.start_off == 0);
    assert_int_equal(ls_docker_flush(d, &l), 0);
    assert_true(ls_docker_pending_off(d) == UINT64_MAX);
    /* reset forgets pending pieces */
    assert_int_equal(feed(d, "{\"log\":\"p\",\"stream\":\"stderr\"}", 5, &l), 0);
    ls_docker_reset(d);
    assert_true(ls_docker_pending_off(d) == UINT64_MAX);
    assert_int_equal(ls_docker_flush(d, &l), 0);
    ls_docker_free(d);
}

static void test_unicode_escapes(void **st)
{
    struct ls_docker *d = ls_docker_new(1024);
    struct ls_docker_line l;
    (void)st;
    assert_int_equal(
        feed(d, "{\"log\":\"\\u001b[1m\\u00e9\\u0000\\ud83d\\ude00\\n\",\"stream\":\"stdout\"}", 0, &l), 1);
    assert_int_equal(l.len, 11);
    assert_memory_equal(l.line, "\x1b[1m\xc3\xa9\0\xf0\x9f\x98\x80", 11);
    ls_docker_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single),
        cmocka_unit_test(test_split_rejoin),
        cmocka_unit_test(test_interleaved_streams),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_cap_and_flush),
        cmocka_unit_test(test_unicode_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
