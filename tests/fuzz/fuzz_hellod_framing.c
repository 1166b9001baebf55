/* fuzz_hellod_framing: any header fields give a verdict, and an accepted set frames one way only. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "service/framing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXF 80

/* Input: name NUL value NUL name NUL value ... (a missing value is ""). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct framing_field f[MAXF];
    char *copy = malloc(size + 2);
    const char *cl = NULL;
    size_t i, start = 0;
    int n = 0, te = 0, k;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = copy[size + 1] = '\0';
    for (i = 0; i <= size && n < MAXF; i++) {
        if (copy[i] != '\0')
            continue;
        f[n].name = copy + start;
        start = i + 1;
        for (i = start; i < size && copy[i] != '\0'; i++)
            ;
        f[n].value = start <= size ? copy + start : "";
        start = i + 1;
        n++;
    }
    if (framing_check_fields(f, n) == NULL) {
        /* accepted: Content-Length values all digits and equal as numbers,
         * at most one Transfer-Encoding, exactly chunked, never both */
        for (k = 0; k < n; k++) {
            if (strcasecmp(f[k].name, "Content-Length") == 0) {
                const char *a = f[k].value, *b;
                if (*a == '\0' || strspn(a, "0123456789") != strlen(a))
                    abort();
                if (cl != NULL) {
                    b = cl;
                    while (*a == '0' && a[1])
                        a++;
                    while (*b == '0' && b[1])
                        b++;
                    if (strcmp(a, b) != 0)
                        abort();
                }
                cl = f[k].value;
            } else if (strcasecmp(f[k].name, "Transfer-Encoding") == 0) {
                if (te++ > 0 || strcasecmp(f[k].value, "chunked") != 0)
                    abort();
            }
        }
        if (cl != NULL && te > 0)
            abort();
    }
    (void)hellod_isprint(size > 0 ? data[0] : 0);
    free(copy);
    return 0;
}
