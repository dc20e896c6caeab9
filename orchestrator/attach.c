#include "attach.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "burner.h"
#include "json.h"
#include "log.h"
#include "loop.h"

#define FAKE_SELECTOR "turbokube.io/fake=true"
#define UUID_LABEL "kube-burner.io/uuid"
#define JOB_LABEL "kube-burner.io/job"
#define PAGE_TIMEOUT_MS 30000
#define MAX_INFLIGHT 64

struct tk_attach {
    struct tk_loop *loop;
    struct tk_kubeconfig *kc;
    struct tk_kube *kube;
    char version[64];
};

/* ---- pure pieces --------------------------------------------------------------------------- */

int tk_attach_kubeconfig_path(const char *given, char **out, struct tk_err *err)
{
    const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");
    char *path, *abs;

    *out = NULL;
    if (given && given[0])
        path = tk_xstrdup(given);
    else if (env && env[0])
        path = tk_xstrndup(env, strcspn(env, ":"));
    else if (home && home[0])
        path = tk_xasprintf("%s/.kube/config", home);
    else
        return tk_err_set(err, TK_ENOTFOUND,
                          "no kubeconfig: controlPlane.kubeconfig, $KUBECONFIG and $HOME are "
                          "all unset");
    if (!(abs = realpath(path, NULL))) {
        tk_err_set(err, TK_ENOTFOUND, "kubeconfig '%s'%s: %s", path,
                   given && given[0] ? ""
                   : env && env[0]   ? " (from $KUBECONFIG)"
                                     : " (the default; set controlPlane.kubeconfig)",
                   strerror(errno));
        free(path);
        return err->code;
    }
    free(path);
    *out = abs;
    return 0;
}

void tk_attach_parse_version(const char *body, size_t len, char *out, size_t n)
{
    cJSON *j = NULL;
    struct tk_err err = {0};
    const char *v;

    out[0] = '\0';
    if (!body || tk_json_parse(&j, body, len, "/version", &err))
        return;
    if ((v = tk_json_get_str(j, "gitVersion")))
        snprintf(out, n, "%s", v);
    cJSON_Delete(j);
}

void tk_attach_etcd_version(const char *text, size_t len, char *out, size_t n)
{
    static const char key[] = "etcd_server_version{server_version=\"";
    const char *end = text ? text + len : NULL;

    out[0] = '\0';
    for (const char *p = text; p && p < end;
         p = memchr(p, '\n', (size_t)(end - p)), p = p ? p + 1 : p) {
        if ((size_t)(end - p) > sizeof(key) - 1 && memcmp(p, key, sizeof(key) - 1) == 0) {
            const char *v = p + sizeof(key) - 1, *q = memchr(v, '"', (size_t)(end - v));
            if (q)
                snprintf(out, n, "%.*s", (int)(q - v), v);
            return;
        }
    }
}

/* "cluster-density-12" with 12 below count. */
static int cluster_density_ns(const char *name, int64_t count)
{
    static const char prefix[] = "cluster-density-";
    char *end;
    long long i;

    if (strncmp(name, prefix, sizeof(prefix) - 1) != 0 || !name[sizeof(prefix) - 1])
        return 0;
    errno = 0;
    i = strtoll(name + sizeof(prefix) - 1, &end, 10);
    return !*end && !errno && i >= 0 && i < count;
}

int tk_attach_namespace_conflict(const cJSON *ns, const struct tk_cell_params *p, char *why,
                                 size_t n)
{
    const char *name = tk_json_get_str(ns, "metadata.name");
    const char *job = tk_burner_job_name(p);
    const cJSON *labels = tk_json_get_obj(ns, "metadata.labels");
    const char *has_job =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive((cJSON *)labels, JOB_LABEL));

    if (!name || !job)
        return 0;
    if ((p->shape == TK_EXP_NODE_DENSITY && strcmp(name, "node-density") == 0) ||
        (p->shape == TK_EXP_CLUSTER_DENSITY && cluster_density_ns(name, p->namespaces))) {
        snprintf(why, n,
                 "namespace %s exists already: the %s load creates it (and its objects) and "
                 "would mix with what is there; delete it or run elsewhere",
                 name, job);
        return 1;
    }
    if (has_job && strcmp(has_job, job) == 0) {
        snprintf(why, n,
                 "namespace %s is labelled %s=%s: kube-burner's garbage collection of the %s "
                 "job deletes every namespace with that label",
                 name, JOB_LABEL, job, job);
        return 1;
    }
    return 0;
}

