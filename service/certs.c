/* certs: generates hellod's self-signed ECDSA certificate with OpenSSL's C API and loads PEM pairs. */
#include "service/certs.h"
#include "atomicfile.h"
#include "fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define SELF_DAYS 397L          /* the CA/Browser Forum maximum, as a habit */
#define REUSE_MIN_DAYS 7L       /* regenerate when fewer days are left */

/* The oldest OpenSSL error as text (or fallback), for one-line messages. */
static const char *ossl_err(char *buf, size_t cap, const char *fallback)
{
    unsigned long e = ERR_get_error();

    if (e == 0) {
        snprintf(buf, cap, "%s", fallback);
    } else {
        ERR_error_string_n(e, buf, cap);
        ERR_clear_error();
    }
    return buf;
}

#define PEM_FILE_MAX (1024 * 1024)

/* Read a whole PEM file without ever blocking: opened non-blocking (a FIFO
 * at the path would otherwise wait for a writer, and SIGHUP with it, and
 * SIGTERM behind that), and refused unless it is a regular file. The
 * checked descriptor is the one read, so the file cannot be swapped in
 * between. Returns a BIO over the bytes (free with BIO_free, then free
 * *mem), or NULL with err set. */
static BIO *pem_bio(const char *what, const char *path, char **mem, char *err, size_t errlen)
{
    *mem = NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    BIO *bio = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s %s: not a regular file", what, path);
        goto out;
    }
    if (st.st_size > PEM_FILE_MAX) {
        snprintf(err, errlen, "%s %s: larger than %d bytes", what, path, PEM_FILE_MAX);
        goto out;
    }
    buf_t rd;
    buf_init(&rd, 0);
    if (buf_reserve(&rd, (size_t)st.st_size + 1) != 0) {
        snprintf(err, errlen, "%s %s: out of memory", what, path);
        goto out;
    }
    int r = fdio_read_all(fd, &rd, (size_t)st.st_size);
    size_t len = 0;
    buf = buf_steal(&rd, &len);
    if (r != 0 && errno == EFBIG) {
        snprintf(err, errlen, "%s %s: grew while being read", what, path);
        goto out;
    }
    if (r != 0) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        goto out;
    }
    bio = BIO_new_mem_buf(buf, (int)len);
    if (!bio)
        snprintf(err, errlen, "%s %s: out of memory", what, path);
out:
    close(fd);
    if (!bio)
        free(buf);
    else
        *mem = buf;
    return bio;
}

/* Never ask for a passphrase (OpenSSL's default would prompt on a tty). */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

/* SSL_CTX_use_certificate_chain_file and SSL_CTX_use_PrivateKey_file, from
 * memory read by pem_bio. Returns 0, or -1 with err set. */
static int use_pem_files(SSL_CTX *ctx, const char *cert_path, const char *key_path,
                         char *err, size_t errlen)
{
    char e[256], *mem = NULL;
    BIO *bio;
    X509 *x;
    EVP_PKEY *pk;
    int rc = -1;

    bio = pem_bio("certificate", cert_path, &mem, err, errlen);
    if (!bio)
        return -1;
    x = PEM_read_bio_X509_AUX(bio, NULL, no_passphrase, NULL);
    if (!x || SSL_CTX_use_certificate(ctx, x) != 1) {
        snprintf(err, errlen, "certificate %s: %s", cert_path,
                 ossl_err(e, sizeof(e), "cannot load"));
        X509_free(x);
        goto out;
    }
    X509_free(x);
    for (;;) {
        X509 *ca = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
        if (!ca)
            break;
        if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
            X509_free(ca);
            snprintf(err, errlen, "certificate %s: %s", cert_path,
                     ossl_err(e, sizeof(e), "cannot add chain certificate"));
            goto out;
        }
    }
    ERR_clear_error(); /* the end of the chain reads as "no start line" */
    BIO_free(bio);
    free(mem);
    bio = pem_bio("key", key_path, &mem, err, errlen);
    if (!bio)
        return -1;
    pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    if (!pk || SSL_CTX_use_PrivateKey(ctx, pk) != 1) {
        snprintf(err, errlen, "key %s: %s", key_path, ossl_err(e, sizeof(e), "cannot load"));
        EVP_PKEY_free(pk);
        goto out;
    }
    EVP_PKEY_free(pk);
    rc = 0;
out:
    BIO_free(bio);
    free(mem);
    return rc;
}

void *certs_load_ctx(const char *cert_path, const char *key_path, time_t *not_after,
                     char *err, size_t errlen)
{
    *not_after = 0;
    ERR_clear_error();
    char e[256];
    int rc = -1;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, errlen, "SSL_CTX_new: %s", ossl_err(e, sizeof(e), "out of memory"));
        goto out;
    }
    if (use_pem_files(ctx, cert_path, key_path, err, errlen) != 0)
        goto out;
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "key %s does not match certificate %s: %s", key_path, cert_path,
                 ossl_err(e, sizeof(e), "mismatch"));
        goto out;
    }
    X509 *leaf = SSL_CTX_get0_certificate(ctx);
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (leaf && ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) == 1)
        *not_after = timegm(&tm);
    rc = 0;
