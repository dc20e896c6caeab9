#ifndef TK_NODEOBJ_H
#define TK_NODEOBJ_H

/* Node and Lease bodies for one fake node, as the kubelet writes them:
 *  - the Node for POST /api/v1/nodes: labels (defaults + the configured ones), annotations,
 *    spec.taints, and a full status: capacity, allocatable, the five conditions, addresses
 *    (InternalIP only: the apiserver's node proxy prefers Hostname and would try to resolve
 *    it), daemonEndpoints, nodeInfo;
 *  - the status PATCH for /api/v1/nodes/NAME/status (strategic merge: conditions merge by
 *    type): a heartbeat carries only the conditions, a reconcile the whole status;
 *  - the metadata PATCH that reconciles labels (and, outside kubelet mode, taints) of a Node
 *    that already existed;
 *  - the Lease in kube-node-lease, written into a caller-owned fixed buffer so a renew
 *    allocates nothing. */

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"

struct tk_nodeobj {
    const struct tk_agent_config *cfg; /* borrowed */
    const char *name;                  /* borrowed */
    int64_t index;                     /* global index (index_start + i): picks the zone */
    const char *internal_ip;           /* borrowed */
};

/* Appends the Node object for registration (POST /api/v1/nodes) to out. now_ns (wall clock)
 * is every condition's lastHeartbeatTime and lastTransitionTime. Returns 0 or -1 (cap). */
int tk_nodeobj_build(struct tk_buf *out, const struct tk_nodeobj *n, int64_t now_ns);

/* Appends a strategic-merge status patch: with full, everything tk_nodeobj_build puts in
 * status; without, only the conditions (heartbeat now_ns, transition transition_ns). */
int tk_nodeobj_status_patch(struct tk_buf *out, const struct tk_nodeobj *n, int full,
                            int64_t now_ns, int64_t transition_ns);

/* Appends a strategic-merge patch of metadata.labels (and spec.taints when with_taints) to
 * reconcile an existing Node with the configuration. */
int tk_nodeobj_meta_patch(struct tk_buf *out, const struct tk_nodeobj *n, int with_taints);

/* Writes the Lease for PUT/POST into buf (size bufsz, owned by the caller, reused for every
 * renew): holderIdentity and name = node name, leaseDurationSeconds, renewTime now_ns (MicroTime),
 * an ownerReference to the Node when node_uid is non-empty, metadata.resourceVersion when
 * resource_version is non-empty (a PUT's optimistic concurrency). Returns the length, or -1
 * when bufsz is too small (nothing useful written). */
int tk_nodeobj_lease(char *buf, size_t bufsz, const char *node_name, const char *node_uid,
                     int64_t lease_duration_s, const char *resource_version, int64_t now_ns);

/* A buffer of this size always holds tk_nodeobj_lease's output for node names of at most 63
 * characters, UIDs of 36 and resource versions of at most 32. */
#define TK_NODEOBJ_LEASE_MAX 640

#endif
