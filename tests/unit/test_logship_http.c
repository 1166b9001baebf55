/* test_logship_http: the shared libcurl client against an in-process scripted endpoint (tests/unit/fake_http.c, answering as the Loki receiver does): keep-alive, auth headers, token re-read, Retry-After, body cap and its setter, timeouts, TLS and mTLS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "logship/out/http.h"
#include "fake_http.h"

static struct fake_http RX;
static char TMPDIR_[256];

static const char BODY[] = "{\"streams\":[]}";
static const char *const JSON_HDRS[] = { "Content-Type: application/json", "X-Scope-OrgID: team-a", NULL };

static int setup(void **st)
{
    (void)st;
    snprintf(TMPDIR_, sizeof(TMPDIR_), "/tmp/test_logship_http.XXXXXX");
    if (!mkdtemp(TMPDIR_))
        return -1;
    return fake_http_start(&RX, NULL, NULL, NULL);
}

static int teardown(void **st)
{
    (void)st;
    fake_http_stop(&RX);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", TMPDIR_);
    return system(cmd) == 0 ? 0 : -1;
}

static int reset(void **st)
{
    (void)st;
    fake_http_reset(&RX);
    return 0;
}

static void push_url(char *out, size_t n, const struct fake_http *r)
{
    snprintf(out, n, "%s/loki/api/v1/push", r->url);
}

static struct ls_http *client(const struct ls_output_conf *c)
{
    char err[256] = "";
    struct ls_http *h = ls_http_new(c, err, sizeof(err));
    if (!h)
        fail_msg("ls_http_new: %s", err);
    return h;
}

static void test_post_and_keepalive(void **st)
{
    (void)st;
    struct ls_output_conf c = { .name = "t" };
    struct ls_http *h = client(&c);
    char url[256];
    push_url(url, sizeof(url), &RX);
    for (int i = 0; i < 3; i++) {
        struct ls_http_response r;
        assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), 0);
        assert_int_equal(r.status, 204);
        assert_int_equal(r.retry_after_ms, -1);
        assert_int_equal(r.body.len, 0);
        ls_http_response_free(&r);
    }
    /* one connection for all three */
    char p0[32], p2[32], tenant[64];
    assert_int_equal(fake_http_request_field(&RX, 0, NULL, "client_port", p0, sizeof(p0)), 0);
    assert_int_equal(fake_http_request_field(&RX, 2, NULL, "client_port", p2, sizeof(p2)), 0);
    assert_string_equal(p0, p2);
    assert_int_equal(fake_http_request_field(&RX, 0, "X-Scope-OrgID", NULL, tenant, sizeof(tenant)), 0);
    assert_string_equal(tenant, "team-a");
    char expect[64];
    assert_int_not_equal(fake_http_request_field(&RX, 0, "Expect", NULL, expect, sizeof(expect)), 0);
    ls_http_free(h);
}

static void test_error_status_body_and_retry_after(void **st)
{
    (void)st;
    struct ls_output_conf c = { .name = "t" };
    struct ls_http *h = client(&c);
    char url[256];
    push_url(url, sizeof(url), &RX);
    struct ls_http_response r;

    assert_int_equal(fake_http_fail(&RX, 1, 429, NULL, NULL, 0), 0);
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), 0);
    assert_int_equal(r.status, 429);
    assert_int_equal(r.retry_after_ms, -1);
    assert_non_null(strstr(r.body.p, "Ingestion rate limit exceeded"));
    ls_http_response_free(&r);

    assert_int_equal(fake_http_fail(&RX, 1, 503, "7", NULL, 0), 0);
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), 0);
    assert_int_equal(r.status, 503);
    assert_int_equal(r.retry_after_ms, 7000);
    ls_http_response_free(&r);

    /* HTTP-date form, 30 s ahead */
    char date[64];
    time_t when = time(NULL) + 30;
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    assert_int_equal(fake_http_fail(&RX, 1, 429, date, NULL, 0), 0);
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), 0);
    assert_true(r.retry_after_ms >= 25000 && r.retry_after_ms <= 31000);
    ls_http_response_free(&r);

    /* the next answer carries none again */
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), 0);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.retry_after_ms, -1);
    ls_http_response_free(&r);
    ls_http_free(h);
}

