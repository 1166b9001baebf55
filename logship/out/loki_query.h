/* loki_query: ask Loki's query API which entries of one stream it already holds, so a replay resends only the rest.
 *
 * Loki does not drop replays reliably (measured against Loki 2.8 and 2.9, see
 * README's "Delivery guarantee, per sink": 2.8 only while the original is in
 * the stream's head block, 2.9 stores them and metric queries count them).
 * A push whose answer never came, or a per-stream 429 that stored part of a
 * push without listing all it ignored, is therefore checked with
 * GET /loki/api/v1/query_range over exactly the entries' time range,
 * selector = the stream's labels, direction forward, paged by limit; the
 * answer's streams are compared with the labels exactly (a selector also
 * matches supersets) and entries are matched on timestamp + line as a
 * multiset. The URL builder and the answer parser are pure (fuzzed).
 *
 * Limits, by construction: two entries with the same stream, timestamp and
 * line are one entry to this check (as to Loki 2.8's dedup and 2.9's log
 * queries), so an identical line at the same timestamp shipped earlier makes
 * a maybe-sent one count as held; and a push Loki is still storing when the
 * lookup runs (a timed-out push) is not seen. */
#ifndef LOGSHIP_LOKI_QUERY_H
#define LOGSHIP_LOKI_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "logship/core/labels.h"
#include "logship/core/output.h"
#include "logship/core/record.h"

#define LS_LOKI_QUERY_LIMIT 1000   /* entries per page; Loki's default cap is 5000 */

/* <base>/loki/api/v1/query_range?query=<labels>&start=&end=&limit=&direction=forward,
 * the selector percent-encoded. base may end in "/" or in the push path.
 * Returns a malloc'ed string or NULL on OOM. */
char *ls_loki_query_url(const char *base, const char *labels, size_t llen, int64_t start_ns, int64_t end_ns,
                        size_t limit);

/* One page of a query_range answer, as ls_loki_query_parse read it. */
struct ls_loki_page {
    size_t  returned;    /* entries in the answer, all streams (what limit bounds) */
    size_t  reported;    /* entries of the exact stream passed to fn */
    int     more;        /* the page was full: ask again from next_start */
    int64_t next_start;  /* the newest timestamp of the page; its entries were not reported */
};

typedef void (*ls_loki_entry_fn)(void *ctx, int64_t ts, const char *line, size_t len);

/* Parse a query_range answer body[0..len). Calls fn for each entry of the
 * stream whose labels are exactly labels[0..llen) (a record's label string).
 * When the answer holds `limit` entries or more, the page is full: entries
 * at its newest timestamp are not reported (the next page, starting at that
 * timestamp, returns them all) and pg->more is set. Returns 0, or -1 when
 * the body is not a successful streams answer, or a full page has a single
 * timestamp (paging cannot advance). */
int ls_loki_query_parse(const char *body, size_t len, const char *labels, size_t llen, size_t limit,
                        ls_loki_entry_fn fn, void *ctx, struct ls_loki_page *pg);

struct ls_loki_query;

/* A query client for conf (its URL, auth and TLS) sending headers (NULL or a
 * NULL-terminated list, e.g. the push's X-Scope-OrgID; conf and headers must
 * outlive it). NULL with a message in err on failure. */
struct ls_loki_query *ls_loki_query_new(const struct ls_output_conf *conf, const char *const *headers, char *err,
                                        size_t errlen);

/* Free a query client; NULL is a no-op. */
void ls_loki_query_free(struct ls_loki_query *q);

/* recs[idx[0..n)] are entries of one stream (same labels). Set found[k] = 1
 * for each idx[k] Loki holds (timestamp + line; each stored copy matches one
 * entry). Returns 0 when Loki answered every page (found[] is exact), or -1
 * with the reason in err when the query API is unreachable or refused
 * (found[] must then be ignored). */
int ls_loki_query_held(struct ls_loki_query *q, const struct ls_record *recs, const uint32_t *idx, size_t n,
                       unsigned char *found, char *err, size_t errlen);

#endif
