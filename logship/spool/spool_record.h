/* spool_record: the spool's record codec, the one place that knows the on-disk record layout (spool.h
 * describes it), its magic and its CRC-32C; the writer encodes with it, open and the readers check and
 * decode with it. */
#ifndef LOGSHIP_SPOOL_RECORD_H
#define LOGSHIP_SPOOL_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include "logship/core/record.h"

/* Pick the CRC-32C implementation (SSE4.2 or a table) once per process; call before any other
 * function here (ls_spool_open does). Thread-safe. */
void ls_spool_rec_init(void);

/* Bytes one record with body_len bytes of labels+line+origin takes on disk. */
size_t ls_spool_rec_size(size_t body_len);

/* Encode rec with seq and append time app_ns at dst (ls_spool_rec_size bytes). */
void ls_spool_rec_encode(char *dst, const struct ls_record *rec, uint64_t seq, int64_t app_ns);

/* Validate the bytes at p (avail of them) as a record whose body is at most max_body bytes.
 * Returns the record's total size (> 0), 0 when more bytes are needed to tell, -1 when
 * these bytes are no record. */
long ls_spool_rec_check(const char *p, size_t avail, size_t max_body);

/* Decode a record ls_spool_rec_check accepted; r's pointers point into p. */
void ls_spool_rec_decode(const char *p, struct ls_record *r, int64_t *app_ns);

/* The seq of a record ls_spool_rec_check accepted. */
uint64_t ls_spool_rec_seq(const char *p);

/* Where the next record could start after the bytes at p are found to be no record (the next
 * magic byte in p[1..n)), or NULL when none does. */
const char *ls_spool_rec_resync(const char *p, size_t n);

/* 1 when p (avail bytes, the start of a segment) is a record of spool format 1 (before the
 * per-record magic), else 0. */
int ls_spool_rec_is_format1(const char *p, size_t avail, size_t max_body);

#endif