static void test_body_capped(void **st)
{
    (void)st;
    struct ls_output_conf c = { .name = "t" };
    struct ls_http *h = client(&c);
    char url[256];
    push_url(url, sizeof(url), &RX);
    size_t big = 200 * 1024;
    char *js = malloc(big);
    assert_non_null(js);
    memset(js, 'b', big);
    assert_int_equal(fake_http_fail(&RX, 1, 500, NULL, js, big), 0);
    free(js);
    struct ls_http_response r;
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), 0);
    assert_int_equal(r.status, 500);
    assert_int_equal(r.body.len, LS_HTTP_BODY_MAX);
    ls_http_response_free(&r);
    /* the connection is still usable */
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), 0);
    assert_int_equal(r.status, 204);
    ls_http_response_free(&r);
    ls_http_free(h);
}

/* A 200 KiB body, above the 64 KiB default: read whole once the client's cap
 * is raised, cut at a lowered cap, and out-of-range caps are refused. */
static void test_body_max_setter(void **st)
{
    (void)st;
    struct ls_output_conf c = { .name = "t" };
    struct ls_http *h = client(&c);
    char url[256];
    push_url(url, sizeof(url), &RX);
    size_t big = 200 * 1024;
    char *js = malloc(big);
    assert_non_null(js);
    memset(js, 'b', big);
    assert_int_equal(fake_http_fail(&RX, 2, 500, NULL, js, big), 0);
    free(js);

    assert_int_equal(ls_http_set_body_max(h, 0), -1);
    assert_int_equal(ls_http_set_body_max(h, (size_t)LS_HTTP_BODY_MAX_LIMIT + 1), -1);
    assert_int_equal(ls_http_set_body_max(h, 256 * 1024), 0);
    struct ls_http_response r;
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), 0);
    assert_int_equal(r.status, 500);
    assert_true(r.body.len >= big && r.body.len <= big + 2);   /* the receiver may end it with "\n" */
    assert_true(r.body.len > LS_HTTP_BODY_MAX);
    for (size_t i = 0; i < big; i++)
        if (r.body.p[i] != 'b')
            fail_msg("byte %zu of the body is %d", i, r.body.p[i]);
    ls_http_response_free(&r);

    /* a lowered cap cuts the second copy there, and the connection survives */
    assert_int_equal(ls_http_set_body_max(h, 1000), 0);
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), 0);
    assert_int_equal(r.status, 500);
    assert_int_equal(r.body.len, 1000);
    ls_http_response_free(&r);
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), 0);
    assert_int_equal(r.status, 204);
    ls_http_response_free(&r);
    ls_http_free(h);
}

static void test_basic_auth_and_apikey(void **st)
{
    (void)st;
    struct ls_output_conf c = { .name = "t", .username = "logship", .password = "s3cret" };
    struct ls_http *h = client(&c);
    char url[256], v[256];
    push_url(url, sizeof(url), &RX);
    struct ls_http_response r;
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), 0);
    ls_http_response_free(&r);
    assert_int_equal(fake_http_request_field(&RX, 0, "Authorization", NULL, v, sizeof(v)), 0);
    assert_string_equal(v, "Basic bG9nc2hpcDpzM2NyZXQ="); /* base64("logship:s3cret") */
    ls_http_free(h);

    struct ls_output_conf k = { .name = "t", .api_key = "aWQ6a2V5" };
    h = client(&k);
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), 0);
    ls_http_response_free(&r);
    assert_int_equal(fake_http_request_field(&RX, 0, "Authorization", NULL, v, sizeof(v)), 0);
    assert_string_equal(v, "ApiKey aWQ6a2V5");
    ls_http_free(h);
}

