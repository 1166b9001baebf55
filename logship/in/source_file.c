/* source_file: the file source itself: its vtable (poll, commit, wait, destroy), construction from
 * globs, and the poll that shares the read budget fairly among files; the parts it drives are
 * file_identity, file_positions, file_scan, file_watch and file_read (file_tail.h). */
#include "logship/in/file_tail.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "clock.h"

static const struct ls_source_ops file_ops;

/* What retire did with a file. */
enum retire_result {
    RETIRE_FATAL = -1,   /* the reader failed */
    RETIRE_KEPT = 0,     /* not gone long enough yet */
    RETIRE_PENDING = 1,  /* its partial last line was refused: f is pending */
    RETIRE_REMOVED = 2,  /* shipped its last line and dropped */
};

/* Drop f once it has stayed gone at EOF for the rotate wait: its partial last
 * line is shipped first. */
static enum retire_result retire(struct ls_fsrc *s, struct ls_tfile *f, struct ls_emitter *em, int64_t now)
{
    if (!f->gone || f->eof_since == 0 || now - f->eof_since < s->rotate_wait_ns)
        return RETIRE_KEPT;
    int k = ls_reader_finish(&f->rd, em, f->off, now);
    if (k < 0)
        return RETIRE_FATAL;
    if (k == 1) {
        s->pending = f;
        return RETIRE_PENDING;
    }
    ls_file_remove(s, f);
    return RETIRE_REMOVED;
}

static long file_poll(void *ctx, struct ls_emitter *em, size_t budget)
{
    struct ls_fsrc *s = ctx;
    int64_t now = clock_real_ns();

    ls_file_watch_kick(s, 0);
    if (s->pending) {
        int r = ls_reader_retry(&s->pending->rd, em);
        if (r != 0)
            return r < 0 ? -1 : 0;
        s->pending = NULL;
    }
    ls_file_watch_drain(s);
    if (s->need_scan || s->initial || now - s->last_scan >= s->rescan_ns)
        if (ls_file_scan(s, now) != 0)
            return -1;
    if (budget == 0)
        budget = 1;
    /* Files in discovery order (a rotated file before its successor), but
     * starting after the one that used up the last budget, so that one busy
     * file cannot starve the others. */
    struct ls_tfile *order[LS_FILE_MAX_FILES];
    size_t n = 0, first = 0;
    for (struct ls_tfile *f = s->files; f && n < LS_FILE_MAX_FILES; f = f->next) {
        if (f == s->resume)
            first = n;
        order[n++] = f;
    }
    s->resume = NULL;
    long total = 0;
    int removed = 0;
    for (size_t i = 0; i < n; i++) {
        struct ls_tfile *f = order[(first + i) % n];
        if ((size_t)total >= budget) {
            s->resume = f;
            break;
        }
        int stop = 0;
        long got = ls_file_read(s, f, em, budget - (size_t)total, now, &stop);
        if (got < 0)
            return -1;
        total += got;
        if (stop)
            return total;
        enum retire_result k = retire(s, f, em, now);
        if (k == RETIRE_FATAL)
            return -1;
        if (k == RETIRE_PENDING)
            return total;
        if (k == RETIRE_REMOVED)
            removed = 1;
    }
    if (removed)
        ls_file_update_gauges(s);
    if ((size_t)total >= budget)
        ls_file_watch_kick(s, 1); /* stopped at the budget: more is waiting */
    return total;
}

static int file_commit(void *ctx)
{
    return ls_file_positions_save(ctx);
}

static int file_wait_fd(void *ctx)
{
    struct ls_fsrc *s = ctx;
    return s->wait_fd;
}

static int file_finished(void *ctx)
{
    (void)ctx;
    return 0;
}

static void file_destroy(void *ctx)
{
    struct ls_fsrc *s = ctx;
    if (!s)
        return;
    while (s->files) {
        struct ls_tfile *f = s->files;
        s->files = f->next;
        ls_file_close(f);
    }
    for (size_t i = 0; s->globs && i < s->nglobs; i++) {
        free(s->globs[i].pattern);
        free(s->globs[i].base);
    }
    ls_fileguard_free(&s->guard);
    free(s->refused);
    free(s->globs);
    if (s->wait_fd >= 0 && s->wait_fd != s->ino_fd)
        close(s->wait_fd);
    if (s->kick_fd >= 0)
        close(s->kick_fd);
    if (s->ino_fd >= 0)
        close(s->ino_fd);
    ls_lineparse_free(s->lp);
    ls_srcmetrics_put(s->m);
    ls_file_positions_free(s);
    free(s->pos_path);
    free(s->rbuf);
    buf_free(&s->ckpt);
    free(s);
}

static const struct ls_source_ops file_ops = {
    "file", file_poll, file_commit, file_wait_fd, file_finished, file_destroy,
};

struct ls_source *ls_source_file_new(const char *const *globs, size_t nglobs,
                                     const struct ls_parse_conf *pc, enum ls_start_at start,
                                     const char *state_dir, metrics_registry *reg, char *err,
                                     size_t errlen)
{
    return ls_source_file_new_guarded(globs, nglobs, NULL, 0, pc, start, state_dir, reg, err,
                                      errlen);
}

