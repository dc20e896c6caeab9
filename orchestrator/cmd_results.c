/* turbokube results: list, show, compare, export and query the results database, read-only. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cmd.h"
#include "json.h"
#include "results.h"
#include "store_read.h"

#define DEFAULT_DB "results/turbokube.db"

enum out_fmt { OUT_TABLE = 0, OUT_JSON, OUT_CSV };

struct opts {
    const char *db;
    const char *experiment;
    enum out_fmt out;
    int out_set;
    int width;
    double headroom;
    int groups;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: turbokube results [OPTIONS] list\n"
               "       turbokube results [OPTIONS] show CELL\n"
               "       turbokube results [OPTIONS] compare CELL CELL [CELL...]\n"
               "       turbokube results [OPTIONS] export [--format csv|json] [--groups]\n"
               "       turbokube results [OPTIONS] query SQL\n"
               "\n"
               "Reads the results database (never writes it). A CELL is its id or a unique\n"
               "prefix of at least 4 hex digits, EXPERIMENT/ID, or #ROW. Repeats of a\n"
               "configuration are summarised by their median and spread (max - min); compare\n"
               "flags differences smaller than that spread. docs/results.md defines every\n"
               "figure and export column.\n"
               "\n"
               "  --db PATH             the database (default " DEFAULT_DB ")\n"
               "  -o, --output FORMAT   table (default), json or csv\n"
               "  --format FORMAT       export: csv (default) or json\n"
               "  --groups              export: one row per configuration (median, spread)\n"
               "  -e, --experiment X    list and export: only experiment X\n"
               "  --headroom PCT        SLO verdicts need this much room (default 20)\n"
               "  --width N             fit tables into N columns (default: the terminal, 80)\n"
               "  -h, --help            this text\n");
}

/* ---- small formatting helpers ----------------------------------------------------------- */

static void fig_text(enum tk_res_fig f, double v, char *out, size_t n)
{
    tk_res_fig_format(f, v, out, n);
}

static void int_text(int64_t v, char *out, size_t n)
{
    snprintf(out, n, "%lld", (long long)v);
}

static void time_text(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!ms || !gmtime_r(&t, &tm)) {
        snprintf(out, n, "-");
        return;
    }
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void add_num(cJSON *o, const char *key, double v)
{
    if (isnan(v) || isinf(v))
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddNumberToObject(o, key, v);
}

static void add_str(cJSON *o, const char *key, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static void print_json(cJSON *j)
{
    char *s = cJSON_Print(j);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
    }
    free(s);
}

static void csv_num(double v)
{
    if (!isnan(v) && !isinf(v))
        printf("%.10g", v);
}

/* ---- export rows (shared by list --output json|csv and export) --------------------------- */

static const char *const cell_columns[] = {
    "experiment",
    "cell_id",
    "config_id",
    "idx",
    "repeat",
    "status",
    "exit_reason",
    "nodes",
    "pods",
    "churn_per_s",
    "topology",
    "size",
    "cpu_milli",
    "memory_bytes",
    "mutating_p99_s",
    "ro_resource_p99_s",
    "ro_cluster_p99_s",
    "pod_startup_p99_s",
    "peak_memory_bytes",
    "memory_utilization",
    "cpu_cores",
    "soft_failures",
    "hard_failures",
    "first_failure",
    "slo_ok",
    "created_ms",
    "started_ms",
    "finished_ms",
    "hardware",
    "versions",
    "params",
};
#define NCELL_COLUMNS (sizeof(cell_columns) / sizeof(cell_columns[0]))

static cJSON *cell_json(const struct tk_res_cell *c, double headroom)
{
    cJSON *o = cJSON_CreateObject();
    char why[160] = "";
    int ok = tk_res_cell_ok(c, headroom, why, sizeof(why));

    add_str(o, "experiment", c->experiment);
    add_str(o, "cell_id", c->cell_id);
    add_str(o, "config_id", c->config_id);
    cJSON_AddNumberToObject(o, "idx", (double)c->idx);
    cJSON_AddNumberToObject(o, "repeat", c->repeat);
    add_str(o, "status", tk_cell_status_name(c->status));
    add_str(o, "exit_reason", c->exit_reason);
    cJSON_AddNumberToObject(o, "nodes", (double)c->nodes);
    cJSON_AddNumberToObject(o, "pods", (double)c->pods);
    add_num(o, "churn_per_s", c->churn_per_s);
    add_str(o, "topology", c->topology);
    add_str(o, "size", c->size);
    cJSON_AddNumberToObject(o, "cpu_milli", (double)c->cpu_milli);
    cJSON_AddNumberToObject(o, "memory_bytes", (double)c->memory_bytes);
    for (int f = 0; f < TK_FIG_N; f++)
        add_num(o, tk_res_fig_info((enum tk_res_fig)f)->column, c->fig[f]);
    cJSON_AddNumberToObject(o, "soft_failures", c->soft_failures);
    cJSON_AddNumberToObject(o, "hard_failures", c->hard_failures);
    add_str(o, "first_failure", c->first_failure);
    cJSON_AddBoolToObject(o, "slo_ok", ok);
    if (!ok)
        add_str(o, "slo_reason", why);
    add_num(o, "created_ms", c->created_ms ? (double)c->created_ms : NAN);
    add_num(o, "started_ms", c->started_ms ? (double)c->started_ms : NAN);
    add_num(o, "finished_ms", c->finished_ms ? (double)c->finished_ms : NAN);
    add_str(o, "hardware", c->hardware);
    add_str(o, "versions", c->versions);
    cJSON_AddItemToObject(o, "params", cJSON_Duplicate(c->params, 1));
    return o;
}

static void cell_csv_header(void)
{
    for (size_t i = 0; i < NCELL_COLUMNS; i++)
        printf("%s%s", i ? "," : "", cell_columns[i]);
    putchar('\n');
}

static void csv_sep(void)
{
    putchar(',');
}

