/* array: the one growth rule for the tree's realloc'd arrays (capacity doubles from 16), with the
 * element-count and byte-size overflow checks in one place instead of in every caller. */
#ifndef COMMON_ARRAY_H
#define COMMON_ARRAY_H

#include <stddef.h>

/* Make the array *p (capacity *cap elements of elem bytes) hold at least need elements: the
 * capacity doubles, from 16 when 0, until it does, and *p is realloc'd to it. 0 (also when *cap
 * already sufficed), or -1 with *p and *cap unchanged when memory ran out or the new capacity
 * would exceed max elements (0: no limit of its own) or SIZE_MAX bytes. Arrays that share one
 * capacity grow each with a copy of it and store it once all succeeded. */
int array_grow(void **p, size_t *cap, size_t need, size_t elem, size_t max);

#endif
