#include "run.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "buf.h"
#include "burner.h"
#include "cgroup.h"
#include "duration.h"
#include "kube.h"
#include "log.h"
#include "loop.h"
#include "plan.h"
#include "proc.h"
#include "prom.h"
#include "scrape.h"
#include "slo.h"

#ifndef TK_VERSION
#define TK_VERSION "0.1.0-dev"
#endif

#define SLI_METRIC "apiserver_request_sli_duration_seconds"
#define DURATION_METRIC "apiserver_request_duration_seconds"
#define NODE_PREFIX "tk-node-"
#define FAKE_SELECTOR "turbokube.io/fake=true"
#define RUN_LABEL "turbokube.io/run"
#define NS_PER_S 1000000000LL

/* ---- pure pieces ------------------------------------------------------------------------- */

int tk_run_topology(const struct tk_cell_params *p, struct tk_localcp_opts *o, char *why, size_t n)
{
    int a = p->placement[TK_EXP_APISERVER], e = p->placement[TK_EXP_ETCD];
    int s = p->placement[TK_EXP_SCHEDULER], cm = p->placement[TK_EXP_CONTROLLER_MANAGER];
    char lat[TK_DURATION_MAX];

    if (p->provider != TK_EXP_PROVIDER_LOCAL) {
        snprintf(why, n,
                 "provider %s attaches to an existing cluster: it has no local topology to "
                 "build",
                 tk_exp_provider_name(p->provider));
        return -1;
    }
    if (p->etcd_members != 1 && (p->etcd_members != 3 || p->datastore != TK_EXP_DS_ETCD)) {
        snprintf(why, n,
                 "etcdMembers %d with datastore %s: the local provider runs 1 or 3 etcd members, "
                 "and kine as one",
                 p->etcd_members, tk_exp_datastore_name(p->datastore));
        return -1;
    }
    if (p->nhosts > 1 && p->latency_ns % 1000000) {
        tk_duration_format(p->latency_ns, lat, sizeof(lat));
        snprintf(why, n,
                 "latency %s between hosts: the local provider adds it with toxiproxy, in "
                 "whole milliseconds",
                 lat);
        return -1;
    }
    if (p->nhosts < 1 || a < 0 || e < 0 || s < 0 || cm < 0 || (size_t)a >= p->nhosts ||
        (size_t)e >= p->nhosts || (size_t)s >= p->nhosts || (size_t)cm >= p->nhosts) {
        snprintf(why, n, "placement refers to a host the cell does not have");
        return -1;
    }
    if (p->nhosts > TK_LOCALCP_MAXHOSTS) {
        snprintf(why, n, "%zu hosts: the local provider places 4 components on at most %d",
                 p->nhosts, TK_LOCALCP_MAXHOSTS);
        return -1;
    }
    o->datastore = p->datastore == TK_EXP_DS_KINE_SQLITE     ? TK_DS_KINE_SQLITE
                   : p->datastore == TK_EXP_DS_KINE_POSTGRES ? TK_DS_KINE_POSTGRES
                                                             : TK_DS_ETCD;
    o->etcd_members = p->etcd_members;
    /* each host one cgroup with its size; each component in its host's */
    o->nhosts = (int)p->nhosts;
    for (size_t h = 0; h < p->nhosts; h++)
        o->hosts[h] = (struct tk_localcp_host){p->hosts[h].cpu_milli, p->hosts[h].memory_bytes};
    o->host_of[TK_LOCALCP_DATASTORE] = e;
    o->host_of[TK_LOCALCP_APISERVER] = a;
    o->host_of[TK_LOCALCP_SCHEDULER] = s;
    o->host_of[TK_LOCALCP_CM] = cm;
    o->latency_ns = p->nhosts > 1 ? p->latency_ns : 0;
    return 0;
}

void tk_run_agent_shard(const struct tk_cell_params *p, int64_t i, int64_t *index_start,
                        int64_t *nodes)
{
    int64_t per = p->nodes_per_agent > 0 ? p->nodes_per_agent : p->nodes;
    int64_t left = p->nodes - i * per;
    *index_start = i * per;
    *nodes = left < 0 ? 0 : left < per ? left : per;
}

size_t tk_run_slo_check(const struct tk_cell_params *p, const struct tk_latency_summary *rows,
                        size_t nrows, const struct tk_pod_latency *pl, size_t npl,
                        struct tk_slo_violation *out, size_t max)
{
    const char *metric = DURATION_METRIC;
    size_t found = 0;

    for (size_t i = 0; i < nrows; i++)
        if (strcmp(rows[i].metric, SLI_METRIC) == 0)
            metric = SLI_METRIC;
    for (size_t i = 0; i < nrows; i++) {
        const struct tk_latency_summary *r = &rows[i];
        enum tk_slo_class k = tk_slo_classify(r->verb, r->subresource, r->scope);
        double limit;
        char what[112], res[80];
        if (strcmp(r->metric, metric) != 0 || k == TK_SLO_NONE || isnan(r->p99))
            continue;
        snprintf(res, sizeof(res), "%s%s%s", r->resource, r->subresource[0] ? "/" : "",
                 r->subresource);
        if (k == TK_SLO_RO_RESOURCE) {
            limit = p->slo_ro_resource_p99_ns / 1e9;
            snprintf(what, sizeof(what), "slo:read-only %s %s (resource)", r->verb, res);
        } else if (k == TK_SLO_RO_CLUSTER) {
            limit = p->slo_ro_cluster_p99_ns / 1e9;
            snprintf(what, sizeof(what), "slo:read-only %s %s (%s)", r->verb, res,
                     r->scope[0] ? r->scope : "cluster");
        } else {
            limit = p->slo_mutating_p99_ns / 1e9;
            snprintf(what, sizeof(what), "slo:mutating %s %s", r->verb, res);
        }
        if (!(r->p99 > limit))
            continue;
        if (found < max) {
            snprintf(out[found].what, sizeof(out[found].what), "%s", what);
            out[found].value = r->p99;
            out[found].threshold = limit;
        }
        found++;
    }
    for (size_t i = 0; i < npl; i++) {
        double v = pl[i].p99 / 1000.0, limit = p->slo_pod_startup_p99_ns / 1e9;
        if (strcmp(pl[i].condition, "Ready") != 0 || !(v > limit))
            continue;
        if (found < max) {
            snprintf(out[found].what, sizeof(out[found].what), "slo:pod startup (%s, Ready p99)",
                     pl[i].job);
            out[found].value = v;
            out[found].threshold = limit;
        }
        found++;
    }
    return found;
}

const char *tk_run_burner_verdict(int wait_status, int killed_at_timeout, int pod_slo_exceeded)
{
    if (killed_at_timeout)
        return "kube-burner timeout: still running past its --timeout, killed";
    if (WIFSIGNALED(wait_status))
        return "kube-burner killed by a signal";
    if (!WIFEXITED(wait_status))
        return "kube-burner ended abnormally";
    int code = WEXITSTATUS(wait_status);
    if (code == TK_BURNER_EXIT_OK)
        return NULL;
    if (code == TK_BURNER_EXIT_MEASUREMENT)
        return pod_slo_exceeded ? NULL
                                : "kube-burner: pod latency measurement errors above 10% (exit 4)";
    return tk_burner_exit_reason(code);
}

/* ---- small helpers ---------------------------------------------------------------------- */

static int mkdir_p(const char *dir)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void rm_rf(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0)
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *read_text(const char *path, size_t cap)
{
    FILE *f = fopen(path, "r");
    struct tk_buf b;
    char chunk[8192];
    size_t n;
    if (!f)
        return NULL;
    tk_buf_init(&b, cap);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (tk_buf_append(&b, chunk, n))
            break;
    fclose(f);
    return tk_buf_detach(&b);
}

static int write_text(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int bad = fwrite(text, 1, len, f) != len;
    return fclose(f) || bad ? -1 : 0;
}

static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC), out, rc = 0;
    char buf[65536];
    ssize_t n;
    if (in < 0)
        return -1;
    if ((out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        close(in);
        return -1;
    }
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) {
            rc = -1;
            break;
        }
    close(in);
    if (close(out) || n < 0)
        rc = -1;
    return rc;
}

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* The first line of `bin ARG` (its version), trimmed; "" when it cannot be run. */
static void binary_version(const char *bin, const char *arg, char *out, size_t n)
{
    char *cmd = tk_xasprintf("'%s' %s 2>&1", bin, arg);
    FILE *p = popen(cmd, "r");
    char line[256] = "";
    out[0] = '\0';
    free(cmd);
    if (!p)
        return;
    while (fgets(line, sizeof(line), p)) {
        line[strcspn(line, "\r\n")] = '\0';
        /* "Kubernetes v1.36.3", "etcd Version: 3.6.8", "kine version v0.17.5 (HEAD)",
         * kube-burner: "Version: v2.7.3" */
        const char *v = strstr(line, "ersion");
        const char *k = strstr(line, "Kubernetes v");
        if (k) {
            snprintf(out, n, "%s", k + strlen("Kubernetes "));
            break;
        }
        if (v) {
            v += strlen("ersion");
            while (*v == ':' || *v == ' ')
                v++;
            snprintf(out, n, "%.*s", (int)strcspn(v, " "), v);
            break;
        }
    }
    pclose(p);
}

static void fmt_dur(int64_t ns, char *out, size_t n)
{
    tk_plan_format_estimate(ns < 0 ? 0 : ns, out, n);
}

/* ---- the run and its cells --------------------------------------------------------------- */

enum phase {
    PH_PREPARE = 0,
    PH_UP,
    PH_AGENTS,
    PH_NODES,
    PH_BASELINE,
    PH_LOAD,
    PH_FINAL,
    PH_RECORD,
    PH_TEARDOWN,
};

static const char *const phase_names[] = {"prepare", "up",    "agents", "nodes",   "baseline",
                                          "load",    "final", "record", "teardown"};

struct run;

struct agent {
    char name[32]; /* agent-N: scrape target and log name */
    pid_t pid;
    int port;
    int64_t start, nodes;
    int exited;
};

struct first_seen {
    char what[112];
    int64_t t_ms;            /* the end of the first window past the SLO */
    double worst, threshold; /* the worst window's p99, and the SLO */
};

struct usage_mark {
    char name[32];
    double cpu;
};

struct cell {
    struct run *r;
    const struct tk_cell *c;
    int64_t row;
    char cluster[32];
    char *dir, *logdir;
    char *cert_dir; /* kubelet mode by TLS bootstrap: the run's node certificates, else NULL */
    enum phase phase, stopped_in;
    int64_t t0_ns, phase_t0_ns, load_t0_ns, load_t1_ns, load_t0_ms;
    int up;
    struct tk_localcp_info info;
    struct tk_attach *att; /* provider kubeconfig: the cluster attached to */
    int api_down;          /* provider kubeconfig: apiserver scrapes failed in a row */
    struct tk_cgroup *cg[TK_LOCALCP_MAXHOSTS]; /* one per host of the cell */
    char cg_name[TK_LOCALCP_MAXHOSTS][16];
    int64_t cg_oom0[TK_LOCALCP_MAXHOSTS], cg_mem[TK_LOCALCP_MAXHOSTS]; /* OOM kills at the
                                                                          baseline, limit */
    int ncg;
    struct tk_scraper *scr;
    struct tk_kube *api;
    struct tk_kube_watch *nodes_w;
    uint8_t *node; /* per node index: 1 ready, 2 lost (went NotReady during the load) */
    int64_t nodes_ready, nodes_lost, nodes_total;
    int64_t pods_running, pods_running_max;
    struct agent *agents;
    size_t nagents;
    pid_t burner;
    int burner_status, burner_done, burner_killed;
    struct rusage burner_ru;
    int64_t burner_deadline_ns;
    struct tk_burner_job job;
    struct tk_timer tick, scrape, sa_timer;
    int controllers_up; /* the controller-manager's controllers run (sa_poll) */
    char *base_text[3]; /* apiserver, datastore, scheduler at the baseline */
    size_t base_len[3];
    char *prev_api; /* previous round's request-duration families, for the interval p99 */
    size_t prev_api_len;
    struct tk_slo_window win; /* the 5-min SLO windows' starts */
    struct first_seen *seen;
    size_t nseen;
    int windows_checked; /* rounds whose 5-min window was summarized and judged */
    struct usage_mark *marks;
    size_t nmarks;
    double self_cpu0;
    int stop_now;          /* a hard failure that ends the cell early */
    char hard_reason[256]; /* the first hard failure */
    int failures;          /* hard failures recorded */
    int oom_noted[TK_LOCALCP_MAXHOSTS];
    int etcd_full_noted;
    int64_t last_line_ns;
};

struct run {
    const struct tk_run_opts *o;
    struct tk_experiment *e;
    struct tk_store *st;
    int64_t exp;
    struct tk_loop *loop;
    volatile int signo;
    int tty;
    char *agent_bin, *burner_bin, *cache, *runs_dir;
    char v_k8s[64], v_etcd[64], v_kine[64], v_burner[64];
    size_t pos, total; /* progress: cell pos of total */
    struct cell *cur;
};

static const char *ds_source(const struct cell *c)
{
    return c->c->p.datastore == TK_EXP_DS_ETCD ? "etcd" : "kine";
}

/* The source name component i of the cluster is scraped and recorded under: the datastore,
 * "apiserver", "controller-manager", "scheduler", then the others by their own name
 * ("etcd-1", "etcd-2"). */
static const char *comp_source(const struct cell *c, int i)
{
    static const char *const core[TK_LOCALCP_NCOMP] = {NULL, "apiserver", "controller-manager",
                                                       "scheduler"};
    if (i == 0)
        return ds_source(c);
    return i < TK_LOCALCP_NCOMP ? core[i] : c->info.comp[i].name;
}

/* ---- progress ------------------------------------------------------------------------------ */

