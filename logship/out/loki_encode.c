/* loki_encode: stream grouping and the two Loki push encodings (hand-written protobuf + snappy, JSON + gzip). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <snappy-c.h>

#include "jsonw.h"
#include "array.h"
#include "hash.h"
#include "logship/out/gzip.h"
#include "logship/out/loki_encode.h"

/* Chosen by bench/loki_encode.c (1M ~225-byte JSON access-log lines, 1 MiB batches, this 2-core VM):
 *   protobuf+snappy  0.34 CPU-s per million lines, 80 B/line on the wire   ← the default
 *   JSON+gzip -1     2.2  CPU-s,                   56 B/line
 *   JSON+gzip -6     4.8  CPU-s,                   47 B/line
 * gzip -6 doubles the CPU of -1 for 16% fewer bytes, so JSON uses level 1 (LS_GZIP_LEVEL). */
#define RAW_MAX ((size_t)1 << 30) /* a batch never gets near this; it bounds the scratch */

struct stream {
    const char *labels;
    size_t      len;
    uint64_t    hash;
    uint32_t    count;
    uint32_t    start;     /* first slot in order[] */
    uint32_t    slot;      /* its slot in the hash table, cleared after grouping */
    int64_t     last_ts;
    int         unsorted;
    int         bad;       /* label string does not parse */
};

struct tsidx {
    int64_t  ts;
    uint32_t idx;
};

struct ls_loki_enc {
    enum ls_loki_encoding enc;
    int gzip;
    size_t cap;               /* records the per-record arrays hold */
    uint32_t *sid;            /* record → stream */
    uint32_t *order;          /* record indices, stream by stream */
    uint32_t *esize;          /* protobuf entry sizes of the range being encoded */
    struct tsidx *sortbuf;    /* scratch for streams that arrived out of time order */
    size_t sort_cap;
    size_t norder, nrecs;
    struct stream *streams;
    size_t nstreams, cap_streams;
    uint32_t *table;          /* open addressing: stream id + 1, 0 = empty */
    size_t table_cap;
    char *raw;                /* uncompressed body scratch (protobuf) */
    size_t raw_cap;
    buf_t json;               /* uncompressed body scratch (JSON) */
    buf_t tmp;                /* unescaped label values */
    struct ls_gzip gz;        /* JSON body compressor, reused across pushes */
};

struct ls_loki_enc *ls_loki_enc_new(enum ls_loki_encoding enc, int gzip)
{
    struct ls_loki_enc *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->enc = enc;
    e->gzip = enc == LS_LOKI_JSON && gzip;
    buf_init(&e->json, RAW_MAX);
    buf_init(&e->tmp, RAW_MAX);
    ls_gzip_init(&e->gz);
    return e;
}

void ls_loki_enc_free(struct ls_loki_enc *e)
{
    if (!e)
        return;
    ls_gzip_end(&e->gz);
    free(e->sid);
    free(e->order);
    free(e->esize);
    free(e->sortbuf);
    free(e->streams);
    free(e->table);
    free(e->raw);
    buf_free(&e->json);
    buf_free(&e->tmp);
    free(e);
}

const char *ls_loki_content_type(const struct ls_loki_enc *e)
{
    return e->enc == LS_LOKI_JSON ? "application/json" : "application/x-protobuf";
}

const char *ls_loki_content_encoding(const struct ls_loki_enc *e)
{
    return e->gzip ? "gzip" : NULL;
}

/* --- grouping ------------------------------------------------------------------------ */

