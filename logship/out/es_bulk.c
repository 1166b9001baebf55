/* es_bulk: Elasticsearch _bulk NDJSON encoding and response decoding (see es_bulk.h). */
#include "logship/out/es_bulk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "utf8.h"
#include "hash.h"
#include "jsonw.h"

#define JS_MAX_DEPTH 64   /* nesting accepted inside a line before it counts as plain text */

/* ---- strict JSON scanning (RFC 8259), spans only, no allocation ---------- */

static const char *js_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* p at '"'. Returns the position after the closing quote, or NULL. *esc is set
 * when the string holds escapes. */
static const char *js_string(const char *p, const char *end, int *esc)
{
    if (p >= end || *p != '"') return NULL;
    p++;
    if (esc) *esc = 0;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {   /* the common case */
            p++;
            continue;
        }
        if (c == '"') return p + 1;
        if (c < 0x20) return NULL;
        if (c == '\\') {
            if (esc) *esc = 1;
            if (end - p < 2) return NULL;
            switch (p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                p += 2;
                break;
            case 'u':
                if (end - p < 6) return NULL;
                for (int i = 2; i < 6; i++)
                    if (hexval(p[i]) < 0) return NULL;
                p += 6;
                break;
            default:
                return NULL;
            }
            continue;
        }
        size_t n = utf8_seq_len((const unsigned char *)p, (size_t)(end - p));
        if (n == 0) return NULL;
        p += n;
    }
    return NULL;
}

static const char *js_digits(const char *p, const char *end)
{
    const char *s = p;
    while (p < end && *p >= '0' && *p <= '9') p++;
    return p > s ? p : NULL;
}

static const char *js_number(const char *p, const char *end)
{
    if (p < end && *p == '-') p++;
    if (p >= end) return NULL;
    if (*p == '0') p++;
    else if (!(p = js_digits(p, end))) return NULL;
    if (p < end && *p == '.') {
        if (!(p = js_digits(p + 1, end))) return NULL;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (!(p = js_digits(p, end))) return NULL;
    }
    return p;
}

static const char *js_lit(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(end - p) < n || memcmp(p, lit, n) != 0) return NULL;
    return p + n;
}

/* p at the first byte of a value (no leading whitespace). Returns the
 * position after the value, or NULL when malformed, truncated or too deep. */
static const char *js_value(const char *p, const char *end, int depth)
{
    if (p >= end) return NULL;
    switch (*p) {
    case '"':
        return js_string(p, end, NULL);
    case 't': return js_lit(p, end, "true");
    case 'f': return js_lit(p, end, "false");
    case 'n': return js_lit(p, end, "null");
    case '{': case '[': {
        char close = *p == '{' ? '}' : ']';
        int obj = *p == '{';
        if (depth >= JS_MAX_DEPTH) return NULL;
        p = js_ws(p + 1, end);
        if (p < end && *p == close) return p + 1;
        for (;;) {
            if (obj) {
                if (!(p = js_string(p, end, NULL))) return NULL;
                p = js_ws(p, end);
                if (p >= end || *p != ':') return NULL;
                p = js_ws(p + 1, end);
            }
            if (!(p = js_value(p, end, depth + 1))) return NULL;
            p = js_ws(p, end);
            if (p >= end) return NULL;
            if (*p == close) return p + 1;
            if (*p != ',') return NULL;
            p = js_ws(p + 1, end);
        }
    }
    default:
        return js_number(p, end);
    }
}

/* Decode the JSON string at p (at '"', already validated) into out[0..cap),
 * truncating at a UTF-8 boundary; NUL-terminated. Returns the position after
 * the closing quote or NULL. */
