/* test_logship_config: option parsing, the JSON config file, precedence and the checks that make a config exit 2. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logship/config.h"
#include "logship/out/out_loki.h"

static int load(struct ls_config *c, char *err, size_t n, ...)
{
    char *argv[64];
    int argc = 0;
    va_list ap;
    argv[argc++] = "logship";
    va_start(ap, n);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 63;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    err[0] = 0;
    return ls_config_load(c, argc, argv, err, n);
}

static void test_defaults_and_mapping(void **state)
{
    (void)state;
    struct ls_config c;
    char err[256];
    assert_int_equal(load(&c, err, sizeof(err), "--source", "/var/log/*.log", "-", "--loki",
                          "http://127.0.0.1:3100", "--loki", "http://other:3100", "--label",
                          "service=hello", "--tenant", "t1", NULL), 0);
    assert_int_equal(c.n_file_sources, 1);
    assert_string_equal(c.file_sources[0], "/var/log/*.log");
    assert_true(c.use_stdin);
    assert_int_equal(c.n_outputs, 2);
    assert_string_equal(c.outputs[0].name, "loki");
    assert_string_equal(c.outputs[1].name, "loki-2");
    const struct ls_loki_settings *lk = c.outputs[0].conf.settings;
    assert_string_equal(lk->tenant, "t1");
    assert_int_equal(lk->encoding, LS_LOKI_PROTOBUF);
    assert_int_equal(c.outputs[0].conf.batch_bytes, 1u << 20);
    assert_int_equal(c.batch_wait_ms, 100);
    assert_int_equal(c.spool_max_bytes, 256u << 20);
    assert_int_equal(c.parse.n_ts_fields, 3);
    assert_string_equal(c.parse.ts_fields[2], "@timestamp");
    assert_int_equal(c.parse.n_label_fields, 1);
    assert_string_equal(c.parse.label_fields[0], "level");
    assert_int_equal(c.parse.n_static_labels, 1);
    ls_config_free(&c);
}

static void test_errors(void **state)
{
    (void)state;
    struct ls_config c;
    char err[256];
    assert_int_equal(load(&c, err, sizeof(err), "--loki", "http://x", NULL), -1);
    assert_non_null(strstr(err, "source"));
    ls_config_free(&c);
    assert_int_equal(load(&c, err, sizeof(err), "--source", "a", NULL), -1);
    assert_non_null(strstr(err, "output"));
    ls_config_free(&c);
    assert_int_equal(load(&c, err, sizeof(err), "--source", "a", "--loki", "gopher://x", NULL), -1);
    ls_config_free(&c);
    assert_int_equal(load(&c, err, sizeof(err), "--source", "a", "--loki", "http://x", "--label",
                          "1x=y", NULL), -1);
    ls_config_free(&c);
    assert_int_equal(load(&c, err, sizeof(err), "--source", "-", "-", "--loki", "http://x", NULL), -1);
    ls_config_free(&c);
    assert_int_equal(load(&c, err, sizeof(err), "--source", "a", "--loki", "http://x", "--username",
                          "u", NULL), -1);
    ls_config_free(&c);
    assert_int_equal(load(&c, err, sizeof(err), "--source", "a", "--loki", "http://x",
                          "--metrics-addr", "127.0.0.1", NULL), -1);
    ls_config_free(&c);
    assert_int_equal(load(&c, err, sizeof(err), "--help", NULL), 1);
    ls_config_free(&c);
}

static void test_config_file_precedence(void **state)
{
    (void)state;
    char path[] = "/tmp/test_config.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *js = "{\"source\":[\"a.log\",\"b.log\"],\"loki\":\"http://127.0.0.1:3100\","
                     "\"batch-wait\":\"150ms\",\"batch-bytes\":65536,\"compress\":false,"
                     "\"label\":[\"env=test\"]}";
    assert_int_equal(write(fd, js, strlen(js)), (ssize_t)strlen(js));
    close(fd);
    struct ls_config c;
    char err[256];
    setenv("LOGSHIP_BATCH_WAIT", "999ms", 1);
    assert_int_equal(load(&c, err, sizeof(err), "--config", path, "--source", "c.log",
                          "--batch-bytes", "8KiB", NULL), 0);
    unsetenv("LOGSHIP_BATCH_WAIT");
    assert_int_equal(c.n_file_sources, 3);        /* lists: file then command line */
    assert_int_equal(c.batch_wait_ms, 150);        /* file beats env */
    assert_int_equal(c.batch_bytes, 8192);         /* command line beats file */
    assert_int_equal(c.compress, 0);
    assert_int_equal(c.parse.n_static_labels, 1);
    ls_config_free(&c);

    FILE *f = fopen(path, "w");
    fputs("{\"source\":\"a\",\"loki\":\"http://x\",\"nope\":1}", f);
    fclose(f);
    assert_int_equal(load(&c, err, sizeof(err), "--config", path, NULL), -1);
    assert_non_null(strstr(err, "nope"));
    ls_config_free(&c);
    f = fopen(path, "w");
    fputs("{\"source\":\"a\",\"loki\":\"http://x\",\"batch-wait\":[\"1s\"]}", f);
    fclose(f);
    assert_int_equal(load(&c, err, sizeof(err), "--config", path, NULL), -1);
    ls_config_free(&c);
    f = fopen(path, "w");
    fputs("[1,2]", f);
    fclose(f);
    assert_int_equal(load(&c, err, sizeof(err), "--config", path, NULL), -1);
    ls_config_free(&c);
    unlink(path);
}

