#include "nodeobj.h"

#include <stdio.h>
#include <string.h>

#include "jsonw.h"
#include "sampler.h"

struct w {
    struct tk_buf *b;
    int rc;
};

static void put(struct w *w, const char *s)
{
    w->rc |= tk_buf_puts(w->b, s);
}

static void str(struct w *w, const char *s)
{
    w->rc |= tk_jsonw_str(w->b, s);
}

static void kvpair(struct w *w, int *first, const char *k, const char *v)
{
    if (!*first)
        put(w, ",");
    *first = 0;
    str(w, k);
    put(w, ":");
    str(w, v);
}

static const char *zone_of(const struct tk_nodeobj *n)
{
    return n->cfg->zones[(size_t)n->index % n->cfg->nzones];
}

/* Default labels first; a configured label with the same key replaces the default. */
static void labels(struct w *w, const struct tk_nodeobj *n)
{
    const struct tk_agent_config *c = n->cfg;
    const char *defaults[][2] = {
        {"type", "virtual-kubelet"},
        {"turbokube.io/fake", "true"},
        {"kubernetes.io/hostname", n->name},
        {"kubernetes.io/os", "linux"},
        {"kubernetes.io/arch", c->architecture},
        {"beta.kubernetes.io/os", "linux"},
        {"beta.kubernetes.io/arch", c->architecture},
        {"node.kubernetes.io/instance-type", "turbokube-fake"},
        {"topology.kubernetes.io/region", c->region},
        {"topology.kubernetes.io/zone", zone_of(n)},
    };
    int first = 1;
    put(w, "{");
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        if (!tk_agent_kv_get(c->labels, c->nlabels, defaults[i][0]))
            kvpair(w, &first, defaults[i][0], defaults[i][1]);
    for (size_t i = 0; i < c->nlabels; i++)
        kvpair(w, &first, c->labels[i].key, c->labels[i].value);
    put(w, "}");
}

static void taints(struct w *w, const struct tk_agent_config *c)
{
    put(w, "[");
    for (size_t i = 0; i < c->ntaints; i++) {
        put(w, i ? ",{\"key\":" : "{\"key\":");
        str(w, c->taints[i].key);
        if (c->taints[i].value[0]) {
            put(w, ",\"value\":");
            str(w, c->taints[i].value);
        }
        put(w, ",\"effect\":");
        str(w, c->taints[i].effect);
        put(w, "}");
    }
    put(w, "]");
}

static void resources(struct w *w, const struct tk_agent_kv *kv, size_t n)
{
    int first = 1;
    put(w, "{");
    for (size_t i = 0; i < n; i++)
        kvpair(w, &first, kv[i].key, kv[i].value);
    put(w, "}");
}

static void conditions(struct w *w, int64_t hb_ns, int64_t tr_ns)
{
    static const char *const conds[][4] = {
        {"MemoryPressure", "False", "KubeletHasSufficientMemory",
         "kubelet has sufficient memory available"},
        {"DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"},
        {"PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"},
        {"Ready", "True", "KubeletReady", "kubelet is posting ready status"},
        {"NetworkUnavailable", "False", "RouteCreated", "turbokube fake node network is up"},
    };
    char hb[TK_JSONW_TIME_LEN + 1], tr[TK_JSONW_TIME_LEN + 1];
    tk_jsonw_time(hb, hb_ns);
    tk_jsonw_time(tr, tr_ns);
    put(w, "[");
    for (size_t i = 0; i < sizeof(conds) / sizeof(conds[0]); i++) {
        w->rc |=
            tk_buf_printf(w->b,
                          "%s{\"type\":\"%s\",\"status\":\"%s\",\"lastHeartbeatTime\":\"%s\","
                          "\"lastTransitionTime\":\"%s\",\"reason\":\"%s\",\"message\":\"%s\"}",
                          i ? "," : "", conds[i][0], conds[i][1], hb, tr, conds[i][2], conds[i][3]);
    }
    put(w, "]");
}

