#include "burner.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "duration.h"
#include "json.h"
#include "prom.h"

const char *tk_burner_exit_reason(int code)
{
    switch (code) {
    case TK_BURNER_EXIT_OK:
        return "ok";
    case TK_BURNER_EXIT_ERROR:
        return "kube-burner error";
    case TK_BURNER_EXIT_TIMEOUT:
        return "kube-burner timeout";
    case TK_BURNER_EXIT_ALERT:
        return "kube-burner alert";
    case TK_BURNER_EXIT_MEASUREMENT:
        return "measurement threshold exceeded or latency error rate above 10%";
    default:
        return "kube-burner exited with an unknown code";
    }
}

/* ---- templates ---------------------------------------------------------------------------- */

#define PAUSE_IMAGE "registry.k8s.io/pause:3.10"

static const char pod_yml[] =
    "# rendered by turbokube: one pause pod per iteration, on fake nodes only\n"
    "apiVersion: v1\n"
    "kind: Pod\n"
    "metadata:\n"
    "  name: {{.JobName}}-{{.Iteration}}\n"
    "  labels:\n"
    "    app: turbokube-node-density\n"
    "spec:\n"
    "  nodeSelector:\n"
    "    turbokube.io/fake: \"true\"\n"
    "  containers:\n"
    "    - name: pause\n"
    "      image: " PAUSE_IMAGE "\n"
    "      imagePullPolicy: IfNotPresent\n"
    "      resources:\n"
    "        requests:\n"
    "          cpu: 10m\n"
    "          memory: 10Mi\n";

static const char configmap_yml[] = "# rendered by turbokube\n"
                                    "apiVersion: v1\n"
                                    "kind: ConfigMap\n"
                                    "metadata:\n"
                                    "  name: cluster-density-{{.Replica}}\n"
                                    "data:\n"
                                    "  key1: value-{{.Iteration}}-{{.Replica}}\n"
                                    "  key2: turbokube\n";

static const char secret_yml[] = "# rendered by turbokube\n"
                                 "apiVersion: v1\n"
                                 "kind: Secret\n"
                                 "metadata:\n"
                                 "  name: cluster-density-{{.Replica}}\n"
                                 "type: Opaque\n"
                                 "data:\n"
                                 "  key1: dHVyYm9rdWJl\n";

static const char service_yml[] = "# rendered by turbokube\n"
                                  "apiVersion: v1\n"
                                  "kind: Service\n"
                                  "metadata:\n"
                                  "  name: cluster-density-{{.Replica}}\n"
                                  "spec:\n"
                                  "  type: ClusterIP\n"
                                  "  selector:\n"
                                  "    app: cluster-density-{{.Replica}}\n"
                                  "  ports:\n"
                                  "    - name: http\n"
                                  "      port: 80\n"
                                  "      targetPort: 8080\n"
                                  "      protocol: TCP\n";

/* Pods reference the first configmap and secret (optional, as some namespaces have none), so a
 * kubelet-fidelity agent watches them as a kubelet would. */
static const char deployment_yml[] =
    "# rendered by turbokube: podReplicas pause pods on fake nodes only\n"
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata:\n"
    "  name: cluster-density-{{.Replica}}\n"
    "spec:\n"
    "  replicas: {{.podReplicas}}\n"
    "  selector:\n"
    "    matchLabels:\n"
    "      app: cluster-density-{{.Replica}}\n"
    "  template:\n"
    "    metadata:\n"
    "      labels:\n"
    "        app: cluster-density-{{.Replica}}\n"
    "    spec:\n"
    "      nodeSelector:\n"
    "        turbokube.io/fake: \"true\"\n"
    "      containers:\n"
    "        - name: pause\n"
    "          image: " PAUSE_IMAGE "\n"
    "          imagePullPolicy: IfNotPresent\n"
    "          ports:\n"
    "            - containerPort: 8080\n"
    "          resources:\n"
    "            requests:\n"
    "              cpu: 10m\n"
    "              memory: 10Mi\n"
    "          envFrom:\n"
    "            - configMapRef:\n"
    "                name: cluster-density-1\n"
    "                optional: true\n"
    "            - secretRef:\n"
    "                name: cluster-density-1\n"
    "                optional: true\n";

static const struct tk_burner_template node_density_templates[] = {
    {"pod.yml", pod_yml},
};
static const struct tk_burner_template cluster_density_templates[] = {
    {"configmap.yml", configmap_yml},
    {"secret.yml", secret_yml},
    {"service.yml", service_yml},
    {"deployment.yml", deployment_yml},
};

