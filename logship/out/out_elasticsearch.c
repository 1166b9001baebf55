/* out_elasticsearch: the Elasticsearch output, a batch → _bulk requests → per-record verdicts.
 *
 * The status → verdict tables (per item and per request) are es_status.c's;
 * this file applies them: items judged DROP go to --dead-letter (NDJSON:
 * document + error, fsync'ed before the verdict) when configured; items
 * judged CONFIG (security_exception, index_not_found_exception,
 * cluster_block_exception, ...) are kept and reported with the fix; a
 * whole-request 413 is split: the range is halved and both halves are sent
 * within this flush, down to one document, which is then DROPPED (dead
 * letter, error "request_too_large"); a whole-request RETRY or CONFIG stops
 * the flush, and every record not yet judged gets that verdict.
 * An item the response does not report (e.g. a body cut short) is RETRIED:
 * a resend of a stored one is a 409.
 * A batch (itself bounded by --batch-bytes) is sent as requests of at most
 * ES_MAX_ITEMS documents, and before each request the HTTP client's response
 * cap is raised to ES_RESP_PER_ITEM bytes per document (at least http.c's
 * default, at most ES_RESP_MAX): with filter_path the response holds only
 * statuses and errors, 25 bytes for a stored item, about 190 for a 409, so a
 * whole response fits unless many items carry long error reasons. Should a
 * response still be cut, the items it does not report are RETRIED: correct,
 * since a stored document comes back 409, only slower. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#include "jsonw.h"
#include "array.h"
#include "clock.h"
#include "fdio.h"
#include "log.h"
#include "timefmt.h"
#include "logship/redact.h"
#include "logship/out/es_bulk.h"
#include "logship/out/event.h"
#include "logship/out/es_status.h"
#include "logship/out/gzip.h"
#include "logship/out/http.h"
#include "logship/core/output.h"
#include "logship/out/out_elasticsearch.h"

#define ES_MAX_ITEMS 2048                /* documents per _bulk request */
#define ES_RESP_PER_ITEM 512             /* response bytes budgeted per document */
#define ES_RESP_MAX ((size_t)ES_MAX_ITEMS * ES_RESP_PER_ITEM) /* 1 MiB */
_Static_assert(ES_RESP_MAX <= LS_HTTP_BODY_MAX_LIMIT, "the response cap must be one http.c accepts");
_Static_assert(ES_RESP_MAX >= LS_HTTP_BODY_MAX, "the response cap must not shrink below http.c's default");
#define ES_BODY_MAX (64u << 20)
#define ES_FILTER "filter_path=errors,items.*.status,items.*.error.type,items.*.error.reason"

/* Elasticsearch's options (config.c reads this table; the values land in struct ls_es_settings). */
static const struct cfg_row options[] = {
    CFG_ROW(struct ls_es_settings, urls, "elasticsearch", CFG_LIST, NULL, 0, 0, NULL, "URL",
              "Elasticsearch base URL for _bulk (repeatable)."),
    CFG_ROW(struct ls_es_settings, index, "es-index", CFG_STR, "logs-hello-default", 0, 0, NULL, "NAME",
              "Elasticsearch data stream or index (pattern)."),
    CFG_ROW(struct ls_es_settings, dead_letter, "dead-letter", CFG_STR, NULL, 0, 0, NULL, "PATH",
              "NDJSON file for documents Elasticsearch rejected (else dropped and counted)."),
};

static const struct ls_output_auth auth = {
    .prefix = "es",
    .title = "Elasticsearch",
    .fields = LS_AUTH_BIT(LS_AUTH_USERNAME) | LS_AUTH_BIT(LS_AUTH_PASSWORD) | LS_AUTH_BIT(LS_AUTH_PASSWORD_FILE) |
              LS_AUTH_BIT(LS_AUTH_API_KEY) | LS_AUTH_BIT(LS_AUTH_API_KEY_FILE) | LS_AUTH_BIT(LS_AUTH_CA_FILE) |
              LS_AUTH_BIT(LS_AUTH_CERT) | LS_AUTH_BIT(LS_AUTH_KEY),
};

