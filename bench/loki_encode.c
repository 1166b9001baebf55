/* loki_encode bench: CPU and bytes on the wire of the Loki push encodings, to choose logship's default by measurement.
 *
 * Encodes N (default 1,000,000) generated JSON access-log lines of about 220
 * bytes, in batches of --batch-bytes raw line bytes (default 1 MiB, logship's
 * default), with the real encoder (logship/out/loki_encode.c): grouping into
 * streams by label set, per-stream time order, then
 *   protobuf + snappy   (Loki's native path, Promtail/Alloy)
 *   JSON + gzip         (level of loki_encode.c's GZIP_LEVEL)
 *   JSON, plain         (the JSON cost alone)
 *   JSON + gzip -6      (zlib's default level, applied here to the plain JSON)
 * and prints CPU seconds per million lines and bytes per line sent. The best
 * of --rounds rounds is reported (this VM's speed drifts between runs).
 * Not a test: it never fails on a number. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "logship/out/loki_encode.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const LABELS[] = {
    "{level=\"info\",service=\"hello\"}", "{level=\"warn\",service=\"hello\"}",
    "{level=\"error\",service=\"hello\"}",
};
static const char *const PATHS[] = { "/api/v1/items", "/api/v1/users", "/healthz", "/api/v1/orders/checkout",
                                     "/static/app.js" };
static const char *const METHODS[] = { "GET", "GET", "GET", "POST", "PUT" };

struct corpus {
    struct ls_record *recs;
    char *text;
    size_t n, bytes;
};

static int generate(struct corpus *c, size_t n)
{
    c->n = n;
    c->recs = calloc(n, sizeof(*c->recs));
    c->text = malloc(n * 256);
    if (!c->recs || !c->text)
        return -1;
    uint64_t x = 88172645463325252ULL;
    int64_t ts = INT64_C(1795813034000000000);
    char *p = c->text;
    c->bytes = 0;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned r = (unsigned)x;
        int lvl = r % 100 < 90 ? 0 : r % 100 < 98 ? 1 : 2;
        ts += 100000 + (int64_t)(r % 50000);
        time_t sec = (time_t)(ts / 1000000000);
        struct tm tm;
        gmtime_r(&sec, &tm);
        char tsb[32];
        strftime(tsb, sizeof(tsb), "%Y-%m-%dT%H:%M:%S", &tm);
        int len = snprintf(p, 256,
                           "{\"ts\":\"%s.%06ldZ\",\"level\":\"%s\",\"service\":\"hello\","
                           "\"method\":\"%s\",\"path\":\"%s/%u\",\"status\":%d,\"bytes\":%u,\"duration_ms\":%u.%03u,"
                           "\"remote\":\"10.%u.%u.%u:%u\",\"request_id\":\"%016llx\"}",
                           tsb, (long)(ts % 1000000000 / 1000), lvl == 0 ? "info" : lvl == 1 ? "warn" : "error",
                           METHODS[r % 5], PATHS[(r >> 3) % 5], r % 100000, lvl == 2 ? 500 : 200, r % 20000,
                           r % 200, (r >> 8) % 1000, r % 256, (r >> 8) % 256, (r >> 16) % 256, 1024 + r % 60000,
                           (unsigned long long)x);
        if (len < 0 || len >= 256)
            return -1;
        c->recs[i].seq = i;
        c->recs[i].ts_ns = ts;
        c->recs[i].labels = LABELS[lvl];
        c->recs[i].labels_len = strlen(LABELS[lvl]);
        c->recs[i].line = p;
        c->recs[i].line_len = (size_t)len;
        c->bytes += (size_t)len;
        p += len;
    }
    return 0;
}

struct result {
    double cpu;
    size_t wire, raw, batches;
};

/* mode: 0 protobuf+snappy, 1 JSON+gzip, 2 JSON plain, 3 JSON + zlib gzip -6 here */
static int run(const struct corpus *c, int mode, size_t batch_bytes, struct result *res)
{
    struct ls_loki_enc *e = ls_loki_enc_new(mode == 0 ? LS_LOKI_PROTOBUF : LS_LOKI_JSON, mode == 1);
    buf_t body, gz;
    char err[256];
    z_stream z;
    int rc = -1;
    memset(&z, 0, sizeof(z));
    buf_init(&body, (size_t)1 << 30);
    buf_init(&gz, (size_t)1 << 30);
    if (!e || deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        goto out;
    memset(res, 0, sizeof(*res));
    double t0 = cpu_now();
    for (size_t i = 0; i < c->n;) {
        size_t j = i, raw_lines = 0;
        while (j < c->n && raw_lines + c->recs[j].line_len <= batch_bytes)
            raw_lines += c->recs[j++].line_len;
        if (j == i)
            j++;
        size_t raw;
        if (ls_loki_encode(e, c->recs + i, j - i, &body, &raw, err, sizeof(err)) != 0) {
            fprintf(stderr, "encode: %s\n", err);
            goto out;
        }
        res->raw += raw;
        if (mode == 3) {
            size_t bound = deflateBound(&z, body.len);
            buf_reset(&gz);
            if (deflateReset(&z) != Z_OK || buf_reserve(&gz, bound + 1) != 0)
                goto out;
            z.next_in = (Bytef *)body.p;
            z.avail_in = (uInt)body.len;
            z.next_out = (Bytef *)gz.p;
            z.avail_out = (uInt)bound;
            if (deflate(&z, Z_FINISH) != Z_STREAM_END)
                goto out;
            res->wire += bound - z.avail_out;
        } else {
            res->wire += body.len;
        }
        res->batches++;
        i = j;
    }
    res->cpu = cpu_now() - t0;
    rc = 0;
out:
    deflateEnd(&z);
    buf_free(&body);
    buf_free(&gz);
    ls_loki_enc_free(e);
    return rc;
}

int main(int argc, char **argv)
{
    size_t n = 1000000, batch = 1 << 20;
    int rounds = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--lines") == 0)
            n = strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--batch-bytes") == 0)
            batch = strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--rounds") == 0)
            rounds = (int)strtol(argv[i + 1], NULL, 10);
    }
    if (n == 0 || rounds < 1) {
        fprintf(stderr, "usage: loki_encode [--lines N] [--batch-bytes B] [--rounds R]\n");
        return 2;
    }
    struct corpus c;
    if (generate(&c, n) != 0) {
        fprintf(stderr, "cannot generate the corpus\n");
        return 1;
    }
    static const char *const names[] = { "protobuf+snappy", "JSON+gzip (logship)", "JSON plain", "JSON+gzip -6" };
    printf("loki_encode: %zu lines, %.1f bytes/line average, batches of %zu raw line bytes, best of %d\n", c.n,
           (double)c.bytes / (double)c.n, batch, rounds);
    printf("%-22s %12s %14s %14s %10s\n", "encoding", "CPU-s/Mline", "wire B/line", "decoded B/line", "ratio");
    for (int m = 0; m < 4; m++) {
        struct result best, r;
        memset(&best, 0, sizeof(best));
        for (int k = 0; k < rounds; k++) {
            if (run(&c, m, batch, &r) != 0) {
                fprintf(stderr, "%s failed\n", names[m]);
                return 1;
            }
            if (k == 0 || r.cpu < best.cpu)
                best = r;
        }
        printf("%-22s %12.3f %14.1f %14.1f %9.1f%%\n", names[m], best.cpu * 1e6 / (double)c.n,
               (double)best.wire / (double)c.n, (double)best.raw / (double)c.n,
               100.0 * (double)best.wire / (double)c.bytes);
    }
    free(c.recs);
    free(c.text);
    return 0;
}
