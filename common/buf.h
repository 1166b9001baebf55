/* buf: a growable byte buffer that carries its own size cap.
 *
 * Every buffer in hellod and logship that grows with input is a buf_t, so
 * "how big can this get" always has one answer: b->max. Appending past the
 * cap fails (and leaves the buffer unchanged) instead of growing without
 * bound; the caller decides whether that means truncate, drop or reject. */
#ifndef COMMON_BUF_H
#define COMMON_BUF_H

#include <stddef.h>
#include <stdarg.h>

#define BUF_WARN_UNUSED __attribute__((warn_unused_result))

typedef struct buf {
    char  *p;    /* data, always NUL-terminated when p != NULL */
    size_t len;  /* bytes used, excluding the NUL */
    size_t cap;  /* bytes allocated */
    size_t max;  /* hard cap on len; 0 means SIZE_MAX/2 */
} buf_t;

/* Initialise an empty buffer that may hold at most max bytes. Never fails
 * (allocation is deferred to the first append). */
void buf_init(buf_t *b, size_t max);

/* Append n bytes. Returns 0, or -1 when the cap would be exceeded or memory
 * is exhausted; on -1 the buffer is unchanged. */
int buf_add(buf_t *b, const void *data, size_t n) BUF_WARN_UNUSED;
int buf_addc(buf_t *b, char c) BUF_WARN_UNUSED;
int buf_adds(buf_t *b, const char *s) BUF_WARN_UNUSED;
int buf_printf(buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3))) BUF_WARN_UNUSED;
int buf_vprintf(buf_t *b, const char *fmt, va_list ap) BUF_WARN_UNUSED;

/* Make sure at least n more bytes fit without reallocating. 0 or -1. */
int buf_reserve(buf_t *b, size_t n) BUF_WARN_UNUSED;

/* Drop the contents but keep the allocation. */
void buf_reset(buf_t *b);
/* Shorten to len bytes (len <= b->len). */
void buf_truncate(buf_t *b, size_t len);
/* Release memory; the buffer can be reused after buf_init. */
void buf_free(buf_t *b);
/* Hand the allocation to the caller (who frees it); the buffer becomes empty.
 * Returns NULL when nothing was ever appended. */
char *buf_steal(buf_t *b, size_t *len);

#endif
