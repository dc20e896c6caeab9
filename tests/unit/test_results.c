/* turbokube results (list, show, compare, export, query) and the read-only store, on the
 * recorded fixture experiment of tests/results_fixture.h. */
#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmdrun.h"
#include "json.h"
#include "results.h"
#include "results_fixture.h"
#include "store_read.h"
#include "tktest.h"

static const char *fixture(void)
{
    static char path[192];
    if (!path[0]) {
        struct tk_err err = {0};
        snprintf(path, sizeof(path), "%s", cr_path("fixture.db"));
        if (fx_build(path, &err)) {
            fprintf(stderr, "fixture: %s\n", err.msg);
            abort();
        }
    }
    return path;
}

#define DB "--db", (char *)fixture()

static double model_mut(double nodes, double cores, double mem_gi, int repeat)
{
    return fx_model_at(nodes, cores).mut * fx_wobble(nodes, cores, mem_gi) *
           fx_repeat_factor(repeat);
}

/* ---- the model behind the commands ------------------------------------------------------- */

TK_TEST(load_derives_load_size_topology_and_figures)
{
    sqlite3 *db = NULL;
    struct tk_err err = {0};
    struct tk_res_set s = {0};
    size_t i;
    const struct tk_res_cell *c;

    CHECK_INT(tk_store_open_readonly(&db, fixture(), &err), 0);
    CHECK_INT(tk_res_load(db, NULL, &s, &err), 0);
    CHECK_INT(s.n, 51);
    /* 2 cores, 8Gi, 2000 nodes, second repeat: the cell that failed */
    CHECK_INT(tk_res_find(&s, "2ea11c12af15", &i, &err), 0);
    c = &s.cells[i];
    CHECK_STR(c->experiment, "sizing");
    CHECK_INT(c->nodes, 2000);
    CHECK_INT(c->pods, 20000);
    CHECK_INT(c->repeat, 1);
    CHECK_INT(c->status, TK_CELL_FAILED);
    CHECK_STR(c->size, "2c/8Gi");
    CHECK_STR(c->topology, "colocated");
    CHECK_INT(c->cpu_milli, 2000);
    CHECK_INT(c->memory_bytes, 8LL << 30);
    CHECK_INT(c->hard_failures, 1);
    CHECK_INT(c->soft_failures, 1);
    CHECK_CONTAINS(c->first_failure, "slo:mutating POST pods");
    /* the SLI histogram's POST pods, not the plain one (3x) and not pods/log or WATCH */
    CHECK_NEAR(c->fig[TK_FIG_MUTATING_P99], model_mut(2000, 2, 8, 1), 1e-9);
    CHECK_NEAR(c->fig[TK_FIG_RO_CLUSTER_P99],
               fx_model_at(2000, 2).list * fx_wobble(2000, 2, 8) * 1.02, 1e-9);
    CHECK_NEAR(c->fig[TK_FIG_POD_STARTUP_P99],
               fx_model_at(2000, 2).pod * fx_wobble(2000, 2, 8) * 1.02, 1e-6);
    /* control plane only: agent-0 and kube-burner left out */
    CHECK_NEAR(c->fig[TK_FIG_PEAK_MEMORY] / c->fig[TK_FIG_PEAK_MEMORY], 1, 0);
    CHECK_NEAR(c->fig[TK_FIG_PEAK_MEMORY],
               fx_model_at(2000, 2).mem_bytes * fx_wobble(2000, 2, 8) * 1.02, 8);
    CHECK_NEAR(c->fig[TK_FIG_MEMORY_UTIL], c->fig[TK_FIG_PEAK_MEMORY] / (8.0 * (1 << 30)), 1e-9);
    CHECK_NEAR(c->fig[TK_FIG_CPU_CORES], 2 * fx_wobble(2000, 2, 8) * 1.02, 1e-9);
    CHECK_CONTAINS(c->hardware, "Fixture CPU");
    CHECK_CONTAINS(c->versions, "kube-apiserver v1.36.3");
    CHECK(!tk_res_cell_ok(c, 0.2, NULL, 0));

    /* repeats share a configuration id */
    {
        size_t j;
        CHECK_INT(tk_res_find(&s, "c14870776c7f", &j, &err), 0);
        CHECK_STR(s.cells[j].config_id, c->config_id);
        CHECK(strcmp(s.cells[j].cell_id, c->cell_id) != 0);
    }
    /* dedicated etcd: two hosts, etcd's memory on its own host */
    CHECK_INT(tk_res_find(&s, "topology/d695e9086004", &i, &err), 0);
    c = &s.cells[i];
    CHECK_STR(c->topology, "dedicated-etcd");
    CHECK_STR(c->size, "cp:4c/8Gi,etcd:2c/4Gi");
    CHECK_INT(c->nhosts, 2);
    CHECK_NEAR(c->hosts[1].used_bytes / c->fig[TK_FIG_PEAK_MEMORY], 0.25, 1e-9);
    CHECK_NEAR(c->fig[TK_FIG_MEMORY_UTIL], c->hosts[0].used_bytes / (8.0 * (1 << 30)), 1e-9);

    /* finding cells */
    CHECK_INT(tk_res_find(&s, "#1", &i, &err), 0);
    CHECK_INT(s.cells[i].row, 1);
    err = (struct tk_err){0};
    CHECK_INT(tk_res_find(&s, "ffffffff", &i, &err), TK_ENOTFOUND);
    err = (struct tk_err){0};
    CHECK_INT(tk_res_find(&s, "ab", &i, &err), TK_EINVAL);
    tk_res_set_release(&s);
    tk_store_close_readonly(db);
}

