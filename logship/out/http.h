/* http: the one libcurl client every HTTP output (Loki, Elasticsearch, Logstash http) uses.
 *
 * One struct ls_http wraps one CURL easy handle, so the connection is kept
 * alive across batches. It applies, from struct ls_output_conf: connect and
 * request timeouts, basic auth, a bearer token read from a file (re-read when
 * the file changes, so a rotated Kubernetes token is picked up), an
 * Elasticsearch ApiKey, a CA file, a client certificate + key (mTLS) and
 * insecure_skip_verify. Redirects are not followed, only http and https are
 * spoken, and "Expect: 100-continue" is never sent (it costs a round trip).
 * The response body is kept up to a per-client cap, LS_HTTP_BODY_MAX bytes
 * unless ls_http_set_body_max says otherwise (the rest is read and discarded:
 * the connection stays usable), and a Retry-After header is parsed in both of
 * its forms (delay-seconds or HTTP-date). An ls_http is used by one thread at a time. */
#ifndef LOGSHIP_HTTP_H
#define LOGSHIP_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "logship/core/output.h"

#define LS_HTTP_BODY_MAX (64 * 1024)            /* default response body cap */
#define LS_HTTP_BODY_MAX_LIMIT (16 * 1024 * 1024) /* largest cap ls_http_set_body_max accepts */

struct ls_http;

struct ls_http_response {
    long    status;          /* HTTP status, 0 when no response arrived */
    buf_t   body;            /* response body, capped at the client's body cap */
    int64_t retry_after_ms;  /* from Retry-After, else -1 */
    int     timed_out;       /* the connect or request timeout expired */
    char    error[256];      /* transport error text when ls_http_post returned -1 */
};

/* Build a client from conf (conf and its strings must outlive the client).
 * Fails (NULL, one line in err) when libcurl cannot be set up, when a file
 * named in conf (CA, certificate, key, bearer token) cannot be read, or when
 * only one of certificate and key is given. */
struct ls_http *ls_http_new(const struct ls_output_conf *conf, char *err, size_t errlen);

/* Set how many bytes of each later response body h keeps (resp->body); the
 * rest of a longer body is read and discarded, so a caller that must judge a
 * cut body can tell by its shape. Every client starts at LS_HTTP_BODY_MAX.
 * The memory is only allocated as a body actually grows. Returns 0, or -1
 * (cap unchanged) when max is 0 or above LS_HTTP_BODY_MAX_LIMIT. */
int ls_http_set_body_max(struct ls_http *h, size_t max);

/* POST body[0..len) to url with extra_headers (NULL or a NULL-terminated list of
 * "Name: value"). resp is initialised by this call and must be released with
 * ls_http_response_free whatever the result. Returns 0 when a response arrived
 * (any status), -1 when none did (connection refused/reset, TLS failure,
 * timeout: resp->error says which, resp->timed_out is set for timeouts). */
int ls_http_post(struct ls_http *h, const char *url, const char *const *extra_headers,
                 const void *body, size_t len, struct ls_http_response *resp);

/* GET url with extra_headers: the same auth, TLS, timeouts, body cap and
 * results as ls_http_post (Loki's query API uses it). */
int ls_http_get(struct ls_http *h, const char *url, const char *const *extra_headers,
                struct ls_http_response *resp);

/* Release the body. NULL-safe; the struct may be reused afterwards. */
void ls_http_response_free(struct ls_http_response *r);

/* Close the connection and free everything. NULL-safe. */
void ls_http_free(struct ls_http *h);

/* Parse a Retry-After value: delay-seconds ("120") or an HTTP-date (IMF-fixdate,
 * RFC 850 or asctime), relative to now. Returns 0 with *ms set (>= 0; dates in
 * the past give 0; capped at one day), or -1 when the value is not valid. */
int ls_http_parse_retry_after(const char *value, size_t len, time_t now, int64_t *ms);

#endif
