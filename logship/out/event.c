/* event: the JSON event of a record that Elasticsearch and Logstash both ship (see event.h). */
#include "logship/out/event.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "jsonscan.h"
#include "jsonw.h"
#include "logship/core/labels.h"
#include "timefmt.h"
#include "utf8.h"

/* Keys already written into a document, for de-duplication (ES rejects a
 * document with a repeated field). Keys are compared decoded. */
#define KEYSET_INLINE 64
#define KEYSET_SLOTS (KEYSET_INLINE * 2)
struct keyset {
    uint32_t stamp[KEYSET_SLOTS];  /* a slot is in use when its stamp is cur */
    uint32_t cur;
    uint64_t hash[KEYSET_SLOTS];
    const char *key[KEYSET_SLOTS];
    size_t klen[KEYSET_SLOTS];
    size_t n;
    int overflow;        /* more keys than KEYSET_INLINE: the caller falls back */
};

/* Empty the set in O(1): bump the stamp (clear the stamps once per 2^32). */
static void keyset_clear(struct keyset *ks)
{
    if (++ks->cur == 0) {
        memset(ks->stamp, 0, sizeof(ks->stamp));
        ks->cur = 1;
    }
    ks->n = 0;
    ks->overflow = 0;
}

/* Returns 1 when (k, n) was added, 0 when it was already there or the set is
 * full (a full set refuses new keys and sets overflow). k must outlive the
 * set's current generation. */
static int keyset_add(struct keyset *ks, const char *k, size_t n)
{
    uint64_t h = hash_fnv1a64(k, n);
    size_t i = (size_t)(h % KEYSET_SLOTS);
    for (size_t probe = 0; probe < KEYSET_SLOTS; probe++, i = (i + 1) % KEYSET_SLOTS) {
        if (ks->stamp[i] != ks->cur) {
            if (ks->n >= KEYSET_INLINE) {
                ks->overflow = 1;
                return 0;
            }
            ks->stamp[i] = ks->cur;
            ks->key[i] = k;
            ks->klen[i] = n;
            ks->hash[i] = h;
            ks->n++;
            return 1;
        }
        if (ks->hash[i] == h && ks->klen[i] == n && memcmp(ks->key[i], k, n) == 0)
            return 0;
    }
    return 0;
}

/* 1 when s[0..n) is UTF-8. Nearly every log line is pure ASCII: skip it a
 * word at a time, and walk sequences only from the first word holding a
 * high byte (everything before it is whole ASCII characters). */
static int text_utf8_ok(const char *s, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, sizeof(w));
        if (w & 0x8080808080808080ULL)
            break;
    }
    return utf8_valid(s + i, n - i);
}

/* Decode the escaped key raw[0..n) into kbuf at *kused (the arena keeps the
 * decoded keys alive for the keyset). The decoded key, or NULL when the
 * arena is full. */
static const char *decode_key(const char *raw, size_t n, char *kbuf, size_t kcap, size_t *kused, size_t *kdn)
{
    if (*kused + n + 3 > kcap)
        return NULL;
    buf_t tmp;
    buf_init(&tmp, n * 3 + 1);
    const char *kd = NULL;
    if (jsonscan_unescape(raw, n, &tmp) == 0 && tmp.len <= n) {
        kd = kbuf + *kused;
        if (tmp.len)
            memcpy(kbuf + *kused, tmp.p, tmp.len);
        kbuf[*kused + tmp.len] = '\0';
        *kdn = tmp.len;
        *kused += tmp.len + 1;
    }
    buf_free(&tmp);
    return kd;
}

/* Copy the member o is at (its key read, o->p at its value) into out unless
 * its key is already there, and step o past it. Returns 1 (copied or
 * skipped), 0 when the member makes the line no object to copy (a bad key
 * or value, too many keys), -1 on out's cap. */
