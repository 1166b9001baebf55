/* clock: the two clocks the programs read. CLOCK_MONOTONIC measures intervals and deadlines (it never
 * jumps); CLOCK_REALTIME stamps events. Header-only so the hot paths keep one vDSO call. */
#ifndef COMMON_CLOCK_H
#define COMMON_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Monotonic nanoseconds (arbitrary origin). clock_gettime cannot fail for these clock ids. */
static inline int64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Monotonic milliseconds. */
static inline int64_t clock_mono_ms(void)
{
    return clock_mono_ns() / 1000000;
}

/* Nanoseconds since the Unix epoch (CLOCK_REALTIME). */
static inline int64_t clock_real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* An absolute CLOCK_MONOTONIC deadline ms milliseconds from now, for pthread_cond_timedwait on a
 * condition variable created with pthread_condattr_setclock(CLOCK_MONOTONIC). */
static inline struct timespec clock_mono_deadline(int64_t ms)
{
    int64_t t = clock_mono_ns() + ms * 1000000;
    struct timespec ts = {.tv_sec = (time_t)(t / 1000000000), .tv_nsec = (long)(t % 1000000000)};
    return ts;
}

/* An absolute CLOCK_REALTIME deadline ms milliseconds from now, for the waits that only take the
 * wall clock (pthread_timedjoin_np). */
static inline struct timespec clock_real_deadline(int64_t ms)
{
    int64_t t = clock_real_ns() + ms * 1000000;
    struct timespec ts = {.tv_sec = (time_t)(t / 1000000000), .tv_nsec = (long)(t % 1000000000)};
    return ts;
}

/* pthread_cond_init for a condition variable timed by clock_mono_deadline (CLOCK_MONOTONIC, so a
 * wall-clock step never stretches or cuts a wait). 0, or pthread_cond_init's error number. */
static inline int clock_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
    return rc;
}

#endif
