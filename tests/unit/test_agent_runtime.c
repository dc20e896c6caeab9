/* The agent runtime against a recording I/O seam: registration, leases, pod lifecycles and
 * watch-event handling, with every request answered by the test. */
#include "agent.h"
#include "config.h"
#include "pod.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "loop.h"
#include "tktest.h"
#include "watch.h"

/* ---- the recording seam ---- */

#define MAXREQ 512

struct rec {
    char method[8];
    char path[512];
    char *body;
    int flags;
    tk_kube_done_fn cb;
    void *ud;
    int state; /* 0 pending, 1 answered, 2 cancelled */
};

static struct rec recs[MAXREQ];
static int nrecs;

static struct tk_kube_req *rec_request(void *ud, struct tk_kube *kube, const char *method,
                                       const char *path, const char *body, const char *content_type,
                                       int flags, tk_kube_done_fn cb, void *cb_ud)
{
    struct rec *r;
    (void)ud;
    (void)kube;
    (void)content_type;
    if (nrecs >= MAXREQ)
        abort();
    r = &recs[nrecs++];
    snprintf(r->method, sizeof(r->method), "%s", method);
    snprintf(r->path, sizeof(r->path), "%s", path);
    r->body = body ? strdup(body) : NULL;
    r->flags = flags;
    r->cb = cb;
    r->ud = cb_ud;
    r->state = 0;
    return (struct tk_kube_req *)r;
}

static void rec_cancel(void *ud, struct tk_kube_req *req)
{
    (void)ud;
    ((struct rec *)req)->state = 2;
}

static void rec_reset(void)
{
    for (int i = 0; i < nrecs; i++)
        free(recs[i].body);
    nrecs = 0;
}

/* Answers request i with status and body. */
static void answer(int i, long status, const char *body)
{
    struct tk_kube_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.status = status;
    resp.body = body ? body : "";
    resp.len = strlen(resp.body);
    resp.latency_ns = 1000000;
    resp.attempts = 1;
    if (status >= 400)
        tk_err_set(&resp.err, TK_EHTTP, "%s %s: %ld", recs[i].method, recs[i].path, status);
    recs[i].state = 1;
    recs[i].cb(&resp, recs[i].ud);
}

/* The first pending request matching method and a path substring, or -1. */
static int find_req(const char *method, const char *path_part)
{
    for (int i = 0; i < nrecs; i++)
        if (recs[i].state == 0 && !strcmp(recs[i].method, method) &&
            strstr(recs[i].path, path_part))
            return i;
    return -1;
}

static int count_req(const char *method, const char *path_part)
{
    int n = 0;
    for (int i = 0; i < nrecs; i++)
        if (!strcmp(recs[i].method, method) && strstr(recs[i].path, path_part))
            n++;
    return n;
}

struct want {
    const char *method, *path;
};

static int have_req(void *ud)
{
    const struct want *w = ud;
    return find_req(w->method, w->path) >= 0;
}

/* Runs the loop until a matching request is pending (or 3 s pass). */
static int wait_req(struct tk_loop *loop, const char *method, const char *path)
{
    struct want w = {method, path};
    tk_loop_run_until(loop, have_req, &w, tk_now_ns() + 3000000000LL);
    return find_req(method, path);
}

static int never(void *ud)
{
    (void)ud;
    return 0;
}

static void run_for_ms(struct tk_loop *loop, int ms)
{
    tk_loop_run_until(loop, never, NULL, tk_now_ns() + (int64_t)ms * 1000000);
}

/* ---- fixtures ---- */

static char *slurp(const char *name, size_t *len)
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
    if (len)
        *len = (size_t)n;
    return s;
}

static cJSON *load_json(const char *name)
{
    char *t = slurp(name, NULL);
    cJSON *o = t ? cJSON_Parse(t) : NULL;
    free(t);
    return o;
}

static void set_str_at(cJSON *obj, const char *a, const char *b, const char *value)
{
    cJSON *o = cJSON_GetObjectItem(obj, a);
    cJSON_DeleteItemFromObject(o, b);
    if (value)
        cJSON_AddStringToObject(o, b, value);
}

struct env {
    struct tk_loop *loop;
    struct tk_agent_config cfg;
    struct tk_agent *agent;
};

