#include <ftw.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "burner.h"
#include "err.h"
#include "experiment.h"
#include "store.h"
#include "tktest.h"
#include "tktest_tmp.h"
#include "yaml.h"

static const char *data_dir(void)
{
    const char *d = tk_test_data_dir();
    return d;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct tk_buf b;
    tk_buf_init(&b, 0);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        tk_buf_append(&b, chunk, n);
    fclose(f);
    if (len)
        *len = b.len;
    return tk_buf_detach(&b);
}

static char *data(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/burner/%s", data_dir(), name);
    return slurp(path, len);
}

static struct tk_experiment *load(const char *text)
{
    struct tk_experiment *e = NULL;
    struct tk_err err = {0};
    if (tk_experiment_load_string(&e, "t.yaml", text, strlen(text), &err))
        fprintf(stderr, "  %s\n", err.msg);
    return e;
}

/* The keys kube-burner v2.7.3's config types accept (pkg/config/types.go, yaml tags), level by
 * level; its parser runs with KnownFields(true), so anything else is fatal. */
static const char *const k_root[] = {"metricsEndpoints", "global", "jobs", NULL};
static const char *const k_global[] = {"measurements",
                                       "requestTimeout",
                                       "gc",
                                       "waitWhenFinished",
                                       "gcMetrics",
                                       "clusterHealth",
                                       "timeout",
                                       "functionTemplates",
                                       "deletionStrategy",
                                       NULL};
static const char *const k_measurement[] = {"name", "thresholds", NULL};
static const char *const k_threshold[] = {"conditionType", "metric", "threshold", NULL};
static const char *const k_endpoint[] = {"indexer",  "metrics",       "alerts", "endpoint",
                                         "step",     "skipTLSVerify", "token",  "username",
                                         "password", "alias",         NULL};
static const char *const k_indexer[] = {"type", "metricsDirectory", NULL};
static const char *const k_job[] = {"jobIterations",
                                    "jobIterationDelay",
                                    "jobPause",
                                    "beforeCleanup",
                                    "name",
                                    "objects",
                                    "watchers",
                                    "jobType",
                                    "qps",
                                    "burst",
                                    "namespace",
                                    "maxWaitTimeout",
                                    "waitForDeletion",
                                    "podWait",
                                    "waitWhenFinished",
                                    "cleanup",
                                    "namespacedIterations",
                                    "iterationsPerNamespace",
                                    "verifyObjects",
                                    "errorOnVerify",
                                    "preLoadImages",
                                    "preLoadPeriod",
                                    "preLoadNodeLabels",
                                    "namespaceLabels",
                                    "namespaceAnnotations",
                                    "churnConfig",
                                    "skipIndexing",
                                    "defaultMissingKeysWithZero",
                                    "executionMode",
                                    "objectDelay",
                                    "objectWait",
                                    "metricsAggregate",
                                    "metricsClosing",
                                    "gc",
                                    "measurements",
                                    NULL};
static const char *const k_object[] = {
    "objectTemplate", "replicas", "inputVars",   "kind",    "patchType", "apiVersion",
    "labelSelector",  "wait",     "waitOptions", "runOnce", NULL};
static const char *const k_churn[] = {"cycles", "percent", "duration", "delay", "mode", NULL};