TK_TEST(groups_take_median_and_spread)
{
    sqlite3 *db = NULL;
    struct tk_err err = {0};
    struct tk_res_set s = {0};
    struct tk_res_group *g = NULL;
    const struct tk_res_group *gg;
    size_t n = 0, i;
    double a, b;

    CHECK_INT(tk_store_open_readonly(&db, fixture(), &err), 0);
    CHECK_INT(tk_res_load(db, "sizing", &s, &err), 0);
    CHECK_INT(s.n, 48);
    tk_res_groups_by_config(&s, 0.2, &g, &n);
    CHECK_INT(n, 24);
    CHECK_INT(tk_res_find(&s, "a360428927e7", &i, &err), 0); /* 4c/8Gi, 1000 nodes */
    gg = tk_res_group_of(g, n, i);
    CHECK(gg != NULL);
    CHECK_INT(gg->n, 2);
    a = model_mut(1000, 4, 8, 0);
    b = model_mut(1000, 4, 8, 1);
    CHECK_NEAR(gg->median[TK_FIG_MUTATING_P99], (a + b) / 2, 1e-12);
    CHECK_NEAR(gg->spread[TK_FIG_MUTATING_P99], b - a, 1e-12);
    CHECK(gg->ok);
    /* 4c/8Gi at 2000 nodes: clean runs, but memory above 80 % of the host */
    CHECK_INT(tk_res_find(&s, "88872080b111", &i, &err), 0);
    gg = tk_res_group_of(g, n, i);
    CHECK(!gg->ok);
    CHECK_CONTAINS(gg->why, "memory");
    CHECK_INT(gg->completed, 2);
    tk_res_groups_free(g, n);
    tk_res_set_release(&s);

    err = (struct tk_err){0};
    CHECK_INT(tk_res_load(db, "nope", &s, &err), TK_ENOTFOUND);
    tk_res_set_release(&s);
    CHECK_NEAR(tk_res_median((double[]){3, NAN, 1, 2}, 4), 2, 0);
    CHECK_NEAR(tk_res_median((double[]){4, 1}, 2), 2.5, 0);
    CHECK(isnan(tk_res_median((double[]){NAN}, 1)));
    tk_store_close_readonly(db);
}

/* ---- list --------------------------------------------------------------------------------- */

