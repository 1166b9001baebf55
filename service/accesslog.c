/* accesslog: access lines gathered into batches of whole lines, so most requests cost no write(2) of their own.
 *
 * Under keep-alive load a write(2) per access line was a visible share of
 * hellod's CPU per request. Workers append their closed line to one shared
 * batch under a mutex (a copy of a few hundred bytes); a flusher thread
 * writes the batch about a millisecond after its first line, and a worker
 * whose line would overflow the batch writes the batch itself. The batch
 * is swapped out under the mutex and written outside it (under a second,
 * writer-only mutex that keeps batches in order), so appending never waits
 * for a write(2). A batch is
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

/* Lock order: wmu before mu. */
static struct {
    pthread_mutex_t wmu;  /* held while a batch is written; guards spare */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    buf_t batch;          /* closed lines "{...}\n" back to back; guarded by mu */
    buf_t spare;          /* the batch being written; guarded by wmu */
    int running, stop;    /* guarded by mu */
    pthread_t th;
} A = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
       {0}, {0}, 0, 0, 0};

/* Take the batch (wmu and mu held): it becomes spare, batch starts empty. */
static void take_locked(void)
{
    buf_t t = A.spare;

    A.spare = A.batch;
    A.batch = t;
    buf_reset(&A.batch);
}

/* Write spare out (wmu held, mu not). log_emit adds the closing "}\n"
 * itself, so the last line's closer is taken off first. */
static void write_spare(void)
{
    if (A.spare.len < 2)
        return;
    A.spare.len -= 2;
    log_emit(&A.spare);
    buf_reset(&A.spare);
}

/* Write out whatever is queued now (neither lock held). */
static void flush_now(void)
{
    pthread_mutex_lock(&A.wmu);
    pthread_mutex_lock(&A.mu);
    take_locked();
    pthread_mutex_unlock(&A.mu);
    write_spare();
    pthread_mutex_unlock(&A.wmu);
}

static void *flusher(void *arg)
{
    struct timespec delay = {0, FLUSH_DELAY_NS};

    (void)arg;
    for (;;) {
        int stop;

        pthread_mutex_lock(&A.mu);
        while (A.batch.len == 0 && !A.stop)
            pthread_cond_wait(&A.cv, &A.mu);
        stop = A.stop;
        pthread_mutex_unlock(&A.mu);
        if (!stop)
            nanosleep(&delay, NULL); /* let the batch fill: one write for many requests */
        flush_now();
        if (stop)
            return NULL;
    }
}

int accesslog_start(void)
{
    pthread_mutex_lock(&A.mu);
    buf_init(&A.batch, PIPE_BUF);
    buf_init(&A.spare, PIPE_BUF);
    A.stop = 0;
    if (pthread_create(&A.th, NULL, flusher, NULL) != 0) {
        buf_free(&A.batch);
        buf_free(&A.spare);
        pthread_mutex_unlock(&A.mu);
        return -1;
    }
    A.running = 1;
    pthread_mutex_unlock(&A.mu);
    return 0;
}

void accesslog_emit(buf_t *b)
{
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
    if (A.batch.len + b->len + 2 > BATCH_MAX) {
        /* full: this worker writes the batch, outside mu */
        pthread_mutex_unlock(&A.mu);
        flush_now();
        pthread_mutex_lock(&A.mu);
        if (!A.running || A.batch.len + b->len + 2 > BATCH_MAX) {
            pthread_mutex_unlock(&A.mu);
            log_emit(b);
            return;
        }
    }
    int was_empty = A.batch.len == 0;
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
    pthread_mutex_lock(&A.wmu);
    pthread_mutex_lock(&A.mu);
    A.running = 0;
    take_locked(); /* lines queued after the flusher's last write */
    pthread_mutex_unlock(&A.mu);
    write_spare();
    buf_free(&A.batch);
    buf_free(&A.spare);
    pthread_mutex_unlock(&A.wmu);
}
