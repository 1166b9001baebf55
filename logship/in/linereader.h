/* linereader: bytes of one input → lines → records handed to the emitter,
 * with the bookkeeping that makes checkpoints exact.
 *
 * Shared by the file source (one reader per followed file) and the stdin
 * source. It splits on '\n', keeps a partial last line (at most max_line_bytes
 * of it; the rest is counted as cut, never buffered), runs docker re-joining
 * when the format asks for it, and tracks done_off: the offset just past the
 * last input unit that was fully handled (emitted, skipped by policy, or held
 * as a docker piece). ls_reader_safe_off() is what a checkpoint may record:
 * everything before it is in the spool or deliberately not shipped.
 * When the emitter reports a full spool, the one record it refused is kept
 * (copied) and offered again first; nothing past it is read meanwhile. */
#ifndef LOGSHIP_LINEREADER_H
#define LOGSHIP_LINEREADER_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "logship/in/docker.h"
#include "logship/in/lineparse.h"
#include "logship/core/source.h"
#include "logship/in/source_metrics.h"

/* The first bytes of a file, kept so that origins stay stable: a line that
 * ends within the first LS_HEAD_BYTES bytes gets, in its origin, the hash of
 * the file's bytes up to its end (which a re-read after a crash sees again);
 * later lines get the hash of the whole head, the file's fingerprint. */
#define LS_HEAD_BYTES 1024
struct ls_head {
    uint64_t      dev, ino;
    uint32_t      len;
    unsigned char b[LS_HEAD_BYTES];
};

struct ls_reader {
    struct ls_lineparse  *lp;      /* borrowed */
    struct ls_srcmetrics *m;       /* borrowed */
    metrics_child        *lines;   /* borrowed: logship_source_lines_total{source} */
    struct ls_docker     *dk;      /* owned, docker format only */
    size_t   keep;                 /* bytes of one line kept in memory */
    buf_t    part;                 /* partial line [line_start, read offset) */
    size_t   part_cut;
    uint64_t line_start;
    uint64_t done_off;
    char     origin[96];           /* "<prefix>@" then the offset */
    size_t   origin_plen;
    const struct ls_head *head;    /* borrowed, files only: see above */
    char     early[96];
    int      has_pending;          /* a refused record waits in pend */
    buf_t    pend;
    struct ls_record pend_rec;
    uint64_t pend_end;
    int      skipping;             /* lines starting at or before skip_upto are in the spool already */
    uint64_t skip_upto;
};

/* Prepare r for an input read from offset start. Returns 0 or -1 (OOM). */
int ls_reader_init(struct ls_reader *r, struct ls_lineparse *lp, struct ls_srcmetrics *m,
                   metrics_child *lines, enum ls_format fmt, size_t max_line_bytes,
                   uint64_t start);
void ls_reader_free(struct ls_reader *r);

/* Origin prefix for records of this input, e.g. "f:2049:1234:9f3a..." (the
 * reader appends "@<offset>"). Truncated to fit. */
void ls_reader_set_origin(struct ls_reader *r, const char *prefix);

/* Forget partial data and restart at offset off (the file was truncated). */
void ls_reader_reset(struct ls_reader *r, uint64_t off);

/* Resume: lines (docker: joined lines) that start at or before off are
 * consumed without being emitted or counted, as they are already spooled.
 * Cleared by ls_reader_reset and by the first line past off. */
void ls_reader_skip_to(struct ls_reader *r, uint64_t off);

/* Feed data[0..n), which sits at input offset base (== the end of what was
 * fed before). Returns the number of bytes consumed; less than n only when
 * the emitter refused a record (*stop = 1; the caller feeds the rest again
 * later, after ls_reader_retry succeeds). -1 on a fatal error (emitter I/O
 * error or OOM). */
long ls_reader_feed(struct ls_reader *r, const char *data, size_t n, uint64_t base,
                    struct ls_emitter *em, int64_t now_ns, int *stop);

/* Offer the refused record again. 0 when nothing is pending any more, 1 when
 * the spool is still full, -1 on an emitter error. */
int ls_reader_retry(struct ls_reader *r, struct ls_emitter *em);

/* The input is over (rotated away and drained, deleted, EOF of stdin): ship
 * the partial last line and pending docker pieces as lines. end is the input
 * offset reached. 0 when all was handed over, 1 on backpressure (call again
 * after ls_reader_retry), -1 on error. */
int ls_reader_finish(struct ls_reader *r, struct ls_emitter *em, uint64_t end, int64_t now_ns);

/* Offset a checkpoint may record (see above). */
uint64_t ls_reader_safe_off(const struct ls_reader *r);

#endif