TK_TEST(list_fits_80_and_120_columns)
{
    struct cr_result r = cr_run(cmd_results, "results", DB, "--width", "80", "list", NULL);
    char line[256];

    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "experiment sizing: 48 cells, 47 complete");
    CHECK_CONTAINS(r.out, "experiment topology: 3 cells, 2 complete");
    CHECK(cr_max_line(r.out) <= 80);
    cr_line_with(r.out, "2ea11c12af15", line, sizeof(line));
    CHECK_CONTAINS(line, "failed");
    CHECK_CONTAINS(line, "2000");
    CHECK_CONTAINS(line, "FAIL");
    cr_line_with(r.out, "a360428927e7", line, sizeof(line));
    CHECK_CONTAINS(line, "333ms"); /* the fixture's mutating p99 at 4c/8Gi, 1000 nodes */
    CHECK_CONTAINS(line, " ok");
    cr_line_with(r.out, "94295c1460e6", line, sizeof(line));
    CHECK_CONTAINS(line, "aborted");
    cr_free(&r);

    r = cr_run(cmd_results, "results", DB, "--width", "120", "list", NULL);
    CHECK_INT(r.rc, 0);
    CHECK(cr_max_line(r.out) <= 120);
    CHECK(cr_max_line(r.out) > 80);
    CHECK_CONTAINS(r.out, "TOPOLOGY");
    CHECK_CONTAINS(r.out, "LIST-P99");
    cr_line_with(r.out, "c14870776c7f", line, sizeof(line));
    CHECK_CONTAINS(line, "FAIL slo:mutating");
    cr_free(&r);

    r = cr_run(cmd_results, "results", DB, "-e", "topology", "list", NULL);
    CHECK_INT(r.rc, 0);
    CHECK(!strstr(r.out, "sizing"));
    CHECK_CONTAINS(r.out, "d695e9086004");
    cr_free(&r);
}

TK_TEST(list_json_and_csv)
{
    struct cr_result r = cr_run(cmd_results, "results", DB, "list", "--output", "json", NULL);
    cJSON *j = NULL;
    const cJSON *cells, *c;
    int found = 0;

    CHECK_INT(r.rc, 0);
    j = cJSON_Parse(r.out);
    CHECK(j != NULL);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "experiments")), 2);
    cells = cJSON_GetObjectItem(j, "cells");
    CHECK_INT(cJSON_GetArraySize(cells), 51);
    cJSON_ArrayForEach(c, cells)
    {
        if (strcmp(cJSON_GetObjectItem(c, "cell_id")->valuestring, "c14870776c7f"))
            continue;
        found = 1;
        CHECK(cJSON_IsFalse(cJSON_GetObjectItem(c, "slo_ok")));
        CHECK_CONTAINS(cJSON_GetObjectItem(c, "slo_reason")->valuestring, "slo:mutating");
        CHECK_NEAR(cJSON_GetObjectItem(c, "mutating_p99_s")->valuedouble, model_mut(2000, 2, 8, 0),
                   1e-9);
        CHECK_INT(cJSON_GetObjectItem(c, "nodes")->valuedouble, 2000);
        CHECK_STR(cJSON_GetObjectItem(c, "status")->valuestring, "complete");
    }
    CHECK(found);
    cJSON_Delete(j);
    cr_free(&r);

    r = cr_run(cmd_results, "results", DB, "list", "-o", "csv", NULL);
    CHECK_INT(r.rc, 0);
    CHECK_INT(cr_lines(r.out), 52);
    CHECK(!strncmp(r.out, "experiment,cell_id,config_id,", 29));
    cr_free(&r);

    r = cr_run(cmd_results, "results", DB, "list", "-o", "yaml", NULL);
    CHECK_INT(r.rc, 2);
    CHECK_CONTAINS(r.err, "--output 'yaml'");
    cr_free(&r);
}

/* ---- show --------------------------------------------------------------------------------- */

TK_TEST(show_puts_failure_points_first)
{
    struct cr_result r = cr_run(cmd_results, "results", DB, "show", "2ea11c", NULL);
    const char *fp, *fig, *lat;

    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "cell 2ea11c12af15");
    CHECK_CONTAINS(r.out, "failed: kube-burner timed out");
    fp = strstr(r.out, "failure points");
    fig = strstr(r.out, "figures");
    lat = strstr(r.out, "latency_summaries");
    CHECK(fp && fig && lat && fp < fig && fig < lat);
    CHECK_CONTAINS(r.out, "+70.0s soft slo:mutating POST pods");
    CHECK_CONTAINS(r.out, "+95.0s hard kube-burner timeout");
    CHECK_CONTAINS(r.out, "2 repeats");
    CHECK_CONTAINS(r.out, "controlPlane.hosts.cp.cpus");
    CHECK_CONTAINS(r.out, "kube-burner-config");
    CHECK(cr_max_line(r.out) <= 80);
    cr_free(&r);

    r = cr_run(cmd_results, "results", DB, "show", "2ea11c", "--output", "json", NULL);
    CHECK_INT(r.rc, 0);
    {
        cJSON *j = cJSON_Parse(r.out);
        CHECK(j != NULL);
        CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "failure_points")), 2);
        CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "latency_summaries")), 10);
        CHECK_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "group"), "repeats")->valuedouble, 2);
        CHECK_STR(tk_json_get_str(j, "params.controlPlane.hosts.cp.memory"), "8Gi");
        cJSON_Delete(j);
    }
    cr_free(&r);

    r = cr_run(cmd_results, "results", DB, "show", "deadbeef", NULL);
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.err, "no cell 'deadbeef'");
    cr_free(&r);
}

