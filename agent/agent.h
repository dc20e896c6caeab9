#ifndef TK_AGENT_H
#define TK_AGENT_H

/* The agent runtime: a fleet of fake nodes on one loop.
 *
 * Each node is a small struct (name, InternalIP, UID, Lease body buffer, three timers, a pod
 * address pool, its pod list). It registers (POST /api/v1/nodes; on 409 GET + PATCH of labels
 * and status), keeps a Lease in kube-node-lease (POST, then PUT with the last resourceVersion
 * every --lease-renew-interval stretched by up to 4 % jitter, always TK_KUBE_PRIORITY so pod
 * work never delays it; the lag from the scheduled renew time to the 200 is measured), and
 * PATCHes its status every --status-interval or when the API shows it other than Ready.
 *
 * Pods: in lite mode one watch of every bound pod (fieldSelector spec.nodeName!=) feeds all
 * nodes, filtered locally by node name (the name is prefix + index, so the lookup is a parse,
 * not a search), plus one watch of the fake Nodes (labelSelector turbokube.io/fake=true) for
 * spec.podCIDR and for nodes the control plane marked NotReady. In kubelet mode every node
 * has its own client (client certificate system:node:NAME minted from the cluster CA, or
 * obtained by TLS bootstrap -- bootstrap.h --, so its own connection) and its own watches of its
 * pods (spec.nodeName=NAME), its Node (metadata.name=NAME) and services, as a kubelet does.
 *
 * A pod bound to one of our nodes: after the sampled startup delay, status Running (the body
 * of podstatus.h) and a Started event per container; pods with restartPolicy Never/OnFailure
 * (or a turbokube.io/run-duration annotation) exit after their run duration: exit 0 ->
 * Succeeded, else Failed (Never) or CrashLoopBackOff and a restart with 10 s doubling back-off
 * (OnFailure/Always). A deletionTimestamp leads, after the termination delay (never longer
 * than the grace period), to terminated container status and then DELETE with
 * gracePeriodSeconds 0 and a UID precondition. A pod deleted while still starting is deleted
 * without a status. After a relist, pods not listed are forgotten.
 *
 * Everything runs on the loop thread. */

#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "config.h"
#include "kube.h"
#include "loop.h"
#include "pod.h"

struct tk_agent;
struct tk_agent_node;

/* How the agent issues requests: tk_kube_request by default; unit tests record requests and
 * answer them by hand. kube is the client of the node (or the shared one). */
struct tk_agent_io {
    struct tk_kube_req *(*request)(void *ud, struct tk_kube *kube, const char *method,
                                   const char *path, const char *body, const char *content_type,
                                   int flags, tk_kube_done_fn cb, void *cb_ud);
    void (*cancel)(void *ud, struct tk_kube_req *req);
    void *ud;
};

/* Creates the fleet described by cfg (borrowed; must outlive the agent): node names,
 * InternalIPs (block index+1 of --node-ip-range), the agent's own pod blocks. io NULL: real
 * requests through tk_kube. Nothing is sent yet. Returns 0 or TK_EINVAL (err set). */
int tk_agent_new(struct tk_agent **out, struct tk_loop *loop, const struct tk_agent_config *cfg,
                 const struct tk_agent_io *io, struct tk_err *err);

/* Loads the kubeconfig, creates the API clients (in kubelet mode one per node, with a client
 * certificate minted from the cluster CA), and starts the pod and node watches (lite mode; in
 * kubelet mode each node starts its own once registered). With --bootstrap-kubeconfig it loads
 * that kubeconfig instead and sets up the TLS bootstrap (bootstrap.h): node clients are made
 * as their certificates arrive. Returns 0 or the error (TK_EIO, TK_EINVAL, TK_ETLS). Not used
 * by unit tests, which drive tk_agent_pod_event directly. */
int tk_agent_connect(struct tk_agent *a, struct tk_err *err);

/* Starts registering the nodes (at most 64 registrations in flight); with TLS bootstrap, starts
 * the bootstrap, and each node registers once it has its certificate. */
void tk_agent_begin(struct tk_agent *a);

