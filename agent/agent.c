#include "agent.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bootstrap.h"
#include "event.h"
#include "ipalloc.h"
#include "jsonw.h"
#include "kubeconfig.h"
#include "log.h"
#include "nodeobj.h"
#include "pki.h"
#include "pod.h"
#include "podstatus.h"
#include "prom.h"
#include "sampler.h"

/* What the agent keeps in flight besides leases. In lite mode everything shares LITE_CONNS
 * HTTP/2 connections of 100 streams each; these caps add up to less than that, so lease
 * renewals always find a free stream, however much pod work is waiting. */
#define REG_INFLIGHT_MAX 64   /* registrations */
#define POD_INFLIGHT_MAX 256  /* pod status/delete requests; more wait in a FIFO */
#define EVENT_INFLIGHT_MAX 64 /* Event POSTs; more wait in a FIFO */
#define LITE_CONNS 4
#define TRIM_NS (60LL * 1000000000)
/* Lease renewals due within the same 50 ms slot go out in one loop pass (one wake-up for many
 * nodes); the lag is still measured from each renewal's own due time. */
#define LEASE_SLACK_NS (50LL * 1000000)
#define LEASE_RETRY_NS (1000LL * 1000000)
#define STATUS_RETRY_NS (5000LL * 1000000)
#define SEC_NS 1000000000LL

#define CT_JSON "application/json"
#define CT_SMP "application/strategic-merge-patch+json"

/* ---- request kinds, for metrics -------------------------------------------------------- */

enum rk {
    RK_NODE_POST,
    RK_NODE_GET,
    RK_NODE_PATCH,
    RK_NODE_STATUS,
    RK_NODE_DELETE,
    RK_LEASE_POST,
    RK_LEASE_GET,
    RK_LEASE_PUT,
    RK_LEASE_DELETE,
    RK_POD_STATUS,
    RK_POD_DELETE,
    RK_EVENT_POST,
    RK_COUNT
};

static const struct {
    const char *verb, *resource, *subresource;
} rk_info[RK_COUNT] = {
    [RK_NODE_POST] = {"POST", "nodes", ""},       [RK_NODE_GET] = {"GET", "nodes", ""},
    [RK_NODE_PATCH] = {"PATCH", "nodes", ""},     [RK_NODE_STATUS] = {"PATCH", "nodes", "status"},
    [RK_NODE_DELETE] = {"DELETE", "nodes", ""},   [RK_LEASE_POST] = {"POST", "leases", ""},
    [RK_LEASE_GET] = {"GET", "leases", ""},       [RK_LEASE_PUT] = {"PUT", "leases", ""},
    [RK_LEASE_DELETE] = {"DELETE", "leases", ""}, [RK_POD_STATUS] = {"PATCH", "pods", "status"},
    [RK_POD_DELETE] = {"DELETE", "pods", ""},     [RK_EVENT_POST] = {"POST", "events", ""},
};

/* status codes counted one by one; the rest go to "other" */
static const int code_slots[] = {0, 200, 201, 404, 409, 422, 429, 500, 503};
#define NCODES (sizeof(code_slots) / sizeof(code_slots[0]) + 1)

static const double lat_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                    0.25,  0.5,    1,     2.5,  5,     10,   30};
#define NLAT (sizeof(lat_bounds) / sizeof(lat_bounds[0]))
static const double lag_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40};
#define NLAG (sizeof(lag_bounds) / sizeof(lag_bounds[0]))

/* ---- structures ------------------------------------------------------------------------ */

enum nstate { NS_IDLE, NS_QUEUED, NS_REGISTERING, NS_READY, NS_DELETING, NS_DONE };
enum regstep { REG_POST, REG_GET, REG_META, REG_STATUS };
enum leasestep { LEASE_CREATE, LEASE_FETCH, LEASE_UPDATE };

struct tk_apod;

/* Relist bookkeeping of one pods watch. Every event for our pods gets a sequence number; a
 * LIST's items are told from WATCH events by their resourceVersion (a list item's is older than
 * the list's, which the watch reports while the list is delivered; a WATCH event's is the
 * watch's own). At sync, pods whose last event is older than the list's first item were not
 * in it: they are forgotten. The one ambiguous item (the newest, whose resourceVersion is the
 * list's) is caught by position: it comes right before the first clear item or right before
 * the sync. */
struct scope {
    uint64_t seq, list_start, prev_eq;
    int in_list;
};

/* One request slot of a node; ud of its callbacks. */
struct nop {
    struct tk_agent_node *node;
    struct tk_kube_req *req;
};

struct tk_agent_node {
    struct tk_agent *a;
    char name[64];
    char ip_str[16];
    char uid[40];
    char lease_rv[40];
    uint32_t ip;
    int64_t index; /* global */
    enum nstate st;
    enum regstep reg_step;
    enum leasestep lease_step;
    int reg_failures, queued;
    int status_full;   /* next status PATCH carries the whole status */
    int status_urgent; /* the API shows the node other than Ready */
    struct nop reg, lease, status;
    struct tk_timer reg_timer, lease_timer, status_timer;
    int64_t lease_due_ns; /* when the pending renew was due (monotonic) */
    int64_t ready_wall_ns;
    struct tk_ipalloc pool;
    int pool_from_spec;
    struct tk_apod *pods; /* doubly linked through prev/next */
    uint32_t npods;
    struct scope scope;   /* kubelet mode: this node's pods watch */
    struct tk_kube *kube; /* kubelet mode: its own identity; else the shared client */
    struct tk_kube_watch *w_pods, *w_node, *w_svc;
};

enum pst { PS_STARTING, PS_RUNNING, PS_BACKOFF, PS_TERMINAL, PS_KILLING, PS_DELETING };
enum preq { PR_NONE, PR_STATUS, PR_DELETE };

struct tk_apod {
    struct tk_apod *hnext;       /* uid hash chain */
    struct tk_apod *prev, *next; /* node's list */
    struct tk_apod *qnext;       /* waiting for a request slot */
    struct tk_agent_node *node;
    struct tk_pod_info *info;
    struct tk_timer timer;  /* the next lifecycle step */
    struct tk_timer resend; /* retry of a failed request */
    struct tk_kube_req *req;
    uint8_t req_kind;    /* enum preq in flight */
    uint8_t st;          /* enum pst */
    uint8_t reported;    /* a Running (or later) status was accepted */
    uint8_t want_status; /* a status must go out once the slot is free */
    uint8_t want_delete; /* the final DELETE must go out once the slot is free */
    uint8_t queued;      /* in the FIFO */
    uint8_t ip_owned;    /* ip came from node->pool */
    uint8_t events_due;  /* post the start events beside the next Running status */
    uint8_t term_status; /* killing: report terminated containers before the DELETE */
    uint8_t retry_status, retry_delete; /* what the resend timer sends again */
    uint8_t failures;
    uint8_t gone; /* deleted in the API while a request was in flight: forget on its answer */
    uint32_t ip;
    uint64_t seq; /* of the last event seen for it (struct scope) */
    int restarts, exit_code, last_exit;
    int64_t start_wall, ready_wall, finished_wall, last_started_wall, last_finished_wall;
};

/* An Event waiting for a request slot. */
struct evq {
    struct evq *next;
    struct tk_kube *kube;
    char *path, *body;
};

struct tk_agent {
    struct tk_loop *loop;
    const struct tk_agent_config *cfg;
    struct tk_agent_io io;
    int real_io;
    struct tk_kubeconfig *kc;
    struct tk_kube *kube;     /* shared: lite mode, cleanup */
    struct tk_kube *pod_kube; /* lite, --start-grid over h2: pod work, read paced (pod_client) */
    struct tk_pki_ca *ca;
    struct tk_bootstrap *bs; /* kubelet mode with --bootstrap-kubeconfig */
    struct tk_kube_watch *w_pods, *w_nodes;
    struct tk_err fatal; /* why the agent cannot go on (code 0: it can) */
    void (*on_fatal)(void *);
    void *on_fatal_ud;

    struct tk_agent_node *nodes;
    size_t nnodes;
    struct tk_agent_node **regq; /* FIFO ring of nodes waiting to register */
    size_t regq_head, regq_len;
    int reg_inflight;

    struct tk_apod **ptab; /* uid hash */
    size_t ptab_size, npods;
    struct tk_apod *pq_head, *pq_tail; /* pods waiting for a request slot */
    int pod_inflight;
    struct scope scope; /* lite mode: the shared pods watch */

    int stopping, stopped, cleanup_pending;
    void (*on_done)(void *);
    void *on_done_ud;
    struct tk_timer stop_timer;

    uint64_t rng;
    int64_t event_seq;
    struct tk_agent_stats stats;
    uint64_t codes[RK_COUNT][NCODES];
    uint64_t lat_counts[RK_COUNT][NLAT + 1];
    struct tk_prom_histogram lat[RK_COUNT];
    uint64_t lag_counts[NLAG + 1];
    struct tk_prom_histogram lag;
    uint64_t wait_counts[NLAG + 1];
    struct tk_prom_histogram lease_wait; /* lease writes' wait for a connection or stream */
    struct tk_log_limit warn_limit;
    struct evq *evq_head, *evq_tail;
    int ev_inflight;
    struct tk_timer trim_timer;
    struct tk_buf scratch; /* request bodies (tk_kube_request copies them): reused, so a pod
                              start does not grow a fresh buffer twice */
};

/* ---- small helpers --------------------------------------------------------------------- */

static double rnd01(struct tk_agent *a)
{
    a->rng ^= a->rng << 13;
    a->rng ^= a->rng >> 7;
    a->rng ^= a->rng << 17;
    return (double)(a->rng >> 11) * (1.0 / 9007199254740992.0);
}

static void warn_limited(struct tk_agent *a, const char *msg, const char *detail)
{
    uint64_t dropped;
    if (tk_log_every(&a->warn_limit, 1000, &dropped))
        tk_warn(msg, "detail=\"%s\" suppressed=%llu", detail, (unsigned long long)dropped);
}

static struct tk_kube_req *default_request(void *ud, struct tk_kube *kube, const char *method,
                                           const char *path, const char *body,
                                           const char *content_type, int flags, tk_kube_done_fn cb,
                                           void *cb_ud)
{
    (void)ud;
    return tk_kube_request(kube, method, path, body, content_type, flags, cb, cb_ud);
}

static void default_cancel(void *ud, struct tk_kube_req *req)
{
    (void)ud;
    tk_kube_cancel(req);
}

static struct tk_kube_req *issue(struct tk_agent *a, struct tk_kube *k, const char *method,
                                 const char *path, const char *body, const char *ct, int flags,
                                 tk_kube_done_fn cb, void *ud)
{
    return a->io.request(a->io.ud, k, method, path, body, ct, flags, cb, ud);
}

static void cancel_req(struct tk_agent *a, struct tk_kube_req **req)
{
    if (*req) {
        a->io.cancel(a->io.ud, *req);
        *req = NULL;
    }
}

static void account(struct tk_agent *a, enum rk kind, const struct tk_kube_resp *resp)
{
    size_t slot = NCODES - 1;
    for (size_t i = 0; i < NCODES - 1; i++)
        if (resp->status == code_slots[i]) {
            slot = i;
            break;
        }
    a->codes[kind][slot]++;
    if (resp->status > 0)
        tk_prom_histogram_observe(&a->lat[kind], (double)resp->latency_ns / 1e9);
}

