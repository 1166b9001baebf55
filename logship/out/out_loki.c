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
 * NO BLIND REPLAYS. Loki stores replays (measured against Loki 2.8 and 2.9,
 * see README's "Delivery guarantee, per sink"), so entries the
 * engine marks maybe-sent (b->n_maybe_sent: sent, never acknowledged) are first
 * looked up with the query API (loki_query.c) and only the missing ones are
 * sent; a per-stream 429 resends only what Loki ignored. When the query API
 * cannot answer, the entries are resent and counted in res->maybe_duplicates.
 *
 * The engine bounds a batch by raw bytes; this output bounds what Loki
 * decodes: when a stream's encoding is larger than conf->batch_bytes (JSON
 * escaping can grow a line six-fold), it goes as several pushes, each in time
 * order. The status table is in loki_resp.c, the push phase in loki_push.c.
 * No retries and no sleeps here: the engine owns backoff. */
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
#include "logship/out/loki_push.h"
#include "logship/out/loki_resp.h"
#include "logship/core/output.h"
#include "logship/out/out_loki.h"

#define DEFAULT_BATCH_BYTES (1024 * 1024)
#define BODY_MAX ((size_t)64 << 20)
#define PUSH_PATH "/loki/api/v1/push"

/* Loki's options (config.c reads this table; the values land in struct ls_loki_settings). */
static const char *const encodings[] = { "protobuf", "json", NULL };   /* enum ls_loki_encoding */

