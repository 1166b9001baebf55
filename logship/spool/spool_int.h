/* spool_int: the spool's shared state (segment table, writer, readers) and the functions its files
 * call across each other; private to logship/spool/ (callers use spool.h). */
#ifndef LOGSHIP_SPOOL_INT_H
#define LOGSHIP_SPOOL_INT_H

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "logship/spool/spool.h"
#include "logship/spool/spool_marks.h"

#define LS_SPOOL_WBUF_CAP (256u * 1024u)
#define LS_SPOOL_MAX_SEGMENTS 100000u
#define LS_SPOOL_PATH_MAX 4096

struct ls_spool_hole {          /* bytes of a segment that hold no valid record */
    uint64_t off, len;
    uint64_t lost;              /* records known to be in it (seq gap), 0 at a segment's end */
    int      counted;           /* lost already added to dropped_total */
};

struct ls_spool_seg {
    uint64_t base;      /* seq in the file name */
    uint64_t first_seq; /* first valid record's seq (base when none) */
    uint64_t next_seq;  /* one past the last valid record's seq (base when none) */
    uint64_t size;      /* bytes visible to readers */
    uint64_t nrecs;     /* valid records */
    struct ls_spool_hole *holes; /* found at open or by a reader; sorted by off */
    size_t   nholes;
    int      gap_counted; /* seqs missing between this segment's end and the next one's start */
};

struct ls_spool {
    char    *dir;
    char    *marks_path;
    struct ls_spool_opts o;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    struct ls_spool_seg *segs; /* sorted by base; guarded by mu */
    size_t  nsegs, capsegs;
    uint64_t total_bytes, total_recs;
    uint64_t gen;              /* bumped whenever readers may find more */
    uint64_t vis_next_seq;     /* next seq as readers see it (under mu) */
    struct ls_spool_reader **rds;
    size_t  nrds;
    struct ls_marks *marks;    /* per-file high-water marks (under mu) */
    int      marks_warned;
    /* writer side: only the writer thread touches these */
    int      wfd;              /* active segment, -1 when none */
    uint64_t active_base;
    char    *wbuf;
    size_t   wlen;
    uint64_t wbuf_first_seq, wbuf_next_seq, wbuf_nrecs;
    uint64_t next_seq;
    uint64_t w_active;         /* bytes flushed to the active segment */
    uint64_t w_total;          /* total_bytes as of the last look (only readers lower it) */
    int      dirty;            /* written but not fdatasync'ed */
    _Atomic int sync_lost;     /* an fdatasync failed: durability is never claimed again (spool.h) */
    int64_t  last_sync_ns;
    atomic_int full;
    atomic_int nospace;        /* the last segment write found the filesystem full */
    int      reserve_held;     /* the reserve file exists with its full size */
    int64_t  werr_since_ns, werr_logged_ns;
    uint64_t werr_attempts;    /* refused writes in the current episode */
    metrics_family *m_werr;
    _Atomic uint64_t dropped;   /* records/events counted in ls_spool_count_dropped */
    struct ls_mark *wmarks;    /* marks of buffered records */
    size_t   nwmarks, capwmarks;
    struct ls_mark *dmarks;    /* marks of written records not yet synced (applied once durable) */
    size_t   ndmarks, capdmarks;
    char     wm_pre[128];      /* origin prefix (up to '@') of wmarks[nwmarks-1] */
    size_t   wm_prelen;
    metrics_child *m_bytes, *m_recs, *m_blocked, *m_corrupt_bytes;
    metrics_family *m_dropped, *m_recover;
};

struct ls_spool_reader {
    struct ls_spool *sp;
    char    *name;
    char    *cursor_path;
    /* acknowledged position (written under sp->mu by this thread; read by cleanup) */
    uint64_t acked_seg, acked_off, acked_seq;
    /* read position: just after the last record in the batch (read_seq: published for drop-oldest) */
    uint64_t read_seg, read_off;
    _Atomic uint64_t read_seq;
    /* highest seq handed to the output (in memory / in the cursor file) */
    uint64_t sent_seq, sent_saved;
    int      sent_warned;      /* a failed in-flight mark write was logged (once per episode) */
    int      fd;
    uint64_t fd_seg;
    char    *mem;
    size_t   cap, used, batch_bytes;
    struct ls_record *recs;
    int64_t *app;
    size_t   n, capn;
    uint64_t seen_gen;
};

/* Walk a byte range of a segment file, resynchronising after damage (spool_scan.c). */
struct ls_spool_walk {
    int      fd;
    uint64_t from, to;          /* byte range to walk */
    size_t   max_body;
    uint64_t expect;            /* seq the first record from `from` on should have */
    int      stop_first_valid;  /* stop (before it) at the first valid record */
    /* per valid record; return 1 to stop the walk */
    int    (*on_rec)(void *ctx, uint64_t off, const char *p, size_t n);
    /* per hole [off, off+len); at_end: it runs to the end of the range */
    void   (*on_hole)(void *ctx, uint64_t off, uint64_t len, uint64_t lost, int at_end);
    void    *ctx;
    /* out */
    uint64_t good_end;          /* end of the last valid record (from when none) */
    uint64_t stop_off;          /* where it stopped (to when it walked it all) */
    uint64_t first_seq, last_seq, nrecs;
};

