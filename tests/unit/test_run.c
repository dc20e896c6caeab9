/* The cell runner's pure parts: topology mapping onto localcp's groups, agent shards, SLO
 * evaluation, kube-burner verdicts and the summary printed from the database. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "experiment.h"
#include "localcp.h"
#include "run.h"
#include "store.h"
#include "tktest.h"

static struct tk_cell_params one_host(void)
{
    struct tk_cell_params p;
    memset(&p, 0, sizeof(p));
    p.provider = TK_EXP_PROVIDER_LOCAL;
    p.datastore = TK_EXP_DS_ETCD;
    p.etcd_members = 1;
    p.hosts[0] = (struct tk_exp_host){"cp", 2000, 4LL << 30};
    p.nhosts = 1;
    p.slo_mutating_p99_ns = 1000000000LL;
    p.slo_ro_resource_p99_ns = 1000000000LL;
    p.slo_ro_cluster_p99_ns = 30000000000LL;
    p.slo_pod_startup_p99_ns = 5000000000LL;
    p.nodes = 100;
    p.nodes_per_agent = 1000;
    return p;
}

/* "name=cpu/mem:comps" for each group opts asks for, comps as letters d(atastore) a(piserver)
 * c(ontroller-manager) s(cheduler), separated by spaces. */
static void groups_of(const struct tk_localcp_opts *o, char *out, size_t n)
{
    struct tk_localcp_group g[TK_LOCALCP_MAXHOSTS];
    int ng = tk_localcp_groups(o, g, NULL);
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < ng; i++) {
        len += (size_t)snprintf(out + len, n - len, "%s%s=%lld/%lldMi:%s%s%s%s", i ? " " : "",
                                g[i].name, (long long)g[i].cpu_millis,
                                (long long)(g[i].memory_bytes >> 20), g[i].comps & 1 ? "d" : "",
                                g[i].comps & 2 ? "a" : "", g[i].comps & 4 ? "c" : "",
                                g[i].comps & 8 ? "s" : "");
    }
}

TK_TEST(topology_from_the_shipped_file)
{
    struct tk_experiment *e = NULL;
    struct tk_err err = {0};
    char why[256], g[256];

    CHECK_INT(tk_experiment_load(&e, "../experiments/topology.yaml", &err), 0);
    CHECK_INT(e->ncells, 5);
    /* 0: colocated on cp (4 CPUs, 8Gi) */
    struct tk_localcp_opts o = {0};
    CHECK_INT(tk_run_topology(&e->cells[0].p, &o, why, sizeof(why)), 0);
    groups_of(&o, g, sizeof(g));
    CHECK_STR(g, "control-plane=4000/8192Mi:dacs");
    /* 1: etcd on its own host of 2 CPUs, 4Gi */
    memset(&o, 0, sizeof(o));
    CHECK_INT(tk_run_topology(&e->cells[1].p, &o, why, sizeof(why)), 0);
    groups_of(&o, g, sizeof(g));
    CHECK_STR(g, "control-plane=4000/8192Mi:acs etcd=2000/4096Mi:d");
    CHECK_INT(o.latency_ns, 0);
    /* 2: the same with 2ms between hosts */
    memset(&o, 0, sizeof(o));
    CHECK_INT(tk_run_topology(&e->cells[2].p, &o, why, sizeof(why)), 0);
    groups_of(&o, g, sizeof(g));
    CHECK_STR(g, "control-plane=4000/8192Mi:acs etcd=2000/4096Mi:d");
    CHECK_INT(o.latency_ns, 2000000);
    /* 3: scheduler and controller-manager offloaded into an aux group of 2 CPUs, 4Gi */
    memset(&o, 0, sizeof(o));
    CHECK_INT(tk_run_topology(&e->cells[3].p, &o, why, sizeof(why)), 0);
    groups_of(&o, g, sizeof(g));
    CHECK_STR(g, "control-plane=4000/8192Mi:da aux=2000/4096Mi:cs");
    tk_experiment_free(e);
}

