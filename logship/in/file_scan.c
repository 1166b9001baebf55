/* file_scan: which files the source follows: the globs matched at every rescan, the fileguard
 * policy with its once-per-file refusals, renames, truncations and deletions noticed there, and the
 * recovery of files rotated away while logship was stopped. */
#include "logship/in/file_tail.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

void ls_file_close(struct ls_tfile *f)
{
    if (f->fd >= 0)
        close(f->fd);
    ls_reader_free(&f->rd);
    free(f->path);
    free(f);
}

void ls_file_update_gauges(struct ls_fsrc *s)
{
    for (size_t i = 0; i < s->nglobs; i++) {
        double n = 0;
        for (struct ls_tfile *f = s->files; f; f = f->next)
            if (f->glob == i)
                n++;
        if (s->globs[i].watched)
            metrics_set(s->globs[i].watched, n);
    }
}

/* Has opening this inode failed before? Remembers the last few, so a file we
 * may not read is reported once, not at every rescan. */
static int failed_before(struct ls_fsrc *s, const struct stat *st)
{
    for (size_t i = 0; i < LS_FILE_FAILED_MEMORY; i++)
        if (s->failed[i].dev == (uint64_t)st->st_dev && s->failed[i].ino == (uint64_t)st->st_ino)
            return 1;
    s->failed[s->nfailed % LS_FILE_FAILED_MEMORY].dev = (uint64_t)st->st_dev;
    s->failed[s->nfailed % LS_FILE_FAILED_MEMORY].ino = (uint64_t)st->st_ino;
    s->nfailed++;
    return 0;
}

static size_t refused_slot(const struct ls_fsrc *s, uint64_t dev, uint64_t ino, size_t gi)
{
    uint64_t h = dev * 0x9e3779b97f4a7c15ULL ^ ino * 0xbf58476d1ce4e5b9ULL ^ (uint64_t)gi;
    size_t i = (size_t)(h ^ (h >> 31)) & (s->refused_cap - 1);
    while (s->refused[i].used &&
           !(s->refused[i].dev == dev && s->refused[i].ino == ino && s->refused[i].glob == gi))
        i = (i + 1) & (s->refused_cap - 1);
    return i;
}

/* Was this file (by what its name leads to) refused for glob gi before?
 * Refused files are skipped at every later scan without a word. */
static int refused_known(const struct ls_fsrc *s, const struct stat *st, size_t gi)
{
    if (s->nrefused == 0)
        return 0;
    return s->refused[refused_slot(s, (uint64_t)st->st_dev, (uint64_t)st->st_ino, gi)].used;
}

/* Remember a refusal. Returns 0, or -1 when it cannot be remembered (out of
 * memory, or LS_FILE_REFUSED_MAX reached): then it is logged and counted
 * again at the next scan rather than forgotten silently. */
static int refused_add(struct ls_fsrc *s, const struct stat *st, size_t gi)
{
    if ((s->nrefused + 1) * 4 > s->refused_cap * 3) {
        size_t ncap = s->refused_cap ? s->refused_cap * 2 : 64;
        if (ncap > LS_FILE_REFUSED_MAX)
            return -1;
        struct ls_trefused *t = calloc(ncap, sizeof(*t));
        if (!t)
            return -1;
        struct ls_trefused *old = s->refused;
        size_t ocap = s->refused_cap;
        s->refused = t;
        s->refused_cap = ncap;
        for (size_t i = 0; i < ocap; i++)
            if (old[i].used)
                s->refused[refused_slot(s, old[i].dev, old[i].ino, old[i].glob)] = old[i];
        free(old);
    }
    size_t k = refused_slot(s, (uint64_t)st->st_dev, (uint64_t)st->st_ino, gi);
    s->refused[k] = (struct ls_trefused){(uint64_t)st->st_dev, (uint64_t)st->st_ino, gi, 1};
    s->nrefused++;
    return 0;
}

/* Refuse a file: one log line and one count per file (remembered by the
 * identity of its target for this glob). */
static void refuse(struct ls_fsrc *s, const char *path, const struct stat *st, size_t gi,
                   enum ls_refuse why)
{
    metrics_child *c = why == LS_REFUSE_SPECIAL     ? s->m->refused_special
                       : why == LS_REFUSE_PSEUDO_FS ? s->m->refused_pseudo_fs
                                                    : s->m->refused_outside_root;
    if (refused_known(s, st, gi))
        return;
    (void)refused_add(s, st, gi);
    metrics_add(c, 1);
    char target[PATH_MAX];
    if (!realpath(path, target))
        snprintf(target, sizeof(target), "%s", path);
    log_kv(LOGL_WARN, "file refused, not reading it", "path", path, "target", target, "reason",
           ls_fileguard_reason(why), "glob", s->globs[gi].pattern, NULL);
}

