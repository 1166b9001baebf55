/* accesslog: access lines gathered into batches of whole lines, so most requests cost no write(2) of their own. */
#ifndef HELLOD_ACCESSLOG_H
#define HELLOD_ACCESSLOG_H

#include "buf.h"

/* Start the flusher thread (call with signals already blocked, before
 * civetweb starts). Returns 0, or -1 (then lines are written one by one,
 * as log_emit does). */
int accesslog_start(void);

/* Queue one line built with log_begin and jsonw_kv_* (not yet closed, as
 * log_emit expects it). It reaches the log sinks within about a
 * millisecond, in one write(2) with other lines and never split: a batch
 * stays below PIPE_BUF, so a write to a pipe is atomic. A line that does
 * not fit a batch is written at once. Never fails; b is left reusable. */
void accesslog_emit(buf_t *b);

/* Write what is queued (at once) and stop the flusher. Lines emitted
 * afterwards are written directly. */
void accesslog_stop(void);

#endif