static const struct ls_es_settings defaults;

struct es_out {
    struct ls_http *http;
    char  *url;             /* .../[<index>/]_bulk?filter_path=... */
    char   index[ES_BULK_INDEX_MAX];
    int    index_dated;     /* the pattern has % conversions */
    int    compress;
    char  *dead_letter;
    int    dl_fd;
    char   name[64];
    buf_t  body, gz, dl;
    struct ls_gzip gz_state;  /* request-body compressor, reused across requests */
    struct ls_es_bulk_item items[ES_MAX_ITEMS];
    enum ls_verdict *v;     /* verdicts for the batch being flushed */
    size_t vcap;
    /* per flush */
    int    stop;            /* a whole-request failure: judge nothing more */
    int    config;          /* a whole request answered 401/403/404/407/3xx */
    const char *fix;        /* the first configuration error's remedy (static) */
    int    last_status;
    int    last_down;      /* the last request's row: the cluster is not serving (no answer, 5xx) */
    int64_t retry_after_ms;
    char   reason[64];      /* first retry or drop reason seen */
    char   drop_reason[64]; /* first drop reason: wins, so drops are counted under it */
    char   detail[1024];
    char   cfg_reason[64];  /* first configuration error: its metric reason and text */
    char   cfg_detail[1024];
    size_t duplicates, rejected;
    uint64_t total_duplicates;
};

static void es_destroy(void *ctx)
{
    struct es_out *o = ctx;
    if (!o)
        return;
    if (o->http)
        ls_http_free(o->http);
    ls_gzip_end(&o->gz_state);
    if (o->dl_fd >= 0)
        close(o->dl_fd);
    free(o->url);
    free(o->dead_letter);
    free(o->v);
    buf_free(&o->body);
    buf_free(&o->gz);
    buf_free(&o->dl);
    free(o);
}

