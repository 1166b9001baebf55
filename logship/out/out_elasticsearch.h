/* out_elasticsearch: the Elasticsearch output's own settings (what its option table fills) and its ops. */
#ifndef LOGSHIP_OUT_ELASTICSEARCH_H
#define LOGSHIP_OUT_ELASTICSEARCH_H

#include "cfg.h"
#include "logship/core/output.h"

/* conf->settings of an Elasticsearch output. */
struct ls_es_settings {
    struct cfg_list urls;   /* --elasticsearch: one output each */
    char *index;            /* --es-index: data stream or index pattern; NULL or "": the default */
    char *dead_letter;      /* --dead-letter: NDJSON file for rejected documents; NULL or "": none */
};

extern const struct ls_output_ops ls_output_elasticsearch;

#endif
