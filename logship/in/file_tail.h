/* file_tail: the file source's shared state and the seams between its parts, private to in/file_*.c
 * and source_file.c (identity, positions, scan, watch, read, and the source vtable). Nothing outside
 * logship/in/ includes it; the contract is source_file.h. */
#ifndef LOGSHIP_IN_FILE_TAIL_H
#define LOGSHIP_IN_FILE_TAIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "buf.h"
#include "metrics.h"
#include "logship/in/fileguard.h"
#include "logship/in/linereader.h"
#include "logship/in/source_file.h"
#include "logship/in/source_metrics.h"

#define LS_FILE_READ_CHUNK (64 * 1024)
#define LS_FILE_NS_PER_MS 1000000LL
#define LS_FILE_FAILED_MEMORY 16
#define LS_FILE_REFUSED_MAX (1u << 16) /* slots of the refused set: 48 Ki files remembered */

/* One followed file. */
struct ls_tfile {
    struct ls_file_id id;
    int      fd;
    char    *path;
    size_t   glob;         /* index of the glob that matched it */
    uint64_t off;          /* next byte to read */
    int      seen;         /* matched in the current scan */
    int      gone;         /* no longer matched: drain, then drop */
    int64_t  eof_since;    /* when reading last hit EOF without growth, 0 when not */
    struct ls_head head;   /* first bytes: fingerprint and early-line origins */
    struct ls_reader rd;
    int      from_saved;   /* its offset came from positions.json */
    int      mark_checked; /* the spool's resume mark was consulted */
    struct ls_tfile *next;
};

/* A file refused for a glob, by the identity of its target. */
struct ls_trefused {
    uint64_t dev, ino;
    size_t   glob;
    int      used;
};

/* One entry of positions.json. */
struct ls_tsaved {
    struct ls_file_id id;
    uint64_t off;
    int      used;
    char    *path;         /* its name when saved */
};

/* One configured glob (or plain path). */
struct ls_tglob {
    char          *pattern;
    char          *base;   /* its literal directory (fileguard): where its files may resolve */
    metrics_child *lines, *bytes, *watched;
    int            wd;     /* inotify watch on its directory, -1 */
};

/* The file source. */
struct ls_fsrc {
    struct ls_source      src;
    struct ls_parse_conf  pc;
    enum ls_start_at      start;
    struct ls_lineparse  *lp;
    struct ls_srcmetrics *m;
    struct ls_tglob      *globs;
    size_t                nglobs;
    char                 *pos_path;      /* NULL: no checkpoint */
    struct ls_tsaved     *saved;
    size_t                nsaved;
    struct ls_tfile      *files;
    size_t                nfiles;
    int                   initial;       /* the first scan is still to come */
    int                   need_scan;
    int64_t               last_scan;
    int64_t               rescan_ns, rotate_wait_ns;
    int                   ino_fd;
    int                   kick_fd;       /* eventfd: "more to read right now" */
    int                   kicked;        /* kick_fd holds a count */
    int                   wait_fd;       /* epoll over ino_fd and kick_fd (or ino_fd) */
    char                 *rbuf;
    struct ls_tfile      *pending;       /* the file whose reader holds a refused record */
    struct ls_tfile      *resume;        /* where the next poll starts reading */
    buf_t                 ckpt;          /* last checkpoint written, to skip identical writes */
    struct ls_fileguard   guard;         /* what may be opened (--allow-root) */
    struct ls_trefused   *refused;       /* open-addressing set of refused files */
    size_t                refused_cap, nrefused;
    int                   warned_cap;
    struct { uint64_t dev, ino; } failed[LS_FILE_FAILED_MEMORY];
    size_t                nfailed;
    int                   had_positions; /* a checkpoint was loaded: not a first run */
    ls_resume_fn          resume_fn;     /* the spool's per-file marks, or NULL */
    void                 *resume_ctx;
};

/* --- identity (file_identity.c): dev:ino plus a hash of the head ---------------------------- */

/* Observe an open file: fstat, and the hash of its first want_fp bytes (fp_ok when the file has
 * that many and they could be read). 0, or -1 when fstat fails. */
int ls_file_observe(int fd, uint32_t want_fp, struct ls_file_obs *o);

