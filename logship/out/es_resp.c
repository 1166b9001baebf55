/* es_resp: reading a _bulk response, the per-item statuses and errors in request order, tolerating a body cut short
 * (see es_bulk.h). */
#include "logship/out/es_bulk.h"

#include <string.h>

#include "jsonscan.h"
#include "utf8.h"

/* Decode the JSON string at p (at '"') into out[0..cap), truncated at a UTF-8
 * boundary and NUL-terminated. Returns the byte after the string, or NULL. */
static const char *decode_str(const char *p, const char *end, char *out, size_t cap)
{
    const char *q = jsonscan_string(p, end, NULL);
    if (!q)
        return NULL;
    size_t raw = (size_t)(q - p - 2);
    buf_t b;
    buf_init(&b, raw * 3 + 1);
    size_t o = 0;
    if (jsonscan_unescape(p + 1, raw, &b) == 0) {
        for (size_t i = 0; i < b.len;) {
            size_t tn = utf8_seq_len((const unsigned char *)b.p + i, b.len - i);
            if (tn == 0)
                tn = 1;
            if (o + tn >= cap)
                break;
            memcpy(out + o, b.p + i, tn);
            o += tn;
            i += tn;
        }
    }
    out[o] = '\0';
    buf_free(&b);
    return q;
}

/* A string member named name, decoded into out; else skip the value. */
static const char *member_str(const struct jsonscan_obj *o, const char *name, char *out, size_t cap, int depth)
{
    if (*o->p == '"' && jsonscan_key_is(o, name, strlen(name)))
        return decode_str(o->p, o->e, out, cap);
    return jsonscan_value(o->p, o->e, depth);
}

/* Parse {"type":..,"reason":..,...} (or a bare string reason) at p. */
static const char *parse_error(const char *p, const char *end, struct ls_es_bulk_item *it)
{
    if (*p == '"')
        return decode_str(p, end, it->reason, sizeof(it->reason));
    struct jsonscan_obj o;
    if (*p != '{' || jsonscan_obj_open(&o, p, end) != 0)
        return jsonscan_value(p, end, JSONSCAN_MAX_DEPTH - 1);
    int r;
    while ((r = jsonscan_obj_next(&o)) == 1) {
        if (jsonscan_key_is(&o, "type", 4))
            o.p = member_str(&o, "type", it->type, sizeof(it->type), JSONSCAN_MAX_DEPTH - 2);
        else
            o.p = member_str(&o, "reason", it->reason, sizeof(it->reason), JSONSCAN_MAX_DEPTH - 2);
    }
    return r == 0 ? o.p : NULL;
}

/* A status number: its digits, capped at 999; a negative one reads 0. */
static const char *parse_status(const char *p, const char *end, int *status)
{
    const char *ne = jsonscan_number(p, end);
    if (!ne)
        return NULL;
    long v = 0;
    for (const char *d = p; d < ne && *d >= '0' && *d <= '9'; d++) {
        v = v * 10 + (*d - '0');
        if (v > 999)
            v = 999;
    }
    *status = *p == '-' ? 0 : (int)v;
    return ne;
}

/* The inner object of an item: {"_index":..,"status":201,"error":{...}}. */
static const char *parse_item_body(const char *p, const char *end, struct ls_es_bulk_item *it)
{
    struct jsonscan_obj o;
    if (jsonscan_obj_open(&o, p, end) != 0)
        return NULL;
    int r;
    while ((r = jsonscan_obj_next(&o)) == 1) {
        if (jsonscan_key_is(&o, "status", 6))
            o.p = parse_status(o.p, end, &it->status);
        else if (jsonscan_key_is(&o, "error", 5))
            o.p = parse_error(o.p, end, it);
        else
            o.p = jsonscan_value(o.p, end, JSONSCAN_MAX_DEPTH - 2);
    }
    return r == 0 ? o.p : NULL;
}

/* One element of "items": {"create":{...}} (any action name). */
static const char *parse_item(const char *p, const char *end, struct ls_es_bulk_item *it)
{
    struct jsonscan_obj o;
    if (p >= end || *p != '{' || jsonscan_obj_open(&o, p, end) != 0)
        return NULL;
    int r;
    while ((r = jsonscan_obj_next(&o)) == 1)
        o.p = *o.p == '{' ? parse_item_body(o.p, end, it) : jsonscan_value(o.p, end, JSONSCAN_MAX_DEPTH - 2);
    return r == 0 ? o.p : NULL;
}

/* The "items" array at p (at '['): items[0..cap) filled in order, out's
 * counts kept. The byte after ']', or NULL where the array breaks off. */
static const char *parse_items(const char *p, const char *end, struct ls_es_bulk_item *items, size_t cap,
                               struct ls_es_bulk_resp *out)
{
    p = jsonscan_ws(p + 1, end);
    if (p < end && *p == ']')
        return p + 1;
    for (;;) {
        struct ls_es_bulk_item tmp;
        struct ls_es_bulk_item *it = out->total < cap ? &items[out->total] : &tmp;
        memset(it, 0, sizeof(*it));
        p = parse_item(p, end, it);
        if (!p)
            return NULL;
        out->total++;
        if (out->total <= cap)
            out->nitems = out->total;
        p = jsonscan_ws(p, end);
        if (p >= end)
            return NULL;
        if (*p == ']')
            return p + 1;
        if (*p != ',')
            return NULL;
        p = jsonscan_ws(p + 1, end);
    }
}

int ls_es_bulk_parse_response(const char *body, size_t len, struct ls_es_bulk_item *items, size_t cap,
                           struct ls_es_bulk_resp *out)
{
    memset(out, 0, sizeof(*out));
    out->errors = -1;
    if (!body)
        return -1;
    const char *end = body + len;
    struct jsonscan_obj o;
    if (jsonscan_obj_open(&o, body, end) != 0)
        return -1;
    int r;
    while ((r = jsonscan_obj_next(&o)) == 1) {
        if (jsonscan_key_is(&o, "errors", 6) && (*o.p == 't' || *o.p == 'f')) {
            const char *q = jsonscan_value(o.p, end, 0);
            if (!q)
                return 0;
            out->errors = *o.p == 't';
            o.p = q;
        } else if (jsonscan_key_is(&o, "items", 5) && *o.p == '[') {
            o.p = parse_items(o.p, end, items, cap, out);
        } else {
            o.p = jsonscan_value(o.p, end, JSONSCAN_MAX_DEPTH - 1);
        }
        if (!o.p)
            return 0;
    }
    if (r == 0)
        out->complete = jsonscan_ws(o.p, end) == end;
    return 0;
}
