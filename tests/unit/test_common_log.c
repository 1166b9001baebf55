/* test_common_log: log lines are valid JSON with ts/level/service/msg, honour the level, fit LOG_LINE_MAX, survive rotation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonw.h"
#include "log.h"
#include "timefmt.h"
#include "test_common_json_check.h"

static char g_dir[64];
static char g_path[128];

static int setup(void **st)
{
    (void)st;
    (void)snprintf(g_dir, sizeof g_dir, "/tmp/test_common_log.XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    (void)snprintf(g_path, sizeof g_path, "%s/app.log", g_dir);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    char p[160];
    log_close();
    log_init("test", 2, NULL, LOGL_INFO);
    unlink(g_path);
    (void)snprintf(p, sizeof p, "%s.1", g_path);
    unlink(p);
    rmdir(g_dir);
    return 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *p = malloc(16 << 20);
    assert_non_null(p);
    size_t n = fread(p, 1, (16 << 20) - 1, f);
    fclose(f);
    p[n] = '\0';
    *len = n;
    return p;
}

/* Check every line of s: valid JSON object ≤ LOG_LINE_MAX with the fixed
 * header fields. Returns the number of lines. */
static int check_lines(const char *s, size_t n, const char *service)
{
    int lines = 0;
    const char *p = s, *end = s + n;
    char want[128];
    (void)snprintf(want, sizeof want, "\",\"service\":\"%s\",\"msg\":", service);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        size_t len = (size_t)(nl - p);
        assert_true(len + 1 <= LOG_LINE_MAX);
        if (!jc_is_json_object(p, len))
            fail_msg("invalid JSON line: %.200s", p);
        assert_memory_equal(p, "{\"ts\":\"", 7);
        int64_t ns;
        assert_int_equal(timefmt_parse_rfc3339(p + 7, TIMEFMT_RFC3339_US_LEN, &ns), 0);
        assert_true(ns > 1700000000LL * 1000000000LL);
        assert_memory_equal(p + 34, "\",\"level\":\"", 11);
        const char *svc = strstr(p, want);
        assert_true(svc != NULL && svc < nl);
        lines++;
        p = nl + 1;
    }
    return lines;
}

static void test_shape_and_level(void **st)
{
    (void)st;
    int fds[2];
    char rd[8192];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(log_init("svc\"x", fds[1], NULL, LOGL_WARN), 0);
    log_kv(LOGL_INFO, "hidden", "k", "v", NULL);
    log_kv(LOGL_DEBUG, "hidden", NULL);
    assert_false(log_enabled(LOGL_INFO));
    assert_true(log_enabled(LOGL_ERROR));
    log_kv(LOGL_WARN, "shown \x01\xff", "path", "/a\"b\n\xc0", "nul", NULL, NULL);
    buf_t b;
    buf_init(&b, LOG_LINE_MAX);
    log_begin(&b, LOGL_ERROR, "built");
    assert_int_equal(jsonw_kv_int(&b, "n", 5), 0);
    log_emit(&b);
    buf_free(&b);
    log_set_level(LOGL_DEBUG);
    assert_int_equal(log_get_level(), LOGL_DEBUG);
    log_kv(LOGL_DEBUG, "dbg", NULL);
    ssize_t n = read(fds[0], rd, sizeof rd - 1);
    assert_true(n > 0);
    rd[n] = '\0';
    assert_int_equal(check_lines(rd, (size_t)n, "svc\\\"x"), 3);
    assert_null(strstr(rd, "hidden"));
    assert_non_null(strstr(rd, "\"level\":\"warn\",\"service\":\"svc\\\"x\",\"msg\":\"shown \\u0001\xef\xbf\xbd\","
                               "\"path\":\"/a\\\"b\\n\xef\xbf\xbd\",\"nul\":null}\n"));
    assert_non_null(strstr(rd, "\"level\":\"error\",\"service\":\"svc\\\"x\",\"msg\":\"built\",\"n\":5}\n"));
    assert_non_null(strstr(rd, "\"level\":\"debug\""));
    close(fds[0]);
    close(fds[1]);
}

static void test_levels(void **st)
{
    (void)st;
    assert_int_equal(log_level_parse("debug"), LOGL_DEBUG);
    assert_int_equal(log_level_parse("warning"), LOGL_WARN);
    assert_int_equal(log_level_parse("error"), LOGL_ERROR);
    assert_int_equal(log_level_parse("loud"), -1);
    assert_string_equal(log_level_name(LOGL_WARN), "warn");
}