static int check_v2_keys(const struct tk_yaml_doc *doc, struct tk_err *err)
{
    const struct tk_yaml_node *root = tk_yaml_root(doc);
    if (tk_yaml_check_keys(doc, root, k_root, err))
        return -1;
    const struct tk_yaml_node *g = tk_yaml_get(root, "global");
    if (tk_yaml_check_keys(doc, g, k_global, err))
        return -1;
    const struct tk_yaml_node *ms = tk_yaml_get(g, "measurements");
    for (size_t i = 0; ms && i < ms->n; i++) {
        if (tk_yaml_check_keys(doc, ms->items[i], k_measurement, err))
            return -1;
        const struct tk_yaml_node *th = tk_yaml_get(ms->items[i], "thresholds");
        for (size_t j = 0; th && j < th->n; j++)
            if (tk_yaml_check_keys(doc, th->items[j], k_threshold, err))
                return -1;
    }
    const struct tk_yaml_node *eps = tk_yaml_get(root, "metricsEndpoints");
    for (size_t i = 0; eps && i < eps->n; i++)
        if (tk_yaml_check_keys(doc, eps->items[i], k_endpoint, err) ||
            tk_yaml_check_keys(doc, tk_yaml_get(eps->items[i], "indexer"), k_indexer, err))
            return -1;
    const struct tk_yaml_node *jobs = tk_yaml_get(root, "jobs");
    for (size_t i = 0; jobs && i < jobs->n; i++) {
        if (tk_yaml_check_keys(doc, jobs->items[i], k_job, err) ||
            tk_yaml_check_keys(doc, tk_yaml_get(jobs->items[i], "churnConfig"), k_churn, err))
            return -1;
        const struct tk_yaml_node *objs = tk_yaml_get(jobs->items[i], "objects");
        for (size_t j = 0; objs && j < objs->n; j++)
            if (tk_yaml_check_keys(doc, objs->items[j], k_object, err))
                return -1;
    }
    return 0;
}

static const char *scalar_at(const struct tk_yaml_node *map, const char *dotted)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", dotted);
    const struct tk_yaml_node *n = map;
    for (char *tok = strtok(buf, "."); tok && n; tok = strtok(NULL, ".")) {
        if (tok[0] >= '0' && tok[0] <= '9') {
            size_t i = (size_t)atoi(tok);
            n = n->kind == TK_YAML_SEQ && i < n->n ? n->items[i] : NULL;
        } else {
            n = tk_yaml_get(n, tok);
        }
    }
    return n && n->kind == TK_YAML_SCALAR ? n->scalar : NULL;
}

/* kube-burner renders object templates before parsing them: substitute the actions we use. */
static int template_parses(const char *text, const char *kind)
{
    static const char *const actions[] = {"{{.JobName}}", "{{.Iteration}}", "{{.Replica}}",
                                          "{{.podReplicas}}"};
    struct tk_buf b;
    tk_buf_init(&b, 0);
    for (const char *p = text; *p;) {
        size_t k = 0;
        for (; k < 4; k++)
            if (strncmp(p, actions[k], strlen(actions[k])) == 0)
                break;
        if (k < 4) {
            tk_buf_puts(&b, "7");
            p += strlen(actions[k]);
        } else if (strncmp(p, "{{", 2) == 0) {
            fprintf(stderr, "  unknown template action at '%.20s'\n", p);
            tk_buf_release(&b);
            return 0;
        } else {
            tk_buf_append(&b, p++, 1);
        }
    }
    struct tk_yaml_doc *doc = NULL;
    struct tk_err err = {0};
    int ok = tk_yaml_load_string(&doc, "template", b.data, b.len, &err) == 0;
    if (!ok)
        fprintf(stderr, "  %s\n", err.msg);
    ok = ok && scalar_at(tk_yaml_root(doc), "kind") &&
         strcmp(scalar_at(tk_yaml_root(doc), "kind"), kind) == 0;
    tk_yaml_free(doc);
    tk_buf_release(&b);
    return ok;
}

