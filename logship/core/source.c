/* source: the parts of the source interface (core/source.h) every kind of source shares: the end of
 * a constructor and the destructor, so each input does not carry its own copy. */
#include "logship/core/source.h"

#include <stdio.h>

struct ls_source *ls_source_finish(struct ls_source *src, const struct ls_source_ops *ops, void *ctx, int r,
                                   char *err, size_t errlen)
{
    if (r < 0)
        snprintf(err, errlen, "%s source: out of memory", ops->kind);
    if (r != 0) {
        ops->destroy(ctx);
        return NULL;
    }
    src->ops = ops;
    src->ctx = ctx;
    return src;
}

void ls_source_free(struct ls_source *src)
{
    if (!src)
        return;
    /* the handle is embedded in the source's context: destroy frees both */
    src->ops->destroy(src->ctx);
}
