/* main: hellod's process lifecycle (options, logging, TLS setup, signals, graceful shutdown). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "civetweb.h"

#include "clock.h"
#include "buf.h"
#include "jsonw.h"
#include "log.h"
#include "timefmt.h"
#include "service/certs.h"
#include "service/options.h"
#include "service/server.h"
#include "service/stats.h"
#include "service/tlsctx.h"

#ifndef PROJECT_VERSION
#define PROJECT_VERSION "unknown"
#endif


/* The "starting" line: every effective option (paths are not secrets; the
 * key's contents never reach a log), plus library versions. */
static void log_start(const struct options *o)
{
    buf_t b;
    int rc = 0;

    if (!log_enabled(LOGL_INFO))
        return;
    buf_init(&b, LOG_LINE_MAX);
    log_begin(&b, LOGL_INFO, "starting");
    rc |= jsonw_kv_str(&b, "version", PROJECT_VERSION);
    rc |= jsonw_kv_str(&b, "civetweb", mg_version());
    rc |= jsonw_kv_str(&b, "openssl", OpenSSL_version(OPENSSL_VERSION));
    rc |= jsonw_kv_int(&b, "tls_port", o->tls_port);
    rc |= jsonw_kv_int(&b, "http_port", o->http_port);
    rc |= jsonw_kv_str(&b, "bind", o->bind);
    rc |= jsonw_kv_str(&b, "cert", o->cert);
    rc |= jsonw_kv_str(&b, "key", o->key);
    rc |= jsonw_kv_str(&b, "state_dir", o->state_dir);
    rc |= jsonw_kv_int(&b, "threads", o->threads);
    rc |= jsonw_kv_int(&b, "max_conns_per_addr", o->max_conns_per_addr);
    rc |= jsonw_kv_int(&b, "health_port", o->health_port);
    rc |= jsonw_kv_str(&b, "health_bind", o->health_bind);
    rc |= jsonw_kv_str(&b, "log_file", o->log_file);
    rc |= jsonw_kv_str(&b, "log_level", log_level_name((enum log_level)o->log_level));
    rc |= jsonw_kv_int(&b, "shutdown_timeout_ms", o->shutdown_timeout_ms);
    rc |= jsonw_kv_uint(&b, "max_request_size", o->max_request_size);
    rc |= jsonw_kv_int(&b, "request_timeout_ms", o->request_timeout_ms);
    rc |= jsonw_kv_int(&b, "keepalive_timeout_ms", o->keepalive_timeout_ms);
    rc |= jsonw_kv_int(&b, "hsts_max_age", o->hsts_max_age);
    rc |= jsonw_kv_bool(&b, "tls_session_tickets", o->tls_session_tickets);
    rc |= jsonw_kv_int(&b, "pid", (int64_t)getpid());
    if (rc != 0)
        log_begin(&b, LOGL_INFO, "starting");
    log_emit(&b);
    buf_free(&b);
}

static void log_cert(enum log_level lvl, const char *msg, const char *cert, int generated)
{
    buf_t b;
    char ts[32] = "";
    time_t na = tlsctx_not_after();
    int rc = 0;

    if (!log_enabled(lvl))
        return;
    if (na > 0)
        timefmt_rfc3339_s(ts, (int64_t)na);
    buf_init(&b, LOG_LINE_MAX);
    log_begin(&b, lvl, msg);
    rc |= jsonw_kv_str(&b, "cert", cert);
    rc |= jsonw_kv_str(&b, "not_after", ts[0] ? ts : NULL);
    if (generated >= 0) {
        rc |= jsonw_kv_bool(&b, "self_signed", 1);
        rc |= jsonw_kv_bool(&b, "generated", generated);
        rc |= jsonw_kv_str(&b, "san", "DNS:localhost,IP:127.0.0.1,IP:::1");
    }
    if (rc != 0)
        log_begin(&b, lvl, msg);
    log_emit(&b);
    buf_free(&b);
}

