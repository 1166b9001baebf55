/* spool: the durable, bounded, segmented on-disk log between sources and outputs.
 *
 * Layout (spool format 2): <dir>/seg-<20-digit first seq>.log files, appended
 * to by one writer (the reader loop), each a sequence of records:
 *
 *   u8[4] magic F5 'L' 'S' '2' | u32 len | u32 crc32c(len, body) |
 *   body: u64 seq, i64 ts_ns, i64 append_ns, u32 labels_len, u32 line_len,
 *         u32 origin_len, u32 0 | labels line origin       (len = body bytes)
 *
 * (host byte order; a spool is not moved between architectures). The magic
 * (0xF5 never occurs in UTF-8 text) makes records findable: damaged bytes
 * cost only themselves, because open() and readers resynchronise at the
 * next magic that starts a record whose CRC holds and whose seq follows.
 * Format 1 (no magic) is never read: a segment of it that every cursor file
 * is past is deleted, any other refuses open() with a message (exit 2). The codec
 * (spool_record.c) is the only code that knows these offsets.
 *
 * open() scans every segment: exact record counts, the holes (damaged
 * ranges, logged with segment/offset/length, logship_spool_corrupt_bytes_total),
 * and a torn tail of the newest segment (cut, reason="torn_tail"). The
 * records a hole swallowed (known from the seq gap) are counted in
 * logship_spool_dropped_total{reason="corrupt"} once, when the first reader
 * passes it (damage in data every output already acknowledged loses
 * nothing). A segment is closed when it reaches segment_bytes, and a new one
 * starts on every open.
 *
 * Each file's newest spooled line (its origin "f:dev:ino:fp@offset") is kept
 * as a mark (spool_marks.h) once its record is synced (commit point, segment
 * close; at once under NEVER), saved to <dir>/marks.json before any segment
 * is deleted; sources ask ls_spool_resume_mark() to resume after it.
 *
 * Each output reads through its own reader with its own cursor, persisted
 * atomically in <dir>/cursor-<name>.json only after the output acknowledged.
 * A segment is deleted once every reader's acknowledged position is past it.
 * The total is capped (max_bytes): append() then returns 1 (backpressure) or,
 * with drop_oldest, deletes the oldest segment and counts the records that
 * the slowest reader had not acknowledged.
 *
 * fsync policy (what survives a power loss; a process crash loses nothing
 * that append() accepted and flush() wrote):
 *   LS_FSYNC_ALWAYS    ls_spool_commit_point() fdatasyncs every time
 *   LS_FSYNC_INTERVAL  it fdatasyncs when fsync_interval_ms has passed since
 *                      the last sync (the engine only commits source
 *                      checkpoints right after a sync, so a source position
 *                      never gets ahead of durable spool data)
 *   LS_FSYNC_NEVER     never; the OS writes back when it likes
 * Closed segments and the directory are synced on rollover unless NEVER.
 * A failed fdatasync is never retried as a durability claim: the kernel may
 * have dropped the dirty pages and marked them clean, so a second fdatasync
 * could succeed on nothing ("fsyncgate"). From the first failure on, for the
 * rest of the run, ls_spool_commit_point() returns LS_SPOOL_ERR (no source
 * checkpoint moves past data that may be gone, and no mark of it is
 * recorded); writing and delivery go on. After a restart the sources resume
 * from their last committed positions and the marks of the records open()
 * finds intact, so what a power loss took is read again (at least once).
 *
 * Files: spool.c (open, close, the segment table), spool_writer.c,
 * spool_reader.c, spool_scan.c (what open finds), spool_recover.c (the
 * readers' repairs), spool_space.c (full filesystem), spool_record.c (the
 * codec), spool_marks.c.
 *
 * Threads: one writer thread calls append/flush/commit_point; each reader is
 * used by one thread; the spool's mutex guards the segment table. */
#ifndef LOGSHIP_SPOOL_H
#define LOGSHIP_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include "logship/core/record.h"
#include "metrics.h"

enum ls_fsync_policy { LS_FSYNC_INTERVAL = 0, LS_FSYNC_ALWAYS, LS_FSYNC_NEVER };

#define LS_SPOOL_REC_HDR 52u   /* bytes of framing + fixed fields per record */

/* The largest-record rule, in one place: a record's body is its line (at
 * most --max-line-bytes) plus its labels and origin, which get
 * LS_SPOOL_META_BYTES together; a spool holds at least four of the largest
 * records with their framing, so a full one always has closed segments. */
