/* fuzz_logship_loki_resp: Loki's response reading (status → verdict, 400 body reason, "total ignored: N out of M", the 429/400 per-entry list) on hostile bytes.
 *
 * The first two bytes pick the status and the batch size; the rest is the body,
 * copied to an exact-size allocation so ASan catches any read past its end.
 * Invariants: a known verdict, dropped never above the batch size, reason and
 * detail NUL-terminated and within their arrays, a parsed N <= M, and the
 * per-entry list parser stores no more than asked and counts the same
 * whatever room it is given. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "logship/out/loki_resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = { 0, 200, 204, 400, 400, 400, 401, 403, 404, 408, 413, 429, 500, 503, 301, 100 };
    if (size < 2)
        return 0;
    long status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
    size_t n = data[1];
    data += 2;
    size -= 2;
    char *body = malloc(size ? size : 1);
    if (!body)
        return 0;
    memcpy(body, data, size);

    struct ls_loki_answer a;
    memset(&a, 0, sizeof(a));
    a.status = status;
    a.body = size ? body : NULL;
    a.body_len = size;
    a.retry_after_ms = -1;
    a.error = status == 0 ? "connection refused" : NULL;
    struct ls_flush_result res;
    memset(&res, 0x41, sizeof(res)); /* not NUL-terminated unless the code does it */
    enum ls_verdict v = ls_loki_verdict(&a, n, &res, NULL);
    if (v != LS_DONE && v != LS_RETRY && v != LS_DROP && v != LS_CONFIG)
        abort();
    if (v == LS_DROP && res.dropped > n)
        abort();
    if (!memchr(res.reason, '\0', sizeof(res.reason)) || !memchr(res.detail, '\0', sizeof(res.detail)))
        abort();
    if (v != LS_DONE && res.reason[0] == '\0')
        abort();
    if (status == 400 && v != LS_DROP)
        abort();

    uint64_t ign, of;
    if (ls_loki_parse_ignored(body, size, &ign, &of) == 0 && ign > of)
        abort();
    int64_t ts[4];
    size_t nl = ls_loki_parse_listed(body, size, ts, 4);
    if (ls_loki_parse_listed(body, size, NULL, 0) != nl)
        abort();
    const char *why = ls_loki_400_reason(body, size);
    if (!why || !*why)
        abort();
    free(body);
    return 0;
}
