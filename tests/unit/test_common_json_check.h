/* json_check: "is this one JSON string / one JSON object line" for the common tests, on the tree's one strict JSON
 * scanner (common/jsonscan.h) and UTF-8 check; plus jc_utf8, a UTF-8 validator written independently of
 * common/utf8.c on purpose: test_common_jsonw compares the two on random input. */
#ifndef TESTS_UNIT_JSON_CHECK_H
#define TESTS_UNIT_JSON_CHECK_H

#include <stddef.h>
#include <string.h>

#include "jsonscan.h"
#include "utf8.h"

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

/* Is p[0..n) exactly one valid JSON string in valid UTF-8? (common/jsonscan.c's grammar) */
static inline int jc_is_json_string(const char *s, size_t n)
{
    return n && s[0] == '"' && jsonscan_string(s, s + n, NULL) == s + n && utf8_valid(s, n);
}

/* Is s[0..n) exactly one JSON object in valid UTF-8? (common/jsonscan.c's grammar) */
static inline int jc_is_json_object(const char *s, size_t n)
{
    if (!n || s[0] != '{' || !utf8_valid(s, n))
        return 0;
    const char *end = jsonscan_value(s, s + n, JSONSCAN_MAX_DEPTH);
    return end && jsonscan_ws(end, s + n) == s + n;
}

#endif
