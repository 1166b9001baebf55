/* lumberjack: Lumberjack v2 frames, the adaptive client window, and sending a window over a netconn (see
 * lumberjack.h). */
#include "logship/out/lumberjack.h"
#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- frames ---------------------------------------------------------------- */

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int frame_head(buf_t *out, char type, uint32_t v)
{
    unsigned char h[6] = { LJ_VERSION, (unsigned char)type };
    put32(h + 2, v);
    return buf_add(out, h, sizeof(h));
}

int ls_lj_encode_window(buf_t *out, uint32_t n)
{
    return frame_head(out, 'W', n);
}

int ls_lj_encode_ack(buf_t *out, uint32_t seq)
{
    return frame_head(out, 'A', seq);
}

int ls_lj_encode_json(buf_t *out, uint32_t seq, const void *payload, size_t len)
{
    size_t mark = out->len;
    unsigned char l[4];
    if (len > UINT32_MAX)
        return -1;
    put32(l, (uint32_t)len);
    if (buf_reserve(out, 10 + len) || frame_head(out, 'J', seq) || buf_add(out, l, 4) ||
        buf_add(out, payload, len)) {
        buf_truncate(out, mark);
        return -1;
    }
    return 0;
}

int ls_lj_encode_compressed(buf_t *out, const void *frames, size_t len, int level)
{
    size_t mark = out->len;
    uLongf zlen = compressBound((uLong)len);
    int rc = -1;
    if (len > UINT32_MAX || level < 1 || level > 9)
        return -1;
    if (frame_head(out, 'C', 0) || buf_reserve(out, (size_t)zlen))
        goto out;
    if (compress2((Bytef *)out->p + out->len, &zlen, frames, (uLong)len, level) != Z_OK)
        goto out;
    if (zlen > UINT32_MAX)
        goto out;
    put32((unsigned char *)out->p + mark + 2, (uint32_t)zlen);
    out->len += zlen;
    out->p[out->len] = '\0';
    rc = 0;
out:
    if (rc)
        buf_truncate(out, mark);
    return rc;
}

long ls_lj_frame_decode(const unsigned char *p, size_t n, size_t max_payload, struct ls_lj_frame *f)
{
    memset(f, 0, sizeof(*f));
    if (n >= 1 && p[0] != LJ_VERSION && p[0] != '1')
        return -1;
    if (n < 2)
        return 0;
    f->type = (char)p[1];
    switch (p[1]) {
    case 'W':
    case 'A':
        if (n < 6)
            return 0;
        if (p[1] == 'W')
            f->count = get32(p + 2);
        else
            f->seq = get32(p + 2);
        return 6;
    case 'J':
    case 'C': {
        size_t hdr = p[1] == 'J' ? 10 : 6;
        if (n < hdr)
            return 0;
        if (p[1] == 'J')
            f->seq = get32(p + 2);
        uint32_t len = get32(p + hdr - 4);
        if (len > max_payload)
            return -1;
        if (n - hdr < len)
            return 0;
        f->payload = p + hdr;
        f->len = len;
        return (long)(hdr + len);
    }
    case 'D': {
        /* seq, pair count, then per pair: key len, key, value len, value */
        if (n < 10)
            return 0;
        f->seq = get32(p + 2);
        f->count = get32(p + 6);
        size_t off = 10;
        for (uint32_t i = 0; i < f->count; i++) {
            for (int kv = 0; kv < 2; kv++) {
                if (n - off < 4)
                    return 0;
                uint32_t l = get32(p + off);
                if (l > max_payload || off - 10 + 4 + (size_t)l > max_payload)
                    return -1;
                off += 4;
                if (n - off < l)
                    return 0;
                off += l;
            }
        }
        f->payload = p + 10;
        f->len = off - 10;
        return (long)off;
    }
    default:
        return -1;
    }
}

