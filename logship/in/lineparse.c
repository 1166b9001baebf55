/* lineparse: input line → record (timestamp, canonical labels, repaired/truncated bytes); see lineparse.h. */
#include "logship/in/lineparse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonscan.h"
#include "utf8.h"
#include "logship/in/line_labels.h"
#include "timefmt.h"

struct ls_lineparse {
    size_t             max_line;
    enum ls_format     format;
    enum ls_on_invalid on_invalid;
    enum ls_on_long    on_long;
    struct ls_srcmetrics *m;

    struct ls_jfield *jf;       /* ts fields, then label fields */
    size_t            n_ts, n_lf;
    struct ls_line_labels labels;

    buf_t line;    /* repaired / truncated line */
};

/* ----------------------------------------------------------------- JSON --- */

/* The type letter of the value starting at p (see struct ls_jfield). */
static int value_type(char c)
{
    switch (c) {
    case '"':
        return 's';
    case '{':
        return 'o';
    case '[':
        return 'a';
    case 't':
        return 't';
    case 'f':
        return 'f';
    case 'n':
        return 'z';
    default:
        return 'n';
    }
}

/* Record the member the walk is at in every field of that name not yet
 * found; v..end is the value as scanned, vesc whether a string has escapes. */
static void fill_fields(const struct jsonscan_obj *o, const char *v, const char *end, int vesc,
                        struct ls_jfield *f, size_t nf)
{
    int type = value_type(*v);
    for (size_t i = 0; i < nf; i++) {
        if (f[i].type != 0 || !jsonscan_key_is(o, f[i].name, f[i].name_len))
            continue;
        f[i].type = type;
        f[i].esc = vesc;
        f[i].v = type == 's' ? v + 1 : v;
        f[i].vlen = type == 's' ? (size_t)(end - 1 - (v + 1)) : (size_t)(end - v);
    }
}

int ls_json_scan(const char *s, size_t n, struct ls_jfield *f, size_t nf)
{
    const char *e = s + n;
    for (size_t i = 0; i < nf; i++)
        f[i].type = 0;
    struct jsonscan_obj o;
    if (jsonscan_obj_open(&o, s, e) != 0)
        return -1;
    int r;
    while ((r = jsonscan_obj_next(&o)) == 1) {
        const char *v = o.p;
        int vesc = 0;
        o.p = *v == '"' ? jsonscan_string(v, e, &vesc) : jsonscan_value(v, e, JSONSCAN_MAX_DEPTH - 1);
        if (!o.p)
            return -1;
        fill_fields(&o, v, o.p, vesc, f, nf);
    }
    if (r != 0)
        return -1;
    return jsonscan_ws(o.p, e) == e ? 0 : -1;
}

/* ------------------------------------------------------------ timestamps --- */

/* Epoch nanoseconds from a decimal number without exponent in tmp: the
 * integer part and up to 9 fraction digits, exactly (a double would lose
 * nanoseconds); the unit follows from the integer part's size. 0 or -1. */
static int ts_decimal(const char *tmp, int64_t *ns)
{
    char *end;
    errno = 0;
    long long ll = strtoll(tmp, &end, 10);
    if (errno != 0 || ll < 0 || tmp[0] == '-')
        return -1;
    int64_t frac = 0;
    if (*end == '.') {
        const char *q = end + 1;
        int64_t mul = 100000000LL;
        while (*q >= '0' && *q <= '9') {
            frac += (*q - '0') * mul;
            mul /= 10;
            q++;
        }
        end = (char *)q;
    }
    if (*end != '\0')
        return -1;
    if (ll < 100000000000LL) {
        if (ll > INT64_MAX / 1000000000LL - 1)
            return -1;
        *ns = (int64_t)ll * 1000000000LL + frac;
        return 0;
    }
    int64_t scale = 1;
    if (ll < 100000000000000LL)
        scale = 1000000LL;
    else if (ll < 100000000000000000LL)
        scale = 1000LL;
    if ((int64_t)ll > (INT64_MAX - scale) / scale)
        return -1;
    *ns = (int64_t)ll * scale + (int64_t)((double)frac * (double)scale / 1e9);
    return 0;
}

