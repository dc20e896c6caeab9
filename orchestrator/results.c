#include "results.h"

#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "buf.h"
#include "duration.h"
#include "json.h"
#include "quantity.h"
#include "slo.h"

static const struct tk_res_fig_info figs[TK_FIG_N] = {
    {"mutating_p99_s", "mutating-p99", "mutating p99", "MUT-P99", TK_UNIT_SECONDS},
    {"ro_resource_p99_s", "read-p99", "read-only (resource) p99", "GET-P99", TK_UNIT_SECONDS},
    {"ro_cluster_p99_s", "list-p99", "read-only (namespace|cluster) p99", "LIST-P99",
     TK_UNIT_SECONDS},
    {"pod_startup_p99_s", "pod-startup-p99", "pod startup p99", "POD-P99", TK_UNIT_SECONDS},
    {"peak_memory_bytes", "peak-memory", "peak memory", "MEM", TK_UNIT_BYTES},
    {"memory_utilization", "memory-util", "memory utilisation", "MEM%", TK_UNIT_FRACTION},
    {"cpu_cores", "cpu", "CPU (cores)", "CPU", TK_UNIT_CORES},
};

const struct tk_res_fig_info *tk_res_fig_info(enum tk_res_fig f)
{
    return (unsigned)f < TK_FIG_N ? &figs[f] : &figs[0];
}

int tk_res_fig_parse(const char *name)
{
    for (int i = 0; name && i < TK_FIG_N; i++)
        if (!strcmp(name, figs[i].name) || !strcmp(name, figs[i].column))
            return i;
    return -1;
}

void tk_res_bytes_format(double bytes, char *out, size_t n)
{
    static const char *const suffix[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi"};
    size_t i = 0;

    if (isnan(bytes)) {
        snprintf(out, n, "-");
        return;
    }
    while (i + 1 < sizeof(suffix) / sizeof(suffix[0]) && fabs(bytes) >= 1024) {
        bytes /= 1024;
        i++;
    }
    if (bytes == floor(bytes) || fabs(bytes) >= 100)
        snprintf(out, n, "%.0f%s", bytes, suffix[i]);
    else if (fabs(bytes) >= 10)
        snprintf(out, n, "%.1f%s", bytes, suffix[i]);
    else
        snprintf(out, n, "%.2f%s", bytes, suffix[i]);
}

void tk_res_fig_format(enum tk_res_fig f, double v, char *out, size_t n)
{
    if (isnan(v)) {
        snprintf(out, n, "-");
        return;
    }
    switch (tk_res_fig_info(f)->unit) {
    case TK_UNIT_SECONDS:
        if (v < 1)
            snprintf(out, n, "%.0fms", v * 1000);
        else if (v < 10)
            snprintf(out, n, "%.2fs", v);
        else
            snprintf(out, n, "%.1fs", v);
        break;
    case TK_UNIT_BYTES:
        tk_res_bytes_format(v, out, n);
        break;
    case TK_UNIT_FRACTION:
        snprintf(out, n, "%.0f%%", v * 100);
        break;
    case TK_UNIT_CORES:
        snprintf(out, n, "%.2f", v);
        break;
    }
}

double tk_res_median(const double *v, size_t n)
{
    double *w = tk_xmalloc((n ? n : 1) * sizeof(*w));
    size_t k = 0;
    double m = NAN;

    for (size_t i = 0; i < n; i++)
        if (!isnan(v[i]))
            w[k++] = v[i];
    /* insertion sort: groups are a handful of repeats */
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && w[j - 1] > w[j]; j--) {
            double t = w[j];
            w[j] = w[j - 1];
            w[j - 1] = t;
        }
    if (k)
        m = k % 2 ? w[k / 2] : (w[k / 2 - 1] + w[k / 2]) / 2;
    free(w);
    return m;
}

/* ---- parameters ------------------------------------------------------------------------- */

static int64_t jint(const cJSON *o, const char *path, int64_t dflt)
{
    int64_t v;
    return tk_json_get_int64(o, path, &v) == 0 ? v : dflt;
}

static double jnum(const cJSON *o, const char *path, double dflt)
{
    double v;
    return tk_json_get_num(o, path, &v) == 0 ? v : dflt;
}

static int64_t jdur_ns(const cJSON *o, const char *path, int64_t dflt)
{
    const char *s = tk_json_get_str(o, path);
    struct tk_err e = {0};
    int64_t ns;
    return s && tk_duration_parse(s, &ns, &e) == 0 ? ns : dflt;
}

