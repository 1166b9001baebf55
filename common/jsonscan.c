/* jsonscan: strict JSON scanning over spans (see jsonscan.h); the iterative skipper keeps a
 * fixed stack, so hostile nesting costs neither recursion nor allocation. */
#include "jsonscan.h"

#include <stdint.h>
#include <string.h>

#include "utf8.h"

const char *jsonscan_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* 1 for the bytes that end a run of plain string bytes: '"', '\\', controls. */
static const unsigned char str_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['\\'] = 1,
};

const char *jsonscan_string(const char *p, const char *e, int *esc)
{
    if (p >= e || *p != '"')
        return NULL;
    p++;
    while (p < e) {
        while (e - p >= 4 && !str_stop[(unsigned char)p[0]] && !str_stop[(unsigned char)p[1]] &&
               !str_stop[(unsigned char)p[2]] && !str_stop[(unsigned char)p[3]])
            p += 4;
        if (p >= e)
            break;
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c == '\\') {
            if (esc)
                *esc = 1;
            if (e - p < 2)
                return NULL;
            c = (unsigned char)p[1];
            if (c == 'u') {
                if (e - p < 6 || hexval(p[2]) < 0 || hexval(p[3]) < 0 || hexval(p[4]) < 0 ||
                    hexval(p[5]) < 0)
                    return NULL;
                p += 6;
            } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' ||
                       c == 'r' || c == 't') {
                p += 2;
            } else {
                return NULL;
            }
            continue;
        }
        if (c < 0x20)
            return NULL;
        p++;
    }
    return NULL;
}

static const char *scan_digits(const char *p, const char *e)
{
    const char *s = p;
    while (p < e && *p >= '0' && *p <= '9')
        p++;
    return p > s ? p : NULL;
}

const char *jsonscan_number(const char *p, const char *e)
{
    if (p < e && *p == '-')
        p++;
    if (p >= e)
        return NULL;
    if (*p == '0')
        p++;
    else if (!(p = scan_digits(p, e)))
        return NULL;
    if (p < e && *p == '.' && !(p = scan_digits(p + 1, e)))
        return NULL;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (!(p = scan_digits(p, e)))
            return NULL;
    }
    return p;
}

static const char *scan_lit(const char *p, const char *e, const char *lit, size_t n)
{
    if ((size_t)(e - p) < n || memcmp(p, lit, n) != 0)
        return NULL;
    return p + n;
}

/* One scalar at p (not whitespace, not a container). */
static const char *scan_scalar(const char *p, const char *e)
{
    switch (*p) {
    case '"':
        return jsonscan_string(p, e, NULL);
    case 't':
        return scan_lit(p, e, "true", 4);
    case 'f':
        return scan_lit(p, e, "false", 5);
    case 'n':
        return scan_lit(p, e, "null", 4);
    default:
        return jsonscan_number(p, e);
    }
}

const char *jsonscan_value(const char *p, const char *e, int depth_left)
{
    char stack[JSONSCAN_MAX_DEPTH];
    int sp = 0;

    for (;;) {
        p = jsonscan_ws(p, e);
        if (p >= e)
            return NULL;
        if (*p == '{' || *p == '[') {
            if (sp >= depth_left || sp >= JSONSCAN_MAX_DEPTH)
                return NULL;
            stack[sp++] = *p;
            p = jsonscan_ws(p + 1, e);
            if (p < e && *p == (stack[sp - 1] == '{' ? '}' : ']')) {
                p++;
                sp--;
                goto after_value;
            }
            if (stack[sp - 1] == '{')
                goto key;
            continue;
        }
        p = scan_scalar(p, e);
        if (!p)
            return NULL;
    after_value:
        if (sp == 0)
            return p;
        p = jsonscan_ws(p, e);
        if (p >= e)
            return NULL;
        if (*p == ',') {
            p = jsonscan_ws(p + 1, e);
            if (stack[sp - 1] == '{')
                goto key;
            continue;
        }
        if (*p == (stack[sp - 1] == '{' ? '}' : ']')) {
            p++;
            sp--;
            goto after_value;
        }
        return NULL;
    key:
        p = jsonscan_string(p, e, NULL);
        if (!p)
            return NULL;
        p = jsonscan_ws(p, e);
        if (p >= e || *p != ':')
            return NULL;
        p++;
    }
}

