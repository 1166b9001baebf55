/* loki_query: query_range URL, answer parsing and the multiset match that tells which entries Loki already holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "logship/out/http.h"
#include "logship/out/loki_query.h"

#define PUSH_PATH "/loki/api/v1/push"
#define QUERY_PATH "/loki/api/v1/query_range"
#define MAX_PAGES 100000   /* bounds a misbehaving server that pages forever */

struct ls_loki_query {
    const struct ls_output_conf *conf;
    struct ls_http *http;
    const char *const *headers;
};

static int unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == '~';
}

char *ls_loki_query_url(const char *base, const char *labels, size_t llen, int64_t start_ns, int64_t end_ns,
                        size_t limit)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t bl = strlen(base), pl = strlen(PUSH_PATH);
    if (bl >= pl && strcmp(base + bl - pl, PUSH_PATH) == 0)
        bl -= pl;
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    size_t cap = bl + sizeof(QUERY_PATH) + 3 * llen + 128;
    char *u = malloc(cap);
    if (!u)
        return NULL;
    memcpy(u, base, bl);
    size_t n = bl;
    n += (size_t)snprintf(u + n, cap - n, "%s?query=", QUERY_PATH);
    for (size_t i = 0; i < llen; i++) {
        unsigned char c = (unsigned char)labels[i];
        if (unreserved(c)) {
            u[n++] = (char)c;
        } else {
            u[n++] = '%';
            u[n++] = hex[c >> 4];
            u[n++] = hex[c & 15];
        }
    }
    snprintf(u + n, cap - n, "&start=%lld&end=%lld&limit=%zu&direction=forward", (long long)start_ns,
             (long long)end_ns, limit);
    return u;
}

/* --- parsing ------------------------------------------------------------------------ */