static int env_up(struct env *e, int nodes, const char *startup, const char *termination)
{
    struct tk_err err = {0};
    struct tk_agent_io io = {rec_request, rec_cancel, NULL};
    char n[16];
    rec_reset();
    e->loop = tk_loop_new(&err);
    if (!e->loop)
        return -1;
    tk_agent_config_init(&e->cfg);
    snprintf(n, sizeof(n), "%d", nodes);
    tk_agent_config_set(&e->cfg, "nodes", n, &err);
    tk_agent_config_set(&e->cfg, "startup-latency", startup, &err);
    tk_agent_config_set(&e->cfg, "termination-delay", termination, &err);
    if (tk_agent_config_validate(&e->cfg, &err))
        return -1;
    return tk_agent_new(&e->agent, e->loop, &e->cfg, &io, &err);
}

static void env_down(struct env *e)
{
    tk_agent_free(e->agent);
    tk_agent_config_release(&e->cfg);
    tk_loop_free(e->loop);
    rec_reset();
}

static void stats(struct env *e, struct tk_agent_stats *s)
{
    tk_agent_get_stats(e->agent, s);
}

/* ---- tests ---- */

TK_TEST(runtime_registration_and_leases)
{
    struct env e;
    struct tk_agent_stats s;
    int i;
    CHECK_INT(env_up(&e, 3, "0s", "0s"), 0);
    tk_agent_begin(e.agent);
    CHECK_INT(count_req("POST", "/api/v1/nodes"), 3);
    CHECK_CONTAINS(recs[0].body, "\"name\":\"tk-node-00000\"");
    CHECK_CONTAINS(recs[1].body, "\"address\":\"10.200.0.2\"");

    /* node 0: created */
    answer(0, 201,
           "{\"metadata\":{\"name\":\"tk-node-00000\",\"uid\":\"uid-0\"},"
           "\"spec\":{\"podCIDR\":\"10.244.7.0/24\"}}");
    i = wait_req(e.loop, "POST", "/leases");
    CHECK(i >= 0);
    CHECK(recs[i].flags & TK_KUBE_PRIORITY);
    CHECK_CONTAINS(recs[i].body, "\"holderIdentity\":\"tk-node-00000\"");
    CHECK_CONTAINS(recs[i].body, "\"uid\":\"uid-0\"");
    CHECK_CONTAINS(recs[i].body, "\"leaseDurationSeconds\":40");
    answer(i, 201, "{\"metadata\":{\"name\":\"tk-node-00000\",\"resourceVersion\":\"77\"}}");
    stats(&e, &s);
    CHECK_INT(s.nodes_ready, 1);
    CHECK_INT(s.lease_renewals_total, 1);

    /* node 1: exists -> GET, PATCH labels, PATCH status, then the lease exists too -> GET, PUT */
    answer(1, 409, NULL);
    i = find_req("GET", "/api/v1/nodes/tk-node-00001");
    CHECK(i >= 0);
    answer(i, 200, "{\"metadata\":{\"name\":\"tk-node-00001\",\"uid\":\"uid-1\"}}");
    i = find_req("PATCH", "/api/v1/nodes/tk-node-00001");
    CHECK(i >= 0);
    CHECK(strstr(recs[i].path, "/status") == NULL);
    CHECK_CONTAINS(recs[i].body, "\"labels\"");
    answer(i, 200, "{}");
    i = find_req("PATCH", "/api/v1/nodes/tk-node-00001/status");
    CHECK(i >= 0);
    CHECK_CONTAINS(recs[i].body, "\"capacity\"");
    answer(i, 200, "{}");
    i = wait_req(e.loop, "POST", "/leases");
    CHECK(i >= 0);
    answer(i, 409, NULL);
    i = find_req("GET", "/leases/tk-node-00001");
    CHECK(i >= 0);
    answer(i, 200, "{\"metadata\":{\"name\":\"tk-node-00001\",\"resourceVersion\":\"9\"}}");
    i = find_req("PUT", "/leases/tk-node-00001");
    CHECK(i >= 0);
    CHECK_CONTAINS(recs[i].body, "\"resourceVersion\":\"9\"");
    /* a stale resourceVersion: fetch again and retry */
    answer(i, 409, NULL);
    i = find_req("GET", "/leases/tk-node-00001");
    CHECK(i >= 0);
    answer(i, 200, "{\"metadata\":{\"resourceVersion\":\"12\"}}");
    i = find_req("PUT", "/leases/tk-node-00001");
    CHECK(i >= 0);
    CHECK_CONTAINS(recs[i].body, "\"resourceVersion\":\"12\"");
    answer(i, 200, "{\"metadata\":{\"resourceVersion\":\"13\"}}");

    /* node 2: a server error is retried later, not at once */
    answer(2, 500, NULL);
    CHECK_INT(count_req("POST", "/api/v1/nodes"), 3);
    stats(&e, &s);
    CHECK_INT(s.nodes_ready, 2);
    env_down(&e);
}

