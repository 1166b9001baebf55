/* lineparse: input line → record (timestamp, canonical labels, repaired/truncated bytes); see lineparse.h. */
#include "logship/in/lineparse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "timefmt.h"

static const char REPL[3] = { (char)0xEF, (char)0xBF, (char)0xBD }; /* U+FFFD */

struct label {
    char  *name;   /* sanitized */
    size_t nlen;
    char  *val;    /* sanitized and escaped */
    size_t vlen;
    int    prec;   /* 0 static, 1 stream, 2 field */
};

struct ls_lineparse {
    size_t             max_line;
    enum ls_format     format;
    enum ls_on_invalid on_invalid;
    enum ls_on_long    on_long;
    struct ls_srcmetrics *m;

    struct ls_jfield *jf;       /* ts fields, then label fields */
    size_t            n_ts, n_lf;
    char            **lf_names; /* sanitized label names of the label fields */
    struct label     *statics;
    size_t            n_static;

    buf_t line;    /* repaired / truncated line */
    buf_t labels;  /* canonical label string */
    buf_t vals;    /* escaped dynamic label values */
    buf_t tmp;     /* unescape scratch */
    char   key[2048]; /* inputs of the label string in labels (see labels_unchanged) */
    size_t key_len;
    int    key_ok;
};

/* ---------------------------------------------------------------- UTF-8 --- */

int ls_utf8_clean(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            /* all ASCII and no zero byte: skip 8 at once */
            if ((w & 0x8080808080808080ull) == 0 &&
                ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull) == 0) {
                i += 8;
                continue;
            }
        }
        if (p[i] == 0)
            return 0;
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        {
            size_t k = utf8_seq_len(p + i, n - i);
            if (k == 0)
                return 0;
            i += k;
        }
    }
    return 1;
}

/* Append s[0..n) to out with every NUL or ill-formed byte replaced by U+FFFD
 * and, when ctl, every other control character by ' '. Stops (returning -1)
 * when out is full; what was appended is whole characters only. */
static int utf8_repair(buf_t *out, const char *s, size_t n, int ctl, size_t *consumed)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    *consumed = 0;

    while (i < n) {
        size_t run = i;
        /* copy runs of clean bytes in one go */
        while (run < n) {
            size_t k;
            if (p[run] >= 0x20 && p[run] < 0x7f) {
                run++;
                continue;
            }
            if (p[run] == 0 || (ctl && (p[run] < 0x20 || p[run] == 0x7f)))
                break;
            if (p[run] < 0x80) {
                run++;
                continue;
            }
            k = utf8_seq_len(p + run, n - run);
            if (k == 0)
                break;
            run += k;
        }
        while (run > i && buf_add(out, s + i, run - i) != 0) {
            /* does not fit: keep what fits, on a character boundary */
            size_t room = out->max > out->len ? out->max - out->len : 0, k;
            if (room == 0 || room >= run - i)
                return -1;
            k = i + room;
            while (k > i && (p[k] & 0xC0) == 0x80)
                k--;
            if (k > i && buf_add(out, s + i, k - i) != 0)
                return -1;
            *consumed = k;
            return -1;
        }
        i = run;
        *consumed = i;
        if (i >= n)
            break;
        if (p[i] != 0 && p[i] < 0x80) { /* a control character, ctl mode */
            if (buf_addc(out, ' ') != 0)
                return -1;
        } else if (buf_add(out, REPL, sizeof(REPL)) != 0) {
            return -1;
        }
        i++;
        *consumed = i;
    }
    return 0;
}

/* Largest k <= lim such that s[0..k) ends on a character boundary of the
 * well-formed UTF-8 string s. */
