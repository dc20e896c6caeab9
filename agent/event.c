#include "event.h"

#include <stdio.h>
#include <string.h>

#include "jsonw.h"

const char *tk_event_namespace(const struct tk_event_ref *ref)
{
    return ref->namespace_ && ref->namespace_[0] ? ref->namespace_ : "default";
}

int tk_event_build(struct tk_buf *out, const struct tk_event_ref *ref, const char *type,
                   const char *reason, const char *message, const char *host, int64_t wall_ns,
                   char *name_out)
{
    char ts[TK_JSONW_TIME_LEN + 1], name[TK_EVENT_NAME_MAX];
    const char *ns = tk_event_namespace(ref);
    int rc = 0;

    snprintf(name, sizeof(name), "%.253s.%llx", ref->name, (unsigned long long)wall_ns);
    if (name_out)
        memcpy(name_out, name, strlen(name) + 1);
    tk_jsonw_time(ts, wall_ns);
    rc |= tk_buf_puts(out, "{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":");
    rc |= tk_jsonw_str(out, name);
    rc |= tk_buf_puts(out, ",\"namespace\":");
    rc |= tk_jsonw_str(out, ns);
    rc |= tk_buf_puts(out, "},\"involvedObject\":{\"kind\":");
    rc |= tk_jsonw_str(out, ref->kind);
    if (ref->namespace_ && ref->namespace_[0]) {
        rc |= tk_buf_puts(out, ",\"namespace\":");
        rc |= tk_jsonw_str(out, ref->namespace_);
    }
    rc |= tk_buf_puts(out, ",\"name\":");
    rc |= tk_jsonw_str(out, ref->name);
    rc |= tk_buf_puts(out, ",\"uid\":");
    rc |= tk_jsonw_str(out, ref->uid);
    rc |= tk_buf_puts(out, ",\"apiVersion\":");
    rc |= tk_jsonw_str(out, ref->api_version ? ref->api_version : "v1");
    if (ref->field_path) {
        rc |= tk_buf_puts(out, ",\"fieldPath\":");
        rc |= tk_jsonw_str(out, ref->field_path);
    }
    rc |= tk_buf_puts(out, "},\"reason\":");
    rc |= tk_jsonw_str(out, reason);
    rc |= tk_buf_puts(out, ",\"message\":");
    rc |= tk_jsonw_str(out, message);
    rc |= tk_buf_puts(out, ",\"source\":{\"component\":\"kubelet\",\"host\":");
    rc |= tk_jsonw_str(out, host);
    rc |= tk_buf_printf(out,
                        "},\"firstTimestamp\":\"%s\",\"lastTimestamp\":\"%s\",\"count\":1,"
                        "\"type\":",
                        ts, ts);
    rc |= tk_jsonw_str(out, type);
    rc |= tk_buf_puts(out, ",\"eventTime\":null,\"reportingComponent\":\"kubelet\","
                           "\"reportingInstance\":");
    rc |= tk_jsonw_str(out, host);
    rc |= tk_buf_puts(out, "}");
    return rc ? -1 : 0;
}
