/* reqid: the X-Request-Id rule (which incoming ids are echoed) and fast id generation. */
#ifndef HELLOD_REQID_H
#define HELLOD_REQID_H

#include <stddef.h>

/* Longest incoming id echoed back. */
#define REQID_MAX 128
/* Generated ids: 16 random bytes as 32 lower-case hex digits. */
#define REQID_GEN_LEN 32

/* The rule: an incoming X-Request-Id is echoed when it is 1..REQID_MAX bytes,
 * each one of A-Z a-z 0-9 and - _ . : + / = (UUIDs, hex, base64 and
 * "service:123" style ids pass; spaces, quotes, control bytes, non-ASCII and
 * anything longer do not, and get a fresh id instead). Returns 1 or 0.
 * s may be NULL (→ 0). Cannot fail. */
int reqid_valid(const char *s, size_t n);

/* Write a new id (REQID_GEN_LEN hex digits + NUL) to out. Uses a per-thread
 * xoshiro256** generator seeded from getrandom(2) on the thread's first
 * call (falling back to time, thread and address bits if getrandom fails),
 * so it takes no lock and makes no system call on the hot path. The ids
 * are unique with overwhelming probability, not secret. Cannot fail. */
void reqid_generate(char out[REQID_GEN_LEN + 1]);

#endif
