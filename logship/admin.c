/* admin: civetweb handlers for /metrics, /healthz and /ready (see admin.h). */
#include "logship/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civetweb.h"
#include "buf.h"
#include "jsonw.h"
#include "log.h"

#define METRICS_MAX (8u << 20)
#define ADMIN_THREADS "64"        /* connections served at once (see admin.h) */
#define ADMIN_IO_TIMEOUT_MS "3000" /* longest a connection may hold a worker idle */

struct ls_admin {
    struct mg_context *ctx;
    metrics_registry *reg;
    int (*ready)(void *);
    int (*health)(void *, char *, size_t);
    void *ready_ctx;
    int port;
};

static int reply(struct mg_connection *c, int status, const char *ctype, const char *body, size_t len)
{
    const char *st = status == 200 ? "OK" : status == 503 ? "Service Unavailable" :
                     status == 405 ? "Method Not Allowed" : "Internal Server Error";
    mg_printf(c, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "Cache-Control: no-store\r\n\r\n", status, st, ctype, len);
    if (len > 0)
        mg_write(c, body, len);
    return status;
}

static int only_get(struct mg_connection *c)
{
    const struct mg_request_info *ri = mg_get_request_info(c);
    if (ri && strcmp(ri->request_method, "GET") != 0 && strcmp(ri->request_method, "HEAD") != 0)
        return reply(c, 405, "text/plain", "method not allowed\n", 19);
    return 0;
}

static int h_metrics(struct mg_connection *c, void *cb)
{
    struct ls_admin *a = cb;
    buf_t b;
    int rc;
    if ((rc = only_get(c)) != 0)
        return rc;
    buf_init(&b, METRICS_MAX);
    if (metrics_render(a->reg, &b) != 0) {
        buf_free(&b);
        return reply(c, 500, "text/plain", "metrics too large\n", 18);
    }
    rc = reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.p ? b.p : "", b.len);
    buf_free(&b);
    return rc;
}

static int h_healthz(struct mg_connection *c, void *cb)
{
    struct ls_admin *a = cb;
    char why[256] = "";
    int rc;
    if ((rc = only_get(c)) != 0)
        return rc;
    if (!a->health || a->health(a->ready_ctx, why, sizeof(why)))
        return reply(c, 200, "text/plain", "ok\n", 3);
    buf_t b;
    buf_init(&b, 1024);
    if (buf_adds(&b, "{\"status\":\"stuck\",\"reason\":") != 0 || jsonw_str(&b, why, strlen(why)) != 0 ||
        buf_adds(&b, "}\n") != 0) {
        buf_free(&b);
        return reply(c, 503, "application/json", "{\"status\":\"stuck\"}\n", 19);
    }
    rc = reply(c, 503, "application/json", b.p, b.len);
    buf_free(&b);
    return rc;
}

static int h_ready(struct mg_connection *c, void *cb)
{
    struct ls_admin *a = cb;
    int rc;
    if ((rc = only_get(c)) != 0)
        return rc;
    if (a->ready && !a->ready(a->ready_ctx))
        return reply(c, 503, "text/plain", "not ready\n", 10);
    return reply(c, 200, "text/plain", "ready\n", 6);
}

static int on_log_message(const struct mg_connection *conn, const char *message)
{
    buf_t b;
    (void)conn;
    if (!message || !log_enabled(LOG_WARN))
        return 1;
    size_t n = strnlen(message, 4096);
    while (n > 0 && (message[n - 1] == '\n' || message[n - 1] == '\r'))
        n--;
    buf_init(&b, LOG_LINE_MAX);
    log_begin(&b, LOG_WARN, "civetweb");
    if (jsonw_kv_strn(&b, "detail", message, n) == 0)
        log_emit(&b);
    buf_free(&b);
    return 1;
}

struct ls_admin *ls_admin_start(const char *addr, metrics_registry *reg,
                                int (*ready)(void *ctx), int (*health)(void *ctx, char *why, size_t n),
                                void *ctx, char *err, size_t errlen)
{
    struct ls_admin *a = calloc(1, sizeof(*a));
    struct mg_callbacks cb;
    struct mg_init_data init;
    struct mg_error_data e;
    struct mg_server_port ports[4];
    unsigned code = 0;
    char cerr[256] = "";
    const char *opts[] = {
        "listening_ports", addr,
        "num_threads", ADMIN_THREADS,
        "request_timeout_ms", ADMIN_IO_TIMEOUT_MS,
        "enable_keep_alive", "yes",
        "keep_alive_timeout_ms", ADMIN_IO_TIMEOUT_MS,
        "tcp_nodelay", "1",
        "decode_url", "no",
        NULL,
    };
    if (!a) {
        snprintf(err, errlen, "admin: out of memory");
        return NULL;
    }
    a->reg = reg;
    a->ready = ready;
    a->health = health;
    a->ready_ctx = ctx;
    mg_init_library(0);
    memset(&cb, 0, sizeof(cb));
    cb.log_message = on_log_message;
    memset(&init, 0, sizeof(init));
    memset(&e, 0, sizeof(e));
    e.code = &code;
    e.text = cerr;
    e.text_buffer_size = sizeof(cerr);
    init.callbacks = &cb;
    init.configuration_options = opts;
    a->ctx = mg_start2(&init, &e);
    if (!a->ctx) {
        snprintf(err, errlen, "--metrics-addr %s: cannot listen: %s", addr, cerr[0] ? cerr : "unknown error");
        free(a);
        mg_exit_library();
        return NULL;
    }
    mg_set_request_handler(a->ctx, "/metrics", h_metrics, a);
    mg_set_request_handler(a->ctx, "/healthz", h_healthz, a);
    mg_set_request_handler(a->ctx, "/ready", h_ready, a);
    memset(ports, 0, sizeof(ports));
    int n = mg_get_server_ports(a->ctx, 4, ports);
    if (n > 0)
        a->port = ports[0].port;
    return a;
}

int ls_admin_port(const struct ls_admin *a)
{
    return a->port;
}

void ls_admin_stop(struct ls_admin *a)
{
    if (!a)
        return;
    mg_stop(a->ctx);
    mg_exit_library();
    free(a);
}
