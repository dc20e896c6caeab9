#ifndef TK_EXPERIMENT_H
#define TK_EXPERIMENT_H

/* Experiment files: parsing, validation and matrix expansion into cells.
 *
 * An experiment file (experiments/README.md documents every field) describes one control plane,
 * its fake nodes, a load shape and what to measure. Any scalar field may hold a list instead of
 * a value, and any map section (controlPlane, agents, load, measurement and the maps inside
 * them) may be given as a list of maps: each list is a set of alternatives, and the plan is the
 * cartesian product of every such list, in file order (the first list varies slowest). Then
 * `exclude` removes cells, `repeat: N` runs the whole matrix N times (pass after pass), and
 * `ramp` turns each cell into a sequence of steps that raise one field.
 *
 * Everything is checked before anything starts: unknown keys, wrong types and impossible values
 * fail with "file:line:col: message (hint)". A cell's parameters are written as canonical JSON
 * (sorted keys, quantities and durations in their canonical spelling, hosts nobody uses and a
 * latency that cannot apply dropped) and the cell id is the first 12 hex digits of its SHA-256
 * (tk_store_cell_id), so the same configuration has the same id in every file, whatever the key
 * order or spelling. Cells whose canonical parameters coincide are merged. */

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Must equal KUBERNETES_VERSION in scripts/versions.env (a unit test checks it). */
#define TK_EXP_DEFAULT_KUBERNETES_VERSION "v1.36.3"
#define TK_EXP_MAX_CELLS 10000
#define TK_EXP_MAX_HOSTS 8
#define TK_EXP_MAX_REPEAT 100
#define TK_EXP_MAX_RAMP_STEPS 1000

enum tk_exp_provider { TK_EXP_PROVIDER_LOCAL = 0, TK_EXP_PROVIDER_KUBECONFIG };
enum tk_exp_datastore {
    TK_EXP_DS_ETCD = 0,
    TK_EXP_DS_KINE_SQLITE,
    TK_EXP_DS_KINE_POSTGRES,
};
enum tk_exp_component {
    TK_EXP_ETCD = 0,
    TK_EXP_APISERVER,
    TK_EXP_SCHEDULER,
    TK_EXP_CONTROLLER_MANAGER,
    TK_EXP_NCOMPONENTS
};
enum tk_exp_fidelity { TK_EXP_LITE = 0, TK_EXP_KUBELET };
enum tk_exp_shape { TK_EXP_NODE_DENSITY = 0, TK_EXP_CLUSTER_DENSITY, TK_EXP_CUSTOM };
enum tk_exp_dist { TK_EXP_FIXED = 0, TK_EXP_UNIFORM, TK_EXP_LOGNORMAL };
enum tk_exp_churn_mode { TK_EXP_CHURN_NAMESPACES = 0, TK_EXP_CHURN_OBJECTS };

/* Names as written in experiment files ("kine-sqlite", "controller-manager", ...). */
const char *tk_exp_provider_name(enum tk_exp_provider v);
const char *tk_exp_datastore_name(enum tk_exp_datastore v);
const char *tk_exp_component_name(enum tk_exp_component v);
const char *tk_exp_fidelity_name(enum tk_exp_fidelity v);
const char *tk_exp_shape_name(enum tk_exp_shape v);
const char *tk_exp_dist_name(enum tk_exp_dist v);
const char *tk_exp_churn_mode_name(enum tk_exp_churn_mode v);

struct tk_exp_host {
    const char *name;     /* [a-z0-9-], unique within the cell */
    int64_t cpu_milli;    /* cgroup CPU limit, > 0 */
    int64_t memory_bytes; /* cgroup memory limit, >= 64Mi */
};

/* One cell's parameters, fully resolved (defaults applied). Strings borrow from the
 * experiment that produced it. */
