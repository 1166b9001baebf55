/* out_loki: the Loki output's own settings (what its option table fills) and its ops. */
#ifndef LOGSHIP_OUT_LOKI_H
#define LOGSHIP_OUT_LOKI_H

#include "cfg.h"
#include "logship/core/output.h"
#include "logship/out/loki_encode.h"

/* conf->settings of a Loki output. */
struct ls_loki_settings {
    struct cfg_list urls;   /* --loki: one output each */
    int   encoding;         /* --loki-encoding: enum ls_loki_encoding */
    char *tenant;           /* --tenant: X-Scope-OrgID; NULL or "": none */
};

extern const struct ls_output_ops ls_output_loki;

#endif
