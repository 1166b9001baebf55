/* server: hellod's request handling, access log, error pages and lifecycle on top of civetweb. */
#include "service/server.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "civetweb.h"

#include "buf.h"
#include "clock.h"
#include "jsonw.h"
#include "log.h"
#include "service/accesslog.h"
#include "service/connguard.h"
#include "service/framing.h"
#include "service/listeners.h"
#include "service/reqid.h"
#include "service/response.h"
#include "service/route.h"
#include "service/stats.h"
#include "service/tlsctx.h"

/* Caps of the per-thread buffers. The response holds head + body; the
 * largest body is /metrics, whose size is bounded by the closed label sets. */
#define OUT_CAP (1024 * 1024)
#define BODY_CAP (1024 * 1024)
#define LOC_CAP (64 * 1024)
/* Longest path / User-Agent / method copied into a log line (the rest is
 * cut and the line gets "truncated":true); escaping can grow a byte to six,
 * so a line stays well below LOG_LINE_MAX. */
#define LOG_PATH_MAX 4096
#define LOG_UA_MAX 1024
#define LOG_METHOD_MAX 32

static const char JSON_CT[] = "application/json";
static const char METRICS_CT[] = "text/plain; version=0.0.4; charset=utf-8";

static struct {
    struct mg_context *ctx;
    struct mg_context *hctx;     /* the health/metrics listener, NULL when off */
    int health_port;
    int conn_cap;                /* effective per-address cap, 0: none */
    long shed_at;                /* open connections from which keep-alive ends */
    atomic_ulong shed;           /* responses that ended keep-alive under pressure */
    atomic_ulong framing_rejects;
    struct server_params p;
    atomic_int tls_port;         /* read by workers for redirects */
    int http_port;
    char hsts[48];               /* "" when off */
    atomic_int draining;
    atomic_long inflight;
} G;

/* Everything a worker thread needs per request. civetweb serves one
 * connection per thread from accept to close, so no locking is needed. */
struct worker {
    buf_t out, body, loc, line;
    int active;                  /* between begin_request and end_request */
    int conn_live;               /* init_connection ran for the current connection */
    int answered;                /* this request got an answer from us */
    int64_t wait_t0;             /* monotonic ns: the connection started or the last request ended */
    int64_t t0;                  /* monotonic ns: the request started */
    enum route_id route;
    enum method_id method;
    int status;
    size_t bytes;                /* body bytes sent */
    char rid[REQID_MAX + 1];
};

static __thread struct worker *tl_w;

static struct worker *worker_get(void)
{
    struct worker *w = tl_w;

    if (w)
        return w;
    w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    buf_init(&w->out, OUT_CAP);
    buf_init(&w->body, BODY_CAP);
    buf_init(&w->loc, LOC_CAP);
    buf_init(&w->line, LOG_LINE_MAX);
    tl_w = w;
    return w;
}

static void worker_free(void)
{
    struct worker *w = tl_w;

    if (!w)
        return;
    buf_free(&w->out);
    buf_free(&w->body);
    buf_free(&w->loc);
    buf_free(&w->line);
    free(w);
    tl_w = NULL;
}

static double elapsed_s(int64_t t0)
{
    return (double)(clock_mono_ns() - t0) / 1e9;
}

/* Does a comma-separated header value contain token (case-insensitive)? */
static int has_token(const char *v, const char *tok)
{
    size_t n = strlen(tok);

    while (v && *v != '\0') {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        if (strncasecmp(v, tok, n) == 0 &&
            (v[n] == '\0' || v[n] == ',' || v[n] == ' ' || v[n] == '\t'))
            return 1;
        v = strchr(v, ',');
    }
    return 0;
}

/* ---- access log ---------------------------------------------------------- */

/* Length of s up to its first space, CR or LF (or NUL). civetweb hands a
 * malformed request's fields over uncut (request_uri may run to the end of
 * the head, Authorization and Cookie included), so a log field ends there. */
static size_t token_len(const char *s, size_t max)
{
    size_t n = 0;

    while (n < max && s[n] != '\0' && s[n] != ' ' && s[n] != '\r' && s[n] != '\n')
        n++;
    return n;
}

