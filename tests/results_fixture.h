#ifndef TK_RESULTS_FIXTURE_H
#define TK_RESULTS_FIXTURE_H

/* A recorded sizing experiment for the readers of the results database (results, calculator,
 * report), written through lib/store's own APIs so it has exactly the shape `turbokube run`
 * gives a database. Shared by tests/unit/test_results.c and the generator the browser test
 * calls (tests/integration/test_report_fixture.c).
 *
 * Experiment "sizing": experiments/sizing.yaml with repeat: 2, so cpus {2, 4, 8} x memory
 * {8Gi, 16Gi} x nodes {100, 500, 1000, 2000} at 10 pods per node, each twice (48 cells, planned
 * by the real experiment parser, so the parameters and cell ids are the real ones). Every
 * figure follows a known model (below) times a per-configuration wobble of -1/0/+1 % and a
 * per-repeat factor of 0.98 (repeat 0) or 1.02 (repeat 1), so medians are the wobbled model and
 * spreads are 4 % of it:
 *   mutating p99        0.04 + 0.0012 x nodes / cores    s    (2 cores, 2000 nodes: 1.24 s)
 *   GET p99             0.02 + 0.0001 x nodes / cores    s
 *   LIST p99            0.10 + 0.0008 x nodes / cores    s
 *   pod startup p99     2.0  + 0.001  x nodes / cores    s
 *   peak memory         300 + 50 x cores + 2 x nodes + 0.15 x pods    MiB
 *   CPU                 min(cores, 0.3 + 0.0012 x nodes) cores over 100 s
 * The 2-core cells at 2000 nodes record an SLO failure point ("slo:mutating POST pods"); the
 * second repeat of 2c/8Gi at 2000 nodes failed outright (hard failure "kube-burner timeout").
 *
 * Experiment "topology": one control plane host cp (4 cores, 8Gi) with etcd on its own host
 * (2 cores, 4Gi), nodes {500, 1000, 2000}, one repeat; the 2000-node cell was aborted. Etcd
 * holds a quarter of the memory.
 *
 * Every cell has latency summaries (SLI and plain histograms, plus a WATCH and a pods/log row
 * that must not count), pod latency, usage (control plane plus an agent and kube-burner, which
 * must not count), a job summary, host facts, versions, an artifact, and samples over time:
 * apiserver request histograms (POST pods, GET nodes) scraped 8 times (at 100 nodes instead
 * per-interval p99 gauges, apiserver_request_sli_p99_seconds, for POST pods and a WATCH that
 * must not show), process_cpu_seconds_total / process_resident_memory_bytes of each component
 * (sources named as turbokube run names them), two agents' memory and the cp cgroup's. Usage
 * holds the control plane, "agents", "kube-burner" and "cgroup:cp" (which must not count). */

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "experiment.h"
#include "store.h"

#define FX_BASE_MS 1767225600000LL /* 2026-01-01T00:00:00Z */
#define FX_CELL_MS 100000LL        /* each cell runs 100 s */
#define FX_SCRAPES 8
#define FX_MI (1024.0 * 1024.0)

static const char fx_sizing_yaml[] =
    "name: sizing\n"
    "description: control-plane size (cpus x memory) against cluster size (nodes)\n"
    "repeat: 2\n"
    "controlPlane:\n"
    "  hosts:\n"
    "    - name: cp\n"
    "      cpus: [2, 4, 8]\n"
    "      memory: [8Gi, 16Gi]\n"
    "agents:\n"
    "  nodes: [100, 500, 1000, 2000]\n"
    "load:\n"
    "  shape: node-density\n"
    "  podsPerNode: 10\n"
    "  qps: 100\n"
    "  timeout: 20m\n"
    "measurement:\n"
    "  scrapeInterval: 10s\n";

static const char fx_topology_yaml[] = "name: topology\n"
                                       "description: etcd on a dedicated host\n"
                                       "controlPlane:\n"
                                       "  hosts:\n"
                                       "    - {name: cp, cpus: 4, memory: 8Gi}\n"
                                       "    - {name: etcd, cpus: 2, memory: 4Gi}\n"
                                       "  placement: {etcd: etcd}\n"
                                       "agents:\n"
                                       "  nodes: [500, 1000, 2000]\n"
                                       "load:\n"
                                       "  shape: node-density\n"
                                       "  podsPerNode: 10\n"
                                       "  qps: 100\n";

struct fx_model {
    double mut, get, list, pod, mem_bytes, cpu_cores;
};

