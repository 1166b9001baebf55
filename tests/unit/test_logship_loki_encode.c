/* test_logship_loki_encode: the Loki encoders, checked by decoding what they produce (protobuf by the shared walker tests/lib/lokipb.c, JSON with json-c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <zlib.h>

#include "logship/out/loki_encode.h"
#include "logship/out/out_loki.h"
#include "tests/lib/lokipb.h"

/* --- a decoded push: what Loki would see ------------------------------------------- */
#define MAXS 64
#define MAXE 20000
struct dentry {
    int64_t ts;
    char *line;
    size_t len;
};
struct dstream {
    char *labels; /* protobuf: the label string; JSON: canonical {k="v",...} rebuilt */
    struct dentry *e;
    size_t n;
};
struct dpush {
    struct dstream s[MAXS];
    size_t n;
};

static void dpush_free(struct dpush *p)
{
    for (size_t i = 0; i < p->n; i++) {
        for (size_t k = 0; k < p->s[i].n; k++)
            free(p->s[i].e[k].line);
        free(p->s[i].e);
        free(p->s[i].labels);
    }
    p->n = 0;
}

static char *dupn(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* The shared walker (tests/lib/lokipb.c) in strict mode fills a dpush; the asserts are the test's. */
static int pb_stream(void *ud)
{
    struct dpush *out = ud;
    assert_true(out->n < MAXS);
    struct dstream *s = &out->s[out->n++];
    s->e = calloc(MAXE, sizeof(*s->e));
    assert_non_null(s->e);
    return 0;
}

static int pb_labels(void *ud, const char *labels, size_t len)
{
    struct dpush *out = ud;
    out->s[out->n - 1].labels = dupn(labels, len);
    return 0;
}

static int pb_entry(void *ud, int64_t sec, int64_t nanos, const char *line, size_t len)
{
    struct dpush *out = ud;
    struct dstream *s = &out->s[out->n - 1];
    assert_true(s->n < MAXE);
    struct dentry *e = &s->e[s->n++];
    assert_true(nanos >= 0 && nanos < 1000000000);
    e->ts = sec * 1000000000 + nanos;
    e->line = dupn(line, len);
    e->len = len;
    return 0;
}

static void decode_pb(const char *body, size_t blen, struct dpush *out)
{
    unsigned char *raw;
    size_t rawlen;
    assert_int_equal(lokipb_unsnappy(body, blen, &raw, &rawlen), 0);
    memset(out, 0, sizeof(*out));
    const struct lokipb_visit v = { .ud = out, .stream = pb_stream, .labels = pb_labels, .entry = pb_entry };
    assert_int_equal(lokipb_walk(raw, rawlen, LOKIPB_STRICT, &v), 0);
    free(raw);
}

static void decode_json(const char *body, size_t blen, int gz, struct dpush *out)
{
    char *text = NULL;
    size_t tlen = 0;
    if (gz) {
        size_t cap = blen * 20 + 1024;
        text = malloc(cap);
        assert_non_null(text);
        z_stream z;
        memset(&z, 0, sizeof(z));
        assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
        z.next_in = (Bytef *)body;
        z.avail_in = (uInt)blen;
        z.next_out = (Bytef *)text;
        z.avail_out = (uInt)cap;
        assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
        tlen = cap - z.avail_out;
        inflateEnd(&z);
    } else {
        text = dupn(body, blen);
        tlen = blen;
    }
    struct json_tokener *tok = json_tokener_new();
    json_object *doc = json_tokener_parse_ex(tok, text, (int)tlen);
    assert_non_null(doc);
    assert_int_equal(json_tokener_get_error(tok), json_tokener_success);
    json_tokener_free(tok);
    memset(out, 0, sizeof(*out));
    json_object *streams;
    assert_true(json_object_object_get_ex(doc, "streams", &streams));
    for (size_t i = 0; i < json_object_array_length(streams); i++) {
        json_object *st = json_object_array_get_idx(streams, i), *lab, *vals;
        assert_true(json_object_object_get_ex(st, "stream", &lab));
        assert_true(json_object_object_get_ex(st, "values", &vals));
        struct dstream *s = &out->s[out->n++];
        char lb[4096];
        size_t p = 0;
        lb[p++] = '{';
        json_object_object_foreach(lab, lk, lv)
        {
            p += (size_t)snprintf(lb + p, sizeof(lb) - p, "%s%s=\"%s\"", p > 1 ? "," : "", lk,
                                  json_object_get_string(lv));
        }
        lb[p++] = '}';
        s->labels = dupn(lb, p);
        s->e = calloc(MAXE, sizeof(*s->e));
        assert_non_null(s->e);
        for (size_t k = 0; k < json_object_array_length(vals); k++) {
            json_object *pair = json_object_array_get_idx(vals, k);
            assert_int_equal(json_object_array_length(pair), 2);
            json_object *ts = json_object_array_get_idx(pair, 0), *line = json_object_array_get_idx(pair, 1);
            assert_true(json_object_is_type(ts, json_type_string)); /* Loki: a number is a 400 */
            struct dentry *e = &s->e[s->n++];
            e->ts = strtoll(json_object_get_string(ts), NULL, 10);
            e->len = (size_t)json_object_get_string_len(line);
            e->line = dupn(json_object_get_string(line), e->len);
        }
    }
    json_object_put(doc);
    free(text);
}

static struct ls_record rec(const char *labels, int64_t ts, const char *line)
{
    struct ls_record r;
    memset(&r, 0, sizeof(r));
    r.labels = labels;
    r.labels_len = strlen(labels);
    r.ts_ns = ts;
    r.line = line;
    r.line_len = strlen(line);
    return r;
}

static void encode(enum ls_loki_encoding enc, int gz, const struct ls_record *r, size_t n, struct dpush *out,
                   size_t *raw_len)
{
    struct ls_loki_enc *e = ls_loki_enc_new(enc, gz);
    assert_non_null(e);
    buf_t body;
    buf_init(&body, 64 << 20);
    char err[256];
    size_t raw = 0;
    assert_int_equal(ls_loki_encode(e, r, n, &body, &raw, err, sizeof(err)), 0);
    if (raw_len)
        *raw_len = raw;
    if (enc == LS_LOKI_PROTOBUF)
        decode_pb(body.p, body.len, out);
    else
        decode_json(body.p, body.len, gz, out);
    buf_free(&body);
    ls_loki_enc_free(e);
}

static const char A[] = "{level=\"info\",service=\"hello\"}";
static const char B[] = "{level=\"error\",service=\"hello\"}";
static const char C[] = "{service=\"db\"}";

/* Interleaved streams come out grouped, in order of first appearance, each in spool order. */
static void check_grouping(enum ls_loki_encoding enc, int gz)
{
    struct ls_record r[] = {
        rec(A, 100, "a1"), rec(B, 101, "b1"), rec(A, 102, "a2"), rec(C, 103, "c1"),
        rec(B, 104, "b2"), rec(A, 105, "a3"),
    };
    struct dpush p;
    encode(enc, gz, r, 6, &p, NULL);
    assert_int_equal(p.n, 3);
    assert_string_equal(p.s[0].labels, A);
    assert_string_equal(p.s[1].labels, B);
    assert_string_equal(p.s[2].labels, C);
    assert_int_equal(p.s[0].n, 3);
    assert_string_equal(p.s[0].e[0].line, "a1");
    assert_string_equal(p.s[0].e[2].line, "a3");
    assert_int_equal(p.s[0].e[2].ts, 105);
    assert_int_equal(p.s[1].n, 2);
    assert_string_equal(p.s[1].e[1].line, "b2");
    assert_int_equal(p.s[2].n, 1);
    assert_int_equal(p.s[2].e[0].ts, 103);
    dpush_free(&p);
}

static void test_grouping_pb(void **st)
{
    (void)st;
    check_grouping(LS_LOKI_PROTOBUF, 0);
}

static void test_grouping_json(void **st)
{
    (void)st;
    check_grouping(LS_LOKI_JSON, 0);
}

static void test_grouping_json_gzip(void **st)
{
    (void)st;
    check_grouping(LS_LOKI_JSON, 1);
}

/* Within a stream entries leave in timestamp order; equal timestamps keep spool order. */
static void check_ts_order(enum ls_loki_encoding enc)
{
    struct ls_record r[] = {
        rec(A, 500, "x500"), rec(B, 1, "other"), rec(A, 300, "first300"), rec(A, 400, "x400"),
        rec(A, 300, "second300"), rec(A, 100, "x100"), rec(A, 300, "third300"),
    };
    struct dpush p;
    encode(enc, 0, r, 7, &p, NULL);
    assert_int_equal(p.n, 2);
    const char *want[] = { "x100", "first300", "second300", "third300", "x400", "x500" };
    int64_t wts[] = { 100, 300, 300, 300, 400, 500 };
    assert_int_equal(p.s[0].n, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(p.s[0].e[i].line, want[i]);
        assert_int_equal(p.s[0].e[i].ts, wts[i]);
    }
    dpush_free(&p);
}

static void test_ts_order_pb(void **st)
{
    (void)st;
    check_ts_order(LS_LOKI_PROTOBUF);
}

static void test_ts_order_json(void **st)
{
    (void)st;
    check_ts_order(LS_LOKI_JSON);
}

/* Real timestamps (ns since 1970, and before it) survive both encodings exactly. */
static void test_timestamps_exact(void **st)
{
    (void)st;
    struct ls_record r[] = {
        rec(A, INT64_C(1795813034967224927), "now"), rec(A, INT64_C(1795813035000000000), "whole second"),
        rec(C, -1500000000, "before 1970"), rec(C, 0, "epoch"), rec(C, 7, "7ns"),
    };
    for (int enc = 0; enc < 2; enc++) {
        struct dpush p;
        encode((enum ls_loki_encoding)enc, 0, r, 5, &p, NULL);
        assert_int_equal(p.n, 2);
        assert_int_equal(p.s[0].e[0].ts, INT64_C(1795813034967224927));
        assert_int_equal(p.s[0].e[1].ts, INT64_C(1795813035000000000));
        assert_int_equal(p.s[1].e[0].ts, -1500000000);
        assert_string_equal(p.s[1].e[0].line, "before 1970");
        assert_int_equal(p.s[1].e[1].ts, 0);
        assert_int_equal(p.s[1].e[2].ts, 7);
        dpush_free(&p);
    }
}

/* Hostile lines: quotes, backslashes, control characters, NUL and invalid UTF-8.
 * Protobuf carries the bytes as they are; JSON stays valid (invalid UTF-8 → U+FFFD). */
static void test_hostile_lines(void **st)
{
    (void)st;
    static const char l1[] = "quote\" back\\slash\nnew\ttab \x01 ctl";
    static const char l2[] = { 'a', 0, 'b' };
    static const char l3[] = "bad \xff\xfe utf8";
    static const char lab[] = "{path=\"a\\\"b\\\\c\\nd\"}";
    struct ls_record r[3] = { rec(lab, 1, l1), rec(lab, 2, ""), rec(lab, 3, l3) };
    r[1].line = l2;
    r[1].line_len = sizeof(l2);
    struct dpush p;
    encode(LS_LOKI_PROTOBUF, 0, r, 3, &p, NULL);
    assert_string_equal(p.s[0].labels, lab);
    assert_int_equal(p.s[0].e[1].len, 3);
    assert_memory_equal(p.s[0].e[1].line, l2, 3);
    assert_string_equal(p.s[0].e[0].line, l1);
    dpush_free(&p);
    encode(LS_LOKI_JSON, 1, r, 3, &p, NULL);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.s[0].labels, "{path=\"a\"b\\c\nd\"}"); /* label value unescaped into JSON */
    assert_string_equal(p.s[0].e[0].line, l1);
    assert_int_equal(p.s[0].e[1].len, 3);
    assert_memory_equal(p.s[0].e[1].line, l2, 3);
    assert_string_equal(p.s[0].e[2].line, "bad \xef\xbf\xbd\xef\xbf\xbd utf8");
    dpush_free(&p);
}

