/* hash: FNV-1a, the one non-cryptographic hash of the tree (fingerprints of file heads, label sets,
 * metric series, connection-table buckets). Header-only: callers hash a few bytes on hot paths. */
#ifndef COMMON_HASH_H
#define COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV64_INIT 1469598103934665603ULL
#define HASH_FNV32_INIT 2166136261u

/* Fold p[0..n) into a running 64-bit FNV-1a value h (start from HASH_FNV64_INIT). Cannot fail. */
static inline uint64_t hash_fnv1a64_add(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 1099511628211ULL;
    return h;
}

/* 64-bit FNV-1a of p[0..n). */
static inline uint64_t hash_fnv1a64(const void *p, size_t n)
{
    return hash_fnv1a64_add(HASH_FNV64_INIT, p, n);
}

/* 32-bit FNV-1a of p[0..n). */
static inline uint32_t hash_fnv1a32(const void *p, size_t n)
{
    const unsigned char *c = p;
    uint32_t h = HASH_FNV32_INIT;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 16777619u;
    return h;
}

#endif
