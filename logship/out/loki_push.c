/* loki_push: the push phase of a Loki flush (see loki_push.h): encode, POST, and judge what Loki took of each push. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "clock.h"
#include "logship/out/loki_push.h"
#include "logship/out/loki_resp.h"

#define LISTED_MAX 32   /* Loki lists at most max_returned_stream_errors (10) entries */

/* Encode order[from..to) into l->body, shrinking `to` until the decoded size
 * (*raw) fits l->limit (a single record is sent whatever its size: Loki judges
 * it). Returns 0, or -1 when even one record cannot be encoded (err says why). */
static int encode_fitting(struct ls_loki_out *l, const struct ls_record *recs, size_t from, size_t *to,
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
    dst->backend_up = src->backend_up;
    dst->retry_after_ms = src->retry_after_ms;
    memcpy(dst->reason, src->reason, sizeof(dst->reason));
    memcpy(dst->detail, src->detail, sizeof(dst->detail));
}


void ls_loki_tally_drop(struct ls_loki_tally *t, const struct ls_flush_result *one, const char *reason, size_t n)
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


/* POST the encoded body and read the answer into one; *action says what to
 * do beyond the verdict (loki_resp.c's table). */
static enum ls_verdict post(struct ls_loki_out *l, size_t nentries, struct ls_flush_result *one,
                            enum ls_loki_action *action)
{
    struct ls_http_response resp;
    int rc = ls_http_post(l->http, l->url, l->headers, l->body.p, l->body.len, &resp);
    struct ls_loki_answer a = {
        .status = rc == 0 ? resp.status : 0,
        .body = resp.body.p,
        .body_len = resp.body.len,
        .retry_after_ms = resp.retry_after_ms,
        .timed_out = resp.timed_out,
        .error = resp.error,
    };
    enum ls_verdict v = ls_loki_verdict(&a, nentries, one, action);
    buf_reset(&l->answer);
    if (resp.body.len && buf_add(&l->answer, resp.body.p, resp.body.len) != 0)
        buf_reset(&l->answer);   /* cannot happen (same cap); an empty answer reads as unknown */
    ls_http_response_free(&resp);
    return v;
}

int ls_loki_held(struct ls_loki_out *l, const struct ls_record *recs, const uint32_t *order, size_t from, size_t to)
{
    char err[256];
    if (ls_loki_query_held(l->query, recs, order + from, to - from, l->found, err, sizeof(err)) == 0)
        return 0;
    log_kv(LOGL_WARN, "Loki's query API cannot say which entries Loki holds", "output", l->name,
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
static void judge_400(struct ls_loki_out *l, const uint32_t *order, size_t from, size_t to,
                      const struct ls_flush_result *one, struct ls_loki_tally *t)
{
    size_t pushed = to - from, nd = 0;
    const char *reason = one->reason;
    uint64_t n, m;
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
        int several = 0, asked = ls_loki_held(l, l->sub, order, from, to) == 0;
        int64_t now = clock_real_ns();
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
        l->skip[order[k]] = LS_LOKI_SUB_DROPPED; /* mapped to batch records at the end of the flush */
    ls_loki_tally_drop(t, one, reason, nd);
    t->ndone += pushed - nd;
}

/* A per-stream 429 for sub[order[from..to)]: Loki stored part of the push.
 * When its body lists every ignored entry and their timestamps name them
 * unambiguously, those are retried; otherwise the query API says which are
 * missing. The rest is done. Marks retried entries 1 in l->found. */
static void judge_partial_429(struct ls_loki_out *l, const uint32_t *order, size_t from, size_t to)
{
    uint64_t n, m;
    size_t pushed = to - from;
    int exact = 0;
    if (ls_loki_parse_ignored(l->answer.p, l->answer.len, &n, &m) == 0 && m == pushed) {
        int64_t listed[LISTED_MAX];
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
    if (ls_loki_held(l, l->sub, order, from, to) == 0) {
        for (size_t k = 0; k < pushed; k++)
            l->found[k] = !l->found[k];
        return;
    }
    memset(l->found, 1, pushed);   /* unknown: retry all; the engine marks them maybe-sent */
}


/* A per-stream 429 for order[from..to) of the stream ending at send: retry
 * only what Loki ignored, and the rest of this stream. */
static void retry_ignored(struct ls_loki_out *l, const uint32_t *order, size_t from, size_t to, size_t send,
                          struct ls_flush_result *res, struct ls_loki_tally *t)
{
    judge_partial_429(l, order, from, to);
    for (size_t k = from; k < to; k++) {
        if (l->found[k - from]) {
            res->item[l->map[order[k]]] = LS_RETRY;
            t->nwait++;
        } else {
            t->ndone++;
        }
    }
    for (size_t k = to; k < send; k++)
        res->item[l->map[order[k]]] = LS_RETRY;
    t->nwait += send - to;
}

int ls_loki_push_stream(struct ls_loki_out *l, const uint32_t *order, size_t sfrom, size_t send,
                        struct ls_flush_result *res, struct ls_loki_tally *t)
{
    for (size_t from = sfrom, to; from < send; from = to) {
        to = send;
        struct ls_flush_result one;
        memset(&one, 0, sizeof(one));
        one.retry_after_ms = -1;
        size_t raw = 0;
        char err[256];
        if (encode_fitting(l, l->sub, from, &to, &raw, err, sizeof(err)) != 0) {
            snprintf(one.detail, sizeof(one.detail), "%s", err);
            l->skip[order[from]] = LS_LOKI_SUB_DROPPED;
            ls_loki_tally_drop(t, &one, "encode_failed", 1);
            continue;
        }
        enum ls_loki_action act;
        enum ls_verdict v = post(l, to - from, &one, &act);
        switch (act) {
        case LS_LOKI_HALVE:
            /* A proxy in front of Loki limits the body size: send halves
             * (and remember the smaller bound for later batches). */
            l->limit = raw / 2 > 0 ? raw / 2 : 1;
            log_kv(LOGL_WARN, "Loki (or a proxy) answered 413: sending smaller pushes", "output", l->name, NULL);
            to = from;
            continue;
        case LS_LOKI_JUDGE_400:
            judge_400(l, order, from, to, &one, t);
            continue;
        case LS_LOKI_PARTIAL_429:
            /* Part stored: other streams have their own limits. */
            retry_ignored(l, order, from, to, send, res, t);
            copy_outcome(res, &one);
            return 0;
        case LS_LOKI_WHOLE:
            break;
        }
        if (v == LS_DONE) {
            t->ndone += to - from;
        } else if (v == LS_DROP) {
            for (size_t k = from; k < to; k++)
                l->skip[order[k]] = LS_LOKI_SUB_DROPPED;
            ls_loki_tally_drop(t, &one, one.reason, to - from);
        } else {
            /* RETRY or CONFIG: this push and everything after it waits. */
            t->stop = from;
            t->wait_verdict = v;
            copy_outcome(res, &one);
            return -1;
        }
    }
    return 0;
}