/* A string field capped at cap bytes (marking the line truncated). A
 * request-line field (method, target, version) is also cut at its first
 * space, CR or LF (as_token). */
static int kv_field(buf_t *b, const char *key, const char *s, size_t cap, int as_token,
                    int *truncated)
{
    if (!s)
        return jsonw_kv_str(b, key, NULL);
    size_t n = as_token ? token_len(s, cap + 1) : strnlen(s, cap + 1);
    if (n > cap) {
        n = cap;
        *truncated = 1;
    }
    return jsonw_kv_strn(b, key, s, n);
}

/* One JSON line per request. ri may describe a request civetweb rejected
 * before routing, so every field may be NULL. */
static void access_line(buf_t *b, const struct mg_connection *conn, const struct worker *w,
                        double seconds)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *ver = ri && ri->is_ssl ? tlsctx_thread_version() : NULL;
    int rc = 0, truncated = 0;

    log_begin(b, LOGL_INFO, "request");
    rc |= kv_field(b, "method", ri ? ri->request_method : NULL, LOG_METHOD_MAX, 1, &truncated);
    rc |= kv_field(b, "path", ri ? ri->request_uri : NULL, LOG_PATH_MAX, 1, &truncated);
    rc |= jsonw_kv_str(b, "route", route_name(w->route));
    rc |= jsonw_kv_int(b, "status", w->status);
    rc |= jsonw_kv_uint(b, "bytes", w->bytes);
    rc |= jsonw_kv_double(b, "duration_ms", seconds * 1000.0, 3);
    rc |= jsonw_kv_str(b, "remote", ri ? ri->remote_addr : NULL);
    rc |= jsonw_kv_str(b, "request_id", w->rid);
    rc |= kv_field(b, "user_agent", mg_get_header(conn, "User-Agent"), LOG_UA_MAX, 0, &truncated);
    rc |= jsonw_kv_bool(b, "tls", ri ? ri->is_ssl : 0);
    if (ver)
        rc |= jsonw_kv_str(b, "tls_version", ver);
    if (ri && ri->http_version)
        rc |= kv_field(b, "http_version", ri->http_version, 8, 1, &truncated);
    if (truncated)
        rc |= jsonw_kv_bool(b, "truncated", 1);
    if (rc != 0) {
        /* Cannot happen with the caps above; still never emit half a line. */
        log_begin(b, LOGL_INFO, "request");
        rc = jsonw_kv_int(b, "status", w->status);
        rc |= jsonw_kv_str(b, "request_id", w->rid);
        rc |= jsonw_kv_str(b, "error", "access line did not fit");
        if (rc != 0)
            log_begin(b, LOGL_INFO, "request");
    }
    accesslog_emit(b);
}

/* ---- responses ----------------------------------------------------------- */

