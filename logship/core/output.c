/* output: the registry of output kinds compiled into logship, so config and engine look backends up by name. */
#include <string.h>

#include "logship/core/output.h"

/* Each backend defines one ops table in its own file (out_<kind>.c). */
extern const struct ls_output_ops ls_output_loki;
extern const struct ls_output_ops ls_output_elasticsearch;
extern const struct ls_output_ops ls_output_logstash;

static const struct ls_output_ops *const registry[] = {
    &ls_output_loki,
    &ls_output_elasticsearch,
    &ls_output_logstash,
    NULL,
};

const struct ls_output_ops *ls_output_find(const char *kind)
{
    for (size_t i = 0; registry[i]; i++)
        if (strcmp(registry[i]->kind, kind) == 0)
            return registry[i];
    return NULL;
}
