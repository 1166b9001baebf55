/* test_logship_spool: the spool's durability contract: round trips, torn-tail recovery, segment deletion, cursors, full. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "log.h"
#include "logship/spool.h"

static char g_dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/test_spool.XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(g_dir);
    struct dirent *de;
    char p[512];
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", g_dir, de->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(g_dir);
    return 0;
}

static struct ls_spool *open_spool(uint64_t max, uint64_t seg, int drop)
{
    char err[256] = "";
    struct ls_spool_opts o = { .dir = g_dir, .max_bytes = max, .segment_bytes = seg,
                               .max_record_bytes = 8192, .fsync = LS_FSYNC_INTERVAL,
                               .fsync_interval_ms = 1000, .drop_oldest = drop };
    struct ls_spool *sp = ls_spool_open(&o, err, sizeof(err));
    if (!sp)
        fprintf(stderr, "open: %s\n", err);
    assert_non_null(sp);
    return sp;
}

static struct ls_spool_reader *open_reader(struct ls_spool *sp, const char *name, size_t bb)
{
    char err[256] = "";
    struct ls_spool_reader *rd = ls_spool_reader_open(sp, name, bb, err, sizeof(err));
    if (!rd)
        fprintf(stderr, "reader: %s\n", err);
    assert_non_null(rd);
    return rd;
}

/* Append record number i: line "line-<i>" padded to pad bytes. */
static int append_n(struct ls_spool *sp, unsigned i, size_t pad)
{
    char line[4096];
    int l = snprintf(line, sizeof(line), "line-%u", i);
    while ((size_t)l < pad && (size_t)l < sizeof(line) - 1)
        line[l++] = 'x';
    struct ls_record r = { .ts_ns = (int64_t)i * 1000, .labels = "{job=\"t\"}", .labels_len = 9,
                           .line = line, .line_len = (size_t)l, .origin = "o", .origin_len = 1 };
    return ls_spool_append(sp, &r);
}

static unsigned line_no(const struct ls_record *r)
{
    char tmp[32];
    size_t n = r->line_len;
    size_t j = 5;
    size_t k = 0;
    while (j < n && k < sizeof(tmp) - 1 && r->line[j] >= '0' && r->line[j] <= '9')
        tmp[k++] = r->line[j++];
    tmp[k] = 0;
    return (unsigned)strtoul(tmp, NULL, 10);
}

/* Read everything currently visible, acking each batch; check order from
 * *next; returns the count read. */
static unsigned drain(struct ls_spool_reader *rd, unsigned *next, int ack)
{
    unsigned cnt = 0;
    for (;;) {
        long got = ls_spool_reader_fill(rd);
        assert_true(got >= 0);
        size_t n;
        const struct ls_record *recs = ls_spool_reader_batch(rd, &n, NULL);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            unsigned ln = line_no(&recs[i]);
            if (next) {
                assert_int_equal(ln, *next);
                (*next)++;
            }
            assert_int_equal(recs[i].ts_ns, (int64_t)ln * 1000);
            assert_int_equal(recs[i].labels_len, 9);
            assert_memory_equal(recs[i].labels, "{job=\"t\"}", 9);
            assert_int_equal(recs[i].origin_len, 1);
        }
        cnt += (unsigned)n;
        if (!ack)
            break;
        assert_int_equal(ls_spool_reader_ack(rd), 0);
    }
    return cnt;
}

static void test_roundtrip_and_resume(void **state)
{
    (void)state;
    struct ls_spool *sp = open_spool(16u << 20, 0, 0);
    struct ls_spool_reader *rd = open_reader(sp, "a", 4096);
    for (unsigned i = 0; i < 1000; i++)
        assert_int_equal(append_n(sp, i, 50), 0);
    assert_int_equal(ls_spool_flush(sp), 0);
    unsigned next = 0;
    /* read 1 batch, ack it, then read one more without ack */
    assert_true(ls_spool_reader_fill(rd) > 0);
    size_t n1;
    ls_spool_reader_batch(rd, &n1, NULL);
    assert_true(n1 > 0 && n1 < 1000);
    assert_int_equal(ls_spool_reader_ack(rd), 0);
    assert_true(ls_spool_reader_fill(rd) > 0);
    ls_spool_reader_close(rd);
    ls_spool_close(sp);

    /* After a restart the reader resumes right after the acked batch. */
    sp = open_spool(16u << 20, 0, 0);
    rd = open_reader(sp, "a", 4096);
    next = (unsigned)n1;
    assert_int_equal(drain(rd, &next, 1), 1000 - n1);
    assert_int_equal(next, 1000);
    /* New appends continue with fresh seqs and are seen. */
    for (unsigned i = 1000; i < 1010; i++)
        assert_int_equal(append_n(sp, i, 10), 0);
    assert_int_equal(ls_spool_commit_point(sp, 1), 1);
    assert_int_equal(drain(rd, &next, 1), 10);
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
}