/* A quantity at path as milli (cpu) or value (memory); dflt when missing or malformed. */
static int64_t jquantity(const cJSON *o, const char *path, int milli, int64_t dflt)
{
    const cJSON *j = tk_json_get(o, path);
    struct tk_quantity q;
    struct tk_err e = {0};
    char num[32];
    const char *s = NULL;

    if (cJSON_IsString(j)) {
        s = j->valuestring;
    } else if (cJSON_IsNumber(j)) {
        snprintf(num, sizeof(num), "%.17g", j->valuedouble);
        s = num;
    }
    if (!s || tk_quantity_parse(s, &q, &e))
        return dflt;
    return milli ? q.milli : q.value;
}

static const char *const components[] = {"etcd", "apiserver", "scheduler", "controller-manager"};

/* The component slot a usage row belongs to ("kube-apiserver" -> apiserver, "kine" -> etcd,
 * "etcd-1" -> etcd), or -1 for agents, kube-burner and the like. */
static int component_slot(const char *name)
{
    if (!name)
        return -1;
    if (!strncmp(name, "kube-", 5))
        name += 5;
    if (!strncmp(name, "kine", 4) || !strncmp(name, "etcd", 4))
        return 0;
    for (int i = 1; i < 4; i++)
        if (!strcmp(name, components[i]))
            return i;
    return -1;
}

static void cpus_format(int64_t milli, char *out, size_t n)
{
    if (milli % 1000 == 0)
        snprintf(out, n, "%lldc", (long long)(milli / 1000));
    else
        snprintf(out, n, "%gc", (double)milli / 1000);
}

static void derive_params(struct tk_res_cell *c)
{
    const cJSON *p = c->params;
    const cJSON *hosts = tk_json_get_obj(p, "controlPlane.hosts");
    const cJSON *placement = tk_json_get_obj(p, "controlPlane.placement");
    const cJSON *h;
    const char *shape = tk_json_get_str(p, "load.shape");
    const char *datastore = tk_json_get_str(p, "controlPlane.datastore");
    const char *api_host = tk_json_get_str(p, "controlPlane.placement.apiserver");
    int64_t objects = 0, latency_ns = jdur_ns(p, "controlPlane.latency", 0);
    struct tk_buf topo, size;

    c->repeat = (int)jint(p, "repeat", 0);
    c->nodes = jint(p, "agents.nodes", 0);
    if (shape && !strcmp(shape, "cluster-density")) {
        int64_t ns = jint(p, "load.namespaces", 0);
        c->pods = ns * jint(p, "load.deploymentsPerNamespace", 0) * jint(p, "load.replicas", 0);
        objects =
            ns * (1 + jint(p, "load.deploymentsPerNamespace", 0) + jint(p, "load.services", 0) +
                  jint(p, "load.configmaps", 0) + jint(p, "load.secrets", 0));
    } else if (shape && !strcmp(shape, "node-density")) {
        c->pods = c->nodes * jint(p, "load.podsPerNode", 0);
        objects = c->pods;
    }
    if (tk_json_get_obj(p, "load.churn")) {
        double qps = jnum(p, "load.qps", 0);
        double churned = (double)objects * (double)jint(p, "load.churn.percent", 10) / 100;
        double round_s = (qps > 0 ? 2 * churned / qps : 0) +
                         (double)jdur_ns(p, "load.churn.delay", 30000000000LL) / 1e9;
        c->churn_per_s = round_s > 0 ? 2 * churned / round_s : 0;
    }

    /* hosts in use (the plan drops unused ones), in key order */
    c->nhosts = 0;
    c->cpu_milli = c->memory_bytes = 0;
    cJSON_ArrayForEach(h, hosts)
    {
        struct tk_res_host *rh;
        if (c->nhosts == TK_RES_MAX_HOSTS || !h->string)
            break;
        rh = &c->hosts[c->nhosts++];
        snprintf(rh->name, sizeof(rh->name), "%s", h->string);
        rh->cpu_milli = jquantity(h, "cpus", 1, 0);
        rh->memory_bytes = jquantity(h, "memory", 0, 0);
        rh->used_bytes = NAN;
        c->cpu_milli += rh->cpu_milli;
        c->memory_bytes += rh->memory_bytes;
    }

    tk_buf_init(&size, 0);
    for (size_t i = 0; i < c->nhosts; i++) {
        char cpu[24], mem[24];
        cpus_format(c->hosts[i].cpu_milli, cpu, sizeof(cpu));
        tk_res_bytes_format((double)c->hosts[i].memory_bytes, mem, sizeof(mem));
        if (c->nhosts == 1)
            tk_buf_printf(&size, "%s/%s", cpu, mem);
        else
            tk_buf_printf(&size, "%s%s:%s/%s", i ? "," : "", c->hosts[i].name, cpu, mem);
    }
    snprintf(c->size, sizeof(c->size), "%s", size.data ? size.data : "?");
    tk_buf_release(&size);

    /* topology: which components live apart from the apiserver, then what else shapes it */
    tk_buf_init(&topo, 0);
    for (size_t i = 0; i < c->nhosts; i++) {
        int first = 1;
        if (api_host && !strcmp(c->hosts[i].name, api_host))
            continue;
        for (int k = 0; k < 4; k++) {
            const char *on = tk_json_get_str(placement, components[k]);
            if (on && !strcmp(on, c->hosts[i].name)) {
                tk_buf_printf(&topo, "%s%s",
                              first ? (topo.len ? ",dedicated-" : "dedicated-") : "+",
                              components[k]);
                first = 0;
            }
        }
    }
    if (!topo.len)
        tk_buf_puts(&topo, "colocated");
    if (datastore && strcmp(datastore, "etcd"))
        tk_buf_printf(&topo, "/%s", datastore);
    if (jint(p, "controlPlane.etcdMembers", 1) > 1)
        tk_buf_printf(&topo, "/etcd-x%lld", (long long)jint(p, "controlPlane.etcdMembers", 1));
    if (latency_ns > 0 && c->nhosts > 1) {
        char d[TK_DURATION_MAX];
        tk_duration_format(latency_ns, d, sizeof(d));
        tk_buf_printf(&topo, "/%s", d);
    }
    snprintf(c->topology, sizeof(c->topology), "%s", topo.data);
    tk_buf_release(&topo);

    c->slo_s[TK_FIG_MUTATING_P99] =
        (double)jdur_ns(p, "measurement.slo.mutatingP99", 1000000000LL) / 1e9;
    c->slo_s[TK_FIG_RO_RESOURCE_P99] =
        (double)jdur_ns(p, "measurement.slo.readOnlyResourceP99", 1000000000LL) / 1e9;
    c->slo_s[TK_FIG_RO_CLUSTER_P99] =
        (double)jdur_ns(p, "measurement.slo.readOnlyClusterP99", 30000000000LL) / 1e9;
    c->slo_s[TK_FIG_POD_STARTUP_P99] =
        (double)jdur_ns(p, "measurement.slo.podStartupP99", 5000000000LL) / 1e9;
}

