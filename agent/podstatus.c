#include "podstatus.h"

#include <stdio.h>
#include <string.h>

#include "jsonw.h"
#include "sampler.h"

static void hex64(char *out, const char *a, const char *b, int n)
{
    /* 256 bits from four keyed 64-bit hashes: stable, unique enough for IDs, not crypto. */
    char key[600];
    int len = snprintf(key, sizeof(key), "%s/%s/%d", a, b ? b : "", n);
    if (len < 0)
        len = 0;
    if ((size_t)len >= sizeof(key))
        len = (int)sizeof(key) - 1;
    for (int i = 0; i < 4; i++)
        snprintf(out + 16 * i, 17, "%016llx",
                 (unsigned long long)tk_sampler_hash(key, (size_t)len, (uint64_t)i + 1));
}

void tk_podstatus_container_id(char *out, const char *uid, const char *container, int restart)
{
    memcpy(out, "containerd://", 13);
    hex64(out + 13, uid, container, restart);
}

int tk_podstatus_image_id(char *out, size_t outsz, const char *image)
{
    char repo[512], hex[65];
    const char *at = strchr(image, '@');
    const char *slash, *colon;
    size_t n = at ? (size_t)(at - image) : strlen(image);
    const char *prefix = "";
    int w;

    if (n >= sizeof(repo))
        return -1;
    memcpy(repo, image, n);
    repo[n] = '\0';
    /* drop a tag: a ':' after the last '/' */
    slash = strrchr(repo, '/');
    colon = strrchr(repo, ':');
    if (colon && (!slash || colon > slash))
        repo[colon - repo] = '\0';
    /* a first component without '.', ':' or "localhost" is a Docker Hub path */
    slash = strchr(repo, '/');
    if (!slash)
        prefix = "docker.io/library/";
    else {
        size_t first = (size_t)(slash - repo);
        if (!memchr(repo, '.', first) && !memchr(repo, ':', first) &&
            !(first == 9 && !memcmp(repo, "localhost", 9)))
            prefix = "docker.io/";
    }
    if (at && !strncmp(at, "@sha256:", 8))
        w = snprintf(out, outsz, "%s%s%s", prefix, repo, at);
    else {
        hex64(hex, "image", image, 0);
        w = snprintf(out, outsz, "%s%s@sha256:%s", prefix, repo, hex);
    }
    return w < 0 || (size_t)w >= outsz ? -1 : 0;
}

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

static void tstamp(struct w *w, int64_t ns)
{
    char t[TK_JSONW_TIME_LEN + 1];
    tk_jsonw_time(t, ns);
    w->rc |= tk_buf_printf(w->b, "\"%s\"", t);
}

static void names_list(struct w *w, const struct tk_pod_container *c, int n)
{
    put(w, "[");
    for (int i = 0; i < n; i++) {
        if (i)
            put(w, " ");
        w->rc |= tk_jsonw_esc(w->b, c[i].name);
    }
    put(w, "]");
}

static void condition(struct w *w, int first, const char *type, int ok, int64_t ns,
                      const char *reason, const char *msg_prefix, const struct tk_pod_container *c,
                      int n)
{
    if (!first)
        put(w, ",");
    put(w, "{\"type\":\"");
    put(w, type);
    put(w, ok ? "\",\"status\":\"True\"" : "\",\"status\":\"False\"");
    put(w, ",\"lastProbeTime\":null,\"lastTransitionTime\":");
    tstamp(w, ns);
    if (!ok && reason) {
        put(w, ",\"reason\":\"");
        put(w, reason);
        put(w, "\"");
        if (msg_prefix) {
            put(w, ",\"message\":\"");
            put(w, msg_prefix);
            names_list(w, c, n);
            put(w, "\"");
        }
    }
    put(w, "}");
}

static void terminated(struct w *w, int code, int64_t started, int64_t finished, const char *cid)
{
    w->rc |= tk_buf_printf(w->b, "{\"terminated\":{\"exitCode\":%d,\"reason\":\"%s\",", code,
                           code == 0 ? "Completed" : "Error");
    put(w, "\"startedAt\":");
    tstamp(w, started);
    put(w, ",\"finishedAt\":");
    tstamp(w, finished);
    put(w, ",\"containerID\":");
    str(w, cid);
    put(w, "}}");
}

enum cstate { C_WAITING_CREATE, C_WAITING_INIT, C_RUNNING, C_BACKOFF, C_TERMINATED };

