/* fake_server: the one in-process TCP (optionally TLS) server thread the unit tests talk to, with the HTTP
 * message reading and writing they share, so that no test carries its own socket server. */
#ifndef TESTS_UNIT_FAKE_SERVER_H
#define TESTS_UNIT_FAKE_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

struct fake_server;

/* One accepted connection (TLS already handshaken when the server has a certificate). */
struct fake_conn {
    int fd;
    void *ssl;                  /* SSL * when TLS, else NULL */
    int client_port;            /* the peer's port */
    struct fake_server *srv;
};

/* Serves one connection; the server closes it when this returns. */
typedef void (*fake_conn_fn)(struct fake_conn *c, void *ud);

struct fake_server {
    /* set before fake_server_start */
    fake_conn_fn conn;
    void *ud;
    int max_conns;              /* serve this many connections, then the thread ends (0: until stopped) */
    const char *tls_cert;       /* PEM certificate and key: TLS; NULL: plain TCP */
    const char *tls_key;
    const char *client_ca;      /* with TLS: require a client certificate signed by this CA */
    /* set by fake_server_start */
    int port;
    int lfd;
    void *ssl_ctx;
    pthread_t th;
    int running;                /* a thread was started and not joined yet */
    atomic_int stop;
    atomic_int wake_port;       /* the client port of fake_server_stop's wake-up connection */
};

/* Listen on 127.0.0.1 (a free port, in s->port) and start the thread that accepts and serves connections one at a
 * time. Returns 0, or -1 (nothing left open). */
int fake_server_start(struct fake_server *s);

/* Start the serving thread again on the same listening socket (after fake_server_join), for max_conns more
 * connections. Returns 0 or -1. */
int fake_server_rerun(struct fake_server *s);

/* Wait for the serving thread to end by itself (it served max_conns connections). */
void fake_server_join(struct fake_server *s);

/* Stop the thread (waking it if it waits for a connection), join it and close the listening socket. Idempotent. */
void fake_server_stop(struct fake_server *s);

/* 1 when the server was asked to stop (for a handler that waits). */
int fake_server_stopping(const struct fake_server *s);

/* A TCP port on 127.0.0.1 that nobody listens on (bound, learnt, closed), or -1. */
int fake_closed_port(void);

/* I/O on a connection, plain or TLS. fake_read: like read(2) (0 at EOF, -1 on error). fake_read_full: exactly n
 * bytes, 0 or -1. fake_write_all: all n bytes, 0 or -1. */
ssize_t fake_read(struct fake_conn *c, void *p, size_t n);
int fake_read_full(struct fake_conn *c, void *p, size_t n);
int fake_write_all(struct fake_conn *c, const void *p, size_t n);

/* Wait up to ms for the connection to become readable: 1 readable (data or EOF), 0 timeout, -1 error. */
int fake_wait_readable(struct fake_conn *c, int ms);

/* An HTTP/1.1 request as read from a connection. */
struct fake_http_req {
    char head[8192];            /* request line and header fields, NUL-terminated, without the blank line */
    char line[256];             /* the request line */
    char *body;                 /* Content-Length bytes plus a NUL, malloc'ed (fake_http_req_free) */
    size_t body_len;
    char *rest;                 /* bytes read past the head that belong to the body (internal) */
};

/* Read one request (head, then a Content-Length body). Returns 0, or -1 at EOF / on error (nothing to free). */
int fake_http_read(struct fake_conn *c, struct fake_http_req *r);
void fake_http_req_free(struct fake_http_req *r);

/* The value of header field name (case-insensitive) copied into out (trimmed); 0, or -1 when absent. */
int fake_http_header(const struct fake_http_req *r, const char *name, char *out, size_t outlen);

/* Write a response: status line "HTTP/1.1 <status> X", the given extra header lines (each ending "\r\n", may be
 * NULL), Content-Length n, then the body. close_after adds "Connection: close". 0 or -1. */
int fake_http_reply(struct fake_conn *c, int status, const char *extra_headers, const char *body, size_t n,
                    int close_after);

#endif
