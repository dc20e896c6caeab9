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

/* ---- scratch trees ---- */

#define SCRATCH_CHUNK ((size_t)64 << 10)
#define SCRATCH_ALIGN ((size_t) _Alignof(max_align_t))

struct scratch_chunk {
    struct scratch_chunk *next;
    size_t size, used;
    _Alignas(max_align_t) char data[];
};

/* Per thread: the tests' scripted servers parse on threads of their own. */
static _Thread_local struct {
    struct scratch_chunk *head; /* the chunk being filled; older ones follow */
    int parsing;                /* inside cJSON's parse: its allocations come from here */
    int live;                   /* scratch trees not yet done */
} scratch;

static int in_scratch(const void *p)
{
    for (const struct scratch_chunk *c = scratch.head; c; c = c->next)
        if ((const char *)p >= c->data && (const char *)p < c->data + c->size)
            return 1;
    return 0;
}

static void *hook_malloc(size_t n)
{
    struct scratch_chunk *c = scratch.head;

    if (!scratch.parsing)
        return malloc(n);
    n = (n + SCRATCH_ALIGN - 1) & ~(SCRATCH_ALIGN - 1);
    if (!c || c->size - c->used < n) {
        size_t size = n > SCRATCH_CHUNK ? n : SCRATCH_CHUNK;
        if (!(c = malloc(sizeof(*c) + size)))
            return NULL; /* cJSON fails the parse */
        c->size = size;
        c->used = 0;
        c->next = scratch.head;
        scratch.head = c;
    }
    c->used += n;
    return c->data + c->used - n;
}

static void hook_free(void *p)
{
    if (p && scratch.head && in_scratch(p))
        return; /* dropped with the arena */
    free(p);
}

/* Before main: cJSON's hooks are process-wide and not safe to change while another thread
 * allocates. What cJSON allocates outside a scratch parse is malloc's and freed by free. */
__attribute__((constructor)) static void scratch_hooks(void)
{
    cJSON_Hooks h = {hook_malloc, hook_free};
    cJSON_InitHooks(&h);
}

cJSON *tk_json_scratch_parse(const char *text, size_t len, const char **end)
{
    cJSON *root;

    scratch.parsing++;
    root = cJSON_ParseWithLengthOpts(text, len, end, 0);
    scratch.parsing--;
    scratch.live++;
    return root;
}

void tk_json_scratch_done(void)
{
    struct scratch_chunk *keep = NULL, *c, *next;

    if (scratch.live > 0)
        scratch.live--;
    if (scratch.live)
        return;
    /* one chunk of the usual size stays, so the next event mallocs nothing; what a large
     * event grew goes back */
    for (c = scratch.head; c; c = next) {
        next = c->next;
        if (!keep && c->size == SCRATCH_CHUNK) {
            keep = c;
            continue;
        }
        free(c);
    }
    if (keep) {
        keep->used = 0;
        keep->next = NULL;
    }
    scratch.head = keep;
}

size_t tk_json_scratch_bytes(void)
{
    size_t n = 0;
    for (const struct scratch_chunk *c = scratch.head; c; c = c->next)
        n += c->size;
    return n;
}
