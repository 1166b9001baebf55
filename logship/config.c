/* config: logship's option table, assembled from the engine's rows, each output kind's table and the
 * credential options, and the checks that turn options into parse and output settings. */
#include "logship/config.h"
#include "logship/config_file.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "logship/core/labels.h"
#include "logship/in/fileguard.h"
#include "logship/redact.h"

#define ENV_PREFIX "LOGSHIP"

static const char *const formats[] = { "json", "raw", "docker", NULL };
static const char *const starts[] = { "head", "tail", NULL };
static const char *const invalids[] = { "escape", "drop", NULL };
static const char *const longs[] = { "truncate", "drop", NULL };
static const char *const fsyncs[] = { "interval", "always", "never", NULL };
static const char *const fulls[] = { "block", "drop-oldest", NULL };
static const char *const levels[] = { "debug", "info", "warn", "error", NULL };

#define OPT(field, name, type, def, min, max, choices, metavar, help) \
    CFG_ROW(struct ls_config, field, name, type, def, min, max, choices, metavar, help)

/* The engine's own options, in three runs: --help shows the input options,
 * then each output kind's, then the shared output options, the credentials
 * (shared, then per kind), and the connection, spool and engine options. */
static const struct cfg_row input_opts[] = {
    OPT(sources, "source", CFG_LIST, NULL, 0, 0, NULL, "PATH|GLOB|-",
        "File path or glob to follow, or - for stdin (repeatable; positional arguments too)."),
    OPT(allow_roots, "allow-root", CFG_LIST, NULL, 0, 0, NULL, "DIR",
        "Directory a followed file (symlinks resolved) may lie in besides its glob's own directory "
        "(e.g. /var/log/pods for /var/log/containers/*.log)."),
    OPT(format, "format", CFG_ENUM, "json", 0, 0, formats, "json|raw|docker",
        "Input format: JSON lines (timestamp and label fields read), raw text, or Docker json-file."),
    OPT(labels, "label", CFG_LIST, NULL, 0, 0, NULL, "K=V", "Static label added to every entry (repeatable)."),
    OPT(label_fields, "label-field", CFG_LIST, NULL, 0, 0, NULL, "FIELD",
        "JSON field promoted to a label (repeatable; default level; \"\" for none)."),
    OPT(ts_fields, "ts-field", CFG_STR, "ts,time,@timestamp", 0, 0, NULL, "F1,F2",
        "JSON fields tried in order for the entry's RFC 3339 timestamp."),
    OPT(start_at, "start-at", CFG_ENUM, "head", 0, 0, starts, "head|tail",
        "Where a newly seen file starts being read."),
    OPT(max_line_bytes, "max-line-bytes", CFG_SIZE, "256KiB", 1024, 16 << 20, NULL, "SIZE",
        "Longest line shipped; longer ones are truncated or dropped (--on-long)."),
    OPT(on_invalid, "on-invalid", CFG_ENUM, "escape", 0, 0, invalids, "escape|drop",
        "Lines that are not UTF-8 or hold NUL bytes: ship escaped, or drop and count."),
    OPT(on_long, "on-long", CFG_ENUM, "truncate", 0, 0, longs, "truncate|drop",
        "Lines over --max-line-bytes: truncate with a marker, or drop and count."),
};

static const struct cfg_row output_opts[] = {
    OPT(compress, "compress", CFG_BOOL, "true", 0, 0, NULL, "BOOL",
        "Compress request bodies where the backend accepts it."),
};