TK_TEST(render_node_density)
{
    struct tk_experiment *e = load("name: x\n"
                                   "agents: {nodes: 100}\n"
                                   "load: {podsPerNode: 10, qps: 12.5, burst: 30, timeout: 5m}\n"
                                   "measurement: {slo: {podStartupP99: 4s}}\n");
    CHECK(e != NULL);
    struct tk_burner_job job;
    struct tk_err err = {0};
    const char *dir = tk_test_tmp_path("nd/cell");
    CHECK_INT(tk_burner_render(&e->cells[0].p, dir, &job, &err), 0);
    CHECK_STR(job.workdir, dir);
    CHECK_CONTAINS(job.config_path, "nd/cell/config.yml");
    CHECK_CONTAINS(job.metrics_dir, "nd/cell/metrics");
    CHECK_STR(job.job, "node-density");

    char *cfg = slurp(job.config_path, NULL);
    CHECK(cfg != NULL);
    CHECK(strstr(cfg, "{{") == NULL); /* kube-burner renders the config as a template */
    struct tk_yaml_doc *doc = NULL;
    CHECK_INT(tk_yaml_load_string(&doc, "config.yml", cfg, strlen(cfg), &err), 0);
    if (check_v2_keys(doc, &err))
        fprintf(stderr, "  %s\n", err.msg);
    CHECK_INT(err.code, 0);
    const struct tk_yaml_node *r = tk_yaml_root(doc);
    CHECK_STR(scalar_at(r, "global.gc"), "true");
    CHECK_STR(scalar_at(r, "global.measurements.0.name"), "podLatency");
    CHECK_STR(scalar_at(r, "global.measurements.0.thresholds.0.conditionType"), "Ready");
    CHECK_STR(scalar_at(r, "global.measurements.0.thresholds.0.metric"), "P99");
    CHECK_STR(scalar_at(r, "global.measurements.0.thresholds.0.threshold"), "4s");
    CHECK_STR(scalar_at(r, "metricsEndpoints.0.indexer.type"), "local");
    CHECK_STR(scalar_at(r, "metricsEndpoints.0.indexer.metricsDirectory"), "metrics");
    CHECK_STR(scalar_at(r, "jobs.0.name"), "node-density");
    CHECK_STR(scalar_at(r, "jobs.0.jobType"), "create");
    CHECK_STR(scalar_at(r, "jobs.0.jobIterations"), "1000");
    CHECK_STR(scalar_at(r, "jobs.0.qps"), "12.5");
    CHECK_STR(scalar_at(r, "jobs.0.burst"), "30");
    CHECK_STR(scalar_at(r, "jobs.0.namespace"), "node-density");
    CHECK_STR(scalar_at(r, "jobs.0.namespacedIterations"), "false");
    CHECK_STR(scalar_at(r, "jobs.0.waitWhenFinished"), "true");
    CHECK_STR(scalar_at(r, "jobs.0.maxWaitTimeout"), "5m0s");
    CHECK_STR(scalar_at(r, "jobs.0.preLoadImages"), "false");
    CHECK(tk_yaml_get(tk_yaml_get(r, "jobs")->items[0], "churnConfig") == NULL);
    CHECK_STR(scalar_at(r, "jobs.0.objects.0.objectTemplate"), "templates/pod.yml");
    CHECK_STR(scalar_at(r, "jobs.0.objects.0.replicas"), "1");
    tk_yaml_free(doc);
    free(cfg);

    /* the template is where the config says, relative to the working directory */
    char *tp = tk_xasprintf("%s/templates/pod.yml", job.workdir);
    char *pod = slurp(tp, NULL);
    CHECK(pod != NULL);
    CHECK(template_parses(pod, "Pod"));
    CHECK_CONTAINS(pod, "name: {{.JobName}}-{{.Iteration}}");
    CHECK_CONTAINS(pod, "turbokube.io/fake: \"true\"");
    free(pod);
    free(tp);
    tk_burner_job_release(&job);
    tk_experiment_free(e);
}

