/* timefmt: RFC 3339 timestamps, the one time format in our logs.
 *
 * Log lines carry UTC with microseconds ("2026-11-28T02:03:04.123456Z").
 * logship reads timestamps back from lines, with any fraction up to
 * nanoseconds and any numeric offset, so parsing is strict but complete. */
#ifndef COMMON_TIMEFMT_H
#define COMMON_TIMEFMT_H

#include <stdint.h>
#include <stddef.h>
#include <time.h>

#define TIMEFMT_RFC3339_US_LEN 27 /* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" */
#define TIMEFMT_RFC3339_S_LEN 20  /* "YYYY-MM-DDTHH:MM:SSZ" */
#define TIMEFMT_RFC3339_NS_LEN 30 /* "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" */

/* Write ts as RFC 3339 UTC with microseconds into out (at least 28 bytes,
 * NUL-terminated). Returns the length (27). Cannot fail for years 0..9999. */
size_t timefmt_rfc3339_us(char *out, const struct timespec *ts);

/* Write sec (seconds since the epoch) as RFC 3339 UTC without a fraction ("YYYY-MM-DDTHH:MM:SSZ")
 * into out (at least 21 bytes, NUL-terminated): certificate expiry dates. Returns the length (20).
 * Years outside 0..9999 are clamped to them. */
size_t timefmt_rfc3339_s(char *out, int64_t sec);

/* Write ts_ns (ns since the epoch) as RFC 3339 UTC with nanoseconds into out
 * (at least 31 bytes, NUL-terminated): what Elasticsearch documents carry as
 * @timestamp. Returns the length (30). Cannot fail: times outside years
 * 0..9999 are clamped to 0000-01-01T00:00:00.000000000Z or
 * 9999-12-31T23:59:59.999999999Z. Caches the seconds per thread. */
size_t timefmt_rfc3339_ns(char *out, int64_t ts_ns);

/* Write ".uuuuuuZ" and a NUL at out[19..27]: the part of a timestamp that
 * changes every microsecond, for callers that cache the seconds (log.c). */
void timefmt_put_us_z(char *out, unsigned us);

/* Parse an RFC 3339 date-time ("T" or " " or "t" separator, fraction of
 * 0..9 digits, "Z"/"z" or ±HH:MM) into ns since the epoch. Returns 0, or -1
 * on anything malformed or out of range (leaving *ns untouched). */
int timefmt_parse_rfc3339(const char *s, size_t n, int64_t *ns);

#endif
