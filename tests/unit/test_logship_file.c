/* Unit tests for the file source: the pure rotation decision, and real files: follow, partial lines,
 * checkpoint resume, backpressure, copytruncate, rename, delete, globs, tail, docker. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"
#include "metrics.h"
#include "logship/in/source_file.h"
#include "logship/in/source_metrics.h"
#include "logship/in/source_stdin.h"

/* ------------------------------------------------------------ decisions --- */

static void test_rotation_decide(void **st)
{
    struct ls_file_id k = { 1, 100, 0xabc, 1024 };
    struct ls_file_obs o = { 1, 1, 100, 5000, 1, 0xabc };
    struct ls_file_id empty = { 1, 100, 0, 0 };
    (void)st;
    assert_int_equal(ls_rotation_decide(&k, 5000, &o), LS_ROT_IDLE);
    assert_int_equal(ls_rotation_decide(&k, 4000, &o), LS_ROT_GROWN);
    /* shrunk below our offset: copytruncate */
    assert_int_equal(ls_rotation_decide(&k, 6000, &o), LS_ROT_TRUNCATED);
    /* same inode, other first bytes: truncated and rewritten past our offset */
    o.fp = 0xdef;
    assert_int_equal(ls_rotation_decide(&k, 10, &o), LS_ROT_TRUNCATED);
    o.fp_ok = 0; /* fewer bytes than the fingerprint covers */
    assert_int_equal(ls_rotation_decide(&k, 10, &o), LS_ROT_TRUNCATED);
    o.fp_ok = 1;
    o.fp = 0xabc;
    o.size = 1000; /* smaller than the fingerprinted head */
    assert_int_equal(ls_rotation_decide(&k, 0, &o), LS_ROT_TRUNCATED);
    /* a new inode at the name: rename rotation (or a recycled name) */
    o.size = 5000;
    o.ino = 101;
    assert_int_equal(ls_rotation_decide(&k, 10, &o), LS_ROT_OTHER);
    o.ino = 100;
    o.dev = 2;
    assert_int_equal(ls_rotation_decide(&k, 10, &o), LS_ROT_OTHER);
    o.exists = 0;
    assert_int_equal(ls_rotation_decide(&k, 10, &o), LS_ROT_GONE);
    /* nothing fingerprinted yet (empty file seen): only size matters */
    o.exists = 1;
    o.dev = 1;
    o.fp_ok = 0;
    assert_int_equal(ls_rotation_decide(&empty, 0, &o), LS_ROT_GROWN);
    assert_int_equal(ls_fingerprint("", 0), 1469598103934665603ULL);
    assert_true(ls_fingerprint("a", 1) != ls_fingerprint("b", 1));
}

/* ------------------------------------------------------------- fixtures --- */

#define MAXREC 20000

struct cap {
    struct ls_emitter em;
    size_t n;
    size_t limit;          /* refuse (spool full) once n reaches it */
    char  *line[MAXREC];
    char  *labels[MAXREC];
    char  *origin[MAXREC];
    int64_t ts[MAXREC];
};

static int cap_emit(struct ls_emitter *em, const struct ls_record *r)
{
    struct cap *c = em->ctx;
    if (c->n >= c->limit || c->n >= MAXREC)
        return 1;
    c->line[c->n] = strndup(r->line, r->line_len);
    c->labels[c->n] = strndup(r->labels, r->labels_len);
    c->origin[c->n] = strndup(r->origin, r->origin_len);
    c->ts[c->n] = r->ts_ns;
    c->n++;
    return 0;
}

static void cap_clear(struct cap *c)
{
    size_t i;
    for (i = 0; i < c->n; i++) {
        free(c->line[i]);
        free(c->labels[i]);
        free(c->origin[i]);
    }
    c->n = 0;
}

struct fx {
    char dir[256];
    char state[300];
    char log[300];
    char glob[300];
    metrics_registry *reg;
    struct cap cap;
    struct ls_parse_conf pc;
};