static const char *js_decode_str(const char *p, const char *end, char *out, size_t cap,
                                 size_t *outlen)
{
    size_t o = 0;
    const char *q = js_string(p, end, NULL);
    if (outlen) *outlen = 0;
    if (!q || cap == 0) return q;
    p++;
    while (p < q - 1) {
        char tmp[4];
        size_t tn = 1;
        if (*p == '\\') {
            char c = p[1];
            p += 2;
            switch (c) {
            case 'b': tmp[0] = '\b'; break;
            case 'f': tmp[0] = '\f'; break;
            case 'n': tmp[0] = '\n'; break;
            case 'r': tmp[0] = '\r'; break;
            case 't': tmp[0] = '\t'; break;
            case 'u': {
                unsigned u = 0;
                for (int i = 0; i < 4; i++) u = (u << 4) | (unsigned)hexval(p[i]);
                p += 4;
                if (u >= 0xD800 && u <= 0xDFFF) u = 0xFFFD; /* no pairing: good enough for messages */
                if (u < 0x80) tmp[0] = (char)u;
                else if (u < 0x800) {
                    tmp[0] = (char)(0xC0 | (u >> 6)); tmp[1] = (char)(0x80 | (u & 0x3F)); tn = 2;
                } else {
                    tmp[0] = (char)(0xE0 | (u >> 12)); tmp[1] = (char)(0x80 | ((u >> 6) & 0x3F));
                    tmp[2] = (char)(0x80 | (u & 0x3F)); tn = 3;
                }
                break;
            }
            default: tmp[0] = c; break;
            }
        } else {
            tn = utf8_seq_len((const unsigned char *)p, (size_t)(q - p));
            if (tn == 0 || tn > 4) tn = 1;
            memcpy(tmp, p, tn);
            p += tn;
        }
        if (o + tn >= cap) break;
        memcpy(out + o, tmp, tn);
        o += tn;
    }
    out[o] = '\0';
    if (outlen) *outlen = o;
    return q;
}

/* ---- time, index names, ids -------------------------------------------------- */

static void utc_parts(int64_t ts_ns, struct tm *tm, long *nsec)
{
    int64_t sec = ts_ns / 1000000000;
    int64_t ns = ts_ns % 1000000000;
    if (ns < 0) { ns += 1000000000; sec--; }
    /* clamp to years 0..9999 so the fixed-width format holds */
    if (sec < -62167219200LL) { sec = -62167219200LL; ns = 0; }
    if (sec > 253402300799LL) { sec = 253402300799LL; ns = 999999999; }
    time_t t = (time_t)sec;
    if (!gmtime_r(&t, tm)) memset(tm, 0, sizeof *tm);
    *nsec = (long)ns;
}

size_t es_bulk_rfc3339_ns(int64_t ts_ns, char *out)
{
    /* Formatting the date part costs more than the rest of a document's
     * framing, and consecutive records share their second: cache it. */
    static _Thread_local int64_t cached_sec = INT64_MIN;
    static _Thread_local char cached[20];
    int64_t sec = ts_ns / 1000000000, ns = ts_ns % 1000000000;
    if (ns < 0) { ns += 1000000000; sec--; }
    if (sec != cached_sec) {
        struct tm tm;
        long cns;
        char tmp[80];
        utc_parts(ts_ns, &tm, &cns);
        snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        memcpy(cached, tmp, 19);
        cached_sec = sec;
        if (cns != ns) {            /* clamped out of range: no caching of odd values */
            cached_sec = INT64_MIN;
            ns = cns;
        }
    }
    memcpy(out, cached, 19);
    out[19] = '.';
    for (int i = 28; i >= 20; i--) {
        out[i] = (char)('0' + ns % 10);
        ns /= 10;
    }
    out[29] = 'Z';
    out[30] = '\0';
    return 30;
}

static int index_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
           c == '+';
}

int es_bulk_index_name(const char *pattern, int64_t ts_ns, char *out, size_t outlen)
{
    struct tm tm;
    long ns;
    size_t o = 0;
    if (!pattern || !out || outlen == 0) return -1;
    utc_parts(ts_ns, &tm, &ns);
    for (const char *p = pattern; *p; p++) {
        char tmp[8];
        size_t tn;
        if (*p != '%') {
            if (!index_char_ok(*p)) return -1;
            tmp[0] = *p;
            tn = 1;
        } else {
            int v, w;
            switch (*++p) {
            case 'Y': v = tm.tm_year + 1900; w = 4; break;
            case 'm': v = tm.tm_mon + 1; w = 2; break;
            case 'd': v = tm.tm_mday; w = 2; break;
            case 'H': v = tm.tm_hour; w = 2; break;
            case '%': v = -1; w = 0; break;
            default: return -1;
            }
            if (v < 0) { tmp[0] = '%'; tn = 1; }
            else tn = (size_t)snprintf(tmp, sizeof tmp, "%0*d", w, v);
        }
        if (o + tn >= outlen) return -1;
        memcpy(out + o, tmp, tn);
        o += tn;
    }
    out[o] = '\0';
    return (int)o;
}

