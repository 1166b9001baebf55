/* netconn: the TCP/TLS client connection with deadlines that the stream outputs share (see netconn.h). */
#include "logship/out/netconn.h"
#include "clock.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct ls_netconn {
    int      fd;
    SSL_CTX *ctx;
    SSL     *ssl;
    int64_t  io_timeout_ms;
};

/* Wait until fd is ready for events or the deadline passes. 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        struct pollfd pfd = { fd, events, 0 };
        if (left <= 0)
            return 0;
        int r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

static void ssl_error(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char msg[200] = "";
    if (e)
        ERR_error_string_n(e, msg, sizeof(msg));
    snprintf(err, errlen, "%s: %s", what, e ? msg : strerror(errno));
    ERR_clear_error();
}

enum tls_op { NET_TLS_HANDSHAKE, NET_TLS_READ, NET_TLS_WRITE };

/* Drive one SSL operation on a non-blocking socket to completion or deadline.
 * Returns bytes (>0; 1 for the handshake), 0 on clean EOF (read), -1 error,
 * -2 timeout. */
static int ssl_op(struct ls_netconn *c, enum tls_op op, void *p, size_t n, int64_t deadline)
{
    int len = (int)(n > INT32_MAX ? INT32_MAX : n);
    for (;;) {
        int r;
        ERR_clear_error();
        if (op == NET_TLS_HANDSHAKE)
            r = SSL_connect(c->ssl);
        else if (op == NET_TLS_READ)
            r = SSL_read(c->ssl, p, len);
        else
            r = SSL_write(c->ssl, p, len);
        if (r > 0)
            return r;
        int e = SSL_get_error(c->ssl, r);
        short ev;
        if (e == SSL_ERROR_WANT_READ)
            ev = POLLIN;
        else if (e == SSL_ERROR_WANT_WRITE)
            ev = POLLOUT;
        else if (e == SSL_ERROR_ZERO_RETURN && op == NET_TLS_READ)
            return 0;
        else
            return -1;
        int w = wait_fd(c->fd, ev, deadline);
        if (w == 0)
            return -2;
        if (w < 0)
            return -1;
    }
}

/* Load the trust store and the client certificate into a new context. */
static int tls_context(struct ls_netconn *c, const struct ls_netconn_conf *conf, char *err, size_t errlen)
{
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx) {
        ssl_error(err, errlen, "tls context");
        return -1;
    }
    if (!SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION)) {
        ssl_error(err, errlen, "tls version");
        return -1;
    }
    if (conf->ca_file && *conf->ca_file) {
        if (SSL_CTX_load_verify_locations(c->ctx, conf->ca_file, NULL) != 1) {
            ssl_error(err, errlen, "tls ca file");
            return -1;
        }
    } else if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
        ssl_error(err, errlen, "tls default ca");
        return -1;
    }
    if (conf->cert_file && *conf->cert_file) {
        const char *key = conf->key_file && *conf->key_file ? conf->key_file : conf->cert_file;
        if (SSL_CTX_use_certificate_chain_file(c->ctx, conf->cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(c->ctx) != 1) {
            ssl_error(err, errlen, "tls client certificate");
            return -1;
        }
    }
    SSL_CTX_set_verify(c->ctx, conf->insecure_skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    return 0;
}

static int tls_setup(struct ls_netconn *c, const struct ls_netconn_conf *conf, int64_t deadline, char *err,
                     size_t errlen)
{
    if (tls_context(c, conf, err, errlen) != 0)
        return -1;
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
        ssl_error(err, errlen, "tls session");
        return -1;
    }
    if (!conf->insecure_skip_verify) {
        unsigned char addr[16];
        int is_ip = inet_pton(AF_INET, conf->host, addr) == 1 || inet_pton(AF_INET6, conf->host, addr) == 1;
        if (is_ip) {
            if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), conf->host) != 1) {
                ssl_error(err, errlen, "tls verify ip");
                return -1;
            }
        } else if (SSL_set1_host(c->ssl, conf->host) != 1) {
            ssl_error(err, errlen, "tls verify host");
            return -1;
        }
    }
    if (SSL_set_tlsext_host_name(c->ssl, conf->host) != 1)
        ERR_clear_error(); /* SNI is best effort (IPs) */
    int r = ssl_op(c, NET_TLS_HANDSHAKE, NULL, 0, deadline);
    if (r == -2) {
        snprintf(err, errlen, "tls handshake with %s:%s timed out", conf->host, conf->port);
        return -1;
    }
    if (r < 0) {
        long v = SSL_get_verify_result(c->ssl);
        if (v != X509_V_OK) {
            snprintf(err, errlen, "tls handshake with %s:%s: certificate: %s", conf->host, conf->port,
                     X509_verify_cert_error_string(v));
            ERR_clear_error();
        } else {
            ssl_error(err, errlen, "tls handshake");
        }
        return -1;
    }
    return 0;
}

/* Connect to one address before the deadline. The socket, or -1 with why in last. */
static int connect_one(const struct addrinfo *ai, int64_t deadline, char *last, size_t lastlen)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        snprintf(last, lastlen, "socket: %s", strerror(errno));
        return -1;
    }
    int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
        int w = wait_fd(fd, POLLOUT, deadline);
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
            r = 0;
        else
            errno = w == 0 ? ETIMEDOUT : (soerr ? soerr : errno);
    }
    if (r == 0)
        return fd;
    snprintf(last, lastlen, "%s", strerror(errno));
    close(fd);
    return -1;
}

