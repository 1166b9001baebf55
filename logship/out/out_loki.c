/* out_loki: the Loki push output: encode a batch, POST it to /loki/api/v1/push one stream per push, and map Loki's
 * answers to per-entry verdicts.
 *
 * ONE STREAM PER PUSH. Loki 2.8 and 2.9 report only the last stream of a push:
 * an ingester rejection (per-stream rate limit, entry too far behind) of any
 * earlier stream is answered 204 and the entries are gone without a word. So
 * every push carries one stream, and its answer is about that stream alone.
 * Measured with bench/logship.py's input (1M lines, 2 streams, grouped vs one
 * stream per push in the same run, bench/README.md): twice the requests (337 →
 * 674), CPU 1.09-1.15 vs 1.06-1.17 CPU-s per million lines, i.e. noise.
 *
 * NO BLIND REPLAYS. Loki stores replays (docs/backends.md), so entries the
 * engine marks maybe-sent (b->n_maybe_sent: sent, never acknowledged) are first
 * looked up with the query API (loki_query.c) and only the missing ones are
 * sent; a per-stream 429 resends only what Loki ignored. When the query API
 * cannot answer, the entries are resent and counted in res->maybe_duplicates.
 *
 * The engine bounds a batch by raw bytes; this output bounds what Loki
 * decodes: when a stream's encoding is larger than conf->batch_bytes (JSON
 * escaping can grow a line six-fold), it goes as several pushes, each in time
 * order. The status table is in loki_resp.c. No retries and no sleeps here:
 * the engine owns backoff. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "array.h"
#include "clock.h"
#include "logship/redact.h"
#include "logship/out/http.h"
#include "logship/out/loki_encode.h"
#include "logship/out/loki_query.h"
#include "logship/out/loki_resp.h"
#include "logship/core/output.h"
#include "logship/out/out_loki.h"

#define DEFAULT_BATCH_BYTES (1024 * 1024)
#define BODY_MAX ((size_t)64 << 20)
#define PUSH_PATH "/loki/api/v1/push"
#define LISTED_MAX 32   /* Loki lists at most max_returned_stream_errors (10) entries */

/* Loki's options (config.c reads this table; the values land in struct ls_loki_settings). */
static const char *const encodings[] = { "protobuf", "json", NULL };   /* enum ls_loki_encoding */

static const struct ls_option options[] = {
    LS_OPTION(struct ls_loki_settings, urls, "loki", CFG_LIST, NULL, 0, 0, NULL, "URL",
              "Loki base URL, e.g. http://127.0.0.1:3100 (repeatable: one output each)."),
    LS_OPTION(struct ls_loki_settings, encoding, "loki-encoding", CFG_ENUM, "protobuf", 0, 0, encodings,
              "protobuf|json", "Loki push body: protobuf+snappy or JSON+gzip."),
    LS_HEADER_OPTION(struct ls_loki_settings, tenant, "tenant", "ID", "Loki tenant (X-Scope-OrgID header)."),
};

static const struct ls_output_auth auth = {
    .prefix = "loki",
    .title = "Loki",
    .fields = LS_AUTH_BIT(LS_AUTH_USERNAME) | LS_AUTH_BIT(LS_AUTH_PASSWORD) | LS_AUTH_BIT(LS_AUTH_PASSWORD_FILE) |
              LS_AUTH_BIT(LS_AUTH_BEARER_TOKEN_FILE) | LS_AUTH_BIT(LS_AUTH_CA_FILE) | LS_AUTH_BIT(LS_AUTH_CERT) |
              LS_AUTH_BIT(LS_AUTH_KEY),
    .help = {
        [LS_AUTH_USERNAME] = "basic auth user; any --loki-* credential replaces the shared ones (\"\" = none).",
        [LS_AUTH_CA_FILE] = "CA bundle (replaces --ca-file; \"\" = system CAs).",
    },
};

static const struct ls_loki_settings defaults = { .encoding = LS_LOKI_PROTOBUF };