/* The same for a number with an exponent, through a double. 0 or -1. */
static int ts_float(const char *tmp, int64_t *ns)
{
    char *end;
    double d = strtod(tmp, &end);
    if (*end != '\0' || !(d >= 0) || d >= 9.2e18)
        return -1;
    if (d < 1e11)
        d *= 1e9;
    else if (d < 1e14)
        d *= 1e6;
    else if (d < 1e17)
        d *= 1e3;
    if (d >= 9.2e18)
        return -1;
    *ns = (int64_t)d;
    return 0;
}

int ls_parse_ts_field(const struct ls_jfield *f, int64_t *ns)
{
    if (f->type == 's') {
        if (f->esc || f->vlen == 0)
            return -1;
        return timefmt_parse_rfc3339(f->v, f->vlen, ns);
    }
    char tmp[64];
    if (f->type != 'n' || f->vlen == 0 || f->vlen >= sizeof(tmp))
        return -1;
    memcpy(tmp, f->v, f->vlen);
    tmp[f->vlen] = '\0';
    return strpbrk(tmp, "eE") ? ts_float(tmp, ns) : ts_decimal(tmp, ns);
}

#define set_err(err, errlen, ...) \
    do { \
        if ((err) && (errlen) > 0) \
            snprintf((err), (errlen), __VA_ARGS__); \
    } while (0)

/* --------------------------------------------------------------- parser --- */

void ls_lineparse_free(struct ls_lineparse *lp)
{
    if (!lp)
        return;
    ls_line_labels_free(&lp->labels);
    for (size_t i = 0; lp->jf && i < lp->n_ts + lp->n_lf; i++)
        free((char *)lp->jf[i].name);
    free(lp->jf);
    buf_free(&lp->line);
    free(lp);
}

/* The fields the JSON scan looks for: ts[0..nts) then lf[0..nlf). 0, 1 with
 * err set on an empty name, -1 on OOM. */
static int fields_init(struct ls_lineparse *lp, const char *const *ts, size_t nts,
                       const char *const *lf, size_t nlf, char *err, size_t errlen)
{
    lp->jf = calloc(nts + nlf + 1, sizeof(*lp->jf));
    if (!lp->jf)
        return -1;
    lp->n_ts = nts;
    lp->n_lf = nlf;
    for (size_t i = 0; i < nts + nlf; i++) {
        const char *nm = i < nts ? ts[i] : lf[i - nts];
        if (!nm || nm[0] == '\0') {
            set_err(err, errlen, "%s", "empty field name in --ts-field/--label-field");
            return 1;
        }
        lp->jf[i].name = strdup(nm);
        if (!lp->jf[i].name)
            return -1;
        lp->jf[i].name_len = strlen(nm);
    }
    return 0;
}

struct ls_lineparse *ls_lineparse_new(const struct ls_parse_conf *pc, struct ls_srcmetrics *m,
                                      char *err, size_t errlen)
{
    static const char *const def_ts[] = {"ts", "time", "@timestamp"};
    static const char *const def_lf[] = {"level"};
    const char *const *ts = pc->ts_fields, *const *lf = pc->label_fields;
    size_t nts = pc->n_ts_fields, nlf = pc->n_label_fields;
    if (!ts || nts == 0) {
        ts = def_ts;
        nts = 3;
    }
    if (!lf) {
        lf = def_lf;
        nlf = 1;
    }
    if (pc->max_line_bytes != 0 && pc->max_line_bytes < LS_MIN_LINE_BYTES) {
        set_err(err, errlen, "max line bytes must be at least %s", "256");
        return NULL;
    }
    if (nlf > LS_MAX_LABELS || pc->n_static_labels > LS_MAX_LABELS) {
        set_err(err, errlen, "%s", "too many labels (Loki accepts at most 15)");
        return NULL;
    }
    struct ls_lineparse *lp = calloc(1, sizeof(*lp));
    int r = -1;
    if (lp) {
        lp->max_line = pc->max_line_bytes ? pc->max_line_bytes : 256 * 1024;
        lp->format = pc->format;
        lp->on_invalid = pc->on_invalid;
        lp->on_long = pc->on_long;
        lp->m = m;
        buf_init(&lp->line, lp->max_line);
        r = fields_init(lp, ts, nts, lf, nlf, err, errlen);
    }
    if (r == 0)
        r = ls_line_labels_init(&lp->labels, lf, nlf, pc->static_labels, pc->n_static_labels, err,
                                errlen);
    if (r < 0)
        set_err(err, errlen, "%s", "out of memory");
    if (r != 0) {
        ls_lineparse_free(lp);
        return NULL;
    }
    return lp;
}