/* ---- requests ------------------------------------------------------------------------------- */

static void url_escape(struct tk_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~')
            tk_buf_append(b, s, 1);
        else
            tk_buf_printf(b, "%%%02X", ch);
    }
}

typedef void (*item_fn)(const cJSON *item, void *ud);

/* Every item of the collection at path, a page of 500 at a time; sel_key ("labelSelector",
 * "fieldSelector", or NULL for none) with its raw sel_value narrows the list. */
static int list_each(struct tk_attach *a, const char *path, const char *sel_key,
                     const char *sel_value, item_fn fn, void *ud, struct tk_err *err)
{
    char *cont = NULL;
    int rc = 0;

    do {
        struct tk_buf u;
        char *body = NULL;
        long status = 0;
        cJSON *j = NULL;
        const cJSON *it;

        tk_buf_init(&u, 0);
        tk_buf_printf(&u, "%s?limit=500", path);
        if (sel_key) {
            tk_buf_printf(&u, "&%s=", sel_key);
            url_escape(&u, sel_value);
        }
        if (cont) {
            tk_buf_puts(&u, "&continue=");
            url_escape(&u, cont);
        }
        rc = tk_kube_request_sync(a->kube, "GET", u.data, NULL, NULL, &status, &body,
                                  PAGE_TIMEOUT_MS, err);
        tk_buf_release(&u);
        free(cont);
        cont = NULL;
        if (!rc)
            rc = tk_json_parse(&j, body, strlen(body), path, err);
        free(body);
        if (rc)
            break;
        cJSON_ArrayForEach(it, tk_json_get_arr(j, "items")) fn(it, ud);
        const char *c = tk_json_get_str(j, "metadata.continue");
        cont = c && c[0] ? tk_xstrdup(c) : NULL;
        cJSON_Delete(j);
    } while (cont);
    free(cont);
    return rc;
}

/* DELETEs of a list of paths, at most MAX_INFLIGHT at once; 404 counts as done. */
struct del_slot {
    struct del_batch *b;
    struct tk_kube_req *req;
};
struct del_batch {
    struct tk_attach *a;
    char **paths;
    size_t n, next, inflight;
    struct del_slot *slot;
    int64_t deleted, failed;
    struct tk_err first;
};

static void del_issue(struct del_batch *b);

static void del_done(const struct tk_kube_resp *resp, void *ud)
{
    struct del_slot *s = ud;
    struct del_batch *b = s->b;
    s->req = NULL;
    b->inflight--;
    if ((resp->status >= 200 && resp->status < 300) || resp->status == 404) {
        b->deleted += resp->status != 404;
    } else {
        if (!b->failed)
            tk_err_set(&b->first, resp->err.code ? resp->err.code : TK_EHTTP, "%s", resp->err.msg);
        b->failed++;
    }
    del_issue(b);
}

static void del_issue(struct del_batch *b)
{
    while (b->next < b->n && b->inflight < MAX_INFLIGHT) {
        struct del_slot *s = &b->slot[b->next];
        s->b = b;
        s->req =
            tk_kube_request(b->a->kube, "DELETE", b->paths[b->next], NULL, NULL, 0, del_done, s);
        b->next++;
        if (s->req)
            b->inflight++;
    }
}

static int del_idle(void *ud)
{
    struct del_batch *b = ud;
    return b->next >= b->n && b->inflight == 0;
}

static void batch_add(struct del_batch *b, char *path)
{
    b->paths = tk_xrealloc(b->paths, (b->n + 1) * sizeof(*b->paths));
    b->paths[b->n++] = path;
}

