/* test_logship_spool_sync: what a failed fdatasync means for the spool (fsyncgate: a retried sync may
 * succeed on pages the kernel dropped), with fdatasync interposed by this binary. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tests/lib/tmpdir.h"
#include "logship/spool/spool.h"

static char g_dir[256];
static int g_fail_sync;   /* fdatasync calls still to fail with EIO */
static int g_syncs;       /* fdatasync calls seen */

/* Replaces libc's for the spool in this binary (cursor files use fsync). */
int fdatasync(int fd)
{
    g_syncs++;
    if (g_fail_sync > 0) {
        g_fail_sync--;
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_fdatasync, fd);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/test_spool_sync.XXXXXX");
    g_fail_sync = 0;
    g_syncs = 0;
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tmpdir_remove(g_dir);
    return 0;
}

static struct ls_spool *open_spool(enum ls_fsync_policy pol, uint64_t seg)
{
    char err[256] = "";
    struct ls_spool_opts o = { .dir = g_dir, .max_bytes = 4u << 20, .segment_bytes = seg,
                               .max_record_bytes = 8192, .fsync = pol, .fsync_interval_ms = 1000 };
    struct ls_spool *sp = ls_spool_open(&o, err, sizeof(err));
    if (!sp)
        fprintf(stderr, "open: %s\n", err);
    assert_non_null(sp);
    return sp;
}

/* Append a line of file 64769:1234 that starts at offset off. */
static int append_at(struct ls_spool *sp, unsigned off)
{
    char origin[64];
    int ol = snprintf(origin, sizeof(origin), "f:64769:1234:00000000000000ab@%u", off);
    struct ls_record r = { .ts_ns = 1, .labels = "{job=\"t\"}", .labels_len = 9, .line = "line",
                           .line_len = 4, .origin = origin, .origin_len = (size_t)ol };
    return ls_spool_append(sp, &r);
}

static uint64_t mark_off(struct ls_spool *sp)
{
    uint64_t off = 0;
    uint64_t fp = 0;
    if (!ls_spool_resume_mark(sp, 64769, 1234, &off, &fp))
        return UINT64_MAX;
    return off;
}

/* A failed commit-point sync is not retried into a success: commit points
 * fail for the rest of the run, no mark moves past the unsynced data, and
 * the records are still delivered; a restart finds them intact. */
static void test_failed_sync_is_never_claimed_durable(void **state)
{
    (void)state;
    struct ls_spool *sp = open_spool(LS_FSYNC_ALWAYS, 0);
    assert_int_equal(append_at(sp, 0), LS_SPOOL_OK);
    assert_int_equal(ls_spool_commit_point(sp, 0), 1);
    assert_int_equal(mark_off(sp), 0);
    assert_false(ls_spool_sync_lost(sp));

    g_fail_sync = 1;
    assert_int_equal(append_at(sp, 100), LS_SPOOL_OK);
    assert_int_equal(ls_spool_commit_point(sp, 0), LS_SPOOL_ERR);
    assert_int_equal(g_fail_sync, 0);
    assert_true(ls_spool_sync_lost(sp)); /* /healthz turns 503 on this */
    /* The next fdatasync would succeed: it must not be believed. */
    assert_int_equal(append_at(sp, 200), LS_SPOOL_OK);
    int syncs = g_syncs;
    assert_int_equal(ls_spool_commit_point(sp, 1), LS_SPOOL_ERR);
    assert_int_equal(g_syncs, syncs);
    assert_int_equal(mark_off(sp), 0);

    char err[256] = "";
    struct ls_spool_reader *rd = ls_spool_reader_open(sp, "a", 1u << 20, err, sizeof(err));
    assert_non_null(rd);
    assert_int_equal(ls_spool_reader_fill(rd), 3);
    assert_int_equal(ls_spool_reader_ack(rd), 0);
    ls_spool_reader_close(rd);
    ls_spool_close(sp);

    /* A restart starts clean: the records found intact carry their marks. */
    sp = open_spool(LS_FSYNC_ALWAYS, 0);
    assert_int_equal(mark_off(sp), 200);
    assert_int_equal(append_at(sp, 300), LS_SPOOL_OK);
    assert_int_equal(ls_spool_commit_point(sp, 0), 1);
    ls_spool_close(sp);
}

/* A sync that fails when a segment is closed on rollover counts the same. */
static void test_failed_rollover_sync_stops_commits(void **state)
{
    (void)state;
    struct ls_spool *sp = open_spool(LS_FSYNC_INTERVAL, 64u << 10);
    assert_int_equal(append_at(sp, 0), LS_SPOOL_OK);
    assert_int_equal(ls_spool_flush(sp), LS_SPOOL_OK);
    g_fail_sync = 1;
    /* Enough records to roll over to a second segment; the append whose
     * rollover sync failed took nothing (LS_SPOOL_ERR: offer it again). */
    int errs = 0;
    for (unsigned i = 1; i < 2000 && ls_spool_segments(sp) < 2; i++) {
        int rc = append_at(sp, i * 10);
        assert_true(rc == LS_SPOOL_OK || rc == LS_SPOOL_ERR);
        errs += rc == LS_SPOOL_ERR;
    }
    assert_int_equal(errs, 1);
    assert_int_equal(ls_spool_segments(sp), 2);
    assert_int_equal(g_fail_sync, 0);
    assert_int_equal(ls_spool_commit_point(sp, 1), LS_SPOOL_ERR);
    assert_int_equal(mark_off(sp), UINT64_MAX);
    ls_spool_close(sp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_failed_sync_is_never_claimed_durable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_rollover_sync_stops_commits, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
