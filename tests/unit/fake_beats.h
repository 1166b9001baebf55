/* fake_beats: the server side of one Lumberjack v2 (beats) window over a fake_server connection, shared by the
 * unit tests of the Lumberjack client and of the Logstash output. */
#ifndef TESTS_UNIT_FAKE_BEATS_H
#define TESTS_UNIT_FAKE_BEATS_H

#include <stdint.h>

#include "fake_server.h"
#include "logship/out/lumberjack.h"

/* Called for each inner frame of the window's compressed frame, in order. */
typedef void (*fake_beats_event_fn)(void *ud, const struct ls_lj_frame *f);

/* Read one window: the W frame (its count in *window), then one C frame whose inflated inner frames go to ev
 * (may be NULL). Returns 0 once the W frame was read (a short or bad C frame just ends the events), -1 when no W
 * frame came. */
int fake_beats_read_window(struct fake_conn *c, uint32_t *window, fake_beats_event_fn ev, void *ud);

/* Send an ACK frame for seq (built here byte by byte, not with the encoder under test). 0 or -1. */
int fake_beats_ack(struct fake_conn *c, uint32_t seq);

#endif
