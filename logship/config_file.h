/* config_file: logship's JSON config file (--config), read into "--key=value" arguments.
 *
 * The file is one JSON object whose keys are option names without dashes;
 * a list option takes a string or an array of strings, any other option one
 * string, number or boolean. Unknown keys, a nested "config", NUL inside a
 * string and other JSON types are errors, each naming the key, never a
 * value (it may be a secret). */
#ifndef LOGSHIP_CONFIG_FILE_H
#define LOGSHIP_CONFIG_FILE_H

#include <stddef.h>

#include "buf.h"
#include "cfg.h"

/* Append to args one NUL-terminated "--key=value" per value in the file at
 * path, checking keys against opts; *nargs counts them. 0, or -1 with a
 * one-line message in err. */
int ls_config_file_args(const struct cfg_opt *opts, size_t nopts, const char *path, buf_t *args, size_t *nargs,
                        char *err, size_t errlen);

/* The file named by --config FILE / --config=FILE on the command line (up
 * to "--"), else the environment variable env, else NULL. */
const char *ls_config_file_find(int argc, char **argv, const char *env);

#endif