static int register_all(struct env *e, int n)
{
    tk_agent_begin(e->agent);
    for (int k = 0; k < n; k++) {
        char body[128];
        int i = find_req("POST", "/api/v1/nodes");
        if (i < 0)
            return -1;
        snprintf(body, sizeof(body), "{\"metadata\":{\"uid\":\"uid-%d\"}}", k);
        answer(i, 201, body);
    }
    return 0;
}

TK_TEST(runtime_pod_start_events_delete)
{
    struct env e;
    struct tk_agent_stats s;
    cJSON *pod = load_json("pod-deploy.json");
    int i;
    CHECK(pod != NULL);
    CHECK_INT(env_up(&e, 3, "0s", "0s"), 0);
    CHECK_INT(register_all(&e, 3), 0);

    tk_agent_pod_event(e.agent, TK_WATCH_ADDED, pod, 0);
    stats(&e, &s);
    CHECK_INT(s.pods_starting, 1);
    i = wait_req(e.loop, "PATCH", "/pods/web-7d4b9c8f6-x2x9q/status");
    CHECK(i >= 0);
    CHECK_STR(recs[i].path, "/api/v1/namespaces/density/pods/web-7d4b9c8f6-x2x9q/status");
    CHECK_CONTAINS(recs[i].body, "\"phase\":\"Running\"");
    CHECK_CONTAINS(recs[i].body, "\"hostIP\":\"10.200.0.2\"");
    CHECK_CONTAINS(recs[i].body, "\"podIP\":\"10.128.1.2\""); /* node 1's block of 10.128/9 */
    CHECK_CONTAINS(recs[i].body, "\"uid\":\"3b1f0d6e-8f52-4a3e-9c1e-2f7d5a1b0c11\"");
    /* the Started events (two containers) go out beside the status, not after its answer */
    CHECK_INT(count_req("POST", "/api/v1/namespaces/density/events"), 2);
    answer(i, 200, "{}");
    CHECK_INT(count_req("POST", "/api/v1/namespaces/density/events"), 2); /* and only those */
    i = find_req("POST", "/events");
    CHECK_CONTAINS(recs[i].body, "\"reason\":\"Started\"");
    CHECK_CONTAINS(recs[i].body, "\"component\":\"kubelet\"");
    answer(i, 201, "{}");
    stats(&e, &s);
    CHECK_INT(s.pods_running, 1);
    CHECK_INT(s.pods_started_total, 1);
    CHECK_INT(s.events_posted_total, 1);

    /* the echo of our own patch (Ready True) changes nothing */
    cJSON *conds = cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "status"), "conditions");
    cJSON *ready = cJSON_CreateObject();
    cJSON_AddStringToObject(ready, "type", "Ready");
    cJSON_AddStringToObject(ready, "status", "True");
    cJSON_AddItemToArray(conds, ready);
    tk_agent_pod_event(e.agent, TK_WATCH_MODIFIED, pod, 0);
    run_for_ms(e.loop, 20);
    CHECK_INT(count_req("PATCH", "/pods/web-7d4b9c8f6-x2x9q/status"), 1);
    /* the node lifecycle controller marks it not ready (an outage): reported again */
    cJSON_ReplaceItemInObject(ready, "status", cJSON_CreateString("False"));
    tk_agent_pod_event(e.agent, TK_WATCH_MODIFIED, pod, 0);
    i = find_req("PATCH", "/pods/web-7d4b9c8f6-x2x9q/status");
    CHECK(i >= 0);
    CHECK_CONTAINS(recs[i].body, "\"type\":\"Ready\",\"status\":\"True\"");
    answer(i, 200, "{}");
    stats(&e, &s);
    CHECK_INT(s.pods_resynced_total, 1);
    CHECK_INT(s.pods_started_total, 1);
    cJSON_ReplaceItemInObject(ready, "status", cJSON_CreateString("True"));

    /* deletion: terminated status, then DELETE with grace 0 and the UID precondition */
    set_str_at(pod, "metadata", "deletionTimestamp", "2026-01-02T03:10:00Z");
    cJSON_AddNumberToObject(cJSON_GetObjectItem(pod, "metadata"), "deletionGracePeriodSeconds", 30);
    tk_agent_pod_event(e.agent, TK_WATCH_MODIFIED, pod, 0);
    i = wait_req(e.loop, "PATCH", "/pods/web-7d4b9c8f6-x2x9q/status");
    CHECK(i >= 0);
    CHECK_CONTAINS(recs[i].body, "\"phase\":\"Succeeded\"");
    CHECK_CONTAINS(recs[i].body, "\"terminated\"");
    answer(i, 200, "{}");
    i = find_req("DELETE", "/api/v1/namespaces/density/pods/web-7d4b9c8f6-x2x9q");
    CHECK(i >= 0);
    CHECK_CONTAINS(recs[i].body, "\"gracePeriodSeconds\":0");
    CHECK_CONTAINS(recs[i].body,
                   "\"preconditions\":{\"uid\":\"3b1f0d6e-8f52-4a3e-9c1e-2f7d5a1b0c11\"}");
    answer(i, 200, "{}");
    stats(&e, &s);
    CHECK_INT(s.pods_deleted_total, 1);
    CHECK_INT(s.pods_terminating, 1); /* until the watch says DELETED */
    tk_agent_pod_event(e.agent, TK_WATCH_DELETED, pod, 0);
    stats(&e, &s);
    CHECK_INT(s.pods_terminating + s.pods_running + s.pods_starting, 0);
    cJSON_Delete(pod);
    env_down(&e);
}

