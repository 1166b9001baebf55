/* lineparse: one input line → one record (timestamp, canonical labels, the
 * bytes to ship), for every source and format.
 *
 * Policy in one place (documented for users in the README's "Input lines"):
 *  - Empty lines are skipped and counted (dropped{reason="empty"}). A single
 *    trailing '\r' is removed first (CRLF files).
 *  - Invalid UTF-8 and NUL bytes: with --on-invalid escape every offending
 *    byte becomes U+FFFD (as Go, Rust and Loki's own readers do; the line
 *    stays valid JSON if it was JSON) and the line is counted in
 *    logship_input_invalid_total{kind="encoding"}; with drop the line is
 *    counted in dropped{reason="invalid"}.
 *  - Lines longer than max_line_bytes (Loki's 256 KiB limit by default): the
 *    reader keeps at most max_line_bytes of them in memory; with --on-long
 *    truncate the shipped line is cut at a UTF-8 boundary so that it plus the
 *    marker "…[truncated N bytes]" fits max_line_bytes (N = input bytes cut),
 *    counted in logship_input_truncated_total; with drop it is counted in
 *    dropped{reason="too_long"}. A truncated line is not parsed as JSON.
 *  - JSON lines (format json or docker; first non-blank byte '{', a complete
 *    valid object): the timestamp is the first of ts_fields that is present
 *    and parses: an RFC 3339 string (any fraction up to ns, any offset) or a
 *    number of epoch seconds (< 1e11, may have a fraction), milliseconds
 *    (< 1e14), microseconds (< 1e17) or nanoseconds. Labels come from
 *    label_fields whose values are strings (numbers, objects... are ignored:
 *    promote only short low-cardinality fields). Everything else, and every
 *    line that is not JSON, is shipped as is, stamped with the read time.
 *  - A container timestamp (docker json-file "time") wins over the line's.
 *  - Labels: names sanitized to [a-zA-Z_][a-zA-Z0-9_]* (other bytes → '_',
 *    leading digit → '_' prefix, at most 63 bytes); values repaired to UTF-8,
 *    control characters → ' ', capped at 128 bytes, empty values omitted.
 *    Precedence on equal names: static (--label) > stream (docker) > fields.
 *    At most 15 labels (Loki's limit). With no label at all the set is
 *    {job="logship"} (Loki requires one). The canonical string is
 *    {a="x",b="y"}: names sorted bytewise, values escaped (\\ and \"). */
#ifndef LOGSHIP_LINEPARSE_H
#define LOGSHIP_LINEPARSE_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "logship/core/record.h"
#include "logship/core/source.h"
#include "logship/in/source_metrics.h"

/* Room the reader leaves for the truncation marker when cutting a long line. */
#define LS_TRUNC_RESERVE 48
/* Smallest accepted max_line_bytes. */
#define LS_MIN_LINE_BYTES 256
#define LS_LABEL_VALUE_MAX 128
#define LS_LABEL_NAME_MAX 63
#define LS_MAX_LABELS 15
struct ls_lineparse;

/* One line as a reader found it. */
struct ls_line_in {
    const char *p;      /* bytes of the line, without its '\n' */
    size_t      len;
    size_t      cut;    /* bytes of the line the reader did not keep (too long) */
    int64_t     ts_ns;  /* container timestamp (docker), 0 when none */
    const char *stream; /* docker stream ("stdout"), NULL when none */
    int64_t     read_ns;/* when it was read: the fallback timestamp */
};

/* Build a parser from pc (copied; static labels validated). m may be the
 * NULL-registry metrics (no counting). Returns NULL with a one-line message in
 * err on a bad static label ("k=v" needed) or bad max_line_bytes, or OOM. */
struct ls_lineparse *ls_lineparse_new(const struct ls_parse_conf *pc, struct ls_srcmetrics *m,
                                      char *err, size_t errlen);
void ls_lineparse_free(struct ls_lineparse *lp);

/* Turn one line into out->ts_ns, labels and line (seq and origin are left
 * to the caller). Returns 1 when out is filled (its pointers stay valid until
 * the next call on lp), 0 when the line was skipped (empty, or dropped by
 * policy; counted), -1 on OOM (nothing counted; the caller may retry). */
int ls_lineparse_line(struct ls_lineparse *lp, const struct ls_line_in *in, struct ls_record *out);

/* --- helpers shared with docker.c and the tests ---------------------------- */

/* A top-level field the JSON scanner looks for. type after the scan: 0 absent,
 * 's' string (v..v+vlen is the raw body between the quotes, escaped when
 * esc), 'n' number, 'o' object, 'a' array, 't' true, 'f' false, 'z' null.
 * The first occurrence of a key wins. */
struct ls_jfield {
    const char *name;
    size_t      name_len;
    int         type;
    int         esc;
    const char *v;
    size_t      vlen;
};

/* Scan s[0..n) as one JSON object (surrounding whitespace allowed) with
 * common/jsonscan.h, filling the fields asked for. Returns 0 when s is a
 * well-formed object, -1 when it is not (or nests deeper than
 * JSONSCAN_MAX_DEPTH). Never reads outside s. String values are decoded with
 * jsonscan_unescape. */
int ls_json_scan(const char *s, size_t n, struct ls_jfield *f, size_t nf);

/* Timestamp from a JSON field value as ls_json_scan found it. 0 or -1. */
int ls_parse_ts_field(const struct ls_jfield *f, int64_t *ns);

#endif
