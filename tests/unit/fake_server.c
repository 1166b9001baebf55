/* fake_server: the one in-process TCP (optionally TLS) server thread the unit tests talk to, and the HTTP message
 * reading and writing they share (see fake_server.h). */
#include "fake_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static int loopback_socket(struct sockaddr_in *a)
{
    memset(a, 0, sizeof(*a));
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return socket(AF_INET, SOCK_STREAM, 0);
}

int fake_closed_port(void)
{
    struct sockaddr_in a;
    int fd = loopback_socket(&a);
    if (fd < 0)
        return -1;
    socklen_t al = sizeof(a);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static SSL_CTX *tls_ctx(const struct fake_server *s)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return NULL;
    if (SSL_CTX_use_certificate_chain_file(ctx, s->tls_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, s->tls_key, SSL_FILETYPE_PEM) != 1)
        goto out;
    if (s->client_ca) {
        if (SSL_CTX_load_verify_locations(ctx, s->client_ca, NULL) != 1)
            goto out;
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
out:
    SSL_CTX_free(ctx);
    return NULL;
}

static void serve(struct fake_server *s, int fd, const struct sockaddr_in *peer)
{
    struct fake_conn c = { .fd = fd, .client_port = ntohs(peer->sin_port), .srv = s };
    SSL *ssl = NULL;
    if (s->ssl_ctx) {
        ssl = SSL_new(s->ssl_ctx);
        if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1) {
            ERR_clear_error();
            goto out;
        }
        c.ssl = ssl;
    }
    s->conn(&c, s->ud);
    if (ssl)
        SSL_shutdown(ssl);
out:
    SSL_free(ssl);
    ERR_clear_error();
    close(fd);
}

static void *server_main(void *arg)
{
    struct fake_server *s = arg;
    for (int served = 0; !s->max_conns || served < s->max_conns; served++) {
        struct sockaddr_in peer;
        socklen_t pl = sizeof(peer);
        int fd = accept(s->lfd, (struct sockaddr *)&peer, &pl);
        if (fd < 0 && errno == EINTR)
            continue;
        if (fd < 0)
            break;
        if (ntohs(peer.sin_port) == atomic_load(&s->wake_port)) {
            close(fd); /* fake_server_stop's wake-up: every connection queued before it was served */
            break;
        }
        serve(s, fd, &peer);
    }
    return NULL;
}

int fake_server_start(struct fake_server *s)
{
    struct sockaddr_in a;
    atomic_store(&s->stop, 0);
    atomic_store(&s->wake_port, -1);
    s->running = 0;
    s->ssl_ctx = NULL;
    s->lfd = loopback_socket(&a);
    if (s->lfd < 0)
        return -1;
    socklen_t al = sizeof(a);
    if (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s->lfd, 16) != 0 ||
        getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0)
        goto out;
    s->port = ntohs(a.sin_port);
    if (s->tls_cert) {
        signal(SIGPIPE, SIG_IGN); /* SSL_write to a client that went away: an error, not the end of the test */
        s->ssl_ctx = tls_ctx(s);
        if (!s->ssl_ctx)
            goto out;
    }
    if (fake_server_rerun(s) != 0)
        goto out;
    return 0;
out:
    SSL_CTX_free(s->ssl_ctx);
    s->ssl_ctx = NULL;
    close(s->lfd);
    s->lfd = -1;
    return -1;
}

int fake_server_rerun(struct fake_server *s)
{
    if (pthread_create(&s->th, NULL, server_main, s) != 0)
        return -1;
    s->running = 1;
    return 0;
}

void fake_server_join(struct fake_server *s)
{
    if (s->running) {
        pthread_join(s->th, NULL);
        s->running = 0;
    }
}

int fake_server_stopping(const struct fake_server *s)
{
    return atomic_load(&s->stop);
}

void fake_server_stop(struct fake_server *s)
{
    if (s->lfd < 0)
        return;
    atomic_store(&s->stop, 1);
    if (s->running) {
        /* wake accept() with a connection from a port the thread recognises; one that already ended leaves it
         * in the backlog, closed below */
        struct sockaddr_in a;
        int fd = loopback_socket(&a);
        socklen_t al = sizeof(a);
        if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
            getsockname(fd, (struct sockaddr *)&a, &al) == 0) {
            atomic_store(&s->wake_port, ntohs(a.sin_port));
            a.sin_port = htons((uint16_t)s->port);
            if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
                /* nothing to wake */
            }
        }
        if (fd >= 0)
            close(fd);
        fake_server_join(s);
    }
    close(s->lfd);
    s->lfd = -1;
    SSL_CTX_free(s->ssl_ctx);
    s->ssl_ctx = NULL;
}

