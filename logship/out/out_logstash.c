/* out_logstash: the Logstash output, one of three transports chosen by the URL scheme.
 *
 * Every record becomes the same JSON event as an Elasticsearch document
 * (event.h: @timestamp, the line's fields or "message", labels).
 *
 *   http://, https://   the http input (codec json): one POST of a JSON array
 *       per batch, judged by http_rows below over core/verdict.h's common
 *       table: 2xx DONE; 408, 429
 *       (queue full), 5xx, timeout, connection error RETRY (the engine backs
 *       off with full jitter); 401/403/404/407 and 3xx CONFIG (credentials,
 *       URL, proxy auth: the data is kept); other 4xx DROP (logged and
 *       counted by the engine).
 *   beats://host:port, beats+tls://host:port   Lumberjack v2 (the beats
 *       input): windows of events, zlib-compressed, each DONE only when
 *       Logstash ACKs its last sequence number. A partial ACK marks 1..acked
 *       DONE; a connection lost, or no ACK progress within the request
 *       timeout, RETRIES the rest. At-least-once. The window adapts as
 *       Filebeat's does (ls_lj_window in lumberjack.h): it starts at
 *       LJ_WINDOW_START events, grows by half on every fully ACKed full
 *       window up to LS_BEATS_WINDOW, and halves on errors and timeouts, so
 *       a server that caps the window it accepts still gets everything.
 *   tcp://host:port, tls://host:port   the tcp input with codec json_lines: one event per
 *       line. There is NO acknowledgement: a batch is DONE once written to
 *       the socket, so a connection that dies with data in flight can lose it.
 *       Use beats:// when that matters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "jsonw.h"
#include "log.h"
#include "logship/redact.h"
#include "logship/out/event.h"
#include "logship/out/gzip.h"
#include "logship/out/http.h"
#include "logship/out/lumberjack.h"
#include "logship/out/netconn.h"
#include "logship/core/output.h"
#include "logship/out/out_logstash.h"

#define LS_BEATS_WINDOW 2048
#define LS_BODY_MAX (64u << 20)

/* Logstash's options (config.c reads this table; the values land in struct ls_logstash_settings). */
static const struct cfg_row options[] = {
    CFG_ROW(struct ls_logstash_settings, urls, "logstash", CFG_LIST, NULL, 0, 0, NULL, "URL",
              "Logstash: http://, beats://host:5044 or tcp:// (repeatable)."),
};

static const char *const schemes[] = { "http://", "https://", "beats://", "beats+tls://", "tcp://", "tls://", NULL };

static const struct ls_output_auth auth = {
    .prefix = "logstash",
    .title = "Logstash",
    .fields = LS_AUTH_BIT(LS_AUTH_USERNAME) | LS_AUTH_BIT(LS_AUTH_PASSWORD) | LS_AUTH_BIT(LS_AUTH_PASSWORD_FILE) |
              LS_AUTH_BIT(LS_AUTH_CA_FILE) | LS_AUTH_BIT(LS_AUTH_CERT) | LS_AUTH_BIT(LS_AUTH_KEY),
    .help = {
        [LS_AUTH_USERNAME] = "basic auth user (http://); replaces the shared credentials.",
    },
};

enum ls_transport { T_HTTP, T_BEATS, T_TCP };

struct lsout {
    enum ls_transport t;
    char name[64];
    struct ls_http *http;               /* T_HTTP */
    char *url;
    int compress;
    struct ls_netconn_conf cc;          /* T_BEATS, T_TCP */
    char host[256], port[16];
    char *ca_file, *cert_file, *key_file;
    struct ls_netconn *conn;
    struct ls_lj_window win;               /* T_BEATS: adapts to what the server ACKs */
    buf_t body, inner, gz;
    struct ls_gzip gz_state;            /* http body compressor, reused */
};

static void lso_destroy(void *ctx)
{
    struct lsout *o = ctx;
    if (!o)
        return;
    if (o->http)
        ls_http_free(o->http);
    ls_gzip_end(&o->gz_state);
    ls_netconn_close(o->conn);
    free(o->url);
    free(o->ca_file);
    free(o->cert_file);
    free(o->key_file);
    buf_free(&o->body);
    buf_free(&o->inner);
    buf_free(&o->gz);
    free(o);
}

