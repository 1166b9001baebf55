/* docker: Docker json-file records → whole log lines.
 *
 * Docker's json-file driver writes one JSON object per record:
 * {"log":"<bytes with their \n>","stream":"stdout","time":"<RFC 3339 ns>"}.
 * A line longer than 16 KB is split into several records of the same stream,
 * and only the last piece's "log" ends in "\n". This joiner keeps one pending
 * partial line per stream (stdout and stderr may interleave), capped at
 * max_line_bytes (the excess is counted as cut, never buffered). The joined
 * line carries the time of its first piece and its start offset (the offset of
 * its first record), so a resumed reader can restart at that record.
 * A record that is not such an object is handed back as is, flagged malformed,
 * so that the caller ships it raw and counts it (nothing is lost silently). */
#ifndef LOGSHIP_DOCKER_H
#define LOGSHIP_DOCKER_H

#include <stddef.h>
#include <stdint.h>

/* Streams tracked at once; Docker has two. Records of further streams are
 * passed through without joining. */
#define LS_DOCKER_STREAMS 4

struct ls_docker;

/* A whole line, valid until the next call on the joiner. */
struct ls_docker_line {
    const char *line;      /* without its trailing '\n' */
    size_t      len;
    size_t      cut;       /* bytes beyond the cap that were not kept */
    int64_t     ts_ns;     /* time of the first piece, 0 when absent/unparsable */
    const char *stream;    /* "stdout", "stderr", ...; NULL when malformed */
    uint64_t    start_off; /* offset of the line's first record */
    int         malformed; /* 1: line is the raw record, not decoded */
};

/* A joiner whose pending lines hold at most max_line_bytes each. NULL on OOM. */
struct ls_docker *ls_docker_new(size_t max_line_bytes);
void ls_docker_free(struct ls_docker *d);

/* Feed one record (one input line without '\n', rec_cut bytes of it beyond
 * what the reader kept) that started at offset off. Returns 1 when a whole
 * line is ready in *out, 0 when the record was a piece that is now pending,
 * -1 on OOM (nothing changed). A malformed record returns 1 with
 * out->malformed set. */
int ls_docker_feed(struct ls_docker *d, const char *rec, size_t len, size_t rec_cut, uint64_t off,
                   struct ls_docker_line *out);

/* Hand out one pending partial line as if it were complete (the file was
 * rotated away and fully read, or the input ended). Returns 1 with *out
 * filled, 0 when nothing is pending. Call until it returns 0. */
int ls_docker_flush(struct ls_docker *d, struct ls_docker_line *out);

/* The smallest start offset of a pending piece, or UINT64_MAX when none: a
 * checkpoint must not move past it. */
uint64_t ls_docker_pending_off(const struct ls_docker *d);

/* Forget every pending piece (the file was truncated). */
void ls_docker_reset(struct ls_docker *d);

#endif