/* ---- measurements ----------------------------------------------------------------------- */

static void fig_max(double *slot, double v)
{
    if (!isnan(v) && (isnan(*slot) || v > *slot))
        *slot = v;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static double col_num(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, struct tk_err *err)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        return tk_err_set(err, TK_EIO, "reading the results: %s", sqlite3_errmsg(db));
    return 0;
}

struct readers {
    sqlite3_stmt *lat, *pod, *usage, *fail, *host, *ver;
};

static int read_latency(sqlite3 *db, sqlite3_stmt *st, struct tk_res_cell *c, struct tk_err *err)
{
    /* the SLI histogram when this apiserver records it (it leaves out webhooks and APF queue
     * wait, as the SLO wants), else the plain one */
    int have_sli = 0, rc;

    for (int pass = 0; pass < 2; pass++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, c->row);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *metric = col_text(st, 0), *verb = col_text(st, 1);
            const char *sub = col_text(st, 3), *scope = col_text(st, 4);
            double p99 = col_num(st, 5);
            int sli = metric && !strcmp(metric, "apiserver_request_sli_duration_seconds");
            if (pass == 0) {
                have_sli |= sli;
                continue;
            }
            if (!metric || (have_sli ? !sli : strcmp(metric, "apiserver_request_duration_seconds")))
                continue;
            /* the rule the run's failure points follow: collections have no SLO, a GET of
             * one object or a non-resource URL is read-only (resource) */
            switch (tk_slo_classify(verb, sub, scope)) {
            case TK_SLO_MUTATING:
                fig_max(&c->fig[TK_FIG_MUTATING_P99], p99);
                break;
            case TK_SLO_RO_RESOURCE:
                fig_max(&c->fig[TK_FIG_RO_RESOURCE_P99], p99);
                break;
            case TK_SLO_RO_CLUSTER:
                fig_max(&c->fig[TK_FIG_RO_CLUSTER_P99], p99);
                break;
            case TK_SLO_NONE:
                break;
            }
        }
        if (rc != SQLITE_DONE)
            return tk_err_set(err, TK_EIO, "reading latency summaries: %s", sqlite3_errmsg(db));
    }
    return 0;
}

static int read_pods(sqlite3 *db, sqlite3_stmt *st, struct tk_res_cell *c, struct tk_err *err)
{
    double ready = NAN, containers = NAN;
    int rc;

    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, c->row);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *cond = col_text(st, 0);
        if (cond && !strcmp(cond, "Ready"))
            fig_max(&ready, col_num(st, 1) / 1000);
        else if (cond && !strcmp(cond, "ContainersReady"))
            fig_max(&containers, col_num(st, 1) / 1000);
    }
    if (rc != SQLITE_DONE)
        return tk_err_set(err, TK_EIO, "reading pod latency: %s", sqlite3_errmsg(db));
    c->fig[TK_FIG_POD_STARTUP_P99] = isnan(ready) ? containers : ready;
    return 0;
}

