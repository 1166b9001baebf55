/* record: one log entry as it travels source → spool → output.
 *
 * A record is what a source produced from one input line, already decided:
 * its timestamp, its label set and the bytes to ship. Outputs never re-read
 * sources; everything they need to encode a request is here. The spool
 * stores records verbatim (with a CRC) and hands them back with their
 * sequence number. */
#ifndef LOGSHIP_RECORD_H
#define LOGSHIP_RECORD_H

#include <stddef.h>
#include <stdint.h>

struct ls_record {
    uint64_t    seq;        /* spool sequence number, strictly increasing, never reused */
    int64_t     ts_ns;      /* entry time, ns since the Unix epoch */
    const char *labels;     /* canonical label set: Prometheus form, names sorted,
                             * e.g. {level="info",service="hello"}; never empty */
    size_t      labels_len;
    const char *line;       /* the line as shipped (no trailing newline) */
    size_t      line_len;
    const char *origin;     /* stable identity of where the line came from, e.g.
                             * "f:<dev>:<ino>:<fingerprint>@<offset>"; the same line
                             * re-read after a crash has the same origin, so outputs
                             * derive idempotency keys (Elasticsearch _id) from it */
    size_t      origin_len;
};

#endif
