/* fuzz_logship_bulk: the _bulk response parser and the document encoder on hostile bytes.
 *
 * The first byte picks the target. Response parsing must never read out of
 * bounds and must report at most cap items. Encoding a hostile line (with
 * hostile labels) must always yield one valid JSON object, checked here with
 * json-c in strict mode. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "logship/out/es_bulk.h"
#include "logship/out/es_status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    if (mode & 1) {
        struct ls_es_bulk_item items[8];
        struct ls_es_bulk_resp r;
        /* copy so that ASan catches any read past the end */
        char *copy = malloc(size ? size : 1);
        if (!copy) return 0;
        memcpy(copy, data, size);
        if (ls_es_bulk_parse_response(copy, size, items, 8, &r) == 0) {
            if (r.nitems > 8 || r.nitems > r.total) abort();
            for (size_t i = 0; i < r.nitems; i++) {
                if (strlen(items[i].type) >= sizeof items[i].type ||
                    strlen(items[i].reason) >= sizeof items[i].reason)
                    abort();
                /* every parsed item gets a verdict, and a configuration error names its fix */
                struct ls_es_status_class c = ls_es_status_item(items[i].status, items[i].type);
                if (c.verdict != LS_DONE && c.verdict != LS_RETRY && c.verdict != LS_DROP &&
                    c.verdict != LS_CONFIG)
                    abort();
                if ((c.verdict == LS_CONFIG) != (c.fix != NULL) || !c.reason || !*c.reason)
                    abort();
                if (items[i].status > 0 && items[i].status < 300 && c.verdict != LS_DONE)
                    abort();
            }
        }
        free(copy);
        return 0;
    }
    /* split: labels | line at the first 0xff byte */
    const uint8_t *sep = memchr(data, 0xff, size);
    size_t ll = sep ? (size_t)(sep - data) : 0;
    const char *labels = (const char *)data;
    const char *line = sep ? (const char *)sep + 1 : (const char *)data;
    size_t linelen = sep ? size - ll - 1 : size;
    char *lab = malloc(ll ? ll : 1), *ln = malloc(linelen ? linelen : 1);
    if (!lab || !ln) { free(lab); free(ln); return 0; }
    memcpy(lab, labels, ll);
    memcpy(ln, line, linelen);
    struct ls_record rec = { .seq = 1, .ts_ns = (int64_t)size * 1000000007LL - 5000000000LL,
                             .labels = lab, .labels_len = ll, .line = ln, .line_len = linelen,
                             .origin = ln, .origin_len = linelen };
    buf_t b;
    buf_init(&b, 1 << 22);
    if (ls_es_bulk_encode_pair(&b, "logs-x-default", &rec) == 0) {
        /* the pair is action\ndoc\n; the document must be exactly one JSON object, checked
         * with json-c in strict mode (the _bulk response parser cannot judge documents: it
         * gives keys like "status" and "error" their response meaning) */
        char *nl = memchr(b.p, '\n', b.len);
        if (!nl) abort();
        size_t dl = b.len - (size_t)(nl + 1 - b.p) - 1;
        struct json_tokener *tok = json_tokener_new_ex(64);
        if (tok) {
            json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
            struct json_object *doc = json_tokener_parse_ex(tok, nl + 1, (int)dl);
            if (!doc || json_tokener_get_error(tok) != json_tokener_success ||
                json_tokener_get_parse_end(tok) != dl || !json_object_is_type(doc, json_type_object))
                abort();
            json_object_put(doc);
            json_tokener_free(tok);
        }
        if (b.p[b.len - 1] != '\n') abort();
    }
    buf_free(&b);
    free(lab);
    free(ln);
    return 0;
}