struct tk_cell_params {
    /* controlPlane */
    enum tk_exp_provider provider;
    const char *kubeconfig;           /* provider kubeconfig: the file (relative paths resolved
                                         against the experiment file's directory, a leading ~/
                                         against $HOME), NULL = $KUBECONFIG, else ~/.kube/config */
    const char *bootstrap_kubeconfig; /* provider kubeconfig, fidelity kubelet: server, CA and a
                                         bootstrap token the agents' nodes obtain their
                                         certificates with (resolved likewise); else NULL */
    const char *etcd_metrics;         /* provider kubeconfig: etcd's /metrics URL, NULL = none */
    const char *etcd_ca, *etcd_cert, *etcd_key; /* ... and its TLS files (resolved likewise),
                                                   each NULL when not given */
    const char *kubernetes_version;             /* "v1.36.3" */
    enum tk_exp_datastore datastore;
    int etcd_members; /* 1 or 3 */
    struct tk_exp_host hosts[TK_EXP_MAX_HOSTS];
    size_t nhosts;                     /* local: >= 1; only hosts something is placed on */
    int placement[TK_EXP_NCOMPONENTS]; /* index into hosts */
    int64_t latency_ns;                /* added between distinct hosts; 0 with one host */
    const char *const *apiserver_args; /* extra kube-apiserver flags */
    size_t napiserver_args;

    /* agents */
    int64_t nodes;           /* fake nodes, >= 1 */
    int64_t nodes_per_agent; /* agent processes = ceil(nodes / nodes_per_agent) */
    enum tk_exp_fidelity fidelity;
    int64_t capacity_cpu_milli, capacity_memory_bytes, capacity_pods; /* per node */
    enum tk_exp_dist startup_dist;
    int64_t startup_a_ns;          /* fixed: the value; uniform: min; lognormal: median */
    int64_t startup_b_ns;          /* uniform: max; lognormal: p99; fixed: = a */
    int64_t startup_grid_ns;       /* agent --start-grid: starts rounded up to this step; 0 off */
    const char *const *agent_args; /* extra turbokube-agent flags, each --flag=value */
    size_t nagent_args;

    /* load */
    enum tk_exp_shape shape;
    int64_t pods_per_node;             /* node-density */
    int64_t namespaces;                /* cluster-density: iterations, one namespace each */
    int64_t deployments_per_namespace; /* ... and per namespace: */
    int64_t replicas;                  /* pods per deployment */
    int64_t services, configmaps, secrets;
    double qps;    /* kube-burner client rate, > 0 */
    int64_t burst; /* >= 1 */
    int churn;     /* 1 when churn is configured */
    int64_t churn_cycles, churn_percent, churn_duration_ns, churn_delay_ns;
    enum tk_exp_churn_mode churn_mode;
    const char *config_path; /* custom: the user's kube-burner config, as reachable from cwd */
    char config_sha[13];     /* custom: first 12 hex of its SHA-256 (part of the cell id) */
    int64_t timeout_ns;      /* kube-burner --timeout */

    /* measurement */
    int64_t scrape_interval_ns;
    int64_t slo_mutating_p99_ns;    /* mutating calls, per (resource, verb) */
    int64_t slo_ro_resource_p99_ns; /* read-only, scope=resource */
    int64_t slo_ro_cluster_p99_ns;  /* read-only, scope=namespace|cluster */
    int64_t slo_pod_startup_p99_ns; /* pod startup, creation to Ready */
};

struct tk_cell {
    size_t index;      /* 0-based position in the plan */
    char id[13];       /* stable id: 12 hex digits of SHA-256(params_json) */
    char *params_json; /* canonical parameters, including "repeat" */
    struct tk_cell_params p;
    int repeat;          /* 0-based pass */
    int ramp_group;      /* -1 without ramp; else cells with one group form one ramp sequence */
    int ramp_step;       /* 0-based step within the group, -1 without ramp */
    int64_t estimate_ns; /* tk_exp_estimate_ns(&p) */
};

struct tk_exp_ramp {
    int on;
    char field[32]; /* "agents.nodes", "load.podsPerNode", "load.qps", ... */
    double from, step, until;
    size_t steps;
};

struct tk_exp_internal;

struct tk_experiment {
    const char *name;        /* [a-z0-9-], required */
    const char *description; /* may be NULL */
    const char *path;        /* the file as given */
    int64_t repeat;          /* 1..TK_EXP_MAX_REPEAT */
    struct tk_exp_ramp ramp;
    struct tk_cell *cells; /* in run order */
    size_t ncells;
    size_t excluded;   /* cells removed by exclude rules */
    size_t duplicates; /* cells merged because their parameters coincide */
    char **varying;    /* dotted parameter paths whose value differs between cells */
    size_t nvarying;
    int64_t estimate_ns; /* sum over cells */
    struct tk_exp_internal *in;
};

