/* metrics: the Prometheus registry (families, lock-free children, text exposition 0.0.4 rendering). */
#include "metrics.h"
#include "hash.h"
#include "utf8.h"
#include "clock.h"
#include "jsonw.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct metrics_child {
    struct metrics_child *next;
    metrics_family *fam;
    uint64_t hash;
    char *values[METRICS_MAX_LABELS];
    char *labels;                 /* rendered a="x",b="y" (escaped), "" when none */
    _Atomic uint64_t bits;        /* counter/gauge value; histogram sum (double bits) */
    _Atomic uint64_t counts[];    /* histogram: per-bucket (not cumulative), then +Inf */
};

struct metrics_family {
    struct metrics_family *next;
    metrics_registry *reg;
    enum metrics_type type;
    char *name, *help;
    size_t nlabels;
    char *labels[METRICS_MAX_LABELS];
    size_t nbuckets;
    double buckets[METRICS_MAX_BUCKETS];
    metrics_child *children, *last;
};

struct metrics_registry {
    pthread_mutex_t mu;
    metrics_family *families, *last;
};

static uint64_t d2u(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double u2d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static void atomic_add_double(_Atomic uint64_t *a, double v)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, d2u(u2d(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

metrics_registry *metrics_new(void)
{
    metrics_registry *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (pthread_mutex_init(&r->mu, NULL) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

static void child_free(metrics_child *c, size_t nlabels)
{
    for (size_t i = 0; i < nlabels; i++)
        free(c->values[i]);
    free(c->labels);
    free(c);
}

static void family_free(metrics_family *f)
{
    metrics_child *c = f->children;
    while (c) {
        metrics_child *n = c->next;
        child_free(c, f->nlabels);
        c = n;
    }
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->name);
    free(f->help);
    free(f);
}

void metrics_free(metrics_registry *r)
{
    if (!r)
        return;
    metrics_family *f = r->families;
    while (f) {
        metrics_family *n = f->next;
        family_free(f);
        f = n;
    }
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static int valid_name(const char *s, int colon)
{
    if (!s || *s == '\0')
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (colon && c == ':') || (p != s && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

static metrics_family *declare(metrics_registry *r, enum metrics_type type, const char *name,
                               const char *help, size_t nlabels, const char *const *labels,
                               size_t nbuckets, const double *buckets)
{
    metrics_family *f = NULL;
    if (!r || !valid_name(name, 1) || nlabels > METRICS_MAX_LABELS ||
        (nlabels > 0 && !labels) || nbuckets > METRICS_MAX_BUCKETS ||
        (nbuckets > 0 && !buckets))
        return NULL;
    for (size_t i = 0; i < nlabels; i++) {
        if (!valid_name(labels[i], 0) || strncmp(labels[i], "__", 2) == 0 ||
            (type == METRICS_HISTOGRAM && strcmp(labels[i], "le") == 0))
            return NULL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(labels[i], labels[j]) == 0)
                return NULL;
    }
    for (size_t i = 0; i < nbuckets; i++)
        if (isnan(buckets[i]) || isinf(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1])))
            return NULL;

    pthread_mutex_lock(&r->mu);
    for (metrics_family *g = r->families; g; g = g->next)
        if (strcmp(g->name, name) == 0)
            goto out;
    f = calloc(1, sizeof(*f));
    if (!f)
        goto out;
    f->reg = r;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    f->nlabels = nlabels;
    f->nbuckets = nbuckets;
    int bad = !f->name || !f->help;
    for (size_t i = 0; i < nlabels; i++) {
        f->labels[i] = strdup(labels[i]);
        bad |= !f->labels[i];
    }
    if (nbuckets)
        memcpy(f->buckets, buckets, nbuckets * sizeof(*buckets));
    if (bad) {
        family_free(f);
        f = NULL;
        goto out;
    }
    if (r->last)
        r->last->next = f;
    else
        r->families = f;
    r->last = f;
out:
    pthread_mutex_unlock(&r->mu);
    /* A family without labels has exactly one child: create it now so it
     * renders as 0 before its first update. */
    if (f && nlabels == 0 && !metrics_child_get(f, NULL))
        return NULL; /* OOM; the family stays registered but unusable */
    return f;
}

metrics_family *metrics_counter(metrics_registry *r, const char *name, const char *help,
                                size_t nlabels, const char *const *labels)
{
    return declare(r, METRICS_COUNTER, name, help, nlabels, labels, 0, NULL);
}

metrics_family *metrics_gauge(metrics_registry *r, const char *name, const char *help,
                              size_t nlabels, const char *const *labels)
{
    return declare(r, METRICS_GAUGE, name, help, nlabels, labels, 0, NULL);
}

metrics_family *metrics_histogram(metrics_registry *r, const char *name, const char *help,
                                  size_t nlabels, const char *const *labels,
                                  size_t nbuckets, const double *buckets)
{
    return declare(r, METRICS_HISTOGRAM, name, help, nlabels, labels, nbuckets, buckets);
}

static uint64_t hash_values(size_t n, const char *const *values)
{
    static const unsigned char sep = 0xff;
    uint64_t h = HASH_FNV64_INIT;
    for (size_t i = 0; i < n; i++) {
        h = hash_fnv1a64_add(h, values[i], strlen(values[i]));
        h = hash_fnv1a64_add(h, &sep, 1);
    }
    return h;
}

/* Append s with the label-value escapes (\\, \", \n); quotes too when q. */
static int add_escaped(buf_t *b, const char *s, int q)
{
    const char *run = s;
    for (const char *p = s;; p++) {
        char c = *p;
        if (c != '\0' && c != '\\' && c != '\n' && !(q && c == '"'))
            continue;
        if (buf_add(b, run, (size_t)(p - run)) != 0)
            return -1;
        if (c == '\0')
            return 0;
        if (buf_addc(b, '\\') != 0 || buf_addc(b, c == '\n' ? 'n' : c) != 0)
            return -1;
        run = p + 1;
    }
}

/* Append a label value: escaped, and with each byte that is not part of
 * well-formed UTF-8 replaced by U+FFFD (scrapers reject invalid UTF-8). */
static int add_label_value(buf_t *b, const char *v)
{
    size_t n = strlen(v);
    if (utf8_valid(v, n))
        return add_escaped(b, v, 1);
    buf_t clean;
    size_t used;
    buf_init(&clean, 0);
    int rc = utf8_repair(&clean, v, n, 0, &used);
    if (rc == 0)
        rc = add_escaped(b, clean.p ? clean.p : "", 1);
    buf_free(&clean);
    return rc;
}

metrics_child *metrics_child_get(metrics_family *f, const char *const *values)
{
    static const char *const none[1] = {""};
    metrics_child *c = NULL;
    if (!f)
        return NULL;
    if (f->nlabels == 0)
        values = none;
    if (!values)
        return NULL;
    for (size_t i = 0; i < f->nlabels; i++)
        if (!values[i])
            values = NULL;
    if (!values)
        return NULL;
    uint64_t h = hash_values(f->nlabels, values);

    pthread_mutex_lock(&f->reg->mu);
    for (c = f->children; c; c = c->next) {
        if (c->hash != h)
            continue;
        size_t i = 0;
        while (i < f->nlabels && strcmp(c->values[i], values[i]) == 0)
            i++;
        if (i == f->nlabels)
            goto out;
    }
    size_t ncounts = f->type == METRICS_HISTOGRAM ? f->nbuckets + 1 : 0;
    c = calloc(1, sizeof(*c) + ncounts * sizeof(c->counts[0]));
    if (!c)
        goto out;
    c->fam = f;
    c->hash = h;
    atomic_init(&c->bits, d2u(0.0));
    for (size_t i = 0; i < ncounts; i++)
        atomic_init(&c->counts[i], 0);
    buf_t lb;
    buf_init(&lb, 0);
    int bad = buf_add(&lb, "", 0);
    for (size_t i = 0; i < f->nlabels && !bad; i++) {
        c->values[i] = strdup(values[i]);
        bad = !c->values[i] || (i > 0 && buf_addc(&lb, ',') != 0) ||
              buf_adds(&lb, f->labels[i]) != 0 || buf_add(&lb, "=\"", 2) != 0 ||
              add_label_value(&lb, values[i]) != 0 || buf_addc(&lb, '"') != 0;
    }
    c->labels = buf_steal(&lb, NULL);
    if (bad || !c->labels) {
        child_free(c, f->nlabels);
        c = NULL;
        goto out;
    }
    if (f->last)
        f->last->next = c;
    else
        f->children = c;
    f->last = c;
out:
    pthread_mutex_unlock(&f->reg->mu);
    return c;
}

void metrics_add(metrics_child *c, double v)
{
    if (!c || isnan(v) || c->fam->type == METRICS_HISTOGRAM)
        return;
    if (c->fam->type == METRICS_COUNTER && !(v >= 0))
        return;
    atomic_add_double(&c->bits, v);
}

void metrics_inc(metrics_child *c)
{
    metrics_add(c, 1.0);
}

void metrics_set(metrics_child *c, double v)
{
    if (!c || c->fam->type != METRICS_GAUGE)
        return;
    atomic_store_explicit(&c->bits, d2u(v), memory_order_relaxed);
}

void metrics_observe(metrics_child *c, double v)
{
    if (!c || c->fam->type != METRICS_HISTOGRAM || isnan(v))
        return;
    const metrics_family *f = c->fam;
    size_t i = 0;
    while (i < f->nbuckets && v > f->buckets[i])
        i++;
    atomic_fetch_add_explicit(&c->counts[i], 1, memory_order_relaxed);
    atomic_add_double(&c->bits, v);
}

double metrics_value(const metrics_child *c)
{
    if (!c)
        return 0;
    if (c->fam->type != METRICS_HISTOGRAM)
        return u2d(atomic_load_explicit(&c->bits, memory_order_relaxed));
    uint64_t n = 0;
    for (size_t i = 0; i <= c->fam->nbuckets; i++)
        n += atomic_load_explicit(&c->counts[i], memory_order_relaxed);
    return (double)n;
}

void metrics_family_add(metrics_family *f, const char *const *values, double v)
{
    metrics_add(metrics_child_get(f, values), v);
}

void metrics_family_set(metrics_family *f, const char *const *values, double v)
{
    metrics_set(metrics_child_get(f, values), v);
}

/* Prometheus number text: integers without exponent, +Inf/-Inf/NaN. */
static int add_number(buf_t *b, double v)
{
    char tmp[40];
    int n;
    if (isnan(v))
        return buf_add(b, "NaN", 3);
    if (isinf(v))
        return buf_adds(b, v > 0 ? "+Inf" : "-Inf");
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        n = snprintf(tmp, sizeof(tmp), "%" PRId64, (int64_t)v);
    } else {
        n = snprintf(tmp, sizeof(tmp), "%.15g", v);
        if (n > 0 && (size_t)n < sizeof(tmp) && strtod(tmp, NULL) != v)
            n = snprintf(tmp, sizeof(tmp), "%.17g", v);
    }
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return -1;
    return buf_add(b, tmp, (size_t)n);
}

/* name[suffix]{labels[,extra]} value\n */
static int sample(buf_t *b, const metrics_family *f, const char *suffix, const char *labels,
                  const char *extra, double v)
{
    int rc = buf_adds(b, f->name);
    if (rc == 0 && suffix)
        rc = buf_adds(b, suffix);
    if (rc == 0 && (labels[0] || extra)) {
        rc = buf_addc(b, '{');
        if (rc == 0)
            rc = buf_adds(b, labels);
        if (rc == 0 && extra && labels[0])
            rc = buf_addc(b, ',');
        if (rc == 0 && extra)
            rc = buf_adds(b, extra);
        if (rc == 0)
            rc = buf_addc(b, '}');
    }
    if (rc == 0)
        rc = buf_addc(b, ' ');
    if (rc == 0)
        rc = add_number(b, v);
    if (rc == 0)
        rc = buf_addc(b, '\n');
    return rc;
}

static int render_family(buf_t *b, const metrics_family *f)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    if (buf_add(b, "# HELP ", 7) != 0 || buf_adds(b, f->name) != 0 || buf_addc(b, ' ') != 0 ||
        add_escaped(b, f->help, 0) != 0 || buf_add(b, "\n# TYPE ", 8) != 0 ||
        buf_adds(b, f->name) != 0 || buf_addc(b, ' ') != 0 || buf_adds(b, types[f->type]) != 0 ||
        buf_addc(b, '\n') != 0)
        return -1;
    for (const metrics_child *c = f->children; c; c = c->next) {
        if (f->type != METRICS_HISTOGRAM) {
            if (sample(b, f, NULL, c->labels, NULL, metrics_value(c)) != 0)
                return -1;
            continue;
        }
        uint64_t cum = 0;
        for (size_t i = 0; i <= f->nbuckets; i++) {
            char le[64];
            buf_t lb;
            buf_init(&lb, sizeof(le) - 1);
            cum += atomic_load_explicit(&c->counts[i], memory_order_relaxed);
            int rc = buf_add(&lb, "le=\"", 4);
            if (rc == 0)
                rc = add_number(&lb, i < f->nbuckets ? f->buckets[i] : INFINITY);
            if (rc == 0)
                rc = buf_addc(&lb, '"');
            if (rc == 0) {
                memcpy(le, lb.p, lb.len + 1);
                rc = sample(b, f, "_bucket", c->labels, le, (double)cum);
            }
            buf_free(&lb);
            if (rc != 0)
                return -1;
        }
        if (sample(b, f, "_sum", c->labels, NULL, u2d(atomic_load(&c->bits))) != 0 ||
            sample(b, f, "_count", c->labels, NULL, (double)cum) != 0)
            return -1;
    }
    return 0;
}

int metrics_render(metrics_registry *r, buf_t *b)
{
    int rc = 0;
    pthread_mutex_lock(&r->mu);
    for (const metrics_family *f = r->families; f && rc == 0; f = f->next)
        rc = render_family(b, f);
    pthread_mutex_unlock(&r->mu);
    return rc;
}
