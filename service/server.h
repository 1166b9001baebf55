/* server: hellod's HTTP behaviour on civetweb (handler, access log, errors, lifecycle). */
#ifndef HELLOD_SERVER_H
#define HELLOD_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct server_params {
    const char *bind;              /* IPv4/IPv6 literal; "::" means IPv6 and IPv4 */
    int tls_port;                  /* 0: kernel-chosen */
    int http_port;                 /* 0: none */
    int threads;
    int64_t request_timeout_ms;
    int64_t keepalive_timeout_ms;  /* 0: keep-alive off */
    uint64_t max_request_size;
    int64_t hsts_max_age;          /* 0: no HSTS header */
    int max_conns_per_addr;        /* 0: no per-address cap */
    const char *health_bind;       /* address of the health/metrics listener */
    int health_port;               /* plain HTTP /healthz /readyz /metrics; 0: none, -1: kernel-chosen */
};

/* Start civetweb with hellod's callbacks and options (see server.c for why
 * each option has its value). The TLS certificate must already be set up
 * with tlsctx_init. Returns 0, or -1 with a one-line reason in err (port in
 * use, bad address, TLS setup failure). */
int server_start(const struct server_params *p, char *err, size_t errlen);

/* The ports actually bound (the TLS one may have been 0). */
int server_tls_port(void);
int server_http_port(void);
int server_health_port(void);   /* 0 when the health listener is off */
int server_conn_cap(void);      /* effective per-address cap (0: none) */

/* Pressure counters for /metrics: responses that ended keep-alive because
 * most threads held a connection, and heads refused for their framing. */
unsigned long server_keepalive_shed(void);
unsigned long server_framing_rejects(void);

/* Begin a graceful shutdown: /readyz answers 503 from now on, responses
 * carry "Connection: close" and keep-alive ends after the current request,
 * and the main listening sockets are closed so new connections are refused
 * (the health listener stays open until server_stop).
 * Returns the number of listening sockets closed, or -1 (errno set). */
int server_begin_drain(void);

/* Requests between their head being read and their access line written. */
long server_inflight(void);

/* mg_stop: wake idle connections, join all civetweb threads, free the
 * context. Blocks until civetweb is done (civetweb's own I/O timeouts
 * bound that; main runs it on a thread with a deadline). */
void server_stop(void);

#endif
