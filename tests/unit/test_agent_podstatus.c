#include "pod.h"
#include "podstatus.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "tktest.h"

static char *slurp(const char *name)
{
    char path[512];
    const char *dir = tk_test_data_dir();
    snprintf(path, sizeof(path), "%s/agent/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n)
        n = 0;
    s[n] = '\0';
    fclose(f);
    return s;
}

static struct tk_pod_info *load_pod(const char *name, const char **warn)
{
    char *text = slurp(name);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    struct tk_pod_info *p = NULL;
    struct tk_err err = {0};
    if (o)
        tk_pod_parse(o, &p, warn, &err);
    cJSON_Delete(o);
    free(text);
    return p;
}

/* Finds the condition of a type in status.conditions. */
static const cJSON *cond(const cJSON *patch, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(patch, "status"), "conditions"))
    {
        if (!strcmp(tk_pod_jstr(c, "type"), type))
            return c;
    }
    return NULL;
}

static const cJSON *cstatus(const cJSON *patch, const char *list, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(patch, "status"), list), i);
}

TK_TEST(pod_parse_deploy)
{
    const char *warn = "x";
    struct tk_pod_info *p = load_pod("pod-deploy.json", &warn);
    CHECK(p != NULL);
    CHECK(warn == NULL);
    CHECK_STR(p->namespace_, "density");
    CHECK_STR(p->name, "web-7d4b9c8f6-x2x9q");
    CHECK_STR(p->uid, "3b1f0d6e-8f52-4a3e-9c1e-2f7d5a1b0c11");
    CHECK_STR(p->node_name, "tk-node-00001");
    CHECK_STR(p->pod_ip, "");
    CHECK_INT(p->ncontainers, 2);
    CHECK_INT(p->ninit, 0);
    CHECK_STR(p->containers[1].name, "sidecar");
    CHECK_STR(p->containers[1].image, "quay.io/acme/proxy:v2");
    CHECK_INT(p->restart, TK_RESTART_ALWAYS);
    CHECK_INT(p->qos, TK_QOS_BURSTABLE);
    CHECK_INT(p->phase, TK_PHASE_PENDING);
    CHECK_INT(p->cpu_milli, 10);
    CHECK_INT(p->mem_bytes, 16 << 20);
    CHECK_INT(p->creation_ns, 1767323040000000000LL);
    CHECK_INT(p->deletion_ns, 0);
    CHECK_INT(p->grace_s, 30);
    CHECK_INT(p->run_ns, -1);
    CHECK_INT(p->startup_ns, -1);
    tk_pod_info_free(p);
}

