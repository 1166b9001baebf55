/* line_labels: sanitizing, ranking and rendering the label set of one line (line_labels.h); the
 * string itself is written with core/labels.h, the grammar every output parses. */
#include "logship/in/line_labels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonscan.h"
#include "utf8.h"
#include "core/labels.h"

struct ls_label {
    char  *name;   /* sanitized */
    size_t nlen;
    char  *val;    /* sanitized and escaped */
    size_t vlen;
    int    prec;   /* 0 static, 1 stream, 2 field */
};

/* Append value v[0..n) sanitized (UTF-8 repaired, controls → ' ', capped)
 * and escaped for the label string to out. Returns bytes appended, or -1. */
static long put_label_value(buf_t *out, buf_t *scratch, const char *v, size_t n)
{
    size_t start = out->len;
    buf_reset(scratch);
    if (n > LS_LABEL_VALUE_MAX * 4)
        n = LS_LABEL_VALUE_MAX * 4;
    size_t used;
    if (utf8_repair(scratch, v, n, 1, &used) != 0)
        return -1;
    const char *clean = scratch->p ? scratch->p : "";
    size_t lim = utf8_floor(clean, scratch->len, LS_LABEL_VALUE_MAX);
    /* controls are spaces by now: of the grammar's escapes only \\ and \" occur */
    if (ls_labels_escape(out, clean, lim) != 0)
        return -1;
    return (long)(out->len - start);
}

static int label_cmp(const void *a, const void *b)
{
    const struct ls_label *x = a, *y = b;
    size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
    int c = memcmp(x->name, y->name, n);
    if (c != 0)
        return c;
    if (x->nlen != y->nlen)
        return x->nlen < y->nlen ? -1 : 1;
    return x->prec - y->prec;
}

/* Parse one --label "name=value" into l. 0, 1 with err set, -1 on OOM. */
static int static_label(struct ls_line_labels *ll, const char *kv, struct ls_label *l, char *err,
                        size_t errlen)
{
    size_t klen;
    const char *val;
    if (ls_labels_parse_kv(kv, &klen, &val) != 0) {
        if (err && errlen > 0)
            snprintf(err, errlen, "bad --label '%s': expected name=value", kv ? kv : "");
        return 1;
    }
    char name[LS_LABEL_NAME_MAX + 1];
    size_t nl = ls_labels_name_sanitize(kv, klen, name, LS_LABEL_NAME_MAX);
    buf_t v;
    buf_init(&v, 4096);
    long vl = put_label_value(&v, &ll->tmp, val, strlen(val));
    if (vl <= 0) {
        buf_free(&v);
        if (vl < 0)
            return -1;
        if (err && errlen > 0)
            snprintf(err, errlen, "bad --label '%s': empty value", kv);
        return 1;
    }
    l->name = strdup(name);
    l->nlen = nl;
    l->val = buf_steal(&v, &l->vlen);
    l->prec = 0;
    return 0;
}

int ls_line_labels_init(struct ls_line_labels *ll, const char *const *lf, size_t nlf,
                        const char *const *kv, size_t nkv, char *err, size_t errlen)
{
    memset(ll, 0, sizeof(*ll));
    buf_init(&ll->labels, 64 * 1024);
    buf_init(&ll->vals, 64 * 1024);
    buf_init(&ll->tmp, LS_LABEL_VALUE_MAX * 16);
    ll->lf_names = calloc(nlf + 1, sizeof(*ll->lf_names));
    ll->statics = calloc(nkv + 1, sizeof(*ll->statics));
    if (!ll->lf_names || !ll->statics)
        return -1;
    ll->n_lf = nlf;
    for (size_t i = 0; i < nlf; i++) {
        char name[LS_LABEL_NAME_MAX + 1];
        ls_labels_name_sanitize(lf[i], strlen(lf[i]), name, LS_LABEL_NAME_MAX);
        ll->lf_names[i] = strdup(name);
        if (!ll->lf_names[i])
            return -1;
    }
    for (size_t i = 0; i < nkv; i++) {
        struct ls_label *l = &ll->statics[ll->n_static];
        int r = static_label(ll, kv[i], l, err, errlen);
        if (r != 0)
            return r;
        ll->n_static++;
        if (!l->name || !l->val)
            return -1;
    }
    qsort(ll->statics, ll->n_static, sizeof(*ll->statics), label_cmp);
    return 0;
}

void ls_line_labels_free(struct ls_line_labels *ll)
{
    for (size_t i = 0; ll->statics && i < ll->n_static; i++) {
        free(ll->statics[i].name);
        free(ll->statics[i].val);
    }
    free(ll->statics);
    for (size_t i = 0; ll->lf_names && i < ll->n_lf; i++)
        free(ll->lf_names[i]);
    free(ll->lf_names);
    buf_free(&ll->labels);
    buf_free(&ll->vals);
    buf_free(&ll->tmp);
}

