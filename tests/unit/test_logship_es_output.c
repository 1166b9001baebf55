/* test_logship_es_output: the Elasticsearch output's verdicts against a scripted in-process HTTP server:
 * mixed per-item statuses, dead letters, whole-request 5xx/401, 413 splitting, cut responses,
 * thousands of documents per request with responses above 64 KiB,
 * refused connections, and the request it sends (NDJSON create pairs, gzip). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "fake_server.h"
#include "logship/out/es_bulk.h"
#include "logship/core/output.h"

#include "logship/out/out_elasticsearch.h"

/* ---- the scripted _bulk server: one request per connection (tests/unit/fake_server.c) ---- */

struct srv {
    struct fake_server fs;
    int port;
    int requests;
    size_t max_body;        /* 413 above this many (compressed) bytes; 0: no limit */
    int whole_status;       /* answer every request with this status (0: per-item) */
    const int *item_status; /* per-item statuses by the record's "n" field */
    int cut_at;             /* cut the response body to this many bytes (0: no) */
    int all_status;         /* every item gets this status (0: item_status or 201) */
    size_t reason_len;      /* error reasons of this many bytes (0: "bad") */
    size_t max_items;       /* most items seen in one request */
    size_t last_resp_len;   /* bytes of the last per-item response */
    int gzip_seen;
    int items_seen;
    char last_line[256];    /* request line */
    char last_body[1 << 16];
};

static void reply(struct fake_conn *c, int status, const char *body, size_t n)
{
    fake_http_reply(c, status, "Content-Type: application/json\r\n", body, n, 1);
}

static void serve_bulk(struct fake_conn *c, void *ud)
{
    struct srv *s = ud;
    struct fake_http_req q;
    if (fake_http_read(c, &q) != 0)
        return;
    snprintf(s->last_line, sizeof s->last_line, "%s", q.line);
    int gz = strcasestr(q.head, "Content-Encoding: gzip") != NULL;
    assert_non_null(strcasestr(q.head, "Content-Type: application/x-ndjson"));
    assert_non_null(strstr(q.head, "filter_path="));
    char *body = q.body;
    size_t blen = q.body_len;
    s->requests++;
    if (s->max_body && blen > s->max_body) { reply(c, 413, "", 0); fake_http_req_free(&q); return; }
    if (s->whole_status) { reply(c, s->whole_status, "{\"error\":\"x\"}", 13); fake_http_req_free(&q); return; }
    /* plain text of the body */
    char *text = body;
    size_t tlen = blen;
    static char unz[4 << 20];
    if (gz) {
        s->gzip_seen = 1;
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
        zs.next_in = (Bytef *)body;
        zs.avail_in = (uInt)blen;
        zs.next_out = (Bytef *)unz;
        zs.avail_out = sizeof unz - 1;
        assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
        tlen = zs.total_out;
        inflateEnd(&zs);
        text = unz;
    }
    text[tlen] = '\0';
    size_t keep = tlen < sizeof s->last_body - 1 ? tlen : sizeof s->last_body - 1;
    memcpy(s->last_body, text, keep);
    s->last_body[keep] = '\0';
    /* one item per action line; the document's "n" picks the status */
    static char resp[8 << 20], reason[2048];
    size_t rl = s->reason_len && s->reason_len < sizeof reason ? s->reason_len : 3;
    memset(reason, 'r', rl);
    reason[rl] = '\0';
    if (!s->reason_len) memcpy(reason, "bad", 4);
    size_t o = (size_t)snprintf(resp, sizeof resp, "{\"took\":1,\"errors\":true,\"items\":[");
    int k = 0;
    for (char *p = text; (p = strstr(p, "{\"create\":")) != NULL; p++, k++) {
        char *doc = strchr(p, '\n') + 1;
        char *nf = strstr(doc, "\"n\":");
        int n = nf ? (int)strtol(nf + 4, NULL, 10) : 0;
        int st = s->all_status ? s->all_status : s->item_status ? s->item_status[n] : 201;
        const char *type = st == 409 ? "version_conflict_engine_exception" : "mapper_parsing_exception";
        if (st >= 300)
            o += (size_t)snprintf(resp + o, sizeof resp - o,
                                  "%s{\"create\":{\"status\":%d,\"error\":{\"type\":\"%s\",\"reason\":\"%s\"}}}",
                                  k ? "," : "", st, type, reason);
        else
            o += (size_t)snprintf(resp + o, sizeof resp - o, "%s{\"create\":{\"status\":%d}}", k ? "," : "", st);
        assert_true(o < sizeof resp - 64);
        s->items_seen++;
    }
    o += (size_t)snprintf(resp + o, sizeof resp - o, "]}");
    if ((size_t)k > s->max_items) s->max_items = (size_t)k;
    s->last_resp_len = o;
    reply(c, 200, resp, s->cut_at && (size_t)s->cut_at < o ? (size_t)s->cut_at : o);
    fake_http_req_free(&q);
}

