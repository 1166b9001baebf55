/* lumberjack: Lumberjack v2 frames and a TCP/TLS client connection (see lumberjack.h). */
#include "logship/out/lumberjack.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
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
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <zlib.h>

/* ---- frames ---------------------------------------------------------------- */

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int frame_head(buf_t *out, char type, uint32_t v)
{
    unsigned char h[6] = { LJ_VERSION, (unsigned char)type };
    put32(h + 2, v);
    return buf_add(out, h, sizeof h);
}

int lj_encode_window(buf_t *out, uint32_t n)
{
    return frame_head(out, 'W', n);
}

int lj_encode_ack(buf_t *out, uint32_t seq)
{
    return frame_head(out, 'A', seq);
}

int lj_encode_json(buf_t *out, uint32_t seq, const void *payload, size_t len)
{
    size_t mark = out->len;
    unsigned char l[4];
    if (len > UINT32_MAX) return -1;
    put32(l, (uint32_t)len);
    if (buf_reserve(out, 10 + len) || frame_head(out, 'J', seq) || buf_add(out, l, 4) ||
        buf_add(out, payload, len)) {
        buf_truncate(out, mark);
        return -1;
    }
    return 0;
}

int lj_encode_compressed(buf_t *out, const void *frames, size_t len, int level)
{
    size_t mark = out->len;
    uLongf zlen = compressBound((uLong)len);
    int rc = -1;
    if (len > UINT32_MAX || level < 1 || level > 9) return -1;
    if (frame_head(out, 'C', 0) || buf_reserve(out, (size_t)zlen)) goto out;
    if (compress2((Bytef *)out->p + out->len, &zlen, frames, (uLong)len, level) != Z_OK) goto out;
    if (zlen > UINT32_MAX) goto out;
    put32((unsigned char *)out->p + mark + 2, (uint32_t)zlen);
    out->len += zlen;
    out->p[out->len] = '\0';
    rc = 0;
out:
    if (rc) buf_truncate(out, mark);
    return rc;
}

long lj_frame_decode(const unsigned char *p, size_t n, size_t max_payload, struct lj_frame *f)
{
    memset(f, 0, sizeof *f);
    if (n >= 1 && p[0] != LJ_VERSION && p[0] != '1') return -1;
    if (n < 2) return 0;
    f->type = (char)p[1];
    switch (p[1]) {
    case 'W':
    case 'A':
        if (n < 6) return 0;
        if (p[1] == 'W') f->count = get32(p + 2);
        else f->seq = get32(p + 2);
        return 6;
    case 'J':
    case 'C': {
        size_t hdr = p[1] == 'J' ? 10 : 6;
        if (n < hdr) return 0;
        if (p[1] == 'J') f->seq = get32(p + 2);
        uint32_t len = get32(p + hdr - 4);
        if (len > max_payload) return -1;
        if (n - hdr < len) return 0;
        f->payload = p + hdr;
        f->len = len;
        return (long)(hdr + len);
    }
    case 'D': {
        /* seq, pair count, then per pair: key len, key, value len, value */
        if (n < 10) return 0;
        f->seq = get32(p + 2);
        f->count = get32(p + 6);
        size_t off = 10;
        for (uint32_t i = 0; i < f->count; i++) {
            for (int kv = 0; kv < 2; kv++) {
                if (n - off < 4) return 0;
                uint32_t l = get32(p + off);
                if (l > max_payload || off - 10 + 4 + (size_t)l > max_payload) return -1;
                off += 4;
                if (n - off < l) return 0;
                off += l;
            }
        }
        f->payload = p + 10;
        f->len = off - 10;
        return (long)off;
    }
    default:
        return -1;
    }
}