TK_TEST(topology_refusals)
{
    struct tk_localcp_opts o = {0};
    struct tk_cell_params p;
    char why[256];

    p = one_host();
    CHECK_INT(tk_run_topology(&p, &o, why, sizeof(why)), 0);
    CHECK_INT(o.datastore, TK_DS_ETCD);
    p.datastore = TK_EXP_DS_KINE_SQLITE;
    CHECK_INT(tk_run_topology(&p, &o, why, sizeof(why)), 0);
    CHECK_INT(o.datastore, TK_DS_KINE_SQLITE);

    p = one_host();
    p.datastore = TK_EXP_DS_KINE_POSTGRES;
    CHECK_INT(tk_run_topology(&p, &o, why, sizeof(why)), 0);
    CHECK_INT(o.datastore, TK_DS_KINE_POSTGRES);

    /* three etcd members: one etcd cluster; kine is one process */
    p = one_host();
    p.etcd_members = 3;
    CHECK_INT(tk_run_topology(&p, &o, why, sizeof(why)), 0);
    CHECK_INT(o.etcd_members, 3);
    CHECK_INT(o.datastore, TK_DS_ETCD);
    p.datastore = TK_EXP_DS_KINE_SQLITE;
    CHECK_INT(tk_run_topology(&p, &o, why, sizeof(why)), -1);
    CHECK_CONTAINS(why, "etcdMembers 3 with datastore kine-sqlite");

    /* provider kubeconfig attaches (phase_up never asks for a topology): nothing to map,
     * and the local groups are left alone */
    p = one_host();
    p.provider = TK_EXP_PROVIDER_KUBECONFIG;
    memset(&o, 0, sizeof(o));
    CHECK_INT(tk_run_topology(&p, &o, why, sizeof(why)), -1);
    CHECK_CONTAINS(why, "provider kubeconfig attaches to an existing cluster");
    CHECK_INT(o.cpu_millis, 0);

    /* scheduler on one host, controller-manager on another: a group each */
    char g[256];
    p = one_host();
    p.hosts[1] = (struct tk_exp_host){"aux", 1000, 1LL << 30};
    p.hosts[2] = (struct tk_exp_host){"aux2", 1500, 2LL << 30};
    p.nhosts = 3;
    p.placement[TK_EXP_SCHEDULER] = 1;
    p.placement[TK_EXP_CONTROLLER_MANAGER] = 2;
    memset(&o, 0, sizeof(o));
    CHECK_INT(tk_run_topology(&p, &o, why, sizeof(why)), 0);
    groups_of(&o, g, sizeof(g));
    CHECK_STR(g, "control-plane=2000/4096Mi:da aux=1000/1024Mi:s aux-2=1500/2048Mi:c");

    /* both with etcd, away from the apiserver: etcd's group holds the three */
    p = one_host();
    p.hosts[1] = (struct tk_exp_host){"etcd", 1000, 1LL << 30};
    p.nhosts = 2;
    p.placement[TK_EXP_ETCD] = 1;
    p.placement[TK_EXP_SCHEDULER] = 1;
    p.placement[TK_EXP_CONTROLLER_MANAGER] = 1;
    memset(&o, 0, sizeof(o));
    CHECK_INT(tk_run_topology(&p, &o, why, sizeof(why)), 0);
    groups_of(&o, g, sizeof(g));
    CHECK_STR(g, "control-plane=2000/4096Mi:a etcd=1000/1024Mi:dcs");

    /* the scheduler with etcd, the controller-manager on a host of its own */
    p.hosts[2] = (struct tk_exp_host){"aux", 500, 512LL << 20};
    p.nhosts = 3;
    p.placement[TK_EXP_CONTROLLER_MANAGER] = 2;
    memset(&o, 0, sizeof(o));
    CHECK_INT(tk_run_topology(&p, &o, why, sizeof(why)), 0);
    groups_of(&o, g, sizeof(g));
    CHECK_STR(g, "control-plane=2000/4096Mi:a etcd=1000/1024Mi:ds aux=500/512Mi:c");

    /* latency: whole milliseconds (toxiproxy's unit), only between hosts */
    p.latency_ns = 2500000;
    CHECK_INT(tk_run_topology(&p, &o, why, sizeof(why)), -1);
    CHECK_CONTAINS(why, "latency 2.5ms between hosts");
    CHECK_CONTAINS(why, "whole milliseconds");
    p = one_host();
    p.latency_ns = 2500000;
    memset(&o, 0, sizeof(o));
    CHECK_INT(tk_run_topology(&p, &o, why, sizeof(why)), 0);
    CHECK_INT(o.latency_ns, 0);

    /* a placement outside the hosts */
    p = one_host();
    p.placement[TK_EXP_APISERVER] = 3;
    CHECK_INT(tk_run_topology(&p, &o, why, sizeof(why)), -1);
}

