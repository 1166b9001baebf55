/* options: hellod's option table (the single declaration behind flags, env, --help and OPTIONS.md). */
#include "service/options.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "log.h"

#define ENV_PREFIX "HELLOD"
#define NOPTS 20

static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};

/* Fill t with the table whose destinations live in o; returns the count. */
static size_t table(struct hopt *o, struct cfg_opt *t)
{
    size_t n = 0;
    t[n++] = (struct cfg_opt){"tls-port", 0, CFG_INT, &o->tls_port, "8443", 0, 65535, NULL,
        "PORT", "HTTPS port (TLS 1.2 and 1.3 only); 0 lets the kernel pick one"};
    t[n++] = (struct cfg_opt){"http-port", 0, CFG_INT, &o->http_port, "8080", 0, 65535, NULL,
        "PORT", "plain-HTTP port that redirects every request to HTTPS; 0 disables it"};
    t[n++] = (struct cfg_opt){"bind", 0, CFG_STR, &o->bind, "0.0.0.0", 0, 0, NULL,
        "ADDR", "address to listen on, an IPv4 or IPv6 literal (:: for IPv6)"};
    t[n++] = (struct cfg_opt){"cert", 0, CFG_STR, &o->cert, NULL, 0, 0, NULL,
        "FILE", "PEM certificate chain; reloaded on SIGHUP (needs --key)"};
    t[n++] = (struct cfg_opt){"key", 0, CFG_STR, &o->key, NULL, 0, 0, NULL,
        "FILE", "PEM private key for --cert; reloaded on SIGHUP"};
    t[n++] = (struct cfg_opt){"state-dir", 0, CFG_STR, &o->state_dir, "/var/lib/hellod", 0, 0, NULL,
        "DIR", "where a self-signed certificate is generated when --cert is not given"};
    t[n++] = (struct cfg_opt){"threads", 0, CFG_INT, &o->threads, "128", 2, 4096, NULL,
        "N", "worker threads, which is also the most connections served at once"};
    t[n++] = (struct cfg_opt){"log-file", 0, CFG_STR, &o->log_file, NULL, 0, 0, NULL,
        "FILE", "also append the JSON log lines here; reopened on SIGHUP"};
    t[n++] = (struct cfg_opt){"log-level", 0, CFG_ENUM, &o->log_level, "info", 0, 0, level_names,
        "LEVEL", "lowest level logged (access lines are info)."};
    t[n++] = (struct cfg_opt){"shutdown-timeout", 0, CFG_DURATION, &o->shutdown_timeout_ms, "10s",
        100, 3600000, NULL, "DURATION",
        "on SIGTERM/SIGINT, how long in-flight requests may take before hellod exits anyway"};
    t[n++] = (struct cfg_opt){"max-request-size", 0, CFG_SIZE, &o->max_request_size, "16KiB",
        1024, 16777216, NULL, "SIZE", "largest request head, and largest request body, accepted"};
    t[n++] = (struct cfg_opt){"request-timeout", 0, CFG_DURATION, &o->request_timeout_ms, "10s",
        100, 600000, NULL, "DURATION",
        "time a new connection gets for its TLS handshake and request head, and a request for its body"};
    t[n++] = (struct cfg_opt){"keepalive-timeout", 0, CFG_DURATION, &o->keepalive_timeout_ms, "5s",
        0, 600000, NULL, "DURATION",
        "how long an idle keep-alive connection may wait for its next request; 0 disables keep-alive"};
    t[n++] = (struct cfg_opt){"hsts-max-age", 0, CFG_INT, &o->hsts_max_age, "31536000",
        0, 63072000, NULL, "SECONDS", "Strict-Transport-Security max-age on HTTPS responses; 0 omits it"};
    t[n++] = (struct cfg_opt){"tls-session-tickets", 0, CFG_BOOL, &o->tls_session_tickets, "on",
        0, 0, NULL, "BOOL",
        "allow TLS session resumption (tickets and cache); off forces a full handshake per connection"};
    t[n++] = (struct cfg_opt){"max-conns-per-addr", 0, CFG_INT, &o->max_conns_per_addr, "64",
        0, 65535, NULL, "N",
        "connections one client address (IPv6: one /64) may hold at once on the HTTPS and redirect "
        "ports, at most half of --threads; more are reset at accept, before they take a thread. "
        "0: no limit (behind a proxy, whose clients all share its address)"};
    t[n++] = (struct cfg_opt){"health-port", 0, CFG_INT, &o->health_port, "9102", 0, 65535, NULL,
        "PORT", "plain-HTTP listener with its own threads for /healthz, /readyz and /metrics "
        "(probes never queue behind clients); 0 disables it"};
    t[n++] = (struct cfg_opt){"health-bind", 0, CFG_STR, &o->health_bind, "0.0.0.0", 0, 0, NULL,
        "ADDR", "address of the --health-port listener, an IPv4 or IPv6 literal (:: for IPv6)"};
    t[n++] = (struct cfg_opt){"help-markdown", 0, CFG_BOOL, &o->help_markdown, "false", 0, 0, NULL,
        NULL, "print this option table as Markdown (service/OPTIONS.md) and exit"};
    return n;
}

