#include "scrape.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cgroup.h"
#include "kube.h"
#include "log.h"
#include "loop.h"
#include "proc.h"
#include "prom.h"

/* ---- what is recorded every round -------------------------------------------------------- */

static const char *const keep_names[] = {
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "go_goroutines",
    "go_memstats_heap_inuse_bytes",
    /* apiserver */
    "apiserver_request_total",
    "apiserver_current_inflight_requests",
    "apiserver_current_inqueue_requests",
    "apiserver_flowcontrol_rejected_requests_total",
    "apiserver_flowcontrol_current_inqueue_requests",
    "apiserver_flowcontrol_current_executing_requests",
    "apiserver_request_terminations_total",
    "apiserver_resource_objects",
    "apiserver_storage_objects",
    "apiserver_storage_size_bytes",
    "apiserver_registered_watchers",
    "apiserver_longrunning_requests",
    /* etcd */
    "etcd_server_has_leader",
    "etcd_server_leader_changes_seen_total",
    "etcd_server_proposals_committed_total",
    "etcd_server_proposals_failed_total",
    "etcd_server_proposals_pending",
    "etcd_server_quota_backend_bytes",
    "etcd_mvcc_db_total_size_in_bytes",
    "etcd_mvcc_db_total_size_in_use_in_bytes",
    "etcd_debugging_mvcc_keys_total",
    /* scheduler */
    "scheduler_schedule_attempts_total",
    "scheduler_pending_pods",
};

int tk_scrape_keep(const char *metric)
{
    size_t n = strlen(metric);
    if (strncmp(metric, "turbokube_agent_", 16) == 0)
        return !(n > 7 && strcmp(metric + n - 7, "_bucket") == 0);
    for (size_t i = 0; i < sizeof(keep_names) / sizeof(keep_names[0]); i++)
        if (strcmp(metric, keep_names[i]) == 0)
            return 1;
    return 0;
}

/* ---- counters ------------------------------------------------------------------------------ */

struct series {
    char *key; /* labels_key */
    double value;
};

struct counter_scan {
    const char *metric, *label;
    struct tk_buf key;
    /* before: every series; after: increases grouped by label */
    struct series *s;
    size_t n, alloc;
    const struct series *before;
    size_t nbefore;
    struct tk_scrape_count *groups;
    size_t ngroups, galloc;
};

static int series_cmp(const void *a, const void *b)
{
    return strcmp(((const struct series *)a)->key, ((const struct series *)b)->key);
}

static const char *label_value(const struct tk_prom_sample *s, const char *name)
{
    for (size_t i = 0; i < s->nlabels; i++)
        if (strcmp(s->labels[i].name, name) == 0)
            return s->labels[i].value;
    return "";
}

static int collect_before(void *ud, const struct tk_prom_sample *s)
{
    struct counter_scan *c = ud;
    if (strcmp(s->name, c->metric) != 0)
        return 0;
    tk_prom_labels_key(s->labels, s->nlabels, &c->key);
    if (c->n == c->alloc) {
        c->alloc = c->alloc ? 2 * c->alloc : 64;
        c->s = tk_xrealloc(c->s, c->alloc * sizeof(*c->s));
    }
    c->s[c->n].key = tk_xstrdup(c->key.data ? c->key.data : "");
    c->s[c->n].value = s->value;
    c->n++;
    return 0;
}

static int collect_after(void *ud, const struct tk_prom_sample *s)
{
    struct counter_scan *c = ud;
    double prev = 0, inc;
    const char *g;

    if (strcmp(s->name, c->metric) != 0)
        return 0;
    tk_prom_labels_key(s->labels, s->nlabels, &c->key);
    struct series probe = {c->key.data ? c->key.data : (char *)"", 0};
    const struct series *b =
        c->nbefore ? bsearch(&probe, c->before, c->nbefore, sizeof(*c->before), series_cmp) : NULL;
    if (b)
        prev = b->value;
    inc = s->value >= prev ? s->value - prev : s->value;
    g = c->label ? label_value(s, c->label) : "";
    for (size_t i = 0; i < c->ngroups; i++)
        if (strncmp(c->groups[i].key, g, sizeof(c->groups[i].key) - 1) == 0 &&
            strlen(g) < sizeof(c->groups[i].key)) {
            c->groups[i].value += inc;
            return 0;
        }
    if (c->ngroups == c->galloc) {
        c->galloc = c->galloc ? 2 * c->galloc : 8;
        c->groups = tk_xrealloc(c->groups, c->galloc * sizeof(*c->groups));
    }
    snprintf(c->groups[c->ngroups].key, sizeof(c->groups[c->ngroups].key), "%s", g);
    c->groups[c->ngroups].value = inc;
    c->ngroups++;
    return 0;
}

