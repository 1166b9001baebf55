/* config_file: logship's JSON config file, read into "--key=value" arguments that go before the command line's. */
#include "logship/config_file.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#define MAX_FILE_ARGS 1024

int ls_config_file_args(const struct cfg_opt *opts, size_t nopts, const char *path, buf_t *args, size_t *nargs,
                        char *err, size_t errlen)
{
    int rc = -1;
    json_object *root = json_object_from_file(path);
    if (!root) {
        snprintf(err, errlen, "config file %s: %s", path, json_util_get_last_err());
        goto out;
    }
    if (!json_object_is_type(root, json_type_object)) {
        snprintf(err, errlen, "config file %s: the top level must be a JSON object", path);
        goto out;
    }
    json_object_object_foreach(root, key, val) {
        const struct cfg_opt *o = cfg_find(opts, nopts, key);
        if (!o || strcmp(key, "config") == 0) {
            snprintf(err, errlen, "config file %s: unknown key \"%s\"", path, key);
            goto out;
        }
        size_t nv = 1;
        int is_arr = json_object_is_type(val, json_type_array);
        if (is_arr) {
            if (o->type != CFG_LIST) {
                snprintf(err, errlen, "config file %s: \"%s\" takes one value, not an array", path, key);
                goto out;
            }
            nv = json_object_array_length(val);
        }
        for (size_t k = 0; k < nv; k++) {
            json_object *e = is_arr ? json_object_array_get_idx(val, k) : val;
            const char *txt;
            char num[64];
            switch (json_object_get_type(e)) {
            case json_type_string:
                txt = json_object_get_string(e);
                if (strlen(txt) != (size_t)json_object_get_string_len(e)) {
                    /* name the key, never the value: it may be a secret */
                    snprintf(err, errlen, "config file %s: \"%s\" holds a NUL character", path, key);
                    goto out;
                }
                break;
            case json_type_int:
                snprintf(num, sizeof(num), "%" PRId64, json_object_get_int64(e));
                txt = num;
                break;
            case json_type_double:
                snprintf(num, sizeof(num), "%.17g", json_object_get_double(e));
                txt = num;
                break;
            case json_type_boolean:
                txt = json_object_get_boolean(e) ? "true" : "false";
                break;
            default:
                snprintf(err, errlen, "config file %s: \"%s\" must be a string, number or boolean", path, key);
                goto out;
            }
            if (*nargs >= MAX_FILE_ARGS) {
                snprintf(err, errlen, "config file %s: too many values", path);
                goto out;
            }
            /* NUL-separated "--key=value" strings */
            if (buf_printf(args, "--%s=%s", key, txt) != 0 || buf_addc(args, '\0') != 0) {
                snprintf(err, errlen, "config file %s: too large", path);
                goto out;
            }
            (*nargs)++;
        }
    }
    rc = 0;
out:
    json_object_put(root);
    return rc;
}

const char *ls_config_file_find(int argc, char **argv, const char *env)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            return argv[i + 1];
        if (strncmp(argv[i], "--config=", 9) == 0)
            return argv[i] + 9;
    }
    return getenv(env);
}
