/* fuzz_logship_admin_http: the admin endpoint's request-head parser on hostile bytes.
 *
 * The input is copied to an exact-size allocation so ASan catches any read
 * past its end. Invariants: the result is -1, 0 or 1; a complete head has a
 * length within the input, known method and path values, and parses the same
 * when given only its own bytes; a head that needs more bytes never exceeds
 * LS_ADMIN_HEAD_MAX (the server answers 400 beyond). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "logship/admin_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    if (!p)
        return 0;
    memcpy(p, data, size);
    struct ls_admin_req rq, again;
    memset(&rq, 0, sizeof(rq));
    int k = ls_admin_parse(p, size, &rq);
    if (k < -1 || k > 1)
        abort();
    if (k == 0 && size >= LS_ADMIN_HEAD_MAX)
        abort();
    if (k == 1) {
        if (rq.head_len == 0 || rq.head_len > size)
            abort();
        if (rq.method > LS_ADMIN_OTHER || rq.path > LS_ADMIN_UNKNOWN)
            abort();
        memset(&again, 0, sizeof(again));
        if (ls_admin_parse(p, rq.head_len, &again) != 1 || again.method != rq.method ||
            again.path != rq.path || again.head_len != rq.head_len)
            abort();
    }
    free(p);
    return 0;
}
