/* source_file: follow files by (dev, inode, fingerprint) across rotation, truncation and restarts. */
#include "logship/in/source_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "clock.h"
#include "buf.h"
#include "jsonw.h"
#include "log.h"
#include "timefmt.h"
#include "atomicfile.h"
#include "logship/in/fileguard.h"
#include "logship/in/linereader.h"
#include "logship/in/source_metrics.h"

#define READ_CHUNK (64 * 1024)
#define NS_PER_MS 1000000LL
#define FAILED_MEMORY 16
#define REFUSED_MAX (1u << 16) /* slots of the refused set: 48 Ki files remembered */

struct tfile {
    struct ls_file_id id;
    int      fd;
    char    *path;
    size_t   glob;        /* index of the glob that matched it */
    uint64_t off;         /* next byte to read */
    int      seen;        /* matched in the current scan */
    int      gone;        /* no longer matched: drain, then drop */
    int64_t  eof_since;   /* when reading last hit EOF without growth, 0 when not */
    struct ls_head head;  /* first bytes: fingerprint and early-line origins */
    struct ls_reader rd;
    int      from_saved;  /* its offset came from positions.json */
    int      mark_checked; /* the spool's resume mark was consulted */
    struct tfile *next;
};

struct refused {          /* a file refused for a glob, by the identity of its target */
    uint64_t dev, ino;
    size_t   glob;
    int      used;
};

struct saved {            /* one entry of positions.json */
    struct ls_file_id id;
    uint64_t off;
    int      used;
    char    *path;        /* its name when saved */
};

struct glob_m {
    char          *pattern;
    char          *base;  /* its literal directory (fileguard): where its files may resolve */
    metrics_child *lines, *bytes, *watched;
    int            wd;    /* inotify watch on its directory, -1 */
};

struct fsrc {
    struct ls_source      src;
    struct ls_parse_conf  pc;
    enum ls_start_at      start;
    struct ls_lineparse  *lp;
    struct ls_srcmetrics *m;
    struct glob_m        *globs;
    size_t                nglobs;
    char                 *pos_path;     /* NULL: no checkpoint */
    struct saved         *saved;
    size_t                nsaved;
    struct tfile         *files;
    size_t                nfiles;
    int                   initial;      /* the first scan is still to come */
    int                   need_scan;
    int64_t               last_scan;
    int64_t               rescan_ns, rotate_wait_ns;
    int                   ino_fd;
    int                   kick_fd;      /* eventfd: "more to read right now" */
    int                   kicked;       /* kick_fd holds a count */
    int                   wait_fd;      /* epoll over ino_fd and kick_fd (or ino_fd) */
    char                 *rbuf;
    struct tfile         *pending;      /* the file whose reader holds a refused record */
    struct tfile         *resume;       /* where the next poll starts reading */
    buf_t                 ckpt;         /* last checkpoint written, to skip identical writes */
    struct ls_fileguard   guard;        /* what may be opened (--allow-root) */
    struct refused       *refused;      /* open-addressing set of refused files */
    size_t                refused_cap, nrefused;
    int                   warned_cap;
    struct { uint64_t dev, ino; } failed[FAILED_MEMORY];
    size_t                nfailed;
    int                   had_positions; /* a checkpoint was loaded: not a first run */
    ls_resume_fn          resume_fn;    /* the spool's per-file marks, or NULL */
    void                 *resume_ctx;
};

static const struct ls_source_ops file_ops;

/* ------------------------------------------------------------ identity --- */

enum ls_rot ls_rotation_decide(const struct ls_file_id *known, uint64_t offset,
                               const struct ls_file_obs *obs)
{
    if (!obs->exists)
        return LS_ROT_GONE;
    if (obs->dev != known->dev || obs->ino != known->ino)
        return LS_ROT_OTHER;
    if (obs->size < offset)
        return LS_ROT_TRUNCATED;
    if (known->fp_len > 0 && (obs->size < known->fp_len || !obs->fp_ok || obs->fp != known->fp))
        return LS_ROT_TRUNCATED;
    return obs->size > offset ? LS_ROT_GROWN : LS_ROT_IDLE;
}

/* Hash of the first n bytes of fd. 0 with *fp set, or -1 when fewer bytes
 * exist or reading fails. */
