/* source_metrics: the metric families every source shares, registered once
 * per registry however many sources use it.
 *
 * metrics_counter() refuses a duplicate family name, and both the file and the
 * stdin source (and lineparse, on their behalf) count into the same families,
 * so the families live here, reference-counted per registry. Children that
 * every source needs (drop reasons, rotation kinds) are looked up once so the
 * hot path only does an atomic add. All pointers may be NULL when no registry
 * was given (unit tests, fuzzing): the ls_sm_* helpers are NULL-safe. */
#ifndef LOGSHIP_SOURCE_METRICS_H
#define LOGSHIP_SOURCE_METRICS_H

#include "metrics.h"

struct ls_srcmetrics {
    metrics_registry *reg;
    metrics_family *lines, *bytes;          /* logship_source_{lines,bytes}_total{source} */
    metrics_child  *drop_empty, *drop_too_long, *drop_invalid;
    metrics_child  *truncated;              /* logship_input_truncated_total */
    metrics_child  *invalid_encoding;       /* logship_input_invalid_total{kind="encoding"} */
    metrics_child  *invalid_docker;         /* logship_input_invalid_total{kind="docker_record"} */
    metrics_child  *rot_rename, *rot_truncate, *rot_delete;
    /* logship_input_refused_total{reason}: files the file source would not open (fileguard.h) */
    metrics_child  *refused_special, *refused_pseudo_fs, *refused_outside_root;
    metrics_family *files_watched;          /* logship_source_files_watched{source} gauge */
    metrics_child  *positions_corrupt;      /* logship_source_positions_corrupt_total */
};

/* Get (registering on first use) the shared families of reg. reg may be NULL:
 * then every pointer in the result is NULL and counting is a no-op. Returns
 * NULL only on OOM or when a family of the same name was registered by someone
 * else. Release with ls_srcmetrics_put. */
struct ls_srcmetrics *ls_srcmetrics_get(metrics_registry *reg);
void ls_srcmetrics_put(struct ls_srcmetrics *m);

#endif