/* The model for nodes and cores (the apiserver host's), before noise. */
static inline struct fx_model fx_model_at(double nodes, double cores)
{
    struct fx_model m;
    double pods = nodes * 10;
    m.mut = 0.04 + 0.0012 * nodes / cores;
    m.get = 0.02 + 0.0001 * nodes / cores;
    m.list = 0.10 + 0.0008 * nodes / cores;
    m.pod = 2.0 + 0.001 * nodes / cores;
    m.mem_bytes = (300 + 50 * cores + 2 * nodes + 0.15 * pods) * FX_MI;
    m.cpu_cores = fmin(cores, 0.3 + 0.0012 * nodes);
    return m;
}

/* The per-configuration wobble: -1, 0 or +1 %. */
static inline double fx_wobble(double nodes, double cores, double mem_gi)
{
    return 1 + 0.01 * (double)((((long)(nodes / 100) + (long)cores + (long)mem_gi) % 3) - 1);
}

static inline double fx_repeat_factor(int repeat)
{
    return repeat == 0 ? 0.98 : 1.02;
}

/* Cumulative request counts at the end of scrape k (0-based) for a series whose p99 rises to
 * p99_end: requests per scrape interval spread exponentially so that the interval's p99 is
 * p99_end x (0.5 + 0.5 x (k + 1) / FX_SCRAPES). */
static const double fx_le[] = {0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1,
                               1.25,  1.5,   2,    3,   4,   5,   10,  30,  INFINITY};
#define FX_NLE (sizeof(fx_le) / sizeof(fx_le[0]))

static inline double fx_bucket(double le, int k, double p99_end, double per_scrape)
{
    double total = 0;
    for (int i = 0; i <= k; i++) {
        double p99 = p99_end * (0.5 + 0.5 * (double)(i + 1) / FX_SCRAPES);
        double lambda = log(100) / p99;
        total += per_scrape * (isinf(le) ? 1 : 1 - exp(-lambda * le));
    }
    return round(total);
}

static inline int fx_samples(struct tk_store *st, int64_t row, int64_t t0, const struct fx_model *m,
                             double f, int gauges, struct tk_err *err)
{
    /* named as turbokube run names its scrape targets */
    static const char *const comps[] = {"etcd", "apiserver", "scheduler", "controller-manager"};
    static const double mem_share[] = {0.25, 0.60, 0.05, 0.10};
    static const double cpu_share[] = {0.30, 0.55, 0.05, 0.10};
    struct tk_store_sample s[FX_SCRAPES * (2 * FX_NLE + 12)];
    char labels[FX_SCRAPES * 2 * FX_NLE][160];
    size_t n = 0, nl = 0;

    for (int k = 0; k < FX_SCRAPES; k++) {
        int64_t t = t0 + (int64_t)(k + 1) * (FX_CELL_MS / FX_SCRAPES);
        double rise = 0.5 + 0.5 * (double)(k + 1) / FX_SCRAPES;
        if (gauges) {
            /* per-interval p99s as recorded gauges instead of buckets */
            s[n++] = (struct tk_store_sample){
                t, "apiserver", "apiserver_request_sli_p99_seconds",
                "resource=\"pods\",scope=\"resource\",subresource=\"\",verb=\"POST\"",
                m->mut * f * rise};
            s[n++] = (struct tk_store_sample){
                t, "apiserver", "apiserver_request_sli_p99_seconds",
                "resource=\"pods\",scope=\"cluster\",subresource=\"\",verb=\"WATCH\"", 60};
        }
        for (size_t b = 0; b < FX_NLE && !gauges; b++) {
            char le[16];
            if (isinf(fx_le[b]))
                snprintf(le, sizeof(le), "+Inf");
            else
                snprintf(le, sizeof(le), "%g", fx_le[b]);
            snprintf(labels[nl], sizeof(labels[nl]),
                     "component=\"apiserver\",le=\"%s\",resource=\"pods\",scope=\"resource\","
                     "subresource=\"\",verb=\"POST\",version=\"v1\"",
                     le);
            s[n++] = (struct tk_store_sample){
                t, "apiserver", "apiserver_request_sli_duration_seconds_bucket", labels[nl++],
                fx_bucket(fx_le[b], k, m->mut * f, 1000)};
            snprintf(labels[nl], sizeof(labels[nl]),
                     "component=\"apiserver\",le=\"%s\",resource=\"nodes\",scope=\"resource\","
                     "subresource=\"\",verb=\"GET\",version=\"v1\"",
                     le);
            s[n++] = (struct tk_store_sample){
                t, "apiserver", "apiserver_request_sli_duration_seconds_bucket", labels[nl++],
                fx_bucket(fx_le[b], k, m->get * f, 400)};
        }
        for (int c = 0; c < 4; c++) {
            double frac = (double)(k + 1) / FX_SCRAPES;
            s[n++] = (struct tk_store_sample){t, comps[c], "process_cpu_seconds_total", "",
                                              m->cpu_cores * f * cpu_share[c] *
                                                  (double)(FX_CELL_MS / 1000) * frac};
            s[n++] = (struct tk_store_sample){
                t, comps[c], "process_resident_memory_bytes", "",
                round(m->mem_bytes * f * mem_share[c] * (0.4 + 0.6 * frac))};
        }
        s[n++] = (struct tk_store_sample){t, "cgroup", "cgroup_memory_bytes", "group=\"cp\"",
                                          round(m->mem_bytes * f * (0.4 + 0.6 * rise))};
        s[n++] = (struct tk_store_sample){t, "agent-0", "process_resident_memory_bytes", "",
                                          400 * FX_MI};
        s[n++] = (struct tk_store_sample){t, "agent-1", "process_resident_memory_bytes", "",
                                          500 * FX_MI};
    }
    return tk_store_add_samples(st, row, s, n, err);
}

