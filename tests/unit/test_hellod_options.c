/* test_hellod_options: hellod's option table through cfg (defaults, HELLOD_* env, flags, cross-checks). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "service/options.h"

static int parse(struct options *o, char *err, size_t errlen, int n, ...)
{
    char *argv[32];
    va_list ap;
    int i;

    argv[0] = "hellod";
    va_start(ap, n);
    for (i = 0; i < n && i < 30; i++)
        argv[i + 1] = va_arg(ap, char *);
    va_end(ap);
    argv[i + 1] = NULL;
    return options_parse(o, i + 1, argv, err, errlen);
}

static void clear_env(void)
{
    unsetenv("HELLOD_TLS_PORT");
    unsetenv("HELLOD_THREADS");
    unsetenv("HELLOD_BIND");
}

static void test_defaults(void **state)
{
    (void)state;
    struct options o;
    char err[256];
    clear_env();
    assert_int_equal(parse(&o, err, sizeof(err), 0), OPTIONS_RUN);
    assert_int_equal(o.tls_port, 8443);
    assert_int_equal(o.http_port, 8080);
    assert_string_equal(o.bind, "0.0.0.0");
    assert_null(o.cert);
    assert_null(o.key);
    assert_string_equal(o.state_dir, "/var/lib/hellod");
    assert_int_equal(o.threads, 128);
    assert_int_equal(o.log_level, LOGL_INFO);
    assert_int_equal(o.shutdown_timeout_ms, 10000);
    assert_int_equal(o.max_request_size, 16384);
    assert_int_equal(o.request_timeout_ms, 10000);
    assert_int_equal(o.keepalive_timeout_ms, 5000);
    assert_int_equal(o.hsts_max_age, 31536000);
    assert_true(o.tls_session_tickets);
    options_free(&o);
}

static void test_env_then_flags(void **state)
{
    (void)state;
    struct options o;
    char err[256];
    clear_env();
    setenv("HELLOD_TLS_PORT", "9443", 1);
    setenv("HELLOD_THREADS", "16", 1);
    assert_int_equal(parse(&o, err, sizeof(err), 2, "--threads", "32"), OPTIONS_RUN);
    assert_int_equal(o.tls_port, 9443);   /* env beats default */
    assert_int_equal(o.threads, 32);      /* flag beats env */
    options_free(&o);
    assert_int_equal(parse(&o, err, sizeof(err), 8, "--bind", "::", "--log-level", "debug",
                           "--request-timeout", "250ms", "--max-request-size", "64KiB"),
                     OPTIONS_RUN);
    assert_string_equal(o.bind, "::");
    assert_int_equal(o.log_level, LOGL_DEBUG);
    assert_int_equal(o.request_timeout_ms, 250);
    assert_int_equal(o.max_request_size, 65536);
    options_free(&o);
    clear_env();
}

static void expect_error(int n, char *a, char *b, char *c, char *d)
{
    struct options o;
    char err[256] = "";
    assert_int_equal(parse(&o, err, sizeof(err), n, a, b, c, d), OPTIONS_ERROR);
    assert_true(err[0] != '\0');
    assert_null(strchr(err, '\n'));
    options_free(&o);
}

static void test_errors(void **state)
{
    (void)state;
    clear_env();
    expect_error(2, "--tls-port", "65536", NULL, NULL);
    expect_error(2, "--threads", "1", NULL, NULL);
    expect_error(2, "--bind", "localhost", NULL, NULL);
    expect_error(2, "--bind", "1.2.3", NULL, NULL);
    expect_error(2, "--cert", "/x.pem", NULL, NULL);
    expect_error(2, "--key", "/x.key", NULL, NULL);
    expect_error(4, "--cert", "", "--key", "");
    expect_error(4, "--tls-port", "9000", "--http-port", "9000");
    expect_error(2, "--log-level", "loud", NULL, NULL);
    expect_error(2, "--shutdown-timeout", "never", NULL, NULL);
    expect_error(1, "--bogus", NULL, NULL, NULL);
    expect_error(2, "--state-dir", "", NULL, NULL);
}

static void test_special_returns(void **state)
{
    (void)state;
    struct options o;
    char err[256];
    clear_env();
    assert_int_equal(parse(&o, err, sizeof(err), 1, "--help"), OPTIONS_HELP);
    options_free(&o);
    assert_int_equal(parse(&o, err, sizeof(err), 1, "--version"), OPTIONS_VERSION);
    options_free(&o);
    assert_int_equal(parse(&o, err, sizeof(err), 1, "--help-markdown"), OPTIONS_MARKDOWN);
    options_free(&o);
    /* http-port 0 disables the redirect listener and is not "the same port" */
    assert_int_equal(parse(&o, err, sizeof(err), 4, "--http-port", "0", "--tls-port", "0"),
                     OPTIONS_RUN);
    options_free(&o);
    /* cert + key together are fine; an empty state dir is then irrelevant */
    assert_int_equal(parse(&o, err, sizeof(err), 6, "--cert", "/c", "--key", "/k",
                           "--state-dir", ""), OPTIONS_RUN);
    assert_string_equal(o.cert, "/c");
    options_free(&o);
    options_free(&o); /* twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_env_then_flags),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_special_returns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
