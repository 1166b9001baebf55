/* spool_marks: per-file high-water marks of what reached the spool, so a file
 * source resumes after the last line it already spooled even when its own
 * positions.json is older (kill -9 before the first commit) or gone.
 *
 * A mark is the origin of the newest record of one file (by dev:ino): the
 * start offset of its line and the fingerprint in its origin. Marks are
 * learnt from every record appended and from the records found at open; the
 * spool saves them to <dir>/marks.json before it deletes a segment, so the
 * lines of a deleted segment stay known although positions.json may not yet
 * cover them. Not thread-safe: the spool guards a set with its mutex. */
#ifndef LOGSHIP_SPOOL_MARKS_H
#define LOGSHIP_SPOOL_MARKS_H

#include <stddef.h>
#include <stdint.h>

/* At most this many files are remembered; the one marked longest ago goes first. */
#define LS_MARKS_MAX 65536u

struct ls_mark {
    uint64_t dev, ino;
    uint64_t fp;    /* fingerprint from the origin (see linereader.h, ls_head) */
    uint64_t off;   /* start offset of the newest spooled line */
    uint64_t seq;   /* spool seq of that record: the newer mark wins */
};

struct ls_marks;

/* An empty set, or NULL on OOM. */
struct ls_marks *ls_marks_new(void);
/* NULL-safe. */
void ls_marks_free(struct ls_marks *ms);

/* Parse a file origin "f:<dev>:<ino>:<16 hex fp>@<offset>" into m (m->seq =
 * seq). Returns 1 when parsed, 0 for anything else (stdin, malformed). */
int ls_marks_parse_origin(const char *origin, size_t len, uint64_t seq, struct ls_mark *m);

/* Keep m unless the set holds a newer (larger seq) mark of the same file.
 * 0, or -1 on OOM (the set is unchanged). */
int ls_marks_put(struct ls_marks *ms, const struct ls_mark *m);

/* 1 with *out set when the file dev:ino has a mark, else 0. */
int ls_marks_get(const struct ls_marks *ms, uint64_t dev, uint64_t ino, struct ls_mark *out);

/* Number of marks held. */
size_t ls_marks_count(const struct ls_marks *ms);

/* Largest seq of any mark (0 when empty): the spool never reuses seqs below it. */
uint64_t ls_marks_max_seq(const struct ls_marks *ms);

/* 1 when a put changed the set since the last successful save or load. */
int ls_marks_dirty(const struct ls_marks *ms);

/* Write the set to path atomically (atomicfile_write: durable). 0 or -1
 * (errno set; the caller logs). Clears the dirty flag on success. */
int ls_marks_save(struct ls_marks *ms, const char *path);

/* Merge the marks saved in path. 0 when loaded or absent, 1 when the file
 * is garbage (nothing merged; the caller logs and counts), -1 on an I/O
 * error or OOM. */
int ls_marks_load(struct ls_marks *ms, const char *path);

#endif
