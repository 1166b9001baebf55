/* fuzz_common_jsonscan: differential fuzzing of the strict JSON scanner against json-c's strict
 * tokener: on well-formed UTF-8 without NUL bytes (and without json-c's two known leniencies,
 * filtered below), both must agree on whether the input is one JSON
 * value; the object walker must agree with jsonscan_value; unescaping must never fail or overrun. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "jsonscan.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* json-c's verdict: one complete value, then only whitespace. A space is appended so that a
 * number at the very end is complete for json-c's incremental tokener. */
static int jsonc_valid(const char *s, size_t n)
{
    char *t = malloc(n + 1);
    struct json_tokener *tok = json_tokener_new_ex(JSONSCAN_MAX_DEPTH);
    if (!t || !tok)
        abort();
    memcpy(t, s, n);
    t[n] = ' ';
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    struct json_object *o = json_tokener_parse_ex(tok, t, (int)n + 1);
    int ok = json_tokener_get_error(tok) == json_tokener_success &&
             jsonscan_ws(t + json_tokener_get_parse_end(tok), t + n + 1) == t + n + 1;
    json_object_put(o);
    json_tokener_free(tok);
    free(t);
    return ok;
}

/* json-c's strict mode is laxer than RFC 8259 in four ways: it takes raw control bytes inside
 * strings, a number with a leading zero ("00", "-01") inside a container, a fraction without
 * digits on both sides ("2.", "-.5"), and NaN / Infinity. 1 when the input has any (such inputs are left out of the comparison; exponents
 * may start with zeros). */
static int jsonc_lenient(const char *s, size_t n)
{
    int in = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in) {
            if ((unsigned char)c < 0x20)
                return 1;
            if (c == '\\')
                i++;
            else if (c == '"')
                in = 0;
            continue;
        }
        if (c == '"') {
            in = 1;
            continue;
        }
        if (c == 'N' || c == 'I')
            return 1;
        if (c == '.' && (i + 1 >= n || s[i + 1] < '0' || s[i + 1] > '9' || i == 0 || s[i - 1] < '0' ||
                         s[i - 1] > '9'))
            return 1;
        if (c != '0' || i + 1 >= n || s[i + 1] < '0' || s[i + 1] > '9')
            continue;
        char prev = i > 0 ? s[i - 1] : ' ';
        if (prev == '-')
            prev = i > 1 ? s[i - 2] : ' ';
        if (!strchr("0123456789.eE+", prev))
            return 1;
    }
    return 0;
}

/* Nesting depth of brackets outside strings (an upper bound of the value's depth). */
static int max_depth(const char *s, size_t n)
{
    int d = 0, m = 0, in = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in = 0;
        } else if (c == '"') {
            in = 1;
        } else if (c == '{' || c == '[') {
            m = ++d > m ? d : m;
        } else if (c == '}' || c == ']') {
            d--;
        }
    }
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data, *e = s + size;
    int mine = jsonscan_valid(s, size);

    if (size < 4096 && !memchr(s, '\0', size) && utf8_valid(s, size) && !jsonc_lenient(s, size) && max_depth(s, size) < 32 &&
        mine != jsonc_valid(s, size))
        abort();

    struct jsonscan_obj o;
    if (jsonscan_obj_open(&o, s, e) == 0) {
        int r;
        while ((r = jsonscan_obj_next(&o)) == 1) {
            buf_t k;
            buf_init(&k, 1 << 16);
            if (jsonscan_unescape(o.key, o.key_len, &k) != 0 || k.len > o.key_len)
                abort();
            buf_free(&k);
            o.p = jsonscan_value(o.p, e, JSONSCAN_MAX_DEPTH - 1);
        }
        /* The walk accepts exactly the objects the skipper accepts. */
        const char *v = jsonscan_value(s, e, JSONSCAN_MAX_DEPTH);
        if ((r == 0) != (v != NULL))
            abort();
        if (r == 0 && o.p != v)
            abort();
    }
    return 0;
}
