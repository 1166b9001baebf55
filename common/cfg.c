/* cfg: one option table → defaults, environment, command line, --help and the README table. */
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ENV_NAME_MAX 128

static void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int cfg_parse_int(const char *s, int64_t *out)
{
    char *end;
    if (!s || *s == '\0' || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s)
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* Leading unsigned decimal digits of s into *v; returns the rest, or NULL
 * when there are no digits or the value overflows. */
static const char *parse_u64(const char *s, uint64_t *v)
{
    uint64_t x = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        if (x > (UINT64_MAX - d) / 10)
            return NULL;
        x = x * 10 + d;
        p++;
    }
    if (p == s)
        return NULL;
    *v = x;
    return p;
}

struct unit_suffix {
    const char *suf;
    uint64_t mul;
};

/* v followed by one of the suffixes in t (all of rest must match one): v * mul into *out when it
 * stays within limit. 0, or -1 for an unknown suffix or an overflow. */
static int apply_suffix(const char *s, const struct unit_suffix *t, size_t n, uint64_t limit, uint64_t *out)
{
    uint64_t v;
    if (!s)
        return -1;
    const char *rest = parse_u64(s, &v);
    if (!rest)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rest, t[i].suf) != 0)
            continue;
        if (v > limit / t[i].mul)
            return -1;
        *out = v * t[i].mul;
        return 0;
    }
    return -1;
}

int cfg_parse_size(const char *s, uint64_t *out)
{
    static const struct unit_suffix sufs[] = {
        {"", 1}, {"b", 1}, {"B", 1},
        {"k", 1ull << 10}, {"K", 1ull << 10}, {"KiB", 1ull << 10}, {"KB", 1ull << 10}, {"kB", 1ull << 10},
        {"m", 1ull << 20}, {"M", 1ull << 20}, {"MiB", 1ull << 20}, {"MB", 1ull << 20},
        {"g", 1ull << 30}, {"G", 1ull << 30}, {"GiB", 1ull << 30}, {"GB", 1ull << 30},
    };
    return apply_suffix(s, sufs, sizeof(sufs) / sizeof(sufs[0]), UINT64_MAX, out);
}

