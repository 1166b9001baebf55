/* test_logship_spool: the spool's durability contract: round trips, torn-tail recovery, damage resync, segment
 * deletion, cursors, marks, full. */
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

#include "tests/lib/tmpdir.h"
#include "buf.h"
#include "log.h"
#include "metrics.h"
#include "logship/spool/spool.h"

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
    tmpdir_remove(g_dir);
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
            if (next)
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
    while ((de = readdir(d)))
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
    while ((de = readdir(d)))
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
    assert_int_equal(ls_spool_append(sp, &r), LS_SPOOL_TOO_LARGE);
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

/* ---- damage, cursors, marks, in-flight (spool format 2) ---------------- */

#define REC_BYTES 162u /* 52 framing+fixed + 9 labels + 100 line + 1 origin */
#define NREC 2000u

static metrics_registry *g_reg;

/* A fresh registry per open (the previous spool is closed), so the metric
 * values are this open's. */
static struct ls_spool *open_spool_m(void)
{
    char err[256] = "";
    metrics_free(g_reg);
    g_reg = metrics_new();
    struct ls_spool_opts o = { .dir = g_dir, .max_bytes = 4u << 20, .segment_bytes = 64u << 10,
                               .max_record_bytes = 8192, .fsync = LS_FSYNC_NEVER, .reg = g_reg };
    struct ls_spool *sp = ls_spool_open(&o, err, sizeof(err));
    if (!sp)
        fprintf(stderr, "open: %s\n", err);
    assert_non_null(sp);
    return sp;
}

/* Value of the series of name whose label text is labels ("" for none). */
static double metric(const char *name, const char *labels)
{
    buf_t b;
    char want[256];
    double v = 0;
    buf_init(&b, 1 << 20);
    assert_int_equal(metrics_render(g_reg, &b), 0);
    assert_int_equal(buf_addc(&b, '\0'), 0);
    snprintf(want, sizeof(want), "\n%s%s ", name, labels);
    const char *p = strstr(b.p, want);
    if (p)
        v = strtod(p + strlen(want), NULL);
    buf_free(&b);
    return v;
}

/* Segment file names in order. */
static size_t list_segments(char names[][64], size_t max)
{
    DIR *d = opendir(g_dir);
    struct dirent *de;
    size_t n = 0;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, "seg-", 4) == 0 && n < max && strlen(de->d_name) < 64)
            memcpy(names[n++], de->d_name, strlen(de->d_name) + 1);
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[64];
            memcpy(t, names[j], 64);
            memcpy(names[j], names[j - 1], 64);
            memcpy(names[j - 1], t, 64);
        }
    return n;
}

/* Where record k (line k, seq k + 1, all REC_BYTES long) lives: path and offset. */
static void locate(unsigned k, char *path, size_t n, off_t *off)
{
    char names[64][64];
    size_t ns = list_segments(names, 64);
    for (size_t i = ns; i-- > 0;) {
        unsigned long long base = strtoull(names[i] + 4, NULL, 10);
        if (base <= k + 1) {
            snprintf(path, n, "%s/%s", g_dir, names[i]);
            *off = (off_t)(k + 1 - base) * REC_BYTES;
            return;
        }
    }
    fail_msg("record not found");
}

static void flip(unsigned k, unsigned byte)
{
    char path[512];
    off_t off = 0;
    unsigned char c;
    locate(k, path, sizeof(path), &off);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &c, 1, off + byte), 1);
    c ^= 0x20;
    assert_int_equal(pwrite(fd, &c, 1, off + byte), 1);
    close(fd);
}

static void fill_spool(unsigned n)
{
    struct ls_spool *sp = open_spool_m();
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(append_n(sp, i, 100), 0);
    ls_spool_close(sp);
}

/* Read everything, acking; returns the count and sets seen[line] = 1,
 * checking spool order. */
static unsigned read_all(struct ls_spool_reader *rd, unsigned char *seen)
{
    unsigned cnt = 0;
    int have_prev = 0;
    unsigned prev = 0;
    for (;;) {
        assert_true(ls_spool_reader_fill(rd) >= 0);
        size_t n;
        const struct ls_record *r = ls_spool_reader_batch(rd, &n, NULL);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            unsigned ln = line_no(&r[i]);
            assert_true(!have_prev || ln > prev);
            assert_true(ln < NREC + 100);
            prev = ln;
            have_prev = 1;
            seen[ln] = 1;
            cnt++;
        }
        assert_int_equal(ls_spool_reader_ack(rd), 0);
    }
    return cnt;
}

