/* utf8: whole-string checks on top of utf8_seq_len (utf8.h): validation, the clean-line test, repair
 * to U+FFFD and cutting on a character boundary. */
#include "utf8.h"

#include <stdint.h>
#include <string.h>

int utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t l = utf8_seq_len(p + i, n - i);
        if (l == 0)
            return 0;
        i += l;
    }
    return 1;
}

int utf8_clean(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            /* all ASCII and no zero byte: skip 8 at once */
            if ((w & 0x8080808080808080ull) == 0 &&
                ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull) == 0) {
                i += 8;
                continue;
            }
        }
        if (p[i] == 0)
            return 0;
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq_len(p + i, n - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

/* End of the run of bytes from i on that utf8_repair copies unchanged. */
static size_t clean_run(const unsigned char *p, size_t i, size_t n, int ctl)
{
    while (i < n) {
        if (p[i] >= 0x20 && p[i] < 0x7f) {
            i++;
            continue;
        }
        if (p[i] == 0 || (ctl && (p[i] < 0x20 || p[i] == 0x7f)))
            break;
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq_len(p + i, n - i);
        if (k == 0)
            break;
        i += k;
    }
    return i;
}

int utf8_repair(buf_t *out, const char *s, size_t n, int ctl, size_t *consumed)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    *consumed = 0;
    while (i < n) {
        size_t run = clean_run(p, i, n, ctl);
        if (run > i && buf_add(out, s + i, run - i) != 0) {
            /* does not fit: keep what fits, on a character boundary */
            size_t room = out->max > out->len ? out->max - out->len : 0;
            if (room == 0 || room >= run - i)
                return -1;
            size_t k = i + room;
            while (k > i && (p[k] & 0xC0) == 0x80)
                k--;
            if (k > i && buf_add(out, s + i, k - i) != 0)
                return -1;
            *consumed = k;
            return -1;
        }
        i = run;
        *consumed = i;
        if (i >= n)
            break;
        if (p[i] != 0 && p[i] < 0x80) { /* a control character, ctl mode */
            if (buf_addc(out, ' ') != 0)
                return -1;
        } else if (buf_add(out, UTF8_REPL, UTF8_REPL_LEN) != 0) {
            return -1;
        }
        i++;
        *consumed = i;
    }
    return 0;
}

size_t utf8_floor(const char *s, size_t len, size_t lim)
{
    size_t k = lim < len ? lim : len;
    while (k > 0 && k < len && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    return k;
}
