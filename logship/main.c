/* main: logship's process lifecycle: config, logging, spool, outputs, sources, admin endpoint, signals, exit codes. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "jsonw.h"
#include "log.h"
#include "metrics.h"
#include "logship/admin.h"
#include "logship/config.h"
#include "logship/engine/pipeline.h"
#include "logship/in/source_file.h"
#include "logship/in/source_stdin.h"
#include "logship/spool/spool.h"

static volatile sig_atomic_t g_stop, g_reopen;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        g_reopen = 1;
    else
        g_stop = g_stop ? 2 : 1; /* a second one stops reading stdin at once */
}

static int install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0 ||
        sigaction(SIGHUP, &sa, NULL) != 0)
        return -1;
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

static int pipeline_ready(void *ctx)
{
    return ls_pipeline_ready(ctx);
}

static int pipeline_health(void *ctx, char *why, size_t n)
{
    return ls_pipeline_health(ctx, why, n);
}

/* Where a file resumes: after the newest line of it already in the spool. */
static int resume_mark(void *ctx, uint64_t dev, uint64_t ino, uint64_t *off, uint64_t *fp)
{
    return ls_spool_resume_mark(ctx, dev, ino, off, fp);
}

/* --check-config: build every output once (this reads token files and
 * checks URLs and TLS files) and throw it away. */
static int check_outputs(struct ls_config *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < c->n_outputs; i++) {
        void *ctx = c->outputs[i].ops->create(&c->outputs[i].conf, err, errlen);
        if (!ctx)
            return -1;
        c->outputs[i].ops->destroy(ctx);
    }
    return 0;
}

/* The start line: version, spool, and which secrets are set, by option
 * name only ("secrets":["es-password-file"]), so an operator can see where
 * credentials come from without any of them reaching the log. */
static void log_started(const struct ls_config *c)
{
    const char *names[LS_CONFIG_MAX_SECRETS];
    size_t n = ls_config_secrets(c, names, LS_CONFIG_MAX_SECRETS);
    buf_t arr, line;
    buf_init(&arr, 4096);
    buf_init(&line, LOG_LINE_MAX);
    int bad = buf_addc(&arr, '[') != 0;
    for (size_t i = 0; i < n; i++)
        bad |= (i && buf_addc(&arr, ',') != 0) || jsonw_str(&arr, names[i], strlen(names[i])) != 0;
    bad |= buf_addc(&arr, ']') != 0;
    log_begin(&line, LOGL_INFO, "started");
    bad |= log_kv_strn(&line, "version", PROJECT_VERSION, strlen(PROJECT_VERSION)) != 0;
    bad |= log_kv_strn(&line, "spool", c->spool_dir, strlen(c->spool_dir)) != 0;
    /* a half-built array is left out; the line says "started" either way */
    if (!bad && jsonw_kv_raw(&line, "secrets", arr.p, arr.len) != 0)
        bad = 1;
    log_emit(&line);
    buf_free(&line);
    buf_free(&arr);
}

/* The process exit codes; a setup step returns EXIT_OK to go on. */
enum exit_code {
    EXIT_OK = 0,
    EXIT_FAILED = 1,  /* a runtime failure (signals, memory, the engine) */
    EXIT_SETUP = 2,   /* bad configuration or something retrying would not fix */
};

/* Everything main builds, freed by app_free in reverse order. */
struct app {
    struct ls_config c;
    char err[512];
    metrics_registry *reg;
    struct ls_spool *sp;
    struct ls_pipeline *p;
    struct ls_admin *admin;
    struct ls_source *src_file;
    struct ls_source *src_stdin;
};

static void app_free(struct app *a)
{
    ls_admin_stop(a->admin);
    ls_pipeline_free(a->p);
    ls_source_free(a->src_file);
    ls_source_free(a->src_stdin);
    ls_spool_close(a->sp);
    metrics_free(a->reg);
    ls_config_free(&a->c);
}