int es_bulk_index_check(const char *pattern, char *err, size_t errlen)
{
    char tmp[ES_BULK_INDEX_MAX];
    if (!pattern || !*pattern) {
        snprintf(err, errlen, "index: empty name");
        return -1;
    }
    if (pattern[0] == '-' || pattern[0] == '_' || pattern[0] == '+' || pattern[0] == '.') {
        snprintf(err, errlen, "index '%s': must not start with '-', '_', '+' or '.'", pattern);
        return -1;
    }
    if (es_bulk_index_name(pattern, 0, tmp, sizeof tmp) < 0) {
        snprintf(err, errlen,
                 "index '%s': use lowercase a-z 0-9 . _ - + and only %%Y %%m %%d %%H %%%% (at most %d bytes)",
                 pattern, ES_BULK_INDEX_MAX - 1);
        return -1;
    }
    return 0;
}

static uint64_t mix64(uint64_t x)   /* splitmix64's finaliser: full avalanche */
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* Two unrelated 64-bit hashes of the same bytes: FNV-1a, and a word-at-a-time
 * multiply/rotate hash with another seed; each finalised with mix64 and the
 * length, so the 128-bit pair behaves like a random function of the input. */
static void hash128(const unsigned char *p, size_t n, uint64_t *a, uint64_t *b)
{
    uint64_t h1 = hash_fnv1a64(p, n), h2 = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h2 ^= mix64(w + 0x632be59bd9b4e019ULL);
        h2 = (h2 << 27 | h2 >> 37) * 0x9fb21c651e98df25ULL;
    }
    uint64_t last = 0;
    for (size_t k = 0; i + k < n; k++) last |= (uint64_t)p[i + k] << (8 * k);
    h2 ^= mix64(last ^ 0xd6e8feb86659fd93ULL);
    *a = mix64(h1 ^ (uint64_t)n);
    *b = mix64(h2);
}

void es_bulk_doc_id(const struct ls_record *rec, char out[ES_BULK_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    char tmp[32];
    uint64_t h[2];
    if (rec->origin && rec->origin_len > 0) {
        hash128((const unsigned char *)rec->origin, rec->origin_len, &h[0], &h[1]);
    } else {
        int n = snprintf(tmp, sizeof tmp, "seq:%llu", (unsigned long long)rec->seq);
        hash128((const unsigned char *)tmp, (size_t)n, &h[0], &h[1]);
    }
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < 16; i++)
            out[w * 16 + i] = hex[(h[w] >> (60 - 4 * i)) & 15];
    out[ES_BULK_ID_LEN] = '\0';
}

/* ---- document encoding ---------------------------------------------------------- */

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
        memset(ks->stamp, 0, sizeof ks->stamp);
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
        if (ks->hash[i] == h && ks->klen[i] == n && memcmp(ks->key[i], k, n) == 0) return 0;
    }
    return 0;
}

/* Parse the canonical label string {a="x",b="y"} and call fn for each pair
 * with the decoded value in scratch. Returns 0, or -1 when malformed. */
static int labels_each(const char *s, size_t n, char *scratch, size_t scap,
                       int (*fn)(void *arg, const char *k, size_t kn, const char *v, size_t vn),
                       void *arg)
{
    const char *p = s, *end = s + n;
    while (p < end && (*p == ' ')) p++;
    if (p >= end || *p != '{') return -1;
    p++;
    for (;;) {
        while (p < end && (*p == ' ' || *p == ',')) p++;
        if (p >= end) return -1;
        if (*p == '}') return 0;
        const char *k = p;
        while (p < end && *p != '=' && *p != '}' && *p != ',') p++;
        if (p >= end || *p != '=' || p == k) return -1;
        size_t kn = (size_t)(p - k);
        p++;
        if (p >= end || *p != '"') return -1;
        p++;
        const char *v = p;
        int esc = 0;
        while (p < end && *p != '"') {
            if (*p == '\\') { esc = 1; p++; }
            p++;
        }
        if (p >= end) return -1;
        size_t raw = (size_t)(p - v);
        p++;
        if (!esc) {
            if (fn(arg, k, kn, v, raw) != 0) return -1;
            continue;
        }
        /* unescape \\ \" \n; the result is never longer than the raw span */
        char *dst = raw <= scap ? scratch : malloc(raw);
        size_t vn = 0;
        int rc;
        if (!dst) return -1;
        for (size_t i = 0; i < raw; i++) {
            char c = v[i];
            if (c == '\\' && i + 1 < raw) {
                c = v[++i];
                if (c == 'n') c = '\n';
            }
            dst[vn++] = c;
        }
        rc = fn(arg, k, kn, dst, vn);
        if (dst != scratch) free(dst);
        if (rc != 0) return -1;
    }
}

