/* jsonw: turns untrusted bytes into valid JSON text in valid UTF-8 (escaping, U+FFFD repair, object helpers). */
#include "jsonw.h"
#include "utf8.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* 1 for bytes that can be copied verbatim inside a JSON string. */
static const unsigned char plain[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(0), R16(0),                                  /* 0x00-0x1f */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x20-0x2f: '"' */
    R16(1), R16(1),                                  /* 0x30-0x4f */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,  /* 0x50-0x5f: '\\' */
    R16(1), R16(1),                                  /* 0x60-0x7f */
    R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0),
#undef R16
};

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Nonzero when some byte of the 8-byte word w is not plain ASCII for a JSON
 * string (>= 0x80, < 0x20, '"' or '\\'): the SWAR test behind the fast path. */
static inline uint64_t word_special(uint64_t w)
{
    uint64_t q = w ^ (ONES * '"'), bs = w ^ (ONES * '\\');
    return (w | ((w - ONES * 0x20) & ~w) | ((q - ONES) & ~q) | ((bs - ONES) & ~bs)) & HIGHS;
}

/* Encode s[0..n) (no quotes) appending at most limit bytes. *used gets the
 * number of input bytes consumed (n unless limit stopped us). Each escape or
 * character is written whole or not at all. -1 on cap/OOM. */
static int encode(buf_t *b, const unsigned char *p, size_t n, size_t limit, size_t *used)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0, out = 0;
    while (i < n) {
        size_t start = i;
        for (;;) {
            while (n - i >= 8) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                if (word_special(w))
                    break;
                i += 8;
            }
            while (i < n && plain[p[i]])
                i++;
            if (i < n && p[i] >= 0x80) {
                size_t l = utf8_seq_len(p + i, n - i);
                if (l != 0) {
                    i += l;
                    continue;
                }
            }
            break;
        }
        if (i > start) {
            size_t span = i - start;
            if (span > limit - out) {
                /* Cut at a character boundary. */
                span = utf8_floor((const char *)p + start, span, limit - out);
                i = start + span;
                if (span > 0 && buf_add(b, p + start, span) != 0)
                    return -1;
                *used = i;
                return 0;
            }
            if (buf_add(b, p + start, span) != 0)
                return -1;
            out += span;
        }
        if (i >= n)
            break;
        unsigned c = p[i];
        char esc[6];
        size_t el;
        if (c >= 0x80) {
            memcpy(esc, UTF8_REPL, UTF8_REPL_LEN);
            el = UTF8_REPL_LEN;
        } else {
            esc[0] = '\\';
            el = 2;
            switch (c) {
            case '"': esc[1] = '"'; break;
            case '\\': esc[1] = '\\'; break;
            case '\n': esc[1] = 'n'; break;
            case '\r': esc[1] = 'r'; break;
            case '\t': esc[1] = 't'; break;
            case '\b': esc[1] = 'b'; break;
            case '\f': esc[1] = 'f'; break;
            default:
                esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
                esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
                el = 6;
            }
        }
        if (el > limit - out)
            break;
        if (buf_add(b, esc, el) != 0)
            return -1;
        out += el;
        i++;
    }
    *used = i;
    return 0;
}

int jsonw_str(buf_t *b, const char *s, size_t n)
{
    size_t old = b->len, used;
    if (buf_reserve(b, n + 2) != 0 || buf_addc(b, '"') != 0 ||
        encode(b, (const unsigned char *)s, n, SIZE_MAX, &used) != 0 || buf_addc(b, '"') != 0) {
        buf_truncate(b, old);
        return -1;
    }
    return 0;
}

int jsonw_str_capped(buf_t *b, const char *s, size_t n, size_t room, int *cut)
{
    size_t old = b->len, used = 0;
    *cut = 0;
    if (room < 2)
        return -1;
    if (buf_addc(b, '"') != 0 ||
        encode(b, (const unsigned char *)s, n, room - 2, &used) != 0 || buf_addc(b, '"') != 0) {
        buf_truncate(b, old);
        return -1;
    }
    *cut = used < n;
    return 0;
}

/* Comma (unless right after '{' or at the start) and "key":. */
static int key(buf_t *b, const char *k)
{
    if (b->len > 0 && b->p[b->len - 1] != '{' && buf_addc(b, ',') != 0)
        return -1;
    if (jsonw_str(b, k, strlen(k)) != 0 || buf_addc(b, ':') != 0)
        return -1;
    return 0;
}

int jsonw_kv_raw(buf_t *b, const char *k, const char *json, size_t n)
{
    size_t old = b->len;
    if (key(b, k) != 0 || buf_add(b, json, n) != 0) {
        buf_truncate(b, old);
        return -1;
    }
    return 0;
}

int jsonw_kv_strn(buf_t *b, const char *k, const char *val, size_t n)
{
    size_t old = b->len;
    int rc = key(b, k);
    if (rc == 0)
        rc = val ? jsonw_str(b, val, n) : buf_add(b, "null", 4);
    if (rc != 0)
        buf_truncate(b, old);
    return rc;
}

int jsonw_kv_str(buf_t *b, const char *k, const char *val)
{
    return jsonw_kv_strn(b, k, val, val ? strlen(val) : 0);
}

int jsonw_kv_int(buf_t *b, const char *k, int64_t val)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%" PRId64, val);
    return jsonw_kv_raw(b, k, tmp, (size_t)n);
}

int jsonw_kv_uint(buf_t *b, const char *k, uint64_t val)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, val);
    return jsonw_kv_raw(b, k, tmp, (size_t)n);
}

int jsonw_kv_double(buf_t *b, const char *k, double val, int decimals)
{
    if (!isfinite(val))
        return jsonw_kv_raw(b, k, "null", 4);
    if (decimals < 0)
        decimals = 0;
    if (decimals > 17)
        decimals = 17;
    char tmp[400];
    int n = snprintf(tmp, sizeof(tmp), "%.*f", decimals, val);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return jsonw_kv_raw(b, k, "null", 4);
    if (strcmp(tmp, "-0") == 0 || (tmp[0] == '-' && strspn(tmp + 1, "0.") == (size_t)n - 1))
        return jsonw_kv_raw(b, k, tmp + 1, (size_t)n - 1); /* -0.000 → 0.000 */
    return jsonw_kv_raw(b, k, tmp, (size_t)n);
}

int jsonw_kv_bool(buf_t *b, const char *k, int val)
{
    return val ? jsonw_kv_raw(b, k, "true", 4) : jsonw_kv_raw(b, k, "false", 5);
}