static void container_status(struct w *w, const struct tk_pod_info *pod,
                             const struct tk_pod_container *c, const struct tk_podstatus_in *in,
                             enum cstate st, int64_t started_ns, int64_t finished_ns, int code,
                             int restarts, int init_ok)
{
    char cid[96], iid[600], lastcid[96];
    int ready = st == C_RUNNING || init_ok, started = st == C_RUNNING;
    int has_cid = st != C_WAITING_CREATE && st != C_WAITING_INIT;

    tk_podstatus_container_id(cid, pod->uid, c->name, restarts);
    if (tk_podstatus_image_id(iid, sizeof(iid), c->image))
        iid[0] = '\0';
    put(w, "{\"name\":");
    str(w, c->name);
    put(w, ",\"state\":");
    switch (st) {
    case C_WAITING_CREATE:
        put(w, "{\"waiting\":{\"reason\":\"ContainerCreating\"}}");
        break;
    case C_WAITING_INIT:
        put(w, "{\"waiting\":{\"reason\":\"PodInitializing\"}}");
        break;
    case C_RUNNING:
        put(w, "{\"running\":{\"startedAt\":");
        tstamp(w, started_ns);
        put(w, "}}");
        break;
    case C_BACKOFF:
        w->rc |= tk_buf_printf(w->b,
                               "{\"waiting\":{\"reason\":\"CrashLoopBackOff\",\"message\":\""
                               "back-off %llds restarting failed container=",
                               (long long)in->backoff_s);
        w->rc |= tk_jsonw_esc(w->b, c->name);
        put(w, " pod=");
        w->rc |= tk_jsonw_esc(w->b, pod->name);
        put(w, "_");
        w->rc |= tk_jsonw_esc(w->b, pod->namespace_);
        put(w, "(");
        w->rc |= tk_jsonw_esc(w->b, pod->uid);
        put(w, ")\"}}");
        break;
    case C_TERMINATED:
        terminated(w, code, started_ns, finished_ns, cid);
        break;
    }
    put(w, ",\"lastState\":");
    if (st == C_BACKOFF) {
        /* the run that just ended */
        terminated(w, code, started_ns, finished_ns, cid);
    } else if (restarts > 0 && c->sidecar == 0 && !(st == C_WAITING_CREATE)) {
        tk_podstatus_container_id(lastcid, pod->uid, c->name, restarts - 1);
        terminated(w, in->last_exit_code, in->last_started_ns, in->last_finished_ns, lastcid);
    } else {
        put(w, "{}");
    }
    w->rc |= tk_buf_printf(
        w->b, ",\"ready\":%s,\"restartCount\":%d,\"image\":", ready ? "true" : "false", restarts);
    str(w, c->image);
    put(w, ",\"imageID\":");
    str(w, has_cid ? iid : "");
    if (has_cid) {
        put(w, ",\"containerID\":");
        /* in back-off the current container is the exited one */
        str(w, cid);
    }
    w->rc |= tk_buf_printf(w->b, ",\"started\":%s}", started ? "true" : "false");
}

