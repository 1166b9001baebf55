/* verdict: what a backend's answer means to the engine, as one status → verdict table that every output extends row
 * by row.
 *
 * The common rows hold what HTTP itself says; an output adds rows only where
 * its backend differs (with the reason in the row's comment) or where it has
 * a remedy of its own to print. A lookup takes the most specific matching
 * row (the narrowest status range), and on a tie the output's row, so an
 * output's exact 400 wins over the common 4xx, and its 4xx over nothing.
 *
 *   status     verdict    reason         why
 *   0          LS_RETRY   connection     no response: transient
 *   2xx        LS_DONE    stored
 *   3xx        LS_CONFIG  redirect       redirects are not followed: the URL is wrong
 *   401        LS_CONFIG  unauthorized   credentials: keep the data, alert
 *   403        LS_CONFIG  forbidden      privileges or tenant: keep the data, alert
 *   404        LS_CONFIG  not_found      the URL (a proxy's path prefix?)
 *   407        LS_CONFIG  proxy_auth     a proxy in the way wants credentials
 *   408        LS_RETRY   timeout        a proxy timed the request out
 *   429        LS_RETRY   rate_limited   back off
 *   other 4xx  LS_DROP    rejected       the request itself is refused: resending cannot help
 *   5xx and up LS_RETRY   server_error   the backend is down (so is no response)
 *   anything else (1xx as a final status)  LS_RETRY  bad_status  a broken proxy: try again */
#ifndef LOGSHIP_VERDICT_H
#define LOGSHIP_VERDICT_H

#include <stddef.h>

/* Verdicts, per batch or per record:
 *   LS_DONE    delivered (or already stored: ES 409 on create) → acknowledge
 *   LS_RETRY   transient (429, 5xx, timeout, connection error) → resend later
 *   LS_DROP    permanent for this data (Loki 400, ES item 4xx) → count, log,
 *              dead-letter if configured, acknowledge
 *   LS_CONFIG  the backend says our configuration is wrong (401/403/404/407,
 *              or an ES item's security_exception / index_not_found_exception):
 *              alert loudly with res->fix, keep the data, /ready 503, probe
 *              every config_retry_ms until it works
 *   LS_PARTIAL (a flush's answer only) res->item carries per-record verdicts */
enum ls_verdict { LS_DONE = 0, LS_RETRY, LS_DROP, LS_CONFIG, LS_PARTIAL };

/* One row: the statuses lo..hi (inclusive) mean verdict. */
struct ls_verdict_row {
    long lo, hi;
    enum ls_verdict verdict;
    const char *reason;     /* short metric label value; NULL when the output derives it
                             * (from the body, the batch, the status) */
    const char *fix;        /* LS_CONFIG: the one-line remedy the engine logs, or NULL */
    int action;             /* what the output does beyond the verdict, in its own enum
                             * (halve the request on 413, judge a 400's body...); 0: nothing */
    int down;               /* 1: the backend is not serving (no answer, 5xx); the output
                             * passes it on as ls_flush_result.backend_up = !down */
};

/* The most specific row of rows[0..n) that holds status (the narrowest range;
 * on a tie the first), or NULL when none does. */
const struct ls_verdict_row *ls_verdict_find(const struct ls_verdict_row *rows, size_t n, long status);

/* The row for an HTTP status: the most specific of the output's rows ext[0..n)
 * (may be NULL, 0) and the common rows, the output's on a tie. Never NULL. */
const struct ls_verdict_row *ls_verdict_lookup(const struct ls_verdict_row *ext, size_t n, long status);

#endif
