/* options: hellod's option table (the single declaration behind flags, env, --help and OPTIONS.md). */
#include "service/options.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "log.h"

#define ENV_PREFIX "HELLOD"

static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};

/* One row per option (cfg.h's struct cfg_row): the array is sized by its
 * initializer and every user binds it into a copy of NOPTS entries. */
#define OPT(field, name, type, def, min, max, choices, metavar, help) \
    CFG_ROW(struct options, field, name, type, def, min, max, choices, metavar, help)

static const struct cfg_row decls[] = {
    OPT(tls_port, "tls-port", CFG_INT, "8443", 0, 65535, NULL, "PORT",
        "HTTPS port (TLS 1.2 and 1.3 only); 0 lets the kernel pick one"),
    OPT(http_port, "http-port", CFG_INT, "8080", 0, 65535, NULL, "PORT",
        "plain-HTTP port that redirects every request to HTTPS; 0 disables it"),
    OPT(bind, "bind", CFG_STR, "0.0.0.0", 0, 0, NULL, "ADDR",
        "address to listen on, an IPv4 or IPv6 literal (:: for IPv6)"),
    OPT(cert, "cert", CFG_STR, NULL, 0, 0, NULL, "FILE",
        "PEM certificate chain; reloaded on SIGHUP (needs --key)"),
    OPT(key, "key", CFG_STR, NULL, 0, 0, NULL, "FILE",
        "PEM private key for --cert; reloaded on SIGHUP"),
    OPT(state_dir, "state-dir", CFG_STR, "/var/lib/hellod", 0, 0, NULL, "DIR",
        "where a self-signed certificate is generated when --cert is not given"),
    OPT(threads, "threads", CFG_INT, "128", 2, 4096, NULL, "N",
        "worker threads, which is also the most connections served at once"),
    OPT(log_file, "log-file", CFG_STR, NULL, 0, 0, NULL, "FILE",
        "also append the JSON log lines here; reopened on SIGHUP"),
    OPT(log_level, "log-level", CFG_ENUM, "info", 0, 0, level_names, "LEVEL",
        "lowest level logged (access lines are info)."),
    OPT(shutdown_timeout_ms, "shutdown-timeout", CFG_DURATION, "10s", 100, 3600000, NULL, "DURATION",
        "on SIGTERM/SIGINT, how long in-flight requests may take before hellod exits anyway"),
    OPT(max_request_size, "max-request-size", CFG_SIZE, "16KiB", 1024, 16777216, NULL, "SIZE",
        "largest request head, and largest request body, accepted"),
    OPT(request_timeout_ms, "request-timeout", CFG_DURATION, "10s", 100, 600000, NULL, "DURATION",
        "time a new connection gets for its TLS handshake and request head, and a request for its body"),
    OPT(keepalive_timeout_ms, "keepalive-timeout", CFG_DURATION, "5s", 0, 600000, NULL, "DURATION",
        "how long an idle keep-alive connection may wait for its next request; 0 disables keep-alive"),
    OPT(hsts_max_age, "hsts-max-age", CFG_INT, "31536000", 0, 63072000, NULL, "SECONDS",
        "Strict-Transport-Security max-age on HTTPS responses; 0 omits it"),
    OPT(tls_session_tickets, "tls-session-tickets", CFG_BOOL, "on", 0, 0, NULL, "BOOL",
        "allow TLS session resumption (tickets and cache); off forces a full handshake per connection"),
    OPT(max_conns_per_addr, "max-conns-per-addr", CFG_INT, "64", 0, 65535, NULL, "N",
        "connections one client address (IPv6: one /64) may hold at once on the HTTPS and redirect "
        "ports, at most half of --threads; more are reset at accept, before they take a thread. "
        "0: no limit (behind a proxy, whose clients all share its address)"),
    OPT(health_port, "health-port", CFG_INT, "9102", 0, 65535, NULL, "PORT",
        "plain-HTTP listener with its own threads for /healthz, /readyz and /metrics "
        "(probes never queue behind clients); 0 disables it"),
    OPT(health_bind, "health-bind", CFG_STR, "0.0.0.0", 0, 0, NULL, "ADDR",
        "address of the --health-port listener, an IPv4 or IPv6 literal (:: for IPv6)"),
    OPT(help_markdown, "help-markdown", CFG_BOOL, "false", 0, 0, NULL, NULL,
        "print this option table as Markdown (service/OPTIONS.md) and exit"),
};