static int parse_ts(json_object *o, int64_t *out)
{
    if (!o || !json_object_is_type(o, json_type_string))
        return -1;
    const char *s = json_object_get_string(o);
    size_t n = (size_t)json_object_get_string_len(o);
    int neg = 0;
    size_t i = 0;
    uint64_t v = 0;
    if (n > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == n || n - i > 19)
        return -1;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return -1;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

struct label_cmp {
    json_object *stream;
    size_t pairs;
    int mismatch;
};

static int cmp_pair(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen)
{
    struct label_cmp *c = ctx;
    char key[256];
    json_object *v;
    c->pairs++;
    if (nlen >= sizeof(key)) {
        c->mismatch = 1;
        return 0;
    }
    memcpy(key, name, nlen);
    key[nlen] = '\0';
    if (!json_object_object_get_ex(c->stream, key, &v) || !json_object_is_type(v, json_type_string) ||
        (size_t)json_object_get_string_len(v) != vlen || memcmp(json_object_get_string(v), value, vlen) != 0)
        c->mismatch = 1;
    return 0;
}

/* The answer's stream object has exactly the record's labels: same pairs, nothing more. */
static int same_labels(json_object *stream, const char *labels, size_t llen)
{
    struct label_cmp c = { stream, 0, 0 };
    if (!stream || !json_object_is_type(stream, json_type_object))
        return 0;
    buf_t scratch;   /* the unescaped values: at most the label string's length */
    buf_init(&scratch, llen + 1);
    int rc = ls_labels_each(labels, llen, &scratch, cmp_pair, &c);
    buf_free(&scratch);
    if (rc != 0 || c.mismatch)
        return 0;
    return (size_t)json_object_object_length(stream) == c.pairs;
}

int ls_loki_query_parse(const char *body, size_t len, const char *labels, size_t llen,
                        size_t limit, ls_loki_entry_fn fn, void *ctx, struct ls_loki_page *pg)
{
    int rc = -1;
    json_object *root = NULL, *status, *data, *rtype, *result;
    struct json_tokener *tok = json_tokener_new_ex(16);

    memset(pg, 0, sizeof(*pg));
    if (!tok || !body || len > INT32_MAX)
        goto out;
    root = json_tokener_parse_ex(tok, body, (int)len);
    if (!root || json_tokener_get_error(tok) != json_tokener_success)
        goto out;
    if (!json_object_object_get_ex(root, "status", &status) || !json_object_is_type(status, json_type_string) ||
        strcmp(json_object_get_string(status), "success") != 0 ||
        !json_object_object_get_ex(root, "data", &data) ||
        !json_object_object_get_ex(data, "resultType", &rtype) || !json_object_is_type(rtype, json_type_string) ||
        strcmp(json_object_get_string(rtype), "streams") != 0 ||
        !json_object_object_get_ex(data, "result", &result) || !json_object_is_type(result, json_type_array))
        goto out;

    /* pass 1: how many entries, and the newest and oldest timestamps */
    size_t ns = json_object_array_length(result);
    int64_t max_ts = INT64_MIN, min_ts = INT64_MAX;
    for (size_t s = 0; s < ns; s++) {
        json_object *st = json_object_array_get_idx(result, s), *values;
        if (!json_object_is_type(st, json_type_object) || !json_object_object_get_ex(st, "values", &values) ||
            !json_object_is_type(values, json_type_array))
            goto out;
        size_t nv = json_object_array_length(values);
        for (size_t k = 0; k < nv; k++) {
            json_object *v = json_object_array_get_idx(values, k);
            int64_t ts;
            if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) < 2 ||
                parse_ts(json_object_array_get_idx(v, 0), &ts) != 0 ||
                !json_object_is_type(json_object_array_get_idx(v, 1), json_type_string))
                goto out;
            if (ts > max_ts)
                max_ts = ts;
            if (ts < min_ts)
                min_ts = ts;
            pg->returned++;
        }
    }
    int64_t below = INT64_MAX;
    if (limit > 0 && pg->returned >= limit) {
        if (min_ts == max_ts)
            goto out;   /* a full page of one timestamp: cannot advance */
        pg->more = 1;
        pg->next_start = max_ts;
        below = max_ts;
    }
    /* pass 2: the exact stream's entries, below the cut */
    for (size_t s = 0; s < ns; s++) {
        json_object *st = json_object_array_get_idx(result, s), *values, *lab = NULL;
        json_object_object_get_ex(st, "values", &values);
        if (!json_object_object_get_ex(st, "stream", &lab) || !same_labels(lab, labels, llen))
            continue;
        size_t nv = json_object_array_length(values);
        for (size_t k = 0; k < nv; k++) {
            json_object *v = json_object_array_get_idx(values, k), *line = json_object_array_get_idx(v, 1);
            int64_t ts;
            parse_ts(json_object_array_get_idx(v, 0), &ts);
            if (ts >= below)
                continue;
            pg->reported++;
            if (fn)
                fn(ctx, ts, json_object_get_string(line), (size_t)json_object_get_string_len(line));
        }
    }
    rc = 0;
out:
    json_object_put(root);
    if (tok)
        json_tokener_free(tok);
    return rc;
}

/* --- the client ----------------------------------------------------------------------- */

struct ls_loki_query *ls_loki_query_new(const struct ls_output_conf *conf, const char *const *headers, char *err,
                                        size_t errlen)
{
    struct ls_loki_query *q = calloc(1, sizeof(*q));
    if (!q) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    q->conf = conf;
    q->headers = headers;
    if (!(q->http = ls_http_new(conf, err, errlen))) {
        free(q);
        return NULL;
    }
    /* a page of LS_LOKI_QUERY_LIMIT entries of up to a few KB each; a cut body fails to parse */
    ls_http_set_body_max(q->http, LS_HTTP_BODY_MAX_LIMIT);
    return q;
}

void ls_loki_query_free(struct ls_loki_query *q)
{
    if (!q)
        return;
    ls_http_free(q->http);
    free(q);
}