struct loki {
    const struct ls_output_conf *conf;
    struct ls_http *http;
    struct ls_loki_enc *enc;
    char *url;
    size_t limit;                 /* bound on one push's decoded size: batch_bytes, or less
                                   * once a proxy answered 413 (learned, kept) */
    char *hdr_tenant;             /* "X-Scope-OrgID: ..." or NULL */
    const char *headers[5];       /* the push's */
    const char *qheaders[2];      /* the query's: the tenant */
    char hdr_ctype[64], hdr_cenc[64];
    buf_t body;
    buf_t answer;                 /* the last push's whole response body (detail keeps 1 KB) */
    struct ls_loki_query *query;  /* the query API client, for maybe-sent and partial answers */
    /* per-flush scratch, grown to the largest batch */
    struct ls_record *sub;        /* the records still to send */
    uint32_t *map;                /* sub[i] is batch record map[i] */
    unsigned char *skip;          /* batch record already held by Loki */
    unsigned char *unchk;         /* batch record maybe-sent and not checked (query API down) */
    unsigned char *found;         /* ls_loki_query_held's answer */
    size_t cap;
};

static void loki_destroy(void *ctx)
{
    struct loki *l = ctx;
    if (!l)
        return;
    ls_http_free(l->http);
    ls_loki_query_free(l->query);
    ls_loki_enc_free(l->enc);
    free(l->sub);
    free(l->map);
    free(l->skip);
    free(l->unchk);
    free(l->found);
    free(l->url);
    free(l->hdr_tenant);
    buf_free(&l->body);
    buf_free(&l->answer);
    free(l);
}