static char *last_segment(char *out, size_t n)
{
    DIR *d = opendir(g_dir);
    struct dirent *de;
    char best[256] = "";
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, "seg-", 4) == 0 && strcmp(de->d_name, best) > 0)
            snprintf(best, sizeof(best), "%s", de->d_name);
    closedir(d);
    if (snprintf(out, n, "%s/%s", g_dir, best) >= (int)n)
        out[0] = 0;
    return out;
}

static void test_torn_tail(void **state)
{
    (void)state;
    struct ls_spool *sp = open_spool(16u << 20, 0, 0);
    for (unsigned i = 0; i < 100; i++)
        assert_int_equal(append_n(sp, i, 30), 0);
    ls_spool_close(sp);

    /* Simulate a crash mid-write: half a record at the end. */
    char path[512];
    last_segment(path, sizeof(path));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    char rec[200];
    assert_int_equal(pread(fd, rec, 60, 0), 60);
    assert_int_equal(pwrite(fd, rec, 37, st.st_size), 37);
    close(fd);

    sp = open_spool(16u << 20, 0, 0);
    assert_int_equal(ls_spool_dropped(sp), 1);
    assert_int_equal(stat(path, &st), 0);
    struct ls_spool_reader *rd = open_reader(sp, "a", 1 << 20);
    unsigned next = 0;
    assert_int_equal(drain(rd, &next, 1), 100);
    for (unsigned i = 100; i < 110; i++)
        assert_int_equal(append_n(sp, i, 30), 0);
    assert_int_equal(ls_spool_flush(sp), 0);
    assert_int_equal(drain(rd, &next, 1), 10);
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
}

static void test_bad_crc_in_tail(void **state)
{
    (void)state;
    struct ls_spool *sp = open_spool(16u << 20, 0, 0);
    for (unsigned i = 0; i < 100; i++)
        assert_int_equal(append_n(sp, i, 30), 0);
    ls_spool_close(sp);
    char path[512];
    last_segment(path, sizeof(path));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    /* Flip a byte in the body of the last record: its CRC fails. */
    int fd = open(path, O_RDWR);
    char c;
    assert_int_equal(pread(fd, &c, 1, st.st_size - 3), 1);
    c ^= 0x5a;
    assert_int_equal(pwrite(fd, &c, 1, st.st_size - 3), 1);
    close(fd);
    sp = open_spool(16u << 20, 0, 0);
    assert_int_equal(ls_spool_dropped(sp), 1);
    struct ls_spool_reader *rd = open_reader(sp, "a", 1 << 20);
    unsigned next = 0;
    assert_int_equal(drain(rd, &next, 1), 99);
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
}

static size_t count_segments_on_disk(void)
{
    DIR *d = opendir(g_dir);
    struct dirent *de;
    size_t n = 0;
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, "seg-", 4) == 0)
            n++;
    closedir(d);
    return n;
}

static void test_segments_deleted_behind_cursors(void **state)
{
    (void)state;
    /* 64 KiB segments; two readers. */
    struct ls_spool *sp = open_spool(1u << 20, 64u << 10, 0);
    struct ls_spool_reader *a = open_reader(sp, "a", 16384);
    struct ls_spool_reader *b = open_reader(sp, "b", 16384);
    unsigned na = 0, nb = 0, i = 0;
    for (int round = 0; round < 20; round++) {
        for (int k = 0; k < 300; k++, i++)
            assert_int_equal(append_n(sp, i, 100), 0);
        assert_int_equal(ls_spool_flush(sp), 0);
        drain(a, &na, 1);
    }
    assert_int_equal(na, i);
    /* b has acked nothing: every segment is still there. */
    assert_true(count_segments_on_disk() > 5);
    assert_int_equal(ls_spool_segments(sp), count_segments_on_disk());
    drain(b, &nb, 1);
    assert_int_equal(nb, i);
    /* Both are past all but the active segment. */
    assert_int_equal(count_segments_on_disk(), 1);
    assert_true(ls_spool_bytes(sp) <= (64u << 10) + 200);
    ls_spool_reader_close(a);
    ls_spool_reader_close(b);
    ls_spool_close(sp);
}

