/* sink.c: a fast benchmark receiver for the Loki push API and Elasticsearch _bulk: decodes, counts, times entries. */
/*
 * Not a test receiver (tests/receivers/ are those): it exists so that the
 * benchmark measures the shipper, not the receiver. One thread, epoll, plain
 * sockets, zlib and snappy. It fully decodes every body it is sent:
 *   POST /loki/api/v1/push  protobuf+snappy (any non-JSON content type), or
 *                           JSON, optionally Content-Encoding gzip/deflate -> 204
 *   POST /_bulk, /<i>/_bulk NDJSON, optionally gzip -> 200 with one item per action
 *   GET  /_sink/stats       counters, latency percentiles and the sink's own CPU
 *   POST /_sink/reset       zero the counters
 *   GET  /                  an Elasticsearch-like banner; anything else -> 200
 * Latency: a line that contains "bench_wt":<unix ns> (written by the benchmark's
 * pacer when it appended the line) is timed from that write to the moment its
 * request body arrived here; the sink answers at once, so arrival stands in for
 * the acknowledgement.
 *
 * Usage: sink [--port-file F] [--port N]   (binds 127.0.0.1, port 0 = free port)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <snappy-c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "tests/lib/lokipb.h"

#define MAX_CONNS 256
#define MAX_BODY (256u << 20)  /* cap on one request body, compressed or not */
#define MAX_LAT (4u << 20)     /* cap on latency samples kept */

struct conn {
    int fd;
    char *buf;
    size_t len, cap;
    int sent_continue;
};

struct stats {
    uint64_t loki_requests, loki_entries, loki_bytes, loki_bad;
    uint64_t es_requests, es_docs, es_bytes, es_bad;
    uint64_t other_requests;
    int64_t first_ns, last_ns;
};

static struct stats st;
static uint32_t *lat_us;
static size_t lat_n;
static uint64_t lat_dropped;
static int64_t req_arrival_ns;
static char *scratch;       /* decompression output */
static size_t scratch_cap;
static char *resp;          /* _bulk response */
static size_t resp_cap, resp_len;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int grow(char **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 65536;
    while (n < need)
        n *= 2;
    char *q = realloc(*p, n);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* Record the append->arrival latency if the line carries "bench_wt":<ns>. */
static void note_line(const char *s, size_t n)
{
    const char *p = memmem(s, n, "bench_wt", 8);
    if (!p)
        return;
    const char *e = s + n;
    p += 8;
    int skip = 0;
    while (p < e && skip < 6 && (*p == '\\' || *p == '"' || *p == ':' || *p == ' ')) {
        p++;
        skip++;
    }
    int64_t v = 0;
    int digits = 0;
    while (p < e && *p >= '0' && *p <= '9' && digits < 19) {
        v = v * 10 + (*p - '0');
        p++;
        digits++;
    }
    if (digits < 10)
        return;
    int64_t d = req_arrival_ns - v;
    if (d < 0)
        d = 0;
    if (lat_n < MAX_LAT)
        lat_us[lat_n++] = (uint32_t)(d / 1000 > UINT32_MAX ? UINT32_MAX : d / 1000);
    else
        lat_dropped++;
}

/* One entry of a protobuf push (walked by the shared decoder, tests/lib/lokipb.c). */
static int pb_entry(void *ud, int64_t sec, int64_t nanos, const char *line, size_t len)
{
    (void)ud;
    (void)sec;
    (void)nanos;
    st.loki_entries++;
    st.loki_bytes += (uint64_t)len;
    note_line(line, len);
    return 0;
}

/* Count entries of a Loki JSON push body: arrays at depth 5 are [ts, line(, meta)]. */
static int loki_json(const char *s, size_t n)
{
    int depth = 0, in_entry = 0, elem = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != '"') {
                if (s[j] == '\\')
                    j++;
                j++;
            }
            if (j >= n)
                return -1;
            if (in_entry && depth == 5) {
                elem++;
                if (elem == 2) {
                    st.loki_entries++;
                    st.loki_bytes += j - i - 1;
                    note_line(s + i + 1, j - i - 1);
                }
            }
            i = j;
        } else if (c == '[' || c == '{') {
            depth++;
            if (depth == 5 && c == '[') {
                in_entry = 1;
                elem = 0;
            }
        } else if (c == ']' || c == '}') {
            if (depth == 5)
                in_entry = 0;
            depth--;
        }
    }
    return depth == 0 ? 0 : -1;
}