/* Answer when even the per-thread state could not be allocated. */
static int send_oom(struct mg_connection *conn)
{
    static const char r[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                            "Content-Length: 25\r\nX-Content-Type-Options: nosniff\r\n"
                            "X-Request-Id: out-of-memory\r\nConnection: close\r\n\r\n"
                            "{\"error\":\"out of memory\"}";

    mg_disable_connection_keep_alive(conn);
    (void)mg_write(conn, r, sizeof(r) - 1);
    return 503;
}

static int set_body_json_kv(buf_t *body, const char *key, const char *val)
{
    int rc = 0;

    buf_reset(body);
    rc |= buf_addc(body, '{');
    rc |= jsonw_kv_str(body, key, val);
    rc |= buf_addc(body, '}');
    return rc;
}

/* Fill w->body for the decided status and route; sets content type,
 * Allow and Location. May change the status (bad Host → 400, metrics
 * overflow → 500). */
static int make_body(struct mg_connection *conn, const struct mg_request_info *ri,
                     struct worker *w, struct resp_head *h)
{
    static const char hello[] = "{\"message\":\"Hello World\"}";
    const char *err = NULL;
    int rc = 0;

    buf_reset(&w->body);
    buf_reset(&w->loc);
    h->content_type = JSON_CT;
    switch (h->status) {
    case 200:
        if (w->route == ROUTE_HELLO) {
            rc = buf_add(&w->body, hello, sizeof(hello) - 1);
        } else if (w->route == ROUTE_METRICS) {
            h->content_type = METRICS_CT;
            if (stats_render(&w->body) != 0) {
                h->status = 500;
                h->content_type = JSON_CT;
                err = "metrics exposition too large";
            }
        } else {
            rc = set_body_json_kv(&w->body, "status", w->route == ROUTE_READYZ ? "ready" : "ok");
        }
        break;
    case 301:
    case 308:
        if (route_redirect_location(&w->loc, mg_get_header(conn, "Host"),
                                    atomic_load(&G.tls_port), ri->local_uri_raw,
                                    ri->query_string) == 0) {
            h->location = w->loc.p;
            rc = set_body_json_kv(&w->body, "location", w->loc.p);
        } else {
            h->status = 400;
            err = "missing or invalid Host header";
        }
        break;
    case 503: rc = set_body_json_kv(&w->body, "status", "shutting down"); break;
    case 404: err = "not found"; break;
    case 405: err = "method not allowed"; h->allow = ROUTE_ALLOW; break;
    case 408: err = "request body not received in time"; break;
    case 413: err = "request body too large"; break;
    case 421: err = "request target names another server"; break;
    default:  err = resp_reason(h->status); break;
    }
    if (err)
        rc = set_body_json_kv(&w->body, "error", err);
    return rc;
}

/* Read and discard the request body (bounded by --max-request-size and,
 * in total, by about twice --request-timeout) so the connection can be
 * kept alive and the answer comes after the whole request. Returns 0, or
 * the status to answer instead (413, 408, 400). */
static int drain_body(struct mg_connection *conn, const struct mg_request_info *ri,
                      struct worker *w)
{
    char tmp[8192];
    uint64_t total = 0;
    const char *te = mg_get_header(conn, "Transfer-Encoding");
    double limit = (double)G.p.request_timeout_ms / 1000.0;

    if (!te && ri->content_length <= 0)
        return 0;
    if (ri->content_length > 0 && (uint64_t)ri->content_length > G.p.max_request_size)
        return 413;
    if (has_token(mg_get_header(conn, "Expect"), "100-continue")) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        (void)mg_write(conn, cont, sizeof(cont) - 1);
    }
    for (;;) {
        int n = mg_read(conn, tmp, sizeof(tmp));
        if (n == 0)
            break;
        if (n < 0)
            return 400;
        total += (uint64_t)n;
        if (total > G.p.max_request_size)
            return 413;
        if (elapsed_s(w->t0) > limit)
            return 408;
    }
    if (ri->content_length > 0 && total < (uint64_t)ri->content_length)
        return 408; /* mg_read gave up waiting */
    return 0;
}

static void send_response(struct mg_connection *conn, const struct mg_request_info *ri,
                          struct worker *w, struct resp_head *h)
{
    int head_only = (w->method == METHOD_HEAD);

    if (make_body(conn, ri, w, h) != 0) {
        h->status = 500;
        h->content_type = JSON_CT;
        h->allow = h->location = NULL;
        buf_reset(&w->body);
        if (buf_adds(&w->body, "{\"error\":\"internal error\"}") != 0)
            buf_reset(&w->body);
    }
    buf_reset(&w->out);
    if (resp_build(&w->out, h, w->body.p ? w->body.p : "", w->body.len, head_only) != 0) {
        (void)send_oom(conn);
        w->status = 503;
        w->bytes = 0;
        return;
    }
    if (h->conn_close)
        mg_disable_connection_keep_alive(conn);
    /* The whole response in one write: one TLS record, one syscall. */
    (void)mg_write(conn, w->out.p, w->out.len);
    w->status = h->status;
    w->bytes = head_only ? 0 : w->body.len;
}

static void start_request(struct worker *w, const char *rid_in, enum method_id m)
{
    w->t0 = clock_mono_ns();
    w->active = 1;
    w->answered = 1;
    w->method = m;
    w->bytes = 0;
    w->status = 0;
    if (rid_in && reqid_valid(rid_in, strlen(rid_in))) {
        size_t n = strlen(rid_in);
        memcpy(w->rid, rid_in, n + 1);
    } else {
        reqid_generate(w->rid);
    }
    atomic_fetch_add(&G.inflight, 1);
    stats_inflight(1);
}

