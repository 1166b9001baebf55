/* admin: logship's plain-HTTP operations endpoint: /metrics, /healthz, /ready.
 *
 * /metrics renders the shared registry (engine, spool, sources, outputs) in
 * the Prometheus text format; /healthz answers 200 while the engine makes
 * progress and 503 with {"status":"stuck","reason":...} when it is stuck
 * (ls_pipeline_health: a restart may help); /ready answers 200 while the
 * engine runs normally (not shutting down, disk not full, no source
 * failing) and 503 otherwise.
 *
 * Probes cannot be starved: one thread serves every connection with
 * poll(2), so an idle or slow client holds no worker. A connection must
 * send its request head within 3 s and take its answer within 10 s; at most
 * 128 are open, and when full the one waiting longest for its head is
 * closed to admit a new one. Every answer closes its connection (no
 * keep-alive). Bind it to loopback or the pod's own address, never to the
 * world: it has no authentication. */
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
