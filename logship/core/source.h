/* source: the one small interface every input implements (files, stdin).
 *
 * A source turns input bytes into records and hands them to an emitter,
 * which appends them to the spool. It never decides delivery: its position
 * only moves forward in its checkpoint when the engine calls commit(), which
 * happens after the spool holds every record emitted so far (as durably as
 * the spool's fsync policy promises). So a crash at any instant re-reads at
 * most what was not yet in the spool, and nothing is skipped. */
#ifndef LOGSHIP_SOURCE_H
#define LOGSHIP_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include "logship/core/record.h"

enum ls_format { LS_FORMAT_JSON = 0, LS_FORMAT_RAW, LS_FORMAT_DOCKER };
enum ls_start_at { LS_START_HEAD = 0, LS_START_TAIL };
/* What to do with a line that is not valid UTF-8 or holds NUL bytes. */
enum ls_on_invalid { LS_INVALID_ESCAPE = 0, LS_INVALID_DROP };
/* What to do with a line longer than max_line_bytes. */
enum ls_on_long { LS_LONG_TRUNCATE = 0, LS_LONG_DROP };

/* How lines become records; shared by every source. */
struct ls_parse_conf {
    enum ls_format     format;
    const char *const *ts_fields;     /* JSON fields tried in order for the timestamp */
    size_t             n_ts_fields;   /* default: ts, time, @timestamp */
    const char *const *label_fields;  /* JSON fields promoted to labels (default: level) */
    size_t             n_label_fields;
    const char *const *static_labels; /* "k=v" strings from --label */
    size_t             n_static_labels;
    size_t             max_line_bytes;
    enum ls_on_invalid on_invalid;
    enum ls_on_long    on_long;
};

/* Where records go. emit() returns 0 when the record was appended, 1 when the
 * spool is full (backpressure: the source must keep the record and offer it
 * again on a later poll, without advancing), or -1 on an I/O error (the engine
 * stops reading and logs). The record's memory is only borrowed. */
struct ls_emitter {
    int  (*emit)(struct ls_emitter *em, const struct ls_record *rec);
    void  *ctx;
};

struct ls_source_ops {
    const char *kind;   /* "file", "stdin" */
    /* Read what is available (at most about budget bytes of input), emitting
     * records. Returns the number of input bytes consumed (>= 0), or -1 on a
     * fatal error. Must not block (stdin is non-blocking). */
    long (*poll)(void *ctx, struct ls_emitter *em, size_t budget);
    /* Persist positions of everything emitted so far (atomic write). 0 or -1. */
    int  (*commit)(void *ctx);
    /* A descriptor that becomes readable when there may be new input
     * (inotify, the stdin pipe), or -1 to be polled on a timer. */
    int  (*wait_fd)(void *ctx);
    /* 1 when the source can produce nothing more (stdin at EOF). */
    int  (*finished)(void *ctx);
    void (*destroy)(void *ctx);
};

struct ls_source {
    const struct ls_source_ops *ops;
    void *ctx;
    /* Set by the constructor. 1: input not read before exit is lost (no
     * checkpoint: stdin), so on SIGTERM/SIGINT the engine keeps reading it
     * until finished() or --shutdown-timeout. 0 (files): reading stops at
     * once; the position checkpoint resumes it. */
    int drain_on_stop;
};

/* The end of a source constructor: r is its setup's result (0; 1 with a message in err; -1 on OOM,
 * then err says "<kind> source: out of memory"). On 0 binds src (embedded in ctx) to ops and ctx and
 * returns it; otherwise calls ops->destroy(ctx) (which must take a partly set up or NULL ctx) and
 * returns NULL. */
struct ls_source *ls_source_finish(struct ls_source *src, const struct ls_source_ops *ops, void *ctx, int r,
                                   char *err, size_t errlen);

/* Destroy any source (file or stdin) through its ops->destroy, which frees the handle too.
 * NULL-safe. Does not commit; the engine calls commit first. */
void ls_source_free(struct ls_source *s);

#endif
