/* loki_resp: what a Loki push response means, the status → verdict table in one place.
 *
 * Loki's answers (measured against Loki 2.8 and 2.9, see README's Loki status table) are
 * the common table of core/verdict.h (3xx, 401, 403, 404, 407 LS_CONFIG; 408,
 * 429, 5xx, 1xx LS_RETRY; other 4xx LS_DROP) with Loki's own rows:
 *   2xx (204)            → LS_DONE     stored
 *   400                  → LS_DROP     never retried: the valid entries were stored. The
 *                                      ingester's 400 (too far behind) lists entries and says
 *                                      "total ignored: N out of M" (M counts only what reached
 *                                      the ingester: the distributor may have refused more);
 *                                      the distributor's 400 (too old, too new, too long, bad
 *                                      labels) carries only its LAST message and no count, so
 *                                      the output counts what Loki does not hold and calls a
 *                                      rejection "mixed" when the entries broke several limits
 *   413                  → LS_DROP     one entry: too long for Loki or a proxy (reason
 *                                      line_too_long); several: request_too_large, and the
 *                                      output halves its pushes until one entry is left
 *   429                  → LS_RETRY    the distributor's tenant limit refused the whole push
 *                                      (reason rate_limited). The ingester's per-stream limit
 *                                      (reason stream_rate_limited) stored PART of it: its body
 *                                      says "total ignored: N out of M" and lists at most 10
 *                                      ignored entries, so the output resends only those when
 *                                      all N are listed, else only what the query API shows
 *                                      missing. Retry-After honoured if a proxy sent one.
 *   other 4xx            → LS_DROP     reason "http_<status>"
 *   no response          → LS_RETRY    timeout or connection error: the push may have been
 *                                      stored, so the engine hands it back as maybe-sent and
 *                                      the output asks the query API before resending */
#ifndef LOGSHIP_LOKI_RESP_H
#define LOGSHIP_LOKI_RESP_H

#include <stddef.h>
#include <stdint.h>

#include "logship/core/output.h"
#include "logship/core/record.h"

/* One push's outcome as the HTTP client saw it. */
struct ls_loki_answer {
    long        status;          /* 0 when no response arrived */
    const char *body;            /* response body (not NUL-terminated necessarily) */
    size_t      body_len;
    int64_t     retry_after_ms;  /* -1 when absent */
    int         timed_out;
    const char *error;           /* transport error text when status == 0 */
};

/* What the output does with an answer beyond its verdict (a row's action). */
enum ls_loki_action {
    LS_LOKI_WHOLE = 0,      /* the verdict holds for every entry of the push */
    LS_LOKI_JUDGE_400,      /* a 400: find out how many entries Loki refused, and why */
    LS_LOKI_HALVE,          /* a 413 for several entries: send them in halves */
    LS_LOKI_PARTIAL_429,    /* a per-stream 429 that lists what it ignored: Loki stored
                             * the rest, so resend only the ignored entries */
};

/* Map an answer to a verdict and fill res->http_status, retry_after_ms, reason,
 * detail (first KB of the body or the error) and, for LS_DROP, dropped: N from
 * "total ignored: N out of M" when present (clamped to nentries), else 0
 * (unknown; the caller may estimate). *action (when action is not NULL)
 * receives what the output must do beyond the verdict. Never fails. */
enum ls_verdict ls_loki_verdict(const struct ls_loki_answer *a, size_t nentries, struct ls_flush_result *res,
                                enum ls_loki_action *action);

/* The drop reason a 400 body gives: "too_far_behind", "too_old", "too_new",
 * "line_too_long", "no_labels", "bad_body" or "other". Never NULL. */
const char *ls_loki_400_reason(const char *body, size_t len);

/* Find "total ignored: N out of M" in body. Returns 0 with *n and *m set, or
 * -1 when absent or malformed. */
int ls_loki_parse_ignored(const char *body, size_t len, uint64_t *n, uint64_t *m);

/* Read the per-entry lines of an ingester rejection ("entry with timestamp
 * <Go time> ignored, reason: ..."): store the timestamps (ns) of up to max of
 * them in ts[] in body order and return how many well-formed lines there are
 * (a line whose time does not parse is not counted, so a caller comparing
 * the result with N from "total ignored" falls back to asking Loki). */
size_t ls_loki_parse_listed(const char *body, size_t len, int64_t *ts, size_t max);

/* The limit a single record breaks by Loki's defaults: "too_old", "too_new"
 * or "line_too_long" (7 days old, 10 minutes ahead of now_ns, 256 KiB), or
 * NULL when it breaks none. */
const char *ls_loki_classify(const struct ls_record *r, int64_t now_ns);

/* Estimate how many of recs[0..n) a 400 with this reason rejected when Loki
 * does not say: for too_old, too_new and line_too_long, the entries that break
 * any of Loki's default limits (7 days old, 10 minutes ahead of now_ns, 256 KiB
 * lines), because Loki names only the last rejected entry of a push. Returns
 * 0 for other reasons or when nothing matches (the caller then counts the
 * whole push). */
size_t ls_loki_estimate_rejected(const char *reason, const struct ls_record *recs, size_t n, int64_t now_ns);

#endif
