/* es_status: what an Elasticsearch _bulk answer means, the status → verdict table in one place.
 *
 * Per item of a 200 _bulk response (first matching row wins; the rows that
 * name an error type come first because the status alone is ambiguous):
 *   1..299                          → LS_DONE    stored
 *   409                             → LS_DONE    already stored (create with our
 *                                                deterministic _id): a duplicate
 *   cluster_block_exception (403, or 429 for the flood-stage disk block)
 *                                   → LS_CONFIG  the index is read-only
 *   security_exception, any 403     → LS_CONFIG  the user lacks the index privilege
 *   index_not_found_exception, any 404
 *                                   → LS_CONFIG  auto-create is off and the target is missing
 *   index_closed_exception          → LS_CONFIG  the index is closed
 *   invalid_index_name_exception    → LS_CONFIG  the target name is refused
 *   429, 5xx                        → LS_RETRY   those items only
 *   0 (not in the response)         → LS_RETRY   resent: a stored one comes back 409
 *   413                             → LS_DROP    counted as too_large
 *   other 4xx                       → LS_DROP    the document itself is refused:
 *                                                dead letter, or dropped and counted
 * Configuration errors hit every document bound for that target alike, so
 * they keep the data (the engine probes every --config-error-retry and turns
 * /ready 503) instead of dead-lettering a whole stream.
 *
 * Per request (the common table of core/verdict.h, with Elasticsearch's
 * remedies and 1xx read as a redirect):
 *   2xx                             → read the items
 *   413                             → LS_DROP    too_large: the output halves the request
 *                                                and drops a single document
 *   408, 429, 5xx, no response      → LS_RETRY   everything not yet judged
 *   401, 403, 404, 407              → LS_CONFIG  credentials, privileges, URL, proxy auth
 *   1xx, 3xx                        → LS_CONFIG  redirects are not followed: wrong URL
 *   other 4xx                       → LS_DROP    every document of that request */
#ifndef LOGSHIP_ES_STATUS_H
#define LOGSHIP_ES_STATUS_H

#include "logship/core/output.h"

/* What send_range does beyond the verdict (a row's action). */
enum ls_es_action {
    LS_ES_FINAL = 0,        /* the verdict is the answer for every document concerned */
    LS_ES_READ_ITEMS,       /* a 2xx request: judge each item of the body */
    LS_ES_TOO_LARGE,        /* 413: halve the request; a single document is dropped as too_large */
};

struct ls_es_status_class {
    enum ls_verdict verdict;
    enum ls_es_action action;
    int duplicate;          /* 1 for 409: delivered, counted apart */
    int down;               /* a request's: the backend is not serving (no response, 5xx) */
    const char *reason;     /* short metric label value, e.g. "forbidden" */
    const char *fix;        /* for LS_CONFIG: what the operator must change; else NULL */
};

/* Classify one item by its status and error.type (NULL or "" when none).
 * Never fails; returned strings are static. */
struct ls_es_status_class ls_es_status_item(int status, const char *type);

/* Classify a whole-request HTTP status; status 0 means no response. 2xx
 * comes back LS_DONE with LS_ES_READ_ITEMS, 413 LS_DROP with LS_ES_TOO_LARGE.
 * Never fails. */
struct ls_es_status_class ls_es_status_request(long status);

#endif