/* ---- compare ------------------------------------------------------------------------------ */

TK_TEST(compare_shows_differences_ratios_and_noise)
{
    /* 2 cores against 4 cores, both 8Gi and 1000 nodes */
    struct cr_result r =
        cr_run(cmd_results, "results", DB, "compare", "c3e0de855500", "a360428927e7", NULL);
    char line[256];

    CHECK_INT(r.rc, 0);
    CHECK(cr_max_line(r.out) <= 80);
    cr_line_with(r.out, "controlPlane.hosts.cp.cpus", line, sizeof(line));
    CHECK_CONTAINS(line, "2");
    CHECK_CONTAINS(line, "4");
    CHECK(!strstr(r.out, "agents.nodes")); /* only parameters that differ */
    cr_line_with(strstr(r.out, "B against A"), "mutating p99", line, sizeof(line));
    CHECK_CONTAINS(line, "0.53x");
    CHECK(!strstr(line, "within"));
    /* memory barely depends on cores in the fixture: the difference is inside the noise */
    cr_line_with(strstr(r.out, "B against A"), "peak memory", line, sizeof(line));
    CHECK_CONTAINS(line, "~ within the spread of repeats");
    CHECK_CONTAINS(r.out, "not significant");
    cr_free(&r);

    r = cr_run(cmd_results, "results", DB, "compare", "c3e0de855500", "a360428927e7", "-o", "json",
               NULL);
    CHECK_INT(r.rc, 0);
    {
        cJSON *j = cJSON_Parse(r.out);
        const cJSON *d;
        int seen = 0;
        CHECK(j != NULL);
        cJSON_ArrayForEach(d, cJSON_GetObjectItem(j, "differences"))
        {
            const char *fig = cJSON_GetObjectItem(d, "figure")->valuestring;
            if (!strcmp(fig, "mutating_p99_s")) {
                double a = (model_mut(1000, 2, 8, 0) + model_mut(1000, 2, 8, 1)) / 2;
                double b = (model_mut(1000, 4, 8, 0) + model_mut(1000, 4, 8, 1)) / 2;
                CHECK_NEAR(cJSON_GetObjectItem(d, "diff")->valuedouble, b - a, 1e-12);
                CHECK_NEAR(cJSON_GetObjectItem(d, "ratio")->valuedouble, b / a, 1e-12);
                CHECK(cJSON_IsFalse(cJSON_GetObjectItem(d, "within_spread")));
                seen++;
            } else if (!strcmp(fig, "peak_memory_bytes")) {
                CHECK(cJSON_IsTrue(cJSON_GetObjectItem(d, "within_spread")));
                seen++;
            }
        }
        CHECK_INT(seen, 2);
        CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "params")), 1);
        cJSON_Delete(j);
    }
    cr_free(&r);

    /* three at once: each against the first */
    r = cr_run(cmd_results, "results", DB, "compare", "c3e0de855500", "a360428927e7",
               "6f5bb130d6e7", NULL);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "B against A");
    CHECK_CONTAINS(r.out, "C against A");
    cr_free(&r);

    r = cr_run(cmd_results, "results", DB, "compare", "c3e0de855500", NULL);
    CHECK_INT(r.rc, 2);
    cr_free(&r);
}

/* ---- export ------------------------------------------------------------------------------- */

/* Fields in one CSV record (quotes honoured); *next is the start of the next record. */
static int csv_fields(const char *s, const char **next)
{
    int n = 1, quoted = 0;
    for (; *s; s++) {
        if (*s == '"')
            quoted = !quoted;
        else if (*s == ',' && !quoted)
            n++;
        else if (*s == '\n' && !quoted)
            break;
    }
    *next = *s ? s + 1 : s;
    return n;
}

