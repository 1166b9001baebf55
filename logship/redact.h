/* redact: URLs made safe to print, because a URL may carry credentials
 * (https://user:pass@host) and every log line, error message and metric
 * label that shows a URL must show it without them. */
#ifndef LOGSHIP_REDACT_H
#define LOGSHIP_REDACT_H

#include <stddef.h>

/* Write url to out (at most n bytes, NUL included, cut if longer) with the
 * user information of its authority replaced: "https://user:pass@host/p" →
 * "https://REDACTED@host/p". A URL without "user@" is copied unchanged.
 * Returns out, so it can be used inside a printf argument list. Pure; never
 * fails (n must be > 0). */
const char *ls_redact_url(const char *url, char *out, size_t n);

#endif
