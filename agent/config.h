#ifndef TK_AGENT_CONFIG_H
#define TK_AGENT_CONFIG_H

/* turbokube-agent configuration: defaults, then an optional YAML file (--config), then flags,
 * each later source overriding the earlier. The YAML file is one flat map whose keys are the
 * long flag names ("nodes: 200", "name-prefix: tk-"); options that take lists accept a YAML
 * list or map as well as the flag's comma syntax ("labels: {team: a}", "zones: [a, b]",
 * "taints: [{key: k, value: v, effect: NoSchedule}]"). Unknown keys and bad values are
 * reported as "file:line:col: ...". tk_agent_config_usage() prints every flag with its
 * default. */

#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "log.h"
#include "sampler.h"

#define TK_AGENT_KUBELET_VERSION "v1.36.3"

enum tk_agent_fidelity { TK_FIDELITY_LITE = 0, TK_FIDELITY_KUBELET };

/* How the shared client sends requests other than watches (lib/kube transports). */
enum tk_agent_api_transport { TK_API_DEFAULT = 0, TK_API_H1, TK_API_CURL, TK_API_H2 };

struct tk_agent_kv {
    char *key, *value;
};

struct tk_agent_taint {
    char *key, *value, *effect; /* value may be "" */
};

struct tk_agent_config {
    char *config_path; /* --config, NULL when none */
    char *kubeconfig;  /* NULL: $KUBECONFIG or ~/.kube/config */
    char *context;     /* NULL: current-context */
    enum tk_agent_fidelity fidelity;

    int64_t nodes;       /* how many nodes this agent runs */
    int64_t index_start; /* first node index: names are prefix + index, zero-padded */
    int index_width;
    char *name_prefix;

    struct tk_agent_kv *labels; /* extra labels, after the defaults (same key: replaced) */
    size_t nlabels;
    char **zones; /* node i gets zones[i % nzones] */
    size_t nzones;
    char *region;
    struct tk_agent_taint *taints;
    size_t ntaints;
    struct tk_agent_kv *capacity; /* resource name -> canonical quantity, cpu first */
    size_t ncapacity;
    struct tk_agent_kv *allocatable; /* capacity minus system-reserved, same order */
    struct tk_agent_kv *reserved;
    size_t nreserved;

    char *kubelet_version, *os_image, *kernel_version, *runtime_version, *architecture;

    struct tk_sampler startup;     /* pod startup latency */
    struct tk_sampler run;         /* Job pods' run duration */
    struct tk_sampler termination; /* delay before reporting terminated, clamped to grace */
    int64_t start_grid_ns;         /* pod starts rounded up to a multiple of this; 0: off */
    uint64_t seed;

    char *node_ip_range; /* node InternalIPs: block index+1 of this range */
    uint32_t node_ip_net;
    int node_ip_prefix;
    char *pod_cidr; /* the agent's own pod range, when a node has no spec.podCIDR */
    uint32_t pod_net;
    int pod_prefix;
    int pod_block_prefix; /* each node's share of pod_cidr (/24 by default) */

    double qps; /* client-side limit, 0 = off */
    int burst;
    enum tk_agent_api_transport api_transport; /* DEFAULT until validated: then H1 in lite mode,
                                                  H2 in kubelet mode */
    int api_conns;                             /* h1 pool size */

    int64_t lease_duration_s;
    int64_t lease_renew_ns;
    double lease_jitter; /* renew interval stretched by up to this fraction */
    int64_t status_interval_ns;
    int64_t max_event_bytes; /* watch events beyond this restart the watch */

    char *metrics_addr;  /* host:port, NULL = off */
    char *kubelet_addr;  /* bind address of the kubelet endpoint, NULL = off */
    char *kubelet_netns; /* network namespace to open it in, NULL = ours */
    int kubelet_port;    /* reported in daemonEndpoints */
    char *ca_cert, *ca_key, *cluster_dir;
    char *bootstrap_kubeconfig; /* kubelet mode: identities by TLS bootstrap; NULL: minted */
    char *cert_dir;             /* where bootstrapped identities are kept, NULL: nowhere */
    int bootstrap_concurrency;  /* nodes between CSR and certificate at once */
    int64_t bootstrap_timeout_ns;