struct match {
    const struct ls_record *recs;
    const uint32_t *idx;
    uint32_t *sorted;        /* positions into idx, by (ts, line) */
    size_t n;
    unsigned char *found;
};

static int cmp_line(const struct ls_record *a, const char *line, size_t len)
{
    size_t m = a->line_len < len ? a->line_len : len;
    int c = memcmp(a->line, line, m);
    if (c)
        return c;
    return a->line_len < len ? -1 : a->line_len > len;
}

static int cmp_pos(const void *pa, const void *pb, void *ctx)
{
    const struct match *m = ctx;
    const struct ls_record *a = &m->recs[m->idx[*(const uint32_t *)pa]];
    const struct ls_record *b = &m->recs[m->idx[*(const uint32_t *)pb]];
    if (a->ts_ns != b->ts_ns)
        return a->ts_ns < b->ts_ns ? -1 : 1;
    return cmp_line(a, b->line, b->line_len);
}

/* One stored entry matches the first unmatched equal entry of ours. */
static void on_entry(void *ctx, int64_t ts, const char *line, size_t len)
{
    struct match *m = ctx;
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct ls_record *r = &m->recs[m->idx[m->sorted[mid]]];
        if (r->ts_ns < ts || (r->ts_ns == ts && cmp_line(r, line, len) < 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = lo; k < m->n; k++) {
        const struct ls_record *r = &m->recs[m->idx[m->sorted[k]]];
        if (r->ts_ns != ts || cmp_line(r, line, len) != 0)
            return;
        if (!m->found[m->sorted[k]]) {
            m->found[m->sorted[k]] = 1;
            return;
        }
    }
}

int ls_loki_query_held(struct ls_loki_query *q, const struct ls_record *recs,
                       const uint32_t *idx, size_t n, unsigned char *found, char *err, size_t errlen)
{
    int rc = -1;
    struct match m = { recs, idx, NULL, n, found };
    if (n == 0)
        return 0;
    if (!(m.sorted = malloc(n * sizeof(*m.sorted)))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int64_t start = INT64_MAX, end = INT64_MIN;
    for (size_t k = 0; k < n; k++) {
        m.sorted[k] = (uint32_t)k;
        found[k] = 0;
        if (recs[idx[k]].ts_ns < start)
            start = recs[idx[k]].ts_ns;
        if (recs[idx[k]].ts_ns > end)
            end = recs[idx[k]].ts_ns;
    }
    qsort_r(m.sorted, n, sizeof(*m.sorted), cmp_pos, &m);
    const struct ls_record *r0 = &recs[idx[0]];
    for (int page = 0; page < MAX_PAGES; page++) {
        struct ls_http_response resp;
        struct ls_loki_page pg;
        char *url = ls_loki_query_url(q->conf->url, r0->labels, r0->labels_len, start,
                                      end < INT64_MAX ? end + 1 : end, LS_LOKI_QUERY_LIMIT);
        if (!url) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        int hr = ls_http_get(q->http, url, q->headers, &resp);
        free(url);
        if (hr != 0 || resp.status != 200) {
            if (hr != 0)
                snprintf(err, errlen, "query API: %s", resp.error);
            else
                snprintf(err, errlen, "query API answered %ld: %.200s", resp.status,
                         resp.body.p ? resp.body.p : "");
            ls_http_response_free(&resp);
            goto out;
        }
        int pr = ls_loki_query_parse(resp.body.p, resp.body.len, r0->labels, r0->labels_len,
                                     LS_LOKI_QUERY_LIMIT, on_entry, &m, &pg);
        ls_http_response_free(&resp);
        if (pr != 0) {
            snprintf(err, errlen, "query API: an answer logship cannot read (or page past)");
            goto out;
        }
        if (!pg.more) {
            rc = 0;
            goto out;
        }
        start = pg.next_start;
    }
    snprintf(err, errlen, "query API: more than %d pages", MAX_PAGES);
out:
    free(m.sorted);
    return rc;
}
