/* accesslog: access lines gathered into batches of whole lines, so most requests cost no write(2) of their own.
 *
 * Under keep-alive load a write(2) per access line was a visible share of
 * hellod's CPU per request. Workers append their closed line to one shared
 * batch under a mutex (a copy of a few hundred bytes); a flusher thread
 * writes the batch about a millisecond after its first line, and a worker
 * whose line would overflow the batch writes the batch itself. A batch is
 * written through log_emit, so it goes to the same sinks as every other
 * line (stdout and --log-file, reopened on SIGHUP) and is counted the same
 * way when a write fails. What is lost on kill -9: at most the last
 * millisecond of access lines. */
#include "service/accesslog.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* log_emit writes the batch in one call; below PIPE_BUF that write is
 * atomic on a pipe, so batches never interleave with other lines. */
#define BATCH_MAX (PIPE_BUF - 64)
#define FLUSH_DELAY_NS (1000 * 1000)

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    buf_t batch;          /* closed lines "{...}\n" back to back; guarded by mu */
    int running, stop;    /* guarded by mu */
    pthread_t th;
} A = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0, 0};

/* Write the batch out (mu held). log_emit adds the closing "}\n" itself,
 * so the last line's closer is taken off first. */
static void flush_locked(void)
{
    if (A.batch.len < 2)
        return;
    A.batch.len -= 2;
    log_emit(&A.batch);
    buf_reset(&A.batch);
}

static void *flusher(void *arg)
{
    struct timespec delay = {0, FLUSH_DELAY_NS};

    (void)arg;
    pthread_mutex_lock(&A.mu);
    while (!A.stop) {
        while (A.batch.len == 0 && !A.stop)
            pthread_cond_wait(&A.cv, &A.mu);
        /* let the batch fill for a moment: one write for many requests */
        pthread_mutex_unlock(&A.mu);
        nanosleep(&delay, NULL);
        pthread_mutex_lock(&A.mu);
        flush_locked();
    }
    flush_locked();
    pthread_mutex_unlock(&A.mu);
    return NULL;
}

int accesslog_start(void)
{
    pthread_mutex_lock(&A.mu);
    buf_init(&A.batch, PIPE_BUF);
    A.stop = 0;
    if (pthread_create(&A.th, NULL, flusher, NULL) != 0) {
        buf_free(&A.batch);
        pthread_mutex_unlock(&A.mu);
        return -1;
    }
    A.running = 1;
    pthread_mutex_unlock(&A.mu);
    return 0;
}

void accesslog_emit(buf_t *b)
{
    int was_empty;

    if (b->len == 0 || b->p[0] != '{' || b->len + 2 > BATCH_MAX) {
        log_emit(b); /* its own checks and error counting apply */
        return;
    }
    pthread_mutex_lock(&A.mu);
    if (!A.running) {
        pthread_mutex_unlock(&A.mu);
        log_emit(b);
        return;
    }
    if (A.batch.len + b->len + 2 > BATCH_MAX)
        flush_locked();
    was_empty = A.batch.len == 0;
    if (buf_add(&A.batch, b->p, b->len) != 0 || buf_add(&A.batch, "}\n", 2) != 0) {
        /* cannot happen below the cap; never lose the line */
        pthread_mutex_unlock(&A.mu);
        log_emit(b);
        return;
    }
    if (was_empty)
        pthread_cond_signal(&A.cv);
    pthread_mutex_unlock(&A.mu);
}

void accesslog_stop(void)
{
    pthread_mutex_lock(&A.mu);
    if (!A.running) {
        pthread_mutex_unlock(&A.mu);
        return;
    }
    A.stop = 1;
    pthread_cond_signal(&A.cv);
    pthread_mutex_unlock(&A.mu);
    pthread_join(A.th, NULL);
    pthread_mutex_lock(&A.mu);
    A.running = 0;
    buf_free(&A.batch);
    pthread_mutex_unlock(&A.mu);
}
