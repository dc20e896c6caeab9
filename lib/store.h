#ifndef TK_STORE_H
#define TK_STORE_H

/* The results database (SQLite): what every run records and every report reads.
 *
 * One file (default results/turbokube.db) in WAL mode with synchronous=FULL and foreign keys on.
 * The schema is created and upgraded by migrations numbered by PRAGMA user_version, each in its
 * own transaction, so opening an old database upgrades it and opening a current one changes
 * nothing; a database newer than this code is refused. Tables (DESIGN.md's data model):
 *
 *   experiments        name, description, file, spec (the file's text), created_ms
 *   cells              experiment, idx, cell_id (12 hex, stable), params (canonical JSON),
 *                      status pending|running|complete|failed|aborted, exit_reason,
 *                      created_ms, started_ms, finished_ms, dir; unique (experiment, cell_id)
 *   host_facts         per cell and host: cpu_model, cores, memory_bytes, kernel
 *   component_versions per cell and component: version
 *   samples            cell, t_ms, source, metric, labels (canonical k="v",...), value
 *   latency_summaries  cell, source, metric, verb, resource, subresource, scope, count, p50,
 *                      p90, p99 (seconds), max_bucket (le of the highest non-empty bucket)
 *   pod_latency        cell, job, condition, p50, p95, p99, min, max, avg (ms, kube-burner's)
 *   job_summaries      cell, job, start_ms, end_ms, elapsed_s, passed, version, k8s_version,
 *                      total_nodes, iterations, qps, burst, errors
 *   usage              cell, component, cpu_seconds, peak_rss_bytes
 *   failure_points     cell, t_ms, kind soft|hard, what, value, threshold, detail
 *   artifacts          cell, kind, path
 * Times are Unix milliseconds (wall clock). Deleting a cell deletes everything recorded for it.
 *
 * Writes: every tk_store_add_* call is atomic on its own (a savepoint). A run groups a phase's
 * writes with tk_store_begin/tk_store_commit, so a crash loses at most the phase in flight.
 * One tk_store is used by one thread. */

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define TK_STORE_SCHEMA_VERSION 1

struct tk_store;
struct sqlite3;

enum tk_cell_status {
    TK_CELL_PENDING = 0,
    TK_CELL_RUNNING,
    TK_CELL_COMPLETE,
    TK_CELL_FAILED,
    TK_CELL_ABORTED,
};

/* "pending", "running", ...; tk_cell_status_parse returns -1 for an unknown name. */
const char *tk_cell_status_name(enum tk_cell_status s);
int tk_cell_status_parse(const char *name);

/* Opens (creating when missing, with its parent directories) the database at path, enables
 * WAL and runs pending migrations. On success *out is the store (close with tk_store_close).
 * Errors: TK_EIO (cannot create the directory or open the file, a migration failed),
 * TK_ESTATE (the database's schema is newer than TK_STORE_SCHEMA_VERSION). *out is NULL then. */
int tk_store_open(struct tk_store **out, const char *path, struct tk_err *err);

/* Closes the store; a transaction still open is rolled back. NULL-safe. */
void tk_store_close(struct tk_store *st);

/* The schema version the open database is at (PRAGMA user_version). */
int tk_store_schema_version(struct tk_store *st);

/* The underlying connection, for readers (results, calculator, tests). Borrowed. */
struct sqlite3 *tk_store_db(struct tk_store *st);

/* A phase: BEGIN IMMEDIATE ... COMMIT. Nested begins are TK_ESTATE. rollback is a no-op when
 * no phase is open. */
int tk_store_begin(struct tk_store *st, struct tk_err *err);
int tk_store_commit(struct tk_store *st, struct tk_err *err);
void tk_store_rollback(struct tk_store *st);

/* ---- cell ids ------------------------------------------------------------------------- */

/* params_json with every object's keys sorted (recursively), printed compactly; caller frees.
 * Equal JSON values give equal text whatever the key order or whitespace. TK_EINVAL when
 * params_json is not one JSON object; NULL then. */
