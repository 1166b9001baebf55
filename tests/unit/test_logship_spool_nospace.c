/* test_logship_spool_nospace: the spool's write path on a full filesystem (LS_SPOOL_NOSPACE) and on one it cannot
 * write at all; mounts small tmpfs filesystems, so most cases need root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/lib/tmpdir.h"
#include "log.h"
#include "logship/spool/spool.h"

static char g_dir[256];
static int g_mounted;

/* A 1 MiB tmpfs on a fresh directory; skips the test when not root. */
static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/test_nospace.XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    g_mounted = mount("tmpfs", g_dir, "tmpfs", 0, "size=1m") == 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (g_mounted) {
        tmpdir_empty(g_dir);
        umount2(g_dir, MNT_DETACH);
        g_mounted = 0;
    }
    tmpdir_remove(g_dir);
    return 0;
}

static struct ls_spool *open_spool(void)
{
    char err[256] = "";
    struct ls_spool_opts o = { .dir = g_dir, .max_bytes = 64u << 20, .max_record_bytes = 8192,
                               .fsync = LS_FSYNC_NEVER };
    struct ls_spool *sp = ls_spool_open(&o, err, sizeof(err));
    if (!sp)
        fprintf(stderr, "open: %s\n", err);
    assert_non_null(sp);
    return sp;
}

static struct ls_record rec_n(char *line, size_t cap, unsigned i)
{
    struct ls_record r;
    memset(&r, 0, sizeof(r));
    int n = snprintf(line, cap, "%08u ", i);
    memset(line + n, 'x', 1000 - (size_t)n);
    r.line = line;
    r.line_len = 1000;
    r.ts_ns = 1;
    return r;
}

/* Read and acknowledge everything visible; marks seen[] by the number in each line. */
static unsigned drain(struct ls_spool_reader *rd, unsigned char *seen, unsigned max)
{
    unsigned got = 0;
    for (;;) {
        long n = ls_spool_reader_fill(rd);
        assert_true(n >= 0);
        size_t cnt;
        const struct ls_record *r = ls_spool_reader_batch(rd, &cnt, NULL);
        if (cnt == 0)
            return got;
        for (size_t k = 0; k < cnt; k++) {
            unsigned i = (unsigned)strtoul(r[k].line, NULL, 10);
            assert_true(i < max);
            seen[i]++;
            got++;
        }
        assert_int_equal(ls_spool_reader_ack(rd), 0);
    }
}

static void fill_file(const char *path)
{
    static char chunk[65536];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    while (write(fd, chunk, sizeof(chunk)) > 0)
        ;
    while (write(fd, chunk, 512) > 0)
        ;
    close(fd);
}

/* Appends until the disk is full: NOSPACE (never -1), nothing accepted is lost, and once the
 * reader acknowledged (which deletes segments) the buffered records go out with no reopen. */
static void test_full_disk_nospace_then_acks_free_space(void **state)
{
    (void)state;
    if (!g_mounted)
        skip();
    enum { MAX = 4000 };
    static unsigned char seen[MAX];
    char line[1100], err[256];
    memset(seen, 0, sizeof(seen));
    struct ls_spool *sp = open_spool();
    struct ls_spool_reader *rd = ls_spool_reader_open(sp, "out", 64u << 10, err, sizeof(err));
    assert_non_null(rd);
    unsigned i = 0, refused = 0;
    while (i < MAX && refused == 0) {
        struct ls_record r = rec_n(line, sizeof(line), i);
        int rc = ls_spool_append(sp, &r);
        assert_true(rc == 0 || rc == LS_SPOOL_NOSPACE);
        if (rc == 0)
            i++;
        else
            refused = 1;
        if (rc == 0 && i % 50 == 0) {
            rc = ls_spool_flush(sp);
            assert_true(rc == 0 || rc == LS_SPOOL_NOSPACE);
            refused = rc != 0;
        }
    }
    assert_int_equal(refused, 1);
    assert_true(i < MAX);                /* 1 MiB cannot hold MAX 1 KB records */
    assert_int_equal(ls_spool_nospace(sp), 1);
    /* Nothing is taken while full. */
    struct ls_record r = rec_n(line, sizeof(line), i);
    assert_int_equal(ls_spool_append(sp, &r), LS_SPOOL_NOSPACE);
    assert_int_equal(ls_spool_flush(sp), LS_SPOOL_NOSPACE);
    /* The output catches up: its acknowledgements delete the closed segment. */
    unsigned got = drain(rd, seen, MAX);
    assert_true(got > 0);
    /* Space is back: the buffer is written, more is accepted, in the same process. */
    assert_int_equal(ls_spool_flush(sp), 0);
    assert_int_equal(ls_spool_nospace(sp), 0);
    unsigned accepted = i;
    for (unsigned k = 0; k < 100; k++) {
        r = rec_n(line, sizeof(line), accepted);
        assert_int_equal(ls_spool_append(sp, &r), 0);
        accepted++;
    }
    assert_int_equal(ls_spool_flush(sp), 0);
    drain(rd, seen, MAX);
    for (unsigned k = 0; k < accepted; k++)
        assert_int_equal(seen[k], 1);
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
}