static int ok2xx(const struct tk_kube_resp *r)
{
    return r->status >= 200 && r->status < 300;
}

/* The first "key":"value" string in a JSON body, copied into out. For the hot lease path,
 * where metadata.resourceVersion is the first resourceVersion of the object. */
static int scan_str(const char *body, const char *key, char *out, size_t outsz)
{
    char pat[48];
    const char *p, *e;
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    p = strstr(body, pat);
    if (!p)
        return -1;
    p += strlen(pat);
    e = strchr(p, '"');
    if (!e || (size_t)(e - p) >= outsz)
        return -1;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return 0;
}

/* ---- node lookup ----------------------------------------------------------------------- */

struct tk_agent_node *tk_agent_node_by_name(struct tk_agent *a, const char *name)
{
    const struct tk_agent_config *c = a->cfg;
    size_t plen = strlen(c->name_prefix);
    const char *d;
    int64_t idx = 0;

    if (!name || strncmp(name, c->name_prefix, plen) != 0)
        return NULL;
    d = name + plen;
    if (!*d)
        return NULL;
    for (const char *p = d; *p; p++) {
        if (*p < '0' || *p > '9' || p - d > 15)
            return NULL;
        idx = idx * 10 + (*p - '0');
    }
    idx -= c->index_start;
    if (idx < 0 || (size_t)idx >= a->nnodes)
        return NULL;
    return strcmp(a->nodes[idx].name, name) == 0 ? &a->nodes[idx] : NULL;
}

struct tk_agent_node *tk_agent_node_by_ip(struct tk_agent *a, uint32_t ip)
{
    int64_t i = (int64_t)ip - (int64_t)a->cfg->node_ip_net - 1 - a->cfg->index_start;
    if (i < 0 || (size_t)i >= a->nnodes)
        return NULL;
    return &a->nodes[i];
}

const char *tk_agent_node_name(const struct tk_agent_node *n)
{
    return n->name;
}

const struct tk_agent_config *tk_agent_config_of(const struct tk_agent *a)
{
    return a->cfg;
}

/* ---- pods table ------------------------------------------------------------------------ */

static size_t uid_hash(const char *uid, size_t size)
{
    return (size_t)tk_sampler_hash(uid, strlen(uid), 0) & (size - 1);
}

static struct tk_apod *pod_find(struct tk_agent *a, const char *uid)
{
    for (struct tk_apod *p = a->ptab[uid_hash(uid, a->ptab_size)]; p; p = p->hnext)
        if (!strcmp(p->info->uid, uid))
            return p;
    return NULL;
}

static void ptab_grow(struct tk_agent *a)
{
    size_t nsize = a->ptab_size * 2;
    struct tk_apod **nt = tk_xcalloc(nsize, sizeof(*nt));
    for (size_t i = 0; i < a->ptab_size; i++) {
        struct tk_apod *p = a->ptab[i], *next;
        for (; p; p = next) {
            size_t h = uid_hash(p->info->uid, nsize);
            next = p->hnext;
            p->hnext = nt[h];
            nt[h] = p;
        }
    }
    free(a->ptab);
    a->ptab = nt;
    a->ptab_size = nsize;
}

static void ptab_insert(struct tk_agent *a, struct tk_apod *p)
{
    size_t h;
    if (a->npods + 1 > a->ptab_size)
        ptab_grow(a);
    h = uid_hash(p->info->uid, a->ptab_size);
    p->hnext = a->ptab[h];
    a->ptab[h] = p;
    a->npods++;
}

static void ptab_remove(struct tk_agent *a, struct tk_apod *p)
{
    struct tk_apod **pp = &a->ptab[uid_hash(p->info->uid, a->ptab_size)];
    for (; *pp; pp = &(*pp)->hnext)
        if (*pp == p) {
            *pp = p->hnext;
            a->npods--;
            return;
        }
}

static void pq_unlink(struct tk_agent *a, struct tk_apod *p)
{
    struct tk_apod **pp = &a->pq_head, *prev = NULL;
    if (!p->queued)
        return;
    for (; *pp; prev = *pp, pp = &(*pp)->qnext)
        if (*pp == p) {
            *pp = p->qnext;
            if (a->pq_tail == p)
                a->pq_tail = prev;
            break;
        }
    p->queued = 0;
    p->qnext = NULL;
}

static void pod_release_ip(struct tk_apod *p)
{
    if (p->ip_owned) {
        tk_ipalloc_put(&p->node->pool, p->ip);
        p->ip_owned = 0;
    }
}

/* Forgets a pod: no callback of it runs afterwards. */
static void pod_forget(struct tk_agent *a, struct tk_apod *p)
{
    struct tk_agent_node *n = p->node;
    tk_timer_stop(a->loop, &p->timer);
    tk_timer_stop(a->loop, &p->resend);
    if (p->req) {
        cancel_req(a, &p->req);
        a->pod_inflight--;
    }
    pq_unlink(a, p);
    pod_release_ip(p);
    if (p->prev)
        p->prev->next = p->next;
    else
        n->pods = p->next;
    if (p->next)
        p->next->prev = p->prev;
    n->npods--;
    ptab_remove(a, p);
    tk_pod_info_free(p->info);
    free(p);
}

/* ---- pod requests ---------------------------------------------------------------------- */

static void pod_pump(struct tk_agent *a);
static void pod_send(struct tk_agent *a, struct tk_apod *p);
static void pod_step(struct tk_timer *t, void *ud);

static void event_done(const struct tk_kube_resp *resp, void *ud);

/* The client a pod's status, DELETE and events go through: its node's, or the paced one. */
static struct tk_kube *pod_client(const struct tk_agent *a, const struct tk_apod *p)
{
    return a->pod_kube ? a->pod_kube : p->node->kube;
}

static void event_pump(struct tk_agent *a)
{
    while (a->evq_head && a->ev_inflight < EVENT_INFLIGHT_MAX && !a->stopping) {
        struct evq *q = a->evq_head;
        a->evq_head = q->next;
        if (!a->evq_head)
            a->evq_tail = NULL;
        a->ev_inflight++;
        issue(a, q->kube, "POST", q->path, q->body, CT_JSON, 0, event_done, a);
        free(q->path);
        free(q->body);
        free(q);
    }
}

static void event_queue_free(struct tk_agent *a)
{
    while (a->evq_head) {
        struct evq *q = a->evq_head;
        a->evq_head = q->next;
        free(q->path);
        free(q->body);
        free(q);
    }
    a->evq_tail = NULL;
}

static void event_done(const struct tk_kube_resp *resp, void *ud)
{
    struct tk_agent *a = ud;
    a->ev_inflight--;
    event_pump(a);
    account(a, RK_EVENT_POST, resp);
    if (ok2xx(resp) || resp->status == 409)
        a->stats.events_posted_total++;
    else {
        a->stats.events_failed_total++;
        warn_limited(a, "event not posted", resp->err.msg);
    }
}

static void post_event(struct tk_agent *a, struct tk_kube *k, const struct tk_event_ref *ref,
                       const char *type, const char *reason, const char *msg, const char *host)
{
    struct tk_buf *b = &a->scratch;
    char path[320];
    int64_t now = tk_wall_ns();
    /* distinct names for events of one object within one nanosecond */
    if (now <= a->event_seq)
        now = a->event_seq + 1;
    a->event_seq = now;
    tk_buf_reset(b);
    if (tk_event_build(b, ref, type, reason, msg, host, now, NULL) == 0) {
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", tk_event_namespace(ref));
        if (a->ev_inflight < EVENT_INFLIGHT_MAX) {
            a->ev_inflight++;
            issue(a, k, "POST", path, b->data, CT_JSON, 0, event_done, a);
        } else {
            struct evq *q = tk_xcalloc(1, sizeof(*q));
            q->kube = k;
            q->path = tk_xstrdup(path);
            q->body = tk_xstrdup(b->data);
            if (a->evq_tail)
                a->evq_tail->next = q;
            else
                a->evq_head = q;
            a->evq_tail = q;
        }
    }
}

static void pod_events(struct tk_agent *a, struct tk_apod *p, int killing)
{
    const struct tk_pod_info *pi = p->info;
    int kubelet = a->cfg->fidelity == TK_FIDELITY_KUBELET;
    char fp[320], msg[600];

    for (int pass = kubelet ? 0 : 1; pass < 2; pass++) {
        const struct tk_pod_container *list = pass ? pi->containers : pi->init;
        int n = pass ? pi->ncontainers : pi->ninit;
        for (int i = 0; i < n; i++) {
            const struct tk_pod_container *c = &list[i];
            struct tk_event_ref ref = {"Pod", "v1", pi->namespace_, pi->name, pi->uid, fp};
            snprintf(fp, sizeof(fp), "spec.%s{%s}", pass ? "containers" : "initContainers",
                     c->name);
            if (killing) {
                snprintf(msg, sizeof(msg), "Stopping container %s", c->name);
                post_event(a, pod_client(a, p), &ref, "Normal", "Killing", msg, p->node->name);
                continue;
            }
            if (kubelet) {
                snprintf(msg, sizeof(msg), "Pulling image \"%s\"", c->image);
                post_event(a, pod_client(a, p), &ref, "Normal", "Pulling", msg, p->node->name);
                snprintf(msg, sizeof(msg),
                         "Successfully pulled image \"%s\" in 0s (0s including waiting). "
                         "Image size: 0 bytes.",
                         c->image);
                post_event(a, pod_client(a, p), &ref, "Normal", "Pulled", msg, p->node->name);
                snprintf(msg, sizeof(msg), "Created container: %s", c->name);
                post_event(a, pod_client(a, p), &ref, "Normal", "Created", msg, p->node->name);
            }
            snprintf(msg, sizeof(msg), "Started container %s", c->name);
            post_event(a, pod_client(a, p), &ref, "Normal", "Started", msg, p->node->name);
        }
    }
}

static int pod_runs_to_completion(const struct tk_apod *p)
{
    return p->info->run_ns >= 0 || p->info->restart != TK_RESTART_ALWAYS;
}

static int64_t pod_run_ns(struct tk_agent *a, const struct tk_apod *p)
{
    char key[320];
    if (p->info->run_ns >= 0)
        return p->info->run_ns;
    snprintf(key, sizeof(key), "%s/%s", p->info->namespace_, p->info->name);
    return tk_sampler_draw_key(&a->cfg->run, key, (uint64_t)p->restarts + 1);
}

static void pod_status_done(const struct tk_kube_resp *resp, void *ud);
static void pod_delete_done(const struct tk_kube_resp *resp, void *ud);