static int count_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tk_scrape_count *)a)->key,
                  ((const struct tk_scrape_count *)b)->key);
}

int tk_scrape_counter_delta(const char *before, size_t before_len, const char *after,
                            size_t after_len, const char *metric, const char *label,
                            struct tk_scrape_count **out, size_t *n, struct tk_err *err)
{
    struct counter_scan c = {.metric = metric, .label = label};
    int rc = 0;

    *out = NULL;
    *n = 0;
    tk_buf_init(&c.key, 0);
    if (before && (rc = tk_prom_parse(before, before_len, collect_before, &c, err))) {
        tk_err_prefix(err, "earlier scrape");
        goto out;
    }
    if (c.n)
        qsort(c.s, c.n, sizeof(*c.s), series_cmp);
    c.before = c.s;
    c.nbefore = c.n;
    if ((rc = tk_prom_parse(after, after_len, collect_after, &c, err))) {
        tk_err_prefix(err, "later scrape");
        goto out;
    }
    if (c.ngroups)
        qsort(c.groups, c.ngroups, sizeof(*c.groups), count_cmp);
    *out = c.groups;
    *n = c.ngroups;
    c.groups = NULL;
out:
    for (size_t i = 0; i < c.n; i++)
        free(c.s[i].key);
    free(c.s);
    free(c.groups);
    tk_buf_release(&c.key);
    return rc;
}

/* ---- gauges -------------------------------------------------------------------------------- */

struct gauge_scan {
    const char *metric;
    double sum, max;
    int seen;
};

static int collect_gauge(void *ud, const struct tk_prom_sample *s)
{
    struct gauge_scan *g = ud;
    if (strcmp(s->name, g->metric) != 0)
        return 0;
    g->sum = g->seen ? g->sum + s->value : s->value;
    g->max = g->seen && g->max > s->value ? g->max : s->value;
    g->seen = 1;
    return 0;
}

int tk_scrape_gauge(const char *text, size_t len, const char *metric, double *sum, double *max,
                    struct tk_err *err)
{
    struct gauge_scan g = {.metric = metric};
    int rc = tk_prom_parse(text, len, collect_gauge, &g, err);
    *sum = !rc && g.seen ? g.sum : NAN;
    if (max)
        *max = !rc && g.seen ? g.max : NAN;
    return rc;
}

/* ---- one histogram family ---------------------------------------------------------------- */

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Cumulative count of h at x: the count of its last bucket with le <= x (ascending). */
static double cum_at(const struct tk_prom_hist *h, double x)
{
    double c = 0;
    for (size_t i = 0; i < h->n && h->le[i] <= x; i++)
        c = h->count[i];
    return c;
}

int tk_scrape_hist_summary(const char *before, size_t before_len, const char *after,
                           size_t after_len, const char *metric, struct tk_latency_summary **out,
                           struct tk_err *err)
{
    struct tk_prom_hists hb, ha;
    struct tk_prom_hist *deltas = NULL;
    double *le = NULL, *cnt = NULL;
    size_t nd = 0, total = 0, nle = 0, u = 0;
    int rc = 0, reset = 0;