/* Runs the batch to its end or the deadline; cancels what is still in flight. */
static int batch_run(struct del_batch *b, int64_t deadline_ns, struct tk_err *err)
{
    int rc = 0;
    b->slot = tk_xcalloc(b->n ? b->n : 1, sizeof(*b->slot));
    del_issue(b);
    if (!del_idle(b))
        rc = tk_loop_run_until(b->a->loop, del_idle, b, deadline_ns);
    for (size_t i = 0; i < b->next; i++)
        tk_kube_cancel(b->slot[i].req);
    if (!rc && !del_idle(b))
        rc = TK_ESTATE;
    if (rc)
        tk_err_set(err, rc, "deleting %zu objects: %s", b->n,
                   rc == TK_ETIMEOUT ? "deadline passed" : "interrupted");
    else if (b->failed)
        rc = tk_err_set(err, b->first.code, "%lld deletions failed, the first: %s",
                        (long long)b->failed, b->first.msg);
    for (size_t i = 0; i < b->n; i++)
        free(b->paths[i]);
    free(b->paths);
    free(b->slot);
    b->paths = NULL;
    b->slot = NULL;
    return rc;
}

/* ---- attaching --------------------------------------------------------------------------------
 */

int tk_attach_open(struct tk_attach **out, struct tk_loop *loop, const char *path, int timeout_ms,
                   struct tk_err *err)
{
    struct tk_attach *a = tk_xcalloc(1, sizeof(*a));
    struct tk_kube_opts ko;
    char *body = NULL;
    long status = 0;
    int rc;

    *out = NULL;
    a->loop = loop;
    if ((rc = tk_kubeconfig_load(&a->kc, path, NULL, err)))
        goto fail;
    tk_kube_opts_from_kubeconfig(a->kc, &ko);
    ko.user_agent = "turbokube-run";
    ko.max_retries = 2;
    if (!(a->kube = tk_kube_new(loop, &ko, err))) {
        rc = err->code;
        goto fail;
    }
    rc = tk_kube_request_sync(a->kube, "GET", "/version", NULL, NULL, &status, &body, timeout_ms,
                              err);
    if (rc && status == 0 && rc != TK_ESTATE) {
        tk_err_prefix(err, "cannot reach %s (kubeconfig %s, context %s)", a->kc->server, path,
                      a->kc->context ? a->kc->context : "-");
        goto fail;
    }
    if (rc)
        goto fail;
    tk_attach_parse_version(body, strlen(body), a->version, sizeof(a->version));
    free(body);
    body = NULL;
    /* the latency summaries come from /metrics: without it the cell would measure nothing */
    rc = tk_kube_request_sync(a->kube, "GET", "/metrics", NULL, NULL, &status, NULL, timeout_ms,
                              err);
    if (rc) {
        if (status == 401 || status == 403)
            tk_err_prefix(err, "the kubeconfig's user may not read the apiserver's /metrics "
                               "(grant nonResourceURLs [/metrics] verbs [get])");
        goto fail;
    }
    *out = a;
    return 0;
fail:
    free(body);
    tk_attach_free(a);
    return rc;
}

void tk_attach_free(struct tk_attach *a)
{
    if (!a)
        return;
    tk_kube_free(a->kube);
    tk_kubeconfig_free(a->kc);
    free(a);
}

const struct tk_kubeconfig *tk_attach_kubeconfig(const struct tk_attach *a)
{
    return a->kc;
}

struct tk_kube *tk_attach_client(const struct tk_attach *a)
{
    return a->kube;
}

const char *tk_attach_version(const struct tk_attach *a)
{
    return a->version;
}

/* ---- before and after a cell ------------------------------------------------------------------
 */

struct preflight {
    const struct tk_cell_params *p;
    char node[256];
    int64_t nodes;
    char why[512];
};

static void pre_node(const cJSON *it, void *ud)
{
    struct preflight *pf = ud;
    const char *name = tk_json_get_str(it, "metadata.name");
    if (!pf->nodes++ && name)
        snprintf(pf->node, sizeof(pf->node), "%s", name);
}

static void pre_ns(const cJSON *it, void *ud)
{
    struct preflight *pf = ud;
    if (!pf->why[0])
        tk_attach_namespace_conflict(it, pf->p, pf->why, sizeof(pf->why));
}

