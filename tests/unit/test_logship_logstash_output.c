/* test_logship_logstash_output: the Logstash output's beats and tcp transports against in-process
 * servers (full ACK, partial ACK then hang-up, no server), and its URL checks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "logship/out/lumberjack.h"
#include "logship/core/output.h"

#include "logship/out/out_logstash.h"

struct srv {
    int lfd, port;
    pthread_t th;
    int mode;              /* 0 beats ACK all; 1 beats ACK 2 then close; 2 tcp: read all */
    uint32_t window;
    int events;
    char got[8192];
    size_t glen;
};

static int read_full(int fd, void *p, size_t n)
{
    char *q = p;
    while (n) {
        ssize_t r = read(fd, q, n);
        if (r <= 0) return -1;
        q += r;
        n -= (size_t)r;
    }
    return 0;
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0) return NULL;
    if (s->mode == 2) {
        ssize_t r;
        while ((r = read(fd, s->got + s->glen, sizeof s->got - 1 - s->glen)) > 0) s->glen += (size_t)r;
        close(fd);
        return NULL;
    }
    unsigned char h[6];
    struct ls_lj_frame f;
    buf_t z, ack;
    buf_init(&z, 1 << 20);
    buf_init(&ack, 64);
    if (read_full(fd, h, 6) == 0 && ls_lj_frame_decode(h, 6, 0, &f) == 6 && f.type == 'W') {
        s->window = f.count;
        if (read_full(fd, h, 6) == 0 && h[1] == 'C') {
            uint32_t len = ((uint32_t)h[2] << 24) | ((uint32_t)h[3] << 16) | ((uint32_t)h[4] << 8) | h[5];
            unsigned char *zb = malloc(len);
            if (zb && read_full(fd, zb, len) == 0 && ls_lj_inflate(zb, len, &z) == 0) {
                size_t off = 0;
                long used;
                while ((used = ls_lj_frame_decode((unsigned char *)z.p + off, z.len - off, 1 << 20, &f)) > 0) {
                    assert_int_equal(f.type, 'J');
                    assert_int_equal(f.seq, (uint32_t)s->events + 1);
                    assert_non_null(memmem(f.payload, f.len, "\"@timestamp\":", 13));
                    s->events++;
                    off += (size_t)used;
                }
            }
            free(zb);
        }
        assert_int_equal(ls_lj_encode_ack(&ack, s->mode == 0 ? s->window : 2), 0);
        assert_int_equal(write(fd, ack.p, ack.len), (ssize_t)ack.len);
    }
    buf_free(&z);
    buf_free(&ack);
    usleep(20000);
    close(fd);
    return NULL;
}

static void srv_start(struct srv *s)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 4), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

#define NREC 5
static struct ls_record recs[NREC];

static void make_recs(void)
{
    static char lines[NREC][32];
    for (int i = 0; i < NREC; i++) {
        snprintf(lines[i], sizeof lines[i], "{\"n\":%d}", i);
        recs[i] = (struct ls_record){ .seq = (uint64_t)i + 1, .ts_ns = 1764295384000000000LL,
                                      .labels = "{service=\"hello\"}", .labels_len = 17,
                                      .line = lines[i], .line_len = strlen(lines[i]),
                                      .origin = lines[i], .origin_len = strlen(lines[i]) };
    }
}

static void *make_out(const char *scheme, int port)
{
    static char url[64];
    static struct ls_output_conf c;   /* outlives the output */
    char err[256] = "";
    snprintf(url, sizeof url, "%s://127.0.0.1:%d", scheme, port);
    c = (struct ls_output_conf){ .name = "logstash", .url = url, .connect_timeout_ms = 1000,
                                 .request_timeout_ms = 2000 };
    void *o = ls_output_logstash.create(&c, err, sizeof err);
    if (!o) fail_msg("create: %s", err);
    return o;
}

static enum ls_verdict flush(void *o, enum ls_verdict *item, struct ls_flush_result *res)
{
    struct ls_batch b = { recs, NREC };
    memset(res, 0, sizeof *res);
    for (size_t i = 0; i < NREC; i++) item[i] = LS_DONE;
    res->item = item;
    res->retry_after_ms = -1;
    return ls_output_logstash.flush(o, &b, res);
}