/* --help, --version, --help-markdown or a configuration error: print and say how to exit. */
static int config_exit(struct ls_config *c, enum ls_config_result r, const char *err)
{
    switch (r) {
    case LS_CONFIG_HELP:
        ls_config_usage(c, stdout);
        return EXIT_OK;
    case LS_CONFIG_MARKDOWN:
        ls_config_markdown(c, stdout);
        return EXIT_OK;
    case LS_CONFIG_VERSION:
        printf("logship %s\n", PROJECT_VERSION);
        return EXIT_OK;
    case LS_CONFIG_RUN:
    case LS_CONFIG_ERROR:
        break;
    }
    fprintf(stderr, "logship: %s\n", err);
    return EXIT_SETUP;
}

/* --check-config: every output built once and thrown away. */
static enum exit_code check_config(struct app *a)
{
    if (check_outputs(&a->c, a->err, sizeof(a->err)) != 0) {
        fprintf(stderr, "logship: %s\n", a->err);
        return EXIT_SETUP;
    }
    printf("logship: configuration OK\n");
    return EXIT_OK;
}

/* The metrics registry with logship_build_info set. */
static enum exit_code open_registry(struct app *a)
{
    a->reg = metrics_new();
    if (!a->reg) {
        log_kv(LOGL_ERROR, "out of memory", NULL);
        return EXIT_FAILED;
    }
    const char *lv[1] = { "version" };
    const char *vv[1] = { PROJECT_VERSION };
    metrics_family *bi = metrics_gauge(a->reg, "logship_build_info", "logship's version.", 1, lv);
    if (bi)
        metrics_family_set(bi, vv, 1);
    return EXIT_OK;
}

static enum exit_code open_spool(struct app *a)
{
    const struct ls_config *c = &a->c;
    struct ls_spool_opts so = {
        .dir = c->spool_dir,
        .max_bytes = c->spool_max_bytes,
        .max_record_bytes = ls_spool_max_record(c->max_line_bytes),
        .fsync = (enum ls_fsync_policy)c->spool_fsync,
        .fsync_interval_ms = c->spool_fsync_interval_ms,
        .drop_oldest = c->on_full == 1,
        .reg = a->reg,
    };
    a->sp = ls_spool_open(&so, a->err, sizeof(a->err));
    if (!a->sp) {
        /* Nothing could ever be shipped: say why and stop (exit 2). */
        log_kv(LOGL_ERROR, "cannot open the spool", "path", c->spool_dir, "error", a->err, NULL);
        return EXIT_SETUP;
    }
    return EXIT_OK;
}

/* The engine and one delivery per configured output. */
static enum exit_code start_engine(struct app *a)
{
    const struct ls_config *c = &a->c;
    struct ls_pipeline_opts po = {
        .spool = a->sp,
        .batch_bytes = (size_t)c->batch_bytes,
        .batch_wait_ms = c->batch_wait_ms,
        .shutdown_timeout_ms = c->shutdown_timeout_ms,
        .backoff_initial_ms = c->retry_initial_ms,
        .backoff_max_ms = c->retry_max_ms,
        .config_retry_ms = c->config_retry_ms,
        .commit_interval_ms = c->spool_fsync_interval_ms,
        .commit_every_round = c->spool_fsync == LS_FSYNC_ALWAYS,
        .stall_timeout_ms = c->stall_timeout_ms,
        .reg = a->reg,
    };
    a->p = ls_pipeline_new(&po, a->err, sizeof(a->err));
    if (!a->p) {
        log_kv(LOGL_ERROR, "cannot start the engine", "error", a->err, NULL);
        return EXIT_FAILED;
    }
    for (size_t i = 0; i < c->n_outputs; i++) {
        const struct ls_output_spec *s = &c->outputs[i];
        void *ctx = s->ops->create(&s->conf, a->err, sizeof(a->err));
        if (!ctx || ls_pipeline_add_output(a->p, s->ops, ctx, s->name, a->err, sizeof(a->err)) != 0) {
            fprintf(stderr, "logship: %s\n", a->err);
            return EXIT_SETUP;
        }
    }
    return EXIT_OK;
}