    *out = NULL;
    memset(&hb, 0, sizeof(hb));
    memset(&ha, 0, sizeof(ha));
    if (before && (rc = tk_prom_hists_from_text(before, before_len, metric, &hb, err)))
        goto out;
    if ((rc = tk_prom_hists_from_text(after, after_len, metric, &ha, err)))
        goto out;
    nd = tk_prom_hists_count(&ha);
    deltas = tk_xcalloc(nd ? nd : 1, sizeof(*deltas));
    for (size_t i = 0; i < nd; i++) {
        const struct tk_prom_hist *a = tk_prom_hists_at(&ha, i);
        const struct tk_prom_hist *b = before ? tk_prom_hists_find(&hb, a->labels_key) : NULL;
        reset |= tk_prom_hist_delta(b, a, &deltas[i]);
        total += deltas[i].n;
    }
    le = tk_xcalloc(total ? total : 1, sizeof(double));
    for (size_t i = 0; i < nd; i++)
        for (size_t j = 0; j < deltas[i].n; j++)
            le[nle++] = deltas[i].le[j];
    if (nle)
        qsort(le, nle, sizeof(double), dbl_cmp);
    for (size_t i = 0; i < nle; i++)
        if (u == 0 || le[i] != le[u - 1])
            le[u++] = le[i];
    cnt = tk_xcalloc(u ? u : 1, sizeof(double));
    for (size_t i = 0; i < u; i++)
        for (size_t k = 0; k < nd; k++)
            cnt[i] += cum_at(&deltas[k], le[i]);
    double count = u && isinf(le[u - 1]) ? cnt[u - 1] : 0;
    if (count <= 0)
        goto out;
    struct tk_latency_summary *r = tk_xcalloc(1, sizeof(*r));
    r->metric = tk_xstrdup(metric);
    r->verb = tk_xstrdup("");
    r->resource = tk_xstrdup("");
    r->subresource = tk_xstrdup("");
    r->scope = tk_xstrdup("");
    r->count = count;
    r->p50 = tk_prom_histogram_quantile(0.50, le, cnt, u);
    r->p90 = tk_prom_histogram_quantile(0.90, le, cnt, u);
    r->p99 = tk_prom_histogram_quantile(0.99, le, cnt, u);
    r->max_bucket = NAN;
    for (size_t i = 0; i < u; i++)
        if (cnt[i] >= count) {
            r->max_bucket = le[i];
            break;
        }
    r->reset = reset;
    *out = r;
out:
    for (size_t i = 0; i < nd; i++)
        tk_prom_hist_release(&deltas[i]);
    free(deltas);
    free(le);
    free(cnt);
    tk_prom_hists_release(&hb);
    tk_prom_hists_release(&ha);
    return rc;
}

/* ---- the scraper -------------------------------------------------------------------------- */

struct target {
    struct tk_scraper *s;
    char *name;
    char *path; /* request path, "/metrics" */
    struct tk_kube *kube;
    struct tk_kube_req *req;
    pid_t pid;
    int flags;
    char *text; /* last good body (TK_SCRAPE_KEEP_TEXT) */
    size_t text_len;
    int in_round;    /* asked in the round in flight (a target added during one joins the next) */
    int ok;          /* this round */
    double took_s;   /* this round */
    int64_t sent_ns; /* this round */
    struct tk_scrape_usage use;
};

struct cgroup_src {
    char *name;
    struct tk_cgroup *cg;
    char *labels; /* group="name" */
    struct tk_scrape_usage use;
};

struct tk_scraper {
    struct tk_loop *loop;
    char *ca, *cert, *key;
    int timeout_ms;
    tk_scrape_round_fn on_round;
    void *ud;
    struct target **t;
    size_t nt;
    struct cgroup_src *cg;
    size_t ncg;
    struct tk_timer kick; /* starts the next round from the loop, never from inside a call */
    uint64_t started, ended;
    int again;       /* another round wanted once this one ends */
    size_t inflight; /* requests of the round in flight */
    int64_t round_t_ms, round_t0_ns;
    struct tk_store_sample *smp; /* this round's samples; metric and labels owned */
    size_t nsmp, smp_alloc;
    struct tk_buf lkey;  /* scratch: canonical labels */
    const char *parsing; /* source of the body being parsed */
};

static void push_sample(struct tk_scraper *s, const char *source, const char *metric,
                        const char *labels, double value)
{
    if (s->nsmp == s->smp_alloc) {
        s->smp_alloc = s->smp_alloc ? 2 * s->smp_alloc : 256;
        s->smp = tk_xrealloc(s->smp, s->smp_alloc * sizeof(*s->smp));
    }
    struct tk_store_sample *x = &s->smp[s->nsmp++];
    x->t_ms = s->round_t_ms;
    x->source = source;
    x->metric = tk_xstrdup(metric);
    x->labels = tk_xstrdup(labels ? labels : "");
    x->value = value;
}

