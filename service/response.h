/* response: builds a whole HTTP/1.1 response (head and body) in one buffer, for one mg_write. */
#ifndef HELLOD_RESPONSE_H
#define HELLOD_RESPONSE_H

#include <stddef.h>
#include "buf.h"

struct resp_head {
    int status;
    const char *content_type;  /* NULL: no body expected (Content-Length still sent) */
    const char *request_id;    /* X-Request-Id, required */
    const char *hsts;          /* Strict-Transport-Security value, NULL: omitted */
    const char *allow;         /* Allow, NULL: omitted */
    const char *location;      /* Location, NULL: omitted */
    int conn_close;            /* send "Connection: close" */
    int conn_keep_alive;       /* send "Connection: keep-alive" (HTTP/1.0 clients) */
};

/* Reason phrase for a status; "Unknown" for codes we never send. */
const char *resp_reason(int status);

/* Append the status line, the headers every hellod response carries
 * (Date, Content-Type, Content-Length, X-Request-Id,
 * X-Content-Type-Options: nosniff, and the optional ones in h) and, unless
 * head_only, the body. Content-Length is body_len either way, so a HEAD
 * answer carries the GET answer's headers. No Server header is sent.
 * Header values must not contain CR or LF (callers pass validated or
 * generated text). Returns 0, or -1 when b's cap is reached. */
int resp_build(buf_t *b, const struct resp_head *h, const char *body, size_t body_len,
               int head_only);

/* Current time as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into out,
 * cached per thread and refreshed once a second. Returns out. */
const char *resp_date(char out[32]);

#endif
