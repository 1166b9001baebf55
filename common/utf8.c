/* utf8: whole-string validation on top of utf8_seq_len (utf8.h). */
#include "utf8.h"

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