TK_TEST(agent_shards_are_disjoint_and_cover_the_fleet)
{
    struct tk_cell_params p = one_host();
    int64_t s, n;

    p.nodes = 25;
    p.nodes_per_agent = 10;
    tk_run_agent_shard(&p, 0, &s, &n);
    CHECK_INT(s, 0);
    CHECK_INT(n, 10);
    tk_run_agent_shard(&p, 1, &s, &n);
    CHECK_INT(s, 10);
    CHECK_INT(n, 10);
    tk_run_agent_shard(&p, 2, &s, &n);
    CHECK_INT(s, 20);
    CHECK_INT(n, 5);
    CHECK_INT(tk_exp_agents(&p), 3);
    p.nodes = 5;
    p.nodes_per_agent = 1000;
    tk_run_agent_shard(&p, 0, &s, &n);
    CHECK_INT(s, 0);
    CHECK_INT(n, 5);
}

static struct tk_latency_summary row(const char *metric, const char *verb, const char *res,
                                     const char *sub, const char *scope, double p99)
{
    struct tk_latency_summary r = {(char *)metric,
                                   (char *)verb,
                                   (char *)res,
                                   (char *)sub,
                                   (char *)scope,
                                   10,
                                   p99 / 2,
                                   p99 / 1.5,
                                   p99,
                                   p99,
                                   0};
    return r;
}