/* Another file fills the disk: NOSPACE; the output can still acknowledge (its cursor write
 * uses the released space reserve, else segments could never be freed); deleting that file
 * lets the same spool write again. */
static void test_disk_filled_by_others_recovers_when_freed(void **state)
{
    (void)state;
    if (!g_mounted)
        skip();
    static unsigned char seen[20];
    char line[1100], err[256], filler[512];
    memset(seen, 0, sizeof(seen));
    struct ls_spool *sp = open_spool();
    struct ls_spool_reader *rd = ls_spool_reader_open(sp, "out", 64u << 10, err, sizeof(err));
    assert_non_null(rd);
    for (unsigned i = 0; i < 10; i++) {
        struct ls_record r = rec_n(line, sizeof(line), i);
        assert_int_equal(ls_spool_append(sp, &r), 0);
    }
    assert_int_equal(ls_spool_flush(sp), 0);
    snprintf(filler, sizeof(filler), "%s/filler", g_dir);
    fill_file(filler);
    for (unsigned i = 10; i < 20; i++) {
        struct ls_record r = rec_n(line, sizeof(line), i);
        assert_int_equal(ls_spool_append(sp, &r), 0);   /* buffered in memory */
    }
    assert_int_equal(ls_spool_flush(sp), LS_SPOOL_NOSPACE);
    assert_int_equal(ls_spool_nospace(sp), 1);
    assert_int_equal(drain(rd, seen, 20), 10);            /* acks (cursor writes) work */
    assert_int_equal(ls_spool_flush(sp), LS_SPOOL_NOSPACE);
    assert_int_equal(unlink(filler), 0);
    assert_int_equal(ls_spool_flush(sp), 0);
    assert_int_equal(ls_spool_nospace(sp), 0);
    assert_int_equal(drain(rd, seen, 20), 10);
    for (unsigned k = 0; k < 20; k++)
        assert_int_equal(seen[k], 1);
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
}

/* Opened on a full disk: not an error; it starts paused (nothing taken) and resumes when
 * space returns even with nothing buffered. */
static void test_open_on_full_disk_starts_paused(void **state)
{
    (void)state;
    if (!g_mounted)
        skip();
    char line[1100], filler[512];
    snprintf(filler, sizeof(filler), "%s/filler", g_dir);
    fill_file(filler);
    struct ls_spool *sp = open_spool();
    assert_int_equal(ls_spool_nospace(sp), 1);
    struct ls_record r = rec_n(line, sizeof(line), 0);
    assert_int_equal(ls_spool_append(sp, &r), LS_SPOOL_NOSPACE);
    assert_int_equal(ls_spool_flush(sp), LS_SPOOL_NOSPACE);
    assert_int_equal(unlink(filler), 0);
    assert_int_equal(ls_spool_flush(sp), 0);
    assert_int_equal(ls_spool_nospace(sp), 0);
    assert_int_equal(ls_spool_append(sp, &r), 0);
    assert_int_equal(ls_spool_flush(sp), 0);
    ls_spool_close(sp);
}

/* Nothing can be written: open fails at once with the path and the reason (no root needed). */
static void test_open_fails_fast_when_unwritable(void **state)
{
    (void)state;
    char file[512], sub[600], err[256] = "";
    snprintf(file, sizeof(file), "%s/afile", g_dir);
    int fd = open(file, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    snprintf(sub, sizeof(sub), "%s/spool", file);
    const char *paths[2] = { file, sub };
    for (int k = 0; k < 2; k++) {
        struct ls_spool_opts o = { .dir = paths[k], .max_bytes = 1u << 20, .max_record_bytes = 8192 };
        err[0] = '\0';
        assert_null(ls_spool_open(&o, err, sizeof(err)));
        assert_non_null(strstr(err, file));
        assert_non_null(strstr(err, "Not a directory"));
    }
    unlink(file);
    if (!g_mounted)
        return;
    assert_int_equal(mount("tmpfs", g_dir, "tmpfs", MS_REMOUNT | MS_RDONLY, "size=1m"), 0);
    struct ls_spool_opts o = { .dir = g_dir, .max_bytes = 1u << 20, .max_record_bytes = 8192 };
    assert_null(ls_spool_open(&o, err, sizeof(err)));
    assert_non_null(strstr(err, g_dir));
    assert_non_null(strstr(err, "Read-only"));
}

int main(void)
{
    log_init("test", 2, NULL, LOGL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_disk_nospace_then_acks_free_space, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_filled_by_others_recovers_when_freed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_on_full_disk_starts_paused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_fails_fast_when_unwritable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