static void progress_line(struct cell *c, int final)
{
    struct run *r = c->r;
    FILE *f = r->o->progress;
    char el[32], est[32];
    int64_t now = tk_now_ns();

    if (!f)
        return;
    if (!r->tty && !final && now - c->last_line_ns < 30LL * 1000000000LL)
        return;
    c->last_line_ns = now;
    fmt_dur(now - c->t0_ns, el, sizeof(el));
    fmt_dur(c->c->estimate_ns, est, sizeof(est));
    if (r->tty)
        fputs("\r\033[K", f);
    fprintf(f, "cell %zu/%zu %s  %-8s  nodes %lld/%lld Ready  pods %lld Running  %s (est %s)",
            r->pos, r->total, c->c->id, phase_names[c->phase], (long long)c->nodes_ready,
            (long long)c->c->p.nodes, (long long)c->pods_running, el, est);
    if (c->nodes_lost)
        fprintf(f, "  %lld lost", (long long)c->nodes_lost);
    if (!r->tty)
        fputc('\n', f);
    fflush(f);
}

static void say(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct run *r, const char *fmt, ...)
{
    va_list ap;
    FILE *f = r->o->progress;
    if (!f)
        return;
    if (r->tty)
        fputs("\r\033[K", f);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
}

/* Enters phase ph; the one it leaves is recorded as source "run" metric phase_seconds. */
static void set_phase(struct cell *c, enum phase ph)
{
    int64_t now = tk_now_ns();
    if (c->phase_t0_ns && c->phase != ph) {
        char labels[48];
        struct tk_err err = {0};
        snprintf(labels, sizeof(labels), "phase=\"%s\"", phase_names[c->phase]);
        struct tk_store_sample smp = {tk_wall_ns() / 1000000, "run", "phase_seconds", labels,
                                      (now - c->phase_t0_ns) / 1e9};
        if (tk_store_add_samples(c->r->st, c->row, &smp, 1, &err))
            tk_warn("cannot record samples", "error=\"%s\"", err.msg);
    }
    c->phase = ph;
    c->phase_t0_ns = now;
    progress_line(c, 1);
}

/* ---- failure points ------------------------------------------------------------------------ */

static void failure(struct cell *c, enum tk_failure_kind kind, int stop, const char *what,
                    double value, double threshold, int64_t t_ms, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
static void failure(struct cell *c, enum tk_failure_kind kind, int stop, const char *what,
                    double value, double threshold, int64_t t_ms, const char *fmt, ...)
{
    char detail[512] = "";
    struct tk_err err = {0};
    va_list ap;

    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
    }
    struct tk_failure_point fp = {.t_ms = t_ms ? t_ms : tk_wall_ns() / 1000000,
                                  .kind = kind,
                                  .what = what,
                                  .value = value,
                                  .threshold = threshold,
                                  .detail = detail[0] ? detail : NULL};
    if (tk_store_add_failure(c->r->st, c->row, &fp, &err))
        tk_warn("cannot record a failure point", "error=\"%s\"", err.msg);
    if (kind == TK_FAILURE_HARD) {
        c->failures++;
        if (!c->hard_reason[0])
            snprintf(c->hard_reason, sizeof(c->hard_reason), "%.60s%s%.190s", what,
                     detail[0] ? ": " : "", detail);
        if (stop)
            c->stop_now = 1;
    }
    say(c->r, "cell %s: %s failure: %s%s%s", c->c->id, kind == TK_FAILURE_HARD ? "hard" : "soft",
        what, detail[0] ? ": " : "", detail);
}

/* ---- nodes ----------------------------------------------------------------------------------- */

static int node_index(const struct cell *c, const char *name)
{
    char *end;
    long v;
    if (!name || strncmp(name, NODE_PREFIX, strlen(NODE_PREFIX)) != 0)
        return -1;
    v = strtol(name + strlen(NODE_PREFIX), &end, 10);
    return *end || v < 0 || v >= c->nodes_total ? -1 : (int)v;
}

/* Ready, and schedulable: a node registers with node.kubernetes.io/not-ready:NoSchedule,
 * which the node lifecycle controller lifts seconds after Ready (in batches); a load started
 * before lands on the few nodes already free of it. */
static int node_is_ready(cJSON *node)
{
    cJSON *taints = cJSON_GetObjectItem(cJSON_GetObjectItem(node, "spec"), "taints"), *x;
    cJSON_ArrayForEach(x, taints)
    {
        const char *e = cJSON_GetStringValue(cJSON_GetObjectItem(x, "effect"));
        if (e && (strcmp(e, "NoSchedule") == 0 || strcmp(e, "NoExecute") == 0))
            return 0;
    }
    cJSON *conds = cJSON_GetObjectItem(cJSON_GetObjectItem(node, "status"), "conditions");
    cJSON_ArrayForEach(x, conds)
    {
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(x, "type"));
        const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(x, "status"));
        if (t && strcmp(t, "Ready") == 0)
            return s && strcmp(s, "True") == 0;
    }
    return 0;
}

static void node_event(enum tk_watch_type type, cJSON *obj, void *ud)
{
    struct cell *c = ud;
    const char *name;
    int i, ready;

    if (type != TK_WATCH_ADDED && type != TK_WATCH_MODIFIED && type != TK_WATCH_DELETED)
        return;
    name = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"), "name"));
    if ((i = node_index(c, name)) < 0)
        return;
    ready = type != TK_WATCH_DELETED && node_is_ready(obj);
    if (ready && !(c->node[i] & 1)) {
        c->node[i] |= 1;
        c->nodes_ready++;
    } else if (!ready && (c->node[i] & 1)) {
        c->node[i] &= (uint8_t)~1;
        c->nodes_ready--;
        if (c->phase >= PH_BASELINE && c->phase <= PH_FINAL && !(c->node[i] & 2)) {
            c->node[i] |= 2;
            c->nodes_lost++;
            if (c->nodes_lost <= 3)
                say(c->r, "cell %s: node %s went NotReady", c->c->id, name);
        }
    }
}

/* ---- timers: liveness, progress, scraping ------------------------------------------------- */

static void check_processes(struct cell *c)
{
    int st;
    pid_t got;

    for (size_t i = 0; i < c->nagents; i++) {
        struct agent *a = &c->agents[i];
        if (a->pid <= 0 || a->exited || (got = waitpid(a->pid, &st, WNOHANG)) != a->pid)
            continue;
        a->exited = 1;
        if (c->phase < PH_TEARDOWN)
            failure(c, TK_FAILURE_HARD, 1, "agent exited", NAN, NAN, 0,
                    "%s (nodes %lld-%lld) %s %d; log %s/%s.log", a->name, (long long)a->start,
                    (long long)(a->start + a->nodes - 1),
                    WIFSIGNALED(st) ? "killed by signal" : "exit code",
                    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), c->logdir, a->name);
    }
    if (c->burner > 0 && !c->burner_done &&
        wait4(c->burner, &c->burner_status, WNOHANG, &c->burner_ru) == c->burner)
        c->burner_done = 1;
    if (c->up && c->phase >= PH_AGENTS && c->phase < PH_TEARDOWN) {
        for (int i = 0; i < c->info.ncomp; i++) {
            struct tk_localcp_comp *k = &c->info.comp[i];
            if (k->pid <= 0 || tk_proc_alive(k->pid))
                continue;
            k->pid = 0;
            /* Its group's OOM counter says whether the kernel killed it at the limit. */
            int g = -1;
            for (int x = 0; x < c->ncg; x++)
                if (strcmp(c->cg_name[x], k->group) == 0)
                    g = x;
            struct tk_cgroup_usage u;
            struct tk_err err = {0};
            if (g >= 0 && tk_cgroup_usage(c->cg[g], &u, &err) == 0 && u.oom_kills > c->cg_oom0[g]) {
                c->oom_noted[g] = 1;
                failure(c, TK_FAILURE_HARD, 1, "oom-killed", (double)u.memory_peak_bytes,
                        (double)c->cg_mem[g], 0,
                        "%s killed by the OOM killer at cgroup %s's memory limit of %lld MiB",
                        k->name, c->cg_name[g], (long long)(c->cg_mem[g] >> 20));
                continue;
            }
            struct tk_buf tail;
            tk_buf_init(&tail, 0);
            tk_proc_tail(k->log, 1, &tail);
            if (tail.data)
                tail.data[strcspn(tail.data, "\n")] = '\0';
            failure(c, TK_FAILURE_HARD, 1, "component died", NAN, NAN, 0, "%s: %.300s", k->name,
                    tail.data ? tail.data : "");
            tk_buf_release(&tail);
        }
    }
}

static void tick_cb(struct tk_timer *t, void *ud)
{
    struct cell *c = ud;
    check_processes(c);
    progress_line(c, 0);
    tk_timer_start(c->r->loop, t, tk_now_ns() + (c->r->tty ? 500 : 1000) * 1000000LL);
}

static void scrape_cb(struct tk_timer *t, void *ud)
{
    struct cell *c = ud;
    tk_scraper_request(c->scr);
    tk_timer_start(c->r->loop, t, tk_now_ns() + c->c->p.scrape_interval_ns);
}

static void note_seen(struct cell *c, const struct tk_slo_violation *v, int64_t t_ms)
{
    for (size_t i = 0; i < c->nseen; i++)
        if (strcmp(c->seen[i].what, v->what) == 0) {
            if (v->value > c->seen[i].worst)
                c->seen[i].worst = v->value;
            return;
        }
    c->seen = tk_xrealloc(c->seen, (c->nseen + 1) * sizeof(*c->seen));
    _Static_assert(sizeof(c->seen->what) == sizeof(v->what), "one size of SLO name");
    memcpy(c->seen[c->nseen].what, v->what, sizeof(v->what));
    c->seen[c->nseen].what[sizeof(v->what) - 1] = '\0';
    c->seen[c->nseen].t_ms = t_ms;
    c->seen[c->nseen].worst = v->value;
    c->seen[c->nseen].threshold = v->threshold;
    c->nseen++;
}

/* The lines of the request-duration families of an apiserver scrape (all the SLO check and
 * the interval p99 read), as a new string. */
char *tk_run_slo_families(const char *text, size_t len, size_t *out_len)
{
    static const char *const keep[] = {SLI_METRIC "_", DURATION_METRIC "_"};
    struct tk_buf b;
    const char *p = text, *end = text + len;

    tk_buf_init(&b, 0);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        for (size_t k = 0; k < 2; k++)
            if (n > strlen(keep[k]) && !strncmp(p, keep[k], strlen(keep[k]))) {
                tk_buf_append(&b, p, n);
                break;
            }
        p += n;
    }
    *out_len = b.len;
    return tk_buf_detach(&b);
}

void tk_slo_window_add(struct tk_slo_window *w, int64_t t_ms, const char *text, size_t len)
{
    if (w->n && t_ms - w->m[w->n - 1].t_ms < TK_SLO_KEEP_MS)
        return;
    w->m = tk_xrealloc(w->m, (w->n + 1) * sizeof(*w->m));
    w->m[w->n++] = (struct tk_slo_mark){t_ms, tk_xstrndup(text, len), len};
}

const struct tk_slo_mark *tk_slo_window_start(struct tk_slo_window *w, int64_t t_ms)
{
    while (w->n >= 2 && w->m[1].t_ms <= t_ms - TK_SLO_WINDOW_MS) {
        free(w->m[0].text);
        memmove(w->m, w->m + 1, (w->n - 1) * sizeof(*w->m));
        w->n--;
    }
    return w->n ? &w->m[0] : NULL;
}

void tk_slo_window_free(struct tk_slo_window *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->m[i].text);
    free(w->m);
    w->m = NULL;
    w->n = 0;
}

/* Each interval's apiserver SLI p99 per call as a sample (apiserver_request_sli_p99_seconds,
 * labels resource/scope/subresource/verb), the report's latency-over-time chart. */
static void record_interval_p99(struct cell *c, int64_t t_ms, const struct tk_latency_summary *rows,
                                size_t nrows)
{
    struct tk_store_sample *s = tk_xcalloc(nrows ? nrows : 1, sizeof(*s));
    char **labels = tk_xcalloc(nrows ? nrows : 1, sizeof(*labels));
    struct tk_err err = {0};
    size_t n = 0;

    for (size_t i = 0; i < nrows; i++) {
        const struct tk_latency_summary *r = &rows[i];
        if (strcmp(r->metric, "apiserver_request_sli_duration_seconds") || !(r->count > 0))
            continue;
        labels[n] = tk_xasprintf("resource=\"%s\",scope=\"%s\",subresource=\"%s\",verb=\"%s\"",
                                 r->resource, r->scope, r->subresource, r->verb);
        s[n] = (struct tk_store_sample){t_ms, "apiserver", "apiserver_request_sli_p99_seconds",
                                        labels[n], r->p99};
        n++;
    }
    if (n && tk_store_add_samples(c->r->st, c->row, s, n, &err))
        tk_warn("cannot record interval p99", "error=\"%s\"", err.msg);
    for (size_t i = 0; i < n; i++)
        free(labels[i]);
    free(labels);
    free(s);
}

/* Each round of the load: the interval's p99 per call (recorded), and the SLOs over the 5-min
 * window ending now: which is exceeded, first when and at worst by how much (c->seen). */
static void window_slo(struct cell *c, int64_t t_ms)
{
    size_t len, flen, nrows = 0;
    const char *cur = tk_scraper_text(c->scr, "apiserver", &len);
    struct tk_latency_summary *rows = NULL;
    struct tk_slo_violation v[32];
    const struct tk_slo_mark *start;
    struct tk_err err = {0};
    char *fam;

    if (!cur)
        return;
    fam = tk_run_slo_families(cur, len, &flen);
    if (c->win.n == 0 && c->base_text[0]) {
        size_t blen;
        char *base = tk_run_slo_families(c->base_text[0], c->base_len[0], &blen);
        tk_slo_window_add(&c->win, c->load_t0_ms, base, blen);
        free(base);
    }
    if (c->prev_api &&
        tk_latency_summarize(c->prev_api, c->prev_api_len, fam, flen, &rows, &nrows, &err) == 0) {
        record_interval_p99(c, t_ms, rows, nrows);
        tk_latency_summaries_free(rows, nrows);
    }
    start = tk_slo_window_start(&c->win, t_ms);
    tk_err_clear(&err);
    if (start &&
        tk_latency_summarize(start->text, start->len, fam, flen, &rows, &nrows, &err) == 0) {
        size_t n = tk_run_slo_check(&c->c->p, rows, nrows, NULL, 0, v, 32);
        c->windows_checked++;
        for (size_t i = 0; i < n && i < 32; i++)
            note_seen(c, &v[i], t_ms);
        tk_latency_summaries_free(rows, nrows);
    }
    tk_slo_window_add(&c->win, t_ms, fam, flen);
    free(c->prev_api);
    c->prev_api = fam;
    c->prev_api_len = flen;
}