static void fill_status(struct tk_agent *a, struct tk_apod *p, struct tk_podstatus_in *in,
                        char *ipbuf)
{
    memset(in, 0, sizeof(*in));
    in->host_ip = p->node->ip_str;
    tk_ipalloc_format(p->ip, ipbuf);
    in->pod_ip = ipbuf;
    in->start_ns = p->start_wall;
    in->ready_ns = p->ready_wall;
    in->finished_ns = p->finished_wall;
    in->exit_code = p->exit_code;
    in->restart_count = p->restarts;
    in->last_started_ns = p->last_started_wall;
    in->last_finished_ns = p->last_finished_wall;
    in->last_exit_code = p->last_exit;
    in->backoff_s = 10LL << (p->restarts > 5 ? 5 : p->restarts);
    if (in->backoff_s > 300)
        in->backoff_s = 300;
    switch ((enum pst)p->st) {
    case PS_STARTING:
        in->kind = TK_PODSTATUS_PENDING;
        in->pod_ip = NULL;
        break;
    case PS_RUNNING:
        in->kind = TK_PODSTATUS_RUNNING;
        break;
    case PS_BACKOFF:
        in->kind = TK_PODSTATUS_BACKOFF;
        break;
    default: /* terminal, killing */
        in->kind = p->exit_code == 0 ? TK_PODSTATUS_SUCCEEDED : TK_PODSTATUS_FAILED;
    }
    (void)a;
}

/* Issues the pending request of p (status first, then delete), or queues p for a slot. */
static void pod_send(struct tk_agent *a, struct tk_apod *p)
{
    char path[600];
    const struct tk_pod_info *pi = p->info;

    if (p->req || a->stopping || (!p->want_status && !p->want_delete) ||
        tk_timer_active(&p->resend))
        return;
    if (a->pod_inflight >= POD_INFLIGHT_MAX) {
        if (!p->queued) {
            p->queued = 1;
            p->qnext = NULL;
            if (a->pq_tail)
                a->pq_tail->qnext = p;
            else
                a->pq_head = p;
            a->pq_tail = p;
        }
        return;
    }
    if (p->want_status) {
        struct tk_podstatus_in in;
        struct tk_buf *b = &a->scratch;
        char ip[16];
        p->want_status = 0;
        fill_status(a, p, &in, ip);
        tk_buf_reset(b);
        tk_podstatus_build(b, pi, &in);
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/status", pi->namespace_,
                 pi->name);
        p->req_kind = PR_STATUS;
        a->pod_inflight++;
        p->req = issue(a, pod_client(a, p), "PATCH", path, b->data, CT_SMP, 0, pod_status_done, p);
        if (p->events_due && p->st == PS_RUNNING) {
            /* beside the status, not after its answer: a kubelet's container events do not
             * wait for its status manager either, and both go out in one wakeup */
            p->events_due = 0;
            pod_events(a, p, 0);
        }
        return;
    }
    {
        char body[200];
        p->want_delete = 0;
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", pi->namespace_, pi->name);
        snprintf(body, sizeof(body),
                 "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"gracePeriodSeconds\":0,"
                 "\"preconditions\":{\"uid\":\"%.100s\"}}",
                 pi->uid);
        p->req_kind = PR_DELETE;
        a->pod_inflight++;
        p->req = issue(a, pod_client(a, p), "DELETE", path, body, CT_JSON, 0, pod_delete_done, p);
    }
}

static void pod_pump(struct tk_agent *a)
{
    while (a->pq_head && a->pod_inflight < POD_INFLIGHT_MAX) {
        struct tk_apod *p = a->pq_head;
        a->pq_head = p->qnext;
        if (!a->pq_head)
            a->pq_tail = NULL;
        p->queued = 0;
        p->qnext = NULL;
        pod_send(a, p);
    }
}

static void pod_want_status(struct tk_agent *a, struct tk_apod *p)
{
    p->want_status = 1;
    pod_send(a, p);
}

static void pod_resend_fire(struct tk_timer *t, void *ud)
{
    struct tk_apod *p = ud;
    (void)t;
    p->want_status |= p->retry_status;
    p->want_delete |= p->retry_delete;
    p->retry_status = p->retry_delete = 0;
    pod_send(p->node->a, p);
}

/* A request failed for a reason worth retrying: again after a back-off (1 s doubling to 16). */
static void pod_retry(struct tk_agent *a, struct tk_apod *p, int was_delete)
{
    int64_t d = SEC_NS << (p->failures < 4 ? p->failures : 4);
    if (p->failures < 255)
        p->failures++;
    if (was_delete)
        p->retry_delete = 1;
    else
        p->retry_status = 1;
    tk_timer_start(a->loop, &p->resend, tk_now_ns() + d);
}

static void pod_status_done(const struct tk_kube_resp *resp, void *ud)
{
    struct tk_apod *p = ud;
    struct tk_agent *a = p->node->a;

    p->req = NULL;
    p->req_kind = PR_NONE;
    a->pod_inflight--;
    account(a, RK_POD_STATUS, resp);
    if (p->gone) {
        pod_forget(a, p);
        pod_pump(a);
        return;
    }
    if (ok2xx(resp)) {
        p->failures = 0;
        if (p->st != PS_STARTING && !p->reported) {
            p->reported = 1;
            a->stats.pods_started_total++;
        }
    } else if (resp->status == 404 || resp->status == 409) {
        /* gone, or a new pod under the same name (the uid in the patch did not match) */
        pod_forget(a, p);
        pod_pump(a);
        return;
    } else if (resp->status == 422 || resp->status == 400 || resp->status == 403) {
        warn_limited(a, "pod status refused", resp->err.msg);
    } else {
        warn_limited(a, "pod status failed, retrying", resp->err.msg);
        pod_retry(a, p, 0);
    }
    pod_send(a, p);
    pod_pump(a);
}

static void pod_delete_done(const struct tk_kube_resp *resp, void *ud)
{
    struct tk_apod *p = ud;
    struct tk_agent *a = p->node->a;

    p->req = NULL;
    p->req_kind = PR_NONE;
    a->pod_inflight--;
    account(a, RK_POD_DELETE, resp);
    if (ok2xx(resp))
        a->stats.pods_deleted_total++;
    if (ok2xx(resp) && !p->gone) {
        p->st = PS_DELETING; /* forgotten when the watch says DELETED */
    } else if (p->gone || resp->status == 404 || resp->status == 409) {
        pod_forget(a, p);
    } else {
        warn_limited(a, "pod delete failed, retrying", resp->err.msg);
        pod_retry(a, p, 1);
    }
    pod_pump(a);
}

/* When a start due at t (monotonic) is made: t itself, or with --start-grid the next step of
 * the grid, so the starts of one step go out in one loop pass and their PATCHes and events
 * share wakeups (0.75x the agent's CPU per start at 1 s: docs/measurements.md). */
static int64_t start_at(const struct tk_agent *a, int64_t t)
{
    return tk_sampler_grid_up(t, a->cfg->start_grid_ns);
}

static void pod_enter_running(struct tk_agent *a, struct tk_apod *p)
{
    int64_t now_mono = tk_now_ns();
    p->st = PS_RUNNING;
    p->ready_wall = tk_wall_ns();
    p->events_due = 1;
    if (pod_runs_to_completion(p))
        tk_timer_start(a->loop, &p->timer, now_mono + pod_run_ns(a, p));
    pod_want_status(a, p);
}

/* The timer of a pod: the next lifecycle step of its state. */
static void pod_step(struct tk_timer *t, void *ud)
{
    struct tk_apod *p = ud;
    struct tk_agent *a = p->node->a;
    (void)t;

    switch ((enum pst)p->st) {
    case PS_STARTING:
        if (!p->ip_owned && !p->info->host_network && tk_ipalloc_take(&p->node->pool, &p->ip)) {
            warn_limited(a, "pod address range exhausted, waiting", p->node->name);
            tk_timer_start(a->loop, &p->timer, tk_now_ns() + 5 * SEC_NS);
            break;
        }
        if (p->info->host_network)
            p->ip = p->node->ip;
        else
            p->ip_owned = 1;
        pod_enter_running(a, p);
        break;
    case PS_RUNNING:
        /* the containers exit */
        p->finished_wall = tk_wall_ns();
        p->exit_code = p->info->exit_code;
        if ((p->info->restart == TK_RESTART_NEVER) ||
            (p->info->restart == TK_RESTART_ONFAILURE && p->exit_code == 0)) {
            p->st = PS_TERMINAL;
            pod_release_ip(p);
        } else {
            int64_t backoff = (10 * SEC_NS) << (p->restarts > 5 ? 5 : p->restarts);
            if (backoff > 300 * SEC_NS)
                backoff = 300 * SEC_NS;
            p->st = PS_BACKOFF;
            tk_timer_start(a->loop, &p->timer, start_at(a, tk_now_ns() + backoff));
        }
        pod_want_status(a, p);
        break;
    case PS_BACKOFF:
        p->last_started_wall = p->ready_wall;
        p->last_finished_wall = p->finished_wall;
        p->last_exit = p->exit_code;
        p->exit_code = 0;
        p->restarts++;
        pod_enter_running(a, p); /* its events go out with its status */
        break;
    case PS_KILLING:
        if (p->term_status) {
            /* report the containers terminated, then delete */
            p->finished_wall = tk_wall_ns();
            p->exit_code = 0;
            p->want_status = 1;
        }
        pod_release_ip(p);
        p->want_delete = 1;
        pod_send(a, p);
        break;
    case PS_TERMINAL:
    case PS_DELETING:
        break;
    }
}

static void pod_start_killing(struct tk_agent *a, struct tk_apod *p)
{
    char key[320];
    int64_t delay;
    int was_terminal = p->st == PS_TERMINAL;

    tk_timer_stop(a->loop, &p->timer);
    snprintf(key, sizeof(key), "%s/%s", p->info->namespace_, p->info->name);
    delay = tk_sampler_draw_key(&a->cfg->termination, key, 7);
    if (delay > p->info->grace_s * SEC_NS)
        delay = p->info->grace_s * SEC_NS;
    if (a->cfg->fidelity == TK_FIDELITY_KUBELET && p->reported && !was_terminal)
        pod_events(a, p, 1);
    /* a pod that never ran, or already finished, is deleted without a new status */
    p->term_status = p->reported && !was_terminal;
    p->want_status = 0; /* a start that has not gone out yet is moot */
    p->retry_status = 0;
    p->events_due = 0;
    p->st = PS_KILLING;
    tk_timer_start(a->loop, &p->timer, tk_now_ns() + delay);
}

static struct tk_apod *pod_new(struct tk_agent *a, struct tk_agent_node *n,
                               struct tk_pod_info *info)
{
    struct tk_apod *p = tk_xcalloc(1, sizeof(*p));
    p->node = n;
    p->info = info;
    tk_timer_init(&p->timer, pod_step, p);
    tk_timer_init(&p->resend, pod_resend_fire, p);
    p->next = n->pods;
    if (n->pods)
        n->pods->prev = p;
    n->pods = p;
    n->npods++;
    ptab_insert(a, p);
    return p;
}

static int parse_ip4(const char *s, uint32_t *out)
{
    struct in_addr in;
    if (!s || !s[0] || inet_pton(AF_INET, s, &in) != 1)
        return -1;
    *out = ntohl(in.s_addr);
    return 0;
}

