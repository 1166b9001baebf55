/* fileguard: the file source's policy of what may be opened (regular files, off pseudo filesystems,
 * under allowed roots). */
#include "logship/in/fileguard.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "log.h"

static const char *const reasons[LS_REFUSE_N] = { "", "special_file", "pseudo_fs", "outside_root" };

/* statfs f_type values (linux/magic.h) of filesystems whose "files" are
 * kernel interfaces, not logs: endless or changing content, secrets. */
static const uint32_t pseudo_types[] = {
    0x9fa0,     /* proc */
    0x62656572, /* sysfs */
    0x64626720, /* debugfs */
    0x74726163, /* tracefs */
    0x73636673, /* securityfs */
    0x27e0eb,   /* cgroup */
    0x63677270, /* cgroup2 */
    0x1cd1,     /* devpts */
    0xcafe4a11, /* bpf */
    0x6165676c, /* pstore */
    0xde5e81e4, /* efivarfs */
    0x62656570, /* configfs */
    0x65735543, /* fusectl */
    0xf97cff8c, /* selinuxfs */
    0x43415d53, /* smackfs */
    0x42494e4d, /* binfmt_misc */
    0x6e736673, /* nsfs */
    0x19800202, /* mqueue */
    0x50495045, /* pipefs */
    0x534f434b, /* sockfs */
};

const char *ls_fileguard_reason(enum ls_refuse r)
{
    return r > LS_REFUSE_NONE && r < LS_REFUSE_N ? reasons[r] : "";
}

int ls_fileguard_pseudo_fs(long f_type)
{
    for (size_t i = 0; i < sizeof(pseudo_types) / sizeof(pseudo_types[0]); i++)
        if ((uint32_t)f_type == pseudo_types[i])
            return 1;
    return 0;
}

