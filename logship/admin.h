/* admin: logship's plain-HTTP operations endpoint (civetweb): /metrics, /healthz, /ready.
 *
 * /metrics renders the shared registry (engine, spool, sources, outputs) in
 * the Prometheus text format; /healthz answers 200 while the process runs;
 * /ready answers 200 while the engine runs normally (spool open, output
 * threads started, not shutting down) and 503 otherwise. */
#ifndef LOGSHIP_ADMIN_H
#define LOGSHIP_ADMIN_H

#include "metrics.h"

struct ls_admin;

/* Listen on addr ("HOST:PORT", port 0 picks a free one). ready(ctx) is
 * called per /ready request. Returns NULL with a one-line message in err. */
struct ls_admin *ls_admin_start(const char *addr, metrics_registry *reg,
                                int (*ready)(void *ctx), void *ctx, char *err, size_t errlen);

/* The bound port (useful with port 0). */
int ls_admin_port(const struct ls_admin *a);

/* Stop serving and free. NULL-safe. */
void ls_admin_stop(struct ls_admin *a);

#endif
