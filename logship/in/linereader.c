/* linereader: split input into lines, parse, emit, and track the exact checkpointable offset. */
#include "logship/in/linereader.h"
#include "logship/in/source_file.h"
#include "logship/spool/spool.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int ls_reader_init(struct ls_reader *r, struct ls_lineparse *lp, struct ls_srcmetrics *m,
                   metrics_child *lines, enum ls_format fmt, size_t max_line_bytes,
                   uint64_t start)
{
    memset(r, 0, sizeof(*r));
    r->lp = lp;
    r->m = m;
    r->lines = lines;
    if (max_line_bytes == 0)
        max_line_bytes = 256 * 1024;
    r->keep = max_line_bytes;
    if (fmt == LS_FORMAT_DOCKER) {
        /* a record is its (escaped) piece plus a little JSON around it */
        r->keep = max_line_bytes + 128 * 1024;
        r->dk = ls_docker_new(max_line_bytes);
        if (!r->dk)
            return -1;
    }
    buf_init(&r->part, r->keep);
    buf_init(&r->pend, ls_spool_max_record(max_line_bytes));
    r->line_start = start;
    r->done_off = start;
    ls_reader_set_origin(r, "in");
    return 0;
}

void ls_reader_free(struct ls_reader *r)
{
    ls_docker_free(r->dk);
    r->dk = NULL;
    buf_free(&r->part);
    buf_free(&r->pend);
}

void ls_reader_set_origin(struct ls_reader *r, const char *prefix)
{
    int n = snprintf(r->origin, sizeof(r->origin) - 24, "%s@", prefix);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(r->origin) - 24)
        n = (int)(sizeof(r->origin) - 25);
    r->origin_plen = (size_t)n;
}

void ls_reader_reset(struct ls_reader *r, uint64_t off)
{
    buf_reset(&r->part);
    r->part_cut = 0;
    r->line_start = off;
    r->done_off = off;
    r->skipping = 0;
    if (r->dk)
        ls_docker_reset(r->dk);
}

void ls_reader_skip_to(struct ls_reader *r, uint64_t off)
{
    r->skipping = 1;
    r->skip_upto = off;
}

uint64_t ls_reader_safe_off(const struct ls_reader *r)
{
    uint64_t s = r->done_off;
    if (r->dk) {
        uint64_t p = ls_docker_pending_off(r->dk);
        if (p < s)
            s = p;
    }
    return s;
}

/* Decimal digits of v into out (at least 21 bytes), NUL-terminated; returns the length. */
static int u64_dec(char *out, uint64_t v)
{
    char t[21];
    int n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (int i = 0; i < n; i++)
        out[i] = t[n - 1 - i];
    out[n] = '\0';
    return n;
}

/* Copy the refused record so the reader can move on. */
static int keep_pending(struct ls_reader *r, const struct ls_record *rec, uint64_t end)
{
    buf_reset(&r->pend);
    if (buf_add(&r->pend, rec->line, rec->line_len) != 0)
        return -1;
    size_t lo = r->pend.len;
    if (buf_add(&r->pend, rec->labels, rec->labels_len) != 0)
        return -1;
    size_t oo = r->pend.len;
    if (buf_add(&r->pend, rec->origin, rec->origin_len) != 0)
        return -1;
    r->pend_rec = *rec;
    r->pend_rec.line = r->pend.p;
    r->pend_rec.labels = r->pend.p + lo;
    r->pend_rec.origin = r->pend.p + oo;
    r->pend_end = end;
    r->has_pending = 1;
    return 0;
}

int ls_reader_retry(struct ls_reader *r, struct ls_emitter *em)
{
    if (!r->has_pending)
        return 0;
    int e = em->emit(em, &r->pend_rec);
    if (e != 0)
        return e < 0 ? -1 : 1;
    r->has_pending = 0;
    r->done_off = r->pend_end;
    return 0;
}

/* Parse and emit one line that started at origin_off; the unit ends at end.
 * 0 handled, 1 refused (kept as pending), -1 error. */