static int read_usage(sqlite3 *db, sqlite3_stmt *st, struct tk_res_cell *c, struct tk_err *err)
{
    double cpu = NAN, mem = NAN;
    int rc;

    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, c->row);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int slot = component_slot(col_text(st, 0));
        double cs = col_num(st, 1), rss = col_num(st, 2);
        const char *on;
        char path[64];
        if (slot < 0)
            continue;
        if (!isnan(cs))
            cpu = isnan(cpu) ? cs : cpu + cs;
        if (isnan(rss))
            continue;
        mem = isnan(mem) ? rss : mem + rss;
        snprintf(path, sizeof(path), "controlPlane.placement.%s", components[slot]);
        on = tk_json_get_str(c->params, path);
        for (size_t i = 0; i < c->nhosts; i++)
            if ((on && !strcmp(on, c->hosts[i].name)) || (!on && c->nhosts == 1))
                c->hosts[i].used_bytes =
                    isnan(c->hosts[i].used_bytes) ? rss : c->hosts[i].used_bytes + rss;
    }
    if (rc != SQLITE_DONE)
        return tk_err_set(err, TK_EIO, "reading usage: %s", sqlite3_errmsg(db));
    c->fig[TK_FIG_PEAK_MEMORY] = mem;
    if (!isnan(cpu) && c->started_ms && c->finished_ms > c->started_ms)
        c->fig[TK_FIG_CPU_CORES] = cpu / ((double)(c->finished_ms - c->started_ms) / 1000);
    for (size_t i = 0; i < c->nhosts; i++)
        if (!isnan(c->hosts[i].used_bytes) && c->hosts[i].memory_bytes > 0)
            fig_max(&c->fig[TK_FIG_MEMORY_UTIL],
                    c->hosts[i].used_bytes / (double)c->hosts[i].memory_bytes);
    return 0;
}

static void num_or_dash(struct tk_buf *b, double v)
{
    if (isnan(v))
        tk_buf_puts(b, "-");
    else
        tk_buf_printf(b, "%g", v);
}

static int read_failures(sqlite3 *db, sqlite3_stmt *st, struct tk_res_cell *c, struct tk_err *err)
{
    int rc;

    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, c->row);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *kind = col_text(st, 1);
        if (kind && !strcmp(kind, "hard"))
            c->hard_failures++;
        else
            c->soft_failures++;
        if (!c->first_failure) {
            struct tk_buf b;
            double v = col_num(st, 3), t = col_num(st, 4);
            tk_buf_init(&b, 0);
            tk_buf_printf(&b, "%s", col_text(st, 2) ? col_text(st, 2) : "?");
            if (!isnan(v) || !isnan(t)) {
                tk_buf_puts(&b, " (");
                num_or_dash(&b, v);
                tk_buf_puts(&b, " > ");
                num_or_dash(&b, t);
                tk_buf_puts(&b, ")");
            }
            c->first_failure = tk_buf_detach(&b);
            c->first_failure_t_ms = sqlite3_column_int64(st, 0);
        }
    }
    if (rc != SQLITE_DONE)
        return tk_err_set(err, TK_EIO, "reading failure points: %s", sqlite3_errmsg(db));
    return 0;
}

static int read_env(sqlite3 *db, struct readers *r, struct tk_res_cell *c, struct tk_err *err)
{
    struct tk_buf b;
    int rc;

    tk_buf_init(&b, 0);
    sqlite3_reset(r->host);
    sqlite3_bind_int64(r->host, 1, c->row);
    while ((rc = sqlite3_step(r->host)) == SQLITE_ROW) {
        char mem[24];
        tk_res_bytes_format(col_num(r->host, 3), mem, sizeof(mem));
        tk_buf_printf(&b, "%s%s: %s, %lld cores, %s, kernel %s", b.len ? "; " : "",
                      col_text(r->host, 0), col_text(r->host, 1) ? col_text(r->host, 1) : "?",
                      (long long)sqlite3_column_int64(r->host, 2), mem,
                      col_text(r->host, 4) ? col_text(r->host, 4) : "?");
    }
    if (rc != SQLITE_DONE)
        goto fail;
    c->hardware = b.len ? tk_buf_detach(&b) : NULL;
    tk_buf_reset(&b);
    sqlite3_reset(r->ver);
    sqlite3_bind_int64(r->ver, 1, c->row);
    while ((rc = sqlite3_step(r->ver)) == SQLITE_ROW)
        tk_buf_printf(&b, "%s%s %s", b.len ? ", " : "", col_text(r->ver, 0), col_text(r->ver, 1));
    if (rc != SQLITE_DONE)
        goto fail;
    c->versions = b.len ? tk_buf_detach(&b) : NULL;
    tk_buf_release(&b);
    return 0;
fail:
    tk_buf_release(&b);
    return tk_err_set(err, TK_EIO, "reading host facts: %s", sqlite3_errmsg(db));
}

