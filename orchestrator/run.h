#ifndef TK_RUN_H
#define TK_RUN_H

/* The cell runner behind `turbokube run FILE`: every cell of an experiment's plan, one after
 * another, recorded in the results database (lib/store.h).
 *
 * For each cell (status running, then complete or failed; aborted on a signal):
 *   up        the local control plane at the cell's size and topology (localcp), its cgroup
 *             limits read back and recorded; what the local provider cannot build yet (3 etcd
 *             members, kine over PostgreSQL, latency between hosts, a
 *             Kubernetes version that is not the one built) fails the cell with that reason;
 *             provider kubeconfig attaches to the existing cluster instead (attach.h)
 *   agents    ceil(nodes / nodesPerAgent) turbokube-agent processes with disjoint node index
 *             ranges and their own /metrics ports; wait until every node is Ready without a
 *             NoSchedule/NoExecute taint and the controller-manager's controllers run
 *   baseline  one scrape round of every component (scrape.h)
 *   load      kube-burner, rendered into the cell's directory (burner.h), with its timeout,
 *             while every component is scraped each measurement.scrapeInterval
 *   final     one more round; then the record: latency summaries (baseline -> final),
 *             kube-burner's pod latency and job summary, usage per component (CPU seconds over
 *             the load, peak RSS), request counts by code, APF rejections, etcd leader
 *             changes and database size, nodes that went NotReady, failure points
 *   teardown  everything stopped (unless keep), logs copied into the cell's directory
 *             (DIR/runs/STEM/EXPERIMENT-ID/INDEX-CELLID beside the database DIR/STEM.db,
 *             holding config.yml, templates/, metrics/, kube-burner.log, logs/, scrapes/)
 * Each phase's writes are committed together. SIGINT, SIGTERM and SIGHUP stop the cell where it
 * is, tear everything down and mark it aborted; later cells stay pending. A resumed run
 * (resume) reuses the most recent experiment of the same name, skips its complete cells (by
 * cell id) and reruns the others from scratch.
 *
 * Provider kubeconfig (experiments/README.md): the agents run here with --cleanup and the
 * cell's run label, the apiserver is scraped through the kubeconfig's credentials and etcd only
 * at controlPlane.etcdMetrics; what cannot be measured of remote components (their CPU and
 * memory, the scheduler's and controller-manager's metrics, cgroup limits) is recorded as
 * source "summary" metric not_measured {component, what}, never as zeros; three failed
 * apiserver scrapes in a row are the hard failure "apiserver unreachable"; teardown removes
 * what the cell put into the cluster (failure "cleanup" for anything left) and never stops it.
 *
 * Every process a cell starts (control plane, agents, kube-burner) carries the owner marker of
 * the cell's cluster directory, so `turbokube cluster down --name tk-<cell id>` stops whatever
 * a killed run left behind, and a rerun of the cell does so first.
 *
 * Failure points (failure_points; values and thresholds in seconds unless said otherwise):
 *   soft  slo:mutating VERB RESOURCE, slo:read-only VERB RESOURCE (SCOPE), slo:pod startup
 *         (API calls: the worst 5-min window's p99, TK_SLO_WINDOW_MS, against measurement.slo;
 *         t is the end of the first window past it; pod startup: kube-burner's p99 over the
 *         load), apiserver 429 responses (share above 1 %)
 *   hard  unsupported (what the local provider cannot build), bring-up, cgroup limits,
 *         nodes not Ready, agent exited, component died, oom-killed, kube-burner (error,
 *         timeout, error rate), apiserver 5xx responses (share above 1 %), nodes lost
 *         (went NotReady during the load), etcd out of space (database at 95 % of its quota)
 * Derived per-cell values go to samples with source "summary": apiserver_requests{code},
 * apf_rejected, etcd_leader_changes, etcd_db_size_bytes, nodes_lost, pods_running_max (the
 * agents' Running pods at the fullest scrape), load_seconds, orchestrator_cpu_share (turbokube's
 * CPU over the load against everything measured); each round also records source "run"
 * nodes_ready and nodes_lost (the node watch), and each phase its phase_seconds {phase}; cgroup
 * limits as read back go to source "cgroup" metrics cgroup_limit_cpu_millis and
 * cgroup_limit_memory_bytes {group}. */

#include <stdio.h>

#include "err.h"
#include "experiment.h"
#include "localcp.h"
#include "store.h"

struct sqlite3;

enum tk_run_format { TK_RUN_TABLE = 0, TK_RUN_JSON };

struct tk_run_opts {
    const char *file;          /* the experiment file */
    const char *db_path;       /* NULL: results/turbokube.db */
    int resume;                /* continue the latest experiment of this name */
    int keep;                  /* leave each cell's cluster and agents running */
    enum tk_run_format format; /* of the summary */
    FILE *out;                 /* the summary (NULL: none) */
    FILE *progress;            /* live progress (NULL: none); a terminal gets one redrawn line */
    const char *agent_bin;     /* NULL: $TURBOKUBE_AGENT, else turbokube-agent beside this
                                  executable */
    const char *burner_bin;    /* NULL: $TURBOKUBE_KUBE_BURNER, else CACHE/bin/kube-burner */
};