static int fp_of(int fd, uint32_t n, uint64_t *fp)
{
    char b[LS_FP_BYTES];
    size_t got = 0;

    while (got < n) {
        ssize_t r = pread(fd, b + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    *fp = ls_fingerprint(b, n);
    return 0;
}

/* Observe an open file: stat and the hash of its first want_fp bytes. */
static int observe(int fd, uint32_t want_fp, struct ls_file_obs *o)
{
    struct stat st;

    memset(o, 0, sizeof(*o));
    if (fstat(fd, &st) != 0)
        return -1;
    o->exists = 1;
    o->dev = (uint64_t)st.st_dev;
    o->ino = (uint64_t)st.st_ino;
    o->size = (uint64_t)st.st_size;
    if (want_fp == 0 || (o->size >= want_fp && fp_of(fd, want_fp, &o->fp) == 0))
        o->fp_ok = 1;
    if (want_fp == 0)
        o->fp = ls_fingerprint("", 0);
    return 0;
}

/* Grow a short fingerprint as the file grows (up to LS_FP_BYTES), keeping
 * the head bytes for early-line origins. */
static void refresh_fp(struct tfile *f, uint64_t size)
{
    uint32_t n = size >= LS_FP_BYTES ? LS_FP_BYTES : (uint32_t)size;
    size_t got = 0;

    if (n <= f->id.fp_len && f->id.fp_len > 0)
        return;
    while (got < n) {
        ssize_t r = pread(f->fd, f->head.b + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    f->head.dev = f->id.dev;
    f->head.ino = f->id.ino;
    f->head.len = (uint32_t)got;
    f->id.fp = ls_fingerprint(f->head.b, got);
    f->id.fp_len = (uint32_t)got;
}

static void set_origin(struct tfile *f)
{
    char pre[80];
    snprintf(pre, sizeof(pre), "f:%" PRIu64 ":%" PRIu64 ":%016" PRIx64, f->id.dev, f->id.ino,
             f->id.fp);
    ls_reader_set_origin(&f->rd, pre);
}

/* ---------------------------------------------------------- checkpoint --- */

static int64_t jget_i64(struct json_object *o, const char *k, int *ok)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int)) {
        *ok = 0;
        return 0;
    }
    return json_object_get_int64(v);
}

static void free_saved(struct fsrc *s)
{
    size_t i;

    for (i = 0; s->saved != NULL && i < s->nsaved; i++)
        free(s->saved[i].path);
    free(s->saved);
    s->saved = NULL;
    s->nsaved = 0;
}

/* Load positions.json. Returns 0 (possibly with nothing loaded), -1 on OOM. */
static int load_positions(struct fsrc *s)
{
    buf_t b;
    struct json_object *root = NULL, *arr;
    struct json_tokener *tok = NULL;
    int r, rc = 0;
    size_t i, n;

    buf_init(&b, ATOMICFILE_MAX);
    r = atomicfile_read(s->pos_path, &b);
    if (r == 1)
        goto out;
    if (r < 0) {
        log_kv(LOG_ERROR, "cannot read file positions, starting as on a first run", "path",
               s->pos_path, "error", strerror(errno), NULL);
        goto out;
    }
    tok = json_tokener_new_ex(8);
    if (tok == NULL) {
        rc = -1;
        goto out;
    }
    root = json_tokener_parse_ex(tok, b.p ? b.p : "", (int)b.len);
    if (root == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        !json_object_object_get_ex(root, "files", &arr) ||
        !json_object_is_type(arr, json_type_array))
        goto corrupt;
    s->had_positions = 1;
    n = json_object_array_length(arr);
    s->saved = calloc(n + 1, sizeof(*s->saved));
    if (s->saved == NULL) {
        rc = -1;
        goto out;
    }
    for (i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(arr, i), *fpv;
        struct saved *sv = &s->saved[s->nsaved];
        int ok = 1;
        const char *fps;
        char *end;
        int64_t fl, off;

        if (!json_object_is_type(e, json_type_object))
            goto corrupt;
        sv->id.dev = (uint64_t)jget_i64(e, "dev", &ok);
        sv->id.ino = (uint64_t)jget_i64(e, "ino", &ok);
        fl = jget_i64(e, "fp_len", &ok);
        off = jget_i64(e, "offset", &ok);
        if (!ok || fl < 0 || fl > LS_FP_BYTES || off < 0 ||
            !json_object_object_get_ex(e, "fp", &fpv) ||
            !json_object_is_type(fpv, json_type_string))
            goto corrupt;
        fps = json_object_get_string(fpv);
        errno = 0;
        sv->id.fp = strtoull(fps, &end, 16);
        if (errno != 0 || end == fps || *end != '\0')
            goto corrupt;
        sv->id.fp_len = (uint32_t)fl;
        sv->off = (uint64_t)off;
        if (json_object_object_get_ex(e, "path", &fpv) &&
            json_object_is_type(fpv, json_type_string)) {
            sv->path = strdup(json_object_get_string(fpv));
            if (sv->path == NULL) {
                rc = -1;
                goto out;
            }
        }
        s->nsaved++;
    }
    goto out;
corrupt:
    {
        char aside[PATH_MAX];
        snprintf(aside, sizeof(aside), "%s.corrupt", s->pos_path);
        if (rename(s->pos_path, aside) != 0)
            aside[0] = '\0';
        log_kv(LOG_ERROR, "file positions are corrupt; moved aside, starting as on a first run",
               "path", s->pos_path, "moved_to", aside, NULL);
        ls_sm_add(s->m->positions_corrupt, 1);
        free_saved(s);
    }
out:
    if (root != NULL)
        json_object_put(root);
    if (tok != NULL)
        json_tokener_free(tok);
    buf_free(&b);
    return rc;
}

/* Find a saved position for a newly opened file: 1 with *off set (restart
 * at 0 when the file was truncated meanwhile, counted), 0 when none. */
static int match_saved(struct fsrc *s, int fd, const struct ls_file_obs *o, uint64_t *off)
{
    size_t i;

    for (i = 0; i < s->nsaved; i++) {
        struct saved *sv = &s->saved[i];
        struct ls_file_obs ob;
        enum ls_rot d;

        if (sv->used || sv->id.dev != o->dev || sv->id.ino != o->ino)
            continue;
        if (observe(fd, sv->id.fp_len, &ob) != 0)
            return 0;
        d = ls_rotation_decide(&sv->id, sv->off, &ob);
        sv->used = 1;
        if (d == LS_ROT_IDLE || d == LS_ROT_GROWN) {
            *off = sv->off;
            return 1;
        }
        if (d == LS_ROT_TRUNCATED) {
            /* same inode with other content: copytruncate while we were down,
             * or a recycled inode; either way its every byte is new to us */
            ls_sm_add(s->m->rot_truncate, 1);
            *off = 0;
            return 1;
        }
    }
    return 0;
}

static int file_commit(void *ctx)
{
    struct fsrc *s = ctx;
    buf_t b;
    struct tfile *f;
    int rc = -1;

    if (s->pos_path == NULL)
        return 0;
    buf_init(&b, ATOMICFILE_MAX);
    if (buf_adds(&b, "{\"version\":1,\"files\":[") != 0)
        goto out;
    for (f = s->files; f != NULL; f = f->next) {
        if (b.p[b.len - 1] != '[' && buf_addc(&b, ',') != 0)
            goto out;
        if (buf_printf(&b,
                       "\n{\"dev\":%" PRIu64 ",\"ino\":%" PRIu64 ",\"fp\":\"%016" PRIx64
                       "\",\"fp_len\":%u,\"offset\":%" PRIu64 ",\"path\":",
                       f->id.dev, f->id.ino, f->id.fp, (unsigned)f->id.fp_len,
                       ls_reader_safe_off(&f->rd)) != 0 ||
            jsonw_str(&b, f->path, strlen(f->path)) != 0 || buf_addc(&b, '}') != 0)
            goto out;
    }
    if (buf_adds(&b, "\n]}\n") != 0)
        goto out;
    if (s->ckpt.len == b.len && s->ckpt.p != NULL && memcmp(s->ckpt.p, b.p, b.len) == 0) {
        rc = 0; /* unchanged: no write, no fsync */
        goto out;
    }
    if (atomicfile_write(s->pos_path, b.p, b.len) != 0) {
        log_kv(LOG_ERROR, "cannot save file positions", "path", s->pos_path, "error",
               strerror(errno), NULL);
        goto out;
    }
    buf_reset(&s->ckpt);
    if (buf_add(&s->ckpt, b.p, b.len) != 0)
        buf_reset(&s->ckpt);
    rc = 0;
out:
    buf_free(&b);
    return rc;
}

/* ---------------------------------------------------------------- files --- */

static void file_free(struct tfile *f)
{
    if (f->fd >= 0)
        close(f->fd);
    ls_reader_free(&f->rd);
    free(f->path);
    free(f);
}

static void update_gauges(struct fsrc *s)
{
    size_t i;
    struct tfile *f;

    for (i = 0; i < s->nglobs; i++) {
        double n = 0;
        for (f = s->files; f != NULL; f = f->next)
            if (f->glob == i)
                n++;
        if (s->globs[i].watched != NULL)
            metrics_set(s->globs[i].watched, n);
    }
}

/* Watch the directory holding path too (globs with wildcards in their
 * directory part have no watch of their own). inotify returns the existing
 * watch for a directory watched already, so this never piles up. */
static void watch_dir_of(struct fsrc *s, const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t n;

    if (s->ino_fd < 0 || slash == NULL)
        return;
    n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= sizeof(dir))
        return;
    memcpy(dir, path, n);
    dir[n] = '\0';
    (void)inotify_add_watch(s->ino_fd, dir, IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                                IN_MODIFY | IN_CLOSE_WRITE);
}