static void test_full_blocks_then_resumes(void **state)
{
    (void)state;
    uint64_t max = 512u << 10;
    struct ls_spool *sp = open_spool(max, 64u << 10, 0);
    struct ls_spool_reader *rd = open_reader(sp, "a", 65536);
    unsigned i = 0;
    int r;
    while ((r = append_n(sp, i, 200)) == 0)
        i++;
    assert_int_equal(r, 1);
    assert_true(ls_spool_full(sp));
    assert_true(ls_spool_bytes(sp) <= max);
    assert_true(i > 1000);
    /* Still full on retry. */
    assert_int_equal(append_n(sp, i, 200), 1);
    unsigned next = 0;
    assert_int_equal(drain(rd, &next, 1), i);
    /* Space came back: appends go on with the record we held back. */
    assert_int_equal(append_n(sp, i, 200), 0);
    assert_false(ls_spool_full(sp));
    i++;
    assert_int_equal(ls_spool_flush(sp), 0);
    assert_int_equal(drain(rd, &next, 1), 1);
    assert_int_equal(next, i);
    assert_int_equal(ls_spool_dropped(sp), 0);
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
}

static void test_drop_oldest(void **state)
{
    (void)state;
    uint64_t max = 512u << 10;
    struct ls_spool *sp = open_spool(max, 64u << 10, 1);
    struct ls_spool_reader *rd = open_reader(sp, "a", 65536);
    unsigned total = 10000;
    for (unsigned i = 0; i < total; i++)
        assert_int_equal(append_n(sp, i, 200), 0);
    assert_int_equal(ls_spool_flush(sp), 0);
    assert_true(ls_spool_bytes(sp) <= max);
    uint64_t dropped = ls_spool_dropped(sp);
    assert_true(dropped > 0);
    /* What is left is a contiguous, ordered tail; read + dropped = appended. */
    unsigned got = 0, first = 0, prev = 0;
    for (;;) {
        assert_true(ls_spool_reader_fill(rd) >= 0);
        size_t n;
        const struct ls_record *recs = ls_spool_reader_batch(rd, &n, NULL);
        if (n == 0)
            break;
        for (size_t k = 0; k < n; k++) {
            unsigned ln = line_no(&recs[k]);
            if (got == 0)
                first = ln;
            else
                assert_int_equal(ln, prev + 1);
            prev = ln;
            got++;
        }
        assert_int_equal(ls_spool_reader_ack(rd), 0);
    }
    assert_int_equal(prev, total - 1);
    assert_int_equal(first, dropped);
    assert_int_equal(got + dropped, total);
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
}

static void test_drop_oldest_while_reading(void **state)
{
    (void)state;
    struct ls_spool *sp = open_spool(512u << 10, 64u << 10, 1);
    struct ls_spool_reader *rd = open_reader(sp, "a", 16384);
    unsigned i = 0;
    for (; i < 500; i++)
        assert_int_equal(append_n(sp, i, 200), 0);
    assert_int_equal(ls_spool_flush(sp), 0);
    /* Hold a batch from the first segment while it gets dropped. */
    assert_true(ls_spool_reader_fill(rd) > 0);
    for (; i < 10000; i++)
        assert_int_equal(append_n(sp, i, 200), 0);
    assert_int_equal(ls_spool_flush(sp), 0);
    assert_int_equal(ls_spool_reader_ack(rd), 0);
    unsigned seen = 0, last = 0;
    for (;;) {
        assert_true(ls_spool_reader_fill(rd) >= 0);
        size_t n;
        const struct ls_record *recs = ls_spool_reader_batch(rd, &n, NULL);
        if (n == 0)
            break;
        for (size_t k = 0; k < n; k++) {
            unsigned ln = line_no(&recs[k]);
            assert_true(seen == 0 || ln == last + 1);
            last = ln;
            seen++;
        }
        assert_int_equal(ls_spool_reader_ack(rd), 0);
    }
    assert_int_equal(last, 9999);
    assert_true(ls_spool_bytes(sp) <= (512u << 10));
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
}

