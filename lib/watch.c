#include "watch.h"

#include <string.h>

#include "json.h"

#define DEFAULT_MAX_BYTES ((size_t)16 << 20)
/* Events that arrive whole in one chunk are parsed in place; the buffer only holds events
 * split across chunks. Beyond this size it is given back after use, so thousands of idle
 * watches do not each sit on their largest event. */
#define KEEP_BUF_BYTES ((size_t)4 << 10)

static const char *const type_names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};

void tk_watch_parser_init(struct tk_watch_parser *p, size_t max_bytes)
{
    memset(p, 0, sizeof(*p));
    p->max_bytes = max_bytes ? max_bytes : DEFAULT_MAX_BYTES;
    tk_buf_init(&p->buf, p->max_bytes);
}

void tk_watch_parser_release(struct tk_watch_parser *p)
{
    tk_buf_release(&p->buf);
    p->depth = p->in_string = p->escape = p->failed = 0;
    p->offset = 0;
}

void tk_watch_parser_reset(struct tk_watch_parser *p)
{
    if (p->buf.alloc > KEEP_BUF_BYTES)
        tk_buf_release(&p->buf);
    else
        tk_buf_reset(&p->buf);
    p->depth = p->in_string = p->escape = p->failed = 0;
    p->offset = 0;
}

size_t tk_watch_parser_pending(const struct tk_watch_parser *p)
{
    return p->buf.len;
}

int tk_watch_type_parse(const char *s, enum tk_watch_type *out)
{
    for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++) {
        if (strcmp(s, type_names[i]) == 0) {
            *out = (enum tk_watch_type)i;
            return 0;
        }
    }
    return -1;
}

const char *tk_watch_type_name(enum tk_watch_type type)
{
    if ((unsigned)type >= sizeof(type_names) / sizeof(type_names[0]))
        return "UNKNOWN";
    return type_names[type];
}

int tk_watch_status_code(const cJSON *status)
{
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(status, "code");
    if (!cJSON_IsNumber(code))
        return 0;
    return (int)code->valuedouble;
}

const char *tk_watch_resource_version(const cJSON *object)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
    return cJSON_IsString(rv) ? rv->valuestring : NULL;
}

static int fail(struct tk_watch_parser *p, struct tk_err *err, int code, const char *what,
                size_t at)
{
    p->failed = code;
    return tk_err_set(err, code, "watch stream: %s at byte %zu", what, at);
}

/* Parses one framed event (js, n bytes starting at stream offset at) and hands it to cb. */
static int emit(struct tk_watch_parser *p, const char *js, size_t n, size_t at,
                tk_watch_parser_fn cb, void *ud, struct tk_err *err)
{
    const char *end = NULL;
    cJSON *root = tk_json_scratch_parse(js, n, &end);
    enum tk_watch_type type;
    int rc = 0;

    if (root && end != js + n)
        root = NULL;
    if (!root) {
        const char *ep = cJSON_GetErrorPtr();
        if (ep && ep >= js && ep <= js + n)
            at += (size_t)(ep - js);
        rc = fail(p, err, TK_EINVAL, "invalid JSON in event", at);
        goto out;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "type");
    cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, "object");
    if (!cJSON_IsString(t)) {
        rc = fail(p, err, TK_EINVAL, "event without a \"type\" string", at);
        goto out;
    }
    if (tk_watch_type_parse(t->valuestring, &type)) {
        rc = fail(p, err, TK_EINVAL, "event of unknown type", at);
        goto out;
    }
    if (!cJSON_IsObject(obj)) {
        rc = fail(p, err, TK_EINVAL, "event without an \"object\" object", at);
        goto out;
    }
    /* the tree is independent of the bytes: the buffer is free for the next event already */
    if (p->buf.alloc > KEEP_BUF_BYTES)
        tk_buf_release(&p->buf);
    else
        tk_buf_reset(&p->buf);
    rc = cb(type, obj, ud);
out:
    tk_json_scratch_done();
    return rc;
}

/* span_at: stream offset of s[0]; the event began p->buf.len bytes before it. */
static int append(struct tk_watch_parser *p, const char *s, size_t n, struct tk_err *err,
                  size_t span_at)
{
    if (tk_buf_append(&p->buf, s, n) == 0)
        return 0;
    p->failed = TK_ENOMEM;
    return tk_err_set(err, TK_ENOMEM,
                      "watch stream: event starting at byte %zu exceeds the %zu-byte cap",
                      span_at - p->buf.len, p->max_bytes);
}

int tk_watch_parser_feed(struct tk_watch_parser *p, const char *data, size_t len,
                         tk_watch_parser_fn cb, void *ud, struct tk_err *err)
{
    size_t i = 0, start = 0, base = p->offset;
    int rc = 0;

    if (p->failed)
        return tk_err_set(err, TK_ESTATE, "watch stream: parser not reset after an error");
    while (i < len) {
        if (p->depth == 0) {
            unsigned char c = (unsigned char)data[i];
            if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                i++;
                continue;
            }
            if (c != '{') {
                rc = fail(p, err, TK_EINVAL, "expected '{' between events", base + i);
                goto out;
            }
            p->depth = 1;
            start = i++;
            continue;
        }
        if (p->in_string) {
            /* Fast path through string bodies: only a quote or a backslash matters. */
            if (p->escape) {
                p->escape = 0;
                i++;
                continue;
            }
            while (i < len && data[i] != '"' && data[i] != '\\')
                i++;
            if (i == len)
                break;
            if (data[i] == '\\')
                p->escape = 1;
            else
                p->in_string = 0;
            i++;
            continue;
        }
        switch (data[i]) {
        case '"':
            p->in_string = 1;
            break;
        case '{':
        case '[':
            p->depth++;
            break;
        case '}':
        case ']':
            if (--p->depth == 0) {
                /* Mismatched brackets ("{]") are left for cJSON to reject. */
                size_t n = i + 1 - start;
                p->offset = base + i + 1;
                if (p->buf.len == 0) {
                    /* whole in this chunk: parsed in place, no copy */
                    if (n > p->max_bytes) {
                        rc = append(p, data + start, n, err, base + start);
                        goto out;
                    }
                    rc = emit(p, data + start, n, base + start, cb, ud, err);
                } else {
                    size_t at = base + start - p->buf.len;
                    if ((rc = append(p, data + start, n, err, base + start)))
                        goto out;
                    rc = emit(p, p->buf.data, p->buf.len, at, cb, ud, err);
                }
                if (rc)
                    goto out;
            }
            break;
        default:
            break;
        }
        i++;
    }
    if (p->depth > 0 && (rc = append(p, data + start, len - start, err, base + start)))
        goto out;
    p->offset = base + len;
out:
    return rc;
}