/* A JSON string: printable ASCII without quote or backslash is copied as is
 * (label names and values nearly always are); anything else goes through jsonw. */
static int json_str_fast(buf_t *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') return jsonw_str(out, s, n);
    }
    size_t mark = out->len;
    if (buf_addc(out, '"') || buf_add(out, s, n) || buf_addc(out, '"')) {
        buf_truncate(out, mark);
        return -1;
    }
    return 0;
}

struct doc_ctx {
    buf_t *out;
    struct keyset *ks;
    int failed;
};

static int add_label(void *arg, const char *k, size_t kn, const char *v, size_t vn)
{
    struct doc_ctx *dc = arg;
    if (!keyset_add(dc->ks, k, kn)) return 0;
    if (buf_addc(dc->out, ',') || json_str_fast(dc->out, k, kn) || buf_addc(dc->out, ':') ||
        json_str_fast(dc->out, v, vn)) {
        dc->failed = 1;
        return -1;
    }
    return 0;
}

/* Write the members of the JSON object line[0..n) into out (each preceded by a
 * comma). Returns 1 when the line is a valid JSON object and was written, 0
 * when it is not an object, or has more distinct keys than can be tracked
 * (out unchanged: the line then ships whole as "message"), -1 on the cap. */
static int copy_object_members(buf_t *out, const char *line, size_t n, struct keyset *ks,
                               char *kbuf, size_t kcap)
{
    const char *p = line, *end = line + n;
    size_t mark = out->len;
    size_t kused = 0;
    /* one pass: validate and copy member by member; any flaw → undo, plain text */
    p = js_ws(p, end);
    if (p >= end || *p != '{') return 0;
    p = js_ws(p + 1, end);
    if (p < end && *p == '}') return js_ws(p + 1, end) == end ? 1 : 0;
    for (;;) {
        int esc = 0;
        const char *ks0 = p;
        const char *ke = js_string(p, end, &esc);
        if (!ke) goto not_object;
        const char *kd = ks0 + 1;
        size_t kdn = (size_t)(ke - ks0 - 2);
        if (esc) {
            /* decode into the key arena so that "\u0061" and "a" collide */
            if (kused + (size_t)(ke - ks0) + 1 > kcap) goto not_object;
            js_decode_str(ks0, ke, kbuf + kused, (size_t)(ke - ks0) + 1, &kdn);
            kd = kbuf + kused;
            kused += kdn + 1;
        }
        p = js_ws(ke, end);
        if (p >= end || *p != ':') goto not_object;
        p = js_ws(p + 1, end);
        const char *vs = p;
        const char *ve = js_value(p, end, 0);
        if (!ve) goto not_object;
        int keep = !(kdn == 10 && memcmp(kd, "@timestamp", 10) == 0) && keyset_add(ks, kd, kdn);
        if (ks->overflow) goto not_object;
        if (keep) {
            if (buf_addc(out, ',') || buf_add(out, ks0, (size_t)(ke - ks0)) || buf_addc(out, ':') ||
                buf_add(out, vs, (size_t)(ve - vs))) {
                buf_truncate(out, mark);
                return -1;
            }
        }
        p = js_ws(ve, end);
        if (p >= end) goto not_object;
        if (*p == '}') {
            if (js_ws(p + 1, end) != end) goto not_object;
            return 1;
        }
        if (*p != ',') goto not_object;
        p = js_ws(p + 1, end);
    }
not_object:
    buf_truncate(out, mark);
    return 0;
}

