/* libFuzzer target for lineparse and the line reader: any bytes → records that are valid UTF-8,
 * within max_line_bytes, with a well-formed label string. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "logship/in/linereader.h"
#include "jsonscan.h"
#include "utf8.h"
#include "logship/in/lineparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXL 512

static int check_emit(struct ls_emitter *em, const struct ls_record *r)
{
    size_t *n = em->ctx;
    if (r->line_len > MAXL || !utf8_clean(r->line, r->line_len))
        abort();
    if (r->labels_len < 2 || r->labels[0] != '{' || r->labels[r->labels_len - 1] != '}' ||
        !utf8_clean(r->labels, r->labels_len))
        abort();
    if (r->origin_len == 0)
        abort();
    (*n)++;
    return (*n % 7 == 3) ? 1 : 0; /* refuse now and then: exercise backpressure */
}

static void one_conf(const uint8_t *data, size_t size, enum ls_format fmt, int variant)
{
    static const char *const sl[] = { "service=fuzz", "9bad-name=v\"\\" };
    static const char *const lf[] = { "level", "a.b", "msg" };
    struct ls_parse_conf pc;
    struct ls_lineparse *lp;
    struct ls_reader rd;
    struct ls_emitter em;
    size_t emitted = 0, pos = 0, chunk = 1 + (size > 0 ? data[0] % 64 : 0);
    uint64_t off = 0;
    char err[128];

    memset(&pc, 0, sizeof(pc));
    pc.format = fmt;
    pc.static_labels = sl;
    pc.n_static_labels = 2;
    pc.label_fields = lf;
    pc.n_label_fields = 3;
    pc.max_line_bytes = MAXL;
    pc.on_invalid = (variant & 1) ? LS_INVALID_DROP : LS_INVALID_ESCAPE;
    pc.on_long = (variant & 2) ? LS_LONG_DROP : LS_LONG_TRUNCATE;
    lp = ls_lineparse_new(&pc, ls_srcmetrics_get(NULL), err, sizeof(err));
    if (!lp)
        abort();
    /* the whole input as one line */
    {
        struct ls_line_in in = { (const char *)data, size, 0, 0, NULL, 1 };
        struct ls_record rec;
        if (ls_lineparse_line(lp, &in, &rec) == 1) {
            size_t n = 0;
            em.emit = check_emit;
            em.ctx = &n;
            memset(&rec.origin, 0, sizeof(rec.origin));
            rec.origin = "x";
            rec.origin_len = 1;
            (void)check_emit(&em, &rec);
        }
    }
    /* and through the reader, in small chunks, with backpressure */
    if (ls_reader_init(&rd, lp, ls_srcmetrics_get(NULL), NULL, fmt, MAXL, 0) != 0)
        abort();
    em.emit = check_emit;
    em.ctx = &emitted;
    while (pos < size) {
        size_t n = size - pos < chunk ? size - pos : chunk;
        int stop = 0;
        long used = ls_reader_feed(&rd, (const char *)data + pos, n, off, &em, 1, &stop);
        if (used < 0)
            abort();
        pos += (size_t)used;
        off += (uint64_t)used;
        if (stop && ls_reader_retry(&rd, &em) < 0)
            abort();
        while (ls_reader_retry(&rd, &em) == 1)
            ;
        if (ls_reader_safe_off(&rd) > off)
            abort();
    }
    while (ls_reader_finish(&rd, &em, off, 1) == 1)
        while (ls_reader_retry(&rd, &em) == 1)
            ;
    ls_reader_free(&rd);
    ls_lineparse_free(lp);
}

/* Differential check of the hand-written scanner against json-c (strict):
 * both must agree on "this is one JSON object". Inputs with raw control bytes
 * are skipped (json-c's strict mode takes them inside strings, JSON does not),
 * and so are inputs json-c wants more bytes for (a number at the very end). */
static void against_json_c(const uint8_t *data, size_t size)
{
    struct ls_jfield f[1] = { { "a", 1, 0, 0, NULL, 0 } };
    struct json_tokener *tok;
    struct json_object *o;
    int ours, theirs = 0;
    size_t i;

    if (size > 4096 || !utf8_clean((const char *)data, size))
        return;
    for (i = 0; i < size; i++)
        if (data[i] < 0x20)
            return;
    ours = ls_json_scan((const char *)data, size, f, 1) == 0;
    tok = json_tokener_new_ex(JSONSCAN_MAX_DEPTH);
    if (!tok)
        abort();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    o = json_tokener_parse_ex(tok, (const char *)data, (int)size);
    if (!o && json_tokener_get_error(tok) == json_tokener_continue) {
        json_tokener_free(tok);
        return;
    }
    if (o && json_object_is_type(o, json_type_object)) {
        theirs = 1;
        for (i = json_tokener_get_parse_end(tok); i < size; i++)
            if (data[i] != ' ')
                theirs = 0;
    }
    if (o)
        json_object_put(o);
    json_tokener_free(tok);
    if (ours != theirs)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ls_jfield f[2] = { { "a", 1, 0, 0, NULL, 0 }, { "ts", 2, 0, 0, NULL, 0 } };
    int64_t ns;

    if (ls_json_scan((const char *)data, size, f, 2) == 0 && f[1].type != 0)
        (void)ls_parse_ts_field(&f[1], &ns);
    against_json_c(data, size);
    one_conf(data, size, LS_FORMAT_JSON, size > 1 ? data[1] : 0);
    one_conf(data, size, LS_FORMAT_RAW, 3);
    return 0;
}
