/* spool_space: a full filesystem is backpressure, not failure (LS_SPOOL_NOSPACE in spool.h): this file
 * owns that state, the space reserve kept for cursor and position writes, the write-error counters and
 * the start-up probe of the spool directory. */
#include "logship/spool/spool_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "clock.h"
#include "fdio.h"
#include "log.h"

/* Kept free for cursor and position files while segments fill the disk:
 * each state-file write needs one new block until its rename frees the old
 * one, so 16 outputs and the positions file fit. */
#define RESERVE_BYTES (64u * 1024u)
#define RESERVE_NAME "space-reserve"
#define WERR_LOG_NS (60LL * 1000000000)   /* "still failing" log period */

int ls_spool_is_nospace_errno(int e)
{
    return e == ENOSPC || e == EDQUOT;
}

void ls_spool_update_blocked(struct ls_spool *sp)
{
    if (sp->m_blocked)
        metrics_set(sp->m_blocked, atomic_load_explicit(&sp->full, memory_order_relaxed) ||
                                   atomic_load_explicit(&sp->nospace, memory_order_relaxed));
}

/* (Re)make the reserve file. LS_SPOOL_OK, LS_SPOOL_NOSPACE, or LS_SPOOL_ERR
 * with errno set. */
static int reserve_make(struct ls_spool *sp)
{
    if (sp->reserve_held)
        return LS_SPOOL_OK;
    char path[LS_SPOOL_PATH_MAX];
    snprintf(path, sizeof(path), "%s/" RESERVE_NAME, sp->dir);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == RESERVE_BYTES &&
        (uint64_t)st.st_blocks * 512 >= RESERVE_BYTES) {
        sp->reserve_held = 1;
        return LS_SPOOL_OK;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return ls_spool_is_nospace_errno(errno) ? LS_SPOOL_NOSPACE : LS_SPOOL_ERR;
    static const char zeros[4096];
    size_t done = 0;
    int e = 0;
    while (done < RESERVE_BYTES) {
        size_t d = 0;
        int rc = fdio_write_all(fd, zeros, sizeof(zeros), &d, NULL);
        done += d;
        if (rc != 0) {
            e = errno;
            break;
        }
    }
    close(fd);
    if (done < RESERVE_BYTES) {
        (void)unlink(path);
        errno = e;
        return ls_spool_is_nospace_errno(e) ? LS_SPOOL_NOSPACE : LS_SPOOL_ERR;
    }
    sp->reserve_held = 1;
    return LS_SPOOL_OK;
}

/* Give the reserve's blocks to cursor and position writes. */
static void reserve_release(struct ls_spool *sp)
{
    char path[LS_SPOOL_PATH_MAX];
    snprintf(path, sizeof(path), "%s/" RESERVE_NAME, sp->dir);
    if (unlink(path) != 0 && errno != ENOENT)
        log_kv(LOGL_WARN, "spool: cannot release the space reserve", "path", path,
               "error", strerror(errno), NULL);
    sp->reserve_held = 0;
}

/* Count and log (the first time, then once per WERR_LOG_NS) a refused
 * segment write; returns the code for the caller. */
int ls_spool_write_failed(struct ls_spool *sp, int e, const char *what, const char *path)
{
    const char *reason = ls_spool_is_nospace_errno(e) ? "nospace" : "io";
    const char *v[1] = { reason };
    int64_t now = clock_mono_ns();
    if (sp->m_werr)
        metrics_family_add(sp->m_werr, v, 1);
    if (sp->werr_attempts++ == 0) {
        sp->werr_since_ns = now;
        sp->werr_logged_ns = now;
        if (ls_spool_is_nospace_errno(e))
            log_kv(LOGL_ERROR, "spool: filesystem full; reading paused until space returns (nothing is lost)",
                   "dir", sp->dir, "op", what, "path", path, "error", strerror(e), NULL);
        else
            log_kv(LOGL_ERROR, "spool: write failed; retrying", "dir", sp->dir, "op", what, "path", path,
                   "error", strerror(e), NULL);
    } else if (now - sp->werr_logged_ns >= WERR_LOG_NS) {
        char secs[24];
        char n[24];
        snprintf(secs, sizeof(secs), "%" PRId64, (now - sp->werr_since_ns) / 1000000000);
        ls_spool_u64s(n, sizeof(n), sp->werr_attempts);
        sp->werr_logged_ns = now;
        log_kv(LOGL_WARN, "spool: writes still failing", "dir", sp->dir, "op", what, "reason", reason,
               "error", strerror(e), "for_s", secs, "attempts", n, NULL);
    }
    if (!ls_spool_is_nospace_errno(e))
        return LS_SPOOL_ERR;
    if (!atomic_load_explicit(&sp->nospace, memory_order_relaxed)) {
        atomic_store_explicit(&sp->nospace, 1, memory_order_relaxed);
        ls_spool_update_blocked(sp);
    }
    if (sp->reserve_held)
        reserve_release(sp);
    return LS_SPOOL_NOSPACE;
}

