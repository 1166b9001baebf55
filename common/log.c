/* log: the process-wide JSON line logger (sinks, level filter, line framing, reopen after rotation). */
#include "log.h"
#include "jsonscan.h"
#include "jsonw.h"
#include "fdio.h"
#include "timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SERVICE_MAX 128

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static char g_service[SERVICE_MAX * 6 + 3] = "\"unknown\""; /* already a JSON string */
static size_t g_service_len = 9;
static int g_fd = 2;
static atomic_int g_file_fd = -1;
static char *g_path;
static atomic_int g_min = LOGL_INFO;
static atomic_uint_fast64_t g_errors;
static pthread_mutex_t g_file_mu = PTHREAD_MUTEX_INITIALIZER; /* reopen/close */
static pthread_mutex_t g_big_mu = PTHREAD_MUTEX_INITIALIZER;  /* lines > PIPE_BUF */

/* Per-thread: the formatted seconds part of the last timestamp, and whether
 * the line being built had a value cut short. */
static _Thread_local int64_t t_sec = INT64_MIN;
static _Thread_local char t_sec_text[20];
static _Thread_local int t_truncated;

static int open_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int log_init(const char *service, int fd, const char *file_path, enum log_level min)
{
    buf_t b;
    size_t n = strnlen(service ? service : "", SERVICE_MAX);
    char tmp[SERVICE_MAX * 6 + 3];
    buf_init(&b, sizeof(tmp) - 1);
    if (jsonw_str(&b, service ? service : "", n) == 0) {
        memcpy(g_service, b.p, b.len + 1);
        g_service_len = b.len;
    }
    buf_free(&b);
    g_fd = fd;
    atomic_store(&g_min, (int)min);
    log_close();
    if (!file_path)
        return 0;
    char *path = strdup(file_path);
    if (!path)
        return -1;
    int ffd = open_file(path);
    if (ffd < 0) {
        int e = errno;
        free(path);
        errno = e;
        return -1;
    }
    pthread_mutex_lock(&g_file_mu);
    g_path = path;
    atomic_store(&g_file_fd, ffd);
    pthread_mutex_unlock(&g_file_mu);
    return 0;
}

int log_reopen(void)
{
    int rc = -1;
    pthread_mutex_lock(&g_file_mu);
    if (!g_path) {
        rc = 0;
        goto out;
    }
    int nfd = open_file(g_path);
    if (nfd < 0)
        goto out;
    int old = atomic_load(&g_file_fd);
    if (old < 0) {
        atomic_store(&g_file_fd, nfd);
        rc = 0;
        goto out;
    }
    /* dup3 swaps the open file under the same descriptor number atomically,
     * so a writer never sees a closed or reused descriptor. */
    if (dup3(nfd, old, O_CLOEXEC) < 0) {
        close(nfd);
        goto out;
    }
    close(nfd);
    rc = 0;
out:
    pthread_mutex_unlock(&g_file_mu);
    return rc;
}

void log_close(void)
{
    pthread_mutex_lock(&g_file_mu);
    int old = atomic_exchange(&g_file_fd, -1);
    if (old >= 0)
        close(old);
    free(g_path);
    g_path = NULL;
    pthread_mutex_unlock(&g_file_mu);
}

void log_set_level(enum log_level min)
{
    atomic_store(&g_min, (int)min);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load(&g_min);
}

int log_level_parse(const char *s)
{
    if (!s)
        return -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    if (strcmp(s, "warning") == 0)
        return LOGL_WARN;
    return -1;
}

const char *log_level_name(enum log_level l)
{
    return (unsigned)l < 4 ? level_names[l] : "info";
}

int log_enabled(enum log_level l)
{
    return (int)l >= atomic_load_explicit(&g_min, memory_order_relaxed);
}

uint64_t log_write_errors(void)
{
    return atomic_load(&g_errors);
}

/* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" for now, formatting the date part only when
 * the second changes. */
static void now_text(char out[TIMEFMT_RFC3339_US_LEN + 1])
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        ts.tv_sec = 0;
        ts.tv_nsec = 0;
    }
    if ((int64_t)ts.tv_sec != t_sec) {
        char full[TIMEFMT_RFC3339_US_LEN + 1];
        timefmt_rfc3339_us(full, &ts);
        memcpy(t_sec_text, full, 19);
        t_sec = (int64_t)ts.tv_sec;
    }
    memcpy(out, t_sec_text, 19);
    timefmt_put_us_z(out, (unsigned)(ts.tv_nsec / 1000));
}

/* Room reserved at the end of every line for ',"truncated":true}\n'. */
#define CLOSER_ROOM 24

/* Bytes a value may still take in b so the line stays under LOG_LINE_MAX. */
static size_t room_left(const buf_t *b)
{
    size_t lim = LOG_LINE_MAX - CLOSER_ROOM;
    if (b->max != 0 && b->max < lim)
        lim = b->max;
    return b->len < lim ? lim - b->len : 0;
}