TK_TEST(pod_parse_job_and_qos)
{
    struct tk_pod_info *p = load_pod("pod-job.json", NULL);
    CHECK(p != NULL);
    CHECK_INT(p->restart, TK_RESTART_NEVER);
    CHECK_INT(p->qos, TK_QOS_BURSTABLE); /* init containers without limits spoil Guaranteed */
    CHECK_INT(p->ninit, 2);
    CHECK_INT(p->init[1].sidecar, 1);
    CHECK_INT(p->init[0].sidecar, 0);
    CHECK_INT(p->run_ns, 5000000000LL);
    CHECK_INT(p->exit_code, 3);
    CHECK_INT(p->host_network, 1);
    tk_pod_info_free(p);

    /* QoS on spec fragments */
    cJSON *s = cJSON_Parse("{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":{"
                           "\"cpu\":\"1\",\"memory\":\"1Gi\"},\"requests\":{\"cpu\":\"1000m\","
                           "\"memory\":\"1073741824\"}}}]}");
    CHECK_INT(tk_pod_compute_qos(s), TK_QOS_GUARANTEED);
    cJSON_Delete(s);
    s = cJSON_Parse("{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\","
                    "\"memory\":\"1Gi\"}}}]}");
    CHECK_INT(tk_pod_compute_qos(s), TK_QOS_GUARANTEED); /* requests default to limits */
    cJSON_Delete(s);
    s = cJSON_Parse("{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\"}}}"
                    "]}");
    CHECK_INT(tk_pod_compute_qos(s), TK_QOS_BURSTABLE);
    cJSON_Delete(s);
    s = cJSON_Parse("{\"containers\":[{\"name\":\"a\",\"resources\":{\"requests\":{"
                    "\"nvidia.com/gpu\":\"1\",\"cpu\":\"0\"}}}]}");
    CHECK_INT(tk_pod_compute_qos(s), TK_QOS_BESTEFFORT); /* only non-zero cpu/memory count */
    cJSON_Delete(s);
    s = cJSON_Parse("{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\","
                    "\"memory\":\"1Gi\"},\"requests\":{\"cpu\":\"500m\"}}}]}");
    CHECK_INT(tk_pod_compute_qos(s), TK_QOS_BURSTABLE);
    cJSON_Delete(s);
}

TK_TEST(pod_parse_deleting_and_bad_annotation)
{
    const char *warn = NULL;
    struct tk_pod_info *p = load_pod("pod-deleting.json", &warn);
    CHECK(p != NULL);
    CHECK(warn != NULL);
    CHECK_CONTAINS(warn, "run-duration");
    CHECK_INT(p->run_ns, -1);
    CHECK_INT(p->deletion_ns, 1767323400000000000LL);
    CHECK_INT(p->grace_s, 5); /* deletionGracePeriodSeconds wins over the spec's */
    CHECK_STR(p->pod_ip, "10.128.0.5");
    CHECK_INT(p->phase, TK_PHASE_RUNNING);
    CHECK_INT(p->ready, 1);
    CHECK_INT(p->qos, TK_QOS_BESTEFFORT);
    tk_pod_info_free(p);
}

TK_TEST(pod_parse_rejects_incomplete)
{
    struct tk_err err = {0};
    struct tk_pod_info *p = (void *)1;
    cJSON *o = cJSON_Parse("{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\"},\"spec\":{"
                           "\"containers\":[{\"name\":\"c\"}]}}");
    CHECK_INT(tk_pod_parse(o, &p, NULL, &err), TK_EINVAL);
    CHECK(p == NULL);
    cJSON_Delete(o);
    tk_err_clear(&err);
    o = cJSON_Parse("{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"uid\":\"u\"},\"spec\":{"
                    "\"containers\":[{\"image\":\"x\"}]}}");
    CHECK_INT(tk_pod_parse(o, &p, NULL, &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "b/a");
    cJSON_Delete(o);
}

TK_TEST(podstatus_running_for_kube_burner)
{
    struct tk_pod_info *p = load_pod("pod-deploy.json", NULL);
    struct tk_buf b;
    struct tk_podstatus_in in = {0};
    CHECK(p != NULL);
    in.kind = TK_PODSTATUS_RUNNING;
    in.host_ip = "10.200.0.1";
    in.pod_ip = "10.128.0.7";
    in.start_ns = 1767323041000000000LL;
    in.ready_ns = 1767323043000000000LL;
    tk_buf_init(&b, 0);
    CHECK_INT(tk_podstatus_build(&b, p, &in), 0);
    cJSON *o = cJSON_Parse(b.data);
    CHECK(o != NULL);
    CHECK_STR(tk_pod_jstr(o, "metadata.uid"), p->uid);
    CHECK_STR(tk_pod_jstr(o, "status.phase"), "Running");
    CHECK_STR(tk_pod_jstr(o, "status.startTime"), "2026-01-02T03:04:01Z");
    CHECK_STR(tk_pod_jstr(o, "status.hostIP"), "10.200.0.1");
    CHECK_STR(tk_pod_jstr(o, "status.podIP"), "10.128.0.7");
    CHECK_STR(tk_pod_jstr(o, "status.qosClass"), "Burstable");
    const char *types[] = {"PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"};
    for (int i = 0; i < 4; i++) {
        const cJSON *c = cond(o, types[i]);
        CHECK(c != NULL);
        CHECK_STR(tk_pod_jstr(c, "status"), "True");
        CHECK_STR(tk_pod_jstr(c, "lastTransitionTime"), "2026-01-02T03:04:03Z");
    }
    CHECK(cond(o, "PodScheduled") == NULL); /* the scheduler's, kept by the merge */
    const cJSON *ips = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "status"), "podIPs");
    CHECK_INT(cJSON_GetArraySize(ips), 1);
    CHECK_STR(tk_pod_jstr(cJSON_GetArrayItem(ips, 0), "ip"), "10.128.0.7");
    CHECK_INT(cJSON_GetArraySize(
                  cJSON_GetObjectItem(cJSON_GetObjectItem(o, "status"), "containerStatuses")),
              2);
    const cJSON *cs = cstatus(o, "containerStatuses", 0);
    CHECK_STR(tk_pod_jstr(cs, "name"), "web");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cs, "ready")));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cs, "started")));
    CHECK_INT(cJSON_GetObjectItem(cs, "restartCount")->valueint, 0);
    CHECK_STR(tk_pod_jstr(cs, "state.running.startedAt"), "2026-01-02T03:04:03Z");
    CHECK_STR(tk_pod_jstr(cs, "image"), "nginx:1.25");
    CHECK_CONTAINS(tk_pod_jstr(cs, "imageID"), "docker.io/library/nginx@sha256:");
    CHECK_CONTAINS(tk_pod_jstr(cs, "containerID"), "containerd://");
    CHECK_INT(strlen(tk_pod_jstr(cs, "containerID")), 13 + 64);
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "status"), "initContainerStatuses") == NULL);
    cs = cstatus(o, "containerStatuses", 1);
    CHECK_CONTAINS(tk_pod_jstr(cs, "imageID"), "quay.io/acme/proxy@sha256:");
    CHECK(strcmp(tk_pod_jstr(cs, "containerID"),
                 tk_pod_jstr(cstatus(o, "containerStatuses", 0), "containerID")) != 0);
    cJSON_Delete(o);
    tk_buf_release(&b);
    tk_pod_info_free(p);
}

