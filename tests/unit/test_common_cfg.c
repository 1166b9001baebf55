/* test_common_cfg: option tables parse defaults < env < argv, reject bad input with one clear line, and print help. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

static char *s_name, *s_none;
static int64_t s_port, s_timeout;
static uint64_t s_size;
static int s_verbose, s_mode;
static struct cfg_list s_tags;
static const char *const modes[] = {"fast", "safe", NULL};

static const struct cfg_opt opts[] = {
    {"name", 'n', CFG_STR, &s_name, "svc", 0, 0, NULL, "NAME", "Service name."},
    {"none", 0, CFG_STR, &s_none, NULL, 0, 0, NULL, "X", "Unset by default."},
    {"tls-port", 'p', CFG_INT, &s_port, "8443", 1, 65535, NULL, "PORT", "Port."},
    {"timeout", 0, CFG_DURATION, &s_timeout, "5s", 0, 0, NULL, "DUR", "Timeout."},
    {"max-bytes", 0, CFG_SIZE, &s_size, "1MiB", 1024, 0, NULL, "SIZE", "Cap | limit."},
    {"verbose", 'v', CFG_BOOL, &s_verbose, NULL, 0, 0, NULL, NULL, "Talk more."},
    {"mode", 0, CFG_ENUM, &s_mode, "safe", 0, 0, modes, "MODE", "Mode."},
    {"tag", 't', CFG_LIST, &s_tags, "a,b", 0, 0, NULL, "TAG", "Tags."},
};
#define NOPTS (sizeof opts / sizeof opts[0])

static char err[256];

static int parse(struct cfg_list *pos, int argc, ...)
{
    char *argv[32];
    va_list ap;
    argv[0] = (char *)"prog";
    va_start(ap, argc);
    for (int i = 1; i <= argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    err[0] = '\0';
    return cfg_parse(opts, NOPTS, "TST", argc + 1, argv, pos, err, sizeof err);
}

static int teardown(void **st)
{
    (void)st;
    cfg_free(opts, NOPTS);
    const char *envs[] = {"TST_NAME", "TST_TLS_PORT", "TST_TAG", "TST_VERBOSE", "TST_MAX_BYTES"};
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++)
        unsetenv(envs[i]);
    return 0;
}

static void test_defaults(void **st)
{
    (void)st;
    assert_int_equal(parse(NULL, 0), 0);
    assert_string_equal(s_name, "svc");
    assert_null(s_none);
    assert_int_equal(s_port, 8443);
    assert_int_equal(s_timeout, 5000);
    assert_int_equal(s_size, 1 << 20);
    assert_int_equal(s_verbose, 0);
    assert_int_equal(s_mode, 1);
    assert_int_equal(s_tags.n, 2);
    assert_string_equal(s_tags.items[1], "b");
}

static void test_precedence(void **st)
{
    (void)st;
    setenv("TST_NAME", "fromenv", 1);
    setenv("TST_TLS_PORT", "9000", 1);
    setenv("TST_TAG", "x,,y", 1);
    assert_int_equal(parse(NULL, 2, "--tls-port=9001", "-v"), 0);
    assert_string_equal(s_name, "fromenv");
    assert_int_equal(s_port, 9001);
    assert_int_equal(s_verbose, 1);
    assert_int_equal(s_tags.n, 2);
    assert_string_equal(s_tags.items[0], "x");
    assert_string_equal(s_tags.items[1], "y");
    cfg_free(opts, NOPTS);
    assert_int_equal(parse(NULL, 6, "--name", "argv", "-t", "one", "--tag=two,three", "--no-verbose"), 0);
    assert_string_equal(s_name, "argv");
    assert_int_equal(s_port, 9000);
    assert_int_equal(s_verbose, 0);
    assert_int_equal(s_tags.n, 2); /* argv replaces env's list, then appends */
    assert_string_equal(s_tags.items[0], "one");
    assert_string_equal(s_tags.items[1], "two,three");
}