static void test_big_records_and_limits(void **state)
{
    (void)state;
    struct ls_spool *sp = open_spool(1u << 20, 0, 0);
    struct ls_spool_reader *rd = open_reader(sp, "a", 1024);
    char big[8192];
    memset(big, 'b', sizeof(big));
    struct ls_record r = { .ts_ns = 1, .labels = "{a=\"b\"}", .labels_len = 7, .line = big,
                           .line_len = 8000, .origin = "", .origin_len = 0 };
    assert_int_equal(ls_spool_append(sp, &r), 0);
    r.line_len = 8192; /* over max_record_bytes with the labels */
    assert_int_equal(ls_spool_append(sp, &r), -1);
    r.line_len = 0; /* an empty line is a record too */
    assert_int_equal(ls_spool_append(sp, &r), 0);
    assert_int_equal(ls_spool_flush(sp), 0);
    assert_true(ls_spool_reader_fill(rd) > 0);
    size_t n;
    const struct ls_record *recs = ls_spool_reader_batch(rd, &n, NULL);
    assert_int_equal(n, 1); /* batch full after the big one */
    assert_int_equal(recs[0].line_len, 8000);
    assert_int_equal(ls_spool_reader_ack(rd), 0);
    assert_true(ls_spool_reader_fill(rd) > 0);
    recs = ls_spool_reader_batch(rd, &n, NULL);
    assert_int_equal(n, 1);
    assert_int_equal(recs[0].line_len, 0);
    assert_int_equal(ls_spool_reader_ack(rd), 0);
    ls_spool_reader_close(rd);
    ls_spool_close(sp);

    char err[256];
    struct ls_spool_opts o = { .dir = g_dir, .max_bytes = 1000, .max_record_bytes = 8192 };
    assert_null(ls_spool_open(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "at least"));
}

static void test_cursor_ahead_after_power_loss(void **state)
{
    (void)state;
    struct ls_spool *sp = open_spool(16u << 20, 0, 0);
    struct ls_spool_reader *rd = open_reader(sp, "a", 1 << 20);
    for (unsigned i = 0; i < 100; i++)
        assert_int_equal(append_n(sp, i, 10), 0);
    assert_int_equal(ls_spool_flush(sp), 0);
    unsigned next = 0;
    assert_int_equal(drain(rd, &next, 1), 100);
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
    /* The data never reached the disk, the (durable) cursor did. */
    char path[512];
    last_segment(path, sizeof(path));
    assert_int_equal(truncate(path, 0), 0);
    sp = open_spool(16u << 20, 0, 0);
    rd = open_reader(sp, "a", 1 << 20);
    for (unsigned i = 100; i < 110; i++)
        assert_int_equal(append_n(sp, i, 10), 0);
    assert_int_equal(ls_spool_flush(sp), 0);
    assert_true(ls_spool_reader_fill(rd) > 0);
    size_t n;
    const struct ls_record *recs = ls_spool_reader_batch(rd, &n, NULL);
    assert_int_equal(n, 10);
    assert_int_equal(recs[0].seq, 101); /* seqs are never reused */
    assert_int_equal(line_no(&recs[0]), 100);
    assert_int_equal(ls_spool_reader_ack(rd), 0);
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
}

static void test_new_reader_starts_at_oldest_and_old_cursor_ignored(void **state)
{
    (void)state;
    struct ls_spool *sp = open_spool(1u << 20, 64u << 10, 0);
    struct ls_spool_reader *a = open_reader(sp, "a", 65536);
    for (unsigned i = 0; i < 2000; i++)
        assert_int_equal(append_n(sp, i, 100), 0);
    assert_int_equal(ls_spool_flush(sp), 0);
    unsigned na = 0;
    assert_int_equal(drain(a, &na, 1), 2000);
    ls_spool_reader_close(a);
    ls_spool_close(sp);
    /* Restart with a different output only: "a"'s cursor file must not pin
     * segments, and "b" starts at the oldest record still held. */
    sp = open_spool(1u << 20, 64u << 10, 0);
    struct ls_spool_reader *b = open_reader(sp, "b", 65536);
    for (unsigned i = 2000; i < 2100; i++)
        assert_int_equal(append_n(sp, i, 100), 0);
    assert_int_equal(ls_spool_flush(sp), 0);
    assert_true(ls_spool_reader_fill(b) > 0);
    size_t n;
    const struct ls_record *recs = ls_spool_reader_batch(b, &n, NULL);
    unsigned first = line_no(&recs[0]);
    assert_true(first < 2000); /* the old active segment was kept for a new reader */
    unsigned next = first;
    drain(b, &next, 1);
    assert_int_equal(next, 2100);
    assert_int_equal(count_segments_on_disk(), 1);
    ls_spool_reader_close(b);
    ls_spool_close(sp);
}

int main(void)
{
    log_init("test", 2, NULL, LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_crc_in_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_segments_deleted_behind_cursors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_blocks_then_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop_oldest_while_reading, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_records_and_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursor_ahead_after_power_loss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_reader_starts_at_oldest_and_old_cursor_ignored, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
