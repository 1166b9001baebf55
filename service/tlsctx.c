/* tlsctx: TLS settings for civetweb's SSL_CTX, SIGHUP certificate swap, and handshake accounting. */
#include "service/tlsctx.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "service/certs.h"

/* TLS 1.2 suites: ECDHE key exchange with AEAD only (Mozilla "intermediate"
 * without the DHE ones). TLS 1.3 keeps OpenSSL's default suites. */
#define TLS12_CIPHERS \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_GROUPS "X25519:P-256:P-384"

/* The certificate in use lives in its own SSL_CTX ("cert ctx"); each new
 * handshake is switched onto the newest one with SSL_set_SSL_CTX, which
 * copies the certificate into that connection. A reload builds a new cert
 * ctx and swaps the pointer, so established connections keep the old
 * certificate and nothing is modified while another thread reads it. */
static struct {
    pthread_mutex_t mu;
    SSL_CTX *cur;          /* guarded by mu */
    time_t not_after;      /* guarded by mu */
    char *cert_path, *key_path;
} g = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, NULL, NULL};

static atomic_uint_fast64_t handshake_failures;
static int resumption = 1;

void tlsctx_set_resumption(int on)
{
    resumption = on;
}
static __thread const char *tl_version;

/* Count a failed handshake once, when we send a fatal alert before the
 * handshake finished; record the version once it is done. */
static void info_cb(const SSL *ssl, int where, int ret)
{
    if ((where & SSL_CB_HANDSHAKE_DONE) != 0) {
        tl_version = SSL_get_version(ssl);
        return;
    }
    if ((where & SSL_CB_WRITE_ALERT) != 0 && (ret >> 8) == SSL3_AL_FATAL &&
        !SSL_is_init_finished(ssl))
        atomic_fetch_add(&handshake_failures, 1);
}

static SSL_CTX *current_ref(void)
{
    pthread_mutex_lock(&g.mu);
    SSL_CTX *c = g.cur;
    if (c)
        SSL_CTX_up_ref(c);
    pthread_mutex_unlock(&g.mu);
    return c;
}

/* Runs for every ClientHello (with or without SNI) in OpenSSL 3, before
 * the certificate is chosen. Replaces civetweb's callback, which would
 * switch back to the context civetweb created. */
static int servername_cb(SSL *ssl, int *alert, void *arg)
{
    SSL_CTX *c = current_ref();

    (void)alert;
    (void)arg;
    if (!c)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    if (SSL_get_SSL_CTX(ssl) != c && !SSL_set_SSL_CTX(ssl, c)) {
        SSL_CTX_free(c);
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    SSL_CTX_free(c); /* the SSL holds its own reference now */
    return SSL_TLSEXT_ERR_NOACK;
}

/* Settings shared by civetweb's context and every cert ctx (after
 * SSL_set_SSL_CTX some callbacks are looked up on the cert ctx). */
static int apply_policy(SSL_CTX *c)
{
    if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(c, TLS12_CIPHERS) != 1 ||
        SSL_CTX_set1_groups_list(c, TLS_GROUPS) != 1)
        return -1;
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (!resumption) {
        SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
        SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
        if (SSL_CTX_set_num_tickets(c, 0) != 1)
            return -1;
    }
    SSL_CTX_set_info_callback(c, info_cb);
    SSL_CTX_set_tlsext_servername_callback(c, servername_cb);
    /* One read(2) per request record instead of two (header, then body);
     * hellod_ssl_pending keeps civetweb from polling over bytes already
     * read ahead. */
    SSL_CTX_set_read_ahead(c, 1);
    return 0;
}

int hellod_ssl_pending(const SSL *cs)
{
    SSL *ssl = (SSL *)cs; /* SSL_peek needs it; the SSL is civetweb's, this thread's */
    char c;
    int n = SSL_pending(ssl);

    if (n > 0 || !SSL_has_pending(ssl))
        return n;
    /* Read-ahead bytes that are not yet a decrypted record: decrypt one
     * if it is complete (the socket is non-blocking, so an incomplete one
     * just says "want read" and civetweb polls for the rest). */
    if (SSL_peek(ssl, &c, 1) > 0) {
        n = SSL_pending(ssl);
        return n > 0 ? n : 1;
    }
    ERR_clear_error();
    return 0;
}

static SSL_CTX *load(time_t *not_after, char *err, size_t errlen)
{
    SSL_CTX *c = certs_load_ctx(g.cert_path, g.key_path, not_after, err, errlen);

    if (c && apply_policy(c) != 0) {
        snprintf(err, errlen, "cannot apply TLS policy to the certificate context");
        SSL_CTX_free(c);
        c = NULL;
    }
    return c;
}

int tlsctx_init(const char *cert_path, const char *key_path, char *err, size_t errlen)
{
    time_t na;

    free(g.cert_path);
    free(g.key_path);
    g.cert_path = strdup(cert_path);
    g.key_path = strdup(key_path);
    if (!g.cert_path || !g.key_path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    SSL_CTX *c = load(&na, err, errlen);
    if (!c)
        return -1;
    pthread_mutex_lock(&g.mu);
    SSL_CTX_free(g.cur);
    g.cur = c;
    g.not_after = na;
    pthread_mutex_unlock(&g.mu);
    return 0;
}

int tlsctx_init_ssl(void *ssl_ctx, void *user_data)
{
    SSL_CTX *ctx = ssl_ctx, *c;
    STACK_OF(X509) *chain = NULL;
    int rc = -1;

    (void)user_data;
    if (apply_policy(ctx) != 0)
        return -1;
    /* civetweb's own context also gets the certificate, so a handshake is
     * served even if the server-name callback were skipped. */
    c = current_ref();
    if (!c)
        return -1;
    if (SSL_CTX_get0_chain_certs(c, &chain) == 1 &&
        SSL_CTX_use_cert_and_key(ctx, SSL_CTX_get0_certificate(c), SSL_CTX_get0_privatekey(c),
                                 chain, 1) == 1)
        rc = 1;
    SSL_CTX_free(c);
    ERR_clear_error();
    return rc;
}

int tlsctx_reload(char *err, size_t errlen)
{
    SSL_CTX *c, *old;
    time_t na;

    if (!g.cert_path) {
        snprintf(err, errlen, "no certificate configured");
        return -1;
    }
    c = load(&na, err, errlen);
    if (!c)
        return -1;
    pthread_mutex_lock(&g.mu);
    old = g.cur;
    g.cur = c;
    g.not_after = na;
    pthread_mutex_unlock(&g.mu);
    SSL_CTX_free(old); /* freed for real when its last connection closes */
    return 0;
}

time_t tlsctx_not_after(void)
{
    pthread_mutex_lock(&g.mu);
    time_t t = g.not_after;
    pthread_mutex_unlock(&g.mu);
    return t;
}

uint64_t tlsctx_handshake_failures(void)
{
    return atomic_load(&handshake_failures);
}

const char *tlsctx_thread_version(void)
{
    return tl_version;
}

void tlsctx_thread_reset(void)
{
    tl_version = NULL;
}

void tlsctx_free(void)
{
    pthread_mutex_lock(&g.mu);
    SSL_CTX_free(g.cur);
    g.cur = NULL;
    pthread_mutex_unlock(&g.mu);
    free(g.cert_path);
    free(g.key_path);
    g.cert_path = g.key_path = NULL;
}