/* Split "host:port", "[v6]:port", with an optional trailing "/". 0 or -1. */
static int split_hostport(const char *s, char *host, size_t hl, char *port, size_t pl)
{
    const char *end = s + strlen(s);
    while (end > s && end[-1] == '/')
        end--;
    const char *colon;
    if (*s == '[') {
        const char *rb = memchr(s, ']', (size_t)(end - s));
        if (!rb || rb + 1 >= end || rb[1] != ':')
            return -1;
        if ((size_t)(rb - s - 1) >= hl)
            return -1;
        memcpy(host, s + 1, (size_t)(rb - s - 1));
        host[rb - s - 1] = '\0';
        colon = rb + 1;
    } else {
        colon = NULL;
        for (const char *p = s; p < end; p++)
            if (*p == ':')
                colon = p;
        if (!colon || colon == s || (size_t)(colon - s) >= hl)
            return -1;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
    }
    size_t n = (size_t)(end - colon - 1);
    if (n == 0 || n >= pl)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (colon[1 + i] < '0' || colon[1 + i] > '9')
            return -1;
    memcpy(port, colon + 1, n);
    port[n] = '\0';
    long v = strtol(port, NULL, 10);
    return v >= 1 && v <= 65535 ? 0 : -1;
}

static char *dup_opt(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

static void *lso_create(const struct ls_output_conf *conf, char *err, size_t errlen)
{
    struct lsout *o = calloc(1, sizeof(*o));
    if (!o) {
        snprintf(err, errlen, "logstash: out of memory");
        return NULL;
    }
    snprintf(o->name, sizeof(o->name), "%s", conf->name && *conf->name ? conf->name : "logstash");
    buf_init(&o->body, LS_BODY_MAX);
    buf_init(&o->inner, LS_BODY_MAX);
    buf_init(&o->gz, LS_BODY_MAX);
    o->compress = conf->compress;
    const char *url = conf->url ? conf->url : "";
    if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
        o->t = T_HTTP;
        o->url = strdup(url);
        if (!o->url) {
            snprintf(err, errlen, "logstash: out of memory");
            goto out;
        }
        o->http = ls_http_new(conf, err, errlen);
        if (!o->http)
            goto out;
        return o;
    }
    static const struct {
        const char *scheme;
        int transport, tls;
    } stream_schemes[] = {
        {"beats://", T_BEATS, 0}, {"beats+tls://", T_BEATS, 1}, {"tcp://", T_TCP, 0}, {"tls://", T_TCP, 1},
    };
    const char *rest = NULL;
    int tls = 0;
    for (size_t i = 0; i < sizeof(stream_schemes) / sizeof(stream_schemes[0]) && !rest; i++) {
        size_t n = strlen(stream_schemes[i].scheme);
        if (strncmp(url, stream_schemes[i].scheme, n) == 0) {
            o->t = stream_schemes[i].transport;
            rest = url + n;
            tls = stream_schemes[i].tls;
        }
    }
    char safe[512]; /* the URL as printed: without its credentials */
    if (!rest) {
        snprintf(err, errlen,
                 "logstash: URL must start with http://, https://, beats://, beats+tls://, tcp:// or "
                 "tls:// (got '%s')", ls_redact_url(url, safe, sizeof(safe)));
        goto out;
    }
    if (split_hostport(rest, o->host, sizeof(o->host), o->port, sizeof(o->port)) != 0) {
        snprintf(err, errlen, "logstash: '%s': expected host:port", ls_redact_url(url, safe, sizeof(safe)));
        goto out;
    }
    o->ca_file = dup_opt(conf->ca_file);
    o->cert_file = dup_opt(conf->cert_file);
    o->key_file = dup_opt(conf->key_file);
    if ((conf->ca_file && *conf->ca_file && !o->ca_file) || (conf->cert_file && *conf->cert_file && !o->cert_file) ||
        (conf->key_file && *conf->key_file && !o->key_file)) {
        snprintf(err, errlen, "logstash: out of memory");
        goto out;
    }
    o->cc.host = o->host;
    o->cc.port = o->port;
    o->cc.tls = tls;
    o->cc.ca_file = o->ca_file;
    o->cc.cert_file = o->cert_file;
    o->cc.key_file = o->key_file;
    o->cc.insecure_skip_verify = conf->insecure_skip_verify;
    o->cc.connect_timeout_ms = conf->connect_timeout_ms > 0 ? conf->connect_timeout_ms : 10000;
    o->cc.io_timeout_ms = conf->request_timeout_ms > 0 ? conf->request_timeout_ms : 30000;
    ls_lj_window_init(&o->win, LS_BEATS_WINDOW);
    return o;
out:
    lso_destroy(o);
    return NULL;
}

static void fill(struct ls_flush_result *res, int status, const char *reason, const char *detail)
{
    res->http_status = status;
    res->backend_up = 0;   /* no answer; an HTTP answer's row says otherwise */
    snprintf(res->reason, sizeof(res->reason), "%s", reason);
    snprintf(res->detail, sizeof(res->detail), "%s", detail ? detail : "");
}

#define FIX_URL "check the --logstash URL"
#define FIX_CREDENTIALS "check --username/--password (the http input's user and password)"