static void test_values(void **st)
{
    (void)st;
    assert_int_equal(parse(NULL, 5, "--timeout", "250ms", "--max-bytes=64KiB", "--verbose=off", "--mode=fast"), 0);
    assert_int_equal(s_timeout, 250);
    assert_int_equal(s_size, 65536);
    assert_int_equal(s_verbose, 0);
    assert_int_equal(s_mode, 0);
    uint64_t u;
    int64_t d;
    assert_int_equal(cfg_parse_size("3G", &u), 0);
    assert_int_equal(u, 3ULL << 30);
    assert_int_equal(cfg_parse_size("10MiB", &u), 0);
    assert_int_equal(u, 10ULL << 20);
    assert_int_equal(cfg_parse_size("7", &u), 0);
    assert_int_equal(u, 7);
    assert_int_equal(cfg_parse_size("-1", &u), -1);
    assert_int_equal(cfg_parse_size("1T", &u), -1);
    assert_int_equal(cfg_parse_size("99999999999999999999", &u), -1);
    assert_int_equal(cfg_parse_size("17179869184G", &u), -1);
    assert_int_equal(cfg_parse_duration_ms("2h", &d), 0);
    assert_int_equal(d, 7200000);
    assert_int_equal(cfg_parse_duration_ms("3m", &d), 0);
    assert_int_equal(d, 180000);
    assert_int_equal(cfg_parse_duration_ms("7", &d), 0);
    assert_int_equal(d, 7000);
    assert_int_equal(cfg_parse_duration_ms("1d", &d), -1);
    assert_int_equal(cfg_parse_duration_ms("", &d), -1);
    assert_int_equal(cfg_parse_int("-42", &d), 0);
    assert_int_equal(d, -42);
    assert_int_equal(cfg_parse_int("4x", &d), -1);
    assert_int_equal(cfg_parse_int(" 4", &d), -1);
    assert_int_equal(cfg_parse_int("99999999999999999999", &d), -1);
}

static void test_errors(void **st)
{
    (void)st;
    assert_int_equal(parse(NULL, 2, "--tls-port", "abc"), -1);
    assert_string_equal(err, "invalid value for --tls-port: \"abc\" (expected an integer between 1 and 65535)");
    cfg_free(opts, NOPTS);
    assert_int_equal(parse(NULL, 1, "--tls-port=0"), -1);
    cfg_free(opts, NOPTS);
    assert_int_equal(parse(NULL, 1, "--foo"), -1);
    assert_string_equal(err, "unknown option --foo");
    cfg_free(opts, NOPTS);
    assert_int_equal(parse(NULL, 1, "--foo=bar"), -1);
    assert_string_equal(err, "unknown option --foo");
    cfg_free(opts, NOPTS);
    assert_int_equal(parse(NULL, 1, "-z"), -1);
    assert_string_equal(err, "unknown option -z");
    cfg_free(opts, NOPTS);
    assert_int_equal(parse(NULL, 1, "--name"), -1);
    assert_string_equal(err, "option --name requires a value");
    cfg_free(opts, NOPTS);
    assert_int_equal(parse(NULL, 1, "stray"), -1);
    assert_string_equal(err, "unexpected argument \"stray\"");
    cfg_free(opts, NOPTS);
    assert_int_equal(parse(NULL, 1, "--max-bytes=512"), -1);
    assert_non_null(strstr(err, "--max-bytes: \"512\""));
    assert_non_null(strstr(err, "at least 1024"));
    cfg_free(opts, NOPTS);
    assert_int_equal(parse(NULL, 1, "--mode=slow"), -1);
    assert_string_equal(err, "invalid value for --mode: \"slow\" (expected one of: fast, safe)");
    cfg_free(opts, NOPTS);
    assert_int_equal(parse(NULL, 1, "--verbose=maybe"), -1);
    assert_non_null(strstr(err, "--verbose: \"maybe\""));
    cfg_free(opts, NOPTS);
    setenv("TST_TLS_PORT", "70000", 1);
    assert_int_equal(parse(NULL, 0), -1);
    assert_string_equal(err, "invalid value for TST_TLS_PORT: \"70000\" (expected an integer between 1 and 65535)");
    assert_null(strchr(err, '\n'));
    unsetenv("TST_TLS_PORT");
    cfg_free(opts, NOPTS);
    assert_int_equal(parse(NULL, 1, "--name\n=x"), -1);
    assert_string_equal(err, "unknown option --name?");
    cfg_free(opts, NOPTS);
    assert_int_equal(parse(NULL, 1, "--tls-port=1\n2"), -1);
    assert_string_equal(err, "invalid value for --tls-port: \"1?2\" (expected an integer between 1 and 65535)");
}