ssize_t fake_read(struct fake_conn *c, void *p, size_t n)
{
    if (!c->ssl) {
        for (;;) {
            ssize_t r = read(c->fd, p, n);
            if (r >= 0 || errno != EINTR)
                return r;
        }
    }
    int k = SSL_read(c->ssl, p, n > 1u << 30 ? 1 << 30 : (int)n);
    if (k > 0)
        return k;
    int e = SSL_get_error(c->ssl, k);
    ERR_clear_error();
    return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

int fake_read_full(struct fake_conn *c, void *p, size_t n)
{
    char *q = p;
    while (n) {
        ssize_t r = fake_read(c, q, n);
        if (r <= 0)
            return -1;
        q += r;
        n -= (size_t)r;
    }
    return 0;
}

int fake_write_all(struct fake_conn *c, const void *p, size_t n)
{
    const char *q = p;
    while (n) {
        ssize_t w;
        if (c->ssl) {
            int k = SSL_write(c->ssl, q, n > 1u << 30 ? 1 << 30 : (int)n);
            w = k > 0 ? k : -1;
            if (k <= 0)
                ERR_clear_error();
        } else {
            w = send(c->fd, q, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
        }
        if (w <= 0)
            return -1;
        q += w;
        n -= (size_t)w;
    }
    return 0;
}

int fake_wait_readable(struct fake_conn *c, int ms)
{
    if (c->ssl && SSL_pending(c->ssl) > 0)
        return 1;
    struct pollfd p = { .fd = c->fd, .events = POLLIN };
    for (;;) {
        int k = poll(&p, 1, ms);
        if (k < 0 && errno == EINTR)
            continue;
        return k < 0 ? -1 : k > 0;
    }
}

int fake_http_read(struct fake_conn *c, struct fake_http_req *r)
{
    size_t h = 0;
    char *end = NULL;
    r->body = NULL;
    r->body_len = 0;
    while (!end) {
        if (h >= sizeof(r->head) - 1)
            return -1;
        ssize_t k = fake_read(c, r->head + h, sizeof(r->head) - 1 - h);
        if (k <= 0)
            return -1;
        h += (size_t)k;
        r->head[h] = '\0';
        end = strstr(r->head, "\r\n\r\n");
    }
    size_t have = h - (size_t)(end + 4 - r->head);
    const char *extra = end + 4;
    size_t ll = strcspn(r->head, "\r");
    if (ll >= sizeof(r->line))
        ll = sizeof(r->line) - 1;
    memcpy(r->line, r->head, ll);
    r->line[ll] = '\0';
    char saved = end[2];
    end[2] = '\0'; /* header lookups see the head only */
    char cl[32];
    size_t n = fake_http_header(r, "Content-Length", cl, sizeof(cl)) == 0 ? strtoul(cl, NULL, 10) : 0;
    end[2] = saved;
    r->body = malloc(n + 1);
    if (!r->body)
        return -1;
    if (have > n)
        have = n; /* a pipelined next request is not expected from the clients under test */
    memcpy(r->body, extra, have);
    end[2] = '\0'; /* head: up to the last header line's CRLF */
    if (have < n && fake_read_full(c, r->body + have, n - have) != 0) {
        fake_http_req_free(r);
        return -1;
    }
    r->body[n] = '\0';
    r->body_len = n;
    return 0;
}

void fake_http_req_free(struct fake_http_req *r)
{
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
}

int fake_http_header(const struct fake_http_req *r, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *f = p + 2;
        if (strncasecmp(f, name, nl) != 0 || f[nl] != ':')
            continue;
        const char *v = f + nl + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strcspn(v, "\r\n");
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            vl--;
        snprintf(out, outlen, "%.*s", (int)vl, v);
        return 0;
    }
    return -1;
}

int fake_http_reply(struct fake_conn *c, int status, const char *extra_headers, const char *body, size_t n,
                    int close_after)
{
    char h[1024];
    int hl = snprintf(h, sizeof(h), "HTTP/1.1 %d X\r\n%sContent-Length: %zu\r\n%s\r\n", status,
                      extra_headers ? extra_headers : "", n, close_after ? "Connection: close\r\n" : "");
    if (hl < 0 || (size_t)hl >= sizeof(h))
        return -1;
    if (fake_write_all(c, h, (size_t)hl) != 0)
        return -1;
    return n ? fake_write_all(c, body, n) : 0;
}