static inline int fx_latency(struct tk_store *st, int64_t row, const struct fx_model *m, double f,
                             struct tk_err *err)
{
    struct row {
        const char *metric, *verb, *resource, *sub, *scope;
        double p99;
    } rows[] = {
        {"apiserver_request_sli_duration_seconds", "POST", "pods", "", "resource", m->mut},
        {"apiserver_request_sli_duration_seconds", "PATCH", "nodes", "status", "resource",
         m->mut * 0.8},
        {"apiserver_request_sli_duration_seconds", "PUT", "leases.coordination.k8s.io", "",
         "resource", m->mut * 0.5},
        {"apiserver_request_sli_duration_seconds", "GET", "nodes", "", "resource", m->get},
        {"apiserver_request_sli_duration_seconds", "GET", "pods", "log", "resource", 12},
        {"apiserver_request_sli_duration_seconds", "LIST", "pods", "", "cluster", m->list},
        {"apiserver_request_sli_duration_seconds", "LIST", "nodes", "", "cluster", m->list * 0.7},
        {"apiserver_request_sli_duration_seconds", "WATCH", "pods", "", "cluster", 60},
        /* the plain histogram includes webhooks and queue wait: larger, and must be ignored
         * when the SLI one is there */
        {"apiserver_request_duration_seconds", "POST", "pods", "", "resource", m->mut * 3},
        {"etcd_request_duration_seconds", "create", "/registry/pods", "", "", 0.01},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct tk_latency_summary s = {(char *)rows[i].metric,
                                       (char *)rows[i].verb,
                                       (char *)rows[i].resource,
                                       (char *)rows[i].sub,
                                       (char *)rows[i].scope,
                                       1000,
                                       rows[i].p99 * f * 0.4,
                                       rows[i].p99 * f * 0.8,
                                       rows[i].p99 * f,
                                       rows[i].p99 * f * 1.5,
                                       0};
        if (tk_store_add_latency_summary(st, row, "apiserver", &s, err))
            return err->code;
    }
    return 0;
}

static inline int fx_cell(struct tk_store *st, int64_t exp, const struct tk_cell *c, int64_t t0,
                          struct tk_err *err)
{
    static const char *const comps[] = {"etcd", "apiserver", "scheduler", "controller-manager"};
    static const double mem_share[] = {0.25, 0.60, 0.05, 0.10};
    static const double cpu_share[] = {0.30, 0.55, 0.05, 0.10};
    const struct tk_exp_host *api = &c->p.hosts[c->p.placement[TK_EXP_APISERVER]];
    double nodes = (double)c->p.nodes, cores = (double)api->cpu_milli / 1000;
    double mem_gi = (double)api->memory_bytes / (1024.0 * FX_MI);
    struct fx_model m = fx_model_at(nodes, cores);
    double f = fx_wobble(nodes, cores, mem_gi) * fx_repeat_factor(c->repeat);
    int slo_fail = c->p.nhosts == 1 && cores == 2 && nodes == 2000;
    int hard_fail = slo_fail && mem_gi == 8 && c->repeat == 1;
    int aborted = c->p.nhosts == 2 && nodes == 2000;
    int64_t row;
    char sql[256];
    struct tk_pod_latency pl[4] = {
        {"node-density", "PodScheduled", 5, 20, 40, 1, 60, 8},
        {"node-density", "Initialized", 6, 22, 45, 1, 70, 9},
        {"node-density", "ContainersReady", m.pod * f * 400, m.pod * f * 900, m.pod * f * 990, 200,
         m.pod * f * 1100, m.pod * f * 450},
        {"node-density", "Ready", m.pod * f * 420, m.pod * f * 910, m.pod * f * 1000, 210,
         m.pod * f * 1150, m.pod * f * 470},
    };
    struct tk_job_summary js = {"node-density", t0 + 10000, t0 + 90000, 80,
                                !hard_fail,     "v2.2.0",   "v1.36.3",  c->p.nodes,
                                (int64_t)nodes, 100,        100,        ""};
    struct tk_host_facts hf = {"local", "Fixture CPU @ 2.00GHz", 2, 8LL << 30, "6.1.0-fixture"};

