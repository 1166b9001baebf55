/* fake_http: a scripted HTTP/1.1 endpoint on fake_server for the HTTP client's unit tests, answering as the Loki
 * receiver (tests/receivers/loki.py) answers pushes: 204, or a scripted failure with Loki's bodies, a delay, or a
 * dropped connection; every request is recorded (head, client port). Keep-alive; plain, TLS or mutual TLS. */
#ifndef TESTS_UNIT_FAKE_HTTP_H
#define TESTS_UNIT_FAKE_HTTP_H

#include <pthread.h>
#include <stddef.h>

#include "fake_server.h"

struct fake_http_rec {
    char head[8192];            /* request line and header fields */
    int client_port;
};

struct fake_http {
    struct fake_server fs;
    char url[64];               /* http(s)://127.0.0.1:<port> */
    pthread_mutex_t mu;
    int fail_n, fail_status;    /* the next fail_n requests get fail_status */
    char *fail_body;            /* NULL: Loki's body for the status */
    size_t fail_body_len;
    char retry_after[64];       /* "" : no Retry-After */
    int drop_n;                 /* the next drop_n requests: connection closed without an answer */
    int delay_ms;               /* wait this long before answering (ends early if the client goes away) */
    struct fake_http_rec *reqs;
    size_t nreqs, cap;
};

/* Start on a free port; tls_cert/tls_key NULL: plain HTTP; client_ca: require client certificates. 0 or -1. */
int fake_http_start(struct fake_http *h, const char *tls_cert, const char *tls_key, const char *client_ca);
void fake_http_stop(struct fake_http *h);

/* Forget recorded requests and every script (failures, drops, delay). */
void fake_http_reset(struct fake_http *h);

/* The next n requests answer status, with Retry-After retry_after (NULL: none) and body (NULL: Loki's text for the
 * status; a body gets a trailing newline as the receiver's does). 0 or -1. */
int fake_http_fail(struct fake_http *h, int n, int status, const char *retry_after, const char *body, size_t len);
void fake_http_drop(struct fake_http *h, int n);
void fake_http_delay(struct fake_http *h, int ms);

/* Recorded requests: their number; of the from_last-th from the end (0 = the last) a header value; or, as the
 * receiver's request log has it, the value of a header (header non-NULL) or of field "client_port" (header NULL),
 * as a string. 0, or -1 when absent. */
long fake_http_requests(struct fake_http *h);
int fake_http_request_header(struct fake_http *h, size_t from_last, const char *name, char *out, size_t outlen);
int fake_http_request_field(struct fake_http *h, size_t from_last, const char *header, const char *field,
                            char *out, size_t outlen);

#endif