void log_begin(buf_t *b, enum log_level l, const char *msg)
{
    const char *lv = log_level_name(l);
    int cut = 0;

    buf_reset(b);
    t_truncated = 0;
    char ts[TIMEFMT_RFC3339_US_LEN + 1];
    now_text(ts);
    if (buf_reserve(b, 128 + g_service_len) != 0 ||
        buf_add(b, "{\"ts\":\"", 7) != 0 || buf_add(b, ts, TIMEFMT_RFC3339_US_LEN) != 0 ||
        buf_add(b, "\",\"level\":\"", 11) != 0 || buf_adds(b, lv) != 0 ||
        buf_add(b, "\",\"service\":", 12) != 0 || buf_add(b, g_service, g_service_len) != 0 ||
        buf_add(b, ",\"msg\":", 7) != 0) {
        buf_reset(b); /* log_emit drops a line without its header */
        return;
    }
    msg = msg ? msg : "";
    if (jsonw_str_capped(b, msg, strlen(msg), room_left(b), &cut) != 0) {
        buf_reset(b);
        return;
    }
    if (cut)
        t_truncated = 1;
}

int log_kv_strn(buf_t *b, const char *key, const char *val, size_t n)
{
    if (b->len == 0)
        return -1;
    size_t old = b->len;
    int rc = -1;
    if (buf_addc(b, ',') != 0 || jsonw_str(b, key, strlen(key)) != 0 || buf_addc(b, ':') != 0)
        goto out;
    if (!val) {
        if (buf_add(b, "null", 4) != 0)
            goto out;
    } else {
        int cut = 0;
        if (jsonw_str_capped(b, val, n, room_left(b), &cut) != 0)
            goto out;
        if (cut)
            t_truncated = 1;
    }
    rc = 0;
out:
    if (rc != 0) {
        buf_truncate(b, old);
        t_truncated = 1;
    }
    return rc;
}

/* Cut b back to its last top-level field boundary at or below limit bytes
 * (the caller's fields were too long to close the object): walk the open
 * object's members with the JSON scanner and keep the comma before the last
 * member that starts in time. The walk stops at the unfinished member. */
static void cut_to_fit(buf_t *b, size_t limit)
{
    size_t last = 0;
    const char *e = b->p + b->len;
    struct jsonscan_obj o;
    if (jsonscan_obj_open(&o, b->p, e) == 0) {
        while (jsonscan_obj_next(&o) == 1) {
            o.p = jsonscan_value(o.p, e, JSONSCAN_MAX_DEPTH);
            if (!o.p)
                break;
            const char *c = jsonscan_ws(o.p, e);
            if (c >= e || *c != ',' || (size_t)(c - b->p) > limit)
                break;
            last = (size_t)(c - b->p);
        }
    }
    buf_truncate(b, last);
}

/* Write all of p[0..n) to fd; a failure and every short write count as errors (the rest follows). */
static void write_all(int fd, const char *p, size_t n)
{
    unsigned shorts = 0;
    int rc = fdio_write_all(fd, p, n, NULL, &shorts);
    if (shorts)
        atomic_fetch_add(&g_errors, shorts);
    if (rc != 0)
        atomic_fetch_add(&g_errors, 1);
}

void log_emit(buf_t *b)
{
    if (b->len == 0 || b->p[0] != '{') {
        atomic_fetch_add(&g_errors, 1); /* header did not fit: nothing valid to write */
        return;
    }
    if (b->len > LOG_LINE_MAX - CLOSER_ROOM) {
        cut_to_fit(b, LOG_LINE_MAX - CLOSER_ROOM);
        t_truncated = 1;
        if (b->len == 0) {
            atomic_fetch_add(&g_errors, 1);
            return;
        }
    }
    size_t saved = b->max;
    b->max = 0; /* the closer always fits: room for it was kept above */
    int rc = t_truncated ? buf_add(b, ",\"truncated\":true}\n", 19) : buf_add(b, "}\n", 2);
    b->max = saved;
    t_truncated = 0;
    if (rc != 0) {
        atomic_fetch_add(&g_errors, 1);
        return;
    }
    int big = b->len > PIPE_BUF;
    if (big)
        pthread_mutex_lock(&g_big_mu);
    if (g_fd >= 0)
        write_all(g_fd, b->p, b->len);
    int ffd = atomic_load(&g_file_fd);
    if (ffd >= 0)
        write_all(ffd, b->p, b->len);
    if (big)
        pthread_mutex_unlock(&g_big_mu);
}

void log_kv(enum log_level l, const char *msg, ...)
{
    buf_t b;
    va_list ap;
    if (!log_enabled(l))
        return;
    buf_init(&b, LOG_LINE_MAX);
    log_begin(&b, l, msg);
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        if (log_kv_strn(&b, k, v, v ? strlen(v) : 0) != 0)
            break;
    }
    va_end(ap);
    log_emit(&b);
    buf_free(&b);
}