/* Per-kind auth/TLS options win for their kind; the shared ones are the fallback. */
static void test_per_kind_auth(void **state)
{
    (void)state;
    struct ls_config c;
    char err[256];
    /* shared basic auth; ES has its own; Loki opts out with ""; Logstash takes the shared */
    assert_int_equal(load(&c, err, sizeof(err), "--source", "a", "--loki", "http://l", "--elasticsearch",
                          "http://e", "--logstash", "http://s", "--username", "shared", "--password", "spw",
                          "--ca-file", "/ca.pem", "--cert", "/c.pem", "--key", "/k.pem",
                          "--es-username", "esu", "--es-password", "espw", "--loki-username", "",
                          "--loki-ca-file", "/loki-ca.pem", "--logstash-cert", "/ls-c.pem", "--logstash-key",
                          "/ls-k.pem", NULL), 0);
    assert_int_equal(c.n_outputs, 3);
    const struct ls_output_conf *lo = &c.outputs[0].conf, *es = &c.outputs[1].conf, *ls = &c.outputs[2].conf;
    assert_string_equal(c.outputs[1].name, "elasticsearch");
    assert_null(lo->username);
    assert_null(lo->password);
    assert_string_equal(lo->ca_file, "/loki-ca.pem");
    assert_string_equal(lo->cert_file, "/c.pem");
    assert_string_equal(es->username, "esu");
    assert_string_equal(es->password, "espw");
    assert_string_equal(es->ca_file, "/ca.pem");
    assert_string_equal(ls->username, "shared");
    assert_string_equal(ls->password, "spw");
    assert_string_equal(ls->cert_file, "/ls-c.pem");
    assert_string_equal(ls->key_file, "/ls-k.pem");
    ls_config_free(&c);

    /* a per-kind credential replaces the whole shared group: no shared API key leaks to ES */
    setenv("LOGSHIP_ES_PASSWORD", "envpw", 1);
    assert_int_equal(load(&c, err, sizeof(err), "--source", "a", "--loki", "http://l", "--elasticsearch",
                          "http://e", "--api-key", "SHARED", "--es-username", "u", NULL), 0);
    unsetenv("LOGSHIP_ES_PASSWORD");
    assert_string_equal(c.outputs[0].conf.api_key, "SHARED");
    assert_null(c.outputs[1].conf.api_key);
    assert_string_equal(c.outputs[1].conf.username, "u");
    assert_string_equal(c.outputs[1].conf.password, "envpw");
    ls_config_free(&c);

    /* nothing per-kind: every output gets the shared options (backward compatible) */
    assert_int_equal(load(&c, err, sizeof(err), "--source", "a", "--loki", "http://l", "--elasticsearch",
                          "http://e", "--bearer-token-file", "/t", NULL), 0);
    assert_string_equal(c.outputs[0].conf.bearer_token_file, "/t");
    assert_string_equal(c.outputs[1].conf.bearer_token_file, "/t");
    ls_config_free(&c);

    /* pairs are checked on the resolved values, naming the kind's flags */
    assert_int_equal(load(&c, err, sizeof(err), "--source", "a", "--elasticsearch", "http://e",
                          "--es-username", "u", NULL), -1);
    assert_non_null(strstr(err, "--es-username and --es-password"));
    ls_config_free(&c);
    assert_int_equal(load(&c, err, sizeof(err), "--source", "a", "--loki", "http://l", "--loki-cert", "/c",
                          NULL), -1);
    assert_non_null(strstr(err, "--loki-cert and --loki-key"));
    ls_config_free(&c);
    /* ... but only for outputs that exist: --es-* without --elasticsearch is harmless */
    assert_int_equal(load(&c, err, sizeof(err), "--source", "a", "--loki", "http://l", "--es-username", "u",
                          NULL), 0);
    assert_null(c.outputs[0].conf.username);
    ls_config_free(&c);

    /* the resolver alone */
    struct ls_kind_auth kind = { .api_key = "K" }, shared = { .username = "s", .password = "p", .ca_file = "" };
    struct ls_output_conf o = { .name = "t" };
    assert_int_equal(ls_auth_resolve(&kind, &shared, "es", &o, err, sizeof(err)), 0);
    assert_string_equal(o.api_key, "K");
    assert_null(o.username);
    assert_null(o.ca_file);
}

