/* es_index: the Elasticsearch target name of a record, an index pattern expanded with the record's UTC date (see
 * es_bulk.h). */
#include "logship/out/es_bulk.h"

#include <stdio.h>
#include <string.h>

#include "timefmt.h"

static int index_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '+';
}

/* Where a conversion's digits sit in "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ", or -1 when c is none. */
static int conversion_at(char c, size_t *width)
{
    static const struct {
        char conv;
        int at;
        size_t width;
    } table[] = { { 'Y', 0, 4 }, { 'm', 5, 2 }, { 'd', 8, 2 }, { 'H', 11, 2 } };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (table[i].conv == c) {
            *width = table[i].width;
            return table[i].at;
        }
    }
    return -1;
}

int ls_es_bulk_index_name(const char *pattern, int64_t ts_ns, char *out, size_t outlen)
{
    if (!pattern || !out || outlen == 0)
        return -1;
    char date[TIMEFMT_RFC3339_NS_LEN + 1];
    timefmt_rfc3339_ns(date, ts_ns);
    size_t o = 0;
    for (const char *p = pattern; *p; p++) {
        const char *from = p;
        size_t tn = 1;
        if (*p != '%') {
            if (!index_char_ok(*p))
                return -1;
        } else if (*++p != '%') {
            int at = conversion_at(*p, &tn);
            if (at < 0)
                return -1;
            from = date + at;
        }
        if (o + tn >= outlen)
            return -1;
        memcpy(out + o, from, tn);
        o += tn;
    }
    out[o] = '\0';
    return (int)o;
}

int ls_es_bulk_index_check(const char *pattern, char *err, size_t errlen)
{
    char tmp[ES_BULK_INDEX_MAX];
    if (!pattern || !*pattern) {
        snprintf(err, errlen, "index: empty name");
        return -1;
    }
    if (pattern[0] == '-' || pattern[0] == '_' || pattern[0] == '+' || pattern[0] == '.') {
        snprintf(err, errlen, "index '%s': must not start with '-', '_', '+' or '.'", pattern);
        return -1;
    }
    if (ls_es_bulk_index_name(pattern, 0, tmp, sizeof(tmp)) < 0) {
        snprintf(err, errlen,
                 "index '%s': use lowercase a-z 0-9 . _ - + and only %%Y %%m %%d %%H %%%% (at most %d bytes)",
                 pattern, ES_BULK_INDEX_MAX - 1);
        return -1;
    }
    return 0;
}
