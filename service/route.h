/* route: the pure request → (route, status) decisions and the HTTPS redirect target. */
#ifndef HELLOD_ROUTE_H
#define HELLOD_ROUTE_H

#include <stddef.h>
#include "buf.h"

/* Route templates: the only values of the "route" metric label, so raw
 * paths never become label values. */
enum route_id {
    ROUTE_HELLO = 0,   /* /helloworld */
    ROUTE_HEALTHZ,     /* /healthz */
    ROUTE_READYZ,      /* /readyz */
    ROUTE_METRICS,     /* /metrics */
    ROUTE_NOT_FOUND,   /* any other path */
    ROUTE_REDIRECT,    /* anything on the plain-HTTP port */
    ROUTE_INVALID,     /* rejected before routing (bad request line, huge head, ...) */
    ROUTE_SERVER,      /* targets that name no path here: "OPTIONS *", absolute-form for another server */
    ROUTE__COUNT
};

/* Request methods, again a closed set for the "method" label. */
enum method_id {
    METHOD_GET = 0, METHOD_HEAD, METHOD_POST, METHOD_PUT, METHOD_DELETE, METHOD_PATCH,
    METHOD_OPTIONS, METHOD_TRACE, METHOD_CONNECT, METHOD_OTHER,
    METHOD__COUNT
};

/* What every known route allows. */
#define ROUTE_ALLOW "GET, HEAD"

/* Label text for a route or method ("helloworld", "not_found", "GET",
 * "other", ...). Never NULL; cannot fail. */
const char *route_name(enum route_id r);
const char *route_method_name(enum method_id m);

/* Classify a method token (case-sensitive, as HTTP methods are). NULL →
 * METHOD_OTHER. */
enum method_id route_method(const char *method);

/* Map a path (without the query string) to its route: exact matches of the
 * four templates, anything else ROUTE_NOT_FOUND. NULL → ROUTE_NOT_FOUND. */
enum route_id route_match(const char *path);

struct route_decision {
    enum route_id route;
    int status;      /* 200, 301, 308, 404, 405, 503 */
};

/* Decide a request's route and status:
 *  - on the plain port (is_tls 0) everything redirects: 301 for GET/HEAD,
 *    308 (which keeps the method and body) for the rest;
 *  - unknown path → 404 (whatever the method);
 *  - known path, method other than GET/HEAD → 405 (send Allow: ROUTE_ALLOW);
 *  - /readyz while not ready → 503;
 *  - otherwise 200.
 * Pure; cannot fail. */
struct route_decision route_decide(int is_tls, enum method_id method, const char *path, int ready);

/* Build the redirect target "https://HOST[:PORT]PATH[?QUERY]" into out
 * (appending). host is the request's Host header: its port, if any, is
 * dropped and tls_port used instead (omitted when 443). The host must be a
 * DNS name or IPv4 literal (letters, digits, '.', '-'; at most 253 bytes) or
 * a bracketed IPv6 literal; anything else (missing, empty, spaces, '@',
 * control bytes, bad port) returns -1 so the caller answers 400 and no
 * attacker-chosen text reaches the Location header. path (NULL or not
 * starting with '/' → "/") and query (NULL → none) are copied with every
 * byte outside RFC 3986's path/query characters percent-encoded, and a '%'
 * not followed by two hex digits becomes %25. Returns 0, or -1 (bad host,
 * or out's cap reached). */
int route_redirect_location(buf_t *out, const char *host, int tls_port,
                            const char *path, const char *query);

#endif
