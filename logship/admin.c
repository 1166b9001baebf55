/* admin: the /metrics, /healthz and /ready listener: one poll(2) thread that no number of idle or slow
 * clients can starve (see admin.h). */
#include "logship/admin.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "buf.h"
#include "jsonw.h"
#include "log.h"
#include "logship/admin_http.h"

#define METRICS_MAX (8u << 20)
#define MAX_CONNS 128            /* open connections; the oldest waiting one is closed for a new one */
#define HEAD_TIMEOUT_MS 3000     /* to send the request head */
#define WRITE_TIMEOUT_MS 10000   /* to take the answer */
#define LINGER_MS 1000           /* to close after the answer (read and discard) */

enum cstate { C_READ, C_WRITE, C_LINGER };

struct conn {
    int      fd;
    enum cstate st;
    int64_t  born_ms, deadline_ms;
    char     in[LS_ADMIN_HEAD_MAX];
    size_t   inlen;
    buf_t    out;
    size_t   outoff;
};

struct ls_admin {
    int      lfd, wake[2];
    pthread_t th;
    int      started;
    metrics_registry *reg;
    int (*ready)(void *);
    int (*health)(void *, char *, size_t);
    void *ctx;
    int port;
    struct conn *conns[MAX_CONNS];
    size_t nconns;
};


static void conn_close(struct ls_admin *a, size_t i)
{
    struct conn *c = a->conns[i];
    close(c->fd);
    buf_free(&c->out);
    free(c);
    a->conns[i] = a->conns[--a->nconns];
}

/* Head and body of one answer into c->out; switches c to writing. */
static void answer(struct conn *c, int status, const char *ctype, const char *body, size_t len, int head_only,
                   const char *extra)
{
    const char *st = status == 200 ? "OK" : status == 503 ? "Service Unavailable" :
                     status == 405 ? "Method Not Allowed" : status == 404 ? "Not Found" :
                     status == 400 ? "Bad Request" : "Internal Server Error";
    buf_reset(&c->out);
    if (buf_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                            "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
                   status, st, ctype, len, extra ? extra : "") != 0 ||
        (!head_only && len > 0 && buf_add(&c->out, body, len) != 0)) {
        buf_reset(&c->out);
        if (buf_adds(&c->out, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                              "Connection: close\r\n\r\n") != 0)
            buf_reset(&c->out); /* nothing to say: the close tells */
    }
    c->st = C_WRITE;
    c->outoff = 0;
    c->deadline_ms = clock_mono_ms() + WRITE_TIMEOUT_MS;
}

static void text(struct conn *c, int status, const char *s, int head_only)
{
    answer(c, status, "text/plain", s, strlen(s), head_only, NULL);
}

static void serve(struct ls_admin *a, struct conn *c, const struct ls_admin_req *rq)
{
    int ho = rq->method == LS_ADMIN_HEAD;
    if (rq->path == LS_ADMIN_UNKNOWN) {
        text(c, 404, "not found\n", ho);
        return;
    }
    if (rq->method == LS_ADMIN_OTHER) {
        answer(c, 405, "text/plain", "method not allowed\n", 19, 0, "Allow: GET, HEAD\r\n");
        return;
    }
    if (rq->path == LS_ADMIN_METRICS) {
        buf_t b;
        buf_init(&b, METRICS_MAX);
        if (metrics_render(a->reg, &b) != 0)
            text(c, 500, "metrics too large\n", ho);
        else
            answer(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.p ? b.p : "", b.len, ho, NULL);
        buf_free(&b);
        return;
    }
    if (rq->path == LS_ADMIN_READY) {
        if (a->ready && !a->ready(a->ctx))
            text(c, 503, "not ready\n", ho);
        else
            text(c, 200, "ready\n", ho);
        return;
    }
    char why[256] = "";
    if (!a->health || a->health(a->ctx, why, sizeof(why))) {
        text(c, 200, "ok\n", ho);
        return;
    }
    buf_t b;
    buf_init(&b, 1024);
    if (buf_adds(&b, "{\"status\":\"stuck\",\"reason\":") != 0 || jsonw_str(&b, why, strlen(why)) != 0 ||
        buf_adds(&b, "}\n") != 0) {
        buf_reset(&b);
        if (buf_adds(&b, "{\"status\":\"stuck\"}\n") != 0)
            buf_reset(&b);
    }
    answer(c, 503, "application/json", b.p ? b.p : "", b.len, ho, NULL);
    buf_free(&b);
}