int tk_attach_preflight(struct tk_attach *a, const struct tk_cell_params *p, struct tk_err *err)
{
    struct preflight pf = {.p = p};
    int rc;

    if ((rc = list_each(a, "/api/v1/nodes", "labelSelector", FAKE_SELECTOR, pre_node, &pf, err)))
        return rc;
    if (pf.nodes)
        return tk_err_set(err, TK_ESTATE,
                          "%lld node(s) labelled %s exist already (%s, ...): another run uses "
                          "this cluster, or one left them (kubectl delete nodes -l %s)",
                          (long long)pf.nodes, FAKE_SELECTOR, pf.node, FAKE_SELECTOR);
    if ((rc = list_each(a, "/api/v1/namespaces", NULL, NULL, pre_ns, &pf, err)))
        return rc;
    if (pf.why[0])
        return tk_err_set(err, TK_ESTATE, "%s", pf.why);
    return 0;
}

struct ns_scan {
    const char *prefix;
    struct del_batch *b;    /* the namespaces not yet terminating */
    struct del_batch *pods; /* their pods, every namespace found */
    int64_t found;
};

static void ns_item(const cJSON *it, void *ud)
{
    struct ns_scan *s = ud;
    const char *name = tk_json_get_str(it, "metadata.name");
    const cJSON *labels = tk_json_get_obj(it, "metadata.labels");
    const char *uuid =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive((cJSON *)labels, UUID_LABEL));
    if (!name || !uuid || strncmp(uuid, s->prefix, strlen(s->prefix)) != 0)
        return;
    s->found++;
    if (!tk_json_get_str(it, "metadata.deletionTimestamp"))
        batch_add(s->b, tk_xasprintf("/api/v1/namespaces/%s", name));
    /* A terminating namespace waits for its pods, and a pod for its kubelet: the agents may be
     * gone (a killed run's), and the pods are the run's own, so they go at once, as the agent
     * itself would delete them (grace 0). */
    batch_add(s->pods, tk_xasprintf("/api/v1/namespaces/%s/pods?gracePeriodSeconds=0", name));
}

static void wake(struct tk_timer *t, void *ud)
{
    (void)t;
    (void)ud;
}

/* Runs the loop until until_ns; TK_ESTATE when a signal stopped it first. */
static int sleep_on(struct tk_loop *loop, int64_t until_ns)
{
    struct tk_timer t;
    tk_timer_init(&t, wake, NULL);
    tk_timer_start(loop, &t, until_ns);
    tk_loop_run_until(loop, NULL, NULL, until_ns);
    tk_timer_stop(loop, &t);
    return tk_now_ns() >= until_ns ? 0 : TK_ESTATE;
}

/* One pass: lists the cell's namespaces, deletes those not yet terminating, then their pods. */
static int ns_pass(struct tk_attach *a, const char *prefix, int64_t deadline_ns,
                   struct tk_attach_left *left, struct tk_err *err)
{
    struct del_batch b = {.a = a}, pods = {.a = a};
    struct ns_scan s = {.prefix = prefix, .b = &b, .pods = &pods};
    int rc;

    /* the label's value is not known in full: list them all, keep those of this cell */
    rc = list_each(a, "/api/v1/namespaces", "labelSelector", UUID_LABEL, ns_item, &s, err);
    left->namespaces = s.found;
    if (!rc)
        rc = batch_run(&b, deadline_ns, err);
    else
        batch_run(&b, deadline_ns, NULL);
    if (!rc)
        rc = batch_run(&pods, deadline_ns, err);
    else
        batch_run(&pods, deadline_ns, NULL);
    left->deleted += b.deleted;
    return rc;
}

int tk_attach_delete_namespaces(struct tk_attach *a, const char *uuid_prefix, int64_t deadline_ns,
                                struct tk_attach_left *left, struct tk_err *err)
{
    int rc = ns_pass(a, uuid_prefix, deadline_ns, left, err);

    while (!rc && left->namespaces) {
        if (tk_now_ns() >= deadline_ns)
            return tk_err_set(err, TK_ETIMEOUT, "%lld namespace(s) still terminating",
                              (long long)left->namespaces);
        if ((rc = sleep_on(a->loop, tk_now_ns() + 1000000000LL)))
            return tk_err_set(err, rc, "interrupted while namespaces terminate");
        rc = ns_pass(a, uuid_prefix, deadline_ns, left, err);
    }
    return rc;
}

struct node_scan {
    tk_attach_ours_fn ours;
    void *ud;
    struct del_batch *b;
    int64_t found, removing; /* removing: RemovingNode events among the events found */
    int kind;                /* 0 nodes (all of the selector's are ours), 1 leases, 2 events */
};