TK_TEST(export_columns_are_stable)
{
    static const char header[] =
        "experiment,cell_id,config_id,idx,repeat,status,exit_reason,nodes,pods,churn_per_s,"
        "topology,size,cpu_milli,memory_bytes,mutating_p99_s,ro_resource_p99_s,ro_cluster_p99_s,"
        "pod_startup_p99_s,peak_memory_bytes,memory_utilization,cpu_cores,soft_failures,"
        "hard_failures,first_failure,slo_ok,created_ms,started_ms,finished_ms,hardware,"
        "versions,params\n";
    struct cr_result r = cr_run(cmd_results, "results", DB, "export", NULL);
    const char *p, *next;
    int rows = 0, fields = 0;

    CHECK_INT(r.rc, 0);
    CHECK(!strncmp(r.out, header, strlen(header)));
    fields = csv_fields(r.out, &next);
    CHECK_INT(fields, 31);
    for (p = next; *p; p = next, rows++)
        CHECK_INT(csv_fields(p, &next), fields);
    CHECK_INT(rows, 51);
    CHECK_CONTAINS(r.out, ",2ea11c12af15,");
    CHECK_CONTAINS(r.out, "\"{\"\"agents\"\":"); /* the params JSON, quoted */
    cr_free(&r);

    r = cr_run(cmd_results, "results", DB, "export", "--format", "json", NULL);
    CHECK_INT(r.rc, 0);
    {
        cJSON *j = cJSON_Parse(r.out), *first;
        CHECK(j != NULL);
        CHECK_INT(cJSON_GetArraySize(j), 51);
        first = cJSON_GetArrayItem(j, 0);
        CHECK(cJSON_GetObjectItem(first, "peak_memory_bytes") != NULL);
        CHECK(cJSON_IsObject(cJSON_GetObjectItem(first, "params")));
        cJSON_Delete(j);
    }
    cr_free(&r);

    r = cr_run(cmd_results, "results", DB, "export", "--groups", "-e", "sizing", NULL);
    CHECK_INT(r.rc, 0);
    CHECK(!strncmp(r.out, "experiment,config_id,repeats,completed,slo_ok,nodes,pods,", 57));
    CHECK_CONTAINS(r.out, "mutating_p99_s_median,mutating_p99_s_spread");
    CHECK_INT(cr_lines(r.out), 25);
    cr_free(&r);

    r = cr_run(cmd_results, "results", DB, "export", "--format", "table", NULL);
    CHECK_INT(r.rc, 2);
    cr_free(&r);
}

/* ---- query -------------------------------------------------------------------------------- */

TK_TEST(query_reads)
{
    struct cr_result r = cr_run(cmd_results, "results", DB, "query",
                                "SELECT status, count(*) AS n FROM cells GROUP BY status "
                                "ORDER BY status",
                                NULL);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "status   n");
    CHECK_CONTAINS(r.out, "complete 49");
    CHECK_CONTAINS(r.out, "failed   1");
    cr_free(&r);

    r = cr_run(cmd_results, "results", DB, "-o", "json", "query",
               "SELECT count(*) AS n, NULL AS empty, 'x' AS s FROM cells", NULL);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "\"n\":\t51");
    CHECK_CONTAINS(r.out, "\"empty\":\tnull");
    cr_free(&r);

    r = cr_run(cmd_results, "results", DB, "-o", "csv", "query", "SELECT 'a,b' AS x; SELECT 2 AS y",
               NULL);
    CHECK_INT(r.rc, 0);
    CHECK_STR(r.out, "x\n\"a,b\"\n\ny\n2\n");
    cr_free(&r);

    r = cr_run(cmd_results, "results", DB, "query", "PRAGMA table_info(cells)", NULL);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "exit_reason");
    cr_free(&r);
}