TK_TEST(runtime_deleted_while_starting)
{
    struct env e;
    struct tk_agent_stats s;
    cJSON *pod = load_json("pod-deploy.json");
    int i;
    CHECK_INT(env_up(&e, 3, "1h", "0s"), 0);
    CHECK_INT(register_all(&e, 3), 0);
    tk_agent_pod_event(e.agent, TK_WATCH_ADDED, pod, 0);
    run_for_ms(e.loop, 20);
    CHECK_INT(count_req("PATCH", "/pods/"), 0); /* still starting */
    set_str_at(pod, "metadata", "deletionTimestamp", "2026-01-02T03:10:00Z");
    tk_agent_pod_event(e.agent, TK_WATCH_MODIFIED, pod, 0);
    i = wait_req(e.loop, "DELETE", "/pods/web-7d4b9c8f6-x2x9q");
    CHECK(i >= 0);
    CHECK_INT(count_req("PATCH", "/pods/"), 0); /* nothing ran: no terminated status */
    /* the pod vanishes before our DELETE is answered: the answer still counts */
    tk_agent_pod_event(e.agent, TK_WATCH_DELETED, pod, 0);
    answer(i, 200, "{}");
    stats(&e, &s);
    CHECK_INT(s.pods_deleted_total, 1);
    CHECK_INT(s.pods_starting + s.pods_terminating, 0);
    cJSON_Delete(pod);
    env_down(&e);
}