/* --help-markdown returns 3 before validation (no source/output needed). */
/* A value that goes into a header with CR, LF (or another control
 * character) is refused, naming the option and never echoing the value. */
static void test_header_values_refused(void **state)
{
    (void)state;
    struct ls_config c;
    char err[256];
    static const char *const opts[] = { "--api-key", "--es-api-key", "--password", "--es-password",
                                        "--loki-password", "--logstash-password", "--tenant", "--username",
                                        "--loki-username" };
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        assert_int_equal(load(&c, err, sizeof(err), "--source", "a", "--elasticsearch", "http://x", opts[i],
                              "S3CR3T\r\nX-Evil: 1", NULL), -1);
        assert_non_null(strstr(err, opts[i]));
        assert_null(strstr(err, "S3CR3T"));
        assert_null(strstr(err, "Evil"));
        ls_config_free(&c);
    }
    assert_int_equal(load(&c, err, sizeof(err), "--source", "a", "--loki", "http://x", "--username", "a:b",
                          "--password", "p", NULL), -1);
    assert_non_null(strstr(err, "':'"));
    ls_config_free(&c);
    /* NUL can only come from the config file */
    char path[] = "/tmp/test_logship_config.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char body[] = "{\"es-api-key\": \"S3CR3T\\u0000more\"}";
    assert_int_equal(write(fd, body, sizeof(body) - 1), (ssize_t)(sizeof(body) - 1));
    close(fd);
    assert_int_equal(load(&c, err, sizeof(err), "--config", path, "--source", "a", "--elasticsearch",
                          "http://x", NULL), -1);
    assert_non_null(strstr(err, "es-api-key"));
    assert_null(strstr(err, "S3CR3T"));
    ls_config_free(&c);
    unlink(path);
}

static void test_secret_files(void **state)
{
    (void)state;
    struct ls_config c;
    char err[256];
    /* a file counts as the credential: the kind's group wins, and pairs with a username */
    assert_int_equal(load(&c, err, sizeof(err), "--source", "a", "--loki", "http://l", "--elasticsearch",
                          "http://e", "--username", "u", "--password", "p", "--es-username", "eu",
                          "--es-password-file", "/run/secrets/es", NULL), 0);
    assert_string_equal(c.outputs[0].conf.password, "p");
    assert_null(c.outputs[0].conf.password_file);
    assert_string_equal(c.outputs[1].conf.username, "eu");
    assert_null(c.outputs[1].conf.password);
    assert_string_equal(c.outputs[1].conf.password_file, "/run/secrets/es");
    const char *names[LS_CONFIG_MAX_SECRETS];
    size_t n = ls_config_secrets(&c, names, LS_CONFIG_MAX_SECRETS);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "password");
    assert_string_equal(names[1], "es-password-file");
    ls_config_free(&c);
    assert_int_equal(load(&c, err, sizeof(err), "--source", "a", "--elasticsearch", "http://e",
                          "--es-api-key-file", "/k", NULL), 0);
    assert_string_equal(c.outputs[0].conf.api_key_file, "/k");
    ls_config_free(&c);
    /* --es-api-key-file alone replaces the shared credentials for ES */
    assert_int_equal(load(&c, err, sizeof(err), "--source", "a", "--elasticsearch", "http://e",
                          "--username", "u", "--password-file", "/p", "--es-api-key-file", "/k", NULL), 0);
    assert_null(c.outputs[0].conf.username);
    assert_null(c.outputs[0].conf.password_file);
    ls_config_free(&c);
    /* a value and a file for the same credential */
    static const char *const pairs[][2] = { { "--password", "--password-file" },
                                            { "--api-key", "--api-key-file" },
                                            { "--es-password", "--es-password-file" },
                                            { "--es-api-key", "--es-api-key-file" },
                                            { "--loki-password", "--loki-password-file" },
                                            { "--logstash-password", "--logstash-password-file" } };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        assert_int_equal(load(&c, err, sizeof(err), "--source", "a", "--elasticsearch", "http://e",
                              "--username", "u", "--es-username", "u", "--loki-username", "u",
                              "--logstash-username", "u", pairs[i][0], "v", pairs[i][1], "/f", NULL), -1);
        assert_non_null(strstr(err, pairs[i][0]));
        assert_non_null(strstr(err, pairs[i][1]));
        ls_config_free(&c);
    }
    /* a password file without a user, like a password without one */
    assert_int_equal(load(&c, err, sizeof(err), "--source", "a", "--elasticsearch", "http://e",
                          "--es-password-file", "/f", NULL), -1);
    assert_non_null(strstr(err, "--es-username and --es-password go together"));
    ls_config_free(&c);
}

