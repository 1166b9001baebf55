/* config: logship's option table, the JSON config file and the checks that turn options into parse/output settings. */
#include "logship/config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "buf.h"
#include "log.h"
#include "logship/in/fileguard.h"
#include "logship/redact.h"

#define ENV_PREFIX "LOGSHIP"
#define NOPTS 80
#define MAX_FILE_ARGS 1024

static const char *const formats[] = { "json", "raw", "docker", NULL };
static const char *const starts[] = { "head", "tail", NULL };
static const char *const invalids[] = { "escape", "drop", NULL };
static const char *const longs[] = { "truncate", "drop", NULL };
static const char *const encodings[] = { "protobuf", "json", NULL };
static const char *const fsyncs[] = { "interval", "always", "never", NULL };
static const char *const fulls[] = { "block", "drop-oldest", NULL };
static const char *const levels[] = { "debug", "info", "warn", "error", NULL };

/* Storage for the cfg table lives with the config it fills. */
static struct cfg_opt g_opts[NOPTS];
static size_t g_nopts;

#define OPT(n, t, d, df, lo, hi, ch, mv, h) \
    g_opts[i++] = (struct cfg_opt){ n, 0, t, d, df, lo, hi, ch, mv, h }

static void build_opts(struct ls_config *c)
{
    size_t i = 0;
    /* sources and parsing */
    OPT("source", CFG_LIST, &c->sources, NULL, 0, 0, NULL, "PATH|GLOB|-",
        "File path or glob to follow, or - for stdin (repeatable; positional arguments too).");
    OPT("allow-root", CFG_LIST, &c->allow_roots, NULL, 0, 0, NULL, "DIR",
        "Directory a followed file (symlinks resolved) may lie in besides its glob's own directory "
        "(e.g. /var/log/pods for /var/log/containers/*.log).");
    OPT("format", CFG_ENUM, &c->format, "json", 0, 0, formats, "json|raw|docker",
        "Input format: JSON lines (timestamp and label fields read), raw text, or Docker json-file.");
    OPT("label", CFG_LIST, &c->labels, NULL, 0, 0, NULL, "K=V", "Static label added to every entry (repeatable).");
    OPT("label-field", CFG_LIST, &c->label_fields, NULL, 0, 0, NULL, "FIELD",
        "JSON field promoted to a label (repeatable; default level; \"\" for none).");
    OPT("ts-field", CFG_STR, &c->ts_fields, "ts,time,@timestamp", 0, 0, NULL, "F1,F2",
        "JSON fields tried in order for the entry's RFC 3339 timestamp.");
    OPT("start-at", CFG_ENUM, &c->start_at, "head", 0, 0, starts, "head|tail",
        "Where a newly seen file starts being read.");
    OPT("max-line-bytes", CFG_SIZE, &c->max_line_bytes, "256KiB", 1024, 16 << 20, NULL, "SIZE",
        "Longest line shipped; longer ones are truncated or dropped (--on-long).");
    OPT("on-invalid", CFG_ENUM, &c->on_invalid, "escape", 0, 0, invalids, "escape|drop",
        "Lines that are not UTF-8 or hold NUL bytes: ship escaped, or drop and count.");
    OPT("on-long", CFG_ENUM, &c->on_long, "truncate", 0, 0, longs, "truncate|drop",
        "Lines over --max-line-bytes: truncate with a marker, or drop and count.");
    /* outputs */
    OPT("loki", CFG_LIST, &c->loki, NULL, 0, 0, NULL, "URL",
        "Loki base URL, e.g. http://127.0.0.1:3100 (repeatable: one output each).");
    OPT("loki-encoding", CFG_ENUM, &c->loki_encoding, "protobuf", 0, 0, encodings, "protobuf|json",
        "Loki push body: protobuf+snappy or JSON+gzip.");
    OPT("tenant", CFG_STR, &c->tenant, NULL, 0, 0, NULL, "ID", "Loki tenant (X-Scope-OrgID header).");
    OPT("elasticsearch", CFG_LIST, &c->elasticsearch, NULL, 0, 0, NULL, "URL",
        "Elasticsearch base URL for _bulk (repeatable).");
    OPT("es-index", CFG_STR, &c->es_index, "logs-hello-default", 0, 0, NULL, "NAME",
        "Elasticsearch data stream or index (pattern).");
    OPT("logstash", CFG_LIST, &c->logstash, NULL, 0, 0, NULL, "URL",
        "Logstash: http://, beats://host:5044 or tcp:// (repeatable).");
    OPT("dead-letter", CFG_STR, &c->dead_letter, NULL, 0, 0, NULL, "PATH",
        "NDJSON file for documents Elasticsearch rejected (else dropped and counted).");
    OPT("compress", CFG_BOOL, &c->compress, "true", 0, 0, NULL, "BOOL",
        "Compress request bodies where the backend accepts it.");
    /* shared auth/TLS: the fallback for every output kind (see the per-kind ones below) */
    OPT("username", CFG_STR, &c->username, NULL, 0, 0, NULL, "USER",
        "Basic auth user for every output kind without its own credentials (--loki-username, ...).");
    OPT("password", CFG_STR, &c->password, NULL, 0, 0, NULL, "PASS", "Basic auth password (with --username).");
    OPT("password-file", CFG_STR, &c->password_file, NULL, 0, 0, NULL, "PATH",
        "File holding the basic auth password instead of --password (re-read on change).");
    OPT("bearer-token-file", CFG_STR, &c->bearer_token_file, NULL, 0, 0, NULL, "PATH",
        "File holding a bearer token (Authorization: Bearer), for kinds without their own credentials.");
    OPT("api-key", CFG_STR, &c->api_key, NULL, 0, 0, NULL, "KEY",
        "Elasticsearch API key (Authorization: ApiKey), unless --es-* credentials are given.");
    OPT("api-key-file", CFG_STR, &c->api_key_file, NULL, 0, 0, NULL, "PATH",
        "File holding the Elasticsearch API key instead of --api-key (re-read on change).");
    OPT("ca-file", CFG_STR, &c->ca_file, NULL, 0, 0, NULL, "PATH",
        "CA bundle to verify backends' TLS certificates (kinds without their own --*-ca-file).");
    OPT("cert", CFG_STR, &c->cert, NULL, 0, 0, NULL, "PATH",
        "Client certificate (PEM) for mTLS (kinds without their own --*-cert/--*-key).");
    OPT("key", CFG_STR, &c->key, NULL, 0, 0, NULL, "PATH", "Client private key (PEM) for mTLS (with --cert).");
    /* per-kind auth/TLS: when any credential of a kind is given, the kind uses only its own
     * credentials; "" means none (e.g. --loki-username "" keeps shared ones away from Loki) */
    OPT("loki-username", CFG_STR, &c->loki_auth.username, NULL, 0, 0, NULL, "USER",
        "Loki outputs only: basic auth user; any --loki-* credential replaces the shared ones (\"\" = none).");
    OPT("loki-password", CFG_STR, &c->loki_auth.password, NULL, 0, 0, NULL, "PASS",
        "Loki outputs only: basic auth password.");
    OPT("loki-password-file", CFG_STR, &c->loki_auth.password_file, NULL, 0, 0, NULL, "PATH",
        "Loki outputs only: file holding the basic auth password.");
    OPT("loki-bearer-token-file", CFG_STR, &c->loki_auth.bearer_token_file, NULL, 0, 0, NULL, "PATH",
        "Loki outputs only: file holding a bearer token.");
    OPT("loki-ca-file", CFG_STR, &c->loki_auth.ca_file, NULL, 0, 0, NULL, "PATH",
        "Loki outputs only: CA bundle (replaces --ca-file; \"\" = system CAs).");
    OPT("loki-cert", CFG_STR, &c->loki_auth.cert, NULL, 0, 0, NULL, "PATH",
        "Loki outputs only: mTLS client certificate (replaces --cert/--key).");
    OPT("loki-key", CFG_STR, &c->loki_auth.key, NULL, 0, 0, NULL, "PATH", "Loki outputs only: mTLS client key.");
    OPT("es-username", CFG_STR, &c->es_auth.username, NULL, 0, 0, NULL, "USER",
        "Elasticsearch outputs only: basic auth user; any --es-* credential replaces the shared ones.");
    OPT("es-password", CFG_STR, &c->es_auth.password, NULL, 0, 0, NULL, "PASS",
        "Elasticsearch outputs only: basic auth password.");
    OPT("es-password-file", CFG_STR, &c->es_auth.password_file, NULL, 0, 0, NULL, "PATH",
        "Elasticsearch outputs only: file holding the basic auth password.");
    OPT("es-api-key", CFG_STR, &c->es_auth.api_key, NULL, 0, 0, NULL, "KEY",
        "Elasticsearch outputs only: API key (Authorization: ApiKey).");
    OPT("es-api-key-file", CFG_STR, &c->es_auth.api_key_file, NULL, 0, 0, NULL, "PATH",
        "Elasticsearch outputs only: file holding the API key.");
    OPT("es-ca-file", CFG_STR, &c->es_auth.ca_file, NULL, 0, 0, NULL, "PATH",
        "Elasticsearch outputs only: CA bundle (replaces --ca-file).");
    OPT("es-cert", CFG_STR, &c->es_auth.cert, NULL, 0, 0, NULL, "PATH",
        "Elasticsearch outputs only: mTLS client certificate (replaces --cert/--key).");
    OPT("es-key", CFG_STR, &c->es_auth.key, NULL, 0, 0, NULL, "PATH",
        "Elasticsearch outputs only: mTLS client key.");
    OPT("logstash-username", CFG_STR, &c->logstash_auth.username, NULL, 0, 0, NULL, "USER",
        "Logstash outputs only: basic auth user (http://); replaces the shared credentials.");
    OPT("logstash-password", CFG_STR, &c->logstash_auth.password, NULL, 0, 0, NULL, "PASS",
        "Logstash outputs only: basic auth password.");
    OPT("logstash-password-file", CFG_STR, &c->logstash_auth.password_file, NULL, 0, 0, NULL, "PATH",
        "Logstash outputs only: file holding the basic auth password.");
    OPT("logstash-ca-file", CFG_STR, &c->logstash_auth.ca_file, NULL, 0, 0, NULL, "PATH",
        "Logstash outputs only: CA bundle (replaces --ca-file).");
    OPT("logstash-cert", CFG_STR, &c->logstash_auth.cert, NULL, 0, 0, NULL, "PATH",
        "Logstash outputs only: mTLS client certificate (replaces --cert/--key).");
    OPT("logstash-key", CFG_STR, &c->logstash_auth.key, NULL, 0, 0, NULL, "PATH",
        "Logstash outputs only: mTLS client key.");
    OPT("insecure-skip-verify", CFG_BOOL, &c->insecure, "false", 0, 0, NULL, "BOOL",
        "Do not verify backends' TLS certificates (testing only).");
    OPT("connect-timeout", CFG_DURATION, &c->connect_timeout_ms, "5s", 1, 600000, NULL, "DUR",
        "TCP+TLS connect timeout.");
    OPT("request-timeout", CFG_DURATION, &c->request_timeout_ms, "30s", 1, 3600000, NULL, "DUR",
        "Whole-request timeout; a timeout is retried.");
    /* spool and engine */
    OPT("spool-dir", CFG_STR, &c->spool_dir, "/var/lib/logship", 0, 0, NULL, "DIR",
        "Directory of the durable spool, output cursors and source positions.");
    OPT("spool-max-bytes", CFG_SIZE, &c->spool_max_bytes, "256MiB", 1 << 20, (int64_t)1 << 50, NULL, "SIZE",
        "Cap on the spool's disk use; at the cap see --on-full.");
    OPT("spool-fsync", CFG_ENUM, &c->spool_fsync, "interval", 0, 0, fsyncs, "interval|always|never",
        "When spool data is fsync'ed; source positions are saved only after it.");
    OPT("spool-fsync-interval", CFG_DURATION, &c->spool_fsync_interval_ms, "1000ms", 10, 60000, NULL, "DUR",
        "With --spool-fsync interval: the sync and checkpoint period.");
    OPT("on-full", CFG_ENUM, &c->on_full, "block", 0, 0, fulls, "block|drop-oldest",
        "Spool full: stop reading (backpressure), or delete the oldest data and count it.");
    OPT("batch-bytes", CFG_SIZE, &c->batch_bytes, "1MiB", 4096, 5 << 20, NULL, "SIZE",
        "Most spool bytes per request.");
    OPT("batch-wait", CFG_DURATION, &c->batch_wait_ms, "100ms", 0, 60000, NULL, "DUR",
        "Longest an entry waits for its batch to fill before it is sent.");
    OPT("retry-initial-backoff", CFG_DURATION, &c->retry_initial_ms, "500ms", 1, 3600000, NULL, "DUR",
        "First retry ceiling; doubles per failure (full jitter).");
    OPT("retry-max-backoff", CFG_DURATION, &c->retry_max_ms, "5m", 1, 86400000, NULL, "DUR",
        "Largest retry delay.");
    OPT("config-error-retry", CFG_DURATION, &c->config_retry_ms, "30s", 1, 86400000, NULL, "DUR",
        "Probe period after a configuration error (401/403/404); data is kept.");
    OPT("metrics-addr", CFG_STR, &c->metrics_addr, "127.0.0.1:9880", 0, 0, NULL, "HOST:PORT",
        "Plain-HTTP listener for /metrics, /healthz and /ready (\"none\" disables).");
    OPT("shutdown-timeout", CFG_DURATION, &c->shutdown_timeout_ms, "10s", 0, 3600000, NULL, "DUR",
        "On SIGTERM/SIGINT or stdin EOF: how long to keep reading stdin to its end and sending what was read.");
    OPT("stall-timeout", CFG_DURATION, &c->stall_timeout_ms, "5m", 0, 86400000, NULL, "DUR",
        "/healthz answers 503 when the reader loop or an output thread made no progress for this long "
        "(a hung request, a full disk that never frees, a source that keeps failing; backing off from a "
        "down backend is progress); 0 never.");
    OPT("log-level", CFG_ENUM, &c->log_level, "info", 0, 0, levels, "LEVEL", "Least severe log level written.");
    OPT("config", CFG_STR, &c->config_file, NULL, 0, 0, NULL, "FILE",
        "JSON config file; keys are these option names.");
    OPT("check-config", CFG_BOOL, &c->check_config, "false", 0, 0, NULL, "BOOL",
        "Validate the configuration, print the outcome and exit (0 good, 2 bad).");
    OPT("help-markdown", CFG_BOOL, &c->help_markdown, "false", 0, 0, NULL, "BOOL",
        "Print this option table as Markdown (logship/OPTIONS.md) and exit.");
    g_nopts = i;
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

static int valid_label_name(const char *s, size_t n)
{
    if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' ||
              (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

/* Read the JSON config file into "--key=value" arguments. */
static int config_file_args(const char *path, buf_t *args, size_t *nargs, char *err, size_t errlen)
{
    int rc = -1;
    json_object *root = json_object_from_file(path);
    if (!root) {
        snprintf(err, errlen, "config file %s: %s", path, json_util_get_last_err());
        goto out;
    }
    if (!json_object_is_type(root, json_type_object)) {
        snprintf(err, errlen, "config file %s: the top level must be a JSON object", path);
        goto out;
    }
    json_object_object_foreach(root, key, val) {
        const struct cfg_opt *o = cfg_find(g_opts, g_nopts, key);
        if (!o || strcmp(key, "config") == 0) {
            snprintf(err, errlen, "config file %s: unknown key \"%s\"", path, key);
            goto out;
        }
        size_t nv = 1;
        int is_arr = json_object_is_type(val, json_type_array);
        if (is_arr) {
            if (o->type != CFG_LIST) {
                snprintf(err, errlen, "config file %s: \"%s\" takes one value, not an array", path, key);
                goto out;
            }
            nv = json_object_array_length(val);
        }
        for (size_t k = 0; k < nv; k++) {
            json_object *e = is_arr ? json_object_array_get_idx(val, k) : val;
            const char *txt;
            char num[64];
            switch (json_object_get_type(e)) {
            case json_type_string:
                txt = json_object_get_string(e);
                if (strlen(txt) != (size_t)json_object_get_string_len(e)) {
                    /* name the key, never the value: it may be a secret */
                    snprintf(err, errlen, "config file %s: \"%s\" holds a NUL character", path, key);
                    goto out;
                }
                break;
            case json_type_int:
                snprintf(num, sizeof(num), "%" PRId64, json_object_get_int64(e));
                txt = num;
                break;
            case json_type_double:
                snprintf(num, sizeof(num), "%.17g", json_object_get_double(e));
                txt = num;
                break;
            case json_type_boolean:
                txt = json_object_get_boolean(e) ? "true" : "false";
                break;
            default:
                snprintf(err, errlen, "config file %s: \"%s\" must be a string, number or boolean", path, key);
                goto out;
            }
            if (*nargs >= MAX_FILE_ARGS) {
                snprintf(err, errlen, "config file %s: too many values", path);
                goto out;
            }
            /* NUL-separated "--key=value" strings */
            if (buf_printf(args, "--%s=%s", key, txt) != 0 || buf_addc(args, '\0') != 0) {
                snprintf(err, errlen, "config file %s: too large", path);
                goto out;
            }
            (*nargs)++;
        }
    }
    rc = 0;
out:
    json_object_put(root);
    return rc;
}

/* Find --config / --config=FILE on the command line (or LOGSHIP_CONFIG). */
static const char *find_config_arg(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            return argv[i + 1];
        if (strncmp(argv[i], "--config=", 9) == 0)
            return argv[i] + 9;
    }
    return getenv(ENV_PREFIX "_CONFIG");
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

int ls_config_resolve_auth(const struct ls_kind_auth *kind, const struct ls_kind_auth *shared,
                           const char *flag, struct ls_output_conf *o, char *err, size_t errlen)
{
    const struct ls_kind_auth *cred = kind->username || kind->password || kind->password_file ||
                                              kind->bearer_token_file || kind->api_key ||
                                              kind->api_key_file ? kind : shared;
    const struct ls_kind_auth *tls = kind->cert || kind->key ? kind : shared;
    o->username = nonempty(cred->username);
    o->password = nonempty(cred->password);
    o->password_file = nonempty(cred->password_file);
    o->api_key_file = nonempty(cred->api_key_file);
    o->bearer_token_file = nonempty(cred->bearer_token_file);
    o->api_key = nonempty(cred->api_key);
    o->ca_file = nonempty(kind->ca_file ? kind->ca_file : shared->ca_file);
    o->cert_file = nonempty(tls->cert);
    o->key_file = nonempty(tls->key);
    const char *pre = cred == kind ? flag : "";
    const char *dash = cred == kind ? "-" : "";
    if (!o->username != !(o->password || o->password_file)) {
        snprintf(err, errlen, "--%s%susername and --%s%spassword go together", pre, dash, pre, dash);
        return -1;
    }
    pre = tls == kind ? flag : "";
    dash = tls == kind ? "-" : "";
    if (!o->cert_file != !o->key_file) {
        snprintf(err, errlen, "--%s%scert and --%s%skey go together", pre, dash, pre, dash);
        return -1;
    }
    return 0;
}

static int add_output(struct ls_config *c, const char *kind, const char *url, unsigned idx,
                      char *err, size_t errlen)
{
    if (c->n_outputs >= LS_MAX_OUTPUTS) {
        snprintf(err, errlen, "too many outputs (at most %d)", LS_MAX_OUTPUTS);
        return -1;
    }
    const struct ls_output_ops *ops = ls_output_find(kind);
    if (!ops) {
        snprintf(err, errlen, "--%s: this build has no %s output", kind, kind);
        return -1;
    }
    int ok = strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
    if (strcmp(kind, "logstash") == 0)
        ok = ok || strncmp(url, "beats://", 8) == 0 || strncmp(url, "beats+tls://", 12) == 0 ||
             strncmp(url, "tcp://", 6) == 0 || strncmp(url, "tls://", 6) == 0;
    if (!ok || strpbrk(url, " \t\r\n") != NULL) {
        char safe[512];
        snprintf(err, errlen, "--%s: bad URL \"%s\"", kind, ls_redact_url(url, safe, sizeof(safe)));
        return -1;
    }
    struct ls_output_spec *s = &c->outputs[c->n_outputs++];
    s->ops = ops;
    if (idx == 0)
        snprintf(s->name, sizeof(s->name), "%s", kind);
    else
        snprintf(s->name, sizeof(s->name), "%s-%u", kind, idx + 1);
    struct ls_output_conf *o = &s->conf;
    o->name = s->name;
    o->url = url;
    o->tenant = c->tenant;
    const struct ls_kind_auth shared = {
        .username = c->username, .password = c->password, .password_file = c->password_file,
        .bearer_token_file = c->bearer_token_file, .api_key = c->api_key,
        .api_key_file = c->api_key_file, .ca_file = c->ca_file, .cert = c->cert, .key = c->key,
    };
    const struct ls_kind_auth *own = &c->loki_auth;
    const char *flag = "loki";
    if (strcmp(kind, "elasticsearch") == 0) {
        own = &c->es_auth;
        flag = "es";
    } else if (strcmp(kind, "logstash") == 0) {
        own = &c->logstash_auth;
        flag = "logstash";
    }
    if (ls_config_resolve_auth(own, &shared, flag, o, err, errlen) != 0)
        return -1;
    o->insecure_skip_verify = c->insecure;
    o->connect_timeout_ms = c->connect_timeout_ms;
    o->request_timeout_ms = c->request_timeout_ms;
    o->encoding = strcmp(kind, "loki") == 0 ? encodings[c->loki_encoding] : NULL;
    o->compress = c->compress;
    o->index = c->es_index;
    o->dead_letter = c->dead_letter;
    o->batch_bytes = c->batch_bytes;
    return 0;
}

/* A value that goes into a request header must not end the header early:
 * CR or LF would let it add headers of its own (and NUL cuts it). Other
 * control characters are refused too; no credential needs them. */
static int header_safe(const char *opt, const char *v, char *err, size_t errlen)
{
    if (!v)
        return 0;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
            /* name the option, never the value */
            snprintf(err, errlen, "--%s holds a control character (CR, LF, ...); refused", opt);
            return -1;
        }
    return 0;
}

/* One credential level (shared "" or a kind's "loki-", "es-", "logstash-"):
 * header-safe values, a basic auth user without ':', and a value or a file
 * for each credential, not both. */
static int check_level(const char *pre, const struct ls_kind_auth *a, char *err, size_t errlen)
{
    char n1[48], n2[48];
    snprintf(n1, sizeof(n1), "%susername", pre);
    if (header_safe(n1, a->username, err, errlen) != 0)
        return -1;
    if (a->username && strchr(a->username, ':')) {
        snprintf(err, errlen, "--%s must not hold ':' (basic auth splits user and password there)", n1);
        return -1;
    }
    snprintf(n1, sizeof(n1), "%spassword", pre);
    snprintf(n2, sizeof(n2), "%spassword-file", pre);
    if (header_safe(n1, a->password, err, errlen) != 0)
        return -1;
    if (nonempty(a->password) && nonempty(a->password_file)) {
        snprintf(err, errlen, "--%s and --%s: give one, not both", n1, n2);
        return -1;
    }
    snprintf(n1, sizeof(n1), "%sapi-key", pre);
    snprintf(n2, sizeof(n2), "%sapi-key-file", pre);
    if (header_safe(n1, a->api_key, err, errlen) != 0)
        return -1;
    if (nonempty(a->api_key) && nonempty(a->api_key_file)) {
        snprintf(err, errlen, "--%s and --%s: give one, not both", n1, n2);
        return -1;
    }
    return 0;
}

static int check_secrets(struct ls_config *c, char *err, size_t errlen)
{
    const struct ls_kind_auth shared = {
        .username = c->username, .password = c->password, .password_file = c->password_file,
        .api_key = c->api_key, .api_key_file = c->api_key_file,
    };
    if (check_level("", &shared, err, errlen) != 0 || check_level("loki-", &c->loki_auth, err, errlen) != 0 ||
        check_level("es-", &c->es_auth, err, errlen) != 0 ||
        check_level("logstash-", &c->logstash_auth, err, errlen) != 0)
        return -1;
    return header_safe("tenant", c->tenant, err, errlen);
}

static int validate(struct ls_config *c, char *err, size_t errlen)
{
    /* sources: flags and positionals */
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
    if (check_secrets(c, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < c->labels.n; i++) {
        const char *l = c->labels.items[i];
        const char *eq = strchr(l, '=');
        if (!eq || !valid_label_name(l, (size_t)(eq - l)) || eq[1] == '\0') {
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
            if (!valid_label_name(f, strlen(f))) {
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

    for (size_t i = 0; i < c->loki.n; i++)
        if (add_output(c, "loki", c->loki.items[i], (unsigned)i, err, errlen) != 0)
            return -1;
    for (size_t i = 0; i < c->elasticsearch.n; i++)
        if (add_output(c, "elasticsearch", c->elasticsearch.items[i], (unsigned)i, err, errlen) != 0)
            return -1;
    for (size_t i = 0; i < c->logstash.n; i++)
        if (add_output(c, "logstash", c->logstash.items[i], (unsigned)i, err, errlen) != 0)
            return -1;
    if (c->n_outputs == 0) {
        snprintf(err, errlen, "no output given (--loki, --elasticsearch or --logstash)");
        return -1;
    }
    if (((c->password || c->password_file) && !c->username) ||
        (c->username && !(c->password || c->password_file))) {
        snprintf(err, errlen, "--username and --password go together");
        return -1;
    }
    if ((c->cert && !c->key) || (c->key && !c->cert)) {
        snprintf(err, errlen, "--cert and --key go together");
        return -1;
    }
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

int ls_config_load(struct ls_config *c, int argc, char **argv, char *err, size_t errlen)
{
    int rc = -1;
    buf_t fargs;
    char **av = NULL;
    size_t nf = 0;
    memset(c, 0, sizeof(*c));
    build_opts(c);
    buf_init(&fargs, 1u << 20);
    const char *cf = find_config_arg(argc, argv);
    if (cf && config_file_args(cf, &fargs, &nf, err, errlen) != 0)
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
    int r = cfg_parse(g_opts, g_nopts, ENV_PREFIX, ac, av, &c->positional, err, errlen);
    if (r == 1 || r == 2) {
        rc = r;
        goto out;
    }
    if (r != 0)
        goto out;
    if (c->help_markdown) {
        rc = 3;
        goto out;
    }
    if (validate(c, err, errlen) != 0) {
        if (err[0] == '\0')
            snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = 0;
out:
    free(av);
    buf_free(&fargs);
    return rc;
}

size_t ls_config_secrets(const struct ls_config *c, const char **names, size_t max)
{
    const struct { const char *name; const char *v; } all[] = {
        { "password", c->password },
        { "password-file", c->password_file },
        { "bearer-token-file", c->bearer_token_file },
        { "api-key", c->api_key },
        { "api-key-file", c->api_key_file },
        { "loki-password", c->loki_auth.password },
        { "loki-password-file", c->loki_auth.password_file },
        { "loki-bearer-token-file", c->loki_auth.bearer_token_file },
        { "es-password", c->es_auth.password },
        { "es-password-file", c->es_auth.password_file },
        { "es-api-key", c->es_auth.api_key },
        { "es-api-key-file", c->es_auth.api_key_file },
        { "logstash-password", c->logstash_auth.password },
        { "logstash-password-file", c->logstash_auth.password_file },
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (nonempty(all[i].v) && n < max)
            names[n++] = all[i].name;
    return n;
}

void ls_config_usage(struct ls_config *c, FILE *out)
{
    if (g_nopts == 0)
        build_opts(c);
    cfg_usage(out, "logship",
              "Ship log lines from files, Docker json-file logs or stdin through a durable spool\n"
              "to Loki, Elasticsearch and Logstash, at least once.",
              g_opts, g_nopts, ENV_PREFIX);
}

void ls_config_markdown(struct ls_config *c, FILE *out)
{
    if (g_nopts == 0)
        build_opts(c);
    cfg_markdown(out, g_opts, g_nopts, ENV_PREFIX);
}

void ls_config_free(struct ls_config *c)
{
    if (g_nopts)
        cfg_free(g_opts, g_nopts);
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
