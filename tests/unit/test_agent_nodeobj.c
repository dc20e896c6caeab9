#include "config.h"
#include "nodeobj.h"
#include "pod.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

#include "tktest.h"

static const cJSON *find_by(const cJSON *arr, const char *field, const char *value)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, arr)
    {
        const char *v = tk_pod_jstr(c, field);
        if (v && !strcmp(v, value))
            return c;
    }
    return NULL;
}

static const char *label(const cJSON *node, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItem(cJSON_GetObjectItem(node, "metadata"), "labels"), key));
}

static void setup(struct tk_agent_config *c)
{
    struct tk_err err = {0};
    tk_agent_config_init(c);
    tk_agent_config_set(c, "capacity", "cpu=8,memory=16Gi,nvidia.com/gpu=2", &err);
    tk_agent_config_set(c, "system-reserved", "cpu=1,memory=1Gi", &err);
    tk_agent_config_set(c, "labels", "team=perf,type=custom", &err);
    tk_agent_config_set(c, "taints", "dedicated=fake:NoSchedule", &err);
    tk_agent_config_set(c, "zones", "a,b,c", &err);
    tk_agent_config_validate(c, &err);
}

TK_TEST(nodeobj_registration_body)
{
    struct tk_agent_config c;
    struct tk_buf b;
    setup(&c);
    struct tk_nodeobj n = {&c, "tk-node-00004", 4, "10.200.0.5"};
    tk_buf_init(&b, 0);
    CHECK_INT(tk_nodeobj_build(&b, &n, 1767323045000000000LL), 0);
    cJSON *o = cJSON_Parse(b.data);
    CHECK(o != NULL);
    CHECK_STR(tk_pod_jstr(o, "kind"), "Node");
    CHECK_STR(tk_pod_jstr(o, "metadata.name"), "tk-node-00004");
    CHECK_STR(label(o, "kubernetes.io/hostname"), "tk-node-00004");
    CHECK_STR(label(o, "turbokube.io/fake"), "true");
    CHECK_STR(label(o, "type"), "custom"); /* configured beats default, no duplicate key */
    CHECK_STR(label(o, "team"), "perf");
    CHECK_STR(label(o, "topology.kubernetes.io/zone"), "b"); /* index 4 % 3 */
    CHECK_STR(label(o, "topology.kubernetes.io/region"), "turbokube");
    const cJSON *taint =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "spec"), "taints"), 0);
    CHECK_STR(tk_pod_jstr(taint, "key"), "dedicated");
    CHECK_STR(tk_pod_jstr(taint, "effect"), "NoSchedule");
    CHECK_STR(tk_pod_jstr(o, "status.capacity.cpu"), "8");
    CHECK_STR(tk_pod_jstr(o, "status.capacity.pods"), "110");
    CHECK_STR(tk_pod_jstr(o, "status.allocatable.cpu"), "7");
    CHECK_STR(tk_pod_jstr(o, "status.allocatable.memory"), "15Gi");
    const cJSON *st = cJSON_GetObjectItem(o, "status");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                  cJSON_GetObjectItem(st, "allocatable"), "nvidia.com/gpu")),
              "2");
    const cJSON *conds = cJSON_GetObjectItem(st, "conditions");
    CHECK_INT(cJSON_GetArraySize(conds), 5);
    CHECK_STR(tk_pod_jstr(find_by(conds, "type", "Ready"), "status"), "True");
    CHECK_STR(tk_pod_jstr(find_by(conds, "type", "Ready"), "reason"), "KubeletReady");
    CHECK_STR(tk_pod_jstr(find_by(conds, "type", "MemoryPressure"), "status"), "False");
    CHECK_STR(tk_pod_jstr(find_by(conds, "type", "DiskPressure"), "status"), "False");
    CHECK_STR(tk_pod_jstr(find_by(conds, "type", "PIDPressure"), "status"), "False");
    CHECK_STR(tk_pod_jstr(find_by(conds, "type", "NetworkUnavailable"), "status"), "False");
    CHECK_STR(tk_pod_jstr(find_by(conds, "type", "Ready"), "lastHeartbeatTime"),
              "2026-01-02T03:04:05Z");
    const cJSON *addrs = cJSON_GetObjectItem(st, "addresses");
    CHECK_INT(cJSON_GetArraySize(addrs), 1);
    CHECK_STR(tk_pod_jstr(find_by(addrs, "type", "InternalIP"), "address"), "10.200.0.5");
    CHECK_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "daemonEndpoints"),
                                                      "kubeletEndpoint"),
                                  "Port")
                  ->valueint,
              10250);
    CHECK_STR(tk_pod_jstr(o, "status.nodeInfo.kubeletVersion"), TK_AGENT_KUBELET_VERSION);
    CHECK_STR(tk_pod_jstr(o, "status.nodeInfo.architecture"), "amd64");
    CHECK_STR(tk_pod_jstr(o, "status.nodeInfo.operatingSystem"), "linux");
    CHECK_INT(strlen(tk_pod_jstr(o, "status.nodeInfo.systemUUID")), 36);
    cJSON_Delete(o);
    tk_buf_release(&b);
    tk_agent_config_release(&c);
}