int lj_inflate(const unsigned char *p, size_t n, buf_t *out)
{
    z_stream zs;
    size_t mark = out->len;
    size_t max = out->max ? out->max : SIZE_MAX / 2;
    int rc = -1, zr;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK) return -1;
    zs.next_in = (Bytef *)(uintptr_t)p;
    zs.avail_in = (uInt)(n > UINT32_MAX ? UINT32_MAX : n);
    do {
        size_t want = max - out->len < 16384 ? max - out->len : 16384;
        if (want == 0 || buf_reserve(out, want)) goto out;   /* does not fit under the cap */
        zs.next_out = (Bytef *)out->p + out->len;
        zs.avail_out = (uInt)want;
        size_t before = zs.avail_out;
        zr = inflate(&zs, Z_NO_FLUSH);
        out->len += before - zs.avail_out;
        out->p[out->len] = '\0';
        if (zr == Z_STREAM_END) break;
        if (zr != Z_OK) goto out;   /* Z_BUF_ERROR here: input ended before the stream did */
    } while (1);
    if (zs.avail_in != 0) goto out;  /* trailing garbage */
    rc = 0;
out:
    inflateEnd(&zs);
    if (rc) buf_truncate(out, mark);
    return rc;
}

/* ---- window ------------------------------------------------------------------ */

void lj_window_init(struct lj_window *w, uint32_t max)
{
    w->max = max >= 1 ? max : 1;
    w->size = LJ_WINDOW_START < w->max ? LJ_WINDOW_START : w->max;
    w->max_ok = 0;
}

/* ceil(1.5 * n) without overflow */
static uint32_t grow15(uint32_t n)
{
    uint64_t g = (uint64_t)n + ((uint64_t)n + 1) / 2;
    return g > UINT32_MAX ? UINT32_MAX : (uint32_t)g;
}

void lj_window_ok(struct lj_window *w, uint32_t sent)
{
    if (sent < w->size)
        return;
    if (w->size > w->max_ok) {
        w->max_ok = w->size;                   /* a new record: probe further */
        uint32_t g = grow15(w->size);
        w->size = g < w->max ? g : w->max;
    } else if (w->size < w->max_ok) {
        uint32_t g = grow15(w->size);          /* recovering: back up to what worked */
        w->size = g < w->max_ok ? g : w->max_ok;
    }
}

void lj_window_shrink(struct lj_window *w)
{
    w->size = w->size / 2 >= 1 ? w->size / 2 : 1;
}

/* ---- connection -------------------------------------------------------------- */

struct lj_conn {
    int      fd;
    SSL_CTX *ctx;
    SSL     *ssl;
    int64_t  io_timeout_ms;
    unsigned char rbuf[64];
    size_t   rlen;
};


/* Wait until fd is ready for events or the deadline passes. 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        struct pollfd pfd = { fd, events, 0 };
        if (left <= 0) return 0;
        int r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (r > 0) return 1;
        if (r < 0 && errno != EINTR) return -1;
    }
}

static void ssl_error(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char msg[200] = "";
    if (e) ERR_error_string_n(e, msg, sizeof msg);
    snprintf(err, errlen, "%s: %s", what, e ? msg : strerror(errno));
    ERR_clear_error();
}

/* Drive one SSL operation on a non-blocking socket to completion or deadline.
 * op: 0 handshake, 1 read, 2 write. Returns bytes (>0; 1 for the handshake),
 * 0 on clean EOF (read), -1 error, -2 timeout. */
static int ssl_op(struct lj_conn *c, int op, void *p, size_t n, int64_t deadline)
{
    for (;;) {
        int r;
        ERR_clear_error();
        if (op == 0) r = SSL_connect(c->ssl);
        else if (op == 1) r = SSL_read(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n));
        else r = SSL_write(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n));
        if (r > 0) return r;
        int e = SSL_get_error(c->ssl, r);
        short ev;
        if (e == SSL_ERROR_WANT_READ) ev = POLLIN;
        else if (e == SSL_ERROR_WANT_WRITE) ev = POLLOUT;
        else if (e == SSL_ERROR_ZERO_RETURN && op == 1) return 0;
        else return -1;
        int w = wait_fd(c->fd, ev, deadline);
        if (w == 0) return -2;
        if (w < 0) return -1;
    }
}

