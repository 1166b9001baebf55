/* output: the registry of output kinds compiled into logship, one line per backend; config walks its tables. */
#include "logship/core/output.h"

/* One line per backend: out/out_<kind>.c defines ls_output_<kind>. The order
 * is the order of the kinds' options in --help and of their outputs. */
#define OUTPUT_KINDS(X) \
    X(loki)             \
    X(elasticsearch)    \
    X(logstash)

#define DECLARE(kind) extern const struct ls_output_ops ls_output_##kind;
OUTPUT_KINDS(DECLARE)
#define ENTRY(kind) &ls_output_##kind,
static const struct ls_output_ops *const registry[] = { OUTPUT_KINDS(ENTRY) };

const char *const ls_output_http_schemes[] = { "http://", "https://", NULL };

const struct ls_output_ops *ls_output_kind(size_t i)
{
    return i < sizeof(registry) / sizeof(registry[0]) ? registry[i] : NULL;
}