/* A pod we did not know: adopt what an earlier agent left, or start it. */
static void pod_admit(struct tk_agent *a, struct tk_agent_node *n, struct tk_pod_info *info)
{
    struct tk_apod *p = pod_new(a, n, info);
    uint32_t ip;

    if (info->phase == TK_PHASE_SUCCEEDED || info->phase == TK_PHASE_FAILED) {
        p->st = PS_TERMINAL;
        p->reported = 1;
        p->finished_wall = info->start_time_ns ? info->start_time_ns : tk_wall_ns();
        if (info->deletion_ns)
            pod_start_killing(a, p);
        return;
    }
    if (info->phase == TK_PHASE_RUNNING && parse_ip4(info->pod_ip, &ip) == 0) {
        /* running already (the agent restarted): keep its address */
        p->ip = ip;
        if (!info->host_network && tk_ipalloc_claim(&n->pool, ip) == 0)
            p->ip_owned = 1;
        p->st = PS_RUNNING;
        p->reported = 1;
        p->start_wall = info->start_time_ns ? info->start_time_ns : tk_wall_ns();
        p->ready_wall = p->start_wall;
        if (info->deletion_ns)
            pod_start_killing(a, p);
        else if (pod_runs_to_completion(p))
            tk_timer_start(a->loop, &p->timer, tk_now_ns() + pod_run_ns(a, p));
        return;
    }
    p->st = PS_STARTING;
    p->start_wall = tk_wall_ns();
    if (info->deletion_ns) {
        pod_start_killing(a, p);
        return;
    }
    {
        char key[320];
        int64_t delay = info->startup_ns;
        if (delay < 0) {
            snprintf(key, sizeof(key), "%s/%s", info->namespace_, info->name);
            delay = tk_sampler_draw_key(&a->cfg->startup, key, 0);
        }
        tk_timer_start(a->loop, &p->timer, start_at(a, tk_now_ns() + delay));
    }
    if (a->cfg->fidelity == TK_FIDELITY_KUBELET)
        pod_want_status(a, p); /* Pending with startTime, as the kubelet reports first */
}

static struct scope *scope_of(struct tk_agent *a, struct tk_agent_node *n)
{
    return a->cfg->fidelity == TK_FIDELITY_KUBELET ? &n->scope : &a->scope;
}

void tk_agent_pod_event(struct tk_agent *a, enum tk_watch_type type, cJSON *obj, int from_list)
{
    struct tk_pod_info *info = NULL;
    const char *warn = NULL;
    struct tk_agent_node *n;
    struct tk_apod *p;
    struct scope *sc;
    const char *node_name, *uid;
    uint64_t seq;

    if (a->stopping || type == TK_WATCH_BOOKMARK || type == TK_WATCH_ERROR)
        return;
    node_name = tk_pod_jstr(obj, "spec.nodeName");
    n = tk_agent_node_by_name(a, node_name);
    if (!n) {
        a->stats.ignored_pods_total++;
        return;
    }
    sc = scope_of(a, n);
    seq = ++sc->seq;
    if (type == TK_WATCH_ADDED && from_list > 0) {
        if (!sc->in_list) {
            sc->in_list = 1;
            sc->list_start = sc->prev_eq ? sc->prev_eq : seq;
        }
        sc->prev_eq = 0;
    } else if (type == TK_WATCH_ADDED && from_list < 0) {
        sc->prev_eq = seq;
    } else {
        sc->prev_eq = 0;
    }
    uid = tk_pod_jstr(obj, "metadata.uid");
    p = uid ? pod_find(a, uid) : NULL;
    if (type == TK_WATCH_DELETED) {
        if (p && p->req) {
            /* our own DELETE (or a status) may still be answering: let it finish */
            p->gone = 1;
            tk_timer_stop(a->loop, &p->timer);
            tk_timer_stop(a->loop, &p->resend);
            p->want_status = p->want_delete = 0;
        } else if (p) {
            pod_forget(a, p);
            pod_pump(a);
        }
        return;
    }
    if (tk_pod_parse(obj, &info, &warn, NULL)) {
        a->stats.bad_objects_total++;
        warn_limited(a, "pod object ignored", uid ? uid : "(no uid)");
        return;
    }
    if (warn)
        warn_limited(a, warn, info->name);
    if (!p) {
        pod_admit(a, n, info);
        p = pod_find(a, info->uid);
        if (p)
            p->seq = seq;
        return;
    }
    p->seq = seq;
    if (p->gone) {
        tk_pod_info_free(info);
        return;
    }
    /* known pod: keep the newest object, react to deletion */
    tk_pod_info_free(p->info);
    p->info = info;
    if (info->deletion_ns && p->st != PS_KILLING && p->st != PS_DELETING) {
        pod_start_killing(a, p);
    } else if (p->st == PS_RUNNING && p->reported && !info->ready && !p->req && !p->want_status &&
               !tk_timer_active(&p->resend)) {
        /* someone else marked it not ready (the node lifecycle controller, after an outage):
         * like the kubelet's status manager, report our status again */
        a->stats.pods_resynced_total++;
        pod_want_status(a, p);
    }
}

static void sync_node_pods(struct tk_agent *a, struct tk_agent_node *n, uint64_t cutoff)
{
    struct tk_apod *p = n->pods, *next;
    for (; p; p = next) {
        next = p->next;
        if (p->seq < cutoff)
            pod_forget(a, p);
    }
}

static uint64_t scope_sync(struct scope *sc)
{
    uint64_t cutoff = sc->in_list ? sc->list_start : sc->prev_eq ? sc->prev_eq : sc->seq + 1;
    sc->in_list = 0;
    sc->prev_eq = 0;
    return cutoff;
}

void tk_agent_pod_sync(struct tk_agent *a)
{
    uint64_t cutoff = scope_sync(&a->scope);
    for (size_t i = 0; i < a->nnodes; i++)
        sync_node_pods(a, &a->nodes[i], cutoff);
    pod_pump(a);
}

static void node_pods_sync(void *ud)
{
    struct tk_agent_node *n = ud;
    sync_node_pods(n->a, n, scope_sync(&n->scope));
    pod_pump(n->a);
}

/* 1: surely a LIST item, -1: maybe (the newest item, or a WATCH ADDED), 0: a WATCH event. */
static int list_class(struct tk_kube_watch *w, enum tk_watch_type type, const cJSON *obj)
{
    const char *rv = tk_watch_resource_version(obj);
    if (type != TK_WATCH_ADDED)
        return 0;
    if (!rv || !w)
        return -1;
    return strcmp(rv, tk_kube_watch_rv(w)) != 0 ? 1 : -1;
}

static void node_pods_event(enum tk_watch_type type, cJSON *obj, void *ud)
{
    struct tk_agent_node *n = ud;
    tk_agent_pod_event(n->a, type, obj, list_class(n->w_pods, type, obj));
}

static void shared_pods_event(enum tk_watch_type type, cJSON *obj, void *ud)
{
    struct tk_agent *a = ud;
    tk_agent_pod_event(a, type, obj, list_class(a->w_pods, type, obj));
}

static void shared_pods_sync(void *ud)
{
    tk_agent_pod_sync(ud);
}

/* ---- nodes: registration ----------------------------------------------------------------- */

static void reg_pump(struct tk_agent *a);
static void node_registered(struct tk_agent *a, struct tk_agent_node *n);

/* The agent cannot go on (a refused identity, a failed bootstrap): remember why and tell the
 * owner, who stops the agent. Only the first reason is kept. */
static void agent_fatal(struct tk_agent *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void agent_fatal(struct tk_agent *a, const char *fmt, ...)
{
    va_list ap;
    if (a->fatal.code)
        return;
    a->fatal.code = TK_ESTATE;
    va_start(ap, fmt);
    vsnprintf(a->fatal.msg, sizeof(a->fatal.msg), fmt, ap);
    va_end(ap);
    tk_error("agent cannot go on", "error=\"%s\"", a->fatal.msg);
    if (a->on_fatal)
        a->on_fatal(a->on_fatal_ud);
}
static void lease_fire(struct tk_timer *t, void *ud);
static void status_fire(struct tk_timer *t, void *ud);

static void reg_enqueue(struct tk_agent *a, struct tk_agent_node *n)
{
    if (n->queued || a->stopping)
        return;
    n->queued = 1;
    n->st = NS_QUEUED;
    a->regq[(a->regq_head + a->regq_len) % a->nnodes] = n;
    a->regq_len++;
    reg_pump(a);
}

static void reg_timer_fire(struct tk_timer *t, void *ud)
{
    struct tk_agent_node *n = ud;
    (void)t;
    reg_enqueue(n->a, n);
}

static void reg_failed(struct tk_agent *a, struct tk_agent_node *n, const char *why)
{
    int64_t d = SEC_NS << (n->reg_failures < 5 ? n->reg_failures : 5);
    n->reg_failures++;
    n->st = NS_IDLE;
    a->reg_inflight--;
    warn_limited(a, "node registration failed, retrying", why);
    tk_timer_start(a->loop, &n->reg_timer, tk_now_ns() + d + (int64_t)(rnd01(a) * SEC_NS));
    reg_pump(a);
}

static void reg_done(const struct tk_kube_resp *resp, void *ud);

static void reg_send(struct tk_agent *a, struct tk_agent_node *n)
{
    struct tk_buf b;
    char path[128];
    struct tk_nodeobj o = {a->cfg, n->name, n->index, n->ip_str};

    tk_buf_init(&b, 0);
    switch (n->reg_step) {
    case REG_POST:
        tk_nodeobj_build(&b, &o, tk_wall_ns());
        n->reg.req =
            issue(a, n->kube, "POST", "/api/v1/nodes", b.data, CT_JSON, 0, reg_done, &n->reg);
        break;
    case REG_GET:
        snprintf(path, sizeof(path), "/api/v1/nodes/%s", n->name);
        n->reg.req = issue(a, n->kube, "GET", path, NULL, NULL, 0, reg_done, &n->reg);
        break;
    case REG_META:
        tk_nodeobj_meta_patch(&b, &o, a->cfg->fidelity != TK_FIDELITY_KUBELET);
        snprintf(path, sizeof(path), "/api/v1/nodes/%s", n->name);
        n->reg.req = issue(a, n->kube, "PATCH", path, b.data, CT_SMP, 0, reg_done, &n->reg);
        break;
    case REG_STATUS:
        tk_nodeobj_status_patch(&b, &o, 1, tk_wall_ns(), tk_wall_ns());
        snprintf(path, sizeof(path), "/api/v1/nodes/%s/status", n->name);
        n->reg.req = issue(a, n->kube, "PATCH", path, b.data, CT_SMP, 0, reg_done, &n->reg);
        break;
    }
    tk_buf_release(&b);
}

/* uid and spec.podCIDR of a Node body */
static void node_from_body(struct tk_agent *a, struct tk_agent_node *n, const char *body,
                           size_t len)
{
    cJSON *o = cJSON_ParseWithLength(body, len);
    const char *uid = tk_pod_jstr(o, "metadata.uid");
    const char *cidr = tk_pod_jstr(o, "spec.podCIDR");
    if (uid)
        snprintf(n->uid, sizeof(n->uid), "%s", uid);
    if (cidr && !n->pool_from_spec) {
        struct tk_ipalloc np;
        if (tk_ipalloc_init_cidr(&np, cidr, NULL) == 0) {
            tk_ipalloc_release(&n->pool);
            n->pool = np;
            n->pool_from_spec = 1;
            /* addresses of pods already running stay theirs; they are not in this range */
        }
    }
    (void)a;
    cJSON_Delete(o);
}

static void reg_done(const struct tk_kube_resp *resp, void *ud)
{
    struct nop *op = ud;
    struct tk_agent_node *n = op->node;
    struct tk_agent *a = n->a;
    static const enum rk kinds[] = {RK_NODE_POST, RK_NODE_GET, RK_NODE_PATCH, RK_NODE_STATUS};

    op->req = NULL;
    account(a, kinds[n->reg_step], resp);
    if (a->stopping) {
        a->reg_inflight--;
        n->st = NS_IDLE;
        return;
    }
    switch (n->reg_step) {
    case REG_POST:
        if (resp->status == 201 || resp->status == 200) {
            node_from_body(a, n, resp->body, resp->len);
            a->reg_inflight--;
            node_registered(a, n);
            reg_pump(a);
            return;
        }
        if (resp->status == 409) {
            n->reg_step = REG_GET;
            reg_send(a, n);
            return;
        }
        break;
    case REG_GET:
        if (resp->status == 200) {
            node_from_body(a, n, resp->body, resp->len);
            n->reg_step = REG_META;
            reg_send(a, n);
            return;
        }
        if (resp->status == 404) { /* deleted meanwhile: create it */
            n->reg_step = REG_POST;
            reg_send(a, n);
            return;
        }
        break;
    case REG_META:
        if (ok2xx(resp)) {
            n->reg_step = REG_STATUS;
            reg_send(a, n);
            return;
        }
        break;
    case REG_STATUS:
        if (ok2xx(resp)) {
            a->reg_inflight--;
            node_registered(a, n);
            reg_pump(a);
            return;
        }
        break;
    }
    if (resp->status == 401 && a->bs) {
        agent_fatal(a,
                    "node %s: its client certificate was refused (401 Unauthorized): issued by "
                    "another cluster? remove %s/kubelet-client-%s.pem",
                    n->name, a->cfg->cert_dir ? a->cfg->cert_dir : "--cert-dir", n->name);
        return;
    }
    n->reg_step = REG_POST;
    reg_failed(a, n, resp->err.code ? resp->err.msg : "unexpected status");
}

static void reg_pump(struct tk_agent *a)
{
    while (a->regq_len && a->reg_inflight < REG_INFLIGHT_MAX && !a->stopping) {
        struct tk_agent_node *n = a->regq[a->regq_head];
        a->regq_head = (a->regq_head + 1) % a->nnodes;
        a->regq_len--;
        n->queued = 0;
        n->st = NS_REGISTERING;
        n->reg_step = REG_POST;
        a->reg_inflight++;
        reg_send(a, n);
    }
}

static void node_start_watches(struct tk_agent *a, struct tk_agent_node *n);

static void node_events_ready(struct tk_agent *a, struct tk_agent_node *n)
{
    struct tk_event_ref ref = {"Node", "v1", "", n->name, n->name, NULL};
    char msg[160];
    static const char *const ev[] = {"Starting", "NodeHasSufficientMemory", "NodeHasNoDiskPressure",
                                     "NodeHasSufficientPID", "NodeReady"};
    for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++) {
        if (i == 0)
            snprintf(msg, sizeof(msg), "Starting kubelet.");
        else
            snprintf(msg, sizeof(msg), "Node %s status is now: %s", n->name, ev[i]);
        post_event(a, n->kube, &ref, "Normal", ev[i], msg, n->name);
    }
}