/* Loads, validates and expands the experiment file at path. On success *out is the experiment
 * (caller frees with tk_experiment_free). Errors: TK_EIO when the file (or a custom load
 * config it names) cannot be read; TK_EINVAL "path:line:col: message" for everything else.
 * On failure *out is NULL. */
int tk_experiment_load(struct tk_experiment **out, const char *path, struct tk_err *err);

/* As tk_experiment_load from len bytes of YAML; name stands for the file in messages and
 * relative paths (load.config) resolve against its directory. */
int tk_experiment_load_string(struct tk_experiment **out, const char *name, const char *text,
                              size_t len, struct tk_err *err);

/* Frees e and everything it owns. NULL-safe. */
void tk_experiment_free(struct tk_experiment *e);

/* Called for each parameter of a cell: its dotted path ("agents.capacity.pods") and value as the
 * plan spells it ("110", "8Gi", "15m0s", "node-density"; lists as JSON). Both borrowed. */
typedef void (*tk_exp_param_fn)(void *ud, const char *path, const char *value);

/* Calls fn for every parameter of cell c, in canonical (sorted) order. */
void tk_exp_cell_params_each(const struct tk_cell *c, tk_exp_param_fn fn, void *ud);

/* The value of parameter path in cell c into out (at most n bytes). Returns 0, or -1 when the
 * cell has no such parameter (out is then ""). */
int tk_exp_cell_param(const struct tk_cell *c, const char *path, char *out, size_t n);

/* Agent processes for the cell: ceil(nodes / nodes_per_agent). */
int64_t tk_exp_agents(const struct tk_cell_params *p);

/* Pods the load creates (node-density: nodes x podsPerNode; cluster-density: namespaces x
 * deployments x replicas; custom: 0, unknown). */
int64_t tk_exp_pods(const struct tk_cell_params *p);

/* Objects kube-burner creates at its qps (namespaces included; pods a controller creates not):
 * node-density: pods; cluster-density: namespaces x (1 + deployments + services + configmaps +
 * secrets); custom: 0. */
int64_t tk_exp_objects(const struct tk_cell_params *p);

/* Estimated wall time of one cell, in nanoseconds, by this model (documented in
 * experiments/README.md):
 *   bring-up   local: 20 s, + 10 s for 3 etcd members, + 10 s for kine-postgres; kubeconfig: 0
 *   nodes      5 s + nodes / 100 per second (registration and Ready); / 10 per second with
 *              bootstrapKubeconfig (a CSR per node)
 *   load       objects / qps + pod startup (uniform max, lognormal p99, fixed value) + grid
 *              + 5 s,
 *              + churn (its duration, or cycles x (2 x churned objects / qps + delay)),
 *              capped at load.timeout
 *   teardown   10 s + pods / 200 per second (garbage collection), + 10 s */
int64_t tk_exp_estimate_ns(const struct tk_cell_params *p);

/* How long a cell's pods may take to go once their namespaces are deleted (provider
 * kubeconfig's sweep waits this long): 60 s + pods / 50 per second, + the longest termination
 * delay agents.args allows (--termination-delay; a lognormal is bounded by the pods' 30-s grace
 * period), + with --qps in agents.args 3 requests per pod over each rate limiter (one per agent,
 * or per node in kubelet mode). In nanoseconds. */
int64_t tk_exp_drain_ns(const struct tk_cell_params *p);

/* The pod startup distribution in the agent's --startup-latency syntax
 * ("lognormal:median=1s,p99=3s", "uniform:500ms-3s", "fixed:2s"). Writes at most n bytes. */
void tk_exp_startup_spec(const struct tk_cell_params *p, char *out, size_t n);

/* Each node's capacity in the agent's --capacity syntax ("cpu=32,memory=274877906944,
 * pods=110"; cpu in millicores when not whole). Writes at most n bytes. */
void tk_exp_capacity_spec(const struct tk_cell_params *p, char *out, size_t n);

#endif
