/* route: pure routing (path and method to route template and status) and the redirect target. */
#include "service/route.h"

#include <string.h>

static const char *const route_names[ROUTE__COUNT] = {
    "helloworld", "healthz", "readyz", "metrics", "not_found", "redirect", "invalid",
    "server",
};

static const char *const method_names[METHOD__COUNT] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "other",
};

const char *route_name(enum route_id r)
{
    if ((int)r < 0 || r >= ROUTE__COUNT)
        return "invalid";
    return route_names[r];
}

const char *route_method_name(enum method_id m)
{
    if ((int)m < 0 || m >= METHOD__COUNT)
        return "other";
    return method_names[m];
}

enum method_id route_method(const char *method)
{
    if (!method)
        return METHOD_OTHER;
    for (int i = 0; i < METHOD_OTHER; i++)
        if (strcmp(method, method_names[i]) == 0)
            return (enum method_id)i;
    return METHOD_OTHER;
}

enum route_id route_match(const char *path)
{
    if (!path)
        return ROUTE_NOT_FOUND;
    if (strcmp(path, "/helloworld") == 0)
        return ROUTE_HELLO;
    if (strcmp(path, "/healthz") == 0)
        return ROUTE_HEALTHZ;
    if (strcmp(path, "/readyz") == 0)
        return ROUTE_READYZ;
    if (strcmp(path, "/metrics") == 0)
        return ROUTE_METRICS;
    return ROUTE_NOT_FOUND;
}

struct route_decision route_decide(int is_tls, enum method_id method, const char *path, int ready)
{
    struct route_decision d;
    int safe = (method == METHOD_GET || method == METHOD_HEAD);

    if (!is_tls) {
        d.route = ROUTE_REDIRECT;
        d.status = safe ? 301 : 308;
        return d;
    }
    d.route = route_match(path);
    if (d.route == ROUTE_NOT_FOUND)
        d.status = 404;
    else if (!safe)
        d.status = 405;
    else if (d.route == ROUTE_READYZ && !ready)
        d.status = 503;
    else
        d.status = 200;
    return d;
}

static int is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Length of the host part of a Host header (port dropped), or 0 if the
 * header is not an acceptable host[:port]. */
static size_t host_len(const char *h)
{
    size_t n = 0;
    if (h[0] == '[') {
        while (h[n] != '\0' && h[n] != ']') {
            unsigned char c = (unsigned char)h[n];
            if (n > 0 && !is_hex(c) && c != ':' && c != '.')
                return 0;
            n++;
        }
        if (h[n] != ']' || n < 3)
            return 0;
        n++; /* include ']' */
    } else {
        while (h[n] != '\0' && h[n] != ':') {
            unsigned char c = (unsigned char)h[n];
            if (!is_alnum(c) && c != '.' && c != '-')
                return 0;
            n++;
        }
        if (n == 0 || n > 253)
            return 0;
    }
    if (h[n] == '\0')
        return n;
    if (h[n] != ':')
        return 0;
    /* optional port: up to 5 digits, nothing after */
    for (size_t i = n + 1; h[i] != '\0'; i++)
        if (h[i] < '0' || h[i] > '9' || i - n > 5)
            return 0;
    return n;
}

/* Characters RFC 3986 allows literally in a path (pchar and '/'); the query
 * also allows '?'. */
static int uri_char_ok(unsigned char c, int in_query)
{
    if (is_alnum(c))
        return 1;
    if (strchr("-._~!$&'()*+,;=:@/", c) && c != '\0')
        return 1;
    return in_query && c == '?';
}

static int add_encoded(buf_t *out, const char *s, int in_query)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s;
    int rc = 0;

    for (; *p != '\0' && rc == 0; p++) {
        if (uri_char_ok(*p, in_query) ||
            (*p == '%' && is_hex(p[1]) && is_hex(p[2]))) {
            rc = buf_addc(out, (char)*p);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 0xf]};
            rc = buf_add(out, e, sizeof(e));
        }
    }
    return rc;
}

int route_redirect_location(buf_t *out, const char *host, int tls_port,
                            const char *path, const char *query)
{
    size_t hl;
    int rc = 0;

    if (!host || (hl = host_len(host)) == 0)
        return -1;
    rc |= buf_adds(out, "https://");
    rc |= buf_add(out, host, hl);
    if (tls_port != 443)
        rc |= buf_printf(out, ":%d", tls_port);
    if (!path || path[0] != '/')
        rc |= buf_addc(out, '/');
    else
        rc |= add_encoded(out, path, 0);
    if (query) {
        rc |= buf_addc(out, '?');
        rc |= add_encoded(out, query, 1);
    }
    return rc ? -1 : 0;
}
