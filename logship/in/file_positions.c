/* file_positions: state_dir/positions.json, the file source's checkpoint: load (moving a corrupt
 * one aside), match a newly opened file against it, and save it atomically when it changed. */
#include "logship/in/file_tail.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "atomicfile.h"
#include "jsonw.h"
#include "log.h"

/* The integer member k of o; clears *ok when it is missing or not an integer. */
static int64_t jget_i64(struct json_object *o, const char *k, int *ok)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int)) {
        *ok = 0;
        return 0;
    }
    return json_object_get_int64(v);
}

void ls_file_positions_free(struct ls_fsrc *s)
{
    for (size_t i = 0; s->saved && i < s->nsaved; i++)
        free(s->saved[i].path);
    free(s->saved);
    s->saved = NULL;
    s->nsaved = 0;
}

/* Parse one entry of "files" into sv. 0, 1 when it is malformed, -1 on OOM. */
static int parse_entry(struct json_object *e, struct ls_tsaved *sv)
{
    if (!json_object_is_type(e, json_type_object))
        return 1;
    int ok = 1;
    sv->id.dev = (uint64_t)jget_i64(e, "dev", &ok);
    sv->id.ino = (uint64_t)jget_i64(e, "ino", &ok);
    int64_t fl = jget_i64(e, "fp_len", &ok);
    int64_t off = jget_i64(e, "offset", &ok);
    struct json_object *v;
    if (!ok || fl < 0 || fl > LS_FP_BYTES || off < 0 || !json_object_object_get_ex(e, "fp", &v) ||
        !json_object_is_type(v, json_type_string))
        return 1;
    const char *fps = json_object_get_string(v);
    char *end;
    errno = 0;
    sv->id.fp = strtoull(fps, &end, 16);
    if (errno != 0 || end == fps || *end != '\0')
        return 1;
    sv->id.fp_len = (uint32_t)fl;
    sv->off = (uint64_t)off;
    if (json_object_object_get_ex(e, "path", &v) && json_object_is_type(v, json_type_string)) {
        sv->path = strdup(json_object_get_string(v));
        if (!sv->path)
            return -1;
    }
    return 0;
}

/* Move a corrupt positions.json aside, log and count it, and forget what was loaded of it. */
static void set_aside(struct ls_fsrc *s)
{
    char aside[PATH_MAX];
    snprintf(aside, sizeof(aside), "%s.corrupt", s->pos_path);
    if (rename(s->pos_path, aside) != 0)
        aside[0] = '\0';
    log_kv(LOGL_ERROR, "file positions are corrupt; moved aside, starting as on a first run", "path",
           s->pos_path, "moved_to", aside, NULL);
    metrics_add(s->m->positions_corrupt, 1);
    ls_file_positions_free(s);
}

int ls_file_positions_load(struct ls_fsrc *s)
{
    struct json_object *root = NULL;
    struct json_tokener *tok = NULL;
    int rc = 0;
    buf_t b;
    buf_init(&b, ATOMICFILE_MAX);
    int r = atomicfile_read(s->pos_path, &b);
    if (r == 1)
        goto out;
    if (r < 0) {
        log_kv(LOGL_ERROR, "cannot read file positions, starting as on a first run", "path",
               s->pos_path, "error", strerror(errno), NULL);
        goto out;
    }
    tok = json_tokener_new_ex(8);
    if (!tok) {
        rc = -1;
        goto out;
    }
    root = json_tokener_parse_ex(tok, b.p ? b.p : "", (int)b.len);
    struct json_object *arr;
    if (!root || json_tokener_get_error(tok) != json_tokener_success ||
        !json_object_object_get_ex(root, "files", &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        set_aside(s);
        goto out;
    }
    s->had_positions = 1;
    size_t n = json_object_array_length(arr);
    s->saved = calloc(n + 1, sizeof(*s->saved));
    if (!s->saved) {
        rc = -1;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        int e = parse_entry(json_object_array_get_idx(arr, i), &s->saved[s->nsaved]);
        if (e < 0) {
            rc = -1;
            goto out;
        }
        if (e > 0) {
            set_aside(s);
            goto out;
        }
        s->nsaved++;
    }
out:
    if (root)
        json_object_put(root);
    if (tok)
        json_tokener_free(tok);
    buf_free(&b);
    return rc;
}

int ls_file_positions_match(struct ls_fsrc *s, int fd, const struct ls_file_obs *o, uint64_t *off)
{
    for (size_t i = 0; i < s->nsaved; i++) {
        struct ls_tsaved *sv = &s->saved[i];
        if (sv->used || sv->id.dev != o->dev || sv->id.ino != o->ino)
            continue;
        struct ls_file_obs ob;
        if (ls_file_observe(fd, sv->id.fp_len, &ob) != 0)
            return 0;
        enum ls_rot d = ls_rotation_decide(&sv->id, sv->off, &ob);
        sv->used = 1;
        if (d == LS_ROT_IDLE || d == LS_ROT_GROWN) {
            *off = sv->off;
            return 1;
        }
        if (d == LS_ROT_TRUNCATED) {
            /* same inode with other content: copytruncate while we were down,
             * or a recycled inode; either way its every byte is new to us */
            metrics_add(s->m->rot_truncate, 1);
            *off = 0;
            return 1;
        }
    }
    return 0;
}

int ls_file_positions_save(struct ls_fsrc *s)
{
    if (!s->pos_path)
        return 0;
    int rc = -1;
    buf_t b;
    buf_init(&b, ATOMICFILE_MAX);
    if (buf_adds(&b, "{\"version\":1,\"files\":[") != 0)
        goto out;
    for (struct ls_tfile *f = s->files; f; f = f->next) {
        if (b.p[b.len - 1] != '[' && buf_addc(&b, ',') != 0)
            goto out;
        if (buf_printf(&b,
                       "\n{\"dev\":%" PRIu64 ",\"ino\":%" PRIu64 ",\"fp\":\"%016" PRIx64
                       "\",\"fp_len\":%u,\"offset\":%" PRIu64 ",\"path\":",
                       f->id.dev, f->id.ino, f->id.fp, (unsigned)f->id.fp_len,
                       ls_reader_safe_off(&f->rd)) != 0 ||
            jsonw_str(&b, f->path, strlen(f->path)) != 0 || buf_addc(&b, '}') != 0)
            goto out;
    }
    if (buf_adds(&b, "\n]}\n") != 0)
        goto out;
    if (s->ckpt.len == b.len && s->ckpt.p && memcmp(s->ckpt.p, b.p, b.len) == 0) {
        rc = 0; /* unchanged: no write, no fsync */
        goto out;
    }
    if (atomicfile_write(s->pos_path, b.p, b.len) != 0) {
        log_kv(LOGL_ERROR, "cannot save file positions", "path", s->pos_path, "error",
               strerror(errno), NULL);
        goto out;
    }
    buf_reset(&s->ckpt);
    if (buf_add(&s->ckpt, b.p, b.len) != 0)
        buf_reset(&s->ckpt);
    rc = 0;
out:
    buf_free(&b);
    return rc;
}
