/* verdict: the common status → verdict rows and the lookup that lets an output's own rows extend them (see
 * verdict.h). */
#include "logship/core/verdict.h"

#include <limits.h>

static const struct ls_verdict_row common_rows[] = {
    { 0, 0, LS_RETRY, "connection", NULL, 0, 1 },
    { 200, 299, LS_DONE, "stored", NULL },
    { 300, 399, LS_CONFIG, "redirect", NULL },
    { 401, 401, LS_CONFIG, "unauthorized", NULL },
    { 403, 403, LS_CONFIG, "forbidden", NULL },
    { 404, 404, LS_CONFIG, "not_found", NULL },
    { 407, 407, LS_CONFIG, "proxy_auth", NULL },
    { 408, 408, LS_RETRY, "timeout", NULL },
    { 429, 429, LS_RETRY, "rate_limited", NULL },
    { 400, 499, LS_DROP, "rejected", NULL },
    { 500, LONG_MAX, LS_RETRY, "server_error", NULL, 0, 1 },
    { LONG_MIN, LONG_MAX, LS_RETRY, "bad_status", NULL },
};

/* Width of a row's range, saturated: the narrower row is the more specific. */
static unsigned long width(const struct ls_verdict_row *r)
{
    return (unsigned long)r->hi - (unsigned long)r->lo;
}

const struct ls_verdict_row *ls_verdict_find(const struct ls_verdict_row *rows, size_t n, long status)
{
    const struct ls_verdict_row *best = NULL;
    for (size_t i = 0; i < n; i++) {
        if (status < rows[i].lo || status > rows[i].hi)
            continue;
        if (!best || width(&rows[i]) < width(best))
            best = &rows[i];
    }
    return best;
}

const struct ls_verdict_row *ls_verdict_lookup(const struct ls_verdict_row *ext, size_t n, long status)
{
    const struct ls_verdict_row *own = ext ? ls_verdict_find(ext, n, status) : NULL;
    const struct ls_verdict_row *base = ls_verdict_find(common_rows, sizeof(common_rows) / sizeof(common_rows[0]),
                                                        status);
    return own && width(own) <= width(base) ? own : base;
}
