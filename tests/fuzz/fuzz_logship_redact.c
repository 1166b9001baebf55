/* fuzz_logship_redact: URL redaction and fileguard's pure path parsing (glob base, under-root) on hostile bytes.
 *
 * The first byte picks the output size for ls_redact_url; the rest, cut at its
 * first NUL, is the URL / glob / path. Invariants: the redacted URL is the
 * input with exactly its user information replaced by "REDACTED" (cut to the
 * output size), so no byte of a password can survive; a glob's base is "." or
 * "/" or a prefix of the pattern holding no wildcard; every absolute path is
 * under itself and under "/". */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logship/in/fileguard.h"
#include "logship/redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t outn = (size_t)data[0] + 1;
    char *s = malloc(size);
    char *out = malloc(outn);
    char *want = malloc(size + 16);
    char *base = malloc(size + 2);
    if (!s || !out || !want || !base)
        goto done;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';

    /* redaction: an independent statement of the rule */
    const char *auth = strstr(s, "://");
    auth = auth ? auth + 3 : s;
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (auth[i] == '@')
            at = auth + i;
    if (at)
        snprintf(want, size + 16, "%.*sREDACTED%s", (int)(auth - s), s, at);
    else
        snprintf(want, size + 16, "%s", s);
    const char *r = ls_redact_url(s, out, outn);
    if (r != out || strlen(out) >= outn || strncmp(out, want, outn - 1) != 0)
        abort();

    /* glob base */
    if (ls_fileguard_glob_base(s, base, size + 2) != 0)
        abort(); /* the base is never longer than the pattern (or "."), so it fits */
    size_t bl = strlen(base);
    if (strcmp(base, ".") != 0 && strcmp(base, "/") != 0 &&
        (strncmp(base, s, bl) != 0 || strpbrk(base, "*?[\\") != NULL || s[bl] != '/'))
        abort();

    /* under */
    if (s[0] == '/' && (!ls_fileguard_under(s, s) || !ls_fileguard_under(s, "/")))
        abort();
done:
    free(s);
    free(out);
    free(want);
    free(base);
    return 0;
}