int jsonscan_valid(const char *s, size_t n)
{
    const char *e = s + n;
    const char *p = jsonscan_value(s, e, JSONSCAN_MAX_DEPTH);
    return p && jsonscan_ws(p, e) == e;
}

static int put_cp(buf_t *out, uint32_t cp)
{
    char u[4];
    size_t n;

    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return buf_add(out, u, n);
}

static int hex4(const char *p, const char *e, uint32_t *cp)
{
    uint32_t v = 0;
    if (e - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = (v << 4) | (uint32_t)h;
    }
    *cp = v;
    return 0;
}

/* The code point of the \u escape whose hex digits start at *pp (advanced past it, and past a
 * low surrogate that pairs with it); U+FFFD for a lone surrogate. -1 when the digits are bad. */
static int64_t unicode_escape(const char **pp, const char *e)
{
    const char *p = *pp;
    uint32_t cp, lo;
    if (hex4(p, e, &cp) != 0)
        return -1;
    p += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (e - p >= 6 && p[0] == '\\' && p[1] == 'u' && hex4(p + 2, e, &lo) == 0 && lo >= 0xDC00 &&
            lo <= 0xDFFF) {
            p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else {
            cp = 0xFFFD;
        }
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        cp = 0xFFFD;
    }
    *pp = p;
    return cp;
}

int jsonscan_unescape(const char *raw, size_t n, buf_t *out)
{
    const char *p = raw, *e = raw + n;

    while (p < e) {
        const char *bs = memchr(p, '\\', (size_t)(e - p));
        size_t run = bs ? (size_t)(bs - p) : (size_t)(e - p);
        if (run > 0 && buf_add(out, p, run) != 0)
            return -1;
        p += run;
        if (p >= e)
            break;
        if (e - p < 2) /* lone trailing backslash: keep it */
            return buf_addc(out, '\\');
        char c = p[1];
        p += 2;
        switch (c) {
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
            int64_t cp = unicode_escape(&p, e);
            int rc = cp < 0 ? buf_add(out, UTF8_REPL, UTF8_REPL_LEN) : put_cp(out, (uint32_t)cp);
            if (rc != 0)
                return -1;
            continue;
        }
        default: break; /* '"', '\\', '/' and anything else: the char itself */
        }
        if (buf_addc(out, c) != 0)
            return -1;
    }
    return 0;
}

int jsonscan_obj_open(struct jsonscan_obj *o, const char *p, const char *e)
{
    memset(o, 0, sizeof(*o));
    p = jsonscan_ws(p, e);
    if (p >= e || *p != '{')
        return -1;
    o->p = p + 1;
    o->e = e;
    return 0;
}

int jsonscan_obj_next(struct jsonscan_obj *o)
{
    const char *e = o->e;
    if (!o->p)
        return -1;
    const char *p = jsonscan_ws(o->p, e);
    if (p < e && *p == '}') {
        o->p = p + 1;
        return 0;
    }
    if (o->started) {
        if (p >= e || *p != ',')
            return -1;
        p = jsonscan_ws(p + 1, e);
    }
    o->started = 1;
    int esc = 0;
    const char *ke = jsonscan_string(p, e, &esc);
    if (!ke)
        return -1;
    o->key = p + 1;
    o->key_len = (size_t)(ke - 1 - o->key);
    o->key_esc = esc;
    p = jsonscan_ws(ke, e);
    if (p >= e || *p != ':')
        return -1;
    p = jsonscan_ws(p + 1, e);
    if (p >= e)
        return -1;
    o->p = p;
    return 1;
}

int jsonscan_key_is(const struct jsonscan_obj *o, const char *name, size_t n)
{
    if (!o->key_esc)
        return o->key_len == n && memcmp(o->key, name, n) == 0;
    if (o->key_len > n * 6 + 6)
        return 0;
    buf_t b;
    buf_init(&b, n * 4 + 8);
    int eq = jsonscan_unescape(o->key, o->key_len, &b) == 0 && b.len == n && b.p && memcmp(b.p, name, n) == 0;
    buf_free(&b);
    return eq;
}
