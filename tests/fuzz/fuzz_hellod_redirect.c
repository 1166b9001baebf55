/* fuzz_hellod_redirect: hostile Host headers, paths and queries never yield an unsafe Location. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "service/reqid.h"
#include "service/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input: host NUL path NUL query (missing parts are NULL). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 3);
    char *parts[3] = {NULL, NULL, NULL};
    size_t i, k = 0;
    buf_t b;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = copy[size + 1] = copy[size + 2] = '\0';
    parts[0] = copy;
    for (i = 0; i < size && k < 2; i++)
        if (copy[i] == '\0')
            parts[++k] = copy + i + 1;

    buf_init(&b, 8192);
    if (route_redirect_location(&b, parts[0], 8443, parts[1], parts[2]) == 0) {
        if (b.len < 9 || memcmp(b.p, "https://", 8) != 0)
            abort();
        for (i = 0; i < b.len; i++) {
            unsigned char c = (unsigned char)b.p[i];
            if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\')
                abort(); /* nothing a header or an HTML attribute could be broken with */
        }
    }
    buf_free(&b);

    if (reqid_valid(copy, strlen(copy))) {
        for (i = 0; copy[i] != '\0'; i++)
            if (copy[i] <= 0x20 || (unsigned char)copy[i] >= 0x7f || copy[i] == '"')
                abort();
    }
    (void)route_decide(size & 1, route_method(parts[1]), parts[0], (int)(size & 2));
    free(copy);
    return 0;
}
