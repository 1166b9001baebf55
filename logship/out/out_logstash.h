/* out_logstash: the Logstash output's own settings (what its option table fills) and its ops. */
#ifndef LOGSHIP_OUT_LOGSTASH_H
#define LOGSHIP_OUT_LOGSTASH_H

#include "cfg.h"
#include "logship/core/output.h"

/* conf->settings of a Logstash output. */
struct ls_logstash_settings {
    struct cfg_list urls;   /* --logstash: one output each */
};

extern const struct ls_output_ops ls_output_logstash;

#endif