int es_bulk_encode_doc(buf_t *out, const struct ls_record *rec)
{
    size_t mark = out->len;
    char ts[32];
    char kbuf[1024];
    char scratch[1024];
    static _Thread_local struct keyset ks;   /* reused: keyset_clear is O(1) */
    struct doc_ctx dc = { out, &ks, 0 };
    size_t tn = es_bulk_rfc3339_ns(rec->ts_ns, ts);
    int r;

    keyset_clear(&ks);
    keyset_add(&ks, "@timestamp", 10);
    if (buf_adds(out, "{\"@timestamp\":\"") || buf_add(out, ts, tn) || buf_addc(out, '"'))
        goto fail;
    r = copy_object_members(out, rec->line ? rec->line : "", rec->line ? rec->line_len : 0, &ks,
                            kbuf, sizeof kbuf);
    if (r < 0) goto fail;
    if (r == 0) {
        keyset_clear(&ks);                   /* forget keys of a rejected object */
        keyset_add(&ks, "@timestamp", 10);
        keyset_add(&ks, "message", 7);
        if (buf_adds(out, ",\"message\":") || jsonw_str(out, rec->line ? rec->line : "", rec->line_len))
            goto fail;
    }
    if (rec->labels && rec->labels_len > 0) {
        size_t lmark = out->len;
        if (labels_each(rec->labels, rec->labels_len, scratch, sizeof scratch, add_label, &dc) != 0) {
            if (dc.failed) goto fail;
            buf_truncate(out, lmark);   /* malformed label string: ship the line without labels */
        }
    }
    if (buf_addc(out, '}')) goto fail;
    return 0;
fail:
    buf_truncate(out, mark);
    return -1;
}

int es_bulk_encode_pair(buf_t *out, const char *index, const struct ls_record *rec)
{
    size_t mark = out->len;
    char id[ES_BULK_ID_LEN + 1];
    es_bulk_doc_id(rec, id);
    if (buf_adds(out, "{\"create\":{") ||
        (index && (buf_adds(out, "\"_index\":") || jsonw_str(out, index, strlen(index)) ||
                   buf_addc(out, ','))) ||
        buf_adds(out, "\"_id\":\"") || buf_add(out, id, ES_BULK_ID_LEN) || buf_adds(out, "\"}}\n") ||
        es_bulk_encode_doc(out, rec) || buf_addc(out, '\n')) {
        buf_truncate(out, mark);
        return -1;
    }
    return 0;
}

/* ---- response decoding ------------------------------------------------------------ */

static int key_is(const char *ks, const char *ke, const char *name)
{
    size_t n = strlen(name);
    return (size_t)(ke - ks) == n + 2 && memcmp(ks + 1, name, n) == 0;
}

/* Parse {"type":..,"reason":..,...} (or a bare string reason) at p. */
static const char *parse_error(const char *p, const char *end, struct es_bulk_item *it)
{
    if (p < end && *p == '"') {
        const char *q = js_decode_str(p, end, it ? it->reason : NULL, it ? sizeof it->reason : 0, NULL);
        return q;
    }
    if (p >= end || *p != '{') return js_value(p, end, 1);
    p = js_ws(p + 1, end);
    if (p < end && *p == '}') return p + 1;
    for (;;) {
        const char *ks = p;
        const char *ke = js_string(p, end, NULL);
        if (!ke) return NULL;
        p = js_ws(ke, end);
        if (p >= end || *p != ':') return NULL;
        p = js_ws(p + 1, end);
        if (it && p < end && *p == '"' && key_is(ks, ke, "type"))
            p = js_decode_str(p, end, it->type, sizeof it->type, NULL);
        else if (it && p < end && *p == '"' && key_is(ks, ke, "reason"))
            p = js_decode_str(p, end, it->reason, sizeof it->reason, NULL);
        else
            p = js_value(p, end, 2);
        if (!p) return NULL;
        p = js_ws(p, end);
        if (p >= end) return NULL;
        if (*p == '}') return p + 1;
        if (*p != ',') return NULL;
        p = js_ws(p + 1, end);
    }
}

