#include "event.h"
#include "jsonw.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

#include "tktest.h"

static const char *jstr(const cJSON *o, const char *path)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *tok = strtok_r(buf, ".", &save); tok && o; tok = strtok_r(NULL, ".", &save))
        o = cJSON_GetObjectItemCaseSensitive(o, tok);
    return cJSON_IsString(o) ? o->valuestring : NULL;
}

TK_TEST(jsonw_escapes)
{
    struct tk_buf b;
    tk_buf_init(&b, 0);
    tk_jsonw_str(&b, "a\"b\\c\nd\x01");
    CHECK_STR(b.data, "\"a\\\"b\\\\c\\nd\\u0001\"");
    tk_buf_reset(&b);
    tk_jsonw_str(&b, NULL);
    CHECK_STR(b.data, "null");
    tk_buf_release(&b);
}

TK_TEST(jsonw_times)
{
    char t[32];
    int64_t ns = 0;
    tk_jsonw_time(t, 1767323045123456789LL);
    CHECK_STR(t, "2026-01-02T03:04:05Z");
    tk_jsonw_microtime(t, 1767323045123456789LL);
    CHECK_STR(t, "2026-01-02T03:04:05.123456Z");
    CHECK_INT(tk_jsonw_parse_time("2026-01-02T03:04:05Z", &ns), 0);
    CHECK_INT(ns, 1767323045000000000LL);
    CHECK_INT(tk_jsonw_parse_time("2026-01-02T03:04:05.5+01:00", &ns), 0);
    CHECK_INT(ns, 1767323045500000000LL - 3600LL * 1000000000LL);
    CHECK_INT(tk_jsonw_parse_time("2026-01-02 03:04:05", &ns), -1);
    CHECK_INT(tk_jsonw_parse_time("2026-01-02T03:04:05Zjunk", &ns), -1);
}

TK_TEST(event_started_shape)
{
    struct tk_buf b;
    char name[TK_EVENT_NAME_MAX];
    struct tk_event_ref ref = {"Pod",
                               "v1",
                               "node-density",
                               "pod-1",
                               "0f0e0d0c-aaaa-bbbb-cccc-000000000001",
                               "spec.containers{web}"};
    tk_buf_init(&b, 0);
    CHECK_INT(tk_event_build(&b, &ref, "Normal", "Started", "Started container web", "tk-node-1",
                             1767323045123456789LL, name),
              0);
    CHECK_STR(name, "pod-1.1886caf223f1ff15");
    cJSON *o = cJSON_Parse(b.data);
    CHECK(o != NULL);
    CHECK_STR(jstr(o, "metadata.name"), name);
    CHECK_STR(jstr(o, "metadata.namespace"), "node-density");
    CHECK_STR(jstr(o, "involvedObject.kind"), "Pod");
    CHECK_STR(jstr(o, "involvedObject.name"), "pod-1");
    CHECK_STR(jstr(o, "involvedObject.namespace"), "node-density");
    CHECK_STR(jstr(o, "involvedObject.uid"), "0f0e0d0c-aaaa-bbbb-cccc-000000000001");
    CHECK_STR(jstr(o, "involvedObject.fieldPath"), "spec.containers{web}");
    CHECK_STR(jstr(o, "source.component"), "kubelet");
    CHECK_STR(jstr(o, "source.host"), "tk-node-1");
    CHECK_STR(jstr(o, "reason"), "Started");
    CHECK_STR(jstr(o, "type"), "Normal");
    CHECK_STR(jstr(o, "firstTimestamp"), "2026-01-02T03:04:05Z");
    CHECK_STR(jstr(o, "lastTimestamp"), "2026-01-02T03:04:05Z");
    CHECK_INT(cJSON_GetObjectItem(o, "count")->valueint, 1);
    cJSON_Delete(o);
    tk_buf_release(&b);
}

TK_TEST(event_node_goes_to_default)
{
    struct tk_buf b;
    struct tk_event_ref ref = {"Node", "v1", "", "tk-node-1", "tk-node-1", NULL};
    tk_buf_init(&b, 0);
    CHECK_INT(tk_event_build(&b, &ref, "Normal", "NodeReady",
                             "Node tk-node-1 status is now: "
                             "NodeReady",
                             "tk-node-1", 1000, NULL),
              0);
    CHECK_STR(tk_event_namespace(&ref), "default");
    cJSON *o = cJSON_Parse(b.data);
    CHECK(o != NULL);
    CHECK_STR(jstr(o, "metadata.namespace"), "default");
    CHECK(jstr(o, "involvedObject.namespace") == NULL);
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "involvedObject"), "fieldPath") == NULL);
    CHECK_STR(jstr(o, "metadata.name"), "tk-node-1.3e8");
    cJSON_Delete(o);
    tk_buf_release(&b);
}

TK_TEST_MAIN(jsonw_escapes, jsonw_times, event_started_shape, event_node_goes_to_default)