TK_TEST(slo_check_applies_the_kubernetes_slos)
{
    struct tk_cell_params p = one_host();
    const char *sli = "apiserver_request_sli_duration_seconds";
    const char *dur = "apiserver_request_duration_seconds";
    struct tk_latency_summary rows[] = {
        row(sli, "POST", "pods", "", "resource", 1.5),        /* mutating over 1s */
        row(sli, "PATCH", "pods", "status", "resource", 0.9), /* under */
        row(sli, "DELETE", "pods", "", "namespace", 14.9),    /* a collection: no SLO */
        row(sli, "GET", "pods", "", "resource", 0.5),         /* under */
        row(sli, "GET", "nodes", "", "resource", 1.2),        /* read-only resource over */
        row(sli, "LIST", "pods", "", "cluster", 20),          /* under 30s */
        row(sli, "LIST", "configmaps", "", "namespace", 31),  /* over 30s */
        row(sli, "WATCH", "pods", "", "cluster", 300),        /* never judged */
        row(sli, "GET", "pods", "log", "namespace", 9),       /* never judged */
        row(sli, "CONNECT", "pods", "exec", "namespace", 9),  /* never judged */
        row(dur, "POST", "pods", "", "namespace", 9),         /* SLI rows exist: ignored */
        row(sli, "DELETE", "pods", "", "namespace", NAN),     /* no data */
    };
    struct tk_pod_latency pl[2] = {
        {.job = "node-density", .condition = "Ready", .p99 = 6000},
        {.job = "node-density", .condition = "PodScheduled", .p99 = 9000}};
    struct tk_slo_violation v[8];

    size_t n = tk_run_slo_check(&p, rows, sizeof(rows) / sizeof(rows[0]), pl, 2, v, 8);
    CHECK_INT(n, 4);
    CHECK_STR(v[0].what, "slo:mutating POST pods");
    CHECK_NEAR(v[0].value, 1.5, 1e-9);
    CHECK_NEAR(v[0].threshold, 1.0, 1e-9);
    CHECK_STR(v[1].what, "slo:read-only GET nodes (resource)");
    CHECK_STR(v[2].what, "slo:read-only LIST configmaps (namespace)");
    CHECK_NEAR(v[2].threshold, 30.0, 1e-9);
    CHECK_STR(v[3].what, "slo:pod startup (node-density, Ready p99)");
    CHECK_NEAR(v[3].value, 6.0, 1e-9);
    CHECK_NEAR(v[3].threshold, 5.0, 1e-9);
    /* a tighter threshold from the experiment file */
    p.slo_mutating_p99_ns = 500000000LL;
    n = tk_run_slo_check(&p, rows, sizeof(rows) / sizeof(rows[0]), NULL, 0, v, 8);
    CHECK_INT(n, 4);
    CHECK_STR(v[1].what, "slo:mutating PATCH pods/status");
    /* more violations than room: the count still says how many */
    CHECK_INT(tk_run_slo_check(&p, rows, sizeof(rows) / sizeof(rows[0]), pl, 2, v, 1), 5);
}

TK_TEST(slo_check_falls_back_to_request_duration)
{
    struct tk_cell_params p = one_host();
    struct tk_latency_summary rows[] = {
        row("apiserver_request_duration_seconds", "POST", "pods", "", "resource", 2),
        row("etcd_request_duration_seconds", "create", "pods", "", "", 5),
    };
    struct tk_slo_violation v[4];
    CHECK_INT(tk_run_slo_check(&p, rows, 2, NULL, 0, v, 4), 1);
    CHECK_STR(v[0].what, "slo:mutating POST pods");
    CHECK_INT(tk_run_slo_check(&p, NULL, 0, NULL, 0, v, 4), 0);
}

/* A cumulative apiserver scrape: fast POST pods (0.05 s) and slow ones (3 s) so far, with
 * a line of another family that tk_run_slo_families must drop. */
static char *sli_scrape(double fast, double slow)
{
    static const char *const le[] = {"0.1", "1", "5", "+Inf"};
    const double cum[] = {fast, fast, fast + slow, fast + slow};
    struct tk_buf b;
    tk_buf_init(&b, 0);
    tk_buf_printf(&b, "# TYPE apiserver_request_sli_duration_seconds histogram\n");
    for (int i = 0; i < 4; i++)
        tk_buf_printf(&b,
                      "apiserver_request_sli_duration_seconds_bucket{component=\"apiserver\","
                      "resource=\"pods\",scope=\"resource\",subresource=\"\",verb=\"POST\","
                      "le=\"%s\"} %.0f\n",
                      le[i], cum[i]);
    tk_buf_printf(&b, "process_cpu_seconds_total %.0f\n", fast);
    return tk_buf_detach(&b);
}

/* One round as the runner takes it: the SLOs over the window ending at t ((size_t)-1 when the
 * window has no start). */
static size_t window_violations(struct tk_cell_params *p, struct tk_slo_window *w, int64_t t,
                                const char *cur, size_t len, struct tk_slo_violation *v)
{
    const struct tk_slo_mark *start = tk_slo_window_start(w, t);
    struct tk_latency_summary *rows = NULL;
    struct tk_err err = {0};
    size_t nrows = 0, n = 0;
    if (!start)
        return (size_t)-1;
    if (tk_latency_summarize(start->text, start->len, cur, len, &rows, &nrows, &err) == 0)
        n = tk_run_slo_check(p, rows, nrows, NULL, 0, v, 4);
    tk_latency_summaries_free(rows, nrows);
    return n;
}