/* Open path for glob gi as the fileguard allows. The descriptor, or -1 when
 * it is refused (logged once) or cannot be opened (logged once per inode). */
static int open_guarded(struct ls_fsrc *s, const char *path, const struct stat *st, size_t gi)
{
    struct stat ost;
    enum ls_refuse why;
    int fd = ls_fileguard_open(&s->guard, path, s->globs[gi].base, &ost, &why);
    if (fd >= 0)
        return fd;
    if (why != LS_REFUSE_NONE) {
        refuse(s, path, st, gi, why);
        return -1;
    }
    /* retried at every scan; said once per file (by inode) */
    if (errno != ENOENT && !failed_before(s, st))
        log_kv(LOGL_WARN, "cannot open file; will keep trying", "path", path, "error",
               strerror(errno), NULL);
    return -1;
}

/* Start following path (not yet tracked), whose stat is st. 0, or -1 on OOM. */
static int add_file(struct ls_fsrc *s, const char *path, const struct stat *st, size_t gi)
{
    if (s->nfiles >= LS_FILE_MAX_FILES) {
        if (!s->warned_cap)
            log_kv(LOGL_WARN, "too many files matched; not following more until some go away",
                   "path", path, NULL);
        s->warned_cap = 1;
        return 0;
    }
    int fd = open_guarded(s, path, st, gi);
    if (fd < 0)
        return 0;
    struct ls_file_obs o;
    if (ls_file_observe(fd, 0, &o) != 0) {
        close(fd);
        return 0;
    }
    struct ls_tfile *f = calloc(1, sizeof(*f));
    if (!f || !(f->path = strdup(path))) {
        free(f);
        close(fd);
        return -1;
    }
    f->fd = fd;
    f->glob = gi;
    f->seen = 1;
    f->id.dev = o.dev;
    f->id.ino = o.ino;
    ls_file_refresh_fp(f, o.size);
    uint64_t off = 0;
    f->from_saved = ls_file_positions_match(s, fd, &o, &off);
    /* tail only on a first run: with a checkpoint, a file we do not know
     * appeared while we were stopped, and all of it is new */
    if (!f->from_saved)
        off = s->initial && s->start == LS_START_TAIL && !s->had_positions ? o.size : 0;
    f->off = off;
    if (ls_reader_init(&f->rd, s->lp, s->m, s->globs[gi].lines, s->pc.format,
                       s->pc.max_line_bytes, off) != 0) {
        ls_file_close(f);
        return -1;
    }
    f->rd.head = &f->head;
    ls_file_set_origin(f);
    struct ls_tfile **pp = &s->files;
    while (*pp)
        pp = &(*pp)->next;
    *pp = f;
    s->nfiles++;
    ls_file_watch_dir_of(s, path);
    log_kv(LOGL_INFO, "following file", "path", path, NULL);
    return 0;
}

static struct ls_tfile *find_file(struct ls_fsrc *s, uint64_t dev, uint64_t ino)
{
    for (struct ls_tfile *f = s->files; f; f = f->next)
        if (f->id.dev == dev && f->id.ino == ino)
            return f;
    return NULL;
}

void ls_file_check_truncation(struct ls_fsrc *s, struct ls_tfile *f)
{
    struct ls_file_obs o;
    if (ls_file_observe(f->fd, f->id.fp_len, &o) != 0)
        return;
    if (ls_rotation_decide(&f->id, f->off, &o) != LS_ROT_TRUNCATED)
        return;
    log_kv(LOGL_INFO, "file truncated, reading it again from the start", "path", f->path, NULL);
    metrics_add(s->m->rot_truncate, 1);
    f->off = 0;
    f->id.fp_len = 0;
    ls_file_refresh_fp(f, o.size);
    ls_file_set_origin(f);
    ls_reader_reset(&f->rd, 0);
    f->eof_since = 0;
}

/* A followed file matched again as p: it is back if it had gone, renamed if
 * p is a new name, and checked for truncation. */
static void seen_again(struct ls_fsrc *s, struct ls_tfile *f, const char *p)
{
    f->seen = 1;
    if (f->gone) { /* came back within the globs */
        f->gone = 0;
        f->eof_since = 0;
    }
    if (strcmp(f->path, p) != 0) {
        char *np = strdup(p);
        if (np) {
            log_kv(LOGL_INFO, "file renamed", "from", f->path, "to", np, NULL);
            metrics_add(s->m->rot_rename, 1);
            free(f->path);
            f->path = np;
        }
    }
    ls_file_check_truncation(s, f);
}