TK_TEST(runtime_job_failure_and_gone_pod)
{
    struct env e;
    struct tk_agent_stats s;
    cJSON *pod = load_json("pod-job.json");
    int i;
    CHECK_INT(env_up(&e, 3, "0s", "0s"), 0);
    CHECK_INT(register_all(&e, 3), 0);
    set_str_at(pod, "metadata", "annotations", NULL);
    cJSON *ann = cJSON_AddObjectToObject(cJSON_GetObjectItem(pod, "metadata"), "annotations");
    cJSON_AddStringToObject(ann, "turbokube.io/run-duration", "10ms");
    cJSON_AddStringToObject(ann, "turbokube.io/exit-code", "3");
    tk_agent_pod_event(e.agent, TK_WATCH_ADDED, pod, 0);
    i = wait_req(e.loop, "PATCH", "/pods/pi-abcde/status");
    CHECK(i >= 0);
    CHECK_CONTAINS(recs[i].body, "\"phase\":\"Running\"");
    CHECK_CONTAINS(recs[i].body, "\"podIP\":\"10.200.0.3\""); /* hostNetwork: the node's IP */
    answer(i, 200, "{}");
    i = wait_req(e.loop, "PATCH", "/pods/pi-abcde/status");
    CHECK(i >= 0);
    CHECK_CONTAINS(recs[i].body, "\"phase\":\"Failed\""); /* restartPolicy Never, exit 3 */
    CHECK_CONTAINS(recs[i].body, "\"exitCode\":3");
    answer(i, 200, "{}");
    stats(&e, &s);
    CHECK_INT(s.pods_failed, 1);
    cJSON_Delete(pod);

    /* a pod deleted and recreated under the same name: our patch gets 409 -> forgotten */
    pod = load_json("pod-deploy.json");
    tk_agent_pod_event(e.agent, TK_WATCH_ADDED, pod, 0);
    i = wait_req(e.loop, "PATCH", "/pods/web-7d4b9c8f6-x2x9q/status");
    CHECK(i >= 0);
    answer(i, 409, NULL);
    stats(&e, &s);
    CHECK_INT(s.pods_starting + s.pods_running, 0);
    cJSON_Delete(pod);
    env_down(&e);
}

TK_TEST(runtime_restart_backoff)
{
    struct env e;
    cJSON *pod = load_json("pod-deploy.json");
    int i;
    CHECK_INT(env_up(&e, 3, "0s", "0s"), 0);
    CHECK_INT(register_all(&e, 3), 0);
    cJSON *ann = cJSON_AddObjectToObject(cJSON_GetObjectItem(pod, "metadata"), "annotations");
    cJSON_AddStringToObject(ann, "turbokube.io/run-duration", "10ms");
    cJSON_AddStringToObject(ann, "turbokube.io/exit-code", "1");
    tk_agent_pod_event(e.agent, TK_WATCH_ADDED, pod, 0);
    i = wait_req(e.loop, "PATCH", "/status");
    answer(i, 200, "{}");
    i = wait_req(e.loop, "PATCH", "/pods/web-7d4b9c8f6-x2x9q/status");
    CHECK(i >= 0);
    CHECK_CONTAINS(recs[i].body, "CrashLoopBackOff"); /* restartPolicy Always */
    CHECK_CONTAINS(recs[i].body, "\"phase\":\"Running\"");
    answer(i, 200, "{}");
    struct tk_agent_stats s;
    stats(&e, &s);
    CHECK_INT(s.pods_backoff, 1);
    cJSON_Delete(pod);
    env_down(&e);
}

TK_TEST(runtime_relist_forgets_missing)
{
    struct env e;
    struct tk_agent_stats s;
    cJSON *a = load_json("pod-deploy.json");
    cJSON *b = load_json("pod-deploy.json");
    CHECK_INT(env_up(&e, 3, "1h", "0s"), 0);
    set_str_at(b, "metadata", "uid", "second-uid");
    set_str_at(b, "metadata", "name", "second");
    tk_agent_pod_event(e.agent, TK_WATCH_ADDED, a, 1); /* the first LIST */
    tk_agent_pod_event(e.agent, TK_WATCH_ADDED, b, 1);
    tk_agent_pod_sync(e.agent);
    stats(&e, &s);
    CHECK_INT(s.pods_starting, 2);
    /* a relist that no longer has b (its DELETED was missed) */
    tk_agent_pod_event(e.agent, TK_WATCH_MODIFIED, b, 0); /* a WATCH event for b, then b goes */
    tk_agent_pod_event(e.agent, TK_WATCH_ADDED, a, 1);
    tk_agent_pod_sync(e.agent);
    stats(&e, &s);
    CHECK_INT(s.pods_starting, 1);
    cJSON_Delete(a);
    cJSON_Delete(b);
    env_down(&e);
}