static void free_samples(struct tk_scraper *s)
{
    for (size_t i = 0; i < s->nsmp; i++) {
        free((char *)s->smp[i].metric);
        free((char *)s->smp[i].labels);
    }
    s->nsmp = 0;
}

static void kick_cb(struct tk_timer *t, void *ud);

struct tk_scraper *tk_scraper_new(const struct tk_scraper_opts *opts, struct tk_err *err)
{
    struct tk_scraper *s;
    if (!opts->loop) {
        tk_err_set(err, TK_EINVAL, "scraper: no loop");
        return NULL;
    }
    s = tk_xcalloc(1, sizeof(*s));
    s->loop = opts->loop;
    s->ca = opts->ca_pem ? tk_xstrdup(opts->ca_pem) : NULL;
    s->cert = opts->cert_pem ? tk_xstrdup(opts->cert_pem) : NULL;
    s->key = opts->key_pem ? tk_xstrdup(opts->key_pem) : NULL;
    s->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 10000;
    s->on_round = opts->on_round;
    s->ud = opts->ud;
    tk_timer_init(&s->kick, kick_cb, s);
    tk_buf_init(&s->lkey, 0);
    return s;
}

void tk_scraper_free(struct tk_scraper *s)
{
    if (!s)
        return;
    tk_timer_stop(s->loop, &s->kick);
    for (size_t i = 0; i < s->nt; i++) {
        struct target *t = s->t[i];
        tk_kube_cancel(t->req);
        tk_kube_free(t->kube);
        free(t->name);
        free(t->path);
        free(t->text);
        free(t);
    }
    free(s->t);
    for (size_t i = 0; i < s->ncg; i++) {
        free(s->cg[i].name);
        free(s->cg[i].labels);
    }
    free(s->cg);
    free_samples(s);
    free(s->smp);
    tk_buf_release(&s->lkey);
    free(s->ca);
    free(s->cert);
    free(s->key);
    free(s);
}

/* Adds target name; ko (NULL: a process only) is its connection, path its metrics path. */
static int add_target(struct tk_scraper *s, const char *name, const struct tk_kube_opts *ko,
                      const char *path, pid_t pid, int flags, struct tk_err *err)
{
    struct target *t;

    for (size_t i = 0; i < s->nt; i++)
        if (strcmp(s->t[i]->name, name) == 0)
            return tk_err_set(err, TK_EINVAL, "scrape target '%s' added twice", name);
    t = tk_xcalloc(1, sizeof(*t));
    t->s = s;
    t->name = tk_xstrdup(name);
    t->pid = pid;
    t->flags = flags;
    if (ko) {
        struct tk_kube_opts o = *ko;
        o.user_agent = "turbokube-scrape";
        o.max_retries = -1;
        o.timeout_ms = s->timeout_ms;
        if (!(t->kube = tk_kube_new(s->loop, &o, err))) {
            tk_err_prefix(err, "scrape target '%s'", name);
            free(t->name);
            free(t);
            return err->code;
        }
        t->path = tk_xstrdup(path && path[0] ? path : "/metrics");
    }
    s->t = tk_xrealloc(s->t, (s->nt + 1) * sizeof(*s->t));
    s->t[s->nt++] = t;
    return 0;
}

int tk_scraper_add(struct tk_scraper *s, const char *name, const char *url, pid_t pid, int flags,
                   struct tk_err *err)
{
    char server[256];
    const char *hostp, *slash;
    int tls;

    if (!url)
        return add_target(s, name, NULL, NULL, pid, flags, err);
    hostp = strstr(url, "://");
    slash = hostp ? strchr(hostp + 3, '/') : NULL;
    tls = strncmp(url, "https://", 8) == 0;
    if (!hostp)
        return tk_err_set(err, TK_EINVAL, "scrape target '%s': '%s' is not a URL", name, url);
    snprintf(server, sizeof(server), "%.*s", (int)(slash ? slash - url : (long)strlen(url)), url);
    struct tk_kube_opts ko = {
        .server = server,
        .ca_pem = tls ? s->ca : NULL,
        .client_cert_pem = tls ? s->cert : NULL,
        .client_key_pem = tls ? s->key : NULL,
    };
    return add_target(s, name, &ko, slash, pid, flags, err);
}