static void reset_dir(void)
{
    teardown(NULL);
    assert_int_equal(setup(NULL), 0);
    metrics_free(g_reg);
    g_reg = metrics_new();
}

static void test_flipped_byte_costs_one_record(void **state)
{
    (void)state;
    /* record number, byte within it: magic, len, crc, seq, ts, lengths, labels,
     * line, origin; in the first, a middle and the newest segment */
    static const unsigned cases[][2] = {
        { 0, 0 }, { 5, 1 }, { 5, 5 }, { 5, 9 }, { 5, 12 }, { 5, 20 }, { 403, 30 }, { 404, 30 },
        { 405, 40 }, { 405, 55 },
        { 800, 70 }, { 1000, 150 }, { 1200, 161 }, { NREC - 20, 3 }, { NREC - 20, 100 },
    };
    g_reg = metrics_new();
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        reset_dir();
        fill_spool(NREC);
        flip(cases[c][0], cases[c][1]);
        struct ls_spool *sp = open_spool_m();
        struct ls_spool_reader *rd = open_reader(sp, "a", 16384);
        unsigned char seen[NREC + 100];
        memset(seen, 0, sizeof(seen));
        unsigned got = read_all(rd, seen);
        if (got != NREC - 1 || seen[cases[c][0]])
            fail_msg("case %zu (record %u byte %u): got %u", c, cases[c][0], cases[c][1], got);
        assert_int_equal(ls_spool_dropped(sp), 1);
        assert_int_equal((int)metric("logship_spool_dropped_total", "{reason=\"corrupt\"}"), 1);
        assert_int_equal((int)metric("logship_spool_corrupt_bytes_total", ""), REC_BYTES);
        /* and it goes on taking appends that are read */
        assert_int_equal(append_n(sp, NREC + 1, 100), 0);
        assert_int_equal(ls_spool_flush(sp), 0);
        assert_int_equal(read_all(rd, seen), 1);
        ls_spool_reader_close(rd);
        ls_spool_close(sp);
        /* A second open does not count the same hole again for an output past it. */
        sp = open_spool_m();
        rd = open_reader(sp, "a", 16384);
        assert_int_equal(read_all(rd, seen), 0);
        assert_int_equal(ls_spool_dropped(sp), 0);
        ls_spool_reader_close(rd);
        ls_spool_close(sp);
    }
    metrics_free(g_reg);
    g_reg = NULL;
}

static void test_damage_in_delivered_data_loses_nothing(void **state)
{
    (void)state;
    g_reg = metrics_new();
    fill_spool(NREC);
    struct ls_spool *sp = open_spool_m();
    struct ls_spool_reader *rd = open_reader(sp, "a", 16384);
    unsigned got = 0;
    while (got < 1000) {
        assert_true(ls_spool_reader_fill(rd) > 0);
        size_t n;
        ls_spool_reader_batch(rd, &n, NULL);
        got += (unsigned)n;
        assert_int_equal(ls_spool_reader_ack(rd), 0);
    }
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
    flip(got - 10, 60);   /* delivered, in a segment still held */
    flip(got + 10, 60);   /* pending */
    sp = open_spool_m();
    rd = open_reader(sp, "a", 16384);
    unsigned char seen[NREC + 100];
    memset(seen, 0, sizeof(seen));
    assert_int_equal(read_all(rd, seen), NREC - got - 1);
    assert_false(seen[got + 10]);
    assert_true(seen[got + 11] && seen[NREC - 1] && seen[got]);
    assert_int_equal(ls_spool_dropped(sp), 1); /* only the pending one */
    assert_int_equal((int)metric("logship_spool_corrupt_bytes_total", ""), 2 * REC_BYTES);
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
    metrics_free(g_reg);
    g_reg = NULL;
}

