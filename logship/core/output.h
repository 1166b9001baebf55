/* output: the one small interface every backend implements.
 *
 * An output turns a batch of records into a request and maps the response to
 * a verdict. That is all: the engine (pipeline) owns batching, the spool
 * cursor, backoff with full jitter, retry limits and the counters. So a new
 * backend is one new file with one ls_output_ops table (its vtable, its
 * option table and settings struct, its per-kind credential options), plus a
 * line in output.c's registry; config.c reads the tables and never names a
 * backend. Outputs contain no retry loops and no sleeps.
 *
 * The verdicts (LS_DONE, LS_RETRY, LS_DROP, LS_CONFIG, LS_PARTIAL) and the
 * status table each output extends are core/verdict.h's. */
#ifndef LOGSHIP_OUTPUT_H
#define LOGSHIP_OUTPUT_H

/* The most outputs one logship runs (configuration refuses more; the engine's table size). */
#define LS_MAX_OUTPUTS 16

#include <stddef.h>
#include <stdint.h>
#include "cfg.h"
#include "logship/core/auth.h"
#include "logship/core/record.h"
#include "logship/core/verdict.h"

/* What the engine hands to flush: records in spool order. */
struct ls_batch {
    const struct ls_record *recs;
    size_t n;
    /* The first n_maybe_sent records were handed to this output before a
     * restart (or an earlier attempt) and never acknowledged: the backend may
     * already hold them. An output that can ask the backend (Loki's query
     * API) checks them before sending; the others resend them and count them
     * in res->maybe_duplicates (Elasticsearch's deterministic _id turns its
     * replays into 409s, so it counts nothing). */
    size_t n_maybe_sent;
};

/* What flush reports back beside its verdict. */
struct ls_flush_result {
    /* Per-record verdicts, n entries, filled only when flush returns
     * LS_PARTIAL; the engine resends exactly the LS_RETRY and LS_CONFIG ones
     * (after config_retry_ms when any is LS_CONFIG). */
    enum ls_verdict *item;
    int     http_status;        /* 0 when no response (connection error, timeout) */
    int     backend_up;         /* 1 when the answer's verdict row says the backend is serving
                                 * (it answered, below 5xx); 0 (no response, 5xx) turns
                                 * logship_output_up to 0 while the engine retries */
    int64_t retry_after_ms;     /* from a Retry-After header, else -1 */
    char    reason[64];         /* drop/retry reason, a short metric label value,
                                 * e.g. "too_far_behind", "rate_limited", "timeout" */
    char    detail[1024];       /* first KB of the response body or the error text */
    size_t  dropped;            /* records dropped (Loki partial 400 reports N of M) */
    size_t  duplicates;         /* records the backend already had (Elasticsearch 409 on
                                 * create with a deterministic _id, or found by Loki's query
                                 * API): delivered, counted apart */
    size_t  maybe_duplicates;   /* maybe-sent records resent without a way to check whether
                                 * the backend already had them */
    const char *fix;            /* LS_CONFIG (whole or per item): a static one-line remedy the
                                 * engine logs (which privilege, which setting), or NULL */
};

/* Options common to every output, from the command line / config file. */
struct ls_output_conf {
    const char *name;          /* instance name, the "output" metric label */
    const char *url;
    const void *settings;      /* the kind's own options: the struct its option table fills
                                * (out/out_<kind>.h), shared by the kind's instances; NULL: defaults */
    const char *username, *password;   /* basic auth */
    const char *bearer_token_file;     /* Authorization: Bearer <file contents> */
    const char *api_key;               /* Elasticsearch: Authorization: ApiKey <key> */
    const char *password_file;         /* basic auth password read from a file (re-read on change) */
    const char *api_key_file;          /* Elasticsearch API key read from a file (re-read on change) */
    const char *ca_file, *cert_file, *key_file; /* TLS, mTLS */
    int         insecure_skip_verify;
    int64_t     connect_timeout_ms, request_timeout_ms;
    int         compress;      /* gzip request bodies where the backend takes them */
    uint64_t    batch_bytes;   /* upper bound on one request's payload */
};

/* An output kind's options are cfg rows (cfg.h's struct cfg_row, declared
 * with CFG_ROW: the offset is into the kind's settings struct).
 * LS_OPTION_HEADER in flags: the value goes into a request header, so
 * configuration refuses control characters in it. */
#define LS_OPTION_HEADER 1u
#define LS_HEADER_OPTION(settings, field, name, metavar, help) \
    { { name, 0, CFG_STR, NULL, NULL, 0, 0, NULL, metavar, help }, offsetof(settings, field), LS_OPTION_HEADER }

struct ls_output_ops {
    const char *kind;  /* "loki", "elasticsearch", "logstash" */
    /* Build an instance. On failure return NULL with a one-line message in err. */
    void *(*create)(const struct ls_output_conf *conf, char *err, size_t errlen);
    /* Send one batch (b->n >= 1). Must not sleep or retry; must fill res. */
    enum ls_verdict (*flush)(void *ctx, const struct ls_batch *b, struct ls_flush_result *res);
    /* Release everything create made. NULL-safe. */
    void (*destroy)(void *ctx);
    /* 1 when an item RETRY means a momentarily full queue rather than a rate
     * limit (Elasticsearch's item 429, es_rejected_execution_exception): a
     * LS_PARTIAL answer that stored at least as many items as it asks to
     * retry then has the rest resent after a short pause (the batch wait)
     * instead of a backoff draw. 0 (Loki's per-stream 429s are rate limits):
     * always a backoff draw. Either way an answer that stores nothing backs
     * off. */
    int resend_soon_on_progress;
    /* For config.c (an engine-only fake leaves them empty): the kind's
     * options, in --help order. options[0] is the CFG_LIST of URLs named
     * kind (--loki URL): one output instance per URL. Their values live in
     * one settings struct of settings_size bytes per kind, handed to create
     * as conf->settings. */
    const struct cfg_row *options;
    size_t n_options;
    size_t settings_size;
    const char *const *schemes;         /* URL prefixes taken, NULL-terminated ("http://", ...) */
    const struct ls_output_auth *auth;  /* per-kind credential options; NULL: the shared ones only */
};

/* The registry of built-in output kinds (output.c), in --help order: the
 * i-th kind, or NULL when i is past the last. */
const struct ls_output_ops *ls_output_kind(size_t i);

/* The URL schemes every HTTP output takes. */
extern const char *const ls_output_http_schemes[];

#endif