int tk_podstatus_build(struct tk_buf *out, const struct tk_pod_info *pod,
                       const struct tk_podstatus_in *in)
{
    struct w w = {out, 0};
    int64_t ready_ns = in->ready_ns ? in->ready_ns : in->start_ns;
    int64_t sandbox_ns = in->sandbox_ns ? in->sandbox_ns : ready_ns;
    int64_t init_ns = in->init_ns ? in->init_ns : ready_ns;
    int terminal = in->kind == TK_PODSTATUS_SUCCEEDED || in->kind == TK_PODSTATUS_FAILED;
    const char *phase;
    const char *pod_ip = in->pod_ip && in->pod_ip[0] ? in->pod_ip : NULL;

    switch (in->kind) {
    case TK_PODSTATUS_PENDING:
        phase = "Pending";
        break;
    case TK_PODSTATUS_SUCCEEDED:
        phase = "Succeeded";
        break;
    case TK_PODSTATUS_FAILED:
        phase = "Failed";
        break;
    default:
        phase = "Running";
    }

    put(&w, "{\"metadata\":{\"uid\":");
    str(&w, pod->uid);
    put(&w, "},\"status\":{\"phase\":\"");
    put(&w, phase);
    put(&w, "\",\"conditions\":[");
    switch (in->kind) {
    case TK_PODSTATUS_PENDING:
        condition(&w, 1, "PodReadyToStartContainers", 0, in->start_ns, NULL, NULL, NULL, 0);
        if (pod->ninit)
            condition(&w, 0, "Initialized", 0, in->start_ns, "ContainersNotInitialized",
                      "containers with incomplete status: ", pod->init, pod->ninit);
        else
            condition(&w, 0, "Initialized", 1, in->start_ns, NULL, NULL, NULL, 0);
        condition(&w, 0, "Ready", 0, in->start_ns, "ContainersNotReady",
                  "containers with unready status: ", pod->containers, pod->ncontainers);
        condition(&w, 0, "ContainersReady", 0, in->start_ns, "ContainersNotReady",
                  "containers with unready status: ", pod->containers, pod->ncontainers);
        break;
    case TK_PODSTATUS_RUNNING:
        condition(&w, 1, "PodReadyToStartContainers", 1, sandbox_ns, NULL, NULL, NULL, 0);
        condition(&w, 0, "Initialized", 1, init_ns, NULL, NULL, NULL, 0);
        condition(&w, 0, "Ready", 1, ready_ns, NULL, NULL, NULL, 0);
        condition(&w, 0, "ContainersReady", 1, ready_ns, NULL, NULL, NULL, 0);
        break;
    case TK_PODSTATUS_BACKOFF:
        condition(&w, 1, "PodReadyToStartContainers", 1, sandbox_ns, NULL, NULL, NULL, 0);
        condition(&w, 0, "Initialized", 1, init_ns, NULL, NULL, NULL, 0);
        condition(&w, 0, "Ready", 0, in->finished_ns, "ContainersNotReady",
                  "containers with unready status: ", pod->containers, pod->ncontainers);
        condition(&w, 0, "ContainersReady", 0, in->finished_ns, "ContainersNotReady",
                  "containers with unready status: ", pod->containers, pod->ncontainers);
        break;
    case TK_PODSTATUS_SUCCEEDED:
    case TK_PODSTATUS_FAILED: {
        const char *why = in->kind == TK_PODSTATUS_SUCCEEDED ? "PodCompleted" : "PodFailed";
        condition(&w, 1, "PodReadyToStartContainers", 0, in->finished_ns, NULL, NULL, NULL, 0);
        condition(&w, 0, "Initialized", 1, init_ns, NULL, NULL, NULL, 0);
        condition(&w, 0, "Ready", 0, in->finished_ns, why, NULL, NULL, 0);
        condition(&w, 0, "ContainersReady", 0, in->finished_ns, why, NULL, NULL, 0);
        break;
    }
    }
    put(&w, "],\"hostIP\":");
    str(&w, in->host_ip);
    put(&w, ",\"hostIPs\":[{\"ip\":");
    str(&w, in->host_ip);
    put(&w, "}]");
    if (pod_ip) {
        put(&w, ",\"podIP\":");
        str(&w, pod_ip);
        put(&w, ",\"podIPs\":[{\"ip\":");
        str(&w, pod_ip);
        put(&w, "}]");
    }
    put(&w, ",\"startTime\":");
    tstamp(&w, in->start_ns);

    if (pod->ninit) {
        put(&w, ",\"initContainerStatuses\":[");
        for (int i = 0; i < pod->ninit; i++) {
            const struct tk_pod_container *c = &pod->init[i];
            if (i)
                put(&w, ",");
            if (in->kind == TK_PODSTATUS_PENDING)
                container_status(&w, pod, c, in, i == 0 ? C_WAITING_CREATE : C_WAITING_INIT, 0, 0,
                                 0, 0, 0);
            else if (c->sidecar && !terminal)
                container_status(&w, pod, c, in, C_RUNNING, sandbox_ns, 0, 0, 0, 0);
            else if (c->sidecar)
                container_status(&w, pod, c, in, C_TERMINATED, sandbox_ns, in->finished_ns, 0, 0,
                                 0);
            else /* a finished init container is reported ready, as the kubelet does */
                container_status(&w, pod, c, in, C_TERMINATED, sandbox_ns, init_ns, 0, 0, 1);
        }
        put(&w, "]");
    }
    put(&w, ",\"containerStatuses\":[");
    for (int i = 0; i < pod->ncontainers; i++) {
        const struct tk_pod_container *c = &pod->containers[i];
        if (i)
            put(&w, ",");
        switch (in->kind) {
        case TK_PODSTATUS_PENDING:
            container_status(&w, pod, c, in, pod->ninit ? C_WAITING_INIT : C_WAITING_CREATE, 0, 0,
                             0, 0, 0);
            break;
        case TK_PODSTATUS_RUNNING:
            container_status(&w, pod, c, in, C_RUNNING, ready_ns, 0, 0, in->restart_count, 0);
            break;
        case TK_PODSTATUS_BACKOFF:
            container_status(&w, pod, c, in, C_BACKOFF, ready_ns, in->finished_ns, in->exit_code,
                             in->restart_count, 0);
            break;
        default:
            container_status(&w, pod, c, in, C_TERMINATED, ready_ns, in->finished_ns, in->exit_code,
                             in->restart_count, 0);
        }
    }
    put(&w, "],\"qosClass\":\"");
    put(&w, tk_pod_qos_name(pod->qos));
    put(&w, "\"}}");
    return w.rc ? -1 : 0;
}