static size_t utf8_floor(const char *s, size_t len, size_t lim)
{
    size_t k = lim < len ? lim : len;
    while (k > 0 && k < len && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    return k;
}

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
        if (p == NULL)
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
        if (p == NULL)
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
    eq = b.len == nlen && b.p != NULL && memcmp(b.p, name, nlen) == 0;
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
        if (p == NULL)
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
        if (p == NULL)
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
                if (buf_add(out, REPL, sizeof(REPL)) != 0)
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

int ls_parse_ts_field(const struct ls_jfield *f, int64_t *ns)
{
    char tmp[64];
    int64_t v;

    if (f->type == 's') {
        if (f->esc || f->vlen == 0)
            return -1;
        return timefmt_parse_rfc3339(f->v, f->vlen, ns);
    }
    if (f->type != 'n' || f->vlen == 0 || f->vlen >= sizeof(tmp))
        return -1;
    memcpy(tmp, f->v, f->vlen);
    tmp[f->vlen] = '\0';
    if (strpbrk(tmp, "eE") == NULL) {
        /* integer part and up to 9 fraction digits, exactly (a double would
         * lose nanoseconds) */
        long long ll;
        char *end;
        int64_t frac = 0, scale = 1000000000LL;
        errno = 0;
        ll = strtoll(tmp, &end, 10);
        if (errno != 0 || ll < 0 || tmp[0] == '-')
            return -1;
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
            v = (int64_t)ll * 1000000000LL + frac;
        } else {
            if (ll < 100000000000000LL)
                scale = 1000000LL;
            else if (ll < 100000000000000000LL)
                scale = 1000LL;
            else
                scale = 1;
            if ((int64_t)ll > (INT64_MAX - scale) / scale)
                return -1;
            v = (int64_t)ll * scale + (int64_t)((double)frac * (double)scale / 1e9);
        }
    } else {
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
        v = (int64_t)d;
    }
    *ns = v;
    return 0;
}

/* --------------------------------------------------------------- labels --- */

/* Sanitize a label name into dst (at least LS_LABEL_NAME_MAX + 1 bytes). */
static size_t sanitize_name(const char *s, size_t n, char *dst)
{
    size_t o = 0, i;

    if (n > 0 && s[0] >= '0' && s[0] <= '9')
        dst[o++] = '_';
    for (i = 0; i < n && o < LS_LABEL_NAME_MAX; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_';
        dst[o++] = ok ? c : '_';
    }
    if (o == 0)
        dst[o++] = '_';
    dst[o] = '\0';
    return o;
}

/* Append value v[0..n) sanitized (UTF-8 repaired, controls → ' ', capped)
 * and escaped for the label string to out. Returns bytes appended, or -1. */
static long put_label_value(buf_t *out, buf_t *scratch, const char *v, size_t n)
{
    size_t start = out->len, i, lim, used;

    buf_reset(scratch);
    if (n > LS_LABEL_VALUE_MAX * 4)
        n = LS_LABEL_VALUE_MAX * 4;
    if (utf8_repair(scratch, v, n, 1, &used) != 0)
        return -1;
    lim = utf8_floor(scratch->p ? scratch->p : "", scratch->len, LS_LABEL_VALUE_MAX);
    for (i = 0; i < lim; i++) {
        char c = scratch->p[i];
        if ((c == '\\' || c == '"') && buf_addc(out, '\\') != 0)
            return -1;
        if (buf_addc(out, c) != 0)
            return -1;
    }
    return (long)(out->len - start);
}

#define set_err(err, errlen, ...) \
    do { \
        if ((err) != NULL && (errlen) > 0) \
            snprintf((err), (errlen), __VA_ARGS__); \
    } while (0)

static int label_cmp(const void *a, const void *b)
{
    const struct label *x = a, *y = b;
    size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
    int c = memcmp(x->name, y->name, n);
    if (c != 0)
        return c;
    if (x->nlen != y->nlen)
        return x->nlen < y->nlen ? -1 : 1;
    return x->prec - y->prec;
}

/* --------------------------------------------------------------- parser --- */

