/* test_hellod_certs: the self-signed certificate (generation, file modes, reuse, repair) and pair loading. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "service/certs.h"

struct paths {
    char dir[256], cert[512], key[512];
};

static int setup(void **state)
{
    struct paths *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -1;
    snprintf(p->dir, sizeof(p->dir), "/tmp/test_hellod_certs.XXXXXX");
    if (mkdtemp(p->dir) == NULL)
        return -1;
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    struct paths *p = *state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
    if (system(cmd) != 0)
        return -1;
    free(p);
    return 0;
}

static int ensure(struct paths *p, const char *dir, int *gen)
{
    char err[256];
    return certs_ensure_selfsigned(dir, p->cert, sizeof(p->cert), p->key, sizeof(p->key), gen,
                                   err, sizeof(err));
}

static void test_generate_then_reuse(void **state)
{
    struct paths *p = *state;
    char sub[300], err[256];
    struct stat st;
    int gen = -1;
    time_t na;

    snprintf(sub, sizeof(sub), "%s/state", p->dir); /* created on demand */
    assert_int_equal(ensure(p, sub, &gen), 0);
    assert_int_equal(gen, 1);
    assert_int_equal(stat(p->key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    SSL_CTX *ctx = certs_load_ctx(p->cert, p->key, &na, err, sizeof(err));
    assert_non_null(ctx);
    assert_true(na > time(NULL) + 300L * 24 * 3600);
    X509 *x = SSL_CTX_get0_certificate(ctx);
    EVP_PKEY *k = X509_get0_pubkey(x);
    assert_int_equal(EVP_PKEY_get_base_id(k), EVP_PKEY_EC);
    char group[64];
    size_t glen = 0;
    assert_int_equal(EVP_PKEY_get_group_name(k, group, sizeof(group), &glen), 1);
    assert_string_equal(group, "prime256v1");
    assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_ip_asc(x, "::1", 0), 1);
    assert_int_equal(X509_check_host(x, "example.com", 0, 0, NULL), 0);
    SSL_CTX_free(ctx);

    gen = -1;
    assert_int_equal(ensure(p, sub, &gen), 0);
    assert_int_equal(gen, 0); /* reused */
}

static void test_broken_pair_is_regenerated(void **state)
{
    struct paths *p = *state;
    int gen = -1;
    FILE *f;

    assert_int_equal(ensure(p, p->dir, &gen), 0);
    f = fopen(p->key, "w");
    assert_non_null(f);
    fputs("garbage\n", f);
    fclose(f);
    gen = -1;
    assert_int_equal(ensure(p, p->dir, &gen), 0);
    assert_int_equal(gen, 1);
}

static void test_load_errors_are_one_line(void **state)
{
    struct paths *p = *state;
    char err[256] = "", other[300];
    time_t na;
    int gen;

    assert_null(certs_load_ctx("/nonexistent/c.pem", "/nonexistent/k.pem", &na, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/c.pem"));
    assert_null(strchr(err, '\n'));
    /* a key that does not match the certificate */
    assert_int_equal(ensure(p, p->dir, &gen), 0);
    snprintf(other, sizeof(other), "%s/other", p->dir);
    char cert1[512];
    snprintf(cert1, sizeof(cert1), "%s", p->cert);
    assert_int_equal(ensure(p, other, &gen), 0);
    assert_null(certs_load_ctx(cert1, p->key, &na, err, sizeof(err)));
    assert_true(strstr(err, "does not match") != NULL || strstr(err, "values mismatch") != NULL);
    assert_null(strchr(err, '\n'));
    /* an unwritable state dir */
    assert_int_equal(ensure(p, "/proc/hellod-cannot-exist", &gen), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_generate_then_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_pair_is_regenerated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_errors_are_one_line, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