static void test_truncation(void **st)
{
    (void)st;
    size_t big = 200000, len;
    char *v = malloc(big + 1);
    assert_non_null(v);
    for (size_t i = 0; i < big; i++)
        v[i] = "a\xe2\x82\xac\"\x01"[i % 6];
    v[big] = '\0';
    assert_int_equal(log_init("t", -1, g_path, LOGL_INFO), 0);
    log_kv(LOGL_INFO, "big", "first", "ok", "value", v, "after", "x", NULL);
    /* A caller that fills its buffer to the cap with jsonw: log_emit cuts back to a field. */
    buf_t b;
    buf_init(&b, LOG_LINE_MAX);
    log_begin(&b, LOGL_INFO, "filled");
    int i = 0;
    while (jsonw_kv_strn(&b, "f", "0123456789", 10) == 0)
        i++;
    assert_true(i > 1000);
    assert_true(b.len > LOG_LINE_MAX - 17); /* no room for the closing brace */
    log_emit(&b);
    buf_free(&b);
    /* Huge msg. */
    log_kv(LOGL_INFO, v, NULL);
    char *s = slurp(g_path, &len);
    assert_int_equal(check_lines(s, len, "t"), 3);
    char *l2 = strchr(s, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    assert_true(l2 - s > 60000);
    assert_true(l3 - l2 > 60000);
    assert_non_null(strstr(s, "\"first\":\"ok\""));
    assert_int_equal(strstr(l2, ",\"truncated\":true}\n") + 19 - l2, l3 - l2);
    assert_int_equal(strstr(l3, ",\"truncated\":true}\n") + 19 - l3, (char *)s + len - l3);
    assert_int_equal(strstr(s, ",\"truncated\":true}\n") + 19 - s, l2 - s);
    free(s);
    free(v);
    log_close();
}

static void test_reopen_after_rename(void **st)
{
    (void)st;
    char old[160];
    size_t len;
    struct stat sb;
    (void)snprintf(old, sizeof old, "%s.1", g_path);
    assert_int_equal(log_init("r", -1, g_path, LOGL_INFO), 0);
    log_kv(LOGL_INFO, "before", NULL);
    assert_int_equal(rename(g_path, old), 0);
    log_kv(LOGL_INFO, "still-old", NULL);
    assert_int_equal(log_reopen(), 0);
    log_kv(LOGL_INFO, "after", NULL);
    assert_int_equal(stat(g_path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    char *s = slurp(old, &len);
    assert_int_equal(check_lines(s, len, "r"), 2);
    assert_non_null(strstr(s, "\"before\""));
    assert_non_null(strstr(s, "\"still-old\""));
    free(s);
    s = slurp(g_path, &len);
    assert_int_equal(check_lines(s, len, "r"), 1);
    assert_non_null(strstr(s, "\"after\""));
    free(s);
    /* The file descriptor stays close-on-exec after the swap. */
    int found = 0;
    for (int fd = 3; fd < 256; fd++) {
        char lp[64], tgt[256];
        (void)snprintf(lp, sizeof lp, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(lp, tgt, sizeof tgt - 1);
        if (n <= 0)
            continue;
        tgt[n] = '\0';
        if (strcmp(tgt, g_path) == 0) {
            found = 1;
            assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        }
    }
    assert_true(found);
    log_close();
}

static void *writer(void *arg)
{
    char val[6000];
    int id = (int)(intptr_t)arg;
    memset(val, 'a' + id, sizeof val);
    for (int i = 0; i < 500; i++) {
        val[(i * 37) % sizeof val] = '\0';
        log_kv(LOGL_INFO, "t", "v", val, NULL);
        val[(i * 37) % sizeof val] = (char)('a' + id);
        if (i % 100 == 0 && id == 0)
            (void)log_reopen();
    }
    return NULL;
}

static void test_threads_no_interleave(void **st)
{
    (void)st;
    size_t len;
    pthread_t t[4];
    uint64_t errs = log_write_errors();
    assert_int_equal(log_init("m", -1, g_path, LOGL_INFO), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    char *s = slurp(g_path, &len);
    assert_int_equal(check_lines(s, len, "m"), 2000);
    free(s);
    assert_int_equal(log_write_errors(), errs);
    log_close();
}

static void test_write_errors_counted(void **st)
{
    (void)st;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    close(fds[0]);
    signal(SIGPIPE, SIG_IGN);
    uint64_t before = log_write_errors();
    assert_int_equal(log_init("e", fds[1], NULL, LOGL_INFO), 0);
    log_kv(LOGL_INFO, "lost", NULL);
    assert_int_equal(log_write_errors(), before + 1);
    close(fds[1]);
    assert_int_equal(log_init("e", -1, "/nonexistent-dir/x.log", LOGL_INFO), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shape_and_level, setup, teardown),
        cmocka_unit_test(test_levels),
        cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_after_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_no_interleave, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_errors_counted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
