/* auth: the outputs' credential and TLS options, declared once: the shared fallback, each kind's instance,
 * their checks and their resolution.
 *
 * One table (auth.c) declares the nine settings (username, password,
 * password file, bearer token file, API key, API key file, CA file, client
 * certificate and key) with their metavars and help. The shared options
 * (--username, ...) are that table as is; each output kind instantiates the
 * settings it takes as --<prefix>-<name> with the help "<Title> outputs
 * only: ...". Precedence (ls_auth_resolve): credentials are one group, the
 * certificate and key another, the CA file alone; a kind that gives any
 * member of a group (even "") uses only its own group; "" means none. */
#ifndef LOGSHIP_AUTH_H
#define LOGSHIP_AUTH_H

#include <stddef.h>
#include "cfg.h"

enum ls_auth_field {
    LS_AUTH_USERNAME = 0, LS_AUTH_PASSWORD, LS_AUTH_PASSWORD_FILE, LS_AUTH_BEARER_TOKEN_FILE, LS_AUTH_API_KEY,
    LS_AUTH_API_KEY_FILE, LS_AUTH_CA_FILE, LS_AUTH_CERT, LS_AUTH_KEY, LS_AUTH_NFIELDS
};
#define LS_AUTH_BIT(f) (1u << (f))

/* The values of one level (shared, or one kind). NULL = not given; "" =
 * given empty, which for a kind means "none for this kind". */
struct ls_kind_auth {
    char *username, *password, *password_file, *bearer_token_file, *api_key, *api_key_file, *ca_file,
         *cert, *key;
};

/* Which settings an output kind takes per kind, and how its help reads. */
struct ls_output_auth {
    const char *prefix;                  /* option prefix: "loki" gives --loki-username */
    const char *title;                   /* help starts "<title> outputs only: " */
    unsigned    fields;                  /* LS_AUTH_BIT() of each setting taken */
    const char *help[LS_AUTH_NFIELDS];   /* help after the title; NULL: the common text */
};

/* The cfg rows of one level, bound to its values (names and help live here). */
struct ls_auth_rows {
    struct cfg_opt opt[LS_AUTH_NFIELDS];
    enum ls_auth_field field[LS_AUTH_NFIELDS];
    size_t n;
    char name[LS_AUTH_NFIELDS][48];
    char help[LS_AUTH_NFIELDS][192];
};

struct ls_output_conf;

/* Fill rows with the options of kind (NULL: the shared ones) bound to a.
 * Returns 0, or -1 when a name or help text would not fit (a declaration
 * error, caught by every test that loads a configuration). */
int ls_auth_rows(const struct ls_output_auth *kind, struct ls_kind_auth *a, struct ls_auth_rows *rows);

/* Check one level's values (rows made by ls_auth_rows): header-safe, a
 * basic auth user without ':', a value or a file for one credential but not
 * both. 0, or -1 with a message naming the option, never the value. */
int ls_auth_check(const struct ls_auth_rows *rows, const struct ls_kind_auth *a, char *err, size_t errlen);

/* Resolve one output's credentials and TLS files from its kind's level and
 * the shared one into o (see above). Empty strings become NULL. Returns 0, or
 * -1 with a one-line message in err when the result is a username without a
 * password or password file (or the reverse) or a certificate without a key;
 * prefix names the kind's options in the message. Pointers in o point into
 * kind/shared. */
int ls_auth_resolve(const struct ls_kind_auth *kind, const struct ls_kind_auth *shared, const char *prefix,
                    struct ls_output_conf *o, char *err, size_t errlen);

/* Append to names (at most max in all, *n so far) the option names of the
 * secrets set (non-empty) in a: passwords, password files, token and key
 * files, API keys. The names live in rows. */
void ls_auth_secrets(const struct ls_auth_rows *rows, const struct ls_kind_auth *a, const char **names,
                     size_t *n, size_t max);

/* 0 when v (NULL: not given) can go into a request header: no CR, LF or
 * other control character but tab; else -1 with a message naming opt. */
int ls_auth_header_safe(const char *opt, const char *v, char *err, size_t errlen);

#endif
