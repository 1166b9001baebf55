/* fdio: the two descriptor loops every file user needs (write all of a buffer, read a small file to
 * its end), retrying EINTR and short counts in one place instead of one private loop per caller. */
#ifndef COMMON_FDIO_H
#define COMMON_FDIO_H

#include <stddef.h>

#include "buf.h"

/* Write p[0..n) to fd, retrying EINTR and short writes. 0 when all of it went; -1 with errno set
 * otherwise (ENOSPC when write(2) returned 0). When done is not NULL, *done is the count of bytes
 * written either way (a caller cuts a partial write back with it). *short_writes, when not NULL,
 * is incremented once per write(2) that wrote less than asked. */
int fdio_write_all(int fd, const void *p, size_t n, size_t *done, unsigned *short_writes);

/* Append fd's bytes from its current offset to EOF to out, retrying EINTR. 0 at EOF; -1 with errno
 * set on a read error, or with EFBIG once more than max bytes came (or out refused them: its own
 * cap or memory). out then holds what was appended so far. */
int fdio_read_all(int fd, buf_t *out, size_t max);

#endif