static int config_id(struct tk_res_cell *c, struct tk_err *err)
{
    cJSON *copy = cJSON_Duplicate(c->params, 1);
    char *text;
    int rc;

    cJSON_DeleteItemFromObjectCaseSensitive(copy, "repeat");
    text = tk_json_print(copy);
    rc = tk_store_cell_id(text, c->config_id, err);
    free(text);
    cJSON_Delete(copy);
    return rc;
}

int tk_res_load(struct sqlite3 *db, const char *experiment, struct tk_res_set *out,
                struct tk_err *err)
{
    static const char *const cells_sql =
        "SELECT c.id, c.experiment, e.name, c.idx, c.cell_id, c.params, c.status, "
        "c.exit_reason, c.created_ms, c.started_ms, c.finished_ms "
        "FROM cells c JOIN experiments e ON e.id = c.experiment "
        "WHERE ?1 IS NULL OR e.name = ?1 ORDER BY c.experiment, c.idx, c.id";
    struct readers r = {0};
    sqlite3_stmt *cells = NULL, *exp = NULL;
    size_t alloc = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (prepare(db, cells_sql, &cells, err) ||
        prepare(db,
                "SELECT metric, verb, resource, subresource, scope, p99 FROM latency_summaries "
                "WHERE cell = ?",
                &r.lat, err) ||
        prepare(db, "SELECT condition, p99 FROM pod_latency WHERE cell = ?", &r.pod, err) ||
        prepare(db, "SELECT component, cpu_seconds, peak_rss_bytes FROM usage WHERE cell = ?",
                &r.usage, err) ||
        prepare(db,
                "SELECT t_ms, kind, what, value, threshold FROM failure_points WHERE cell = ? "
                "ORDER BY t_ms, id",
                &r.fail, err) ||
        prepare(db,
                "SELECT host, cpu_model, cores, memory_bytes, kernel FROM host_facts "
                "WHERE cell = ? ORDER BY host",
                &r.host, err) ||
        prepare(db,
                "SELECT component, version FROM component_versions WHERE cell = ? "
                "ORDER BY component",
                &r.ver, err))
        goto done;
    if (experiment) {
        if (prepare(db, "SELECT 1 FROM experiments WHERE name = ?", &exp, err))
            goto done;
        sqlite3_bind_text(exp, 1, experiment, -1, SQLITE_STATIC);
        if (sqlite3_step(exp) != SQLITE_ROW) {
            tk_err_set(err, TK_ENOTFOUND, "no experiment named '%s' in the database", experiment);
            goto done;
        }
        sqlite3_bind_text(cells, 1, experiment, -1, SQLITE_STATIC);
    }
    while ((rc = sqlite3_step(cells)) == SQLITE_ROW) {
        struct tk_res_cell *c;
        const char *params = col_text(cells, 5);
        int status;
        if (out->n == alloc) {
            alloc = alloc ? 2 * alloc : 16;
            out->cells = tk_xrealloc(out->cells, alloc * sizeof(*out->cells));
        }
        c = &out->cells[out->n++];
        memset(c, 0, sizeof(*c));
        for (int f = 0; f < TK_FIG_N; f++)
            c->fig[f] = NAN;
        c->row = sqlite3_column_int64(cells, 0);
        c->experiment_row = sqlite3_column_int64(cells, 1);
        c->experiment = tk_xstrdup(col_text(cells, 2) ? col_text(cells, 2) : "");
        c->idx = sqlite3_column_int64(cells, 3);
        snprintf(c->cell_id, sizeof(c->cell_id), "%s",
                 col_text(cells, 4) ? col_text(cells, 4) : "");
        c->params_json = tk_xstrdup(params ? params : "{}");
        status = tk_cell_status_parse(col_text(cells, 6));
        c->status = status < 0 ? TK_CELL_PENDING : (enum tk_cell_status)status;
        c->exit_reason = col_text(cells, 7) ? tk_xstrdup(col_text(cells, 7)) : NULL;
        c->created_ms = sqlite3_column_int64(cells, 8);
        c->started_ms = sqlite3_column_int64(cells, 9);
        c->finished_ms = sqlite3_column_int64(cells, 10);
        if (tk_json_parse(&c->params, c->params_json, strlen(c->params_json), "cell parameters",
                          err) ||
            !cJSON_IsObject(c->params)) {
            tk_err_set(err, TK_EINVAL, "cell %s: parameters are not a JSON object", c->cell_id);
            tk_err_prefix(err, "cell %s", c->cell_id);
            goto done;
        }
        derive_params(c);
        if (config_id(c, err) || read_latency(db, r.lat, c, err) || read_pods(db, r.pod, c, err) ||
            read_usage(db, r.usage, c, err) || read_failures(db, r.fail, c, err) ||
            read_env(db, &r, c, err))
            goto done;
    }
    if (rc != SQLITE_DONE)
        tk_err_set(err, TK_EIO, "reading cells: %s", sqlite3_errmsg(db));
done:
    sqlite3_finalize(cells);
    sqlite3_finalize(exp);
    sqlite3_finalize(r.lat);
    sqlite3_finalize(r.pod);
    sqlite3_finalize(r.usage);
    sqlite3_finalize(r.fail);
    sqlite3_finalize(r.host);
    sqlite3_finalize(r.ver);
    return err->code;
}