TK_TEST(query_cannot_write)
{
    static const char *const writes[] = {
        "DELETE FROM cells",
        "UPDATE cells SET status = 'pending'",
        "INSERT INTO experiments (name, created_ms) VALUES ('x', 0)",
        "DROP TABLE samples",
        "CREATE TABLE x (a)",
        "CREATE TEMP TABLE x (a)",
        "PRAGMA query_only = OFF; DELETE FROM cells",
        "PRAGMA user_version = 0",
        "PRAGMA journal_mode = DELETE",
        "SELECT 1; DELETE FROM cells",
        "VACUUM",
    };
    char *before, *after;
    char attach[400], vacuum[400], other[200];
    struct stat sb, sa;

    CHECK_INT(stat(fixture(), &sb), 0);
    before = cr_slurp(fixture());

    CHECK(before != NULL);
    for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
        struct cr_result r = cr_run(cmd_results, "results", DB, "query", writes[i], NULL);
        if (r.rc != 1)
            fprintf(stderr, "  wrote?: %s\n", writes[i]);
        CHECK_INT(r.rc, 1);
        CHECK_CONTAINS(r.err, "query:");
        cr_free(&r);
    }
    /* nor reach another file */
    snprintf(other, sizeof(other), "%s", cr_path("other.db"));
    snprintf(attach, sizeof(attach), "ATTACH '%s' AS o; CREATE TABLE o.t (a)", other);
    snprintf(vacuum, sizeof(vacuum), "VACUUM INTO '%s'", other);
    {
        struct cr_result r = cr_run(cmd_results, "results", DB, "query", attach, NULL);
        CHECK_INT(r.rc, 1);
        cr_free(&r);
        r = cr_run(cmd_results, "results", DB, "query", vacuum, NULL);
        CHECK_INT(r.rc, 1);
        CHECK_CONTAINS(r.err, "would write");
        cr_free(&r);
    }
    CHECK(stat(other, &sa) != 0);
    {
        struct cr_result r =
            cr_run(cmd_results, "results", DB, "query", "SELECT count(*) AS n FROM cells", NULL);
        CHECK_CONTAINS(r.out, "51");
        cr_free(&r);
    }
    /* the file is byte for byte what it was */
    CHECK_INT(stat(fixture(), &sa), 0);
    CHECK_INT(sa.st_size, sb.st_size);
    after = cr_slurp(fixture());
    CHECK(after != NULL);
    CHECK(memcmp(before, after, (size_t)sb.st_size) == 0);
    free(before);
    free(after);
}

TK_TEST(readonly_open_refuses_what_is_not_ours)
{
    sqlite3 *db = NULL, *w = NULL;
    struct tk_err err = {0};
    char path[200];

    char missing[200];

    snprintf(missing, sizeof(missing), "%s", cr_path("missing.db"));
    CHECK_INT(tk_store_open_readonly(&db, missing, &err), TK_ENOTFOUND);
    CHECK(db == NULL);
    CHECK_CONTAINS(err.msg, "no results database");

    snprintf(path, sizeof(path), "%s", cr_path("plain.db"));
    CHECK_INT(sqlite3_open(path, &w), SQLITE_OK);
    CHECK_INT(sqlite3_exec(w, "CREATE TABLE t (a)", NULL, NULL, NULL), SQLITE_OK);
    err = (struct tk_err){0};
    CHECK_INT(tk_store_open_readonly(&db, path, &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "not a TurboKube results database");
    CHECK_INT(sqlite3_exec(w, "CREATE TABLE cells (a); PRAGMA user_version = 99", NULL, NULL, NULL),
              SQLITE_OK);
    err = (struct tk_err){0};
    CHECK_INT(tk_store_open_readonly(&db, path, &err), TK_ESTATE);
    CHECK_CONTAINS(err.msg, "newer");
    sqlite3_close(w);

    {
        struct cr_result r = cr_run(cmd_results, "results", "--db", missing, "list", NULL);
        CHECK_INT(r.rc, 1);
        CHECK_CONTAINS(r.err, "no results database");
        cr_free(&r);
    }
}

TK_TEST(table_fits_and_cuts)
{
    static const char *const heads[] = {"NAME", "N", "NOTE"};
    struct tk_table *t = tk_table_new(3, heads, "lrl");
    char path[200], *out;
    FILE *f;

    tk_table_addv(t, "alpha", "1", "a long note that will not fit into the width at all");
    tk_table_addv(t, "b", "22", "");
    snprintf(path, sizeof(path), "%s", cr_path("table.txt"));
    f = fopen(path, "w");
    CHECK(f != NULL);
    tk_table_print(t, f, 40, 2);
    fclose(f);
    out = cr_slurp(path);
    CHECK_STR(out, "NAME   N NOTE\n"
                   "alpha  1 a long note that will not fit ~\n"
                   "b     22\n");
    CHECK_INT(cr_max_line(out), 40);
    free(out);
    tk_table_free(t);
}

TK_TEST_MAIN(load_derives_load_size_topology_and_figures, groups_take_median_and_spread,
             list_fits_80_and_120_columns, list_json_and_csv, show_puts_failure_points_first,
             compare_shows_differences_ratios_and_noise, export_columns_are_stable, query_reads,
             query_cannot_write, readonly_open_refuses_what_is_not_ours, table_fits_and_cuts)