/* Has opening this inode failed before? Remembers the last few, so a file we
 * may not read is reported once, not at every rescan. */
static int failed_before(struct fsrc *s, const struct stat *st)
{
    size_t i;

    for (i = 0; i < FAILED_MEMORY; i++)
        if (s->failed[i].dev == (uint64_t)st->st_dev && s->failed[i].ino == (uint64_t)st->st_ino)
            return 1;
    s->failed[s->nfailed % FAILED_MEMORY].dev = (uint64_t)st->st_dev;
    s->failed[s->nfailed % FAILED_MEMORY].ino = (uint64_t)st->st_ino;
    s->nfailed++;
    return 0;
}

static size_t refused_slot(const struct fsrc *s, uint64_t dev, uint64_t ino, size_t gi)
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
static int refused_known(const struct fsrc *s, const struct stat *st, size_t gi)
{
    if (s->nrefused == 0)
        return 0;
    return s->refused[refused_slot(s, (uint64_t)st->st_dev, (uint64_t)st->st_ino, gi)].used;
}

/* Remember a refusal. Returns 0, or -1 when it cannot be remembered (out of
 * memory, or REFUSED_MAX reached): then it is logged and counted again at
 * the next scan rather than forgotten silently. */
static int refused_add(struct fsrc *s, const struct stat *st, size_t gi)
{
    if ((s->nrefused + 1) * 4 > s->refused_cap * 3) {
        size_t ncap = s->refused_cap ? s->refused_cap * 2 : 64, i;
        struct refused *old = s->refused, *t;
        size_t ocap = s->refused_cap;

        if (ncap > REFUSED_MAX || (t = calloc(ncap, sizeof(*t))) == NULL)
            return -1;
        s->refused = t;
        s->refused_cap = ncap;
        for (i = 0; i < ocap; i++)
            if (old[i].used)
                s->refused[refused_slot(s, old[i].dev, old[i].ino, old[i].glob)] = old[i];
        free(old);
    }
    size_t k = refused_slot(s, (uint64_t)st->st_dev, (uint64_t)st->st_ino, gi);
    s->refused[k] = (struct refused){ (uint64_t)st->st_dev, (uint64_t)st->st_ino, gi, 1 };
    s->nrefused++;
    return 0;
}