int tk_scraper_add_conn(struct tk_scraper *s, const char *name, const struct tk_kube_opts *conn,
                        const char *path, pid_t pid, int flags, struct tk_err *err)
{
    if (!conn || !conn->server)
        return tk_err_set(err, TK_EINVAL, "scrape target '%s': no server", name);
    return add_target(s, name, conn, path, pid, flags, err);
}

void tk_scraper_add_cgroup(struct tk_scraper *s, const char *name, struct tk_cgroup *cg)
{
    s->cg = tk_xrealloc(s->cg, (s->ncg + 1) * sizeof(*s->cg));
    struct cgroup_src *c = &s->cg[s->ncg++];
    memset(c, 0, sizeof(*c));
    c->name = tk_xstrdup(name);
    c->cg = cg;
    c->labels = tk_xasprintf("group=\"%s\"", name);
}

static int keep_sample(void *ud, const struct tk_prom_sample *smp)
{
    struct tk_scraper *s = ud;
    if (!tk_scrape_keep(smp->name))
        return 0;
    tk_prom_labels_key(smp->labels, smp->nlabels, &s->lkey);
    push_sample(s, s->parsing, smp->name, s->lkey.data, smp->value);
    return 0;
}

static void end_round(struct tk_scraper *s)
{
    struct tk_scrape_round r = {0};

    for (size_t i = 0; i < s->nt; i++) {
        struct target *t = s->t[i];
        if (!t->kube || !t->in_round)
            continue;
        push_sample(s, t->name, "scrape_up", NULL, t->ok);
        push_sample(s, t->name, "scrape_duration_seconds", NULL, t->took_s);
        r.targets++;
        r.failed += !t->ok;
    }
    r.seq = s->started;
    r.t_ms = s->round_t_ms;
    r.duration_s = (tk_now_ns() - s->round_t0_ns) / 1e9;
    r.samples = s->smp;
    r.nsamples = s->nsmp;
    s->ended = s->started;
    if (s->on_round)
        s->on_round(s->ud, &r);
    free_samples(s);
    if (s->again) {
        s->again = 0;
        tk_timer_start(s->loop, &s->kick, 0);
    }
}

static void scrape_done(const struct tk_kube_resp *resp, void *ud)
{
    struct target *t = ud;
    struct tk_scraper *s = t->s;
    struct tk_err err = {0};

    t->req = NULL;
    t->took_s = (tk_now_ns() - t->sent_ns) / 1e9;
    t->ok = resp->status == 200;
    if (t->ok) {
        const char *body = resp->body;
        size_t len = resp->len;
        char *clean = NULL;
        /* kube-controller-manager writes NUL bytes into label values (node_collector_* zone
         * keys "region:\0:zone"), which the exposition format parser refuses: they become '?'
         * so the rest of the scrape still counts. */
        if (memchr(body, '\0', len)) {
            clean = tk_xmalloc(len + 1);
            for (size_t i = 0; i < len; i++)
                clean[i] = body[i] ? body[i] : '?';
            clean[len] = '\0';
            body = clean;
        }
        s->parsing = t->name;
        if (tk_prom_parse(body, len, keep_sample, s, &err)) {
            static struct tk_log_limit lim;
            uint64_t dropped;
            if (tk_log_every(&lim, 10000, &dropped))
                tk_warn("cannot parse a scrape", "target=%s error=\"%s\"", t->name, err.msg);
            t->ok = 0;
        } else if (t->flags & TK_SCRAPE_KEEP_TEXT) {
            free(t->text);
            t->text = clean ? clean : tk_xstrndup(body, len);
            t->text_len = len;
            clean = NULL;
        }
        free(clean);
    } else {
        static struct tk_log_limit lim;
        uint64_t dropped;
        if (tk_log_every(&lim, 10000, &dropped))
            tk_debug("scrape failed", "target=%s status=%ld error=\"%s\"", t->name, resp->status,
                     resp->err.msg);
    }
    if (--s->inflight == 0)
        end_round(s);
}

