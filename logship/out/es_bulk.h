/* es_bulk: the Elasticsearch _bulk wire format, both directions, with no I/O.
 *
 * Encoding turns records into NDJSON action/source pairs (es_bulk.c): a
 * `create` action with a deterministic _id (es_docid.c: a replay yields
 * 409s, not duplicates) into a data stream or a date-patterned index
 * (es_index.c), and the record's event as the document (event.h, the same
 * JSON Logstash receives). Decoding (es_resp.c) reads the per-item statuses
 * of a _bulk response, in request order, tolerating a body cut short (the
 * items read before the cut still count). Kept apart from
 * out_elasticsearch.c so that unit tests and fuzzers reach it without a
 * network. */
#ifndef LOGSHIP_ES_BULK_H
#define LOGSHIP_ES_BULK_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "logship/core/record.h"

#define ES_BULK_DEFAULT_INDEX "logs-hello-default"
#define ES_BULK_ID_LEN 32          /* hex digits of a document _id */
#define ES_BULK_INDEX_MAX 256      /* longest expanded index name (ES allows 255 bytes) */

/* Check an index pattern: non-empty, at most ES_BULK_INDEX_MAX - 1 bytes when
 * expanded, lowercase-safe characters only, and only the conversions %Y %m %d
 * %H %% (UTC, from each record's timestamp). Returns 0, or -1 with a one-line
 * reason in err. */
int ls_es_bulk_index_check(const char *pattern, char *err, size_t errlen);

/* Expand an index pattern for a record time into out (NUL-terminated).
 * Returns the length, or -1 when the pattern is invalid or out is too small. */
int ls_es_bulk_index_name(const char *pattern, int64_t ts_ns, char *out, size_t outlen);

/* The deterministic _id of a record: a 128-bit hash of its origin (two
 * unrelated 64-bit hashes, FNV-1a and a multiply/rotate one, both finalised
 * with splitmix64) as 32 lowercase hex digits plus a NUL. A record without an
 * origin falls back to the hash of "seq:<seq>" (stable for replays out of the
 * spool). Not cryptographic: origins are not adversarial. Cannot fail. */
void ls_es_docid(const struct ls_record *rec, char out[ES_BULK_ID_LEN + 1]);

/* Append the NDJSON pair for rec: {"create":{"_index":..,"_id":..}}\n<event>\n.
 * index is the already-expanded target, or NULL to leave _index out (the
 * request then names the target: POST /<index>/_bulk, 40 bytes less per
 * document to build and compress). Returns 0, or -1 on the cap (out is then
 * left as it was). */
int ls_es_bulk_encode_pair(buf_t *out, const char *index, const struct ls_record *rec) BUF_WARN_UNUSED;

/* One item of a _bulk response. */
struct ls_es_bulk_item {
    int  status;           /* HTTP status of the item; 0 when missing */
    char type[64];         /* error.type, "" when none (truncated to fit) */
    char reason[256];      /* error.reason, "" when none (truncated to fit) */
};

struct ls_es_bulk_resp {
    int    errors;         /* the "errors" flag: 1, 0, or -1 when absent */
    size_t nitems;         /* items parsed, in order (at most the cap given) */
    size_t total;          /* items seen, including those beyond the cap */
    int    complete;       /* 1 when the whole body was well-formed JSON */
};

/* Parse a _bulk response body (which need not be NUL-terminated). Fills
 * items[0..cap) in order and *out. Items after a cut-off or malformed point are
 * not reported (the caller resends them). Returns 0 when the body opens as a
 * JSON object, else -1 (nothing usable). Never reads outside body[0..len). */
int ls_es_bulk_parse_response(const char *body, size_t len, struct ls_es_bulk_item *items,
                           size_t cap, struct ls_es_bulk_resp *out);

#endif