static int copy_member(buf_t *out, struct jsonscan_obj *o, const char *end, struct keyset *ks, char *kbuf,
                       size_t kcap, size_t *kused)
{
    const char *kd = o->key;
    size_t kdn = o->key_len;
    if (o->key_esc) {
        /* decoded so that "\u0061" and "a" collide */
        kd = decode_key(o->key, o->key_len, kbuf, kcap, kused, &kdn);
        if (!kd)
            return 0;
    }
    const char *vs = o->p;
    /* strings are most members of a log line: scan them directly */
    const char *ve = *vs == '"' ? jsonscan_string(vs, end, NULL) : jsonscan_value(vs, end, JSONSCAN_MAX_DEPTH);
    if (!ve)
        return 0;
    o->p = ve;
    int keep = !(kdn == 10 && memcmp(kd, "@timestamp", 10) == 0) && keyset_add(ks, kd, kdn);
    if (ks->overflow)
        return 0;
    if (!keep)
        return 1;
    if (buf_addc(out, ',') || buf_add(out, o->key - 1, o->key_len + 2) || buf_addc(out, ':') ||
        buf_add(out, vs, (size_t)(ve - vs)))
        return -1;
    return 1;
}

/* Write the members of the JSON object line[0..n) into out (each preceded by a
 * comma). Returns 1 when the line is a valid JSON object and was written, 0
 * when it is not an object (or not UTF-8), or has more distinct keys than can
 * be tracked (out unchanged: the line then ships whole as "message"), -1 on
 * the cap. */
static int copy_object_members(buf_t *out, const char *line, size_t n, struct keyset *ks, char *kbuf, size_t kcap)
{
    const char *end = line + n;
    struct jsonscan_obj o;
    /* one pass: validate and copy member by member; any flaw → undo, plain text */
    if (jsonscan_obj_open(&o, line, end) != 0 || !text_utf8_ok(line, n))
        return 0;
    size_t mark = out->len, kused = 0;
    int r;
    while ((r = jsonscan_obj_next(&o)) == 1) {
        int c = copy_member(out, &o, end, ks, kbuf, kcap, &kused);
        if (c != 1) {
            buf_truncate(out, mark);
            return c;
        }
    }
    if (r == 0 && jsonscan_ws(o.p, end) == end)
        return 1;
    buf_truncate(out, mark);
    return 0;
}

/* The members after @timestamp: the line's own, or the line as "message".
 * 0, or -1 on out's cap. */
static int add_line(buf_t *out, const struct ls_record *rec, struct keyset *ks)
{
    char kbuf[1024];
    const char *line = rec->line ? rec->line : "";
    int r = copy_object_members(out, line, rec->line ? rec->line_len : 0, ks, kbuf, sizeof(kbuf));
    if (r != 0)
        return r < 0 ? -1 : 0;
    keyset_clear(ks);                   /* forget keys of a rejected object */
    keyset_add(ks, "@timestamp", 10);
    keyset_add(ks, "message", 7);
    return buf_adds(out, ",\"message\":") || jsonw_str(out, line, rec->line_len) ? -1 : 0;
}

/* Each thread's label fields, kept between records: records of one source
 * carry the same label string, so it is parsed and escaped once, not once
 * per event (and a buffer per record would cost an allocation per event).
 * Freed when the thread ends. */
struct label_pair {
    size_t key, key_len;    /* the name in keys */
    size_t frag, frag_len;  /* ,"name":"value" in frag */
};

struct label_cache {
    buf_t scratch;          /* unescaped values while parsing */
    buf_t src;              /* the label string the rest was built from */
    buf_t keys;             /* its names, back to back */
    buf_t frag;             /* each pair as a document carries it */
    struct label_pair *pair;
    size_t n, cap;
    int valid;              /* src was parsed: pair[] (or bad) holds */
    int bad;                /* src is not a label string: documents get no labels */
    int oom;
};

static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static pthread_key_t cache_key;
static int cache_key_ok;