struct ls_netconn *ls_netconn_open(const struct ls_netconn_conf *conf, char *err, size_t errlen)
{
    struct addrinfo *res = NULL;
    struct ls_netconn *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->fd = -1;
    int ok = 0;
    c->io_timeout_ms = conf->io_timeout_ms > 0 ? conf->io_timeout_ms : 30000;
    int64_t deadline = clock_mono_ms() + (conf->connect_timeout_ms > 0 ? conf->connect_timeout_ms : 10000);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(conf->host, conf->port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "resolve %s:%s: %s", conf->host, conf->port, gai_strerror(gai));
        goto out;
    }
    char last[200] = "no address";
    for (const struct addrinfo *ai = res; ai && c->fd < 0; ai = ai->ai_next)
        c->fd = connect_one(ai, deadline, last, sizeof(last));
    if (c->fd < 0) {
        snprintf(err, errlen, "connect %s:%s: %s", conf->host, conf->port, last);
        goto out;
    }
    int one = 1;
    if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
        /* only latency suffers; keep going */
    }
    if (setsockopt(c->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) != 0) {
        /* dead peers are still caught by the io timeout */
    }
    if (conf->tls && tls_setup(c, conf, deadline, err, errlen) != 0)
        goto out;
    ok = 1;
out:
    if (res)
        freeaddrinfo(res);
    if (!ok) {
        ls_netconn_close(c);
        c = NULL;
    }
    return c;
}

/* SIGPIPE from SSL_write on a dead peer must not kill the process: block it
 * in the calling thread (it then stays pending there, harmlessly). */
static void block_sigpipe(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
}

/* Write some of p[0..n) before the deadline: bytes written (> 0), -1 error,
 * -2 no progress by the deadline, -3 the kernel timed the connection out
 * (ETIMEDOUT: err says so, and it counts as a timeout). */
static ssize_t write_some(struct ls_netconn *c, const char *p, size_t n, int64_t deadline, char *err, size_t errlen)
{
    if (c->ssl) {
        int r = ssl_op(c, NET_TLS_WRITE, (void *)(uintptr_t)p, n, deadline);
        if (r == -1 || r == 0) {
            int timed_out = errno == ETIMEDOUT;
            ssl_error(err, errlen, "tls write");
            return timed_out ? -3 : -1;
        }
        return r;
    }
    for (;;) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w >= 0)
            return w;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            int timed_out = errno == ETIMEDOUT;
            snprintf(err, errlen, "write: %s", strerror(errno));
            return timed_out ? -3 : -1;
        }
        int r = wait_fd(c->fd, POLLOUT, deadline);
        if (r == 0)
            return -2;
        if (r < 0) {
            snprintf(err, errlen, "poll: %s", strerror(errno));
            return -1;
        }
    }
}

enum ls_net_result ls_netconn_write(struct ls_netconn *c, const void *p, size_t n, char *err, size_t errlen)
{
    const char *q = p;
    int64_t deadline = clock_mono_ms() + c->io_timeout_ms;
    if (c->ssl)
        block_sigpipe();
    while (n > 0) {
        ssize_t w = write_some(c, q, n, deadline, err, errlen);
        if (w == -2) {
            snprintf(err, errlen, "write timed out");
            return LS_NET_TIMEOUT;
        }
        if (w < 0)
            return w == -3 ? LS_NET_TIMEOUT : LS_NET_ERROR;
        q += w;
        n -= (size_t)w;
        deadline = clock_mono_ms() + c->io_timeout_ms;   /* progress restarts the clock */
    }
    return LS_NET_OK;
}

enum ls_net_result ls_netconn_read(struct ls_netconn *c, void *buf, size_t cap, int64_t deadline_ms,
                                   size_t *got, char *err, size_t errlen)
{
    *got = 0;
    for (;;) {
        if (c->ssl) {
            int r = ssl_op(c, NET_TLS_READ, buf, cap, deadline_ms);
            if (r > 0) {
                *got = (size_t)r;
                return LS_NET_OK;
            }
            if (r == 0)
                return LS_NET_CLOSED;
            if (r == -2)
                return LS_NET_TIMEOUT;
            ssl_error(err, errlen, "tls read");
            return LS_NET_ERROR;
        }
        ssize_t r = recv(c->fd, buf, cap, 0);
        if (r > 0) {
            *got = (size_t)r;
            return LS_NET_OK;
        }
        if (r == 0)
            return LS_NET_CLOSED;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            snprintf(err, errlen, "read: %s", strerror(errno));
            return LS_NET_ERROR;
        }
        int w = wait_fd(c->fd, POLLIN, deadline_ms);
        if (w == 0)
            return LS_NET_TIMEOUT;
        if (w < 0) {
            snprintf(err, errlen, "poll: %s", strerror(errno));
            return LS_NET_ERROR;
        }
    }
}

int64_t ls_netconn_io_timeout_ms(const struct ls_netconn *c)
{
    return c->io_timeout_ms;
}

int ls_netconn_alive(struct ls_netconn *c)
{
    struct pollfd pfd = { c->fd, POLLIN, 0 };
    int r = poll(&pfd, 1, 0);
    if (r < 0)
        return errno == EINTR;
    if (r == 0)
        return 1;                    /* nothing pending: idle and open */
    return 0;                        /* EOF, error, or bytes nobody asked for */
}

void ls_netconn_close(struct ls_netconn *c)
{
    if (!c)
        return;
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->ctx)
        SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}