/* Walk [w->from, w->to) of w->fd: every valid record (magic, length bounds, CRC, increasing seq)
 * goes to on_rec; bytes between them are reported as holes and skipped. 0, or -1 on a read error. */
int ls_spool_walk(struct ls_spool_walk *w);

/* spool.c: the segment table and the counters. */
void ls_spool_seg_path(const struct ls_spool *sp, uint64_t base, char *out, size_t n);
/* Open segment base for reading; -1 with errno when it cannot be. */
int ls_spool_seg_open(const struct ls_spool *sp, uint64_t base);
/* Add n records dropped for reason (full, damaged, missing, ...) to the total and its metric. */
void ls_spool_count_dropped(struct ls_spool *sp, const char *reason, uint64_t n);
/* Count one recovery action of kind (cursor_moved, cursor_garbage, ...) in its metric. */
void ls_spool_count_recovery(struct ls_spool *sp, const char *kind);
/* Append s to the table (sp->segs). 0, or -1 (OOM, too many segments). Caller holds mu when
 * readers exist. */
int ls_spool_seg_push(struct ls_spool *sp, const struct ls_spool_seg *s);
/* Record a hole in s (kept sorted). Returns it, or NULL on OOM. */
struct ls_spool_hole *ls_spool_seg_add_hole(struct ls_spool_seg *s, uint64_t off, uint64_t len, uint64_t lost);
/* The hole of s that holds byte off, or NULL. */
struct ls_spool_hole *ls_spool_seg_hole_at(struct ls_spool_seg *s, uint64_t off);
/* Index of the segment named base, or nsegs. Caller holds mu. */
size_t ls_spool_seg_find(const struct ls_spool *sp, uint64_t base);
/* Remove segs[0] and its file. Caller holds mu. */
void ls_spool_drop_first(struct ls_spool *sp);
/* Delete the segments every reader is past (marks saved first). Caller holds mu. */
void ls_spool_cleanup_locked(struct ls_spool *sp);
/* Save the marks before a segment goes (logged once per episode). 0 or -1. Caller holds mu. */
int ls_spool_marks_sync_locked(struct ls_spool *sp);
/* Publish total_bytes/total_recs to the gauges. Caller holds mu. */
void ls_spool_update_gauges(struct ls_spool *sp);

/* spool_space.c: the full-filesystem state (LS_SPOOL_NOSPACE) and the space reserve. */
int ls_spool_is_nospace_errno(int e);
/* Set logship_spool_blocked from the full and nospace flags. */
void ls_spool_update_blocked(struct ls_spool *sp);
/* While paused on a full filesystem: 0 when the write buffer may be written again (the space
 * reserve is back, with room to spare), else the refusal's code (counted and logged). */
int ls_spool_space_resume(struct ls_spool *sp);
/* Count and log a refused segment write (errno e, during what, on path); returns
 * LS_SPOOL_NOSPACE for a full filesystem (entering that state), else LS_SPOOL_ERR. */
int ls_spool_write_failed(struct ls_spool *sp, int e, const char *what, const char *path);
/* A segment write worked: end a failure episode. */
void ls_spool_write_ok(struct ls_spool *sp);
/* Fail fast on a spool directory nothing can be written to; a full one starts paused. 0, or -1
 * with err. */
int ls_spool_probe_dir(struct ls_spool *sp, char *err, size_t errlen);

/* spool_writer.c */
/* Close the active segment (fdatasync'ed first unless NEVER). 0 or LS_SPOOL_ERR. */
int ls_spool_roll(struct ls_spool *sp);

/* spool_scan.c: the resync walk and what open finds. */
/* Load marks.json; a garbage one is moved aside (logged, counted). 0, or -1
 * with err on an I/O error. */
int ls_spool_load_marks(struct ls_spool *sp, char *err, size_t errlen);
/* Scan every segment file of sp->dir into the table (counts, holes, marks, torn tail, format 1).
 * 0, or -1 with err. */
int ls_spool_load_segments(struct ls_spool *sp, char *err, size_t errlen);

/* spool_recover.c: the repairs readers make. */
/* What reading a reader's cursor file found. */
enum ls_cursor_load {
    LS_CURSOR_ERROR = -1,  /* could not be read (errno set) */
    LS_CURSOR_READ = 0,    /* seq, seg and off are the cursor's */
    LS_CURSOR_ABSENT = 1,  /* no cursor file: a new output */
    LS_CURSOR_GARBAGE = 2, /* a file that is no cursor */
};
/* Position a new reader from its cursor file (lr: what loading it found, never LS_CURSOR_ERROR),
 * repairing what does not fit the spool (logged and counted). Caller holds mu. */
void ls_spool_place_reader(struct ls_spool_reader *rd, enum ls_cursor_load lr, uint64_t seq, uint64_t sg,
                           uint64_t off);
/* The bytes at the reader's position (of a segment size bytes long) are no record: skip them to
 * the next valid record, counted once across readers. 0, or -1 on a read error. */
int ls_spool_skip_damage(struct ls_spool_reader *rd, uint64_t size);

/* v in decimal into out[0..n), for log fields. */
static inline void ls_spool_u64s(char *out, size_t n, uint64_t v)
{
    snprintf(out, n, "%" PRIu64, v);
}

#endif
