/* fuzz_logship_loki_encode: the Loki encoders on hostile records: protobuf must decode back to the same entries, JSON must parse.
 *
 * The input is cut into records at 0xFF bytes: the first byte of each piece
 * picks a label set (three fixed ones or, for 3, the piece's own bytes up to a
 * 0xFE as a hostile label string), the next two a timestamp offset, the rest is
 * the line. Invariants: grouping keeps every record with a valid label string;
 * the protobuf body snappy-decodes and walks to exactly those entries, per
 * stream in non-decreasing time; the JSON body (gzip and plain) is valid JSON
 * (json-c) with the same number of entries; the label walker (what the query
 * check compares Loki's answer with) accepts exactly the strings grouping
 * accepts, and stream ends tile the order. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <zlib.h>

#include "logship/out/loki_encode.h"
#include "tests/lib/lokipb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_pair(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen)
{
    (void)name;
    (void)value;
    if (nlen == 0 || (vlen && !value))
        abort();
    ++*(size_t *)ctx;
    return 0;
}

#define MAXREC 256

/* Entries of a protobuf push, walked by the shared decoder (tests/lib/lokipb.c, strict: only the fields logship
 * writes), with time order checked per stream. */
struct pbcount {
    size_t entries;
    int64_t last;
};

static int pb_stream(void *ud)
{
    ((struct pbcount *)ud)->last = INT64_MIN;
    return 0;
}

static int pb_entry(void *ud, int64_t sec, int64_t nanos, const char *line, size_t len)
{
    struct pbcount *c = ud;
    (void)line;
    (void)len;
    c->entries++;
    int64_t ts = sec * 1000000000 + nanos;
    if (ts < c->last)
        abort(); /* time order within a stream */
    c->last = ts;
    return 0;
}

static size_t count_pb(const char *body, size_t blen)
{
    unsigned char *raw;
    size_t rawlen;
    if (lokipb_unsnappy(body, blen, &raw, &rawlen) != 0)
        abort();
    struct pbcount c = { 0, INT64_MIN };
    const struct lokipb_visit v = { .ud = &c, .stream = pb_stream, .entry = pb_entry };
    if (lokipb_walk(raw, rawlen, LOKIPB_STRICT, &v) != 0)
        abort();
    free(raw);
    return c.entries;
}

static size_t count_json(const char *body, size_t blen, int gz, size_t raw)
{
    char *text = NULL;
    size_t tlen = blen;
    if (gz) {
        size_t cap = raw + 64; /* the encoder reports the uncompressed size */
        text = malloc(cap);
        if (!text)
            abort();
        z_stream z;
        memset(&z, 0, sizeof(z));
        if (inflateInit2(&z, 31) != Z_OK)
            abort();
        z.next_in = (Bytef *)body;
        z.avail_in = (uInt)blen;
        z.next_out = (Bytef *)text;
        z.avail_out = (uInt)cap;
        if (inflate(&z, Z_FINISH) != Z_STREAM_END)
            abort();
        tlen = cap - z.avail_out;
        inflateEnd(&z);
        if (tlen != raw)
            abort();
    }
    struct json_tokener *tok = json_tokener_new();
    json_object *doc = json_tokener_parse_ex(tok, gz ? text : body, (int)tlen);
    if (!doc || json_tokener_get_error(tok) != json_tokener_success)
        abort();
    json_tokener_free(tok);
    size_t entries = 0;
    json_object *streams, *vals;
    if (!json_object_object_get_ex(doc, "streams", &streams))
        abort();
    for (size_t i = 0; i < json_object_array_length(streams); i++) {
        if (!json_object_object_get_ex(json_object_array_get_idx(streams, i), "values", &vals))
            abort();
        entries += json_object_array_length(vals);
    }
    json_object_put(doc);
    free(text);
    return entries;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const fixed[] = { "{a=\"1\"}", "{a=\"2\", b=\"x\\\"y\"}", "{}" };
    struct ls_record recs[MAXREC];
    size_t n = 0, i = 0;
    while (i < size && n < MAXREC) {
        size_t j = i;
        while (j < size && data[j] != 0xFF)
            j++;
        const uint8_t *p = data + i;
        size_t len = j - i;
        i = j + 1;
        if (len < 3)
            continue;
        struct ls_record *r = &recs[n++];
        memset(r, 0, sizeof(*r));
        r->ts_ns = (int64_t)((p[1] << 8) | p[2]) * 1000 - 30000000;
        if (p[0] % 4 == 3) {
            const uint8_t *e = memchr(p + 3, 0xFE, len - 3);
            size_t ll = e ? (size_t)(e - (p + 3)) : len - 3;
            r->labels = (const char *)p + 3;
            r->labels_len = ll;
            r->line = (const char *)p + 3 + ll;
            r->line_len = len - 3 - ll;
        } else {
            r->labels = fixed[p[0] % 4];
            r->labels_len = strlen(r->labels);
            r->line = (const char *)p + 3;
            r->line_len = len - 3;
        }
    }
    if (n == 0)
        return 0;
    char err[256];
    /* Encoders live across inputs, as in logship: state left by one batch must not leak into the next. */
    static struct ls_loki_enc *encs[3];
    for (int mode = 0; mode < 3; mode++) {
        if (!encs[mode])
            encs[mode] = ls_loki_enc_new(mode == 0 ? LS_LOKI_PROTOBUF : LS_LOKI_JSON, mode == 1);
        struct ls_loki_enc *e = encs[mode];
        buf_t body;
        size_t raw, norder;
        if (!e)
            abort();
        buf_init(&body, 16 << 20);
        if (ls_loki_encode(e, recs, n, &body, &raw, err, sizeof(err)) != 0)
            abort();
        ls_loki_enc_order(e, &norder);
        size_t good = 0;
        for (size_t k = 0; k < n; k++)
            good += !ls_loki_enc_bad_labels(e, k);
        if (good != norder)
            abort();
        /* the label walker agrees with the grouping on which strings are valid, and
         * stream ends tile the order */
        for (size_t k = 0; k < n; k++) {
            size_t pairs = 0;
            buf_t scratch;
            buf_init(&scratch, recs[k].labels_len + 1);
            int ok = ls_labels_each(recs[k].labels, recs[k].labels_len, &scratch, count_pair, &pairs) == 0;
            buf_free(&scratch);
            if (ok == ls_loki_enc_bad_labels(e, k))
                abort();
        }
        for (size_t from = 0, to; from < norder; from = to)
            if ((to = ls_loki_enc_stream_end(e, from)) <= from || to > norder)
                abort();
        size_t got = mode == 0 ? count_pb(body.p, body.len) : count_json(body.p, body.len, mode == 1, raw);
        if (got != norder)
            abort();
        buf_free(&body);
    }
    return 0;
}
