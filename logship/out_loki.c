/* out_loki: the Loki push output: encode a batch, POST it to /loki/api/v1/push, and map Loki's answer to a verdict.
 *
 * The engine bounds a batch by raw bytes; this output bounds what Loki
 * decodes: when one encoding of the batch is larger than conf->batch_bytes
 * (JSON escaping can grow a line six-fold), the batch is sent as several
 * pushes, split in stream order so each stream stays in time order. The
 * status table is in loki_resp.c. No retries and no sleeps here: the engine
 * owns backoff. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "logship/redact.h"
#include "logship/http.h"
#include "logship/loki_encode.h"
#include "logship/loki_resp.h"
#include "logship/output.h"

#define DEFAULT_BATCH_BYTES (1024 * 1024)
#define BODY_MAX ((size_t)64 << 20)
#define PUSH_PATH "/loki/api/v1/push"

struct loki {
    const struct ls_output_conf *conf;
    struct ls_http *http;
    struct ls_loki_enc *enc;
    char *url;
    size_t limit;                 /* bound on one push's decoded size: batch_bytes, or less
                                   * once a proxy answered 413 (learned, kept) */
    char *hdr_tenant;             /* "X-Scope-OrgID: ..." or NULL */
    const char *headers[5];
    char hdr_ctype[64], hdr_cenc[64];
    buf_t body;
};

