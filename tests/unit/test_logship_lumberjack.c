/* test_logship_lumberjack: Lumberjack v2 frames, and the client against an in-process server
 * that ACKs fully, partially, or hangs up before the ACK. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "fake_beats.h"
#include "logship/out/lumberjack.h"

static void test_frames_roundtrip(void **state)
{
    buf_t b, inner, z;
    struct ls_lj_frame f;
    (void)state;
    buf_init(&b, 1 << 20);
    buf_init(&inner, 1 << 20);
    buf_init(&z, 1 << 20);
    assert_int_equal(ls_lj_encode_window(&b, 3), 0);
    assert_int_equal(ls_lj_encode_json(&inner, 1, "{\"a\":1}", 7), 0);
    assert_int_equal(ls_lj_encode_json(&inner, 2, "{}", 2), 0);
    assert_int_equal(ls_lj_encode_json(&inner, 3, "", 0), 0);
    assert_int_equal(ls_lj_encode_compressed(&b, inner.p, inner.len, 3), 0);
    assert_int_equal(ls_lj_encode_ack(&b, 3), 0);

    const unsigned char *p = (const unsigned char *)b.p;
    size_t n = b.len;
    long used = ls_lj_frame_decode(p, n, 1 << 20, &f);
    assert_int_equal(used, 6);
    assert_int_equal(f.type, 'W');
    assert_int_equal(f.count, 3);
    p += used; n -= (size_t)used;
    used = ls_lj_frame_decode(p, n, 1 << 20, &f);
    assert_true(used > 6);
    assert_int_equal(f.type, 'C');
    assert_int_equal(ls_lj_inflate(f.payload, f.len, &z), 0);
    assert_int_equal(z.len, inner.len);
    assert_memory_equal(z.p, inner.p, inner.len);
    /* every prefix of a frame asks for more bytes, never more than it has */
    for (size_t cut = 0; cut < (size_t)used; cut++)
        assert_int_equal(ls_lj_frame_decode(p, cut, 1 << 20, &f), 0);
    /* a corrupt or truncated zlib stream is an error, not a crash */
    buf_reset(&z);
    assert_int_equal(ls_lj_inflate(f.payload, f.len - 1, &z), -1);
    assert_int_equal(z.len, 0);
    p += used; n -= (size_t)used;
    used = ls_lj_frame_decode(p, n, 1 << 20, &f);
    assert_int_equal(used, 6);
    assert_int_equal(f.type, 'A');
    assert_int_equal(f.seq, 3);

    /* the inner frames */
    p = (const unsigned char *)inner.p;
    used = ls_lj_frame_decode(p, inner.len, 1 << 20, &f);
    assert_int_equal(used, 17);
    assert_int_equal(f.type, 'J');
    assert_int_equal(f.seq, 1);
    assert_int_equal(f.len, 7);
    assert_memory_equal(f.payload, "{\"a\":1}", 7);

    /* bad version, unknown type, oversized payload */
    assert_int_equal(ls_lj_frame_decode((const unsigned char *)"3W", 2, 10, &f), -1);
    assert_int_equal(ls_lj_frame_decode((const unsigned char *)"x", 1, 10, &f), -1);
    assert_int_equal(ls_lj_frame_decode((const unsigned char *)"2Z\0\0\0\0", 6, 10, &f), -1);
    assert_int_equal(ls_lj_frame_decode((const unsigned char *)"2J\0\0\0\1\0\0\0\x20", 10, 16, &f), -1);
    /* legacy D frame: seq 5, one pair k=v */
    static const unsigned char d[] = { '2', 'D', 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 1, 'k', 0, 0, 0, 1, 'v' };
    used = ls_lj_frame_decode(d, sizeof d, 1 << 20, &f);
    assert_int_equal(used, (long)sizeof d);
    assert_int_equal(f.seq, 5);
    assert_int_equal(f.count, 1);
    assert_int_equal(ls_lj_frame_decode(d, sizeof d - 1, 1 << 20, &f), 0);

    /* inflate respects the destination cap */
    buf_t small;
    buf_init(&small, 4);
    assert_int_equal(ls_lj_inflate((const unsigned char *)b.p + 12, b.len - 18, &small), -1);
    buf_free(&small);
    buf_free(&b);
    buf_free(&inner);
    buf_free(&z);
}

/* ---- the beats server: one connection per run (tests/unit/fake_server.c, fake_beats.c) ---- */

struct srv {
    struct fake_server fs;
    int port;
    int mode;          /* 0: ACK n; 1: ACK 2 then close; 2: keep-alive ACK 0 twice, then n; 3: never ACK */
    uint32_t window;   /* what the server saw */
    uint32_t events;
};

static void count_event(void *ud, const struct ls_lj_frame *f)
{
    struct srv *s = ud;
    (void)f;
    s->events++;
}

static void send_ack(struct fake_conn *c, uint32_t seq)
{
    assert_int_equal(fake_beats_ack(c, seq), 0);
}

static void serve(struct fake_conn *c, void *ud)
{
    struct srv *s = ud;
    if (fake_beats_read_window(c, &s->window, count_event, s) == 0) {
        if (s->mode == 0) send_ack(c, s->window);
        if (s->mode == 1) send_ack(c, 2);
        if (s->mode == 2) { send_ack(c, 0); usleep(100000); send_ack(c, 0); usleep(100000); send_ack(c, s->window); }
        if (s->mode == 3) usleep(600000);
    }
    usleep(50000);
}

