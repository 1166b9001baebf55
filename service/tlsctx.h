/* tlsctx: hellod's TLS policy on civetweb's SSL_CTX, certificate hot-swap (SIGHUP) and handshake counters. */
#ifndef HELLOD_TLSCTX_H
#define HELLOD_TLSCTX_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Load the first certificate/key pair (paths are copied, for reloads).
 * Returns 0, or -1 with a one-line reason in err. Call before server start. */
int tlsctx_init(const char *cert_path, const char *key_path, char *err, size_t errlen);

/* Allow (1, the default) or forbid (0) session resumption: with 0 no
 * tickets are issued and the session cache is off, so every connection
 * pays a full handshake (for benchmarks). Call before server start. */
void tlsctx_set_resumption(int on);

/* civetweb's init_ssl callback: applies the policy to civetweb's SSL_CTX
 * (TLS 1.2 minimum, TLS 1.3 maximum, AEAD+ECDHE-only TLS 1.2 ciphers,
 * X25519/P-256/P-384 groups, no renegotiation, no compression), installs
 * the current certificate, and hooks the server-name callback (which moves
 * each new handshake onto the newest certificate) and the info callback
 * (which counts failed handshakes and records the protocol version).
 * Returns 1 (done, civetweb must not load a certificate itself) or -1. */
int tlsctx_init_ssl(void *ssl_ctx, void *user_data);

/* Reload the certificate and key from the paths given to tlsctx_init. The
 * new pair is loaded and checked first; on success new handshakes use it,
 * while established connections keep theirs. Returns 0, or -1 with a
 * reason in err (the old certificate stays in use). */
int tlsctx_reload(char *err, size_t errlen);

/* Expiry (not-after) of the certificate in use, 0 if unknown. */
time_t tlsctx_not_after(void);

/* Handshakes that ended with a fatal alert from us (protocol version,
 * cipher mismatch, garbage). */
uint64_t tlsctx_handshake_failures(void);

/* The TLS version of the connection the calling worker thread is serving
 * ("TLSv1.3", ...), or NULL. civetweb serves one connection per thread
 * from handshake to close, so this is per thread; tlsctx_thread_reset()
 * clears it when the connection closes. */
const char *tlsctx_thread_version(void);
void tlsctx_thread_reset(void);

/* Release the certificate context. */
void tlsctx_free(void);

/* civetweb's SSL_pending (its object is compiled with
 * -DSSL_pending=hellod_ssl_pending): also counts a complete record that
 * read-ahead buffered but OpenSSL has not decrypted yet, so civetweb never
 * waits in poll() for bytes it already holds (a pipelined request). */
struct ssl_st;
int hellod_ssl_pending(const struct ssl_st *ssl);

#endif