    int cleanup;
    enum tk_log_level log_level;
};

/* Fills c with the defaults (every pointer owned by c). */
void tk_agent_config_init(struct tk_agent_config *c);

/* Frees everything c owns and zeroes it. */
void tk_agent_config_release(struct tk_agent_config *c);

enum {
    TK_AGENT_CONFIG_RUN = 0, /* go on */
    /* --help was given: usage printed, exit 0. Negative, so that it is never mistaken for an
     * error code (TK_EINVAL is 1: usage errors used to exit 0 without a word). */
    TK_AGENT_CONFIG_HELP = -1
};

/* Parses argv with getopt_long (optind is reset, so it may be called more than once): a first
 * pass finds --config and loads that file, a second applies every flag over it. Then
 * validates the whole (tk_agent_config_validate). out receives --help's usage text. Returns
 * TK_AGENT_CONFIG_RUN or TK_AGENT_CONFIG_HELP, or an error code with err set (TK_EINVAL for
 * usage errors: the caller exits 2; TK_EIO when the file cannot be read). */
int tk_agent_config_parse_args(struct tk_agent_config *c, int argc, char **argv, FILE *out,
                               struct tk_err *err);

/* Applies the YAML file at path over c. TK_EINVAL "path:line:col: ..." for unknown keys and bad
 * values, TK_EIO when unreadable. Does not validate cross-field constraints. */
int tk_agent_config_load_file(struct tk_agent_config *c, const char *path, struct tk_err *err);

/* As tk_agent_config_load_file from text in memory (name used in messages). */
int tk_agent_config_load_string(struct tk_agent_config *c, const char *name, const char *text,
                                struct tk_err *err);

/* --api-transport's spelling of t ("h1", "h2", "curl"; "default" before validation). */
const char *tk_agent_api_transport_name(enum tk_agent_api_transport t);

/* Sets one option by its long flag name from text, exactly as the flag would. */
int tk_agent_config_set(struct tk_agent_config *c, const char *name, const char *value,
                        struct tk_err *err);

/* Cross-field checks: node names valid (DNS-1123, at most 63 characters), the node IP range
 * and pod CIDR large enough for index_start + nodes, reserved within capacity (and computes
 * allocatable), lease renew shorter than the lease, the transport fit for the fidelity; then
 * the identity (a kubeconfig, CA or bootstrap kubeconfig that fits the fidelity). */
int tk_agent_config_validate(struct tk_agent_config *c, struct tk_err *err);

/* tk_agent_config_validate without the identity: what the orchestrator checks of each
 * experiment cell's agent flags before any cluster (and so any credential) exists. */
int tk_agent_config_check(struct tk_agent_config *c, struct tk_err *err);

/* Writes the usage text: every flag, its argument, its meaning and its default. */
void tk_agent_config_usage(FILE *out);

/* The name of node number i (0 <= i < nodes) into out: prefix + zero-padded (index_start + i).
 * Returns the length written; out needs 64 bytes. */
int tk_agent_config_node_name(const struct tk_agent_config *c, int64_t i, char *out);

/* Where the cluster CA is: --ca-cert/--ca-key when given, else CLUSTER-DIR/pki/ca.{crt,key}
 * (the layout of `turbokube cluster up`) or CLUSTER-DIR/ca.{crt,key}, whichever exists.
 * Returns 0 with both paths set (into buffers of size n), -1 when there is none. */
int tk_agent_config_ca_paths(const struct tk_agent_config *c, char *cert, char *key, size_t n);

/* Value of a capacity/allocatable entry, NULL when absent. Borrowed. */
const char *tk_agent_kv_get(const struct tk_agent_kv *kv, size_t n, const char *key);

#endif