void tk_res_set_release(struct tk_res_set *s)
{
    for (size_t i = 0; s && i < s->n; i++) {
        struct tk_res_cell *c = &s->cells[i];
        free(c->experiment);
        free(c->exit_reason);
        free(c->params_json);
        cJSON_Delete(c->params);
        free(c->first_failure);
        free(c->hardware);
        free(c->versions);
    }
    if (s) {
        free(s->cells);
        memset(s, 0, sizeof(*s));
    }
}

int tk_res_find(const struct tk_res_set *s, const char *spec, size_t *index, struct tk_err *err)
{
    const char *slash = strchr(spec, '/'), *id = slash ? slash + 1 : spec;
    size_t exp_len = slash ? (size_t)(slash - spec) : 0, found = 0, plen = strlen(id);
    struct tk_buf cand;

    if (spec[0] == '#') {
        char *end;
        long long row = strtoll(spec + 1, &end, 10);
        for (size_t i = 0; *end == '\0' && i < s->n; i++)
            if (s->cells[i].row == row) {
                *index = i;
                return 0;
            }
        return tk_err_set(err, TK_ENOTFOUND, "no cell with row %s", spec + 1);
    }
    if (plen < 4 || plen > 12)
        return tk_err_set(err, TK_EINVAL,
                          "'%s': a cell is its id (at least 4 of its 12 hex digits), "
                          "EXPERIMENT/ID or #ROW",
                          spec);
    tk_buf_init(&cand, 0);
    for (size_t i = 0; i < s->n; i++) {
        const struct tk_res_cell *c = &s->cells[i];
        if (strncasecmp(c->cell_id, id, plen))
            continue;
        if (slash && (strlen(c->experiment) != exp_len || strncmp(c->experiment, spec, exp_len)))
            continue;
        if (found++ == 0)
            *index = i;
        if (found <= 4)
            tk_buf_printf(&cand, "%s%s/%s", found > 1 ? ", " : "", c->experiment, c->cell_id);
    }
    if (found == 0)
        tk_err_set(err, TK_ENOTFOUND, "no cell '%s' in the database", spec);
    else if (found > 1)
        tk_err_set(err, TK_EINVAL, "'%s' is ambiguous: %s%s", spec, cand.data,
                   found > 4 ? ", ..." : "");
    tk_buf_release(&cand);
    return found == 1 ? 0 : err->code;
}

int tk_res_within_limits(const double *fig, const double *slo_s, double headroom, char *why,
                         size_t n)
{
    char a[32], b[32];

    for (int f = 0; f < TK_FIG_NLATENCY; f++) {
        double limit = slo_s[f] * (1 - headroom);
        if (!isnan(fig[f]) && fig[f] > limit) {
            if (why) {
                tk_res_fig_format((enum tk_res_fig)f, fig[f], a, sizeof(a));
                tk_res_fig_format((enum tk_res_fig)f, limit, b, sizeof(b));
                snprintf(why, n, "%s %s > %s", figs[f].label, a, b);
            }
            return 0;
        }
    }
    if (!isnan(fig[TK_FIG_MEMORY_UTIL]) && fig[TK_FIG_MEMORY_UTIL] > 1 - headroom) {
        if (why)
            snprintf(why, n, "memory %.0f%% of the host > %.0f%%", fig[TK_FIG_MEMORY_UTIL] * 100,
                     (1 - headroom) * 100);
        return 0;
    }
    return 1;
}

static int cell_clean(const struct tk_res_cell *c, char *why, size_t n)
{
    if (c->status != TK_CELL_COMPLETE) {
        if (why)
            snprintf(why, n, "%s%s%s", tk_cell_status_name(c->status), c->exit_reason ? ": " : "",
                     c->exit_reason ? c->exit_reason : "");
        return 0;
    }
    if (c->first_failure) {
        if (why)
            snprintf(why, n, "%s", c->first_failure);
        return 0;
    }
    return 1;
}

int tk_res_cell_ok(const struct tk_res_cell *c, double headroom, char *why, size_t n)
{
    return cell_clean(c, why, n) && tk_res_within_limits(c->fig, c->slo_s, headroom, why, n);
}

