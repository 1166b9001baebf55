/* libFuzzer target for the docker json-file joiner: records split by newlines, any bytes; joined
 * lines respect the cap and offsets stay ordered. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "logship/in/docker.h"
#include "utf8.h"
#include "logship/in/lineparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXL 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ls_docker *d = ls_docker_new(MAXL);
    struct ls_parse_conf pc;
    struct ls_lineparse *lp;
    struct ls_docker_line l;
    size_t pos = 0;
    char err[64];

    memset(&pc, 0, sizeof(pc));
    pc.format = LS_FORMAT_DOCKER;
    pc.max_line_bytes = MAXL;
    lp = ls_lineparse_new(&pc, ls_srcmetrics_get(NULL), err, sizeof(err));
    if (!d || !lp)
        abort();
    while (pos < size) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t n = nl ? (size_t)(nl - (data + pos)) : size - pos;
        int k = ls_docker_feed(d, (const char *)data + pos, n, 0, pos, &l);
        if (k < 0)
            abort();
        if (k == 1) {
            struct ls_line_in in = { l.line, l.len, l.cut, l.ts_ns, l.stream, 1 };
            struct ls_record rec;
            if (!l.malformed && l.len > MAXL)
                abort();
            if (l.start_off > pos)
                abort();
            if (ls_lineparse_line(lp, &in, &rec) == 1 &&
                (rec.line_len > MAXL || !utf8_clean(rec.line, rec.line_len)))
                abort();
        }
        if (ls_docker_pending_off(d) != UINT64_MAX && ls_docker_pending_off(d) > pos)
            abort();
        pos += n + 1;
    }
    while (ls_docker_flush(d, &l) == 1)
        if (l.len > MAXL)
            abort();
    if (ls_docker_pending_off(d) != UINT64_MAX)
        abort();
    ls_lineparse_free(lp);
    ls_docker_free(d);
    return 0;
}