static int cmp_tsidx(const void *a, const void *b)
{
    const struct tsidx *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Find or add the stream for these labels; returns its id or -1 on OOM. */
static int64_t stream_id(struct ls_loki_enc *e, const char *labels, size_t len)
{
    uint64_t h = hash_fnv1a64(labels, len);
    size_t mask = e->table_cap - 1;
    size_t slot = (size_t)h & mask;
    for (;;) {
        uint32_t v = e->table[slot];
        if (v == 0)
            break;
        struct stream *st = &e->streams[v - 1];
        if (st->hash == h && st->len == len && memcmp(st->labels, labels, len) == 0)
            return v - 1;
        slot = (slot + 1) & mask;
    }
    if (array_grow((void **)&e->streams, &e->cap_streams, e->nstreams + 1, sizeof(*e->streams), 0) != 0)
        return -1;
    struct stream *st = &e->streams[e->nstreams];
    memset(st, 0, sizeof(*st));
    st->labels = labels;
    st->len = len;
    st->hash = h;
    st->slot = (uint32_t)slot;
    st->bad = ls_labels_each(labels, len, &e->tmp, NULL, NULL) != 0;
    e->table[slot] = (uint32_t)(e->nstreams + 1);
    return (int64_t)e->nstreams++;
}

/* Give every record its stream (e->sid), counting each stream's records.
 * 0, or -1 on OOM. The hash table's slots are the caller's to clear. */
static int assign_streams(struct ls_loki_enc *e, const struct ls_record *recs, size_t n)
{
    int64_t prev = -1;
    for (size_t i = 0; i < n; i++) {
        const struct ls_record *r = &recs[i];
        int64_t id;
        /* Consecutive records usually share a stream: skip the hash then. */
        if (prev >= 0 && e->streams[prev].len == r->labels_len &&
            memcmp(e->streams[prev].labels, r->labels, r->labels_len) == 0) {
            id = prev;
        } else {
            id = stream_id(e, r->labels, r->labels_len);
            if (id < 0)
                return -1;
        }
        struct stream *st = &e->streams[id];
        if (st->count > 0 && r->ts_ns < st->last_ts)
            st->unsorted = 1;
        st->last_ts = r->ts_ns;
        st->count++;
        e->sid[i] = (uint32_t)id;
        prev = id;
    }
    return 0;
}

int ls_loki_group(struct ls_loki_enc *e, const struct ls_record *recs, size_t n)
{
    e->norder = 0;
    e->nrecs = 0;
    e->nstreams = 0;
    if (n > UINT32_MAX / 4)
        return -1;
    if (n > e->cap) {
        /* Each array grows to the same capacity; e->cap moves only when all did. */
        size_t c1 = e->cap, c2 = e->cap, c3 = e->cap;
        if (array_grow((void **)&e->sid, &c1, n, sizeof(*e->sid), 0) != 0 ||
            array_grow((void **)&e->order, &c2, n, sizeof(*e->order), 0) != 0 ||
            array_grow((void **)&e->esize, &c3, n, sizeof(*e->esize), 0) != 0)
            return -1;
        e->cap = c1;
    }
    size_t tc = 64;
    while (tc < 2 * n)
        tc *= 2;
    if (tc > e->table_cap) {
        uint32_t *t = calloc(tc, sizeof(*t));
        if (!t)
            return -1;
        free(e->table);
        e->table = t;
        e->table_cap = tc;
    }
    int rc = assign_streams(e, recs, n);
    for (size_t s = 0; s < e->nstreams; s++)
        e->table[e->streams[s].slot] = 0;
    if (rc != 0)
        goto out;
    uint32_t pos = 0;
    for (size_t s = 0; s < e->nstreams; s++) {
        e->streams[s].start = pos;
        if (!e->streams[s].bad)
            pos += e->streams[s].count;
    }
    e->norder = pos;
    e->nrecs = n;
    /* Fill order[]: each stream's count is reset and counts up again as its cursor. */
    for (size_t s = 0; s < e->nstreams; s++)
        e->streams[s].count = 0;
    for (size_t i = 0; i < n; i++) {
        struct stream *st = &e->streams[e->sid[i]];
        if (!st->bad)
            e->order[st->start + st->count] = (uint32_t)i;
        st->count++;
    }
    for (size_t s = 0; s < e->nstreams; s++) {
        struct stream *st = &e->streams[s];
        if (st->bad || !st->unsorted)
            continue;
        rc = array_grow((void **)&e->sortbuf, &e->sort_cap, st->count, sizeof(*e->sortbuf), 0);
        if (rc != 0)
            goto out;
        for (uint32_t k = 0; k < st->count; k++) {
            uint32_t idx = e->order[st->start + k];
            e->sortbuf[k].ts = recs[idx].ts_ns;
            e->sortbuf[k].idx = idx;
        }
        qsort(e->sortbuf, st->count, sizeof(*e->sortbuf), cmp_tsidx);
        for (uint32_t k = 0; k < st->count; k++)
            e->order[st->start + k] = e->sortbuf[k].idx;
    }
out:
    if (rc != 0) {
        e->norder = 0;
        e->nrecs = 0;
        e->nstreams = 0;
    }
    return rc;
}

const uint32_t *ls_loki_enc_order(const struct ls_loki_enc *e, size_t *n)
{
    *n = e->norder;
    return e->order;
}

int ls_loki_enc_bad_labels(const struct ls_loki_enc *e, size_t i)
{
    return i < e->nrecs && e->streams[e->sid[i]].bad;
}

size_t ls_loki_enc_streams(const struct ls_loki_enc *e)
{
    return e->nstreams;
}

size_t ls_loki_enc_stream_end(const struct ls_loki_enc *e, size_t from)
{
    if (from >= e->norder)
        return e->norder;
    uint32_t sid = e->sid[e->order[from]];
    size_t k = from + 1;
    while (k < e->norder && e->sid[e->order[k]] == sid)
        k++;
    return k;
}

/* --- protobuf ------------------------------------------------------------------------ */

static size_t vlen(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static char *put_varint(char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (char)v;
    return p;
}

/* google.protobuf.Timestamp: seconds and nanos, nanos in [0, 1e9) even before 1970. */
static void split_ts(int64_t ts, int64_t *sec, int64_t *nanos)
{
    *sec = ts / 1000000000;
    *nanos = ts % 1000000000;
    if (*nanos < 0) {
        *nanos += 1000000000;
        *sec -= 1;
    }
}

static size_t ts_size(int64_t ts)
{
    int64_t sec, nanos;
    split_ts(ts, &sec, &nanos);
    return (sec ? 1 + vlen((uint64_t)sec) : 0) + (nanos ? 1 + vlen((uint64_t)nanos) : 0);
}

static size_t entry_size(const struct ls_record *r)
{
    size_t t = ts_size(r->ts_ns);
    return 1 + vlen(t) + t + 1 + vlen(r->line_len) + r->line_len;
}

/* Pass 1 of a protobuf push: the encoded size of order[from..to), each
 * entry's size kept in e->esize. */
static size_t pb_size(struct ls_loki_enc *e, const struct ls_record *recs, size_t from, size_t to)
{
    size_t total = 0;
    for (size_t k = from; k < to;) {
        uint32_t sid = e->sid[e->order[k]];
        const struct stream *st = &e->streams[sid];
        size_t ss = 1 + vlen(st->len) + st->len;
        size_t j = k;
        for (; j < to && e->sid[e->order[j]] == sid; j++) {
            size_t es = entry_size(&recs[e->order[j]]);
            e->esize[j] = (uint32_t)es;
            ss += 1 + vlen(es) + es;
        }
        total += 1 + vlen(ss) + ss;
        k = j;
    }
    return total;
}

/* One EntryAdapter of esize bytes at p; returns the end. */
static char *put_entry(char *p, const struct ls_record *r, uint32_t esize)
{
    int64_t sec, nanos;
    split_ts(r->ts_ns, &sec, &nanos);
    *p++ = 0x12;                      /* StreamAdapter.entries = 2, LEN */
    p = put_varint(p, esize);
    *p++ = 0x0a;                      /* EntryAdapter.timestamp = 1, LEN */
    p = put_varint(p, ts_size(r->ts_ns));
    if (sec) {
        *p++ = 0x08;                  /* Timestamp.seconds = 1, VARINT */
        p = put_varint(p, (uint64_t)sec);
    }
    if (nanos) {
        *p++ = 0x10;                  /* Timestamp.nanos = 2, VARINT */
        p = put_varint(p, (uint64_t)nanos);
    }
    *p++ = 0x12;                      /* EntryAdapter.line = 2, LEN */
    p = put_varint(p, r->line_len);
    memcpy(p, r->line, r->line_len);
    return p + r->line_len;
}

/* Pass 2: the PushRequest bytes of order[from..to) into e->raw (sized by
 * pass 1); returns how many. */
static size_t pb_write(struct ls_loki_enc *e, const struct ls_record *recs, size_t from, size_t to)
{
    char *p = e->raw;
    for (size_t k = from; k < to;) {
        uint32_t sid = e->sid[e->order[k]];
        const struct stream *st = &e->streams[sid];
        size_t ss = 1 + vlen(st->len) + st->len;
        size_t j = k;
        for (; j < to && e->sid[e->order[j]] == sid; j++)
            ss += 1 + vlen(e->esize[j]) + e->esize[j];
        *p++ = 0x0a;                          /* PushRequest.streams = 1, LEN */
        p = put_varint(p, ss);
        *p++ = 0x0a;                          /* StreamAdapter.labels = 1, LEN */
        p = put_varint(p, st->len);
        memcpy(p, st->labels, st->len);
        p += st->len;
        for (size_t m = k; m < j; m++)
            p = put_entry(p, &recs[e->order[m]], e->esize[m]);
        k = j;
    }
    return (size_t)(p - e->raw);
}

static int encode_pb(struct ls_loki_enc *e, const struct ls_record *recs, size_t from, size_t to,
                     buf_t *body, size_t *raw_len, char *err, size_t errlen)
{
    size_t total = pb_size(e, recs, from, to);
    if (total > RAW_MAX) {
        snprintf(err, errlen, "batch too large to encode (%zu bytes)", total);
        return -1;
    }
    if (array_grow((void **)&e->raw, &e->raw_cap, total + 1, 1, 0) != 0) {
        snprintf(err, errlen, "out of memory encoding %zu bytes", total);
        return -1;
    }
    size_t raw = pb_write(e, recs, from, to);
    if (raw != total) {
        snprintf(err, errlen, "internal error: protobuf size %zu != %zu", raw, total);
        return -1;
    }
    size_t clen = snappy_max_compressed_length(raw);
    buf_reset(body);
    if (buf_reserve(body, clen + 1) != 0) {
        snprintf(err, errlen, "request body of up to %zu bytes does not fit", clen);
        return -1;
    }
    if (snappy_compress(e->raw, raw, body->p, &clen) != SNAPPY_OK) {
        snprintf(err, errlen, "snappy compression failed");
        return -1;
    }
    body->len = clen;
    body->p[clen] = '\0';
    *raw_len = raw;
    return 0;
}

/* --- JSON --------------------------------------------------------------------------- */

/* One label of a JSON stream object: "name":"value", after a comma unless it is the first. */
static int emit_json_pair(void *ctx, const char *name, size_t nlen, const char *val, size_t vlen)
{
    buf_t *j = ctx;
    if (j->p[j->len - 1] != '{' && buf_addc(j, ',') != 0)
        return -1;
    if (jsonw_str(j, name, nlen) != 0 || buf_addc(j, ':') != 0 || jsonw_str(j, val, vlen) != 0)
        return -1;
    return 0;
}

static int add_i64(buf_t *b, int64_t v)
{
    char tmp[24];
    char *q = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--q = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--q = '-';
    return buf_add(b, q, (size_t)(tmp + sizeof(tmp) - q));
}

/* The JSON push of order[from..to) into e->json (reset first). 0, or -1 when
 * it does not fit or out of memory. */
static int json_streams(struct ls_loki_enc *e, const struct ls_record *recs, size_t from, size_t to)
{
    buf_t *j = &e->json;
    buf_reset(j);
    if (buf_adds(j, "{\"streams\":[") != 0)
        return -1;
    for (size_t k = from; k < to;) {
        uint32_t sid = e->sid[e->order[k]];
        const struct stream *st = &e->streams[sid];
        if (k != from && buf_addc(j, ',') != 0)
            return -1;
        if (buf_adds(j, "{\"stream\":{") != 0 || ls_labels_each(st->labels, st->len, &e->tmp, emit_json_pair, j) != 0 ||
            buf_adds(j, "},\"values\":[") != 0)
            return -1;
        size_t m = k;
        for (; m < to && e->sid[e->order[m]] == sid; m++) {
            const struct ls_record *r = &recs[e->order[m]];
            if ((m != k && buf_addc(j, ',') != 0) || buf_adds(j, "[\"") != 0 || add_i64(j, r->ts_ns) != 0 ||
                buf_adds(j, "\",") != 0 || jsonw_str(j, r->line, r->line_len) != 0 || buf_addc(j, ']') != 0)
                return -1;
        }
        if (buf_adds(j, "]}") != 0)
            return -1;
        k = m;
    }
    return buf_adds(j, "]}") != 0 ? -1 : 0;
}

static int encode_json(struct ls_loki_enc *e, const struct ls_record *recs, size_t from, size_t to,
                       buf_t *body, size_t *raw_len, char *err, size_t errlen)
{
    buf_t *j = &e->json;
    if (json_streams(e, recs, from, to) != 0) {
        snprintf(err, errlen, "JSON body does not fit (%zu bytes so far) or out of memory", j->len);
        return -1;
    }
    *raw_len = j->len;
    buf_reset(body);
    if (!e->gzip) {
        if (buf_add(body, j->p, j->len) != 0) {
            snprintf(err, errlen, "request body of %zu bytes does not fit", j->len);
            return -1;
        }
        return 0;
    }
    if (ls_gzip_body(&e->gz, j->p, j->len, body) != 0) {
        snprintf(err, errlen, "gzip of a %zu-byte body failed or does not fit", j->len);
        return -1;
    }
    return 0;
}

int ls_loki_encode_range(struct ls_loki_enc *e, const struct ls_record *recs, size_t from, size_t to,
                         buf_t *body, size_t *raw_len, char *err, size_t errlen)
{
    if (from > to || to > e->norder) {
        snprintf(err, errlen, "bad range %zu..%zu of %zu", from, to, e->norder);
        return -1;
    }
    if (e->enc == LS_LOKI_JSON)
        return encode_json(e, recs, from, to, body, raw_len, err, errlen);
    return encode_pb(e, recs, from, to, body, raw_len, err, errlen);
}

int ls_loki_encode(struct ls_loki_enc *e, const struct ls_record *recs, size_t n,
                   buf_t *body, size_t *raw_len, char *err, size_t errlen)
{
    if (ls_loki_group(e, recs, n) != 0) {
        snprintf(err, errlen, "out of memory grouping %zu records", n);
        return -1;
    }
    return ls_loki_encode_range(e, recs, 0, e->norder, body, raw_len, err, errlen);
}
