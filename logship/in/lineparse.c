/* lineparse: input line → record (timestamp, canonical labels, repaired/truncated bytes); see lineparse.h. */
#include "logship/in/lineparse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static const char *skip_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* 1 for the bytes that end a run of plain string bytes: '"', '\\', controls. */
static const unsigned char str_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['\\'] = 1,
};

/* p at '"'. Returns the byte after the closing quote, or NULL. */
static const char *scan_string(const char *p, const char *e, int *esc)
{
    p++;
    while (p < e) {
        unsigned char c;
        while (e - p >= 4 && !str_stop[(unsigned char)p[0]] && !str_stop[(unsigned char)p[1]] &&
               !str_stop[(unsigned char)p[2]] && !str_stop[(unsigned char)p[3]])
            p += 4;
        if (p >= e)
            break;
        c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c == '\\') {
            *esc = 1;
            if (e - p < 2)
                return NULL;
            c = (unsigned char)p[1];
            if (c == 'u') {
                if (e - p < 6 || hexval(p[2]) < 0 || hexval(p[3]) < 0 || hexval(p[4]) < 0 ||
                    hexval(p[5]) < 0)
                    return NULL;
                p += 6;
            } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' ||
                       c == 'r' || c == 't') {
                p += 2;
            } else {
                return NULL;
            }
            continue;
        }
        if (c < 0x20)
            return NULL;
        p++;
    }
    return NULL;
}

static const char *scan_digits(const char *p, const char *e)
{
    const char *s = p;
    while (p < e && *p >= '0' && *p <= '9')
        p++;
    return p > s ? p : NULL;
}

/* JSON number grammar. Returns the byte after it, or NULL. */
static const char *scan_number(const char *p, const char *e)
{
    if (p < e && *p == '-')
        p++;
    if (p >= e)
        return NULL;
    if (*p == '0')
        p++;
    else if ((p = scan_digits(p, e)) == NULL)
        return NULL;
    if (p < e && *p == '.') {
        if ((p = scan_digits(p + 1, e)) == NULL)
            return NULL;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if ((p = scan_digits(p, e)) == NULL)
            return NULL;
    }
    return p;
}

static const char *scan_lit(const char *p, const char *e, const char *lit, size_t n)
{
    if ((size_t)(e - p) < n || memcmp(p, lit, n) != 0)
        return NULL;
    return p + n;
}

/* Skip one JSON value at p (after whitespace), nested at most depth_left
 * levels. Returns the byte after it, or NULL when malformed. */
static const char *skip_value(const char *p, const char *e, int depth_left)
{
    char stack[LS_JSON_MAX_DEPTH];
    int sp = 0, esc = 0;

    for (;;) {
        p = skip_ws(p, e);
        if (p >= e)
            return NULL;
        switch (*p) {
        case '{':
        case '[':
            if (sp >= depth_left || sp >= LS_JSON_MAX_DEPTH)
                return NULL;
            stack[sp++] = *p;
            p = skip_ws(p + 1, e);
            if (p < e && *p == (stack[sp - 1] == '{' ? '}' : ']')) {
                p++;
                sp--;
                goto after_value;
            }
            if (stack[sp - 1] == '{')
                goto key;
            continue;
        case '"':
            p = scan_string(p, e, &esc);
            break;
        case 't':
            p = scan_lit(p, e, "true", 4);
            break;
        case 'f':
            p = scan_lit(p, e, "false", 5);
            break;
        case 'n':
            p = scan_lit(p, e, "null", 4);
            break;
        default:
            p = scan_number(p, e);
            break;
        }
        if (!p)
            return NULL;
    after_value:
        if (sp == 0)
            return p;
        p = skip_ws(p, e);
        if (p >= e)
            return NULL;
        if (*p == ',') {
            p = skip_ws(p + 1, e);
            if (stack[sp - 1] == '{')
                goto key;
            continue;
        }
        if (*p == (stack[sp - 1] == '{' ? '}' : ']')) {
            p++;
            sp--;
            goto after_value;
        }
        return NULL;
    key:
        if (p >= e || *p != '"')
            return NULL;
        p = scan_string(p, e, &esc);
        if (!p)
            return NULL;
        p = skip_ws(p, e);
        if (p >= e || *p != ':')
            return NULL;
        p++;
    }
}

/* Does the raw (possibly escaped) key equal name? */
static int key_eq(const char *k, size_t klen, int kesc, const char *name, size_t nlen)
{
    buf_t b;
    int eq;

    if (!kesc)
        return klen == nlen && memcmp(k, name, nlen) == 0;
    if (klen > nlen * 6 + 6)
        return 0;
    buf_init(&b, nlen * 4 + 8);
    if (ls_json_unescape(k, klen, &b) != 0) {
        buf_free(&b);
        return 0;
    }
    eq = b.len == nlen && b.p && memcmp(b.p, name, nlen) == 0;
    buf_free(&b);
    return eq;
}

