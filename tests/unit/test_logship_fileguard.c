/* test_logship_fileguard: what the file source may open (special files, pseudo filesystems, roots)
 * and URL redaction. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logship/in/fileguard.h"
#include "logship/redact.h"

static void test_under(void **state)
{
    (void)state;
    assert_true(ls_fileguard_under("/var/log/a.log", "/var/log"));
    assert_true(ls_fileguard_under("/var/log/a.log", "/var/log/"));
    assert_true(ls_fileguard_under("/var/log", "/var/log"));
    assert_false(ls_fileguard_under("/var/logx/a.log", "/var/log"));
    assert_false(ls_fileguard_under("/etc/shadow", "/var/log"));
    assert_true(ls_fileguard_under("/etc/shadow", "/"));
}

static void test_glob_base(void **state)
{
    (void)state;
    char b[64];
    static const char *const cases[][2] = {
        { "/var/log/containers/*.log", "/var/log/containers" },
        { "/var/log/pods/*/*/0.log", "/var/log/pods" },
        { "/var/log/app.log", "/var/log" },
        { "app.log", "." },
        { "*.log", "." },
        { "/*.log", "/" },
        { "logs/x[0-9]/a.log", "logs" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(ls_fileguard_glob_base(cases[i][0], b, sizeof(b)), 0);
        assert_string_equal(b, cases[i][1]);
    }
    assert_int_equal(ls_fileguard_glob_base("/a/very/long/directory/name/x.log", b, 8), -1);
}

static void test_pseudo_types(void **state)
{
    (void)state;
    assert_true(ls_fileguard_pseudo_fs(0x9fa0));      /* proc */
    assert_true(ls_fileguard_pseudo_fs(0x62656572));  /* sysfs */
    assert_true(ls_fileguard_pseudo_fs(0x63677270));  /* cgroup2 */
    assert_false(ls_fileguard_pseudo_fs(0xef53));     /* ext4 */
    assert_false(ls_fileguard_pseudo_fs(0x01021994)); /* tmpfs */
    assert_false(ls_fileguard_pseudo_fs(0x794c7630)); /* overlayfs */
    assert_string_equal(ls_fileguard_reason(LS_REFUSE_PSEUDO_FS), "pseudo_fs");
    assert_string_equal(ls_fileguard_reason(LS_REFUSE_NONE), "");
}

/* Open what a name leads to, or say why not. */
static enum ls_refuse try_open(const struct ls_fileguard *g, const char *path, const char *base)
{
    struct stat st;
    enum ls_refuse why;
    int fd = ls_fileguard_open(g, path, base, &st, &why);
    if (fd >= 0) {
        assert_true(S_ISREG(st.st_mode));
        close(fd);
        return LS_REFUSE_NONE;
    }
    assert_int_not_equal(why, LS_REFUSE_NONE);
    return why;
}