static void on_round(void *ud, const struct tk_scrape_round *rd)
{
    struct cell *c = ud;
    struct tk_err err = {0};
    double running = 0, db = NAN, quota = NAN;
    int agents_seen = 0;

    if (tk_store_add_samples(c->r->st, c->row, rd->samples, rd->nsamples, &err))
        tk_warn("cannot record samples", "error=\"%s\"", err.msg);
    for (size_t i = 0; i < rd->nsamples; i++) {
        const struct tk_store_sample *s = &rd->samples[i];
        if (strcmp(s->metric, "turbokube_agent_pods") == 0 &&
            strstr(s->labels, "phase=\"Running\"")) {
            running += s->value;
            agents_seen = 1;
        } else if (strcmp(s->metric, "etcd_mvcc_db_total_size_in_bytes") == 0) {
            db = s->value;
        } else if (strcmp(s->metric, "etcd_server_quota_backend_bytes") == 0) {
            quota = s->value;
        } else if (c->att && strcmp(s->metric, "scrape_up") == 0 &&
                   strcmp(s->source, "apiserver") == 0) {
            c->api_down = s->value > 0 ? 0 : c->api_down + 1;
        }
    }
    /* a remote apiserver has no pid to watch: three failed scrapes in a row say it is gone */
    if (c->att && c->api_down == 3 && c->phase >= PH_AGENTS && c->phase < PH_TEARDOWN)
        failure(c, TK_FAILURE_HARD, 1, "apiserver unreachable", NAN, NAN, rd->t_ms,
                "%s/metrics failed 3 scrapes in a row", tk_attach_kubeconfig(c->att)->server);
    if (agents_seen) {
        c->pods_running = (int64_t)running;
        if (c->pods_running > c->pods_running_max)
            c->pods_running_max = c->pods_running;
    }
    /* the apiserver's view of the fleet, from the node watch */
    struct tk_store_sample fleet[2] = {
        {rd->t_ms, "run", "nodes_ready", "", (double)c->nodes_ready},
        {rd->t_ms, "run", "nodes_lost", "", (double)c->nodes_lost},
    };
    tk_err_clear(&err);
    if (tk_store_add_samples(c->r->st, c->row, fleet, 2, &err))
        tk_warn("cannot record samples", "error=\"%s\"", err.msg);
    if (c->phase >= PH_BASELINE && c->phase < PH_TEARDOWN) {
        for (int g = 0; g < c->ncg; g++) {
            struct tk_scrape_usage u;
            if (tk_scraper_cgroup_usage(c->scr, c->cg_name[g], &u) == 0 && u.seen &&
                u.oom_kills > c->cg_oom0[g] && !c->oom_noted[g]) {
                c->oom_noted[g] = 1;
                failure(c, TK_FAILURE_HARD, 1, "oom-killed", (double)u.oom_kills, NAN, rd->t_ms,
                        "%lld process(es) in cgroup %s killed by the OOM killer",
                        (long long)(u.oom_kills - c->cg_oom0[g]), c->cg_name[g]);
            }
        }
        if (!isnan(db) && !isnan(quota) && quota > 0 && db >= 0.95 * quota && !c->etcd_full_noted) {
            c->etcd_full_noted = 1;
            failure(c, TK_FAILURE_HARD, 1, "etcd out of space", db, quota, rd->t_ms,
                    "database %.0f bytes of a %.0f-byte quota", db, quota);
        }
    }
    if (c->phase == PH_LOAD || c->phase == PH_FINAL)
        window_slo(c, rd->t_ms);
}

/* ---- waiting on the loop ------------------------------------------------------------------- */

struct waiter {
    struct cell *c;
    int (*pred)(struct cell *c, void *arg);
    void *arg;
};

static int wait_done(void *ud)
{
    struct waiter *w = ud;
    return w->c->r->signo || w->c->stop_now || w->pred(w->c, w->arg);
}

/* Runs the loop until pred holds (0), a signal or a hard failure stops the cell (TK_ESTATE), or
 * the deadline passes (TK_ETIMEOUT). */
static int wait_for(struct cell *c, int (*pred)(struct cell *, void *), void *arg,
                    int64_t deadline_ns)
{
    struct waiter w = {c, pred, arg};
    for (;;) {
        if (c->r->signo || c->stop_now)
            return TK_ESTATE;
        if (pred(c, arg))
            return 0;
        int rc = tk_loop_run_until(c->r->loop, wait_done, &w, deadline_ns);
        if (rc == TK_ETIMEOUT)
            return pred(c, arg) ? 0 : TK_ETIMEOUT;
        if (rc && rc != TK_ESTATE)
            return rc;
    }
}

static int all_ready(struct cell *c, void *arg)
{
    (void)arg;
    return c->nodes_ready >= c->c->p.nodes && c->controllers_up;
}

/* The controller-manager answers /healthz before its controllers run (seconds later on a busy
 * machine): a load started then meets namespaces without their default ServiceAccount and pods
 * refused. The default ServiceAccount of namespace default, made by the serviceaccount
 * controller, says the controllers are running. */
static void sa_done(const struct tk_kube_resp *resp, void *ud);

static void sa_poll(struct tk_timer *t, void *ud)
{
    struct cell *c = ud;
    (void)t;
    if (c->api)
        tk_kube_request(c->api, "GET", "/api/v1/namespaces/default/serviceaccounts/default", NULL,
                        NULL, TK_KUBE_NO_RETRY, sa_done, c);
}

static void sa_done(const struct tk_kube_resp *resp, void *ud)
{
    struct cell *c = ud;
    if (resp->status == 200)
        c->controllers_up = 1;
    else
        tk_timer_start(c->r->loop, &c->sa_timer, tk_now_ns() + 500000000LL);
}

static int round_ended(struct cell *c, void *arg)
{
    return tk_scraper_rounds(c->scr) >= *(uint64_t *)arg;
}

static int burner_ended(struct cell *c, void *arg)
{
    (void)arg;
    return c->burner_done;
}

/* ---- phases --------------------------------------------------------------------------------- */

static int cancelled(void *ud)
{
    struct run *r = ud;
    return r->signo != 0;
}

static void record_limit_samples(struct cell *c, const char *group, int64_t cpu, int64_t mem)
{
    char labels[64];
    struct tk_err err = {0};
    snprintf(labels, sizeof(labels), "group=\"%.48s\"", group);
    struct tk_store_sample s[2] = {
        {tk_wall_ns() / 1000000, "cgroup", "cgroup_limit_cpu_millis", labels, (double)cpu},
        {tk_wall_ns() / 1000000, "cgroup", "cgroup_limit_memory_bytes", labels, (double)mem},
    };
    if (tk_store_add_samples(c->r->st, c->row, s, 2, &err))
        tk_warn("cannot record samples", "error=\"%s\"", err.msg);
}

/* Opens the cluster's groups, checks that the kernel holds the limits asked for and that the
 * components are inside, and records what it read. */
static int verify_cgroups(struct cell *c, const struct tk_localcp_opts *o)
{
    struct tk_localcp_group groups[TK_LOCALCP_MAXHOSTS];
    int ng = tk_localcp_groups(o, groups, NULL);

    for (int g = 0; g < ng; g++) {
        struct tk_err err = {0};
        int64_t cpu = 0, mem = 0;
        char *rel;
        rel = tk_localcp_cgroup_rel(c->cluster, groups[g].name);
        if (tk_cgroup_open(&c->cg[c->ncg], rel, &err) ||
            tk_cgroup_get_limits(c->cg[c->ncg], &cpu, &mem, &err)) {
            failure(c, TK_FAILURE_HARD, 1, "cgroup limits", NAN, NAN, 0, "%s: %s", rel, err.msg);
            free(rel);
            return -1;
        }
        snprintf(c->cg_name[c->ncg], sizeof(c->cg_name[c->ncg]), "%.15s", groups[g].name);
        c->cg_mem[c->ncg] = mem;
        c->ncg++;
        record_limit_samples(c, groups[g].name, cpu, mem);
        if (cpu != groups[g].cpu_millis || mem != groups[g].memory_bytes) {
            failure(c, TK_FAILURE_HARD, 1, "cgroup limits", NAN, NAN, 0,
                    "%s holds cpu=%lldm memory=%lld, not the cpu=%lldm memory=%lld asked", rel,
                    (long long)cpu, (long long)mem, (long long)groups[g].cpu_millis,
                    (long long)groups[g].memory_bytes);
            free(rel);
            return -1;
        }
        if (tk_cgroup_nprocs(c->cg[c->ncg - 1]) <= 0) {
            failure(c, TK_FAILURE_HARD, 1, "cgroup limits", NAN, NAN, 0,
                    "%s holds no process: the limits would bind nothing", rel);
            free(rel);
            return -1;
        }
        free(rel);
    }
    return 0;
}

/* ---- provider kubeconfig ----------------------------------------------------------------------
 */

static void add_summary_sample(struct cell *c, const char *metric, const char *labels, double v);

static int ours(const char *node, void *ud)
{
    return node_index(ud, node) >= 0;
}

/* What an earlier attempt of this cell left in the cluster (a run killed outright): the
 * namespaces of its kube-burner (uuids "<cell id>-<time>") and its nodes (labelled with the
 * cell's run label), removed; or, after the cell, its own. Returns 0 when nothing is left. */
static int remote_sweep(struct cell *c, const char *when)
{
    struct tk_attach_left left = {0};
    struct tk_err err = {0};
    char prefix[16];
    int64_t deadline = tk_now_ns() + tk_exp_drain_ns(&c->c->p);
    int rc;

    snprintf(prefix, sizeof(prefix), "%s-", c->c->id);
    rc = tk_attach_delete_namespaces(c->att, prefix, deadline, &left, &err);
    if (rc)
        failure(c, TK_FAILURE_HARD, 0, "cleanup", (double)left.namespaces, 0, 0,
                "%s: kube-burner namespaces of cell %s (label kube-burner.io/uuid=%s...): %s", when,
                c->c->id, prefix, err.msg);
    /* lite agents delete their own nodes and leases (--cleanup); this is for what they could
     * not (an agent killed, a request that failed) and for kubelet-mode agents by TLS
     * bootstrap, whose identities may not delete Nodes */
    for (size_t i = 0; i < c->nagents; i++)
        if (c->agents[i].pid > 0 && !c->agents[i].exited) {
            tk_proc_stop_group(c->agents[i].pid, 15000);
            c->agents[i].exited = 1;
        }
    tk_err_clear(&err);
    /* the nodes the agents registered each get a RemovingNode event once gone */
    int rc2 = tk_attach_sweep_nodes(c->att, c->cluster, ours, c, c->nagents ? c->c->p.nodes : 0,
                                    tk_now_ns() + 30 * NS_PER_S, &left, &err);
    if (rc2)
        failure(c, TK_FAILURE_HARD, 0, "cleanup", (double)(left.nodes + left.leases + left.events),
                0, 0, "%s: nodes labelled %s=%s: %s", when, RUN_LABEL, c->cluster, err.msg);
    if (left.deleted)
        say(c->r, "cell %s: %s: deleted %lld object(s) from the cluster", c->c->id, when,
            (long long)left.deleted);
    return rc || rc2 ? -1 : 0;
}

/* What provider kubeconfig cannot measure, recorded as such rather than as zeros: source
 * "summary", metric not_measured {component, what}. */
static void record_not_measured(struct cell *c)
{
    static const char *const rows[][2] = {{"apiserver", "usage"},
                                          {"controller-manager", "usage"},
                                          {"scheduler", "usage"},
                                          {"etcd", "usage"},
                                          {"controller-manager", "metrics"},
                                          {"scheduler", "metrics"},
                                          {"control-plane", "cgroup limits"}};
    char labels[96];
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        snprintf(labels, sizeof(labels), "component=\"%s\",what=\"%s\"", rows[i][0], rows[i][1]);
        add_summary_sample(c, "not_measured", labels, 1);
    }
    if (!c->c->p.etcd_metrics)
        add_summary_sample(c, "not_measured", "component=\"etcd\",what=\"metrics\"", 1);
}

/* Where the agents keep the node certificates they bootstrap (--cert-dir), so the next cell of
 * the run reuses them instead of sending a CSR per node again (~10/s): one directory per
 * cluster, named by a hash of the bootstrap kubeconfig's server and CA, since a certificate
 * is only good where it was issued (the agents check name and expiry, not the issuer). */
static int node_cert_dir(struct cell *c, const struct tk_kubeconfig *kc)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    const char *parts[] = {kc->server, "\n", kc->ca_pem ? kc->ca_pem : ""};

    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        for (const unsigned char *s = (const unsigned char *)parts[i]; *s; s++)
            h = (h ^ *s) * 1099511628211ULL;
    free(c->cert_dir);
    c->cert_dir = tk_xasprintf("%s/node-certs/%016llx", c->r->runs_dir, (unsigned long long)h);
    if (mkdir_p(c->cert_dir) == 0 && chmod(c->cert_dir, 0700) == 0)
        return 0;
    failure(c, TK_FAILURE_HARD, 1, "bring-up", NAN, NAN, 0, "cannot create %s: %s", c->cert_dir,
            strerror(errno));
    return -1;
}

/* controlPlane.bootstrapKubeconfig, before any agent is given it: a kubeconfig that loads, holds
 * a bootstrap token and names the cluster the run attached to (else the nodes would register
 * where the teardown sweep never looks); then c->cert_dir from it (node_cert_dir), while it is
 * loaded. NULL path: nothing to check. */
static int check_bootstrap_kubeconfig(struct cell *c, const char *path)
{
    struct tk_kubeconfig *kc = NULL;
    struct tk_err err = {0};
    const char *server = tk_attach_kubeconfig(c->att)->server;
    int rc = -1;

    if (!path)
        return 0;
    if (tk_kubeconfig_load(&kc, path, NULL, &err))
        failure(c, TK_FAILURE_HARD, 1, "bring-up", NAN, NAN, 0,
                "controlPlane.bootstrapKubeconfig: %s", err.msg);
    else if (!kc->token || !kc->token[0])
        failure(c, TK_FAILURE_HARD, 1, "bring-up", NAN, NAN, 0,
                "controlPlane.bootstrapKubeconfig %s has no token: it needs a bootstrap token "
                "(<id>.<secret>, e.g. from 'kubeadm token create')",
                path);
    else if (strcmp(kc->server, server) != 0)
        failure(c, TK_FAILURE_HARD, 1, "bring-up", NAN, NAN, 0,
                "controlPlane.bootstrapKubeconfig %s names server %s, but the run attached to %s: "
                "both must be the same cluster",
                path, kc->server, server);
    else
        rc = node_cert_dir(c, kc);
    tk_kubeconfig_free(kc);
    return rc;
}