static void cell_csv(const struct tk_res_cell *c, double headroom)
{
    char *params = tk_json_print(c->params);

    tk_res_csv_field(stdout, c->experiment);
    printf(",%s,%s,%lld,%d,%s,", c->cell_id, c->config_id, (long long)c->idx, c->repeat,
           tk_cell_status_name(c->status));
    tk_res_csv_field(stdout, c->exit_reason);
    printf(",%lld,%lld,", (long long)c->nodes, (long long)c->pods);
    csv_num(c->churn_per_s);
    csv_sep();
    tk_res_csv_field(stdout, c->topology);
    csv_sep();
    tk_res_csv_field(stdout, c->size);
    printf(",%lld,%lld", (long long)c->cpu_milli, (long long)c->memory_bytes);
    for (int f = 0; f < TK_FIG_N; f++) {
        csv_sep();
        csv_num(c->fig[f]);
    }
    printf(",%d,%d,", c->soft_failures, c->hard_failures);
    tk_res_csv_field(stdout, c->first_failure);
    printf(",%d,", tk_res_cell_ok(c, headroom, NULL, 0));
    if (c->created_ms)
        printf("%lld", (long long)c->created_ms);
    csv_sep();
    if (c->started_ms)
        printf("%lld", (long long)c->started_ms);
    csv_sep();
    if (c->finished_ms)
        printf("%lld", (long long)c->finished_ms);
    csv_sep();
    tk_res_csv_field(stdout, c->hardware);
    csv_sep();
    tk_res_csv_field(stdout, c->versions);
    csv_sep();
    tk_res_csv_field(stdout, params);
    putchar('\n');
    free(params);
}

static cJSON *group_json(const struct tk_res_set *s, const struct tk_res_group *g)
{
    const struct tk_res_cell *c = &s->cells[g->members[0]];
    cJSON *o = cJSON_CreateObject(), *cells = cJSON_CreateArray();

    add_str(o, "experiment", c->experiment);
    add_str(o, "config_id", c->config_id);
    cJSON_AddNumberToObject(o, "repeats", (double)g->n);
    cJSON_AddNumberToObject(o, "completed", g->completed);
    cJSON_AddBoolToObject(o, "slo_ok", g->ok);
    if (!g->ok)
        add_str(o, "slo_reason", g->why);
    cJSON_AddNumberToObject(o, "nodes", (double)c->nodes);
    cJSON_AddNumberToObject(o, "pods", (double)c->pods);
    add_num(o, "churn_per_s", c->churn_per_s);
    add_str(o, "topology", c->topology);
    add_str(o, "size", c->size);
    cJSON_AddNumberToObject(o, "cpu_milli", (double)c->cpu_milli);
    cJSON_AddNumberToObject(o, "memory_bytes", (double)c->memory_bytes);
    for (int f = 0; f < TK_FIG_N; f++) {
        char key[64];
        const char *col = tk_res_fig_info((enum tk_res_fig)f)->column;
        snprintf(key, sizeof(key), "%s_median", col);
        add_num(o, key, g->median[f]);
        snprintf(key, sizeof(key), "%s_spread", col);
        add_num(o, key, g->spread[f]);
    }
    for (size_t m = 0; m < g->n; m++)
        cJSON_AddItemToArray(cells, cJSON_CreateString(s->cells[g->members[m]].cell_id));
    cJSON_AddItemToObject(o, "cells", cells);
    return o;
}

static void group_csv_header(void)
{
    printf("experiment,config_id,repeats,completed,slo_ok,nodes,pods,churn_per_s,topology,size,"
           "cpu_milli,memory_bytes");
    for (int f = 0; f < TK_FIG_N; f++) {
        const char *col = tk_res_fig_info((enum tk_res_fig)f)->column;
        printf(",%s_median,%s_spread", col, col);
    }
    printf(",cells\n");
}

static void group_csv(const struct tk_res_set *s, const struct tk_res_group *g)
{
    const struct tk_res_cell *c = &s->cells[g->members[0]];

    tk_res_csv_field(stdout, c->experiment);
    printf(",%s,%zu,%d,%d,%lld,%lld,", c->config_id, g->n, g->completed, g->ok, (long long)c->nodes,
           (long long)c->pods);
    csv_num(c->churn_per_s);
    csv_sep();
    tk_res_csv_field(stdout, c->topology);
    csv_sep();
    tk_res_csv_field(stdout, c->size);
    printf(",%lld,%lld", (long long)c->cpu_milli, (long long)c->memory_bytes);
    for (int f = 0; f < TK_FIG_N; f++) {
        csv_sep();
        csv_num(g->median[f]);
        csv_sep();
        csv_num(g->spread[f]);
    }
    putchar(',');
    for (size_t m = 0; m < g->n; m++)
        printf("%s%s", m ? " " : "", s->cells[g->members[m]].cell_id);
    putchar('\n');
}

/* ---- list ------------------------------------------------------------------------------- */