int cfg_parse_duration_ms(const char *s, int64_t *out)
{
    static const struct unit_suffix sufs[] = {
        {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
    };
    uint64_t v;
    if (apply_suffix(s, sufs, sizeof(sufs) / sizeof(sufs[0]), (uint64_t)INT64_MAX, &v) != 0)
        return -1;
    *out = (int64_t)v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const t[] = {"true", "yes", "on", "1"}, *const f[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, t[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, f[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int list_add(struct cfg_list *l, const char *s, size_t n)
{
    char *dup = strndup(s, n);
    if (!dup)
        return -1;
    char **items = realloc(l->items, (l->n + 1) * sizeof(*items));
    if (!items) {
        free(dup);
        return -1;
    }
    items[l->n++] = dup;
    l->items = items;
    return 0;
}

static void list_clear(struct cfg_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* Comma-separated items (empty ones skipped) appended to l. */
static int list_add_csv(struct cfg_list *l, const char *s)
{
    while (*s) {
        size_t n = strcspn(s, ",");
        if (n > 0 && list_add(l, s, n) != 0)
            return -1;
        s += n;
        if (*s == ',')
            s++;
    }
    return 0;
}

/* v made safe for a one-line message: control bytes become '?', and long
 * values are shortened with "...". */
static const char *shown(const char *v, char *out, size_t outlen)
{
    size_t n = 0;
    for (; *v && n + 4 < outlen; v++)
        out[n++] = (unsigned char)*v < 0x20 || *v == 0x7f ? '?' : *v;
    if (*v) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

/* Bounds text for error messages: "" or " between A and B". */
static void bounds_text(const struct cfg_opt *o, char *t, size_t tl)
{
    t[0] = '\0';
    if (o->max < o->min)
        (void)snprintf(t, tl, " of at least %" PRId64, o->min);
    else if (o->min != 0 || o->max != 0)
        (void)snprintf(t, tl, " between %" PRId64 " and %" PRId64, o->min, o->max);
}

static int in_bounds(const struct cfg_opt *o, int64_t v)
{
    if (o->max < o->min) /* only a lower bound (max left 0) */
        return v >= o->min;
    return (o->min == 0 && o->max == 0) || (v >= o->min && v <= o->max);
}

static int no_memory(const char *label, char *err, size_t errlen)
{
    errf(err, errlen, "out of memory setting %s", label);
    return -1;
}

/* Set o from text. csv: a list value is comma-separated (defaults and env)
 * rather than one item. label names the source in messages. */
static int set_value(const struct cfg_opt *o, const char *v, int csv, const char *label,
                     char *err, size_t errlen)
{
    char bt[80];
    bounds_text(o, bt, sizeof(bt));
    char sv[96];
    const char *raw = v;
    int64_t i64;
    switch (o->type) {
    case CFG_STR: {
        char *dup = strdup(v);
        if (!dup)
            return no_memory(label, err, errlen);
        free(*(char **)o->dst);
        *(char **)o->dst = dup;
        return 0;
    }
    case CFG_INT:
        if (cfg_parse_int(v, &i64) != 0 || !in_bounds(o, i64)) {
            errf(err, errlen, "invalid value for %s: \"%s\" (expected an integer%s)",
                 label, shown(raw, sv, sizeof(sv)), bt);
            return -1;
        }
        *(int64_t *)o->dst = i64;
        return 0;
    case CFG_BOOL: {
        int b;
        if (parse_bool(v, &b) != 0) {
            errf(err, errlen, "invalid value for %s: \"%s\" (expected true or false)",
                 label, shown(raw, sv, sizeof(sv)));
            return -1;
        }
        *(int *)o->dst = b;
        return 0;
    }
    case CFG_SIZE: {
        uint64_t u64;
        if (cfg_parse_size(v, &u64) != 0 || u64 > INT64_MAX || !in_bounds(o, (int64_t)u64)) {
            errf(err, errlen,
                 "invalid value for %s: \"%s\" (expected a size in bytes%s, suffix KiB, MiB or GiB)",
                 label, shown(raw, sv, sizeof(sv)), bt);
            return -1;
        }
        *(uint64_t *)o->dst = u64;
        return 0;
    }
    case CFG_DURATION:
        if (cfg_parse_duration_ms(v, &i64) != 0 || !in_bounds(o, i64)) {
            errf(err, errlen,
                 "invalid value for %s: \"%s\" (expected a duration like 500ms, 30s, 5m, 1h%s%s)",
                 label, shown(raw, sv, sizeof(sv)), bt[0] ? "; in milliseconds" : "", bt);
            return -1;
        }
        *(int64_t *)o->dst = i64;
        return 0;
    case CFG_ENUM:
        for (int k = 0; o->choices && o->choices[k]; k++) {
            if (strcmp(v, o->choices[k]) == 0) {
                *(int *)o->dst = k;
                return 0;
            }
        }
        {
            char cs[256];
            size_t n = 0;
            cs[0] = '\0';
            for (int k = 0; o->choices && o->choices[k] && n < sizeof(cs); k++) {
                int w = snprintf(cs + n, sizeof(cs) - n, "%s%s", k ? ", " : "", o->choices[k]);
                if (w < 0)
                    break;
                n += (size_t)w;
            }
            errf(err, errlen, "invalid value for %s: \"%s\" (expected one of: %s)",
                 label, shown(raw, sv, sizeof(sv)), cs);
        }
        return -1;
    case CFG_LIST:
        if ((csv ? list_add_csv(o->dst, v) : list_add(o->dst, v, strlen(v))) != 0)
            return no_memory(label, err, errlen);
        return 0;
    }
    errf(err, errlen, "option %s has an unknown type", label);
    return -1;
}

static void reset_value(const struct cfg_opt *o)
{
    switch (o->type) {
    case CFG_STR: *(char **)o->dst = NULL; break;
    case CFG_INT: case CFG_DURATION: *(int64_t *)o->dst = 0; break;
    case CFG_SIZE: *(uint64_t *)o->dst = 0; break;
    case CFG_BOOL: case CFG_ENUM: *(int *)o->dst = 0; break;
    case CFG_LIST: ((struct cfg_list *)o->dst)->items = NULL; ((struct cfg_list *)o->dst)->n = 0; break;
    }
}

static void env_name(const char *prefix, const char *name, char *out, size_t outlen)
{
    size_t n = 0;
    for (const char *p = prefix; *p && n + 1 < outlen; p++)
        out[n++] = *p;
    if (n + 1 < outlen)
        out[n++] = '_';
    for (const char *p = name; *p && n + 1 < outlen; p++)
        out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

const struct cfg_opt *cfg_find(const struct cfg_opt *opts, size_t nopts, const char *name)
{
    for (size_t i = 0; i < nopts; i++)
        if (strcmp(opts[i].name, name) == 0)
            return &opts[i];
    return NULL;
}

static const struct cfg_opt *find_n(const struct cfg_opt *opts, size_t nopts, const char *name, size_t n)
{
    for (size_t i = 0; i < nopts; i++)
        if (strncmp(opts[i].name, name, n) == 0 && opts[i].name[n] == '\0')
            return &opts[i];
    return NULL;
}

int cfg_set(const struct cfg_opt *opts, size_t nopts, const char *name, const char *value,
            char *err, size_t errlen)
{
    const struct cfg_opt *o = cfg_find(opts, nopts, name);
    if (!o) {
        char sn[96];
        errf(err, errlen, "unknown option %s", shown(name, sn, sizeof(sn)));
        return -1;
    }
    return set_value(o, value, 0, name, err, errlen);
}

int cfg_parse(const struct cfg_opt *opts, size_t nopts, const char *env_prefix,
              int argc, char **argv, struct cfg_list *positional, char *err, size_t errlen)
{
    char label[ENV_NAME_MAX + 8];
    int rc = -1;
    unsigned char *from_argv = calloc(nopts ? nopts : 1, 1); /* list replaced on first use */
    if (!from_argv) {
        errf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < nopts; i++) {
        reset_value(&opts[i]);
        if (!opts[i].def)
            continue;
        (void)snprintf(label, sizeof(label), "--%s (default)", opts[i].name);
        if (set_value(&opts[i], opts[i].def, 1, label, err, errlen) != 0)
            goto out;
    }
    for (size_t i = 0; env_prefix && i < nopts; i++) {
        env_name(env_prefix, opts[i].name, label, sizeof(label));
        const char *v = getenv(label);
        if (!v)
            continue;
        if (opts[i].type == CFG_LIST)
            list_clear(opts[i].dst);
        if (set_value(&opts[i], v, 1, label, err, errlen) != 0)
            goto out;
    }
    int flags = 1;
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        const struct cfg_opt *o = NULL;
        const char *val = NULL;
        if (!flags || arg[0] != '-' || arg[1] == '\0') {
            if (!positional) {
                char sa[96];
                errf(err, errlen, "unexpected argument \"%s\"", shown(arg, sa, sizeof(sa)));
                goto out;
            }
            if (list_add(positional, arg, strlen(arg)) != 0) {
                errf(err, errlen, "out of memory");
                goto out;
            }
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            flags = 0;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            rc = 1;
            goto out;
        }
        if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0) {
            rc = 2;
            goto out;
        }
        int negated = 0;
        if (arg[1] == '-') {
            const char *name = arg + 2, *eq = strchr(name, '=');
            size_t n = eq ? (size_t)(eq - name) : strlen(name);
            o = find_n(opts, nopts, name, n);
            if (!o && n > 3 && strncmp(name, "no-", 3) == 0) {
                o = find_n(opts, nopts, name + 3, n - 3);
                if (o && o->type == CFG_BOOL && !eq)
                    negated = 1;
                else
                    o = NULL;
            }
            if (!o) {
                char nm[80], sn[96];
                (void)snprintf(nm, sizeof(nm), "%.*s", (int)(n > 79 ? 79 : n), name);
                errf(err, errlen, "unknown option --%s", shown(nm, sn, sizeof(sn)));
                goto out;
            }
            if (eq)
                val = eq + 1;
        } else {
            for (size_t i = 0; i < nopts && !o; i++)
                if (opts[i].short_name != 0 && opts[i].short_name == arg[1])
                    o = &opts[i];
            if (!o || arg[2] != '\0') {
                char sn[96];
                errf(err, errlen, "unknown option %s", shown(arg, sn, sizeof(sn)));
                goto out;
            }
        }
        (void)snprintf(label, sizeof(label), "--%s", o->name);
        if (!val && o->type == CFG_BOOL) {
            val = negated ? "false" : "true";
        } else if (!val) {
            if (a + 1 >= argc) {
                errf(err, errlen, "option %s requires a value", label);
                goto out;
            }
            val = argv[++a];
        }
        if (o->type == CFG_LIST && !from_argv[o - opts]) {
            list_clear(o->dst);
            from_argv[o - opts] = 1;
        }
        if (set_value(o, val, 0, label, err, errlen) != 0)
            goto out;
    }
    rc = 0;
out:
    free(from_argv);
    return rc;
}

/* Default shown in --help and the README. */
static const char *def_text(const struct cfg_opt *o)
{
    if (o->def && o->def[0] != '\0')
        return o->def;
    return o->type == CFG_BOOL ? "false" : NULL;
}

void cfg_usage(FILE *out, const char *prog, const char *summary,
               const struct cfg_opt *opts, size_t nopts, const char *env_prefix)
{
    char env[ENV_NAME_MAX];
    fprintf(out, "Usage: %s [options]\n", prog);
    if (summary)
        fprintf(out, "%s\n", summary);
    fprintf(out, "\nOptions:\n");
    for (size_t i = 0; i < nopts; i++) {
        const struct cfg_opt *o = &opts[i];
        char flag[160];
        const char *mv = o->type == CFG_BOOL ? "" : (o->metavar ? o->metavar : "VALUE");
        if (o->short_name)
            (void)snprintf(flag, sizeof(flag), "-%c, --%s%s%s", o->short_name, o->name,
                           mv[0] ? " " : "", mv);
        else
            (void)snprintf(flag, sizeof(flag), "    --%s%s%s", o->name, mv[0] ? " " : "", mv);
        fprintf(out, "  %-30s %s", flag, o->help ? o->help : "");
        const char *d = def_text(o);
        fprintf(out, " (");
        if (d)
            fprintf(out, "default: %s", d);
        if (o->type == CFG_LIST)
            fprintf(out, "%srepeatable", d ? "; " : "");
        if (env_prefix) {
            env_name(env_prefix, o->name, env, sizeof(env));
            fprintf(out, "%senv: %s", d || o->type == CFG_LIST ? "; " : "", env);
        }
        fprintf(out, ")\n");
    }
    fprintf(out, "  %-30s %s\n", "-h, --help", "Show this help and exit.");
    fprintf(out, "  %-30s %s\n", "-V, --version", "Show the version and exit.");
}

static void md_cell(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|')
            fputs("\\|", out);
        else if (*s == '\n')
            fputc(' ', out);
        else
            fputc(*s, out);
    }
}

void cfg_markdown(FILE *out, const struct cfg_opt *opts, size_t nopts, const char *env_prefix)
{
    char env[ENV_NAME_MAX];
    fprintf(out, "| Flag | Environment | Default | Meaning |\n|---|---|---|---|\n");
    for (size_t i = 0; i < nopts; i++) {
        const struct cfg_opt *o = &opts[i];
        const char *d = def_text(o);
        fprintf(out, "| `--%s", o->name);
        if (o->type != CFG_BOOL) {
            fputc(' ', out);
            md_cell(out, o->metavar ? o->metavar : "VALUE");
        }
        fprintf(out, "` | ");
        if (env_prefix) {
            env_name(env_prefix, o->name, env, sizeof(env));
            fprintf(out, "`%s`", env);
        }
        fprintf(out, " | ");
        if (d) {
            fputc('`', out);
            md_cell(out, d);
            fputc('`', out);
        }
        fprintf(out, " | ");
        md_cell(out, o->help);
        if (o->type == CFG_ENUM && o->choices) {
            fprintf(out, " One of:");
            for (int k = 0; o->choices[k]; k++) {
                fprintf(out, "%s `", k ? "," : "");
                md_cell(out, o->choices[k]);
                fputc('`', out);
            }
            fputc('.', out);
        }
        if (o->type == CFG_LIST)
            fprintf(out, " Repeatable.");
        fprintf(out, " |\n");
    }
}

void cfg_free(const struct cfg_opt *opts, size_t nopts)
{
    for (size_t i = 0; i < nopts; i++) {
        if (opts[i].type == CFG_STR) {
            free(*(char **)opts[i].dst);
            *(char **)opts[i].dst = NULL;
        } else if (opts[i].type == CFG_LIST) {
            list_clear(opts[i].dst);
        }
    }
}

void *cfg_row_dst(const struct cfg_row *row, const void *base)
{
    return (char *)base + row->offset;
}

int cfg_bind(struct cfg_opt *opts, size_t cap, size_t *used, const struct cfg_row *rows, size_t n,
             void *base)
{
    if (*used > cap || n > cap - *used)
        return -1;
    for (size_t i = 0; i < n; i++) {
        opts[*used] = rows[i].opt;
        opts[(*used)++].dst = cfg_row_dst(&rows[i], base);
    }
    return 0;
}
