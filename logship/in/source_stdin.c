/* source_stdin: non-blocking line reader over standard input (or any descriptor), no checkpoint. */
#include "logship/in/source_stdin.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "timefmt.h"
#include "logship/in/linereader.h"
#include "logship/in/source_metrics.h"

#define CHUNK (64 * 1024)

struct ssrc {
    struct ls_source      src;
    int                   fd;
    int                   eof, finished;
    struct ls_lineparse  *lp;
    struct ls_srcmetrics *m;
    metrics_child        *lines, *bytes;
    struct ls_reader      rd;
    int                   rd_ok;
    char                 *buf;     /* read but not yet consumed: [rpos, rlen) */
    size_t                rpos, rlen;
    uint64_t              off;     /* input offset of buf[rpos] */
};

/* Refill s->buf from the descriptor when it is used up. 0, or 1 when nothing
 * can be read right now (EAGAIN). */
static int refill(struct ssrc *s)
{
    for (;;) {
        ssize_t n = read(s->fd, s->buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 1;
        if (n < 0) {
            log_kv(LOGL_ERROR, "stdin read failed, treating it as ended", "error", strerror(errno),
                   NULL);
            s->eof = 1;
        } else if (n == 0) {
            s->eof = 1;
        } else {
            s->rpos = 0;
            s->rlen = (size_t)n;
            metrics_add(s->bytes, (double)n);
        }
        return 0;
    }
}

static long fd_poll(void *ctx, struct ls_emitter *em, size_t budget)
{
    struct ssrc *s = ctx;
    int64_t now = clock_real_ns();
    if (s->finished)
        return 0;
    int r = ls_reader_retry(&s->rd, em);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (budget == 0)
        budget = 1;
    long total = 0;
    while ((size_t)total < budget) {
        if (s->rpos == s->rlen && !s->eof && refill(s) != 0)
            break;
        if (s->rpos < s->rlen) {
            int stop = 0;
            long used = ls_reader_feed(&s->rd, s->buf + s->rpos, s->rlen - s->rpos, s->off, em,
                                       now, &stop);
            if (used < 0)
                return -1;
            s->rpos += (size_t)used;
            s->off += (uint64_t)used;
            total += used;
            if (stop)
                return total > 0 ? total : 0;
            continue;
        }
        if (s->eof) {
            int k = ls_reader_finish(&s->rd, em, s->off, now);
            if (k < 0)
                return -1;
            if (k == 0)
                s->finished = 1;
            break;
        }
    }
    return total;
}

static int fd_commit(void *ctx)
{
    (void)ctx;
    return 0;
}

static int fd_wait_fd(void *ctx)
{
    struct ssrc *s = ctx;
    return s->eof ? -1 : s->fd;
}

static int fd_finished(void *ctx)
{
    struct ssrc *s = ctx;
    return s->finished;
}

static void fd_destroy(void *ctx)
{
    struct ssrc *s = ctx;
    if (!s)
        return;
    if (s->rd_ok)
        ls_reader_free(&s->rd);
    ls_lineparse_free(s->lp);
    ls_srcmetrics_put(s->m);
    free(s->buf);
    free(s);
}

static const struct ls_source_ops fd_ops = {
    "stdin", fd_poll, fd_commit, fd_wait_fd, fd_finished, fd_destroy,
};

/* Everything after the allocation of s. 0, 1 with err set, -1 on OOM. */
static int setup(struct ssrc *s, int fd, const char *label, const struct ls_parse_conf *pc,
                 metrics_registry *reg, char *err, size_t errlen)
{
    s->fd = fd;
    s->m = ls_srcmetrics_get(reg);
    if (!s->m) {
        snprintf(err, errlen, "stdin source: cannot register metrics");
        return 1;
    }
    if (s->m->lines) {
        const char *v[1] = {label};
        s->lines = metrics_child_get(s->m->lines, v);
        s->bytes = metrics_child_get(s->m->bytes, v);
    }
    s->lp = ls_lineparse_new(pc, s->m, err, errlen);
    if (!s->lp)
        return 1;
    s->buf = malloc(CHUNK);
    if (!s->buf)
        return -1;
    if (ls_reader_init(&s->rd, s->lp, s->m, s->lines, pc->format, pc->max_line_bytes, 0) != 0)
        return -1;
    s->rd_ok = 1;
    char origin[64];
    snprintf(origin, sizeof(origin), "stdin:%" PRId64, clock_real_ns());
    ls_reader_set_origin(&s->rd, origin);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        snprintf(err, errlen, "stdin source: cannot make fd %d non-blocking: %s", fd,
                 strerror(errno));
        return 1;
    }
    return 0;
}

struct ls_source *ls_source_fd_new(int fd, const char *label, const struct ls_parse_conf *pc,
                                   metrics_registry *reg, char *err, size_t errlen)
{
    struct ssrc *s = calloc(1, sizeof(*s));
    int r = s ? setup(s, fd, label, pc, reg, err, errlen) : -1;
    struct ls_source *src = ls_source_finish(s ? &s->src : NULL, &fd_ops, s, r, err, errlen);
    if (src)
        src->drain_on_stop = 1;
    return src;
}

struct ls_source *ls_source_stdin_new(const struct ls_parse_conf *pc, metrics_registry *reg,
                                      char *err, size_t errlen)
{
    return ls_source_fd_new(0, "stdin", pc, reg, err, errlen);
}
