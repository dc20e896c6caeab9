#ifndef TK_ATTACH_H
#define TK_ATTACH_H

/* The kubeconfig provider: a cell attached to an existing cluster (Cluster B) that TurboKube
 * did not build, cannot size and must leave as it found it.
 *
 * What TurboKube puts into such a cluster, and how each thing is found again to be removed:
 *   fake nodes      labelled turbokube.io/fake=true and turbokube.io/run=<run label> (the
 *                   agents' --labels), deleted by the agents themselves (--cleanup) and then
 *                   by tk_attach_sweep_nodes for whatever an agent could not delete
 *   their leases    kube-node-lease/<node name>, likewise
 *   node events     events whose involvedObject is one of those nodes (the node lifecycle
 *                   controller writes them in namespace default)
 *   kube-burner's   namespaces labelled kube-burner.io/uuid=<uuid>, which kube-burner's own
 *   namespaces      garbage collection deletes at the end of a job; tk_attach_delete_namespaces
 *                   does it when kube-burner was stopped before (a signal, a timeout, a hard
 *                   failure, a killed run)
 * Nothing else is written. The cluster itself is never stopped.
 *
 * Every call here is synchronous: it runs the caller's loop until its requests complete, so it
 * must not be called from a loop callback. A signal that stops the loop (tk_loop_stop) ends the
 * call with TK_ESTATE. */

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "experiment.h"
#include "kube.h"
#include "kubeconfig.h"

struct tk_loop;

/* The kubeconfig file of a cell: given (the experiment's controlPlane.kubeconfig, already
 * resolved), else the first entry of $KUBECONFIG, else ~/.kube/config, as an absolute path
 * (kube-burner runs in its job's directory). *out (caller frees). TK_ENOTFOUND when the file
 * does not exist, with the places looked at. */
int tk_attach_kubeconfig_path(const char *given, char **out, struct tk_err *err);

/* gitVersion of a /version answer ("v1.36.3") into out (at most n bytes; "" when absent). */
void tk_attach_parse_version(const char *body, size_t len, char *out, size_t n);

/* etcd's version from its /metrics text (etcd_server_version{server_version="3.6.8"}) into
 * out; "" when absent. */
void tk_attach_etcd_version(const char *text, size_t len, char *out, size_t n);

/* Whether the namespace ns (an item of a namespace list: name and labels) stands in the way
 * of p's load: node-density's "node-density", cluster-density's "cluster-density-N" (N below
 * load.namespaces), or any namespace labelled kube-burner.io/job=<the job>, which kube-burner's
 * garbage collection would delete. Returns 1 with why (at most n bytes), else 0. A custom
 * load names its own namespaces: never in the way. */
int tk_attach_namespace_conflict(const cJSON *ns, const struct tk_cell_params *p, char *why,
                                 size_t n);

struct tk_attach;

/* Attaches to the cluster of the kubeconfig at path (absolute, see tk_attach_kubeconfig_path):
 * loads it (exec plugins run), asks /version (the apiserver's version: tk_attach_version) and
 * /metrics (the user must be allowed to read it: the latency summaries come from there), each
 * within timeout_ms. *out (free with tk_attach_free). Errors, *out NULL: the kubeconfig's
 * (TK_EIO, TK_EINVAL, ...), TK_ENET/TK_ETLS/TK_ETIMEOUT "cannot reach https://...: ...",
 * TK_EHTTP for an answer other than 200, TK_ESTATE when a signal stopped the loop. */
int tk_attach_open(struct tk_attach **out, struct tk_loop *loop, const char *path, int timeout_ms,
                   struct tk_err *err);

/* Frees a (NULL-safe); the cluster is untouched. */
void tk_attach_free(struct tk_attach *a);

/* Borrowed from a: the kubeconfig loaded, the client (its credentials as loaded), and the
 * apiserver's version. */
const struct tk_kubeconfig *tk_attach_kubeconfig(const struct tk_attach *a);
struct tk_kube *tk_attach_client(const struct tk_attach *a);
const char *tk_attach_version(const struct tk_attach *a);

/* Before a cell: fails (TK_ESTATE, why in err) when a node labelled turbokube.io/fake=true
 * already exists (another run uses this cluster, or a run TurboKube could not clean up after)
 * or a namespace stands in the way of p's load (tk_attach_namespace_conflict). */
int tk_attach_preflight(struct tk_attach *a, const struct tk_cell_params *p, struct tk_err *err);

/* Called for a node's name: 1 when it is one of the run's nodes. */
typedef int (*tk_attach_ours_fn)(const char *node, void *ud);

struct tk_attach_left {
    int64_t namespaces, nodes, leases, events; /* found, and not deleted */
    int64_t deleted;                           /* objects this call deleted */
};

/* Deletes the namespaces labelled kube-burner.io/uuid=<a value starting with uuid_prefix>
 * (kube-burner's uuids for this cell are "<cell id>-<time>", so a prefix finds an earlier
 * attempt's too) and their pods at once (grace 0: the agents that would finish them may be a
 * killed run's), and waits until the namespaces are gone, at most until deadline_ns
 * (monotonic). *left says what remains. Returns 0, TK_ETIMEOUT (left->namespaces > 0),
 * TK_ESTATE (a signal), or a request's error. */
int tk_attach_delete_namespaces(struct tk_attach *a, const char *uuid_prefix, int64_t deadline_ns,
                                struct tk_attach_left *left, struct tk_err *err);

/* Deletes the nodes labelled turbokube.io/run=run_label, then the leases in kube-node-lease and
 * the events about nodes (involvedObject.kind=Node, any namespace) whose node ours() claims.
 * The node lifecycle controller writes a RemovingNode event about each node some seconds
 * after it is gone: with removals > 0 (the nodes the run registered) the events are swept
 * again every second until that many RemovingNode events were deleted or deadline_ns
 * (monotonic) passes. Then lists again: *left counts what is still there. Returns 0 when
 * nothing is left, TK_ESTATE when something is (or a signal stopped it), or a request's
 * error. */
int tk_attach_sweep_nodes(struct tk_attach *a, const char *run_label, tk_attach_ours_fn ours,
                          void *ud, int64_t removals, int64_t deadline_ns,
                          struct tk_attach_left *left, struct tk_err *err);

#endif
