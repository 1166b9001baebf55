/* reqid: validates incoming request ids and generates new ones from a per-thread PRNG. */
#include "service/reqid.h"

#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <pthread.h>

#include "clock.h"
#include "hash.h"

int reqid_valid(const char *s, size_t n)
{
    if (!s || n == 0 || n > REQID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (c == '-' || c == '_' || c == '.' || c == ':' || c == '+' || c == '/' || c == '=')
            continue;
        return 0;
    }
    return 1;
}

struct rng {
    uint64_t s[4];
    int seeded;
};

static __thread struct rng tl_rng;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static void seed(struct rng *r)
{
    ssize_t got = getrandom(r->s, sizeof(r->s), GRND_NONBLOCK);

    if (got != (ssize_t)sizeof(r->s)) {
        uint64_t x = (uint64_t)clock_real_ns();
        x ^= (uint64_t)(uintptr_t)r ^ ((uint64_t)pthread_self() << 1);
        for (int i = 0; i < 4; i++)
            r->s[i] = hash_splitmix64(&x);
    }
    if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0)
        r->s[0] = 1; /* xoshiro's one forbidden state */
    r->seeded = 1;
}

/* xoshiro256** (Blackman and Vigna, public domain reference algorithm) */
static uint64_t next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

void reqid_generate(char out[REQID_GEN_LEN + 1])
{
    struct rng *r = &tl_rng;
    if (!r->seeded)
        seed(r);
    uint64_t w0 = next(r);
    uint64_t w1 = next(r);
    hash_hex64(w0, out);
    hash_hex64(w1, out + 16);
    out[REQID_GEN_LEN] = '\0';
}