TK_TEST(slo_windows_are_five_minutes)
{
    /* 100 fast requests every 10 s for 10 min; 45 slow ones at t = 100 s. Over the whole load
     * 45 of 6,045 are slow (0.7 %): its p99 is fast. A 5-min window holding the burst has
     * 45 of ~3,045 (1.5 %): p99 above 1 s, the SLO broken, as clusterloader2 would judge. */
    struct tk_cell_params p = one_host();
    struct tk_slo_window w = {0};
    struct tk_slo_violation v[4];
    int64_t first = -1, last = -1;
    size_t len, kept_max = 0;
    char *text = sli_scrape(0, 0), *fam = tk_run_slo_families(text, strlen(text), &len);

    CHECK(strstr(fam, "process_cpu") == NULL);
    CHECK_CONTAINS(fam, "le=\"+Inf\"");
    tk_slo_window_add(&w, 0, fam, len); /* the baseline */
    free(text);
    free(fam);
    for (int64_t t = 10000; t <= 600000; t += 10000) {
        text = sli_scrape((double)(t / 10000) * 100, t >= 100000 ? 45 : 0);
        fam = tk_run_slo_families(text, strlen(text), &len);
        size_t n = window_violations(&p, &w, t, fam, len, v);
        CHECK(n != (size_t)-1);
        if (n) {
            CHECK_STR(v[0].what, "slo:mutating POST pods");
            CHECK(v[0].value > 1.0);
            if (first < 0)
                first = t;
            last = t;
        }
        tk_slo_window_add(&w, t, fam, len);
        if (w.n > kept_max)
            kept_max = w.n;
        free(text);
        free(fam);
    }
    CHECK_INT(first, 100000); /* the round that saw the burst */
    /* the window ending at t starts 5 min to 5 min 30 s before t: the burst (between the 90 s
     * and 100 s scrapes) leaves it by t = 420 s at the latest */
    CHECK(last >= 390000 && last <= 420000);
    CHECK(kept_max <= 12); /* 5 min at one kept scrape per 30 s, not every scrape */

    /* the same load judged whole: not broken */
    char *a = sli_scrape(0, 0), *b = sli_scrape(6000, 45);
    struct tk_latency_summary *rows = NULL;
    struct tk_err err = {0};
    size_t nrows = 0;
    CHECK_INT(tk_latency_summarize(a, strlen(a), b, strlen(b), &rows, &nrows, &err), 0);
    CHECK_INT(tk_run_slo_check(&p, rows, nrows, NULL, 0, v, 4), 0);
    tk_latency_summaries_free(rows, nrows);
    free(a);
    free(b);
    tk_slo_window_free(&w);
    CHECK_INT(w.n, 0);
}

TK_TEST(burner_verdicts_follow_its_exit_codes)
{
    CHECK(tk_run_burner_verdict(0 << 8, 0, 0) == NULL);
    CHECK_CONTAINS(tk_run_burner_verdict(1 << 8, 0, 0), "error");
    CHECK_CONTAINS(tk_run_burner_verdict(2 << 8, 0, 0), "timeout");
    CHECK_CONTAINS(tk_run_burner_verdict(3 << 8, 0, 0), "alert");
    /* 4 with the pod startup SLO exceeded repeats a soft failure; without, it is the error rate */
    CHECK(tk_run_burner_verdict(4 << 8, 0, 1) == NULL);
    CHECK_CONTAINS(tk_run_burner_verdict(4 << 8, 0, 0), "above 10%");
    CHECK_CONTAINS(tk_run_burner_verdict(9 /* SIGKILL */, 0, 0), "signal");
    CHECK_CONTAINS(tk_run_burner_verdict(0, 1, 0), "timeout");
}

