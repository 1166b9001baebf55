/* es_status: the Elasticsearch item and request status tables (see es_status.h). */
#include "logship/out/es_status.h"

#include <limits.h>
#include <string.h>

#define FIX_PRIVILEGE "grant logship's user the create_doc (or create, index, write) index privilege on the target"

/* Error types that are about the cluster, not the document: every document
 * bound for the same target fails alike, whatever its status. */
static const struct {
    const char *type;
    const char *reason;
    const char *fix;
} config_types[] = {
    { "cluster_block_exception", "index_blocked",
      "the index is read-only: free disk below the flood-stage watermark, or clear "
      "index.blocks.write / index.blocks.read_only_allow_delete on it" },
    { "security_exception", "forbidden", FIX_PRIVILEGE },
    { "index_not_found_exception", "index_not_found",
      "create the index or data stream (or an index template matching it), or allow "
      "action.auto_create_index for its name" },
    { "index_closed_exception", "index_closed", "open the index (POST /<index>/_open)" },
    { "invalid_index_name_exception", "invalid_index", "choose a valid --es-index" },
};

/* An item is not an HTTP response: its 401, 407, 408 or 3xx mean nothing
 * about the connection, so the item table stands alone (no common rows):
 * below 300 stored, 409 a duplicate, 403 and 404 the cluster's configuration
 * even when the type is unknown, 429 and 5xx retried, 0 (not in the
 * response) resent, 413 dropped as too large; anything else is the
 * document's own fault. */
static const struct ls_verdict_row item_rows[] = {
    { 1, 299, LS_DONE, "stored", NULL },
    { 413, 413, LS_DROP, "rejected", NULL, LS_ES_TOO_LARGE },
    { 409, 409, LS_DONE, "duplicate", NULL },   /* create with our deterministic _id */
    { 403, 403, LS_CONFIG, "forbidden", FIX_PRIVILEGE },
    { 404, 404, LS_CONFIG, "index_not_found", "create the target or allow action.auto_create_index for its name" },
    { 0, 0, LS_RETRY, "bad_response", NULL },
    { 429, 429, LS_RETRY, "rate_limited", NULL },
    { 500, LONG_MAX, LS_RETRY, "server_error", NULL },
    { LONG_MIN, LONG_MAX, LS_DROP, "rejected", NULL },
};

static struct ls_es_status_class from_row(const struct ls_verdict_row *r, const char *fix)
{
    struct ls_es_status_class c = { r->verdict, (enum ls_es_action)r->action, 0, r->down, r->reason, fix };
    return c;
}

struct ls_es_status_class ls_es_status_item(int status, const char *type)
{
    const struct ls_verdict_row *r = ls_verdict_find(item_rows, sizeof(item_rows) / sizeof(item_rows[0]), status);
    if (r->verdict == LS_DONE) {
        struct ls_es_status_class c = from_row(r, NULL);
        c.duplicate = status == 409;
        return c;
    }
    if (type && *type) {
        for (size_t i = 0; i < sizeof(config_types) / sizeof(config_types[0]); i++) {
            if (strcmp(type, config_types[i].type) == 0) {
                struct ls_es_status_class c = { LS_CONFIG, LS_ES_FINAL, 0, 0, config_types[i].reason,
                                                config_types[i].fix };
                return c;
            }
        }
    }
    return from_row(r, r->fix);
}

/* The request rows over the common table: a 2xx has items to read, a 413
 * asks for smaller requests, Elasticsearch's remedies, and a 1xx final status
 * read as a redirect (the client does not follow one either
 * way: a moved URL is a configuration error). */
static const struct ls_verdict_row request_rows[] = {
    { 200, 299, LS_DONE, "stored", NULL, LS_ES_READ_ITEMS },
    { 413, 413, LS_DROP, "too_large", NULL, LS_ES_TOO_LARGE },
    { 401, 401, LS_CONFIG, "unauthorized", "check --username/--password or --api-key" },
    { 403, 403, LS_CONFIG, "forbidden", "grant logship's user the cluster/index privileges for _bulk on the target" },
    { 404, 404, LS_CONFIG, "not_found", "check the --elasticsearch URL (a path prefix of a proxy?)" },
    { 407, 407, LS_CONFIG, "proxy_auth",
      "a proxy in the way (http_proxy / https_proxy in the environment) wants credentials: "
      "put them in the proxy URL, or set no_proxy for the cluster" },
    { LONG_MIN, 199, LS_CONFIG, "redirect", "point --elasticsearch at the cluster itself, not at a redirect" },
    { 300, 399, LS_CONFIG, "redirect", "point --elasticsearch at the cluster itself, not at a redirect" },
};

struct ls_es_status_class ls_es_status_request(long status)
{
    const struct ls_verdict_row *r = ls_verdict_lookup(request_rows, sizeof(request_rows) / sizeof(request_rows[0]),
                                                       status);
    return from_row(r, r->fix);
}
