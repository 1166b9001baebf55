/* tmpdir: the C tests' scratch directories (spool dirs, state dirs) emptied and removed in one
 * place, instead of a readdir loop in every test's teardown. */
#ifndef TESTS_LIB_TMPDIR_H
#define TESTS_LIB_TMPDIR_H

/* Unlink every entry of dir (one level: the tests only make files there). Errors are ignored:
 * this is cleanup after a test, and a leftover file only costs disk. */
void tmpdir_empty(const char *dir);

/* tmpdir_empty, then rmdir. */
void tmpdir_remove(const char *dir);

#endif
