/* admin_http: request-line parsing for the admin endpoint (see admin_http.h). */
#include "logship/admin_http.h"

#include <string.h>

/* End of the head: just past the first empty line, or 0 when not there yet. */
static size_t head_end(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\n')
            continue;
        if (i + 1 < n && p[i + 1] == '\n')
            return i + 2;
        if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static int is_token(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && memcmp(s, lit, l) == 0;
}

/* Length of the non-empty token at s[0..n) that a space ends; *next is the byte after that space.
 * 0 when s starts with a space or holds none. */
static size_t token(const char *s, size_t n, const char **next)
{
    const char *sp = memchr(s, ' ', n);
    if (!sp || sp == s)
        return 0;
    *next = sp + 1;
    return (size_t)(sp - s);
}

int ls_admin_parse(const char *p, size_t n, struct ls_admin_req *req)
{
    const char *eol = memchr(p, '\n', n);
    if (!eol)
        return n >= LS_ADMIN_HEAD_MAX ? -1 : 0;
    size_t line = (size_t)(eol - p);
    if (line > 0 && p[line - 1] == '\r')
        line--;
    /* METHOD SP TARGET SP HTTP/1.x */
    const char *t, *ver;
    size_t ml = token(p, line, &t);
    size_t tl = ml ? token(t, line - ml - 1, &ver) : 0;
    if (!tl)
        return -1;
    size_t vl = line - ml - 1 - tl - 1;
    if (vl != 8 || memcmp(ver, "HTTP/1.", 7) != 0 || (ver[7] != '0' && ver[7] != '1'))
        return -1;
    if (t[0] != '/')
        return -1;
    const char *q = memchr(t, '?', tl);
    if (q)
        tl = (size_t)(q - t);
    size_t end = head_end(p, n);
    if (end == 0)
        return n >= LS_ADMIN_HEAD_MAX ? -1 : 0;
    req->method = is_token(p, ml, "GET") ? LS_ADMIN_GET : is_token(p, ml, "HEAD") ? LS_ADMIN_HEAD
                                                                                 : LS_ADMIN_OTHER;
    req->path = is_token(t, tl, "/metrics") ? LS_ADMIN_METRICS
              : is_token(t, tl, "/healthz") ? LS_ADMIN_HEALTHZ
              : is_token(t, tl, "/ready")   ? LS_ADMIN_READY
                                            : LS_ADMIN_UNKNOWN;
    req->head_len = end;
    return 1;
}