/* Grow f's fingerprint to the first min(size, LS_FP_BYTES) bytes, keeping them in f->head for
 * early-line origins. No-op when it is that long already. */
void ls_file_refresh_fp(struct ls_tfile *f, uint64_t size);

/* Set the origin prefix of f's reader from its identity ("f:dev:ino:fp"). */
void ls_file_set_origin(struct ls_tfile *f);

/* 1 when the head of fd still hashes to fp at a length a line starting at off could have ended at
 * (an early line's origin hashes the bytes up to its end; later lines the first LS_FP_BYTES). */
int ls_file_head_matches(int fd, uint64_t off, uint64_t fp);

/* The directory part of path into dir[cap] ("/" for a file at the root). 0, or -1 when path has
 * no slash or the directory does not fit. */
int ls_file_dir_of(const char *path, char *dir, size_t cap);

/* --- positions (file_positions.c): positions.json ----------------------------------------- */

/* Load s->pos_path into s->saved. A missing file loads nothing; an unreadable one is logged; a
 * corrupt one is moved aside to positions.json.corrupt, logged and counted. 0, or -1 on OOM. */
int ls_file_positions_load(struct ls_fsrc *s);

/* A saved position for a newly opened file fd observed as o: 1 with *off (0 when the file was
 * truncated meanwhile, counted as kind="truncate"), 0 when none. Marks the entry used. */
int ls_file_positions_match(struct ls_fsrc *s, int fd, const struct ls_file_obs *o, uint64_t *off);

/* Write every followed file's safe offset to s->pos_path atomically, unless it is unchanged since
 * the last write. 0 (also with no checkpoint), or -1 (logged) when it cannot be written. */
int ls_file_positions_save(struct ls_fsrc *s);

/* Forget the loaded entries. */
void ls_file_positions_free(struct ls_fsrc *s);

/* --- scan (file_scan.c): globs, rescans, fileguard, rotation -------------------------------- */

/* Match every glob now: start following new files (fileguard permitting), notice renames and
 * truncations of followed ones, and mark those no longer matched as gone. 0, or -1 on OOM or a
 * glob error. */
int ls_file_scan(struct ls_fsrc *s, int64_t now);

/* After a restart: find the checkpoint's files that no glob matches any more by inode in their old
 * directory and follow them to their end. 0, or -1 on OOM. */
int ls_file_recover_rotated(struct ls_fsrc *s);

/* Check a followed file for truncation or replaced content, restarting it at 0 when so. */
void ls_file_check_truncation(struct ls_fsrc *s, struct ls_tfile *f);

/* Stop following dead (logged) and free it. */
void ls_file_remove(struct ls_fsrc *s, struct ls_tfile *dead);

/* Close and free one followed file (not unlinked from the list). */
void ls_file_close(struct ls_tfile *f);

/* Set logship_input_files_watched per glob. */
void ls_file_update_gauges(struct ls_fsrc *s);

/* --- watch (file_watch.c): inotify and the wait descriptor -------------------------------- */

/* Watch the directory of every glob whose directory part is literal (once each). */
void ls_file_watch_globs(struct ls_fsrc *s);

/* Watch the directory holding path too. */
void ls_file_watch_dir_of(struct ls_fsrc *s, const char *path);

/* Drain inotify; any event other than a modification sets s->need_scan. */
void ls_file_watch_drain(struct ls_fsrc *s);

/* Set (on) or clear "more to read right now" on the wait descriptor. */
void ls_file_watch_kick(struct ls_fsrc *s, int on);

/* Open inotify and the wait descriptor (epoll over inotify and the kick eventfd; inotify alone, or
 * -1 for a timer, when they fail), logging when inotify is unavailable. */
void ls_file_watch_setup(struct ls_fsrc *s);

/* --- read (file_read.c): one file's read loop into its line reader --------------------------- */

/* Read what f has, up to budget bytes, into em. Bytes consumed, or -1 fatal; *stop on
 * backpressure (s->pending is then f). */
long ls_file_read(struct ls_fsrc *s, struct ls_tfile *f, struct ls_emitter *em, size_t budget,
                  int64_t now, int *stop);

#endif