#define LS_SPOOL_META_BYTES (64u << 10)

/* max_record_bytes for lines of at most max_line_bytes. */
static inline size_t ls_spool_max_record(uint64_t max_line_bytes)
{
    return (size_t)max_line_bytes + LS_SPOOL_META_BYTES;
}

/* The smallest max_bytes for records of at most max_record_bytes. */
static inline uint64_t ls_spool_min_bytes(size_t max_record_bytes)
{
    return 4 * ((uint64_t)max_record_bytes + LS_SPOOL_REC_HDR);
}

/* What ls_spool_append and ls_spool_flush return (each says which). */
enum ls_spool_rc {
    LS_SPOOL_ERR = -1,      /* an I/O error or OOM: nothing was taken; offer again later */
    LS_SPOOL_OK = 0,
    LS_SPOOL_FULL = 1,      /* at max_bytes and the policy is to block: nothing taken; offer again */
    /* The filesystem is full (ENOSPC, EDQUOT). Backpressure, not failure:
     * nothing was taken (append) or the write buffer is kept (flush); offer
     * again later. Meanwhile the spool keeps space for cursor and position
     * writes (a reserve file, released at the first ENOSPC and re-made before
     * any segment write), closes a non-empty active segment so
     * acknowledgements can delete it, counts every refused write in
     * logship_spool_write_errors_total{reason="nospace"} and logs once a
     * minute. */
    LS_SPOOL_NOSPACE = 2,
    /* Larger than max_record_bytes: logged, counted in
     * logship_spool_dropped_total{reason="too_large"}; it can never fit, so
     * the caller drops it (never offers it again). */
    LS_SPOOL_TOO_LARGE = 3,
};

struct ls_spool_opts {
    const char *dir;
    uint64_t    max_bytes;         /* cap on all segment files together */
    uint64_t    segment_bytes;     /* 0: max_bytes / 8 within [64 KiB, 64 MiB]; never above max_bytes / 4 */
    size_t      max_record_bytes;  /* largest body accepted (labels+line+origin) */
    enum ls_fsync_policy fsync;
    int64_t     fsync_interval_ms;
    int         drop_oldest;       /* on full: 0 block (append returns 1), 1 drop */
    metrics_registry *reg;         /* may be NULL */
};

struct ls_spool;
struct ls_spool_reader;

/* Open (creating dir if needed) and recover the spool: scan every segment
 * (holes, marks), truncate a torn tail of the last one; the first append
 * starts a fresh active segment. Checks that files can be created in dir (a
 * read-only filesystem, a directory without write permission or a path that
 * is not a directory is an error that names the path and the reason; a full
 * filesystem is not: the spool starts in the NOSPACE state). Returns the
 * spool, or NULL with a one-line message in err (also for an old-format
 * spool with undelivered records; the caller exits 2). */
struct ls_spool *ls_spool_open(const struct ls_spool_opts *o, char *err, size_t errlen);

/* Flush, sync (unless NEVER) and release everything. Readers must be closed
 * first. NULL-safe. */
void ls_spool_close(struct ls_spool *sp);

/* Append one record (rec->seq is ignored; the spool assigns it). The bytes
 * are copied into the write buffer. Returns LS_SPOOL_OK, LS_SPOOL_FULL,
 * LS_SPOOL_NOSPACE, LS_SPOOL_TOO_LARGE or LS_SPOOL_ERR (enum ls_spool_rc):
 * three of them say "offer it again", TOO_LARGE says "drop it". */
int ls_spool_append(struct ls_spool *sp, const struct ls_record *rec);

/* Write the write buffer to the active segment and make it visible to
 * readers. LS_SPOOL_OK, LS_SPOOL_NOSPACE or LS_SPOOL_ERR; on failure the whole buffer stays for
 * a later call (readers never see part of it). */
int ls_spool_flush(struct ls_spool *sp);

/* Flush, then fdatasync per policy (see above). Returns 1 when the data is
 * now as durable as the policy promises and source checkpoints may be
 * committed, 0 when not yet (INTERVAL, too early), LS_SPOOL_ERR on error
 * (including LS_SPOOL_NOSPACE from the flush: see ls_spool_nospace, and
 * every call after a failed fdatasync: see above). force=1 syncs
 * regardless of the interval (shutdown), except under NEVER. */
int ls_spool_commit_point(struct ls_spool *sp, int force);

/* 1 while the spool is full and blocking appends. */
int ls_spool_full(struct ls_spool *sp);