static void test_zero_length_segment_counted(void **state)
{
    (void)state;
    g_reg = metrics_new();
    fill_spool(NREC);
    char names[64][64], path[512];
    size_t ns = list_segments(names, 64);
    assert_true(ns >= 4);
    snprintf(path, sizeof(path), "%s/%s", g_dir, names[1]);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    unsigned in_seg = (unsigned)(st.st_size / REC_BYTES);
    assert_int_equal(truncate(path, 0), 0);
    struct ls_spool *sp = open_spool_m();
    struct ls_spool_reader *rd = open_reader(sp, "a", 16384);
    unsigned char seen[NREC + 100];
    memset(seen, 0, sizeof(seen));
    assert_int_equal(read_all(rd, seen), NREC - in_seg);
    assert_int_equal(ls_spool_dropped(sp), in_seg);
    assert_int_equal((int)metric("logship_spool_dropped_total", "{reason=\"corrupt\"}"), in_seg);
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
    metrics_free(g_reg);
    g_reg = NULL;
}

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Open reader "a" on the spool filled with NREC records after writing its
 * cursor file; return the first line number it reads and how many it sees. */
static unsigned first_after_cursor(const char *cursor, unsigned *count)
{
    write_file("cursor-a.json", cursor);
    struct ls_spool *sp = open_spool_m();
    struct ls_spool_reader *rd = open_reader(sp, "a", 1u << 20);
    assert_true(ls_spool_reader_fill(rd) > 0);
    size_t n;
    const struct ls_record *r = ls_spool_reader_batch(rd, &n, NULL);
    unsigned first = line_no(&r[0]);
    *count = (unsigned)n; /* one batch holds them all; no ack, so the next case has them too */
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
    return first;
}

static void test_bad_cursors_recovered(void **state)
{
    (void)state;
    char cur[512], names[64][64];
    unsigned cnt;
    g_reg = metrics_new();
    fill_spool(NREC);
    list_segments(names, 64);
    /* garbage: from the oldest record */
    assert_int_equal(first_after_cursor("{\"seq\":12,\"seg\":", &cnt), 0);
    assert_int_equal(cnt, NREC);
    assert_int_equal((int)metric("logship_spool_recoveries_total", "{kind=\"cursor_garbage\"}"), 1);
    write_file("cursor-a.json", "not json at all");
    assert_int_equal(first_after_cursor("[1,2,3]", &cnt), 0);
    /* pointing into the middle of a record of an existing segment: by seq (seq 701 = line 700) */
    snprintf(cur, sizeof(cur), "{\"seq\":701,\"seg\":%llu,\"off\":17}", strtoull(names[1] + 4, NULL, 10));
    assert_int_equal(first_after_cursor(cur, &cnt), 700);
    assert_int_equal(cnt, NREC - 700);
    assert_int_equal((int)metric("logship_spool_recoveries_total", "{kind=\"cursor_moved\"}"), 1);
    /* a segment that does not exist */
    assert_int_equal(first_after_cursor("{\"seq\":1501,\"seg\":77,\"off\":0}", &cnt), 1500);
    assert_int_equal((int)metric("logship_spool_recoveries_total", "{kind=\"cursor_moved\"}"), 1);
    /* far ahead of the newest record: nothing to read, new appends continue above it */
    write_file("cursor-a.json", "{\"seq\":999999,\"seg\":999990,\"off\":0}");
    struct ls_spool *sp = open_spool_m();
    struct ls_spool_reader *rd = open_reader(sp, "a", 1u << 20);
    assert_int_equal(ls_spool_reader_fill(rd), 0);
    assert_int_equal((int)metric("logship_spool_recoveries_total", "{kind=\"cursor_ahead\"}"), 1);
    assert_int_equal(append_n(sp, 5, 100), 0);
    assert_int_equal(ls_spool_flush(sp), 0);
    assert_int_equal(ls_spool_reader_fill(rd), 1);
    size_t n;
    const struct ls_record *r = ls_spool_reader_batch(rd, &n, NULL);
    assert_int_equal(r[0].seq, 999999);
    assert_int_equal(ls_spool_reader_ack(rd), 0);
    assert_int_equal(ls_spool_dropped(sp), 0); /* it had the records in between delivered */
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
    /* before the oldest record: the first segment is gone (deleted by hand) */
    reset_dir();
    fill_spool(NREC);
    list_segments(names, 64);
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", g_dir, names[0]);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    unsigned in0 = (unsigned)(st.st_size / REC_BYTES);
    assert_int_equal(unlink(path), 0);
    snprintf(cur, sizeof(cur), "{\"seq\":11,\"seg\":%llu,\"off\":%u}", strtoull(names[0] + 4, NULL, 10),
             10 * REC_BYTES);
    assert_int_equal(first_after_cursor(cur, &cnt), in0);
    assert_int_equal(cnt, NREC - in0);
    assert_int_equal((int)metric("logship_spool_dropped_total", "{reason=\"missing\"}"), in0 - 10);
    metrics_free(g_reg);
    g_reg = NULL;
}