#define NOPTS (sizeof(decls) / sizeof(decls[0]))

/* Fill t with the table whose destinations live in o. 0, or -1 if the rows
 * did not fit t (they always do: t holds NOPTS entries). */
static int table(struct options *o, struct cfg_opt t[NOPTS])
{
    size_t used = 0;
    return cfg_bind(t, NOPTS, &used, decls, NOPTS, o);
}

static int is_addr_literal(const char *s)
{
    unsigned char a[16];
    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

int options_parse(struct options *o, int argc, char **argv, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    struct cfg_opt t[NOPTS];
    if (table(o, t) != 0) {
        snprintf(err, errlen, "option table larger than its copy");
        return OPTIONS_ERROR;
    }
    int rc = cfg_parse(t, NOPTS, ENV_PREFIX, argc, argv, NULL, err, errlen);
    if (rc == 1)
        return OPTIONS_HELP;
    if (rc == 2)
        return OPTIONS_VERSION;
    if (rc != 0)
        return OPTIONS_ERROR;
    if (o->help_markdown)
        return OPTIONS_MARKDOWN;
    if (!o->bind || !is_addr_literal(o->bind)) {
        snprintf(err, errlen, "--bind: '%s' is not an IPv4 or IPv6 address",
                 o->bind ? o->bind : "");
        return OPTIONS_ERROR;
    }
    if (!o->health_bind || !is_addr_literal(o->health_bind)) {
        snprintf(err, errlen, "--health-bind: '%s' is not an IPv4 or IPv6 address",
                 o->health_bind ? o->health_bind : "");
        return OPTIONS_ERROR;
    }
    if (o->health_port != 0 && (o->health_port == o->tls_port || o->health_port == o->http_port)) {
        snprintf(err, errlen, "--health-port must differ from --tls-port and --http-port");
        return OPTIONS_ERROR;
    }
    if (!o->cert != !o->key) {
        snprintf(err, errlen, "--cert and --key must be given together");
        return OPTIONS_ERROR;
    }
    if ((o->cert && o->cert[0] == '\0') || (o->key && o->key[0] == '\0')) {
        snprintf(err, errlen, "--cert and --key must not be empty");
        return OPTIONS_ERROR;
    }
    if (!o->cert && (!o->state_dir || o->state_dir[0] == '\0')) {
        snprintf(err, errlen, "--state-dir must not be empty when --cert is not given");
        return OPTIONS_ERROR;
    }
    if (o->http_port != 0 && o->http_port == o->tls_port) {
        snprintf(err, errlen, "--http-port and --tls-port must differ");
        return OPTIONS_ERROR;
    }
    return OPTIONS_RUN;
}

void options_usage(FILE *out)
{
    struct options o;
    memset(&o, 0, sizeof(o));
    struct cfg_opt t[NOPTS];
    if (table(&o, t) != 0)
        return;
    cfg_usage(out, "hellod",
              "HTTPS hello-world service with JSON logs, /healthz, /readyz and /metrics.",
              t, NOPTS, ENV_PREFIX);
}

void options_markdown(FILE *out)
{
    struct options o;
    memset(&o, 0, sizeof(o));
    struct cfg_opt t[NOPTS];
    if (table(&o, t) != 0)
        return;
    cfg_markdown(out, t, NOPTS, ENV_PREFIX);
}

void options_free(struct options *o)
{
    struct cfg_opt t[NOPTS];
    if (table(o, t) != 0)
        return;
    cfg_free(t, NOPTS);
    o->bind = o->cert = o->key = o->state_dir = o->log_file = o->health_bind = NULL;
}
