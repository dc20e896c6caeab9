#ifndef TK_LOCALCP_H
#define TK_LOCALCP_H

/* The local provider: a real control plane as processes on this machine, on loopback.
 * etcd (one member or three) or kine over SQLite + kube-apiserver + kube-controller-manager +
 * kube-scheduler (kine over PostgreSQL adds a private postgres),
 * binaries from the bootstrap cache, PKI generated in C, state in a cluster directory
 * ($TURBOKUBE_HOME/clusters/NAME, default ~/.turbokube/clusters/NAME), so several clusters
 * run side by side by name. Components are placed in cgroups that enforce the sizes asked
 * for, one per host: a "control-plane" group, and optionally a dedicated "etcd" group; with
 * offload_scheduler the scheduler and controller-manager run outside the limits, or in an
 * "aux" group of their own (as if on another host); explicit hosts and a placement
 * (tk_localcp_opts.hosts) put any component on any host, and latency_ns adds round-trip time
 * between components on different hosts through a toxiproxy (localnet.h). */

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "err.h"

struct tk_loop;

/* The four core components, as tk_localcp_opts.host_of and tk_localcp_info.comp index them. */
enum { TK_LOCALCP_DATASTORE, TK_LOCALCP_APISERVER, TK_LOCALCP_CM, TK_LOCALCP_SCHEDULER };
enum { TK_LOCALCP_MAXHOSTS = 4 };

/* A machine of the control plane, here one cgroup: 0 for a limit means none. */
struct tk_localcp_host {
    int64_t cpu_millis, memory_bytes;
};

/* kine over PostgreSQL runs a private cluster (initdb in the cluster directory, Debian's
 * binaries from /usr/lib/postgresql/N/bin or $TURBOKUBE_PG_BIN) on a free loopback port; as
 * root its processes run as "nobody". */
enum tk_localcp_datastore { TK_DS_ETCD = 0, TK_DS_KINE_SQLITE, TK_DS_KINE_POSTGRES };

struct tk_localcp_opts {
    const char *name; /* cluster name; [a-z0-9-], at most 40 */
    enum tk_localcp_datastore datastore;
    int etcd_members;                 /* etcd only: 1 (0 means 1) or 3, one cluster on loopback */
    int apiserver_port;               /* 0: a free port */
    int64_t cpu_millis, memory_bytes; /* control-plane group limits; 0: none */
    int64_t etcd_cpu_millis, etcd_memory_bytes; /* dedicated etcd group when either is set */
    int offload_scheduler; /* scheduler + controller-manager outside the limits ... */
    int64_t aux_cpu_millis, aux_memory_bytes; /* ... or, when either is set, in an "aux" group
                                                 with these limits (another host) */
    /* Hosts and placement (turbokube run): when nhosts > 0 they replace the five limits and
     * offload_scheduler above. Core component r (TK_LOCALCP_DATASTORE, ...) runs on
     * hosts[host_of[r]]; every etcd member and kine's postgres go with the datastore. Each
     * host used is one cgroup (tk_localcp_groups names them). */
    struct tk_localcp_host hosts[TK_LOCALCP_MAXHOSTS];
    int nhosts;
    int host_of[4];
    int64_t latency_ns; /* added round trip between two components on different hosts, whole
                           milliseconds (a toxiproxy in between, see localnet.h); 0: none */
    const char *const *apiserver_args; /* extra "--flag=value", NULL-terminated, may be NULL */
    int timeout_s;                     /* readiness deadline, default 90 */
    int quiet;                         /* no progress lines */
    struct tk_loop *loop;       /* borrowed; NULL: a private one. Readiness probes run on it, so the
                                   caller's timers and signal handler keep running during bring-up */
    int (*cancelled)(void *ud); /* may be NULL; polled while waiting for readiness: non-zero
                                   stops the bring-up (TK_ESTATE "bring-up cancelled") */
    void *cancel_ud;
};

/* What a running cluster is made of, read from its cluster.json: the TK_LOCALCP_NCOMP core
 * components at fixed places (datastore, apiserver, controller-manager, scheduler), then the
 * others the cluster has (etcd-1 and etcd-2 of a three-member etcd, postgres, toxiproxy), up to
 * TK_LOCALCP_MAXCOMP. */