TK_TEST(render_cluster_density_with_churn)
{
    struct tk_experiment *e = load("name: x\n"
                                   "agents: {nodes: 50}\n"
                                   "load:\n"
                                   "  shape: cluster-density\n"
                                   "  namespaces: 7\n"
                                   "  deploymentsPerNamespace: 3\n"
                                   "  replicas: 4\n"
                                   "  services: 2\n"
                                   "  configmaps: 0\n"
                                   "  secrets: 5\n"
                                   "  churn: {cycles: 2, percent: 20, delay: 1m}\n");
    CHECK(e != NULL);
    char *cfg = tk_burner_config(&e->cells[0].p);
    CHECK(cfg != NULL);
    CHECK(strstr(cfg, "{{") == NULL);
    struct tk_yaml_doc *doc = NULL;
    struct tk_err err = {0};
    CHECK_INT(tk_yaml_load_string(&doc, "config.yml", cfg, strlen(cfg), &err), 0);
    if (check_v2_keys(doc, &err))
        fprintf(stderr, "  %s\n", err.msg);
    CHECK_INT(err.code, 0);
    const struct tk_yaml_node *r = tk_yaml_root(doc);
    CHECK_STR(scalar_at(r, "jobs.0.name"), "cluster-density");
    CHECK_STR(scalar_at(r, "jobs.0.jobIterations"), "7");
    CHECK_STR(scalar_at(r, "jobs.0.namespacedIterations"), "true");
    CHECK_STR(scalar_at(r, "jobs.0.iterationsPerNamespace"), "1");
    CHECK_STR(scalar_at(r, "jobs.0.churnConfig.cycles"), "2");
    CHECK_STR(scalar_at(r, "jobs.0.churnConfig.percent"), "20");
    CHECK_STR(scalar_at(r, "jobs.0.churnConfig.delay"), "1m0s");
    CHECK_STR(scalar_at(r, "jobs.0.churnConfig.mode"), "namespaces");
    CHECK(scalar_at(r, "jobs.0.churnConfig.duration") == NULL);
    /* no configmaps: that object is left out, the others keep their order */
    CHECK_STR(scalar_at(r, "jobs.0.objects.0.objectTemplate"), "templates/secret.yml");
    CHECK_STR(scalar_at(r, "jobs.0.objects.0.replicas"), "5");
    CHECK_STR(scalar_at(r, "jobs.0.objects.1.objectTemplate"), "templates/service.yml");
    CHECK_STR(scalar_at(r, "jobs.0.objects.1.replicas"), "2");
    CHECK_STR(scalar_at(r, "jobs.0.objects.2.objectTemplate"), "templates/deployment.yml");
    CHECK_STR(scalar_at(r, "jobs.0.objects.2.replicas"), "3");
    CHECK_STR(scalar_at(r, "jobs.0.objects.2.inputVars.podReplicas"), "4");
    CHECK(tk_yaml_get(r, "jobs")->items[0] &&
          tk_yaml_get(tk_yaml_get(r, "jobs")->items[0], "objects")->n == 3);
    tk_yaml_free(doc);
    free(cfg);

    const struct tk_burner_template *t;
    size_t nt = tk_burner_templates(&e->cells[0].p, &t);
    CHECK_INT(nt, 4);
    static const char *const kinds[] = {"ConfigMap", "Secret", "Service", "Deployment"};
    for (size_t i = 0; i < nt; i++)
        CHECK(template_parses(t[i].text, kinds[i]));

    struct tk_burner_job job;
    CHECK_INT(tk_burner_render(&e->cells[0].p, tk_test_tmp_path("cd"), &job, &err), 0);
    for (size_t i = 0; i < nt; i++) {
        char *p = tk_xasprintf("%s/templates/%s", job.workdir, t[i].name);
        CHECK(access(p, R_OK) == 0);
        free(p);
    }
    tk_burner_job_release(&job);
    tk_experiment_free(e);
}

