/* source_metrics: shared source metric families, registered once per registry (reference-counted). */
#include "logship/in/source_metrics.h"

#include <pthread.h>
#include <stdlib.h>

struct slot {
    struct ls_srcmetrics m;
    unsigned refs;
    struct slot *next;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct slot *g_slots;
static struct ls_srcmetrics g_null; /* all NULL: for no registry */

static metrics_child *child1(metrics_family *f, const char *v)
{
    const char *vals[1] = {v};
    return metrics_child_get(f, vals);
}

static int fill(struct ls_srcmetrics *m, metrics_registry *reg)
{
    static const char *const l_source[] = {"source"};
    static const char *const l_reason[] = {"reason"};
    static const char *const l_kind[] = {"kind"};
    m->reg = reg;
    m->lines = metrics_counter(reg, "logship_source_lines_total",
                               "Input lines read per source (delivered + dropped).", 1, l_source);
    m->bytes = metrics_counter(reg, "logship_source_bytes_total",
                               "Input bytes read per source.", 1, l_source);
    metrics_family *dropped = metrics_counter(reg, "logship_input_dropped_total",
                                              "Input lines not shipped, by reason.", 1, l_reason);
    metrics_family *trunc =
        metrics_counter(reg, "logship_input_truncated_total",
                        "Input lines longer than --max-line-bytes shipped truncated.", 0, NULL);
    metrics_family *invalid =
        metrics_counter(reg, "logship_input_invalid_total",
                        "Input lines shipped repaired: invalid UTF-8 or NUL bytes replaced "
                        "(kind=encoding), malformed docker json-file records shipped raw "
                        "(kind=docker_record).",
                        1, l_kind);
    metrics_family *rot =
        metrics_counter(reg, "logship_rotations_total",
                        "File rotations seen, by kind (rename, truncate, delete).", 1, l_kind);
    metrics_family *refused =
        metrics_counter(reg, "logship_input_refused_total",
                        "Files a glob matched that were not opened, by reason: special_file "
                        "(FIFO, socket, device), pseudo_fs (proc, sysfs, ...), outside_root "
                        "(resolves outside its glob's directory and every --allow-root).",
                        1, l_reason);
    m->files_watched = metrics_gauge(reg, "logship_source_files_watched",
                                     "Files currently followed per source.", 1, l_source);
    metrics_family *poscor =
        metrics_counter(reg, "logship_source_positions_corrupt_total",
                        "positions.json files found unreadable and moved aside (files then resume "
                        "from the spool's marks).",
                        0, NULL);
    if (!m->lines || !m->bytes || !dropped || !trunc || !invalid || !rot || !refused || !m->files_watched ||
        !poscor)
        return -1;
    struct {
        metrics_child **dst;
        metrics_family *fam;
        const char     *value;
    } rows[] = {
        {&m->positions_corrupt, poscor, ""},
        {&m->drop_empty, dropped, "empty"},
        {&m->drop_too_long, dropped, "too_long"},
        {&m->drop_invalid, dropped, "invalid"},
        {&m->truncated, trunc, ""},
        {&m->invalid_encoding, invalid, "encoding"},
        {&m->invalid_docker, invalid, "docker_record"},
        {&m->rot_rename, rot, "rename"},
        {&m->rot_truncate, rot, "truncate"},
        {&m->rot_delete, rot, "delete"},
        {&m->refused_special, refused, "special_file"},
        {&m->refused_pseudo_fs, refused, "pseudo_fs"},
        {&m->refused_outside_root, refused, "outside_root"},
    };
    size_t n = sizeof(rows) / sizeof(rows[0]);
    for (size_t i = 0; i < n; i++)
        *rows[i].dst = child1(rows[i].fam, rows[i].value);
    for (size_t i = 0; i < n; i++)
        if (!*rows[i].dst)
            return -1;
    return 0;
}

struct ls_srcmetrics *ls_srcmetrics_get(metrics_registry *reg)
{
    struct slot *s, *dormant = NULL;
    struct ls_srcmetrics *res = NULL;

    if (!reg)
        return &g_null;
    pthread_mutex_lock(&g_mu);
    for (s = g_slots; s; s = s->next) {
        if (s->m.reg != reg)
            continue;
        if (s->refs > 0) {
            s->refs++;
            res = &s->m;
            goto out;
        }
        dormant = s;
    }
    /* A slot whose users are all gone is kept: its registry may still be
     * alive (families cannot be registered twice), or a new registry may have
     * the same address. Registering tells the two apart. */
    s = calloc(1, sizeof(*s));
    if (!s)
        goto out;
    if (fill(&s->m, reg) != 0) {
        int fresh_failed = !s->m.lines;
        free(s);
        if (fresh_failed && dormant) {
            dormant->refs = 1;
            res = &dormant->m;
        }
        goto out;
    }
    if (dormant)
        dormant->m.reg = NULL; /* stale: its registry was freed */
    s->refs = 1;
    s->next = g_slots;
    g_slots = s;
    res = &s->m;
out:
    pthread_mutex_unlock(&g_mu);
    return res;
}

void ls_srcmetrics_put(struct ls_srcmetrics *m)
{
    if (!m || m == &g_null)
        return;
    pthread_mutex_lock(&g_mu);
    for (struct slot *s = g_slots; s; s = s->next) {
        if (&s->m == m && s->refs > 0) {
            s->refs--;
            break;
        }
    }
    pthread_mutex_unlock(&g_mu);
}