static void read_usage(struct tk_scraper *s)
{
    for (size_t i = 0; i < s->nt; i++) {
        struct target *t = s->t[i];
        double cpu;
        int64_t rss;
        if (t->pid <= 0 || tk_proc_usage(t->pid, &cpu, &rss))
            continue;
        t->use.seen = 1;
        t->use.cpu_seconds = cpu;
        t->use.rss_bytes = rss;
        if (rss > t->use.peak_rss_bytes)
            t->use.peak_rss_bytes = rss;
        push_sample(s, t->name, "proc_cpu_seconds", NULL, cpu);
        push_sample(s, t->name, "proc_rss_bytes", NULL, (double)rss);
    }
    for (size_t i = 0; i < s->ncg; i++) {
        struct cgroup_src *c = &s->cg[i];
        struct tk_cgroup_usage u;
        struct tk_err err = {0};
        if (tk_cgroup_usage(c->cg, &u, &err))
            continue;
        c->use.seen = 1;
        c->use.cpu_seconds = u.cpu_ns / 1e9;
        c->use.rss_bytes = u.memory_bytes;
        c->use.peak_rss_bytes =
            u.memory_peak_bytes > c->use.peak_rss_bytes
                ? u.memory_peak_bytes
                : (u.memory_bytes > c->use.peak_rss_bytes ? u.memory_bytes : c->use.peak_rss_bytes);
        c->use.oom_kills = u.oom_kills;
        push_sample(s, "cgroup", "cgroup_cpu_seconds", c->labels, c->use.cpu_seconds);
        push_sample(s, "cgroup", "cgroup_memory_bytes", c->labels, (double)u.memory_bytes);
        push_sample(s, "cgroup", "cgroup_memory_peak_bytes", c->labels,
                    (double)u.memory_peak_bytes);
        push_sample(s, "cgroup", "cgroup_oom_kills", c->labels, (double)u.oom_kills);
    }
}

static void start_round(struct tk_scraper *s)
{
    s->started++;
    s->round_t_ms = tk_wall_ns() / 1000000;
    s->round_t0_ns = tk_now_ns();
    read_usage(s);
    s->inflight = 1; /* held until every request is issued, so none can end the round early */
    for (size_t i = 0; i < s->nt; i++) {
        struct target *t = s->t[i];
        t->ok = 0;
        t->took_s = 0;
        t->in_round = t->kube != NULL;
        if (!t->kube)
            continue;
        t->sent_ns = tk_now_ns();
        s->inflight++;
        t->req =
            tk_kube_request(t->kube, "GET", t->path, NULL, NULL, TK_KUBE_NO_RETRY, scrape_done, t);
    }
    if (--s->inflight == 0)
        end_round(s);
}

static void kick_cb(struct tk_timer *t, void *ud)
{
    struct tk_scraper *s = ud;
    (void)t;
    if (s->inflight == 0)
        start_round(s);
    else
        s->again = 1;
}

uint64_t tk_scraper_request(struct tk_scraper *s)
{
    if (s->inflight > 0) {
        s->again = 1;
        return s->started + 1;
    }
    if (tk_timer_active(&s->kick))
        return s->started + 1;
    tk_timer_start(s->loop, &s->kick, 0);
    return s->started + 1;
}

uint64_t tk_scraper_rounds(const struct tk_scraper *s)
{
    return s->ended;
}

static const struct target *find_target(const struct tk_scraper *s, const char *name)
{
    for (size_t i = 0; i < s->nt; i++)
        if (strcmp(s->t[i]->name, name) == 0)
            return s->t[i];
    return NULL;
}

const char *tk_scraper_text(const struct tk_scraper *s, const char *name, size_t *len)
{
    const struct target *t = find_target(s, name);
    *len = t && t->text ? t->text_len : 0;
    return t ? t->text : NULL;
}

int tk_scraper_usage(const struct tk_scraper *s, const char *name, struct tk_scrape_usage *u)
{
    const struct target *t = find_target(s, name);
    if (t) {
        *u = t->use;
        return 0;
    }
    memset(u, 0, sizeof(*u));
    return TK_ENOTFOUND;
}

int tk_scraper_cgroup_usage(const struct tk_scraper *s, const char *name, struct tk_scrape_usage *u)
{
    for (size_t i = 0; i < s->ncg; i++)
        if (strcmp(s->cg[i].name, name) == 0) {
            *u = s->cg[i].use;
            return 0;
        }
    memset(u, 0, sizeof(*u));
    return TK_ENOTFOUND;
}