static void srv_start(struct srv *s)
{
    s->fs = (struct fake_server){ .conn = serve, .ud = s, .max_conns = 1 };
    assert_int_equal(fake_server_start(&s->fs), 0);
    s->port = s->fs.port;
}

static int send_five(struct srv *s, uint32_t *acked, char *err, size_t errlen, int64_t io_ms)
{
    char port[16];
    buf_t frames, inner;
    int rc;
    srv_start(s);
    snprintf(port, sizeof port, "%d", s->port);
    struct ls_netconn_conf cc = { .host = "127.0.0.1", .port = port, .connect_timeout_ms = 2000,
                               .io_timeout_ms = io_ms };
    struct ls_netconn *c = ls_netconn_open(&cc, err, errlen);
    assert_non_null(c);
    buf_init(&frames, 1 << 20);
    buf_init(&inner, 1 << 20);
    assert_int_equal(ls_lj_encode_window(&frames, 5), 0);
    for (uint32_t i = 1; i <= 5; i++) assert_int_equal(ls_lj_encode_json(&inner, i, "{\"m\":\"x\"}", 9), 0);
    assert_int_equal(ls_lj_encode_compressed(&frames, inner.p, inner.len, 1), 0);
    enum ls_net_result why;
    rc = ls_lj_send_window(c, frames.p, frames.len, 5, acked, &why, err, errlen);
    ls_netconn_close(c);
    fake_server_stop(&s->fs);
    buf_free(&frames);
    buf_free(&inner);
    return rc;
}

static void test_client_acks(void **state)
{
    struct srv s;
    uint32_t acked;
    char err[256];
    (void)state;

    memset(&s, 0, sizeof s);
    assert_int_equal(send_five(&s, &acked, err, sizeof err, 2000), 0);
    assert_int_equal(acked, 5);
    assert_int_equal(s.window, 5);
    assert_int_equal(s.events, 5);

    memset(&s, 0, sizeof s);
    s.mode = 1;   /* partial ACK, then the server hangs up */
    assert_int_equal(send_five(&s, &acked, err, sizeof err, 2000), -1);
    assert_int_equal(acked, 2);
    assert_non_null(strstr(err, "closed"));

    memset(&s, 0, sizeof s);
    s.mode = 2;   /* keep-alives restart the clock: 150 ms io timeout, ACK after 200 ms */
    assert_int_equal(send_five(&s, &acked, err, sizeof err, 150), 0);
    assert_int_equal(acked, 5);

    memset(&s, 0, sizeof s);
    s.mode = 3;   /* silence: timeout */
    assert_int_equal(send_five(&s, &acked, err, sizeof err, 200), -1);
    assert_int_equal(acked, 0);
    assert_non_null(strstr(err, "no ACK"));
}

static void test_connect_refused(void **state)
{
    char err[256];
    (void)state;
    /* a port nobody listens on: bind one, close it, connect */
    char port[16];
    int p = fake_closed_port();
    assert_true(p > 0);
    snprintf(port, sizeof port, "%d", p);
    struct ls_netconn_conf cc = { .host = "127.0.0.1", .port = port, .connect_timeout_ms = 1000 };
    assert_null(ls_netconn_open(&cc, err, sizeof err));
    assert_non_null(strstr(err, "connect"));
    struct ls_netconn_conf bad = { .host = "no-such-host.invalid", .port = "1", .connect_timeout_ms = 1000 };
    assert_null(ls_netconn_open(&bad, err, sizeof err));
}

/* The window adapts as Filebeat's: small start, x1.5 on whole ACKs of a full
 * window, halved on failure, and back up only to the largest size that worked. */
static void test_window_adapts(void **state)
{
    (void)state;
    struct ls_lj_window w;
    ls_lj_window_init(&w, 2048);
    assert_int_equal(w.size, LJ_WINDOW_START);
    ls_lj_window_ok(&w, 5);                 /* a short window says nothing */
    assert_int_equal(w.size, 10);
    uint32_t seen[32], n = 0;
    /* a server that refuses more than 500: grow until the refusal */
    while (w.size <= 500 && n < 32) {
        seen[n++] = w.size;
        ls_lj_window_ok(&w, w.size);
    }
    assert_int_equal(n, 10);
    assert_int_equal(seen[1], 15);
    assert_int_equal(seen[2], 23);       /* ceil(1.5 * 15) */
    assert_int_equal(seen[9], 405);
    assert_int_equal(w.size, 608);
    ls_lj_window_shrink(&w);                /* 608 refused */
    assert_int_equal(w.size, 304);
    ls_lj_window_ok(&w, 304);
    assert_int_equal(w.size, 405);       /* back to what worked, not beyond */
    ls_lj_window_ok(&w, 405);
    assert_int_equal(w.size, 405);       /* and it stays there */
    for (int i = 0; i < 20; i++)
        ls_lj_window_shrink(&w);
    assert_int_equal(w.size, 1);         /* never below one */
    /* the cap */
    ls_lj_window_init(&w, 2048);
    for (int i = 0; i < 40; i++)
        ls_lj_window_ok(&w, w.size);
    assert_int_equal(w.size, 2048);
    assert_int_equal(w.max_ok, 2048);
    ls_lj_window_init(&w, 4);
    assert_int_equal(w.size, 4);
    ls_lj_window_init(&w, 0);
    assert_int_equal(w.size, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames_roundtrip),
        cmocka_unit_test(test_client_acks),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_window_adapts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
