/* fileguard: which files the file source may open and follow, so a hostile
 * symlink, FIFO, device or pseudo file in a followed directory is refused.
 *
 * The policy (documented in logship/ENGINE.md, "What files are read"):
 *  - Only regular files are read. FIFOs, sockets, devices and directories are
 *    refused (reason "special_file"); a directory matched by a glob is
 *    skipped without a word (a "*" naturally matches subdirectories).
 *  - Regular files on pseudo filesystems (proc, sysfs, debugfs, tracefs,
 *    securityfs, cgroup/cgroup2, devpts, bpf, pstore, efivarfs, configfs,
 *    fusectl, selinuxfs, smackfs, binfmt_misc, nsfs, mqueue, pipefs, sockfs)
 *    are refused (reason "pseudo_fs"): their size says 0 while reads never
 *    end, and they hold process secrets (/proc/self/environ).
 *  - A file's real path (every symlink resolved) must lie under the real
 *    directory of the glob that found it (its literal directory part, before
 *    any wildcard) or under one of the --allow-root directories; else it is
 *    refused (reason "outside_root"). Symlinks are therefore followed, but
 *    only to regular files in places the operator named.
 *  - The check is made on the resolved path, the file is then opened with
 *    O_NOFOLLOW | O_NONBLOCK, and the opened descriptor is checked again
 *    (fstat, fstatfs, and its /proc/self/fd name against the roots), so a
 *    swap of a path component between check and open cannot win. */
#ifndef LOGSHIP_FILEGUARD_H
#define LOGSHIP_FILEGUARD_H

#include <stddef.h>
#include <sys/stat.h>

enum ls_refuse {
    LS_REFUSE_NONE = 0,
    LS_REFUSE_SPECIAL,      /* not a regular file: FIFO, socket, device, directory */
    LS_REFUSE_PSEUDO_FS,    /* a regular file on proc, sysfs, ... */
    LS_REFUSE_OUTSIDE_ROOT, /* resolves outside the glob's directory and every --allow-root */
    LS_REFUSE_N
};

struct ls_fileguard {
    char  **roots;  /* real paths of the --allow-root directories */
    size_t  nroots;
};

/* The metric label of a reason: "special_file", "pseudo_fs", "outside_root"
 * ("" for LS_REFUSE_NONE). Never fails. */
const char *ls_fileguard_reason(enum ls_refuse r);

/* Is f_type (statfs) one of the refused pseudo filesystems? Pure. */
int ls_fileguard_pseudo_fs(long f_type);

/* Is the absolute, normalised path under root (root itself, or root + "/" +
 * more)? Pure: compares whole path components, so /var/logx is not under
 * /var/log. */
int ls_fileguard_under(const char *path, const char *root);

/* The literal directory part of a glob pattern: the components before the
 * first one holding a wildcard ("*?[\\"), without the file name; "." when
 * none. Writes at most n bytes to out (NUL included). Returns 0, -1 when it
 * does not fit. Pure. */
int ls_fileguard_glob_base(const char *pattern, char *out, size_t n);

/* Resolve the --allow-root directories (real paths; a root that does not
 * exist yet is kept as given when absolute, with a warning). Returns 0, or -1
 * with a one-line message in err (relative root that does not exist, OOM).
 * Free with ls_fileguard_free. */
int ls_fileguard_init(struct ls_fileguard *g, const char *const *roots, size_t n, char *err,
                      size_t errlen);
void ls_fileguard_free(struct ls_fileguard *g);

/* Open path (found by a glob whose literal directory is base) for reading if
 * the policy allows it. Returns an open descriptor (O_RDONLY, O_CLOEXEC,
 * O_NONBLOCK) with *st filled from fstat; or -1 with *why set to the reason
 * it was refused, or to LS_REFUSE_NONE with errno set when it simply could
 * not be resolved or opened (ENOENT, EACCES: worth trying again later). */
int ls_fileguard_open(const struct ls_fileguard *g, const char *path, const char *base,
                      struct stat *st, enum ls_refuse *why);

/* Start-time check of one --source value: a literal path (no wildcard) that
 * exists must be a regular file off the pseudo filesystems. Returns 0 (fine,
 * or not there yet, or a glob), or -1 with a one-line message in err naming
 * the path and what it is. */
int ls_fileguard_check_source(const char *path, char *err, size_t errlen);

#endif