static const struct cfg_row tail_opts[] = {
    OPT(insecure, "insecure-skip-verify", CFG_BOOL, "false", 0, 0, NULL, "BOOL",
        "Do not verify backends' TLS certificates (testing only)."),
    OPT(connect_timeout_ms, "connect-timeout", CFG_DURATION, "5s", 1, 600000, NULL, "DUR",
        "TCP+TLS connect timeout."),
    OPT(request_timeout_ms, "request-timeout", CFG_DURATION, "30s", 1, 3600000, NULL, "DUR",
        "Whole-request timeout; a timeout is retried."),
    OPT(spool_dir, "spool-dir", CFG_STR, "/var/lib/logship", 0, 0, NULL, "DIR",
        "Directory of the durable spool, output cursors and source positions."),
    OPT(spool_max_bytes, "spool-max-bytes", CFG_SIZE, "256MiB", 1 << 20, (int64_t)1 << 50, NULL, "SIZE",
        "Cap on the spool's disk use; at the cap see --on-full."),
    OPT(spool_fsync, "spool-fsync", CFG_ENUM, "interval", 0, 0, fsyncs, "interval|always|never",
        "When spool data is fsync'ed; source positions are saved only after it."),
    OPT(spool_fsync_interval_ms, "spool-fsync-interval", CFG_DURATION, "1000ms", 10, 60000, NULL, "DUR",
        "With --spool-fsync interval: the sync and checkpoint period."),
    OPT(on_full, "on-full", CFG_ENUM, "block", 0, 0, fulls, "block|drop-oldest",
        "Spool full: stop reading (backpressure), or delete the oldest data and count it."),
    OPT(batch_bytes, "batch-bytes", CFG_SIZE, "1MiB", 4096, 5 << 20, NULL, "SIZE",
        "Most spool bytes per request."),
    OPT(batch_wait_ms, "batch-wait", CFG_DURATION, "100ms", 0, 60000, NULL, "DUR",
        "Longest an entry waits for its batch to fill before it is sent."),
    OPT(retry_initial_ms, "retry-initial-backoff", CFG_DURATION, "500ms", 1, 3600000, NULL, "DUR",
        "First retry ceiling; doubles per failure (full jitter)."),
    OPT(retry_max_ms, "retry-max-backoff", CFG_DURATION, "5m", 1, 86400000, NULL, "DUR", "Largest retry delay."),
    OPT(config_retry_ms, "config-error-retry", CFG_DURATION, "30s", 1, 86400000, NULL, "DUR",
        "Probe period after a configuration error (401/403/404); data is kept."),
    OPT(metrics_addr, "metrics-addr", CFG_STR, "127.0.0.1:9880", 0, 0, NULL, "HOST:PORT",
        "Plain-HTTP listener for /metrics, /healthz and /ready (\"none\" disables)."),
    OPT(shutdown_timeout_ms, "shutdown-timeout", CFG_DURATION, "10s", 0, 3600000, NULL, "DUR",
        "On SIGTERM/SIGINT or stdin EOF: how long to keep reading stdin to its end and sending what was read."),
    OPT(stall_timeout_ms, "stall-timeout", CFG_DURATION, "5m", 0, 86400000, NULL, "DUR",
        "/healthz answers 503 when the reader loop or an output thread made no progress for this long "
        "(a hung request, a full disk that never frees, a source that keeps failing; backing off from a "
        "down backend is progress); 0 never."),
    OPT(log_level, "log-level", CFG_ENUM, "info", 0, 0, levels, "LEVEL", "Least severe log level written."),
    OPT(config_file, "config", CFG_STR, NULL, 0, 0, NULL, "FILE",
        "JSON config file; keys are these option names."),
    OPT(check_config, "check-config", CFG_BOOL, "false", 0, 0, NULL, "BOOL",
        "Validate the configuration, print the outcome and exit (0 good, 2 bad)."),
    OPT(help_markdown, "help-markdown", CFG_BOOL, "false", 0, 0, NULL, "BOOL",
        "Print this option table as Markdown (logship/OPTIONS.md) and exit."),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Append auth rows (already bound) to c->opts of cap entries. 0, or -1 when they do not fit. */
static int append_auth(struct ls_config *c, size_t cap, const struct ls_auth_rows *rows)
{
    if (c->n_opts > cap || rows->n > cap - c->n_opts)
        return -1;
    for (size_t i = 0; i < rows->n; i++)
        c->opts[c->n_opts++] = rows->opt[i];
    return 0;
}

/* Fill c->opts (cap entries) in --help order: input options, each kind's, shared output options, shared
 * then per-kind credentials, the rest. 0, or -1 when the counted capacity was wrong. */
static int fill(struct ls_config *c, size_t cap)
{
    if (cfg_bind(c->opts, cap, &c->n_opts, input_opts, COUNT(input_opts), c) != 0)
        return -1;
    for (size_t k = 0; k < c->n_kinds; k++)
        if (cfg_bind(c->opts, cap, &c->n_opts, c->kinds[k].ops->options, c->kinds[k].ops->n_options,
                     c->kinds[k].settings) != 0)
            return -1;
    if (cfg_bind(c->opts, cap, &c->n_opts, output_opts, COUNT(output_opts), c) != 0)
        return -1;
    if (append_auth(c, cap, &c->shared_rows) != 0)
        return -1;
    for (size_t k = 0; k < c->n_kinds; k++)
        if (append_auth(c, cap, &c->kinds[k].auth_rows) != 0)
            return -1;
    return cfg_bind(c->opts, cap, &c->n_opts, tail_opts, COUNT(tail_opts), c);
}

/* Build c->opts from the tables, sized by counting them first. 0, or -1
 * with err (out of memory, or a table that breaks the registry's rules). */
static int assemble(struct ls_config *c, char *err, size_t errlen)
{
    size_t n = COUNT(input_opts) + COUNT(output_opts) + COUNT(tail_opts);
    for (const struct ls_output_ops *ops; (ops = ls_output_kind(c->n_kinds));) {
        if (c->n_kinds >= LS_MAX_KINDS || ops->n_options == 0 || ops->options[0].opt.type != CFG_LIST) {
            snprintf(err, errlen, "output %s: more than %d kinds, or options[0] is not its URL list", ops->kind,
                     LS_MAX_KINDS);
            return -1;
        }
        struct ls_config_kind *k = &c->kinds[c->n_kinds++];
        k->ops = ops;
        k->settings = calloc(1, ops->settings_size);
        if (!k->settings) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (ops->auth && ls_auth_rows(ops->auth, &k->auth, &k->auth_rows) != 0) {
            snprintf(err, errlen, "output %s: a credential option's name or help is too long", ops->kind);
            return -1;
        }
        n += ops->n_options + k->auth_rows.n;
    }
    if (ls_auth_rows(NULL, &c->shared_auth, &c->shared_rows) != 0) {
        snprintf(err, errlen, "a shared credential option's name or help is too long");
        return -1;
    }
    n += c->shared_rows.n;
    c->opts = calloc(n, sizeof(*c->opts));
    if (!c->opts) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (fill(c, n) != 0) {
        snprintf(err, errlen, "option table larger than counted");
        return -1;
    }
    return 0;
}

/* "a,b,c" → array of strdup'ed non-empty items. */
static int split_commas(const char *s, char ***out, size_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    char **v = calloc(cap, sizeof(*v));
    if (!v)
        return -1;
    *out = v;
    *n = 0;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        while (l > 0 && (*p == ' ')) {
            p++;
            l--;
        }
        while (l > 0 && p[l - 1] == ' ')
            l--;
        if (l > 0) {
            v[*n] = strndup(p, l);
            if (!v[*n])
                return -1;
            (*n)++;
        }
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

static int url_ok(const char *const *schemes, const char *url)
{
    for (size_t i = 0; schemes && schemes[i]; i++)
        if (strncmp(url, schemes[i], strlen(schemes[i])) == 0)
            return !strpbrk(url, " \t\r\n");
    return 0;
}

static int add_output(struct ls_config *c, const struct ls_config_kind *k, const char *url, unsigned idx,
                      char *err, size_t errlen)
{
    const char *kind = k->ops->kind;
    if (c->n_outputs >= LS_MAX_OUTPUTS) {
        snprintf(err, errlen, "too many outputs (at most %d)", LS_MAX_OUTPUTS);
        return -1;
    }
    if (!url_ok(k->ops->schemes, url)) {
        char safe[512];
        snprintf(err, errlen, "--%s: bad URL \"%s\"", kind, ls_redact_url(url, safe, sizeof(safe)));
        return -1;
    }
    struct ls_output_spec *s = &c->outputs[c->n_outputs++];
    s->ops = k->ops;
    if (idx == 0)
        snprintf(s->name, sizeof(s->name), "%s", kind);
    else
        snprintf(s->name, sizeof(s->name), "%s-%u", kind, idx + 1);
    struct ls_output_conf *o = &s->conf;
    o->name = s->name;
    o->url = url;
    o->settings = k->settings;
    static const struct ls_kind_auth none;
    const struct ls_kind_auth *own = k->ops->auth ? &k->auth : &none;
    const char *prefix = k->ops->auth ? k->ops->auth->prefix : kind;
    if (ls_auth_resolve(own, &c->shared_auth, prefix, o, err, errlen) != 0)
        return -1;
    o->insecure_skip_verify = c->insecure;
    o->connect_timeout_ms = c->connect_timeout_ms;
    o->request_timeout_ms = c->request_timeout_ms;
    o->compress = c->compress;
    o->batch_bytes = c->batch_bytes;
    return 0;
}

/* Every output of every kind, named "kind", "kind-2", ... in list order. */
static int add_outputs(struct ls_config *c, char *err, size_t errlen)
{
    for (size_t k = 0; k < c->n_kinds; k++) {
        const struct ls_config_kind *kind = &c->kinds[k];
        const struct cfg_list *urls = cfg_row_dst(&kind->ops->options[0], kind->settings);
        for (size_t i = 0; i < urls->n; i++)
            if (add_output(c, kind, urls->items[i], (unsigned)i, err, errlen) != 0)
                return -1;
    }
    if (c->n_outputs > 0)
        return 0;
    /* "no output given (--loki, --elasticsearch or --logstash)" */
    int len = snprintf(err, errlen, "no output given (");
    for (size_t k = 0; k < c->n_kinds && len >= 0 && (size_t)len < errlen; k++)
        len += snprintf(err + len, errlen - (size_t)len, "%s--%s", k == 0 ? "" : k + 1 == c->n_kinds ? " or " : ", ",
                        c->kinds[k].ops->kind);
    if (len >= 0 && (size_t)len < errlen)
        snprintf(err + len, errlen - (size_t)len, ")");
    return -1;
}

/* Credentials of every level, and every kind's option that goes into a
 * request header (a kind's options are checked whether or not it has an
 * output). */
static int check_secrets(struct ls_config *c, char *err, size_t errlen)
{
    if (ls_auth_check(&c->shared_rows, &c->shared_auth, err, errlen) != 0)
        return -1;
    for (size_t k = 0; k < c->n_kinds; k++)
        if (ls_auth_check(&c->kinds[k].auth_rows, &c->kinds[k].auth, err, errlen) != 0)
            return -1;
    for (size_t k = 0; k < c->n_kinds; k++) {
        const struct ls_output_ops *ops = c->kinds[k].ops;
        for (size_t i = 0; i < ops->n_options; i++) {
            if (!(ops->options[i].flags & LS_OPTION_HEADER))
                continue;
            const char *v = *(char **)cfg_row_dst(&ops->options[i], c->kinds[k].settings);
            if (ls_auth_header_safe(ops->options[i].opt.name, v, err, errlen) != 0)
                return -1;
        }
    }
    return 0;
}

/* --source (flags and positionals: "-" once for stdin, the rest through the file guard) and
 * --allow-root. */
static int check_sources(struct ls_config *c, char *err, size_t errlen)
{
    size_t ns = c->sources.n + c->positional.n;
    if (ns == 0) {
        snprintf(err, errlen, "no --source given (a path, a glob, or - for stdin)");
        return -1;
    }
    c->file_sources = calloc(ns, sizeof(*c->file_sources));
    if (!c->file_sources)
        return -1;
    for (size_t i = 0; i < ns; i++) {
        const char *s = i < c->sources.n ? c->sources.items[i] : c->positional.items[i - c->sources.n];
        if (strcmp(s, "-") == 0) {
            if (c->use_stdin) {
                snprintf(err, errlen, "--source -: stdin given twice");
                return -1;
            }
            c->use_stdin = 1;
        } else if (s[0] == '\0') {
            snprintf(err, errlen, "--source: empty path");
            return -1;
        } else {
            if (ls_fileguard_check_source(s, err, errlen) != 0)
                return -1;
            c->file_sources[c->n_file_sources++] = s;
        }
    }
    for (size_t i = 0; i < c->allow_roots.n; i++)
        if (c->allow_roots.items[i][0] == '\0') {
            snprintf(err, errlen, "--allow-root: empty path");
            return -1;
        }
    return 0;
}

/* --label name=value, --label-field (default "level") and their sum within Loki's limit. */
static int check_labels(struct ls_config *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < c->labels.n; i++) {
        const char *l = c->labels.items[i];
        size_t nlen;
        const char *val;
        if (ls_labels_parse_kv(l, &nlen, &val) != 0 || !ls_labels_name_valid(l, nlen) || val[0] == '\0') {
            snprintf(err, errlen, "--label \"%s\": want name=value with a Prometheus label name", l);
            return -1;
        }
    }
    if (split_commas(c->ts_fields ? c->ts_fields : "", &c->ts_list, &c->n_ts) != 0)
        return -1;
    if (c->label_fields.n == 0) {
        static const char *const def_fields[] = { "level" };
        c->label_field_list = calloc(1, sizeof(char *));
        if (!c->label_field_list)
            return -1;
        c->label_field_list[0] = def_fields[0];
        c->n_label_fields = 1;
    } else {
        c->label_field_list = calloc(c->label_fields.n, sizeof(char *));
        if (!c->label_field_list)
            return -1;
        for (size_t i = 0; i < c->label_fields.n; i++) {
            const char *f = c->label_fields.items[i];
            if (f[0] == '\0')
                continue;
            if (!ls_labels_name_valid(f, strlen(f))) {
                snprintf(err, errlen, "--label-field \"%s\": not a valid label name", f);
                return -1;
            }
            c->label_field_list[c->n_label_fields++] = f;
        }
    }
    if (c->n_label_fields + c->labels.n > 15) {
        snprintf(err, errlen, "more than 15 labels (Loki's limit)");
        return -1;
    }
    return 0;
}

/* The line parser's settings, from the checked options. */
static void fill_parse_conf(struct ls_config *c)
{
    struct ls_parse_conf *pc = &c->parse;
    pc->format = (enum ls_format)c->format;
    pc->ts_fields = (const char *const *)c->ts_list;
    pc->n_ts_fields = c->n_ts;
    pc->label_fields = c->label_field_list;
    pc->n_label_fields = c->n_label_fields;
    pc->static_labels = (const char *const *)c->labels.items;
    pc->n_static_labels = c->labels.n;
    pc->max_line_bytes = (size_t)c->max_line_bytes;
    pc->on_invalid = (enum ls_on_invalid)c->on_invalid;
    pc->on_long = (enum ls_on_long)c->on_long;
}

/* The shared credentials that only make sense in pairs. */
static int check_auth_pairs(const struct ls_kind_auth *sh, char *err, size_t errlen)
{
    if (((sh->password || sh->password_file) && !sh->username) ||
        (sh->username && !(sh->password || sh->password_file))) {
        snprintf(err, errlen, "--username and --password go together");
        return -1;
    }
    if ((sh->cert && !sh->key) || (sh->key && !sh->cert)) {
        snprintf(err, errlen, "--cert and --key go together");
        return -1;
    }
    return 0;
}

/* --spool-dir, --spool-max-bytes against the largest record, and --metrics-addr. */
static int check_spool_admin(const struct ls_config *c, char *err, size_t errlen)
{
    if (!c->spool_dir || c->spool_dir[0] == '\0') {
        snprintf(err, errlen, "--spool-dir must not be empty");
        return -1;
    }
    uint64_t spool_min = ls_spool_min_bytes(ls_spool_max_record(c->max_line_bytes));
    if (c->spool_max_bytes < spool_min) {
        snprintf(err, errlen, "--spool-max-bytes must be at least 4 x (--max-line-bytes + 64KiB) = %" PRIu64,
                 spool_min);
        return -1;
    }
    if (c->metrics_addr && strcmp(c->metrics_addr, "none") != 0 && c->metrics_addr[0] != '\0') {
        const char *colon = strrchr(c->metrics_addr, ':');
        char *end = NULL;
        long port = colon ? strtol(colon + 1, &end, 10) : -1;
        if (!colon || colon == c->metrics_addr || !end || *end || colon[1] == '\0' || port < 0 || port > 65535) {
            snprintf(err, errlen, "--metrics-addr \"%s\": want HOST:PORT", c->metrics_addr);
            return -1;
        }
    }
    return 0;
}

/* The whole configuration, checked in the order the messages were always given. */
static int validate(struct ls_config *c, char *err, size_t errlen)
{
    if (check_sources(c, err, errlen) != 0)
        return -1;
    if (check_secrets(c, err, errlen) != 0)
        return -1;
    if (check_labels(c, err, errlen) != 0)
        return -1;
    fill_parse_conf(c);
    if (add_outputs(c, err, errlen) != 0)
        return -1;
    if (check_auth_pairs(&c->shared_auth, err, errlen) != 0)
        return -1;
    return check_spool_admin(c, err, errlen);
}

enum ls_config_result ls_config_load(struct ls_config *c, int argc, char **argv, char *err, size_t errlen)
{
    enum ls_config_result rc = LS_CONFIG_ERROR;
    char **av = NULL;
    size_t nf = 0;
    memset(c, 0, sizeof(*c));
    buf_t fargs;
    if (assemble(c, err, errlen) != 0)
        goto out;
    buf_init(&fargs, 1u << 20);
    const char *cf = ls_config_file_find(argc, argv, ENV_PREFIX "_CONFIG");
    if (cf && ls_config_file_args(c->opts, c->n_opts, cf, &fargs, &nf, err, errlen) != 0)
        goto out;
    /* argv[0], the file's options, then the real command line (which wins). */
    av = calloc((size_t)argc + nf + 1, sizeof(*av));
    if (!av) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    int ac = 0;
    av[ac++] = argv[0];
    const char *p = fargs.p;
    for (size_t i = 0; i < nf; i++) {
        av[ac++] = (char *)p;
        p += strlen(p) + 1;
    }
    for (int i = 1; i < argc; i++)
        av[ac++] = argv[i];
    int r = cfg_parse(c->opts, c->n_opts, ENV_PREFIX, ac, av, &c->positional, err, errlen);
    if (r == 1 || r == 2) {
        rc = r == 1 ? LS_CONFIG_HELP : LS_CONFIG_VERSION;
        goto out;
    }
    if (r != 0)
        goto out;
    if (c->help_markdown) {
        rc = LS_CONFIG_MARKDOWN;
        goto out;
    }
    if (validate(c, err, errlen) != 0) {
        if (err[0] == '\0')
            snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = LS_CONFIG_RUN;
out:
    free(av);
    buf_free(&fargs);
    return rc;
}

size_t ls_config_secrets(const struct ls_config *c, const char **names, size_t max)
{
    size_t n = 0;
    ls_auth_secrets(&c->shared_rows, &c->shared_auth, names, &n, max);
    for (size_t k = 0; k < c->n_kinds; k++)
        ls_auth_secrets(&c->kinds[k].auth_rows, &c->kinds[k].auth, names, &n, max);
    return n;
}

void ls_config_usage(struct ls_config *c, FILE *out)
{
    cfg_usage(out, "logship",
              "Ship log lines from files, Docker json-file logs or stdin through a durable spool\n"
              "to Loki, Elasticsearch and Logstash, at least once.",
              c->opts, c->n_opts, ENV_PREFIX);
}

void ls_config_markdown(struct ls_config *c, FILE *out)
{
    cfg_markdown(out, c->opts, c->n_opts, ENV_PREFIX);
}

void ls_config_free(struct ls_config *c)
{
    if (c->opts)
        cfg_free(c->opts, c->n_opts);
    free(c->opts);
    for (size_t k = 0; k < c->n_kinds; k++)
        free(c->kinds[k].settings);
    for (size_t i = 0; i < c->n_ts; i++)
        free(c->ts_list[i]);
    free(c->ts_list);
    free(c->label_field_list);
    free(c->file_sources);
    for (size_t i = 0; i < c->positional.n; i++)
        free(c->positional.items[i]);
    free(c->positional.items);
    memset(c, 0, sizeof(*c));
}