static void log_listening(const struct options *o)
{
    buf_t b;
    int rc = 0;

    if (!log_enabled(LOGL_INFO))
        return;
    buf_init(&b, 1024);
    log_begin(&b, LOGL_INFO, "listening");
    rc |= jsonw_kv_str(&b, "bind", o->bind);
    rc |= jsonw_kv_int(&b, "tls_port", server_tls_port());
    if (o->http_port != 0)
        rc |= jsonw_kv_int(&b, "http_port", server_http_port());
    if (o->health_port != 0)
        rc |= jsonw_kv_int(&b, "health_port", server_health_port());
    rc |= jsonw_kv_int(&b, "threads", o->threads);
    rc |= jsonw_kv_int(&b, "max_conns_per_addr", server_conn_cap());
    if (rc != 0)
        log_begin(&b, LOGL_INFO, "listening");
    log_emit(&b);
    buf_free(&b);
}

/* SIGHUP: reopen the log file (logrotate) and reload the certificate
 * (certbot); a failed reload keeps the old certificate. */
static void on_sighup(const char *cert)
{
    if (log_reopen() != 0)
        log_kv(LOGL_ERROR, "log file reopen failed", "error", strerror(errno), NULL);
    else
        log_kv(LOGL_INFO, "log file reopened", NULL);
    char err[512];
    if (tlsctx_reload(err, sizeof(err)) == 0) {
        stats_cert_reload(1);
        log_cert(LOGL_INFO, "certificate reloaded", cert, -1);
    } else {
        stats_cert_reload(0);
        log_kv(LOGL_ERROR, "certificate reload failed; keeping the old one", "error", err, NULL);
    }
}

static void *stopper(void *arg)
{
    (void)arg;
    server_stop();
    return NULL;
}

/* A lifecycle line with one optional string field and up to three integer
 * fields (keys NULL when unused). */
static void log_ints(enum log_level l, const char *msg, const char *skey, const char *sval,
                     const char *k1, int64_t v1, const char *k2, int64_t v2,
                     const char *k3, int64_t v3)
{
    buf_t b;
    int rc = 0;

    if (!log_enabled(l))
        return;
    buf_init(&b, 4096);
    log_begin(&b, l, msg);
    if (skey)
        rc |= jsonw_kv_str(&b, skey, sval);
    if (k1)
        rc |= jsonw_kv_int(&b, k1, v1);
    if (k2)
        rc |= jsonw_kv_int(&b, k2, v2);
    if (k3)
        rc |= jsonw_kv_int(&b, k3, v3);
    if (rc != 0)
        log_begin(&b, l, msg);
    log_emit(&b);
    buf_free(&b);
}

/* SIGTERM/SIGINT: /readyz → 503, stop listening, let in-flight requests
 * finish until the deadline (keeping part of it for mg_stop), then stop
 * civetweb. Returns 0, or -1 when even mg_stop overran the deadline (the
 * caller then exits at once, without tearing down threads that are still
 * running; the exit status is still 0: the stop was asked for and done, and
 * the log says what was cut short). */