static void write_file(const char *path, const char *s)
{
    char tmp[300];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    assert_int_equal(fputs(s, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
}

static void test_bearer_token_file_reread(void **st)
{
    (void)st;
    char path[300], url[256], v[256];
    snprintf(path, sizeof(path), "%s/token", TMPDIR_);
    write_file(path, "  tok-one\n");
    struct ls_output_conf c = { .name = "t", .bearer_token_file = path };
    struct ls_http *h = client(&c);
    push_url(url, sizeof(url), &RX);
    struct ls_http_response r;
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), 0);
    ls_http_response_free(&r);
    assert_int_equal(fake_http_request_field(&RX, 0, "Authorization", NULL, v, sizeof(v)), 0);
    assert_string_equal(v, "Bearer tok-one");
    write_file(path, "tok-two-longer\n"); /* rotated (new inode, as kubelet does) */
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), 0);
    ls_http_response_free(&r);
    assert_int_equal(fake_http_request_field(&RX, 0, "Authorization", NULL, v, sizeof(v)), 0);
    assert_string_equal(v, "Bearer tok-two-longer");
    assert_int_equal(unlink(path), 0); /* gone: keep the last good token */
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), 0);
    ls_http_response_free(&r);
    assert_int_equal(fake_http_request_field(&RX, 0, "Authorization", NULL, v, sizeof(v)), 0);
    assert_string_equal(v, "Bearer tok-two-longer");
    ls_http_free(h);
}

/* Send one request and return its Authorization header in v. */
static void auth_of_post(struct ls_http *h, char *v, size_t n)
{
    char url[256];
    struct ls_http_response r;
    push_url(url, sizeof(url), &RX);
    fake_http_reset(&RX);
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), 0);
    ls_http_response_free(&r);
    assert_int_equal(fake_http_request_field(&RX, 0, "Authorization", NULL, v, n), 0);
}

/* --password-file / --api-key-file: used, re-read after a change (trailing
 * newline stripped), and a re-read value with CR/LF is refused: the old one
 * stays in use and the bad one is never sent. */
static void test_password_and_apikey_files(void **st)
{
    (void)st;
    char pw[300], key[300], v[256];
    snprintf(pw, sizeof(pw), "%s/pw", TMPDIR_);
    snprintf(key, sizeof(key), "%s/key", TMPDIR_);
    write_file(pw, "s3cret\n");
    struct ls_output_conf c = { .name = "t", .username = "logship", .password_file = pw };
    struct ls_http *h = client(&c);
    auth_of_post(h, v, sizeof(v));
    assert_string_equal(v, "Basic bG9nc2hpcDpzM2NyZXQ="); /* base64("logship:s3cret") */
    write_file(pw, "n3w pass\r\n");
    auth_of_post(h, v, sizeof(v));
    assert_string_equal(v, "Basic bG9nc2hpcDpuM3cgcGFzcw=="); /* base64("logship:n3w pass") */
    write_file(pw, "evil\r\nX-Injected: 1\n");
    auth_of_post(h, v, sizeof(v));
    assert_string_equal(v, "Basic bG9nc2hpcDpuM3cgcGFzcw==");
    assert_int_not_equal(fake_http_request_field(&RX, 0, "X-Injected", NULL, v, sizeof(v)), 0);
    ls_http_free(h);

    write_file(key, "aWQ6a2V5\n");
    struct ls_output_conf k = { .name = "t", .api_key_file = key };
    h = client(&k);
    auth_of_post(h, v, sizeof(v));
    assert_string_equal(v, "ApiKey aWQ6a2V5");
    write_file(key, "bmV3OmtleQ==");
    auth_of_post(h, v, sizeof(v));
    assert_string_equal(v, "ApiKey bmV3OmtleQ==");
    write_file(key, "bad\nX-Injected: 1");
    auth_of_post(h, v, sizeof(v));
    assert_string_equal(v, "ApiKey bmV3OmtleQ==");
    ls_http_free(h);

    /* at start, a bad file is a configuration error naming the file, not the value */
    char err[256];
    write_file(pw, "S3CR3T\rX");
    struct ls_output_conf bad = { .name = "t", .username = "u", .password_file = pw };
    assert_null(ls_http_new(&bad, err, sizeof(err)));
    assert_non_null(strstr(err, "control character"));
    assert_non_null(strstr(err, pw));
    assert_null(strstr(err, "S3CR3T"));
}

