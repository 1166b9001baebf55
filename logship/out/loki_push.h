/* loki_push: the push phase of a Loki flush, one stream at a time: encode within the limit, POST, and judge the answer
 * entry by entry (the 400 and per-stream 429 that Loki answers for part of a push); out_loki.c owns the rest.
 *
 * The instance and the flush's tally are shared by the two files; nothing
 * else includes this header. */
#ifndef LOGSHIP_LOKI_PUSH_H
#define LOGSHIP_LOKI_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "logship/core/output.h"
#include "logship/core/record.h"
#include "logship/out/http.h"
#include "logship/out/loki_encode.h"
#include "logship/out/loki_query.h"

/* l->skip[]: what a record's check found (per batch record, before the sub
 * array is built), then what its push did (per sub entry). */
enum ls_loki_skip { LS_LOKI_SEND = 0, LS_LOKI_HELD = 1, LS_LOKI_SUB_DROPPED = 2, LS_LOKI_UNCHECKED = 3 };

/* One Loki output instance (out_loki.c builds it). */
struct ls_loki_out {
    const struct ls_output_conf *conf;
    const char *name;             /* the output's name, for log lines */
    struct ls_http *http;
    struct ls_loki_enc *enc;
    char *url;
    size_t limit;                 /* bound on one push's decoded size: batch_bytes, or less
                                   * once a proxy answered 413 (learned, kept) */
    char *hdr_tenant;             /* "X-Scope-OrgID: ..." or NULL */
    const char *headers[5];       /* the push's */
    const char *qheaders[2];      /* the query's: the tenant */
    char hdr_ctype[64], hdr_cenc[64];
    buf_t body;
    buf_t answer;                 /* the last push's whole response body (detail keeps 1 KB) */
    struct ls_loki_query *query;  /* the query API client, for maybe-sent and partial answers */
    /* per-flush scratch, grown to the largest batch */
    struct ls_record *sub;        /* the records still to send */
    uint32_t *map;                /* sub[i] is batch record map[i] */
    unsigned char *skip;          /* enum ls_loki_skip: per batch record, then per sub entry */
    unsigned char *unchk;         /* batch record maybe-sent and not checked (query API down) */
    unsigned char *found;         /* ls_loki_query_held's answer */
    size_t cap;
};

/* What one flush adds up: per-entry verdicts go to res->item, counts here. */
struct ls_loki_tally {
    size_t ndone, ndrop, nwait;
    size_t stop;                   /* where a RETRY/CONFIG stopped the flush (norder: nowhere) */
    enum ls_verdict wait_verdict;
    struct ls_flush_result drop;   /* reason and detail of the drops */
    int mixed;                     /* drops for more than one reason */
};

/* Count n entries dropped for reason into t, with one's status and detail
 * when they are the first drops (a second reason makes the drops mixed). */
void ls_loki_tally_drop(struct ls_loki_tally *t, const struct ls_flush_result *one, const char *reason, size_t n);

/* Ask Loki which of recs[order[from..to)] it holds: l->found[k] for
 * order[from + k]. Returns 0 when it answered, -1 (logged) when it could not. */
int ls_loki_held(struct ls_loki_out *l, const struct ls_record *recs, const uint32_t *order, size_t from, size_t to);

/* Push the stream l->sub[order[sfrom..send)] (the last grouping's): usually
 * one push, more when its encoding outgrows l->limit or a 413 halves it.
 * Done and dropped entries go to t (drops marked LS_LOKI_SUB_DROPPED in
 * l->skip), a per-stream 429's resends to res->item. Returns 0, or -1 when a
 * RETRY or CONFIG verdict stops the flush: t->stop and t->wait_verdict say
 * where and why, res carries the answer. */
int ls_loki_push_stream(struct ls_loki_out *l, const uint32_t *order, size_t sfrom, size_t send,
                        struct ls_flush_result *res, struct ls_loki_tally *t);

#endif
