#ifndef TK_KUBELET_H
#define TK_KUBELET_H

/* The kubelet HTTPS endpoint of every fake node, on one socket (--kubelet-addr,
 * --kubelet-port): the node is the address the client connected to (its InternalIP), so the
 * apiserver's node proxy and `kubectl logs` reach the right one. Serving certificates are
 * minted per node on first contact from the cluster CA (SAN = the node's InternalIP, which the
 * apiserver verifies with --kubelet-certificate-authority), self-signed without a CA. Client
 * certificates are required and verified against the cluster CA when it is known.
 *
 *   /healthz                                 "ok"
 *   /pods                                    PodList of the node's pods
 *   /containerLogs/{ns}/{pod}/{container}    synthetic lines, one per second of the container's
 *                                            life; ?tailLines=N, ?follow=true, ?timestamps=true
 *   /stats/summary                           node and pod CPU/memory from requests + seeded noise
 *   /metrics/resource                        the same as Prometheus text
 *   /metrics                                 a few kubelet_* gauges */

#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "err.h"
#include "httpd.h"
#include "loop.h"

struct tk_kubelet;

/* Starts the endpoint for agent (borrowed; must outlive it) on cfg->kubelet_addr:kubelet_port.
 * Loads the cluster CA (--ca-cert/--ca-key or --cluster-dir) when available. Returns NULL with
 * err on failure (TK_EIO bind, TK_ETLS certificates). */
struct tk_kubelet *tk_kubelet_new(struct tk_loop *loop, struct tk_agent *agent, struct tk_err *err);

/* NULL-safe. */
void tk_kubelet_free(struct tk_kubelet *k);

/* The port the endpoint listens on (useful with kubelet_port 0 in tests). */
int tk_kubelet_port(const struct tk_kubelet *k);

/* The request handler (also for tests, without TLS): returns the status and fills resp. */
int tk_kubelet_handle(struct tk_agent *agent, const struct tk_httpd_req *req,
                      struct tk_httpd_resp *resp);

/* The n-th synthetic log line (0-based) of a container whose life started at t0_wall_ns,
 * newline-terminated, deterministic: the same inputs give the same bytes. With timestamps the
 * line starts with its RFC 3339 time (t0 + n seconds). Returns the length (truncated to
 * outsz-1 like snprintf). */
int tk_kubelet_log_line(char *out, size_t outsz, const char *ns, const char *pod,
                        const char *container, uint64_t n, int64_t t0_wall_ns, int timestamps);

#endif
