/* jsonscan: the one strict JSON scanner of the tree (RFC 8259 grammar), spans only, no allocation
 * and no recursion. logship uses it to find fields in log lines, to decide whether a line can be
 * embedded as an object, and to read Elasticsearch _bulk answers; json-c stays for configuration
 * and state files, where building a tree is fine. The scanner checks grammar byte by byte; string
 * contents are not checked for UTF-8 (callers that need it check the span with utf8_valid once). */
#ifndef COMMON_JSONSCAN_H
#define COMMON_JSONSCAN_H

#include <stddef.h>

#include "buf.h"

/* Deepest nesting jsonscan_value accepts (a deeper value is malformed here). */
#define JSONSCAN_MAX_DEPTH 64

/* First byte at or after p that is not JSON whitespace (at most e). */
const char *jsonscan_ws(const char *p, const char *e);

/* p at '"'. Returns the byte after the closing quote, or NULL when the string is malformed or
 * unterminated (a control byte, a bad escape, a short \u). *esc is set to 1 when the string holds
 * an escape (left alone otherwise; may be NULL). */
const char *jsonscan_string(const char *p, const char *e, int *esc);

/* p at a number. Returns the byte after it (JSON's number grammar), or NULL. */
const char *jsonscan_number(const char *p, const char *e);

/* Skip one value at p (leading whitespace allowed) nested at most depth_left levels (and at most
 * JSONSCAN_MAX_DEPTH). Returns the byte after it, or NULL when malformed, truncated or too deep. */
const char *jsonscan_value(const char *p, const char *e, int depth_left);

/* 1 when s[0..n) is exactly one JSON value with optional surrounding whitespace, else 0. */
int jsonscan_valid(const char *s, size_t n);

/* Append the decoded contents of a string (raw: the bytes between the quotes, already scanned) to
 * out. \uXXXX pairs become one code point; a lone surrogate or a malformed escape becomes U+FFFD,
 * a lone trailing backslash is kept. Returns 0, or -1 on buffer cap/OOM. */
int jsonscan_unescape(const char *raw, size_t n, buf_t *out) BUF_WARN_UNUSED;

/* Walk the members of one object:
 *     struct jsonscan_obj o;
 *     if (jsonscan_obj_open(&o, p, e) != 0) → malformed
 *     while ((r = jsonscan_obj_next(&o)) == 1) {
 *         o.key/o.key_len/o.key_esc name the member; o.p is at its value (no whitespace);
 *         set o.p to the byte after the value (e.g. jsonscan_value(o.p, e, d)); NULL → malformed
 *     }
 *     r == 0: o.p is the byte after '}'; r == -1: malformed. */
struct jsonscan_obj {
    const char *p, *e;
    const char *key;   /* raw key bytes, between the quotes */
    size_t key_len;
    int key_esc;       /* the key holds an escape */
    int started;
};

/* p at '{' (leading whitespace allowed). 0, or -1 when p is not at an object. */
int jsonscan_obj_open(struct jsonscan_obj *o, const char *p, const char *e);

/* Advance to the next member: 1 (key set, o->p at the value), 0 at the end of the object (o->p
 * after '}'), -1 when malformed (including o->p set to NULL by the caller). */
int jsonscan_obj_next(struct jsonscan_obj *o);

/* 1 when the raw key o->key equals name[0..n) after unescaping, else 0. */
int jsonscan_key_is(const struct jsonscan_obj *o, const char *name, size_t n);

#endif
