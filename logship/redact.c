/* redact: strip the credentials from URLs before they are printed anywhere. */
#include "logship/redact.h"

#include <stdio.h>
#include <string.h>

const char *ls_redact_url(const char *url, char *out, size_t n)
{
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    /* the authority ends at the path, query or fragment; its last '@' ends
     * the user information (a password may itself hold '@') */
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth + alen; p++)
        if (*p == '@')
            at = p;
    if (!at) {
        snprintf(out, n, "%s", url);
        return out;
    }
    snprintf(out, n, "%.*sREDACTED%s", (int)(auth - url), url, at);
    return out;
}