/* Cut the line *p[0..*len) to fit max_line with the marker "…[truncated N
 * bytes]" (N: cut plus what is cut here) into lp->line. 0, or -1 on OOM. */
static int truncate_line(struct ls_lineparse *lp, const char **p, size_t *len, size_t cut)
{
    char marker[LS_TRUNC_RESERVE];
    size_t keep = utf8_floor(*p, *len, lp->max_line - LS_TRUNC_RESERVE);
    int mn = snprintf(marker, sizeof(marker), "\xE2\x80\xA6[truncated %zu bytes]",
                      cut + (*len - keep));
    if (*p != lp->line.p) {
        if (buf_add(&lp->line, *p, keep) != 0)
            return -1;
    } else {
        buf_truncate(&lp->line, keep);
    }
    if (mn > 0 && buf_add(&lp->line, marker, (size_t)mn) != 0)
        return -1;
    *p = lp->line.p;
    *len = lp->line.len;
    return 0;
}

/* The line's timestamp: the container's, else the first parsable ts field
 * (when json_ok), else the read time. */
static int64_t line_ts(const struct ls_lineparse *lp, const struct ls_line_in *in, int json_ok)
{
    int64_t ts = in->ts_ns;
    for (size_t i = 0; ts == 0 && json_ok && i < lp->n_ts; i++)
        if (lp->jf[i].type != 0 && ls_parse_ts_field(&lp->jf[i], &ts) != 0)
            ts = 0;
    return ts != 0 ? ts : in->read_ns;
}

int ls_lineparse_line(struct ls_lineparse *lp, const struct ls_line_in *in, struct ls_record *out)
{
    const char *p = in->p;
    size_t len = in->len, cut = in->cut;
    int truncated = cut > 0;
    if (len > 0 && p[len - 1] == '\r' && cut == 0)
        len--;
    if (len == 0 && cut == 0) {
        metrics_add(lp->m->drop_empty, 1);
        return 0;
    }
    if (truncated && lp->on_long == LS_LONG_DROP) {
        metrics_add(lp->m->drop_too_long, 1);
        return 0;
    }
    buf_reset(&lp->line);
    if (!utf8_clean(p, len)) {
        if (lp->on_invalid == LS_INVALID_DROP) {
            metrics_add(lp->m->drop_invalid, 1);
            return 0;
        }
        metrics_add(lp->m->invalid_encoding, 1);
        size_t used;
        if (utf8_repair(&lp->line, p, len, 0, &used) != 0) {
            if (lp->line.len + 2 * UTF8_REPL_LEN < lp->line.max) /* not the cap: OOM */
                return -1;
            /* the repaired line outgrew the cap: cut what did not fit */
            cut += len - used;
            truncated = 1;
        }
        p = lp->line.p;
        len = lp->line.len;
    }
    if (truncated || len > lp->max_line) {
        if (lp->on_long == LS_LONG_DROP) {
            metrics_add(lp->m->drop_too_long, 1);
            return 0;
        }
        if (truncate_line(lp, &p, &len, cut) != 0)
            return -1;
        truncated = 1;
        metrics_add(lp->m->truncated, 1);
    }
    int json_ok = 0;
    if (lp->format != LS_FORMAT_RAW && !truncated) {
        const char *q = p, *e = p + len;
        while (q < e && (*q == ' ' || *q == '\t'))
            q++;
        if (q < e && *q == '{')
            json_ok = ls_json_scan(p, len, lp->jf, lp->n_ts + lp->n_lf) == 0;
    }
    int64_t ts = line_ts(lp, in, json_ok);
    if (ls_line_labels_build(&lp->labels, in->stream, json_ok ? lp->jf + lp->n_ts : NULL) != 0)
        return -1;
    out->ts_ns = ts;
    out->labels = lp->labels.labels.p;
    out->labels_len = lp->labels.labels.len;
    out->line = p;
    out->line_len = len;
    return 1;
}