size_t tk_burner_templates(const struct tk_cell_params *p, const struct tk_burner_template **out)
{
    switch (p->shape) {
    case TK_EXP_NODE_DENSITY:
        *out = node_density_templates;
        return sizeof(node_density_templates) / sizeof(node_density_templates[0]);
    case TK_EXP_CLUSTER_DENSITY:
        *out = cluster_density_templates;
        return sizeof(cluster_density_templates) / sizeof(cluster_density_templates[0]);
    case TK_EXP_CUSTOM:
        break;
    }
    *out = NULL;
    return 0;
}

const char *tk_burner_job_name(const struct tk_cell_params *p)
{
    switch (p->shape) {
    case TK_EXP_NODE_DENSITY:
        return "node-density";
    case TK_EXP_CLUSTER_DENSITY:
        return "cluster-density";
    case TK_EXP_CUSTOM:
        break;
    }
    return NULL;
}

/* ---- config ------------------------------------------------------------------------------- */

static void dur(int64_t ns, char out[TK_DURATION_MAX])
{
    tk_duration_format(ns, out, TK_DURATION_MAX);
}

char *tk_burner_config(const struct tk_cell_params *p)
{
    const char *job = tk_burner_job_name(p);
    struct tk_buf b;
    char slo[TK_DURATION_MAX], wait[TK_DURATION_MAX], qps[TK_PROM_VALUE_MAX];

    if (!job)
        return NULL;
    dur(p->slo_pod_startup_p99_ns, slo);
    dur(p->timeout_ns, wait);
    tk_prom_format_value(p->qps, qps, sizeof(qps));
    tk_buf_init(&b, 0);
    tk_buf_printf(&b,
                  "# rendered by turbokube (kube-burner v2): %s\n"
                  "global:\n"
                  "  gc: true\n"
                  "  measurements:\n"
                  "    - name: podLatency\n"
                  "      thresholds:\n"
                  "        - conditionType: Ready\n"
                  "          metric: P99\n"
                  "          threshold: %s\n"
                  "metricsEndpoints:\n"
                  "  - indexer:\n"
                  "      type: local\n"
                  "      metricsDirectory: metrics\n"
                  "jobs:\n"
                  "  - name: %s\n"
                  "    jobType: create\n",
                  job, slo, job);
    if (p->shape == TK_EXP_NODE_DENSITY)
        tk_buf_printf(&b,
                      "    jobIterations: %lld\n"
                      "    namespace: node-density\n"
                      "    namespacedIterations: false\n",
                      (long long)tk_exp_pods(p));
    else
        tk_buf_printf(&b,
                      "    jobIterations: %lld\n"
                      "    namespace: cluster-density\n"
                      "    namespacedIterations: true\n"
                      "    iterationsPerNamespace: 1\n",
                      (long long)p->namespaces);
    tk_buf_printf(&b,
                  "    qps: %s\n"
                  "    burst: %lld\n"
                  "    podWait: false\n"
                  "    waitWhenFinished: true\n"
                  "    maxWaitTimeout: %s\n"
                  "    preLoadImages: false\n",
                  qps, (long long)p->burst, wait);
    if (p->churn) {
        char cd[TK_DURATION_MAX], cdelay[TK_DURATION_MAX];
        dur(p->churn_duration_ns, cd);
        dur(p->churn_delay_ns, cdelay);
        tk_buf_printf(&b, "    churnConfig:\n");
        if (p->churn_cycles > 0)
            tk_buf_printf(&b, "      cycles: %lld\n", (long long)p->churn_cycles);
        if (p->churn_duration_ns > 0)
            tk_buf_printf(&b, "      duration: %s\n", cd);
        tk_buf_printf(&b,
                      "      percent: %lld\n"
                      "      delay: %s\n"
                      "      mode: %s\n",
                      (long long)p->churn_percent, cdelay, tk_exp_churn_mode_name(p->churn_mode));
    }
    tk_buf_puts(&b, "    objects:\n");
    if (p->shape == TK_EXP_NODE_DENSITY) {
        tk_buf_puts(&b, "      - objectTemplate: templates/pod.yml\n"
                        "        replicas: 1\n");
    } else {
        /* configmaps and secrets before the deployments whose pods refer to them */
        const struct {
            const char *file;
            int64_t n;
        } objs[] = {{"configmap.yml", p->configmaps},
                    {"secret.yml", p->secrets},
                    {"service.yml", p->services},
                    {"deployment.yml", p->deployments_per_namespace}};
        for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
            if (objs[i].n <= 0)
                continue;
            tk_buf_printf(&b,
                          "      - objectTemplate: templates/%s\n"
                          "        replicas: %lld\n",
                          objs[i].file, (long long)objs[i].n);
            if (strcmp(objs[i].file, "deployment.yml") == 0)
                tk_buf_printf(&b,
                              "        inputVars:\n"
                              "          podReplicas: %lld\n",
                              (long long)p->replicas);
        }
    }
    return tk_buf_detach(&b);
}