static int tls_setup(struct lj_conn *c, const struct lj_conn_conf *conf, int64_t deadline,
                     char *err, size_t errlen)
{
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx) { ssl_error(err, errlen, "tls context"); return -1; }
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
        if (SSL_CTX_use_certificate_chain_file(c->ctx, conf->cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(c->ctx, conf->key_file && *conf->key_file ? conf->key_file
                                                                              : conf->cert_file,
                                        SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(c->ctx) != 1) {
            ssl_error(err, errlen, "tls client certificate");
            return -1;
        }
    }
    SSL_CTX_set_verify(c->ctx, conf->insecure_skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) { ssl_error(err, errlen, "tls session"); return -1; }
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
    if (SSL_set_tlsext_host_name(c->ssl, conf->host) != 1) ERR_clear_error(); /* SNI is best effort (IPs) */
    int r = ssl_op(c, 0, NULL, 0, deadline);
    if (r == -2) { snprintf(err, errlen, "tls handshake with %s:%s timed out", conf->host, conf->port); return -1; }
    if (r < 0) {
        long v = SSL_get_verify_result(c->ssl);
        if (v != X509_V_OK) {
            snprintf(err, errlen, "tls handshake with %s:%s: certificate: %s", conf->host, conf->port,
                     X509_verify_cert_error_string(v));
            ERR_clear_error();
        } else
            ssl_error(err, errlen, "tls handshake");
        return -1;
    }
    return 0;
}

struct lj_conn *lj_conn_open(const struct lj_conn_conf *conf, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL, *ai;
    struct lj_conn *c = calloc(1, sizeof *c);
    int64_t deadline = clock_mono_ms() + (conf->connect_timeout_ms > 0 ? conf->connect_timeout_ms : 10000);
    int gai;
    char last[200] = "no address";

    if (!c) { snprintf(err, errlen, "out of memory"); return NULL; }
    c->fd = -1;
    c->io_timeout_ms = conf->io_timeout_ms > 0 ? conf->io_timeout_ms : 30000;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    gai = getaddrinfo(conf->host, conf->port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "resolve %s:%s: %s", conf->host, conf->port, gai_strerror(gai));
        goto fail;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) { snprintf(last, sizeof last, "socket: %s", strerror(errno)); continue; }
        int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (r != 0 && errno == EINPROGRESS) {
            int w = wait_fd(fd, POLLOUT, deadline);
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) r = 0;
            else errno = w == 0 ? ETIMEDOUT : (soerr ? soerr : errno);
        }
        if (r == 0) { c->fd = fd; break; }
        snprintf(last, sizeof last, "%s", strerror(errno));
        close(fd);
    }
    if (c->fd < 0) {
        snprintf(err, errlen, "connect %s:%s: %s", conf->host, conf->port, last);
        goto fail;
    }
    int one = 1;
    if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        /* only latency suffers; keep going */
    }
    if (setsockopt(c->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) != 0) {
        /* dead peers are still caught by the io timeout */
    }
    if (conf->tls && tls_setup(c, conf, deadline, err, errlen) != 0) goto fail;
    freeaddrinfo(res);
    return c;
fail:
    if (res) freeaddrinfo(res);
    lj_conn_close(c);
    return NULL;
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

int lj_conn_write(struct lj_conn *c, const void *p, size_t n, char *err, size_t errlen)
{
    const char *q = p;
    int64_t deadline = clock_mono_ms() + c->io_timeout_ms;
    if (c->ssl) block_sigpipe();
    while (n > 0) {
        ssize_t w;
        if (c->ssl) {
            int r = ssl_op(c, 2, (void *)(uintptr_t)q, n, deadline);
            if (r == -2) { snprintf(err, errlen, "write timed out"); return -1; }
            if (r < 0) { ssl_error(err, errlen, "tls write"); return -1; }
            w = r;
        } else {
            w = send(c->fd, q, n, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    int r = wait_fd(c->fd, POLLOUT, deadline);
                    if (r == 0) { snprintf(err, errlen, "write timed out"); return -1; }
                    if (r < 0) { snprintf(err, errlen, "poll: %s", strerror(errno)); return -1; }
                    continue;
                }
                snprintf(err, errlen, "write: %s", strerror(errno));
                return -1;
            }
        }
        q += w;
        n -= (size_t)w;
        deadline = clock_mono_ms() + c->io_timeout_ms;   /* progress restarts the clock */
    }
    return 0;
}

