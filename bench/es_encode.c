/* es_encode: micro-benchmark of the Elasticsearch _bulk encoder (es_bulk.c), alone and with gzip -1.
 *
 * Encodes N access-log-like JSON lines of about 220 bytes, as logship's ES
 * output does per request (pairs of create action + document, 1000 per body),
 * and prints ns per line, MB/s of input and the body expansion. Built by the main Makefile
 * (make bench-build → build/bench/es_encode, linking liblogship.a); usage: es_encode [lines]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "logship/out/es_bulk.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    static char lines[1000][512];
    static char origins[1000][64];
    struct ls_record recs[1000];
    size_t in_bytes = 0, out_bytes = 0, gz_bytes = 0;
    buf_t b;
    double t_enc = 0, t_gz = 0;

    if (n <= 0)
        return 2;
    for (int i = 0; i < 1000; i++) {
        snprintf(lines[i], sizeof(lines[i]),
                 "{\"ts\":\"2026-11-28T02:03:%02d.%06dZ\",\"level\":\"info\",\"method\":\"GET\","
                 "\"path\":\"/helloworld\",\"status\":200,\"bytes\":%d,\"duration_ms\":%d.%03d,"
                 "\"remote\":\"10.0.%d.%d\",\"request_id\":\"%08x%08x\",\"ua\":\"curl/7.88.1\"}",
                 i % 60, i * 997 % 1000000, 1000 + i, i % 50, i % 1000, i % 256, (i * 7) % 256,
                 (unsigned)i * 2654435761u, (unsigned)i ^ 0x5bd1e995u);
        snprintf(origins[i], sizeof(origins[i]), "f:2049:1234567:9f8e7d6c5b4a3928@%d", i * 221);
        recs[i] = (struct ls_record){ .seq = (uint64_t)i, .ts_ns = 1764295384000000000LL + i * 1000,
                                      .labels = "{level=\"info\",service=\"hello\"}", .labels_len = 30,
                                      .line = lines[i], .line_len = strlen(lines[i]),
                                      .origin = origins[i], .origin_len = strlen(origins[i]) };
    }
    buf_init(&b, 64u << 20);
    unsigned char *z = malloc(8u << 20);
    if (!z)
        return 1;
    for (long done = 0; done < n; done += 1000) {
        double t0 = now_s();
        buf_reset(&b);
        for (int i = 0; i < 1000; i++) {
            if (ls_es_bulk_encode_pair(&b, NULL, &recs[i]) != 0)
                return 1;
            in_bytes += recs[i].line_len;
        }
        double t1 = now_s();
        z_stream zs;
        memset(&zs, 0, sizeof(zs));
        if (deflateInit2(&zs, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return 1;
        zs.next_in = (Bytef *)b.p;
        zs.avail_in = (uInt)b.len;
        zs.next_out = z;
        zs.avail_out = 8u << 20;
        if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
            return 1;
        gz_bytes += zs.total_out;
        deflateEnd(&zs);
        double t2 = now_s();
        out_bytes += b.len;
        t_enc += t1 - t0;
        t_gz += t2 - t1;
    }
    printf("es_bulk encode: %ld lines of ~%zu bytes\n", n, in_bytes / (size_t)n);
    printf("  encode only : %6.0f ns/line  %7.1f MB/s in   %.2f CPU-s per million lines\n",
           t_enc / (double)n * 1e9, (double)in_bytes / t_enc / 1e6, t_enc / (double)n * 1e6);
    printf("  + gzip -1   : %6.0f ns/line  (gzip %.2f CPU-s per million)\n",
           (t_enc + t_gz) / (double)n * 1e9, t_gz / (double)n * 1e6);
    printf("  body %.2fx the line bytes, gzip'ed %.2fx\n", (double)out_bytes / (double)in_bytes,
           (double)gz_bytes / (double)in_bytes);
    buf_free(&b);
    free(z);
    return 0;
}