TK_TEST(podstatus_job_init_and_succeeded)
{
    struct tk_pod_info *p = load_pod("pod-job.json", NULL);
    struct tk_buf b;
    struct tk_podstatus_in in = {0};
    CHECK(p != NULL);
    in.kind = TK_PODSTATUS_RUNNING;
    in.host_ip = in.pod_ip = "10.200.0.2"; /* hostNetwork */
    in.start_ns = 1767323041000000000LL;
    in.sandbox_ns = 1767323041500000000LL;
    in.init_ns = 1767323042000000000LL;
    in.ready_ns = 1767323043000000000LL;
    tk_buf_init(&b, 0);
    CHECK_INT(tk_podstatus_build(&b, p, &in), 0);
    cJSON *o = cJSON_Parse(b.data);
    CHECK(o != NULL);
    CHECK_STR(tk_pod_jstr(cond(o, "Initialized"), "lastTransitionTime"), "2026-01-02T03:04:02Z");
    CHECK_STR(tk_pod_jstr(cond(o, "PodReadyToStartContainers"), "lastTransitionTime"),
              "2026-01-02T03:04:01Z");
    const cJSON *ic = cstatus(o, "initContainerStatuses", 0);
    CHECK_STR(tk_pod_jstr(ic, "state.terminated.reason"), "Completed");
    CHECK_INT(cJSON_GetObjectItem(
                  cJSON_GetObjectItem(cJSON_GetObjectItem(ic, "state"), "terminated"), "exitCode")
                  ->valueint,
              0);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(ic, "ready")));
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(ic, "started")));
    const cJSON *sc = cstatus(o, "initContainerStatuses", 1); /* native sidecar runs */
    CHECK(tk_pod_jstr(sc, "state.running.startedAt") != NULL);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(sc, "started")));
    CHECK_STR(tk_pod_jstr(sc, "imageID"),
              "localhost:5000/mesh@sha256:"
              "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    cJSON_Delete(o);

    tk_buf_reset(&b);
    in.kind = TK_PODSTATUS_SUCCEEDED;
    in.finished_ns = 1767323048000000000LL;
    in.exit_code = 0;
    CHECK_INT(tk_podstatus_build(&b, p, &in), 0);
    o = cJSON_Parse(b.data);
    CHECK(o != NULL);
    CHECK_STR(tk_pod_jstr(o, "status.phase"), "Succeeded");
    CHECK_STR(tk_pod_jstr(cond(o, "Ready"), "status"), "False");
    CHECK_STR(tk_pod_jstr(cond(o, "Ready"), "reason"), "PodCompleted");
    CHECK_STR(tk_pod_jstr(cond(o, "Ready"), "lastTransitionTime"), "2026-01-02T03:04:08Z");
    CHECK_STR(tk_pod_jstr(cond(o, "Initialized"), "status"), "True");
    const cJSON *cs = cstatus(o, "containerStatuses", 0);
    CHECK_STR(tk_pod_jstr(cs, "state.terminated.reason"), "Completed");
    CHECK_STR(tk_pod_jstr(cs, "state.terminated.startedAt"), "2026-01-02T03:04:03Z");
    CHECK_STR(tk_pod_jstr(cs, "state.terminated.finishedAt"), "2026-01-02T03:04:08Z");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(cs, "ready")));
    CHECK_STR(tk_pod_jstr(o, "status.qosClass"), "Burstable");
    cJSON_Delete(o);

    tk_buf_reset(&b);
    in.kind = TK_PODSTATUS_FAILED;
    in.exit_code = 3;
    CHECK_INT(tk_podstatus_build(&b, p, &in), 0);
    o = cJSON_Parse(b.data);
    CHECK_STR(tk_pod_jstr(o, "status.phase"), "Failed");
    cs = cstatus(o, "containerStatuses", 0);
    CHECK_STR(tk_pod_jstr(cs, "state.terminated.reason"), "Error");
    CHECK_INT(cJSON_GetObjectItem(
                  cJSON_GetObjectItem(cJSON_GetObjectItem(cs, "state"), "terminated"), "exitCode")
                  ->valueint,
              3);
    cJSON_Delete(o);
    tk_buf_release(&b);
    tk_pod_info_free(p);
}