int ls_lj_inflate(const unsigned char *p, size_t n, buf_t *out)
{
    z_stream zs;
    size_t mark = out->len;
    size_t max = out->max ? out->max : SIZE_MAX / 2;
    int rc = -1, zr;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit(&zs) != Z_OK)
        return -1;
    zs.next_in = (Bytef *)(uintptr_t)p;
    zs.avail_in = (uInt)(n > UINT32_MAX ? UINT32_MAX : n);
    do {
        size_t want = max - out->len < 16384 ? max - out->len : 16384;
        if (want == 0 || buf_reserve(out, want))
            goto out;   /* does not fit under the cap */
        zs.next_out = (Bytef *)out->p + out->len;
        zs.avail_out = (uInt)want;
        size_t before = zs.avail_out;
        zr = inflate(&zs, Z_NO_FLUSH);
        out->len += before - zs.avail_out;
        out->p[out->len] = '\0';
        if (zr == Z_STREAM_END)
            break;
        if (zr != Z_OK)
            goto out;   /* Z_BUF_ERROR here: input ended before the stream did */
    } while (1);
    if (zs.avail_in != 0)
        goto out;  /* trailing garbage */
    rc = 0;
out:
    inflateEnd(&zs);
    if (rc)
        buf_truncate(out, mark);
    return rc;
}

/* ---- window ------------------------------------------------------------------ */

void ls_lj_window_init(struct ls_lj_window *w, uint32_t max)
{
    w->max = max >= 1 ? max : 1;
    w->size = LJ_WINDOW_START < w->max ? LJ_WINDOW_START : w->max;
    w->max_ok = 0;
}

/* ceil(1.5 * n) without overflow */
static uint32_t grow15(uint32_t n)
{
    uint64_t g = (uint64_t)n + ((uint64_t)n + 1) / 2;
    return g > UINT32_MAX ? UINT32_MAX : (uint32_t)g;
}

void ls_lj_window_ok(struct ls_lj_window *w, uint32_t sent)
{
    if (sent < w->size)
        return;
    if (w->size > w->max_ok) {
        w->max_ok = w->size;                   /* a new record: probe further */
        uint32_t g = grow15(w->size);
        w->size = g < w->max ? g : w->max;
    } else if (w->size < w->max_ok) {
        uint32_t g = grow15(w->size);          /* recovering: back up to what worked */
        w->size = g < w->max_ok ? g : w->max_ok;
    }
}

void ls_lj_window_shrink(struct ls_lj_window *w)
{
    w->size = w->size / 2 >= 1 ? w->size / 2 : 1;
}

/* ---- sending a window ------------------------------------------------------- */

int ls_lj_send_window(struct ls_netconn *c, const void *frames, size_t len, uint32_t n, uint32_t *acked,
                   enum ls_net_result *why, char *err, size_t errlen)
{
    unsigned char rbuf[64];
    size_t rlen = 0;
    *acked = 0;
    *why = LS_NET_ERROR;
    if (ls_netconn_write(c, frames, len, err, errlen) != LS_NET_OK)
        return -1;      /* a stalled write counts as a lost connection: only a missing ACK is a timeout */
    int64_t io_ms = ls_netconn_io_timeout_ms(c);
    int64_t deadline = clock_mono_ms() + io_ms;
    for (;;) {
        struct ls_lj_frame f;
        long used;
        while ((used = ls_lj_frame_decode(rbuf, rlen, 0, &f)) > 0) {
            if (f.type != 'A') {
                snprintf(err, errlen, "protocol: server sent frame type 0x%02x", (unsigned char)f.type);
                return -1;
            }
            memmove(rbuf, rbuf + used, rlen - (size_t)used);
            rlen -= (size_t)used;
            if (f.seq > n) {
                snprintf(err, errlen, "protocol: ACK %u beyond window %u", f.seq, n);
                return -1;
            }
            if (f.seq > *acked)
                *acked = f.seq;
            if (*acked == n) {
                *why = LS_NET_OK;
                return 0;
            }
            deadline = clock_mono_ms() + io_ms;   /* progress or keep-alive */
        }
        if (used < 0) {
            snprintf(err, errlen, "protocol: malformed frame from server");
            return -1;
        }
        size_t got;
        *why = ls_netconn_read(c, rbuf + rlen, sizeof(rbuf) - rlen, deadline, &got, err, errlen);
        if (*why == LS_NET_CLOSED) {
            snprintf(err, errlen, "connection closed before ACK %u (acked %u)", n, *acked);
            return -1;
        }
        if (*why == LS_NET_TIMEOUT) {
            snprintf(err, errlen, "no ACK %u within %lld ms (acked %u)", n, (long long)io_ms, *acked);
            return -1;
        }
        if (*why != LS_NET_OK)
            return -1;
        rlen += got;
        *why = LS_NET_ERROR;
    }
}
