/* lumberjack: the Lumberjack v2 protocol (what Filebeat speaks to Logstash's
 * beats input), as frames and as a client connection.
 *
 * Frames are "2" + a type byte: W (window: uint32 count), J (JSON data:
 * uint32 seq, uint32 length, payload), C (compressed: uint32 length, zlib
 * stream holding more frames), A (ACK from the server: uint32 seq), and the
 * legacy D (key/value data) which is decoded for completeness. All integers
 * are big-endian. A client announces a window of n events, sends them with
 * sequence numbers 1..n, and the events are delivered once the server ACKs n
 * (an ACK below n is partial progress or, with 0, a keep-alive). The
 * connection itself (TCP, optional TLS, deadlines) is netconn.h's. */
#ifndef LOGSHIP_LUMBERJACK_H
#define LOGSHIP_LUMBERJACK_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "logship/out/netconn.h"

#define LJ_VERSION '2'
#define LJ_MAX_PAYLOAD (64u << 20)  /* largest frame payload the decoder accepts */

/* Append a window frame for n events. 0, or -1 on out's cap (out unchanged). */
int ls_lj_encode_window(buf_t *out, uint32_t n) BUF_WARN_UNUSED;
/* Append a JSON data frame. 0, or -1 on the cap (out unchanged). */
int ls_lj_encode_json(buf_t *out, uint32_t seq, const void *payload, size_t len) BUF_WARN_UNUSED;
/* Append a C frame whose payload is zlib(frames[0..len)) at level (1..9).
 * 0, or -1 on the cap or a zlib failure (out unchanged). */
int ls_lj_encode_compressed(buf_t *out, const void *frames, size_t len, int level) BUF_WARN_UNUSED;
/* Append an ACK frame (servers send these; used by tests). 0 or -1. */
int ls_lj_encode_ack(buf_t *out, uint32_t seq) BUF_WARN_UNUSED;

struct ls_lj_frame {
    char     type;            /* 'W', 'J', 'C', 'A', 'D' */
    uint32_t seq;             /* J, D, A */
    uint32_t count;           /* W: window size; D: number of key/value pairs */
    const unsigned char *payload;  /* J: the JSON; C: the zlib bytes; D: the pairs */
    size_t   len;
};

/* Decode the frame at p[0..n). Returns the bytes it spans (> 0) with *f
 * filled (payload points into p), 0 when more bytes are needed, or -1 when
 * the bytes cannot be a frame (wrong version, unknown type, payload longer
 * than max_payload, malformed D pairs). Never reads outside p[0..n). */
long ls_lj_frame_decode(const unsigned char *p, size_t n, size_t max_payload, struct ls_lj_frame *f);

/* Inflate a C frame's payload (a zlib stream) into out, which caps the size.
 * Returns 0, or -1 when the stream is corrupt or does not fit. */
int ls_lj_inflate(const unsigned char *p, size_t n, buf_t *out) BUF_WARN_UNUSED;

/* ---- client window ---- */

/* How many events the next window may hold, adapted as Filebeat's
 * (libbeat/outputs/logstash/window.go) is: a server may cap the window it
 * accepts and then never ACKs a larger one, so a client that always sends
 * its largest window can stall for good. Start at LJ_WINDOW_START; after a
 * full window is wholly ACKed, grow by half (the largest size that worked is
 * remembered: growth past it probes, growth below it returns to it at once);
 * after an error or a timeout, halve (not below 1). */
#define LJ_WINDOW_START 10

struct ls_lj_window {
    uint32_t size;     /* events in the next window */
    uint32_t max;      /* never more than this */
    uint32_t max_ok;   /* the largest window wholly ACKed so far */
};

/* Start at min(LJ_WINDOW_START, max); max >= 1. Cannot fail. */
void ls_lj_window_init(struct ls_lj_window *w, uint32_t max);

/* A window of sent events was wholly ACKed. Grows only when sent == size (a
 * shorter window says nothing about a larger one). */
void ls_lj_window_ok(struct ls_lj_window *w, uint32_t sent);

/* A window failed (connection lost, protocol error, no ACK in time, or only
 * part of it ACKed): halve the size, at least 1. */
void ls_lj_window_shrink(struct ls_lj_window *w);

/* ---- sending a window ---- */

/* Send one window over c: frames holds W(n) followed by the events' J (or C)
 * frames with seq 1..n. Waits for ACKs; every ACK that moves forward (and
 * every ACK 0 keep-alive) restarts c's io timeout. Returns 0 once n is
 * ACKed; -1 on a lost connection, a timeout or a protocol error, with
 * *acked = the highest sequence the server acknowledged (events 1..*acked
 * are delivered), *why = LS_NET_TIMEOUT when no ACK came in time (else
 * LS_NET_ERROR or LS_NET_CLOSED) and err filled. After -1 close c. */
int ls_lj_send_window(struct ls_netconn *c, const void *frames, size_t len, uint32_t n, uint32_t *acked,
                   enum ls_net_result *why, char *err, size_t errlen);

#endif