/* 1 from a write refused for lack of space until a segment write succeeds
 * again. Thread-safe. */
int ls_spool_nospace(struct ls_spool *sp);

/* 1 once an fdatasync failed in this run (no checkpoint is committed until a
 * restart: see the fsync notes above). Thread-safe; /healthz reports it. */
int ls_spool_sync_lost(struct ls_spool *sp);

/* Wake every thread blocked in ls_spool_wait (shutdown). */
void ls_spool_wake_all(struct ls_spool *sp);

/* Totals for tests and metrics, each read under the spool's lock (thread-safe). */
/* Bytes the segment files hold (what --spool-max-bytes bounds). */
uint64_t ls_spool_bytes(struct ls_spool *sp);
/* Records held (appended and not yet reclaimed). */
uint64_t ls_spool_records(struct ls_spool *sp);
/* Segment files in the table. */
size_t   ls_spool_segments(struct ls_spool *sp);
/* Records dropped when full or lost to damage, plus torn tails, since open. */
uint64_t ls_spool_dropped(struct ls_spool *sp);

/* The newest spooled line of the file dev:ino (from the records in the
 * spool and the saved marks): 1 with *off (that line's start offset) and *fp
 * (the fingerprint in its origin) set, 0 when none. Thread-safe. */
int ls_spool_resume_mark(struct ls_spool *sp, uint64_t dev, uint64_t ino, uint64_t *off, uint64_t *fp);

/* Register a reader for output `name` ([A-Za-z0-9_.-], used in the cursor file
 * name), positioned at its persisted cursor or at the oldest record. A
 * cursor that does not fit the spool is repaired, logged and counted
 * (logship_spool_recoveries_total{kind}): garbage → the oldest record
 * (may resend); before the oldest record → the oldest, the gap counted in
 * dropped_total{reason="missing"}; ahead of the newest → after it; not at a
 * record boundary → repositioned by its seq. The
 * reader holds one batch of at most about batch_bytes in memory. Register
 * all readers before appending. NULL with a message in err on failure. */
struct ls_spool_reader *ls_spool_reader_open(struct ls_spool *sp, const char *name,
                                             size_t batch_bytes, char *err, size_t errlen);

/* Read more records into the reader's current batch, until it holds at least
 * batch_bytes or nothing more is visible. Returns the number of records
 * added (0: none available), or -1 on an I/O error. Damaged bytes are
 * skipped to the next valid record, logged and counted (see above). */
long ls_spool_reader_fill(struct ls_spool_reader *rd);

/* The current batch: records valid until ack. append_ns (may be NULL)
 * receives the parallel array of spool append times. */
const struct ls_record *ls_spool_reader_batch(struct ls_spool_reader *rd, size_t *n,
                                              const int64_t **append_ns);

/* 1 when the batch has reached batch_bytes. */
int ls_spool_reader_batch_full(struct ls_spool_reader *rd);

/* Block up to timeout_ms until the writer made new data visible (or
 * ls_spool_wake_all). Returns at once if data arrived since the last fill. */
void ls_spool_wait(struct ls_spool_reader *rd, int64_t timeout_ms);

/* Acknowledge the whole current batch: persist the cursor (atomic file
 * write), empty the batch, delete segments every reader is past. 0 or -1
 * (cursor not persisted; the batch is kept so it can be acked again). */
int ls_spool_reader_ack(struct ls_spool_reader *rd);

/* In-flight mark: the output is about to be handed records up to seq.
 * Persisted in the cursor file before the send (atomic rename; fsync'ed only
 * under LS_FSYNC_ALWAYS), so after a crash the next run knows which records
 * the backend may already hold. 0, or -1 (logged; the in-memory mark still
 * moves). */
int ls_spool_reader_mark_sent(struct ls_spool_reader *rd, uint64_t seq);

/* How many leading records of recs[0..n) (spool order) were handed to this
 * output before (this run or the last one) without being acknowledged: the
 * batch's n_maybe_sent. Call before ls_spool_reader_mark_sent. */
size_t ls_spool_reader_maybe_sent(const struct ls_spool_reader *rd, const struct ls_record *recs,
                                  size_t n);

/* Records visible beyond the reader's acknowledged position (approximate). */
uint64_t ls_spool_reader_backlog(struct ls_spool_reader *rd);

/* Unregister and free. NULL-safe. */
void ls_spool_reader_close(struct ls_spool_reader *rd);

#endif
