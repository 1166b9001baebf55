/* log: structured JSON logging, one object per line.
 *
 * Both programs log through this module so that every line has the same
 * shape: {"ts":"<RFC 3339 UTC µs>","level":"info","service":"hellod","msg":...,
 * <fields>}. A line is built in a caller-owned buf_t and written to each sink
 * with a single write(2), so lines from concurrent threads never interleave
 * (POSIX makes O_APPEND writes to a regular file atomic, and pipes are atomic
 * up to PIPE_BUF; longer lines to a pipe are still one write call). A write
 * error never stops the program: it is counted (log_write_errors()). */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdint.h>
#include <stddef.h>
#include "buf.h"

/* Levels are LOGL_*: <syslog.h> owns the LOG_* level macros. */
enum log_level { LOGL_DEBUG = 0, LOGL_INFO, LOGL_WARN, LOGL_ERROR };

/* Longest line a logger will emit; longer field values are truncated by the
 * builder (the line stays valid JSON and gets "truncated":true). */
#define LOG_LINE_MAX (64 * 1024)

/* Configure the process-wide logger. service is copied. fd is the primary
 * sink (1 for stdout in hellod, 2 for stderr in logship). file_path, if not
 * NULL, is opened O_APPEND|O_CREAT (0640) as a second sink. Returns 0, or -1
 * with errno set when the file cannot be opened. Call once, before threads. */
int log_init(const char *service, int fd, const char *file_path, enum log_level min);

/* Reopen the file sink (after logrotate moved it). Safe to call from the
 * main thread while other threads log; the old descriptor is closed only
 * after the new one is installed. Returns 0 or -1 (the old file stays in use). */
int log_reopen(void);

/* Release the file sink. */
void log_close(void);

/* Lowest level written from now on (lines below it are skipped before they
 * are built). Any thread; takes effect for lines begun after it returns. */
void log_set_level(enum log_level min);
/* The current lowest level (log_init's or log_set_level's; LOGL_INFO before either). */
enum log_level log_get_level(void);
/* Parse "debug"/"info"/"warn"/"warning"/"error"; -1 when unknown. */
int log_level_parse(const char *s);
/* The lowercase name of l as written in the "level" field ("debug", "info",
 * "warn", "error"; "info" for an out-of-range l): a static string, never NULL. */
const char *log_level_name(enum log_level l);

/* Is a line at this level going to be written? Check before building one. */
int log_enabled(enum log_level l);

/* Line building: log_begin() starts {"ts":..,"level":..,"service":..,"msg":..
 * in b (which it resets, and which should be buf_init'ed with
 * LOG_LINE_MAX), then the caller adds fields with jsonw_kv_*(), then
 * log_emit() closes the object, appends '\n' and writes it out.
 * log_emit never fails from the caller's point of view. */
void log_begin(buf_t *b, enum log_level l, const char *msg);
void log_emit(buf_t *b);

/* Add a string field to a line started by log_begin, cutting the value (at
 * a character boundary) so the whole line stays within LOG_LINE_MAX; a cut
 * line gets "truncated":true from log_emit. val NULL → null. Returns 0, or
 * -1 when not even the key fits (the line is left as it was). */
int log_kv_strn(buf_t *b, const char *key, const char *val, size_t n);

/* Convenience for lifecycle messages: fields are key/value string pairs
 * ending with NULL, e.g. log_kv(LOGL_INFO, "listening", "port", "8443", NULL). */
void log_kv(enum log_level l, const char *msg, ...) __attribute__((sentinel));

/* Number of sink writes that failed or were short, since start. */
uint64_t log_write_errors(void);

#endif