/* A segment write worked: end a failure episode. */
void ls_spool_write_ok(struct ls_spool *sp)
{
    if (sp->werr_attempts == 0)
        return;
    char ms[24];
    char n[24];
    snprintf(ms, sizeof(ms), "%" PRId64, (clock_mono_ns() - sp->werr_since_ns) / 1000000);
    ls_spool_u64s(n, sizeof(n), sp->werr_attempts);
    log_kv(LOGL_INFO, "spool: writing again; reading resumed", "dir", sp->dir, "paused_ms", ms,
           "refused_writes", n, NULL);
    sp->werr_attempts = 0;
    if (atomic_load_explicit(&sp->nospace, memory_order_relaxed)) {
        atomic_store_explicit(&sp->nospace, 0, memory_order_relaxed);
        ls_spool_update_blocked(sp);
    }
}

/* Fail fast on a spool directory nothing can be written to, rather than
 * retrying forever; a full filesystem is only backpressure. */
int ls_spool_probe_dir(struct ls_spool *sp, char *err, size_t errlen)
{
    char path[LS_SPOOL_PATH_MAX];
    snprintf(path, sizeof(path), "%s/.probe-%ld", sp->dir, (long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0 && !ls_spool_is_nospace_errno(errno)) {
        snprintf(err, errlen, "spool: cannot write in %s: %s", sp->dir, strerror(errno));
        return -1;
    }
    if (fd >= 0) {
        close(fd);
        (void)unlink(path);
    }
    /* Restarted on a full disk: leave what is free to cursor writes (the
     * outputs must be able to acknowledge to free segments), as at runtime. */
    struct statvfs vf;
    if (fd < 0 || (statvfs(sp->dir, &vf) == 0 &&
                   (uint64_t)vf.f_bavail * vf.f_frsize < 2 * (uint64_t)RESERVE_BYTES)) {
        sp->reserve_held = 1; /* so that ls_spool_write_failed deletes a reserve left by the last run */
        (void)ls_spool_write_failed(sp, ENOSPC, "open", sp->dir);
        return 0;
    }
    int r = reserve_make(sp);
    if (r == LS_SPOOL_ERR) {
        snprintf(err, errlen, "spool: cannot write in %s: %s", sp->dir, strerror(errno));
        return -1;
    }
    if (r == LS_SPOOL_NOSPACE || fd < 0)
        (void)ls_spool_write_failed(sp, ENOSPC, "open", sp->dir);
    return 0;
}

int ls_spool_space_resume(struct ls_spool *sp)
{
    /* Resume only when the buffer and the reserve fit with a reserve's
     * worth to spare: else re-making the reserve would only take back
     * the blocks it just gave to cursor writes. (Quotas do not show
     * here; the write itself tells.) */
    struct statvfs vf;
    if (statvfs(sp->dir, &vf) == 0 &&
        (uint64_t)vf.f_bavail * vf.f_frsize < 2 * (uint64_t)RESERVE_BYTES + sp->wlen)
        return ls_spool_write_failed(sp, ENOSPC, "statvfs", sp->dir);
    /* Segment data never eats the reserve: it comes back first. */
    int r = reserve_make(sp);
    if (r == 0)
        return 0;
    int e = r == LS_SPOOL_NOSPACE ? ENOSPC : errno;
    char path[LS_SPOOL_PATH_MAX];
    snprintf(path, sizeof(path), "%s/" RESERVE_NAME, sp->dir);
    return ls_spool_write_failed(sp, e, "reserve", path);
}