/* fn(ud) is called once, from the loop, when the agent cannot go on: its TLS bootstrap failed
 * (a refused token, a denied CSR, no signer) or the API refused a bootstrapped identity. The
 * owner then stops the agent (tk_agent_shutdown) and reports tk_agent_error(). */
void tk_agent_on_fatal(struct tk_agent *a, void (*fn)(void *ud), void *ud);

/* Why the agent could not go on, or NULL. Borrowed. */
const struct tk_err *tk_agent_error(const struct tk_agent *a);

/* Begins a clean stop: timers and watches stop; with cfg->cleanup every node and Lease is
 * DELETEd first. on_done (may be NULL) is called once everything has finished. Idempotent. */
void tk_agent_shutdown(struct tk_agent *a, void (*on_done)(void *ud), void *ud);

/* Non-zero once a shutdown has completed. */
int tk_agent_stopped(const struct tk_agent *a);

/* Frees the agent (NULL-safe). Requests in flight are cancelled. */
void tk_agent_free(struct tk_agent *a);

/* Feeds one pods watch event (the object is borrowed for the call). Events for pods not bound
 * to one of our nodes are ignored. from_list: 1 when the event is an item of a LIST, 0 a WATCH
 * event, -1 unknown (an ADDED whose resourceVersion is the watch's). Exposed for tests; the
 * watches call it. */
void tk_agent_pod_event(struct tk_agent *a, enum tk_watch_type type, cJSON *obj, int from_list);

/* A LIST (or relist) of pods was delivered: pods the agent tracks whose last event is older
 * than the list were not in it and are forgotten (their DELETED was missed). */
void tk_agent_pod_sync(struct tk_agent *a);

/* Feeds one nodes watch event (podCIDR, Ready as seen by the control plane, deletion). */
void tk_agent_node_event(struct tk_agent *a, enum tk_watch_type type, cJSON *obj);

/* Pods by lifecycle state, nodes by state, counters: what /metrics reports. */
struct tk_agent_stats {
    uint64_t nodes, nodes_ready, nodes_registering;
    uint64_t pods_starting, pods_running, pods_backoff, pods_succeeded, pods_failed,
        pods_terminating;
    uint64_t pods_started_total;  /* Running reported */
    uint64_t pods_deleted_total;  /* final DELETE accepted */
    uint64_t events_posted_total; /* Event POSTs answered 2xx */
    uint64_t events_failed_total;
    uint64_t lease_renewals_total;
    uint64_t lease_failures_total;
    uint64_t ignored_pods_total;  /* watch events for pods bound elsewhere */
    uint64_t bad_objects_total;   /* watch objects we could not parse */
    uint64_t pods_resynced_total; /* Running status re-sent after someone else changed it */
};

void tk_agent_get_stats(const struct tk_agent *a, struct tk_agent_stats *out);

/* Appends the agent's Prometheus exposition to out: nodes by state, pods by phase, API
 * requests by verb, resource and code, client-side request latency, lease renew lag, watch
 * restarts, events posted, process RSS and CPU. Returns 0 or -1 (out's cap). */
int tk_agent_metrics(struct tk_agent *a, struct tk_buf *out);

/* ---- for the kubelet endpoint ---- */

/* The node whose InternalIP is ip (host order), or NULL. */
struct tk_agent_node *tk_agent_node_by_ip(struct tk_agent *a, uint32_t ip);

/* The node called name, or NULL. */
struct tk_agent_node *tk_agent_node_by_name(struct tk_agent *a, const char *name);

const char *tk_agent_node_name(const struct tk_agent_node *n);

/* Calls fn for every pod the node runs (any state). The pod is borrowed for the call. */
void tk_agent_node_pods(struct tk_agent_node *n,
                        void (*fn)(const struct tk_pod_info *pod, const char *pod_ip, int running,
                                   int64_t start_wall_ns, void *ud),
                        void *ud);

/* The pod ns/name if one of this agent's nodes runs it, else NULL (borrowed). *node_out gets
 * its node. */
const struct tk_pod_info *tk_agent_find_pod(struct tk_agent *a, const char *ns, const char *name,
                                            struct tk_agent_node **node_out,
                                            int64_t *start_wall_ns);

/* The configuration the agent runs with (borrowed). */
const struct tk_agent_config *tk_agent_config_of(const struct tk_agent *a);

#endif
