#ifndef TK_BURNER_H
#define TK_BURNER_H

/* kube-burner v2 (pinned v2.7.3; REFERENCE.md section 2): rendering a job from a cell's load
 * shape, the command line that runs it, and reading what it wrote.
 *
 * Rendered configs are plain YAML that kube-burner's strict parser accepts: only v2 keys, no
 * template actions of its own (kube-burner renders the config as a Go template and a stray
 * "{{" would be fatal), preLoadImages off (fake nodes run no DaemonSet), one podLatency
 * measurement whose Ready P99 threshold is the cell's pod startup SLO, and a local indexer
 * writing into <dir>/metrics. Object templates use only {{.JobName}}, {{.Iteration}},
 * {{.Replica}} and their own inputVars, and pin pods to fake nodes with the node label
 * turbokube.io/fake=true, so a kubeconfig cluster's real nodes are never loaded.
 *
 *   node-density     one namespace "node-density", nodes x podsPerNode pause pods
 *   cluster-density  namespaces iterations, one namespace each ("cluster-density-N"), holding
 *                    configmaps, secrets, services and deployments x replicas pause pods
 *   custom           the user's config, run from its own directory (paths in it are relative
 *                    to that); a copy is kept in the cell directory for the record */

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "experiment.h"
#include "store.h"

/* kube-burner's exit codes. */
enum {
    TK_BURNER_EXIT_OK = 0,
    TK_BURNER_EXIT_ERROR = 1,
    TK_BURNER_EXIT_TIMEOUT = 2,
    TK_BURNER_EXIT_ALERT = 3,
    TK_BURNER_EXIT_MEASUREMENT = 4, /* a threshold exceeded, or latency errors above 10 % */
};

/* What an exit code means, for exit reasons and logs ("timeout", "measurement threshold
 * exceeded or error rate above 10%", ...). */
const char *tk_burner_exit_reason(int code);

/* One object template: file name under templates/ and its text. */
struct tk_burner_template {
    const char *name;
    const char *text;
};

/* The job name kube-burner will use for p's shape ("node-density", "cluster-density"; custom:
 * NULL, the user's config names its jobs). */
const char *tk_burner_job_name(const struct tk_cell_params *p);

/* The config YAML for p (node-density or cluster-density; caller frees). NULL for custom. */
char *tk_burner_config(const struct tk_cell_params *p);

/* The object templates p's config refers to: *out points at a static array (borrowed), the
 * return value is its length (0 for custom). */
size_t tk_burner_templates(const struct tk_cell_params *p, const struct tk_burner_template **out);

/* Where a rendered job lives. Every string is owned (tk_burner_job_release). */
struct tk_burner_job {
    char *workdir;     /* run kube-burner here: template paths in the config are relative */
    char *config_path; /* its -c */
    char *metrics_dir; /* where the local indexer writes; NULL for custom (unknown) */
    char *job;         /* job name whose files to read; NULL for custom */
};

/* Writes p's job into dir (created if missing): dir/config.yml, dir/templates/NAME.yml (or, for
 * custom, a copy of the user's config as dir/config.yml while the job runs from its own
 * directory). Fills *out. Errors: TK_EIO (cannot create or write), TK_EINVAL. */
int tk_burner_render(const struct tk_cell_params *p, const char *dir, struct tk_burner_job *out,
                     struct tk_err *err);

/* Frees what j owns and zeroes it. */
void tk_burner_job_release(struct tk_burner_job *j);

/* argv for `BINARY init -c CONFIG --uuid UUID --timeout T --skip-log-file [--kubeconfig K]`,
 * NULL-terminated; caller frees with tk_burner_argv_free. kubeconfig may be NULL. */
char **tk_burner_argv(const char *binary, const struct tk_burner_job *j, const char *uuid,
                      int64_t timeout_ns, const char *kubeconfig);
void tk_burner_argv_free(char **argv);

/* Parses a podLatencyQuantilesMeasurement file (a JSON array of documents; len bytes of text,
 * borrowed). Documents whose metricName is not podLatencyQuantilesMeasurement are skipped; a
 * document without jobName gets default_job. Each needs quantileName and numbers P99, P95,
 * P50, max and avg (ms); min is NaN when absent (kube-burner before v2). *out (caller frees)
 * and *n. TK_EINVAL "what: item N: ..." on malformed input. */
int tk_burner_parse_quantiles(const char *text, size_t len, const char *what,
                              const char *default_job, struct tk_pod_latency **out, size_t *n,
                              struct tk_err *err);

/* Parses jobSummary.json (a JSON array, one document per job): jobConfig.name, timestamp and
 * endTimestamp (RFC 3339) as Unix ms, elapsedTime, passed (absent: 1 when executionErrors is
 * empty), version, executionErrors, and when reported k8sVersion and totalNodes; the job's
 * jobIterations, qps and burst. *out (caller frees) and *n. TK_EINVAL on malformed input. */
int tk_burner_parse_job_summary(const char *text, size_t len, const char *what,
                                struct tk_job_summary **out, size_t *n, struct tk_err *err);

/* Reads metrics_dir/podLatencyQuantilesMeasurement-JOB.json and metrics_dir/jobSummary.json.
 * A missing file is TK_ENOTFOUND (naming it), other read errors TK_EIO, parse errors as above;
 * *out is then NULL. */
int tk_burner_read_quantiles(const char *metrics_dir, const char *job, struct tk_pod_latency **out,
                             size_t *n, struct tk_err *err);
int tk_burner_read_job_summary(const char *metrics_dir, struct tk_job_summary **out, size_t *n,
                               struct tk_err *err);

/* RFC 3339 ("2025-10-14T09:21:36.612337404Z", "...+02:00") to Unix milliseconds (fraction
 * truncated). Returns 0, or -1 when s is not such a time. */
int tk_burner_parse_time(const char *s, int64_t *ms);

#endif