static void test_beats_acked(void **state)
{
    struct srv s = { .mode = 0 };
    enum ls_verdict item[NREC];
    struct ls_flush_result res;
    (void)state;
    make_recs();
    srv_start(&s);
    void *o = make_out("beats", s.port);
    assert_int_equal(flush(o, item, &res), LS_DONE);
    assert_int_equal(s.window, NREC);
    assert_int_equal(s.events, NREC);
    ls_output_logstash.destroy(o);
    pthread_join(s.th, NULL);
    close(s.lfd);
}

static void test_beats_reconnects_after_idle_close(void **state)
{
    struct srv s = { .mode = 0 };
    enum ls_verdict item[NREC];
    struct ls_flush_result res;
    (void)state;
    make_recs();
    srv_start(&s);
    void *o = make_out("beats", s.port);
    assert_int_equal(flush(o, item, &res), LS_DONE);
    pthread_join(s.th, NULL);            /* the server closed the connection after its ACK */
    s.events = 0;
    assert_int_equal(pthread_create(&s.th, NULL, srv_main, &s), 0);
    usleep(50000);
    assert_int_equal(flush(o, item, &res), LS_DONE);   /* a fresh connection, not a lost send */
    assert_int_equal(s.events, NREC);
    ls_output_logstash.destroy(o);
    pthread_join(s.th, NULL);
    close(s.lfd);
}

static void test_beats_partial_ack_then_hangup(void **state)
{
    struct srv s = { .mode = 1 };
    enum ls_verdict item[NREC];
    struct ls_flush_result res;
    (void)state;
    make_recs();
    srv_start(&s);
    void *o = make_out("beats", s.port);
    assert_int_equal(flush(o, item, &res), LS_PARTIAL);
    assert_int_equal(item[0], LS_DONE);
    assert_int_equal(item[1], LS_DONE);
    for (int i = 2; i < NREC; i++) assert_int_equal(item[i], LS_RETRY);
    assert_string_equal(res.reason, "connection");
    pthread_join(s.th, NULL);
    close(s.lfd);
    /* the server is gone: the next flush cannot connect and retries everything */
    assert_int_equal(flush(o, item, &res), LS_RETRY);
    assert_string_equal(res.reason, "connection");
    ls_output_logstash.destroy(o);
}

static void test_tcp_json_lines(void **state)
{
    struct srv s = { .mode = 2 };
    enum ls_verdict item[NREC];
    struct ls_flush_result res;
    (void)state;
    make_recs();
    srv_start(&s);
    void *o = make_out("tcp", s.port);
    assert_int_equal(flush(o, item, &res), LS_DONE);
    ls_output_logstash.destroy(o);     /* closes the connection: the server sees EOF */
    pthread_join(s.th, NULL);
    close(s.lfd);
    s.got[s.glen] = '\0';
    int nl = 0;
    for (size_t i = 0; i < s.glen; i++) nl += s.got[i] == '\n';
    assert_int_equal(nl, NREC);
    assert_non_null(strstr(s.got, "\"n\":4,\"service\":\"hello\"}\n"));
}

static void test_bad_urls(void **state)
{
    char err[256];
    const char *bad[] = { "ftp://x:1", "beats://nohost", "beats://:5044", "tcp://h:0", "tcp://h:70000",
                          "beats://h:12ab", "beats://[::1", "" };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ls_output_conf c = { .name = "logstash", .url = bad[i] };
        err[0] = '\0';
        assert_null(ls_output_logstash.create(&c, err, sizeof err));
        assert_true(strlen(err) > 0);
    }
    struct ls_output_conf ok = { .name = "logstash", .url = "beats://[::1]:5044/" };
    void *o = ls_output_logstash.create(&ok, err, sizeof err);
    assert_non_null(o);
    ls_output_logstash.destroy(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_beats_acked),
        cmocka_unit_test(test_beats_reconnects_after_idle_close),
        cmocka_unit_test(test_beats_partial_ack_then_hangup),
        cmocka_unit_test(test_tcp_json_lines),
        cmocka_unit_test(test_bad_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
