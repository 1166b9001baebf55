/* es_bulk: one _bulk NDJSON pair, the create action with its deterministic _id followed by the record's event (see
 * es_bulk.h). */
#include "logship/out/es_bulk.h"

#include <string.h>

#include "jsonw.h"
#include "logship/out/event.h"

int ls_es_bulk_encode_pair(buf_t *out, const char *index, const struct ls_record *rec)
{
    size_t mark = out->len;
    char id[ES_BULK_ID_LEN + 1];
    ls_es_docid(rec, id);
    if (buf_adds(out, "{\"create\":{") ||
        (index && (buf_adds(out, "\"_index\":") || jsonw_str(out, index, strlen(index)) ||
                   buf_addc(out, ','))) ||
        buf_adds(out, "\"_id\":\"") || buf_add(out, id, ES_BULK_ID_LEN) || buf_adds(out, "\"}}\n") ||
        ls_event_encode(out, rec) || buf_addc(out, '\n')) {
        buf_truncate(out, mark);
        return -1;
    }
    return 0;
}
