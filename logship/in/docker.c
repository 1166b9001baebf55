/* docker: re-join Docker json-file records that Docker split at 16 KB, per stream. */
#include "logship/in/docker.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonscan.h"
#include "logship/in/lineparse.h"
#include "timefmt.h"

struct stream {
    char     name[16];
    int      used;      /* slot holds a stream name */
    int      pending;   /* a partial line is buffered */
    int      handed;    /* buf was handed out: reset before reuse */
    buf_t    buf;       /* the joined line so far (capped) */
    size_t   cut;
    int64_t  ts_ns;
    uint64_t start_off;
};

struct ls_docker {
    size_t        max;
    struct stream s[LS_DOCKER_STREAMS];
    buf_t         piece;   /* decoded "log" of the current record */
    struct stream pass;    /* for streams beyond the table */
};

struct ls_docker *ls_docker_new(size_t max_line_bytes)
{
    struct ls_docker *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->max = max_line_bytes ? max_line_bytes : 256 * 1024;
    for (size_t i = 0; i < LS_DOCKER_STREAMS; i++)
        buf_init(&d->s[i].buf, d->max);
    buf_init(&d->pass.buf, d->max);
    /* a record's log is at most its JSON text; pieces are ~16 KB */
    buf_init(&d->piece, d->max + 64 * 1024);
    return d;
}

void ls_docker_free(struct ls_docker *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < LS_DOCKER_STREAMS; i++)
        buf_free(&d->s[i].buf);
    buf_free(&d->pass.buf);
    buf_free(&d->piece);
    free(d);
}

/* Empty a stream's joined line. */
static void stream_clear(struct stream *st)
{
    buf_reset(&st->buf);
    st->handed = 0;
    st->pending = 0;
    st->cut = 0;
}

static void release_handed(struct ls_docker *d)
{
    for (size_t i = 0; i < LS_DOCKER_STREAMS; i++)
        if (d->s[i].handed)
            stream_clear(&d->s[i]);
    buf_reset(&d->pass.buf);
    d->pass.cut = 0;
}

static void hand_out(struct stream *st, struct ls_docker_line *out)
{
    out->line = st->buf.p ? st->buf.p : "";
    out->len = st->buf.len;
    out->cut = st->cut;
    out->ts_ns = st->ts_ns;
    out->stream = st->name;
    out->start_off = st->start_off;
    out->malformed = 0;
    st->handed = 1;
}

static struct stream *find_stream(struct ls_docker *d, const char *name, size_t n)
{
    if (n >= sizeof(d->s[0].name))
        return NULL;
    struct stream *freeslot = NULL;
    for (size_t i = 0; i < LS_DOCKER_STREAMS; i++) {
        struct stream *st = &d->s[i];
        if (st->used && strlen(st->name) == n && memcmp(st->name, name, n) == 0)
            return st;
        if (!st->used && !freeslot)
            freeslot = st;
    }
    if (freeslot) {
        memcpy(freeslot->name, name, n);
        freeslot->name[n] = '\0';
        freeslot->used = 1;
    }
    return freeslot;
}

/* Hand out a record that is not a json-file record as its own line. 1. */
static int malformed(const char *rec, size_t len, size_t rec_cut, uint64_t off,
                     struct ls_docker_line *out)
{
    out->line = rec;
    out->len = len;
    out->cut = rec_cut;
    out->ts_ns = 0;
    out->stream = NULL;
    out->start_off = off;
    out->malformed = 1;
    return 1;
}

/* Append the current piece to st's line, counting what its cap cuts. 0 or -1. */
static int stream_add(struct ls_docker *d, struct stream *st)
{
    size_t room = st->buf.max - st->buf.len;
    if (d->piece.len <= room)
        return d->piece.len > 0 ? buf_add(&st->buf, d->piece.p, d->piece.len) : 0;
    if (room > 0 && buf_add(&st->buf, d->piece.p, room) != 0)
        return -1;
    st->cut += d->piece.len - room;
    return 0;
}

int ls_docker_feed(struct ls_docker *d, const char *rec, size_t len, size_t rec_cut, uint64_t off,
                   struct ls_docker_line *out)
{
    struct ls_jfield f[3] = {
        {"log", 3, 0, 0, NULL, 0},
        {"stream", 6, 0, 0, NULL, 0},
        {"time", 4, 0, 0, NULL, 0},
    };
    release_handed(d);
    if (rec_cut > 0 || ls_json_scan(rec, len, f, 3) != 0 || f[0].type != 's' ||
        (f[1].type != 's' && f[1].type != 0) || f[1].esc)
        return malformed(rec, len, rec_cut, off, out);
    buf_reset(&d->piece);
    if (jsonscan_unescape(f[0].v, f[0].vlen, &d->piece) != 0 && d->piece.len == 0)
        return -1;
    int complete = 0;
    if (d->piece.len > 0 && d->piece.p[d->piece.len - 1] == '\n') {
        complete = 1;
        buf_truncate(&d->piece, d->piece.len - 1);
    }
    struct stream *st = f[1].type == 's' ? find_stream(d, f[1].v, f[1].vlen)
                                         : find_stream(d, "stdout", 6);
    if (!st) {
        st = &d->pass; /* unknown extra stream: no joining */
        complete = 1;
        memcpy(st->name, "other", 6);
    }
    if (!st->pending) {
        st->pending = 1;
        st->start_off = off;
        st->ts_ns = 0;
        if (f[2].type == 's' && !f[2].esc &&
            timefmt_parse_rfc3339(f[2].v, f[2].vlen, &st->ts_ns) != 0)
            st->ts_ns = 0;
    }
    if (stream_add(d, st) != 0)
        return -1;
    if (!complete)
        return 0;
    hand_out(st, out);
    if (st == &d->pass)
        st->pending = 0;
    return 1;
}

int ls_docker_flush(struct ls_docker *d, struct ls_docker_line *out)
{
    release_handed(d);
    for (size_t i = 0; i < LS_DOCKER_STREAMS; i++) {
        if (d->s[i].pending) {
            hand_out(&d->s[i], out);
            return 1;
        }
    }
    return 0;
}

uint64_t ls_docker_pending_off(const struct ls_docker *d)
{
    uint64_t m = UINT64_MAX;
    for (size_t i = 0; i < LS_DOCKER_STREAMS; i++)
        if (d->s[i].pending && !d->s[i].handed && d->s[i].start_off < m)
            m = d->s[i].start_off;
    return m;
}

void ls_docker_reset(struct ls_docker *d)
{
    for (size_t i = 0; i < LS_DOCKER_STREAMS; i++)
        stream_clear(&d->s[i]);
}
