/* loki_resp: the Loki status → verdict table, and the reading of Loki's 400 bodies (reason, "total ignored: N out of
 * M"). */
#include <stdio.h>
#include <string.h>

#include "logship/out/loki_resp.h"
#include "timefmt.h"

#define LOKI_MAX_AGE_NS (7LL * 24 * 3600 * 1000000000LL)
#define LOKI_GRACE_NS (10LL * 60 * 1000000000LL)
#define LOKI_MAX_LINE 262144

static int has(const char *body, size_t len, const char *needle)
{
    return memmem(body, len, needle, strlen(needle)) ? 1 : 0;
}

const char *ls_loki_400_reason(const char *body, size_t len)
{
    /* Most specific first; texts as Loki 2.8 writes them (and older Loki's
     * "entry out of order", the same cause before unordered writes). */
    static const struct {
        const char *needle, *reason;
    } table[] = {
        { "entry too far behind", "too_far_behind" },
        { "entry out of order", "too_far_behind" },
        { "timestamp too old", "too_old" },
        { "timestamp too new", "too_new" },
        { "Max entry size", "line_too_long" },
        { "line too long", "line_too_long" },
        { "at least one label pair is required", "no_labels" },
        { "snappy:", "bad_body" },
        { "loghttp.", "bad_body" },
        { "proto:", "bad_body" },
        { "error parsing labels", "bad_body" },
        { "mime:", "bad_body" },
        { "Content-Encoding", "bad_body" },
        { "gzip:", "bad_body" },
        { "flate:", "bad_body" },
        { "unexpected EOF", "bad_body" },
        { "ReadObjectCB", "bad_body" },
    };
    if (!body)
        return "other";
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (has(body, len, table[i].needle))
            return table[i].reason;
    return "other";
}