static void finish_request(const struct mg_connection *conn, struct worker *w)
{
    double secs = elapsed_s(w->t0);

    if (log_enabled(LOGL_INFO))
        access_line(&w->line, conn, w, secs);
    stats_request(w->route, w->method, w->status, secs);
    w->active = 0;
    stats_inflight(-1);
    atomic_fetch_sub(&G.inflight, 1);
}

/* ---- civetweb callbacks -------------------------------------------------- */

/* Every request civetweb parsed: route, answer, return the status. */
static int on_begin_request(struct mg_connection *conn)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    struct worker *w = worker_get();
    if (!w)
        return send_oom(conn);
    start_request(w, mg_get_header(conn, "X-Request-Id"), route_method(ri->request_method));

    struct resp_head h;
    memset(&h, 0, sizeof(h));
    h.request_id = w->rid;
    if (ri->is_ssl && G.hsts[0] != '\0')
        h.hsts = G.hsts;

    /* A head a proxy could frame differently is refused before its body is
     * touched, and the connection closed (what follows is unframed). */
    const char *bad_framing = framing_check(ri, (size_t)G.p.max_request_size);
    if (bad_framing) {
        atomic_fetch_add(&G.framing_rejects, 1);
        w->route = ROUTE_INVALID;
        h.status = 400;
        h.conn_close = 1;
        send_response(conn, ri, w, &h);
        return w->status;
    }

    int body_status = drain_body(conn, ri, w);
    int draining = atomic_load(&G.draining); /* after the body: shutdown may have begun meanwhile */
    struct route_decision d;
    int shed = 0;
    if (G.hctx && mg_get_context(conn) == G.hctx) {
        /* The health listener serves the probes and the scrape only. */
        enum route_id r = route_match(ri->local_uri);
        if (r == ROUTE_HEALTHZ || r == ROUTE_READYZ || r == ROUTE_METRICS) {
            d = route_decide(1, w->method, ri->local_uri, !draining);
        } else {
            d.route = ROUTE_NOT_FOUND;
            d.status = 404;
        }
    } else {
        d = route_decide(ri->is_ssl, w->method, ri->local_uri, !draining);
        /* Under pressure (nearly every thread holds a connection) a
         * connection is not kept idle on a thread: the answer says close. */
        shed = G.shed_at > 0 && connguard_open() >= G.shed_at;
    }
    w->route = d.route;
    h.status = body_status ? body_status : d.status;

    /* Keep-alive: civetweb decides from the request; we say "close" when we
     * end it (draining, keep-alive off, body trouble, pressure) or the
     * client asked. */
    const char *connection = mg_get_header(conn, "Connection");
    int http10 = ri->http_version && strcmp(ri->http_version, "1.0") == 0;
    h.conn_close = draining || body_status != 0 || G.p.keepalive_timeout_ms == 0 ||
                   has_token(connection, "close") ||
                   (http10 && !has_token(connection, "keep-alive"));
    if (shed && !h.conn_close) {
        h.conn_close = 1;
        atomic_fetch_add(&G.shed, 1);
    }
    h.conn_keep_alive = !h.conn_close && http10;

    send_response(conn, ri, w, &h);
    return w->status;
}

static void on_end_request(const struct mg_connection *conn, int reply_status_code)
{
    struct worker *w = tl_w;

    (void)reply_status_code;
    if (!w || !w->active)
        return;
    finish_request(conn, w);
    w->answered = 0; /* the next request on this connection starts unanswered */
    w->wait_t0 = clock_mono_ns();
}

/* civetweb reports a head that filled its buffer without ending, and one
 * cut short by its timeout, alike ("Malformed message", 400). The buffer
 * fills as fast as the client sends; a timeout takes the whole wait. So a
 * head that ended well before the wait's deadline was too large (431);
 * otherwise it timed out (408). */
