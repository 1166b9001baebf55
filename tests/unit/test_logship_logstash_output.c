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
#include <cmocka.h>

#include "fake_beats.h"
#include "logship/out/lumberjack.h"
#include "logship/core/output.h"

#include "logship/out/out_logstash.h"

/* ---- the beats / tcp server: one connection per run (tests/unit/fake_server.c, fake_beats.c) ---- */

struct srv {
    struct fake_server fs;
    int port;
    int mode;              /* 0 beats ACK all; 1 beats ACK 2 then close; 2 tcp: read all */
    uint32_t window;
    int events;
    char got[8192];
    size_t glen;
};

static void check_event(void *ud, const struct ls_lj_frame *f)
{
    struct srv *s = ud;
    assert_int_equal(f->type, 'J');
    assert_int_equal(f->seq, (uint32_t)s->events + 1);
    assert_non_null(memmem(f->payload, f->len, "\"@timestamp\":", 13));
    s->events++;
}

static void serve(struct fake_conn *c, void *ud)
{
    struct srv *s = ud;
    if (s->mode == 2) {
        ssize_t r;
        while ((r = fake_read(c, s->got + s->glen, sizeof s->got - 1 - s->glen)) > 0) s->glen += (size_t)r;
        return;
    }
    if (fake_beats_read_window(c, &s->window, check_event, s) == 0)
        assert_int_equal(fake_beats_ack(c, s->mode == 0 ? s->window : 2), 0);
    usleep(20000);
}

static void srv_start(struct srv *s)
{
    s->fs = (struct fake_server){ .conn = serve, .ud = s, .max_conns = 1 };
    assert_int_equal(fake_server_start(&s->fs), 0);
    s->port = s->fs.port;
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
    fake_server_stop(&s.fs);
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
    fake_server_join(&s.fs);             /* the server closed the connection after its ACK */
    s.events = 0;
    assert_int_equal(fake_server_rerun(&s.fs), 0);
    usleep(50000);
    assert_int_equal(flush(o, item, &res), LS_DONE);   /* a fresh connection, not a lost send */
    assert_int_equal(s.events, NREC);
    ls_output_logstash.destroy(o);
    fake_server_stop(&s.fs);
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
    fake_server_stop(&s.fs);
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
    fake_server_stop(&s.fs);
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