static int read_u64(const char *s, size_t len, size_t *i, uint64_t *out)
{
    uint64_t v = 0;
    size_t start = *i;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        unsigned d = (unsigned)(s[*i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        (*i)++;
    }
    if (*i == start)
        return -1;
    *out = v;
    return 0;
}

int ls_loki_parse_ignored(const char *body, size_t len, uint64_t *n, uint64_t *m)
{
    static const char key[] = "total ignored: ";
    static const char mid[] = " out of ";
    if (!body)
        return -1;
    /* The last occurrence wins: it is the summary line. */
    const char *p = NULL, *q = body;
    size_t left = len;
    for (;;) {
        const char *f = memmem(q, left, key, sizeof(key) - 1);
        if (!f)
            break;
        p = f;
        left -= (size_t)(f + 1 - q);
        q = f + 1;
    }
    if (!p)
        return -1;
    size_t i = (size_t)(p - body) + sizeof(key) - 1;
    uint64_t a, b;
    if (read_u64(body, len, &i, &a) != 0)
        return -1;
    if (len - i < sizeof(mid) - 1 || memcmp(body + i, mid, sizeof(mid) - 1) != 0)
        return -1;
    i += sizeof(mid) - 1;
    if (read_u64(body, len, &i, &b) != 0 || a > b)
        return -1;
    *n = a;
    *m = b;
    return 0;
}

static void set_reason(struct ls_flush_result *res, const char *r)
{
    snprintf(res->reason, sizeof(res->reason), "%s", r);
}

static void set_detail(struct ls_flush_result *res, const char *s, size_t len)
{
    size_t n = len < sizeof(res->detail) - 1 ? len : sizeof(res->detail) - 1;
    if (s && n)
        memcpy(res->detail, s, n);
    /* Loki's bodies end in a newline; the log line does not need it. */
    while (n > 0 && (res->detail[n - 1] == '\n' || res->detail[n - 1] == '\r'))
        n--;
    res->detail[n] = '\0';
}

/* Loki's rows over the common table (core/verdict.h); a NULL reason is
 * derived by the row's action from the body or the push. */
static const struct ls_verdict_row loki_rows[] = {
    /* never retried: the rest of the push was stored; the reason is the body's */
    { 400, 400, LS_DROP, NULL, NULL, LS_LOKI_JUDGE_400 },
    /* one entry: line_too_long; several: request_too_large (the output halves) */
    { 413, 413, LS_DROP, NULL, NULL, LS_LOKI_HALVE },
    /* rate_limited (the tenant limit refused the whole push) or
     * stream_rate_limited (the ingester's per-stream limit stored part of it) */
    { 429, 429, LS_RETRY, NULL, NULL, LS_LOKI_PARTIAL_429 },
    /* Loki's other 4xx are named by their status, "http_<status>" */
    { 400, 499, LS_DROP, NULL, NULL, LS_LOKI_WHOLE },
};

/* Fill res's reason (and dropped) for an answer matching row; returns what
 * the output must do beyond the verdict. */
static enum ls_loki_action derive(const struct ls_verdict_row *row, const struct ls_loki_answer *a, size_t nentries,
                                  struct ls_flush_result *res)
{
    uint64_t n, m;
    switch ((enum ls_loki_action)row->action) {
    case LS_LOKI_JUDGE_400:
        set_reason(res, ls_loki_400_reason(a->body, a->body_len));
        if (ls_loki_parse_ignored(a->body, a->body_len, &n, &m) == 0)
            res->dropped = n > nentries ? nentries : (size_t)n;
        return LS_LOKI_JUDGE_400;
    case LS_LOKI_PARTIAL_429:
        if (ls_loki_parse_ignored(a->body, a->body_len, &n, &m) == 0) {
            set_reason(res, "stream_rate_limited");
            return LS_LOKI_PARTIAL_429;
        }
        set_reason(res, "rate_limited");
        return LS_LOKI_WHOLE;
    case LS_LOKI_HALVE:
        set_reason(res, nentries == 1 ? "line_too_long" : "request_too_large");
        res->dropped = nentries;
        return nentries > 1 ? LS_LOKI_HALVE : LS_LOKI_WHOLE;
    case LS_LOKI_WHOLE:
        break;
    }
    if (row->reason) {
        set_reason(res, row->reason);
    } else {
        char r[32];
        snprintf(r, sizeof(r), "http_%ld", a->status);
        set_reason(res, r);
    }
    return LS_LOKI_WHOLE;
}

enum ls_verdict ls_loki_verdict(const struct ls_loki_answer *a, size_t nentries, struct ls_flush_result *res,
                                enum ls_loki_action *action)
{
    res->http_status = (int)a->status;
    res->retry_after_ms = a->retry_after_ms;
    res->dropped = 0;
    res->reason[0] = '\0';
    enum ls_loki_action act = LS_LOKI_WHOLE;
    enum ls_verdict v = LS_RETRY;
    if (a->status == 0) {
        /* No answer: the push may or may not have been stored. Loki does NOT
         * drop replays reliably, so the resend is checked first (maybe-sent). */
        set_reason(res, a->timed_out ? "timeout" : "connection");
        set_detail(res, a->error ? a->error : "", a->error ? strlen(a->error) : 0);
        res->backend_up = 0;
    } else {
        set_detail(res, a->body, a->body_len);
        const struct ls_verdict_row *row = ls_verdict_lookup(loki_rows, sizeof(loki_rows) / sizeof(loki_rows[0]),
                                                             a->status);
        v = row->verdict;
        res->backend_up = !row->down;
        if (v != LS_DONE)
            act = derive(row, a, nentries, res);
    }
    if (action)
        *action = act;
    return v;
}

/* Go's time.Time.String() in UTC, "2026-11-29 18:42:36.05134 +0000 UTC", to ns. */
static int parse_go_time(const char *s, size_t n, int64_t *ns)
{
    char tmp[64];
    /* date, time, optional fraction: up to the space before the offset */
    size_t i = 0;
    while (i < n && s[i] != ' ')
        i++;
    if (i == n)
        return -1;
    i++;
    while (i < n && s[i] != ' ')
        i++;
    if (i + 6 > n || i >= sizeof(tmp) - 8 || (s[i + 1] != '+' && s[i + 1] != '-'))
        return -1;
    memcpy(tmp, s, i);
    /* "+0000" → "+00:00" for RFC 3339 */
    tmp[i] = s[i + 1];
    tmp[i + 1] = s[i + 2];
    tmp[i + 2] = s[i + 3];
    tmp[i + 3] = ':';
    tmp[i + 4] = s[i + 4];
    tmp[i + 5] = s[i + 5];
    return timefmt_parse_rfc3339(tmp, i + 6, ns);
}

size_t ls_loki_parse_listed(const char *body, size_t len, int64_t *ts, size_t max)
{
    static const char key[] = "entry with timestamp ";
    static const char end[] = " ignored, reason: ";
    size_t count = 0;
    if (!body)
        return 0;
    const char *p = body, *lim = body + len;
    for (;;) {
        const char *f = memmem(p, (size_t)(lim - p), key, sizeof(key) - 1);
        if (!f)
            break;
        const char *t = f + sizeof(key) - 1;
        const char *e = memmem(t, (size_t)(lim - t), end, sizeof(end) - 1);
        int64_t v;
        /* a Go time is at most ~40 bytes: a longer gap means a malformed line */
        if (e && e - t <= 48 && parse_go_time(t, (size_t)(e - t), &v) == 0) {
            if (count < max)
                ts[count] = v;
            count++;
            p = e + sizeof(end) - 1;
        } else {
            p = t;
        }
    }
    return count;
}

const char *ls_loki_classify(const struct ls_record *r, int64_t now_ns)
{
    if (r->ts_ns < now_ns - LOKI_MAX_AGE_NS)
        return "too_old";
    if (r->ts_ns > now_ns + LOKI_GRACE_NS)
        return "too_new";
    if (r->line_len > LOKI_MAX_LINE)
        return "line_too_long";
    return NULL;
}

size_t ls_loki_estimate_rejected(const char *reason, const struct ls_record *recs, size_t n, int64_t now_ns)
{
    size_t c = 0;
    /* Loki's distributor names only the last rejected entry of a push, so a
     * body saying "too new" may hide a too-long line: count every entry the
     * default limits reject, under the reason Loki gave. */
    if (strcmp(reason, "too_old") != 0 && strcmp(reason, "too_new") != 0 && strcmp(reason, "line_too_long") != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (ls_loki_classify(&recs[i], now_ns))
            c++;
    return c;
}
