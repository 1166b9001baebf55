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

int main(int argc, char **argv)
{
    struct ls_config c;
    char err[512] = "";
    int rc = 1;
    metrics_registry *reg = NULL;
    struct ls_spool *sp = NULL;
    struct ls_pipeline *p = NULL;
    struct ls_admin *admin = NULL;
    struct ls_source *src_file = NULL, *src_stdin = NULL;

    int r = ls_config_load(&c, argc, argv, err, sizeof(err));
    if (r == 1) {
        ls_config_usage(&c, stdout);
        ls_config_free(&c);
        return 0;
    }
    if (r == 3) {
        ls_config_markdown(&c, stdout);
        ls_config_free(&c);
        return 0;
    }
    if (r == 2) {
        printf("logship %s\n", PROJECT_VERSION);
        ls_config_free(&c);
        return 0;
    }
    if (r != 0) {
        fprintf(stderr, "logship: %s\n", err);
        ls_config_free(&c);
        return 2;
    }
    if (log_init("logship", 2, NULL, (enum log_level)c.log_level) != 0) {
        fprintf(stderr, "logship: cannot start logging\n");
        ls_config_free(&c);
        return 2;
    }
    if (c.check_config) {
        if (check_outputs(&c, err, sizeof(err)) != 0) {
            fprintf(stderr, "logship: %s\n", err);
            rc = 2;
        } else {
            printf("logship: configuration OK\n");
            rc = 0;
        }
        goto out;
    }
    if (install_signals() != 0) {
        log_kv(LOGL_ERROR, "cannot install signal handlers", "error", strerror(errno), NULL);
        goto out;
    }
    reg = metrics_new();
    if (!reg) {
        log_kv(LOGL_ERROR, "out of memory", NULL);
        goto out;
    }
    {
        const char *lv[1] = { "version" };
        const char *vv[1] = { PROJECT_VERSION };
        metrics_family *bi = metrics_gauge(reg, "logship_build_info", "logship's version.", 1, lv);
        if (bi)
            metrics_family_set(bi, vv, 1);
    }
    struct ls_spool_opts so = {
        .dir = c.spool_dir,
        .max_bytes = c.spool_max_bytes,
        .max_record_bytes = ls_spool_max_record(c.max_line_bytes),
        .fsync = (enum ls_fsync_policy)c.spool_fsync,
        .fsync_interval_ms = c.spool_fsync_interval_ms,
        .drop_oldest = c.on_full == 1,
        .reg = reg,
    };
    sp = ls_spool_open(&so, err, sizeof(err));
    if (!sp) {
        /* Nothing could ever be shipped: say why and stop (exit 2). */
        log_kv(LOGL_ERROR, "cannot open the spool", "path", c.spool_dir, "error", err, NULL);
        rc = 2;
        goto out;
    }
    struct ls_pipeline_opts po = {
        .spool = sp,
        .batch_bytes = (size_t)c.batch_bytes,
        .batch_wait_ms = c.batch_wait_ms,
        .shutdown_timeout_ms = c.shutdown_timeout_ms,
        .backoff_initial_ms = c.retry_initial_ms,
        .backoff_max_ms = c.retry_max_ms,
        .config_retry_ms = c.config_retry_ms,
        .commit_interval_ms = c.spool_fsync_interval_ms,
        .commit_every_round = c.spool_fsync == LS_FSYNC_ALWAYS,
        .stall_timeout_ms = c.stall_timeout_ms,
        .reg = reg,
    };
    p = ls_pipeline_new(&po, err, sizeof(err));
    if (!p) {
        log_kv(LOGL_ERROR, "cannot start the engine", "error", err, NULL);
        goto out;
    }
    for (size_t i = 0; i < c.n_outputs; i++) {
        struct ls_output_spec *s = &c.outputs[i];
        void *ctx = s->ops->create(&s->conf, err, sizeof(err));
        if (!ctx || ls_pipeline_add_output(p, s->ops, ctx, s->name, err, sizeof(err)) != 0) {
            fprintf(stderr, "logship: %s\n", err);
            rc = 2;
            goto out;
        }
    }
    if (c.n_file_sources > 0) {
        src_file = ls_source_file_new_guarded(c.file_sources, c.n_file_sources,
                                              (const char *const *)c.allow_roots.items, c.allow_roots.n,
                                              &c.parse, (enum ls_start_at)c.start_at, c.spool_dir, reg,
                                              err, sizeof(err));
        if (!src_file) {
            fprintf(stderr, "logship: %s\n", err);
            rc = 2;
            goto out;
        }
        ls_source_file_set_resume(src_file, resume_mark, sp);
        (void)ls_pipeline_add_source(p, src_file);
    }
    if (c.use_stdin) {
        src_stdin = ls_source_stdin_new(&c.parse, reg, err, sizeof(err));
        if (!src_stdin) {
            fprintf(stderr, "logship: %s\n", err);
            rc = 2;
            goto out;
        }
        (void)ls_pipeline_add_source(p, src_stdin);
    }
    if (c.metrics_addr && c.metrics_addr[0] && strcmp(c.metrics_addr, "none") != 0) {
        admin = ls_admin_start(c.metrics_addr, reg, pipeline_ready, pipeline_health, p, err,
                               sizeof(err));
        if (!admin) {
            log_kv(LOGL_ERROR, "cannot serve metrics", "error", err, NULL);
            rc = 2; /* e.g. the port is taken: retrying would not help */
            goto out;
        }
        char port[16];
        snprintf(port, sizeof(port), "%d", ls_admin_port(admin));
        log_kv(LOGL_INFO, "metrics listening", "addr", c.metrics_addr, "port", port, NULL);
    }
    if (ls_pipeline_start(p) != 0)
        goto out;
    log_started(&c);
    r = ls_pipeline_run(p, &g_stop, &g_reopen);
    if (r < 0) {
        /* A thread is stuck in a request; positions and cursors are saved,
         * so leave without waiting for it. */
        log_kv(LOGL_WARN, "exiting with an output still busy", NULL);
        _exit(0);
    }
    log_kv(LOGL_INFO, "stopped", NULL);
    rc = 0;
out:
    ls_admin_stop(admin);
    ls_pipeline_free(p);
    ls_source_free(src_file);
    ls_source_free(src_stdin);
    ls_spool_close(sp);
    metrics_free(reg);
    ls_config_free(&c);
    log_close();
    return rc;
}
