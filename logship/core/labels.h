/* labels: the one grammar of a record's label string, {name="value",name="value"}, written by the
 * line parser and read by every output (Loki's stream selector, Elasticsearch and Logstash fields,
 * the Loki lookup). Names are [A-Za-z_][A-Za-z0-9_]*; a value escapes exactly four bytes:
 * backslash, double quote, newline and tab, as \\ \" \n \t. Building and parsing live together so
 * the two can never disagree on an escape again. */
#ifndef LOGSHIP_CORE_LABELS_H
#define LOGSHIP_CORE_LABELS_H

#include <stddef.h>

#include "buf.h"

/* Append v[0..n) to out with the four escapes applied. 0, or -1 on buffer cap/OOM. */
int ls_labels_escape(buf_t *out, const char *v, size_t n) BUF_WARN_UNUSED;

/* Append one pair to a label string being built in out: a ',' unless out ends with '{', then
 * name="escaped" (escaped[0..elen) already passed through ls_labels_escape). The caller writes
 * the opening '{' and the closing '}'. 0, or -1 on buffer cap/OOM. */
int ls_labels_add_escaped(buf_t *out, const char *name, size_t nlen, const char *escaped,
                          size_t elen) BUF_WARN_UNUSED;

/* 1 when s[0..n) is a label name ([A-Za-z_][A-Za-z0-9_]*, n > 0), else 0. */
int ls_labels_name_valid(const char *s, size_t n);

/* Write s[0..n) as a label name into dst (at least max + 1 bytes): a '_' in front of a leading
 * digit, every byte outside [A-Za-z0-9_] as '_', at most max bytes, "_" when empty; NUL-terminated.
 * Returns its length. */
size_t ls_labels_name_sanitize(const char *s, size_t n, char *dst, size_t max);

/* Split a "name=value" option (--label) at its first '=': *nlen the name's length, *val the value
 * (may be empty). 0, or -1 when kv is NULL, has no '=' or the name is empty. The name is not
 * checked against the grammar: the caller validates or sanitizes it. */
int ls_labels_parse_kv(const char *kv, size_t *nlen, const char **val);

/* Called once per pair in order, with the name and the unescaped value. Non-zero stops the walk. */
typedef int (*ls_labels_fn)(void *ctx, const char *name, size_t nlen, const char *val, size_t vlen);

/* Parse s[0..n) (a whole label string; a space may follow each comma and the opening brace) and
 * call fn for each pair, the value unescaped into scratch (reset per pair). fn may be NULL to
 * validate only. Returns 0 when s is a well-formed label set and every fn call returned 0, -1
 * otherwise (malformed, unknown escape, fn refused, or scratch's cap/OOM). */
int ls_labels_each(const char *s, size_t n, buf_t *scratch, ls_labels_fn fn, void *ctx);

#endif
