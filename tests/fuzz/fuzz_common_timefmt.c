/* fuzz_common_timefmt: RFC 3339 parsing never crashes, and a parsed time formats and re-parses stably. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t ns = 0, ns2 = 0, ns3 = 0;
    char out[TIMEFMT_RFC3339_US_LEN + 1], out2[TIMEFMT_RFC3339_US_LEN + 1];
    /* Copy so reading past size is caught by ASan. */
    char *s = malloc(size ? size : 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    if (timefmt_parse_rfc3339(s, size, &ns) == 0) {
        struct timespec ts;
        ts.tv_sec = (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        if (ts.tv_nsec < 0) {
            ts.tv_nsec += 1000000000;
            ts.tv_sec--;
        }
        if (timefmt_rfc3339_us(out, &ts) != TIMEFMT_RFC3339_US_LEN)
            abort();
        if (timefmt_parse_rfc3339(out, TIMEFMT_RFC3339_US_LEN, &ns2) != 0)
            abort();
        /* microsecond truncation toward the past */
        if (ns2 > ns || ns - ns2 >= 1000)
            abort();
        ts.tv_sec = (time_t)(ns2 / 1000000000);
        ts.tv_nsec = (long)(ns2 % 1000000000);
        if (ts.tv_nsec < 0) {
            ts.tv_nsec += 1000000000;
            ts.tv_sec--;
        }
        timefmt_rfc3339_us(out2, &ts);
        if (memcmp(out, out2, sizeof out) != 0 ||
            timefmt_parse_rfc3339(out2, TIMEFMT_RFC3339_US_LEN, &ns3) != 0 || ns3 != ns2)
            abort();
    }
    free(s);
    return 0;
}
