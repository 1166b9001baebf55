/* spool_marks: a small hash set of per-file high-water marks, saved as JSON beside the spool (see spool_marks.h). */
#include "logship/spool/spool_marks.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "buf.h"
#include "atomicfile.h"

struct ls_marks {
    struct ls_mark *tab;   /* open addressing; dev == 0 && ino == 0 is empty */
    size_t cap, n;
    int dirty;
};

struct ls_marks *ls_marks_new(void)
{
    struct ls_marks *ms = calloc(1, sizeof(*ms));
    if (!ms)
        return NULL;
    ms->cap = 64;
    ms->tab = calloc(ms->cap, sizeof(*ms->tab));
    if (!ms->tab) {
        free(ms);
        return NULL;
    }
    return ms;
}

void ls_marks_free(struct ls_marks *ms)
{
    if (!ms)
        return;
    free(ms->tab);
    free(ms);
}

static int empty(const struct ls_mark *m)
{
    return m->dev == 0 && m->ino == 0;
}

static size_t slot(const struct ls_mark *tab, size_t cap, uint64_t dev, uint64_t ino)
{
    uint64_t h = (dev * 0x9E3779B97F4A7C15ull) ^ (ino * 0xC2B2AE3D27D4EB4Full);
    size_t i = (size_t)(h ^ (h >> 29)) & (cap - 1);
    while (!empty(&tab[i]) && !(tab[i].dev == dev && tab[i].ino == ino))
        i = (i + 1) & (cap - 1);
    return i;
}

/* Rebuild into a table of ncap slots, leaving out skip (may be NULL). */
static int rehash(struct ls_marks *ms, size_t ncap, const struct ls_mark *skip)
{
    struct ls_mark *nt = calloc(ncap, sizeof(*nt));
    size_t n = 0;
    if (!nt)
        return -1;
    for (size_t i = 0; i < ms->cap; i++) {
        const struct ls_mark *m = &ms->tab[i];
        if (empty(m) || m == skip)
            continue;
        nt[slot(nt, ncap, m->dev, m->ino)] = *m;
        n++;
    }
    free(ms->tab);
    ms->tab = nt;
    ms->cap = ncap;
    ms->n = n;
    return 0;
}

int ls_marks_put(struct ls_marks *ms, const struct ls_mark *m)
{
    struct ls_mark key = *m;
    if (empty(&key))
        key.ino = UINT64_MAX; /* dev 0, ino 0 never names a file; keep the slot test simple */
    size_t i = slot(ms->tab, ms->cap, key.dev, key.ino);
    if (!empty(&ms->tab[i])) {
        if (ms->tab[i].seq > key.seq)
            return 0;
        if (memcmp(&ms->tab[i], &key, sizeof(key)) != 0) {
            ms->tab[i] = key;
            ms->dirty = 1;
        }
        return 0;
    }
    if (ms->n >= LS_MARKS_MAX) {
        /* Forget the file marked longest ago (rare: only past LS_MARKS_MAX files). */
        const struct ls_mark *old = NULL;
        for (size_t k = 0; k < ms->cap; k++)
            if (!empty(&ms->tab[k]) && (!old || ms->tab[k].seq < old->seq))
                old = &ms->tab[k];
        if (old && old->seq > key.seq)
            return 0;
        if (rehash(ms, ms->cap, old) != 0)
            return -1;
    } else if ((ms->n + 1) * 2 > ms->cap) {
        if (rehash(ms, ms->cap * 2, NULL) != 0)
            return -1;
    }
    ms->tab[slot(ms->tab, ms->cap, key.dev, key.ino)] = key;
    ms->n++;
    ms->dirty = 1;
    return 0;
}

int ls_marks_get(const struct ls_marks *ms, uint64_t dev, uint64_t ino, struct ls_mark *out)
{
    if (dev == 0 && ino == 0)
        ino = UINT64_MAX;
    size_t i = slot(ms->tab, ms->cap, dev, ino);
    if (empty(&ms->tab[i]))
        return 0;
    *out = ms->tab[i];
    return 1;
}

size_t ls_marks_count(const struct ls_marks *ms)
{
    return ms->n;
}

uint64_t ls_marks_max_seq(const struct ls_marks *ms)
{
    uint64_t v = 0;
    for (size_t i = 0; i < ms->cap; i++)
        if (!empty(&ms->tab[i]) && ms->tab[i].seq > v)
            v = ms->tab[i].seq;
    return v;
}

int ls_marks_dirty(const struct ls_marks *ms)
{
    return ms->dirty;
}