static void test_old_format_refused(void **state)
{
    (void)state;
    fill_spool(10);
    /* Format 1 is format 2 without the magic: strip it from the first record. */
    char names[4][64], path[512], buf[8192];
    list_segments(names, 4);
    snprintf(path, sizeof(path), "%s/%s", g_dir, names[0]);
    int fd = open(path, O_RDWR);
    ssize_t n = pread(fd, buf, sizeof(buf), 0);
    assert_true(n > 4);
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(pwrite(fd, buf + 4, (size_t)n - 4, 0), n - 4);
    close(fd);
    char err[512] = "";
    struct ls_spool_opts o = { .dir = g_dir, .max_bytes = 4u << 20, .max_record_bytes = 8192,
                               .fsync = LS_FSYNC_NEVER };
    assert_null(ls_spool_open(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "older logship"));
    /* A cursor that is not past all of it: still refused. */
    char cur[128];
    snprintf(cur, sizeof(cur), "{\"seq\":5,\"seg\":1,\"off\":%zd}", (n - 4) / 2);
    write_file("cursor-a.json", cur);
    assert_null(ls_spool_open(&o, err, sizeof(err)));
    /* Every output delivered it (a clean stop before the upgrade): deleted, and the spool opens. */
    snprintf(cur, sizeof(cur), "{\"seq\":11,\"seg\":1,\"off\":%zd}", n - 4);
    write_file("cursor-a.json", cur);
    struct ls_spool *sp = ls_spool_open(&o, err, sizeof(err));
    assert_non_null(sp);
    assert_int_equal(ls_spool_records(sp), 0);
    assert_int_equal(list_segments(names, 4), 0);
    ls_spool_close(sp);
}

static void append_origin(struct ls_spool *sp, const char *origin)
{
    struct ls_record r = { .ts_ns = 0, .labels = "{job=\"t\"}", .labels_len = 9, .line = "line-0",
                           .line_len = 6, .origin = origin, .origin_len = strlen(origin) };
    assert_int_equal(ls_spool_append(sp, &r), 0);
}

static void test_marks_survive_segment_deletion(void **state)
{
    (void)state;
    uint64_t off, fp;
    struct ls_spool *sp = open_spool_m();
    struct ls_spool_reader *rd = open_reader(sp, "a", 1u << 20);
    append_origin(sp, "f:64769:1234:00000000000000ab@0");
    append_origin(sp, "f:64769:1234:00000000000000ab@10");
    append_origin(sp, "f:64769:99:00000000000000cd@7");
    append_origin(sp, "stdin:5@3");
    append_origin(sp, "f:64769:1234:0000000000000abc@2048");
    assert_int_equal(ls_spool_flush(sp), 0);
    assert_int_equal(ls_spool_resume_mark(sp, 64769, 1234, &off, &fp), 1);
    assert_int_equal(off, 2048);
    assert_int_equal(fp, 0xabc);
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
    /* Known again from the records after a restart. */
    sp = open_spool_m();
    assert_int_equal(ls_spool_resume_mark(sp, 64769, 99, &off, &fp), 1);
    assert_int_equal(off, 7);
    assert_int_equal(ls_spool_resume_mark(sp, 64769, 5, &off, &fp), 0);
    /* Deliver everything, roll, so the old segments are deleted: marks.json keeps them. */
    rd = open_reader(sp, "a", 1u << 20);
    for (unsigned i = 0; i < 1000; i++)
        append_origin(sp, "f:64769:1234:0000000000000abc@4096");
    assert_int_equal(ls_spool_flush(sp), 0);
    drain(rd, NULL, 1);
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
    sp = open_spool_m();
    rd = open_reader(sp, "a", 1u << 20);
    append_origin(sp, "f:1:2:0000000000000001@1");
    assert_int_equal(ls_spool_flush(sp), 0);
    drain(rd, NULL, 1);
    assert_int_equal(ls_spool_segments(sp), 1); /* only the new active one */
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
    char names[8][64];
    assert_int_equal(list_segments(names, 8), 1);
    sp = open_spool_m();
    assert_int_equal(ls_spool_resume_mark(sp, 64769, 1234, &off, &fp), 1);
    assert_int_equal(off, 4096);
    assert_int_equal(ls_spool_resume_mark(sp, 64769, 99, &off, &fp), 1);
    assert_int_equal(off, 7);
    ls_spool_close(sp);
}

