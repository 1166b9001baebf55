/* jsonw: JSON text writer over buf_t.
 *
 * Log lines are built from untrusted bytes (paths, User-Agents, whole log
 * lines), so the one rule here is: whatever the input, the output is valid
 * JSON in valid UTF-8. Control characters, quotes and backslashes are
 * escaped; bytes that are not well-formed UTF-8 (overlongs, surrogates,
 * truncated sequences, > U+10FFFF) each become U+FFFD, as Go and Rust do.
 * NUL bytes are written as \u0000. */
#ifndef COMMON_JSONW_H
#define COMMON_JSONW_H

#include <stdint.h>
#include <stddef.h>
#include "buf.h"

/* Append s[0..n) as a quoted JSON string. 0 or -1 (buffer cap/OOM). */
int jsonw_str(buf_t *b, const char *s, size_t n) BUF_WARN_UNUSED;

/* Append s[0..n) as a quoted JSON string taking at most room output bytes
 * (quotes included): the input is cut at a character/escape boundary when
 * the whole does not fit, and *cut is set to 1 then (else 0). Returns 0, or
 * -1 (buffer unchanged) when room < 2 or on buffer cap/OOM. */
int jsonw_str_capped(buf_t *b, const char *s, size_t n, size_t room, int *cut) BUF_WARN_UNUSED;

/* Object helpers. They write a leading comma unless the previous byte in the
 * buffer is '{', so a sequence of jsonw_kv_* calls after '{' just works. */
int jsonw_kv_str(buf_t *b, const char *key, const char *val) BUF_WARN_UNUSED;   /* val NULL → null */
int jsonw_kv_strn(buf_t *b, const char *key, const char *val, size_t n) BUF_WARN_UNUSED;
int jsonw_kv_int(buf_t *b, const char *key, int64_t val) BUF_WARN_UNUSED;
int jsonw_kv_uint(buf_t *b, const char *key, uint64_t val) BUF_WARN_UNUSED;
int jsonw_kv_double(buf_t *b, const char *key, double val, int decimals) BUF_WARN_UNUSED; /* non-finite → null */
int jsonw_kv_bool(buf_t *b, const char *key, int val) BUF_WARN_UNUSED;
/* Append raw, already-valid JSON as the value. */
int jsonw_kv_raw(buf_t *b, const char *key, const char *json, size_t n) BUF_WARN_UNUSED;

#endif
