/* auth: the one declaration of the outputs' credential and TLS options, instantiated shared and per kind. */
#include "logship/core/auth.h"

#include <stdio.h>
#include <string.h>

#include "logship/core/output.h"

/* One setting: its row (option name after the prefix, metavar, the shared
 * option's help, where it lives in struct ls_kind_auth), the common per-kind
 * help (NULL: made from the prefix), and whether it is a secret (named on
 * the start line). */
struct auth_decl {
    struct cfg_row row;
    const char    *kind_help;
    int            secret;
};

#define AUTH(field, name, metavar, shared_help, kind_help, secret) \
    { CFG_ROW(struct ls_kind_auth, field, name, CFG_STR, NULL, 0, 0, NULL, metavar, shared_help), kind_help, secret }

static const struct auth_decl decls[LS_AUTH_NFIELDS] = {
    [LS_AUTH_USERNAME] = AUTH(username, "username", "USER",
        "Basic auth user for every output kind without its own credentials (--KIND-username, ...).", NULL, 0),
    [LS_AUTH_PASSWORD] = AUTH(password, "password", "PASS",
        "Basic auth password (with --username).", "basic auth password.", 1),
    [LS_AUTH_PASSWORD_FILE] = AUTH(password_file, "password-file", "PATH",
        "File holding the basic auth password instead of --password (re-read on change).",
        "file holding the basic auth password.", 1),
    [LS_AUTH_BEARER_TOKEN_FILE] = AUTH(bearer_token_file, "bearer-token-file", "PATH",
        "File holding a bearer token (Authorization: Bearer), for kinds without their own credentials.",
        "file holding a bearer token.", 1),
    [LS_AUTH_API_KEY] = AUTH(api_key, "api-key", "KEY",
        "API key (Authorization: ApiKey) for kinds that take one, unless their own --KIND-* credentials are given.",
        "API key (Authorization: ApiKey).", 1),
    [LS_AUTH_API_KEY_FILE] = AUTH(api_key_file, "api-key-file", "PATH",
        "File holding the API key instead of --api-key (re-read on change).",
        "file holding the API key.", 1),
    [LS_AUTH_CA_FILE] = AUTH(ca_file, "ca-file", "PATH",
        "CA bundle to verify backends' TLS certificates (kinds without their own --*-ca-file).",
        "CA bundle (replaces --ca-file).", 0),
    [LS_AUTH_CERT] = AUTH(cert, "cert", "PATH",
        "Client certificate (PEM) for mTLS (kinds without their own --*-cert/--*-key).",
        "mTLS client certificate (replaces --cert/--key).", 0),
    [LS_AUTH_KEY] = AUTH(key, "key", "PATH",
        "Client private key (PEM) for mTLS (with --cert).", "mTLS client key.", 0),
};

static char **value_of(const struct ls_kind_auth *a, enum ls_auth_field f)
{
    return cfg_row_dst(&decls[f].row, a);
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

int ls_auth_rows(const struct ls_output_auth *kind, struct ls_kind_auth *a, struct ls_auth_rows *rows)
{
    memset(rows, 0, sizeof(*rows));
    for (size_t f = 0; f < LS_AUTH_NFIELDS; f++) {
        if (kind && !(kind->fields & LS_AUTH_BIT(f)))
            continue;
        size_t i = rows->n;
        if (cfg_bind(rows->opt, LS_AUTH_NFIELDS, &rows->n, &decls[f].row, 1, a) != 0)
            return -1;
        char *name = rows->name[i], *help = rows->help[i];
        int nn, nh;
        if (!kind) {
            nn = snprintf(name, sizeof(rows->name[i]), "%s", decls[f].row.opt.name);
            nh = snprintf(help, sizeof(rows->help[i]), "%s", decls[f].row.opt.help);
        } else {
            nn = snprintf(name, sizeof(rows->name[i]), "%s-%s", kind->prefix, decls[f].row.opt.name);
            if (kind->help[f])
                nh = snprintf(help, sizeof(rows->help[i]), "%s outputs only: %s", kind->title, kind->help[f]);
            else if (decls[f].kind_help)
                nh = snprintf(help, sizeof(rows->help[i]), "%s outputs only: %s", kind->title, decls[f].kind_help);
            else
                nh = snprintf(help, sizeof(rows->help[i]), "%s outputs only: basic auth user; any --%s-* "
                              "credential replaces the shared ones.", kind->title, kind->prefix);
        }
        if (nn < 0 || (size_t)nn >= sizeof(rows->name[i]) || nh < 0 || (size_t)nh >= sizeof(rows->help[i]))
            return -1;
        rows->field[i] = (enum ls_auth_field)f;
        rows->opt[i].name = name;
        rows->opt[i].help = help;
    }
    return 0;
}

static const char *row_name(const struct ls_auth_rows *rows, enum ls_auth_field f)
{
    for (size_t i = 0; i < rows->n; i++)
        if (rows->field[i] == f)
            return rows->opt[i].name;
    return decls[f].row.opt.name;
}

int ls_auth_header_safe(const char *opt, const char *v, char *err, size_t errlen)
{
    if (!v)
        return 0;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
            /* name the option, never the value */
            snprintf(err, errlen, "--%s holds a control character (CR, LF, ...); refused", opt);
            return -1;
        }
    return 0;
}