out:
    if (rc != 0) {
        SSL_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

static int add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;

    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!ext)
        return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : -1;
}

/* A fresh P-256 key and a self-signed certificate for it. */
static int make_pair(EVP_PKEY **pkey_out, X509 **x_out)
{
    EVP_PKEY *pkey = NULL;
    X509 *x = NULL;
    BIGNUM *serial = NULL;
    X509_NAME *name;
    int rc = -1;

    pkey = EVP_EC_gen("P-256");
    x = X509_new();
    serial = BN_new();
    if (!pkey || !x || !serial)
        goto out;
    if (X509_set_version(x, X509_VERSION_3) != 1 ||
        BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600L) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), SELF_DAYS * 24 * 3600) ||
        X509_set_pubkey(x, pkey) != 1)
        goto out;
    name = X509_get_subject_name(x);
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   (const unsigned char *)"localhost", -1, -1, 0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                   (const unsigned char *)"hellod self-signed", -1, -1, 0) != 1 ||
        X509_set_issuer_name(x, name) != 1)
        goto out;
    if (add_ext(x, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
        add_ext(x, NID_key_usage, "critical,digitalSignature") != 0 ||
        add_ext(x, NID_ext_key_usage, "serverAuth") != 0 ||
        add_ext(x, NID_subject_key_identifier, "hash") != 0 ||
        add_ext(x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") != 0)
        goto out;
    if (X509_sign(x, pkey, EVP_sha256()) <= 0)
        goto out;
    *pkey_out = pkey;
    *x_out = x;
    pkey = NULL;
    x = NULL;
    rc = 0;
out:
    BN_free(serial);
    X509_free(x);
    EVP_PKEY_free(pkey);
    return rc;
}

/* Write one PEM object to dir/name atomically (common/atomicfile: temp, fsync, rename, fsync dir). */
static int write_pem(const char *dir, const char *name, mode_t mode, EVP_PKEY *pkey, X509 *x,
                     char *err, size_t errlen)
{
    char *pem = NULL;
    int rc = -1;

    char dst[4096];
    if (snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= (int)sizeof(dst)) {
        snprintf(err, errlen, "state dir path too long");
        return -1;
    }
    BIO *mem = BIO_new(BIO_s_mem());
    if (!mem)
        goto out_ossl;
    int ok = pkey ? PEM_write_bio_PrivateKey(mem, pkey, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_X509(mem, x);
    long n = BIO_get_mem_data(mem, &pem);
    if (ok != 1 || n <= 0)
        goto out_ossl;
    if (atomicfile_write_mode(dst, pem, (size_t)n, mode) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", dst, strerror(errno));
        goto out;
    }
    rc = 0;
    goto out;
out_ossl:
    snprintf(err, errlen, "cannot encode %s: OpenSSL failure", name);
out:
    BIO_free(mem);
    return rc;
}

int certs_ensure_selfsigned(const char *state_dir, char *cert_path, size_t cert_cap,
                            char *key_path, size_t key_cap, int *generated,
                            char *err, size_t errlen)
{
    EVP_PKEY *pkey = NULL;
    X509 *x = NULL;
    int rc = -1;
    *generated = 0;
    if (snprintf(cert_path, cert_cap, "%s/%s", state_dir, CERTS_SELF_CERT) >= (int)cert_cap ||
        snprintf(key_path, key_cap, "%s/%s", state_dir, CERTS_SELF_KEY) >= (int)key_cap) {
        snprintf(err, errlen, "--state-dir path too long");
        return -1;
    }
    if (mkdir(state_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create state dir %s: %s", state_dir, strerror(errno));
        return -1;
    }
    /* Reuse a pair from an earlier start while it has some life left. */
    char lerr[512];
    time_t not_after;
    void *ctx = certs_load_ctx(cert_path, key_path, &not_after, lerr, sizeof(lerr));
    if (ctx) {
        SSL_CTX_free(ctx);
        if (not_after > time(NULL) + REUSE_MIN_DAYS * 24 * 3600)
            return 0;
    }
    ERR_clear_error();
    if (make_pair(&pkey, &x) != 0) {
        snprintf(err, errlen, "cannot generate self-signed certificate: %s",
                 ossl_err(lerr, sizeof(lerr), "OpenSSL failure"));
        goto out;
    }
    /* Key first: a certificate file never exists without its key. */
    if (write_pem(state_dir, CERTS_SELF_KEY, 0600, pkey, NULL, err, errlen) != 0 ||
        write_pem(state_dir, CERTS_SELF_CERT, 0644, NULL, x, err, errlen) != 0)
        goto out;
    if (atomicfile_fsync_dir(state_dir) != 0) {
        snprintf(err, errlen, "cannot fsync state dir %s: %s", state_dir, strerror(errno));
        goto out;
    }
    *generated = 1;
    rc = 0;
out:
    X509_free(x);
    EVP_PKEY_free(pkey);
    return rc;
}
