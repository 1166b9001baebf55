/* fake_beats: the server side of one Lumberjack v2 (beats) window for the unit tests (see fake_beats.h). */
#include "fake_beats.h"

#include <stdlib.h>

int fake_beats_read_window(struct fake_conn *c, uint32_t *window, fake_beats_event_fn ev, void *ud)
{
    unsigned char h[6];
    struct ls_lj_frame f;
    if (fake_read_full(c, h, 6) != 0 || ls_lj_frame_decode(h, 6, 0, &f) != 6 || f.type != 'W')
        return -1;
    *window = f.count;
    if (fake_read_full(c, h, 6) != 0 || h[1] != 'C')
        return 0;
    uint32_t len = ((uint32_t)h[2] << 24) | ((uint32_t)h[3] << 16) | ((uint32_t)h[4] << 8) | h[5];
    unsigned char *zb = malloc(len ? len : 1);
    buf_t z;
    buf_init(&z, 1 << 20);
    if (zb && fake_read_full(c, zb, len) == 0 && ls_lj_inflate(zb, len, &z) == 0) {
        size_t off = 0;
        long used;
        while ((used = ls_lj_frame_decode((unsigned char *)z.p + off, z.len - off, 1 << 20, &f)) > 0) {
            if (ev)
                ev(ud, &f);
            off += (size_t)used;
        }
    }
    free(zb);
    buf_free(&z);
    return 0;
}

int fake_beats_ack(struct fake_conn *c, uint32_t seq)
{
    unsigned char a[6] = { '2', 'A', (unsigned char)(seq >> 24), (unsigned char)(seq >> 16),
                           (unsigned char)(seq >> 8), (unsigned char)seq };
    return fake_write_all(c, a, sizeof(a));
}