TK_TEST(render_custom_runs_from_its_own_directory)
{
    char path[512];
    struct tk_experiment *e = NULL;
    struct tk_err err = {0};
    snprintf(path, sizeof(path), "%s/experiments/good/custom.yaml", data_dir());
    CHECK_INT(tk_experiment_load(&e, path, &err), 0);
    CHECK(tk_burner_config(&e->cells[0].p) == NULL);
    struct tk_burner_job job;
    CHECK_INT(tk_burner_render(&e->cells[0].p, tk_test_tmp_path("custom"), &job, &err), 0);
    CHECK_CONTAINS(job.workdir, "/experiments/good");
    CHECK_CONTAINS(job.config_path, "/experiments/good/custom-kube-burner.yml");
    CHECK(job.metrics_dir == NULL);
    CHECK(job.job == NULL);
    char *orig = slurp(job.config_path, NULL);
    char *copy = slurp(tk_test_tmp_path("custom/config.yml"), NULL);
    CHECK(orig && copy);
    CHECK_STR(copy, orig);
    free(orig);
    free(copy);
    tk_burner_job_release(&job);
    tk_experiment_free(e);
}

TK_TEST(render_into_unwritable_dir_fails)
{
    struct tk_experiment *e = load("name: x\n");
    struct tk_burner_job job;
    struct tk_err err = {0};
    CHECK(e != NULL);
    CHECK_INT(tk_burner_render(&e->cells[0].p, "/proc/turbokube/cell", &job, &err), TK_EIO);
    CHECK_CONTAINS(err.msg, "/proc/turbokube");
    CHECK(job.config_path == NULL);
    tk_experiment_free(e);
}

TK_TEST(command_line)
{
    char cfg[] = "/c/config.yml";
    struct tk_burner_job job = {.config_path = cfg};
    char **argv = tk_burner_argv("/bin/kube-burner", &job, "u-1", 300000000000LL, "/k/kc");
    static const char *const want[] = {"/bin/kube-burner", "init",   "-c",
                                       "/c/config.yml",    "--uuid", "u-1",
                                       "--timeout",        "5m0s",   "--skip-log-file",
                                       "--kubeconfig",     "/k/kc",  NULL};
    for (size_t i = 0; want[i]; i++)
        CHECK_STR(argv[i], want[i]);
    CHECK(argv[11] == NULL);
    tk_burner_argv_free(argv);
    argv = tk_burner_argv("kb", &job, "u", 60000000000LL, NULL);
    CHECK_STR(argv[8], "--skip-log-file");
    CHECK(argv[9] == NULL);
    tk_burner_argv_free(argv);
    CHECK_STR(tk_burner_exit_reason(2), "kube-burner timeout");
    CHECK_CONTAINS(tk_burner_exit_reason(4), "threshold");
    CHECK_CONTAINS(tk_burner_exit_reason(77), "unknown");
}

