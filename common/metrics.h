/* metrics: a small Prometheus registry (counters, gauges, histograms).
 *
 * Families are declared once with fixed label names; a child (one label
 * value combination) is created on first use and lives for the process
 * lifetime, so hot paths can look a child up once and keep the pointer.
 * Updates to a child are lock-free atomics; creating a child or rendering
 * takes the registry's mutex. Rendering follows the text exposition format
 * 0.0.4: HELP/TYPE lines, label values escaped (\\, \", \n), histogram
 * _bucket{le=...} cumulative plus _sum and _count. */
#ifndef COMMON_METRICS_H
#define COMMON_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"

#define METRICS_MAX_LABELS 4
#define METRICS_MAX_BUCKETS 24

typedef struct metrics_registry metrics_registry;
typedef struct metrics_family metrics_family;
typedef struct metrics_child metrics_child;

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

/* Create/destroy a registry. metrics_new returns NULL on OOM. */
metrics_registry *metrics_new(void);
void metrics_free(metrics_registry *r);

/* Declare a family. labels has nlabels names (<= METRICS_MAX_LABELS).
 * For histograms, buckets are nbuckets strictly increasing upper bounds
 * (+Inf is implicit). Strings are copied. Returns NULL on bad arguments
 * (invalid metric or label name, duplicate family name) or OOM. */
metrics_family *metrics_counter(metrics_registry *r, const char *name, const char *help,
                                size_t nlabels, const char *const *labels);
metrics_family *metrics_gauge(metrics_registry *r, const char *name, const char *help,
                              size_t nlabels, const char *const *labels);
metrics_family *metrics_histogram(metrics_registry *r, const char *name, const char *help,
                                  size_t nlabels, const char *const *labels,
                                  size_t nbuckets, const double *buckets);

/* Find or create the child for these label values (nlabels of them, any
 * bytes allowed). Returns NULL on OOM, and when f is NULL (a family that failed
 * to register), so a caller can chain it into the updates below unchecked. */
metrics_child *metrics_child_get(metrics_family *f, const char *const *values);

/* Updates. Counters must only go up (negative adds are ignored). Every update
 * accepts a NULL child and then does nothing (metrics_value answers 0), so
 * callers never re-check the result of metrics_child_get or a family lookup. */
void metrics_add(metrics_child *c, double v);   /* counter or gauge */
void metrics_inc(metrics_child *c);             /* add 1 */
void metrics_set(metrics_child *c, double v);   /* gauge */
void metrics_observe(metrics_child *c, double v); /* histogram */
double metrics_value(const metrics_child *c);   /* counter/gauge value, histogram count */

/* Convenience: look up the child and update in one call (f may be NULL). */
void metrics_family_add(metrics_family *f, const char *const *values, double v);
void metrics_family_set(metrics_family *f, const char *const *values, double v);

/* Render every family in declaration order (children in creation order).
 * Returns 0, or -1 if b's cap was reached. */
int metrics_render(metrics_registry *r, buf_t *b) BUF_WARN_UNUSED;

#endif
