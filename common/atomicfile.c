/* atomicfile: atomic, durable replacement of small state files (temp + fsync + rename + fsync dir). */
#include "atomicfile.h"

#include "fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* fsync the directory that holds path, so a rename in it is durable. */
static int fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');

    if (!slash) {
        dir[0] = '.';
        dir[1] = '\0';
    } else if (slash == path) {
        dir[0] = '/';
        dir[1] = '\0';
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof(dir)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    return atomicfile_fsync_dir(dir);
}

int atomicfile_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* Temp file, write, [fsync], rename, [fsync(dir)]. */
static int replace(const char *path, const void *data, size_t len, int durable, mode_t mode)
{
    int fd = -1, rc = -1, saved = 0, n;

    char tmp[PATH_MAX];
    n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    (void)unlink(tmp); /* a leftover of a crashed write must not lend its mode */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    if (fdio_write_all(fd, data, len, NULL, NULL) != 0)
        goto out;
    if (durable && fsync(fd) != 0)
        goto out;
    if (close(fd) != 0) {
        fd = -1;
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto out;
    if (durable && fsync_parent(path) != 0)
        goto out_renamed;
    return 0;
out:
    saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = saved;
    return rc;
out_renamed:
    /* The new content is in place but its rename may not survive a crash. */
    return rc;
}

int atomicfile_read(const char *path, buf_t *out)
{
    struct stat st;
    int fd, rc = -1, saved = 0;

    buf_reset(out);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 1 : -1;
    if (fstat(fd, &st) != 0)
        goto out;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        goto out;
    }
    if (fdio_read_all(fd, out, ATOMICFILE_MAX) != 0)
        goto out;
    rc = 0;
out:
    saved = errno;
    close(fd);
    if (rc != 0)
        buf_reset(out);
    errno = saved;
    return rc;
}

int atomicfile_write(const char *path, const void *data, size_t len)
{
    return replace(path, data, len, 1, 0640);
}

int atomicfile_replace(const char *path, const void *data, size_t len)
{
    return replace(path, data, len, 0, 0640);
}

int atomicfile_write_mode(const char *path, const void *data, size_t len, mode_t mode)
{
    return replace(path, data, len, 1, mode);
}