/* Refuse a file: one log line and one count per file (remembered by the
 * identity of its target for this glob). */
static void refuse(struct fsrc *s, const char *path, const struct stat *st, size_t gi,
                   enum ls_refuse why)
{
    char target[PATH_MAX];
    metrics_child *c = why == LS_REFUSE_SPECIAL     ? s->m->refused_special
                       : why == LS_REFUSE_PSEUDO_FS ? s->m->refused_pseudo_fs
                                                    : s->m->refused_outside_root;

    if (refused_known(s, st, gi))
        return;
    (void)refused_add(s, st, gi);
    ls_sm_add(c, 1);
    if (!realpath(path, target))
        snprintf(target, sizeof(target), "%s", path);
    log_kv(LOG_WARN, "file refused, not reading it", "path", path, "target", target, "reason",
           ls_fileguard_reason(why), "glob", s->globs[gi].pattern, NULL);
}

/* Start following path (not yet tracked), whose stat is st. 0, or -1 on OOM. */
static int add_file(struct fsrc *s, const char *path, const struct stat *st, size_t gi,
                    int64_t now)
{
    struct tfile *f, **pp;
    struct ls_file_obs o;
    uint64_t off = 0;
    int fd;

    (void)now;
    if (s->nfiles >= LS_FILE_MAX_FILES) {
        if (!s->warned_cap)
            log_kv(LOG_WARN, "too many files matched; not following more until some go away",
                   "path", path, NULL);
        s->warned_cap = 1;
        return 0;
    }
    {
        struct stat ost;
        enum ls_refuse why;
        fd = ls_fileguard_open(&s->guard, path, s->globs[gi].base, &ost, &why);
        if (fd < 0 && why != LS_REFUSE_NONE) {
            refuse(s, path, st, gi, why);
            return 0;
        }
    }
    if (fd < 0) {
        /* retried at every scan; said once per file (by inode) */
        if (errno != ENOENT && !failed_before(s, st)) {
            log_kv(LOG_WARN, "cannot open file; will keep trying", "path", path, "error",
                   strerror(errno), NULL);
        }
        return 0;
    }
    if (observe(fd, 0, &o) != 0) {
        close(fd);
        return 0;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL || (f->path = strdup(path)) == NULL) {
        free(f);
        close(fd);
        return -1;
    }
    f->fd = fd;
    f->glob = gi;
    f->seen = 1;
    f->id.dev = o.dev;
    f->id.ino = o.ino;
    refresh_fp(f, o.size);
    f->from_saved = match_saved(s, fd, &o, &off);
    if (!f->from_saved) {
        /* tail only on a first run: with a checkpoint, a file we do not
         * know appeared while we were stopped, and all of it is new */
        if (s->initial && s->start == LS_START_TAIL && !s->had_positions)
            off = o.size;
        else
            off = 0;
    }
    f->off = off;
    if (ls_reader_init(&f->rd, s->lp, s->m, s->globs[gi].lines, s->pc.format,
                       s->pc.max_line_bytes, off) != 0) {
        file_free(f);
        return -1;
    }
    f->rd.head = &f->head;
    set_origin(f);
    for (pp = &s->files; *pp != NULL; pp = &(*pp)->next)
        ;
    *pp = f;
    s->nfiles++;
    watch_dir_of(s, path);
    log_kv(LOG_INFO, "following file", "path", path, NULL);
    return 0;
}

static struct tfile *find_file(struct fsrc *s, uint64_t dev, uint64_t ino)
{
    struct tfile *f;
    for (f = s->files; f != NULL; f = f->next)
        if (f->id.dev == dev && f->id.ino == ino)
            return f;
    return NULL;
}

/* Check a followed file for truncation / replaced content. */
static void check_truncation(struct fsrc *s, struct tfile *f)
{
    struct ls_file_obs o;
    enum ls_rot d;

    if (observe(f->fd, f->id.fp_len, &o) != 0)
        return;
    d = ls_rotation_decide(&f->id, f->off, &o);
    if (d != LS_ROT_TRUNCATED)
        return;
    log_kv(LOG_INFO, "file truncated, reading it again from the start", "path", f->path, NULL);
    ls_sm_add(s->m->rot_truncate, 1);
    f->off = 0;
    f->id.fp_len = 0;
    refresh_fp(f, o.size);
    set_origin(f);
    ls_reader_reset(&f->rd, 0);
    f->eof_since = 0;
}