/* Match glob gi and handle each path. 0, or -1 on OOM or a glob error. */
static int scan_glob(struct ls_fsrc *s, size_t gi)
{
    glob_t g;
    int r = glob(s->globs[gi].pattern, GLOB_NOSORT | GLOB_ERR, NULL, &g);
    if (r == GLOB_NOMATCH || r == GLOB_ABORTED)
        return 0;
    int rc = -1;
    if (r != 0)
        goto out;
    for (size_t k = 0; k < g.gl_pathc; k++) {
        const char *p = g.gl_pathv[k];
        struct stat st;
        if (stat(p, &st) != 0 || S_ISDIR(st.st_mode))
            continue; /* gone, a dangling link, or a directory a wildcard matched */
        if (!S_ISREG(st.st_mode)) {
            refuse(s, p, &st, gi, LS_REFUSE_SPECIAL);
            continue;
        }
        struct ls_tfile *f = find_file(s, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
        if (f) {
            if (!f->seen) /* else matched by two globs or two names */
                seen_again(s, f, p);
            continue;
        }
        if (refused_known(s, &st, gi))
            continue;
        if (add_file(s, p, &st, gi) != 0)
            goto out;
    }
    rc = 0;
out:
    globfree(&g);
    return rc;
}

int ls_file_scan(struct ls_fsrc *s, int64_t now)
{
    for (struct ls_tfile *f = s->files; f; f = f->next)
        f->seen = 0;
    ls_file_watch_globs(s);
    for (size_t gi = 0; gi < s->nglobs; gi++)
        if (scan_glob(s, gi) != 0)
            return -1;
    for (struct ls_tfile *f = s->files; f; f = f->next) {
        if (f->seen || f->gone)
            continue;
        struct stat st;
        int deleted = fstat(f->fd, &st) == 0 && st.st_nlink == 0;
        f->gone = 1;
        f->eof_since = 0;
        metrics_add(deleted ? s->m->rot_delete : s->m->rot_rename, 1);
        log_kv(LOGL_INFO,
               deleted ? "file deleted, reading what is left"
                       : "file rotated away, reading it to its end",
               "path", f->path, NULL);
    }
    s->initial = 0;
    s->need_scan = 0;
    s->last_scan = now;
    ls_file_update_gauges(s);
    return 0;
}

void ls_file_remove(struct ls_fsrc *s, struct ls_tfile *dead)
{
    for (struct ls_tfile **pp = &s->files; *pp; pp = &(*pp)->next) {
        if (*pp != dead)
            continue;
        *pp = dead->next;
        if (s->resume == dead)
            s->resume = NULL;
        s->nfiles--;
        log_kv(LOGL_INFO, "done with file", "path", dead->path, NULL);
        ls_file_close(dead);
        s->warned_cap = 0;
        return;
    }
}

/* Follow the file at full (found by sv's inode in its old directory) to its
 * end, under the glob that matched its old name. 0, or -1 on OOM. */
static int recover_one(struct ls_fsrc *s, struct ls_tsaved *sv, const char *full,
                       const struct stat *st)
{
    size_t gi = 0;
    while (gi < s->nglobs && fnmatch(s->globs[gi].pattern, sv->path, FNM_PATHNAME) != 0)
        gi++;
    if (gi == s->nglobs)
        gi = 0;
    if (add_file(s, full, st, gi) != 0)
        return -1;
    struct ls_tfile *f = find_file(s, sv->id.dev, sv->id.ino);
    if (f && sv->used) {
        f->gone = 1; /* drain it, then forget it */
        log_kv(LOGL_INFO, "resuming a file rotated while stopped", "path", full, "was", sv->path,
               NULL);
    } else if (f) {
        ls_file_remove(s, f); /* another file on that inode now */
    }
    return 0;
}

/* Look for sv's inode in the directory it was saved in. 0, or -1 on OOM. */
static int recover_saved(struct ls_fsrc *s, struct ls_tsaved *sv)
{
    char dir[PATH_MAX];
    if (sv->used || !sv->path || ls_file_dir_of(sv->path, dir, sizeof(dir)) != 0)
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if ((uint64_t)de->d_ino != sv->id.ino)
            continue;
        char full[PATH_MAX];
        struct stat st;
        int k = snprintf(full, sizeof(full), "%s/%s", strcmp(dir, "/") == 0 ? "" : dir,
                         de->d_name);
        if (k < 0 || (size_t)k >= sizeof(full) || stat(full, &st) != 0 || !S_ISREG(st.st_mode) ||
            (uint64_t)st.st_dev != sv->id.dev || find_file(s, sv->id.dev, sv->id.ino))
            continue;
        rc = recover_one(s, sv, full, &st);
        break;
    }
    closedir(d);
    return rc;
}

int ls_file_recover_rotated(struct ls_fsrc *s)
{
    for (size_t i = 0; i < s->nsaved; i++)
        if (recover_saved(s, &s->saved[i]) != 0)
            return -1;
    return 0;
}