/* Inflate gzip or zlib (auto-detected) into scratch. Returns length or -1. */
static long inflate_all(const char *in, size_t n)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 32) != Z_OK)
        return -1;
    if (grow(&scratch, &scratch_cap, n * 4 + 65536)) {
        inflateEnd(&z);
        return -1;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    size_t out = 0;
    int rc;
    do {
        if (scratch_cap - out < 65536 && grow(&scratch, &scratch_cap, scratch_cap * 2)) {
            inflateEnd(&z);
            return -1;
        }
        z.next_out = (Bytef *)scratch + out;
        z.avail_out = (uInt)(scratch_cap - out);
        rc = inflate(&z, Z_NO_FLUSH);
        out = scratch_cap - z.avail_out;
        if (out > MAX_BODY) {
            rc = Z_MEM_ERROR;
            break;
        }
    } while (rc == Z_OK);
    inflateEnd(&z);
    return rc == Z_STREAM_END ? (long)out : -1;
}

static int handle_loki(const char *ctype, const char *cenc, const char *body, size_t n)
{
    st.loki_requests++;
    if (ctype && strstr(ctype, "json")) {
        if (cenc && (strcasestr(cenc, "gzip") || strcasestr(cenc, "deflate"))) {
            long m = inflate_all(body, n);
            if (m < 0)
                return -1;
            return loki_json(scratch, (size_t)m);
        }
        return loki_json(body, n);
    }
    size_t m;
    if (snappy_uncompressed_length(body, n, &m) != SNAPPY_OK || m > MAX_BODY)
        return -1;
    if (grow(&scratch, &scratch_cap, m + 1))
        return -1;
    if (snappy_uncompress(body, n, scratch, &m) != SNAPPY_OK)
        return -1;
    const struct lokipb_visit v = { .entry = pb_entry };
    return lokipb_walk((const unsigned char *)scratch, m, 0, &v);
}

static int resp_add(const char *s, size_t n)
{
    if (grow(&resp, &resp_cap, resp_len + n + 1))
        return -1;
    memcpy(resp + resp_len, s, n);
    resp_len += n;
    return 0;
}