char *tk_store_canonical_json(const char *params_json, struct tk_err *err);

/* The stable id of a cell: the first 12 hex digits of SHA-256(tk_store_canonical_json(params)),
 * written to out (13 bytes with the NUL). Returns 0 or TK_EINVAL. */
int tk_store_cell_id(const char *params_json, char out[13], struct tk_err *err);

/* ---- experiments and cells -------------------------------------------------------------- */

/* Records an experiment. name is required; the others may be NULL. *id is its row id. */
int tk_store_add_experiment(struct tk_store *st, const char *name, const char *description,
                            const char *file, const char *spec, int64_t *id, struct tk_err *err);

/* The most recent experiment with this name: *id, or TK_ENOTFOUND. */
int tk_store_find_experiment(struct tk_store *st, const char *name, int64_t *id,
                             struct tk_err *err);

/* Adds cell cell_id (status pending) to experiment exp, or finds it when already there (so a
 * resumed run reuses its cells). *row is the cell's row id; *status (may be NULL) its status. */
int tk_store_add_cell(struct tk_store *st, int64_t exp, int64_t idx, const char *cell_id,
                      const char *params_json, int64_t *row, enum tk_cell_status *status,
                      struct tk_err *err);

/* Sets a cell's status and exit reason (may be NULL). running stamps started_ms; complete,
 * failed and aborted stamp finished_ms. TK_ENOTFOUND for an unknown row. */
int tk_store_set_cell_status(struct tk_store *st, int64_t row, enum tk_cell_status status,
                             const char *exit_reason, struct tk_err *err);

/* Records the cell's working directory (logs, kube-burner config and outputs). */
int tk_store_set_cell_dir(struct tk_store *st, int64_t row, const char *dir, struct tk_err *err);

/* Deletes everything recorded for the cell (samples, summaries, ...) and sets it pending again:
 * for a rerun after an abort. The cell row keeps its id. */
int tk_store_reset_cell(struct tk_store *st, int64_t row, struct tk_err *err);

/* ---- per-cell records ------------------------------------------------------------------- */

struct tk_host_facts {
    const char *host;      /* placement host name, or "local" */
    const char *cpu_model; /* /proc/cpuinfo "model name" */
    int64_t cores;
    int64_t memory_bytes;
    const char *kernel; /* uname -r */
};
/* Records one host's facts for the cell (strings borrowed; replaces an earlier row for the same
 * host). TK_EIO on a database error, also when cell does not exist (foreign key). */
int tk_store_add_host_facts(struct tk_store *st, int64_t cell, const struct tk_host_facts *f,
                            struct tk_err *err);

/* One component's version ("kube-apiserver", "v1.36.3"); replaces an earlier one. */
int tk_store_add_component_version(struct tk_store *st, int64_t cell, const char *component,
                                   const char *version, struct tk_err *err);

struct tk_store_sample {
    int64_t t_ms;
    const char *source; /* "apiserver", "etcd", "agent-0", "cgroup" ... */
    const char *metric;
    const char *labels; /* canonical labels ("" for none) */
    double value;       /* NaN is stored as NULL */
};
/* Adds n samples in one transaction (all or none). */
int tk_store_add_samples(struct tk_store *st, int64_t cell, const struct tk_store_sample *s,
                         size_t n, struct tk_err *err);

struct tk_latency_summary {
    char *metric;      /* apiserver_request_duration_seconds, ..._sli_..., etcd_request_... */
    char *verb;        /* apiserver: verb; etcd: operation */
    char *resource;    /* "pods"; non-core groups as "deployments.apps"; etcd: type or resource */
    char *subresource; /* "" when none */
    char *scope;       /* resource|namespace|cluster, "" for etcd */
    double count;      /* requests between the two scrapes */
    double p50, p90, p99;
    double max_bucket; /* le of the highest non-empty bucket (+Inf possible) */
    int reset;         /* 1 when a counter reset was seen in one of the series */
};