/* ---- rendering ---------------------------------------------------------------------------- */

static int mkdir_p(const char *dir, struct tk_err *err)
{
    char *d = tk_xstrdup(dir);
    int rc = 0;
    for (char *s = d + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(d, 0755) && errno != EEXIST) {
            rc = tk_err_set(err, TK_EIO, "cannot create directory '%s': %s", d, strerror(errno));
            break;
        }
        *s = c;
        if (!c)
            break;
    }
    free(d);
    return rc;
}

static int write_file(const char *path, const char *text, size_t len, struct tk_err *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return tk_err_set(err, TK_EIO, "cannot write '%s': %s", path, strerror(errno));
    size_t w = fwrite(text, 1, len, f);
    int bad = w != len || ferror(f);
    if (fclose(f) || bad)
        return tk_err_set(err, TK_EIO, "cannot write '%s': %s", path, strerror(errno));
    return 0;
}

static int read_file(const char *path, struct tk_buf *b, struct tk_err *err)
{
    FILE *f = fopen(path, "rb");
    char chunk[8192];
    size_t n;
    if (!f)
        return tk_err_set(err, errno == ENOENT ? TK_ENOTFOUND : TK_EIO, "cannot read '%s': %s",
                          path, strerror(errno));
    tk_buf_init(b, 64u << 20);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (tk_buf_append(b, chunk, n)) {
            fclose(f);
            tk_buf_release(b);
            return tk_err_set(err, TK_ENOMEM, "'%s' is larger than 64 MiB", path);
        }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        tk_buf_release(b);
        return tk_err_set(err, TK_EIO, "cannot read '%s'", path);
    }
    return 0;
}

void tk_burner_job_release(struct tk_burner_job *j)
{
    free(j->workdir);
    free(j->config_path);
    free(j->metrics_dir);
    free(j->job);
    memset(j, 0, sizeof(*j));
}

int tk_burner_render(const struct tk_cell_params *p, const char *dir, struct tk_burner_job *out,
                     struct tk_err *err)
{
    char *path = NULL, *text = NULL;
    struct tk_buf copy = {0};
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = mkdir_p(dir, err)))
        return rc;
    path = tk_xasprintf("%s/config.yml", dir);
    if (p->shape == TK_EXP_CUSTOM) {
        char real[PATH_MAX];
        if (!p->config_path || !realpath(p->config_path, real)) {
            rc = tk_err_set(err, TK_EIO, "cannot find '%s': %s",
                            p->config_path ? p->config_path : "(none)", strerror(errno));
            goto done;
        }
        if ((rc = read_file(real, &copy, err)) ||
            (rc = write_file(path, copy.data ? copy.data : "", copy.len, err)))
            goto done;
        char *slash = strrchr(real, '/');
        out->workdir = tk_xstrndup(real, slash && slash != real ? (size_t)(slash - real) : 1);
        out->config_path = tk_xstrdup(real);
        goto done;
    }
    text = tk_burner_config(p);
    if ((rc = write_file(path, text, strlen(text), err)))
        goto done;
    char *tdir = tk_xasprintf("%s/templates", dir);
    rc = mkdir_p(tdir, err);
    const struct tk_burner_template *t;
    size_t nt = tk_burner_templates(p, &t);
    for (size_t i = 0; !rc && i < nt; i++) {
        char *tp = tk_xasprintf("%s/%s", tdir, t[i].name);
        rc = write_file(tp, t[i].text, strlen(t[i].text), err);
        free(tp);
    }
    free(tdir);
    if (rc)
        goto done;
    out->workdir = tk_xstrdup(dir);
    out->config_path = tk_xstrdup(path);
    out->metrics_dir = tk_xasprintf("%s/metrics", dir);
    out->job = tk_xstrdup(tk_burner_job_name(p));
done:
    if (rc)
        tk_burner_job_release(out);
    tk_buf_release(&copy);
    free(text);
    free(path);
    return rc;
}

