/* source_stdin: read lines from standard input (`--source -`), so that
 * `hellod | logship -` works.
 *
 * Reads are non-blocking (O_NONBLOCK is set on fd 0). A pipe cannot be
 * replayed, so there is no checkpoint: commit() is a no-op and the spool is
 * what makes the data safe once emitted. When the spool is full the source
 * stops reading, the pipe fills, and the writer blocks (backpressure). At EOF
 * a last line without '\n' is shipped, then finished() reports 1. Origins
 * are "stdin:<start-ns>@<byte offset>", unique per run. */
#ifndef LOGSHIP_SOURCE_STDIN_H
#define LOGSHIP_SOURCE_STDIN_H

#include <stddef.h>
#include "metrics.h"
#include "logship/core/source.h"

/* Create the stdin source. Returns NULL with a one-line message in err on a
 * bad parse configuration or OOM. Free with ls_source_free (core/source.h). */
struct ls_source *ls_source_stdin_new(const struct ls_parse_conf *pc, metrics_registry *reg,
                                      char *err, size_t errlen);

/* The same over any readable descriptor (tests use a pipe). The descriptor
 * is borrowed and made non-blocking; label is the "source" metric label. NULL with a message in
 * err on failure; free with ls_source_free. */
struct ls_source *ls_source_fd_new(int fd, const char *label, const struct ls_parse_conf *pc,
                                   metrics_registry *reg, char *err, size_t errlen);

#endif