/* ---- watch streams through the parser into the agent ---- */

static int feed_cb(enum tk_watch_type type, cJSON *obj, void *ud)
{
    tk_agent_pod_event(ud, type, obj, 0); /* a WATCH stream */
    return 0;
}

static int stream_into(struct env *e, const char *data, size_t len, size_t split, size_t max,
                       struct tk_err *err)
{
    struct tk_watch_parser p;
    int rc;
    tk_watch_parser_init(&p, max);
    rc = tk_watch_parser_feed(&p, data, split, feed_cb, e->agent, err);
    if (!rc)
        rc = tk_watch_parser_feed(&p, data + split, len - split, feed_cb, e->agent, err);
    tk_watch_parser_release(&p);
    return rc;
}

TK_TEST(runtime_watch_stream_every_split)
{
    size_t len;
    char *data = slurp("pods-watch.jsonl", &len);
    CHECK(data != NULL);
    for (size_t split = 0; split <= len; split += 1) {
        struct env e;
        struct tk_err err = {0};
        struct tk_agent_stats s;
        if (env_up(&e, 3, "1h", "0s"))
            break;
        CHECK_INT(stream_into(&e, data, len, split, 0, &err), 0);
        stats(&e, &s);
        if (s.pods_starting != 2 || s.ignored_pods_total != 2 || s.bad_objects_total != 0) {
            fprintf(stderr, "split %zu: starting=%llu ignored=%llu\n", split,
                    (unsigned long long)s.pods_starting, (unsigned long long)s.ignored_pods_total);
            env_down(&e);
            CHECK(0);
        }
        env_down(&e);
    }
    free(data);
}

TK_TEST(runtime_watch_truncated_and_oversized)
{
    size_t len;
    char *data = slurp("pods-watch.jsonl", &len);
    struct env e;
    struct tk_err err = {0};
    struct tk_agent_stats s;
    struct tk_watch_parser p;
    CHECK(data != NULL);

    /* a stream cut inside the job pod's event: only complete events take effect */
    const char *job = strstr(data, "\"name\":\"pi-abcde\"");
    CHECK(job != NULL);
    CHECK_INT(env_up(&e, 3, "1h", "0s"), 0);
    tk_watch_parser_init(&p, 0);
    CHECK_INT(tk_watch_parser_feed(&p, data, (size_t)(job - data), feed_cb, e.agent, &err), 0);
    CHECK(tk_watch_parser_pending(&p) > 0);
    tk_watch_parser_release(&p);
    stats(&e, &s);
    CHECK_INT(s.pods_starting, 1); /* the deploy pod; the half job pod is not delivered */
    env_down(&e);

    /* an event over the cap fails the stream; the relist that follows reconciles */
    CHECK_INT(env_up(&e, 3, "1h", "0s"), 0);
    tk_agent_pod_sync(e.agent);                                     /* the first, empty LIST */
    CHECK_INT(stream_into(&e, data, len, 0, 920, &err), TK_ENOMEM); /* the MODIFIED is 939 bytes */
    stats(&e, &s);
    CHECK_INT(s.pods_starting, 1); /* the ADDED before it took effect */
    {
        cJSON *pod = load_json("pod-job.json");
        tk_agent_pod_event(e.agent, TK_WATCH_ADDED, pod, 1); /* the relist's items */
        tk_agent_pod_sync(e.agent);
        cJSON_Delete(pod);
    }
    stats(&e, &s);
    CHECK_INT(s.pods_starting, 1); /* the job pod only: the deploy pod was not relisted */
    env_down(&e);

    /* objects that are not pods we can use are counted, not fatal */
    CHECK_INT(env_up(&e, 3, "1h", "0s"), 0);
    {
        cJSON *o = cJSON_Parse("{\"metadata\":{\"name\":\"x\",\"namespace\":\"d\"},"
                               "\"spec\":{\"nodeName\":\"tk-node-00001\"}}");
        tk_agent_pod_event(e.agent, TK_WATCH_ADDED, o, 0);
        cJSON_Delete(o);
    }
    stats(&e, &s);
    CHECK_INT(s.bad_objects_total, 1);
    CHECK_INT(s.pods_starting, 0);
    env_down(&e);
    free(data);
}