static int experiments_json(sqlite3 *db, const char *only, cJSON *arr)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(db,
                           "SELECT e.name, e.description, e.file, e.created_ms, "
                           "count(c.id), sum(c.status = 'complete'), sum(c.status = 'failed') "
                           "FROM experiments e LEFT JOIN cells c ON c.experiment = e.id "
                           "WHERE ?1 IS NULL OR e.name = ?1 GROUP BY e.id ORDER BY e.id",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (only)
        sqlite3_bind_text(st, 1, only, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        add_str(o, "name", (const char *)sqlite3_column_text(st, 0));
        add_str(o, "description", (const char *)sqlite3_column_text(st, 1));
        add_str(o, "file", (const char *)sqlite3_column_text(st, 2));
        cJSON_AddNumberToObject(o, "created_ms", (double)sqlite3_column_int64(st, 3));
        cJSON_AddNumberToObject(o, "cells", (double)sqlite3_column_int64(st, 4));
        cJSON_AddNumberToObject(o, "complete", (double)sqlite3_column_int64(st, 5));
        cJSON_AddNumberToObject(o, "failed", (double)sqlite3_column_int64(st, 6));
        cJSON_AddItemToArray(arr, o);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int do_list(sqlite3 *db, const struct opts *o, const struct tk_res_set *s)
{
    int wide = o->width >= 120;
    struct tk_table *t = NULL;
    const char *exp = NULL;
    int churn_col = 0;

    if (o->out == OUT_JSON) {
        cJSON *root = cJSON_CreateObject(), *exps = cJSON_CreateArray(),
              *cells = cJSON_CreateArray();
        if (experiments_json(db, o->experiment, exps)) {
            tk_cmd_fail("reading experiments: %s", sqlite3_errmsg(db));
            cJSON_Delete(root);
            cJSON_Delete(exps);
            cJSON_Delete(cells);
            return 1;
        }
        for (size_t i = 0; i < s->n; i++)
            cJSON_AddItemToArray(cells, cell_json(&s->cells[i], o->headroom));
        cJSON_AddItemToObject(root, "experiments", exps);
        cJSON_AddItemToObject(root, "cells", cells);
        print_json(root);
        cJSON_Delete(root);
        return 0;
    }
    if (o->out == OUT_CSV) {
        cell_csv_header();
        for (size_t i = 0; i < s->n; i++)
            cell_csv(&s->cells[i], o->headroom);
        return 0;
    }
    if (s->n == 0) {
        printf("no cells recorded yet (turbokube run EXPERIMENT fills the database)\n");
        return 0;
    }
    for (size_t i = 0; i <= s->n; i++) {
        const struct tk_res_cell *c = i < s->n ? &s->cells[i] : NULL;
        if (!c || !exp || strcmp(exp, c->experiment)) {
            if (exp) {
                tk_table_print(t, stdout, o->width, wide ? (churn_col ? 14 : 13) : 9);
                tk_table_free(t);
            }
            if (!c)
                break;
            exp = c->experiment;
            {
                size_t n = 0, done = 0;
                for (size_t k = i; k < s->n && !strcmp(s->cells[k].experiment, exp); k++) {
                    n++;
                    done += s->cells[k].status == TK_CELL_COMPLETE;
                }
                printf("%sexperiment %s: %zu cells, %zu complete\n", i ? "\n" : "", exp, n, done);
            }
            churn_col = 0;
            for (size_t k = i; k < s->n && !strcmp(s->cells[k].experiment, exp); k++)
                churn_col |= s->cells[k].churn_per_s > 0;
            if (wide) {
                /* CHURN only when some cell churns: the SLO reason needs the room */
                static const char *const heads[] = {"CELL",    "R",       "STATUS",   "NODES",
                                                    "PODS",    "CHURN",   "TOPOLOGY", "SIZE",
                                                    "MUT-P99", "GET-P99", "LIST-P99", "POD-P99",
                                                    "MEM",     "CPU",     "SLO"};
                static const char *const heads_nochurn[] = {
                    "CELL",    "R",       "STATUS",   "NODES",   "PODS", "TOPOLOGY", "SIZE",
                    "MUT-P99", "GET-P99", "LIST-P99", "POD-P99", "MEM",  "CPU",      "SLO"};
                t = churn_col ? tk_table_new(15, heads, "lrlrrrllrrrrrrl")
                              : tk_table_new(14, heads_nochurn, "lrlrrllrrrrrrl");
            } else {
                static const char *const heads[] = {"CELL", "R",       "STATUS",  "NODES", "PODS",
                                                    "SIZE", "MUT-P99", "POD-P99", "MEM",   "SLO"};
                t = tk_table_new(10, heads, "lrlrrlrrrl");
            }
        }
        {
            char rep[16], nodes[24], pods[24], churn[24], f[TK_FIG_N][32], verdict[200];
            char why[160] = "";
            int ok = tk_res_cell_ok(c, o->headroom, why, sizeof(why));
            snprintf(rep, sizeof(rep), "%d", c->repeat);
            int_text(c->nodes, nodes, sizeof(nodes));
            int_text(c->pods, pods, sizeof(pods));
            snprintf(churn, sizeof(churn), "%g", c->churn_per_s);
            for (int k = 0; k < TK_FIG_N; k++)
                fig_text((enum tk_res_fig)k, c->fig[k], f[k], sizeof(f[k]));
            if (c->status == TK_CELL_PENDING || c->status == TK_CELL_RUNNING)
                snprintf(verdict, sizeof(verdict), "-");
            else if (ok)
                snprintf(verdict, sizeof(verdict), "ok");
            else
                snprintf(verdict, sizeof(verdict), "FAIL %s", wide ? why : "");
            if (!wide && !ok && strlen(verdict) > 4)
                verdict[4] = '\0';
            if (wide && !churn_col)
                tk_table_addv(t, c->cell_id, rep, tk_cell_status_name(c->status), nodes, pods,
                              c->topology, c->size, f[TK_FIG_MUTATING_P99],
                              f[TK_FIG_RO_RESOURCE_P99], f[TK_FIG_RO_CLUSTER_P99],
                              f[TK_FIG_POD_STARTUP_P99], f[TK_FIG_PEAK_MEMORY], f[TK_FIG_CPU_CORES],
                              verdict);
            else if (wide)
                tk_table_addv(t, c->cell_id, rep, tk_cell_status_name(c->status), nodes, pods,
                              churn, c->topology, c->size, f[TK_FIG_MUTATING_P99],
                              f[TK_FIG_RO_RESOURCE_P99], f[TK_FIG_RO_CLUSTER_P99],
                              f[TK_FIG_POD_STARTUP_P99], f[TK_FIG_PEAK_MEMORY], f[TK_FIG_CPU_CORES],
                              verdict);
            else
                tk_table_addv(t, c->cell_id, rep, tk_cell_status_name(c->status), nodes, pods,
                              c->size, f[TK_FIG_MUTATING_P99], f[TK_FIG_POD_STARTUP_P99],
                              f[TK_FIG_PEAK_MEMORY], verdict);
        }
    }
    return 0;
}

/* ---- show ------------------------------------------------------------------------------- */

/* The rows of one per-cell table as a table or JSON array of objects. */
static int dump_rows(sqlite3 *db, const char *title, const char *sql, int64_t row, int64_t start_ms,
                     int flex, const struct opts *o, cJSON *json_parent)
{
    sqlite3_stmt *st = NULL;
    struct tk_table *t = NULL;
    cJSON *arr = json_parent ? cJSON_CreateArray() : NULL;
    int rc, ncols, nrows = 0;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        tk_cmd_fail("%s: %s", title, sqlite3_errmsg(db));
        cJSON_Delete(arr);
        return 1;
    }
    sqlite3_bind_int64(st, 1, row);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_int64(st, 2, start_ms);
    ncols = sqlite3_column_count(st);
    if (!arr) {
        const char **heads = tk_xcalloc((size_t)ncols, sizeof(char *));
        char *align = tk_xcalloc((size_t)ncols + 1, 1);
        for (int i = 0; i < ncols; i++) {
            heads[i] = sqlite3_column_name(st, i);
            align[i] = 'l';
        }
        t = tk_table_new((size_t)ncols, heads, align);
        free(heads);
        free(align);
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        nrows++;
        if (arr) {
            cJSON *obj = cJSON_CreateObject();
            for (int i = 0; i < ncols; i++) {
                const char *name = sqlite3_column_name(st, i);
                switch (sqlite3_column_type(st, i)) {
                case SQLITE_INTEGER:
                case SQLITE_FLOAT:
                    add_num(obj, name, sqlite3_column_double(st, i));
                    break;
                case SQLITE_NULL:
                    cJSON_AddNullToObject(obj, name);
                    break;
                default:
                    add_str(obj, name, (const char *)sqlite3_column_text(st, i));
                }
            }
            cJSON_AddItemToArray(arr, obj);
        } else {
            const char **cells = tk_xcalloc((size_t)ncols, sizeof(char *));
            char(*num)[32] = tk_xcalloc((size_t)ncols, sizeof(*num));
            for (int i = 0; i < ncols; i++) {
                if (sqlite3_column_type(st, i) == SQLITE_FLOAT) {
                    snprintf(num[i], sizeof(num[i]), "%.4g", sqlite3_column_double(st, i));
                    cells[i] = num[i];
                } else {
                    cells[i] = (const char *)sqlite3_column_text(st, i);
                }
            }
            tk_table_add(t, cells);
            free(cells);
            free(num);
        }
    }
    if (rc != SQLITE_DONE)
        tk_cmd_fail("%s: %s", title, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (arr) {
        cJSON_AddItemToObject(json_parent, title, arr);
    } else {
        if (nrows) {
            printf("\n%s\n", title);
            tk_table_print(t, stdout, o->width, flex);
        } else {
            printf("\n%s: none\n", title);
        }
        tk_table_free(t);
    }
    return rc == SQLITE_DONE ? 0 : 1;
}

struct param_print {
    struct tk_table *t;
    cJSON *obj;
};

static void param_row(void *ud, const char *path, const char *value)
{
    struct param_print *pp = ud;
    tk_table_addv(pp->t, path, value);
}

/* Per-cell tables: everything for JSON, a narrower selection for people. ?1 is the cell's
 * row, ?2 its start time (for times relative to it). */
static const struct {
    const char *title, *json_sql, *text_sql;
    int flex;
} cell_tables[] = {
    {"latency_summaries",
     "SELECT source, metric, verb, resource, subresource, scope, count, p50, p90, p99, "
     "max_bucket, reset FROM latency_summaries WHERE cell = ?1 "
     "ORDER BY source, metric, verb, resource, subresource, scope",
     "SELECT CASE metric WHEN 'apiserver_request_sli_duration_seconds' THEN 'sli' "
     "WHEN 'apiserver_request_duration_seconds' THEN 'all' "
     "WHEN 'etcd_request_duration_seconds' THEN 'etcd' ELSE metric END AS hist, "
     "verb, resource, subresource AS sub, scope, CAST(count AS INTEGER) AS count, "
     "round(p50, 4) AS p50_s, round(p90, 4) AS p90_s, round(p99, 4) AS p99_s, "
     "round(max_bucket, 4) AS max_le FROM latency_summaries WHERE cell = ?1 "
     "ORDER BY metric DESC, verb, resource, subresource, scope",
     2},
    {"pod_latency",
     "SELECT job, condition, p50, p95, p99, min, max, avg FROM pod_latency WHERE cell = ?1 "
     "ORDER BY job, condition",
     "SELECT job, condition, round(p50) AS p50_ms, round(p95) AS p95_ms, round(p99) AS p99_ms, "
     "round(min) AS min_ms, round(max) AS max_ms, round(avg) AS avg_ms FROM pod_latency "
     "WHERE cell = ?1 ORDER BY job, condition",
     0},
    {"job_summaries",
     "SELECT job, start_ms, end_ms, elapsed_s, passed, version, k8s_version, total_nodes, "
     "iterations, qps, burst, errors FROM job_summaries WHERE cell = ?1 ORDER BY job",
     "SELECT job, elapsed_s, passed, version, k8s_version, iterations, qps, errors "
     "FROM job_summaries WHERE cell = ?1 ORDER BY job",
     7},
    {"usage",
     "SELECT component, cpu_seconds, peak_rss_bytes FROM usage WHERE cell = ?1 "
     "ORDER BY component",
     "SELECT component, round(cpu_seconds, 2) AS cpu_seconds, "
     "round(peak_rss_bytes / 1048576.0, 1) AS peak_rss_mib FROM usage WHERE cell = ?1 "
     "ORDER BY component",
     0},
    {"host_facts",
     "SELECT host, cpu_model, cores, memory_bytes, kernel FROM host_facts WHERE cell = ?1 "
     "ORDER BY host",
     "SELECT host, cpu_model, cores, round(memory_bytes / 1073741824.0, 2) AS memory_gib, kernel "
     "FROM host_facts WHERE cell = ?1 ORDER BY host",
     1},
    {"component_versions",
     "SELECT component, version FROM component_versions WHERE cell = ?1 ORDER BY component",
     "SELECT component, version FROM component_versions WHERE cell = ?1 ORDER BY component", 1},
    {"artifacts", "SELECT kind, path FROM artifacts WHERE cell = ?1 ORDER BY kind, path",
     "SELECT kind, path FROM artifacts WHERE cell = ?1 ORDER BY kind, path", 1},
    {"samples",
     "SELECT source, metric, count(*) AS samples, count(DISTINCT labels) AS series, "
     "min(t_ms) AS first_ms, max(t_ms) AS last_ms FROM samples WHERE cell = ?1 "
     "GROUP BY source, metric ORDER BY source, metric",
     "SELECT source, metric, count(*) AS samples, count(DISTINCT labels) AS series, "
     "round((min(t_ms) - ?2) / 1000.0, 1) AS from_s, round((max(t_ms) - ?2) / 1000.0, 1) AS to_s "
     "FROM samples WHERE cell = ?1 GROUP BY source, metric ORDER BY source, metric",
     1},
};

static const char failures_json_sql[] =
    "SELECT t_ms, kind, what, value, threshold, detail FROM failure_points WHERE cell = ?1 "
    "ORDER BY t_ms, id";
static const char failures_text_sql[] =
    "SELECT printf('%+.1fs', (t_ms - ?2) / 1000.0) AS t, kind, what, value, threshold, detail "
    "FROM failure_points WHERE cell = ?1 ORDER BY t_ms, id";

static int do_show(sqlite3 *db, const struct opts *o, const struct tk_res_set *s, const char *spec)
{
    struct tk_err err = {0};
    struct tk_res_group *groups = NULL;
    const struct tk_res_group *g;
    const struct tk_res_cell *c;
    size_t ng = 0, idx;
    char why[160] = "", a[32], b[32], t1[32], t2[32];
    int ok, rc = 0;

    if (tk_res_find(s, spec, &idx, &err)) {
        tk_cmd_fail("%s", err.msg);
        return 1;
    }
    c = &s->cells[idx];
    tk_res_groups_by_config(s, o->headroom, &groups, &ng);
    g = tk_res_group_of(groups, ng, idx);
    ok = tk_res_cell_ok(c, o->headroom, why, sizeof(why));

    if (o->out == OUT_JSON) {
        cJSON *root = cell_json(c, o->headroom);
        cJSON_AddItemToObject(root, "group", group_json(s, g));
        rc |= dump_rows(db, "failure_points", failures_json_sql, c->row, 0, -1, o, root);
        for (size_t i = 0; i < sizeof(cell_tables) / sizeof(cell_tables[0]); i++)
            rc |= dump_rows(db, cell_tables[i].title, cell_tables[i].json_sql, c->row, 0, -1, o,
                            root);
        print_json(root);
        cJSON_Delete(root);
        tk_res_groups_free(groups, ng);
        return rc;
    }
    if (o->out == OUT_CSV) {
        cell_csv_header();
        cell_csv(c, o->headroom);
        tk_res_groups_free(groups, ng);
        return 0;
    }

    printf("cell %s  experiment %s, index %lld, repeat %d\n", c->cell_id, c->experiment,
           (long long)c->idx, c->repeat);
    printf("config    %s (%zu repeat%s)\n", c->config_id, g->n, g->n == 1 ? "" : "s");
    printf("status    %s%s%s\n", tk_cell_status_name(c->status), c->exit_reason ? ": " : "",
           c->exit_reason ? c->exit_reason : "");
    time_text(c->started_ms, t1, sizeof(t1));
    time_text(c->finished_ms, t2, sizeof(t2));
    printf("ran       %s to %s", t1, t2);
    if (c->started_ms && c->finished_ms > c->started_ms)
        printf(" (%.0f s)", (double)(c->finished_ms - c->started_ms) / 1000);
    putchar('\n');
    if (c->soft_failures + c->hard_failures)
        printf("failures  %d hard, %d soft, first %s\n", c->hard_failures, c->soft_failures,
               c->first_failure);
    rc |= dump_rows(db, "failure points", failures_text_sql, c->row, c->started_ms, 5, o, NULL);
    printf("\nverdict   %s%s (headroom %.0f%%)\n", ok ? "met every SLO" : "FAILED: ", ok ? "" : why,
           o->headroom * 100);
    printf("load      %lld nodes, %lld pods, churn %g/s\n", (long long)c->nodes, (long long)c->pods,
           c->churn_per_s);
    printf("size      %s  (topology %s)\n", c->size, c->topology);
    if (c->hardware)
        printf("hardware  %s\n", c->hardware);
    if (c->versions)
        printf("versions  %s\n", c->versions);
    {
        static const char *const heads[] = {"FIGURE", "CELL", "LIMIT", "MEDIAN", "SPREAD"};
        struct tk_table *t = tk_table_new(5, heads, "lrrrr");
        printf("\nfigures (median and spread over the %zu repeat%s of this configuration)\n", g->n,
               g->n == 1 ? "" : "s");
        for (int f = 0; f < TK_FIG_N; f++) {
            char lim[32] = "", med[32], spr[32];
            fig_text((enum tk_res_fig)f, c->fig[f], a, sizeof(a));
            if (f < TK_FIG_NLATENCY)
                fig_text((enum tk_res_fig)f, c->slo_s[f] * (1 - o->headroom), lim, sizeof(lim));
            else if (f == TK_FIG_MEMORY_UTIL)
                fig_text((enum tk_res_fig)f, 1 - o->headroom, lim, sizeof(lim));
            fig_text((enum tk_res_fig)f, g->median[f], med, sizeof(med));
            fig_text((enum tk_res_fig)f, g->spread[f], spr, sizeof(spr));
            tk_table_addv(t, tk_res_fig_info((enum tk_res_fig)f)->label, a, lim, med, spr);
        }
        tk_table_print(t, stdout, o->width, 0);
        tk_table_free(t);
    }
    for (size_t i = 0; i < c->nhosts; i++) {
        tk_res_bytes_format((double)c->hosts[i].memory_bytes, a, sizeof(a));
        tk_res_bytes_format(c->hosts[i].used_bytes, b, sizeof(b));
        printf("host %-10s %g cores, %s memory, control plane peak %s\n", c->hosts[i].name,
               (double)c->hosts[i].cpu_milli / 1000, a, b);
    }
    for (size_t i = 0; i < sizeof(cell_tables) / sizeof(cell_tables[0]); i++)
        rc |= dump_rows(db, cell_tables[i].title, cell_tables[i].text_sql, c->row, c->started_ms,
                        cell_tables[i].flex, o, NULL);
    {
        static const char *const heads[] = {"PARAMETER", "VALUE"};
        struct param_print pp = {tk_table_new(2, heads, "ll"), NULL};
        printf("\nparameters\n");
        tk_res_params_each(c->params, param_row, &pp);
        tk_table_print(pp.t, stdout, o->width, 1);
        tk_table_free(pp.t);
    }
    tk_res_groups_free(groups, ng);
    return rc;
}

/* ---- compare ---------------------------------------------------------------------------- */

struct kv {
    char *path, *value;
};
struct kvs {
    struct kv *v;
    size_t n, alloc;
};

static void kv_add(void *ud, const char *path, const char *value)
{
    struct kvs *k = ud;
    if (k->n == k->alloc) {
        k->alloc = k->alloc ? 2 * k->alloc : 64;
        k->v = tk_xrealloc(k->v, k->alloc * sizeof(*k->v));
    }
    k->v[k->n].path = tk_xstrdup(path);
    k->v[k->n].value = tk_xstrdup(value);
    k->n++;
}

static const char *kv_get(const struct kvs *k, const char *path)
{
    for (size_t i = 0; i < k->n; i++)
        if (!strcmp(k->v[i].path, path))
            return k->v[i].value;
    return NULL;
}

static void kvs_free(struct kvs *k)
{
    for (size_t i = 0; i < k->n; i++) {
        free(k->v[i].path);
        free(k->v[i].value);
    }
    free(k->v);
}

static void value_spread(enum tk_res_fig f, double med, double spread, size_t n, char *out,
                         size_t len)
{
    char a[32], b[32];
    fig_text(f, med, a, sizeof(a));
    if (n > 1 && !isnan(spread)) {
        fig_text(f, spread, b, sizeof(b));
        /* A narrow column may cut the spread; the median stays whole. */
        if (snprintf(out, len, "%s ±%s", a, b) >= (int)len && len > 0)
            out[len - 1] = '\0';
    } else {
        snprintf(out, len, "%s", a);
    }
}

static void diff_text(enum tk_res_fig f, double d, char *out, size_t n)
{
    char a[32];
    if (isnan(d)) {
        snprintf(out, n, "-");
        return;
    }
    fig_text(f, fabs(d), a, sizeof(a));
    snprintf(out, n, "%s%s", d < 0 ? "-" : "+", a);
}

/* Whether the difference between two groups is within the noise of their repeats: smaller
 * than the larger of the two spreads. -1 when neither has repeats (no noise estimate). */
static int within_spread(const struct tk_res_group *a, const struct tk_res_group *b, int f)
{
    double d = fabs(b->median[f] - a->median[f]), sp;
    if (a->nfig[f] < 2 && b->nfig[f] < 2)
        return -1;
    sp = fmax(a->nfig[f] > 1 ? a->spread[f] : 0, b->nfig[f] > 1 ? b->spread[f] : 0);
    return d < sp || d == 0;
}

static int do_compare(const struct opts *o, const struct tk_res_set *s, char **specs, int nspecs)
{
    struct tk_err err = {0};
    struct tk_res_group *groups = NULL;
    const struct tk_res_group **g = tk_xcalloc((size_t)nspecs, sizeof(*g));
    size_t *idx = tk_xcalloc((size_t)nspecs, sizeof(*idx)), ng = 0;
    struct kvs *kv = tk_xcalloc((size_t)nspecs, sizeof(*kv));
    cJSON *root = NULL;
    int rc = 1;

    for (int i = 0; i < nspecs; i++)
        if (tk_res_find(s, specs[i], &idx[i], &err)) {
            tk_cmd_fail("%s", err.msg);
            goto done;
        }
    tk_res_groups_by_config(s, o->headroom, &groups, &ng);
    for (int i = 0; i < nspecs; i++) {
        g[i] = tk_res_group_of(groups, ng, idx[i]);
        tk_res_params_each(s->cells[idx[i]].params, kv_add, &kv[i]);
    }

    if (o->out == OUT_JSON) {
        cJSON *cells = cJSON_CreateArray(), *diffs = cJSON_CreateArray(),
              *params = cJSON_CreateArray();
        root = cJSON_CreateObject();
        for (int i = 0; i < nspecs; i++) {
            cJSON *gj = group_json(s, g[i]);
            cJSON_AddStringToObject(gj, "spec", specs[i]);
            cJSON_AddStringToObject(gj, "cell_id", s->cells[idx[i]].cell_id);
            cJSON_AddItemToArray(cells, gj);
        }
        for (int i = 1; i < nspecs; i++)
            for (int f = 0; f < TK_FIG_N; f++) {
                cJSON *d = cJSON_CreateObject();
                double a = g[0]->median[f], b = g[i]->median[f];
                int w = within_spread(g[0], g[i], f);
                cJSON_AddStringToObject(d, "figure", tk_res_fig_info((enum tk_res_fig)f)->column);
                cJSON_AddStringToObject(d, "base", s->cells[idx[0]].cell_id);
                cJSON_AddStringToObject(d, "cell", s->cells[idx[i]].cell_id);
                add_num(d, "diff", b - a);
                add_num(d, "ratio", a != 0 ? b / a : NAN);
                if (w < 0 || isnan(a) || isnan(b))
                    cJSON_AddNullToObject(d, "within_spread");
                else
                    cJSON_AddBoolToObject(d, "within_spread", w);
                cJSON_AddItemToArray(diffs, d);
            }
        for (size_t k = 0; k < kv[0].n; k++) {
            int differ = 0;
            for (int i = 1; i < nspecs; i++) {
                const char *v = kv_get(&kv[i], kv[0].v[k].path);
                differ |= !v || strcmp(v, kv[0].v[k].value);
            }
            if (differ && strcmp(kv[0].v[k].path, "repeat")) {
                cJSON *p = cJSON_CreateObject(), *vals = cJSON_CreateArray();
                cJSON_AddStringToObject(p, "path", kv[0].v[k].path);
                for (int i = 0; i < nspecs; i++) {
                    const char *v = kv_get(&kv[i], kv[0].v[k].path);
                    cJSON_AddItemToArray(vals, v ? cJSON_CreateString(v) : cJSON_CreateNull());
                }
                cJSON_AddItemToObject(p, "values", vals);
                cJSON_AddItemToArray(params, p);
            }
        }
        cJSON_AddItemToObject(root, "cells", cells);
        cJSON_AddItemToObject(root, "params", params);
        cJSON_AddItemToObject(root, "differences", diffs);
        print_json(root);
        rc = 0;
        goto done;
    }
    if (o->out == OUT_CSV) {
        printf("figure,base,cell,base_median,base_spread,median,spread,diff,ratio,"
               "within_spread\n");
        for (int i = 1; i < nspecs; i++)
            for (int f = 0; f < TK_FIG_N; f++) {
                double a = g[0]->median[f], b = g[i]->median[f];
                int w = within_spread(g[0], g[i], f);
                printf("%s,%s,%s,", tk_res_fig_info((enum tk_res_fig)f)->column,
                       s->cells[idx[0]].cell_id, s->cells[idx[i]].cell_id);
                csv_num(a);
                csv_sep();
                csv_num(g[0]->spread[f]);
                csv_sep();
                csv_num(b);
                csv_sep();
                csv_num(g[i]->spread[f]);
                csv_sep();
                csv_num(b - a);
                csv_sep();
                csv_num(a != 0 ? b / a : NAN);
                printf(",%s\n", w < 0 || isnan(a) || isnan(b) ? "" : w ? "1" : "0");
            }
        rc = 0;
        goto done;
    }

    {
        static const char *const heads[] = {"",      "CELL", "SIZE",    "TOPOLOGY",
                                            "NODES", "PODS", "REPEATS", "SLO"};
        struct tk_table *t = tk_table_new(8, heads, "lllrrrrl");
        for (int i = 0; i < nspecs; i++) {
            const struct tk_res_cell *c = &s->cells[idx[i]];
            char letter[4], cell[64], nodes[24], pods[24], reps[24];
            snprintf(letter, sizeof(letter), "%c", 'A' + i % 26);
            snprintf(cell, sizeof(cell), "%s/%s", c->experiment, c->cell_id);
            int_text(c->nodes, nodes, sizeof(nodes));
            int_text(c->pods, pods, sizeof(pods));
            snprintf(reps, sizeof(reps), "%zu", g[i]->n);
            tk_table_addv(t, letter, cell, c->size, c->topology, nodes, pods, reps,
                          g[i]->ok ? "ok" : "FAIL");
        }
        tk_table_print(t, stdout, o->width, 3);
        tk_table_free(t);
    }
    {
        const char **heads = tk_xcalloc((size_t)nspecs + 1, sizeof(char *));
        char *align = tk_xcalloc((size_t)nspecs + 2, 1);
        char(*names)[4] = tk_xcalloc((size_t)nspecs, sizeof(*names));
        struct tk_table *t;
        int any = 0;
        heads[0] = "PARAMETER";
        align[0] = 'l';
        for (int i = 0; i < nspecs; i++) {
            snprintf(names[i], sizeof(names[i]), "%c", 'A' + i % 26);
            heads[i + 1] = names[i];
            align[i + 1] = 'l';
        }
        t = tk_table_new((size_t)nspecs + 1, heads, align);
        for (size_t k = 0; k < kv[0].n; k++) {
            const char **row = tk_xcalloc((size_t)nspecs + 1, sizeof(char *));
            int differ = 0;
            row[0] = kv[0].v[k].path;
            for (int i = 0; i < nspecs; i++) {
                row[i + 1] = kv_get(&kv[i], kv[0].v[k].path);
                differ |= !row[i + 1] || strcmp(row[i + 1], kv[0].v[k].value);
            }
            if (differ && strcmp(kv[0].v[k].path, "repeat")) {
                tk_table_add(t, row);
                any = 1;
            }
            free(row);
        }
        printf("\n");
        if (any)
            tk_table_print(t, stdout, o->width, 0);
        else
            printf("the parameters are the same (apart from the repeat)\n");
        tk_table_free(t);

        heads[0] = "FIGURE";
        align[0] = 'l';
        for (int i = 0; i < nspecs; i++)
            align[i + 1] = 'r';
        t = tk_table_new((size_t)nspecs + 1, heads, align);
        for (int f = 0; f < TK_FIG_N; f++) {
            const char **row = tk_xcalloc((size_t)nspecs + 1, sizeof(char *));
            char(*vals)[48] = tk_xcalloc((size_t)nspecs, sizeof(*vals));
            row[0] = tk_res_fig_info((enum tk_res_fig)f)->label;
            for (int i = 0; i < nspecs; i++) {
                value_spread((enum tk_res_fig)f, g[i]->median[f], g[i]->spread[f], g[i]->n, vals[i],
                             sizeof(vals[i]));
                row[i + 1] = vals[i];
            }
            tk_table_add(t, row);
            free(row);
            free(vals);
        }
        printf("\nmedian ± spread over the repeats\n");
        tk_table_print(t, stdout, o->width, 0);
        tk_table_free(t);
        free(heads);
        free(align);
        free(names);
    }
    for (int i = 1; i < nspecs; i++) {
        static const char *const heads[] = {"FIGURE", "DIFF", "RATIO", "NOTE"};
        struct tk_table *t = tk_table_new(4, heads, "lrrl");
        int noisy = 0;
        printf("\n%c against A\n", 'A' + i % 26);
        for (int f = 0; f < TK_FIG_N; f++) {
            double a = g[0]->median[f], b = g[i]->median[f];
            char d[40], r[32];
            int w = within_spread(g[0], g[i], f);
            const char *note = "";
            diff_text((enum tk_res_fig)f, b - a, d, sizeof(d));
            if (!isnan(a) && !isnan(b) && a != 0)
                snprintf(r, sizeof(r), "%.2fx", b / a);
            else
                snprintf(r, sizeof(r), "-");
            if (isnan(a) || isnan(b))
                note = "";
            else if (w > 0) {
                note = "~ within the spread of repeats";
                noisy++;
            } else if (w < 0)
                note = "? no repeats to judge noise";
            tk_table_addv(t, tk_res_fig_info((enum tk_res_fig)f)->label, d, r, note);
        }
        tk_table_print(t, stdout, o->width, 3);
        tk_table_free(t);
        if (noisy)
            printf("(%d difference%s smaller than the spread between repeats: not significant)\n",
                   noisy, noisy == 1 ? " is" : "s are");
    }
    rc = 0;
done:
    for (int i = 0; i < nspecs; i++)
        kvs_free(&kv[i]);
    free(kv);
    free(g);
    free(idx);
    cJSON_Delete(root);
    tk_res_groups_free(groups, ng);
    return rc;
}

/* ---- export ----------------------------------------------------------------------------- */

static int do_export(const struct opts *o, const struct tk_res_set *s)
{
    if (o->groups) {
        struct tk_res_group *g = NULL;
        size_t ng = 0;
        tk_res_groups_by_config(s, o->headroom, &g, &ng);
        if (o->out == OUT_JSON) {
            cJSON *arr = cJSON_CreateArray();
            for (size_t i = 0; i < ng; i++)
                cJSON_AddItemToArray(arr, group_json(s, &g[i]));
            print_json(arr);
            cJSON_Delete(arr);
        } else {
            group_csv_header();
            for (size_t i = 0; i < ng; i++)
                group_csv(s, &g[i]);
        }
        tk_res_groups_free(g, ng);
        return 0;
    }
    if (o->out == OUT_JSON) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < s->n; i++)
            cJSON_AddItemToArray(arr, cell_json(&s->cells[i], o->headroom));
        print_json(arr);
        cJSON_Delete(arr);
        return 0;
    }
    cell_csv_header();
    for (size_t i = 0; i < s->n; i++)
        cell_csv(&s->cells[i], o->headroom);
    return 0;
}

