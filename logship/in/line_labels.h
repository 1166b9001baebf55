/* line_labels: the label set of one input line (README "Input lines", lineparse.h's policy):
 * --label statics, the docker stream and --label-field values, sanitized, ranked by precedence,
 * capped at LS_MAX_LABELS and rendered as the canonical {a="x",b="y"} string, cached while the
 * inputs repeat. Owned by one ls_lineparse; private to logship/in/. */
#ifndef LOGSHIP_IN_LINE_LABELS_H
#define LOGSHIP_IN_LINE_LABELS_H

#include <stddef.h>

#include "buf.h"
#include "logship/in/lineparse.h"

struct ls_label;

struct ls_line_labels {
    struct ls_label *statics;  /* sorted, precedence 0 */
    size_t           n_static;
    char           **lf_names; /* sanitized label names of the label fields */
    size_t           n_lf;
    buf_t            labels;   /* the canonical label string of the last line */
    buf_t            vals;     /* escaped dynamic label values */
    buf_t            tmp;      /* repair scratch */
    char             key[2048]; /* inputs of the string in labels (see inputs_unchanged) */
    size_t           key_len;
    int              key_ok;
};

/* Set up from the label field names lf[0..nlf) (non-empty) and the static labels
 * kv[0..nkv) ("name=value"). 0; 1 with a one-line message in err (NULL-safe) on a bad static
 * label; -1 on OOM. ll is always safe to free afterwards. */
int ls_line_labels_init(struct ls_line_labels *ll, const char *const *lf, size_t nlf,
                        const char *const *kv, size_t nkv, char *err, size_t errlen);

/* Release what ls_line_labels_init allocated (also after it failed). */
void ls_line_labels_free(struct ls_line_labels *ll);

/* Render this line's labels into ll->labels: the docker stream (NULL: none) and, when f is not
 * NULL, the values of the label fields f[0..n_lf) as ls_json_scan found them. 0, or -1 on OOM. */
int ls_line_labels_build(struct ls_line_labels *ll, const char *stream, const struct ls_jfield *f);

#endif
