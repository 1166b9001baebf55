/* Unit tests for checkpoint files: atomic replace, absent and unreadable files, leftovers of interrupted writes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "atomicfile.h"

struct dir {
    char path[256];
    char file[300];
};

static int setup(void **st)
{
    struct dir *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return -1;
    snprintf(d->path, sizeof(d->path), "/tmp/test_ckpt.XXXXXX");
    if (mkdtemp(d->path) == NULL)
        return -1;
    snprintf(d->file, sizeof(d->file), "%s/positions.json", d->path);
    *st = d;
    return 0;
}

static int teardown(void **st)
{
    struct dir *d = *st;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
    if (system(cmd) != 0)
        return -1;
    free(d);
    return 0;
}

static void test_roundtrip_and_replace(void **st)
{
    struct dir *d = *st;
    buf_t b;
    char big[100000];
    buf_init(&b, 0);
    assert_int_equal(atomicfile_read(d->file, &b), 1);
    assert_int_equal(b.len, 0);
    assert_int_equal(atomicfile_write(d->file, "first", 5), 0);
    assert_int_equal(atomicfile_read(d->file, &b), 0);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.p, "first", 5);
    memset(big, 'z', sizeof(big));
    assert_int_equal(atomicfile_write(d->file, big, sizeof(big)), 0);
    assert_int_equal(atomicfile_read(d->file, &b), 0);
    assert_int_equal(b.len, sizeof(big));
    assert_int_equal(atomicfile_write(d->file, "", 0), 0);
    assert_int_equal(atomicfile_read(d->file, &b), 0);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

static void test_no_temp_left_and_leftovers_ignored(void **st)
{
    struct dir *d = *st;
    char tmp[400];
    buf_t b;
    FILE *fp;
    struct stat sb;
    buf_init(&b, 0);
    assert_int_equal(atomicfile_write(d->file, "ok", 2), 0);
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", d->file, (long)getpid());
    assert_int_not_equal(stat(tmp, &sb), 0);
    /* a torn temp file of an interrupted write (crash before rename) */
    snprintf(tmp, sizeof(tmp), "%s.tmp.999999", d->file);
    fp = fopen(tmp, "w");
    assert_non_null(fp);
    fputs("{\"torn", fp);
    fclose(fp);
    assert_int_equal(atomicfile_read(d->file, &b), 0);
    assert_memory_equal(b.p, "ok", 2);
    buf_free(&b);
}

static void test_errors(void **st)
{
    struct dir *d = *st;
    char p[400];
    buf_t b;
    buf_init(&b, 4);
    /* missing directory: write fails, errno set */
    snprintf(p, sizeof(p), "%s/nope/positions.json", d->path);
    errno = 0;
    assert_int_equal(atomicfile_write(p, "x", 1), -1);
    assert_int_equal(errno, ENOENT);
    /* a directory is not a state file */
    assert_int_equal(atomicfile_read(d->path, &b), -1);
    /* larger than the caller's cap: error, buffer left empty */
    assert_int_equal(atomicfile_write(d->file, "0123456789", 10), 0);
    assert_int_equal(atomicfile_read(d->file, &b), -1);
    assert_int_equal(errno, EFBIG);
    assert_int_equal(b.len, 0);
    /* the old content survives a failed write into a read-only directory */
    if (geteuid() != 0) {
        assert_int_equal(chmod(d->path, 0500), 0);
        assert_int_equal(atomicfile_write(d->file, "new", 3), -1);
        assert_int_equal(chmod(d->path, 0700), 0);
    }
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_and_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_temp_left_and_leftovers_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