    if (tk_store_add_cell(st, exp, (int64_t)c->index, c->id, c->params_json, &row, NULL, err))
        return err->code;
    if (aborted)
        return tk_store_set_cell_status(st, row, TK_CELL_ABORTED, "interrupted", err);
    if (fx_latency(st, row, &m, f, err) || tk_store_add_pod_latency(st, row, pl, 4, err) ||
        tk_store_add_job_summary(st, row, &js, err) || tk_store_add_host_facts(st, row, &hf, err) ||
        tk_store_add_component_version(st, row, "kube-apiserver", "v1.36.3", err) ||
        tk_store_add_component_version(st, row, "etcd", "v3.6.5", err) ||
        tk_store_add_component_version(st, row, "kube-burner", "v2.2.0", err) ||
        tk_store_add_artifact(st, row, "kube-burner-config", "cells/x/config.yml", err) ||
        fx_samples(st, row, t0, &m, f, nodes == 100, err))
        return err->code;
    for (int k = 0; k < 4; k++)
        if (tk_store_add_usage(st, row, comps[k],
                               m.cpu_cores * f * cpu_share[k] * (double)(FX_CELL_MS / 1000),
                               (int64_t)(m.mem_bytes * f * mem_share[k]), err))
            return err->code;
    if (tk_store_add_usage(st, row, "agents", 50, (int64_t)(900 * FX_MI), err) ||
        tk_store_add_usage(st, row, "kube-burner", 20, (int64_t)(200 * FX_MI), err) ||
        tk_store_add_usage(st, row, "cgroup:cp", m.cpu_cores * f * 100, (int64_t)(m.mem_bytes * f),
                           err))
        return err->code;
    if (slo_fail) {
        struct tk_failure_point fp = {
            t0 + 70000, TK_FAILURE_SOFT,          "slo:mutating POST pods", m.mut * f,
            1,          "p99 over the last 5 min"};
        if (tk_store_add_failure(st, row, &fp, err))
            return err->code;
    }
    if (hard_fail) {
        struct tk_failure_point fp = {t0 + 95000, TK_FAILURE_HARD, "kube-burner timeout", NAN, NAN,
                                      NULL};
        if (tk_store_add_failure(st, row, &fp, err) ||
            tk_store_set_cell_status(st, row, TK_CELL_FAILED, "kube-burner timed out", err))
            return err->code;
    } else if (tk_store_set_cell_status(st, row, TK_CELL_COMPLETE, NULL, err)) {
        return err->code;
    }
    /* the store stamps the wall clock; a recording has its own times */
    snprintf(sql, sizeof(sql),
             "UPDATE cells SET created_ms = %lld, started_ms = %lld, finished_ms = %lld "
             "WHERE id = %lld",
             (long long)t0, (long long)t0, (long long)(t0 + FX_CELL_MS), (long long)row);
    if (sqlite3_exec(tk_store_db(st), sql, NULL, NULL, NULL) != SQLITE_OK)
        return tk_err_set(err, TK_EIO, "fixture: %s", sqlite3_errmsg(tk_store_db(st)));
    return 0;
}

static inline int fx_experiment(struct tk_store *st, const char *yaml, int64_t *t0,
                                struct tk_err *err)
{
    struct tk_experiment *e = NULL;
    int64_t exp;

    if (tk_experiment_load_string(&e, "fixture.yaml", yaml, strlen(yaml), err))
        return err->code;
    if (tk_store_add_experiment(st, e->name, e->description, "fixture.yaml", yaml, &exp, err))
        goto done;
    if (tk_store_begin(st, err))
        goto done;
    for (size_t i = 0; i < e->ncells; i++) {
        if (fx_cell(st, exp, &e->cells[i], *t0, err))
            break;
        *t0 += FX_CELL_MS + 20000;
    }
    if (err->code)
        tk_store_rollback(st);
    else
        tk_store_commit(st, err);
done:
    tk_experiment_free(e);
    return err->code;
}

/* Writes the fixture database at path (which must not exist yet). */
static inline int fx_build(const char *path, struct tk_err *err)
{
    struct tk_store *st = NULL;
    int64_t t0 = FX_BASE_MS;

    if (tk_store_open(&st, path, err))
        return err->code;
    if (!fx_experiment(st, fx_sizing_yaml, &t0, err))
        fx_experiment(st, fx_topology_yaml, &t0, err);
    tk_store_close(st);
    return err->code;
}

#endif