TK_TEST(parse_pod_latency_quantiles)
{
    size_t len = 0, n = 0;
    char *text = data("podLatencyQuantilesMeasurement-node-density.json", &len);
    struct tk_pod_latency *q = NULL;
    struct tk_err err = {0};
    CHECK(text != NULL);
    CHECK_INT(tk_burner_parse_quantiles(text, len, "q.json", "x", &q, &n, &err), 0);
    CHECK_INT(n, 6);
    CHECK_STR(q[0].condition, "Ready");
    CHECK_STR(q[0].job, "node-density");
    CHECK_NEAR(q[0].p99, 4000, 0);
    CHECK_NEAR(q[0].p95, 3000, 0);
    CHECK_NEAR(q[0].p50, 2000, 0);
    CHECK_NEAR(q[0].min, 1000, 0);
    CHECK_NEAR(q[0].max, 5000, 0);
    CHECK_NEAR(q[0].avg, 2114, 0);
    CHECK_STR(q[5].condition, "ContainersStarted");
    CHECK_NEAR(q[5].p50, 1349, 0);
    CHECK_STR(q[4].condition, "PodReadyToStartContainers");

    /* into the database, one row per condition */
    struct tk_store *st = NULL;
    int64_t exp = 0, cell = 0;
    CHECK_INT(tk_store_open(&st, tk_test_tmp_path("q.db"), &err), 0);
    CHECK_INT(tk_store_add_experiment(st, "t", NULL, NULL, NULL, &exp, &err), 0);
    CHECK_INT(tk_store_add_cell(st, exp, 0, "abcdefabcdef", "{}", &cell, NULL, &err), 0);
    CHECK_INT(tk_store_add_pod_latency(st, cell, q, n, &err), 0);
    sqlite3_stmt *s = NULL;
    CHECK_INT(sqlite3_prepare_v2(tk_store_db(st),
                                 "SELECT count(*), sum(p99) FROM pod_latency WHERE job = "
                                 "'node-density'",
                                 -1, &s, NULL),
              SQLITE_OK);
    CHECK_INT(sqlite3_step(s), SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(s, 0), 6);
    CHECK_NEAR(sqlite3_column_double(s, 1), 4000 + 1000 + 1000 + 4000 + 1000 + 3861, 0);
    sqlite3_finalize(s);
    tk_store_close(st);
    free(q);
    free(text);

    /* before v2: no min, no jobName; other documents in the file are skipped */
    text = data("podLatencyQuantilesMeasurement-v1.json", &len);
    CHECK_INT(tk_burner_parse_quantiles(text, len, "v1.json", "kubelet-density", &q, &n, &err), 0);
    CHECK_INT(n, 1);
    CHECK(isnan(q[0].min));
    CHECK_STR(q[0].job, "kubelet-density");
    CHECK_NEAR(q[0].p99, 3774, 0);
    free(q);
    free(text);

    text = data("podLatencyQuantilesMeasurement-bad.json", &len);
    CHECK_INT(tk_burner_parse_quantiles(text, len, "bad.json", "j", &q, &n, &err), TK_EINVAL);
    CHECK_STR(err.msg, "bad.json: item 0: missing number 'P99'");
    CHECK(q == NULL);
    free(text);
    tk_err_clear(&err);
    CHECK_INT(tk_burner_parse_quantiles("{}", 2, "obj.json", "j", &q, &n, &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "expected a JSON array");
    tk_err_clear(&err);
    CHECK_INT(tk_burner_parse_quantiles("[1,", 3, "trunc.json", "j", &q, &n, &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "trunc.json: invalid JSON");
}

TK_TEST(parse_job_summary)
{
    size_t len = 0, n = 0;
    char *text = data("jobSummary.json", &len);
    struct tk_job_summary *j = NULL;
    struct tk_err err = {0};
    CHECK(text != NULL);
    CHECK_INT(tk_burner_parse_job_summary(text, len, "jobSummary.json", &j, &n, &err), 0);
    CHECK_INT(n, 1);
    CHECK_STR(j[0].job, "node-density");
    CHECK_INT(j[0].start_ms, 1762178452517LL);
    CHECK_INT(j[0].end_ms, 1762178560981LL);
    CHECK_NEAR(j[0].elapsed_s, 108.46, 1e-9);
    CHECK_INT(j[0].passed, 1);
    CHECK_STR(j[0].version, "v2.7.3@0f1e9d2c4b7a");
    CHECK_STR(j[0].k8s_version, "v1.36.3");
    CHECK_INT(j[0].total_nodes, 100);
    CHECK_INT(j[0].iterations, 1000);
    CHECK_NEAR(j[0].qps, 50, 0);
    CHECK_INT(j[0].burst, 50);
    CHECK_STR(j[0].errors, "");
    free(j);
    free(text);

    text = data("jobSummary-failed.json", &len);
    CHECK_INT(tk_burner_parse_job_summary(text, len, "failed.json", &j, &n, &err), 0);
    CHECK_INT(n, 1);
    CHECK_INT(j[0].passed, 0);
    CHECK_CONTAINS(j[0].errors, "cluster-density-42");
    CHECK_INT(j[0].start_ms, 1762179000000LL); /* 15:10:00+01:00 */
    CHECK_INT(j[0].end_ms, 1762179900250LL);
    CHECK_INT(j[0].total_nodes, -1);
    CHECK_STR(j[0].k8s_version, "");

    struct tk_store *st = NULL;
    int64_t exp = 0, cell = 0;
    CHECK_INT(tk_store_open(&st, tk_test_tmp_path("j.db"), &err), 0);
    CHECK_INT(tk_store_add_experiment(st, "t", NULL, NULL, NULL, &exp, &err), 0);
    CHECK_INT(tk_store_add_cell(st, exp, 0, "abcdefabcdef", "{}", &cell, NULL, &err), 0);
    CHECK_INT(tk_store_add_job_summary(st, cell, &j[0], &err), 0);
    tk_store_close(st);
    free(j);
    free(text);

    static const char missing_name[] = "[{\"timestamp\":\"2025-11-03T14:00:52Z\","
                                       "\"elapsedTime\":1,\"jobConfig\":{}}]";
    CHECK_INT(
        tk_burner_parse_job_summary(missing_name, strlen(missing_name), "x.json", &j, &n, &err),
        TK_EINVAL);
    CHECK_STR(err.msg, "x.json: item 0: missing string 'jobConfig.name'");
    tk_err_clear(&err);
    static const char bad_time[] = "[{\"timestamp\":\"yesterday\",\"elapsedTime\":1,"
                                   "\"jobConfig\":{\"name\":\"a\"}}]";
    CHECK_INT(tk_burner_parse_job_summary(bad_time, strlen(bad_time), "x.json", &j, &n, &err),
              TK_EINVAL);
    CHECK_CONTAINS(err.msg, "'timestamp' is not an RFC 3339 time");
}

TK_TEST(read_results_from_metrics_dir)
{
    char dir[512];
    struct tk_pod_latency *q = NULL;
    struct tk_job_summary *j = NULL;
    size_t n = 0;
    struct tk_err err = {0};
    snprintf(dir, sizeof(dir), "%s/burner", data_dir());
    CHECK_INT(tk_burner_read_quantiles(dir, "node-density", &q, &n, &err), 0);
    CHECK_INT(n, 6);
    free(q);
    CHECK_INT(tk_burner_read_job_summary(dir, &j, &n, &err), 0);
    CHECK_INT(n, 1);
    free(j);
    CHECK_INT(tk_burner_read_quantiles(dir, "cluster-density", &q, &n, &err), TK_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "podLatencyQuantilesMeasurement-cluster-density.json");
    CHECK(q == NULL);
}

TK_TEST(rfc3339_times)
{
    int64_t ms = 0;
    CHECK_INT(tk_burner_parse_time("1970-01-01T00:00:00Z", &ms), 0);
    CHECK_INT(ms, 0);
    CHECK_INT(tk_burner_parse_time("1970-01-01T00:00:01.5Z", &ms), 0);
    CHECK_INT(ms, 1500);
    CHECK_INT(tk_burner_parse_time("2000-03-01T02:00:00.123456789+02:00", &ms), 0);
    CHECK_INT(ms, 951868800123LL);
    CHECK_INT(tk_burner_parse_time("2000-03-01T00:00:00-00:30", &ms), 0);
    CHECK_INT(ms, 951870600000LL);
    CHECK_INT(tk_burner_parse_time("2000-03-01 00:00:00", &ms), -1); /* no zone */
    CHECK_INT(tk_burner_parse_time("2000-13-01T00:00:00Z", &ms), -1);
    CHECK_INT(tk_burner_parse_time("2000-03-01T00:00:00.Z", &ms), -1);
    CHECK_INT(tk_burner_parse_time("2000-03-01T00:00:00Zjunk", &ms), -1);
    CHECK_INT(tk_burner_parse_time(NULL, &ms), -1);
}

TK_TEST_MAIN(render_node_density, render_cluster_density_with_churn,
             render_custom_runs_from_its_own_directory, render_into_unwritable_dir_fails,
             command_line, parse_pod_latency_quantiles, parse_job_summary,
             read_results_from_metrics_dir, rfc3339_times)