/* The http input's answers: the common table of core/verdict.h (ELK.md shows
 * it) with Logstash's remedies; a 1xx final status is "unexpected" and, as a
 * redirect, means the URL is wrong (the client follows neither). */
static const struct ls_verdict_row http_rows[] = {
    { 401, 401, LS_CONFIG, "unauthorized", FIX_CREDENTIALS },
    { 403, 403, LS_CONFIG, "forbidden", FIX_CREDENTIALS },
    { 404, 404, LS_CONFIG, "not_found", FIX_URL },
    { 407, 407, LS_CONFIG, "proxy_auth", "a proxy in the way (http_proxy / https_proxy) wants credentials: put them "
                                         "in the proxy URL, or set no_proxy for Logstash" },
    { 100, 199, LS_CONFIG, "unexpected", FIX_URL },
    { 300, 399, LS_CONFIG, "redirect", FIX_URL },
};

/* A stream transport's failure (beats, tcp): every one is retried, since the
 * events may not have arrived; the reason says whether the peer was slow. */
static const struct {
    enum ls_net_result why;
    const char *reason;
} stream_rows[] = {
    { LS_NET_TIMEOUT, "timeout" },      /* no ACK (beats) or no write progress (tcp) in time */
    { LS_NET_CLOSED, "connection" },
    { LS_NET_ERROR, "connection" },
};

static const char *stream_reason(enum ls_net_result why)
{
    for (size_t i = 0; i < sizeof(stream_rows) / sizeof(stream_rows[0]); i++)
        if (stream_rows[i].why == why)
            return stream_rows[i].reason;
    return "connection";
}

/* The http input: 200 done, 429 back off. */
/* The batch as one JSON array of events in o->body. 0, or -1 on the request cap. */
static int encode_array(struct lsout *o, const struct ls_batch *b)
{
    buf_reset(&o->body);
    if (buf_addc(&o->body, '['))
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        if ((i && buf_addc(&o->body, ',')) || ls_event_encode(&o->body, &b->recs[i]))
            return -1;
    }
    return buf_addc(&o->body, ']') ? -1 : 0;
}

static enum ls_verdict flush_http(struct lsout *o, const struct ls_batch *b, struct ls_flush_result *res)
{
    if (encode_array(o, b) != 0) {
        fill(res, 0, "too_large", "batch does not fit the request cap");
        res->dropped = b->n;
        return LS_DROP;
    }
    const char *hdrs[3] = { "Content-Type: application/json", NULL, NULL };
    const void *body;
    size_t blen;
    ls_gzip_request(&o->gz_state, o->compress, &o->body, &o->gz, &body, &blen, &hdrs[1]);
    struct ls_http_response resp;
    memset(&resp, 0, sizeof(resp));
    if (ls_http_post(o->http, o->url, hdrs, body, blen, &resp) != 0) {
        fill(res, 0, resp.timed_out ? "timeout" : "connection", resp.error);
        ls_http_response_free(&resp);
        return LS_RETRY;
    }
    long st = resp.status;
    res->retry_after_ms = resp.retry_after_ms;
    char detail[1024];
    size_t dn = resp.body.len < sizeof(detail) - 1 ? resp.body.len : sizeof(detail) - 1;
    if (dn)
        memcpy(detail, resp.body.p, dn);
    detail[dn] = '\0';
    const struct ls_verdict_row *row = ls_verdict_lookup(http_rows, sizeof(http_rows) / sizeof(http_rows[0]), st);
    enum ls_verdict v = row->verdict;
    fill(res, (int)st, v == LS_DONE ? "" : row->reason, v == LS_DONE ? "" : detail);
    res->backend_up = !row->down;
    if (v == LS_DROP)
        res->dropped = b->n;
    if (v == LS_CONFIG)
        res->fix = row->fix;
    ls_http_response_free(&resp);
    return v;
}

static int ensure_conn(struct lsout *o, struct ls_flush_result *res)
{
    char err[256];
    if (o->conn && !ls_netconn_alive(o->conn)) {
        log_kv(LOGL_INFO, "connection closed by the peer while idle; reconnecting", "output", o->name, "peer", o->host,
               NULL);
        ls_netconn_close(o->conn);
        o->conn = NULL;
    }
    if (o->conn)
        return 0;
    o->conn = ls_netconn_open(&o->cc, err, sizeof(err));
    if (!o->conn) {
        fill(res, 0, "connection", err);
        return -1;
    }
    log_kv(LOGL_INFO, "connected", "output", o->name, "peer", o->host, NULL);
    return 0;
}

static void drop_conn(struct lsout *o)
{
    ls_netconn_close(o->conn);
    o->conn = NULL;
}

/* Records [0, acked) are delivered and the next is too big to ever send: drop
 * it (counted by the engine), resend the rest. */