/* A label string that is not a Prometheus label set is left out and reported. */
static void test_bad_labels_excluded(void **st)
{
    (void)st;
    static const char *bad[] = { "service=hello", "{service=\"unterminated}", "{1a=\"x\"}", "{a=\"x\",}",
                                 "{a=\"x\" b=\"y\"}", "{a=\"\\q\"}", "" };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        struct ls_record r[] = { rec(A, 1, "good1"), rec(bad[k], 2, "bad"), rec(A, 3, "good2") };
        struct ls_loki_enc *e = ls_loki_enc_new(LS_LOKI_PROTOBUF, 0);
        assert_non_null(e);
        assert_int_equal(ls_loki_group(e, r, 3), 0);
        size_t n;
        const uint32_t *order = ls_loki_enc_order(e, &n);
        assert_int_equal(n, 2);
        assert_int_equal(order[0], 0);
        assert_int_equal(order[1], 2);
        assert_false(ls_loki_enc_bad_labels(e, 0));
        assert_true(ls_loki_enc_bad_labels(e, 1));
        assert_false(ls_loki_enc_bad_labels(e, 2));
        ls_loki_enc_free(e);
    }
    /* valid forms: with spaces after commas (Loki's own), escapes, empty set (Loki judges) */
    static const char *good[] = { "{a=\"1\", b=\"2\"}", "{a=\"x\\\"y\"}", "{}", "{_x9=\"\"}" };
    for (size_t k = 0; k < sizeof(good) / sizeof(good[0]); k++) {
        struct ls_record r[] = { rec(good[k], 1, "l") };
        struct ls_loki_enc *e = ls_loki_enc_new(LS_LOKI_JSON, 0);
        assert_non_null(e);
        assert_int_equal(ls_loki_group(e, r, 1), 0);
        assert_false(ls_loki_enc_bad_labels(e, 0));
        ls_loki_enc_free(e);
    }
}

