/* source_file: follow files named by paths or globs, across rotations, with
 * exact resumption from state_dir/positions.json.
 *
 * A file is identified by (device, inode, fingerprint), never by name: the
 * fingerprint is a 64-bit FNV-1a hash of its first bytes (up to 1 KiB, grown
 * as the file grows) so a recycled inode is not mistaken for the old file.
 *  - New files under a glob are found by a rescan every rescan interval
 *    (default 1 s) and at once when inotify reports a change in a watched
 *    directory (the directory part of each glob when it has no wildcard, and
 *    the directory of every followed file).
 *    On a first run (no checkpoint yet), files present at the first scan
 *    start at the head or the tail (start_at); files that appear later, and
 *    on later runs every file the checkpoint does not know, start at the
 *    head (they are new: every line counts); files found in the checkpoint
 *    resume at their saved offset. A file of the checkpoint that no glob
 *    matches any more (renamed by rotation while logship was stopped) is
 *    looked up by inode in its directory and read to its end.
 *  - Rename rotation: the old file stays open and is read to its end; once it
 *    has stayed at EOF for the rotate wait (default 5 s, writers may still be
 *    finishing), its partial last line is shipped and it is forgotten. The new
 *    file at the old name is a new file (head). Counted as kind="rename".
 *  - copytruncate: a size below our offset, or a changed fingerprint, means
 *    the content was replaced: restart at 0, counted as kind="truncate".
 *  - Deleted while read: what the open descriptor still holds is read, then
 *    the file is dropped (kind="delete").
 *  - commit() records, per file, the offset after the last line handed to
 *    the spool (or deliberately skipped), never merely read: a partial line
 *    or a pending docker piece holds the offset at its start.
 *  - What a glob matches is opened only if fileguard.h's policy allows it:
 *    regular files, off pseudo filesystems, resolving under the glob's own
 *    directory or an --allow-root; refusals are logged once per file and
 *    counted in logship_input_refused_total{reason}.
 *  - At most LS_FILE_MAX_FILES files are followed at once (each holds one
 *    descriptor); further matches are ignored with a warning until a slot
 *    frees. A corrupt positions.json is moved aside (positions.json.corrupt)
 *    with an error log, and reading starts as on a first run. */
#ifndef LOGSHIP_SOURCE_FILE_H
#define LOGSHIP_SOURCE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include "metrics.h"
#include "hash.h"
#include "logship/core/source.h"

#define LS_FILE_MAX_FILES 512
#define LS_FP_BYTES 1024

/* Create a source following every file matched by globs[0..nglobs) (plain
 * paths are globs too). Parsing follows pc. state_dir NULL means no
 * checkpoint (commit is a no-op). Metrics are registered in reg (NULL: none).
 * Returns NULL with a one-line message in err on bad arguments, an unreadable
 * state directory, OOM. Free with ls_source_free. */
struct ls_source *ls_source_file_new(const char *const *globs, size_t nglobs,
                                     const struct ls_parse_conf *pc, enum ls_start_at start,
                                     const char *state_dir, metrics_registry *reg, char *err,
                                     size_t errlen);

/* The same, with the files a glob finds limited by fileguard.h's policy:
 * besides its own literal directory, a file may resolve under any of
 * allow_roots[0..nroots) (--allow-root). ls_source_file_new is this with no
 * extra roots. Also fails (NULL, err) on a relative root that does not
 * exist. Refused files are logged once and counted in
 * logship_input_refused_total{reason}. */
struct ls_source *ls_source_file_new_guarded(const char *const *globs, size_t nglobs,
                                             const char *const *allow_roots, size_t nroots,
                                             const struct ls_parse_conf *pc,
                                             enum ls_start_at start, const char *state_dir,
                                             metrics_registry *reg, char *err, size_t errlen);

/* Tune the timers (milliseconds; <= 0 leaves a value unchanged): how often
 * to rescan the globs, and how long a rotated-away file must stay at EOF
 * before it is dropped. For tests and the engine's config. */
void ls_source_file_set_timing(struct ls_source *s, int64_t rescan_ms, int64_t rotate_wait_ms);

/* Where the spool says a file's newest spooled line starts: 1 with *off (the
 * line's start offset) and *fp (the fingerprint in its origin), else 0. */
typedef int (*ls_resume_fn)(void *ctx, uint64_t dev, uint64_t ino, uint64_t *off, uint64_t *fp);

/* Exact resume: before a file is first read, ask fn (with ctx) for its
 * newest spooled line; when the file's head still matches that line's
 * fingerprint, lines starting at or before it are consumed without being
 * emitted again (positions.json may be older: kill -9 before a commit). A
 * file with such a mark but no saved position starts at its head even under
 * start_at tail. Call before the engine polls. */
void ls_source_file_set_resume(struct ls_source *s, ls_resume_fn fn, void *ctx);

/* --- the rotation decision, pure, for unit tests ----------------------------- */

struct ls_file_id {
    uint64_t dev, ino;
    uint64_t fp;      /* hash of the first fp_len bytes */
    uint32_t fp_len;
};

/* What is at a path now (or what an open descriptor shows). */
struct ls_file_obs {
    int      exists;
    uint64_t dev, ino, size;
    int      fp_ok;   /* fp below is the hash of the first known.fp_len bytes */
    uint64_t fp;
};

enum ls_rot {
    LS_ROT_IDLE = 0,  /* same file, nothing new */
    LS_ROT_GROWN,     /* same file, more to read */
    LS_ROT_TRUNCATED, /* same inode, content replaced or shrunk: restart at 0 */
    LS_ROT_OTHER,     /* another file is there now (rename rotation / reused name) */
    LS_ROT_GONE,      /* nothing is there (deleted or renamed away) */
};

/* Decide what happened to the file known (read up to offset) given obs. */
enum ls_rot ls_rotation_decide(const struct ls_file_id *known, uint64_t offset,
                               const struct ls_file_obs *obs);

/* FNV-1a 64 of p[0..n), the fingerprint function. */
static inline uint64_t ls_fingerprint(const void *p, size_t n)
{
    return hash_fnv1a64(p, n);
}

#endif