/* ---- query ------------------------------------------------------------------------------ */

struct qstate {
    const struct opts *o;
    struct tk_table *t;
    cJSON *arr;
    int stmt;
};

static void q_flush(struct qstate *q)
{
    if (q->t) {
        tk_table_print(q->t, stdout, q->o->width, -1);
        tk_table_free(q->t);
        q->t = NULL;
    }
}

static int q_header(void *ud, int stmt, int ncols, const char *const *names)
{
    struct qstate *q = ud;
    if (q->o->out == OUT_TABLE) {
        q_flush(q);
        if (stmt > 0)
            putchar('\n');
        q->t = tk_table_new((size_t)ncols, names, NULL);
    } else if (q->o->out == OUT_CSV) {
        if (stmt > 0)
            putchar('\n');
        for (int i = 0; i < ncols; i++) {
            if (i)
                putchar(',');
            tk_res_csv_field(stdout, names[i]);
        }
        putchar('\n');
    }
    q->stmt = stmt;
    return 0;
}

static int q_row(void *ud, int stmt, int ncols, const char *const *names, const char *const *values,
                 const int *types)
{
    struct qstate *q = ud;
    (void)stmt;
    if (q->o->out == OUT_TABLE) {
        const char **cells = tk_xcalloc((size_t)ncols, sizeof(char *));
        for (int i = 0; i < ncols; i++)
            cells[i] = values[i] ? values[i] : "NULL";
        tk_table_add(q->t, cells);
        free(cells);
    } else if (q->o->out == OUT_CSV) {
        for (int i = 0; i < ncols; i++) {
            if (i)
                putchar(',');
            tk_res_csv_field(stdout, values[i]);
        }
        putchar('\n');
    } else {
        cJSON *obj = cJSON_CreateObject();
        for (int i = 0; i < ncols; i++) {
            if (types[i] == SQLITE_NULL)
                cJSON_AddNullToObject(obj, names[i]);
            else if (types[i] == SQLITE_INTEGER || types[i] == SQLITE_FLOAT)
                cJSON_AddNumberToObject(obj, names[i], strtod(values[i], NULL));
            else
                cJSON_AddStringToObject(obj, names[i], values[i] ? values[i] : "");
        }
        cJSON_AddItemToArray(q->arr, obj);
    }
    return 0;
}

