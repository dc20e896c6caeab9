#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int tk_json_parse(cJSON **out, const char *text, size_t len, const char *what, struct tk_err *err)
{
    const char *end = NULL;
    cJSON *root = NULL;
    int rc = 0;

    if (!what)
        what = "JSON";
    if (len == 0) {
        rc = tk_err_set(err, TK_EINVAL, "%s: empty input, expected JSON", what);
        goto fail;
    }
    /* Without require_null_terminated: cJSON would then demand a NUL inside len, and we check
     * the tail ourselves so trailing garbage is still an error. */
    root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        rc = tk_err_set(err, TK_EINVAL, "%s: invalid JSON at byte %zu", what, at);
        goto fail;
    }
    while (end && end < text + len && is_ws(*end))
        end++;
    if (end && end < text + len) {
        rc =
            tk_err_set(err, TK_EINVAL, "%s: trailing data at byte %zu", what, (size_t)(end - text));
        goto fail;
    }
    *out = root;
    return 0;
fail:
    cJSON_Delete(root);
    *out = NULL;
    return rc;
}

static int all_digits(const char *s, size_t n)
{
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

const cJSON *tk_json_get(const cJSON *obj, const char *path)
{
    const cJSON *cur = obj;
    char seg[256];

    while (cur && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof(seg))
            return NULL;
        memcpy(seg, path, n);
        seg[n] = '\0';
        if (cJSON_IsArray(cur) && all_digits(seg, n)) {
            long idx = strtol(seg, NULL, 10);
            cur = idx <= 1000000000L ? cJSON_GetArrayItem(cur, (int)idx) : NULL;
        } else if (cJSON_IsObject(cur)) {
            cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
        } else {
            return NULL;
        }
        path += n;
        if (*path == '.')
            path++;
    }
    return cur;
}

const char *tk_json_get_str(const cJSON *obj, const char *path)
{
    const cJSON *v = tk_json_get(obj, path);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int tk_json_get_num(const cJSON *obj, const char *path, double *out)
{
    const cJSON *v = tk_json_get(obj, path);
    if (!cJSON_IsNumber(v))
        return -1;
    *out = v->valuedouble;
    return 0;
}

int tk_json_get_int64(const cJSON *obj, const char *path, int64_t *out)
{
    double d;
    if (tk_json_get_num(obj, path, &d) || d != floor(d) || fabs(d) > 9007199254740992.0)
        return -1;
    *out = (int64_t)d;
    return 0;
}

int tk_json_get_bool(const cJSON *obj, const char *path, int *out)
{
    const cJSON *v = tk_json_get(obj, path);
    if (!cJSON_IsBool(v))
        return -1;
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return 0;
}

const cJSON *tk_json_get_obj(const cJSON *obj, const char *path)
{
    const cJSON *v = tk_json_get(obj, path);
    return cJSON_IsObject(v) ? v : NULL;
}

const cJSON *tk_json_get_arr(const cJSON *obj, const char *path)
{
    const cJSON *v = tk_json_get(obj, path);
    return cJSON_IsArray(v) ? v : NULL;
}

char *tk_json_print(const cJSON *obj)
{
    char *s = cJSON_PrintUnformatted(obj);
    if (!s) {
        /* cJSON fails only when an allocation does (or obj is NULL, a caller bug). */
        fprintf(stderr, "turbokube: out of memory printing JSON\n");
        abort();
    }
    return s;
}
