/* labels: builds and parses the label string (grammar in labels.h). */
#include "core/labels.h"

#include <string.h>

int ls_labels_escape(buf_t *out, const char *v, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        char esc = c == '\\' ? '\\' : c == '"' ? '"' : c == '\n' ? 'n' : c == '\t' ? 't' : 0;
        if (!esc)
            continue;
        char pair[2] = {'\\', esc};
        if (buf_add(out, v + run, i - run) != 0 || buf_add(out, pair, 2) != 0)
            return -1;
        run = i + 1;
    }
    return buf_add(out, v + run, n - run);
}

int ls_labels_add_escaped(buf_t *out, const char *name, size_t nlen, const char *escaped, size_t elen)
{
    if (out->len > 0 && out->p[out->len - 1] != '{' && buf_addc(out, ',') != 0)
        return -1;
    if (buf_add(out, name, nlen) != 0 || buf_add(out, "=\"", 2) != 0 || buf_add(out, escaped, elen) != 0)
        return -1;
    return buf_addc(out, '"');
}

static int name_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int name_char(unsigned char c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

int ls_labels_name_valid(const char *s, size_t n)
{
    if (n == 0 || !name_start((unsigned char)s[0]))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!name_char((unsigned char)s[i]))
            return 0;
    return 1;
}

size_t ls_labels_name_sanitize(const char *s, size_t n, char *dst, size_t max)
{
    size_t o = 0;
    if (n > 0 && s[0] >= '0' && s[0] <= '9')
        dst[o++] = '_';
    for (size_t i = 0; i < n && o < max; i++)
        dst[o++] = name_char((unsigned char)s[i]) ? s[i] : '_';
    if (o == 0)
        dst[o++] = '_';
    dst[o] = '\0';
    return o;
}

int ls_labels_parse_kv(const char *kv, size_t *nlen, const char **val)
{
    const char *eq = kv ? strchr(kv, '=') : NULL;
    if (!eq || eq == kv)
        return -1;
    *nlen = (size_t)(eq - kv);
    *val = eq + 1;
    return 0;
}

static size_t skip_spaces(const char *s, size_t i, size_t n)
{
    while (i < n && s[i] == ' ')
        i++;
    return i;
}

/* The quoted value starting after the opening quote at s[i]: unescaped into scratch. Returns the
 * index after the closing quote, or 0 when malformed (0 is never a valid end). */
static size_t parse_value(const char *s, size_t i, size_t n, buf_t *scratch)
{
    buf_reset(scratch);
    for (;;) {
        size_t run = i;
        while (i < n && s[i] != '"' && s[i] != '\\')
            i++;
        if (i >= n || buf_add(scratch, s + run, i - run) != 0)
            return 0;
        if (s[i] == '"')
            return i + 1;
        if (i + 1 >= n)
            return 0;
        char d = s[i + 1];
        char c = d == 'n' ? '\n' : d == 't' ? '\t' : d == '\\' ? '\\' : d == '"' ? '"' : 0;
        if (!c || buf_addc(scratch, c) != 0)
            return 0;
        i += 2;
    }
}

int ls_labels_each(const char *s, size_t n, buf_t *scratch, ls_labels_fn fn, void *ctx)
{
    if (n < 2 || s[0] != '{' || s[n - 1] != '}')
        return -1;
    n -= 1; /* s[n] is the closing brace */
    size_t i = skip_spaces(s, 1, n);
    if (i == n)
        return 0; /* "{}" */
    for (;;) {
        size_t ns = i;
        if (!name_start((unsigned char)s[i]))
            return -1;
        while (i < n && name_char((unsigned char)s[i]))
            i++;
        size_t nlen = i - ns;
        if (i + 1 >= n || s[i] != '=' || s[i + 1] != '"')
            return -1;
        i = parse_value(s, i + 2, n, scratch);
        if (i == 0)
            return -1;
        if (fn && fn(ctx, s + ns, nlen, scratch->p ? scratch->p : "", scratch->len) != 0)
            return -1;
        if (i == n)
            return 0;
        if (s[i] != ',')
            return -1;
        i = skip_spaces(s, i + 1, n);
        if (i == n)
            return -1;
    }
}
