/* atomicfile: small state files replaced atomically, so a crash at any instant
 * leaves either the old or the new content on disk, never a torn mix.
 *
 * logship's positions, spool cursors and marks, and hellod's generated
 * certificate, all go through here. The write sequence is the one redis and every
 * database use: write a temp file in the same directory, fsync it, rename it
 * over the target, fsync the directory so the rename itself is durable. */
#ifndef COMMON_ATOMICFILE_H
#define COMMON_ATOMICFILE_H

#include <stddef.h>
#include <sys/types.h>
#include "buf.h"

/* Largest state file atomicfile_read accepts (a larger one is an error). */
#define ATOMICFILE_MAX (16u * 1024 * 1024)

/* Replace path with data[0..len) atomically and durably: temp file
 * "<path>.tmp.<pid>" in the same directory, write, fsync, rename, fsync(dir).
 * Returns 0, or -1 with errno set (the old content of path is untouched and
 * the temp file is removed). The caller logs. */
int atomicfile_write(const char *path, const void *data, size_t len);

/* atomicfile_write with the new file's permission bits (atomicfile_write
 * uses 0640), e.g. 0600 for a private key. */
int atomicfile_write_mode(const char *path, const void *data, size_t len, mode_t mode);

/* Like atomicfile_write without the two fsyncs: atomic against a process
 * crash (rename), not durable across a power loss; for marks that are cheap
 * to lose and written often (the spool's in-flight mark). 0 or -1 (errno). */
int atomicfile_replace(const char *path, const void *data, size_t len);

/* Read the whole file into out (which is reset first; out's own cap applies
 * on top of ATOMICFILE_MAX). Returns 0 when read, 1 when the file does not
 * exist (out left empty), -1 on any other error (errno set; EFBIG when too
 * large). Leftover temp files of an interrupted write are ignored. */
int atomicfile_read(const char *path, buf_t *out);

/* fsync the directory dir, so a create, rename or unlink in it is durable.
 * 0, or -1 with errno set. */
int atomicfile_fsync_dir(const char *dir);

#endif