static int shutdown_gracefully(const struct options *o, int sig)
{
    int64_t t0 = clock_mono_ms(), timeout = o->shutdown_timeout_ms, rest;
    /* mg_stop needs a share of the deadline: idle connections notice the
     * stop flag within SOCKET_TIMEOUT_QUANTUM (200 ms), then every worker
     * thread is joined. */
    int64_t reserve = timeout / 2 < 1000 ? timeout / 2 : 1000;
    long left;
    int closed;
    pthread_t th;
    struct timespec abs;

    log_ints(LOGL_INFO, "shutdown started", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM",
             "in_flight", server_inflight(), "timeout_ms", timeout, NULL, 0);
    closed = server_begin_drain();
    if (closed < 0)
        log_kv(LOGL_ERROR, "could not close listening sockets", "error", strerror(errno), NULL);
    else
        log_ints(LOGL_INFO, "listening stopped", NULL, NULL, "sockets", closed, NULL, 0, NULL, 0);
    while (server_inflight() > 0 && clock_mono_ms() - t0 < timeout - reserve) {
        struct timespec nap = {0, 5 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    left = server_inflight();
    if (left > 0)
        log_ints(LOGL_WARN, "shutdown deadline near; abandoning requests", NULL, NULL,
                 "in_flight", left, NULL, 0, NULL, 0);
    if (pthread_create(&th, NULL, stopper, NULL) != 0) {
        server_stop();
    } else {
        rest = timeout - (clock_mono_ms() - t0);
        if (rest < 50)
            rest = 50;
        abs = clock_real_deadline(rest);
        if (pthread_timedjoin_np(th, NULL, &abs) != 0) {
            log_ints(LOGL_ERROR, "shutdown deadline exceeded; exiting now", NULL, NULL,
                     "in_flight", server_inflight(), NULL, 0, NULL, 0);
            return -1;
        }
    }
    log_ints(LOGL_INFO, "stopped", NULL, NULL, "duration_ms", clock_mono_ms() - t0,
             "abandoned", left, NULL, 0);
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    char err[1024];
    int rc = options_parse(&o, argc, argv, err, sizeof(err));
    if (rc != OPTIONS_RUN) {
        if (rc == OPTIONS_ERROR)
            fprintf(stderr, "hellod: %s\n", err);
        else if (rc == OPTIONS_HELP)
            options_usage(stdout);
        else if (rc == OPTIONS_VERSION)
            printf("hellod %s\n", PROJECT_VERSION);
        else
            options_markdown(stdout);
        options_free(&o);
        return rc == OPTIONS_ERROR ? 2 : 0;
    }

    /* Signals are taken synchronously by this thread (sigwait below), so
     * they are blocked before any other thread exists and all inherit the
     * mask; no work ever happens in a signal handler. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        fprintf(stderr, "hellod: cannot set up signal handling\n");
        options_free(&o);
        return 1;
    }
    if (log_init("hellod", 1, o.log_file, (enum log_level)o.log_level) != 0) {
        fprintf(stderr, "hellod: --log-file %s: %s\n", o.log_file ? o.log_file : "",
                strerror(errno));
        options_free(&o);
        return 2;
    }
    int status = 1;
    if ((mg_init_library(MG_FEATURES_TLS) & MG_FEATURES_TLS) == 0) {
        log_kv(LOGL_ERROR, "civetweb reports no TLS support; refusing to run", NULL);
        goto out_log;
    }
    log_start(&o);
    if (stats_init(PROJECT_VERSION) != 0) {
        log_kv(LOGL_ERROR, "cannot create metrics", NULL);
        goto out_lib;
    }

    char cert_buf[4096], key_buf[4096];
    const char *cert, *key;
    int generated = -1;
    if (o.cert) {
        cert = o.cert;
        key = o.key;
    } else {
        if (certs_ensure_selfsigned(o.state_dir, cert_buf, sizeof(cert_buf), key_buf,
                                    sizeof(key_buf), &generated, err, sizeof(err)) != 0) {
            log_kv(LOGL_ERROR, "self-signed certificate unavailable", "error", err, NULL);
            goto out_stats;
        }
        cert = cert_buf;
        key = key_buf;
    }
    tlsctx_set_resumption(o.tls_session_tickets);
    if (tlsctx_init(cert, key, err, sizeof(err)) != 0) {
        log_kv(LOGL_ERROR, "cannot load certificate", "error", err, NULL);
        goto out_tls;
    }
    if (generated >= 0)
        log_cert(LOGL_WARN, generated ? "generated a self-signed certificate; use --cert/--key in production"
                                     : "using the self-signed certificate; use --cert/--key in production",
                 cert, generated);
    else
        log_cert(LOGL_INFO, "certificate loaded", cert, -1);

    struct server_params sp;
    memset(&sp, 0, sizeof(sp));
    sp.bind = o.bind;
    sp.tls_port = (int)o.tls_port;
    sp.http_port = (int)o.http_port;
    sp.threads = (int)o.threads;
    sp.request_timeout_ms = o.request_timeout_ms;
    sp.keepalive_timeout_ms = o.keepalive_timeout_ms;
    sp.max_request_size = o.max_request_size;
    sp.hsts_max_age = o.hsts_max_age;
    sp.max_conns_per_addr = (int)o.max_conns_per_addr;
    sp.health_bind = o.health_bind;
    sp.health_port = (int)o.health_port;
    if (server_start(&sp, err, sizeof(err)) != 0) {
        log_kv(LOGL_ERROR, "cannot start server", "error", err, NULL);
        goto out_tls;
    }
    log_listening(&o);

    int sig;
    for (;;) {
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            on_sighup(cert);
            continue;
        }
        break;
    }
    if (shutdown_gracefully(&o, sig) != 0)
        _exit(0); /* civetweb threads are still running: no teardown */
    status = 0;
out_tls:
    tlsctx_free();
out_stats:
    stats_free();
out_lib:
    mg_exit_library();
out_log:
    log_close();
    options_free(&o);
    return status;
}
