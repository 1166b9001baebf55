/* fuzz_logship_labels: any bytes as label values survive build → parse unchanged, and the parser
 * never fails or overruns on arbitrary input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "logship/core/labels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct check {
    const char *want;
    size_t want_len, pairs;
};

static int check_pair(void *ctx, const char *name, size_t nlen, const char *val, size_t vlen)
{
    struct check *c = ctx;
    if (nlen != 1 || name[0] != 'a' + (int)c->pairs % 26 || vlen != c->want_len ||
        (vlen && memcmp(val, c->want, vlen) != 0))
        abort();
    c->pairs++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    buf_t s, esc, scratch;
    buf_init(&s, 0);
    buf_init(&esc, 0);
    buf_init(&scratch, 0);
    /* Arbitrary input: the parser only says yes or no. */
    (void)ls_labels_each((const char *)data, size, &scratch, NULL, NULL);
    /* The input as a value of three pairs: parsed back byte for byte. */
    if (ls_labels_escape(&esc, (const char *)data, size) != 0 || buf_addc(&s, '{') != 0)
        abort();
    for (int i = 0; i < 3; i++) {
        char name = (char)('a' + i);
        if (ls_labels_add_escaped(&s, &name, 1, esc.p ? esc.p : "", esc.len) != 0)
            abort();
    }
    if (buf_addc(&s, '}') != 0)
        abort();
    struct check c = {(const char *)data, size, 0};
    if (ls_labels_each(s.p, s.len, &scratch, check_pair, &c) != 0 || c.pairs != 3)
        abort();
    buf_free(&s);
    buf_free(&esc);
    buf_free(&scratch);
    return 0;
}