/* Is there a wildcard in s[0..n)? */
static int has_magic(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (s[i] == '*' || s[i] == '?' || s[i] == '[' || s[i] == '\\')
            return 1;
    return 0;
}

/* Watch the directory of every glob whose directory part is literal. */
static void add_watches(struct fsrc *s)
{
    size_t i;

    if (s->ino_fd < 0)
        return;
    for (i = 0; i < s->nglobs; i++) {
        struct glob_m *g = &s->globs[i];
        const char *slash = strrchr(g->pattern, '/');
        char dir[PATH_MAX];
        size_t n;

        if (g->wd >= 0)
            continue;
        if (slash == NULL) {
            dir[0] = '.';
            dir[1] = '\0';
        } else {
            n = slash == g->pattern ? 1 : (size_t)(slash - g->pattern);
            if (n >= sizeof(dir) || has_magic(g->pattern, n))
                continue;
            memcpy(dir, g->pattern, n);
            dir[n] = '\0';
        }
        g->wd = inotify_add_watch(s->ino_fd, dir,
                                  IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                      IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_DELETE_SELF |
                                      IN_MOVE_SELF);
    }
}

/* Drain inotify; any event other than a modification asks for a rescan. */
static void drain_inotify(struct fsrc *s)
{
    char b[8192] __attribute__((aligned(__alignof__(struct inotify_event))));

    if (s->ino_fd < 0)
        return;
    for (;;) {
        ssize_t r = read(s->ino_fd, b, sizeof(b));
        size_t i = 0;
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            break;
        }
        while (i + sizeof(struct inotify_event) <= (size_t)r) {
            const struct inotify_event *ev = (const struct inotify_event *)(b + i);
            if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
                size_t k;
                for (k = 0; k < s->nglobs; k++)
                    if (s->globs[k].wd == ev->wd)
                        s->globs[k].wd = -1;
            }
            if (ev->mask & ~(uint32_t)IN_MODIFY)
                s->need_scan = 1;
            i += sizeof(struct inotify_event) + ev->len;
        }
    }
}

