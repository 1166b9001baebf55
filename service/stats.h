/* stats: hellod's Prometheus metrics (families, lock-free hot-path updates, rendering). */
#ifndef HELLOD_STATS_H
#define HELLOD_STATS_H

#include <time.h>
#include "buf.h"
#include "service/route.h"

/* Create the registry and every family: hellod_http_requests_total
 * {method,route,status}, hellod_http_request_duration_seconds{route},
 * hellod_http_requests_in_flight, hellod_tls_handshake_failures_total,
 * hellod_tls_certificate_reloads_total{result},
 * hellod_tls_certificate_expiry_timestamp_seconds,
 * hellod_log_write_errors_total, process_start_time_seconds and
 * hellod_build_info{version}. Returns 0, or -1 on OOM. */
int stats_init(const char *version);

/* Record one finished request. Known (route, method, status) combinations
 * are cached, so the hot path is a few atomic adds without a lock. */
void stats_request(enum route_id route, enum method_id method, int status, double seconds);

/* In-flight gauge: +1 when a request starts, -1 when it ends. */
void stats_inflight(int delta);

void stats_cert_reload(int ok);

/* Render the text exposition into b (appending). Values that live
 * elsewhere (handshake failures, log write errors, certificate expiry) are
 * refreshed first. Returns 0, or -1 when b's cap is reached. */
int stats_render(buf_t *b);

void stats_free(void);

#endif