void tk_res_group_stats(const struct tk_res_set *s, struct tk_res_group *g, double headroom)
{
    double *v = tk_xmalloc((g->n ? g->n : 1) * sizeof(*v));
    double slo[TK_FIG_NLATENCY];

    for (int f = 0; f < TK_FIG_NLATENCY; f++)
        slo[f] = g->n ? s->cells[g->members[0]].slo_s[f] : NAN;
    g->completed = 0;
    g->why[0] = '\0';
    for (size_t i = 0; i < g->n; i++) {
        const struct tk_res_cell *c = &s->cells[g->members[i]];
        char why[128];
        if (cell_clean(c, why, sizeof(why)))
            g->completed++;
        else if (!g->why[0])
            snprintf(g->why, sizeof(g->why), "%s: %s", c->cell_id, why);
        for (int f = 0; f < TK_FIG_NLATENCY; f++)
            if (c->slo_s[f] < slo[f])
                slo[f] = c->slo_s[f];
    }
    for (int f = 0; f < TK_FIG_N; f++) {
        double lo = NAN, hi = NAN;
        g->nfig[f] = 0;
        for (size_t i = 0; i < g->n; i++) {
            v[i] = s->cells[g->members[i]].fig[f];
            if (isnan(v[i]))
                continue;
            g->nfig[f]++;
            if (isnan(lo) || v[i] < lo)
                lo = v[i];
            if (isnan(hi) || v[i] > hi)
                hi = v[i];
        }
        g->median[f] = tk_res_median(v, g->n);
        g->spread[f] = g->nfig[f] ? hi - lo : NAN;
    }
    free(v);
    g->ok = g->n > 0 && g->completed == (int)g->n;
    if (g->ok && !tk_res_within_limits(g->median, slo, headroom, g->why, sizeof(g->why)))
        g->ok = 0;
}

void tk_res_groups_by_config(const struct tk_res_set *s, double headroom, struct tk_res_group **out,
                             size_t *n)
{
    struct tk_res_group *g = tk_xcalloc(s->n ? s->n : 1, sizeof(*g));
    size_t ng = 0;

    for (size_t i = 0; i < s->n; i++) {
        size_t k;
        for (k = 0; k < ng; k++)
            if (!strcmp(s->cells[g[k].members[0]].config_id, s->cells[i].config_id))
                break;
        if (k == ng) {
            g[ng].members = tk_xcalloc(s->n, sizeof(size_t));
            ng++;
        }
        g[k].members[g[k].n++] = i;
    }
    for (size_t k = 0; k < ng; k++)
        tk_res_group_stats(s, &g[k], headroom);
    *out = g;
    *n = ng;
}

void tk_res_groups_free(struct tk_res_group *g, size_t n)
{
    for (size_t i = 0; g && i < n; i++)
        free(g[i].members);
    free(g);
}

const struct tk_res_group *tk_res_group_of(const struct tk_res_group *g, size_t n, size_t i)
{
    for (size_t k = 0; k < n; k++)
        for (size_t m = 0; m < g[k].n; m++)
            if (g[k].members[m] == i)
                return &g[k];
    return NULL;
}

static void params_walk(const cJSON *o, struct tk_buf *path, tk_res_param_fn fn, void *ud)
{
    const cJSON *it;
    size_t len = path->len;

    cJSON_ArrayForEach(it, o)
    {
        tk_buf_printf(path, "%s%s", len ? "." : "", it->string ? it->string : "?");
        if (cJSON_IsObject(it) && it->child) {
            params_walk(it, path, fn, ud);
        } else if (cJSON_IsString(it)) {
            fn(ud, path->data, it->valuestring);
        } else {
            char *v = tk_json_print(it);
            fn(ud, path->data, v);
            free(v);
        }
        path->len = len;
        path->data[len] = '\0';
    }
}

void tk_res_params_each(const cJSON *params, tk_res_param_fn fn, void *ud)
{
    struct tk_buf path;

    tk_buf_init(&path, 0);
    tk_buf_puts(&path, "");
    params_walk(params, &path, fn, ud);
    tk_buf_release(&path);
}

void tk_res_csv_field(FILE *f, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void tk_res_html_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* ---- tables ----------------------------------------------------------------------------- */

struct tk_table {
    size_t ncols, nrows, alloc;
    char **heads;
    char *align;
    char ***rows;
};

struct tk_table *tk_table_new(size_t ncols, const char *const *heads, const char *align)
{
    struct tk_table *t = tk_xcalloc(1, sizeof(*t));
    t->ncols = ncols;
    t->heads = tk_xcalloc(ncols, sizeof(char *));
    t->align = tk_xcalloc(ncols + 1, 1);
    for (size_t i = 0; i < ncols; i++) {
        t->heads[i] = tk_xstrdup(heads[i] ? heads[i] : "");
        t->align[i] = align && align[i] == 'r' ? 'r' : 'l';
    }
    return t;
}

void tk_table_free(struct tk_table *t)
{
    if (!t)
        return;
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t i = 0; i < t->ncols; i++)
            free(t->rows[r][i]);
        free(t->rows[r]);
    }
    for (size_t i = 0; i < t->ncols; i++)
        free(t->heads[i]);
    free(t->rows);
    free(t->heads);
    free(t->align);
    free(t);
}