static void node_registered(struct tk_agent *a, struct tk_agent_node *n)
{
    int64_t now = tk_now_ns();
    n->st = NS_READY;
    n->reg_failures = 0;
    n->ready_wall_ns = tk_wall_ns();
    n->lease_step = n->lease_rv[0] ? LEASE_UPDATE : LEASE_CREATE;
    n->lease_due_ns = now;
    tk_timer_start(a->loop, &n->lease_timer, now);
    /* The first periodic report at a random point of the interval: nodes registered together
     * (a fresh fleet) would otherwise report in step every 5 minutes, thousands of PATCHes in
     * seconds, where real kubelets, started at different times, spread them. */
    tk_timer_start(a->loop, &n->status_timer,
                   now + (int64_t)((double)a->cfg->status_interval_ns * (0.05 + 0.95 * rnd01(a))));
    if (a->cfg->fidelity == TK_FIDELITY_KUBELET) {
        node_events_ready(a, n);
        if (a->real_io)
            node_start_watches(a, n);
    }
    tk_debug("node registered", "node=%s uid=%s", n->name, n->uid);
}

/* ---- nodes: lease ------------------------------------------------------------------------ */

static void lease_done(const struct tk_kube_resp *resp, void *ud);

static void lease_send(struct tk_agent *a, struct tk_agent_node *n)
{
    char path[160], body[TK_NODEOBJ_LEASE_MAX];
    static const char *const base =
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";

    switch (n->lease_step) {
    case LEASE_CREATE:
        tk_nodeobj_lease(body, sizeof(body), n->name, n->uid, a->cfg->lease_duration_s, NULL,
                         tk_wall_ns());
        n->lease.req =
            issue(a, n->kube, "POST", base, body, CT_JSON, TK_KUBE_PRIORITY, lease_done, &n->lease);
        break;
    case LEASE_FETCH:
        snprintf(path, sizeof(path), "%s/%s", base, n->name);
        n->lease.req =
            issue(a, n->kube, "GET", path, NULL, NULL, TK_KUBE_PRIORITY, lease_done, &n->lease);
        break;
    case LEASE_UPDATE:
        snprintf(path, sizeof(path), "%s/%s", base, n->name);
        tk_nodeobj_lease(body, sizeof(body), n->name, n->uid, a->cfg->lease_duration_s, n->lease_rv,
                         tk_wall_ns());
        n->lease.req =
            issue(a, n->kube, "PUT", path, body, CT_JSON, TK_KUBE_PRIORITY, lease_done, &n->lease);
        break;
    }
}

static void lease_fire(struct tk_timer *t, void *ud)
{
    struct tk_agent_node *n = ud;
    (void)t;
    if (n->lease.req || n->st != NS_READY || n->a->stopping)
        return;
    lease_send(n->a, n);
}

static void lease_done(const struct tk_kube_resp *resp, void *ud)
{
    struct nop *op = ud;
    struct tk_agent_node *n = op->node;
    struct tk_agent *a = n->a;
    static const enum rk kinds[] = {RK_LEASE_POST, RK_LEASE_GET, RK_LEASE_PUT};
    enum leasestep step = n->lease_step;

    op->req = NULL;
    account(a, kinds[step], resp);
    if (resp->wait_ns >= 0)
        tk_prom_histogram_observe(&a->lease_wait, (double)resp->wait_ns / 1e9);
    if (a->stopping || n->st != NS_READY)
        return;
    if (ok2xx(resp) && step != LEASE_FETCH) {
        int64_t now = tk_now_ns();
        scan_str(resp->body, "resourceVersion", n->lease_rv, sizeof(n->lease_rv));
        n->lease_step = LEASE_UPDATE;
        a->stats.lease_renewals_total++;
        tk_prom_histogram_observe(&a->lag, (double)(now - n->lease_due_ns) / 1e9);
        n->lease_due_ns = now + (int64_t)((double)a->cfg->lease_renew_ns *
                                          (1.0 + a->cfg->lease_jitter * rnd01(a)));
        tk_timer_start(a->loop, &n->lease_timer,
                       (n->lease_due_ns / LEASE_SLACK_NS + 1) * LEASE_SLACK_NS);
        return;
    }
    if (resp->status == 200 && step == LEASE_FETCH) {
        if (scan_str(resp->body, "resourceVersion", n->lease_rv, sizeof(n->lease_rv)) == 0) {
            n->lease_step = LEASE_UPDATE;
            lease_send(a, n); /* the renew still counts from its due time */
            return;
        }
    } else if (resp->status == 409) {
        /* create: it exists; update: our resourceVersion is stale */
        n->lease_step = LEASE_FETCH;
        lease_send(a, n);
        return;
    } else if (resp->status == 404 && step != LEASE_CREATE) {
        n->lease_step = LEASE_CREATE;
        n->lease_rv[0] = '\0';
        lease_send(a, n);
        return;
    }
    a->stats.lease_failures_total++;
    warn_limited(a, "lease renew failed, retrying", resp->err.code ? resp->err.msg : n->name);
    tk_timer_start(a->loop, &n->lease_timer, tk_now_ns() + LEASE_RETRY_NS);
}

/* ---- nodes: status ----------------------------------------------------------------------- */

static void status_done(const struct tk_kube_resp *resp, void *ud)
{
    struct nop *op = ud;
    struct tk_agent_node *n = op->node;
    struct tk_agent *a = n->a;

    op->req = NULL;
    account(a, RK_NODE_STATUS, resp);
    if (a->stopping || n->st != NS_READY)
        return;
    if (ok2xx(resp)) {
        n->status_full = 0;
        n->status_urgent = 0;
        tk_timer_start(a->loop, &n->status_timer, tk_now_ns() + a->cfg->status_interval_ns);
    } else if (resp->status == 404) {
        /* the Node was deleted under us: register it again */
        tk_info("node object gone, registering again", "node=%s", n->name);
        n->st = NS_IDLE;
        n->uid[0] = '\0';
        tk_timer_stop(a->loop, &n->lease_timer);
        reg_enqueue(a, n);
    } else {
        warn_limited(a, "node status failed, retrying", resp->err.msg);
        tk_timer_start(a->loop, &n->status_timer, tk_now_ns() + STATUS_RETRY_NS);
    }
}

static void status_fire(struct tk_timer *t, void *ud)
{
    struct tk_agent_node *n = ud;
    struct tk_agent *a = n->a;
    struct tk_nodeobj o = {a->cfg, n->name, n->index, n->ip_str};
    struct tk_buf b;
    char path[128];
    (void)t;

    if (n->status.req || n->st != NS_READY || a->stopping)
        return;
    tk_buf_init(&b, 0);
    tk_nodeobj_status_patch(&b, &o, n->status_full || n->status_urgent, tk_wall_ns(),
                            n->status_urgent ? tk_wall_ns() : n->ready_wall_ns);
    if (n->status_urgent)
        n->ready_wall_ns = tk_wall_ns();
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/status", n->name);
    n->status.req = issue(a, n->kube, "PATCH", path, b.data, CT_SMP, 0, status_done, &n->status);
    tk_buf_release(&b);
}

