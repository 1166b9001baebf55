/* certs: the self-signed fallback certificate and loading certificate/key files into an SSL_CTX. */
#ifndef HELLOD_CERTS_H
#define HELLOD_CERTS_H

#include <stddef.h>
#include <time.h>

/* File names inside --state-dir. */
#define CERTS_SELF_CERT "hellod-selfsigned.crt"
#define CERTS_SELF_KEY  "hellod-selfsigned.key"

/* Make sure state_dir holds a usable self-signed certificate and key:
 * create state_dir (0700) if missing; reuse an existing pair when it loads,
 * matches and is valid for more than 7 more days; otherwise generate an
 * ECDSA P-256 key and an X.509 v3 certificate (CN=localhost, SAN
 * DNS:localhost, IP:127.0.0.1, IP:::1, serverAuth, 397 days), written via
 * temp file + fsync + rename (the key file mode 0600). On success returns
 * 0, sets *generated (1 when new files were written) and writes the two
 * paths (cert_path/key_path, NUL-terminated). Returns -1 with a one-line
 * reason in err on any failure. */
int certs_ensure_selfsigned(const char *state_dir, char *cert_path, size_t cert_cap,
                            char *key_path, size_t key_cap, int *generated,
                            char *err, size_t errlen);

/* Build a new server SSL_CTX (returned as void * so callers need no OpenSSL
 * headers) holding the PEM certificate chain and private key, checked to
 * match. *not_after gets the leaf's expiry (0 if unknown). Returns NULL
 * with a one-line reason in err. The caller owns the result (SSL_CTX_free). */
void *certs_load_ctx(const char *cert_path, const char *key_path, time_t *not_after,
                     char *err, size_t errlen);

#endif