/* Read what the client sent; 0 to keep the connection, -1 to close it. */
static int on_read(struct ls_admin *a, struct conn *c)
{
    if (c->st == C_LINGER) {
        char junk[1024];
        ssize_t r = read(c->fd, junk, sizeof(junk));
        return r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR)) ? 0 : -1;
    }
    if (c->st != C_READ)
        return 0;
    ssize_t r = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
    if (r < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    if (r == 0)
        return -1;
    c->inlen += (size_t)r;
    struct ls_admin_req rq;
    int k = ls_admin_parse(c->in, c->inlen, &rq);
    if (k < 0)
        text(c, 400, "bad request\n", 0);
    else if (k > 0)
        serve(a, c, &rq);
    return 0;
}

/* Send more of the answer; 0 to keep the connection, -1 to close it. */
static int on_write(struct conn *c)
{
    while (c->outoff < c->out.len) {
        ssize_t w = send(c->fd, c->out.p + c->outoff, c->out.len - c->outoff, MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        c->outoff += (size_t)w;
    }
    /* All sent: half-close and drain, so unread request bytes cannot turn
     * the close into a reset that discards the answer. */
    shutdown(c->fd, SHUT_WR);
    c->st = C_LINGER;
    c->deadline_ms = clock_mono_ms() + LINGER_MS;
    buf_free(&c->out);
    buf_init(&c->out, METRICS_MAX + 1024);
    return 0;
}

static void on_accept(struct ls_admin *a)
{
    for (;;) {
        int fd = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or EMFILE and the like: try at the next wakeup */
        if (a->nconns == MAX_CONNS) {
            /* Full: the connection waiting longest for its head goes, so a
             * new probe always gets in however many clients sit idle. */
            size_t old = MAX_CONNS;
            for (size_t i = 0; i < a->nconns; i++)
                if (a->conns[i]->st != C_WRITE &&
                    (old == MAX_CONNS || a->conns[i]->born_ms < a->conns[old]->born_ms))
                    old = i;
            if (old == MAX_CONNS) {
                close(fd);
                continue;
            }
            conn_close(a, old);
        }
        struct conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            return;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = fd;
        c->st = C_READ;
        c->born_ms = clock_mono_ms();
        c->deadline_ms = c->born_ms + HEAD_TIMEOUT_MS;
        buf_init(&c->out, METRICS_MAX + 1024);
        a->conns[a->nconns++] = c;
    }
}

static void *admin_main(void *arg)
{
    struct ls_admin *a = arg;
    struct pollfd pfd[MAX_CONNS + 2];
    for (;;) {
        int64_t now = clock_mono_ms(), next = now + 1000;
        pfd[0] = (struct pollfd){ .fd = a->wake[0], .events = POLLIN };
        pfd[1] = (struct pollfd){ .fd = a->lfd, .events = POLLIN };
        for (size_t i = 0; i < a->nconns; i++) {
            struct conn *c = a->conns[i];
            pfd[i + 2] = (struct pollfd){ .fd = c->fd, .events = c->st == C_WRITE ? POLLOUT : POLLIN };
            if (c->deadline_ms < next)
                next = c->deadline_ms;
        }
        size_t n = a->nconns;
        int t = next > now ? (int)(next - now) : 0;
        if (poll(pfd, n + 2, t) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents)
            break;
        now = clock_mono_ms();
        /* Connections first (indices shift when one closes: walk backwards). */
        for (size_t i = n; i-- > 0;) {
            struct conn *c = a->conns[i];
            int drop = 0;
            if (pfd[i + 2].revents & (POLLERR | POLLNVAL))
                drop = 1;
            else if (pfd[i + 2].revents & (POLLIN | POLLHUP))
                drop = on_read(a, c) != 0;
            if (!drop && c->st == C_WRITE && (pfd[i + 2].revents & POLLOUT || c->outoff == 0))
                drop = on_write(c) != 0;
            if (!drop && now >= c->deadline_ms)
                drop = 1;
            if (drop)
                conn_close(a, i);
        }
        if (pfd[1].revents & POLLIN)
            on_accept(a);
    }
    while (a->nconns > 0)
        conn_close(a, a->nconns - 1);
    return NULL;
}

/* "HOST:PORT", "[V6]:PORT" or "PORT" (every address). */
static int split_addr(const char *addr, char *host, size_t hl, char *port, size_t pl)
{
    const char *colon;
    if (addr[0] == '[') {
        const char *rb = strchr(addr, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - addr - 1) >= hl)
            return -1;
        memcpy(host, addr + 1, (size_t)(rb - addr - 1));
        host[rb - addr - 1] = '\0';
        colon = rb + 1;
    } else if ((colon = strrchr(addr, ':'))) {
        if ((size_t)(colon - addr) >= hl)
            return -1;
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = '\0';
    } else {
        host[0] = '\0';
        colon = addr - 1;
    }
    const char *p = colon + 1;
    if (!*p || strlen(p) >= pl || strspn(p, "0123456789") != strlen(p) || strtol(p, NULL, 10) > 65535)
        return -1;
    memcpy(port, p, strlen(p) + 1);
    return 0;
}