TK_TEST(nodeobj_patches)
{
    struct tk_agent_config c;
    struct tk_buf b;
    setup(&c);
    struct tk_nodeobj n = {&c, "tk-node-00001", 1, "10.200.0.2"};
    tk_buf_init(&b, 0);
    CHECK_INT(tk_nodeobj_status_patch(&b, &n, 0, 1767323345000000000LL, 1767323045000000000LL), 0);
    cJSON *o = cJSON_Parse(b.data);
    CHECK(o != NULL);
    const cJSON *st = cJSON_GetObjectItem(o, "status");
    CHECK(cJSON_GetObjectItem(st, "capacity") == NULL); /* heartbeat: conditions only */
    const cJSON *ready = find_by(cJSON_GetObjectItem(st, "conditions"), "type", "Ready");
    CHECK_STR(tk_pod_jstr(ready, "lastHeartbeatTime"), "2026-01-02T03:09:05Z");
    CHECK_STR(tk_pod_jstr(ready, "lastTransitionTime"), "2026-01-02T03:04:05Z");
    cJSON_Delete(o);
    tk_buf_reset(&b);
    CHECK_INT(tk_nodeobj_status_patch(&b, &n, 1, 1, 1), 0);
    o = cJSON_Parse(b.data);
    CHECK_STR(tk_pod_jstr(o, "status.capacity.memory"), "16Gi");
    cJSON_Delete(o);
    tk_buf_reset(&b);
    CHECK_INT(tk_nodeobj_meta_patch(&b, &n, 0), 0);
    o = cJSON_Parse(b.data);
    CHECK_STR(label(o, "team"), "perf");
    CHECK(cJSON_GetObjectItem(o, "spec") == NULL);
    cJSON_Delete(o);
    tk_buf_reset(&b);
    CHECK_INT(tk_nodeobj_meta_patch(&b, &n, 1), 0);
    o = cJSON_Parse(b.data);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "spec"), "taints")), 1);
    cJSON_Delete(o);
    tk_buf_release(&b);
    tk_agent_config_release(&c);
}

TK_TEST(nodeobj_lease_fixed_buffer)
{
    char buf[TK_NODEOBJ_LEASE_MAX];
    char name[64];
    memset(name, 'n', 63);
    name[63] = '\0';
    int n =
        tk_nodeobj_lease(buf, sizeof(buf), "tk-node-00001", "6c3f1e0a-0000-4000-8000-000000000001",
                         40, "12345", 1767323045123456000LL);
    CHECK(n > 0);
    cJSON *o = cJSON_Parse(buf);
    CHECK(o != NULL);
    CHECK_STR(tk_pod_jstr(o, "metadata.namespace"), "kube-node-lease");
    CHECK_STR(tk_pod_jstr(o, "metadata.name"), "tk-node-00001");
    CHECK_STR(tk_pod_jstr(o, "metadata.resourceVersion"), "12345");
    CHECK_STR(tk_pod_jstr(o, "spec.holderIdentity"), "tk-node-00001");
    CHECK_STR(tk_pod_jstr(o, "spec.renewTime"), "2026-01-02T03:04:05.123456Z");
    CHECK_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "spec"), "leaseDurationSeconds")->valueint,
              40);
    const cJSON *own = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "ownerReferences"), 0);
    CHECK_STR(tk_pod_jstr(own, "kind"), "Node");
    CHECK_STR(tk_pod_jstr(own, "uid"), "6c3f1e0a-0000-4000-8000-000000000001");
    cJSON_Delete(o);
    /* the worst case fits the documented size */
    CHECK(tk_nodeobj_lease(buf, sizeof(buf), name, "6c3f1e0a-0000-4000-8000-000000000001", 40,
                           "99999999999999999999999999999999", 1767323045123456000LL) > 0);
    /* without uid or resourceVersion (first create) */
    n = tk_nodeobj_lease(buf, sizeof(buf), "x", "", 40, NULL, 0);
    o = cJSON_Parse(buf);
    CHECK(o != NULL);
    CHECK(tk_pod_jstr(o, "metadata.resourceVersion") == NULL);
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "ownerReferences") == NULL);
    cJSON_Delete(o);
    CHECK_INT(tk_nodeobj_lease(buf, 40, "x", "", 40, NULL, 0), -1);
}

TK_TEST_MAIN(nodeobj_registration_body, nodeobj_patches, nodeobj_lease_fixed_buffer)