void ls_lineparse_free(struct ls_lineparse *lp)
{
    size_t i;

    if (lp == NULL)
        return;
    for (i = 0; i < lp->n_static; i++) {
        free(lp->statics[i].name);
        free(lp->statics[i].val);
    }
    free(lp->statics);
    if (lp->lf_names != NULL)
        for (i = 0; i < lp->n_lf; i++)
            free(lp->lf_names[i]);
    free(lp->lf_names);
    if (lp->jf != NULL)
        for (i = 0; i < lp->n_ts + lp->n_lf; i++)
            free((char *)lp->jf[i].name);
    free(lp->jf);
    buf_free(&lp->line);
    buf_free(&lp->labels);
    buf_free(&lp->vals);
    buf_free(&lp->tmp);
    free(lp);
}

struct ls_lineparse *ls_lineparse_new(const struct ls_parse_conf *pc, struct ls_srcmetrics *m,
                                      char *err, size_t errlen)
{
    static const char *const def_ts[] = { "ts", "time", "@timestamp" };
    static const char *const def_lf[] = { "level" };
    const char *const *ts = pc->ts_fields, *const *lf = pc->label_fields;
    size_t nts = pc->n_ts_fields, nlf = pc->n_label_fields, i;
    struct ls_lineparse *lp;
    char name[LS_LABEL_NAME_MAX + 1];

    if (ts == NULL || nts == 0) {
        ts = def_ts;
        nts = 3;
    }
    if (lf == NULL) {
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
    lp = calloc(1, sizeof(*lp));
    if (lp == NULL)
        goto oom;
    lp->max_line = pc->max_line_bytes ? pc->max_line_bytes : 256 * 1024;
    lp->format = pc->format;
    lp->on_invalid = pc->on_invalid;
    lp->on_long = pc->on_long;
    lp->m = m;
    buf_init(&lp->line, lp->max_line);
    buf_init(&lp->labels, 64 * 1024);
    buf_init(&lp->vals, 64 * 1024);
    buf_init(&lp->tmp, LS_LABEL_VALUE_MAX * 16);
    lp->n_ts = nts;
    lp->n_lf = nlf;
    lp->jf = calloc(nts + nlf + 1, sizeof(*lp->jf));
    lp->lf_names = calloc(nlf + 1, sizeof(*lp->lf_names));
    lp->statics = calloc(pc->n_static_labels + 1, sizeof(*lp->statics));
    if (lp->jf == NULL || lp->lf_names == NULL || lp->statics == NULL)
        goto oom;
    for (i = 0; i < nts + nlf; i++) {
        const char *nm = i < nts ? ts[i] : lf[i - nts];
        if (nm == NULL || nm[0] == '\0') {
            set_err(err, errlen, "%s", "empty field name in --ts-field/--label-field");
            goto fail;
        }
        lp->jf[i].name = strdup(nm);
        if (lp->jf[i].name == NULL)
            goto oom;
        lp->jf[i].name_len = strlen(nm);
        if (i >= nts) {
            sanitize_name(nm, strlen(nm), name);
            lp->lf_names[i - nts] = strdup(name);
            if (lp->lf_names[i - nts] == NULL)
                goto oom;
        }
    }
    for (i = 0; i < pc->n_static_labels; i++) {
        const char *kv = pc->static_labels[i], *eq = kv ? strchr(kv, '=') : NULL;
        struct label *l = &lp->statics[lp->n_static];
        buf_t v;
        long vl;
        size_t nl;

        if (eq == NULL || eq == kv) {
            set_err(err, errlen, "bad --label '%s': expected name=value", kv ? kv : "");
            goto fail;
        }
        nl = sanitize_name(kv, (size_t)(eq - kv), name);
        buf_init(&v, 4096);
        vl = put_label_value(&v, &lp->tmp, eq + 1, strlen(eq + 1));
        if (vl < 0) {
            buf_free(&v);
            goto oom;
        }
        if (vl == 0) {
            buf_free(&v);
            set_err(err, errlen, "bad --label '%s': empty value", kv);
            goto fail;
        }
        l->name = strdup(name);
        l->nlen = nl;
        l->val = buf_steal(&v, &l->vlen);
        l->prec = 0;
        lp->n_static++;
        if (l->name == NULL || l->val == NULL)
            goto oom;
    }
    qsort(lp->statics, lp->n_static, sizeof(*lp->statics), label_cmp);
    return lp;
oom:
    set_err(err, errlen, "%s", "out of memory");
fail:
    ls_lineparse_free(lp);
    return NULL;
}

/* Render the canonical label string of this line into lp->labels. */
/* The inputs of this line's label set, as bytes: equal keys give equal label
 * strings, so consecutive lines of the same stream (the usual case) reuse the
 * last one. 0 when the key is new (and now stored), 1 when unchanged. */
static int labels_unchanged(struct ls_lineparse *lp, const char *stream, int json_ok)
{
    char key[2048];
    size_t k = 0, i;

    if (stream != NULL) {
        size_t n = strlen(stream);
        if (n > 64)
            return 0;
        key[k++] = 'S';
        memcpy(key + k, stream, n);
        k += n;
        key[k++] = '\0';
    }
    for (i = 0; json_ok && i < lp->n_lf; i++) {
        const struct ls_jfield *f = &lp->jf[lp->n_ts + i];
        if (f->type != 's') {
            key[k++] = '-';
            continue;
        }
        if (f->vlen > 96 || k + f->vlen + 8 > sizeof(key)) {
            lp->key_ok = 0;
            return 0;
        }
        key[k++] = (char)('0' + f->esc);
        memcpy(key + k, &f->vlen, sizeof(f->vlen));
        k += sizeof(f->vlen);
        memcpy(key + k, f->v, f->vlen);
        k += f->vlen;
    }
    if (lp->key_ok && k == lp->key_len && memcmp(key, lp->key, k) == 0)
        return 1;
    memcpy(lp->key, key, k);
    lp->key_len = k;
    lp->key_ok = 0; /* valid once the labels are built */
    return 0;
}

static int build_labels(struct ls_lineparse *lp, const char *stream, int json_ok)
{
    struct label dyn[LS_MAX_LABELS * 2 + 2];
    size_t voff[LS_MAX_LABELS * 2 + 2];
    size_t n = 0, i, out = 0;

    if (labels_unchanged(lp, stream, json_ok))
        return 0;
    buf_reset(&lp->labels);
    buf_reset(&lp->vals);
    for (i = 0; i < lp->n_static; i++)
        dyn[n++] = lp->statics[i];
    if (stream != NULL) {
        size_t off = lp->vals.len;
        long vl = put_label_value(&lp->vals, &lp->tmp, stream, strlen(stream));
        if (vl < 0)
            return -1;
        if (vl > 0) {
            dyn[n] = (struct label){ (char *)"stream", 6, NULL, (size_t)vl, 1 };
            voff[n++] = off;
        }
    }
    for (i = 0; json_ok && i < lp->n_lf; i++) {
        const struct ls_jfield *f = &lp->jf[lp->n_ts + i];
        size_t off = lp->vals.len;
        long vl;

        if (f->type != 's')
            continue;
        if (f->esc) {
            buf_t dec;
            buf_init(&dec, LS_LABEL_VALUE_MAX * 8);
            if (ls_json_unescape(f->v, f->vlen < LS_LABEL_VALUE_MAX * 6 ? f->vlen
                                                                          : LS_LABEL_VALUE_MAX * 6,
                                 &dec) != 0 && dec.len == 0) {
                buf_free(&dec);
                continue;
            }
            vl = put_label_value(&lp->vals, &lp->tmp, dec.p ? dec.p : "", dec.len);
            buf_free(&dec);
        } else {
            vl = put_label_value(&lp->vals, &lp->tmp, f->v, f->vlen);
        }
        if (vl < 0)
            return -1;
        if (vl == 0)
            continue;
        dyn[n] = (struct label){ lp->lf_names[i], strlen(lp->lf_names[i]), NULL, (size_t)vl, 2 };
        voff[n++] = off;
    }
    for (i = lp->n_static; i < n; i++)
        dyn[i].val = lp->vals.p + voff[i];
    qsort(dyn, n, sizeof(dyn[0]), label_cmp);
    if (buf_addc(&lp->labels, '{') != 0)
        return -1;
    for (i = 0; i < n; i++) {
        if (i > 0 && dyn[i].nlen == dyn[i - 1].nlen &&
            memcmp(dyn[i].name, dyn[i - 1].name, dyn[i].nlen) == 0)
            continue; /* lower precedence duplicate */
        if (out == LS_MAX_LABELS)
            break;
        if ((out > 0 && buf_addc(&lp->labels, ',') != 0) ||
            buf_add(&lp->labels, dyn[i].name, dyn[i].nlen) != 0 ||
            buf_add(&lp->labels, "=\"", 2) != 0 ||
            buf_add(&lp->labels, dyn[i].val, dyn[i].vlen) != 0 ||
            buf_addc(&lp->labels, '"') != 0)
            return -1;
        out++;
    }
    if (out == 0 && buf_adds(&lp->labels, "job=\"logship\"") != 0)
        return -1;
    if (buf_addc(&lp->labels, '}') != 0)
        return -1;
    lp->key_ok = 1;
    return 0;
}

int ls_lineparse_line(struct ls_lineparse *lp, const struct ls_line_in *in, struct ls_record *out)
{
    const char *p = in->p;
    size_t len = in->len, cut = in->cut;
    int truncated = cut > 0, json_ok = 0;
    int64_t ts = 0;
    size_t i;

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
    if (!ls_utf8_clean(p, len)) {
        if (lp->on_invalid == LS_INVALID_DROP) {
            ls_sm_add(lp->m->drop_invalid, 1);
            return 0;
        }
        size_t used;
        ls_sm_add(lp->m->invalid_encoding, 1);
        if (utf8_repair(&lp->line, p, len, 0, &used) != 0) {
            if (lp->line.len + 2 * sizeof(REPL) < lp->line.max) /* not the cap: OOM */
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
        {
            char marker[LS_TRUNC_RESERVE];
            size_t keep = utf8_floor(p, len, lp->max_line - LS_TRUNC_RESERVE);
            int mn = snprintf(marker, sizeof(marker), "\xE2\x80\xA6[truncated %zu bytes]",
                              cut + (len - keep));
            if (p != lp->line.p) {
                if (buf_add(&lp->line, p, keep) != 0)
                    return -1;
            } else {
                buf_truncate(&lp->line, keep);
            }
            if (mn > 0 && buf_add(&lp->line, marker, (size_t)mn) != 0)
                return -1;
            p = lp->line.p;
            len = lp->line.len;
            truncated = 1;
        }
        ls_sm_add(lp->m->truncated, 1);
    }
    if (lp->format != LS_FORMAT_RAW && !truncated) {
        const char *q = p, *e = p + len;
        while (q < e && (*q == ' ' || *q == '\t'))
            q++;
        if (q < e && *q == '{')
            json_ok = ls_json_scan(p, len, lp->jf, lp->n_ts + lp->n_lf) == 0;
    }
    if (in->ts_ns != 0)
        ts = in->ts_ns;
    for (i = 0; ts == 0 && json_ok && i < lp->n_ts; i++)
        if (lp->jf[i].type != 0 && ls_parse_ts_field(&lp->jf[i], &ts) != 0)
            ts = 0;
    if (ts == 0)
        ts = in->read_ns;
    if (build_labels(lp, in->stream, json_ok) != 0)
        return -1;
    out->ts_ns = ts;
    out->labels = lp->labels.p;
    out->labels_len = lp->labels.len;
    out->line = p;
    out->line_len = len;
    return 1;
}