static char *capture_summary(struct tk_store *st, int64_t exp, enum tk_run_format f)
{
    char *buf = NULL;
    size_t len = 0;
    struct tk_err err = {0};
    FILE *m = open_memstream(&buf, &len);
    int rc = tk_run_print_summary(tk_store_db(st), exp, f, m, &err);
    fclose(m);
    if (rc) {
        free(buf);
        return NULL;
    }
    return buf;
}

TK_TEST(summary_reads_what_a_cell_recorded)
{
    char dir[] = "/tmp/tk-test-run-XXXXXX";
    struct tk_store *st = NULL;
    struct tk_err err = {0};
    int64_t exp, cell, other;
    char *path, *text;

    CHECK(mkdtemp(dir) != NULL);
    path = tk_xasprintf("%s/r.db", dir);
    CHECK_INT(tk_store_open(&st, path, &err), 0);
    CHECK_INT(tk_store_add_experiment(st, "quick", NULL, "q.yaml", "name: quick", &exp, &err), 0);
    CHECK_INT(
        tk_store_add_cell(st, exp, 0, "aaaaaaaaaaaa",
                          "{\"agents\":{\"nodes\":100},\"load\":{\"shape\":\"node-density\"}}",
                          &cell, NULL, &err),
        0);
    CHECK_INT(tk_store_add_cell(st, exp, 1, "bbbbbbbbbbbb", "{\"agents\":{\"nodes\":5}}", &other,
                                NULL, &err),
              0);
    CHECK_INT(tk_store_set_cell_status(st, cell, TK_CELL_RUNNING, NULL, &err), 0);
    CHECK_INT(tk_store_set_cell_status(st, cell, TK_CELL_COMPLETE, NULL, &err), 0);
    CHECK_INT(tk_store_set_cell_status(st, other, TK_CELL_FAILED, "unsupported: x", &err), 0);
    struct tk_latency_summary rows[] = {
        row("apiserver_request_sli_duration_seconds", "POST", "pods", "", "namespace", 0.048),
        row("apiserver_request_sli_duration_seconds", "GET", "nodes", "", "resource", 0.01),
        row("apiserver_request_duration_seconds", "PUT", "leases", "", "namespace", 0.02),
        row("etcd_request_duration_seconds", "create", "pods", "", "", 0.004),
    };
    rows[0].count = 1000;
    for (size_t i = 0; i < 4; i++)
        CHECK_INT(tk_store_add_latency_summary(st, cell, "apiserver", &rows[i], &err), 0);
    struct tk_latency_summary wal =
        row("etcd_disk_wal_fsync_duration_seconds", "", "", "", "", 0.0032);
    CHECK_INT(tk_store_add_latency_summary(st, cell, "etcd", &wal, &err), 0);
    struct tk_pod_latency pl = {.job = "node-density",
                                .condition = "Ready",
                                .p50 = 1000,
                                .p95 = 2000,
                                .p99 = 3000,
                                .min = 0,
                                .max = 3000,
                                .avg = 1200};
    CHECK_INT(tk_store_add_pod_latency(st, cell, &pl, 1, &err), 0);
    CHECK_INT(tk_store_add_usage(st, cell, "apiserver", 30.0, 512LL << 20, &err), 0);
    CHECK_INT(tk_store_add_usage(st, cell, "etcd", 10.0, 128LL << 20, &err), 0);
    CHECK_INT(tk_store_add_usage(st, cell, "turbokube", 1.0, 20LL << 20, &err), 0);
    struct tk_store_sample ls = {1, "summary", "load_seconds", "", 60};
    CHECK_INT(tk_store_add_samples(st, cell, &ls, 1, &err), 0);
    /* what a provider kubeconfig cell could not measure, twice: listed once */
    struct tk_store_sample nm[3] = {
        {1, "summary", "not_measured", "component=\"scheduler\",what=\"usage\"", 1},
        {1, "summary", "not_measured", "component=\"etcd\",what=\"metrics\"", 1},
        {2, "summary", "not_measured", "component=\"etcd\",what=\"metrics\"", 1}};
    CHECK_INT(tk_store_add_samples(st, cell, nm, 3, &err), 0);
    struct tk_failure_point fp = {.t_ms = 5,
                                  .kind = TK_FAILURE_SOFT,
                                  .what = "slo:mutating POST pods",
                                  .value = 1.5,
                                  .threshold = 1,
                                  .detail = "p99 1.5s"};
    CHECK_INT(tk_store_add_failure(st, cell, &fp, &err), 0);

    text = capture_summary(st, exp, TK_RUN_TABLE);
    CHECK(text != NULL);
    CHECK_CONTAINS(text, "cell 0  aaaaaaaaaaaa  complete  node-density, 100 nodes");
    CHECK_CONTAINS(text, "apiserver latency (apiserver_request_sli_duration_seconds)");
    CHECK_CONTAINS(text, "POST     pods");
    CHECK_CONTAINS(text, "48.0ms");
    CHECK(strstr(text, "leases") == NULL); /* not the SLI metric */
    CHECK_CONTAINS(text, "apiserver->etcd create pods");
    CHECK_CONTAINS(text, "wal fsync etcd");
    CHECK_CONTAINS(text, "3.2ms");
    CHECK_CONTAINS(text, "Ready");
    CHECK_CONTAINS(text, "3.00s");
    CHECK_CONTAINS(text, "usage during the load (60s)");
    CHECK_CONTAINS(text, "control plane");
    CHECK_CONTAINS(text, "40.0      0.67");
    CHECK_CONTAINS(text, "soft slo:mutating POST pods: p99 1.5s");
    CHECK_CONTAINS(text, "cell 1  bbbbbbbbbbbb  failed");
    CHECK_CONTAINS(text, "exit reason: unsupported: x");
    CHECK_CONTAINS(text, "  not measured: etcd metrics, scheduler usage\n");
    /* the POST row, most requested, comes first */
    CHECK(strstr(text, "POST     pods") < strstr(text, "GET      nodes"));
    free(text);

    text = capture_summary(st, exp, TK_RUN_JSON);
    CHECK(text != NULL);
    cJSON *j = cJSON_Parse(text);
    free(text);
    CHECK(j != NULL);
    cJSON *cells = cJSON_GetObjectItem(j, "cells");
    CHECK_INT(cJSON_GetArraySize(cells), 2);
    cJSON *c0 = cJSON_GetArrayItem(cells, 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(c0, "status")), "complete");
    cJSON *api0 = cJSON_GetArrayItem(cJSON_GetObjectItem(c0, "apiserver"), 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(api0, "verb")), "POST");
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(api0, "p99")), 0.048, 1e-12);
    cJSON *nmj = cJSON_GetObjectItem(c0, "notMeasured");
    CHECK_INT(cJSON_GetArraySize(nmj), 2);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(nmj, 0)), "etcd metrics");
    cJSON *cp = cJSON_GetObjectItem(c0, "controlPlane");
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(cp, "cpuSeconds")), 40.0, 1e-9);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(cells, 1), "exitReason")),
              "unsupported: x");
    cJSON_Delete(j);

    tk_store_close(st);
    unlink(path);
    char *wal_path = tk_xasprintf("%s-wal", path), *shm = tk_xasprintf("%s-shm", path);
    unlink(wal_path);
    unlink(shm);
    free(wal_path);
    free(shm);
    rmdir(dir);
    free(path);
}

TK_TEST_MAIN(topology_from_the_shipped_file, topology_refusals,
             agent_shards_are_disjoint_and_cover_the_fleet, slo_check_applies_the_kubernetes_slos,
             slo_check_falls_back_to_request_duration, slo_windows_are_five_minutes,
             burner_verdicts_follow_its_exit_codes, summary_reads_what_a_cell_recorded)
