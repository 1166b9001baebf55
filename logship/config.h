/* config: every logship option, declared once (cfg.h), from flags, LOGSHIP_* env and a JSON config file.
 *
 * The option table is assembled from the engine's own rows (config.c), each
 * output kind's table (ops->options, from the registry in core/output.c)
 * and the credential options (core/auth.h, shared and per kind); config never
 * names a backend.
 *
 * Precedence: built-in default < environment < config file (--config) <
 * command line. The config file is one JSON object whose keys are the option
 * names without dashes in front ("spool-dir", "loki", ...); list options take
 * a string or an array of strings; unknown keys are errors. After parsing,
 * ls_config_load checks the whole configuration (labels, URLs, sizes) and
 * maps it into struct ls_parse_conf and one struct ls_output_conf per
 * output, so the rest of the program never sees option text. */
#ifndef LOGSHIP_CONFIG_H
#define LOGSHIP_CONFIG_H

#include <stdint.h>
#include <stdio.h>
#include "cfg.h"
#include "logship/core/auth.h"
#include "logship/core/output.h"
#include "logship/core/source.h"
#include "logship/spool/spool.h"

#define LS_MAX_KINDS 8

/* One configured output instance. */
struct ls_output_spec {
    const struct ls_output_ops *ops;
    struct ls_output_conf conf;   /* strings point into struct ls_config */
    char name[32];                /* "loki", "loki-2", "elasticsearch", ... */
};

/* One output kind of the registry: its option values and its credentials. */
struct ls_config_kind {
    const struct ls_output_ops *ops;
    void *settings;               /* ops->settings_size bytes, filled by ops->options */
    struct ls_kind_auth auth;     /* --<prefix>-username, ... */
    struct ls_auth_rows auth_rows;
};

struct ls_config {
    /* raw options (owned by the cfg table) */
    struct cfg_list sources, allow_roots, labels, label_fields, positional;
    int      format, start_at, on_invalid, on_long, spool_fsync, on_full, log_level;
    int      compress, insecure, check_config, help_markdown;
    struct ls_kind_auth shared_auth;  /* --username, ...: the fallback of every kind */
    struct ls_auth_rows shared_rows;
    char    *ts_fields, *spool_dir, *metrics_addr, *config_file;
    uint64_t max_line_bytes, spool_max_bytes, batch_bytes;
    int64_t  connect_timeout_ms, request_timeout_ms, spool_fsync_interval_ms, batch_wait_ms,
             shutdown_timeout_ms, retry_initial_ms, retry_max_ms, config_retry_ms,
             stall_timeout_ms;
    struct ls_config_kind kinds[LS_MAX_KINDS];
    size_t   n_kinds;
    struct cfg_opt *opts;         /* the whole option table, in --help order */
    size_t   n_opts;
    /* derived */
    struct ls_parse_conf parse;
    char   **ts_list;
    size_t   n_ts;
    const char **label_field_list;
    size_t   n_label_fields;
    const char **file_sources;    /* every --source that is not "-" */
    size_t   n_file_sources;
    int      use_stdin;
    struct ls_output_spec outputs[LS_MAX_OUTPUTS];
    size_t   n_outputs;
};

/* What ls_config_load found the command line asks for. */
enum ls_config_result {
    LS_CONFIG_ERROR = -1,    /* a one-line message in err: the caller prints it and exits 2 */
    LS_CONFIG_RUN = 0,       /* validated: ready to run */
    LS_CONFIG_HELP = 1,      /* --help */
    LS_CONFIG_VERSION = 2,   /* --version */
    LS_CONFIG_MARKDOWN = 3,  /* --help-markdown (no validation done) */
};

/* Parse argv (+ env + --config file) into c and validate. Returns what to do (see
 * enum ls_config_result). Call ls_config_free whatever the result. */
enum ls_config_result ls_config_load(struct ls_config *c, int argc, char **argv, char *err, size_t errlen);

/* The option names of the secrets that are set (non-empty), for the start
 * line: "password", "es-password-file", ... (never their values). Writes at
 * most max names (owned by c) to names; returns how many. */
#define LS_CONFIG_MAX_SECRETS ((LS_MAX_KINDS + 1) * LS_AUTH_NFIELDS) /* every row of every level */
size_t ls_config_secrets(const struct ls_config *c, const char **names, size_t max);

/* Print --help (usage and the option table) to out. */
void ls_config_usage(struct ls_config *c, FILE *out);

/* Print the options as a Markdown table (logship/OPTIONS.md, made by
 * logship --help-markdown). */
void ls_config_markdown(struct ls_config *c, FILE *out);

/* Release everything ls_config_load allocated. Safe after a failed load. */
void ls_config_free(struct ls_config *c);

#endif