static int is_addr_literal(const char *s)
{
    unsigned char a[16];
    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

int hopt_parse(struct hopt *o, int argc, char **argv, char *err, size_t errlen)
{
    struct cfg_opt t[NOPTS];
    size_t n;
    int rc;

    memset(o, 0, sizeof(*o));
    n = table(o, t);
    rc = cfg_parse(t, n, ENV_PREFIX, argc, argv, NULL, err, errlen);
    if (rc == 1)
        return HOPT_HELP;
    if (rc == 2)
        return HOPT_VERSION;
    if (rc != 0)
        return HOPT_ERROR;
    if (o->help_markdown)
        return HOPT_MARKDOWN;
    if (o->bind == NULL || !is_addr_literal(o->bind)) {
        snprintf(err, errlen, "--bind: '%s' is not an IPv4 or IPv6 address",
                 o->bind ? o->bind : "");
        return HOPT_ERROR;
    }
    if (o->health_bind == NULL || !is_addr_literal(o->health_bind)) {
        snprintf(err, errlen, "--health-bind: '%s' is not an IPv4 or IPv6 address",
                 o->health_bind ? o->health_bind : "");
        return HOPT_ERROR;
    }
    if (o->health_port != 0 && (o->health_port == o->tls_port || o->health_port == o->http_port)) {
        snprintf(err, errlen, "--health-port must differ from --tls-port and --http-port");
        return HOPT_ERROR;
    }
    if ((o->cert == NULL) != (o->key == NULL)) {
        snprintf(err, errlen, "--cert and --key must be given together");
        return HOPT_ERROR;
    }
    if ((o->cert && o->cert[0] == '\0') || (o->key && o->key[0] == '\0')) {
        snprintf(err, errlen, "--cert and --key must not be empty");
        return HOPT_ERROR;
    }
    if (o->cert == NULL && (o->state_dir == NULL || o->state_dir[0] == '\0')) {
        snprintf(err, errlen, "--state-dir must not be empty when --cert is not given");
        return HOPT_ERROR;
    }
    if (o->http_port != 0 && o->http_port == o->tls_port) {
        snprintf(err, errlen, "--http-port and --tls-port must differ");
        return HOPT_ERROR;
    }
    return HOPT_RUN;
}

void hopt_usage(FILE *out)
{
    struct hopt o;
    struct cfg_opt t[NOPTS];
    size_t n;

    memset(&o, 0, sizeof(o));
    n = table(&o, t);
    cfg_usage(out, "hellod",
              "HTTPS hello-world service with JSON logs, /healthz, /readyz and /metrics.",
              t, n, ENV_PREFIX);
}

void hopt_markdown(FILE *out)
{
    struct hopt o;
    struct cfg_opt t[NOPTS];
    size_t n;

    memset(&o, 0, sizeof(o));
    n = table(&o, t);
    cfg_markdown(out, t, n, ENV_PREFIX);
}

void hopt_free(struct hopt *o)
{
    struct cfg_opt t[NOPTS];
    size_t n = table(o, t);

    cfg_free(t, n);
    o->bind = o->cert = o->key = o->state_dir = o->log_file = o->health_bind = NULL;
}