/* Provider kubeconfig: the cluster is there already. Attach (the kubeconfig loads, the
 * apiserver answers /version and /metrics), clear an earlier attempt's leftovers, and check
 * that nothing of someone else's stands in the way. The cell's cluster directory exists only
 * as the owner marker of its processes (agents, kube-burner). */
static int phase_attach(struct cell *c)
{
    const struct tk_cell_params *p = &c->c->p;
    struct tk_err err = {0};
    char *dir = tk_localcp_dir(c->cluster), *path = NULL;
    int rc = -1;

    tk_localcp_down(c->cluster, 0, NULL); /* an earlier, killed attempt's agents */
    snprintf(c->info.dir, sizeof(c->info.dir), "%s", dir);
    if (mkdir_p(dir)) {
        failure(c, TK_FAILURE_HARD, 1, "bring-up", NAN, NAN, 0, "cannot create %s: %s", dir,
                strerror(errno));
        goto out;
    }
    if (tk_attach_kubeconfig_path(p->kubeconfig, &path, &err) ||
        tk_attach_open(&c->att, c->r->loop, path, 15000, &err)) {
        if (!c->r->signo)
            failure(c, TK_FAILURE_HARD, 1, "bring-up", NAN, NAN, 0, "%s", err.msg);
        goto out;
    }
    snprintf(c->info.kubeconfig, sizeof(c->info.kubeconfig), "%s", path);
    tk_store_add_component_version(c->r->st, c->row, "kube-apiserver", tk_attach_version(c->att),
                                   &err);
    say(c->r, "cell %s: attached to %s (%s, kubeconfig %s)", c->c->id,
        tk_attach_kubeconfig(c->att)->server, tk_attach_version(c->att), path);
    if (check_bootstrap_kubeconfig(c, p->bootstrap_kubeconfig) ||
        remote_sweep(c, "before the cell"))
        goto out;
    tk_err_clear(&err);
    if (tk_attach_preflight(c->att, p, &err)) {
        if (!c->r->signo)
            failure(c, TK_FAILURE_HARD, 1, "bring-up", NAN, NAN, 0, "%s", err.msg);
        goto out;
    }
    record_not_measured(c);
    rc = 0;
out:
    free(dir);
    free(path);
    return rc;
}

/* How the latency between hosts was added (sample run/latency_added_seconds, labels method
 * and links), so a result says what its latency was made of. */
static void record_latency_method(struct cell *c)
{
    char labels[320], method[200];
    struct tk_err err = {0};

    if (!c->info.latency_method[0])
        return;
    snprintf(method, sizeof(method), "%s", c->info.latency_method);
    for (char *q = method; *q; q++)
        if (*q == '"' || *q == '\\')
            *q = '\'';
    snprintf(labels, sizeof(labels), "method=\"%s\",links=\"%d\"", method, c->info.latency_links);
    struct tk_store_sample s = {tk_wall_ns() / 1000000, "run", "latency_added_seconds", labels,
                                c->info.latency_ns / 1e9};
    if (tk_store_add_samples(c->r->st, c->row, &s, 1, &err))
        tk_warn("cannot record samples", "error=\"%s\"", err.msg);
}

static int phase_up(struct cell *c)
{
    const struct tk_cell_params *p = &c->c->p;
    struct tk_localcp_opts o = {0};
    struct tk_err err = {0};
    char why[256];
    const char **args = NULL;
    int rc;

    set_phase(c, PH_UP);
    if (p->provider == TK_EXP_PROVIDER_KUBECONFIG)
        return phase_attach(c);
    if (tk_run_topology(p, &o, why, sizeof(why))) {
        failure(c, TK_FAILURE_HARD, 1, "unsupported", NAN, NAN, 0, "%s", why);
        return -1;
    }
    if (c->r->v_k8s[0] && strcmp(p->kubernetes_version, c->r->v_k8s) != 0) {
        failure(c, TK_FAILURE_HARD, 1, "unsupported", NAN, NAN, 0,
                "Kubernetes %s: the binaries in %s/bin are %s (scripts/versions.env pins the "
                "version scripts/bootstrap builds)",
                p->kubernetes_version, c->r->cache, c->r->v_k8s);
        return -1;
    }
    args = tk_xcalloc(p->napiserver_args + 1, sizeof(*args));
    for (size_t i = 0; i < p->napiserver_args; i++)
        args[i] = p->apiserver_args[i];
    o.name = c->cluster;
    o.apiserver_args = args;
    o.timeout_s = 120;
    o.quiet = 1;
    o.loop = c->r->loop;
    o.cancelled = cancelled;
    o.cancel_ud = c->r;
    tk_localcp_down(c->cluster, 0, NULL); /* whatever an earlier, killed run left */
    c->up = 1;                            /* from here on teardown takes it down */
    rc = tk_localcp_up(&o, &err);
    free(args);
    if (rc) {
        if (!c->r->signo)
            failure(c, TK_FAILURE_HARD, 1, "bring-up", NAN, NAN, 0, "%s", err.msg);
        return -1;
    }
    if (tk_localcp_info(c->cluster, &c->info, &err)) {
        failure(c, TK_FAILURE_HARD, 1, "bring-up", NAN, NAN, 0, "%s", err.msg);
        return -1;
    }
    record_latency_method(c);
    return verify_cgroups(c, &o);
}

/* The node watch and the controllers' probe, on the apiserver client ko describes. */
static int start_watching(struct cell *c, const struct tk_kube_opts *ko, struct tk_err *err)
{
    struct tk_watch_opts wo = {.path = "/api/v1/nodes", .label_selector = FAKE_SELECTOR};
    if (!(c->api = tk_kube_new(c->r->loop, ko, err)) ||
        !(c->nodes_w = tk_kube_watch_start(c->api, &wo, node_event, NULL, c, err)))
        return -1;
    tk_timer_init(&c->scrape, scrape_cb, c);
    tk_timer_start(c->r->loop, &c->scrape, tk_now_ns());
    tk_timer_init(&c->sa_timer, sa_poll, c);
    tk_timer_start(c->r->loop, &c->sa_timer, tk_now_ns());
    return 0;
}

/* Provider kubeconfig: the apiserver through the kubeconfig's credentials, etcd only at
 * controlPlane.etcdMetrics (with its own TLS files), no process or cgroup of either. */
static int start_scraping_remote(struct cell *c)
{
    const struct tk_cell_params *p = &c->c->p;
    struct tk_err err = {0};
    struct tk_kube_opts ko;
    char *ca = NULL, *crt = NULL, *key = NULL;
    int rc = -1;

    struct tk_scraper_opts so = {
        .loop = c->r->loop, .timeout_ms = 10000, .on_round = on_round, .ud = c};
    tk_kube_opts_from_kubeconfig(tk_attach_kubeconfig(c->att), &ko);
    ko.user_agent = "turbokube-run";
    if (!(c->scr = tk_scraper_new(&so, &err)) ||
        tk_scraper_add_conn(c->scr, "apiserver", &ko, "/metrics", 0, TK_SCRAPE_KEEP_TEXT, &err))
        goto fail;
    if (p->etcd_metrics) {
        const char *slash = strchr(strstr(p->etcd_metrics, "://") + 3, '/');
        char server[256];
        snprintf(server, sizeof(server), "%.*s",
                 (int)(slash ? slash - p->etcd_metrics : (long)strlen(p->etcd_metrics)),
                 p->etcd_metrics);
        if ((p->etcd_ca && !(ca = read_text(p->etcd_ca, 1 << 20))) ||
            (p->etcd_cert && !(crt = read_text(p->etcd_cert, 1 << 20))) ||
            (p->etcd_key && !(key = read_text(p->etcd_key, 1 << 20)))) {
            tk_err_set(&err, TK_EIO, "cannot read etcd's TLS files (%s, %s, %s)",
                       p->etcd_ca ? p->etcd_ca : "-", p->etcd_cert ? p->etcd_cert : "-",
                       p->etcd_key ? p->etcd_key : "-");
            goto fail;
        }
        struct tk_kube_opts eo = {
            .server = server, .ca_pem = ca, .client_cert_pem = crt, .client_key_pem = key};
        if (tk_scraper_add_conn(c->scr, "etcd", &eo, slash ? slash : "/metrics", 0,
                                TK_SCRAPE_KEEP_TEXT, &err))
            goto fail;
    }
    if (tk_scraper_add(c->scr, "turbokube", NULL, getpid(), 0, &err) ||
        start_watching(c, &ko, &err))
        goto fail;
    rc = 0;
    goto out;
fail:
    failure(c, TK_FAILURE_HARD, 1, "bring-up", NAN, NAN, 0, "scraping: %s", err.msg);
out:
    free(ca);
    free(crt);
    free(key);
    return rc;
}

static int start_scraping(struct cell *c)
{
    struct tk_err err = {0};
    char *ca, *crt, *key;
    int rc = -1;

    if (c->att)
        return start_scraping_remote(c);
    ca = read_text(c->info.ca, 1 << 20);
    crt = read_text(c->info.admin_cert, 1 << 20);
    key = read_text(c->info.admin_key, 1 << 20);
    if (!ca || !crt || !key) {
        failure(c, TK_FAILURE_HARD, 1, "bring-up", NAN, NAN, 0, "cannot read the PKI in %s",
                c->info.dir);
        goto out;
    }
    struct tk_scraper_opts so = {.loop = c->r->loop,
                                 .ca_pem = ca,
                                 .cert_pem = crt,
                                 .key_pem = key,
                                 .timeout_ms = 10000,
                                 .on_round = on_round,
                                 .ud = c};
    if (!(c->scr = tk_scraper_new(&so, &err)))
        goto fail;
    for (int i = 0; i < c->info.ncomp; i++) {
        const struct tk_localcp_comp *k = &c->info.comp[i];
        if (k->multiprocess) /* postgres: measured through its host's cgroup */
            continue;
        if (tk_scraper_add(c->scr, comp_source(c, i), k->metrics_url[0] ? k->metrics_url : NULL,
                           k->pid, TK_SCRAPE_KEEP_TEXT, &err))
            goto fail;
    }
    if (tk_scraper_add(c->scr, "turbokube", NULL, getpid(), 0, &err))
        goto fail;
    for (int g = 0; g < c->ncg; g++)
        tk_scraper_add_cgroup(c->scr, c->cg_name[g], c->cg[g]);

    struct tk_kube_opts ko = {.server = NULL,
                              .ca_pem = ca,
                              .client_cert_pem = crt,
                              .client_key_pem = key,
                              .user_agent = "turbokube-run"};
    char server[64];
    snprintf(server, sizeof(server), "https://127.0.0.1:%d", c->info.comp[1].port);
    ko.server = server;
    if (start_watching(c, &ko, &err))
        goto fail;
    rc = 0;
    goto out;
fail:
    failure(c, TK_FAILURE_HARD, 1, "bring-up", NAN, NAN, 0, "scraping: %s", err.msg);
out:
    free(ca);
    free(crt);
    free(key);
    return rc;
}

static int phase_agents(struct cell *c)
{
    const struct tk_cell_params *p = &c->c->p;
    char startup[128], cap[160], idx[32], nodes[32], addr[64], log[PATH_MAX];
    char run_label[64], grid[TK_DURATION_MAX];
    struct tk_err err = {0};

    set_phase(c, PH_AGENTS);
    snprintf(run_label, sizeof(run_label), "%s=%s", RUN_LABEL, c->cluster);
    c->nagents = (size_t)tk_exp_agents(p);
    c->agents = tk_xcalloc(c->nagents, sizeof(*c->agents));
    tk_exp_startup_spec(p, startup, sizeof(startup));
    tk_exp_capacity_spec(p, cap, sizeof(cap));
    for (size_t i = 0; i < c->nagents; i++) {
        struct agent *a = &c->agents[i];
        snprintf(a->name, sizeof(a->name), "agent-%zu", i);
        tk_run_agent_shard(p, (int64_t)i, &a->start, &a->nodes);
        /* a port the kernel says is free now and no earlier agent of the cell was given */
        for (int tries = 0; tries < 50; tries++) {
            int dup = 0;
            a->port = free_port();
            for (size_t k = 0; k < i && a->port > 0; k++)
                dup |= c->agents[k].port == a->port;
            if (!dup)
                break;
            a->port = -1;
        }
        if (a->port < 0) {
            failure(c, TK_FAILURE_HARD, 1, "agent exited", NAN, NAN, 0,
                    "no free port on 127.0.0.1");
            return -1;
        }
        snprintf(idx, sizeof(idx), "%lld", (long long)a->start);
        snprintf(nodes, sizeof(nodes), "%lld", (long long)a->nodes);
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", a->port);
        snprintf(log, sizeof(log), "%s/%s.log", c->logdir, a->name);
        const char **argv = tk_xcalloc(32 + p->nagent_args, sizeof(*argv));
        size_t n = 0;
        argv[n++] = c->r->agent_bin;
        if (p->bootstrap_kubeconfig) {
            /* provider kubeconfig, kubelet mode: each node's identity by TLS bootstrap.
             * Neither the token nor a node's identity may delete Nodes, so no --cleanup: the
             * sweep after the cell deletes nodes and leases through the run's kubeconfig */
            argv[n++] = "--bootstrap-kubeconfig";
            argv[n++] = p->bootstrap_kubeconfig;
            argv[n++] = "--cert-dir"; /* the run's: later cells reuse the certificates */
            argv[n++] = c->cert_dir;
        } else {
            argv[n++] = "--kubeconfig";
            argv[n++] = c->info.kubeconfig;
        }
        if (c->att) {
            /* provider kubeconfig: no CA to hand over (lite needs none, kubelet mode has its
             * bootstrap token); nodes labelled with the cell's run label, deleted with their
             * leases when a lite agent stops, by the sweep otherwise */
            argv[n++] = "--labels";
            argv[n++] = run_label;
            if (!p->bootstrap_kubeconfig)
                argv[n++] = "--cleanup";
        } else {
            argv[n++] = "--cluster-dir";
            argv[n++] = c->info.dir;
        }
        const char *rest[] = {"--nodes",
                              nodes,
                              "--index-start",
                              idx,
                              "--name-prefix",
                              NODE_PREFIX,
                              "--fidelity",
                              tk_exp_fidelity_name(p->fidelity),
                              "--capacity",
                              cap,
                              "--startup-latency",
                              startup,
                              "--metrics-addr",
                              addr,
                              "--kubelet-addr",
                              "off",
                              NULL};
        for (size_t k = 0; rest[k]; k++)
            argv[n++] = rest[k];
        if (p->startup_grid_ns) {
            tk_duration_format(p->startup_grid_ns, grid, sizeof(grid));
            argv[n++] = "--start-grid";
            argv[n++] = grid;
        }
        for (size_t k = 0; k < p->nagent_args; k++) /* last: checked not to repeat the above */
            argv[n++] = p->agent_args[k];
        argv[n] = NULL;
        struct tk_proc_spec spec = {.argv = argv, .log_path = log, .marker = c->info.dir};
        int spawned = tk_proc_spawn(&spec, &a->pid, &err);
        free(argv);
        if (spawned) {
            failure(c, TK_FAILURE_HARD, 1, "agent exited", NAN, NAN, 0, "%s: %s", a->name, err.msg);
            return -1;
        }
        char url[96];
        snprintf(url, sizeof(url), "http://%s/metrics", addr);
        tk_err_clear(&err);
        if (tk_scraper_add(c->scr, a->name, url, a->pid, 0, &err))
            tk_warn("cannot scrape agent", "agent=%s error=\"%s\"", a->name, err.msg);
    }
    return 0;
}

