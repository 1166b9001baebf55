/* lokipb: the one decoder of Loki's PushRequest protobuf for the tests, the fuzzers and the bench sink, so that
 * what "logship sent these entries" means is written once. */
#ifndef TESTS_LIB_LOKIPB_H
#define TESTS_LIB_LOKIPB_H

#include <stddef.h>
#include <stdint.h>

/* Strict: any field other than those logship writes (PushRequest.streams; StreamAdapter.labels, .entries;
 * EntryAdapter.timestamp, .line; Timestamp.seconds, .nanos), or a known field with the wrong wire type, is an error.
 * Without it, unknown fields of any valid wire type are skipped (as a real receiver does). */
#define LOKIPB_STRICT 1u

/* What the walk reports, in wire order. A callback may be NULL; one that returns nonzero stops the walk. */
struct lokipb_visit {
    void *ud;
    int (*stream)(void *ud);                                    /* a StreamAdapter starts */
    int (*labels)(void *ud, const char *labels, size_t len);    /* its label string (not NUL-terminated) */
    /* one entry (line "" if absent) */
    int (*entry)(void *ud, int64_t sec, int64_t nanos, const char *line, size_t len);
};

/* Walk an uncompressed PushRequest of n bytes, calling v's callbacks. Returns 0, or -1 on malformed input, on a
 * field strict mode refuses, or when a callback returned nonzero. */
int lokipb_walk(const unsigned char *raw, size_t n, unsigned flags, const struct lokipb_visit *v);

/* Snappy-decompress body (a raw snappy block, as Loki's push API takes it) into a malloc'ed buffer the caller frees.
 * Returns 0 with *raw and *rawlen set, or -1. */
int lokipb_unsnappy(const char *body, size_t n, unsigned char **raw, size_t *rawlen);

#endif
