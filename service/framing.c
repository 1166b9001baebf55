/* framing: strict request-framing checks on the head civetweb parsed, so no request-smuggling shape is served.
 *
 * civetweb 1.15 is lenient where a front proxy may read the same bytes
 * differently: the first of two Content-Lengths wins, "Transfer-Encoding :"
 * counts, a folded line or the 65th field ends parsing silently (hiding
 * every later field), and Content-Length beside Transfer-Encoding is kept.
 * Each of those lets a proxy and hellod disagree on where a request ends.
 * hellod answers all of them 400 with Connection: close instead. */
#include "service/framing.h"

#include <string.h>
#include <strings.h>

#include "civetweb.h"

/* Set when civetweb's head scanner met a byte it refuses, so the caller
 * can tell that 400 from a head too large (civetweb reports both, and a
 * timeout, as "Malformed message"). Per worker thread. */
static _Thread_local int tl_bad_byte;

int hellod_isprint(int c)
{
    if (c == '\t' || (c >= 0x20 && c < 0x7f))
        return 1;
    tl_bad_byte = 1;
    return 0;
}

int framing_take_bad_byte(void)
{
    int v = tl_bad_byte;

    tl_bad_byte = 0;
    return v;
}

static int all_digits(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* Content-Length values equal as numbers ("007" and "7" frame alike). */
static int same_number(const char *a, const char *b)
{
    while (*a == '0' && a[1] != '\0')
        a++;
    while (*b == '0' && b[1] != '\0')
        b++;
    return strcmp(a, b) == 0;
}

const char *framing_check_fields(const struct framing_field *f, int n)
{
    const char *cl = NULL;
    int te = 0;
    for (int i = 0; i < n; i++) {
        if (!f[i].name || !f[i].value)
            continue;
        if (strcasecmp(f[i].name, "Content-Length") == 0) {
            if (!all_digits(f[i].value))
                return "invalid Content-Length";
            if (cl && !same_number(cl, f[i].value))
                return "conflicting Content-Length headers";
            cl = f[i].value;
        } else if (strcasecmp(f[i].name, "Transfer-Encoding") == 0) {
            if (te++ > 0)
                return "repeated Transfer-Encoding header";
            if (strcasecmp(f[i].value, "chunked") != 0)
                return "unsupported Transfer-Encoding";
        }
    }
    if (cl && te > 0)
        return "Content-Length together with Transfer-Encoding";
    return NULL;
}

/* The number of NUL bytes from p up to (not including) end. */
static size_t nuls(const char *p, const char *end)
{
    size_t k = 0;

    for (; p < end; p++)
        if (*p == '\0')
            k++;
    return k;
}

/* How civetweb leaves its buffer (parse_http_request, parse_http_headers):
 * the request line's CRLF is zeroed (with any whitespace after it), every
 * field's name is cut at the colon (spaces before the colon zeroed too),
 * its value starts after the colon's spaces and tabs, and its CR and LF are
 * zeroed; the head's last byte (the final LF) is zeroed. So, on a head with
 * CRLF line endings:
 *  - between a name's end and its value: exactly one NUL (the colon), or
 *    whitespace stood before the colon;
 *  - between a line's end and the next name: exactly two NULs (CR, LF);
 *    one means a bare LF, more means whitespace opened the line (obs-fold
 *    at the first field);
 *  - after the last value's CR LF: the CR of the empty line; anything else
 *    is a line civetweb did not parse (obs-fold, or a field past
 *    MG_MAX_HEADERS). */
const char *framing_check(const struct mg_request_info *ri, size_t head_cap)
{
    if (!ri || !ri->request_method || !ri->http_version)
        return NULL;
    int n = ri->num_headers;
    if (n <= 0)
        return NULL;
    if (n > MG_MAX_HEADERS)
        n = MG_MAX_HEADERS;
    struct framing_field f[MG_MAX_HEADERS];
    for (int i = 0; i < n; i++) {
        f[i].name = ri->http_headers[i].name;
        f[i].value = ri->http_headers[i].value;
    }
    const char *why = framing_check_fields(f, n);
    if (why)
        return why;

    const char *base = ri->request_method;
    const char *end = ri->http_version + strlen(ri->http_version);
    if (nuls(end, f[0].name) != 2)
        return "malformed line ending or whitespace before the first header";
    for (int i = 0; i < n; i++) {
        const char *name_end = f[i].name + strlen(f[i].name);
        const char *val_end = f[i].value + strlen(f[i].value);

        if (nuls(name_end, f[i].value) != 1)
            return "whitespace between header name and colon";
        if (i + 1 < n) {
            if (nuls(val_end, f[i + 1].name) != 2 || f[i + 1].name != val_end + 2)
                return "bare LF line ending or obs-fold";
            continue;
        }
        /* the last field: CR LF, then the empty line's CR */
        if (val_end[1] != '\0')
            return "bare LF line ending";
        /* val_end[1] may be the head's last byte (a bare LF ending right
         * after the last field); reading val_end[2] is then one past the
         * head, so only do it while it is inside the buffer. */
        if ((size_t)(val_end + 2 - base) >= head_cap)
            return "request head too large";
        if (val_end[2] != '\r')
            return n >= MG_MAX_HEADERS ? "too many header fields"
                                       : "obs-fold or unparsed header line";
    }
    return NULL;
}