static void test_url_credentials_redacted(void **state)
{
    (void)state;
    struct ls_config c;
    char err[256];
    assert_int_equal(load(&c, err, sizeof(err), "--source", "a", "--loki", "gopher://bob:hunter2@host:1/x",
                          NULL), -1);
    assert_non_null(strstr(err, "gopher://REDACTED@host:1/x"));
    assert_null(strstr(err, "hunter2"));
    assert_null(strstr(err, "bob"));
    ls_config_free(&c);
}

static void test_sources_and_roots(void **state)
{
    (void)state;
    struct ls_config c;
    char err[256], dir[] = "/tmp/test_logship_config.XXXXXX", fifo[300];
    assert_non_null(mkdtemp(dir));
    assert_int_equal(load(&c, err, sizeof(err), "--source", dir, "--loki", "http://x", NULL), -1);
    assert_non_null(strstr(err, "is a directory"));
    ls_config_free(&c);
    snprintf(fifo, sizeof(fifo), "%s/p", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(load(&c, err, sizeof(err), "--source", fifo, "--loki", "http://x", NULL), -1);
    assert_non_null(strstr(err, "FIFO"));
    ls_config_free(&c);
    assert_int_equal(load(&c, err, sizeof(err), "--source", "/proc/self/status", "--loki", "http://x", NULL),
                     -1);
    assert_non_null(strstr(err, "pseudo filesystem"));
    ls_config_free(&c);
    /* a glob over the same directory is fine: what it matches is judged file by file */
    char glob[300];
    snprintf(glob, sizeof(glob), "%s/*", dir);
    setenv("LOGSHIP_ALLOW_ROOT", "/var/log/pods", 1);
    assert_int_equal(load(&c, err, sizeof(err), "--source", glob, "--loki", "http://x", "--allow-root",
                          "/var/lib/docker/containers", NULL), 0);
    unsetenv("LOGSHIP_ALLOW_ROOT");
    assert_true(c.allow_roots.n >= 1);
    assert_string_equal(c.allow_roots.items[c.allow_roots.n - 1], "/var/lib/docker/containers");
    ls_config_free(&c);
    unlink(fifo);
    rmdir(dir);
}

static void test_help_markdown(void **state)
{
    (void)state;
    struct ls_config c;
    char err[256];
    assert_int_equal(load(&c, err, sizeof(err), "--help-markdown", NULL), 3);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    ls_config_markdown(&c, f);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(text, "| `--es-password PASS` | `LOGSHIP_ES_PASSWORD` |"));
    assert_non_null(strstr(text, "`--loki-bearer-token-file PATH`"));
    free(text);
    ls_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_mapping),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_config_file_precedence),
        cmocka_unit_test(test_per_kind_auth),
        cmocka_unit_test(test_header_values_refused),
        cmocka_unit_test(test_secret_files),
        cmocka_unit_test(test_url_credentials_redacted),
        cmocka_unit_test(test_sources_and_roots),
        cmocka_unit_test(test_help_markdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