static int phase_nodes(struct cell *c)
{
    /* TLS bootstrap: a CSR per node, approved at ~10/s by the controller-manager's 20-QPS
     * client (docs/measurements.md) */
    int64_t per = c->c->p.bootstrap_kubeconfig ? 5 : 20;
    int64_t deadline = tk_now_ns() + (60 + c->c->p.nodes / per) * 1000000000LL;
    int rc;

    set_phase(c, PH_NODES);
    rc = wait_for(c, all_ready, NULL, deadline);
    if (rc == TK_ETIMEOUT && c->nodes_ready >= c->c->p.nodes)
        failure(c, TK_FAILURE_HARD, 1, "bring-up", NAN, NAN, 0,
                "the controller-manager's controllers did not start (no default ServiceAccount "
                "in namespace default after %llds)",
                (long long)((tk_now_ns() - c->phase_t0_ns) / 1000000000LL));
    else if (rc == TK_ETIMEOUT)
        failure(c, TK_FAILURE_HARD, 1, "nodes not Ready", (double)c->nodes_ready,
                (double)c->c->p.nodes, 0, "%lld of %lld nodes Ready after %llds",
                (long long)c->nodes_ready, (long long)c->c->p.nodes,
                (long long)((tk_now_ns() - c->phase_t0_ns) / 1000000000LL));
    return rc ? -1 : 0;
}

static void mark_usage(struct cell *c, const char *name)
{
    struct tk_scrape_usage u;
    if (tk_scraper_usage(c->scr, name, &u))
        return;
    c->marks = tk_xrealloc(c->marks, (c->nmarks + 1) * sizeof(*c->marks));
    snprintf(c->marks[c->nmarks].name, sizeof(c->marks[c->nmarks].name), "%s", name);
    c->marks[c->nmarks].cpu = u.seen ? u.cpu_seconds : 0;
    c->nmarks++;
}

/* Marks are kept by name; a group's mark is "cgroup:NAME", apart from a target's. */
static void mark_cgroup(struct cell *c, const char *name)
{
    struct tk_scrape_usage u;
    if (tk_scraper_cgroup_usage(c->scr, name, &u))
        return;
    c->marks = tk_xrealloc(c->marks, (c->nmarks + 1) * sizeof(*c->marks));
    snprintf(c->marks[c->nmarks].name, sizeof(c->marks[c->nmarks].name), "cgroup:%s", name);
    c->marks[c->nmarks].cpu = u.seen ? u.cpu_seconds : 0;
    c->nmarks++;
}

static double mark_of(const struct cell *c, const char *name)
{
    for (size_t i = 0; i < c->nmarks; i++)
        if (strcmp(c->marks[i].name, name) == 0)
            return c->marks[i].cpu;
    return 0;
}

static const char *const base_targets[3] = {"apiserver", NULL, "scheduler"};

static void save_scrape(struct cell *c, const char *when, const char *target, const char *text,
                        size_t len)
{
    char *path = tk_xasprintf("%s/scrapes/%s-%s.prom", c->dir, when, target);
    if (text && write_text(path, text, len) == 0) {
        char kind[64];
        struct tk_err err = {0};
        snprintf(kind, sizeof(kind), "scrape:%s:%s", when, target);
        tk_store_add_artifact(c->r->st, c->row, kind, path, &err);
    }
    free(path);
}

static int phase_baseline(struct cell *c)
{
    uint64_t want;
    int rc;

    set_phase(c, PH_BASELINE);
    want = tk_scraper_request(c->scr);
    if ((rc = wait_for(c, round_ended, &want, tk_now_ns() + 30000000000LL)))
        return -1;
    for (int i = 0; i < 3; i++) {
        const char *name = base_targets[i] ? base_targets[i] : ds_source(c);
        const char *t = tk_scraper_text(c->scr, name, &c->base_len[i]);
        c->base_text[i] = t ? tk_xstrndup(t, c->base_len[i]) : NULL;
        save_scrape(c, "baseline", name, t, c->base_len[i]);
    }
    if (c->att && c->base_text[1]) {
        /* a remote etcd says its version in its metrics */
        char v[64];
        struct tk_err err = {0};
        tk_attach_etcd_version(c->base_text[1], c->base_len[1], v, sizeof(v));
        if (v[0])
            tk_store_add_component_version(c->r->st, c->row, "etcd", v, &err);
    }
    if (c->att) {
        mark_usage(c, ds_source(c));
        mark_usage(c, "apiserver");
        mark_usage(c, "controller-manager");
        mark_usage(c, "scheduler");
    }
    for (int i = 0; !c->att && i < c->info.ncomp; i++)
        mark_usage(c, comp_source(c, i));
    mark_usage(c, "turbokube");
    for (size_t i = 0; i < c->nagents; i++)
        mark_usage(c, c->agents[i].name);
    for (int g = 0; g < c->ncg; g++) {
        struct tk_scrape_usage u;
        mark_cgroup(c, c->cg_name[g]);
        if (tk_scraper_cgroup_usage(c->scr, c->cg_name[g], &u) == 0)
            c->cg_oom0[g] = u.oom_kills;
    }
    return 0;
}

static int phase_load(struct cell *c)
{
    struct tk_err err = {0};
    char **argv = NULL, *uuid = NULL, *log = NULL;
    int cwd = -1, rc = -1;
    pid_t pid;

    set_phase(c, PH_LOAD);
    if (tk_burner_render(&c->c->p, c->dir, &c->job, &err)) {
        failure(c, TK_FAILURE_HARD, 1, "kube-burner", NAN, NAN, 0, "render: %s", err.msg);
        return -1;
    }
    tk_store_add_artifact(c->r->st, c->row, "kube-burner-config", c->job.config_path, &err);
    uuid = tk_xasprintf("%s-%lld", c->c->id, (long long)(tk_wall_ns() / 1000000000LL));
    argv = tk_burner_argv(c->r->burner_bin, &c->job, uuid, c->c->p.timeout_ns, c->info.kubeconfig);
    log = tk_xasprintf("%s/kube-burner.log", c->dir);
    tk_store_add_artifact(c->r->st, c->row, "kube-burner-log", log, &err);
    /* kube-burner resolves template paths against its working directory; one thread, so
     * changing ours around the fork is safe. */
    if ((cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || chdir(c->job.workdir)) {
        failure(c, TK_FAILURE_HARD, 1, "kube-burner", NAN, NAN, 0, "cannot enter %s: %s",
                c->job.workdir, strerror(errno));
        goto out;
    }
    struct tk_proc_spec spec = {
        .argv = (const char *const *)argv, .log_path = log, .marker = c->info.dir};
    tk_err_clear(&err);
    int spawned = tk_proc_spawn(&spec, &pid, &err);
    if (fchdir(cwd))
        tk_warn("cannot return to the working directory", "error=\"%s\"", strerror(errno));
    if (spawned) {
        failure(c, TK_FAILURE_HARD, 1, "kube-burner", NAN, NAN, 0, "%s", err.msg);
        goto out;
    }
    c->burner = pid;
    c->load_t0_ns = tk_now_ns();
    c->load_t0_ms = tk_wall_ns() / 1000000;
    /* kube-burner's own --timeout should end it; a minute beyond is ours to enforce. */
    c->burner_deadline_ns = c->load_t0_ns + c->c->p.timeout_ns + 60000000000LL;
    rc = wait_for(c, burner_ended, NULL, c->burner_deadline_ns);
    c->load_t1_ns = tk_now_ns();
    if (rc == TK_ETIMEOUT) {
        c->burner_killed = 1;
        tk_proc_stop_group(c->burner, 5000);
        waitpid(c->burner, &c->burner_status, WNOHANG);
        c->burner_done = 1;
    }
    rc = c->r->signo ? -1 : 0;
out:
    if (cwd >= 0)
        close(cwd);
    tk_burner_argv_free(argv);
    free(uuid);
    free(log);
    return rc;
}

static void phase_final(struct cell *c)
{
    uint64_t want;
    set_phase(c, PH_FINAL);
    want = tk_scraper_request(c->scr);
    int stop = c->stop_now;
    c->stop_now = 0; /* a hard failure ended the load early: still take the last scrape */
    wait_for(c, round_ended, &want, tk_now_ns() + 30000000000LL);
    c->stop_now = stop;
}

/* ---- recording --------------------------------------------------------------------------------
 */

static void add_summary_sample(struct cell *c, const char *metric, const char *labels, double v)
{
    struct tk_err err = {0};
    struct tk_store_sample s = {tk_wall_ns() / 1000000, "summary", metric, labels ? labels : "", v};
    if (tk_store_add_samples(c->r->st, c->row, &s, 1, &err))
        tk_warn("cannot record samples", "error=\"%s\"", err.msg);
}

static void add_usage(struct cell *c, const char *component, double cpu, int64_t peak)
{
    struct tk_err err = {0};
    if (tk_store_add_usage(c->r->st, c->row, component, cpu, peak, &err))
        tk_warn("cannot record usage", "component=%s error=\"%s\"", component, err.msg);
}

static void record_latency(struct cell *c, int *pod_slo_exceeded)
{
    size_t flen = 0, nrows = 0, npl = 0, njs = 0;
    const char *fin = tk_scraper_text(c->scr, "apiserver", &flen);
    struct tk_latency_summary *rows = NULL;
    struct tk_pod_latency *pl = NULL;
    struct tk_job_summary *js = NULL;
    struct tk_slo_violation v[64];
    struct tk_err err = {0};
    int64_t now_ms = tk_wall_ns() / 1000000;

    save_scrape(c, "final", "apiserver", fin, flen);
    if (fin && c->base_text[0] &&
        tk_latency_summarize(c->base_text[0], c->base_len[0], fin, flen, &rows, &nrows, &err) ==
            0) {
        for (size_t i = 0; i < nrows; i++) {
            tk_err_clear(&err);
            if (tk_store_add_latency_summary(c->r->st, c->row, "apiserver", &rows[i], &err))
                tk_warn("cannot record a latency summary", "error=\"%s\"", err.msg);
        }
    } else if (err.code) {
        tk_warn("cannot summarize apiserver latencies", "error=\"%s\"", err.msg);
    }
    /* etcd's disk and the scheduler: one summary per histogram family */
    const struct {
        int base;
        const char *metric;
    } fams[] = {{1, "etcd_disk_wal_fsync_duration_seconds"},
                {1, "etcd_disk_backend_commit_duration_seconds"},
                {2, "scheduler_scheduling_attempt_duration_seconds"},
                {2, "scheduler_pod_scheduling_sli_duration_seconds"}};
    for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
        int b = fams[i].base;
        const char *src = b == 1 ? ds_source(c) : "scheduler";
        size_t len;
        const char *t = tk_scraper_text(c->scr, src, &len);
        struct tk_latency_summary *one = NULL;
        tk_err_clear(&err);
        if (b == 1 && i == 0)
            save_scrape(c, "final", src, t, len);
        if (b == 2 && i == 2)
            save_scrape(c, "final", src, t, len);
        if (!t ||
            tk_scrape_hist_summary(c->base_text[b], c->base_len[b], t, len, fams[i].metric, &one,
                                   &err) ||
            !one)
            continue;
        if (tk_store_add_latency_summary(c->r->st, c->row, src, one, &err))
            tk_warn("cannot record a latency summary", "error=\"%s\"", err.msg);
        tk_latency_summaries_free(one, 1);
    }
    /* kube-burner's view */
    if (c->job.metrics_dir && c->job.job) {
        tk_err_clear(&err);
        if (tk_burner_read_quantiles(c->job.metrics_dir, c->job.job, &pl, &npl, &err) == 0) {
            if (tk_store_add_pod_latency(c->r->st, c->row, pl, npl, &err))
                tk_warn("cannot record pod latency", "error=\"%s\"", err.msg);
        } else if (c->burner) {
            tk_warn("no pod latency from kube-burner", "error=\"%s\"", err.msg);
        }
        tk_err_clear(&err);
        if (tk_burner_read_job_summary(c->job.metrics_dir, &js, &njs, &err) == 0) {
            for (size_t i = 0; i < njs; i++)
                if (tk_store_add_job_summary(c->r->st, c->row, &js[i], &err))
                    tk_warn("cannot record a job summary", "error=\"%s\"", err.msg);
        }
        tk_store_add_artifact(c->r->st, c->row, "kube-burner-metrics", c->job.metrics_dir, &err);
    }
    /* Pod startup over the whole load (kube-burner's quantiles); the API SLOs over 5-min
     * windows (window_slo), the whole load only where no window was checked. */
    size_t nv = tk_run_slo_check(&c->c->p, rows, nrows, pl, npl, v, 64);
    for (size_t i = 0; i < nv && i < 64; i++) {
        if (strncmp(v[i].what, "slo:pod startup", 15) == 0) {
            *pod_slo_exceeded = 1;
            failure(c, TK_FAILURE_SOFT, 0, v[i].what, v[i].value, v[i].threshold, now_ms,
                    "p99 %.3fs over the load against %.3fs (%.0f%% above)", v[i].value,
                    v[i].threshold, 100.0 * (v[i].value - v[i].threshold) / v[i].threshold);
        } else if (!c->windows_checked) {
            failure(c, TK_FAILURE_SOFT, 0, v[i].what, v[i].value, v[i].threshold, now_ms,
                    "p99 %.3fs over the whole load against %.3fs (%.0f%% above; no 5-min "
                    "window was checked)",
                    v[i].value, v[i].threshold,
                    100.0 * (v[i].value - v[i].threshold) / v[i].threshold);
        }
    }
    for (size_t i = 0; i < c->nseen; i++) {
        const struct first_seen *f = &c->seen[i];
        failure(c, TK_FAILURE_SOFT, 0, f->what, f->worst, f->threshold, f->t_ms,
                "p99 %.3fs in the worst 5-min window against %.3fs (%.0f%% above); first "
                "exceeded in the window ending %.0fs into the load",
                f->worst, f->threshold, 100.0 * (f->worst - f->threshold) / f->threshold,
                (f->t_ms - c->load_t0_ms) / 1000.0);
    }
    tk_latency_summaries_free(rows, nrows);
    free(pl);
    free(js);
}

