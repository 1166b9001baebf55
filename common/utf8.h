/* utf8: the one UTF-8 well-formedness rule of the tree (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF). The JSON writer, the line parser and the _bulk encoder all ask here. */
#ifndef COMMON_UTF8_H
#define COMMON_UTF8_H

#include <stddef.h>

#include "buf.h"

/* Length (1..4) of the well-formed sequence starting at p, with n >= 1 bytes available, or 0 when
 * the byte at p starts none (a stray continuation, an overlong or surrogate form, or a sequence cut
 * by the end). ASCII, NUL included, is 1. Inline: it sits on every encoder's per-byte path. */
static inline size_t utf8_seq_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    if (c < 0xC2 || c > 0xF4)
        return 0;
    if (c < 0xE0)
        return (n >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0xF0) {
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
        return (n >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80) ? 3 : 0;
    }
    if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    return (n >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80) ? 4 : 0;
}

/* 1 when s[0..n) is entirely well-formed UTF-8, else 0. */
int utf8_valid(const char *s, size_t n);

/* U+FFFD REPLACEMENT CHARACTER, UTF-8 encoded (3 bytes, no NUL). */
#define UTF8_REPL "\xEF\xBF\xBD"
#define UTF8_REPL_LEN 3

/* 1 when s[0..n) is well-formed UTF-8 without NUL bytes, else 0 (ASCII runs 8 bytes at a time:
 * the log line parser asks this of every line). */
int utf8_clean(const char *s, size_t n);

/* Append s[0..n) to out with every NUL or ill-formed byte replaced by U+FFFD and, when ctl, every
 * other control character (< 0x20, 0x7f) by ' '. 0 when all of s went in; -1 when out's cap (or
 * memory) stopped it, out then ending on a whole character. *consumed is the count of input bytes
 * whose output is in out either way. */
int utf8_repair(buf_t *out, const char *s, size_t n, int ctl, size_t *consumed);

/* Largest k <= lim such that s[0..k) ends on a character boundary of the well-formed UTF-8 string
 * s[0..len) (len when lim >= len). */
size_t utf8_floor(const char *s, size_t len, size_t lim);

#endif