static void node_item(const cJSON *it, void *ud)
{
    struct node_scan *s = ud;
    const char *name = tk_json_get_str(it, "metadata.name");
    const char *ns = tk_json_get_str(it, "metadata.namespace");
    const char *node = s->kind == 2 ? tk_json_get_str(it, "involvedObject.name") : name;
    if (!name || !node || (s->kind && !s->ours(node, s->ud)))
        return;
    s->found++;
    if (s->kind == 2 && tk_json_get_str(it, "reason") &&
        strcmp(tk_json_get_str(it, "reason"), "RemovingNode") == 0)
        s->removing++;
    if (!s->b)
        return;
    if (s->kind == 0)
        batch_add(s->b, tk_xasprintf("/api/v1/nodes/%s", name));
    else if (s->kind == 1)
        batch_add(s->b, tk_xasprintf("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/"
                                     "leases/%s",
                                     name));
    else if (ns)
        batch_add(s->b, tk_xasprintf("/api/v1/namespaces/%s/events/%s", ns, name));
}

/* Lists one kind (and with b, queues its deletion): *found, and *removing (may be NULL) the
 * RemovingNode events among them. */
static int scan(struct tk_attach *a, int kind, const char *run_label, tk_attach_ours_fn ours,
                void *ud, struct del_batch *b, int64_t *found, int64_t *removing,
                struct tk_err *err)
{
    struct node_scan s = {.ours = ours, .ud = ud, .b = b, .kind = kind};
    char sel[160];
    int rc;

    snprintf(sel, sizeof(sel), "turbokube.io/run=%s", run_label);
    rc = kind == 0 ? list_each(a, "/api/v1/nodes", "labelSelector", sel, node_item, &s, err)
         : kind == 1
             ? list_each(a, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", NULL,
                         NULL, node_item, &s, err)
             : list_each(a, "/api/v1/events", "fieldSelector", "involvedObject.kind=Node",
                         node_item, &s, err);
    *found = s.found;
    if (removing)
        *removing = s.removing;
    return rc;
}

int tk_attach_sweep_nodes(struct tk_attach *a, const char *run_label, tk_attach_ours_fn ours,
                          void *ud, int64_t removals, int64_t deadline_ns,
                          struct tk_attach_left *left, struct tk_err *err)
{
    int64_t *count[3] = {&left->nodes, &left->leases, &left->events};
    int64_t removed = 0; /* RemovingNode events deleted so far */
    int rc = 0;

    /* nodes first: a lease or event deleted before its node could be written again */
    for (int kind = 0; kind < 3 && !rc; kind++) {
        struct del_batch b = {.a = a};
        int64_t found = 0, removing = 0;
        if (!(rc = scan(a, kind, run_label, ours, ud, &b, &found, &removing, err)))
            rc = batch_run(&b, deadline_ns, err);
        else
            batch_run(&b, deadline_ns, NULL);
        left->deleted += b.deleted;
        removed += removing;
    }
    /* the node lifecycle controller notices a deleted node within its monitor period (5 s by
     * default) and only then writes RemovingNode: wait for one per node, and delete them */
    while (!rc && removed < removals && tk_now_ns() < deadline_ns) {
        struct del_batch b = {.a = a};
        int64_t found = 0, removing = 0;
        if ((rc = sleep_on(a->loop, tk_now_ns() + 1000000000LL))) {
            tk_err_set(err, rc, "interrupted while waiting for the nodes' RemovingNode events");
            break;
        }
        if (!(rc = scan(a, 2, run_label, ours, ud, &b, &found, &removing, err)))
            rc = batch_run(&b, deadline_ns, err);
        else
            batch_run(&b, deadline_ns, NULL);
        left->deleted += b.deleted;
        removed += removing;
    }
    for (int kind = 0; kind < 3 && !rc; kind++)
        rc = scan(a, kind, run_label, ours, ud, NULL, count[kind], NULL, err);
    if (!rc && (left->nodes || left->leases || left->events))
        rc = tk_err_set(err, TK_ESTATE,
                        "left in the cluster: %lld node(s), %lld lease(s), %lld "
                        "event(s)",
                        (long long)left->nodes, (long long)left->leases, (long long)left->events);
    return rc;
}