static int setup(void **st)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_file_src.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
    snprintf(f->log, sizeof(f->log), "%s/app.log", f->dir);
    snprintf(f->glob, sizeof(f->glob), "%s/*.log", f->dir);
    if (mkdir(f->state, 0700) != 0)
        return -1;
    f->reg = metrics_new();
    f->cap.em.emit = cap_emit;
    f->cap.em.ctx = &f->cap;
    f->cap.limit = MAXREC;
    f->pc.format = LS_FORMAT_JSON;
    f->pc.max_line_bytes = 4096;
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    struct fx *f = *st;
    char cmd[400];
    cap_clear(&f->cap);
    metrics_free(f->reg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static void append(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
    close(fd);
}

static struct ls_source *src_new(struct fx *f, const char *pattern, enum ls_start_at start)
{
    char err[256] = "";
    const char *g[1] = { pattern };
    struct ls_source *s = ls_source_file_new(g, 1, &f->pc, start, f->state, f->reg, err,
                                             sizeof(err));
    if (!s)
        fail_msg("ls_source_file_new: %s", err);
    ls_source_file_set_timing(s, 20, 100);
    return s;
}

static void msleep(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Poll until the capture holds want records (or ~3 s pass). */
static void poll_until(struct ls_source *s, struct cap *c, size_t want)
{
    int i;
    for (i = 0; i < 300 && c->n < want; i++) {
        assert_true(s->ops->poll(s->ctx, &c->em, 1 << 20) >= 0);
        if (c->n < want)
            msleep(10);
    }
    assert_int_equal(c->n, want);
}

/* Poll a while and check nothing more arrives. */
static void poll_idle(struct ls_source *s, struct cap *c, size_t want, int rounds)
{
    int i;
    for (i = 0; i < rounds; i++) {
        assert_true(s->ops->poll(s->ctx, &c->em, 1 << 20) >= 0);
        msleep(10);
    }
    assert_int_equal(c->n, want);
}

static double metric(struct fx *f, metrics_child *(*pick)(struct ls_srcmetrics *))
{
    struct ls_srcmetrics *m = ls_srcmetrics_get(f->reg);
    double v = metrics_value(pick(m));
    ls_srcmetrics_put(m);
    return v;
}
static metrics_child *p_trunc(struct ls_srcmetrics *m) { return m->rot_truncate; }
static metrics_child *p_rename(struct ls_srcmetrics *m) { return m->rot_rename; }
static metrics_child *p_delete(struct ls_srcmetrics *m) { return m->rot_delete; }
static metrics_child *p_empty(struct ls_srcmetrics *m) { return m->drop_empty; }

/* ---------------------------------------------------------------- tests --- */

static void test_follow_partial_lines(void **st)
{
    struct fx *f = *st;
    struct ls_source *s;

    append(f->log, "{\"level\":\"info\",\"ts\":\"2026-11-28T02:03:04Z\",\"m\":1}\nplain two\n\nthr");
    s = src_new(f, f->log, LS_START_HEAD);
    assert_int_equal(s->ops->wait_fd(s->ctx) >= 0, 1);
    poll_until(s, &f->cap, 2);
    assert_string_equal(f->cap.labels[0], "{level=\"info\"}");
    assert_true(f->cap.ts[0] == 1795831384000000000LL);
    assert_string_equal(f->cap.line[1], "plain two");
    assert_string_equal(f->cap.labels[1], "{job=\"logship\"}");
    /* origins name the file and the line's offset */
    assert_non_null(strstr(f->cap.origin[0], "@0"));
    assert_true(strncmp(f->cap.origin[0], "f:", 2) == 0);
    assert_non_null(strstr(f->cap.origin[1], "@51"));
    assert_int_equal(metric(f, p_empty), 1);
    /* the partial "thr" waits for its newline */
    poll_idle(s, &f->cap, 2, 5);
    append(f->log, "ee\n");
    poll_until(s, &f->cap, 3);
    assert_string_equal(f->cap.line[2], "three");
    assert_int_equal(s->ops->finished(s->ctx), 0);
    ls_source_free(s);
}

/* A poll that stops at its budget leaves the wait descriptor readable, so the
 * engine comes back at once instead of sleeping on a quiet file. */
static void test_budget_kick(void **st)
{
    struct fx *f = *st;
    struct ls_source *s;
    struct pollfd pfd;
    long n;
    int i;

    char *many = malloc(10000 * 22 + 1);

    assert_non_null(many);
    for (i = 0; i < 10000; i++)
        memcpy(many + i * 22, "a line of some length\n", 22);
    many[10000 * 22] = '\0';
    append(f->log, many);
    free(many);
    s = src_new(f, f->log, LS_START_HEAD);
    pfd.fd = s->ops->wait_fd(s->ctx);
    pfd.events = POLLIN;
    assert_true(pfd.fd >= 0);
    n = s->ops->poll(s->ctx, &f->cap.em, 100); /* reads one chunk */
    assert_true(n >= 100);
    assert_true(n < 10000 * 22);
    assert_int_equal(poll(&pfd, 1, 0), 1);
    poll_until(s, &f->cap, 10000);
    ls_source_free(s);
}

static void test_resume_exactly(void **st)
{
    struct fx *f = *st;
    struct ls_source *s;
    char buf[64];
    int i;

    for (i = 0; i < 10; i++) {
        snprintf(buf, sizeof(buf), "line %d\n", i);
        append(f->log, buf);
    }
    append(f->log, "partial");
    s = src_new(f, f->log, LS_START_HEAD);
    poll_until(s, &f->cap, 10);
    assert_int_equal(s->ops->commit(s->ctx), 0);
    assert_int_equal(s->ops->commit(s->ctx), 0); /* unchanged: fine */
    ls_source_free(s);
    cap_clear(&f->cap);
    append(f->log, " done\nline 11\n");
    /* restart, with start=tail: a file in the checkpoint resumes regardless */
    s = src_new(f, f->log, LS_START_TAIL);
    poll_until(s, &f->cap, 2);
    assert_string_equal(f->cap.line[0], "partial done");
    assert_string_equal(f->cap.line[1], "line 11");
    poll_idle(s, &f->cap, 2, 5);
    ls_source_free(s);
}

/* commit() records what was emitted, not what was read. */
static void test_backpressure_and_commit(void **st)
{
    struct fx *f = *st;
    struct ls_source *s;
    char buf[64];
    int i;

    for (i = 0; i < 100; i++) {
        snprintf(buf, sizeof(buf), "n%d\n", i);
        append(f->log, buf);
    }
    s = src_new(f, f->log, LS_START_HEAD);
    f->cap.limit = 30;
    poll_idle(s, &f->cap, 30, 5);
    assert_int_equal(s->ops->commit(s->ctx), 0);
    ls_source_free(s);
    /* restart: resumes at n30 exactly */
    cap_clear(&f->cap);
    f->cap.limit = 40;
    s = src_new(f, f->log, LS_START_HEAD);
    poll_idle(s, &f->cap, 40, 5);
    assert_string_equal(f->cap.line[0], "n30");
    /* the refused record is offered again first once there is room */
    f->cap.limit = MAXREC;
    poll_until(s, &f->cap, 70);
    assert_string_equal(f->cap.line[40], "n70");
    assert_string_equal(f->cap.line[69], "n99");
    ls_source_free(s);
}

static void test_copytruncate(void **st)
{
    struct fx *f = *st;
    struct ls_source *s;
    int fd;

    append(f->log, "aaaaaaaaaa 1\naaaaaaaaaa 2\naaaaaaaaaa 3\n");
    s = src_new(f, f->log, LS_START_HEAD);
    poll_until(s, &f->cap, 3);
    fd = open(f->log, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    close(fd);
    append(f->log, "b 1\nb 2\n");
    poll_until(s, &f->cap, 5);
    assert_string_equal(f->cap.line[3], "b 1");
    assert_string_equal(f->cap.line[4], "b 2");
    assert_int_equal(metric(f, p_trunc), 1);
    /* truncated and regrown past the old offset before we looked: the
     * fingerprint tells */
    assert_int_equal(s->ops->commit(s->ctx), 0);
    fd = open(f->log, O_WRONLY | O_TRUNC);
    close(fd);
    append(f->log, "c 1 is a longer line than before\nc 2\n");
    poll_until(s, &f->cap, 7);
    assert_string_equal(f->cap.line[5], "c 1 is a longer line than before");
    assert_int_equal(metric(f, p_trunc), 2);
    ls_source_free(s);
}

/* Truncated and rewritten past our offset between two polls, with no rescan
 * in between: the new bytes are not read from the middle. */
static void test_truncate_rewrite_without_rescan(void **st)
{
    struct fx *f = *st;
    struct ls_source *s;
    int fd;

    append(f->log, "first generation line\n");
    s = src_new(f, f->log, LS_START_HEAD);
    ls_source_file_set_timing(s, 100000, 100);
    poll_until(s, &f->cap, 1);
    poll_idle(s, &f->cap, 1, 2); /* at EOF */
    /* one descriptor, no close: inotify reports only modifications, so no
     * rescan is triggered */
    fd = open(f->log, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(pwrite(fd, "second generation, a longer line\nand more\n", 42, 0), 42);
    poll_until(s, &f->cap, 3);
    close(fd);
    assert_string_equal(f->cap.line[1], "second generation, a longer line");
    assert_string_equal(f->cap.line[2], "and more");
    poll_idle(s, &f->cap, 3, 3);
    ls_source_free(s);
}

static void test_rename_rotation(void **st)
{
    struct fx *f = *st;
    struct ls_source *s;
    char old[320];
    int i;

    snprintf(old, sizeof(old), "%s.1", f->log);
    append(f->log, "old 1\n");
    s = src_new(f, f->log, LS_START_HEAD);
    poll_until(s, &f->cap, 1);
    append(f->log, "old 2\n");
    assert_int_equal(rename(f->log, old), 0);
    append(old, "old 3\nold 4 no newline"); /* the writer had not reopened yet */
    append(f->log, "new 1\n");
    poll_until(s, &f->cap, 5);  /* old 2, old 3, new 1, then the flushed partial */
    for (i = 0; i < 5; i++)
        if (strcmp(f->cap.line[i], "old 4 no newline") == 0)
            break;
    assert_true(i < 5);
    assert_string_equal(f->cap.line[1], "old 2");
    assert_string_equal(f->cap.line[2], "old 3");
    assert_true(metric(f, p_rename) >= 1);
    poll_idle(s, &f->cap, 5, 5);
    append(f->log, "new 2\n");
    poll_until(s, &f->cap, 6);
    assert_string_equal(f->cap.line[5], "new 2");
    ls_source_free(s);
}

/* The rotated name is matched by the glob too: same inode, same reader, no
 * duplicate, and the new file at the old name starts at its head. */
static void test_rename_within_glob(void **st)
{
    struct fx *f = *st;
    struct ls_source *s;
    char old[320], pat[320];

    snprintf(old, sizeof(old), "%s.1", f->log);
    snprintf(pat, sizeof(pat), "%s*", f->log);
    append(f->log, "a 1\n");
    s = src_new(f, pat, LS_START_TAIL);
    append(f->log, "a 2\n");
    poll_until(s, &f->cap, 1);
    assert_string_equal(f->cap.line[0], "a 2");
    assert_int_equal(rename(f->log, old), 0);
    append(old, "a 3\n");
    append(f->log, "b 1\n");
    poll_until(s, &f->cap, 3);
    poll_idle(s, &f->cap, 3, 20);
    assert_int_equal(metric(f, p_rename), 1);
    assert_int_equal(s->ops->commit(s->ctx), 0);
    ls_source_free(s);
    /* restart: both files are in the checkpoint, nothing is re-read */
    cap_clear(&f->cap);
    s = src_new(f, pat, LS_START_HEAD);
    append(old, "a 4\n");
    poll_until(s, &f->cap, 1);
    assert_string_equal(f->cap.line[0], "a 4");
    poll_idle(s, &f->cap, 1, 5);
    ls_source_free(s);
}

/* Rotated while logship was stopped: the renamed file's unread lines are
 * found by inode and read before it is forgotten. */
static void test_rotated_while_stopped(void **st)
{
    struct fx *f = *st;
    struct ls_source *s;
    char old[320];
    int i;

    snprintf(old, sizeof(old), "%s.1", f->log);
    append(f->log, "o 1\no 2\no 3\n");
    s = src_new(f, f->log, LS_START_HEAD);
    f->cap.limit = 1;
    poll_idle(s, &f->cap, 1, 3);
    assert_int_equal(s->ops->commit(s->ctx), 0);
    ls_source_free(s);
    assert_int_equal(rename(f->log, old), 0);
    append(f->log, "n 1\n");
    cap_clear(&f->cap);
    f->cap.limit = MAXREC;
    s = src_new(f, f->log, LS_START_TAIL);
    poll_until(s, &f->cap, 3);
    for (i = 0; i < 3; i++)
        assert_true(strcmp(f->cap.line[i], "o 2") == 0 || strcmp(f->cap.line[i], "o 3") == 0 ||
                    strcmp(f->cap.line[i], "n 1") == 0);
    poll_idle(s, &f->cap, 3, 20); /* drained and forgotten after the rotate wait */
    assert_int_equal(s->ops->commit(s->ctx), 0);
    ls_source_free(s);
    /* the checkpoint no longer names the old file */
    {
        char pos[400], buf[4096];
        FILE *fp;
        size_t n;
        snprintf(pos, sizeof(pos), "%s/positions.json", f->state);
        fp = fopen(pos, "r");
        assert_non_null(fp);
        n = fread(buf, 1, sizeof(buf) - 1, fp);
        buf[n] = '\0';
        fclose(fp);
        assert_null(strstr(buf, "app.log.1"));
    }
}

static void test_deleted_while_read(void **st)
{
    struct fx *f = *st;
    struct ls_source *s;
    int fd;

    append(f->log, "d 1\n");
    s = src_new(f, f->log, LS_START_HEAD);
    poll_until(s, &f->cap, 1);
    fd = open(f->log, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(unlink(f->log), 0);
    assert_int_equal(write(fd, "d 2\nd 3", 7), 7);
    poll_until(s, &f->cap, 3);
    assert_string_equal(f->cap.line[1], "d 2");
    assert_string_equal(f->cap.line[2], "d 3");
    close(fd);
    assert_int_equal(metric(f, p_delete), 1);
    assert_int_equal(s->ops->commit(s->ctx), 0);
    ls_source_free(s);
}

static void test_glob_pickup_and_tail(void **st)
{
    struct fx *f = *st;
    struct ls_source *s;
    char other[320], skip[320];

    snprintf(other, sizeof(other), "%s/b.log", f->dir);
    snprintf(skip, sizeof(skip), "%s/c.txt", f->dir);
    append(f->log, "before start\n");
    s = src_new(f, f->glob, LS_START_TAIL);
    poll_idle(s, &f->cap, 0, 5);
    append(f->log, "after start\n");
    poll_until(s, &f->cap, 1);
    assert_string_equal(f->cap.line[0], "after start");
    /* a new file under the glob starts at its head even with tail */
    append(other, "b first\nb second\n");
    append(skip, "not matched\n");
    poll_until(s, &f->cap, 3);
    assert_string_equal(f->cap.line[1], "b first");
    poll_idle(s, &f->cap, 3, 5);
    ls_source_free(s);
}

/* A wildcard in the directory part: no watch on the pattern, the rescan finds it. */
static void test_glob_wildcard_dir(void **st)
{
    struct fx *f = *st;
    struct ls_source *s;
    char pat[320], sub[320], file[340];

    snprintf(pat, sizeof(pat), "%s/*/c.log", f->dir);
    snprintf(sub, sizeof(sub), "%s/c1", f->dir);
    snprintf(file, sizeof(file), "%s/c.log", sub);
    s = src_new(f, pat, LS_START_TAIL);
    poll_idle(s, &f->cap, 0, 3);
    assert_int_equal(mkdir(sub, 0700), 0);
    append(file, "in a new directory\n");
    poll_until(s, &f->cap, 1);
    assert_string_equal(f->cap.line[0], "in a new directory");
    append(file, "more\n");
    poll_until(s, &f->cap, 2);
    ls_source_free(s);
}

static void test_docker_file(void **st)
{
    struct fx *f = *st;
    struct ls_source *s;

    f->pc.format = LS_FORMAT_DOCKER;
    append(f->log, "{\"log\":\"{\\\"level\\\":\\\"warn\\\",\\\"msg\\\":\\\"a\",\"stream\":\"stdout\","
                   "\"time\":\"2026-11-27T12:00:00.000000001Z\"}\n"
                   "{\"log\":\"err\\n\",\"stream\":\"stderr\",\"time\":\"2026-11-27T12:00:00.5Z\"}\n");
    s = src_new(f, f->log, LS_START_HEAD);
    poll_until(s, &f->cap, 1);
    assert_string_equal(f->cap.line[0], "err");
    assert_string_equal(f->cap.labels[0], "{stream=\"stderr\"}");
    /* a checkpoint now must not skip the pending stdout piece */
    assert_int_equal(s->ops->commit(s->ctx), 0);
    ls_source_free(s);
    cap_clear(&f->cap);
    append(f->log, "{\"log\":\"bc\\\"}\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-27T12:00:01Z\"}\n");
    s = src_new(f, f->log, LS_START_HEAD);
    poll_until(s, &f->cap, 2); /* err again (bounded duplicate), then the joined line */
    assert_string_equal(f->cap.line[0], "err");
    assert_string_equal(f->cap.line[1], "{\"level\":\"warn\",\"msg\":\"abc\"}");
    assert_string_equal(f->cap.labels[1], "{level=\"warn\",stream=\"stdout\"}");
    assert_true(f->cap.ts[1] == 1795780800000000001LL);
    ls_source_free(s);
}

static void test_corrupt_positions(void **st)
{
    struct fx *f = *st;
    struct ls_source *s;
    char pos[400], aside[420];
    struct stat sb;

    snprintf(pos, sizeof(pos), "%s/positions.json", f->state);
    snprintf(aside, sizeof(aside), "%s.corrupt", pos);
    append(pos, "{\"files\":[{\"dev\":1,");
    append(f->log, "x\n");
    s = src_new(f, f->log, LS_START_HEAD);
    poll_until(s, &f->cap, 1);
    assert_int_equal(stat(aside, &sb), 0);
    assert_int_equal(s->ops->commit(s->ctx), 0);
    assert_int_equal(stat(pos, &sb), 0);
    ls_source_free(s);
}

/* The origin of an early line does not change when the file grows past the
 * fingerprint size, so a re-read after a crash yields the same origin. */
static void test_origin_stable(void **st)
{
    struct fx *f = *st;
    struct ls_source *s;
    char big[2100], first[128];

    append(f->log, "first line\n");
    s = src_new(f, f->log, LS_START_HEAD);
    poll_until(s, &f->cap, 1);
    snprintf(first, sizeof(first), "%s", f->cap.origin[0]);
    ls_source_free(s); /* no commit: a crash */
    cap_clear(&f->cap);
    memset(big, 'q', sizeof(big) - 2);
    big[sizeof(big) - 2] = '\n';
    big[sizeof(big) - 1] = '\0';
    append(f->log, big);
    s = src_new(f, f->log, LS_START_HEAD);
    poll_until(s, &f->cap, 2);
    assert_string_equal(f->cap.origin[0], first);
    ls_source_free(s);
}

static void test_long_line_bounded(void **st)
{
    struct fx *f = *st;
    struct ls_source *s;
    char *big = malloc(100001);

    memset(big, 'L', 100000);
    big[100000] = '\0';
    append(f->log, "short\n");
    append(f->log, big);
    append(f->log, "\nafter\n");
    s = src_new(f, f->log, LS_START_HEAD);
    poll_until(s, &f->cap, 3);
    assert_true(strlen(f->cap.line[1]) <= 4096);
    assert_non_null(strstr(f->cap.line[1], "[truncated "));
    assert_string_equal(f->cap.line[2], "after");
    ls_source_free(s);
    free(big);
}

static void test_stdin_pipe(void **st)
{
    struct fx *f = *st;
    struct ls_source *s;
    char err[128];
    int p[2];
    (void)st;
    assert_int_equal(pipe(p), 0);
    s = ls_source_fd_new(p[0], "stdin", &f->pc, f->reg, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(s->ops->wait_fd(s->ctx), p[0]);
    assert_int_equal(write(p[1], "one\ntw", 6), 6);
    poll_until(s, &f->cap, 1);
    assert_int_equal(s->ops->finished(s->ctx), 0);
    assert_int_equal(write(p[1], "o\nlast", 6), 6);
    close(p[1]);
    poll_until(s, &f->cap, 3);
    assert_string_equal(f->cap.line[1], "two");
    assert_string_equal(f->cap.line[2], "last");
    assert_true(strncmp(f->cap.origin[2], "stdin:", 6) == 0);
    assert_non_null(strstr(f->cap.origin[2], "@8"));
    assert_int_equal(s->ops->finished(s->ctx), 1);
    assert_int_equal(s->ops->commit(s->ctx), 0);
    ls_source_free(s);
    close(p[0]);
}

/* stdin under backpressure: what was read but refused is kept, nothing lost. */
static void test_stdin_backpressure(void **st)
{
    struct fx *f = *st;
    struct ls_source *s;
    char err[128], buf[32];
    int p[2], i;

    assert_int_equal(pipe(p), 0);
    f->pc.format = LS_FORMAT_RAW;
    s = ls_source_fd_new(p[0], "stdin", &f->pc, f->reg, err, sizeof(err));
    assert_non_null(s);
    for (i = 0; i < 500; i++) {
        int n = snprintf(buf, sizeof(buf), "s%d\n", i);
        assert_int_equal(write(p[1], buf, (size_t)n), n);
    }
    close(p[1]);
    f->cap.limit = 10;
    poll_idle(s, &f->cap, 10, 3);
    assert_int_equal(s->ops->finished(s->ctx), 0);
    f->cap.limit = 200;
    poll_idle(s, &f->cap, 200, 3);
    f->cap.limit = MAXREC;
    poll_until(s, &f->cap, 500);
    for (i = 0; i < 500; i++) {
        snprintf(buf, sizeof(buf), "s%d", i);
        assert_string_equal(f->cap.line[i], buf);
    }
    assert_int_equal(s->ops->finished(s->ctx), 1);
    ls_source_free(s);
    close(p[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotation_decide),
        cmocka_unit_test_setup_teardown(test_follow_partial_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_kick, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backpressure_and_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copytruncate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_rewrite_without_rescan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_within_glob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotated_while_stopped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_while_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_glob_pickup_and_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_glob_wildcard_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_docker_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_positions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_origin_stable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_line_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdin_pipe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdin_backpressure, setup, teardown),
    };
    log_set_level(LOGL_ERROR); /* the source's info lines are noise here */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
