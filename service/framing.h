/* framing: strict request-framing checks on the head civetweb parsed, so no request-smuggling shape is served. */
#ifndef HELLOD_FRAMING_H
#define HELLOD_FRAMING_H

#include <stddef.h>

struct mg_request_info;

/* One header field as civetweb hands it over. */
struct framing_field {
    const char *name, *value;
};

/* The header-level rules, on already split fields (pure, for unit tests
 * and fuzzing): every Content-Length is 1*DIGIT and all of them are equal;
 * Transfer-Encoding appears at most once and is exactly "chunked"
 * (case-insensitive); Content-Length and Transfer-Encoding never come
 * together. Returns NULL when the head is acceptable, else a short reason
 * (a static string) to answer 400 with Connection: close. */
const char *framing_check_fields(const struct framing_field *f, int n);

/* The same rules on civetweb's parsed head, plus the ones only civetweb's
 * buffer can show (civetweb accepts them silently): whitespace between a
 * field name and its colon, an obs-fold continuation line (civetweb stops
 * parsing there and drops every later field), a field count at civetweb's
 * MG_MAX_HEADERS limit (later fields would be dropped), and a bare LF line
 * ending (so the checks above read only bytes of the head).
 * head_cap is civetweb's request buffer size (max_request_size): reads
 * stay below it. Returns NULL or a reason, as above. */
const char *framing_check(const struct mg_request_info *ri, size_t head_cap);

/* civetweb's isprint() (its object is compiled with -D__NO_CTYPE
 * -Disprint=hellod_isprint): isprint plus HTAB, so civetweb's head scanner
 * accepts a tab inside a field value (RFC 9110 5.5). */
int hellod_isprint(int c);

/* Did civetweb's head scanner refuse a byte on this thread since the last
 * call? Clears the flag. */
int framing_take_bad_byte(void);

#endif
