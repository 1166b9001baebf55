/* fuzz_logship_loki_query: the query_range answer parser (exact label match, paging cut) on hostile bytes.
 *
 * The first byte picks the page limit; the rest is the body, copied to an
 * exact-size allocation so ASan catches any read past its end. Invariants:
 * the parser reports no more entries than the answer holds, only entries
 * below the cut of a full page, and a cut only on a full page. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "logship/out/loki_query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct check {
    size_t n;
    unsigned sum;
};

static void on_entry(void *ctx, int64_t ts, const char *line, size_t len)
{
    struct check *c = ctx;
    if (!line)
        abort();
    if (len)   /* the whole line is readable */
        c->sum += (unsigned char)line[0] + (unsigned char)line[len - 1];
    c->n++;
    (void)ts;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char labels[] = "{level=\"info\",service=\"hello\"}";
    if (size < 1)
        return 0;
    size_t limit = data[0] % 8;
    data++;
    size--;
    char *body = malloc(size ? size : 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    struct check c = { 0, 0 };
    struct ls_loki_page pg;
    if (ls_loki_query_parse(body, size, labels, sizeof(labels) - 1, limit, on_entry, &c, &pg) == 0) {
        if (pg.reported != c.n || pg.reported > pg.returned)
            abort();
        if (pg.more && (limit == 0 || pg.returned < limit))
            abort();
    }
    free(body);
    return 0;
}