struct tk_run_result {
    int64_t experiment; /* the experiments row */
    size_t cells;       /* in the plan */
    size_t complete, failed, aborted;
    size_t skipped; /* complete before a resume, or after a failed ramp step */
    int signo;      /* the signal that stopped the run, 0 for none */
};

/* Runs every cell of the experiment in o->file, as described above. *res (may be NULL) says
 * what happened. Returns 0 when the run went through (cells may still have failed: see res),
 * TK_EINVAL when the file is invalid (nothing was started), TK_EIO for the database, TK_ESTATE
 * when a signal stopped the run. */
int tk_run_experiment(const struct tk_run_opts *o, struct tk_run_result *res, struct tk_err *err);

/* ---- pieces, exported for tests ---------------------------------------------------------- */

/* Maps the cell's hosts and placement onto localcp's groups: the apiserver's host sizes the
 * control-plane group; etcd on another host gets a dedicated etcd group of that host's size;
 * scheduler and controller-manager together on another host (not etcd's) are offloaded into
 * an aux group of that host's size. Fills the sizing, datastore and offload fields of *o
 * (nothing else is touched). Returns 0, or -1 with why (at most n bytes) for what localcp
 * cannot do: provider kubeconfig, kine-postgres, 3 etcd members, latency between hosts,
 * scheduler and controller-manager on different hosts or on etcd's host. */
int tk_run_topology(const struct tk_cell_params *p, struct tk_localcp_opts *o, char *why, size_t n);

/* Node index range of agent process i (0-based) of the cell: agents take nodesPerAgent nodes
 * each, the last one the rest. */
void tk_run_agent_shard(const struct tk_cell_params *p, int64_t i, int64_t *index_start,
                        int64_t *nodes);

/* The SLIs are "p99 over 5 min". A window keeps an apiserver scrape (its request-duration
 * families only, tk_run_slo_families) at most every TK_SLO_KEEP_MS; the window ending at t
 * starts at the newest kept scrape at least TK_SLO_WINDOW_MS before t (the oldest kept, the
 * baseline, while the load is younger), so it spans 5 min to 5 min + TK_SLO_KEEP_MS. */
#define TK_SLO_WINDOW_MS (5 * 60 * 1000LL)
#define TK_SLO_KEEP_MS (30 * 1000LL)

struct tk_slo_mark {
    int64_t t_ms;
    char *text;
    size_t len;
};
struct tk_slo_window {
    struct tk_slo_mark *m; /* oldest first */
    size_t n;
};
/* The lines of apiserver_request_sli_duration_seconds_* and apiserver_request_duration_seconds_*
 * of a scrape, as a new string of *out_len bytes. */
char *tk_run_slo_families(const char *text, size_t len, size_t *out_len);
/* Keeps a copy of text as scraped at t_ms, unless the last kept one is younger than KEEP. */
void tk_slo_window_add(struct tk_slo_window *w, int64_t t_ms, const char *text, size_t len);
/* The start of the window ending at t_ms (NULL when nothing is kept); drops kept scrapes that
 * no later window can start at. */
const struct tk_slo_mark *tk_slo_window_start(struct tk_slo_window *w, int64_t t_ms);
void tk_slo_window_free(struct tk_slo_window *w);

struct tk_slo_violation {
    char what[112];   /* "slo:mutating POST pods", "slo:pod startup (Ready p99)" */
    double value;     /* observed p99, seconds */
    double threshold; /* seconds */
};

/* The SLOs of REFERENCE.md section 3 against the cell's thresholds: latency rows of
 * apiserver_request_sli_duration_seconds (those of apiserver_request_duration_seconds when no
 * SLI rows exist) without WATCH, WATCHLIST, CONNECT and the log, exec, portforward, attach and
 * proxy subresources; LIST and scope namespace|cluster against readOnlyClusterP99, GET
 * against readOnlyResourceP99, every other verb on single objects (scope resource) against
 * mutatingP99 (collection calls have no SLO); and the Ready condition
 * of kube-burner's pod latency against podStartupP99. Writes up to max violations to out and
 * returns how many there are (which may exceed max). rows and pl may be NULL with 0. */
size_t tk_run_slo_check(const struct tk_cell_params *p, const struct tk_latency_summary *rows,
                        size_t nrows, const struct tk_pod_latency *pl, size_t npl,
                        struct tk_slo_violation *out, size_t max);

/* What kube-burner's end means for the cell (REFERENCE.md section 2): wait_status as waitpid
 * gave it, killed_at_timeout when turbokube killed it past its timeout, pod_slo_exceeded when
 * the pod startup SLO check failed (exit 4 then only repeats that soft failure). Returns NULL
 * when the cell may pass, else the hard failure's reason. */
const char *tk_run_burner_verdict(int wait_status, int killed_at_timeout, int pod_slo_exceeded);

/* Prints what the database holds for experiment (its cells, in plan order): per cell its
 * status; apiserver p99 by verb and resource (SLI metric, the rows with the most requests),
 * apiserver -> etcd p99, etcd's WAL fsync and backend commit p99, pod startup quantiles, CPU
 * seconds and peak RSS of each control-plane component and of the whole control plane, and its
 * failure points. json: one object with a "cells" array holding the same. Returns 0, or TK_EIO
 * for a database or write error. */
int tk_run_print_summary(struct sqlite3 *db, int64_t experiment, enum tk_run_format format,
                         FILE *out, struct tk_err *err);

#endif
