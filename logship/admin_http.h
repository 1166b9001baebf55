/* admin_http: the one HTTP request-head parser of logship's admin endpoint, pure so it can be fuzzed.
 *
 * The admin endpoint answers three GET paths and nothing else, so it needs
 * only the request line: method, path (query string cut off) and version.
 * Headers are skipped (not validated), and the head must end within the
 * caller's buffer (the server gives it LS_ADMIN_HEAD_MAX bytes and answers
 * 431 beyond). */
#ifndef LOGSHIP_ADMIN_HTTP_H
#define LOGSHIP_ADMIN_HTTP_H

#include <stddef.h>

#define LS_ADMIN_HEAD_MAX 4096

enum ls_admin_method { LS_ADMIN_GET = 0, LS_ADMIN_HEAD, LS_ADMIN_OTHER };
enum ls_admin_path { LS_ADMIN_METRICS = 0, LS_ADMIN_HEALTHZ, LS_ADMIN_READY, LS_ADMIN_UNKNOWN };

struct ls_admin_req {
    enum ls_admin_method method;
    enum ls_admin_path   path;
    size_t               head_len;   /* bytes of the head, "\r\n\r\n" (or "\n\n") included */
};

/* Parse the head at p[0..n) (not NUL-terminated). Returns 1 with *req set
 * when the whole head is there, 0 when more bytes are needed, -1 when it can
 * never be a valid request line (the caller answers 400). Never reads
 * outside p[0..n). */
int ls_admin_parse(const char *p, size_t n, struct ls_admin_req *req);

#endif