static const struct cfg_row options[] = {
    CFG_ROW(struct ls_loki_settings, urls, "loki", CFG_LIST, NULL, 0, 0, NULL, "URL",
              "Loki base URL, e.g. http://127.0.0.1:3100 (repeatable: one output each)."),
    CFG_ROW(struct ls_loki_settings, encoding, "loki-encoding", CFG_ENUM, "protobuf", 0, 0, encodings,
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

static void loki_destroy(void *ctx)
{
    struct ls_loki_out *l = ctx;
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
    struct ls_loki_out *l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->conf = conf;
    l->name = conf->name ? conf->name : "loki";
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
    enum ls_loki_encoding enc = (enum ls_loki_encoding)own->encoding;
    l->limit = conf->batch_bytes ? (size_t)conf->batch_bytes : DEFAULT_BATCH_BYTES;
    if (!(l->url = push_url(conf->url)) || !(l->enc = ls_loki_enc_new(enc, conf->compress))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (!(l->http = ls_http_new(conf, err, errlen)))
        goto out;
    snprintf(l->hdr_ctype, sizeof(l->hdr_ctype), "Content-Type: %s", ls_loki_content_type(l->enc));
    size_t h = 0;
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


static int grow_scratch(struct ls_loki_out *l, size_t n)
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

/* Entries the engine marks maybe-sent: look them up, stream by stream; set
 * l->skip[i] = LS_LOKI_HELD for those Loki holds and LS_LOKI_UNCHECKED for those it could not check.
 * Returns how many Loki holds. */
static size_t check_maybe_sent(struct ls_loki_out *l, const struct ls_batch *b, size_t nm)
{
    size_t norder, nheld = 0;
    if (ls_loki_group(l->enc, b->recs, nm) != 0) {
        memset(l->skip, LS_LOKI_UNCHECKED, nm);
        return 0;
    }
    const uint32_t *order = ls_loki_enc_order(l->enc, &norder);
    for (size_t from = 0, to; from < norder; from = to) {
        to = ls_loki_enc_stream_end(l->enc, from);
        int ok = ls_loki_held(l, b->recs, order, from, to) == 0;
        for (size_t k = from; k < to; k++) {
            if (!ok) {
                l->skip[order[k]] = LS_LOKI_UNCHECKED;
            } else if (l->found[k - from]) {
                l->skip[order[k]] = LS_LOKI_HELD;
                nheld++;
            }
        }
    }
    return nheld;
}

/* Say what the check of maybe-sent entries found, once per flush. */
static void log_maybe_sent(const struct ls_loki_out *l, size_t nm, size_t nheld, size_t nunchecked)
{
    char a[24], c[24], d[24];
    snprintf(a, sizeof(a), "%zu", nm);
    snprintf(c, sizeof(c), "%zu", nheld);
    snprintf(d, sizeof(d), "%zu", nunchecked);
    log_kv(nunchecked ? LOGL_WARN : LOGL_INFO, "checked entries sent before and never acknowledged against Loki",
           "output", l->name, "maybe_sent", a, "already_stored", c, "resent_unchecked", d, NULL);
}

/* Phase 1: the records to send. Entries the engine marks maybe-sent are
 * looked up first; those Loki holds are done (counted in *nheld), the others
 * go to l->sub (l->map says which batch record each is; l->unchk marks the
 * ones that could not be checked). Returns how many there are to send. */
static size_t take_unsent(struct ls_loki_out *l, const struct ls_batch *b, size_t nm, size_t *nheld,
                          struct ls_loki_tally *t)
{
    memset(l->skip, LS_LOKI_SEND, b->n);
    *nheld = nm > 0 ? check_maybe_sent(l, b, nm) : 0;
    size_t nsub = 0;
    for (size_t i = 0; i < b->n; i++) {
        l->unchk[i] = l->skip[i] == LS_LOKI_UNCHECKED;
        if (l->skip[i] == LS_LOKI_HELD) {
            t->ndone++;
            continue;
        }
        l->sub[nsub] = b->recs[i];
        l->map[nsub++] = (uint32_t)i;
    }
    memset(l->skip, LS_LOKI_SEND, b->n);   /* from here: per sub entry */
    return nsub;
}

/* Phase 2: group l->sub[0..nsub) into streams; records whose label string is
 * not valid are dropped here. Returns 0, or -1 on OOM (res says so). */
static int group_unsent(struct ls_loki_out *l, size_t nsub, struct ls_flush_result *res, struct ls_loki_tally *t)
{
    if (ls_loki_group(l->enc, l->sub, nsub) != 0) {
        snprintf(res->reason, sizeof(res->reason), "oom");
        snprintf(res->detail, sizeof(res->detail), "out of memory grouping %zu records", nsub);
        return -1;
    }
    size_t norder;
    ls_loki_enc_order(l->enc, &norder);
    size_t nbad = nsub - norder;
    if (nbad) {
        struct ls_flush_result one;
        memset(&one, 0, sizeof(one));
        snprintf(one.detail, sizeof(one.detail), "%zu records carry a label set that is not a valid "
                 "Prometheus label string", nbad);
        for (size_t i = 0; i < nsub; i++)
            if (ls_loki_enc_bad_labels(l->enc, i))
                res->item[l->map[i]] = LS_DROP;
        ls_loki_tally_drop(t, &one, "bad_labels", nbad);
    }
    return 0;
}

/* Phase 4: per-record verdicts and the flush's answer from the tally. */
static enum ls_verdict conclude(struct ls_loki_out *l, const struct ls_batch *b, size_t nm, size_t nheld, size_t nsub,
                                struct ls_flush_result *res, struct ls_loki_tally *t)
{
    size_t norder;
    const uint32_t *order = ls_loki_enc_order(l->enc, &norder);
    for (size_t k = t->stop; k < norder; k++)
        res->item[l->map[order[k]]] = t->wait_verdict;
    t->nwait += norder - t->stop;
    for (size_t i = 0; i < nsub; i++)
        if (l->skip[i] == LS_LOKI_SUB_DROPPED)
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
    if (t->ndrop) {
        snprintf(res->reason, sizeof(res->reason), "%s", t->mixed ? "mixed" : t->drop.reason);
        memcpy(res->detail, t->drop.detail, sizeof(res->detail));
    }
    if (t->nwait) {
        if (t->ndone == 0 && t->ndrop == 0)   /* nothing got through: a plain retry / config verdict */
            return t->stop < norder ? t->wait_verdict : LS_RETRY;
        return LS_PARTIAL;
    }
    if (t->ndrop) {
        res->http_status = t->drop.http_status;
        res->dropped = t->ndrop;
        return LS_DROP;
    }
    res->http_status = 204;
    return LS_DONE;
}

static enum ls_verdict loki_flush(void *ctx, const struct ls_batch *b, struct ls_flush_result *res)
{
    struct ls_loki_out *l = ctx;
    if (grow_scratch(l, b->n) != 0) {
        snprintf(res->reason, sizeof(res->reason), "oom");
        snprintf(res->detail, sizeof(res->detail), "out of memory for %zu records", b->n);
        return LS_RETRY;
    }
    for (size_t i = 0; i < b->n; i++)
        res->item[i] = LS_DONE;
    struct ls_loki_tally t;
    memset(&t, 0, sizeof(t));
    t.wait_verdict = LS_RETRY;
    size_t nm = b->n_maybe_sent <= b->n ? b->n_maybe_sent : b->n, nheld;
    size_t nsub = take_unsent(l, b, nm, &nheld, &t);
    res->duplicates += nheld;
    if (group_unsent(l, nsub, res, &t) != 0)
        return LS_RETRY;
    size_t norder;
    const uint32_t *order = ls_loki_enc_order(l->enc, &norder);
    t.stop = norder;
    for (size_t sfrom = 0, send; sfrom < norder; sfrom = send) {
        send = ls_loki_enc_stream_end(l->enc, sfrom);
        if (ls_loki_push_stream(l, order, sfrom, send, res, &t) != 0)
            break;
    }
    return conclude(l, b, nm, nheld, nsub, res, &t);
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