static void test_open_policy(void **state)
{
    (void)state;
    char top[] = "/tmp/test_logship_fileguard.XXXXXX", dir[128], other[128], p[256],
         err[256];
    assert_non_null(mkdtemp(top));
    snprintf(dir, sizeof(dir), "%s/logs", top);
    snprintf(other, sizeof(other), "%s/other", top);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(mkdir(other, 0700), 0);
    snprintf(p, sizeof(p), "%s/secret", other);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("x\n", f);
    fclose(f);
    snprintf(p, sizeof(p), "%s/real.log", dir);
    f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);

    struct ls_fileguard none, roots;
    assert_int_equal(ls_fileguard_init(&none, NULL, 0, err, sizeof(err)), 0);
    const char *r[1] = { other };
    assert_int_equal(ls_fileguard_init(&roots, r, 1, err, sizeof(err)), 0);

    char link[256], target[256];
    assert_int_equal(try_open(&none, p, dir), LS_REFUSE_NONE);
    /* a link inside the directory to a file in it is fine */
    snprintf(link, sizeof(link), "%s/inside.log", dir);
    assert_int_equal(symlink(p, link), 0);
    assert_int_equal(try_open(&none, link, dir), LS_REFUSE_NONE);
    /* to /proc: a pseudo file, whatever the roots */
    snprintf(link, sizeof(link), "%s/status.log", dir);
    assert_int_equal(symlink("/proc/self/status", link), 0);
    assert_int_equal(try_open(&none, link, dir), LS_REFUSE_PSEUDO_FS);
    const char *all[1] = { "/" };
    struct ls_fileguard slash;
    assert_int_equal(ls_fileguard_init(&slash, all, 1, err, sizeof(err)), 0);
    assert_int_equal(try_open(&slash, link, dir), LS_REFUSE_PSEUDO_FS);
    ls_fileguard_free(&slash);
    /* outside the glob's directory: refused unless under an --allow-root */
    snprintf(link, sizeof(link), "%s/out.log", dir);
    snprintf(target, sizeof(target), "%s/secret", other);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(try_open(&none, link, dir), LS_REFUSE_OUTSIDE_ROOT);
    assert_int_equal(try_open(&roots, link, dir), LS_REFUSE_NONE);
    /* a FIFO, directly or through a link */
    snprintf(target, sizeof(target), "%s/fifo", dir);
    assert_int_equal(mkfifo(target, 0600), 0);
    assert_int_equal(try_open(&none, target, dir), LS_REFUSE_SPECIAL);
    snprintf(link, sizeof(link), "%s/fifo.log", dir);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(try_open(&none, link, dir), LS_REFUSE_SPECIAL);
    /* a device */
    snprintf(link, sizeof(link), "%s/null.log", dir);
    assert_int_equal(symlink("/dev/null", link), 0);
    assert_int_equal(try_open(&none, link, dir), LS_REFUSE_SPECIAL);
    /* dangling: not a refusal, just not there (yet) */
    snprintf(link, sizeof(link), "%s/dangling.log", dir);
    assert_int_equal(symlink("/nonexistent/x", link), 0);
    struct stat st;
    enum ls_refuse why;
    assert_int_equal(ls_fileguard_open(&none, link, dir, &st, &why), -1);
    assert_int_equal(why, LS_REFUSE_NONE);
    assert_int_equal(errno, ENOENT);

    /* a relative root must exist; an absolute one may appear later */
    const char *rel[1] = { "no/such/dir" };
    assert_int_equal(ls_fileguard_init(&slash, rel, 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no/such/dir"));
    const char *later[1] = { "/nonexistent/later" };
    assert_int_equal(ls_fileguard_init(&slash, later, 1, err, sizeof(err)), 0);
    ls_fileguard_free(&slash);

    ls_fileguard_free(&none);
    ls_fileguard_free(&roots);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
    assert_int_equal(system(cmd), 0);
}

static void test_redact_url(void **state)
{
    (void)state;
    char b[128];
    assert_string_equal(ls_redact_url("https://user:pass@host:9200/x?y=1", b, sizeof(b)),
                        "https://REDACTED@host:9200/x?y=1");
    assert_string_equal(ls_redact_url("http://p@ss:w@rd@host", b, sizeof(b)), "http://REDACTED@host");
    assert_string_equal(ls_redact_url("http://host/a@b", b, sizeof(b)), "http://host/a@b");
    assert_string_equal(ls_redact_url("beats://u:p@host:5044", b, sizeof(b)), "beats://REDACTED@host:5044");
    assert_string_equal(ls_redact_url("no-scheme:p@host", b, sizeof(b)), "REDACTED@host");
    assert_string_equal(ls_redact_url("http://u:p@h", b, 10), "http://RE");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_under),
        cmocka_unit_test(test_glob_base),
        cmocka_unit_test(test_pseudo_types),
        cmocka_unit_test(test_open_policy),
        cmocka_unit_test(test_redact_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