static int head_error_status(void)
{
    struct worker *w = tl_w;
    int64_t wait_ms = G.p.request_timeout_ms;

    if (G.p.keepalive_timeout_ms > 0 && G.p.keepalive_timeout_ms < wait_ms)
        wait_ms = G.p.keepalive_timeout_ms;
    if (framing_take_bad_byte() || !w || w->wait_t0 == 0)
        return 400;
    return elapsed_s(w->wait_t0) * 1000.0 < (double)wait_ms * 0.9 ? 431 : 408;
}

/* civetweb's own errors (malformed request line, head too large, bad HTTP
 * version...) before our handler ran: answer with the same headers and a
 * JSON body, and log the request like any other. */
static int on_http_error(struct mg_connection *conn, int status, const char *errmsg)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    struct worker *w = worker_get();
    struct resp_head h;

    /* errmsg may quote request bytes: only compared, never logged */
    if (!w) {
        (void)send_oom(conn);
        return 0;
    }
    if (w->active)
        return 0; /* inside our handler (never expected): do not answer twice */
    start_request(w, NULL, route_method(ri ? ri->request_method : NULL));
    w->route = ROUTE_INVALID;
    memset(&h, 0, sizeof(h));
    h.status = status;
    h.request_id = w->rid;
    h.conn_close = 1;
    if (ri && ri->is_ssl && G.hsts[0] != '\0')
        h.hsts = G.hsts;
    if (status == 413 && ri && !ri->request_method)
        h.status = 431; /* the head, not a body, was too large */
    if (status == 400 && errmsg && strcmp(errmsg, "Malformed message") == 0)
        h.status = head_error_status();
    send_response(conn, ri, w, &h);
    finish_request(conn, w);
    return 0;
}

/* civetweb's diagnostics (TLS handshake errors, socket errors) as JSON. */
static int on_log_message(const struct mg_connection *conn, const char *message)
{
    buf_t b;

    (void)conn;
    if (!message || !log_enabled(LOGL_WARN))
        return 1;
    size_t n = strnlen(message, 4096);
    while (n > 0 && (message[n - 1] == '\n' || message[n - 1] == '\r'))
        n--;
    buf_init(&b, LOG_LINE_MAX);
    log_begin(&b, LOGL_WARN, "civetweb");
    int rc = jsonw_kv_strn(&b, "detail", message, n);
    if (rc != 0)
        log_begin(&b, LOGL_WARN, "civetweb");
    log_emit(&b);
    buf_free(&b);
    return 1;
}

/* civetweb parsed a request whose target names no local path ("OPTIONS *",
 * or an absolute-form target for another port or scheme) and closes the
 * connection without calling any handler: answer it here, while the
 * connection is still open, and log it like any other request. */
static void answer_unrouted(struct mg_connection *conn, const struct mg_request_info *ri,
                            struct worker *w)
{
    struct resp_head h;

    start_request(w, mg_get_header(conn, "X-Request-Id"), route_method(ri->request_method));
    w->route = ROUTE_SERVER;
    memset(&h, 0, sizeof(h));
    h.request_id = w->rid;
    h.conn_close = 1;
    if (ri->is_ssl && G.hsts[0] != '\0')
        h.hsts = G.hsts;
    if (strcmp(ri->request_uri, "*") == 0) {
        h.status = w->method == METHOD_OPTIONS ? 200 : 400;
        h.allow = ROUTE_ALLOW;
    } else {
        h.status = 421;
    }
    send_response(conn, ri, w, &h);
    finish_request(conn, w);
}

static void on_connection_close(const struct mg_connection *conn)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    struct worker *w = tl_w;

    if (w && w->conn_live && !w->answered && !w->active && ri &&
        ri->request_method && ri->request_uri && !ri->local_uri)
        answer_unrouted((struct mg_connection *)conn, ri, w);
    if (w) {
        w->conn_live = 0;
        w->answered = 0;
    }
    tlsctx_thread_reset();
}

static int on_init_connection(const struct mg_connection *conn, void **conn_data)
{
    struct worker *w = worker_get();

    (void)conn;
    (void)conn_data;
    (void)framing_take_bad_byte();
    if (w) {
        w->conn_live = 1;
        w->answered = 0;
        w->wait_t0 = clock_mono_ns();
    }
    return 0;
}