static void srv_start(struct srv *s)
{
    s->fs = (struct fake_server){ .conn = serve_bulk, .ud = s };
    assert_int_equal(fake_server_start(&s->fs), 0);
    s->port = s->fs.port;
}

static void srv_stop(struct srv *s)
{
    fake_server_stop(&s->fs);
}

/* ---- records ---- */

#define NREC 6
static char lines[NREC][64], origins[NREC][32];
static struct ls_record recs[NREC];

static void make_recs(void)
{
    for (int i = 0; i < NREC; i++) {
        snprintf(lines[i], sizeof lines[i], "{\"n\":%d,\"msg\":\"line %d\"}", i, i);
        snprintf(origins[i], sizeof origins[i], "f:1:2:x@%d", i * 100);
        recs[i] = (struct ls_record){ .seq = (uint64_t)i + 1, .ts_ns = 1764295384000000000LL + i,
                                      .labels = "{service=\"hello\"}", .labels_len = 17,
                                      .line = lines[i], .line_len = strlen(lines[i]),
                                      .origin = origins[i], .origin_len = strlen(origins[i]) };
    }
}

/* many records for the per-request size tests: ~100-byte lines, distinct origins */
#define NBIG 3000
static char big_lines[NBIG][112], big_origins[NBIG][32];
static struct ls_record big_recs[NBIG];

static void make_big_recs(void)
{
    for (int i = 0; i < NBIG; i++) {
        snprintf(big_lines[i], sizeof big_lines[i],
                 "{\"level\":\"info\",\"msg\":\"GET /api/items/%d 200\",\"bytes\":%d,\"dur_ms\":%d}", i, i * 7, i % 97);
        snprintf(big_origins[i], sizeof big_origins[i], "f:1:2:big@%d", i * 100);
        big_recs[i] = (struct ls_record){ .seq = (uint64_t)i + 1, .ts_ns = 1764295384000000000LL + i,
                                          .labels = "{service=\"hello\"}", .labels_len = 17,
                                          .line = big_lines[i], .line_len = strlen(big_lines[i]),
                                          .origin = big_origins[i], .origin_len = strlen(big_origins[i]) };
    }
}

static void *make_out(struct srv *s, const char *dead_letter, int compress)
{
    static char url[64];
    char err[256] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", s->port);
    static struct ls_output_conf c;   /* must outlive the output (http.h) */
    static struct ls_es_settings own;
    own = (struct ls_es_settings){ .dead_letter = (char *)dead_letter };
    c = (struct ls_output_conf){ .name = "es", .url = url, .compress = compress, .settings = &own,
                                 .connect_timeout_ms = 2000, .request_timeout_ms = 5000 };
    void *o = ls_output_elasticsearch.create(&c, err, sizeof err);
    if (!o) fail_msg("create: %s", err);
    return o;
}

static enum ls_verdict flush(void *o, size_t n, enum ls_verdict *item, struct ls_flush_result *res)
{
    struct ls_batch b = { recs, n };
    memset(res, 0, sizeof *res);
    for (size_t i = 0; i < n; i++) item[i] = LS_DONE;
    res->item = item;
    res->retry_after_ms = -1;
    return ls_output_elasticsearch.flush(o, &b, res);
}

static void test_mixed_items_and_dead_letter(void **state)
{
    static const int st[NREC] = { 201, 409, 429, 400, 503, 201 };
    struct srv s = { .item_status = st };
    enum ls_verdict item[NREC];
    struct ls_flush_result res;
    char dl[] = "/tmp/test_es_dl_XXXXXX";
    (void)state;
    int fd = mkstemp(dl);
    assert_true(fd >= 0);
    close(fd);
    make_recs();
    srv_start(&s);
    void *o = make_out(&s, dl, 1);
    assert_int_equal(flush(o, NREC, item, &res), LS_PARTIAL);
    assert_int_equal(item[0], LS_DONE);
    assert_int_equal(item[1], LS_DONE);     /* 409: already stored */
    assert_int_equal(item[2], LS_RETRY);
    assert_int_equal(item[3], LS_DROP);
    assert_int_equal(item[4], LS_RETRY);
    assert_int_equal(item[5], LS_DONE);
    assert_int_equal(res.dropped, 1);
    assert_int_equal(res.duplicates, 1);
    assert_string_equal(res.reason, "rejected");   /* the drop's reason, not the 429's */
    assert_int_equal(s.gzip_seen, 1);
    /* the request: create pairs with deterministic ids into the default data stream */
    char id[ES_BULK_ID_LEN + 1], want[128];
    ls_es_docid(&recs[3], id);
    snprintf(want, sizeof want, "{\"create\":{\"_id\":\"%s\"}}\n", id);
    assert_non_null(strstr(s.last_body, want));
    assert_non_null(strstr(s.last_line, "POST /logs-hello-default/_bulk?filter_path="));
    assert_non_null(strstr(s.last_body, "\"service\":\"hello\""));
    /* the dead letter holds the rejected document with its error */
    FILE *f = fopen(dl, "r");
    char line[4096];
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(strstr(line, "\"status\":400"));
    assert_non_null(strstr(line, "\"type\":\"mapper_parsing_exception\""));
    assert_non_null(strstr(line, "\"n\":3,\"msg\":\"line 3\""));
    assert_non_null(strstr(line, id));
    assert_null(fgets(line, sizeof line, f));
    fclose(f);
    unlink(dl);
    ls_output_elasticsearch.destroy(o);
    srv_stop(&s);
}