static void record_counts(struct cell *c)
{
    size_t flen = 0, elen = 0, n = 0;
    const char *fin = tk_scraper_text(c->scr, "apiserver", &flen);
    const char *etcd = tk_scraper_text(c->scr, ds_source(c), &elen);
    struct tk_scrape_count *cnt = NULL;
    struct tk_err err = {0};
    double total = 0, e5xx = 0, e429 = 0;

    if (fin && tk_scrape_counter_delta(c->base_text[0], c->base_len[0], fin, flen,
                                       "apiserver_request_total", "code", &cnt, &n, &err) == 0) {
        for (size_t i = 0; i < n; i++) {
            char labels[96];
            snprintf(labels, sizeof(labels), "code=\"%s\"", cnt[i].key);
            add_summary_sample(c, "apiserver_requests", labels, cnt[i].value);
            total += cnt[i].value;
            if (cnt[i].key[0] == '5')
                e5xx += cnt[i].value;
            if (strcmp(cnt[i].key, "429") == 0)
                e429 += cnt[i].value;
        }
        free(cnt);
        cnt = NULL;
        if (e5xx >= 10 && e5xx > 0.01 * total)
            failure(c, TK_FAILURE_HARD, 0, "apiserver 5xx responses", e5xx / total, 0.01, 0,
                    "%.0f of %.0f requests answered 5xx during the load", e5xx, total);
        if (e429 >= 10 && e429 > 0.01 * total)
            failure(c, TK_FAILURE_SOFT, 0, "apiserver 429 responses", e429 / total, 0.01, 0,
                    "%.0f of %.0f requests throttled with 429", e429, total);
    }
    tk_err_clear(&err);
    if (fin && tk_scrape_counter_delta(c->base_text[0], c->base_len[0], fin, flen,
                                       "apiserver_flowcontrol_rejected_requests_total", NULL, &cnt,
                                       &n, &err) == 0) {
        add_summary_sample(c, "apf_rejected", NULL, n ? cnt[0].value : 0);
        free(cnt);
        cnt = NULL;
    }
    tk_err_clear(&err);
    if (etcd && tk_scrape_counter_delta(c->base_text[1], c->base_len[1], etcd, elen,
                                        "etcd_server_leader_changes_seen_total", NULL, &cnt, &n,
                                        &err) == 0) {
        if (n)
            add_summary_sample(c, "etcd_leader_changes", NULL, cnt[0].value);
        free(cnt);
        cnt = NULL;
    }
    double db = NAN, quota = NAN;
    tk_err_clear(&err);
    if (etcd &&
        tk_scrape_gauge(etcd, elen, "etcd_mvcc_db_total_size_in_bytes", &db, NULL, &err) == 0 &&
        !isnan(db))
        add_summary_sample(c, "etcd_db_size_bytes", NULL, db);
    tk_err_clear(&err);
    if (etcd &&
        tk_scrape_gauge(etcd, elen, "etcd_server_quota_backend_bytes", &quota, NULL, &err) == 0 &&
        !isnan(quota) && !isnan(db) && db >= 0.95 * quota && !c->etcd_full_noted)
        failure(c, TK_FAILURE_HARD, 0, "etcd out of space", db, quota, 0,
                "database %.0f bytes of a %.0f-byte quota", db, quota);
    add_summary_sample(c, "nodes_lost", NULL, (double)c->nodes_lost);
    add_summary_sample(c, "pods_running_max", NULL, (double)c->pods_running_max);
    if (c->load_t1_ns > c->load_t0_ns)
        add_summary_sample(c, "load_seconds", NULL, (c->load_t1_ns - c->load_t0_ns) / 1e9);
    if (c->nodes_lost > 0)
        failure(c, TK_FAILURE_HARD, 0, "nodes lost", (double)c->nodes_lost, 0, 0,
                "%lld of %lld nodes went NotReady during the load", (long long)c->nodes_lost,
                (long long)c->c->p.nodes);
}

static void record_usage(struct cell *c)
{
    struct tk_scrape_usage u;
    double cp = 0, agents_cpu = 0, total = 0, self = 0;
    int64_t agents_peak = 0;

    for (int i = 0; i < c->info.ncomp; i++) {
        const char *name = comp_source(c, i);
        if (tk_scraper_usage(c->scr, name, &u) || !u.seen)
            continue;
        double cpu = u.cpu_seconds - mark_of(c, name);
        add_usage(c, name, cpu, u.peak_rss_bytes);
        cp += cpu;
    }
    for (size_t i = 0; i < c->nagents; i++) {
        if (tk_scraper_usage(c->scr, c->agents[i].name, &u) || !u.seen)
            continue;
        agents_cpu += u.cpu_seconds - mark_of(c, c->agents[i].name);
        agents_peak += u.peak_rss_bytes;
    }
    if (c->nagents)
        add_usage(c, "agents", agents_cpu, agents_peak);
    if (c->burner_done) {
        double b = c->burner_ru.ru_utime.tv_sec + c->burner_ru.ru_utime.tv_usec / 1e6 +
                   c->burner_ru.ru_stime.tv_sec + c->burner_ru.ru_stime.tv_usec / 1e6;
        add_usage(c, "kube-burner", b, (int64_t)c->burner_ru.ru_maxrss * 1024);
        total += b;
    }
    if (tk_scraper_usage(c->scr, "turbokube", &u) == 0 && u.seen) {
        self = u.cpu_seconds - mark_of(c, "turbokube");
        add_usage(c, "turbokube", self, u.peak_rss_bytes);
    }
    for (int g = 0; g < c->ncg; g++) {
        char name[48];
        if (tk_scraper_cgroup_usage(c->scr, c->cg_name[g], &u) || !u.seen)
            continue;
        snprintf(name, sizeof(name), "cgroup:%s", c->cg_name[g]);
        add_usage(c, name, u.cpu_seconds - mark_of(c, name), u.peak_rss_bytes);
    }
    total += cp + agents_cpu + self;
    if (total > 0)
        add_summary_sample(c, "orchestrator_cpu_share", NULL, self / total);
}

static void phase_record(struct cell *c)
{
    struct tk_err err = {0};
    int pod_slo = 0;

    set_phase(c, PH_RECORD);
    if (tk_store_begin(c->r->st, &err))
        tk_warn("cannot begin the record phase", "error=\"%s\"", err.msg);
    record_latency(c, &pod_slo);
    record_counts(c);
    record_usage(c);
    if (c->burner_done) {
        const char *why = tk_run_burner_verdict(c->burner_status, c->burner_killed, pod_slo);
        if (why) {
            struct tk_buf tail;
            char *log = tk_xasprintf("%s/kube-burner.log", c->dir);
            tk_buf_init(&tail, 0);
            tk_proc_tail(log, 1, &tail);
            if (tail.data)
                tail.data[strcspn(tail.data, "\n")] = '\0';
            failure(c, TK_FAILURE_HARD, 0, "kube-burner", NAN, NAN, 0, "%s (%s): %.200s", why, log,
                    tail.data ? tail.data : "");
            tk_buf_release(&tail);
            free(log);
        }
    }
    tk_err_clear(&err);
    if (tk_store_commit(c->r->st, &err))
        tk_warn("cannot commit the record phase", "error=\"%s\"", err.msg);
}

/* ---- teardown ------------------------------------------------------------------------------ */

static void copy_logs(struct cell *c)
{
    for (int i = 0; i < c->info.ncomp; i++) {
        const char *from = c->info.comp[i].log;
        const char *base = strrchr(from, '/');
        if (!from[0] || !base)
            continue;
        char *to = tk_xasprintf("%s%s", c->logdir, base);
        if (copy_file(from, to) == 0) {
            char kind[64];
            struct tk_err err = {0};
            snprintf(kind, sizeof(kind), "log:%s", c->info.comp[i].name);
            tk_store_add_artifact(c->r->st, c->row, kind, to, &err);
        }
        free(to);
    }
}

/* Provider kubeconfig: the cluster stays up, and what the cell put into it goes (remote_sweep:
 * kube-burner's namespaces first, then the agents stop (lite ones deleting their nodes), then
 * whatever is still there). */
static void teardown_remote(struct cell *c)
{
    struct tk_err err = {0};

    if (c->r->o->keep && c->att) {
        char how[256] = ", which delete their nodes and leases";
        if (c->c->p.bootstrap_kubeconfig) /* no --cleanup: see phase_agents */
            snprintf(how, sizeof(how),
                     ", but their node identities may not delete Nodes: then 'kubectl delete "
                     "nodes -l %s=%s' and their namesakes in namespace kube-node-lease (leases) "
                     "remove them",
                     RUN_LABEL, c->cluster);
        say(c->r,
            "cell %s: kept the agents and their nodes in the cluster; 'turbokube cluster down "
            "--name %s' stops the agents%s",
            c->c->id, c->cluster, how);
        return;
    }
    if (c->att && remote_sweep(c, "after the cell") == 0)
        say(c->r, "cell %s: nothing of the cell is left in the cluster", c->c->id);
    if (tk_localcp_down(c->cluster, 0, &err)) /* the marker directory, and any straggler */
        say(c->r, "cell %s: teardown: %s", c->c->id, err.msg);
}

static void teardown(struct cell *c)
{
    struct tk_err err = {0};

    c->stopped_in = c->phase;
    set_phase(c, PH_TEARDOWN);
    if (c->burner > 0 && !c->burner_done) {
        tk_proc_stop_group(c->burner, 5000);
        c->burner_done = 1;
    }
    tk_timer_stop(c->r->loop, &c->tick);
    tk_timer_stop(c->r->loop, &c->scrape);
    tk_timer_stop(c->r->loop, &c->sa_timer);
    tk_kube_watch_stop(c->nodes_w);
    c->nodes_w = NULL;
    tk_kube_free(c->api);
    c->api = NULL;
    tk_scraper_free(c->scr);
    c->scr = NULL;
    if (c->r->o->keep && c->up) {
        say(c->r, "cell %s: kept running; take it down with 'turbokube cluster down --name %s'",
            c->c->id, c->cluster);
        return;
    }
    if (c->c->p.provider == TK_EXP_PROVIDER_KUBECONFIG) {
        teardown_remote(c);
        return;
    }
    for (size_t i = 0; i < c->nagents; i++)
        if (c->agents[i].pid > 0 && !c->agents[i].exited)
            tk_proc_stop_group(c->agents[i].pid, 10000);
    if (c->up) {
        copy_logs(c);
        if (tk_localcp_down(c->cluster, 0, &err))
            say(c->r, "cell %s: teardown: %s", c->c->id, err.msg);
    }
}

static void cell_release(struct cell *c)
{
    tk_attach_free(c->att);
    for (int g = 0; g < c->ncg; g++)
        tk_cgroup_free(c->cg[g]);
    for (int i = 0; i < 3; i++)
        free(c->base_text[i]);
    free(c->prev_api);
    tk_slo_window_free(&c->win);
    free(c->seen);
    free(c->marks);
    free(c->agents);
    free(c->node);
    free(c->dir);
    free(c->logdir);
    free(c->cert_dir);
    tk_burner_job_release(&c->job);
}

/* ---- one cell ------------------------------------------------------------------------------ */

/* The facts of this machine: the control plane's host for provider local, only the agents'
 * (and kube-burner's) for provider kubeconfig, whose apiserver version comes from /version. */
static void host_facts(struct run *r, int64_t row, int remote)
{
    struct utsname u;
    char model[256] = "", line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    struct tk_err err = {0};

    while (f && fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(model, sizeof(model), "%s", colon + 2);
            model[strcspn(model, "\n")] = '\0';
            break;
        }
    }
    if (f)
        fclose(f);
    uname(&u);
    struct tk_host_facts hf = {.host = remote ? "agents" : "local",
                               .cpu_model = model,
                               .cores = sysconf(_SC_NPROCESSORS_ONLN),
                               .memory_bytes =
                                   (int64_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE),
                               .kernel = u.release};
    tk_store_add_host_facts(r->st, row, &hf, &err);
    const char *comp[][2] = {{"kube-apiserver", r->v_k8s}, {"kube-controller-manager", r->v_k8s},
                             {"kube-scheduler", r->v_k8s}, {"etcd", r->v_etcd},
                             {"kine", r->v_kine},          {"kube-burner", r->v_burner},
                             {"turbokube", TK_VERSION}};
    for (size_t i = remote ? 5 : 0; i < sizeof(comp) / sizeof(comp[0]); i++)
        if (comp[i][1][0])
            tk_store_add_component_version(r->st, row, comp[i][0], comp[i][1], &err);
}

