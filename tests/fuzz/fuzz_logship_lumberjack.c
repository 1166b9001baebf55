/* fuzz_logship_lumberjack: the Lumberjack v2 frame decoder and inflater on hostile bytes.
 *
 * Covers what the client reads from a server (ACK/window frames) and the
 * full decoder (J, C, D frames, nested compressed frames) that tests use as
 * a receiver would. A decoded frame must lie within the input, and
 * re-encoding a decoded J/W/A frame must reproduce its bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "logship/out/lumberjack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const unsigned char *p, size_t n, int depth)
{
    while (n > 0) {
        struct ls_lj_frame f;
        long used = ls_lj_frame_decode(p, n, 1 << 20, &f);
        if (used <= 0) return;
        if ((size_t)used > n) abort();
        if (f.payload && (f.payload < p || f.payload + f.len > p + used)) abort();
        if (f.type == 'J' || f.type == 'W' || f.type == 'A') {
            buf_t b;
            buf_init(&b, 2u << 20);
            int rc = f.type == 'J' ? ls_lj_encode_json(&b, f.seq, f.payload, f.len)
                   : f.type == 'W' ? ls_lj_encode_window(&b, f.count) : ls_lj_encode_ack(&b, f.seq);
            if (rc == 0 && p[0] == '2' && ((size_t)used != b.len || memcmp(b.p, p, b.len) != 0)) abort();
            buf_free(&b);
        }
        if (f.type == 'C' && depth < 3) {
            buf_t z;
            buf_init(&z, 1 << 20);
            if (ls_lj_inflate(f.payload, f.len, &z) == 0) walk((const unsigned char *)z.p, z.len, depth + 1);
            buf_free(&z);
        }
        p += used;
        n -= (size_t)used;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    walk(copy, size, 0);
    /* a compressed frame built from the input must decode back to it */
    buf_t c, z;
    buf_init(&c, 4u << 20);
    buf_init(&z, 4u << 20);
    if (ls_lj_encode_compressed(&c, copy, size, 1) == 0) {
        struct ls_lj_frame f;
        if (ls_lj_frame_decode((const unsigned char *)c.p, c.len, 4u << 20, &f) != (long)c.len) abort();
        if (ls_lj_inflate(f.payload, f.len, &z) != 0 || z.len != size || (size && memcmp(z.p, copy, size)))
            abort();
    }
    buf_free(&c);
    buf_free(&z);
    free(copy);
    return 0;
}