static void *on_init_thread(const struct mg_context *ctx, int thread_type)
{
    (void)ctx;
    if (thread_type == 1)
        return worker_get();
    return NULL;
}

static void on_exit_thread(const struct mg_context *ctx, int thread_type, void *user)
{
    (void)ctx;
    (void)thread_type;
    (void)user;
    worker_free();
}

/* ---- lifecycle ----------------------------------------------------------- */

static int port_spec(char *out, size_t cap, const char *bind, int port, const char *suffix)
{
    int n;

    if (strcmp(bind, "::") == 0)
        n = snprintf(out, cap, "+%d%s", port, suffix);  /* IPv6 and IPv4 */
    else if (strchr(bind, ':'))
        n = snprintf(out, cap, "[%s]:%d%s", bind, port, suffix);
    else
        n = snprintf(out, cap, "%s:%d%s", bind, port, suffix);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

/* mg_start2 over cb and the NULL-terminated opts, then the ports it listens on into
 * ports[0..*nports) (*nports: their room in, their count out). The context, or NULL with err set
 * to "<what> did not start on <where>: <civetweb's reason>". */
static struct mg_context *start_ctx(const struct mg_callbacks *cb, const char **opts, const char *what,
                                    const char *where, struct mg_server_port *ports, int *nports,
                                    char *err, size_t errlen)
{
    char cerr[256] = "";
    unsigned code = 0;
    struct mg_error_data e = {.code = &code, .text = cerr, .text_buffer_size = sizeof(cerr)};
    struct mg_init_data init = {.callbacks = cb, .user_data = NULL, .configuration_options = opts};
    struct mg_context *ctx = mg_start2(&init, &e);
    if (!ctx) {
        snprintf(err, errlen, "%s did not start on %s: %s", what, where, cerr[0] ? cerr : "unknown error");
        return NULL;
    }
    memset(ports, 0, sizeof(*ports) * (size_t)*nports);
    int got = mg_get_server_ports(ctx, *nports, ports);
    *nports = got < 0 ? 0 : got;
    return ctx;
}

/* Health threads: a probe or a scrape is short, so a few threads serve
 * them all; they never wait behind the clients of the main listener. */
#define HEALTH_THREADS "4"

/* The second civetweb context: plain HTTP on --health-bind:--health-port,
 * same callbacks (on_begin_request restricts it to the health routes). */
static int start_health(const struct server_params *p, const struct mg_callbacks *cb,
                        char *err, size_t errlen)
{
    char spec[96], rt[24];
    const char *opts[24];
    int n = 0;

    if (port_spec(spec, sizeof(spec), p->health_bind, p->health_port < 0 ? 0 : p->health_port,
                  "") != 0) {
        snprintf(err, errlen, "health bind address too long");
        return -1;
    }
    snprintf(rt, sizeof(rt), "%lld", (long long)p->request_timeout_ms);
    opts[n++] = "listening_ports";       opts[n++] = spec;
    opts[n++] = "num_threads";           opts[n++] = HEALTH_THREADS;
    opts[n++] = "request_timeout_ms";    opts[n++] = rt;
    opts[n++] = "keep_alive_timeout_ms"; opts[n++] = rt;
    opts[n++] = "enable_keep_alive";     opts[n++] = "yes";
    opts[n++] = "connection_queue";      opts[n++] = "16";
    opts[n++] = "tcp_nodelay";           opts[n++] = "1";
    opts[n++] = "decode_url";            opts[n++] = "no";
    opts[n++] = "enable_auth_domain_check"; opts[n++] = "no";
    opts[n] = NULL;
    struct mg_server_port ports[2];
    int nports = 2;
    G.hctx = start_ctx(cb, opts, "health listener", spec, ports, &nports, err, errlen);
    if (!G.hctx)
        return -1;
    if (nports >= 1)
        G.health_port = ports[0].port;
    return 0;
}

int server_start(const struct server_params *p, char *err, size_t errlen)
{
    G.p = *p;
    G.hsts[0] = '\0';
    if (p->hsts_max_age > 0)
        snprintf(G.hsts, sizeof(G.hsts), "max-age=%lld", (long long)p->hsts_max_age);
    char tls_spec[96], http_spec[96];
    if (port_spec(tls_spec, sizeof(tls_spec), p->bind, p->tls_port, "s") != 0 ||
        port_spec(http_spec, sizeof(http_spec), p->bind, p->http_port, "") != 0) {
        snprintf(err, errlen, "bind address too long");
        return -1;
    }
    char listen[200];
    if (p->http_port != 0)
        snprintf(listen, sizeof(listen), "%s,%s", tls_spec, http_spec);
    else
        snprintf(listen, sizeof(listen), "%s", tls_spec);
    char threads[24], rt[24], kt[24], mrs[24], queue[24];
    snprintf(threads, sizeof(threads), "%d", p->threads);
    snprintf(rt, sizeof(rt), "%lld", (long long)p->request_timeout_ms);
    snprintf(kt, sizeof(kt), "%lld", (long long)p->keepalive_timeout_ms);
    snprintf(mrs, sizeof(mrs), "%llu", (unsigned long long)p->max_request_size);
    snprintf(queue, sizeof(queue), "%d", p->threads);

    /* Why these civetweb options (civetweb 1.15 gives each connection a
     * worker thread from accept to close, so every knob below is about how
     * long a connection can hold a thread, and what waits meanwhile):
     *  - num_threads = --threads: the most connections served at once.
     *    Default 128: a thread costs a 16 KiB request buffer plus stack
     *    pages actually touched, so a few hundred are cheap; it must be at
     *    least the expected concurrent keep-alive clients (wrk -c50 needs
     *    50), since extra connections wait unserved.
     *  - request_timeout_ms = --request-timeout: civetweb uses it for the
     *    TLS handshake (its SSL_accept retry loop), and as a deadline for
     *    the whole request head counted from the first wait (read_message
     *    compares against the request's start, so trickling one byte at a
     *    time does not extend it); drain_body applies it to bodies too.
     *    So an idle TCP connection, a stalled handshake or a half-sent head
     *    frees its thread after at most this long (slowloris bound).
     *  - keep_alive_timeout_ms = --keepalive-timeout: the same deadline for
     *    the wait between two requests of a keep-alive connection. Short
     *    (5 s) because an idle keep-alive client pins a thread.
     *  - enable_keep_alive: on unless --keepalive-timeout is 0 (handshake
     *    reuse matters far more than the thread it pins briefly).
     *  - connection_queue = --threads: accepted connections wait here for a
     *    free worker; their wait does not count against request_timeout
     *    (it starts when a worker picks them up), so a burst queues instead
     *    of being refused. listen_backlog: the kernel queue behind that.
     *    Neither queue holds a thread, so neither lets idle clients starve
     *    others: what frees capacity is the timeouts above.
     *  - linger_timeout_ms: left unset, so close() never blocks a worker
     *    on a client that does not read (SO_LINGER untouched).
     *  - tcp_nodelay: the response leaves in one write; Nagle would only
     *    delay it behind the client's delayed ACK on keep-alive.
     *  - decode_url=no: routing and logs see the raw path, so "%2e" or "%00"
     *    cannot alias a route or cut a log field.
     *  - enable_auth_domain_check=no: an absolute-form target
     *    ("GET https://host:port/helloworld") for our port is served whatever
     *    the host (RFC 9112 3.2.2); with the check civetweb closed such
     *    requests without any answer (its domain is a placeholder).
     *  - max_request_size = --max-request-size: cap on the request head
     *    (civetweb answers 413, which we turn into 431) and, in drain_body,
     *    on the body.
     *  - ssl_protocol_version 4 (TLS 1.2 and 1.3); tlsctx_init_ssl sets the
     *    same minimum again plus ciphers, groups and the certificate. */
    const char *opts[40];
    int n = 0;
    opts[n++] = "listening_ports";       opts[n++] = listen;
    opts[n++] = "num_threads";           opts[n++] = threads;
    opts[n++] = "request_timeout_ms";    opts[n++] = rt;
    opts[n++] = "keep_alive_timeout_ms"; opts[n++] = kt;
    opts[n++] = "enable_keep_alive";     opts[n++] = p->keepalive_timeout_ms > 0 ? "yes" : "no";
    opts[n++] = "connection_queue";      opts[n++] = queue;
    opts[n++] = "listen_backlog";        opts[n++] = "1024";
    opts[n++] = "tcp_nodelay";           opts[n++] = "1";
    opts[n++] = "decode_url";            opts[n++] = "no";
    opts[n++] = "enable_auth_domain_check"; opts[n++] = "no";
    opts[n++] = "max_request_size";      opts[n++] = mrs;
    opts[n++] = "ssl_protocol_version";  opts[n++] = "4";
    opts[n] = NULL;

    struct mg_callbacks cb;
    memset(&cb, 0, sizeof(cb));
    cb.begin_request = on_begin_request;
    cb.end_request = on_end_request;
    cb.http_error = on_http_error;
    cb.log_message = on_log_message;
    cb.init_ssl = tlsctx_init_ssl;
    cb.connection_close = on_connection_close;
    cb.init_connection = on_init_connection;
    cb.init_thread = on_init_thread;
    cb.exit_thread = on_exit_thread;

    /* One address may hold at most half the threads, so it can never
     * take them all whatever --max-conns-per-addr says. */
    int cap = p->max_conns_per_addr;
    if (cap > p->threads / 2)
        cap = p->threads / 2 > 0 ? p->threads / 2 : 1;
    G.conn_cap = cap;
    /* The last quarter of the threads is kept for addresses that hold no
     * connection yet (see connguard_init). */
    if (connguard_init(cap, 4 * p->threads + 64, p->threads - p->threads / 4) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (accesslog_start() != 0)
        log_kv(LOGL_WARN, "access-log batching unavailable; writing lines one by one", NULL);
    atomic_store(&G.tls_port, p->tls_port); /* workers may redirect before mg_start2 returns */
    G.http_port = p->http_port;
    struct mg_server_port ports[4];
    int nports = 4;
    G.ctx = start_ctx(&cb, opts, "civetweb", listen, ports, &nports, err, errlen);
    if (!G.ctx)
        return -1;
    for (int i = 0; i < nports; i++) {
        if (ports[i].is_ssl)
            atomic_store(&G.tls_port, ports[i].port);
        else
            G.http_port = ports[i].port;
    }
    /* Only the main listeners (open now, before the health context's) are
     * capped per address and deferred until the client sends data. */
    if (connguard_guard_listeners((int)((p->request_timeout_ms + 999) / 1000)) < 0) {
        snprintf(err, errlen, "cannot find the listening sockets: %s", strerror(errno));
        return -1;
    }
    /* Shed keep-alive only when nearly every thread holds a connection
     * (15/16): below that, reusing connections is cheaper for everyone
     * (a closed keep-alive connection costs its client a new handshake). */
    G.shed_at = p->threads - (p->threads / 16 > 1 ? p->threads / 16 : 1);
    if (G.shed_at < 1)
        G.shed_at = 1;
    if (p->health_port != 0 && start_health(p, &cb, err, errlen) != 0) {
        server_stop();
        return -1;
    }
    return 0;
}

int server_tls_port(void)
{
    return atomic_load(&G.tls_port);
}

int server_http_port(void)
{
    return G.http_port;
}

int server_conn_cap(void)
{
    return G.conn_cap;
}

int server_health_port(void)
{
    return G.health_port;
}

unsigned long server_keepalive_shed(void)
{
    return atomic_load(&G.shed);
}

unsigned long server_framing_rejects(void)
{
    return atomic_load(&G.framing_rejects);
}

int server_begin_drain(void)
{
    atomic_store(&G.draining, 1);
    /* The main listeners only: the health listener keeps answering, so
     * /readyz says 503 (rather than refusing) while the drain runs. */
    return listeners_close_all(connguard_is_listener);
}

long server_inflight(void)
{
    return atomic_load(&G.inflight);
}

void server_stop(void)
{
    if (G.hctx)
        mg_stop(G.hctx);
    G.hctx = NULL;
    if (G.ctx)
        mg_stop(G.ctx);
    G.ctx = NULL;
    accesslog_stop(); /* every access line is out before "stopped" */
    listeners_release();
    connguard_free();
}