/* <base>/loki/api/v1/push, accepting a URL that already ends in the push path. */
static char *push_url(const char *base)
{
    size_t n = strlen(base), pl = strlen(PUSH_PATH);
    if (n >= pl && strcmp(base + n - pl, PUSH_PATH) == 0)
        return strdup(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    char *u = malloc(n + pl + 1);
    if (!u)
        return NULL;
    memcpy(u, base, n);
    memcpy(u + n, PUSH_PATH, pl + 1);
    return u;
}

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static void *loki_create(const struct ls_output_conf *conf, char *err, size_t errlen)
{
    struct loki *l = calloc(1, sizeof(*l));
    enum ls_loki_encoding enc;
    size_t h = 0;

    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->conf = conf;
    buf_init(&l->body, BODY_MAX);
    buf_init(&l->answer, LS_HTTP_BODY_MAX);
    if (!conf->url || !*conf->url) {
        snprintf(err, errlen, "loki: no URL given");
        goto out;
    }
    if (strncmp(conf->url, "http://", 7) != 0 && strncmp(conf->url, "https://", 8) != 0) {
        char safe[512];
        snprintf(err, errlen, "loki: URL must start with http:// or https://: %s",
                 ls_redact_url(conf->url, safe, sizeof(safe)));
        goto out;
    }
    const struct ls_loki_settings *own = conf->settings ? conf->settings : &defaults;
    if (own->encoding != LS_LOKI_PROTOBUF && own->encoding != LS_LOKI_JSON) {
        snprintf(err, errlen, "loki: unknown encoding %d (protobuf or json)", own->encoding);
        goto out;
    }
    enc = (enum ls_loki_encoding)own->encoding;
    l->limit = conf->batch_bytes ? (size_t)conf->batch_bytes : DEFAULT_BATCH_BYTES;
    if (!(l->url = push_url(conf->url)) || !(l->enc = ls_loki_enc_new(enc, conf->compress))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (!(l->http = ls_http_new(conf, err, errlen)))
        goto out;
    snprintf(l->hdr_ctype, sizeof(l->hdr_ctype), "Content-Type: %s", ls_loki_content_type(l->enc));
    l->headers[h++] = l->hdr_ctype;
    if (ls_loki_content_encoding(l->enc)) {
        snprintf(l->hdr_cenc, sizeof(l->hdr_cenc), "Content-Encoding: %s", ls_loki_content_encoding(l->enc));
        l->headers[h++] = l->hdr_cenc;
    }
    if (own->tenant && *own->tenant) {
        if (has_ctl(own->tenant)) {
            snprintf(err, errlen, "loki: the tenant contains control characters");
            goto out;
        }
        size_t tl = strlen(own->tenant);
        static const char pre[] = "X-Scope-OrgID: ";
        if (!(l->hdr_tenant = malloc(sizeof(pre) + tl))) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        memcpy(l->hdr_tenant, pre, sizeof(pre) - 1);
        memcpy(l->hdr_tenant + sizeof(pre) - 1, own->tenant, tl + 1);
        l->headers[h++] = l->hdr_tenant;
    }
    l->headers[h] = NULL;
    l->qheaders[0] = l->hdr_tenant;
    l->qheaders[1] = NULL;
    if (!(l->query = ls_loki_query_new(conf, l->qheaders, err, errlen)))
        goto out;
    return l;
out:
    loki_destroy(l);
    return NULL;
}


/* Encode order[from..to) into l->body, shrinking `to` until the decoded size
 * (*raw) fits l->limit (a single record is sent whatever its size: Loki judges
 * it). Returns 0, or -1 when even one record cannot be encoded (err says why). */
static int encode_fitting(struct loki *l, const struct ls_record *recs, size_t from, size_t *to,
                          size_t *raw, char *err, size_t errlen)
{
    for (;;) {
        int rc = ls_loki_encode_range(l->enc, recs, from, *to, &l->body, raw, err, errlen);
        if (rc == 0 && (*raw <= l->limit || *to - from == 1))
            return 0;
        if (*to - from == 1)
            return -1;
        *to = from + (*to - from) / 2;
    }
}

static void copy_outcome(struct ls_flush_result *dst, const struct ls_flush_result *src)
{
    dst->http_status = src->http_status;
    dst->retry_after_ms = src->retry_after_ms;
    memcpy(dst->reason, src->reason, sizeof(dst->reason));
    memcpy(dst->detail, src->detail, sizeof(dst->detail));
}

/* What one flush adds up: per-entry verdicts go to res->item, counts here. */
struct tally {
    size_t ndone, ndrop, nwait;
    enum ls_verdict wait_verdict;
    struct ls_flush_result drop;   /* reason and detail of the drops */
    int mixed;                     /* drops for more than one reason */
};

static void add_drop(struct tally *t, const struct ls_flush_result *one, const char *reason, size_t n)
{
    if (n == 0)
        return;
    if (t->ndrop == 0) {
        copy_outcome(&t->drop, one);
        snprintf(t->drop.reason, sizeof(t->drop.reason), "%s", reason);
    } else if (strcmp(t->drop.reason, reason) != 0) {
        t->mixed = 1;
    }
    t->ndrop += n;
}

static const char *out_name(const struct loki *l)
{
    return l->conf->name ? l->conf->name : "loki";
}

static int grow_scratch(struct loki *l, size_t n)
{
    size_t c1 = l->cap, c2 = l->cap, c3 = l->cap, c4 = l->cap, c5 = l->cap;
    if (array_grow((void **)&l->sub, &c1, n, sizeof(*l->sub), 0) != 0 ||
        array_grow((void **)&l->map, &c2, n, sizeof(*l->map), 0) != 0 ||
        array_grow((void **)&l->skip, &c3, n, sizeof(*l->skip), 0) != 0 ||
        array_grow((void **)&l->found, &c4, n, sizeof(*l->found), 0) != 0 ||
        array_grow((void **)&l->unchk, &c5, n, sizeof(*l->unchk), 0) != 0)
        return -1;
    l->cap = c1;
    return 0;
}

/* POST the encoded body and read the answer into one. */
static enum ls_verdict post(struct loki *l, size_t nentries, struct ls_flush_result *one)
{
    struct ls_http_response resp;
    struct ls_loki_answer a;

    int rc = ls_http_post(l->http, l->url, l->headers, l->body.p, l->body.len, &resp);
    memset(&a, 0, sizeof(a));
    a.status = rc == 0 ? resp.status : 0;
    a.body = resp.body.p;
    a.body_len = resp.body.len;
    a.retry_after_ms = resp.retry_after_ms;
    a.timed_out = resp.timed_out;
    a.error = resp.error;
    enum ls_verdict v = ls_loki_verdict(&a, nentries, one);
    buf_reset(&l->answer);
    if (resp.body.len && buf_add(&l->answer, resp.body.p, resp.body.len) != 0)
        buf_reset(&l->answer);   /* cannot happen (same cap); an empty answer reads as unknown */
    ls_http_response_free(&resp);
    return v;
}

/* Ask Loki which of sub[order[from..to)] it holds: l->found[k] for order[from + k].
 * 0 when it answered, -1 (logged) when it could not. */
static int held(struct loki *l, const struct ls_record *recs, const uint32_t *order, size_t from, size_t to)
{
    char err[256];
    if (ls_loki_query_held(l->query, l->enc, recs, order + from, to - from, l->found, err, sizeof(err)) == 0)
        return 0;
    log_kv(LOGL_WARN, "Loki's query API cannot say which entries Loki holds", "output", out_name(l),
           "error", err, NULL);
    return -1;
}

/* Reasons Loki's distributor gives per entry (and names only the last of). */
static int per_entry_reason(const char *r)
{
    return strcmp(r, "too_old") == 0 || strcmp(r, "too_new") == 0 || strcmp(r, "line_too_long") == 0;
}

/* A 400 for sub[order[from..to)]: count what Loki refused and why. The
 * ingester's 400 says "N out of M", M counting only what passed the
 * distributor; the distributor's 400 carries its last message only, so the
 * refused entries are found with the query API (else estimated by Loki's
 * default limits) and, when they broke different limits, counted as mixed. */
static void judge_400(struct loki *l, const uint32_t *order, size_t from, size_t to,
                      const struct ls_flush_result *one, struct tally *t)
{
    size_t pushed = to - from, nd = 0;
    const char *reason = one->reason;
    uint64_t n, m;
    int64_t now = clock_real_ns();

    if (ls_loki_parse_ignored(l->answer.p, l->answer.len, &n, &m) == 0 && m <= pushed) {
        nd = (size_t)n + (pushed - (size_t)m);
        if (n > 0 && pushed > m)
            reason = "mixed";
    } else if (pushed == 1 || !(per_entry_reason(reason) || strcmp(reason, "other") == 0 ||
                                strcmp(reason, "too_far_behind") == 0)) {
        nd = pushed;   /* bad body, no labels: the whole push (one stream) was refused */
    } else {
        /* The distributor names the last refused entry's reason only: count what
         * Loki does not hold, and call it mixed when those broke different limits. */
        const char *cls = NULL;
        int several = 0, asked = held(l, l->sub, order, from, to) == 0;
        for (size_t k = 0; k < pushed; k++) {
            const char *c = ls_loki_classify(&l->sub[order[from + k]], now);
            if (asked ? l->found[k] : !c)
                continue;
            nd++;
            if (!c || (cls && strcmp(c, cls) != 0))
                several = 1;
            if (c)
                cls = c;
        }
        if (!asked && nd == 0) {
            nd = pushed;   /* cannot tell: an upper bound */
            several = 1;
        }
        if (per_entry_reason(reason) && nd > 1 && (several || !cls || strcmp(cls, reason) != 0))
            reason = "mixed";
    }
    if (nd > pushed)
        nd = pushed;
    for (size_t k = from; k < from + nd; k++)
        l->skip[order[k]] = 2; /* marks sub entries dropped, mapped below */
    add_drop(t, one, reason, nd);
    t->ndone += pushed - nd;
}

/* A per-stream 429 for sub[order[from..to)]: Loki stored part of the push.
 * When its body lists every ignored entry and their timestamps name them
 * unambiguously, those are retried; otherwise the query API says which are
 * missing. The rest is done. Marks retried entries 1 in l->found. */
static void judge_partial_429(struct loki *l, const uint32_t *order, size_t from, size_t to)
{
    int64_t listed[LISTED_MAX];
    uint64_t n, m;
    size_t pushed = to - from;
    int exact = 0;

    if (ls_loki_parse_ignored(l->answer.p, l->answer.len, &n, &m) == 0 && m == pushed) {
        size_t nl = ls_loki_parse_listed(l->answer.p, l->answer.len, listed, LISTED_MAX);
        if (nl == n && n <= LISTED_MAX) {
            /* each listed timestamp must name exactly as many of our entries */
            exact = 1;
            memset(l->found, 0, pushed);
            for (size_t i = 0; i < nl && exact; i++) {
                size_t want = 0, have = 0;
                for (size_t j = 0; j < nl; j++)
                    want += listed[j] == listed[i];
                for (size_t k = 0; k < pushed; k++)
                    if (l->sub[order[from + k]].ts_ns == listed[i]) {
                        have++;
                        l->found[k] = 1;
                    }
                exact = want == have;
            }
        }
    }
    if (exact)
        return;
    if (held(l, l->sub, order, from, to) == 0) {
        for (size_t k = 0; k < pushed; k++)
            l->found[k] = !l->found[k];
        return;
    }
    memset(l->found, 1, pushed);   /* unknown: retry all; the engine marks them maybe-sent */
}

/* Entries the engine marks maybe-sent: look them up, stream by stream; set
 * l->skip[i] = 1 for those Loki holds and 3 for those it could not check.
 * Returns how many Loki holds. */
static size_t check_maybe_sent(struct loki *l, const struct ls_batch *b, size_t nm)
{
    size_t norder, nheld = 0;
    if (ls_loki_group(l->enc, b->recs, nm) != 0) {
        memset(l->skip, 3, nm);
        return 0;
    }
    const uint32_t *order = ls_loki_enc_order(l->enc, &norder);
    for (size_t from = 0, to; from < norder; from = to) {
        to = ls_loki_enc_stream_end(l->enc, from);
        int ok = held(l, b->recs, order, from, to) == 0;
        for (size_t k = from; k < to; k++) {
            if (!ok) {
                l->skip[order[k]] = 3;
            } else if (l->found[k - from]) {
                l->skip[order[k]] = 1;
                nheld++;
            }
        }
    }
    return nheld;
}

/* Say what the check of maybe-sent entries found, once per flush. */
static void log_maybe_sent(const struct loki *l, size_t nm, size_t nheld, size_t nunchecked)
{
    char a[24], c[24], d[24];
    snprintf(a, sizeof(a), "%zu", nm);
    snprintf(c, sizeof(c), "%zu", nheld);
    snprintf(d, sizeof(d), "%zu", nunchecked);
    log_kv(nunchecked ? LOGL_WARN : LOGL_INFO, "checked entries sent before and never acknowledged against Loki",
           "output", out_name(l), "maybe_sent", a, "already_stored", c, "resent_unchecked", d, NULL);
}

static enum ls_verdict loki_flush(void *ctx, const struct ls_batch *b, struct ls_flush_result *res)
{
    struct loki *l = ctx;
    char err[256];
    size_t norder, nsub = 0;
    struct ls_flush_result one;
    struct tally t;

    memset(&t, 0, sizeof(t));
    t.wait_verdict = LS_RETRY;
    if (grow_scratch(l, b->n) != 0) {
        snprintf(res->reason, sizeof(res->reason), "oom");
        snprintf(res->detail, sizeof(res->detail), "out of memory for %zu records", b->n);
        return LS_RETRY;
    }
    memset(l->skip, 0, b->n);
    for (size_t i = 0; i < b->n; i++)
        res->item[i] = LS_DONE;
    size_t nm = b->n_maybe_sent <= b->n ? b->n_maybe_sent : b->n, nheld = 0;
    if (nm > 0)
        nheld = check_maybe_sent(l, b, nm);
    res->duplicates += nheld;
    for (size_t i = 0; i < b->n; i++) {
        l->unchk[i] = l->skip[i] == 3;
        if (l->skip[i] == 1) {
            t.ndone++;
            continue;
        }
        l->sub[nsub] = b->recs[i];
        l->map[nsub++] = (uint32_t)i;
    }
    memset(l->skip, 0, b->n);   /* from here: 2 = sub entry dropped */

    if (ls_loki_group(l->enc, l->sub, nsub) != 0) {
        snprintf(res->reason, sizeof(res->reason), "oom");
        snprintf(res->detail, sizeof(res->detail), "out of memory grouping %zu records", nsub);
        return LS_RETRY;
    }
    const uint32_t *order = ls_loki_enc_order(l->enc, &norder);
    size_t nbad = nsub - norder;
    if (nbad) {
        memset(&one, 0, sizeof(one));
        snprintf(one.detail, sizeof(one.detail), "%zu records carry a label set that is not a valid "
                 "Prometheus label string", nbad);
        for (size_t i = 0; i < nsub; i++)
            if (ls_loki_enc_bad_labels(l->enc, i))
                res->item[l->map[i]] = LS_DROP;
        add_drop(&t, &one, "bad_labels", nbad);
    }

    size_t stop = norder;   /* where a RETRY/CONFIG stopped the flush */
    for (size_t sfrom = 0, send; sfrom < norder && stop == norder; sfrom = send) {
        send = ls_loki_enc_stream_end(l->enc, sfrom);
        /* usually one push per stream; more when its encoding outgrew the limit */
        for (size_t from = sfrom, to; from < send; from = to) {
            enum ls_verdict v;
            size_t raw = 0;
            to = send;
            memset(&one, 0, sizeof(one));
            one.retry_after_ms = -1;
            if (encode_fitting(l, l->sub, from, &to, &raw, err, sizeof(err)) != 0) {
                snprintf(one.detail, sizeof(one.detail), "%s", err);
                l->skip[order[from]] = 2;
                add_drop(&t, &one, "encode_failed", 1);
                continue;
            }
            v = post(l, to - from, &one);
            if (v == LS_DROP && one.http_status == 413 && to - from > 1) {
                /* A proxy in front of Loki limits the body size: send halves
                 * (and remember the smaller bound for later batches). */
                l->limit = raw / 2 > 0 ? raw / 2 : 1;
                log_kv(LOGL_WARN, "Loki (or a proxy) answered 413: sending smaller pushes", "output", out_name(l),
                       NULL);
                to = from;
                continue;
            }
            if (v == LS_DONE) {
                t.ndone += to - from;
            } else if (v == LS_DROP && one.http_status == 400) {
                judge_400(l, order, from, to, &one, &t);
            } else if (v == LS_DROP) {
                for (size_t k = from; k < to; k++)
                    l->skip[order[k]] = 2;
                add_drop(&t, &one, one.reason, to - from);
            } else if (v == LS_RETRY && strcmp(one.reason, "stream_rate_limited") == 0) {
                /* Part stored: retry only the ignored, and the rest of this
                 * stream; other streams have their own limits. */
                judge_partial_429(l, order, from, to);
                for (size_t k = from; k < to; k++) {
                    if (l->found[k - from]) {
                        res->item[l->map[order[k]]] = LS_RETRY;
                        t.nwait++;
                    } else {
                        t.ndone++;
                    }
                }
                for (size_t k = to; k < send; k++)
                    res->item[l->map[order[k]]] = LS_RETRY;
                t.nwait += send - to;
                copy_outcome(res, &one);
                break;
            } else {
                /* RETRY or CONFIG: this push and everything after it waits. */
                stop = from;
                t.wait_verdict = v;
                copy_outcome(res, &one);
                break;
            }
        }
    }
    for (size_t k = stop; k < norder; k++)
        res->item[l->map[order[k]]] = t.wait_verdict;
    t.nwait += norder - stop;
    for (size_t i = 0; i < nsub; i++)
        if (l->skip[i] == 2)
            res->item[l->map[i]] = LS_DROP;
    if (nm > 0) {
        /* Unchecked entries are maybe-duplicates once Loki took them: counted then, not
         * at every retry of an outage. */
        size_t nunchecked = 0;
        for (size_t i = 0; i < b->n; i++)
            if (l->unchk[i] && res->item[i] == LS_DONE)
                nunchecked++;
        res->maybe_duplicates += nunchecked;
        log_maybe_sent(l, nm, nheld, nunchecked);
    }

    if (t.ndrop) {
        snprintf(res->reason, sizeof(res->reason), "%s", t.mixed ? "mixed" : t.drop.reason);
        memcpy(res->detail, t.drop.detail, sizeof(res->detail));
    }
    if (t.nwait) {
        if (t.ndone == 0 && t.ndrop == 0)   /* nothing got through: a plain retry / config verdict */
            return stop < norder ? t.wait_verdict : LS_RETRY;
        return LS_PARTIAL;
    }
    if (t.ndrop) {
        res->http_status = t.drop.http_status;
        res->dropped = t.ndrop;
        return LS_DROP;
    }
    res->http_status = 204;
    return LS_DONE;
}

const struct ls_output_ops ls_output_loki = {
    .kind = "loki",
    .options = options,
    .n_options = sizeof(options) / sizeof(options[0]),
    .settings_size = sizeof(struct ls_loki_settings),
    .schemes = ls_output_http_schemes,
    .auth = &auth,
    .create = loki_create,
    .destroy = loki_destroy,
    .flush = loki_flush,
};
