/* json_check: a tiny strict JSON-string and JSON-object-line validator for the common tests. */
#ifndef TESTS_UNIT_JSON_CHECK_H
#define TESTS_UNIT_JSON_CHECK_H

#include <stddef.h>
#include <string.h>

/* Well-formed UTF-8 per RFC 3629, written independently of jsonw's decoder. */
static inline int jc_utf8(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        unsigned cp, need;
        if (c < 0x80) { i++; continue; }
        else if ((c & 0xE0) == 0xC0) { cp = c & 0x1F; need = 1; }
        else if ((c & 0xF0) == 0xE0) { cp = c & 0x0F; need = 2; }
        else if ((c & 0xF8) == 0xF0) { cp = c & 0x07; need = 3; }
        else return 0;
        if (n - i <= need)
            return 0;
        for (unsigned k = 1; k <= need; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += need + 1;
    }
    return 1;
}

/* Parse one JSON string at p[*i] (which must be '"'); advance *i past it. */
static inline int jc_string(const unsigned char *p, size_t n, size_t *i)
{
    if (*i >= n || p[*i] != '"')
        return 0;
    size_t j = *i + 1;
    while (j < n) {
        unsigned c = p[j];
        if (c == '"') {
            *i = j + 1;
            return 1;
        }
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            if (j + 1 >= n)
                return 0;
            unsigned e = p[j + 1];
            if (e == 'u') {
                if (j + 5 >= n)
                    return 0;
                for (int k = 2; k < 6; k++)
                    if (!strchr("0123456789abcdefABCDEF", p[j + k]) || p[j + k] == 0)
                        return 0;
                j += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", (int)e) || e == 0)
                return 0;
            j += 2;
            continue;
        }
        j++;
    }
    return 0;
}

/* Is p[0..n) exactly one valid JSON string in valid UTF-8? */
static inline int jc_is_json_string(const char *s, size_t n)
{
    size_t i = 0;
    const unsigned char *p = (const unsigned char *)s;
    return jc_utf8(p, n) && jc_string(p, n, &i) && i == n;
}

static inline void jc_ws(const unsigned char *p, size_t n, size_t *i)
{
    while (*i < n && (p[*i] == ' ' || p[*i] == '\t' || p[*i] == '\n' || p[*i] == '\r'))
        (*i)++;
}

/* One JSON value (strict enough for our writers: strings, numbers, literals,
 * arrays, objects) at p[*i]; advances *i. */
static inline int jc_value(const unsigned char *p, size_t n, size_t *i, int depth)
{
    if (depth > 32)
        return 0;
    jc_ws(p, n, i);
    if (*i >= n)
        return 0;
    unsigned c = p[*i];
    if (c == '"')
        return jc_string(p, n, i);
    if (c == '{' || c == '[') {
        unsigned close = c == '{' ? '}' : ']';
        (*i)++;
        jc_ws(p, n, i);
        if (*i < n && p[*i] == close) {
            (*i)++;
            return 1;
        }
        for (;;) {
            if (c == '{') {
                jc_ws(p, n, i);
                if (!jc_string(p, n, i))
                    return 0;
                jc_ws(p, n, i);
                if (*i >= n || p[*i] != ':')
                    return 0;
                (*i)++;
            }
            if (!jc_value(p, n, i, depth + 1))
                return 0;
            jc_ws(p, n, i);
            if (*i < n && p[*i] == ',') {
                (*i)++;
                continue;
            }
            if (*i < n && p[*i] == close) {
                (*i)++;
                return 1;
            }
            return 0;
        }
    }
    static const char *const lits[] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++) {
        size_t l = strlen(lits[k]);
        if (n - *i >= l && memcmp(p + *i, lits[k], l) == 0) {
            *i += l;
            return 1;
        }
    }
    size_t j = *i;
    if (j < n && p[j] == '-')
        j++;
    if (j >= n || p[j] < '0' || p[j] > '9')
        return 0;
    if (p[j] == '0')
        j++;
    else
        while (j < n && p[j] >= '0' && p[j] <= '9')
            j++;
    if (j < n && p[j] == '.') {
        j++;
        if (j >= n || p[j] < '0' || p[j] > '9')
            return 0;
        while (j < n && p[j] >= '0' && p[j] <= '9')
            j++;
    }
    if (j < n && (p[j] == 'e' || p[j] == 'E')) {
        j++;
        if (j < n && (p[j] == '+' || p[j] == '-'))
            j++;
        if (j >= n || p[j] < '0' || p[j] > '9')
            return 0;
        while (j < n && p[j] >= '0' && p[j] <= '9')
            j++;
    }
    *i = j;
    return 1;
}

/* Is s[0..n) exactly one JSON object in valid UTF-8? */
static inline int jc_is_json_object(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    if (!jc_utf8(p, n) || n == 0 || p[0] != '{' || !jc_value(p, n, &i, 0))
        return 0;
    jc_ws(p, n, &i);
    return i == n;
}

#endif