static void test_whole_request(void **state)
{
    enum ls_verdict item[NREC];
    struct ls_flush_result res;
    (void)state;
    make_recs();
    struct srv s = { .whole_status = 503 };
    srv_start(&s);
    void *o = make_out(&s, NULL, 0);
    assert_int_equal(flush(o, NREC, item, &res), LS_RETRY);
    assert_int_equal(res.http_status, 503);
    assert_string_equal(res.reason, "server_error");
    s.whole_status = 401;
    assert_int_equal(flush(o, NREC, item, &res), LS_CONFIG);
    s.whole_status = 429;
    assert_int_equal(flush(o, NREC, item, &res), LS_RETRY);
    assert_string_equal(res.reason, "rate_limited");
    s.whole_status = 400;      /* the whole request refused: every document is rejected */
    assert_int_equal(flush(o, NREC, item, &res), LS_DROP);
    assert_int_equal(res.dropped, NREC);
    ls_output_elasticsearch.destroy(o);
    srv_stop(&s);
    /* nobody listening: a connection error, retried */
    o = make_out(&s, NULL, 0);
    assert_int_equal(flush(o, NREC, item, &res), LS_RETRY);
    assert_int_equal(res.http_status, 0);
    ls_output_elasticsearch.destroy(o);
}

static void test_413_splits(void **state)
{
    enum ls_verdict item[NREC];
    struct ls_flush_result res;
    (void)state;
    make_recs();
    struct srv s = { .max_body = 400 };   /* a pair is about 172 bytes: two fit */
    srv_start(&s);
    void *o = make_out(&s, NULL, 0);
    assert_int_equal(flush(o, NREC, item, &res), LS_DONE);
    assert_int_equal(s.items_seen, NREC);  /* each document stored once */
    assert_int_equal(s.requests, 7);       /* 6 → 413 → 3+3 → 413 each → 1+2, 1+2 */
    /* a single document over the limit is dropped (request_too_large), the rest go */
    s.max_body = 10;
    s.requests = s.items_seen = 0;
    assert_int_equal(flush(o, 2, item, &res), LS_DROP);
    assert_int_equal(res.dropped, 2);
    assert_string_equal(res.reason, "too_large");
    ls_output_elasticsearch.destroy(o);
    srv_stop(&s);
}

static void test_cut_response(void **state)
{
    enum ls_verdict item[NREC];
    struct ls_flush_result res;
    (void)state;
    make_recs();
    /* {"took":1,"errors":true,"items":[ is 33 bytes; each item {"create":{"status":201}} is 25 + comma */
    struct srv s = { .cut_at = 33 + 25 + 1 + 25 + 5 };
    srv_start(&s);
    void *o = make_out(&s, NULL, 0);
    assert_int_equal(flush(o, NREC, item, &res), LS_PARTIAL);
    assert_int_equal(item[0], LS_DONE);
    assert_int_equal(item[1], LS_DONE);
    for (int i = 2; i < NREC; i++) assert_int_equal(item[i], LS_RETRY);
    ls_output_elasticsearch.destroy(o);
    srv_stop(&s);
}

static enum ls_verdict flush_big(void *o, size_t n, enum ls_verdict *item, struct ls_flush_result *res)
{
    struct ls_batch b = { big_recs, n };
    memset(res, 0, sizeof *res);
    for (size_t i = 0; i < n; i++) item[i] = LS_DONE;
    res->item = item;
    res->retry_after_ms = -1;
    return ls_output_elasticsearch.flush(o, &b, res);
}

/* 3000 documents already stored: two requests (not 12 of 256), each answered
 * with a 409 per item, ~190 bytes each (well above 64 KiB per response),
 * read whole: every document is judged a duplicate, none is retried. */