void tk_agent_node_event(struct tk_agent *a, enum tk_watch_type type, cJSON *obj)
{
    struct tk_agent_node *n;
    const cJSON *c;

    if (a->stopping || type == TK_WATCH_BOOKMARK || type == TK_WATCH_ERROR)
        return;
    n = tk_agent_node_by_name(a, tk_pod_jstr(obj, "metadata.name"));
    if (!n || n->st != NS_READY)
        return;
    if (type == TK_WATCH_DELETED) {
        const char *uid = tk_pod_jstr(obj, "metadata.uid");
        if (uid && n->uid[0] && strcmp(uid, n->uid) != 0)
            return; /* an older incarnation */
        tk_info("node deleted by someone, registering again", "node=%s", n->name);
        n->st = NS_IDLE;
        n->uid[0] = '\0';
        n->lease_rv[0] = '\0';
        tk_timer_stop(a->loop, &n->lease_timer);
        tk_timer_stop(a->loop, &n->status_timer);
        tk_timer_start(a->loop, &n->reg_timer, tk_now_ns() + SEC_NS);
        return;
    }
    {
        const char *cidr = tk_pod_jstr(obj, "spec.podCIDR");
        if (cidr && !n->pool_from_spec) {
            struct tk_ipalloc np;
            if (tk_ipalloc_init_cidr(&np, cidr, NULL) == 0) {
                /* pods keep the addresses they have (from the agent's range) */
                for (struct tk_apod *p = n->pods; p; p = p->next)
                    p->ip_owned = 0;
                tk_ipalloc_release(&n->pool);
                n->pool = np;
                n->pool_from_spec = 1;
            }
        }
    }
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "status"), "conditions"))
    {
        const char *t = tk_pod_jstr(c, "type"), *s = tk_pod_jstr(c, "status");
        if (t && s && !strcmp(t, "Ready") && strcmp(s, "True") != 0 && !n->status_urgent) {
            /* the node lifecycle controller gave up on us (an outage): say Ready again now */
            n->status_urgent = 1;
            tk_timer_start(a->loop, &n->status_timer, tk_now_ns());
        }
    }
}

static void node_watch_event(enum tk_watch_type type, cJSON *obj, void *ud)
{
    struct tk_agent_node *n = ud;
    tk_agent_node_event(n->a, type, obj);
}

static void shared_nodes_event(enum tk_watch_type type, cJSON *obj, void *ud)
{
    tk_agent_node_event(ud, type, obj);
}

static void ignore_event(enum tk_watch_type type, cJSON *obj, void *ud)
{
    (void)type;
    (void)obj;
    (void)ud;
}

static void node_start_watches(struct tk_agent *a, struct tk_agent_node *n)
{
    struct tk_watch_opts wo;
    char sel[96];
    struct tk_err err = {0};

    if (n->w_pods)
        return;
    memset(&wo, 0, sizeof(wo));
    wo.path = "/api/v1/pods";
    snprintf(sel, sizeof(sel), "spec.nodeName=%s", n->name);
    wo.field_selector = sel;
    wo.max_event_bytes = (size_t)a->cfg->max_event_bytes;
    n->w_pods = tk_kube_watch_start(n->kube, &wo, node_pods_event, node_pods_sync, n, &err);
    wo.path = "/api/v1/nodes";
    snprintf(sel, sizeof(sel), "metadata.name=%s", n->name);
    n->w_node = tk_kube_watch_start(n->kube, &wo, node_watch_event, NULL, n, &err);
    wo.path = "/api/v1/services";
    wo.field_selector = "spec.clusterIP!=None";
    n->w_svc = tk_kube_watch_start(n->kube, &wo, ignore_event, NULL, n, &err);
    if (err.code)
        tk_warn("node watches not started", "node=%s error=\"%s\"", n->name, err.msg);
}

/* ---- life cycle ------------------------------------------------------------------------- */

static void trim_fire(struct tk_timer *t, void *ud);
static void stop_timer_fire(struct tk_timer *t, void *ud);

int tk_agent_new(struct tk_agent **out, struct tk_loop *loop, const struct tk_agent_config *cfg,
                 const struct tk_agent_io *io, struct tk_err *err)
{
    struct tk_agent *a = tk_xcalloc(1, sizeof(*a));
    int rc = 0;

    a->loop = loop;
    a->cfg = cfg;
    if (io) {
        a->io = *io;
    } else {
        a->io.request = default_request;
        a->io.cancel = default_cancel;
        a->real_io = 1;
    }
    a->rng = 0x9e3779b97f4a7c15ULL ^ cfg->seed ^ (uint64_t)getpid() << 20;
    a->nnodes = (size_t)cfg->nodes;
    a->nodes = tk_xcalloc(a->nnodes, sizeof(*a->nodes));
    a->regq = tk_xcalloc(a->nnodes, sizeof(*a->regq));
    a->ptab_size = 1024;
    a->ptab = tk_xcalloc(a->ptab_size, sizeof(*a->ptab));
    tk_buf_init(&a->scratch, 0);
    tk_timer_init(&a->trim_timer, trim_fire, a);
    tk_timer_init(&a->stop_timer, stop_timer_fire, a);
    for (size_t i = 0; i < RK_COUNT; i++)
        tk_prom_histogram_init(&a->lat[i], lat_bounds, NLAT, a->lat_counts[i]);
    tk_prom_histogram_init(&a->lag, lag_bounds, NLAG, a->lag_counts);
    tk_prom_histogram_init(&a->lease_wait, lag_bounds, NLAG, a->wait_counts);
    for (size_t i = 0; i < a->nnodes; i++) {
        struct tk_agent_node *n = &a->nodes[i];
        uint32_t block;
        n->a = a;
        n->index = cfg->index_start + (int64_t)i;
        tk_agent_config_node_name(cfg, (int64_t)i, n->name);
        n->ip = cfg->node_ip_net + 1 + (uint32_t)n->index;
        tk_ipalloc_format(n->ip, n->ip_str);
        n->reg.node = n->lease.node = n->status.node = n;
        tk_timer_init(&n->reg_timer, reg_timer_fire, n);
        tk_timer_init(&n->lease_timer, lease_fire, n);
        tk_timer_init(&n->status_timer, status_fire, n);
        if ((rc = tk_ipalloc_subnet(cfg->pod_net, cfg->pod_prefix, cfg->pod_block_prefix,
                                    (uint64_t)n->index, &block, err)) ||
            (rc = tk_ipalloc_init(&n->pool, block, cfg->pod_block_prefix, err)))
            break;
    }
    if (rc) {
        tk_agent_free(a);
        *out = NULL;
        return rc;
    }
    *out = a;
    return 0;
}

static struct tk_kube *make_client(struct tk_agent *a, const char *cert, const char *key,
                                   const char *token, int64_t pace_ns, struct tk_err *err)
{
    struct tk_kube_opts o;
    tk_kube_opts_from_kubeconfig(a->kc, &o);
    /* libcurl's connections to the apiserver (per loop, so the same for every client). Lite
     * mode's watches (and everything, with --api-transport curl) share a few HTTP/2
     * connections: without a bound, libcurl opens
     * another TLS connection whenever the open ones are at the server's stream limit (a slow
     * apiserver then costs hundreds of handshakes), and every connection cached is one more
     * liveness poll() per request. Kubelet mode over libcurl (--api-transport curl) needs one
     * per node; over lib/h2 (its default) each node's client has its own connection anyway. */
    o.max_conns = a->cfg->fidelity == TK_FIDELITY_KUBELET ? (int)a->nnodes + 16 : LITE_CONNS;
    o.client_cert_pem = cert;
    o.client_key_pem = key;
    o.token = token;
    o.qps = a->cfg->qps;
    o.burst = a->cfg->burst;
    o.user_agent = "turbokube-agent";
    o.read_pace_ns = pace_ns;
    /* lite mode's shared client: plain requests over lib/h1 (--api-transport) */
    if (a->cfg->api_transport == TK_API_H1 && a->cfg->fidelity == TK_FIDELITY_LITE) {
        o.transport = TK_KUBE_TRANSPORT_H1;
        o.h1_conns = a->cfg->api_conns;
    } else if (a->cfg->api_transport == TK_API_H2) {
        o.transport = TK_KUBE_TRANSPORT_H2; /* everything, watches too, on one connection */
    }
    return tk_kube_new(a->loop, &o, err);
}

/* ---- TLS bootstrap: nodes register once they have their identity ----------------------- */

static const char *bs_name_of(void *ud, size_t i)
{
    struct tk_agent *a = ud;
    return a->nodes[i].name;
}

static void bs_cert(void *ud, size_t i, const char *cert, const char *key, int from_cache)
{
    struct tk_agent *a = ud;
    struct tk_agent_node *n = &a->nodes[i];
    struct tk_err err = {0};

    (void)from_cache;
    n->kube = make_client(a, cert, key, NULL, 0, &err);
    if (!n->kube) {
        agent_fatal(a, "node %s: %s", n->name, err.msg);
        return;
    }
    reg_enqueue(a, n);
}

static void bs_fail(void *ud, const struct tk_err *err)
{
    agent_fatal(ud, "%s", err->msg);
}

int tk_agent_connect(struct tk_agent *a, struct tk_err *err)
{
    const struct tk_agent_config *c = a->cfg;
    int rc;

    if ((rc = tk_kubeconfig_load(&a->kc,
                                 c->bootstrap_kubeconfig ? c->bootstrap_kubeconfig : c->kubeconfig,
                                 c->context, err)))
        return rc;
    a->kube = make_client(a, a->kc->client_cert_pem, a->kc->client_key_pem, a->kc->token, 0, err);
    if (!a->kube)
        return err->code;
    if (c->bootstrap_kubeconfig) {
        struct tk_bootstrap_opts bo;
        memset(&bo, 0, sizeof(bo));
        if (!a->kc->token)
            tk_warn("the bootstrap kubeconfig holds no token", "path=%s", a->kc->path);
        bo.kube = a->kube;
        bo.nodes = a->nnodes;
        bo.name_of = bs_name_of;
        bo.cert_dir = c->cert_dir;
        bo.concurrency = c->bootstrap_concurrency;
        bo.timeout_ns = c->bootstrap_timeout_ns;
        bo.on_cert = bs_cert;
        bo.on_fail = bs_fail;
        bo.ud = a;
        if (!(a->bs = tk_bootstrap_new(a->loop, &bo, err)))
            return err->code;
    } else if (c->fidelity == TK_FIDELITY_KUBELET) {
        char cert_path[1024], key_path[1024], cn[96];
        if (tk_agent_config_ca_paths(c, cert_path, key_path, sizeof(cert_path)))
            return tk_err_set(err, TK_EINVAL,
                              "kubelet mode needs the cluster CA (--ca-cert/--ca-key or "
                              "--cluster-dir)");
        if ((rc = tk_pki_ca_load(&a->ca, cert_path, key_path, err)))
            return rc;
        for (size_t i = 0; i < a->nnodes; i++) {
            struct tk_agent_node *n = &a->nodes[i];
            char *cert = NULL, *key = NULL;
            snprintf(cn, sizeof(cn), "system:node:%s", n->name);
            if ((rc = tk_pki_mint_client(a->ca, cn, "system:nodes", &cert, &key, err)))
                return rc;
            n->kube = make_client(a, cert, key, NULL, 0, err);
            free(cert);
            free(key);
            if (!n->kube)
                return err->code;
        }
    } else {
        struct tk_watch_opts wo;
        for (size_t i = 0; i < a->nnodes; i++)
            a->nodes[i].kube = a->kube;
        /* With --start-grid over h2, pod work (the pods watch, statuses, DELETEs, events) has a
         * connection of its own read at the grid's steps: a step's answers and the watch events
         * between two steps are read in one wakeup, in the pass of the step's starts. Leases
         * and nodes stay on the shared connection, read at every arrival. */
        if (c->api_transport == TK_API_H2 && c->start_grid_ns > 0) {
            a->pod_kube = make_client(a, a->kc->client_cert_pem, a->kc->client_key_pem,
                                      a->kc->token, c->start_grid_ns, err);
            if (!a->pod_kube)
                return err->code;
        }
        memset(&wo, 0, sizeof(wo));
        /* one watch of every bound pod; filtered here by node name (no selector can say
         * "nodes of this agent") */
        wo.path = "/api/v1/pods";
        wo.field_selector = "spec.nodeName!=";
        wo.max_event_bytes = (size_t)c->max_event_bytes;
        a->w_pods = tk_kube_watch_start(a->pod_kube ? a->pod_kube : a->kube, &wo, shared_pods_event,
                                        shared_pods_sync, a, err);
        if (!a->w_pods)
            return err->code;
        wo.path = "/api/v1/nodes";
        wo.field_selector = NULL;
        wo.label_selector = "turbokube.io/fake=true";
        a->w_nodes = tk_kube_watch_start(a->kube, &wo, shared_nodes_event, NULL, a, err);
        if (!a->w_nodes)
            return err->code;
    }
    return 0;
}

