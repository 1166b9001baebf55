/* options: hellod's configuration, declared once (flags, HELLOD_* env, --help, OPTIONS.md). */
#ifndef HELLOD_OPTIONS_H
#define HELLOD_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct options {
    int64_t  tls_port;            /* 0: the kernel picks one (see the "listening" line) */
    int64_t  http_port;           /* 0: no plain-HTTP redirect listener */
    char    *bind;                /* IPv4 or IPv6 literal */
    char    *cert, *key;          /* both or neither */
    char    *state_dir;           /* where the self-signed certificate lives */
    int64_t  threads;             /* civetweb num_threads = max concurrent connections */
    char    *log_file;            /* NULL: stdout only */
    int      log_level;           /* enum log_level */
    int64_t  shutdown_timeout_ms;
    uint64_t max_request_size;    /* request head and body cap, bytes */
    int64_t  request_timeout_ms;  /* TLS handshake + request head, and body */
    int64_t  keepalive_timeout_ms;/* idle time between requests; 0 disables keep-alive */
    int64_t  hsts_max_age;        /* seconds; 0: no Strict-Transport-Security */
    int      tls_session_tickets; /* TLS session resumption (tickets, session cache) */
    int64_t  max_conns_per_addr;  /* per client address (IPv6 /64); 0: no cap */
    int64_t  health_port;         /* plain-HTTP health/metrics listener; 0: none */
    char    *health_bind;         /* its address literal */
    int      help_markdown;       /* print the options as Markdown and exit */
};

enum options_result { OPTIONS_RUN = 0, OPTIONS_HELP, OPTIONS_VERSION, OPTIONS_MARKDOWN, OPTIONS_ERROR = -1 };

/* Parse defaults < HELLOD_* environment < argv into o (zeroed first) and
 * check the combinations cfg cannot (bind is an address literal, cert and
 * key come together, the two ports differ). Returns an options_result; on
 * OPTIONS_ERROR err holds one line without a newline. Strings in o are owned by
 * o: release them with options_free (also after an error). */
int options_parse(struct options *o, int argc, char **argv, char *err, size_t errlen);

/* Print --help (usage) or the Markdown option table to out. */
void options_usage(FILE *out);
void options_markdown(FILE *out);

/* Free the strings of o. Safe on a zeroed or already freed struct. */
void options_free(struct options *o);

#endif
