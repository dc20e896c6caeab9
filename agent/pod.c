#include "pod.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "duration.h"
#include "jsonw.h"
#include "quantity.h"

const char *tk_pod_jstr(const cJSON *obj, const char *path)
{
    char key[128];
    const char *p = path;

    while (obj && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof(key))
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        obj = cJSON_GetObjectItemCaseSensitive(obj, key);
        p += n + (dot ? 1 : 0);
    }
    return cJSON_IsString(obj) ? obj->valuestring : NULL;
}

static const cJSON *jget(const cJSON *obj, const char *key)
{
    return obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

const char *tk_pod_qos_name(enum tk_pod_qos qos)
{
    switch (qos) {
    case TK_QOS_GUARANTEED:
        return "Guaranteed";
    case TK_QOS_BURSTABLE:
        return "Burstable";
    case TK_QOS_BESTEFFORT:
    default:
        return "BestEffort";
    }
}

const char *tk_pod_phase_name(enum tk_pod_phase phase)
{
    static const char *const names[] = {"", "Pending", "Running", "Succeeded", "Failed", "Unknown"};
    return (unsigned)phase < sizeof(names) / sizeof(names[0]) ? names[phase] : "";
}

static enum tk_pod_phase parse_phase(const char *s)
{
    for (int i = TK_PHASE_PENDING; s && i <= TK_PHASE_UNKNOWN; i++)
        if (strcmp(s, tk_pod_phase_name((enum tk_pod_phase)i)) == 0)
            return (enum tk_pod_phase)i;
    return TK_PHASE_NONE;
}

/* A resource amount as a comparable number: milli units, or whole units for amounts too large
 * for milli (flagged in the top bit so the two scales never compare equal). -1 when absent or
 * unparsable. Zero counts as absent for QoS, as in Kubernetes (only non-zero quantities are
 * collected). */
static int64_t res_key(const cJSON *list, const char *name)
{
    const char *s = cJSON_GetStringValue(jget(list, name));
    struct tk_quantity q;
    if (!s || tk_quantity_parse_nonneg(s, &q, NULL))
        return -1;
    return q.saturated ? (q.value | (INT64_C(1) << 62)) : q.milli;
}

static int64_t res_value(const cJSON *list, const char *name)
{
    const char *s = cJSON_GetStringValue(jget(list, name));
    struct tk_quantity q;
    if (!s || tk_quantity_parse_nonneg(s, &q, NULL))
        return 0;
    return q.value;
}

static int64_t res_milli(const cJSON *list, const char *name)
{
    const char *s = cJSON_GetStringValue(jget(list, name));
    struct tk_quantity q;
    if (!s || tk_quantity_parse_nonneg(s, &q, NULL) || q.saturated)
        return 0;
    return q.milli;
}

enum tk_pod_qos tk_pod_compute_qos(const cJSON *spec)
{
    static const char *const lists[] = {"initContainers", "containers"};
    static const char *const names[] = {"cpu", "memory"};
    int any = 0, guaranteed = 1;

    for (int l = 0; l < 2; l++) {
        const cJSON *c;
        cJSON_ArrayForEach(c, jget(spec, lists[l]))
        {
            const cJSON *res = jget(c, "resources");
            const cJSON *req = jget(res, "requests"), *lim = jget(res, "limits");
            for (int r = 0; r < 2; r++) {
                int64_t rq = res_key(req, names[r]), lm = res_key(lim, names[r]);
                if (rq > 0 || lm > 0)
                    any = 1;
                /* A missing request defaults to the limit (apiserver defaulting does the same,
                 * so a pod read back from the API carries both). */
                if (rq <= 0)
                    rq = lm;
                if (lm <= 0 || rq != lm)
                    guaranteed = 0;
            }
        }
    }
    if (!any)
        return TK_QOS_BESTEFFORT;
    return guaranteed ? TK_QOS_GUARANTEED : TK_QOS_BURSTABLE;
}

static size_t slen(const char *s)
{
    return s ? strlen(s) + 1 : 1;
}

static const char *scopy(char **arena, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    char *d = *arena;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    *arena += n + 1;
    return d;
}

static int64_t jint(const cJSON *o, int64_t dflt)
{
    return cJSON_IsNumber(o) ? (int64_t)o->valuedouble : dflt;
}

static void fill_containers(struct tk_pod_container *out, const cJSON *list, char **arena, int init)
{
    const cJSON *c;
    int i = 0;
    cJSON_ArrayForEach(c, list)
    {
        const cJSON *req = jget(jget(c, "resources"), "requests");
        const char *rp = cJSON_GetStringValue(jget(c, "restartPolicy"));
        out[i].name = scopy(arena, cJSON_GetStringValue(jget(c, "name")));
        out[i].image = scopy(arena, cJSON_GetStringValue(jget(c, "image")));
        out[i].sidecar = init && rp && strcmp(rp, "Always") == 0;
        out[i].cpu_milli = res_milli(req, "cpu");
        out[i].mem_bytes = res_value(req, "memory");
        i++;
    }
}

static int count_containers(const cJSON *list, size_t *strbytes)
{
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, list)
    {
        const char *name = cJSON_GetStringValue(jget(c, "name"));
        if (!name || !name[0])
            return -1;
        *strbytes += slen(name) + slen(cJSON_GetStringValue(jget(c, "image")));
        n++;
    }
    return n;
}