/* Build the _bulk response in resp: one 201 item per action line. */
static int handle_bulk(const char *cenc, const char *body, size_t n)
{
    st.es_requests++;
    if (cenc && (strcasestr(cenc, "gzip") || strcasestr(cenc, "deflate"))) {
        long m = inflate_all(body, n);
        if (m < 0)
            return -1;
        body = scratch;
        n = (size_t)m;
    }
    resp_len = 0;
    const char head[] = "{\"took\":1,\"errors\":false,\"items\":[";
    if (resp_add(head, sizeof(head) - 1))
        return -1;
    const char *p = body, *e = body + n;
    int action = 1;
    uint64_t items = 0;
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        const char *le = nl ? nl : e;
        if (le > p) {
            if (action) {
                /* {"create":{...}} or {"index":{...}}: echo the verb */
                const char *q = memchr(p, '"', (size_t)(le - p));
                const char *q2 = q ? memchr(q + 1, '"', (size_t)(le - q - 1)) : NULL;
                if (!q2 || q2 - q - 1 > 16)
                    return -1;
                char item[96];
                int k = snprintf(item, sizeof(item),
                                 "%s{\"%.*s\":{\"_index\":\"bench\",\"status\":201,"
                                 "\"result\":\"created\"}}",
                                 items ? "," : "", (int)(q2 - q - 1), q + 1);
                if (k < 0 || (size_t)k >= sizeof(item) || resp_add(item, (size_t)k))
                    return -1;
                items++;
                /* delete actions have no source line; the benchmark never sends them */
            } else {
                st.es_docs++;
                st.es_bytes += (uint64_t)(le - p);
                note_line(p, (size_t)(le - p));
            }
            action = !action;
        }
        p = le + 1;
    }
    return resp_add("]}", 2);
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct pollfd pfd = { .fd = fd, .events = POLLOUT };
                if (poll(&pfd, 1, 5000) <= 0)
                    return -1;
                continue;
            }
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static int reply(int fd, int status, const char *reason, const char *ctype,
                 const char *body, size_t n)
{
    char h[256];
    int k = snprintf(h, sizeof(h),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                     status, reason, ctype, n);
    if (k < 0 || (size_t)k >= sizeof(h))
        return -1;
    if (n == 0 || (size_t)k + n > 16384)
        return write_all(fd, h, (size_t)k) || (n && write_all(fd, body, n)) ? -1 : 0;
    char both[16384];
    memcpy(both, h, (size_t)k);
    memcpy(both + k, body, n);
    return write_all(fd, both, (size_t)k + n);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int reply_stats(int fd)
{
    uint32_t p50 = 0, p99 = 0, pmax = 0;
    if (lat_n) {
        uint32_t *c = malloc(lat_n * sizeof(*c));
        if (!c)
            return -1;
        memcpy(c, lat_us, lat_n * sizeof(*c));
        qsort(c, lat_n, sizeof(*c), cmp_u32);
        p50 = c[(lat_n - 1) / 2];
        p99 = c[(size_t)((double)(lat_n - 1) * 0.99)];
        pmax = c[lat_n - 1];
        free(c);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    char b[1024];
    int k = snprintf(b, sizeof(b),
        "{\"loki_requests\":%" PRIu64 ",\"loki_entries\":%" PRIu64 ",\"loki_bytes\":%" PRIu64
        ",\"loki_bad\":%" PRIu64 ",\"es_requests\":%" PRIu64 ",\"es_docs\":%" PRIu64
        ",\"es_bytes\":%" PRIu64 ",\"es_bad\":%" PRIu64 ",\"other_requests\":%" PRIu64
        ",\"first_ns\":%" PRId64 ",\"last_ns\":%" PRId64 ",\"lat_n\":%zu,\"lat_dropped\":%" PRIu64
        ",\"lat_p50_us\":%" PRIu32 ",\"lat_p99_us\":%" PRIu32 ",\"lat_max_us\":%" PRIu32
        ",\"cpu_s\":%.3f,\"maxrss_kb\":%ld}\n",
        st.loki_requests, st.loki_entries, st.loki_bytes, st.loki_bad, st.es_requests,
        st.es_docs, st.es_bytes, st.es_bad, st.other_requests, st.first_ns, st.last_ns,
        lat_n, lat_dropped, p50, p99, pmax, cpu, ru.ru_maxrss);
    if (k < 0 || (size_t)k >= sizeof(b))
        return -1;
    return reply(fd, 200, "OK", "application/json", b, (size_t)k);
}

/* Case-insensitive header lookup in the header block [h, e). Returns a
 * NUL-terminated copy in out (truncated to outlen) or NULL. */
static const char *header(const char *h, const char *e, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = h;
    while (p < e) {
        const char *le = memmem(p, (size_t)(e - p), "\r\n", 2);
        if (!le)
            le = e;
        if ((size_t)(le - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < le && (*v == ' ' || *v == '\t'))
                v++;
            size_t n = (size_t)(le - v);
            if (n >= outlen)
                n = outlen - 1;
            memcpy(out, v, n);
            out[n] = 0;
            return out;
        }
        p = le + 2;
    }
    return NULL;
}

/* De-chunk a chunked body in place. Returns body length, -2 if incomplete, -1 if bad;
 * *consumed gets the bytes of the wire form. */
static long dechunk(char *b, size_t n, size_t *consumed)
{
    size_t r = 0, w = 0;
    for (;;) {
        char *le = memmem(b + r, n - r, "\r\n", 2);
        if (!le)
            return -2;
        char *end;
        unsigned long sz = strtoul(b + r, &end, 16);
        if (end == b + r)
            return -1;
        size_t data = (size_t)(le - b) + 2;
        if (sz == 0) {
            char *fin = memmem(b + data - 2, n - (data - 2), "\r\n\r\n", 4);
            if (!fin)
                return -2;
            *consumed = (size_t)(fin - b) + 4;
            return (long)w;
        }
        if (data + sz + 2 > n)
            return -2;
        memmove(b + w, b + data, sz);
        w += sz;
        r = data + sz + 2;
    }
}

/* Try to handle one complete request at the start of c->buf.
 * Returns bytes consumed, 0 if more input is needed, -1 to close. */
static long handle_one(struct conn *c)
{
    char *hend = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!hend)
        return c->len > 65536 ? -1 : 0;
    size_t hlen = (size_t)(hend - c->buf) + 4;
    const char *line_end = memmem(c->buf, hlen, "\r\n", 2);
    char ctype[128], cenc[64], clen[32], te[32], expect[32];
    const char *h0 = line_end + 2, *h1 = hend + 2;
    const char *ct = header(h0, h1, "Content-Type", ctype, sizeof(ctype));
    const char *ce = header(h0, h1, "Content-Encoding", cenc, sizeof(cenc));
    const char *cl = header(h0, h1, "Content-Length", clen, sizeof(clen));
    const char *tenc = header(h0, h1, "Transfer-Encoding", te, sizeof(te));
    const char *ex = header(h0, h1, "Expect", expect, sizeof(expect));
    size_t blen = 0, total;
    char *body = c->buf + hlen;
    if (tenc && strcasestr(tenc, "chunked")) {
        size_t consumed = 0;
        char *copy = malloc(c->len - hlen + 1);
        if (!copy)
            return -1;
        memcpy(copy, body, c->len - hlen);
        long m = dechunk(copy, c->len - hlen, &consumed);
        if (m == -2 && ex && !c->sent_continue) {
            c->sent_continue = 1;
            free(copy);
            return write_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25) ? -1 : 0;
        }
        if (m < 0) {
            free(copy);
            return m == -2 ? 0 : -1;
        }
        memcpy(body, copy, (size_t)m);
        free(copy);
        blen = (size_t)m;
        total = hlen + consumed;
    } else {
        if (cl) {
            char *end;
            unsigned long long v = strtoull(cl, &end, 10);
            if (end == cl || v > MAX_BODY)
                return -1;
            blen = (size_t)v;
        }
        if (c->len < hlen + blen) {
            if (ex && !c->sent_continue) {
                c->sent_continue = 1;
                return write_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25) ? -1 : 0;
            }
            return 0;
        }
        total = hlen + blen;
    }
    c->sent_continue = 0;
    req_arrival_ns = now_ns();
    const char *sp = memchr(c->buf, ' ', (size_t)(line_end - c->buf));
    if (!sp)
        return -1;
    size_t mlen = (size_t)(sp - c->buf);
    const char *path = sp + 1;
    const char *pe = memchr(path, ' ', (size_t)(line_end - path));
    size_t plen = pe ? (size_t)(pe - path) : (size_t)(line_end - path);
    int is_post = mlen == 4 && memcmp(c->buf, "POST", 4) == 0;
    int rc;
    if (is_post && plen >= 17 && memcmp(path, "/loki/api/v1/push", 17) == 0) {
        if (!st.first_ns)
            st.first_ns = req_arrival_ns;
        if (handle_loki(ct, ce, body, blen)) {
            st.loki_bad++;
            rc = reply(c->fd, 400, "Bad Request", "text/plain", "sink: bad body\n", 15);
        } else {
            st.last_ns = req_arrival_ns;
            rc = reply(c->fd, 204, "No Content", "text/plain", "", 0);
        }
    } else if (is_post && memmem(path, plen, "/_bulk", 6)) {
        if (!st.first_ns)
            st.first_ns = req_arrival_ns;
        if (handle_bulk(ce, body, blen)) {
            st.es_bad++;
            rc = reply(c->fd, 400, "Bad Request", "application/json",
                       "{\"error\":\"sink: bad body\"}", 26);
        } else {
            st.last_ns = req_arrival_ns;
            rc = reply(c->fd, 200, "OK", "application/json", resp, resp_len);
        }
    } else if (plen == 12 && memcmp(path, "/_sink/stats", 12) == 0) {
        rc = reply_stats(c->fd);
    } else if (plen == 12 && memcmp(path, "/_sink/reset", 12) == 0) {
        memset(&st, 0, sizeof(st));
        lat_n = 0;
        lat_dropped = 0;
        rc = reply(c->fd, 200, "OK", "text/plain", "reset\n", 6);
    } else if (plen == 1 && path[0] == '/') {
        static const char banner[] = "{\"name\":\"bench-sink\",\"cluster_name\":\"bench\","
            "\"version\":{\"number\":\"8.11.0\"},\"tagline\":\"You Know, for Search\"}";
        st.other_requests++;
        rc = reply(c->fd, 200, "OK", "application/json", banner, sizeof(banner) - 1);
    } else {
        st.other_requests++;
        rc = reply(c->fd, 200, "OK", "text/plain", "ready\n", 6);
    }
    return rc ? -1 : (long)total;
}

