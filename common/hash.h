/* hash: FNV-1a, the one non-cryptographic hash of the tree (fingerprints of file heads, label sets,
 * metric series, connection-table buckets), with splitmix64's mixer and a hex encoder for the ids
 * built from them. Header-only: callers hash a few bytes on hot paths. */
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

/* splitmix64's finaliser (Stafford's mix 13): every input bit flips each output bit with
 * probability ~1/2. Cannot fail. */
static inline uint64_t hash_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* One step of the splitmix64 generator: advance *state and return the next value (spreads a
 * weak seed over a larger state). Cannot fail. */
static inline uint64_t hash_splitmix64(uint64_t *state)
{
    return hash_mix64(*state += 0x9e3779b97f4a7c15ULL);
}

/* Write v as 16 lowercase hex digits, most significant first, to out[0..16) (no NUL). */
static inline void hash_hex64(uint64_t v, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++)
        out[i] = digits[(v >> (60 - 4 * i)) & 15];
}

#endif