static void cache_free(void *p)
{
    struct label_cache *c = p;
    buf_free(&c->scratch);
    buf_free(&c->src);
    buf_free(&c->keys);
    buf_free(&c->frag);
    free(c->pair);
    free(c);
}

static void cache_key_init(void)
{
    cache_key_ok = pthread_key_create(&cache_key, cache_free) == 0;
}

static struct label_cache *thread_cache(void)
{
    pthread_once(&cache_once, cache_key_init);
    if (!cache_key_ok)
        return NULL;
    struct label_cache *c = pthread_getspecific(cache_key);
    if (c)
        return c;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    buf_init(&c->scratch, 0);
    buf_init(&c->src, 0);
    buf_init(&c->keys, 0);
    buf_init(&c->frag, 0);
    if (pthread_setspecific(cache_key, c) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

static int cache_pair(void *arg, const char *k, size_t kn, const char *v, size_t vn)
{
    struct label_cache *c = arg;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        struct label_pair *np = realloc(c->pair, cap * sizeof(*np));
        if (!np) {
            c->oom = 1;
            return -1;
        }
        c->pair = np;
        c->cap = cap;
    }
    struct label_pair *lp = &c->pair[c->n];
    lp->key = c->keys.len;
    lp->key_len = kn;
    lp->frag = c->frag.len;
    if (buf_add(&c->keys, k, kn) || buf_addc(&c->frag, ',') || jsonw_str(&c->frag, k, kn) ||
        buf_addc(&c->frag, ':') || jsonw_str(&c->frag, v, vn)) {
        c->oom = 1;
        return -1;
    }
    lp->frag_len = c->frag.len - lp->frag;
    c->n++;
    return 0;
}

/* Parse labels[0..n) into the cache unless it holds them already. */
static void cache_fill(struct label_cache *c, const char *labels, size_t n)
{
    if (c->valid && c->src.len == n && memcmp(c->src.p, labels, n) == 0)
        return;
    buf_reset(&c->src);
    buf_reset(&c->keys);
    buf_reset(&c->frag);
    c->n = 0;
    c->oom = 0;
    c->valid = 0;
    int r = ls_labels_each(labels, n, &c->scratch, cache_pair, c);
    c->bad = r != 0;
    /* out of memory: this record gets no labels (as a malformed string), and the next one tries again */
    if (!c->oom && buf_add(&c->src, labels, n) == 0)
        c->valid = 1;
}

/* The labels not already present, as string fields. 0, or -1 on out's cap;
 * a malformed label string adds none (the line ships without labels). */
static int add_labels(buf_t *out, const struct ls_record *rec, struct keyset *ks)
{
    if (!rec->labels || rec->labels_len == 0)
        return 0;
    struct label_cache *c = thread_cache();
    if (!c)
        return -1;
    cache_fill(c, rec->labels, rec->labels_len);
    if (c->bad)
        return 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct label_pair *lp = &c->pair[i];
        if (keyset_add(ks, c->keys.p + lp->key, lp->key_len) && buf_add(out, c->frag.p + lp->frag, lp->frag_len))
            return -1;
    }
    return 0;
}

int ls_event_encode(buf_t *out, const struct ls_record *rec)
{
    static _Thread_local struct keyset ks;   /* reused: keyset_clear is O(1) */
    size_t mark = out->len;
    char ts[TIMEFMT_RFC3339_NS_LEN + 1];
    size_t tn = timefmt_rfc3339_ns(ts, rec->ts_ns);
    keyset_clear(&ks);
    keyset_add(&ks, "@timestamp", 10);
    if (buf_adds(out, "{\"@timestamp\":\"") || buf_add(out, ts, tn) || buf_addc(out, '"') || add_line(out, rec, &ks) ||
        add_labels(out, rec, &ks) || buf_addc(out, '}')) {
        buf_truncate(out, mark);
        return -1;
    }
    return 0;
}