static int listen_on(const char *addr, int *port, char *err, size_t errlen)
{
    char host[256], ps[16];
    struct addrinfo hints, *res = NULL;
    if (split_addr(addr, host, sizeof(host), ps, sizeof(ps)) != 0) {
        snprintf(err, errlen, "--metrics-addr %s: expected HOST:PORT, [IPV6]:PORT or PORT", addr);
        return -1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int g = getaddrinfo(host[0] ? host : NULL, ps, &hints, &res);
    if (g != 0) {
        snprintf(err, errlen, "--metrics-addr %s: %s", addr, gai_strerror(g));
        return -1;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "--metrics-addr %s: cannot listen: %s", addr, strerror(e));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    *port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

struct ls_admin *ls_admin_start(const char *addr, metrics_registry *reg,
                                int (*ready)(void *ctx), int (*health)(void *ctx, char *why, size_t n),
                                void *ctx, char *err, size_t errlen)
{
    struct ls_admin *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "admin: out of memory");
        return NULL;
    }
    a->reg = reg;
    a->ready = ready;
    a->health = health;
    a->ctx = ctx;
    a->wake[0] = a->wake[1] = -1;
    int rc = -1;
    a->lfd = listen_on(addr, &a->port, err, errlen);
    if (a->lfd < 0)
        goto out;
    if (pipe2(a->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, errlen, "admin: pipe: %s", strerror(errno));
        goto out;
    }
    if (pthread_create(&a->th, NULL, admin_main, a) != 0) {
        snprintf(err, errlen, "admin: cannot start its thread");
        goto out;
    }
    a->started = 1;
    rc = 0;
out:
    if (rc != 0) {
        if (a->lfd >= 0)
            close(a->lfd);
        if (a->wake[0] >= 0) {
            close(a->wake[0]);
            close(a->wake[1]);
        }
        free(a);
        a = NULL;
    }
    return a;
}

int ls_admin_port(const struct ls_admin *a)
{
    return a->port;
}

void ls_admin_stop(struct ls_admin *a)
{
    if (!a)
        return;
    if (a->started) {
        ssize_t w;
        do
            w = write(a->wake[1], "x", 1);
        while (w < 0 && errno == EINTR);
        pthread_join(a->th, NULL);
    }
    close(a->lfd);
    close(a->wake[0]);
    close(a->wake[1]);
    free(a);
}