/* A slice of the grouping may cut a stream: both halves stay in time order. */
static void test_encode_range_slices(void **st)
{
    (void)st;
    struct ls_record r[] = { rec(A, 3, "a3"), rec(B, 1, "b1"), rec(A, 1, "a1"), rec(A, 2, "a2") };
    struct ls_loki_enc *e = ls_loki_enc_new(LS_LOKI_PROTOBUF, 0);
    assert_non_null(e);
    assert_int_equal(ls_loki_group(e, r, 4), 0);
    assert_int_equal(ls_loki_enc_streams(e), 2);
    buf_t body;
    buf_init(&body, 1 << 20);
    char err[128];
    size_t raw, raw2;
    struct dpush p;
    assert_int_equal(ls_loki_encode_range(e, r, 0, 2, &body, &raw, err, sizeof(err)), 0);
    decode_pb(body.p, body.len, &p);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.s[0].e[0].line, "a1");
    assert_string_equal(p.s[0].e[1].line, "a2");
    dpush_free(&p);
    assert_int_equal(ls_loki_encode_range(e, r, 2, 4, &body, &raw2, err, sizeof(err)), 0);
    decode_pb(body.p, body.len, &p);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.s[0].e[0].line, "a3");
    assert_string_equal(p.s[1].e[0].line, "b1");
    dpush_free(&p);
    assert_int_not_equal(ls_loki_encode_range(e, r, 3, 5, &body, &raw, err, sizeof(err)), 0);
    /* a body cap that is too small is an error, not a crash */
    buf_t tiny;
    buf_init(&tiny, 8);
    assert_int_not_equal(ls_loki_encode_range(e, r, 0, 4, &tiny, &raw, err, sizeof(err)), 0);
    buf_free(&tiny);
    buf_free(&body);
    ls_loki_enc_free(e);
}