/* Set up glob i from its pattern. 0, 1 with err set, -1 on OOM. */
static int glob_init(struct ls_fsrc *s, size_t i, const char *pattern, char *err, size_t errlen)
{
    if (!pattern || pattern[0] == '\0') {
        snprintf(err, errlen, "file source: empty path");
        return 1;
    }
    struct ls_tglob *g = &s->globs[i];
    g->wd = -1;
    g->pattern = strdup(pattern);
    g->base = malloc(PATH_MAX);
    s->nglobs++;
    if (!g->pattern || !g->base)
        return -1;
    if (ls_fileguard_glob_base(pattern, g->base, PATH_MAX) != 0) {
        snprintf(err, errlen, "file source: path too long: %s", pattern);
        return 1;
    }
    const char *v[1] = {pattern};
    if (s->m->lines) {
        g->lines = metrics_child_get(s->m->lines, v);
        g->bytes = metrics_child_get(s->m->bytes, v);
        g->watched = metrics_child_get(s->m->files_watched, v);
    }
    return 0;
}

/* Load state_dir/positions.json. 0, 1 with err set, -1 on OOM. */
static int state_init(struct ls_fsrc *s, const char *state_dir, char *err, size_t errlen)
{
    struct stat st;
    if (stat(state_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "file source: state directory %s is not a directory", state_dir);
        return 1;
    }
    size_t n = strlen(state_dir) + sizeof("/positions.json");
    s->pos_path = malloc(n);
    if (!s->pos_path)
        return -1;
    snprintf(s->pos_path, n, "%s/positions.json", state_dir);
    return ls_file_positions_load(s);
}

/* Everything after the allocation of s. 0, 1 with err set, -1 on OOM. */
static int setup(struct ls_fsrc *s, const char *const *globs, size_t nglobs,
                 const char *const *allow_roots, size_t nroots, const struct ls_parse_conf *pc,
                 const char *state_dir, metrics_registry *reg, char *err, size_t errlen)
{
    s->m = ls_srcmetrics_get(reg);
    if (!s->m) {
        snprintf(err, errlen, "file source: cannot register metrics");
        return 1;
    }
    s->lp = ls_lineparse_new(pc, s->m, err, errlen);
    if (!s->lp)
        return 1;
    if (ls_fileguard_init(&s->guard, allow_roots, nroots, err, errlen) != 0)
        return 1;
    s->rbuf = malloc(LS_FILE_READ_CHUNK);
    s->globs = calloc(nglobs, sizeof(*s->globs));
    if (!s->rbuf || !s->globs)
        return -1;
    for (size_t i = 0; i < nglobs; i++) {
        int r = glob_init(s, i, globs[i], err, errlen);
        if (r != 0)
            return r;
    }
    if (state_dir && state_dir[0] != '\0') {
        int r = state_init(s, state_dir, err, errlen);
        if (r != 0)
            return r;
    }
    ls_file_watch_setup(s);
    /* the first scan now: "tail" means the end as of startup */
    if (ls_file_scan(s, clock_real_ns()) != 0 || ls_file_recover_rotated(s) != 0)
        return -1;
    return 0;
}

struct ls_source *ls_source_file_new_guarded(const char *const *globs, size_t nglobs,
                                             const char *const *allow_roots, size_t nroots,
                                             const struct ls_parse_conf *pc,
                                             enum ls_start_at start, const char *state_dir,
                                             metrics_registry *reg, char *err, size_t errlen)
{
    if (!globs || nglobs == 0) {
        snprintf(err, errlen, "file source: no path given");
        return NULL;
    }
    struct ls_fsrc *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "file source: out of memory");
        return NULL;
    }
    s->ino_fd = -1;
    s->kick_fd = -1;
    s->wait_fd = -1;
    s->pc = *pc;
    s->start = start;
    s->initial = 1;
    s->rescan_ns = 1000 * LS_FILE_NS_PER_MS;
    s->rotate_wait_ns = 5000 * LS_FILE_NS_PER_MS;
    buf_init(&s->ckpt, ATOMICFILE_MAX);
    int r = setup(s, globs, nglobs, allow_roots, nroots, pc, state_dir, reg, err, errlen);
    return ls_source_finish(&s->src, &file_ops, s, r, err, errlen);
}

void ls_source_file_set_timing(struct ls_source *src, int64_t rescan_ms, int64_t rotate_wait_ms)
{
    if (!src || src->ops != &file_ops)
        return;
    struct ls_fsrc *s = src->ctx;
    if (rescan_ms > 0)
        s->rescan_ns = rescan_ms * LS_FILE_NS_PER_MS;
    if (rotate_wait_ms > 0)
        s->rotate_wait_ns = rotate_wait_ms * LS_FILE_NS_PER_MS;
}

void ls_source_file_set_resume(struct ls_source *src, ls_resume_fn fn, void *ctx)
{
    if (!src || src->ops != &file_ops)
        return;
    struct ls_fsrc *s = src->ctx;
    s->resume_fn = fn;
    s->resume_ctx = ctx;
}
