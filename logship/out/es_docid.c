/* es_docid: the deterministic _id of an Elasticsearch document, so that a replayed record yields a 409, not a
 * duplicate (see es_bulk.h). */
#include "logship/out/es_bulk.h"

#include <stdio.h>
#include <string.h>

#include "hash.h"

/* Two unrelated 64-bit hashes of the same bytes: FNV-1a, and a word-at-a-time
 * multiply/rotate hash with another seed; each finalised with mix64 and the
 * length, so the 128-bit pair behaves like a random function of the input. */
static void hash128(const unsigned char *p, size_t n, uint64_t *a, uint64_t *b)
{
    uint64_t h1 = hash_fnv1a64(p, n), h2 = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h2 ^= hash_mix64(w + 0x632be59bd9b4e019ULL);
        h2 = (h2 << 27 | h2 >> 37) * 0x9fb21c651e98df25ULL;
    }
    uint64_t last = 0;
    for (size_t k = 0; i + k < n; k++)
        last |= (uint64_t)p[i + k] << (8 * k);
    h2 ^= hash_mix64(last ^ 0xd6e8feb86659fd93ULL);
    *a = hash_mix64(h1 ^ (uint64_t)n);
    *b = hash_mix64(h2);
}

void ls_es_docid(const struct ls_record *rec, char out[ES_BULK_ID_LEN + 1])
{
    char tmp[32];
    uint64_t h[2];
    if (rec->origin && rec->origin_len > 0) {
        hash128((const unsigned char *)rec->origin, rec->origin_len, &h[0], &h[1]);
    } else {
        int n = snprintf(tmp, sizeof(tmp), "seq:%llu", (unsigned long long)rec->seq);
        hash128((const unsigned char *)tmp, (size_t)n, &h[0], &h[1]);
    }
    hash_hex64(h[0], out);
    hash_hex64(h[1], out + 16);
    out[ES_BULK_ID_LEN] = '\0';
}