/* Many records, many streams, reusing one encoder across batches of different sizes. */
static void test_many_records_reused_encoder(void **st)
{
    (void)st;
    enum { N = 12000, NS = 37 };
    static char labels[NS][32];
    static char lines[N][24];
    struct ls_record *r = calloc(N, sizeof(*r));
    assert_non_null(r);
    for (int s = 0; s < NS; s++)
        snprintf(labels[s], sizeof(labels[s]), "{s=\"%d\"}", s);
    for (int i = 0; i < N; i++) {
        snprintf(lines[i], sizeof(lines[i]), "line %d", i);
        /* every 5th stream is written out of order */
        int s = (i * 7) % NS;
        r[i] = rec(labels[s], s % 5 == 0 ? (int64_t)(N - i) : (int64_t)i, lines[i]);
    }
    for (int enc = 0; enc < 2; enc++) {
        struct ls_loki_enc *e = ls_loki_enc_new((enum ls_loki_encoding)enc, 1);
        assert_non_null(e);
        buf_t body;
        buf_init(&body, 64 << 20);
        char err[128];
        size_t sizes[] = { N, 10, N / 2, 1, N };
        for (size_t b = 0; b < sizeof(sizes) / sizeof(sizes[0]); b++) {
            size_t n = sizes[b], raw;
            struct dpush p;
            assert_int_equal(ls_loki_encode(e, r, n, &body, &raw, err, sizeof(err)), 0);
            if (enc == LS_LOKI_PROTOBUF)
                decode_pb(body.p, body.len, &p);
            else
                decode_json(body.p, body.len, 1, &p);
            size_t total = 0;
            for (size_t s = 0; s < p.n; s++) {
                total += p.s[s].n;
                for (size_t k = 1; k < p.s[s].n; k++)
                    assert_true(p.s[s].e[k - 1].ts <= p.s[s].e[k].ts);
            }
            assert_int_equal(total, n);
            assert_int_equal(p.n, n < NS ? n : NS);
            dpush_free(&p);
        }
        buf_free(&body);
        ls_loki_enc_free(e);
    }
    free(r);
}

