/* array: capacity doubling with overflow checks, the one copy of the grow-by-realloc loop. */
#include "array.h"

#include <stdint.h>
#include <stdlib.h>

int array_grow(void **p, size_t *cap, size_t need, size_t elem, size_t max)
{
    if (*cap >= need)
        return 0;
    size_t lim = SIZE_MAX / (elem ? elem : 1);
    if (max && max < lim)
        lim = max;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2)
            return -1;
        nc *= 2;
    }
    if (nc > lim)
        return -1;
    void *np = realloc(*p, nc * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = nc;
    return 0;
}
