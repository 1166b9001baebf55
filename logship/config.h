/* config: every logship option, declared once (cfg.h), from flags, LOGSHIP_* env and a JSON config file.
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
#include "logship/core/output.h"
#include "logship/core/source.h"
#include "logship/spool/spool.h"

#define LS_MAX_OUTPUTS 16

/* Credentials and TLS files for one output kind (--loki-*, --es-*,
 * --logstash-*), or the shared ones. NULL = not given; "" = given empty,
 * which for a per-kind option means "none for this kind". */
struct ls_kind_auth {
    char *username, *password, *password_file, *bearer_token_file, *api_key, *api_key_file, *ca_file,
         *cert, *key;
};

/* One configured output instance. */
struct ls_output_spec {
    const struct ls_output_ops *ops;
    struct ls_output_conf conf;   /* strings point into struct ls_config */
    char name[32];                /* "loki", "loki-2", "elasticsearch", ... */
};

struct ls_config {
    /* raw options (owned by the cfg table) */
    struct cfg_list sources, allow_roots, labels, label_fields, loki, elasticsearch, logstash, positional;
    int      format, start_at, on_invalid, on_long, loki_encoding, spool_fsync, on_full, log_level;
    int      compress, insecure, check_config, help_markdown;
    struct ls_kind_auth loki_auth, es_auth, logstash_auth;  /* per-kind overrides */
    char    *ts_fields, *tenant, *es_index, *dead_letter, *username, *password, *bearer_token_file,
            *api_key, *password_file, *api_key_file, *ca_file, *cert, *key, *spool_dir, *metrics_addr, *config_file;
    uint64_t max_line_bytes, spool_max_bytes, batch_bytes;
    int64_t  connect_timeout_ms, request_timeout_ms, spool_fsync_interval_ms, batch_wait_ms,
             shutdown_timeout_ms, retry_initial_ms, retry_max_ms, config_retry_ms,
             stall_timeout_ms;
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

/* Parse argv (+ env + --config file) into c and validate. Returns 0 when
 * ready to run, 1 for --help, 2 for --version, 3 for --help-markdown (no
 * validation done), -1 with a one-line message in err on any error (the
 * caller prints it and exits 2). Call ls_config_free whatever the result. */
int ls_config_load(struct ls_config *c, int argc, char **argv, char *err, size_t errlen);

/* The option names of the secrets that are set (non-empty), for the start
 * line: "password", "es-password-file", ... (never their values). Writes at
 * most max names (static strings) to names; returns how many. */
#define LS_CONFIG_MAX_SECRETS 16
size_t ls_config_secrets(const struct ls_config *c, const char **names, size_t max);

/* Print --help (usage and the option table) to out. */
void ls_config_usage(struct ls_config *c, FILE *out);

/* Resolve the credentials and TLS files of one output of a kind into o.
 * Credentials (username, password or password file, bearer token file, API
 * key or API key file) are one
 * group: if any per-kind one is given (even empty), the kind's group is used
 * whole and the shared credentials are ignored for that kind; else the shared
 * group. The client certificate and key are another such group; the CA file
 * is resolved alone. Empty strings become NULL (none). Returns 0, or -1 with
 * a one-line message in err when the result is a username without a password
 * or password file (or the reverse) or a certificate without a key; flag names the kind's
 * option prefix ("loki", "es", "logstash") for the message. Pointers in o
 * point into kind/shared. */
int ls_config_resolve_auth(const struct ls_kind_auth *kind, const struct ls_kind_auth *shared,
                           const char *flag, struct ls_output_conf *o, char *err, size_t errlen);

/* Print the options as a Markdown table (logship/OPTIONS.md, made by
 * logship --help-markdown). */
void ls_config_markdown(struct ls_config *c, FILE *out);

/* Release everything ls_config_load allocated. Safe after a failed load. */
void ls_config_free(struct ls_config *c);

#endif