char **tk_burner_argv(const char *binary, const struct tk_burner_job *j, const char *uuid,
                      int64_t timeout_ns, const char *kubeconfig)
{
    char t[TK_DURATION_MAX];
    char **argv = tk_xcalloc(12, sizeof(*argv));
    size_t n = 0;

    tk_duration_format(timeout_ns, t, sizeof(t));
    argv[n++] = tk_xstrdup(binary);
    argv[n++] = tk_xstrdup("init");
    argv[n++] = tk_xstrdup("-c");
    argv[n++] = tk_xstrdup(j->config_path);
    argv[n++] = tk_xstrdup("--uuid");
    argv[n++] = tk_xstrdup(uuid);
    argv[n++] = tk_xstrdup("--timeout");
    argv[n++] = tk_xstrdup(t);
    argv[n++] = tk_xstrdup("--skip-log-file");
    if (kubeconfig) {
        argv[n++] = tk_xstrdup("--kubeconfig");
        argv[n++] = tk_xstrdup(kubeconfig);
    }
    argv[n] = NULL;
    return argv;
}

void tk_burner_argv_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

/* ---- outputs ------------------------------------------------------------------------------ */

static int two(const char *s)
{
    return s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' ? (s[0] - '0') * 10 + s[1] - '0'
                                                                    : -1;
}

int tk_burner_parse_time(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    int y1, y2, mo, d, h, mi, se;
    int64_t frac_ms = 0, off_s = 0;
    const char *p;

    if (!s || strlen(s) < 20)
        return -1;
    y1 = two(s), y2 = two(s + 2), mo = two(s + 5), d = two(s + 8), h = two(s + 11),
    mi = two(s + 14), se = two(s + 17);
    if (y1 < 0 || y2 < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || se < 0 || se > 60 || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
        return -1;
    p = s + 19;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            frac_ms *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh = two(p + 1), om = two(p + 4);
        if (oh < 0 || om < 0 || p[3] != ':')
            return -1;
        off_s = (*p == '-' ? -1 : 1) * (oh * 3600 + om * 60);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    tm.tm_year = y1 * 100 + y2 - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - off_s) * 1000 + frac_ms;
    return 0;
}

static int need_num(const cJSON *o, const char *key, double *out, const char *what, size_t i,
                    struct tk_err *err)
{
    if (tk_json_get_num(o, key, out))
        return tk_err_set(err, TK_EINVAL, "%s: item %zu: missing number '%s'", what, i, key);
    return 0;
}

int tk_burner_parse_quantiles(const char *text, size_t len, const char *what,
                              const char *default_job, struct tk_pod_latency **out, size_t *n,
                              struct tk_err *err)
{
    cJSON *root = NULL;
    struct tk_pod_latency *q = NULL;
    size_t nq = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if ((rc = tk_json_parse(&root, text, len, what, err)))
        return rc;
    if (!cJSON_IsArray(root)) {
        rc = tk_err_set(err, TK_EINVAL, "%s: expected a JSON array of quantile documents", what);
        goto done;
    }
    q = tk_xcalloc((size_t)cJSON_GetArraySize(root) + 1, sizeof(*q));
    size_t i = 0;
    for (const cJSON *it = root->child; it; it = it->next, i++) {
        const char *metric = tk_json_get_str(it, "metricName");
        const char *cond = tk_json_get_str(it, "quantileName");
        const char *job = tk_json_get_str(it, "jobName");
        struct tk_pod_latency *x = &q[nq];
        if (!cJSON_IsObject(it)) {
            rc = tk_err_set(err, TK_EINVAL, "%s: item %zu: expected an object", what, i);
            goto done;
        }
        if (metric && strcmp(metric, "podLatencyQuantilesMeasurement") != 0)
            continue;
        if (!cond || !cond[0]) {
            rc = tk_err_set(err, TK_EINVAL, "%s: item %zu: missing string 'quantileName'", what, i);
            goto done;
        }
        if ((rc = need_num(it, "P99", &x->p99, what, i, err)) ||
            (rc = need_num(it, "P95", &x->p95, what, i, err)) ||
            (rc = need_num(it, "P50", &x->p50, what, i, err)) ||
            (rc = need_num(it, "max", &x->max, what, i, err)) ||
            (rc = need_num(it, "avg", &x->avg, what, i, err)))
            goto done;
        if (tk_json_get_num(it, "min", &x->min))
            x->min = NAN;
        snprintf(x->condition, sizeof(x->condition), "%s", cond);
        snprintf(x->job, sizeof(x->job), "%s",
                 job && job[0] ? job
                 : default_job ? default_job
                               : "");
        nq++;
    }
    *out = q;
    *n = nq;
    q = NULL;
done:
    free(q);
    cJSON_Delete(root);
    return rc;
}