/* The file source (when any --source is a path) and the stdin source (--source -). */
static enum exit_code add_sources(struct app *a)
{
    struct ls_config *c = &a->c;
    if (c->n_file_sources > 0) {
        a->src_file = ls_source_file_new_guarded(c->file_sources, c->n_file_sources,
                                                 (const char *const *)c->allow_roots.items, c->allow_roots.n,
                                                 &c->parse, (enum ls_start_at)c->start_at, c->spool_dir, a->reg,
                                                 a->err, sizeof(a->err));
        if (!a->src_file) {
            fprintf(stderr, "logship: %s\n", a->err);
            return EXIT_SETUP;
        }
        ls_source_file_set_resume(a->src_file, resume_mark, a->sp);
        (void)ls_pipeline_add_source(a->p, a->src_file);
    }
    if (c->use_stdin) {
        a->src_stdin = ls_source_stdin_new(&c->parse, a->reg, a->err, sizeof(a->err));
        if (!a->src_stdin) {
            fprintf(stderr, "logship: %s\n", a->err);
            return EXIT_SETUP;
        }
        (void)ls_pipeline_add_source(a->p, a->src_stdin);
    }
    return EXIT_OK;
}

/* The admin endpoint (/metrics, /ready, /health) unless --metrics-addr is none. */
static enum exit_code start_admin(struct app *a)
{
    const char *addr = a->c.metrics_addr;
    if (!addr || !addr[0] || strcmp(addr, "none") == 0)
        return EXIT_OK;
    a->admin = ls_admin_start(addr, a->reg, pipeline_ready, pipeline_health, a->p, a->err, sizeof(a->err));
    if (!a->admin) {
        log_kv(LOGL_ERROR, "cannot serve metrics", "error", a->err, NULL);
        return EXIT_SETUP; /* e.g. the port is taken: retrying would not help */
    }
    char port[16];
    snprintf(port, sizeof(port), "%d", ls_admin_port(a->admin));
    log_kv(LOGL_INFO, "metrics listening", "addr", addr, "port", port, NULL);
    return EXIT_OK;
}

/* Build everything, run until a signal stops the engine, and say how to exit. */
static enum exit_code run(struct app *a)
{
    if (install_signals() != 0) {
        log_kv(LOGL_ERROR, "cannot install signal handlers", "error", strerror(errno), NULL);
        return EXIT_FAILED;
    }
    enum exit_code rc = open_registry(a);
    if (rc == EXIT_OK)
        rc = open_spool(a);
    if (rc == EXIT_OK)
        rc = start_engine(a);
    if (rc == EXIT_OK)
        rc = add_sources(a);
    if (rc == EXIT_OK)
        rc = start_admin(a);
    if (rc != EXIT_OK)
        return rc;
    if (ls_pipeline_start(a->p) != 0)
        return EXIT_FAILED;
    log_started(&a->c);
    if (ls_pipeline_run(a->p, &g_stop, &g_reopen) < 0) {
        /* A thread is stuck in a request; positions and cursors are saved,
         * so leave without waiting for it. */
        log_kv(LOGL_WARN, "exiting with an output still busy", NULL);
        _exit(0);
    }
    log_kv(LOGL_INFO, "stopped", NULL);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    struct app a = { .err = "" };
    enum ls_config_result r = ls_config_load(&a.c, argc, argv, a.err, sizeof(a.err));
    if (r != LS_CONFIG_RUN) {
        int code = config_exit(&a.c, r, a.err);
        ls_config_free(&a.c);
        return code;
    }
    if (log_init("logship", 2, NULL, (enum log_level)a.c.log_level) != 0) {
        fprintf(stderr, "logship: cannot start logging\n");
        ls_config_free(&a.c);
        return EXIT_SETUP;
    }
    enum exit_code rc = a.c.check_config ? check_config(&a) : run(&a);
    app_free(&a);
    log_close();
    return rc;
}
