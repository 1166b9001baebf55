/* netconn: one TCP client connection with optional TLS (OpenSSL) and deadlines, the transport the Lumberjack v2 and
 * tcp json_lines outputs share.
 *
 * Connecting resolves the host, tries each address with a non-blocking
 * connect bounded by connect_timeout_ms, and (with tls) handshakes within the
 * same deadline, verifying the server's certificate against ca_file (or the
 * system store) and its name or IP address unless insecure_skip_verify; a
 * client certificate (cert_file, key_file) is offered when given. Reads and
 * writes are bounded by io_timeout_ms without progress. No protocol here:
 * lumberjack.c frames on top of it. */
#ifndef LOGSHIP_NETCONN_H
#define LOGSHIP_NETCONN_H

#include <stddef.h>
#include <stdint.h>

/* How a connection operation ended. Every failure leaves the connection
 * unusable: close it. */
enum ls_net_result {
    LS_NET_OK = 0,
    LS_NET_ERROR = -1,      /* connection lost, protocol or TLS error (err says which) */
    LS_NET_TIMEOUT = -2,    /* no progress within the deadline */
    LS_NET_CLOSED = -3,     /* the peer closed the connection (a read saw EOF) */
};

struct ls_netconn_conf {
    const char *host, *port;
    int         tls;                  /* 1: TLS (OpenSSL), verifying the server */
    const char *ca_file, *cert_file, *key_file;
    int         insecure_skip_verify;
    int64_t     connect_timeout_ms;   /* TCP connect + TLS handshake (0: 10 s) */
    int64_t     io_timeout_ms;        /* a write or read without progress this long fails (0: 30 s) */
};

struct ls_netconn;

/* Connect (and handshake). Returns the connection, or NULL with a one-line
 * reason in err. Never blocks longer than connect_timeout_ms. */
struct ls_netconn *ls_netconn_open(const struct ls_netconn_conf *conf, char *err, size_t errlen);

/* Write all of p[0..n); every chunk written restarts the io timeout. Returns
 * LS_NET_OK, LS_NET_TIMEOUT (no progress in time, "write timed out" in err,
 * or the kernel's ETIMEDOUT) or LS_NET_ERROR (err filled). Never raises
 * SIGPIPE. */
enum ls_net_result ls_netconn_write(struct ls_netconn *c, const void *p, size_t n, char *err, size_t errlen);

/* Read what is available (at most cap bytes, at least 1) into buf, waiting
 * until deadline_ms (clock_mono_ms). Returns LS_NET_OK with *got > 0,
 * LS_NET_CLOSED on EOF, LS_NET_TIMEOUT, or LS_NET_ERROR with err filled (err
 * is untouched for CLOSED and TIMEOUT: the caller knows what it waited for). */
enum ls_net_result ls_netconn_read(struct ls_netconn *c, void *buf, size_t cap, int64_t deadline_ms,
                                   size_t *got, char *err, size_t errlen);

/* The io timeout the connection was opened with (ms, > 0). */
int64_t ls_netconn_io_timeout_ms(const struct ls_netconn *c);

/* 1 when an idle connection still looks usable, 0 when the peer closed it
 * or sent something unasked (servers close idle clients, e.g. Logstash's
 * client_inactivity_timeout): reconnect instead of losing a send to it.
 * Never blocks. */
int ls_netconn_alive(struct ls_netconn *c);

/* Close and free. NULL-safe. */
void ls_netconn_close(struct ls_netconn *c);

#endif