/* Read some bytes into c->rbuf. 1 got bytes, 0 EOF, -1 error, -2 timeout. */
static int conn_fill(struct lj_conn *c, int64_t deadline, char *err, size_t errlen)
{
    for (;;) {
        void *dst = c->rbuf + c->rlen;
        size_t room = sizeof c->rbuf - c->rlen;
        if (c->ssl) {
            int r = ssl_op(c, 1, dst, room, deadline);
            if (r > 0) { c->rlen += (size_t)r; return 1; }
            if (r == 0) return 0;
            if (r == -2) return -2;
            ssl_error(err, errlen, "tls read");
            return -1;
        }
        ssize_t r = recv(c->fd, dst, room, 0);
        if (r > 0) { c->rlen += (size_t)r; return 1; }
        if (r == 0) return 0;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            snprintf(err, errlen, "read: %s", strerror(errno));
            return -1;
        }
        int w = wait_fd(c->fd, POLLIN, deadline);
        if (w == 0) return -2;
        if (w < 0) { snprintf(err, errlen, "poll: %s", strerror(errno)); return -1; }
    }
}

int lj_conn_send_window(struct lj_conn *c, const void *frames, size_t len, uint32_t n,
                        uint32_t *acked, char *err, size_t errlen)
{
    *acked = 0;
    c->rlen = 0;
    if (lj_conn_write(c, frames, len, err, errlen) != 0) return -1;
    int64_t deadline = clock_mono_ms() + c->io_timeout_ms;
    for (;;) {
        struct lj_frame f;
        long used;
        while ((used = lj_frame_decode(c->rbuf, c->rlen, 0, &f)) > 0) {
            if (f.type != 'A') {
                snprintf(err, errlen, "protocol: server sent frame type 0x%02x", (unsigned char)f.type);
                return -1;
            }
            memmove(c->rbuf, c->rbuf + used, c->rlen - (size_t)used);
            c->rlen -= (size_t)used;
            if (f.seq > n) {
                snprintf(err, errlen, "protocol: ACK %u beyond window %u", f.seq, n);
                return -1;
            }
            if (f.seq > *acked) *acked = f.seq;
            if (*acked == n) return 0;
            deadline = clock_mono_ms() + c->io_timeout_ms;   /* progress or keep-alive */
        }
        if (used < 0) {
            snprintf(err, errlen, "protocol: malformed frame from server");
            return -1;
        }
        int r = conn_fill(c, deadline, err, errlen);
        if (r == 0) { snprintf(err, errlen, "connection closed before ACK %u (acked %u)", n, *acked); return -1; }
        if (r == -2) { snprintf(err, errlen, "no ACK %u within %lld ms (acked %u)", n, (long long)c->io_timeout_ms, *acked); return -1; }
        if (r < 0) return -1;
    }
}

int lj_conn_alive(struct lj_conn *c)
{
    struct pollfd pfd = { c->fd, POLLIN, 0 };
    int r = poll(&pfd, 1, 0);
    if (r < 0) return errno == EINTR;
    if (r == 0) return 1;                    /* nothing pending: idle and open */
    return 0;                                /* EOF, error, or bytes nobody asked for */
}

void lj_conn_close(struct lj_conn *c)
{
    if (!c) return;
    if (c->ssl) SSL_free(c->ssl);
    if (c->ctx) SSL_CTX_free(c->ctx);
    if (c->fd >= 0) close(c->fd);
    free(c);
}