static void test_help_version_positional(void **st)
{
    (void)st;
    struct cfg_list pos = {0};
    assert_int_equal(parse(NULL, 2, "-v", "--help"), 1);
    cfg_free(opts, NOPTS);
    assert_int_equal(parse(NULL, 1, "-h"), 1);
    cfg_free(opts, NOPTS);
    assert_int_equal(parse(NULL, 1, "--version"), 2);
    cfg_free(opts, NOPTS);
    assert_int_equal(parse(NULL, 1, "-V"), 2);
    cfg_free(opts, NOPTS);
    assert_int_equal(parse(&pos, 5, "a", "-", "-v", "--", "--name"), 0);
    assert_int_equal(pos.n, 3);
    assert_string_equal(pos.items[0], "a");
    assert_string_equal(pos.items[1], "-");
    assert_string_equal(pos.items[2], "--name");
    assert_string_equal(s_name, "svc");
    for (size_t i = 0; i < pos.n; i++)
        free(pos.items[i]);
    free(pos.items);
}

static void test_set_find(void **st)
{
    (void)st;
    assert_int_equal(parse(NULL, 0), 0);
    assert_int_equal(cfg_set(opts, NOPTS, "tls-port", "1234", err, sizeof err), 0);
    assert_int_equal(s_port, 1234);
    assert_int_equal(cfg_set(opts, NOPTS, "tag", "c", err, sizeof err), 0);
    assert_int_equal(s_tags.n, 3);
    assert_int_equal(cfg_set(opts, NOPTS, "nope", "1", err, sizeof err), -1);
    assert_string_equal(err, "unknown option nope");
    assert_ptr_equal(cfg_find(opts, NOPTS, "mode"), &opts[6]);
    assert_null(cfg_find(opts, NOPTS, "mod"));
}

static char *capture(int md)
{
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    assert_non_null(f);
    if (md)
        cfg_markdown(f, opts, NOPTS, "TST");
    else
        cfg_usage(f, "prog", "Does things.", opts, NOPTS, "TST");
    assert_int_equal(fclose(f), 0);
    return p;
}

static void test_usage_markdown(void **st)
{
    (void)st;
    char *u = capture(0);
    assert_non_null(strstr(u, "Usage: prog [options]\nDoes things.\n"));
    assert_non_null(strstr(u, "-p, --tls-port PORT"));
    assert_non_null(strstr(u, "default: 8443"));
    assert_non_null(strstr(u, "env: TST_TLS_PORT"));
    assert_non_null(strstr(u, "env: TST_MAX_BYTES"));
    assert_non_null(strstr(u, "--help"));
    free(u);
    char *m = capture(1);
    assert_non_null(strstr(m, "| Flag | Environment | Default | Meaning |\n"));
    assert_non_null(strstr(m, "| `--tls-port PORT` | `TST_TLS_PORT` | `8443` | Port. |\n"));
    assert_non_null(strstr(m, "Cap \\| limit."));
    assert_non_null(strstr(m, "`fast`"));
    free(m);
}

struct bound_settings {
    int64_t a, b;
};

/* cfg_bind writes rows only where they fit: an option table can never overflow its array. */
static void test_bind_bounds(void **st)
{
    (void)st;
    static const struct cfg_row rows[] = {
        CFG_ROW(struct bound_settings, a, "a", CFG_INT, "1", 0, 9, NULL, "N", "first"),
        CFG_ROW(struct bound_settings, b, "b", CFG_INT, "2", 0, 9, NULL, "N", "second"),
    };
    struct bound_settings set;
    struct cfg_opt t[3];
    memset(t, 0, sizeof(t));
    size_t used = 0;
    assert_int_equal(cfg_bind(t, 3, &used, rows, 2, &set), 0);
    assert_int_equal(used, 2);
    assert_ptr_equal(t[0].dst, &set.a);
    assert_ptr_equal(t[1].dst, &set.b);
    assert_ptr_equal(cfg_row_dst(&rows[1], &set), &set.b);
    /* Two more rows do not fit in the one entry left: nothing is written. */
    assert_int_equal(cfg_bind(t, 3, &used, rows, 2, &set), -1);
    assert_int_equal(used, 2);
    assert_null(t[2].name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_defaults, teardown),
        cmocka_unit_test_teardown(test_precedence, teardown),
        cmocka_unit_test_teardown(test_values, teardown),
        cmocka_unit_test_teardown(test_errors, teardown),
        cmocka_unit_test_teardown(test_help_version_positional, teardown),
        cmocka_unit_test_teardown(test_set_find, teardown),
        cmocka_unit_test_teardown(test_usage_markdown, teardown),
        cmocka_unit_test(test_bind_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