/* The inner object of an item: {"_index":..,"status":201,"error":{...}}. */
static const char *parse_item_body(const char *p, const char *end, struct es_bulk_item *it)
{
    if (p >= end || *p != '{') return NULL;
    p = js_ws(p + 1, end);
    if (p < end && *p == '}') return p + 1;
    for (;;) {
        const char *ks = p;
        const char *ke = js_string(p, end, NULL);
        if (!ke) return NULL;
        p = js_ws(ke, end);
        if (p >= end || *p != ':') return NULL;
        p = js_ws(p + 1, end);
        if (key_is(ks, ke, "status")) {
            const char *ne = js_number(p, end);
            if (!ne) return NULL;
            long v = 0;
            for (const char *d = p; d < ne && *d >= '0' && *d <= '9'; d++) {
                v = v * 10 + (*d - '0');
                if (v > 999) v = 999;
            }
            if (*p == '-') v = 0;
            if (it) it->status = (int)v;
            p = ne;
        } else if (key_is(ks, ke, "error")) {
            p = parse_error(p, end, it);
        } else {
            p = js_value(p, end, 2);
        }
        if (!p) return NULL;
        p = js_ws(p, end);
        if (p >= end) return NULL;
        if (*p == '}') return p + 1;
        if (*p != ',') return NULL;
        p = js_ws(p + 1, end);
    }
}

/* One element of "items": {"create":{...}} (any action name). */
static const char *parse_item(const char *p, const char *end, struct es_bulk_item *it)
{
    if (p >= end || *p != '{') return NULL;
    p = js_ws(p + 1, end);
    if (p < end && *p == '}') return p + 1;
    for (;;) {
        const char *ke = js_string(p, end, NULL);
        if (!ke) return NULL;
        p = js_ws(ke, end);
        if (p >= end || *p != ':') return NULL;
        p = js_ws(p + 1, end);
        p = (p < end && *p == '{') ? parse_item_body(p, end, it) : js_value(p, end, 2);
        if (!p) return NULL;
        p = js_ws(p, end);
        if (p >= end) return NULL;
        if (*p == '}') return p + 1;
        if (*p != ',') return NULL;
        p = js_ws(p + 1, end);
    }
}

int es_bulk_parse_response(const char *body, size_t len, struct es_bulk_item *items,
                           size_t cap, struct es_bulk_resp *out)
{
    const char *p = body, *end = body + len;
    memset(out, 0, sizeof *out);
    out->errors = -1;
    if (!body) return -1;
    p = js_ws(p, end);
    if (p >= end || *p != '{') return -1;
    p = js_ws(p + 1, end);
    if (p < end && *p == '}') { out->complete = 1; return 0; }
    for (;;) {
        const char *ks = p;
        const char *ke = js_string(p, end, NULL);
        if (!ke) return 0;
        p = js_ws(ke, end);
        if (p >= end || *p != ':') return 0;
        p = js_ws(p + 1, end);
        if (key_is(ks, ke, "errors") && p < end && (*p == 't' || *p == 'f')) {
            const char *q = js_lit(p, end, *p == 't' ? "true" : "false");
            if (!q) return 0;
            out->errors = *p == 't';
            p = q;
        } else if (key_is(ks, ke, "items") && p < end && *p == '[') {
            p = js_ws(p + 1, end);
            if (p < end && *p == ']') p++;
            else for (;;) {
                struct es_bulk_item tmp;
                struct es_bulk_item *it = out->total < cap ? &items[out->total] : &tmp;
                memset(it, 0, sizeof *it);
                p = parse_item(p, end, it);
                if (!p) return 0;
                out->total++;
                if (out->total <= cap) out->nitems = out->total;
                p = js_ws(p, end);
                if (p >= end) return 0;
                if (*p == ']') { p++; break; }
                if (*p != ',') return 0;
                p = js_ws(p + 1, end);
            }
        } else {
            p = js_value(p, end, 1);
            if (!p) return 0;
        }
        p = js_ws(p, end);
        if (p >= end) return 0;
        if (*p == '}') {
            out->complete = js_ws(p + 1, end) == end;
            return 0;
        }
        if (*p != ',') return 0;
        p = js_ws(p + 1, end);
    }
}
