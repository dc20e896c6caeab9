#ifndef TK_REPORT_H
#define TK_REPORT_H

/* The HTML report: one self-contained file (no script, no network: every chart is inline SVG
 * drawn here) for a set of cells.
 *
 * Per experiment touched: the matrix as a heat map of one figure (rows the loads, columns the
 * control-plane sizes, repeats as their median; failed points outlined and marked).
 * Per cell: its verdict, load and size, and four charts over the cell's time:
 *   - latency p99 per verb and resource, per scrape interval. From recorded per-interval p99
 *     gauges (samples named apiserver_request_sli_p99_seconds or
 *     apiserver_request_p99_seconds, labels verb, resource, subresource, scope), or computed
 *     with histogram_quantile from recorded cumulative buckets (samples named
 *     apiserver_request_sli_duration_seconds_bucket or apiserver_request_duration_seconds_bucket
 *     with an le label; other labels summed, counter resets taken as Prometheus does). The SLI
 *     family wins over the plain one; WATCH, CONNECT and the log/exec/portforward/attach/proxy
 *     subresources are left out; at most the 8 busiest series.
 *   - CPU (cores) and memory (bytes) per component: proc_cpu_seconds / proc_rss_bytes when
 *     recorded, else process_cpu_seconds_total / process_resident_memory_bytes, per source;
 *     cgroup_cpu_seconds / cgroup_memory_bytes per group; agent-* sources summed as "agents".
 *     CPU is the increase between samples over the time between them.
 *   - pod startup: the cumulative distribution through kube-burner's quantiles (min, p50, p95,
 *     p99, max) per condition.
 * Failure points are marked on the timelines (a dashed line, red for hard, orange for soft)
 * and listed. Times are seconds from the cell's start. */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "results.h"

struct sqlite3;

struct tk_report_opts {
    const char *db_path;  /* shown in the header */
    const char *command;  /* the command that regenerates the file */
    int64_t generated_ms; /* wall clock */
    enum tk_res_fig heat_figure;
    double headroom;
};

/* Writes the report of cells idx[0..n) of s (indexes into s->cells; read from db, borrowed)
 * to f. Errors: TK_EIO when reading the database fails. */
int tk_report_write(FILE *f, struct sqlite3 *db, const struct tk_res_set *s, const size_t *idx,
                    size_t n, const struct tk_report_opts *o, struct tk_err *err);

/* One series of a line chart: n points (x[i], y[i]), x ascending. */
struct tk_report_series {
    char name[96];
    double *x, *y;
    size_t n, alloc;
};

/* A vertical marker on a chart (a failure point). */
struct tk_report_mark {
    double x;
    int hard;
    const char *label;
};

/* Writes one SVG line chart (a <figure> with id holding <svg class="tk-chart">): title, the x
 * axis' label (x is in seconds), the y unit ("s", "cores", "bytes", "%" for shares 0..1),
 * series and marks. With no points at all it writes a note instead ("no samples recorded"). */
void tk_report_svg_lines(FILE *f, const char *id, const char *title, const char *xlabel,
                         const char *yunit, const struct tk_report_series *s, size_t ns,
                         const struct tk_report_mark *marks, size_t nmarks);

/* Appends (x, y) to s (NaN y skipped). */
void tk_report_series_add(struct tk_report_series *s, double x, double y);
void tk_report_series_release(struct tk_report_series *s);

/* Parses canonical labels (k="v",... with \\ \" \n escapes, as lib/store stores them) and
 * copies the value of name into out (at most n bytes). Returns 0, or -1 when absent (out ""). */
int tk_report_label(const char *labels, const char *name, char *out, size_t n);

#endif
