/* backoff: exponential delays with full jitter and Retry-After (see backoff.h). */
#include "logship/core/backoff.h"
#include "clock.h"

#include <time.h>

static uint64_t xorshift(void *ctx)
{
    uint64_t *s = ctx;
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

void ls_backoff_init(struct ls_backoff *b, int64_t base_ms, int64_t max_ms,
                     ls_backoff_rng rng, void *rng_ctx)
{
    b->base_ms = base_ms > 0 ? base_ms : 1;
    b->max_ms = max_ms >= b->base_ms ? max_ms : b->base_ms;
    b->attempt = 0;
    int64_t t = clock_mono_ns();
    b->state = ((uint64_t)(t % 1000000000) << 20) ^ (uint64_t)(t / 1000000000) ^ (uint64_t)(uintptr_t)b;
    if (b->state == 0)
        b->state = 0x9e3779b97f4a7c15ull;
    if (rng) {
        b->rng = rng;
        b->rng_ctx = rng_ctx;
    } else {
        b->rng = xorshift;
        b->rng_ctx = &b->state;
    }
}

int64_t ls_backoff_ceiling(const struct ls_backoff *b)
{
    int64_t c = b->base_ms;
    for (unsigned i = 0; i < b->attempt && c < b->max_ms; i++)
        c *= 2;
    return c < b->max_ms ? c : b->max_ms;
}

int64_t ls_backoff_next(struct ls_backoff *b, int64_t retry_after_ms)
{
    int64_t ceil = ls_backoff_ceiling(b);
    int64_t d = (int64_t)(b->rng(b->rng_ctx) % (uint64_t)(ceil + 1));
    if (b->attempt < 64)
        b->attempt++;
    if (retry_after_ms >= 0) {
        int64_t ra = retry_after_ms < b->max_ms ? retry_after_ms : b->max_ms;
        if (d < ra)
            d = ra;
    }
    return d;
}

void ls_backoff_reset(struct ls_backoff *b)
{
    b->attempt = 0;
}
