/* es_status: the Elasticsearch item and request status tables (see es_status.h). */
#include "logship/out/es_status.h"

#include <string.h>

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
    { "security_exception", "forbidden",
      "grant logship's user the create_doc (or create, index, write) index privilege on the target" },
    { "index_not_found_exception", "index_not_found",
      "create the index or data stream (or an index template matching it), or allow "
      "action.auto_create_index for its name" },
    { "index_closed_exception", "index_closed", "open the index (POST /<index>/_open)" },
    { "invalid_index_name_exception", "invalid_index", "choose a valid --es-index" },
};

/* Item statuses that mean the cluster's configuration even when the type is unknown. */
static const struct {
    int status;
    const char *reason;
    const char *fix;
} config_statuses[] = {
    { 403, "forbidden", "grant logship's user the create_doc (or create, index, write) index privilege "
                        "on the target" },
    { 404, "index_not_found", "create the target or allow action.auto_create_index for its name" },
};

struct es_status_class es_status_item(int status, const char *type)
{
    struct es_status_class c = { LS_DROP, 0, "rejected", NULL };
    if (status > 0 && status < 300) {
        c.verdict = LS_DONE;
        c.reason = "stored";
        return c;
    }
    if (status == 409) {
        c.verdict = LS_DONE;
        c.duplicate = 1;
        c.reason = "duplicate";
        return c;
    }
    if (type && *type)
        for (size_t i = 0; i < sizeof config_types / sizeof config_types[0]; i++)
            if (strcmp(type, config_types[i].type) == 0) {
                c.verdict = LS_CONFIG;
                c.reason = config_types[i].reason;
                c.fix = config_types[i].fix;
                return c;
            }
    for (size_t i = 0; i < sizeof config_statuses / sizeof config_statuses[0]; i++)
        if (status == config_statuses[i].status) {
            c.verdict = LS_CONFIG;
            c.reason = config_statuses[i].reason;
            c.fix = config_statuses[i].fix;
            return c;
        }
    if (status == 0) {
        c.verdict = LS_RETRY;
        c.reason = "bad_response";
    } else if (status == 429) {
        c.verdict = LS_RETRY;
        c.reason = "rate_limited";
    } else if (status >= 500) {
        c.verdict = LS_RETRY;
        c.reason = "server_error";
    }
    return c;
}

struct es_status_class es_status_request(long status)
{
    struct es_status_class c = { LS_DROP, 0, "rejected", NULL };
    if (status >= 200 && status < 300) {
        c.verdict = LS_DONE;
        c.reason = "stored";
    } else if (status == 0) {
        c.verdict = LS_RETRY;
        c.reason = "connection";
    } else if (status == 408) {
        c.verdict = LS_RETRY;
        c.reason = "timeout";
    } else if (status == 429) {
        c.verdict = LS_RETRY;
        c.reason = "rate_limited";
    } else if (status >= 500) {
        c.verdict = LS_RETRY;
        c.reason = "server_error";
    } else if (status == 401) {
        c.verdict = LS_CONFIG;
        c.reason = "unauthorized";
        c.fix = "check --username/--password or --api-key";
    } else if (status == 403) {
        c.verdict = LS_CONFIG;
        c.reason = "forbidden";
        c.fix = "grant logship's user the cluster/index privileges for _bulk on the target";
    } else if (status == 404) {
        c.verdict = LS_CONFIG;
        c.reason = "not_found";
        c.fix = "check the --elasticsearch URL (a path prefix of a proxy?)";
    } else if (status == 407) {
        c.verdict = LS_CONFIG;
        c.reason = "proxy_auth";
        c.fix = "a proxy in the way (http_proxy / https_proxy in the environment) wants credentials: "
                "put them in the proxy URL, or set no_proxy for the cluster";
    } else if (status < 200 || (status >= 300 && status < 400)) {
        /* 1xx/3xx: the client does not follow redirects; a moved URL is a configuration error */
        c.verdict = LS_CONFIG;
        c.reason = "redirect";
        c.fix = "point --elasticsearch at the cluster itself, not at a redirect";
    }
    return c;
}