void tk_table_add(struct tk_table *t, const char *const *cells)
{
    if (t->nrows == t->alloc) {
        t->alloc = t->alloc ? 2 * t->alloc : 16;
        t->rows = tk_xrealloc(t->rows, t->alloc * sizeof(*t->rows));
    }
    t->rows[t->nrows] = tk_xcalloc(t->ncols, sizeof(char *));
    for (size_t i = 0; i < t->ncols; i++)
        t->rows[t->nrows][i] = tk_xstrdup(cells[i] ? cells[i] : "");
    t->nrows++;
}

void tk_table_addv(struct tk_table *t, ...)
{
    const char **cells = tk_xcalloc(t->ncols, sizeof(char *));
    va_list ap;

    va_start(ap, t);
    for (size_t i = 0; i < t->ncols; i++)
        cells[i] = va_arg(ap, const char *);
    va_end(ap);
    tk_table_add(t, cells);
    free(cells);
}

static size_t text_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) /* count UTF-8 code points */
            n++;
    return n;
}

static void print_cell(FILE *f, const char *s, size_t w, char align, int last)
{
    size_t len = text_width(s), pad;

    if (len > w) {
        size_t k = 0, cps = 0;
        while (s[k] && cps < w - 1) {
            k++;
            while (((unsigned char)s[k] & 0xC0) == 0x80)
                k++;
            cps++;
        }
        fwrite(s, 1, k, f);
        fputc('~', f);
        return;
    }
    pad = w - len;
    if (align == 'r')
        for (size_t i = 0; i < pad; i++)
            fputc(' ', f);
    fputs(s, f);
    if (align != 'r' && !last)
        for (size_t i = 0; i < pad; i++)
            fputc(' ', f);
}

void tk_table_print(const struct tk_table *t, FILE *f, int width, int flex)
{
    size_t *w = tk_xcalloc(t->ncols, sizeof(size_t)), total;

    for (size_t i = 0; i < t->ncols; i++) {
        w[i] = text_width(t->heads[i]);
        for (size_t r = 0; r < t->nrows; r++)
            if (text_width(t->rows[r][i]) > w[i])
                w[i] = text_width(t->rows[r][i]);
    }
    for (;;) {
        size_t widest = t->ncols, minw;
        total = t->ncols ? t->ncols - 1 : 0;
        for (size_t i = 0; i < t->ncols; i++)
            total += w[i];
        if (width <= 0 || total <= (size_t)width)
            break;
        if (flex >= 0 && (size_t)flex < t->ncols) {
            /* the flexible column keeps 20 columns while others can give */
            minw = text_width(t->heads[flex]);
            if (minw < 20)
                minw = 20;
            if (w[flex] > minw) {
                size_t over = total - (size_t)width, room = w[flex] - minw;
                w[flex] -= over < room ? over : room;
                continue;
            }
        }
        for (size_t i = 0; i < t->ncols; i++) {
            minw = text_width(t->heads[i]);
            if (t->align[i] == 'l' && w[i] > minw && w[i] > 4 &&
                (widest == t->ncols || w[i] > w[widest]))
                widest = i;
        }
        if (widest == t->ncols && flex >= 0 && (size_t)flex < t->ncols && w[flex] > 4 &&
            w[flex] > text_width(t->heads[flex]))
            widest = (size_t)flex;
        if (widest == t->ncols)
            break; /* nothing left to shrink: print it as it is */
        w[widest]--;
    }
    for (size_t r = 0; r <= t->nrows; r++) {
        char **cells = r == 0 ? t->heads : t->rows[r - 1];
        size_t last = t->ncols;
        /* trailing empty left-aligned cells would leave blanks at the end of the line */
        while (last > 0 && !cells[last - 1][0] && t->align[last - 1] == 'l')
            last--;
        for (size_t i = 0; i < last; i++) {
            if (i)
                fputc(' ', f);
            print_cell(f, cells[i], w[i], t->align[i], i + 1 == last);
        }
        fputc('\n', f);
    }
    free(w);
}

int tk_term_width(FILE *f)
{
    const char *env = getenv("COLUMNS");
    struct winsize ws;

    if (env && atoi(env) > 0)
        return atoi(env);
    if (isatty(fileno(f)) && ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}
