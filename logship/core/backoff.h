/* backoff: exponential retry delays with full jitter, owned by the engine so outputs never sleep.
 *
 * The n-th consecutive failure waits a uniformly random time in
 * [0, min(max, base * 2^n)] ("full jitter", as in the AWS architecture
 * blog), so many shippers retrying against one recovering backend spread
 * out instead of arriving in waves. A server's Retry-After is honoured as a
 * lower bound (capped at max). The random source is injectable for tests. */
#ifndef LOGSHIP_BACKOFF_H
#define LOGSHIP_BACKOFF_H

#include <stdint.h>

/* Returns a uniformly distributed 64-bit value. */
typedef uint64_t (*ls_backoff_rng)(void *ctx);

struct ls_backoff {
    int64_t  base_ms;     /* first ceiling, e.g. 500 */
    int64_t  max_ms;      /* cap, e.g. 300000 */
    unsigned attempt;     /* consecutive failures so far */
    ls_backoff_rng rng;   /* NULL: an internal xorshift seeded from the clock */
    void    *rng_ctx;
    uint64_t state;       /* internal RNG state */
};

/* Initialise. Cannot fail. */
void ls_backoff_init(struct ls_backoff *b, int64_t base_ms, int64_t max_ms,
                     ls_backoff_rng rng, void *rng_ctx);

/* The delay before the next try after one more failure, in ms, and count
 * the failure. retry_after_ms < 0 means none was given. Always within
 * [0, max_ms], and >= min(retry_after_ms, max_ms) when one was given. */
int64_t ls_backoff_next(struct ls_backoff *b, int64_t retry_after_ms);

/* The current ceiling (what the next failure's jitter is drawn below). */
int64_t ls_backoff_ceiling(const struct ls_backoff *b);

/* A success: start again from base. */
void ls_backoff_reset(struct ls_backoff *b);

#endif
