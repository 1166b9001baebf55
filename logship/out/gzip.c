/* gzip: request-body compression shared by every HTTP output; see gzip.h for why one stream is reused. */
#include "logship/out/gzip.h"

#include <stdint.h>
#include <string.h>

void ls_gzip_init(struct ls_gzip *g)
{
    memset(g, 0, sizeof(*g));
}

int ls_gzip_body(struct ls_gzip *g, const void *in, size_t n, buf_t *out)
{
    buf_reset(out);
    if (!g->ready) {
        memset(&g->zs, 0, sizeof(g->zs));
        if (deflateInit2(&g->zs, LS_GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return -1;
        g->ready = 1;
    } else if (deflateReset(&g->zs) != Z_OK) {
        return -1;
    }
    uLong bound = deflateBound(&g->zs, (uLong)n);
    if (buf_reserve(out, (size_t)bound) != 0)
        return -1;
    g->zs.next_in = (Bytef *)(uintptr_t)in;
    g->zs.avail_in = (uInt)n;
    g->zs.next_out = (Bytef *)out->p;
    g->zs.avail_out = (uInt)bound;
    if (deflate(&g->zs, Z_FINISH) != Z_STREAM_END) {
        buf_reset(out);
        return -1;
    }
    out->len = (size_t)(bound - g->zs.avail_out);
    out->p[out->len] = '\0';
    return 0;
}

void ls_gzip_end(struct ls_gzip *g)
{
    if (g->ready)
        deflateEnd(&g->zs);
    g->ready = 0;
}

void ls_gzip_request(struct ls_gzip *g, int compress, const buf_t *raw, buf_t *gz, const void **body, size_t *len,
                     const char **header)
{
    *body = raw->p;
    *len = raw->len;
    if (compress && ls_gzip_body(g, raw->p, raw->len, gz) == 0) {
        *body = gz->p;
        *len = gz->len;
        *header = "Content-Encoding: gzip";
    }
}