/* Latency summaries of the requests made between two scrapes of one component (Prometheus text,
 * borrowed): for apiserver_request_duration_seconds and apiserver_request_sli_duration_seconds,
 * one row per (metric, verb, resource, subresource, scope); for etcd_request_duration_seconds,
 * one per (operation, type or resource). Series differing in other labels (version, component,
 * dry_run) are added up; each series' buckets are the increase between the scrapes (a decrease
 * is a counter reset and takes the new value, as Prometheus does), and quantiles are
 * histogram_quantile over the summed buckets. Groups with no requests are left out; before may
 * be NULL (everything is new). Rows are sorted by metric, verb, resource, subresource, scope.
 * *rows (caller frees with tk_latency_summaries_free) and *n; TK_EINVAL on a parse error. */
int tk_latency_summarize(const char *before, size_t before_len, const char *after, size_t after_len,
                         struct tk_latency_summary **rows, size_t *n, struct tk_err *err);
void tk_latency_summaries_free(struct tk_latency_summary *rows, size_t n);

/* Stores one summary row for source ("apiserver"); replaces an earlier one with the same key. */
int tk_store_add_latency_summary(struct tk_store *st, int64_t cell, const char *source,
                                 const struct tk_latency_summary *s, struct tk_err *err);

/* tk_latency_summarize + tk_store_add_latency_summary for every row, in one transaction.
 * *nrows (may be NULL) receives the number of rows written. */
int tk_store_add_latency_from_scrapes(struct tk_store *st, int64_t cell, const char *source,
                                      const char *before, size_t before_len, const char *after,
                                      size_t after_len, size_t *nrows, struct tk_err *err);

/* kube-burner's podLatencyQuantilesMeasurement: one row per job and condition, in ms. */
struct tk_pod_latency {
    char job[64];
    char condition[48]; /* PodScheduled, Initialized, ContainersReady, Ready, ... */
    double p50, p95, p99, min, max, avg;
};
/* Stores n rows (NaN as NULL) in one transaction; a row with the same (job, condition)
 * replaces the earlier one. */
int tk_store_add_pod_latency(struct tk_store *st, int64_t cell, const struct tk_pod_latency *q,
                             size_t n, struct tk_err *err);

/* kube-burner's jobSummary.json: one row per job. */
struct tk_job_summary {
    char job[64];
    int64_t start_ms, end_ms; /* timestamp, endTimestamp */
    double elapsed_s;
    int passed;
    char version[64];     /* kube-burner's own */
    char k8s_version[48]; /* "" when not reported */
    int64_t total_nodes;  /* -1 when not reported */
    int64_t iterations;
    double qps;
    int64_t burst;
    char errors[256]; /* executionErrors, truncated */
};
/* Stores one job's summary; replaces an earlier row for the same job. */
int tk_store_add_job_summary(struct tk_store *st, int64_t cell, const struct tk_job_summary *j,
                             struct tk_err *err);

/* A component's CPU seconds and peak RSS over the cell; replaces an earlier row. */
int tk_store_add_usage(struct tk_store *st, int64_t cell, const char *component, double cpu_seconds,
                       int64_t peak_rss_bytes, struct tk_err *err);

enum tk_failure_kind { TK_FAILURE_SOFT = 0, TK_FAILURE_HARD };
struct tk_failure_point {
    int64_t t_ms;
    enum tk_failure_kind kind;
    const char *what;   /* "slo:mutating POST pods", "kube-burner timeout", "oom:etcd" */
    double value;       /* observed (NaN when none) */
    double threshold;   /* limit (NaN when none) */
    const char *detail; /* may be NULL */
};
/* Appends a failure point (strings borrowed; NaN value/threshold stored as NULL). */
int tk_store_add_failure(struct tk_store *st, int64_t cell, const struct tk_failure_point *f,
                         struct tk_err *err);

/* A file kept with the cell ("kube-burner-config", "log:kube-apiserver", ...). */
int tk_store_add_artifact(struct tk_store *st, int64_t cell, const char *kind, const char *path,
                          struct tk_err *err);

#endif