static void hexid(char *out, const char *name, uint64_t salt, int dashes)
{
    char hex[33];
    snprintf(hex, sizeof(hex), "%016llx%016llx",
             (unsigned long long)tk_sampler_hash(name, strlen(name), salt),
             (unsigned long long)tk_sampler_hash(name, strlen(name), salt + 1));
    if (!dashes) {
        memcpy(out, hex, 33);
        return;
    }
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

static void status_body(struct w *w, const struct tk_nodeobj *n, int full, int64_t hb_ns,
                        int64_t tr_ns)
{
    const struct tk_agent_config *c = n->cfg;
    char machine[40], uuid[40], boot[40];

    put(w, "{\"conditions\":");
    conditions(w, hb_ns, tr_ns);
    if (full) {
        hexid(machine, n->name, 11, 0);
        hexid(uuid, n->name, 13, 1);
        hexid(boot, n->name, 17, 1);
        put(w, ",\"capacity\":");
        resources(w, c->capacity, c->ncapacity);
        put(w, ",\"allocatable\":");
        resources(w, c->allocatable ? c->allocatable : c->capacity, c->ncapacity);
        put(w, ",\"addresses\":[{\"type\":\"InternalIP\",\"address\":");
        str(w, n->internal_ip);
        w->rc |= tk_buf_printf(w->b,
                               "}],\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":%d}},"
                               "\"nodeInfo\":{\"machineID\":\"%s\",\"systemUUID\":\"%s\","
                               "\"bootID\":\"%s\",\"kernelVersion\":",
                               c->kubelet_port, machine, uuid, boot);
        str(w, c->kernel_version);
        put(w, ",\"osImage\":");
        str(w, c->os_image);
        put(w, ",\"containerRuntimeVersion\":");
        str(w, c->runtime_version);
        put(w, ",\"kubeletVersion\":");
        str(w, c->kubelet_version);
        put(w, ",\"kubeProxyVersion\":");
        str(w, c->kubelet_version);
        put(w, ",\"operatingSystem\":\"linux\",\"architecture\":");
        str(w, c->architecture);
        put(w, "}");
    }
    put(w, "}");
}

int tk_nodeobj_build(struct tk_buf *out, const struct tk_nodeobj *n, int64_t now_ns)
{
    struct w w = {out, 0};
    put(&w, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":");
    str(&w, n->name);
    put(&w, ",\"labels\":");
    labels(&w, n);
    put(&w, ",\"annotations\":{\"node.alpha.kubernetes.io/ttl\":\"0\","
            "\"volumes.kubernetes.io/controller-managed-attach-detach\":\"true\"}},\"spec\":{");
    if (n->cfg->ntaints) {
        put(&w, "\"taints\":");
        taints(&w, n->cfg);
    }
    put(&w, "},\"status\":");
    status_body(&w, n, 1, now_ns, now_ns);
    put(&w, "}");
    return w.rc ? -1 : 0;
}

int tk_nodeobj_status_patch(struct tk_buf *out, const struct tk_nodeobj *n, int full,
                            int64_t now_ns, int64_t transition_ns)
{
    struct w w = {out, 0};
    put(&w, "{\"status\":");
    status_body(&w, n, full, now_ns, transition_ns);
    put(&w, "}");
    return w.rc ? -1 : 0;
}

int tk_nodeobj_meta_patch(struct tk_buf *out, const struct tk_nodeobj *n, int with_taints)
{
    struct w w = {out, 0};
    put(&w, "{\"metadata\":{\"labels\":");
    labels(&w, n);
    put(&w, "}");
    if (with_taints) {
        /* spec.taints is an atomic list: the patch replaces it whole */
        put(&w, ",\"spec\":{\"taints\":");
        taints(&w, n->cfg);
        put(&w, "}");
    }
    put(&w, "}");
    return w.rc ? -1 : 0;
}

int tk_nodeobj_lease(char *buf, size_t bufsz, const char *node_name, const char *node_uid,
                     int64_t lease_duration_s, const char *resource_version, int64_t now_ns)
{
    char t[32], owner[200] = "", rv[64] = "";
    int n;

    tk_jsonw_microtime(t, now_ns);
    if (node_uid && node_uid[0])
        snprintf(
            owner, sizeof(owner),
            ",\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"name\":\"%.63s\","
            "\"uid\":\"%.40s\"}]",
            node_name, node_uid);
    if (resource_version && resource_version[0])
        snprintf(rv, sizeof(rv), ",\"resourceVersion\":\"%.40s\"", resource_version);
    n = snprintf(buf, bufsz,
                 "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":{"
                 "\"name\":\"%s\",\"namespace\":\"kube-node-lease\"%s%s},\"spec\":{"
                 "\"holderIdentity\":\"%s\",\"leaseDurationSeconds\":%lld,\"renewTime\":\"%s\"}}",
                 node_name, rv, owner, node_name, (long long)lease_duration_s, t);
    return n < 0 || (size_t)n >= bufsz ? -1 : n;
}