void tk_agent_begin(struct tk_agent *a)
{
    struct tk_err err = {0};

    tk_timer_start(a->loop, &a->trim_timer, tk_now_ns() + TRIM_NS);
    if (a->bs) {
        if (tk_bootstrap_start(a->bs, &err))
            agent_fatal(a, "%s", err.msg);
        return;
    }
    for (size_t i = 0; i < a->nnodes; i++)
        reg_enqueue(a, &a->nodes[i]);
}

void tk_agent_on_fatal(struct tk_agent *a, void (*fn)(void *ud), void *ud)
{
    a->on_fatal = fn;
    a->on_fatal_ud = ud;
}

const struct tk_err *tk_agent_error(const struct tk_agent *a)
{
    return a->fatal.code ? &a->fatal : NULL;
}

static void finish_stop(struct tk_agent *a)
{
    if (a->stopped)
        return;
    a->stopped = 1;
    tk_info("agent stopped", "nodes=%zu", a->nnodes);
    if (a->on_done)
        a->on_done(a->on_done_ud);
}

static void cleanup_done(const struct tk_kube_resp *resp, void *ud)
{
    struct nop *op = ud;
    struct tk_agent *a = op->node->a;
    op->req = NULL;
    if (!ok2xx(resp) && resp->status != 404)
        warn_limited(a, "cleanup delete failed", resp->err.msg);
    if (--a->cleanup_pending == 0)
        finish_stop(a);
}

/* Bursts (a slow apiserver, a relist) leave freed memory in the heap; give it back. */
static void trim_fire(struct tk_timer *t, void *ud)
{
    struct tk_agent *a = ud;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    tk_timer_start(a->loop, t, tk_now_ns() + TRIM_NS);
}

static void stop_timer_fire(struct tk_timer *t, void *ud)
{
    (void)t;
    finish_stop(ud);
}

void tk_agent_shutdown(struct tk_agent *a, void (*on_done)(void *ud), void *ud)
{
    if (a->stopping)
        return;
    a->stopping = 1;
    a->on_done = on_done;
    a->on_done_ud = ud;
    tk_bootstrap_stop(a->bs);
    tk_kube_watch_stop(a->w_pods);
    tk_kube_watch_stop(a->w_nodes);
    a->w_pods = a->w_nodes = NULL;
    for (size_t i = 0; i < a->nnodes; i++) {
        struct tk_agent_node *n = &a->nodes[i];
        tk_timer_stop(a->loop, &n->reg_timer);
        tk_timer_stop(a->loop, &n->lease_timer);
        tk_timer_stop(a->loop, &n->status_timer);
        tk_kube_watch_stop(n->w_pods);
        tk_kube_watch_stop(n->w_node);
        tk_kube_watch_stop(n->w_svc);
        n->w_pods = n->w_node = n->w_svc = NULL;
        cancel_req(a, &n->reg.req);
        cancel_req(a, &n->lease.req);
        cancel_req(a, &n->status.req);
        for (struct tk_apod *p = n->pods; p; p = p->next) {
            tk_timer_stop(a->loop, &p->timer);
            tk_timer_stop(a->loop, &p->resend);
            if (p->req) {
                cancel_req(a, &p->req);
                a->pod_inflight--;
            }
        }
    }
    a->pq_head = a->pq_tail = NULL;
    event_queue_free(a);
    tk_timer_stop(a->loop, &a->trim_timer);
    if (a->cfg->cleanup && (a->kube || !a->real_io)) {
        char path[160];
        for (size_t i = 0; i < a->nnodes; i++) {
            struct tk_agent_node *n = &a->nodes[i];
            struct tk_kube *k = a->kube ? a->kube : n->kube;
            snprintf(path, sizeof(path), "/api/v1/nodes/%s", n->name);
            n->reg.req = issue(a, k, "DELETE", path, NULL, NULL, 0, cleanup_done, &n->reg);
            snprintf(path, sizeof(path),
                     "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/%s", n->name);
            n->lease.req =
                issue(a, k, "DELETE", path, NULL, NULL, TK_KUBE_PRIORITY, cleanup_done, &n->lease);
            a->cleanup_pending += 2;
        }
        tk_info("deleting nodes and leases", "nodes=%zu", a->nnodes);
    }
    if (a->cleanup_pending == 0) {
        /* finish from the loop, never inside the caller's stack */
        tk_timer_start(a->loop, &a->stop_timer, 0);
    }
}

int tk_agent_stopped(const struct tk_agent *a)
{
    return a->stopped;
}

void tk_agent_free(struct tk_agent *a)
{
    if (!a)
        return;
    tk_timer_stop(a->loop, &a->stop_timer);
    tk_timer_stop(a->loop, &a->trim_timer);
    event_queue_free(a);
    tk_kube_watch_stop(a->w_pods);
    tk_kube_watch_stop(a->w_nodes);
    for (size_t i = 0; i < a->nnodes; i++) {
        struct tk_agent_node *n = &a->nodes[i];
        while (n->pods)
            pod_forget(a, n->pods);
        tk_timer_stop(a->loop, &n->reg_timer);
        tk_timer_stop(a->loop, &n->lease_timer);
        tk_timer_stop(a->loop, &n->status_timer);
        cancel_req(a, &n->reg.req);
        cancel_req(a, &n->lease.req);
        cancel_req(a, &n->status.req);
        tk_kube_watch_stop(n->w_pods);
        tk_kube_watch_stop(n->w_node);
        tk_kube_watch_stop(n->w_svc);
        if (n->kube && n->kube != a->kube)
            tk_kube_free(n->kube);
        tk_ipalloc_release(&n->pool);
    }
    tk_bootstrap_free(a->bs);
    tk_kube_free(a->pod_kube);
    tk_kube_free(a->kube);
    tk_pki_ca_free(a->ca);
    tk_kubeconfig_free(a->kc);
    free(a->nodes);
    free(a->regq);
    free(a->ptab);
    tk_buf_release(&a->scratch);
    free(a);
}

/* ---- introspection ---------------------------------------------------------------------- */

void tk_agent_get_stats(const struct tk_agent *a, struct tk_agent_stats *out)
{
    *out = a->stats;
    out->nodes = a->nnodes;
    out->nodes_ready = out->nodes_registering = 0;
    out->pods_starting = out->pods_running = out->pods_backoff = 0;
    out->pods_succeeded = out->pods_failed = out->pods_terminating = 0;
    for (size_t i = 0; i < a->nnodes; i++) {
        const struct tk_agent_node *n = &a->nodes[i];
        if (n->st == NS_READY)
            out->nodes_ready++;
        else if (n->st == NS_REGISTERING || n->st == NS_QUEUED)
            out->nodes_registering++;
        for (const struct tk_apod *p = n->pods; p; p = p->next) {
            switch ((enum pst)p->st) {
            case PS_STARTING:
                out->pods_starting++;
                break;
            case PS_RUNNING:
                out->pods_running++;
                break;
            case PS_BACKOFF:
                out->pods_backoff++;
                break;
            case PS_TERMINAL:
                if (p->exit_code == 0)
                    out->pods_succeeded++;
                else
                    out->pods_failed++;
                break;
            default:
                out->pods_terminating++;
            }
        }
    }
}

void tk_agent_node_pods(struct tk_agent_node *n,
                        void (*fn)(const struct tk_pod_info *pod, const char *pod_ip, int running,
                                   int64_t start_wall_ns, void *ud),
                        void *ud)
{
    char ip[16];
    for (struct tk_apod *p = n->pods; p; p = p->next) {
        tk_ipalloc_format(p->ip, ip);
        fn(p->info, p->st == PS_STARTING ? "" : ip, p->st == PS_RUNNING, p->start_wall, ud);
    }
}

const struct tk_pod_info *tk_agent_find_pod(struct tk_agent *a, const char *ns, const char *name,
                                            struct tk_agent_node **node_out, int64_t *start_wall_ns)
{
    for (size_t i = 0; i < a->ptab_size; i++)
        for (struct tk_apod *p = a->ptab[i]; p; p = p->hnext)
            if (!strcmp(p->info->namespace_, ns) && !strcmp(p->info->name, name)) {
                if (node_out)
                    *node_out = p->node;
                if (start_wall_ns)
                    *start_wall_ns = p->ready_wall ? p->ready_wall : p->start_wall;
                return p->info;
            }
    return NULL;
}

static int self_usage(double *cpu_s, int64_t *rss)
{
    FILE *f = fopen("/proc/self/stat", "r");
    unsigned long ut = 0, st = 0;
    long pages = 0;
    char buf[1024];
    int ok = -1;
    if (!f)
        return -1;
    if (fgets(buf, sizeof(buf), f)) {
        const char *p = strrchr(buf, ')');
        /* fields after the comm: state(3) ... utime(14) stime(15) ... rss(24) */
        if (p && sscanf(p + 2,
                        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d "
                        "%*d %*u %*u %ld",
                        &ut, &st, &pages) == 3)
            ok = 0;
    }
    fclose(f);
    *cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    *rss = pages * sysconf(_SC_PAGESIZE);
    return ok;
}

static void bootstrap_metrics(struct tk_agent *a, struct tk_prom_writer *w)
{
    struct tk_bootstrap_stats bs;
    struct tk_prom_label l = {"source", "csr"};

    tk_bootstrap_get_stats(a->bs, &bs);
    tk_prom_write_family(w, "turbokube_agent_bootstrap_identities_total",
                         "Node identities obtained by TLS bootstrap: by CSR, or reused from "
                         "--cert-dir.",
                         TK_PROM_COUNTER);
    tk_prom_write_sample_u64(w, "turbokube_agent_bootstrap_identities_total", &l, 1, bs.issued);
    l.value = "cache";
    tk_prom_write_sample_u64(w, "turbokube_agent_bootstrap_identities_total", &l, 1, bs.cached);
    tk_prom_write_family(w, "turbokube_agent_bootstrap_csrs_total",
                         "CertificateSigningRequests created.", TK_PROM_COUNTER);
    tk_prom_write_sample_u64(w, "turbokube_agent_bootstrap_csrs_total", NULL, 0, bs.csr_posts);
    tk_prom_write_family(w, "turbokube_agent_bootstrap_pending",
                         "Nodes still waiting for their certificate.", TK_PROM_GAUGE);
    tk_prom_write_sample_u64(w, "turbokube_agent_bootstrap_pending", NULL, 0, bs.pending);
}