static int stopped_flag;

static void on_stopped(void *ud)
{
    (void)ud;
    stopped_flag = 1;
}

TK_TEST(runtime_shutdown_cleanup)
{
    struct env e;
    struct tk_err err = {0};
    CHECK_INT(env_up(&e, 2, "0s", "0s"), 0);
    tk_agent_config_set(&e.cfg, "cleanup", NULL, &err);
    CHECK_INT(register_all(&e, 2), 0);
    stopped_flag = 0;
    tk_agent_shutdown(e.agent, on_stopped, NULL);
    CHECK_INT(count_req("DELETE", "/api/v1/nodes/tk-node-0000"), 2);
    CHECK_INT(count_req("DELETE", "/leases/tk-node-0000"), 2);
    for (int i = 0; i < nrecs; i++)
        if (recs[i].state == 0 && !strcmp(recs[i].method, "DELETE")) {
            CHECK_INT(stopped_flag, 0);
            answer(i, 200, "{}");
        }
    CHECK_INT(stopped_flag, 1);
    CHECK(tk_agent_stopped(e.agent));
    env_down(&e);
}

TK_TEST(runtime_metrics_text)
{
    struct env e;
    struct tk_buf b;
    CHECK_INT(env_up(&e, 2, "0s", "0s"), 0);
    CHECK_INT(register_all(&e, 2), 0);
    tk_buf_init(&b, 0);
    CHECK_INT(tk_agent_metrics(e.agent, &b), 0);
    CHECK_CONTAINS(b.data, "turbokube_agent_nodes{state=\"ready\"} 2");
    CHECK_CONTAINS(b.data, "turbokube_agent_api_requests_total{verb=\"POST\",resource=\"nodes\","
                           "subresource=\"\",code=\"201\"} 2");
    CHECK_CONTAINS(b.data, "turbokube_agent_lease_renew_lag_seconds_bucket");
    CHECK_CONTAINS(b.data, "turbokube_agent_pods{phase=\"Running\"} 0");
    CHECK_CONTAINS(b.data, "process_resident_memory_bytes");
    tk_buf_release(&b);
    env_down(&e);
}

TK_TEST(runtime_relist_newest_item_kept)
{
    struct env e;
    struct tk_agent_stats s;
    cJSON *a = load_json("pod-deploy.json");
    cJSON *b = load_json("pod-deploy.json");
    CHECK_INT(env_up(&e, 3, "1h", "0s"), 0);
    set_str_at(b, "metadata", "uid", "second-uid");
    set_str_at(b, "metadata", "name", "second");
    tk_agent_pod_event(e.agent, TK_WATCH_ADDED, a, 1);
    tk_agent_pod_event(e.agent, TK_WATCH_ADDED, b, 1);
    tk_agent_pod_sync(e.agent);
    /* relist of one pod whose resourceVersion is the list's: ambiguous, kept by position */
    tk_agent_pod_event(e.agent, TK_WATCH_ADDED, b, -1);
    tk_agent_pod_sync(e.agent);
    stats(&e, &s);
    CHECK_INT(s.pods_starting, 1);
    /* ... and before the first clear item */
    tk_agent_pod_event(e.agent, TK_WATCH_ADDED, a, -1);
    tk_agent_pod_event(e.agent, TK_WATCH_ADDED, b, 1);
    tk_agent_pod_sync(e.agent);
    stats(&e, &s);
    CHECK_INT(s.pods_starting, 2);
    /* an empty relist forgets everything */
    tk_agent_pod_sync(e.agent);
    stats(&e, &s);
    CHECK_INT(s.pods_starting, 0);
    cJSON_Delete(a);
    cJSON_Delete(b);
    env_down(&e);
}

TK_TEST_MAIN(runtime_registration_and_leases, runtime_relist_newest_item_kept,
             runtime_pod_start_events_delete, runtime_deleted_while_starting,
             runtime_job_failure_and_gone_pod, runtime_restart_backoff,
             runtime_relist_forgets_missing, runtime_watch_stream_every_split,
             runtime_watch_truncated_and_oversized, runtime_shutdown_cleanup, runtime_metrics_text)