static enum ls_verdict drop_next(const struct ls_batch *b, size_t acked, struct ls_flush_result *res)
{
    if (res->item) {
        for (size_t i = 0; i < b->n; i++)
            res->item[i] = i < acked ? LS_DONE : i == acked ? LS_DROP : LS_RETRY;
        res->dropped = 1;
        return LS_PARTIAL;
    }
    res->dropped = b->n;
    return LS_DROP;
}

/* Lumberjack v2: window, compressed JSON frames, wait for the ACK. */
static enum ls_verdict flush_beats(struct lsout *o, const struct ls_batch *b, struct ls_flush_result *res)
{
    size_t acked_total = 0;   /* records [0, acked_total) are delivered */
    char err[256];

    if (ensure_conn(o, res) != 0)
        return LS_RETRY;
    while (acked_total < b->n) {
        size_t n = b->n - acked_total;
        if (n > o->win.size)
            n = o->win.size;
        buf_reset(&o->inner);
        buf_reset(&o->body);
        for (size_t k = 0; k < n; k++) {
            const struct ls_record *r = &b->recs[acked_total + k];
            buf_reset(&o->body);
            if (ls_event_encode(&o->body, r) ||
                ls_lj_encode_json(&o->inner, (uint32_t)(k + 1), o->body.p, o->body.len)) {
                if (k == 0) {
                    fill(res, 0, "too_large", "event does not fit the frame cap");
                    return drop_next(b, acked_total, res);
                }
                n = k;
                break;
            }
        }
        buf_reset(&o->body);
        if (ls_lj_encode_window(&o->body, (uint32_t)n) ||
            ls_lj_encode_compressed(&o->body, o->inner.p, o->inner.len, 3)) {
            fill(res, 0, "too_large", "window does not fit the frame cap");
            return drop_next(b, acked_total, res);
        }
        uint32_t acked = 0;
        enum ls_net_result why;
        if (ls_lj_send_window(o->conn, o->body.p, o->body.len, (uint32_t)n, &acked, &why, err, sizeof(err)) != 0) {
            char ws[16];
            ls_lj_window_shrink(&o->win);
            snprintf(ws, sizeof(ws), "%u", (unsigned)o->win.size);
            log_kv(LOGL_WARN, "beats window not acknowledged; resending the rest in smaller windows",
                   "output", o->name, "error", err, "next_window", ws, NULL);
            drop_conn(o);
            acked_total += acked;
            fill(res, 0, stream_reason(why), err);
            break;
        }
        acked_total += n;
        ls_lj_window_ok(&o->win, (uint32_t)n);
    }
    if (acked_total == b->n) {
        fill(res, 0, "", "");
        return LS_DONE;
    }
    if (acked_total > 0 && res->item) {
        for (size_t i = 0; i < b->n; i++)
            res->item[i] = i < acked_total ? LS_DONE : LS_RETRY;
        return LS_PARTIAL;
    }
    return LS_RETRY;
}

/* tcp json_lines: no acknowledgement exists; DONE once written. */
static enum ls_verdict flush_tcp(struct lsout *o, const struct ls_batch *b, struct ls_flush_result *res)
{
    char err[256];
    buf_reset(&o->body);
    for (size_t i = 0; i < b->n; i++) {
        if (ls_event_encode(&o->body, &b->recs[i]) || buf_addc(&o->body, '\n')) {
            fill(res, 0, "too_large", "batch does not fit the write cap");
            res->dropped = b->n;
            return LS_DROP;
        }
    }
    if (ensure_conn(o, res) != 0)
        return LS_RETRY;
    enum ls_net_result why = ls_netconn_write(o->conn, o->body.p, o->body.len, err, sizeof(err));
    if (why != LS_NET_OK) {
        drop_conn(o);
        fill(res, 0, stream_reason(why), err);
        return LS_RETRY;
    }
    fill(res, 0, "", "");
    return LS_DONE;
}

static enum ls_verdict lso_flush(void *ctx, const struct ls_batch *b, struct ls_flush_result *res)
{
    struct lsout *o = ctx;
    res->retry_after_ms = -1;
    res->dropped = 0;
    switch (o->t) {
    case T_HTTP: return flush_http(o, b, res);
    case T_BEATS: return flush_beats(o, b, res);
    default: return flush_tcp(o, b, res);
    }
}

const struct ls_output_ops ls_output_logstash = {
    .kind = "logstash",
    .options = options,
    .n_options = sizeof(options) / sizeof(options[0]),
    .settings_size = sizeof(struct ls_logstash_settings),
    .schemes = schemes,
    .auth = &auth,
    .create = lso_create,
    .flush = lso_flush,
    .destroy = lso_destroy,
};