static void loki_destroy(void *ctx)
{
    struct loki *l = ctx;
    if (!l)
        return;
    ls_http_free(l->http);
    ls_loki_enc_free(l->enc);
    free(l->url);
    free(l->hdr_tenant);
    buf_free(&l->body);
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
    if (!conf->url || !*conf->url) {
        snprintf(err, errlen, "loki: no URL given");
        goto fail;
    }
    if (strncmp(conf->url, "http://", 7) != 0 && strncmp(conf->url, "https://", 8) != 0) {
        char safe[512];
        snprintf(err, errlen, "loki: URL must start with http:// or https://: %s",
                 ls_redact_url(conf->url, safe, sizeof(safe)));
        goto fail;
    }
    if (ls_loki_encoding_parse(conf->encoding, &enc) != 0) {
        snprintf(err, errlen, "loki: unknown encoding %s (protobuf or json)", conf->encoding);
        goto fail;
    }
    l->limit = conf->batch_bytes ? (size_t)conf->batch_bytes : DEFAULT_BATCH_BYTES;
    if (!(l->url = push_url(conf->url)) || !(l->enc = ls_loki_enc_new(enc, conf->compress))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!(l->http = ls_http_new(conf, err, errlen)))
        goto fail;
    snprintf(l->hdr_ctype, sizeof(l->hdr_ctype), "Content-Type: %s", ls_loki_content_type(l->enc));
    l->headers[h++] = l->hdr_ctype;
    if (ls_loki_content_encoding(l->enc)) {
        snprintf(l->hdr_cenc, sizeof(l->hdr_cenc), "Content-Encoding: %s", ls_loki_content_encoding(l->enc));
        l->headers[h++] = l->hdr_cenc;
    }
    if (conf->tenant && *conf->tenant) {
        if (has_ctl(conf->tenant)) {
            snprintf(err, errlen, "loki: the tenant contains control characters");
            goto fail;
        }
        size_t tl = strlen(conf->tenant);
        static const char pre[] = "X-Scope-OrgID: ";
        if (!(l->hdr_tenant = malloc(sizeof(pre) + tl))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        memcpy(l->hdr_tenant, pre, sizeof(pre) - 1);
        memcpy(l->hdr_tenant + sizeof(pre) - 1, conf->tenant, tl + 1);
        l->headers[h++] = l->hdr_tenant;
    }
    l->headers[h] = NULL;
    return l;
fail:
    loki_destroy(l);
    return NULL;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Send the encoded body (order[from..to) of the grouping) as one push and map
 * the answer. For a 400 the number of dropped entries is Loki's "N out of M"
 * or, when Loki does not say, an estimate by its default limits, else the
 * whole push (an upper bound: some of it may have been stored). */
static enum ls_verdict send_range(struct loki *l, const struct ls_record *recs, const uint32_t *order,
                                  size_t from, size_t to, struct ls_flush_result *res)
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
    enum ls_verdict v = ls_loki_verdict(&a, to - from, res);
    if (v == LS_DROP && res->dropped == 0) {
        size_t est = 0;
        int64_t now = now_ns();
        for (size_t k = from; k < to; k++)
            est += ls_loki_estimate_rejected(res->reason, &recs[order[k]], 1, now);
        res->dropped = est ? est : to - from;
    }
    ls_http_response_free(&resp);
    return v;
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

static enum ls_verdict loki_flush(void *ctx, const struct ls_batch *b, struct ls_flush_result *res)
{
    struct loki *l = ctx;
    char err[256];
    size_t norder;
    struct ls_flush_result one, drop;

    if (ls_loki_group(l->enc, b->recs, b->n) != 0) {
        snprintf(res->reason, sizeof(res->reason), "oom");
        snprintf(res->detail, sizeof(res->detail), "out of memory grouping %zu records", b->n);
        return LS_RETRY;
    }
    const uint32_t *order = ls_loki_enc_order(l->enc, &norder);
    size_t nbad = b->n - norder;
    size_t ndone = 0, ndrop = 0, nwait = 0;
    enum ls_verdict wait_verdict = LS_RETRY;

    memset(&drop, 0, sizeof(drop));
    for (size_t i = 0; i < b->n; i++)
        res->item[i] = nbad && ls_loki_enc_bad_labels(l->enc, i) ? LS_DROP : LS_DONE;
    if (nbad) {
        ndrop = nbad;
        snprintf(drop.reason, sizeof(drop.reason), "bad_labels");
        snprintf(drop.detail, sizeof(drop.detail), "%zu records carry a label set that is not a valid "
                 "Prometheus label string", nbad);
    }

    /* Usually one push; more when the encoding outgrew the limit. */
    for (size_t from = 0, to; from < norder; from = to) {
        enum ls_verdict v;
        size_t raw = 0;
        to = norder;
        memset(&one, 0, sizeof(one));
        one.retry_after_ms = -1;
        if (encode_fitting(l, b->recs, from, &to, &raw, err, sizeof(err)) != 0) {
            v = LS_DROP;
            one.dropped = 1;
            snprintf(one.reason, sizeof(one.reason), "encode_failed");
            snprintf(one.detail, sizeof(one.detail), "%s", err);
        } else {
            v = send_range(l, b->recs, order, from, to, &one);
        }
        if (v == LS_DROP && one.http_status == 413 && to - from > 1) {
            /* A proxy in front of Loki limits the body size: send halves
             * (and remember the smaller bound for later batches). */
            l->limit = raw / 2 > 0 ? raw / 2 : 1;
            log_kv(LOG_WARN, "Loki (or a proxy) answered 413: sending smaller pushes", "output",
                   l->conf->name ? l->conf->name : "loki", NULL);
            to = from;
            continue;
        }
        if (v == LS_DONE) {
            ndone += to - from;
        } else if (v == LS_DROP) {
            size_t nd = one.dropped > 0 && one.dropped <= to - from ? one.dropped : to - from;
            /* Which entries Loki refused is not said; only the count matters
             * (dropped and stored entries are both acknowledged). */
            for (size_t k = from; k < from + nd; k++)
                res->item[order[k]] = LS_DROP;
            ndrop += nd;
            ndone += to - from - nd;
            copy_outcome(&drop, &one);
        } else {
            /* RETRY or CONFIG: this push and everything after it waits. */
            for (size_t k = from; k < norder; k++)
                res->item[order[k]] = v;
            nwait = norder - from;
            wait_verdict = v;
            copy_outcome(res, &one);
            break;
        }
    }

    if (nwait) {
        if (ndone == 0 && ndrop == 0)
            return wait_verdict;   /* nothing got through: a plain retry / config verdict */
        if (ndrop) {
            memcpy(res->reason, drop.reason, sizeof(res->reason));
            memcpy(res->detail, drop.detail, sizeof(res->detail));
        }
        return LS_PARTIAL;
    }
    if (ndrop) {
        copy_outcome(res, &drop);
        res->dropped = ndrop;
        return LS_DROP;
    }
    res->http_status = 204;
    return LS_DONE;
}

const struct ls_output_ops ls_output_loki = {
    .kind = "loki",
    .create = loki_create,
    .destroy = loki_destroy,
    .flush = loki_flush,
};