/* Adds client k's counters (NULL-safe) into the agent's sum. */
static void add_kube_stats(struct tk_kube_stats *sum, struct tk_kube *k)
{
    struct tk_kube_stats ns;
    if (!k)
        return;
    tk_kube_get_stats(k, &ns);
    sum->requests += ns.requests;
    sum->retries += ns.retries;
    for (size_t i = 0; i < sizeof(ns.responses) / sizeof(ns.responses[0]); i++)
        sum->responses[i] += ns.responses[i];
    sum->watch_restarts += ns.watch_restarts;
    sum->watch_relists += ns.watch_relists;
    sum->watch_events += ns.watch_events;
    sum->inflight += ns.inflight;
    sum->queued += ns.queued;
    sum->conns_opened += ns.conns_opened;
    sum->conns_closed += ns.conns_closed;
    sum->conns_open += ns.conns_open;
    sum->transport_queued += ns.transport_queued;
}

int tk_agent_metrics(struct tk_agent *a, struct tk_buf *out)
{
    struct tk_prom_writer w;
    struct tk_agent_stats s;
    struct tk_kube_stats ks = {0};
    double cpu = 0;
    int64_t rss = 0;
    char codebuf[8];

    tk_agent_get_stats(a, &s);
    add_kube_stats(&ks, a->kube);
    add_kube_stats(&ks, a->pod_kube);
    for (size_t i = 0; i < a->nnodes; i++)
        if (a->nodes[i].kube != a->kube) /* kubelet mode: each node's own client */
            add_kube_stats(&ks, a->nodes[i].kube);
    tk_prom_writer_init(&w, out);

    tk_prom_write_family(&w, "turbokube_agent_nodes", "Fake nodes by state.", TK_PROM_GAUGE);
    {
        struct tk_prom_label l = {"state", "ready"};
        tk_prom_write_sample_u64(&w, "turbokube_agent_nodes", &l, 1, s.nodes_ready);
        l.value = "registering";
        tk_prom_write_sample_u64(&w, "turbokube_agent_nodes", &l, 1, s.nodes_registering);
        l.value = "other";
        tk_prom_write_sample_u64(&w, "turbokube_agent_nodes", &l, 1,
                                 s.nodes - s.nodes_ready - s.nodes_registering);
    }
    tk_prom_write_family(&w, "turbokube_agent_pods", "Pods on fake nodes by phase.", TK_PROM_GAUGE);
    {
        const char *names[] = {"Pending",   "Running", "CrashLoopBackOff",
                               "Succeeded", "Failed",  "Terminating"};
        uint64_t vals[] = {s.pods_starting,  s.pods_running, s.pods_backoff,
                           s.pods_succeeded, s.pods_failed,  s.pods_terminating};
        for (int i = 0; i < 6; i++) {
            struct tk_prom_label l = {"phase", names[i]};
            tk_prom_write_sample_u64(&w, "turbokube_agent_pods", &l, 1, vals[i]);
        }
    }
    tk_prom_write_family(&w, "turbokube_agent_api_requests_total",
                         "API requests by verb, resource, subresource and status code (0: no "
                         "response).",
                         TK_PROM_COUNTER);
    for (int k = 0; k < RK_COUNT; k++)
        for (size_t c = 0; c < NCODES; c++) {
            struct tk_prom_label l[4] = {{"verb", rk_info[k].verb},
                                         {"resource", rk_info[k].resource},
                                         {"subresource", rk_info[k].subresource},
                                         {"code", codebuf}};
            if (!a->codes[k][c])
                continue;
            if (c == NCODES - 1)
                snprintf(codebuf, sizeof(codebuf), "other");
            else
                snprintf(codebuf, sizeof(codebuf), "%d", code_slots[c]);
            tk_prom_write_sample_u64(&w, "turbokube_agent_api_requests_total", l, 4,
                                     a->codes[k][c]);
        }
    for (int k = 0; k < RK_COUNT; k++) {
        struct tk_prom_label l[3] = {{"verb", rk_info[k].verb},
                                     {"resource", rk_info[k].resource},
                                     {"subresource", rk_info[k].subresource}};
        tk_prom_write_histogram(&w, "turbokube_agent_api_request_duration_seconds",
                                k == 0 ? "Client-side API request latency of the final attempt."
                                       : NULL,
                                l, 3, &a->lat[k]);
    }
    tk_prom_write_histogram(&w, "turbokube_agent_lease_renew_lag_seconds",
                            "Lease renewals: from the scheduled renew time to the 2xx answer.",
                            NULL, 0, &a->lag);
    tk_prom_write_histogram(&w, "turbokube_agent_lease_queue_wait_seconds",
                            "Lease requests: time in the client's queue for a connection (lib/h1) "
                            "or a stream (lib/h2) before being written (libcurl: not measured).",
                            NULL, 0, &a->lease_wait);
    tk_prom_write_family(&w, "turbokube_agent_lease_renewals_total", "Lease writes accepted.",
                         TK_PROM_COUNTER);
    tk_prom_write_sample_u64(&w, "turbokube_agent_lease_renewals_total", NULL, 0,
                             s.lease_renewals_total);
    tk_prom_write_family(&w, "turbokube_agent_lease_failures_total",
                         "Lease writes that failed (retried after 1 s).", TK_PROM_COUNTER);
    tk_prom_write_sample_u64(&w, "turbokube_agent_lease_failures_total", NULL, 0,
                             s.lease_failures_total);
    tk_prom_write_family(&w, "turbokube_agent_pods_started_total",
                         "Pods whose Running status was accepted.", TK_PROM_COUNTER);
    tk_prom_write_sample_u64(&w, "turbokube_agent_pods_started_total", NULL, 0,
                             s.pods_started_total);
    tk_prom_write_family(&w, "turbokube_agent_pods_deleted_total",
                         "Pods whose final DELETE was accepted.", TK_PROM_COUNTER);
    tk_prom_write_sample_u64(&w, "turbokube_agent_pods_deleted_total", NULL, 0,
                             s.pods_deleted_total);
    tk_prom_write_family(&w, "turbokube_agent_events_posted_total", "Events accepted.",
                         TK_PROM_COUNTER);
    tk_prom_write_sample_u64(&w, "turbokube_agent_events_posted_total", NULL, 0,
                             s.events_posted_total);
    tk_prom_write_family(&w, "turbokube_agent_events_failed_total", "Events refused or lost.",
                         TK_PROM_COUNTER);
    tk_prom_write_sample_u64(&w, "turbokube_agent_events_failed_total", NULL, 0,
                             s.events_failed_total);
    tk_prom_write_family(&w, "turbokube_agent_api_connections_opened_total",
                         "Connections to the apiserver opened by lib/h1 or lib/h2.",
                         TK_PROM_COUNTER);
    tk_prom_write_sample_u64(&w, "turbokube_agent_api_connections_opened_total", NULL, 0,
                             ks.conns_opened);
    tk_prom_write_family(&w, "turbokube_agent_api_connections_closed_total",
                         "Connections to the apiserver that ended, for any reason.",
                         TK_PROM_COUNTER);
    tk_prom_write_sample_u64(&w, "turbokube_agent_api_connections_closed_total", NULL, 0,
                             ks.conns_closed);
    tk_prom_write_family(&w, "turbokube_agent_api_connections",
                         "Connections to the apiserver open now (lib/h1, lib/h2).", TK_PROM_GAUGE);
    tk_prom_write_sample_u64(&w, "turbokube_agent_api_connections", NULL, 0, ks.conns_open);
    tk_prom_write_family(&w, "turbokube_agent_api_transport_queued",
                         "Requests waiting for a connection (lib/h1) or a stream (lib/h2).",
                         TK_PROM_GAUGE);
    tk_prom_write_sample_u64(&w, "turbokube_agent_api_transport_queued", NULL, 0,
                             ks.transport_queued);
    tk_prom_write_family(&w, "turbokube_agent_watch_restarts_total",
                         "WATCH requests resumed after a stream ended.", TK_PROM_COUNTER);
    tk_prom_write_sample_u64(&w, "turbokube_agent_watch_restarts_total", NULL, 0,
                             ks.watch_restarts);
    tk_prom_write_family(&w, "turbokube_agent_watch_relists_total",
                         "LISTs after the first (410 Gone, oversized events).", TK_PROM_COUNTER);
    tk_prom_write_sample_u64(&w, "turbokube_agent_watch_relists_total", NULL, 0, ks.watch_relists);
    tk_prom_write_family(&w, "turbokube_agent_watch_events_total", "Watch events received.",
                         TK_PROM_COUNTER);
    tk_prom_write_sample_u64(&w, "turbokube_agent_watch_events_total", NULL, 0, ks.watch_events);
    tk_prom_write_family(&w, "turbokube_agent_api_retries_total",
                         "Request attempts that were retries.", TK_PROM_COUNTER);
    tk_prom_write_sample_u64(&w, "turbokube_agent_api_retries_total", NULL, 0, ks.retries);
    tk_prom_write_family(&w, "turbokube_agent_api_inflight", "Requests in libcurl now.",
                         TK_PROM_GAUGE);
    tk_prom_write_sample_u64(&w, "turbokube_agent_api_inflight", NULL, 0, ks.inflight);
    tk_prom_write_family(&w, "turbokube_agent_api_queued",
                         "Requests waiting for the client-side rate limiter.", TK_PROM_GAUGE);
    tk_prom_write_sample_u64(&w, "turbokube_agent_api_queued", NULL, 0, ks.queued);
    tk_prom_write_family(&w, "turbokube_agent_ignored_pod_events_total",
                         "Pod events for nodes this agent does not run.", TK_PROM_COUNTER);
    tk_prom_write_sample_u64(&w, "turbokube_agent_ignored_pod_events_total", NULL, 0,
                             s.ignored_pods_total);
    if (a->bs)
        bootstrap_metrics(a, &w);
    if (self_usage(&cpu, &rss) == 0) {
        tk_prom_write_family(&w, "process_cpu_seconds_total", "User and system CPU time.",
                             TK_PROM_COUNTER);
        tk_prom_write_sample(&w, "process_cpu_seconds_total", NULL, 0, cpu);
        tk_prom_write_family(&w, "process_resident_memory_bytes", "Resident set size.",
                             TK_PROM_GAUGE);
        tk_prom_write_sample(&w, "process_resident_memory_bytes", NULL, 0, (double)rss);
    }
    {
        /* malloc's own count of bytes in use: unlike RSS, neither trimming nor fragmentation
         * moves it, so the bench can tell what each running pod costs */
        struct mallinfo2 mi = mallinfo2();
        tk_prom_write_family(&w, "turbokube_agent_heap_inuse_bytes",
                             "Heap bytes allocated and not freed (glibc mallinfo2).",
                             TK_PROM_GAUGE);
        tk_prom_write_sample(&w, "turbokube_agent_heap_inuse_bytes", NULL, 0,
                             (double)(mi.uordblks + mi.hblkhd));
    }
    return w.failed ? -1 : 0;
}