static enum tk_cell_status run_cell(struct run *r, const struct tk_cell *tc, int64_t row,
                                    char *reason, size_t nreason)
{
    struct cell c;
    struct tk_err err = {0};
    enum tk_cell_status status;

    memset(&c, 0, sizeof(c));
    c.r = r;
    c.c = tc;
    c.row = row;
    c.t0_ns = tk_now_ns();
    c.nodes_total = tc->p.nodes;
    c.node = tk_xcalloc((size_t)tc->p.nodes, 1);
    snprintf(c.cluster, sizeof(c.cluster), "tk-%s", tc->id);
    c.dir = tk_xasprintf("%s/%03zu-%s", r->runs_dir, tc->index, tc->id);
    c.logdir = tk_xasprintf("%s/logs", c.dir);
    r->cur = &c;
    rm_rf(c.dir);
    char *scrapes = tk_xasprintf("%s/scrapes", c.dir);
    if (mkdir_p(c.logdir) || mkdir_p(scrapes))
        say(r, "cell %s: cannot create %s: %s", tc->id, c.dir, strerror(errno));
    free(scrapes);
    tk_timer_init(&c.tick, tick_cb, &c);
    tk_timer_start(r->loop, &c.tick, tk_now_ns());

    tk_store_begin(r->st, &err);
    tk_store_set_cell_status(r->st, row, TK_CELL_RUNNING, NULL, &err);
    tk_store_set_cell_dir(r->st, row, c.dir, &err);
    host_facts(r, row, tc->p.provider == TK_EXP_PROVIDER_KUBECONFIG);
    if (tk_store_commit(r->st, &err))
        say(r, "cell %s: %s", tc->id, err.msg);

    if (phase_up(&c) == 0 && start_scraping(&c) == 0 && phase_agents(&c) == 0 &&
        phase_nodes(&c) == 0 && phase_baseline(&c) == 0) {
        phase_load(&c);
    }
    if (c.scr && c.phase >= PH_LOAD && !r->signo) {
        phase_final(&c);
        phase_record(&c);
    }
    teardown(&c);

    if (r->signo) {
        status = TK_CELL_ABORTED;
        snprintf(reason, nreason, "interrupted by %s during %s", strsignal(r->signo),
                 phase_names[c.stopped_in]);
    } else if (c.failures) {
        status = TK_CELL_FAILED;
        snprintf(reason, nreason, "%s", c.hard_reason);
    } else {
        status = TK_CELL_COMPLETE;
        reason[0] = '\0';
    }
    tk_err_clear(&err);
    if (tk_store_set_cell_status(r->st, row, status, reason[0] ? reason : NULL, &err))
        say(r, "cell %s: %s", tc->id, err.msg);
    r->cur = NULL;
    cell_release(&c);
    return status;
}

/* ---- the experiment ------------------------------------------------------------------------ */

static void on_signal(int signo, void *ud)
{
    struct run *r = ud;
    if (!r->signo) {
        r->signo = signo;
        say(r, "%s: stopping the cell and tearing everything down", strsignal(signo));
    }
    tk_loop_stop(r->loop);
}

static char *beside_self(const char *name)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return tk_xstrdup(name);
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    return tk_xasprintf("%s/%s", exe, name);
}

static int check_exec(const char *path, const char *what, const char *hint, struct tk_err *err)
{
    if (access(path, X_OK) == 0)
        return 0;
    return tk_err_set(err, TK_ENOTFOUND, "%s '%s' is not there or not executable: %s", what, path,
                      hint);
}

/* Records on the first bad step of a ramp the field's last good and first bad values. */
static void ramp_point(struct run *r, int64_t row, const struct tk_cell *bad,
                       const struct tk_cell *good)
{
    char vb[64], vg[64], detail[200];
    struct tk_err err = {0};
    const char *field = r->e->ramp.field;

    tk_exp_cell_param(bad, field, vb, sizeof(vb));
    if (good)
        tk_exp_cell_param(good, field, vg, sizeof(vg));
    snprintf(detail, sizeof(detail), "%s: last good %s, first bad %s", field, good ? vg : "none",
             vb);
    struct tk_failure_point fp = {.t_ms = tk_wall_ns() / 1000000,
                                  .kind = TK_FAILURE_HARD,
                                  .what = "ramp: first bad step",
                                  .value = strtod(vb, NULL),
                                  .threshold = good ? strtod(vg, NULL) : NAN,
                                  .detail = detail};
    tk_store_add_failure(r->st, row, &fp, &err);
    say(r, "ramp group %d stops: %s", bad->ramp_group, detail);
}

int tk_run_experiment(const struct tk_run_opts *o, struct tk_run_result *res, struct tk_err *err)
{
    struct run r;
    struct tk_run_result local;
    const char *db_path = o->db_path ? o->db_path : "results/turbokube.db";
    char *spec = NULL, est[32];
    int64_t *rows = NULL;
    int *ramp_stop = NULL, *ramp_good = NULL;
    int rc = 0;

    memset(&r, 0, sizeof(r));
    if (!res)
        res = &local;
    memset(res, 0, sizeof(*res));
    r.o = o;
    if ((rc = tk_experiment_load(&r.e, o->file, err)))
        goto out;
    res->cells = r.e->ncells;
    r.cache = tk_localcp_cache();
    r.agent_bin = o->agent_bin                ? tk_xstrdup(o->agent_bin)
                  : getenv("TURBOKUBE_AGENT") ? tk_xstrdup(getenv("TURBOKUBE_AGENT"))
                                              : beside_self("turbokube-agent");
    r.burner_bin = o->burner_bin                     ? tk_xstrdup(o->burner_bin)
                   : getenv("TURBOKUBE_KUBE_BURNER") ? tk_xstrdup(getenv("TURBOKUBE_KUBE_BURNER"))
                                                     : tk_xasprintf("%s/bin/kube-burner", r.cache);
    if ((rc = check_exec(r.agent_bin, "the agent", "build it (make build) or set TURBOKUBE_AGENT",
                         err)) ||
        (rc = check_exec(r.burner_bin, "kube-burner",
                         "run scripts/bootstrap (or set TURBOKUBE_KUBE_BURNER)", err)))
        goto out;
    if ((rc = tk_store_open(&r.st, db_path, err)))
        goto out;
    spec = read_text(o->file, 16u << 20);
    if (!o->resume || tk_store_find_experiment(r.st, r.e->name, &r.exp, NULL) != 0) {
        if ((rc = tk_store_add_experiment(r.st, r.e->name, r.e->description, o->file, spec, &r.exp,
                                          err)))
            goto out;
    }
    res->experiment = r.exp;
    {
        char *bin = tk_xasprintf("%s/bin/kube-apiserver", r.cache);
        binary_version(bin, "--version", r.v_k8s, sizeof(r.v_k8s));
        free(bin);
        bin = tk_xasprintf("%s/bin/etcd", r.cache);
        binary_version(bin, "--version", r.v_etcd, sizeof(r.v_etcd));
        free(bin);
        bin = tk_xasprintf("%s/bin/kine", r.cache);
        binary_version(bin, "--version", r.v_kine, sizeof(r.v_kine));
        free(bin);
        binary_version(r.burner_bin, "version", r.v_burner, sizeof(r.v_burner));
    }
    {
        /* DIR/runs/STEM/NAME-EXP beside DIR/STEM.db: experiment rows count per database, so
         * two databases in one directory must not share cell directories. */
        char *dbcopy = tk_xstrdup(db_path), *slash = strrchr(dbcopy, '/');
        char *stem = tk_xstrdup(slash ? slash + 1 : dbcopy), *dot = strrchr(stem, '.');
        if (dot && dot != stem)
            *dot = '\0';
        if (slash)
            *slash = '\0';
        r.runs_dir =
            tk_xasprintf("%s/runs/%s/%s-%lld", slash ? (slash == dbcopy ? "" : dbcopy) : ".", stem,
                         r.e->name, (long long)r.exp);
        free(stem);
        free(dbcopy);
        if (mkdir_p(r.runs_dir)) {
            rc = tk_err_set(err, TK_EIO, "cannot create %s: %s", r.runs_dir, strerror(errno));
            goto out;
        }
        /* Absolute from here on: kube-burner runs in its job's directory, and every path
         * handed to it (config, log) must still name the same file there. */
        char *abs = realpath(r.runs_dir, NULL);
        if (!abs) {
            rc = tk_err_set(err, TK_EIO, "cannot resolve %s: %s", r.runs_dir, strerror(errno));
            goto out;
        }
        free(r.runs_dir);
        r.runs_dir = abs;
    }
    /* Every cell of the plan is in the database before the first one starts: an interrupted
     * run leaves the rest pending, and --resume finds them. */
    rows = tk_xcalloc(r.e->ncells ? r.e->ncells : 1, sizeof(*rows));
    if ((rc = tk_store_begin(r.st, err)))
        goto out;
    for (size_t i = 0; i < r.e->ncells && !rc; i++)
        rc = tk_store_add_cell(r.st, r.exp, (int64_t)i, r.e->cells[i].id, r.e->cells[i].params_json,
                               &rows[i], NULL, err);
    if (rc || (rc = tk_store_commit(r.st, err))) {
        tk_store_rollback(r.st);
        goto out;
    }
    if (!(r.loop = tk_loop_new(err))) {
        rc = err->code;
        goto out;
    }
    tk_loop_on_signal(r.loop, on_signal, &r);
    r.tty = o->progress && isatty(fileno(o->progress));
    r.total = r.e->ncells;
    fmt_dur(r.e->estimate_ns, est, sizeof(est));
    say(&r, "experiment %s: %zu cell%s, estimated %s; recording into %s (experiment %lld)",
        r.e->name, r.e->ncells, r.e->ncells == 1 ? "" : "s", est, db_path, (long long)r.exp);
    ramp_stop = tk_xcalloc(r.e->ncells + 1, sizeof(int));
    ramp_good = tk_xcalloc(r.e->ncells + 1, sizeof(int));
    for (size_t i = 0; i <= r.e->ncells; i++)
        ramp_good[i] = -1;
    for (size_t i = 0; i < r.e->ncells && !r.signo; i++) {
        const struct tk_cell *c = &r.e->cells[i];
        enum tk_cell_status status;
        char reason[300], took[32];
        int64_t t0 = tk_now_ns();
        int g = c->ramp_group;

        r.pos = i + 1;
        if (tk_store_add_cell(r.st, r.exp, (int64_t)i, c->id, c->params_json, &rows[i], &status,
                              err)) {
            rc = err->code;
            goto out;
        }
        if (o->resume && status == TK_CELL_COMPLETE) {
            say(&r, "cell %zu/%zu %s: complete already, skipped", r.pos, r.total, c->id);
            res->skipped++;
            if (g >= 0)
                ramp_good[g] = (int)i;
            continue;
        }
        if (g >= 0 && ramp_stop[g]) {
            say(&r, "cell %zu/%zu %s: skipped, its ramp stopped at an earlier step", r.pos, r.total,
                c->id);
            res->skipped++;
            continue;
        }
        if (status != TK_CELL_PENDING && (rc = tk_store_reset_cell(r.st, rows[i], err)))
            goto out;
        status = run_cell(&r, c, rows[i], reason, sizeof(reason));
        fmt_dur(tk_now_ns() - t0, took, sizeof(took));
        say(&r, "cell %zu/%zu %s: %s in %s%s%s", r.pos, r.total, c->id, tk_cell_status_name(status),
            took, reason[0] ? ": " : "", reason);
        if (status == TK_CELL_COMPLETE) {
            res->complete++;
            if (g >= 0)
                ramp_good[g] = (int)i;
        } else if (status == TK_CELL_FAILED) {
            res->failed++;
            if (g >= 0) {
                ramp_stop[g] = 1;
                ramp_point(&r, rows[i], c, ramp_good[g] >= 0 ? &r.e->cells[ramp_good[g]] : NULL);
            }
        } else {
            res->aborted++;
        }
    }
    res->signo = r.signo;
    {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        say(&r, "turbokube itself used %.1f CPU seconds (user %.1f, system %.1f)",
            ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                ru.ru_stime.tv_usec / 1e6,
            ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
            ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
    }
    if (o->out && tk_run_print_summary(tk_store_db(r.st), r.exp, o->format, o->out, err))
        rc = err->code;
    if (!rc && r.signo)
        rc = tk_err_set(err, TK_ESTATE,
                        "interrupted by %s; the cell was torn down and marked aborted "
                        "('turbokube run --resume %s' continues)",
                        strsignal(r.signo), o->file);
out:
    tk_loop_free(r.loop);
    tk_store_close(r.st);
    tk_experiment_free(r.e);
    free(rows);
    free(ramp_stop);
    free(ramp_good);
    free(spec);
    free(r.agent_bin);
    free(r.burner_bin);
    free(r.cache);
    free(r.runs_dir);
    return rc;
}

/* ---- the summary ----------------------------------------------------------------------------- */

static void fmt_secs(double s, char *out, size_t n)
{
    if (isnan(s))
        snprintf(out, n, "-");
    else if (isinf(s))
        snprintf(out, n, "+Inf");
    else if (s < 1)
        snprintf(out, n, "%.1fms", s * 1000);
    else
        snprintf(out, n, "%.2fs", s);
}

static double col_d(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

static const char *col_s(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql, int64_t id, struct tk_err *err)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        tk_err_set(err, TK_EIO, "summary: %s", sqlite3_errmsg(db));
        sqlite3_finalize(s);
        return NULL;
    }
    sqlite3_bind_int64(s, 1, id);
    return s;
}

static cJSON *num(double v)
{
    return isnan(v) || isinf(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v);
}

/* One cell's part of the summary; j is its JSON object (NULL for the table). */
/* "component=\"etcd\",what=\"usage\"" as "etcd usage". */
static void label_pair(const char *labels, char *out, size_t n)
{
    const char *c = strstr(labels, "component=\""), *w = strstr(labels, "what=\"");
    int cl = c ? (int)strcspn(c + 11, "\"") : 0, wl = w ? (int)strcspn(w + 6, "\"") : 0;
    snprintf(out, n, "%.*s %.*s", cl, c ? c + 11 : "", wl, w ? w + 6 : "");
}