int ls_fileguard_under(const char *path, const char *root)
{
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    if (n == 1 && root[0] == '/')
        return path[0] == '/';
    return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int ls_fileguard_glob_base(const char *pattern, char *out, size_t n)
{
    size_t m = strcspn(pattern, "*?[\\");
    const char *slash = NULL;
    for (size_t i = 0; i < m; i++)
        if (pattern[i] == '/')
            slash = pattern + i;
    const char *src = ".";
    size_t len = 1;
    if (slash == pattern) {
        src = "/";
    } else if (slash) {
        src = pattern;
        len = (size_t)(slash - pattern);
    }
    if (len + 1 > n)
        return -1;
    memcpy(out, src, len);
    out[len] = '\0';
    return 0;
}

/* Add root r (resolved when it exists) to g. 0, or -1 with err set. */
static int add_root(struct ls_fileguard *g, const char *r, char *err, size_t errlen)
{
    char rp[PATH_MAX];
    if (r[0] == '\0') {
        snprintf(err, errlen, "--allow-root: empty path");
        return -1;
    }
    if (realpath(r, rp)) {
        r = rp;
    } else if (r[0] != '/') {
        snprintf(err, errlen, "--allow-root %s: %s (a root that may appear later must be absolute)", r,
                 strerror(errno));
        return -1;
    } else {
        /* Kept as given: a directory mounted or created after start (e.g. a node's
         * /var/lib/docker/containers) still works once it exists. */
        log_kv(LOGL_WARN, "--allow-root does not exist (yet)", "path", r, "error", strerror(errno), NULL);
    }
    g->roots[g->nroots] = strdup(r);
    if (!g->roots[g->nroots]) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    g->nroots++;
    return 0;
}

int ls_fileguard_init(struct ls_fileguard *g, const char *const *roots, size_t n, char *err,
                      size_t errlen)
{
    memset(g, 0, sizeof(*g));
    if (n == 0)
        return 0;
    int rc = -1;
    g->roots = calloc(n, sizeof(*g->roots));
    if (!g->roots) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (add_root(g, roots[i], err, errlen) != 0)
            goto out;
    rc = 0;
out:
    if (rc != 0)
        ls_fileguard_free(g);
    return rc;
}

void ls_fileguard_free(struct ls_fileguard *g)
{
    for (size_t i = 0; i < g->nroots; i++)
        free(g->roots[i]);
    free(g->roots);
    memset(g, 0, sizeof(*g));
}

/* Is the real path rp under the real directory of base or an allowed root? */
static int allowed(const struct ls_fileguard *g, const char *rp, const char *base)
{
    char rb[PATH_MAX];
    if (realpath(base, rb) && ls_fileguard_under(rp, rb))
        return 1;
    for (size_t i = 0; i < g->nroots; i++)
        if (ls_fileguard_under(rp, g->roots[i]))
            return 1;
    return 0;
}

/* Judge what the descriptor fd really is: a regular file on a real file system under an allowed
 * root. 0; or -1 with *why set (refused) or with errno (fstat/fstatfs failed, *why untouched). */
static int judge_open(const struct ls_fileguard *g, int fd, const char *base, struct stat *st,
                      enum ls_refuse *why)
{
    struct statfs sf;
    if (fstat(fd, st) != 0)
        return -1;
    if (!S_ISREG(st->st_mode)) {
        *why = LS_REFUSE_SPECIAL;
        return -1;
    }
    if (fstatfs(fd, &sf) != 0)
        return -1;
    if (ls_fileguard_pseudo_fs((long)sf.f_type)) {
        *why = LS_REFUSE_PSEUDO_FS;
        return -1;
    }
    /* A directory above rp swapped for a symlink between realpath and
     * open would still be followed: the kernel's name for the descriptor
     * tells where we really are (skipped when /proc is not mounted). */
    char link[64];
    char name[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t k = readlink(link, name, sizeof(name) - 1);
    if (k > 0 && (size_t)k < sizeof(name) - 1) {
        name[k] = '\0';
        if (name[0] == '/' && !allowed(g, name, base)) {
            *why = LS_REFUSE_OUTSIDE_ROOT;
            return -1;
        }
    }
    return 0;
}

int ls_fileguard_open(const struct ls_fileguard *g, const char *path, const char *base,
                      struct stat *st, enum ls_refuse *why)
{
    char rp[PATH_MAX];
    struct statfs sf;

    *why = LS_REFUSE_NONE;
    if (!realpath(path, rp))
        return -1;
    /* Judge what the name leads to before opening it: opening a FIFO or a
     * device can have side effects, and a pseudo file is refused outright. */
    if (stat(rp, st) != 0)
        return -1;
    if (!S_ISREG(st->st_mode)) {
        *why = LS_REFUSE_SPECIAL;
        return -1;
    }
    if (statfs(rp, &sf) == 0 && ls_fileguard_pseudo_fs((long)sf.f_type)) {
        *why = LS_REFUSE_PSEUDO_FS;
        return -1;
    }
    if (!allowed(g, rp, base)) {
        *why = LS_REFUSE_OUTSIDE_ROOT;
        return -1;
    }
    /* rp has no symlink left; O_NOFOLLOW refuses one swapped in since (ELOOP:
     * tried again at the next scan), O_NONBLOCK keeps a swapped-in FIFO from
     * blocking us. What was opened is then judged again by its descriptor. */
    int fd = open(rp, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    if (judge_open(g, fd, base, st, why) != 0) {
        int e = *why != LS_REFUSE_NONE ? EPERM : errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int ls_fileguard_check_source(const char *path, char *err, size_t errlen)
{
    struct stat st;
    struct statfs sf;

    if (path[strcspn(path, "*?[\\")] != '\0')
        return 0; /* a glob: what it matches is judged file by file */
    if (stat(path, &st) != 0)
        return 0; /* not there yet: followed once it appears */
    const char *what = NULL;
    if (S_ISDIR(st.st_mode))
        what = "is a directory; name the files, e.g. with a glob DIR/*.log";
    else if (S_ISFIFO(st.st_mode))
        what = "is a FIFO (named pipe); only regular files are followed (pipe into --source - instead)";
    else if (S_ISSOCK(st.st_mode))
        what = "is a socket; only regular files are followed";
    else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
        what = "is a device; only regular files are followed";
    else if (!S_ISREG(st.st_mode))
        what = "is not a regular file";
    else if (statfs(path, &sf) == 0 && ls_fileguard_pseudo_fs((long)sf.f_type))
        what = "is on a pseudo filesystem (proc, sysfs, ...), whose files are not logs";
    if (!what)
        return 0;
    snprintf(err, errlen, "--source %s %s", path, what);
    return -1;
}