TK_TEST(podstatus_pending_and_backoff)
{
    struct tk_pod_info *p = load_pod("pod-deploy.json", NULL);
    struct tk_buf b;
    struct tk_podstatus_in in = {0};
    CHECK(p != NULL);
    in.kind = TK_PODSTATUS_PENDING;
    in.host_ip = "10.200.0.1";
    in.start_ns = 1767323041000000000LL;
    tk_buf_init(&b, 0);
    CHECK_INT(tk_podstatus_build(&b, p, &in), 0);
    cJSON *o = cJSON_Parse(b.data);
    CHECK(o != NULL);
    CHECK_STR(tk_pod_jstr(o, "status.phase"), "Pending");
    CHECK(tk_pod_jstr(o, "status.podIP") == NULL);
    CHECK_STR(tk_pod_jstr(cond(o, "PodReadyToStartContainers"), "status"), "False");
    CHECK_STR(tk_pod_jstr(cond(o, "Ready"), "message"),
              "containers with unready status: [web sidecar]");
    CHECK_STR(tk_pod_jstr(cstatus(o, "containerStatuses", 0), "state.waiting.reason"),
              "ContainerCreating");
    cJSON_Delete(o);

    tk_buf_reset(&b);
    in.kind = TK_PODSTATUS_BACKOFF;
    in.pod_ip = "10.128.0.7";
    in.ready_ns = 1767323043000000000LL;
    in.finished_ns = 1767323053000000000LL;
    in.exit_code = 1;
    in.restart_count = 0;
    in.backoff_s = 10;
    CHECK_INT(tk_podstatus_build(&b, p, &in), 0);
    o = cJSON_Parse(b.data);
    CHECK(o != NULL);
    const cJSON *cs = cstatus(o, "containerStatuses", 0);
    CHECK_STR(tk_pod_jstr(cs, "state.waiting.reason"), "CrashLoopBackOff");
    CHECK_CONTAINS(tk_pod_jstr(cs, "state.waiting.message"), "back-off 10s");
    CHECK_STR(tk_pod_jstr(cs, "lastState.terminated.reason"), "Error");
    CHECK_STR(tk_pod_jstr(cond(o, "Ready"), "status"), "False");
    CHECK_STR(tk_pod_jstr(o, "status.phase"), "Running");
    cJSON_Delete(o);

    tk_buf_reset(&b);
    in.kind = TK_PODSTATUS_RUNNING;
    in.restart_count = 1;
    in.last_started_ns = 1767323043000000000LL;
    in.last_finished_ns = 1767323053000000000LL;
    in.last_exit_code = 1;
    in.ready_ns = 1767323063000000000LL;
    CHECK_INT(tk_podstatus_build(&b, p, &in), 0);
    o = cJSON_Parse(b.data);
    cs = cstatus(o, "containerStatuses", 0);
    CHECK_INT(cJSON_GetObjectItem(cs, "restartCount")->valueint, 1);
    CHECK_STR(tk_pod_jstr(cs, "lastState.terminated.finishedAt"), "2026-01-02T03:04:13Z");
    CHECK_STR(tk_pod_jstr(cs, "state.running.startedAt"), "2026-01-02T03:04:23Z");
    cJSON_Delete(o);
    tk_buf_release(&b);
    tk_pod_info_free(p);
}

TK_TEST(podstatus_image_ids)
{
    char id[256];
    CHECK_INT(tk_podstatus_image_id(id, sizeof(id), "nginx"), 0);
    CHECK_CONTAINS(id, "docker.io/library/nginx@sha256:");
    CHECK_INT(tk_podstatus_image_id(id, sizeof(id), "acme/app:1"), 0);
    CHECK_CONTAINS(id, "docker.io/acme/app@sha256:");
    CHECK_INT(tk_podstatus_image_id(id, sizeof(id), "registry.k8s.io/pause:3.10"), 0);
    CHECK_CONTAINS(id, "registry.k8s.io/pause@sha256:");
    char a[256];
    tk_podstatus_image_id(a, sizeof(a), "registry.k8s.io/pause:3.9");
    CHECK(strcmp(a, id) != 0); /* different tags, different digests */
    CHECK_INT(tk_podstatus_image_id(id, 20, "registry.k8s.io/pause:3.10"), -1);
}

TK_TEST_MAIN(pod_parse_deploy, pod_parse_job_and_qos, pod_parse_deleting_and_bad_annotation,
             pod_parse_rejects_incomplete, podstatus_running_for_kube_burner,
             podstatus_job_init_and_succeeded, podstatus_pending_and_backoff, podstatus_image_ids)
