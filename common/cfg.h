/* cfg: declarative configuration (flags, environment, --help) for both programs.
 *
 * Each option is declared once in a table, with its type, default, bounds and
 * help text (the fluent-bit config_map idea). From that one table come the
 * command-line parser, the environment-variable fallback (PREFIX_NAME, dashes
 * become underscores, upper case), --help, and the Markdown table in the
 * README (cfg_markdown). Precedence: built-in default < environment <
 * command line. Unknown flags and bad values are errors with one clear
 * message; the caller prints it and exits 2. */
#ifndef COMMON_CFG_H
#define COMMON_CFG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum cfg_type {
    CFG_STR,      /* char **dst; strdup'ed (free with cfg_free) */
    CFG_INT,      /* int64_t *dst; decimal, within [min,max] */
    CFG_BOOL,     /* int *dst; true/false/yes/no/on/off/1/0; a bare flag means true */
    CFG_SIZE,     /* uint64_t *dst; bytes, suffix k/K/KiB, m/M/MiB, g/G/GiB (powers of 1024) */
    CFG_DURATION, /* int64_t *dst; milliseconds; suffix ms, s, m, h (bare number = seconds) */
    CFG_ENUM,     /* int *dst; index into choices (NULL-terminated) */
    CFG_LIST,     /* struct cfg_list *dst; repeatable, each occurrence appends */
};

struct cfg_list {
    char  **items;
    size_t  n;
};

struct cfg_opt {
    const char *name;        /* long flag without dashes, e.g. "tls-port" */
    char        short_name;  /* 0 if none */
    enum cfg_type type;
    void       *dst;
    const char *def;         /* default as text (NULL: unset/empty); parsed like user input */
    int64_t     min, max;    /* bounds for INT/SIZE/DURATION; both 0 = unbounded;
                              * max < min (e.g. max left 0) = only a lower bound */
    const char *const *choices; /* CFG_ENUM */
    const char *metavar;     /* e.g. "PORT" for --help */
    const char *help;        /* one sentence */
};

/* One row of an option table kept apart from any instance: the cfg
 * declaration (dst left NULL) and the offset of its destination in the
 * settings struct it belongs to. cfg_bind turns rows plus a base pointer
 * into cfg_opt entries. flags is the caller's own marker (cfg never reads
 * it; logship marks options whose value goes into a request header). */
struct cfg_row {
    struct cfg_opt opt;
    size_t         offset;
    unsigned       flags;
};

/* Declare a row whose value lives in member field of struct type settings. */
#define CFG_ROW(settings, field, name, type, def, min, max, choices, metavar, help) \
    { { name, 0, type, NULL, def, min, max, choices, metavar, help }, offsetof(settings, field), 0 }

/* Where row's value lives in the settings struct at base. */
void *cfg_row_dst(const struct cfg_row *row, const void *base);

/* Bind rows[0..n) to the settings struct at base: append them to opts
 * (capacity cap entries, *used of them taken) with dst = base + offset, and
 * advance *used by n. Returns 0, or -1 with nothing written when the n rows
 * do not fit in the cap - *used entries left (never a write past cap). */
int cfg_bind(struct cfg_opt *opts, size_t cap, size_t *used, const struct cfg_row *rows, size_t n,
             void *base);

/* Apply defaults, then env (if env_prefix is not NULL), then argv[1..argc).
 * Flags are "--name value", "--name=value", "-x value"; "--" ends flags and
 * any non-flag argument is an error unless positional is not NULL, in which
 * case positional arguments are appended there.
 * "--help"/"-h" and "--version"/"-V" are recognised and reported by return
 * value, not handled. Returns:
 *   0  parsed;  1  --help asked;  2  --version asked;
 *  -1  error, with a one-line message (no trailing newline) in err. */
int cfg_parse(const struct cfg_opt *opts, size_t nopts, const char *env_prefix,
              int argc, char **argv, struct cfg_list *positional,
              char *err, size_t errlen);

/* Set one option from text, as if given on the command line (used by
 * logship's JSON config file). Unknown name → -1 with a message. */
int cfg_set(const struct cfg_opt *opts, size_t nopts, const char *name,
            const char *value, char *err, size_t errlen);

/* Find an option by name, NULL if unknown. */
const struct cfg_opt *cfg_find(const struct cfg_opt *opts, size_t nopts, const char *name);

/* Print usage: "Usage: prog [options]" + one line per option with metavar,
 * default, env name and help. */
void cfg_usage(FILE *out, const char *prog, const char *summary,
               const struct cfg_opt *opts, size_t nopts, const char *env_prefix);

/* Print the options as a Markdown table (flag | env | default | meaning). */
void cfg_markdown(FILE *out, const struct cfg_opt *opts, size_t nopts, const char *env_prefix);

/* Free CFG_STR and CFG_LIST storage. */
void cfg_free(const struct cfg_opt *opts, size_t nopts);

/* Parsers shared with other modules. 0 or -1. */
int cfg_parse_size(const char *s, uint64_t *out);
int cfg_parse_duration_ms(const char *s, int64_t *out);
int cfg_parse_int(const char *s, int64_t *out);

#endif