int ls_json_scan(const char *s, size_t n, struct ls_jfield *f, size_t nf)
{
    const char *p = s, *e = s + n;
    size_t i;

    for (i = 0; i < nf; i++)
        f[i].type = 0;
    p = skip_ws(p, e);
    if (p >= e || *p != '{')
        return -1;
    p = skip_ws(p + 1, e);
    if (p < e && *p == '}') {
        p++;
        goto end;
    }
    for (;;) {
        const char *k, *v;
        size_t klen;
        int kesc = 0, vesc = 0, type;

        if (p >= e || *p != '"')
            return -1;
        k = p + 1;
        p = scan_string(p, e, &kesc);
        if (!p)
            return -1;
        klen = (size_t)(p - 1 - k);
        p = skip_ws(p, e);
        if (p >= e || *p != ':')
            return -1;
        p = skip_ws(p + 1, e);
        if (p >= e)
            return -1;
        v = p;
        if (*p == '"') {
            type = 's';
            p = scan_string(p, e, &vesc);
        } else {
            switch (*p) {
            case '{': type = 'o'; break;
            case '[': type = 'a'; break;
            case 't': type = 't'; break;
            case 'f': type = 'f'; break;
            case 'n': type = 'z'; break;
            default:  type = 'n'; break;
            }
            p = skip_value(p, e, LS_JSON_MAX_DEPTH - 1);
        }
        if (!p)
            return -1;
        for (i = 0; i < nf; i++) {
            if (f[i].type == 0 && key_eq(k, klen, kesc, f[i].name, f[i].name_len)) {
                f[i].type = type;
                f[i].esc = vesc;
                if (type == 's') {
                    f[i].v = v + 1;
                    f[i].vlen = (size_t)(p - 1 - (v + 1));
                } else {
                    f[i].v = v;
                    f[i].vlen = (size_t)(p - v);
                }
            }
        }
        p = skip_ws(p, e);
        if (p < e && *p == ',') {
            p = skip_ws(p + 1, e);
            continue;
        }
        if (p < e && *p == '}') {
            p++;
            break;
        }
        return -1;
    }
end:
    p = skip_ws(p, e);
    return p == e ? 0 : -1;
}

static int put_cp(buf_t *out, uint32_t cp)
{
    char u[4];
    size_t n;

    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return buf_add(out, u, n);
}

static int hex4(const char *p, const char *e, uint32_t *cp)
{
    uint32_t v = 0;
    int i;
    if (e - p < 4)
        return -1;
    for (i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = (v << 4) | (uint32_t)h;
    }
    *cp = v;
    return 0;
}

int ls_json_unescape(const char *raw, size_t n, buf_t *out)
{
    const char *p = raw, *e = raw + n;

    while (p < e) {
        const char *bs = memchr(p, '\\', (size_t)(e - p));
        size_t run = bs ? (size_t)(bs - p) : (size_t)(e - p);
        char c;

        if (run > 0 && buf_add(out, p, run) != 0)
            return -1;
        p += run;
        if (p >= e)
            break;
        if (e - p < 2) { /* lone trailing backslash: keep it */
            if (buf_addc(out, '\\') != 0)
                return -1;
            break;
        }
        c = p[1];
        p += 2;
        switch (c) {
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (hex4(p, e, &cp) != 0) {
                if (buf_add(out, UTF8_REPL, UTF8_REPL_LEN) != 0)
                    return -1;
                continue;
            }
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (e - p >= 6 && p[0] == '\\' && p[1] == 'u' && hex4(p + 2, e, &lo) == 0 &&
                    lo >= 0xDC00 && lo <= 0xDFFF) {
                    p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else {
                    cp = 0xFFFD;
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                cp = 0xFFFD;
            }
            if (put_cp(out, cp) != 0)
                return -1;
            continue;
        }
        default: break; /* '"', '\\', '/' and anything else: the char itself */
        }
        if (buf_addc(out, c) != 0)
            return -1;
    }
    return 0;
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
        ls_sm_add(lp->m->drop_empty, 1);
        return 0;
    }
    if (truncated && lp->on_long == LS_LONG_DROP) {
        ls_sm_add(lp->m->drop_too_long, 1);
        return 0;
    }
    buf_reset(&lp->line);
    if (!utf8_clean(p, len)) {
        if (lp->on_invalid == LS_INVALID_DROP) {
            ls_sm_add(lp->m->drop_invalid, 1);
            return 0;
        }
        ls_sm_add(lp->m->invalid_encoding, 1);
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
            ls_sm_add(lp->m->drop_too_long, 1);
            return 0;
        }
        if (truncate_line(lp, &p, &len, cut) != 0)
            return -1;
        truncated = 1;
        ls_sm_add(lp->m->truncated, 1);
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