static int scan(struct fsrc *s, int64_t now)
{
    struct tfile *f;
    size_t gi, k;

    for (f = s->files; f != NULL; f = f->next)
        f->seen = 0;
    add_watches(s);
    for (gi = 0; gi < s->nglobs; gi++) {
        glob_t g;
        int r = glob(s->globs[gi].pattern, GLOB_NOSORT | GLOB_ERR, NULL, &g);
        if (r == GLOB_NOMATCH || r == GLOB_ABORTED)
            continue;
        if (r != 0) {
            globfree(&g);
            return -1;
        }
        /* oldest names first is what logrotate's numbering gives with a sort */
        for (k = 0; k < g.gl_pathc; k++) {
            struct stat st;
            const char *p = g.gl_pathv[k];

            if (stat(p, &st) != 0 || S_ISDIR(st.st_mode))
                continue; /* gone, a dangling link, or a directory a wildcard matched */
            if (!S_ISREG(st.st_mode)) {
                refuse(s, p, &st, gi, LS_REFUSE_SPECIAL);
                continue;
            }
            f = find_file(s, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
            if (f != NULL) {
                if (f->seen)
                    continue; /* matched by two globs or two names */
                f->seen = 1;
                if (f->gone) { /* came back within the globs */
                    f->gone = 0;
                    f->eof_since = 0;
                }
                if (strcmp(f->path, p) != 0) {
                    char *np = strdup(p);
                    if (np != NULL) {
                        log_kv(LOG_INFO, "file renamed", "from", f->path, "to", np, NULL);
                        ls_sm_add(s->m->rot_rename, 1);
                        free(f->path);
                        f->path = np;
                    }
                }
                check_truncation(s, f);
                continue;
            }
            if (refused_known(s, &st, gi))
                continue;
            if (add_file(s, p, &st, gi, now) != 0) {
                globfree(&g);
                return -1;
            }
        }
        globfree(&g);
    }
    for (f = s->files; f != NULL; f = f->next) {
        if (!f->seen && !f->gone) {
            struct stat st;
            int deleted = fstat(f->fd, &st) == 0 && st.st_nlink == 0;
            f->gone = 1;
            f->eof_since = 0;
            ls_sm_add(deleted ? s->m->rot_delete : s->m->rot_rename, 1);
            log_kv(LOG_INFO, deleted ? "file deleted, reading what is left"
                                     : "file rotated away, reading it to its end",
                   "path", f->path, NULL);
        }
    }
    if (s->initial) {
        /* saved positions of files that no longer exist are dropped */
        s->initial = 0;
    }
    s->need_scan = 0;
    s->last_scan = now;
    update_gauges(s);
    return 0;
}

/* Does the file's head still hash to fp at a length a line starting at
 * off could have ended at (an early line's origin hashes the bytes up to its
 * end; later lines the first LS_FP_BYTES)? */
static int head_matches(int fd, uint64_t off, uint64_t fp)
{
    unsigned char b[LS_FP_BYTES];
    size_t got = 0, lo = off + 1 < LS_FP_BYTES ? (size_t)off + 1 : LS_FP_BYTES;
    uint64_t h = HASH_FNV64_INIT;

    while (got < sizeof(b)) {
        ssize_t r = pread(fd, b + got, sizeof(b) - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    for (size_t i = 0; i < got; i++) {
        h = hash_fnv1a64_add(h, b + i, 1); /* ls_fingerprint, one byte at a time */
        if (i + 1 >= lo && h == fp)
            return 1;
    }
    return 0;
}

/* Before the first read of f: skip what the spool already holds of it. */
static void apply_mark(struct fsrc *s, struct tfile *f)
{
    uint64_t off, fp;
    char a[24], b[24];

    struct stat st;

    f->mark_checked = 1;
    /* the marked line must still be in the file (a smaller file was
     * truncated and holds other lines) and the head must be the same */
    if (s->resume_fn == NULL || !s->resume_fn(s->resume_ctx, f->id.dev, f->id.ino, &off, &fp) ||
        fstat(f->fd, &st) != 0 || (uint64_t)st.st_size <= off || !head_matches(f->fd, off, fp))
        return;
    if (!f->from_saved && f->off != 0) {
        /* started at the tail, but the spool holds lines of it: a crash
         * before the first checkpoint; continue where they stop */
        f->off = 0;
        ls_reader_reset(&f->rd, 0);
    }
    if (off < f->off)
        return; /* positions.json is past it already */
    ls_reader_skip_to(&f->rd, off);
    snprintf(a, sizeof(a), "%" PRIu64, f->off);
    snprintf(b, sizeof(b), "%" PRIu64, off);
    log_kv(LOG_INFO, "resuming after the last line already in the spool", "path", f->path,
           "from", a, "spooled_line_at", b, NULL);
}

/* Read what f has (up to budget). Returns bytes consumed, -1 fatal; *stop on
 * backpressure. */
static long read_file(struct fsrc *s, struct tfile *f, struct ls_emitter *em, size_t budget,
                      int64_t now, int *stop)
{
    long total = 0;

    *stop = 0;
    if (!f->mark_checked)
        apply_mark(s, f);
    if (f->eof_since != 0) {
        /* At its end last time: one fstat says whether anything changed (the
         * cheap idle path). If so, make sure the new bytes continue the file
         * and are not a truncated-and-rewritten file read from the middle. */
        struct stat st;
        if (fstat(f->fd, &st) == 0 && (uint64_t)st.st_size == f->off)
            return 0;
        if (!f->gone)
            check_truncation(s, f);
    }
    while ((size_t)total < budget) {
        ssize_t n = pread(f->fd, s->rbuf, READ_CHUNK, (off_t)f->off);
        long used;

        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_kv(LOG_WARN, "read failed, dropping file", "path", f->path, "error",
                   strerror(errno), NULL);
            f->gone = 1;
            f->eof_since = 1;
            break;
        }
        if (n == 0) {
            if (f->eof_since == 0)
                f->eof_since = now;
            break;
        }
        f->eof_since = 0;
        if (f->id.fp_len < LS_FP_BYTES) {
            refresh_fp(f, f->off + (uint64_t)n);
            set_origin(f);
        }
        used = ls_reader_feed(&f->rd, s->rbuf, (size_t)n, f->off, em, now, stop);
        if (used < 0)
            return -1;
        f->off += (uint64_t)used;
        total += used;
        ls_sm_add(s->globs[f->glob].bytes, (double)used);
        if (*stop) {
            s->pending = f;
            break;
        }
        if (n < READ_CHUNK) { /* a short read of a regular file: its end, for now */
            f->eof_since = now;
            break;
        }
    }
    return total;
}

static void remove_file(struct fsrc *s, struct tfile *dead)
{
    struct tfile **pp;
    for (pp = &s->files; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == dead) {
            *pp = dead->next;
            if (s->resume == dead)
                s->resume = NULL;
            s->nfiles--;
            log_kv(LOG_INFO, "done with file", "path", dead->path, NULL);
            file_free(dead);
            s->warned_cap = 0;
            return;
        }
    }
}

/* Set or clear "more to read right now" on the wait descriptor. */
static void kick(struct fsrc *s, int on)
{
    uint64_t v = 1;

    if (s->kick_fd < 0 || on == s->kicked)
        return;
    if (on)
        (void)!write(s->kick_fd, &v, sizeof(v));
    else
        (void)!read(s->kick_fd, &v, sizeof(v));
    s->kicked = on;
}

static long file_poll(void *ctx, struct ls_emitter *em, size_t budget)
{
    struct fsrc *s = ctx;
    int64_t now = clock_real_ns();
    struct tfile *order[LS_FILE_MAX_FILES], *f;
    size_t n = 0, i, first = 0;
    long total = 0;
    int removed = 0;

    kick(s, 0);
    if (s->pending != NULL) {
        int r = ls_reader_retry(&s->pending->rd, em);
        if (r != 0)
            return r < 0 ? -1 : 0;
        s->pending = NULL;
    }
    drain_inotify(s);
    if (s->need_scan || s->initial || now - s->last_scan >= s->rescan_ns)
        if (scan(s, now) != 0)
            return -1;
    if (budget == 0)
        budget = 1;
    /* Files in discovery order (a rotated file before its successor), but
     * starting after the one that used up the last budget, so that one busy
     * file cannot starve the others. */
    for (f = s->files; f != NULL && n < LS_FILE_MAX_FILES; f = f->next) {
        if (f == s->resume)
            first = n;
        order[n++] = f;
    }
    s->resume = NULL;
    for (i = 0; i < n; i++) {
        int stop = 0;
        long got;

        f = order[(first + i) % n];
        if ((size_t)total >= budget) {
            s->resume = f;
            break;
        }
        got = read_file(s, f, em, budget - (size_t)total, now, &stop);
        if (got < 0)
            return -1;
        total += got;
        if (stop)
            return total;
        if (f->gone && f->eof_since != 0 && now - f->eof_since >= s->rotate_wait_ns) {
            int k = ls_reader_finish(&f->rd, em, f->off, now);
            if (k < 0)
                return -1;
            if (k == 1) {
                s->pending = f;
                return total;
            }
            remove_file(s, f);
            removed = 1;
        }
    }
    if (removed)
        update_gauges(s);
    if ((size_t)total >= budget)
        kick(s, 1); /* stopped at the budget: more is waiting */
    return total;
}

static int file_wait_fd(void *ctx)
{
    struct fsrc *s = ctx;
    return s->wait_fd;
}

static int file_finished(void *ctx)
{
    (void)ctx;
    return 0;
}

static void file_destroy(void *ctx)
{
    struct fsrc *s = ctx;
    size_t i;

    if (s == NULL)
        return;
    while (s->files != NULL) {
        struct tfile *f = s->files;
        s->files = f->next;
        file_free(f);
    }
    for (i = 0; s->globs != NULL && i < s->nglobs; i++) {
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
    free_saved(s);
    free(s->pos_path);
    free(s->rbuf);
    buf_free(&s->ckpt);
    free(s);
}

/* After a restart: a file in the checkpoint that no glob matches any more
 * was most likely renamed by rotation while logship was down, and may hold
 * lines not yet read. Look for its inode in the directory it was in, and if
 * it is there (same fingerprint), read it to its end like any rotated file. */
static int recover_rotated(struct fsrc *s, int64_t now)
{
    size_t i, gi;

    for (i = 0; i < s->nsaved; i++) {
        struct saved *sv = &s->saved[i];
        char dir[PATH_MAX], full[PATH_MAX];
        const char *slash;
        struct dirent *de;
        DIR *d;
        size_t n;

        if (sv->used || sv->path == NULL || (slash = strrchr(sv->path, '/')) == NULL)
            continue;
        n = slash == sv->path ? 1 : (size_t)(slash - sv->path);
        if (n >= sizeof(dir))
            continue;
        memcpy(dir, sv->path, n);
        dir[n] = '\0';
        d = opendir(dir);
        if (d == NULL)
            continue;
        while ((de = readdir(d)) != NULL) {
            struct stat st;
            struct tfile *f;
            int k;

            if ((uint64_t)de->d_ino != sv->id.ino)
                continue;
            k = snprintf(full, sizeof(full), "%s/%s", strcmp(dir, "/") == 0 ? "" : dir,
                         de->d_name);
            if (k < 0 || (size_t)k >= sizeof(full) || stat(full, &st) != 0 ||
                !S_ISREG(st.st_mode) || (uint64_t)st.st_dev != sv->id.dev ||
                find_file(s, sv->id.dev, sv->id.ino) != NULL)
                continue;
            for (gi = 0; gi < s->nglobs; gi++)
                if (fnmatch(s->globs[gi].pattern, sv->path, FNM_PATHNAME) == 0)
                    break;
            if (gi == s->nglobs)
                gi = 0;
            if (add_file(s, full, &st, gi, now) != 0) {
                closedir(d);
                return -1;
            }
            f = find_file(s, sv->id.dev, sv->id.ino);
            if (f != NULL && sv->used) {
                f->gone = 1; /* drain it, then forget it */
                log_kv(LOG_INFO, "resuming a file rotated while stopped", "path", full,
                       "was", sv->path, NULL);
            } else if (f != NULL) {
                remove_file(s, f); /* another file on that inode now */
            }
            break;
        }
        closedir(d);
    }
    return 0;
}

/* The descriptor the engine waits on: readable on inotify events, and also
 * when a poll stopped at its budget with more to read (the kick), so the
 * engine does not sleep while a file still has data. Falls back to the
 * inotify descriptor alone (or -1: a timer) when epoll/eventfd fail. */
static void setup_wait_fd(struct fsrc *s)
{
    struct epoll_event ev;

    s->wait_fd = s->ino_fd;
    s->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->kick_fd < 0 || s->ino_fd < 0)
        return;
    s->wait_fd = epoll_create1(EPOLL_CLOEXEC);
    if (s->wait_fd < 0)
        goto fallback;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.fd = s->ino_fd;
    if (epoll_ctl(s->wait_fd, EPOLL_CTL_ADD, s->ino_fd, &ev) != 0)
        goto fallback;
    ev.data.fd = s->kick_fd;
    if (epoll_ctl(s->wait_fd, EPOLL_CTL_ADD, s->kick_fd, &ev) != 0)
        goto fallback;
    return;
fallback:
    if (s->wait_fd >= 0)
        close(s->wait_fd);
    s->wait_fd = s->ino_fd;
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

struct ls_source *ls_source_file_new_guarded(const char *const *globs, size_t nglobs,
                                             const char *const *allow_roots, size_t nroots,
                                             const struct ls_parse_conf *pc,
                                             enum ls_start_at start, const char *state_dir,
                                             metrics_registry *reg, char *err, size_t errlen)
{
    struct fsrc *s;
    size_t i;

    if (globs == NULL || nglobs == 0) {
        snprintf(err, errlen, "file source: no path given");
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto oom;
    s->ino_fd = -1;
    s->kick_fd = -1;
    s->wait_fd = -1;
    s->pc = *pc;
    s->start = start;
    s->initial = 1;
    s->rescan_ns = 1000 * NS_PER_MS;
    s->rotate_wait_ns = 5000 * NS_PER_MS;
    buf_init(&s->ckpt, ATOMICFILE_MAX);
    s->m = ls_srcmetrics_get(reg);
    if (s->m == NULL) {
        snprintf(err, errlen, "file source: cannot register metrics");
        goto fail;
    }
    s->lp = ls_lineparse_new(pc, s->m, err, errlen);
    if (s->lp == NULL)
        goto fail;
    if (ls_fileguard_init(&s->guard, allow_roots, nroots, err, errlen) != 0)
        goto fail;
    s->rbuf = malloc(READ_CHUNK);
    s->globs = calloc(nglobs, sizeof(*s->globs));
    if (s->rbuf == NULL || s->globs == NULL)
        goto oom;
    for (i = 0; i < nglobs; i++) {
        const char *v[1];
        if (globs[i] == NULL || globs[i][0] == '\0') {
            snprintf(err, errlen, "file source: empty path");
            goto fail;
        }
        s->globs[i].wd = -1;
        s->globs[i].pattern = strdup(globs[i]);
        s->globs[i].base = malloc(PATH_MAX);
        s->nglobs++;
        if (s->globs[i].pattern == NULL || s->globs[i].base == NULL)
            goto oom;
        if (ls_fileguard_glob_base(globs[i], s->globs[i].base, PATH_MAX) != 0) {
            snprintf(err, errlen, "file source: path too long: %s", globs[i]);
            goto fail;
        }
        v[0] = globs[i];
        if (s->m->lines != NULL) {
            s->globs[i].lines = metrics_child_get(s->m->lines, v);
            s->globs[i].bytes = metrics_child_get(s->m->bytes, v);
            s->globs[i].watched = metrics_child_get(s->m->files_watched, v);
        }
    }
    if (state_dir != NULL && state_dir[0] != '\0') {
        struct stat st;
        size_t n = strlen(state_dir) + sizeof("/positions.json");
        if (stat(state_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "file source: state directory %s is not a directory",
                     state_dir);
            goto fail;
        }
        s->pos_path = malloc(n);
        if (s->pos_path == NULL)
            goto oom;
        snprintf(s->pos_path, n, "%s/positions.json", state_dir);
        if (load_positions(s) != 0)
            goto oom;
    }
    s->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    setup_wait_fd(s);
    if (s->ino_fd < 0)
        log_kv(LOG_WARN, "inotify unavailable, rescanning on a timer only", "error",
               strerror(errno), NULL);
    /* the first scan now: "tail" means the end as of startup */
    if (scan(s, clock_real_ns()) != 0 || recover_rotated(s, clock_real_ns()) != 0)
        goto oom;
    s->src.ops = &file_ops;
    s->src.ctx = s;
    return &s->src;
oom:
    snprintf(err, errlen, "file source: out of memory");
fail:
    file_destroy(s);
    return NULL;
}

void ls_source_file_set_timing(struct ls_source *src, int64_t rescan_ms, int64_t rotate_wait_ms)
{
    struct fsrc *s;

    if (src == NULL || src->ops != &file_ops)
        return;
    s = src->ctx;
    if (rescan_ms > 0)
        s->rescan_ns = rescan_ms * NS_PER_MS;
    if (rotate_wait_ms > 0)
        s->rotate_wait_ns = rotate_wait_ms * NS_PER_MS;
}

void ls_source_file_set_resume(struct ls_source *src, ls_resume_fn fn, void *ctx)
{
    struct fsrc *s;

    if (src == NULL || src->ops != &file_ops)
        return;
    s = src->ctx;
    s->resume_fn = fn;
    s->resume_ctx = ctx;
}

void ls_source_free(struct ls_source *src)
{
    if (src == NULL)
        return;
    /* the handle is embedded in the file source's context, and allocated
     * separately for others: each destroy frees its own */
    src->ops->destroy(src->ctx);
}
