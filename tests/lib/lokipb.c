/* lokipb: the one decoder of Loki's PushRequest protobuf for the tests, fuzzers and bench sink (see lokipb.h). */
#include "tests/lib/lokipb.h"

#include <stdlib.h>

#include <snappy-c.h>

/* A protobuf field: its number, wire type, and either a VARINT value or a LEN payload. */
struct field {
    unsigned num, wt;
    uint64_t v;
    const unsigned char *data;
    size_t len;
};

static int varint(const unsigned char *b, size_t n, size_t *i, uint64_t *v)
{
    uint64_t r = 0;
    for (int sh = 0; sh < 70; sh += 7) {
        if (*i >= n)
            return -1;
        unsigned char c = b[(*i)++];
        r |= (uint64_t)(c & 0x7f) << sh;
        if (!(c & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* Read the next field at b[*i]; fixed-width fields are stepped over (data/len point at them). */
static int next_field(const unsigned char *b, size_t n, size_t *i, struct field *f)
{
    uint64_t key;
    if (varint(b, n, i, &key) != 0)
        return -1;
    f->num = (unsigned)(key >> 3);
    f->wt = (unsigned)(key & 7);
    f->v = 0;
    f->data = NULL;
    f->len = 0;
    uint64_t len;
    switch (f->wt) {
    case 0:
        return varint(b, n, i, &f->v);
    case 1:
        len = 8;
        break;
    case 5:
        len = 4;
        break;
    case 2:
        if (varint(b, n, i, &len) != 0)
            return -1;
        break;
    default:
        return -1;
    }
    if (len > n - *i)
        return -1;
    f->data = b + *i;
    f->len = (size_t)len;
    *i += (size_t)len;
    return 0;
}

/* Call fn for each field of the message b[0..n); -1 at the first malformed field or nonzero fn. */
typedef int (*field_fn)(void *ctx, const struct field *f);

static int each_field(const unsigned char *b, size_t n, field_fn fn, void *ctx)
{
    size_t i = 0;
    while (i < n) {
        struct field f;
        if (next_field(b, n, &i, &f) != 0 || fn(ctx, &f) != 0)
            return -1;
    }
    return 0;
}

struct walk {
    unsigned flags;
    const struct lokipb_visit *v;
};

/* One EntryAdapter being read. */
struct entry {
    const struct walk *w;
    int64_t sec, nanos;
    const char *line;
    size_t len;
};

/* An unexpected field: an error in strict mode, skipped otherwise. */
static int other(const struct walk *w)
{
    return w->flags & LOKIPB_STRICT ? -1 : 0;
}

static int timestamp_field(void *ctx, const struct field *f)
{
    struct entry *e = ctx;
    if (f->wt == 0 && f->num == 1)
        e->sec = (int64_t)f->v;
    else if (f->wt == 0 && f->num == 2)
        e->nanos = (int64_t)f->v;
    else
        return other(e->w);
    return 0;
}

static int entry_field(void *ctx, const struct field *f)
{
    struct entry *e = ctx;
    if (f->wt == 2 && f->num == 1)
        return each_field(f->data, f->len, timestamp_field, e);
    if (f->wt != 2 || f->num != 2)
        return other(e->w);
    e->line = (const char *)f->data;
    e->len = f->len;
    return 0;
}

static int stream_field(void *ctx, const struct field *f)
{
    const struct walk *w = ctx;
    const struct lokipb_visit *v = w->v;
    if (f->wt == 2 && f->num == 1)
        return v->labels ? v->labels(v->ud, (const char *)f->data, f->len) : 0;
    if (f->wt != 2 || f->num != 2)
        return other(w);
    struct entry e = { .w = w, .line = "" };
    if (each_field(f->data, f->len, entry_field, &e) != 0)
        return -1;
    return v->entry ? v->entry(v->ud, e.sec, e.nanos, e.line, e.len) : 0;
}

static int request_field(void *ctx, const struct field *f)
{
    struct walk *w = ctx;
    if (f->wt != 2 || f->num != 1)
        return other(w);
    if (w->v->stream && w->v->stream(w->v->ud) != 0)
        return -1;
    return each_field(f->data, f->len, stream_field, w);
}

int lokipb_walk(const unsigned char *raw, size_t n, unsigned flags, const struct lokipb_visit *v)
{
    struct walk w = { flags, v };
    return each_field(raw, n, request_field, &w);
}

int lokipb_unsnappy(const char *body, size_t n, unsigned char **raw, size_t *rawlen)
{
    size_t m;
    if (snappy_uncompressed_length(body, n, &m) != SNAPPY_OK)
        return -1;
    unsigned char *p = malloc(m ? m : 1);
    if (!p)
        return -1;
    if (snappy_uncompress(body, n, (char *)p, &m) != SNAPPY_OK) {
        free(p);
        return -1;
    }
    *raw = p;
    *rawlen = m;
    return 0;
}
