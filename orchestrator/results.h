#ifndef TK_RESULTS_H
#define TK_RESULTS_H

/* What the readers of the results database (results, calculator, report) agree a cell is:
 * its parameters boiled down to a load (nodes, pods, churn), a control-plane size and a
 * topology, and its measurements boiled down to a few figures with an SLO verdict.
 * docs/results.md documents every definition; in short:
 *
 *   mutating p99        max over (verb, resource) of the p99 of POST/PUT/PATCH/DELETE/APPLY calls
 *                       (apiserver_request_sli_duration_seconds when recorded, else
 *                       apiserver_request_duration_seconds; subresources log, exec, portforward,
 *                       attach and proxy left out, as clusterloader2 does)
 *   read-only p99       the same for GET/LIST, split by scope: resource, and namespace|cluster
 *   pod startup p99     kube-burner's Ready p99 (max over jobs), seconds
 *   peak memory         sum of the peak RSS of the control-plane components (etcd or kine,
 *                       apiserver, scheduler, controller-manager), bytes
 *   memory utilisation  max over hosts of (peak RSS of the components placed there) / its memory
 *   CPU                 control-plane CPU seconds over the cell's wall time, in cores
 *
 * A cell met every SLO with headroom h when it completed, recorded no failure point, and each
 * latency figure it has is <= (1 - h) x its SLO and its memory utilisation <= 1 - h. Repeats of
 * one configuration (cells whose parameters differ only in "repeat") form a group, summarised
 * by the median and the spread (max - min) of each figure; a group met the SLOs when every
 * repeat completed without failure points and its medians are within the limits. */

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "store.h"

struct sqlite3;

#define TK_RES_MAX_HOSTS 8
#define TK_RES_DEFAULT_HEADROOM 0.2

enum tk_res_fig {
    TK_FIG_MUTATING_P99 = 0, /* seconds */
    TK_FIG_RO_RESOURCE_P99,  /* seconds */
    TK_FIG_RO_CLUSTER_P99,   /* seconds */
    TK_FIG_POD_STARTUP_P99,  /* seconds */
    TK_FIG_PEAK_MEMORY,      /* bytes */
    TK_FIG_MEMORY_UTIL,      /* fraction of the host's memory, 0..1+ */
    TK_FIG_CPU_CORES,        /* cores, averaged over the cell */
    TK_FIG_N
};
#define TK_FIG_NLATENCY 4 /* the first four figures are latencies with an SLO each */

enum tk_res_unit { TK_UNIT_SECONDS = 0, TK_UNIT_BYTES, TK_UNIT_FRACTION, TK_UNIT_CORES };

struct tk_res_fig_info {
    const char *column; /* export column: "mutating_p99_s", "peak_memory_bytes", ... */
    const char *name;   /* for --figure: "mutating-p99", "peak-memory", ... */
    const char *label;  /* for people: "mutating p99" */
    const char *head;   /* table heading, at most 8 characters: "MUT-P99" */
    enum tk_res_unit unit;
};

/* The description of figure f (static). */
const struct tk_res_fig_info *tk_res_fig_info(enum tk_res_fig f);

/* The figure named name (tk_res_fig_info's name or column), or -1. */
int tk_res_fig_parse(const char *name);

/* v in the figure's unit for people: "412ms", "1.25s", "3.1Gi", "61%", "1.80"; "-" for NaN.
 * Writes at most n bytes. */
void tk_res_fig_format(enum tk_res_fig f, double v, char *out, size_t n);

/* bytes as "16Gi", "1.5Gi", "512Mi", "900Ki", "12" (the shortest binary suffix that keeps
 * three significant digits). Writes at most n bytes. */
void tk_res_bytes_format(double bytes, char *out, size_t n);

struct tk_res_host {
    char name[32];
    int64_t cpu_milli;
    int64_t memory_bytes;
    double used_bytes; /* peak RSS of the components placed on it (NaN when unknown) */
};

struct tk_res_cell {
    int64_t row;            /* cells.id */
    int64_t experiment_row; /* experiments.id */
    char *experiment;       /* experiment name */
    char cell_id[13];
    char config_id[13]; /* tk_store_cell_id of the parameters without "repeat" */
    int64_t idx;
    int repeat;
    enum tk_cell_status status;
    char *exit_reason; /* NULL when none */
    char *params_json;
    cJSON *params;
    int64_t created_ms, started_ms, finished_ms; /* 0 when not set */

    /* from the parameters */
    int64_t nodes, pods;
    double churn_per_s;              /* objects deleted and recreated per second, 0 without churn */
    char topology[64];               /* "colocated", "dedicated-etcd", "dedicated-etcd/2ms", ... */
    char size[96];                   /* "4c/16Gi", or per host "cp:4c/8Gi,etcd:2c/4Gi" */
    int64_t cpu_milli, memory_bytes; /* totals over the hosts used */
    struct tk_res_host hosts[TK_RES_MAX_HOSTS];
    size_t nhosts;
    double slo_s[TK_FIG_NLATENCY]; /* the cell's SLO per latency figure, seconds */