enum { TK_LOCALCP_NCOMP = 4, TK_LOCALCP_MAXCOMP = 8 };
struct tk_localcp_comp {
    char name[32];        /* etcd | kine | kube-apiserver | kube-controller-manager | ... |
                             etcd-1 | etcd-2 | postgres | toxiproxy */
    pid_t pid;            /* also its process group */
    int port;             /* main port (secure port; etcd/kine client port) */
    int metrics_port;     /* etcd, kine: plain-HTTP metrics listener; else 0 (use port) */
    char group[32];       /* cgroup name within the cluster ("control-plane", "etcd", "aux"),
                             "" when outside every limit */
    char metrics_url[96]; /* where its Prometheus /metrics is served; "" when it has none */
    char log[512];        /* its log file */
    int multiprocess;     /* 1 when pid is one of many processes (postgres: a postmaster and a
                             backend per connection), so its /proc usage would undercount: it
                             is measured through its cgroup */
};
struct tk_localcp_info {
    char dir[512];        /* the cluster directory; also every process's owner marker */
    char kubeconfig[560]; /* admin kubeconfig (system:masters) */
    char ca[560], admin_cert[560], admin_key[560]; /* PEM files: cluster CA, admin identity */
    char datastore[8];                             /* "etcd" | "kine" */
    int etcd_members;                              /* 1 or 3 (kine: 1) */
    int64_t latency_ns;                            /* added between hosts (0: none) */
    char latency_method[200]; /* "toxiproxy; netem unavailable: <why>", or "" */
    int latency_links; /* proxied links (apiserver->each etcd member, controllers->apiserver) */
    struct tk_localcp_comp comp[TK_LOCALCP_MAXCOMP]; /* datastore, apiserver, cm, scheduler,
                                                        then the others */
    int ncomp;                                       /* TK_LOCALCP_NCOMP..TK_LOCALCP_MAXCOMP */
};

/* The cluster directory for name (caller frees). */
char *tk_localcp_dir(const char *name);

/* Binary cache directory holding bin/ (caller frees): $TURBOKUBE_CACHE or ~/.cache/turbokube. */
char *tk_localcp_cache(void);

/* Brings the cluster up and waits until every component is ready. Already up: returns 0 and
 * says so. On failure everything started is stopped, err names the component that failed and
 * carries the tail of its log, and the logs stay in the cluster directory. */
int tk_localcp_up(const struct tk_localcp_opts *opts, struct tk_err *err);

/* Stops every process of the cluster (by pid file and by environment marker, so nothing is
 * orphaned), removes its cgroups and, unless keep, its directory. A cluster that is not up
 * is not an error. */
int tk_localcp_down(const char *name, int keep, struct tk_err *err);

/* Prints each component's state (pid, port, ready, cgroup limits and usage) as a table or
 * JSON ("table"/"json"). Returns 0 when every component is ready, 1 when something is not,
 * TK_ENOTFOUND when the cluster does not exist. */
int tk_localcp_status(const char *name, const char *format, FILE *out, struct tk_err *err);

/* Fills *out from the cluster's state file. TK_ENOTFOUND when the cluster is not up (no
 * state), TK_EIO when the file cannot be parsed. */
int tk_localcp_info(const char *name, struct tk_localcp_info *out, struct tk_err *err);

/* The cgroups opts asks for, one per host in use, each with the host's limits and the core
 * components on it (bit r: component r): the apiserver's host is "control-plane", the
 * datastore's (when another) "etcd", any other "aux", then "aux-2". With the shorthand,
 * offload_scheduler without aux limits leaves scheduler and controller-manager in no group;
 * when no limit is asked at all there are no groups. Returns how many (0..TK_LOCALCP_MAXHOSTS)
 * and fills groups; comps_outside (may be NULL) gets the components in no group. */
struct tk_localcp_group {
    char name[16];
    int64_t cpu_millis, memory_bytes;
    unsigned comps;
};
int tk_localcp_groups(const struct tk_localcp_opts *opts,
                      struct tk_localcp_group groups[TK_LOCALCP_MAXHOSTS], unsigned *comps_outside);

/* The relative cgroup path of a cluster's group ("turbokube/NAME/control-plane"), as
 * tk_cgroup_open takes it. Caller frees. */
char *tk_localcp_cgroup_rel(const char *name, const char *group);

/* Writes the shell exports for the cluster (KUBECONFIG, PATH with the pinned kubectl,
 * TURBOKUBE_CLUSTER_DIR). */
int tk_localcp_env(const char *name, FILE *out, struct tk_err *err);

#endif