static int do_query(sqlite3 *db, const struct opts *o, const char *sql)
{
    struct qstate q = {o, NULL, o->out == OUT_JSON ? cJSON_CreateArray() : NULL, 0};
    struct tk_err err = {0};
    int rc = tk_store_query(db, sql, q_header, q_row, &q, &err);

    if (rc) {
        tk_table_free(q.t);
        cJSON_Delete(q.arr);
        tk_cmd_fail("query: %s", err.msg);
        return 1;
    }
    q_flush(&q);
    if (q.arr)
        print_json(q.arr);
    cJSON_Delete(q.arr);
    return 0;
}

/* ---- the command ------------------------------------------------------------------------ */

static int parse_out(const char *s, enum out_fmt *out)
{
    if (!strcmp(s, "table"))
        *out = OUT_TABLE;
    else if (!strcmp(s, "json"))
        *out = OUT_JSON;
    else if (!strcmp(s, "csv"))
        *out = OUT_CSV;
    else
        return -1;
    return 0;
}

int cmd_results(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},
        {"groups", no_argument, NULL, 'g'},
        {"experiment", required_argument, NULL, 'e'},
        {"headroom", required_argument, NULL, 'H'},
        {"width", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct opts o = {DEFAULT_DB, NULL, OUT_TABLE, 0, 0, TK_RES_DEFAULT_HEADROOM, 0};
    struct tk_res_set set = {0};
    struct tk_err err = {0};
    sqlite3 *db = NULL;
    const char *sub;
    int c, rc = 1, nargs, fmt_set = 0;
    char *end;

    while ((c = getopt_long(argc, argv, "o:e:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.db = optarg;
            break;
        case 'o':
        case 'f':
            if (parse_out(optarg, &o.out) || (c == 'f' && o.out == OUT_TABLE)) {
                tk_cmd_fail("--%s '%s': want %s", c == 'o' ? "output" : "format", optarg,
                            c == 'o' ? "table, json or csv" : "csv or json");
                return 2;
            }
            fmt_set |= c == 'f';
            o.out_set = 1;
            break;
        case 'g':
            o.groups = 1;
            break;
        case 'e':
            o.experiment = optarg;
            break;
        case 'H':
            o.headroom = strtod(optarg, &end) / 100;
            if (*end || end == optarg || o.headroom < 0 || o.headroom >= 1) {
                tk_cmd_fail("--headroom '%s': want a percentage from 0 to 99", optarg);
                return 2;
            }
            break;
        case 'w':
            o.width = (int)strtol(optarg, &end, 10);
            if (*end || o.width < 40) {
                tk_cmd_fail("--width '%s': want a number of columns, at least 40", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    if (!o.width)
        o.width = tk_term_width(stdout);
    sub = argv[optind++];
    nargs = argc - optind;
    if (!strcmp(sub, "export")) {
        if (!o.out_set)
            o.out = OUT_CSV;
        if (o.out == OUT_TABLE) {
            tk_cmd_fail("export writes csv or json");
            return 2;
        }
    } else if (fmt_set || o.groups) {
        tk_cmd_fail("--format and --groups are for export (use --output)");
        return 2;
    }
    if ((!strcmp(sub, "list") && nargs != 0) || (!strcmp(sub, "export") && nargs != 0) ||
        (!strcmp(sub, "show") && nargs != 1) || (!strcmp(sub, "compare") && nargs < 2) ||
        (!strcmp(sub, "query") && nargs != 1)) {
        usage(stderr);
        return 2;
    }
    if (strcmp(sub, "list") && strcmp(sub, "show") && strcmp(sub, "compare") &&
        strcmp(sub, "export") && strcmp(sub, "query")) {
        tk_cmd_fail("results: '%s' is not list, show, compare, export or query", sub);
        return 2;
    }
    if (tk_store_open_readonly(&db, o.db, &err)) {
        tk_cmd_fail("%s", err.msg);
        return 1;
    }
    if (!strcmp(sub, "query")) {
        rc = do_query(db, &o, argv[optind]);
        goto done;
    }
    if (tk_res_load(db, strcmp(sub, "list") && strcmp(sub, "export") ? NULL : o.experiment, &set,
                    &err)) {
        tk_cmd_fail("%s", err.msg);
        goto done;
    }
    if (!strcmp(sub, "list"))
        rc = do_list(db, &o, &set);
    else if (!strcmp(sub, "show"))
        rc = do_show(db, &o, &set, argv[optind]);
    else if (!strcmp(sub, "compare"))
        rc = do_compare(&o, &set, argv + optind, nargs);
    else
        rc = do_export(&o, &set);
done:
    tk_res_set_release(&set);
    tk_store_close_readonly(db);
    return rc;
}