/* A credential given both as a value and as a file. */
static int one_of(const struct ls_auth_rows *rows, const struct ls_kind_auth *a, enum ls_auth_field value,
                  enum ls_auth_field file, char *err, size_t errlen)
{
    const char *n = row_name(rows, value);
    if (ls_auth_header_safe(n, *value_of(a, value), err, errlen) != 0)
        return -1;
    if (nonempty(*value_of(a, value)) && nonempty(*value_of(a, file))) {
        snprintf(err, errlen, "--%s and --%s: give one, not both", n, row_name(rows, file));
        return -1;
    }
    return 0;
}

int ls_auth_check(const struct ls_auth_rows *rows, const struct ls_kind_auth *a, char *err, size_t errlen)
{
    const char *user = row_name(rows, LS_AUTH_USERNAME);
    if (ls_auth_header_safe(user, a->username, err, errlen) != 0)
        return -1;
    if (a->username && strchr(a->username, ':')) {
        snprintf(err, errlen, "--%s must not hold ':' (basic auth splits user and password there)", user);
        return -1;
    }
    if (one_of(rows, a, LS_AUTH_PASSWORD, LS_AUTH_PASSWORD_FILE, err, errlen) != 0)
        return -1;
    return one_of(rows, a, LS_AUTH_API_KEY, LS_AUTH_API_KEY_FILE, err, errlen);
}

int ls_auth_resolve(const struct ls_kind_auth *kind, const struct ls_kind_auth *shared, const char *prefix,
                    struct ls_output_conf *o, char *err, size_t errlen)
{
    const struct ls_kind_auth *cred = kind->username || kind->password || kind->password_file ||
                                              kind->bearer_token_file || kind->api_key || kind->api_key_file
                                          ? kind
                                          : shared;
    const struct ls_kind_auth *tls = kind->cert || kind->key ? kind : shared;
    o->username = nonempty(cred->username);
    o->password = nonempty(cred->password);
    o->password_file = nonempty(cred->password_file);
    o->api_key_file = nonempty(cred->api_key_file);
    o->bearer_token_file = nonempty(cred->bearer_token_file);
    o->api_key = nonempty(cred->api_key);
    o->ca_file = nonempty(kind->ca_file ? kind->ca_file : shared->ca_file);
    o->cert_file = nonempty(tls->cert);
    o->key_file = nonempty(tls->key);
    const char *pre = cred == kind ? prefix : "";
    const char *dash = cred == kind ? "-" : "";
    if (!o->username != !(o->password || o->password_file)) {
        snprintf(err, errlen, "--%s%susername and --%s%spassword go together", pre, dash, pre, dash);
        return -1;
    }
    pre = tls == kind ? prefix : "";
    dash = tls == kind ? "-" : "";
    if (!o->cert_file != !o->key_file) {
        snprintf(err, errlen, "--%s%scert and --%s%skey go together", pre, dash, pre, dash);
        return -1;
    }
    return 0;
}

void ls_auth_secrets(const struct ls_auth_rows *rows, const struct ls_kind_auth *a, const char **names,
                     size_t *n, size_t max)
{
    for (size_t i = 0; i < rows->n; i++)
        if (decls[rows->field[i]].secret && nonempty(*value_of(a, rows->field[i])) && *n < max)
            names[(*n)++] = rows->opt[i].name;
}