static void test_bad_config(void **st)
{
    (void)st;
    char err[256], path[300];
    struct ls_output_conf c1 = { .name = "t", .bearer_token_file = "/nonexistent/token" };
    assert_null(ls_http_new(&c1, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/token"));
    snprintf(path, sizeof(path), "%s/empty", TMPDIR_);
    write_file(path, "\n\n");
    struct ls_output_conf c2 = { .name = "t", .bearer_token_file = path };
    assert_null(ls_http_new(&c2, err, sizeof(err)));
    assert_non_null(strstr(err, "empty"));
    struct ls_output_conf c3 = { .name = "t", .ca_file = "/nonexistent/ca.pem" };
    assert_null(ls_http_new(&c3, err, sizeof(err)));
    assert_non_null(strstr(err, "CA file"));
    struct ls_output_conf c4 = { .name = "t", .cert_file = "/etc/hostname" };
    assert_null(ls_http_new(&c4, err, sizeof(err)));
    assert_non_null(strstr(err, "key"));
}

static void test_timeout(void **st)
{
    (void)st;
    struct ls_output_conf c = { .name = "t", .request_timeout_ms = 300 };
    struct ls_http *h = client(&c);
    char url[256];
    push_url(url, sizeof(url), &RX);
    fake_http_delay(&RX, 2000);
    struct ls_http_response r;
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), -1);
    assert_int_equal(r.timed_out, 1);
    assert_int_equal(r.status, 0);
    assert_true(strlen(r.error) > 0);
    ls_http_response_free(&r);
    fake_http_delay(&RX, 0);
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), 0);
    assert_int_equal(r.status, 204);
    ls_http_response_free(&r);
    ls_http_free(h);
}

static void test_connection_errors(void **st)
{
    (void)st;
    /* a port nobody listens on: bind one, learn it, close it */
    int port = fake_closed_port();
    assert_true(port > 0);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/loki/api/v1/push", port);
    struct ls_output_conf c = { .name = "t", .connect_timeout_ms = 2000 };
    struct ls_http *h = client(&c);
    struct ls_http_response r;
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), -1);
    assert_int_equal(r.timed_out, 0);
    assert_true(strlen(r.error) > 0);
    ls_http_response_free(&r);
    /* the receiver closes the connection without answering */
    char good[256];
    push_url(good, sizeof(good), &RX);
    fake_http_drop(&RX, 1);
    assert_int_equal(ls_http_post(h, good, JSON_HDRS, BODY, strlen(BODY), &r), -1);
    ls_http_response_free(&r);
    assert_int_equal(ls_http_post(h, good, JSON_HDRS, BODY, strlen(BODY), &r), 0);
    assert_int_equal(r.status, 204);
    ls_http_response_free(&r);
    /* only http and https */
    assert_int_equal(ls_http_post(h, "file:///etc/passwd", NULL, BODY, strlen(BODY), &r), -1);
    ls_http_response_free(&r);
    ls_http_free(h);
    ls_http_free(NULL);
    ls_http_response_free(NULL);
}

static int sh(const char *dir, const char *cmd)
{
    char full[1024];
    snprintf(full, sizeof(full), "cd %s && ( %s ) >/dev/null 2>&1", dir, cmd);
    return system(full);
}

