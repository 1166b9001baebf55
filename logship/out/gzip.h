/* gzip: request-body compression shared by every HTTP output (Loki JSON, _bulk, the Logstash http input).
 *
 * One deflate stream per output, kept across requests and reset per body:
 * deflateInit/End per request would allocate and fault in ~256 KiB each time.
 * Level 1, because level 6 doubles the CPU for about 16% fewer bytes
 * (bench/loki_encode.c). */
#ifndef LOGSHIP_GZIP_H
#define LOGSHIP_GZIP_H

#include <stddef.h>
#include <zlib.h>
#include "buf.h"

#define LS_GZIP_LEVEL 1

struct ls_gzip {
    z_stream zs;
    int      ready;   /* zs initialised */
};

/* An unused compressor; allocates nothing until the first ls_gzip_body. */
void ls_gzip_init(struct ls_gzip *g);

/* Replace out's contents with the gzip member of in[0..n). Returns 0, or -1
 * when zlib fails or out's cap cannot hold the worst case (out is then empty). */
int ls_gzip_body(struct ls_gzip *g, const void *in, size_t n, buf_t *out) BUF_WARN_UNUSED;

/* What to send for the request body raw: when compress is set and gzip
 * succeeds, its gzip member (in gz) and *header = "Content-Encoding: gzip";
 * else raw itself and *header untouched (a failed gzip sends the body as is). */
void ls_gzip_request(struct ls_gzip *g, int compress, const buf_t *raw, buf_t *gz, const void **body, size_t *len,
                     const char **header);

/* Release the stream. Safe on an unused or already ended compressor. */
void ls_gzip_end(struct ls_gzip *g);

#endif