static void *es_create(const struct ls_output_conf *conf, char *err, size_t errlen)
{
    struct es_out *o = calloc(1, sizeof(*o));
    if (!o) {
        snprintf(err, errlen, "elasticsearch: out of memory");
        return NULL;
    }
    o->dl_fd = -1;
    buf_init(&o->body, ES_BODY_MAX);
    buf_init(&o->gz, ES_BODY_MAX);
    buf_init(&o->dl, ES_BODY_MAX);
    buf_t u;   /* the URL being built; freed at out: */
    buf_init(&u, 4096);
    snprintf(o->name, sizeof(o->name), "%s", conf->name && *conf->name ? conf->name : "elasticsearch");
    if (!conf->url || (strncmp(conf->url, "http://", 7) != 0 && strncmp(conf->url, "https://", 8) != 0)) {
        char safe[512];
        snprintf(err, errlen, "elasticsearch: URL must start with http:// or https:// (got '%s')",
                 ls_redact_url(conf->url ? conf->url : "", safe, sizeof(safe)));
        goto out;
    }
    const struct ls_es_settings *own = conf->settings ? conf->settings : &defaults;
    const char *pattern = own->index && *own->index ? own->index : ES_BULK_DEFAULT_INDEX;
    if (ls_es_bulk_index_check(pattern, err, errlen) != 0)
        goto out;
    snprintf(o->index, sizeof(o->index), "%s", pattern);
    o->index_dated = strchr(pattern, '%') ? 1 : 0;
    o->compress = conf->compress;
    /* URL: base + /<index>/_bulk (a fixed target: actions need no _index) or
     * /_bulk (a dated pattern: each action names its index), + filter_path so
     * that responses carry only statuses and errors */
    size_t ul = strlen(conf->url);
    while (ul > 0 && conf->url[ul - 1] == '/')
        ul--;
    const char *q = memchr(conf->url, '?', ul);
    if (q) {
        snprintf(err, errlen, "elasticsearch: URL must not carry a query string");
        goto out;
    }
    if (ul >= 6 && memcmp(conf->url + ul - 6, "/_bulk", 6) == 0)
        ul -= 6;
    if (buf_add(&u, conf->url, ul) ||
        (!o->index_dated && (buf_addc(&u, '/') || buf_adds(&u, o->index))) ||
        buf_adds(&u, "/_bulk?" ES_FILTER)) {
        snprintf(err, errlen, "elasticsearch: URL too long");
        goto out;
    }
    o->url = buf_steal(&u, NULL);
    if (own->dead_letter && *own->dead_letter) {
        o->dead_letter = strdup(own->dead_letter);
        if (!o->dead_letter) {
            snprintf(err, errlen, "elasticsearch: out of memory");
            goto out;
        }
        o->dl_fd = open(own->dead_letter, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (o->dl_fd < 0) {
            snprintf(err, errlen, "elasticsearch: dead letter file %s: %s", own->dead_letter, strerror(errno));
            goto out;
        }
    }
    o->http = ls_http_new(conf, err, errlen);
    if (!o->http)
        goto out;
    return o;
out:
    buf_free(&u);
    es_destroy(o);
    return NULL;
}

static const char *index_for(struct es_out *o, const struct ls_record *r, char *tmp, size_t n)
{
    if (!o->index_dated)
        return o->index;
    if (ls_es_bulk_index_name(o->index, r->ts_ns, tmp, n) < 0)
        return o->index; /* checked at create */
    return tmp;
}

static void set_reason(struct es_out *o, const char *reason, const char *detail, size_t dlen)
{
    if (!o->reason[0])
        snprintf(o->reason, sizeof(o->reason), "%s", reason);
    if (!o->detail[0] && detail) {
        if (dlen >= sizeof(o->detail))
            dlen = sizeof(o->detail) - 1;
        memcpy(o->detail, detail, dlen);
        o->detail[dlen] = '\0';
    }
}

/* Remember the first per-item configuration error (its reason, its text and
 * the remedy): it is what the engine logs while it keeps probing. */
static void config_reason(struct es_out *o, const struct ls_es_status_class *c, const char *type,
                          const char *reason)
{
    if (o->cfg_reason[0])
        return;
    snprintf(o->cfg_reason, sizeof(o->cfg_reason), "%s", c->reason);
    snprintf(o->cfg_detail, sizeof(o->cfg_detail), "%s: %s", type && *type ? type : "error", reason);
    if (!o->fix)
        o->fix = c->fix;
}

/* Record a rejected document: verdict DROP, counted under `why` (the first
 * drop's names the flush's), and a dead-letter line when a file is configured
 * (written after the flush, fsync'ed, before returning). */
static void reject(struct es_out *o, const struct ls_record *r, size_t i, const char *why, int status,
                   const char *type, const char *reason)
{
    o->v[i] = LS_DROP;
    o->rejected++;
    if (!o->drop_reason[0])
        snprintf(o->drop_reason, sizeof(o->drop_reason), "%s", why);
    set_reason(o, o->drop_reason, reason, strlen(reason));
    if (o->dl_fd < 0)
        return;
    size_t mark = o->dl.len;
    char ts[TIMEFMT_RFC3339_NS_LEN + 1], id[ES_BULK_ID_LEN + 1], tmp[ES_BULK_INDEX_MAX];
    timefmt_rfc3339_ns(ts, clock_real_ns());
    ls_es_docid(r, id);
    if (buf_adds(&o->dl, "{") || jsonw_kv_str(&o->dl, "time", ts) ||
        jsonw_kv_str(&o->dl, "output", o->name) ||
        jsonw_kv_str(&o->dl, "index", index_for(o, r, tmp, sizeof(tmp))) ||
        jsonw_kv_str(&o->dl, "_id", id) || jsonw_kv_int(&o->dl, "status", status) ||
        buf_adds(&o->dl, ",\"error\":{") || jsonw_kv_str(&o->dl, "type", type) ||
        jsonw_kv_str(&o->dl, "reason", reason) || buf_adds(&o->dl, "},\"document\":") ||
        ls_event_encode(&o->dl, r) || buf_adds(&o->dl, "}\n")) {
        buf_truncate(&o->dl, mark);
        o->v[i] = LS_RETRY;   /* cannot keep it: do not acknowledge it */
        o->rejected--;
    }
}

/* Write the pending dead letters and fsync. On failure, turn those DROPs
 * back into RETRYs (the data must not be acknowledged unsaved). */
static void flush_dead_letters(struct es_out *o, size_t n)
{
    if (o->dl_fd < 0 || o->dl.len == 0)
        return;
    int ok = fdio_write_all(o->dl_fd, o->dl.p, o->dl.len, NULL, NULL) == 0;
    if (ok && fsync(o->dl_fd) != 0)
        ok = 0;
    if (!ok) {
        log_kv(LOGL_ERROR, "dead letter write failed; rejected documents will be retried", "output", o->name,
               "path", o->dead_letter, "error", strerror(errno), NULL);
        for (size_t i = 0; i < n; i++)
            if (o->v[i] == LS_DROP)
                o->v[i] = LS_RETRY;
        snprintf(o->reason, sizeof(o->reason), "dead_letter_failed");
    }
    buf_reset(&o->dl);
}

static void mark_range(struct es_out *o, size_t lo, size_t hi, enum ls_verdict v)
{
    for (size_t i = lo; i < hi; i++)
        o->v[i] = v;
}

/* The response body cap for a request of n documents: ES_RESP_PER_ITEM each,
 * within [LS_HTTP_BODY_MAX, ES_RESP_MAX]. */
static size_t resp_cap(size_t n)
{
    size_t cap = n <= ES_RESP_MAX / ES_RESP_PER_ITEM ? n * ES_RESP_PER_ITEM : ES_RESP_MAX;
    return cap < LS_HTTP_BODY_MAX ? LS_HTTP_BODY_MAX : cap;
}

/* The counter label of a document dropped for its size. */
#define TOO_LARGE "too_large"

/* A 2xx _bulk answer for recs[lo, hi): judge each item by the item table. */
static void read_items(struct es_out *o, const struct ls_record *recs, size_t lo, size_t hi, const char *rb,
                       size_t rbl)
{
    struct ls_es_bulk_resp br;
    size_t n = hi - lo;
    if (ls_es_bulk_parse_response(rb, rbl, o->items, n, &br) != 0) {
        set_reason(o, "bad_response", rb, rbl);
        mark_range(o, lo, hi, LS_RETRY);
        return;
    }
    if (br.nitems < n && br.complete && br.errors == 0 && br.total == 0) {
        /* filter_path dropped every item (no errors): all stored */
        mark_range(o, lo, hi, LS_DONE);
        return;
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = lo + k;
        int s = k < br.nitems ? o->items[k].status : 0;
        struct ls_es_status_class c = ls_es_status_item(s, s ? o->items[k].type : NULL);
        o->v[i] = c.verdict;
        if (c.duplicate)
            o->duplicates++;
        if (c.verdict == LS_DROP) {
            const char *why = c.action == LS_ES_TOO_LARGE ? TOO_LARGE : "rejected";
            reject(o, &recs[i], i, why, s, o->items[k].type, o->items[k].reason);
        } else if (c.verdict == LS_RETRY) {
            if (s)
                set_reason(o, c.reason, o->items[k].reason, strlen(o->items[k].reason));
            else
                set_reason(o, c.reason, rb, rbl);
        } else if (c.verdict == LS_CONFIG) {
            config_reason(o, &c, o->items[k].type, o->items[k].reason);
        }
    }
}

/* A whole-request answer that is not about items: the request's verdict
 * applies to every document of recs[lo, hi); a retry or a configuration error
 * stops the flush. */
static void judge_request(struct es_out *o, const struct ls_record *recs, size_t lo, size_t hi, long st,
                          const struct ls_es_status_class *c, const char *rb, size_t rbl)
{
    switch (c->verdict) {
    case LS_CONFIG:
        if (!o->fix)
            o->fix = c->fix;
        o->config = 1;
        /* fall through */
    case LS_RETRY:
        set_reason(o, c->reason, rb, rbl);
        mark_range(o, lo, hi, c->verdict);
        o->stop = 1;
        return;
    default: {
        char type[32];
        snprintf(type, sizeof(type), "http_%ld", st);
        char reason[256];
        size_t n = rbl < sizeof(reason) - 1 ? rbl : sizeof(reason) - 1;
        memcpy(reason, rb, n);
        reason[n] = '\0';
        for (size_t i = lo; i < hi; i++)
            reject(o, &recs[i], i, "rejected", (int)st, type, reason);
        return;
    }
    }
}

/* Encode recs[lo, hi) into o->body. Returns where the encoding stopped (hi
 * when everything fit the request cap). */
static size_t encode_range(struct es_out *o, const struct ls_record *recs, size_t lo, size_t hi)
{
    buf_reset(&o->body);
    char tmp[ES_BULK_INDEX_MAX];
    size_t encoded_hi = lo;
    for (size_t i = lo; i < hi; i++) {
        const char *ix = o->index_dated ? index_for(o, &recs[i], tmp, sizeof(tmp)) : NULL;
        if (ls_es_bulk_encode_pair(&o->body, ix, &recs[i]) != 0)
            break;
        encoded_hi = i + 1;
    }
    return encoded_hi;
}

/* POST o->body (gzip'ed when configured) for n documents. Returns ls_http_post's result. */
static int post_body(struct es_out *o, size_t n, struct ls_http_response *resp)
{
    const char *hdrs[3] = { "Content-Type: application/x-ndjson", NULL, NULL };
    const void *body;
    size_t blen;
    ls_gzip_request(&o->gz_state, o->compress, &o->body, &o->gz, &body, &blen, &hdrs[1]);
    if (ls_http_set_body_max(o->http, resp_cap(n)) != 0) {
        /* cannot happen (the bounds are asserted at the top); the previous cap stays, and
         * items a cut response leaves out are retried */
    }
    memset(resp, 0, sizeof(*resp));
    return ls_http_post(o->http, o->url, hdrs, body, blen, resp);
}

/* Send recs[lo, hi) as one _bulk request and judge each record. Recurses on 413. */
static void send_range(struct es_out *o, const struct ls_record *recs, size_t lo, size_t hi)
{
    if (o->stop) {
        mark_range(o, lo, hi, o->config ? LS_CONFIG : LS_RETRY);
        return;
    }
    size_t encoded_hi = encode_range(o, recs, lo, hi);
    if (encoded_hi == lo) {
        /* one document alone exceeds the request cap */
        reject(o, &recs[lo], lo, TOO_LARGE, 413, "request_too_large", "document exceeds the request size cap");
        if (lo + 1 < hi)
            send_range(o, recs, lo + 1, hi);
        return;
    }
    if (encoded_hi < hi) {
        send_range(o, recs, lo, encoded_hi);
        send_range(o, recs, encoded_hi, hi);
        return;
    }
    struct ls_http_response resp;
    int rc = post_body(o, hi - lo, &resp);
    o->last_status = rc == 0 ? (int)resp.status : 0;
    o->last_down = 1;
    if (rc != 0) {
        set_reason(o, resp.timed_out ? "timeout" : "connection", resp.error, strlen(resp.error));
        mark_range(o, lo, hi, LS_RETRY);
        o->stop = 1;
        goto out;
    }
    const char *rb = resp.body.p ? resp.body.p : "";
    if (resp.retry_after_ms >= 0 && resp.retry_after_ms > o->retry_after_ms)
        o->retry_after_ms = resp.retry_after_ms;
    struct ls_es_status_class c = ls_es_status_request(resp.status);
    o->last_down = c.down;
    switch (c.action) {
    case LS_ES_READ_ITEMS:
        read_items(o, recs, lo, hi, rb, resp.body.len);
        break;
    case LS_ES_TOO_LARGE:
        if (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            ls_http_response_free(&resp);
            send_range(o, recs, lo, mid);
            send_range(o, recs, mid, hi);
            return;
        }
        reject(o, &recs[lo], lo, TOO_LARGE, 413, "request_too_large", "a single document was answered 413");
        break;
    default:
        judge_request(o, recs, lo, hi, resp.status, &c, rb, resp.body.len);
        break;
    }
out:
    ls_http_response_free(&resp);
}

static enum ls_verdict es_flush(void *ctx, const struct ls_batch *b, struct ls_flush_result *res)
{
    struct es_out *o = ctx;
    size_t n = b->n;
    if (array_grow((void **)&o->v, &o->vcap, n, sizeof(*o->v), 0) != 0) {
        snprintf(res->reason, sizeof(res->reason), "oom");
        res->http_status = 0;
        res->retry_after_ms = -1;
        return LS_RETRY;
    }
    o->stop = o->config = o->last_status = 0;
    o->last_down = 1;   /* no answer yet */
    o->fix = NULL;
    o->retry_after_ms = -1;
    o->reason[0] = o->drop_reason[0] = o->detail[0] = o->cfg_reason[0] = o->cfg_detail[0] = '\0';
    o->duplicates = o->rejected = 0;
    buf_reset(&o->dl);

    for (size_t lo = 0; lo < n; lo += ES_MAX_ITEMS)
        send_range(o, b->recs, lo, lo + ES_MAX_ITEMS < n ? lo + ES_MAX_ITEMS : n);
    flush_dead_letters(o, n);

    size_t done = 0, retry = 0, drop = 0, config = 0;
    for (size_t i = 0; i < n; i++) {
        if (o->v[i] == LS_DONE)
            done++;
        else if (o->v[i] == LS_DROP)
            drop++;
        else if (o->v[i] == LS_CONFIG)
            config++;
        else
            retry++;
    }
    char num[32];
    if (o->duplicates) {
        o->total_duplicates += o->duplicates;
        snprintf(num, sizeof(num), "%zu", o->duplicates);
        log_kv(LOGL_INFO, "documents already stored (409 on create), counted as delivered", "output", o->name,
               "duplicates", num, NULL);
    }
    if (drop) {
        snprintf(num, sizeof(num), "%zu", drop);
        log_kv(LOGL_WARN, o->dl_fd >= 0 ? "documents rejected, written to the dead letter file"
                                       : "documents rejected and dropped (no --dead-letter)",
               "output", o->name, "count", num, "error", o->detail, NULL);
    }
    res->http_status = o->last_status;
    res->backend_up = !o->last_down;
    res->retry_after_ms = o->retry_after_ms;
    res->dropped = drop;
    res->duplicates = o->duplicates;
    res->fix = o->fix;
    /* one reason labels both the drop and the retry counters of a partial
     * result: the drop's, so that logship_output_dropped_total says why; a
     * configuration error's text wins the detail, it is what must be fixed */
    snprintf(res->reason, sizeof(res->reason), "%s",
             drop && o->drop_reason[0] ? o->drop_reason : o->cfg_reason[0] && !o->reason[0] ? o->cfg_reason
                                                                                             : o->reason);
    snprintf(res->detail, sizeof(res->detail), "%s", o->cfg_detail[0] ? o->cfg_detail : o->detail);
    if (config && done == 0 && drop == 0)
        return LS_CONFIG;
    if (done == n)
        return LS_DONE;
    if (retry == n)
        return LS_RETRY;
    if (drop == n)
        return LS_DROP;
    if (res->item) {
        memcpy(res->item, o->v, n * sizeof(*o->v));
        return LS_PARTIAL;
    }
    /* no per-record channel: resend all (stored ones come back 409) */
    return config ? LS_CONFIG : retry ? LS_RETRY : LS_DROP;
}

const struct ls_output_ops ls_output_elasticsearch = {
    .kind = "elasticsearch",
    .options = options,
    .n_options = sizeof(options) / sizeof(options[0]),
    .settings_size = sizeof(struct ls_es_settings),
    .schemes = ls_output_http_schemes,
    .auth = &auth,
    .create = es_create,
    .flush = es_flush,
    .destroy = es_destroy,
    .resend_soon_on_progress = 1,
};
