/* fdio: write-all and read-to-EOF over a file descriptor, the one copy of the EINTR/short-count loops. */
#include "fdio.h"

#include <errno.h>
#include <unistd.h>

int fdio_write_all(int fd, const void *p, size_t n, size_t *done, unsigned *short_writes)
{
    const char *c = p;
    size_t off = 0;
    int rc = 0;
    while (off < n) {
        ssize_t w = write(fd, c + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = ENOSPC;
            rc = -1;
            break;
        }
        if (short_writes && (size_t)w < n - off)
            (*short_writes)++;
        off += (size_t)w;
    }
    if (done)
        *done = off;
    return rc;
}

int fdio_read_all(int fd, buf_t *out, size_t max)
{
    char chunk[8192];
    size_t total = 0;
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        total += (size_t)r;
        if (total > max || buf_add(out, chunk, (size_t)r) != 0) {
            errno = EFBIG;
            return -1;
        }
    }
}