/* The inputs of this line's label set, as bytes: equal keys give equal label
 * strings, so consecutive lines of the same stream (the usual case) reuse the
 * last one. 0 when the key is new (and now stored), 1 when unchanged. */
static int inputs_unchanged(struct ls_line_labels *ll, const char *stream,
                            const struct ls_jfield *f)
{
    char key[2048];
    size_t k = 0;
    if (stream) {
        size_t n = strlen(stream);
        if (n > 64)
            return 0;
        key[k++] = 'S';
        memcpy(key + k, stream, n);
        k += n;
        key[k++] = '\0';
    }
    for (size_t i = 0; f && i < ll->n_lf; i++) {
        if (f[i].type != 's') {
            key[k++] = '-';
            continue;
        }
        if (f[i].vlen > 96 || k + f[i].vlen + 8 > sizeof(key)) {
            ll->key_ok = 0;
            return 0;
        }
        key[k++] = (char)('0' + f[i].esc);
        memcpy(key + k, &f[i].vlen, sizeof(f[i].vlen));
        k += sizeof(f[i].vlen);
        memcpy(key + k, f[i].v, f[i].vlen);
        k += f[i].vlen;
    }
    if (ll->key_ok && k == ll->key_len && memcmp(key, ll->key, k) == 0)
        return 1;
    memcpy(ll->key, key, k);
    ll->key_len = k;
    ll->key_ok = 0; /* valid once the labels are built */
    return 0;
}

/* Append the sanitized value of label field f to ll->vals (escapes decoded
 * first). Bytes appended (0: no value), or -1 on OOM. */
static long field_value(struct ls_line_labels *ll, const struct ls_jfield *f)
{
    if (!f->esc)
        return put_label_value(&ll->vals, &ll->tmp, f->v, f->vlen);
    buf_t dec;
    buf_init(&dec, LS_LABEL_VALUE_MAX * 8);
    size_t n = f->vlen < LS_LABEL_VALUE_MAX * 6 ? f->vlen : LS_LABEL_VALUE_MAX * 6;
    long vl = 0;
    if (jsonscan_unescape(f->v, n, &dec) == 0 || dec.len > 0)
        vl = put_label_value(&ll->vals, &ll->tmp, dec.p ? dec.p : "", dec.len);
    buf_free(&dec);
    return vl;
}

/* Render dyn[0..n) (sorted) as the canonical string: duplicates of lower
 * precedence dropped, at most LS_MAX_LABELS, {job="logship"} when empty. */
static int render(buf_t *out, const struct ls_label *dyn, size_t n)
{
    if (buf_addc(out, '{') != 0)
        return -1;
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && dyn[i].nlen == dyn[i - 1].nlen &&
            memcmp(dyn[i].name, dyn[i - 1].name, dyn[i].nlen) == 0)
            continue; /* lower precedence duplicate */
        if (shown == LS_MAX_LABELS)
            break;
        if (ls_labels_add_escaped(out, dyn[i].name, dyn[i].nlen, dyn[i].val, dyn[i].vlen) != 0)
            return -1;
        shown++;
    }
    if (shown == 0 && buf_adds(out, "job=\"logship\"") != 0)
        return -1;
    return buf_addc(out, '}');
}

int ls_line_labels_build(struct ls_line_labels *ll, const char *stream, const struct ls_jfield *f)
{
    if (inputs_unchanged(ll, stream, f))
        return 0;
    buf_reset(&ll->labels);
    buf_reset(&ll->vals);
    struct ls_label dyn[LS_MAX_LABELS * 2 + 2];
    size_t voff[LS_MAX_LABELS * 2 + 2];
    size_t n = 0;
    for (size_t i = 0; i < ll->n_static; i++)
        dyn[n++] = ll->statics[i];
    if (stream) {
        size_t off = ll->vals.len;
        long vl = put_label_value(&ll->vals, &ll->tmp, stream, strlen(stream));
        if (vl < 0)
            return -1;
        if (vl > 0) {
            dyn[n] = (struct ls_label){(char *)"stream", 6, NULL, (size_t)vl, 1};
            voff[n++] = off;
        }
    }
    for (size_t i = 0; f && i < ll->n_lf; i++) {
        if (f[i].type != 's')
            continue;
        size_t off = ll->vals.len;
        long vl = field_value(ll, &f[i]);
        if (vl < 0)
            return -1;
        if (vl == 0)
            continue;
        dyn[n] = (struct ls_label){ll->lf_names[i], strlen(ll->lf_names[i]), NULL, (size_t)vl, 2};
        voff[n++] = off;
    }
    for (size_t i = ll->n_static; i < n; i++)
        dyn[i].val = ll->vals.p + voff[i];
    qsort(dyn, n, sizeof(dyn[0]), label_cmp);
    if (render(&ll->labels, dyn, n) != 0)
        return -1;
    ll->key_ok = 1;
    return 0;
}