static void test_marks_wait_for_durable_data(void **state)
{
    (void)state;
    uint64_t off, fp;
    /* Under the interval policy a mark counts only once its record was synced:
     * marks.json must never claim a line a power loss could still take. */
    struct ls_spool *sp = open_spool(16u << 20, 0, 0);
    append_origin(sp, "f:7:8:0000000000000009@100");
    assert_int_equal(ls_spool_flush(sp), 0);
    assert_int_equal(ls_spool_resume_mark(sp, 7, 8, &off, &fp), 0);
    assert_int_equal(ls_spool_commit_point(sp, 1), 1);
    assert_int_equal(ls_spool_resume_mark(sp, 7, 8, &off, &fp), 1);
    assert_int_equal(off, 100);
    ls_spool_close(sp);
}

static void test_in_flight_marks_after_crash(void **state)
{
    (void)state;
    fill_spool(NREC);
    struct ls_spool *sp = open_spool_m();
    struct ls_spool_reader *rd = open_reader(sp, "a", 16384);
    /* batch 1: delivered */
    assert_true(ls_spool_reader_fill(rd) > 0);
    size_t n1, n2, n;
    const struct ls_record *r = ls_spool_reader_batch(rd, &n1, NULL);
    assert_int_equal(ls_spool_reader_maybe_sent(rd, r, n1), 0);
    assert_int_equal(ls_spool_reader_mark_sent(rd, r[n1 - 1].seq), 0);
    assert_int_equal(ls_spool_reader_ack(rd), 0);
    /* batch 2: handed to the output, then the process dies (no ack) */
    assert_true(ls_spool_reader_fill(rd) > 0);
    r = ls_spool_reader_batch(rd, &n2, NULL);
    assert_int_equal(ls_spool_reader_maybe_sent(rd, r, n2), 0);
    assert_int_equal(ls_spool_reader_mark_sent(rd, r[n2 - 1].seq), 0);
    /* a retry in the same run: all of it may be at the backend */
    assert_int_equal(ls_spool_reader_maybe_sent(rd, r, n2), n2);
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
    /* Restart with bigger batches: the first batch holds batch 2 and more;
     * exactly batch 2's records are maybe-sent. */
    sp = open_spool_m();
    rd = open_reader(sp, "a", 65536);
    assert_true(ls_spool_reader_fill(rd) > 0);
    r = ls_spool_reader_batch(rd, &n, NULL);
    assert_true(n > n2);
    assert_int_equal(line_no(&r[0]), n1);
    assert_int_equal(ls_spool_reader_maybe_sent(rd, r, n), n2);
    assert_int_equal(ls_spool_reader_mark_sent(rd, r[n - 1].seq), 0);
    assert_int_equal(ls_spool_reader_ack(rd), 0);
    /* Later batches are new. */
    assert_true(ls_spool_reader_fill(rd) > 0);
    r = ls_spool_reader_batch(rd, &n, NULL);
    assert_int_equal(ls_spool_reader_maybe_sent(rd, r, n), 0);
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
}

int main(void)
{
    log_init("test", 2, NULL, LOGL_ERROR);
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
        cmocka_unit_test_setup_teardown(test_flipped_byte_costs_one_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damage_in_delivered_data_loses_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_length_segment_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_cursors_recovered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_format_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marks_survive_segment_deletion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marks_wait_for_durable_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_flight_marks_after_crash, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