int tk_burner_parse_job_summary(const char *text, size_t len, const char *what,
                                struct tk_job_summary **out, size_t *n, struct tk_err *err)
{
    cJSON *root = NULL;
    struct tk_job_summary *js = NULL;
    size_t nj = 0, i = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if ((rc = tk_json_parse(&root, text, len, what, err)))
        return rc;
    if (!cJSON_IsArray(root)) {
        rc = tk_err_set(err, TK_EINVAL, "%s: expected a JSON array of job summaries", what);
        goto done;
    }
    js = tk_xcalloc((size_t)cJSON_GetArraySize(root) + 1, sizeof(*js));
    for (const cJSON *it = root->child; it; it = it->next, i++) {
        struct tk_job_summary *j = &js[nj];
        const char *name = tk_json_get_str(it, "jobConfig.name");
        const char *ts = tk_json_get_str(it, "timestamp");
        const char *te = tk_json_get_str(it, "endTimestamp");
        const char *s;
        double d;
        int b;

        if (!cJSON_IsObject(it)) {
            rc = tk_err_set(err, TK_EINVAL, "%s: item %zu: expected an object", what, i);
            goto done;
        }
        if ((s = tk_json_get_str(it, "metricName")) && strcmp(s, "jobSummary") != 0)
            continue;
        if (!name || !name[0]) {
            rc = tk_err_set(err, TK_EINVAL, "%s: item %zu: missing string 'jobConfig.name'", what,
                            i);
            goto done;
        }
        snprintf(j->job, sizeof(j->job), "%s", name);
        if (!ts || tk_burner_parse_time(ts, &j->start_ms)) {
            rc = tk_err_set(err, TK_EINVAL, "%s: item %zu: 'timestamp' is not an RFC 3339 time",
                            what, i);
            goto done;
        }
        if (te && tk_burner_parse_time(te, &j->end_ms)) {
            rc = tk_err_set(err, TK_EINVAL, "%s: item %zu: 'endTimestamp' is not an RFC 3339 time",
                            what, i);
            goto done;
        }
        if (!te)
            j->end_ms = j->start_ms;
        if ((rc = need_num(it, "elapsedTime", &j->elapsed_s, what, i, err)))
            goto done;
        if ((s = tk_json_get_str(it, "executionErrors")))
            snprintf(j->errors, sizeof(j->errors), "%s", s);
        j->passed = tk_json_get_bool(it, "passed", &b) ? j->errors[0] == '\0' : b;
        if ((s = tk_json_get_str(it, "version")))
            snprintf(j->version, sizeof(j->version), "%s", s);
        if ((s = tk_json_get_str(it, "k8sVersion")) ||
            (s = tk_json_get_str(it, "metadata.k8sVersion")))
            snprintf(j->k8s_version, sizeof(j->k8s_version), "%s", s);
        j->total_nodes = -1;
        if (tk_json_get_int64(it, "totalNodes", &j->total_nodes))
            if (tk_json_get_int64(it, "metadata.totalNodes", &j->total_nodes))
                j->total_nodes = -1;
        if (tk_json_get_int64(it, "jobConfig.jobIterations", &j->iterations))
            j->iterations = 0;
        j->qps = tk_json_get_num(it, "jobConfig.qps", &d) ? NAN : d;
        if (tk_json_get_int64(it, "jobConfig.burst", &j->burst))
            j->burst = 0;
        nj++;
    }
    *out = js;
    *n = nj;
    js = NULL;
done:
    free(js);
    cJSON_Delete(root);
    return rc;
}

int tk_burner_read_quantiles(const char *metrics_dir, const char *job, struct tk_pod_latency **out,
                             size_t *n, struct tk_err *err)
{
    char *path = tk_xasprintf("%s/podLatencyQuantilesMeasurement-%s.json", metrics_dir, job);
    struct tk_buf b;
    int rc;
    *out = NULL;
    *n = 0;
    rc = read_file(path, &b, err);
    if (!rc) {
        rc = tk_burner_parse_quantiles(b.data ? b.data : "", b.len, path, job, out, n, err);
        tk_buf_release(&b);
    }
    free(path);
    return rc;
}

int tk_burner_read_job_summary(const char *metrics_dir, struct tk_job_summary **out, size_t *n,
                               struct tk_err *err)
{
    char *path = tk_xasprintf("%s/jobSummary.json", metrics_dir);
    struct tk_buf b;
    int rc;
    *out = NULL;
    *n = 0;
    rc = read_file(path, &b, err);
    if (!rc) {
        rc = tk_burner_parse_job_summary(b.data ? b.data : "", b.len, path, out, n, err);
        tk_buf_release(&b);
    }
    free(path);
    return rc;
}
