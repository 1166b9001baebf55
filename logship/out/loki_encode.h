/* loki_encode: turn a batch of records into a Loki push body (protobuf+snappy or JSON, optionally gzip).
 *
 * Records are grouped into streams by their canonical label string (streams in
 * order of first appearance) and kept in timestamp order within each stream:
 * a stable sort, so entries with equal timestamps keep spool order. Loki
 * accepts out-of-order entries only up to an hour behind a stream's newest, so
 * after an outage the oldest must go first. An encoder keeps its scratch
 * arrays and compressor state between batches, so steady-state encoding does
 * not allocate. One encoder is used by one thread at a time. */
#ifndef LOGSHIP_LOKI_ENCODE_H
#define LOGSHIP_LOKI_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "logship/core/labels.h"
#include "logship/core/record.h"

enum ls_loki_encoding {
    LS_LOKI_PROTOBUF = 0,  /* PushRequest, raw block snappy: Content-Type application/x-protobuf */
    LS_LOKI_JSON,          /* {"streams":[...]}: Content-Type application/json */
};

struct ls_loki_enc;

/* A new encoder for the given encoding. gzip applies to JSON only (protobuf is
 * always snappy-compressed). Returns NULL on OOM. */
struct ls_loki_enc *ls_loki_enc_new(enum ls_loki_encoding enc, int gzip);

/* Free an encoder and its scratch; NULL is a no-op. */
void ls_loki_enc_free(struct ls_loki_enc *e);

/* Group recs[0..n) into streams (see above). Afterwards ls_loki_enc_order
 * lists the record indices stream by stream, in the order they will be
 * encoded, and ls_loki_enc_bad_labels(e, i) says whether record i's label
 * string is not a valid Prometheus label set (such records are left out of
 * every encoding; the caller drops and counts them). Returns 0, -1 on OOM. */
int ls_loki_group(struct ls_loki_enc *e, const struct ls_record *recs, size_t n);

/* The last grouping's record indices, stream by stream in encoding order;
 * *n receives how many (the records with valid labels). Owned by e, valid
 * until the next grouping. */
const uint32_t *ls_loki_enc_order(const struct ls_loki_enc *e, size_t *n);

/* 1 when record i of the last grouping has a label string that is not a
 * valid Prometheus label set (left out of every encoding), else 0. */
int ls_loki_enc_bad_labels(const struct ls_loki_enc *e, size_t i);

/* How many streams the last grouping made. */
size_t ls_loki_enc_streams(const struct ls_loki_enc *e);

/* The end (exclusive) of the stream that order[from] belongs to in the last
 * grouping: order[from..end) is one stream's entries in time order. */
size_t ls_loki_enc_stream_end(const struct ls_loki_enc *e, size_t from);

/* Encode the records whose indices are order[from..to) of the last grouping
 * (a contiguous slice of it; a slice may cut a stream in two). body receives
 * the compressed request body (reset first); *raw_len the uncompressed size
 * (what Loki decodes and what a batch limit bounds). Returns 0, or -1 (OOM or
 * the body cap) with a message in err. */
int ls_loki_encode_range(struct ls_loki_enc *e, const struct ls_record *recs, size_t from, size_t to,
                         buf_t *body, size_t *raw_len, char *err, size_t errlen);

/* Group and encode the whole batch in one go. Same results as above. */
int ls_loki_encode(struct ls_loki_enc *e, const struct ls_record *recs, size_t n,
                   buf_t *body, size_t *raw_len, char *err, size_t errlen);

/* The Content-Type to send with e's bodies (static). */
const char *ls_loki_content_type(const struct ls_loki_enc *e);

/* The Content-Encoding to send with e's bodies ("gzip"), or NULL when none. */
const char *ls_loki_content_encoding(const struct ls_loki_enc *e);

#endif