static int summarize_cell(sqlite3 *db, int64_t cell, FILE *out, cJSON *j, struct tk_err *err)
{
    sqlite3_stmt *s;
    char a[32], b[32], c3[32], d[32];
    const char *lat_metric = SLI_METRIC;
    int n;

    /* apiserver: the SLI metric when the apiserver exports it */
    if (!(s = prep(db,
                   "SELECT count(*) FROM latency_summaries WHERE cell=?1 AND source='apiserver' "
                   "AND metric='" SLI_METRIC "'",
                   cell, err)))
        return err->code;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 0)
        lat_metric = DURATION_METRIC;
    sqlite3_finalize(s);
    char *sql = tk_xasprintf("SELECT verb, resource, subresource, scope, count, p50, p90, p99 "
                             "FROM latency_summaries WHERE cell=?1 AND source='apiserver' AND "
                             "metric='%s' ORDER BY count DESC, verb, resource LIMIT 12",
                             lat_metric);
    s = prep(db, sql, cell, err);
    free(sql);
    if (!s)
        return err->code;
    cJSON *arr = j ? cJSON_AddArrayToObject(j, "apiserver") : NULL;
    if (j)
        cJSON_AddStringToObject(j, "apiserverMetric", lat_metric);
    for (n = 0; sqlite3_step(s) == SQLITE_ROW; n++) {
        if (j) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "verb", col_s(s, 0));
            cJSON_AddStringToObject(o, "resource", col_s(s, 1));
            cJSON_AddStringToObject(o, "subresource", col_s(s, 2));
            cJSON_AddStringToObject(o, "scope", col_s(s, 3));
            cJSON_AddItemToObject(o, "count", num(col_d(s, 4)));
            cJSON_AddItemToObject(o, "p50", num(col_d(s, 5)));
            cJSON_AddItemToObject(o, "p90", num(col_d(s, 6)));
            cJSON_AddItemToObject(o, "p99", num(col_d(s, 7)));
            cJSON_AddItemToArray(arr, o);
            continue;
        }
        if (n == 0)
            fprintf(out,
                    "  apiserver latency (%s), most requested:\n    %-8s %-26s %-9s %9s "
                    "%9s %9s %9s\n",
                    lat_metric, "VERB", "RESOURCE", "SCOPE", "COUNT", "P50", "P90", "P99");
        char res[128];
        snprintf(res, sizeof(res), "%s%s%s", col_s(s, 1), *col_s(s, 2) ? "/" : "", col_s(s, 2));
        fmt_secs(col_d(s, 5), a, sizeof(a));
        fmt_secs(col_d(s, 6), b, sizeof(b));
        fmt_secs(col_d(s, 7), c3, sizeof(c3));
        fprintf(out, "    %-8s %-26.26s %-9s %9.0f %9s %9s %9s\n", col_s(s, 0), res, col_s(s, 3),
                col_d(s, 4), a, b, c3);
    }
    sqlite3_finalize(s);
    if (!j && n == 0)
        fprintf(out, "  apiserver latency: none recorded\n");

    /* apiserver -> etcd, and etcd's own disk */
    if (!(s = prep(db,
                   "SELECT source, metric, verb, resource, count, p50, p99 FROM latency_summaries "
                   "WHERE cell=?1 AND (metric='etcd_request_duration_seconds' OR source IN "
                   "('etcd','kine')) ORDER BY source='apiserver', count DESC LIMIT 10",
                   cell, err)))
        return err->code;
    arr = j ? cJSON_AddArrayToObject(j, "etcd") : NULL;
    for (n = 0; sqlite3_step(s) == SQLITE_ROW; n++) {
        const char *metric = col_s(s, 1);
        char what[128];
        if (strcmp(metric, "etcd_request_duration_seconds") == 0)
            snprintf(what, sizeof(what), "apiserver->etcd %s %s", col_s(s, 2), col_s(s, 3));
        else
            snprintf(what, sizeof(what), "%s %s",
                     strstr(metric, "wal_fsync")        ? "wal fsync"
                     : strstr(metric, "backend_commit") ? "backend commit"
                                                        : metric,
                     col_s(s, 0));
        if (j) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "what", what);
            cJSON_AddStringToObject(o, "metric", metric);
            cJSON_AddItemToObject(o, "count", num(col_d(s, 4)));
            cJSON_AddItemToObject(o, "p50", num(col_d(s, 5)));
            cJSON_AddItemToObject(o, "p99", num(col_d(s, 6)));
            cJSON_AddItemToArray(arr, o);
            continue;
        }
        if (n == 0)
            fprintf(out, "  etcd:\n    %-44s %9s %9s %9s\n", "WHAT", "COUNT", "P50", "P99");
        fmt_secs(col_d(s, 5), a, sizeof(a));
        fmt_secs(col_d(s, 6), b, sizeof(b));
        fprintf(out, "    %-44.44s %9.0f %9s %9s\n", what, col_d(s, 4), a, b);
    }
    sqlite3_finalize(s);

    /* pod startup, as kube-burner measured it */
    if (!(s = prep(db,
                   "SELECT job, condition, p50, p95, p99, max FROM pod_latency WHERE cell=?1 "
                   "ORDER BY job, condition",
                   cell, err)))
        return err->code;
    arr = j ? cJSON_AddArrayToObject(j, "podStartup") : NULL;
    for (n = 0; sqlite3_step(s) == SQLITE_ROW; n++) {
        if (j) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "job", col_s(s, 0));
            cJSON_AddStringToObject(o, "condition", col_s(s, 1));
            cJSON_AddItemToObject(o, "p50Ms", num(col_d(s, 2)));
            cJSON_AddItemToObject(o, "p95Ms", num(col_d(s, 3)));
            cJSON_AddItemToObject(o, "p99Ms", num(col_d(s, 4)));
            cJSON_AddItemToObject(o, "maxMs", num(col_d(s, 5)));
            cJSON_AddItemToArray(arr, o);
            continue;
        }
        if (n == 0)
            fprintf(out, "  pod startup (kube-burner):\n    %-16s %-26s %9s %9s %9s %9s\n", "JOB",
                    "CONDITION", "P50", "P95", "P99", "MAX");
        fmt_secs(col_d(s, 2) / 1000, a, sizeof(a));
        fmt_secs(col_d(s, 3) / 1000, b, sizeof(b));
        fmt_secs(col_d(s, 4) / 1000, c3, sizeof(c3));
        fmt_secs(col_d(s, 5) / 1000, d, sizeof(d));
        fprintf(out, "    %-16.16s %-26.26s %9s %9s %9s %9s\n", col_s(s, 0), col_s(s, 1), a, b, c3,
                d);
    }
    sqlite3_finalize(s);
    if (!j && n == 0)
        fprintf(out, "  pod startup: none recorded\n");

    /* usage over the load window */
    double load_s = NAN;
    if (!(s = prep(db,
                   "SELECT value FROM samples WHERE cell=?1 AND source='summary' AND "
                   "metric='load_seconds' ORDER BY t_ms DESC LIMIT 1",
                   cell, err)))
        return err->code;
    if (sqlite3_step(s) == SQLITE_ROW)
        load_s = col_d(s, 0);
    sqlite3_finalize(s);
    if (!(s = prep(db,
                   "SELECT component, cpu_seconds, peak_rss_bytes, component IN ('etcd','kine',"
                   "'etcd-1','etcd-2','apiserver','controller-manager','scheduler') FROM usage "
                   "WHERE cell=?1 ORDER "
                   "BY component LIKE 'cgroup:%', 4 DESC, component",
                   cell, err)))
        return err->code;
    arr = j ? cJSON_AddArrayToObject(j, "usage") : NULL;
    if (j)
        cJSON_AddItemToObject(j, "loadSeconds", num(load_s));
    double cp_cpu = 0, cp_rss = 0;
    int ncp = 0;
    for (n = 0; sqlite3_step(s) == SQLITE_ROW; n++) {
        double cpu = col_d(s, 1), rss = col_d(s, 2);
        if (sqlite3_column_int(s, 3)) {
            cp_cpu += cpu;
            cp_rss += rss;
            ncp++;
        }
        if (j) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "component", col_s(s, 0));
            cJSON_AddItemToObject(o, "cpuSeconds", num(cpu));
            cJSON_AddItemToObject(o, "peakRssBytes", num(rss));
            cJSON_AddItemToArray(arr, o);
            continue;
        }
        if (n == 0)
            fprintf(out, "  usage during the load (%.0fs):\n    %-24s %9s %9s %12s\n", load_s,
                    "COMPONENT", "CPU(s)", "CORES", "PEAK RSS");
        fprintf(out, "    %-24.24s %9.1f %9.2f %9.0fMiB\n", col_s(s, 0), cpu,
                load_s > 0 ? cpu / load_s : NAN, rss / 1048576.0);
    }
    sqlite3_finalize(s);
    if (ncp) {
        if (j) {
            cJSON *o = cJSON_AddObjectToObject(j, "controlPlane");
            cJSON_AddItemToObject(o, "cpuSeconds", num(cp_cpu));
            cJSON_AddItemToObject(o, "peakRssBytes", num(cp_rss));
        } else {
            fprintf(out, "    %-24s %9.1f %9.2f %9.0fMiB  (sum of %d components)\n",
                    "control plane", cp_cpu, load_s > 0 ? cp_cpu / load_s : NAN, cp_rss / 1048576.0,
                    ncp);
        }
    }

    /* what the cell could not measure (provider kubeconfig: remote components) */
    if (!(s = prep(db,
                   "SELECT DISTINCT labels FROM samples WHERE cell=?1 AND source='summary' AND "
                   "metric='not_measured' ORDER BY labels",
                   cell, err)))
        return err->code;
    arr = j ? cJSON_AddArrayToObject(j, "notMeasured") : NULL;
    for (n = 0; sqlite3_step(s) == SQLITE_ROW; n++) {
        char what[96];
        label_pair(col_s(s, 0), what, sizeof(what));
        if (j)
            cJSON_AddItemToArray(arr, cJSON_CreateString(what));
        else
            fprintf(out, "%s%s", n ? ", " : "  not measured: ", what);
    }
    if (!j && n)
        fputc('\n', out);
    sqlite3_finalize(s);

    /* failure points */
    if (!(s = prep(db,
                   "SELECT kind, what, value, threshold, coalesce(detail,'') FROM failure_points "
                   "WHERE cell=?1 ORDER BY t_ms, id",
                   cell, err)))
        return err->code;
    arr = j ? cJSON_AddArrayToObject(j, "failures") : NULL;
    for (n = 0; sqlite3_step(s) == SQLITE_ROW; n++) {
        if (j) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "kind", col_s(s, 0));
            cJSON_AddStringToObject(o, "what", col_s(s, 1));
            cJSON_AddItemToObject(o, "value", num(col_d(s, 2)));
            cJSON_AddItemToObject(o, "threshold", num(col_d(s, 3)));
            cJSON_AddStringToObject(o, "detail", col_s(s, 4));
            cJSON_AddItemToArray(arr, o);
            continue;
        }
        if (n == 0)
            fprintf(out, "  failure points:\n");
        fprintf(out, "    %-4s %s%s%.160s\n", col_s(s, 0), col_s(s, 1), *col_s(s, 4) ? ": " : "",
                col_s(s, 4));
    }
    sqlite3_finalize(s);
    if (!j && n == 0)
        fprintf(out, "  failure points: none\n");
    return 0;
}

int tk_run_print_summary(struct sqlite3 *db, int64_t experiment, enum tk_run_format format,
                         FILE *out, struct tk_err *err)
{
    sqlite3_stmt *s = NULL;
    cJSON *root = NULL, *cells = NULL;
    int rc = 0, json = format == TK_RUN_JSON;

    if (!(s = prep(db,
                   "SELECT e.name, c.id, c.idx, c.cell_id, c.status, coalesce(c.exit_reason,''), "
                   "c.started_ms, c.finished_ms, json_extract(c.params,'$.load.shape'), "
                   "json_extract(c.params,'$.agents.nodes'), coalesce(c.dir,'') FROM cells c JOIN "
                   "experiments e ON e.id = c.experiment WHERE c.experiment=?1 ORDER BY c.idx",
                   experiment, err)))
        return err->code;
    if (json) {
        root = cJSON_CreateObject();
        cJSON_AddNumberToObject(root, "experiment", (double)experiment);
        cells = cJSON_AddArrayToObject(root, "cells");
    }
    while (!rc && sqlite3_step(s) == SQLITE_ROW) {
        int64_t cell = sqlite3_column_int64(s, 1);
        double took =
            sqlite3_column_type(s, 6) != SQLITE_NULL && sqlite3_column_type(s, 7) != SQLITE_NULL
                ? (sqlite3_column_int64(s, 7) - sqlite3_column_int64(s, 6)) / 1000.0
                : NAN;
        cJSON *j = NULL;
        if (json) {
            if (!cJSON_GetObjectItem(root, "name"))
                cJSON_AddStringToObject(root, "name", col_s(s, 0));
            j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "index", sqlite3_column_int(s, 2));
            cJSON_AddStringToObject(j, "id", col_s(s, 3));
            cJSON_AddStringToObject(j, "status", col_s(s, 4));
            cJSON_AddStringToObject(j, "exitReason", col_s(s, 5));
            cJSON_AddItemToObject(j, "seconds", num(took));
            cJSON_AddStringToObject(j, "dir", col_s(s, 10));
            cJSON_AddItemToArray(cells, j);
        } else {
            char t[32] = "-";
            if (!isnan(took))
                fmt_dur((int64_t)(took * 1e9), t, sizeof(t));
            fprintf(out, "\ncell %d  %s  %s  %s, %s nodes  %s%s%s\n", sqlite3_column_int(s, 2),
                    col_s(s, 3), col_s(s, 4), col_s(s, 8), col_s(s, 9), t,
                    *col_s(s, 5) ? "\n  exit reason: " : "", col_s(s, 5));
        }
        rc = summarize_cell(db, cell, out, j, err);
    }
    sqlite3_finalize(s);
    if (json && !rc) {
        char *text = cJSON_Print(root);
        fprintf(out, "%s\n", text);
        free(text);
    }
    cJSON_Delete(root);
    if (!rc && ferror(out))
        rc = tk_err_set(err, TK_EIO, "cannot write the summary");
    return rc;
}
