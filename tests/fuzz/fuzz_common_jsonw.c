/* fuzz_common_jsonw: any bytes through jsonw_str must give exactly one valid JSON string in valid UTF-8. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "utf8.h"
#include "../unit/test_common_json_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    buf_t b;
    int cut;
    buf_init(&b, 0);
    if (jsonw_str(&b, (const char *)data, size) != 0)
        abort();
    if (!jc_is_json_string(b.p, b.len))
        abort();
    /* Valid UTF-8 is reported as such exactly when the independent check agrees. */
    if (utf8_valid((const char *)data, size) != jc_utf8(data, size))
        abort();
    /* A capped encoding is a valid string within its room. */
    size_t room = size ? (size_t)data[0] + 2 : 2;
    buf_reset(&b);
    if (jsonw_str_capped(&b, (const char *)data, size, room, &cut) != 0 || b.len > room ||
        !jc_is_json_string(b.p, b.len))
        abort();
    buf_free(&b);
    return 0;
}