static void test_many_docs_per_request(void **state)
{
    static enum ls_verdict item[NBIG];
    struct ls_flush_result res;
    (void)state;
    make_big_recs();
    /* "[<32 hex>]: version conflict, document already exists (current version [1])" */
    struct srv s = { .all_status = 409, .reason_len = 104 };
    srv_start(&s);
    void *o = make_out(&s, NULL, 1);
    assert_int_equal(flush_big(o, NBIG, item, &res), LS_DONE);
    assert_int_equal(res.duplicates, NBIG);
    assert_int_equal(s.items_seen, NBIG);
    assert_int_equal(s.requests, 2);
    assert_true(s.max_items > 256);
    assert_true(s.max_items >= 1000);
    assert_true(s.last_resp_len > 64 * 1024);
    for (size_t i = 0; i < NBIG; i++) assert_int_equal(item[i], LS_DONE);
    ls_output_elasticsearch.destroy(o);
    srv_stop(&s);
}

/* The raised cap is still a cap: 2048 items with 1 KiB error reasons make a
 * ~2.3 MiB response, kept up to 1 MiB; the items it reports are judged (429:
 * retry, 400: dropped), the ones past the cut are retried, not lost. */
static void test_response_over_raised_cap(void **state)
{
    static enum ls_verdict item[NBIG];
    struct ls_flush_result res;
    (void)state;
    make_big_recs();
    struct srv s = { .all_status = 400, .reason_len = 1024 };
    srv_start(&s);
    void *o = make_out(&s, NULL, 0);
    assert_int_equal(flush_big(o, 2048, item, &res), LS_PARTIAL);
    assert_int_equal(s.requests, 1);
    assert_true(s.last_resp_len > (2u << 20));
    size_t dropped = 0, retried = 0;
    for (size_t i = 0; i < 2048; i++) {
        if (item[i] == LS_DROP) {
            assert_int_equal(retried, 0);  /* judged ones come first, in order */
            dropped++;
        } else {
            assert_int_equal(item[i], LS_RETRY);
            retried++;
        }
    }
    /* ~1100 bytes an item: about 950 fit in 1 MiB, more than 64 KiB would hold */
    assert_true(dropped > 64 * 1024 / 1000);
    assert_true(dropped < 1024);
    assert_int_equal(res.dropped, dropped);
    assert_int_equal(dropped + retried, 2048);
    ls_output_elasticsearch.destroy(o);
    srv_stop(&s);
}

static void test_dated_index_names_each_action(void **state)
{
    enum ls_verdict item[NREC];
    struct ls_flush_result res;
    static struct ls_output_conf c;
    static char url[64];
    char err[256];
    (void)state;
    make_recs();
    struct srv s = { 0 };
    srv_start(&s);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/_bulk", s.port);
    static struct ls_es_settings dated = { .index = "app-%Y.%m" };
    c = (struct ls_output_conf){ .name = "es", .url = url, .settings = &dated, .request_timeout_ms = 5000 };
    void *o = ls_output_elasticsearch.create(&c, err, sizeof err);
    assert_non_null(o);
    assert_int_equal(flush(o, NREC, item, &res), LS_DONE);
    assert_non_null(strstr(s.last_line, "POST /_bulk?filter_path="));
    assert_non_null(strstr(s.last_body, "{\"create\":{\"_index\":\"app-2025.11\",\"_id\":\""));
    ls_output_elasticsearch.destroy(o);
    srv_stop(&s);
}

static void test_create_rejects_bad_config(void **state)
{
    char err[256];
    (void)state;
    struct ls_es_settings own = { 0 };
    struct ls_output_conf c = { .name = "es", .url = "ftp://x", .settings = &own };
    assert_null(ls_output_elasticsearch.create(&c, err, sizeof err));
    assert_non_null(strstr(err, "http"));
    c.url = "http://127.0.0.1:9";
    own.index = "Bad Index";
    assert_null(ls_output_elasticsearch.create(&c, err, sizeof err));
    assert_non_null(strstr(err, "index"));
    own.index = NULL;
    own.dead_letter = "/nonexistent-dir/dl.ndjson";
    assert_null(ls_output_elasticsearch.create(&c, err, sizeof err));
    assert_non_null(strstr(err, "dead letter"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_items_and_dead_letter),
        cmocka_unit_test(test_whole_request),
        cmocka_unit_test(test_413_splits),
        cmocka_unit_test(test_cut_response),
        cmocka_unit_test(test_many_docs_per_request),
        cmocka_unit_test(test_response_over_raised_cap),
        cmocka_unit_test(test_dated_index_names_each_action),
        cmocka_unit_test(test_create_rejects_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