/* --loki-encoding as the Loki output's option table parses it (NULL: its default). */
static int encoding_parse(const char *s, enum ls_loki_encoding *out)
{
    for (size_t i = 0; i < ls_output_loki.n_options; i++) {
        struct cfg_opt o = ls_output_loki.options[i].opt;
        if (strcmp(o.name, "loki-encoding") != 0)
            continue;
        int v = -1;
        o.dst = &v;
        char err[256];
        if (cfg_set(&o, 1, o.name, s ? s : o.def, err, sizeof(err)) != 0)
            return -1;
        *out = (enum ls_loki_encoding)v;
        return 0;
    }
    return -1;
}

static void test_headers_and_parse(void **st)
{
    (void)st;
    enum ls_loki_encoding x;
    assert_int_equal(encoding_parse(NULL, &x), 0);
    assert_int_equal(x, LS_LOKI_PROTOBUF);
    assert_int_equal(encoding_parse("json", &x), 0);
    assert_int_equal(x, LS_LOKI_JSON);
    assert_int_equal(encoding_parse("xml", &x), -1);
    struct ls_loki_enc *p = ls_loki_enc_new(LS_LOKI_PROTOBUF, 1), *j = ls_loki_enc_new(LS_LOKI_JSON, 1),
                       *jp = ls_loki_enc_new(LS_LOKI_JSON, 0);
    assert_string_equal(ls_loki_content_type(p), "application/x-protobuf");
    assert_null(ls_loki_content_encoding(p)); /* snappy is the body format, not a Content-Encoding */
    assert_string_equal(ls_loki_content_type(j), "application/json");
    assert_string_equal(ls_loki_content_encoding(j), "gzip");
    assert_null(ls_loki_content_encoding(jp));
    ls_loki_enc_free(p);
    ls_loki_enc_free(j);
    ls_loki_enc_free(jp);
    ls_loki_enc_free(NULL);
}

/* The sizes a batch limit bounds: raw protobuf is a few bytes per entry over the line. */
static void test_raw_len_reported(void **st)
{
    (void)st;
    struct ls_record r[] = { rec(A, INT64_C(1795813034967224927), "0123456789") };
    struct dpush p;
    size_t raw;
    encode(LS_LOKI_PROTOBUF, 0, r, 1, &p, &raw);
    /* 1+1 stream, 1+1+30 labels, 1+1 entry, 1+1+(1+5+1+5) ts, 1+1+10 line */
    assert_int_equal(raw, 2 + 32 + 2 + 14 + 12);
    dpush_free(&p);
    encode(LS_LOKI_JSON, 0, r, 1, &p, &raw);
    assert_int_equal(raw, strlen("{\"streams\":[{\"stream\":{\"level\":\"info\",\"service\":\"hello\"},"
                                 "\"values\":[[\"1795813034967224927\",\"0123456789\"]]}]}"));
    dpush_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grouping_pb),
        cmocka_unit_test(test_grouping_json),
        cmocka_unit_test(test_grouping_json_gzip),
        cmocka_unit_test(test_ts_order_pb),
        cmocka_unit_test(test_ts_order_json),
        cmocka_unit_test(test_timestamps_exact),
        cmocka_unit_test(test_hostile_lines),
        cmocka_unit_test(test_bad_labels_excluded),
        cmocka_unit_test(test_encode_range_slices),
        cmocka_unit_test(test_many_records_reused_encoder),
        cmocka_unit_test(test_headers_and_parse),
        cmocka_unit_test(test_raw_len_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
