/* buf: capped growable byte buffer; the one place buffer growth and its cap are enforced. */
#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t buf_limit(const buf_t *b)
{
    return b->max ? b->max : SIZE_MAX / 2;
}

void buf_init(buf_t *b, size_t max)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

int buf_reserve(buf_t *b, size_t n)
{
    size_t limit = buf_limit(b);
    if (n > limit || b->len > limit - n)
        return -1;
    size_t need = b->len + n + 1; /* + NUL */
    if (need <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 4 ? need : ncap * 2;
    if (ncap > limit + 1)
        ncap = limit + 1;
    if (ncap < need)
        ncap = need;
    char *np = realloc(b->p, ncap);
    if (!np)
        return -1;
    if (!b->p)
        np[0] = '\0';
    b->p = np;
    b->cap = ncap;
    return 0;
}

int buf_add(buf_t *b, const void *data, size_t n)
{
    if (n == 0) {
        if (!b->p && buf_reserve(b, 0) != 0)
            return -1;
        return 0;
    }
    if (buf_reserve(b, n) != 0)
        return -1;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int buf_addc(buf_t *b, char c)
{
    if (b->len + 1 < b->cap && b->len < buf_limit(b)) {
        b->p[b->len++] = c;
        b->p[b->len] = '\0';
        return 0;
    }
    return buf_add(b, &c, 1);
}

int buf_adds(buf_t *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

int buf_vprintf(buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof(tmp))
        return buf_add(b, tmp, (size_t)n);
    if (buf_reserve(b, (size_t)n) != 0)
        return -1;
    int m = vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    if (m != n) {
        b->p[b->len] = '\0';
        return -1;
    }
    b->len += (size_t)n;
    return 0;
}

int buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void buf_reset(buf_t *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

void buf_truncate(buf_t *b, size_t len)
{
    if (len >= b->len)
        return;
    b->len = len;
    b->p[len] = '\0';
}

void buf_free(buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

char *buf_steal(buf_t *b, size_t *len)
{
    char *p = b->p;
    if (len)
        *len = p ? b->len : 0;
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
