/* fake_http: a scripted HTTP/1.1 endpoint on fake_server answering as the Loki receiver answers pushes (see
 * fake_http.h). */
#include "fake_http.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The receiver's body for a scripted failure without one (tests/receivers/loki.py, _loki_body). */
static int loki_body(int status, const char *tenant, char *out, size_t n)
{
    if (status == 429)
        return snprintf(out, n, "Ingestion rate limit exceeded for user %s (limit: 52428 bytes/sec) while attempting "
                        "to ingest '60' lines totaling '61440' bytes, reduce log volume or contact your Loki "
                        "administrator to see if the limit can be increased", tenant);
    if (status == 500)
        return snprintf(out, n, "rpc error: code = Unknown desc = an error occurred while pushing to ingester");
    if (status == 503)
        return snprintf(out, n, "at least 2 live replicas required, could only find 0");
    return snprintf(out, n, "error");
}

static void record(struct fake_http *h, const struct fake_http_req *q, int port)
{
    pthread_mutex_lock(&h->mu);
    if (h->nreqs == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 16;
        struct fake_http_rec *r = realloc(h->reqs, cap * sizeof(*r));
        if (!r)
            goto out;
        h->reqs = r;
        h->cap = cap;
    }
    struct fake_http_rec *r = &h->reqs[h->nreqs++];
    snprintf(r->head, sizeof(r->head), "%s", q->head);
    r->client_port = port;
out:
    pthread_mutex_unlock(&h->mu);
}

/* Answer one request; 0 to keep the connection, -1 to close it. */
static int answer(struct fake_http *h, struct fake_conn *c, const struct fake_http_req *q)
{
    record(h, q, c->client_port);
    pthread_mutex_lock(&h->mu);
    int drop = h->drop_n > 0;
    if (drop)
        h->drop_n--;
    int delay = h->delay_ms;
    pthread_mutex_unlock(&h->mu);
    if (drop)
        return -1;
    if (delay > 0 && fake_wait_readable(c, delay) != 0)
        return -1; /* the client gave up (timeout) and closed */
    pthread_mutex_lock(&h->mu);
    int status = 204;
    char extra[128] = "";
    char *body = NULL;
    size_t len = 0;
    if (h->fail_n > 0) {
        h->fail_n--;
        status = h->fail_status;
        if (h->retry_after[0])
            snprintf(extra, sizeof(extra), "Retry-After: %s\r\n", h->retry_after);
        if (h->fail_body) {
            body = malloc(h->fail_body_len + 1);
            if (body) {
                memcpy(body, h->fail_body, h->fail_body_len);
                len = h->fail_body_len;
            }
        } else {
            char tenant[128] = "fake";
            fake_http_header(q, "X-Scope-OrgID", tenant, sizeof(tenant));
            body = malloc(512);
            int k = body ? loki_body(status, tenant, body, 511) : 0;
            len = k < 0 ? 0 : k > 510 ? 510 : (size_t)k;
        }
        if (body && len)
            body[len++] = '\n';
    }
    pthread_mutex_unlock(&h->mu);
    int rc = fake_http_reply(c, status, extra, body, len, 0);
    free(body);
    return rc;
}

/* One connection: requests until the client closes it, the server stops, or another client is waiting (one
 * connection is served at a time, so an idle keep-alive connection gives way). */
static void serve(struct fake_conn *c, void *ud)
{
    struct fake_http *h = ud;
    while (!fake_server_stopping(c->srv)) {
        struct pollfd p[2] = { { .fd = c->fd, .events = POLLIN }, { .fd = c->srv->lfd, .events = POLLIN } };
        int ready = fake_wait_readable(c, 0) > 0;
        if (!ready) {
            int k = poll(p, 2, 100);
            if (k < 0)
                return;
            if (k == 0)
                continue;
            if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
                return; /* only a new connection is waiting */
        }
        struct fake_http_req q;
        if (fake_http_read(c, &q) != 0)
            return;
        int rc = answer(h, c, &q);
        fake_http_req_free(&q);
        if (rc != 0)
            return;
    }
}

int fake_http_start(struct fake_http *h, const char *tls_cert, const char *tls_key, const char *client_ca)
{
    memset(h, 0, sizeof(*h));
    if (pthread_mutex_init(&h->mu, NULL) != 0)
        return -1;
    h->fs = (struct fake_server){ .conn = serve, .ud = h, .tls_cert = tls_cert, .tls_key = tls_key,
                                  .client_ca = client_ca };
    if (fake_server_start(&h->fs) != 0) {
        pthread_mutex_destroy(&h->mu);
        return -1;
    }
    snprintf(h->url, sizeof(h->url), "%s://127.0.0.1:%d", tls_cert ? "https" : "http", h->fs.port);
    return 0;
}

void fake_http_stop(struct fake_http *h)
{
    fake_server_stop(&h->fs);
    free(h->reqs);
    free(h->fail_body);
    pthread_mutex_destroy(&h->mu);
    h->reqs = NULL;
    h->fail_body = NULL;
}

void fake_http_reset(struct fake_http *h)
{
    pthread_mutex_lock(&h->mu);
    h->nreqs = 0;
    h->fail_n = 0;
    free(h->fail_body);
    h->fail_body = NULL;
    h->retry_after[0] = '\0';
    h->drop_n = 0;
    h->delay_ms = 0;
    pthread_mutex_unlock(&h->mu);
}

int fake_http_fail(struct fake_http *h, int n, int status, const char *retry_after, const char *body, size_t len)
{
    char *copy = NULL;
    if (body) {
        copy = malloc(len ? len : 1);
        if (!copy)
            return -1;
        memcpy(copy, body, len);
    }
    pthread_mutex_lock(&h->mu);
    h->fail_n = n;
    h->fail_status = status;
    free(h->fail_body);
    h->fail_body = copy;
    h->fail_body_len = len;
    snprintf(h->retry_after, sizeof(h->retry_after), "%s", retry_after ? retry_after : "");
    pthread_mutex_unlock(&h->mu);
    return 0;
}

void fake_http_drop(struct fake_http *h, int n)
{
    pthread_mutex_lock(&h->mu);
    h->drop_n = n;
    pthread_mutex_unlock(&h->mu);
}

void fake_http_delay(struct fake_http *h, int ms)
{
    pthread_mutex_lock(&h->mu);
    h->delay_ms = ms;
    pthread_mutex_unlock(&h->mu);
}

long fake_http_requests(struct fake_http *h)
{
    pthread_mutex_lock(&h->mu);
    long n = (long)h->nreqs;
    pthread_mutex_unlock(&h->mu);
    return n;
}

int fake_http_request_header(struct fake_http *h, size_t from_last, const char *name, char *out, size_t outlen)
{
    int rc = -1;
    pthread_mutex_lock(&h->mu);
    if (from_last < h->nreqs) {
        struct fake_http_req q = { 0 };
        snprintf(q.head, sizeof(q.head), "%s", h->reqs[h->nreqs - 1 - from_last].head);
        rc = fake_http_header(&q, name, out, outlen);
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

int fake_http_request_field(struct fake_http *h, size_t from_last, const char *header, const char *field,
                            char *out, size_t outlen)
{
    if (header)
        return fake_http_request_header(h, from_last, header, out, outlen);
    if (strcmp(field, "client_port") != 0)
        return -1;
    pthread_mutex_lock(&h->mu);
    int port = from_last < h->nreqs ? h->reqs[h->nreqs - 1 - from_last].client_port : -1;
    pthread_mutex_unlock(&h->mu);
    if (port < 0)
        return -1;
    snprintf(out, outlen, "%d", port);
    return 0;
}
