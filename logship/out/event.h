/* event: the JSON event of one record, the document Elasticsearch indexes and the event Logstash receives, written
 * once for both.
 *
 * Fields: @timestamp (the record's time, RFC 3339 UTC with nanoseconds)
 * first; then the line's own members when the line is one valid JSON object
 * (its own @timestamp dropped, a repeated key kept once: the first, keys
 * compared decoded), else the line as "message"; then each static label not
 * already present, as a string field. No I/O. */
#ifndef LOGSHIP_EVENT_H
#define LOGSHIP_EVENT_H

#include "buf.h"
#include "logship/core/record.h"

/* Append the event of rec (one JSON object, no newline) to out. Returns 0,
 * or -1 when out's cap is reached (out is then left as it was). */
int ls_event_encode(buf_t *out, const struct ls_record *rec) BUF_WARN_UNUSED;

#endif