/* Parse decimal digits p[0..n) into *v; 0 or -1 (empty, non-digit, overflow). */
static int dec(const char *p, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    if (n == 0 || n > 20)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

int ls_marks_parse_origin(const char *o, size_t len, uint64_t seq, struct ls_mark *m)
{
    if (len < 2 + 1 + 1 + 1 + 1 + 16 + 2 || o[0] != 'f' || o[1] != ':')
        return 0;
    const char *end = o + len;
    const char *at = memchr(o, '@', len);
    if (!at || at - o < 22)
        return 0;
    const char *c1 = memchr(o + 2, ':', (size_t)(at - o - 2));
    if (!c1)
        return 0;
    const char *c2 = memchr(c1 + 1, ':', (size_t)(at - c1 - 1));
    if (!c2 || at - c2 - 1 != 16)
        return 0;
    uint64_t fp = 0;
    for (const char *p = c2 + 1; p < at; p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
        if (d < 0)
            return 0;
        fp = fp << 4 | (uint64_t)d;
    }
    if (dec(o + 2, (size_t)(c1 - o - 2), &m->dev) != 0 ||
        dec(c1 + 1, (size_t)(c2 - c1 - 1), &m->ino) != 0 ||
        dec(at + 1, (size_t)(end - at - 1), &m->off) != 0)
        return 0;
    m->fp = fp;
    m->seq = seq;
    return 1;
}

int ls_marks_save(struct ls_marks *ms, const char *path)
{
    buf_t b;
    buf_init(&b, ATOMICFILE_MAX);
    int rc = -1;
    if (buf_adds(&b, "{\"version\":1,\"marks\":[") != 0)
        goto out;
    size_t k = 0;
    for (size_t i = 0; i < ms->cap; i++) {
        const struct ls_mark *m = &ms->tab[i];
        if (empty(m))
            continue;
        if (buf_printf(&b, "%s\n{\"dev\":%" PRIu64 ",\"ino\":%" PRIu64 ",\"fp\":\"%016" PRIx64
                       "\",\"off\":%" PRIu64 ",\"seq\":%" PRIu64 "}",
                       k++ ? "," : "", m->dev, m->ino, m->fp, m->off, m->seq) != 0)
            goto out;
    }
    if (buf_adds(&b, "\n]}\n") != 0)
        goto out;
    if (atomicfile_write(path, b.p, b.len) != 0)
        goto out;
    ms->dirty = 0;
    rc = 0;
out:
    if (rc != 0 && errno == 0)
        errno = ENOMEM;
    buf_free(&b);
    return rc;
}

static int jget_u64(json_object *o, const char *k, uint64_t *v)
{
    json_object *x;
    if (!json_object_object_get_ex(o, k, &x) || !json_object_is_type(x, json_type_int))
        return -1;
    int64_t i = json_object_get_int64(x);
    if (i < 0)
        return -1;
    *v = (uint64_t)i;
    return 0;
}

int ls_marks_load(struct ls_marks *ms, const char *path)
{
    buf_t b;
    buf_init(&b, ATOMICFILE_MAX);
    int r = atomicfile_read(path, &b);
    if (r != 0) {
        buf_free(&b);
        return r == 1 ? 0 : -1;
    }
    int rc = 1;
    json_object *arr;
    json_object *root = json_tokener_parse(b.p ? b.p : "");
    if (!root || !json_object_object_get_ex(root, "marks", &arr) ||
        !json_object_is_type(arr, json_type_array))
        goto out;
    size_t n = json_object_array_length(arr);
    /* Validate all first, so garbage merges nothing. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(arr, i);
            struct ls_mark m;
            json_object *fpv;
            if (!json_object_is_type(e, json_type_object) || jget_u64(e, "dev", &m.dev) ||
                jget_u64(e, "ino", &m.ino) || jget_u64(e, "off", &m.off) || jget_u64(e, "seq", &m.seq) ||
                !json_object_object_get_ex(e, "fp", &fpv) || !json_object_is_type(fpv, json_type_string))
                goto out;
            const char *fps = json_object_get_string(fpv);
            char *end;
            errno = 0;
            m.fp = strtoull(fps, &end, 16);
            if (errno || end == fps || *end)
                goto out;
            if (pass == 1 && ls_marks_put(ms, &m) != 0) {
                rc = -1;
                goto out;
            }
        }
    }
    ms->dirty = 0;
    rc = 0;
out:
    json_object_put(root);
    buf_free(&b);
    return rc;
}
