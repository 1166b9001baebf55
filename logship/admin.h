/* admin: logship's plain-HTTP operations endpoint (civetweb): /metrics, /healthz, /ready.
 *
 * /metrics renders the shared registry (engine, spool, sources, outputs) in
 * the Prometheus text format; /healthz answers 200 while the engine makes
 * progress and 503 with {"status":"stuck","reason":...} when it is stuck
 * (ls_pipeline_health: a restart may help); /ready answers 200 while the
 * engine runs normally (not shutting down, disk not full, no source
 * failing) and 503 otherwise.
 *
 * Probes must not be starved by idle or slow connections: civetweb serves
 * one connection per worker thread, so there are ADMIN_THREADS (64) workers
 * and a connection that does not finish its request within 3 s (or stays
 * idle after one for 3 s) is closed. 20 idle plus 5 trickling connections
 * leave a /healthz probe answered at once (tests/integration/logship/
 * test_engine_bad_day.py). Bind it to loopback or the pod's own address,
 * never to the world: it has no authentication. */
#ifndef LOGSHIP_ADMIN_H
#define LOGSHIP_ADMIN_H

#include "metrics.h"

struct ls_admin;

/* Listen on addr ("HOST:PORT", port 0 picks a free one). ready(ctx) is
 * called per /ready request, health(ctx, why, n) (may be NULL: always
 * healthy) per /healthz: 1 healthy, 0 stuck with a reason in why. Returns
 * NULL with a one-line message in err. */
struct ls_admin *ls_admin_start(const char *addr, metrics_registry *reg,
                                int (*ready)(void *ctx), int (*health)(void *ctx, char *why, size_t n),
                                void *ctx, char *err, size_t errlen);

/* The bound port (useful with port 0). */
int ls_admin_port(const struct ls_admin *a);

/* Stop serving and free. NULL-safe. */
void ls_admin_stop(struct ls_admin *a);

#endif