static int ship(struct ls_reader *r, struct ls_emitter *em, const struct ls_line_in *in,
                uint64_t origin_off, uint64_t end)
{
    if (r->skipping) {
        if (origin_off <= r->skip_upto) {
            r->done_off = end;
            return 0;
        }
        r->skipping = 0;
    }
    metrics_add(r->lines, 1);
    struct ls_record rec;
    memset(&rec, 0, sizeof(rec));
    int k = ls_lineparse_line(r->lp, in, &rec);
    if (k < 0)
        return -1;
    if (k == 0) {
        r->done_off = end;
        return 0;
    }
    char num[24];
    int nl = u64_dec(num, origin_off);
    if (r->head && end < LS_HEAD_BYTES) {
        /* early line: the fingerprint part covers only bytes up to its end */
        const struct ls_head *h = r->head;
        size_t hl = end < h->len ? (size_t)end : h->len;
        int pl = snprintf(r->early, sizeof(r->early), "f:%" PRIu64 ":%" PRIu64 ":%016" PRIx64 "@%s",
                          h->dev, h->ino, ls_fingerprint(h->b, hl), num);
        rec.origin = r->early;
        rec.origin_len = pl > 0 ? (size_t)pl : 0;
    } else {
        memcpy(r->origin + r->origin_plen, num, (size_t)nl + 1);
        rec.origin = r->origin;
        rec.origin_len = r->origin_plen + (size_t)nl;
    }
    int e = em->emit(em, &rec);
    if (e == 0) {
        r->done_off = end;
        return 0;
    }
    if (e < 0)
        return -1;
    if (keep_pending(r, &rec, end) != 0)
        return -1;
    return 1;
}

/* One complete input unit [start, end) whose kept bytes are p[0..len). */
static int unit(struct ls_reader *r, struct ls_emitter *em, const char *p, size_t len, size_t cut,
                uint64_t start, uint64_t end, int64_t now)
{
    struct ls_line_in in = {p, len, cut, 0, NULL, now};
    if (r->dk) {
        struct ls_docker_line dl;
        int k = ls_docker_feed(r->dk, p, len, cut, start, &dl);
        if (k < 0)
            return -1;
        if (k == 0) {
            r->done_off = end; /* a piece: ls_reader_safe_off holds the checkpoint at it */
            return 0;
        }
        if (dl.malformed)
            metrics_add(r->m->invalid_docker, 1);
        in.p = dl.line;
        in.len = dl.len;
        in.cut = dl.cut;
        in.ts_ns = dl.ts_ns;
        in.stream = dl.stream;
        start = dl.start_off;
    }
    return ship(r, em, &in, start, end);
}

/* Append to the partial line, keeping at most r->keep bytes. */
static void part_add(struct ls_reader *r, const char *p, size_t n)
{
    size_t room = r->part.max - r->part.len;
    if (n > room) {
        r->part_cut += n - room;
        n = room;
    }
    if (n > 0 && buf_add(&r->part, p, n) != 0)
        r->part_cut += n; /* OOM: count it as cut rather than lose track */
}

long ls_reader_feed(struct ls_reader *r, const char *data, size_t n, uint64_t base,
                    struct ls_emitter *em, int64_t now_ns, int *stop)
{
    size_t pos = 0;
    *stop = 0;
    while (pos < n) {
        const char *nlp = memchr(data + pos, '\n', n - pos);
        if (!nlp) {
            part_add(r, data + pos, n - pos);
            pos = n;
            break;
        }
        size_t i = (size_t)(nlp - data), len, cut = 0;
        uint64_t end = base + i + 1;
        const char *p;
        if (r->part.len > 0 || r->part_cut > 0) {
            part_add(r, data + pos, i - pos);
            p = r->part.p ? r->part.p : "";
            len = r->part.len;
            cut = r->part_cut;
        } else {
            p = data + pos;
            len = i - pos;
            if (len > r->keep) {
                cut = len - r->keep;
                len = r->keep;
            }
        }
        int k = unit(r, em, p, len, cut, r->line_start, end, now_ns);
        buf_reset(&r->part);
        r->part_cut = 0;
        r->line_start = end;
        pos = i + 1;
        if (k < 0)
            return -1;
        if (k == 1) {
            *stop = 1;
            break;
        }
    }
    return (long)pos;
}

int ls_reader_finish(struct ls_reader *r, struct ls_emitter *em, uint64_t end, int64_t now_ns)
{
    if (r->has_pending)
        return 1;
    if (r->part.len > 0 || r->part_cut > 0) {
        int k = unit(r, em, r->part.p ? r->part.p : "", r->part.len, r->part_cut, r->line_start,
                     end, now_ns);
        buf_reset(&r->part);
        r->part_cut = 0;
        r->line_start = end;
        if (k != 0)
            return k;
    }
    if (r->dk) {
        struct ls_docker_line dl;
        while (ls_docker_flush(r->dk, &dl) == 1) {
            struct ls_line_in in = {dl.line, dl.len, dl.cut, dl.ts_ns, dl.stream, now_ns};
            int k = ship(r, em, &in, dl.start_off, end);
            if (k != 0)
                return k;
        }
    }
    r->done_off = end;
    return 0;
}