static void conn_close(int ep, struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->buf);
    free(c);
}

static int conn_readable(struct conn *c)
{
    for (;;) {
        if (c->cap - c->len < 65536 && grow(&c->buf, &c->cap, c->len + 262144))
            return -1;
        ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            return -1;
        }
        if (r == 0)
            return -1;
        c->len += (size_t)r;
        if (c->len > MAX_BODY + 65536)
            return -1;
    }
    for (;;) {
        long used = handle_one(c);
        if (used < 0)
            return -1;
        if (used == 0)
            return 0;
        memmove(c->buf, c->buf + used, c->len - (size_t)used);
        c->len -= (size_t)used;
    }
}

int main(int argc, char **argv)
{
    const char *port_file = NULL;
    long port = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc) {
            port_file = argv[++i];
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char *end;
            port = strtol(argv[++i], &end, 10);
            if (*end || port < 0 || port > 65535) {
                fprintf(stderr, "sink: bad --port\n");
                return 2;
            }
        } else {
            fprintf(stderr, "usage: sink [--port N] [--port-file F]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    lat_us = malloc(MAX_LAT * sizeof(*lat_us));
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    if (!lat_us || ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
        bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 128) ||
        getsockname(ls, (struct sockaddr *)&a, &alen)) {
        perror("sink: listen");
        return 1;
    }
    if (port_file) {
        char tmp[4096];
        int k = snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
        FILE *f = (k > 0 && (size_t)k < sizeof(tmp)) ? fopen(tmp, "w") : NULL;
        if (!f || fprintf(f, "%d\n", ntohs(a.sin_port)) < 0 || fclose(f) || rename(tmp, port_file)) {
            perror("sink: port file");
            return 1;
        }
    } else {
        printf("%d\n", ntohs(a.sin_port));
        fflush(stdout);
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev)) {
        perror("sink: epoll");
        return 1;
    }
    int nconns = 0;
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("sink: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    struct conn *nc = calloc(1, sizeof(*nc));
                    struct epoll_event cev = { .events = EPOLLIN };
                    if (!nc || nconns >= MAX_CONNS) {
                        free(nc);
                        close(fd);
                        continue;
                    }
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    nc->fd = fd;
                    cev.data.ptr = nc;
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev)) {
                        close(fd);
                        free(nc);
                        continue;
                    }
                    nconns++;
                }
                continue;
            }
            if (conn_readable(c)) {
                conn_close(ep, c);
                nconns--;
            }
        }
    }
}