static void make_pki(const char *d)
{
    assert_int_equal(sh(d, "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                           "-keyout ca.key -out ca.crt -days 2 -subj /CN=testca"), 0);
    assert_int_equal(sh(d, "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                           "-keyout other.key -out other.crt -days 2 -subj /CN=otherca"), 0);
    assert_int_equal(sh(d, "printf 'subjectAltName=IP:127.0.0.1\\n' > s.ext && printf 'extendedKeyUsage=clientAuth\\n' > c.ext"), 0);
    const char *who[] = { "server", "client" };
    for (int i = 0; i < 2; i++) {
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s.key "
                 "-out %s.csr -subj /CN=%s && openssl x509 -req -in %s.csr -CA ca.crt -CAkey ca.key "
                 "-CAcreateserial -out %s.crt -days 2 -extfile %s", who[i], who[i], who[i], who[i], who[i],
                 i == 0 ? "s.ext" : "c.ext");
        assert_int_equal(sh(d, cmd), 0);
    }
}

static void test_tls_and_mtls(void **st)
{
    (void)st;
    char d[300], ca[350], other[350], scrt[350], skey[350], ccrt[350], ckey[350], url[256];
    snprintf(d, sizeof(d), "%s/pki", TMPDIR_);
    assert_int_equal(mkdir(d, 0700), 0);
    make_pki(d);
    snprintf(ca, sizeof(ca), "%s/ca.crt", d);
    snprintf(other, sizeof(other), "%s/other.crt", d);
    snprintf(scrt, sizeof(scrt), "%s/server.crt", d);
    snprintf(skey, sizeof(skey), "%s/server.key", d);
    snprintf(ccrt, sizeof(ccrt), "%s/client.crt", d);
    snprintf(ckey, sizeof(ckey), "%s/client.key", d);
    struct ls_http_response r;

    struct fake_http tls;
    assert_int_equal(fake_http_start(&tls, scrt, skey, NULL), 0);
    push_url(url, sizeof(url), &tls);
    struct ls_output_conf good = { .name = "t", .ca_file = ca };
    struct ls_http *h = client(&good);
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), 0);
    assert_int_equal(r.status, 204);
    ls_http_response_free(&r);
    ls_http_free(h);
    struct ls_output_conf wrong = { .name = "t", .ca_file = other };
    h = client(&wrong);
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), -1);
    assert_true(strlen(r.error) > 0);
    ls_http_response_free(&r);
    ls_http_free(h);
    struct ls_output_conf insecure = { .name = "t", .ca_file = other, .insecure_skip_verify = 1 };
    h = client(&insecure);
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), 0);
    assert_int_equal(r.status, 204);
    ls_http_response_free(&r);
    ls_http_free(h);
    fake_http_stop(&tls);

    struct fake_http mtls;
    assert_int_equal(fake_http_start(&mtls, scrt, skey, ca), 0);
    push_url(url, sizeof(url), &mtls);
    h = client(&good); /* no client certificate: refused */
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), -1);
    ls_http_response_free(&r);
    ls_http_free(h);
    struct ls_output_conf withcert = { .name = "t", .ca_file = ca, .cert_file = ccrt, .key_file = ckey };
    h = client(&withcert);
    assert_int_equal(ls_http_post(h, url, JSON_HDRS, BODY, strlen(BODY), &r), 0);
    assert_int_equal(r.status, 204);
    ls_http_response_free(&r);
    ls_http_free(h);
    fake_http_stop(&mtls);
}

static void test_parse_retry_after(void **st)
{
    (void)st;
    int64_t ms;
    const time_t now = 1445412480; /* Wed, 21 Oct 2015 07:28:00 GMT */
#define RA(s) ls_http_parse_retry_after(s, strlen(s), now, &ms)
    assert_int_equal(RA("120"), 0);
    assert_int_equal(ms, 120000);
    assert_int_equal(RA("  0 \r\n"), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(RA("99999999999999999999"), 0);
    assert_int_equal(ms, 24LL * 3600 * 1000); /* capped at a day */
    assert_int_equal(RA("Wed, 21 Oct 2015 07:28:30 GMT"), 0);
    assert_int_equal(ms, 30000);
    assert_int_equal(RA("Wednesday, 21-Oct-15 07:29:00 GMT"), 0); /* RFC 850 */
    assert_int_equal(ms, 60000);
    assert_int_equal(RA("Wed Oct 21 07:28:10 2015"), 0); /* asctime */
    assert_int_equal(ms, 10000);
    assert_int_equal(RA("Tue, 20 Oct 2015 07:28:00 GMT"), 0); /* past */
    assert_int_equal(ms, 0);
    assert_int_equal(RA("-5"), -1);
    assert_int_equal(RA("1.5"), -1);
    assert_int_equal(RA("soon"), -1);
    assert_int_equal(RA(""), -1);
    assert_int_equal(RA("Wed, garbage"), -1);
#undef RA
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_post_and_keepalive, reset),
        cmocka_unit_test_setup(test_error_status_body_and_retry_after, reset),
        cmocka_unit_test_setup(test_body_capped, reset),
        cmocka_unit_test_setup(test_body_max_setter, reset),
        cmocka_unit_test_setup(test_basic_auth_and_apikey, reset),
        cmocka_unit_test_setup(test_bearer_token_file_reread, reset),
        cmocka_unit_test_setup(test_password_and_apikey_files, reset),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test_setup(test_timeout, reset),
        cmocka_unit_test_setup(test_connection_errors, reset),
        cmocka_unit_test(test_tls_and_mtls),
        cmocka_unit_test(test_parse_retry_after),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