int tk_pod_parse(const cJSON *obj, struct tk_pod_info **out, const char **warn_out,
                 struct tk_err *err)
{
    const cJSON *meta = jget(obj, "metadata"), *spec = jget(obj, "spec"),
                *status = jget(obj, "status");
    const char *ns = cJSON_GetStringValue(jget(meta, "namespace"));
    const char *name = cJSON_GetStringValue(jget(meta, "name"));
    const char *uid = cJSON_GetStringValue(jget(meta, "uid"));
    const char *node = cJSON_GetStringValue(jget(spec, "nodeName"));
    const char *ip = cJSON_GetStringValue(jget(status, "podIP"));
    const cJSON *ann = jget(meta, "annotations");
    const char *s;
    size_t strbytes = 0;
    int nc, ni;
    struct tk_pod_info *p;
    char *arena;

    *out = NULL;
    if (warn_out)
        *warn_out = NULL;
    if (!name || !name[0] || !ns || !ns[0] || !uid || !uid[0])
        return tk_err_set(err, TK_EINVAL, "pod without metadata.name, namespace or uid");
    nc = count_containers(jget(spec, "containers"), &strbytes);
    ni = count_containers(jget(spec, "initContainers"), &strbytes);
    if (nc <= 0 || ni < 0)
        return tk_err_set(err, TK_EINVAL, "pod %s/%s: spec.containers missing or unnamed", ns,
                          name);
    strbytes += slen(ns) + slen(name) + slen(uid) + slen(node) + slen(ip);

    p = tk_xcalloc(1, sizeof(*p) + (size_t)(nc + ni) * sizeof(struct tk_pod_container) + strbytes);
    p->containers = (struct tk_pod_container *)(p + 1);
    p->init = p->containers + nc;
    arena = (char *)(p->init + ni);
    p->namespace_ = scopy(&arena, ns);
    p->name = scopy(&arena, name);
    p->uid = scopy(&arena, uid);
    p->node_name = scopy(&arena, node);
    p->pod_ip = scopy(&arena, ip);
    p->ncontainers = nc;
    p->ninit = ni;
    fill_containers(p->containers, jget(spec, "containers"), &arena, 0);
    fill_containers(p->init, jget(spec, "initContainers"), &arena, 1);
    for (int i = 0; i < nc; i++) {
        p->cpu_milli += p->containers[i].cpu_milli;
        p->mem_bytes += p->containers[i].mem_bytes;
    }

    if ((s = cJSON_GetStringValue(jget(meta, "creationTimestamp"))))
        tk_jsonw_parse_time(s, &p->creation_ns);
    if ((s = cJSON_GetStringValue(jget(meta, "deletionTimestamp")))) {
        if (tk_jsonw_parse_time(s, &p->deletion_ns) || p->deletion_ns == 0)
            p->deletion_ns = 1; /* deleting, time unknown */
    }
    p->grace_s = jint(jget(meta, "deletionGracePeriodSeconds"),
                      jint(jget(spec, "terminationGracePeriodSeconds"), 30));
    if (p->grace_s < 0)
        p->grace_s = 0;
    if ((s = cJSON_GetStringValue(jget(status, "startTime"))))
        tk_jsonw_parse_time(s, &p->start_time_ns);

    s = cJSON_GetStringValue(jget(spec, "restartPolicy"));
    p->restart = !s || !strcmp(s, "Always") ? TK_RESTART_ALWAYS
                 : !strcmp(s, "OnFailure")  ? TK_RESTART_ONFAILURE
                 : !strcmp(s, "Never")      ? TK_RESTART_NEVER
                                            : TK_RESTART_ALWAYS;
    p->host_network = cJSON_IsTrue(jget(spec, "hostNetwork"));
    p->qos = tk_pod_compute_qos(spec);
    p->phase = parse_phase(cJSON_GetStringValue(jget(status, "phase")));
    {
        const cJSON *c;
        cJSON_ArrayForEach(c, jget(status, "conditions"))
        {
            const char *t = cJSON_GetStringValue(jget(c, "type"));
            const char *v = cJSON_GetStringValue(jget(c, "status"));
            if (t && v && !strcmp(t, "Ready"))
                p->ready = !strcmp(v, "True");
        }
    }

    p->startup_ns = -1;
    p->run_ns = -1;
    if ((s = cJSON_GetStringValue(jget(ann, TK_POD_ANN_STARTUP))) &&
        (tk_duration_parse(s, &p->startup_ns, NULL) || p->startup_ns < 0)) {
        p->startup_ns = -1;
        if (warn_out)
            *warn_out = "bad " TK_POD_ANN_STARTUP " annotation ignored";
    }
    if ((s = cJSON_GetStringValue(jget(ann, TK_POD_ANN_RUN))) &&
        (tk_duration_parse(s, &p->run_ns, NULL) || p->run_ns < 0)) {
        p->run_ns = -1;
        if (warn_out)
            *warn_out = "bad " TK_POD_ANN_RUN " annotation ignored";
    }
    if ((s = cJSON_GetStringValue(jget(ann, TK_POD_ANN_EXIT)))) {
        char *end;
        long v = strtol(s, &end, 10);
        if (*s && !*end && v >= 0 && v <= 255)
            p->exit_code = (int)v;
        else if (warn_out)
            *warn_out = "bad " TK_POD_ANN_EXIT " annotation ignored";
    }
    *out = p;
    return 0;
}

void tk_pod_info_free(struct tk_pod_info *pod)
{
    free(pod);
}