    /* measured */
    double fig[TK_FIG_N]; /* NaN when not recorded */
    int soft_failures, hard_failures;
    char *first_failure; /* "what (value > threshold)" of the earliest failure point, or NULL */
    int64_t first_failure_t_ms;
    char *hardware; /* "cpu model, N cores, M memory, kernel K" per host, or NULL */
    char *versions; /* "etcd v3.6.5, kube-apiserver v1.36.3", or NULL */
};

struct tk_res_set {
    struct tk_res_cell *cells; /* ordered by experiment row, then idx */
    size_t n;
};

/* Reads every cell (of the experiment named experiment, or all when NULL) with its figures
 * from db (borrowed) into *out (caller releases with tk_res_set_release, also on error).
 * Errors: TK_EIO on a database error, TK_ENOTFOUND for an unknown experiment, TK_EINVAL when a
 * cell's parameters are not JSON. */
int tk_res_load(struct sqlite3 *db, const char *experiment, struct tk_res_set *out,
                struct tk_err *err);
void tk_res_set_release(struct tk_res_set *s);

/* Finds one cell by spec: a cell id or a unique prefix of one (at least 4 hex digits),
 * "EXPERIMENT/ID" to pick among experiments, or "#ROW" for the database row. *index is its
 * position in s. TK_ENOTFOUND, or TK_EINVAL when the spec is ambiguous (the message names the
 * candidates). */
int tk_res_find(const struct tk_res_set *s, const char *spec, size_t *index, struct tk_err *err);

/* 1 when fig[] (with SLOs slo_s, hosts' memory in fig[TK_FIG_MEMORY_UTIL]) is within every
 * limit with headroom (0..1), else 0 with the first reason in why (at most n bytes; may be
 * NULL). NaN figures are not judged. */
int tk_res_within_limits(const double *fig, const double *slo_s, double headroom, char *why,
                         size_t n);

/* 1 when the cell completed, recorded no failure point and is within the limits. */
int tk_res_cell_ok(const struct tk_res_cell *c, double headroom, char *why, size_t n);

/* Cells summarised together: repeats of a configuration, or every cell of one calculator
 * point. */
struct tk_res_group {
    size_t *members; /* indexes into the set */
    size_t n;
    double median[TK_FIG_N]; /* over the members that have the figure; NaN when none */
    double spread[TK_FIG_N]; /* max - min over them; 0 with one */
    int nfig[TK_FIG_N];      /* members that have the figure */
    int completed;           /* members complete without failure points */
    int ok;                  /* every member completed cleanly and the medians are within limits */
    char why[160];           /* when not ok: the first reason */
};

/* Fills g's figures from its members (g->members, g->n set by the caller). */
void tk_res_group_stats(const struct tk_res_set *s, struct tk_res_group *g, double headroom);

/* Groups the cells of s by config_id (first appearance order); *out (caller frees with
 * tk_res_groups_free) and *n. */
void tk_res_groups_by_config(const struct tk_res_set *s, double headroom, struct tk_res_group **out,
                             size_t *n);
void tk_res_groups_free(struct tk_res_group *g, size_t n);

/* The group in g[0..n) that holds cell index i, or NULL. */
const struct tk_res_group *tk_res_group_of(const struct tk_res_group *g, size_t n, size_t i);

/* The median of v[0..n) (NaN entries skipped; NaN when none). v is not modified. */
double tk_res_median(const double *v, size_t n);

/* Calls fn for each leaf of params as a dotted path and its value (strings bare, numbers as
 * printed, arrays as compact JSON), in key order. */
typedef void (*tk_res_param_fn)(void *ud, const char *path, const char *value);
void tk_res_params_each(const cJSON *params, tk_res_param_fn fn, void *ud);

/* ---- output helpers shared by the commands ---------------------------------------------- */

/* A text table sized to its contents and then fitted into a terminal width: columns are as
 * wide as their widest cell; when the total is wider than the terminal, the flexible column
 * (given to tk_table_print) shrinks first, then the widest left-aligned columns, never below
 * their heading; a cut cell ends in '~'. */
struct tk_table;

/* ncols columns with headings heads (copied) and align[i] 'l' or 'r' (align may be NULL:
 * all left). */
struct tk_table *tk_table_new(size_t ncols, const char *const *heads, const char *align);
void tk_table_free(struct tk_table *t);

/* Appends a row of ncols cells (copied; NULL prints as empty). */
void tk_table_add(struct tk_table *t, const char *const *cells);

/* As tk_table_add with the cells given as printf-less strings, one per column. */
void tk_table_addv(struct tk_table *t, ...);

/* Prints the table to f within width columns (0: unlimited); flex is the column to shrink
 * first (-1: none). Rows end in '\n' and carry no trailing blanks. */
void tk_table_print(const struct tk_table *t, FILE *f, int width, int flex);

/* The terminal width to fit tables into: $COLUMNS when set, else the terminal's when f is
 * one, else 80. */
int tk_term_width(FILE *f);

/* Writes s as a CSV field (quoted when it holds a comma, quote, CR or LF). NULL is empty. */
void tk_res_csv_field(FILE *f, const char *s);

/* Writes s HTML-escaped (& < > " '). */
void tk_res_html_escape(FILE *f, const char *s);

#endif
