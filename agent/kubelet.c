#include "kubelet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ipalloc.h"
#include "jsonw.h"
#include "log.h"
#include "netns.h"
#include "pki.h"
#include "prom.h"
#include "quantity.h"
#include "sampler.h"

#define LOG_LINES_MAX 100000 /* lines returned without tailLines */

struct cert {
    X509 *x509;
    EVP_PKEY *key;
};

struct other_cert {
    uint32_t ip;
    struct cert c;
    struct other_cert *next;
};

struct tk_kubelet {
    struct tk_loop *loop;
    struct tk_agent *agent;
    struct tk_httpd *httpd;
    SSL_CTX *ctx;
    struct tk_pki_ca *ca;
    size_t nnodes;
    struct cert *certs; /* per node index, minted on first contact */
    struct other_cert *others;
};

/* ---- synthetic content ----------------------------------------------------------------- */

static const char *const words[] = {"GET",     "POST",   "handled", "request", "cache",
                                    "miss",    "hit",    "worker",  "queue",   "flushed",
                                    "session", "opened", "closed",  "batch",   "committed"};

int tk_kubelet_log_line(char *out, size_t outsz, const char *ns, const char *pod,
                        const char *container, uint64_t n, int64_t t0_wall_ns, int timestamps)
{
    char key[400], ts[40] = "";
    uint64_t h;
    int len = snprintf(key, sizeof(key), "%s/%s/%s", ns, pod, container);
    h = tk_sampler_hash(key, len > 0 ? (size_t)len : 0, n);
    if (timestamps) {
        char t[32];
        tk_jsonw_microtime(t, t0_wall_ns + (int64_t)n * 1000000000LL);
        snprintf(ts, sizeof(ts), "%s ", t);
    }
    return snprintf(out, outsz,
                    "%sturbokube fake log %s/%s/%s line=%llu %s %s %s latency_ms=%llu\n", ts, ns,
                    pod, container, (unsigned long long)n, words[h % 15], words[(h >> 8) % 15],
                    words[(h >> 16) % 15], (unsigned long long)((h >> 24) % 500));
}

static double noise(const char *uid, uint64_t salt)
{
    uint64_t h = tk_sampler_hash(uid, strlen(uid), salt);
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- /pods --------------------------------------------------------------------------------- */

struct podlist {
    struct tk_buf *b;
    int n;
    const char *node;
};

static void podlist_one(const struct tk_pod_info *p, const char *ip, int running, int64_t start,
                        void *ud)
{
    struct podlist *pl = ud;
    char t[TK_JSONW_TIME_LEN + 1];
    tk_jsonw_time(t, start);
    tk_buf_puts(pl->b, pl->n++ ? ",{\"metadata\":{\"name\":" : "{\"metadata\":{\"name\":");
    tk_jsonw_str(pl->b, p->name);
    tk_buf_puts(pl->b, ",\"namespace\":");
    tk_jsonw_str(pl->b, p->namespace_);
    tk_buf_puts(pl->b, ",\"uid\":");
    tk_jsonw_str(pl->b, p->uid);
    tk_buf_puts(pl->b, "},\"spec\":{\"nodeName\":");
    tk_jsonw_str(pl->b, pl->node);
    tk_buf_puts(pl->b, ",\"containers\":[");
    for (int i = 0; i < p->ncontainers; i++) {
        tk_buf_puts(pl->b, i ? ",{\"name\":" : "{\"name\":");
        tk_jsonw_str(pl->b, p->containers[i].name);
        tk_buf_puts(pl->b, ",\"image\":");
        tk_jsonw_str(pl->b, p->containers[i].image);
        tk_buf_puts(pl->b, "}");
    }
    tk_buf_printf(pl->b,
                  "]},\"status\":{\"phase\":\"%s\",\"podIP\":", running ? "Running" : "Pending");
    tk_jsonw_str(pl->b, ip);
    tk_buf_printf(pl->b, ",\"startTime\":\"%s\"}}", t);
}

/* ---- stats --------------------------------------------------------------------------------- */

struct usage {
    double cpu_cores, cpu_seconds;
    double mem_bytes;
};

/* A container's usage now: CPU between 20 % and 80 % of its request (1-10 m without one),
 * memory between 60 % and 90 % of its request (8-32 MiB without one), varying every 10 s. */
static void container_usage(const struct tk_pod_info *p, const struct tk_pod_container *c,
                            int64_t start_wall, int64_t now_wall, struct usage *u)
{
    char key[400];
    uint64_t bucket = (uint64_t)(now_wall / 10000000000LL);
    double nc, nm, life = (double)(now_wall - start_wall) / 1e9;
    snprintf(key, sizeof(key), "%s/%s", p->uid, c->name);
    nc = noise(key, bucket);
    nm = noise(key, bucket + 0x51ed);
    if (c->cpu_milli > 0)
        u->cpu_cores = (double)c->cpu_milli / 1000.0 * (0.2 + 0.6 * nc);
    else
        u->cpu_cores = (1.0 + 9.0 * nc) / 1000.0;
    if (c->mem_bytes > 0)
        u->mem_bytes = (double)c->mem_bytes * (0.6 + 0.3 * nm);
    else
        u->mem_bytes = (8.0 + 24.0 * nm) * 1048576.0;
    /* cumulative CPU: the mean rate over the life so far, so the counter never goes back */
    u->cpu_seconds =
        (life > 0 ? life : 0) * (c->cpu_milli > 0 ? (double)c->cpu_milli / 1000.0 * 0.5 : 0.0055);
}

struct stats_ctx {
    struct tk_buf *b;
    int n;
    int64_t now;
    double cpu_cores, cpu_seconds, mem;
    int prom;
    int64_t ts_ms;
};

static void usage_json(struct tk_buf *b, const char *t, const struct usage *u)
{
    tk_buf_printf(b,
                  "\"cpu\":{\"time\":\"%s\",\"usageNanoCores\":%.0f,\"usageCoreNanoSeconds\":"
                  "%.0f},\"memory\":{\"time\":\"%s\",\"usageBytes\":%.0f,\"workingSetBytes\":"
                  "%.0f,\"rssBytes\":%.0f,\"pageFaults\":0,\"majorPageFaults\":0}",
                  t, u->cpu_cores * 1e9, u->cpu_seconds * 1e9, t, u->mem_bytes * 1.1, u->mem_bytes,
                  u->mem_bytes * 0.9);
}

static void stats_pod(const struct tk_pod_info *p, const char *ip, int running, int64_t start,
                      void *ud)
{
    struct stats_ctx *s = ud;
    char t[TK_JSONW_TIME_LEN + 1], st[TK_JSONW_TIME_LEN + 1];
    struct usage pod = {0, 0, 0};
    (void)ip;
    if (!running)
        return;
    tk_jsonw_time(t, s->now);
    tk_jsonw_time(st, start);
    if (!s->prom) {
        tk_buf_puts(s->b, s->n++ ? ",{\"podRef\":{\"name\":" : "{\"podRef\":{\"name\":");
        tk_jsonw_str(s->b, p->name);
        tk_buf_puts(s->b, ",\"namespace\":");
        tk_jsonw_str(s->b, p->namespace_);
        tk_buf_puts(s->b, ",\"uid\":");
        tk_jsonw_str(s->b, p->uid);
        tk_buf_printf(s->b, "},\"startTime\":\"%s\",\"containers\":[", st);
    }
    for (int i = 0; i < p->ncontainers; i++) {
        struct usage u;
        container_usage(p, &p->containers[i], start, s->now, &u);
        pod.cpu_cores += u.cpu_cores;
        pod.cpu_seconds += u.cpu_seconds;
        pod.mem_bytes += u.mem_bytes;
        if (s->prom) {
            struct tk_prom_writer w;
            struct tk_prom_label l[3] = {{"container", p->containers[i].name},
                                         {"namespace", p->namespace_},
                                         {"pod", p->name}};
            tk_prom_writer_init(&w, s->b);
            tk_prom_write_sample(&w, "container_cpu_usage_seconds_total", l, 3, u.cpu_seconds);
            tk_prom_write_sample(&w, "container_memory_working_set_bytes", l, 3, u.mem_bytes);
            tk_prom_write_sample(&w, "container_start_time_seconds", l, 3, (double)start / 1e9);
            continue;
        }
        tk_buf_puts(s->b, i ? ",{\"name\":" : "{\"name\":");
        tk_jsonw_str(s->b, p->containers[i].name);
        tk_buf_printf(s->b, ",\"startTime\":\"%s\",", st);
        usage_json(s->b, t, &u);
        tk_buf_puts(s->b, "}");
    }
    if (s->prom) {
        struct tk_prom_writer w;
        struct tk_prom_label l[2] = {{"namespace", p->namespace_}, {"pod", p->name}};
        tk_prom_writer_init(&w, s->b);
        tk_prom_write_sample(&w, "pod_cpu_usage_seconds_total", l, 2, pod.cpu_seconds);
        tk_prom_write_sample(&w, "pod_memory_working_set_bytes", l, 2, pod.mem_bytes);
    } else {
        tk_buf_puts(s->b, "],");
        usage_json(s->b, t, &pod);
        tk_buf_puts(s->b, "}");
    }
    s->cpu_cores += pod.cpu_cores;
    s->cpu_seconds += pod.cpu_seconds;
    s->mem += pod.mem_bytes;
}

static double capacity_value(const struct tk_agent_config *c, const char *res)
{
    const char *v = tk_agent_kv_get(c->capacity, c->ncapacity, res);
    struct tk_quantity q;
    if (!v || tk_quantity_parse(v, &q, NULL))
        return 0;
    return (double)q.value;
}

static int stats_summary(struct tk_agent *a, struct tk_agent_node *n, struct tk_httpd_resp *r)
{
    struct stats_ctx s;
    char t[TK_JSONW_TIME_LEN + 1];
    double mem_cap = capacity_value(tk_agent_config_of(a), "memory");
    struct usage node;
    int64_t now = tk_wall_ns();

    memset(&s, 0, sizeof(s));
    s.b = &r->body;
    s.now = now;
    tk_jsonw_time(t, now);
    tk_buf_puts(&r->body, "{\"pods\":[");
    tk_agent_node_pods(n, stats_pod, &s);
    /* the node: its pods plus a small system share */
    node.cpu_cores = s.cpu_cores + 0.05;
    node.cpu_seconds = s.cpu_seconds;
    node.mem_bytes = s.mem + 512.0 * 1048576.0;
    tk_buf_puts(&r->body, "],\"node\":{\"nodeName\":");
    tk_jsonw_str(&r->body, tk_agent_node_name(n));
    tk_buf_printf(&r->body, ",\"startTime\":\"%s\",", t);
    usage_json(&r->body, t, &node);
    tk_buf_printf(&r->body, ",\"memoryAvailable\":%.0f,\"systemContainers\":[]}}",
                  mem_cap > node.mem_bytes ? mem_cap - node.mem_bytes : 0);
    r->content_type = "application/json";
    return 200;
}

static int metrics_resource(struct tk_agent *a, struct tk_agent_node *n, struct tk_httpd_resp *r)
{
    struct stats_ctx s;
    struct tk_prom_writer w;
    (void)a;
    memset(&s, 0, sizeof(s));
    s.b = &r->body;
    s.now = tk_wall_ns();
    s.prom = 1;
    tk_prom_writer_init(&w, &r->body);
    tk_prom_write_family(&w, "container_cpu_usage_seconds_total",
                         "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
                         TK_PROM_COUNTER);
    tk_prom_write_family(&w, "container_memory_working_set_bytes",
                         "[STABLE] Current working set of the container in bytes", TK_PROM_GAUGE);
    tk_prom_write_family(&w, "container_start_time_seconds",
                         "[STABLE] Start time of the container since unix epoch in seconds",
                         TK_PROM_GAUGE);
    tk_prom_write_family(&w, "pod_cpu_usage_seconds_total",
                         "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
                         TK_PROM_COUNTER);
    tk_prom_write_family(&w, "pod_memory_working_set_bytes",
                         "[STABLE] Current working set of the pod in bytes", TK_PROM_GAUGE);
    tk_agent_node_pods(n, stats_pod, &s);
    tk_prom_write_family(&w, "node_cpu_usage_seconds_total",
                         "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
                         TK_PROM_COUNTER);
    tk_prom_write_sample(&w, "node_cpu_usage_seconds_total", NULL, 0, s.cpu_seconds);
    tk_prom_write_family(&w, "node_memory_working_set_bytes",
                         "[STABLE] Current working set of the node in bytes", TK_PROM_GAUGE);
    tk_prom_write_sample(&w, "node_memory_working_set_bytes", NULL, 0, s.mem + 512.0 * 1048576.0);
    tk_prom_write_family(&w, "scrape_error",
                         "[ALPHA] 1 if there was an error while getting container metrics, 0 "
                         "otherwise",
                         TK_PROM_GAUGE);
    tk_prom_write_sample(&w, "scrape_error", NULL, 0, 0);
    r->content_type = "text/plain; version=0.0.4";
    return 200;
}

/* ---- logs ---------------------------------------------------------------------------------- */

struct follow {
    struct tk_agent *agent;
    char ns[64], pod[256], container[256];
    int64_t t0;
    uint64_t next;
    int timestamps;
};

static uint64_t lines_due(int64_t t0, int64_t now)
{
    return now < t0 ? 1 : (uint64_t)((now - t0) / 1000000000LL) + 1;
}

static int follow_more(struct tk_buf *out, void *ud)
{
    struct follow *f = ud;
    char line[1024];
    uint64_t due;
    if (!tk_agent_find_pod(f->agent, f->ns, f->pod, NULL, NULL))
        return 1; /* the pod is gone: end the stream */
    due = lines_due(f->t0, tk_wall_ns());
    for (; f->next < due; f->next++) {
        int n = tk_kubelet_log_line(line, sizeof(line), f->ns, f->pod, f->container, f->next, f->t0,
                                    f->timestamps);
        tk_buf_append(out, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    }
    return 0;
}

static int container_logs(struct tk_agent *a, const char *rest, const char *query,
                          struct tk_httpd_resp *r)
{
    char ns[64], pod[256], container[256], v[32], line[1024];
    const char *s1 = strchr(rest, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    const struct tk_pod_info *p;
    int64_t start = 0;
    uint64_t due, first = 0;
    int follow = 0, timestamps = 0, found = 0;

    if (!s1 || !s2 || (size_t)(s1 - rest) >= sizeof(ns) || (size_t)(s2 - s1 - 1) >= sizeof(pod) ||
        strlen(s2 + 1) >= sizeof(container) || strchr(s2 + 1, '/')) {
        tk_buf_puts(&r->body, "expected /containerLogs/{namespace}/{pod}/{container}\n");
        return 400;
    }
    memcpy(ns, rest, (size_t)(s1 - rest));
    ns[s1 - rest] = '\0';
    memcpy(pod, s1 + 1, (size_t)(s2 - s1 - 1));
    pod[s2 - s1 - 1] = '\0';
    snprintf(container, sizeof(container), "%s", s2 + 1);
    p = tk_agent_find_pod(a, ns, pod, NULL, &start);
    if (p) {
        for (int i = 0; i < p->ncontainers; i++)
            found |= !strcmp(p->containers[i].name, container);
        for (int i = 0; i < p->ninit; i++)
            found |= !strcmp(p->init[i].name, container);
    }
    if (!p || !found) {
        tk_buf_printf(&r->body, "container %s is not found in pod %s/%s\n", container, ns, pod);
        return 404;
    }
    if (tk_httpd_query(query, "follow", v, sizeof(v)) == 0)
        follow = !strcmp(v, "true") || !strcmp(v, "1") || !v[0];
    if (tk_httpd_query(query, "timestamps", v, sizeof(v)) == 0)
        timestamps = !strcmp(v, "true") || !strcmp(v, "1") || !v[0];
    due = lines_due(start, tk_wall_ns());
    if (tk_httpd_query(query, "tailLines", v, sizeof(v)) == 0) {
        char *end;
        long long t = strtoll(v, &end, 10);
        if (*end || t < 0) {
            tk_buf_puts(&r->body, "tailLines must be a non-negative integer\n");
            return 400;
        }
        first = (uint64_t)t >= due ? 0 : due - (uint64_t)t;
    } else if (due > LOG_LINES_MAX) {
        first = due - LOG_LINES_MAX;
    }
    for (uint64_t i = first; i < due; i++) {
        int n = tk_kubelet_log_line(line, sizeof(line), ns, pod, container, i, start, timestamps);
        tk_buf_append(&r->body, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    }
    if (follow) {
        struct follow *f = tk_xcalloc(1, sizeof(*f));
        f->agent = a;
        snprintf(f->ns, sizeof(f->ns), "%s", ns);
        snprintf(f->pod, sizeof(f->pod), "%s", pod);
        snprintf(f->container, sizeof(f->container), "%s", container);
        f->t0 = start;
        f->next = due;
        f->timestamps = timestamps;
        r->stream.fn = follow_more;
        r->stream.free_fn = free;
        r->stream.ud = f;
        r->stream.interval_ms = 1000;
    }
    return 200;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

int tk_kubelet_handle(struct tk_agent *a, const struct tk_httpd_req *req, struct tk_httpd_resp *r)
{
    struct tk_agent_node *n = tk_agent_node_by_ip(a, req->local_ip);

    if (!strcmp(req->path, "/healthz")) {
        tk_buf_puts(&r->body, "ok");
        return 200;
    }
    if (!strncmp(req->path, "/containerLogs/", 15))
        return container_logs(a, req->path + 15, req->query, r);
    if (!n) {
        tk_buf_puts(&r->body, "no fake node has this address\n");
        return 404;
    }
    if (!strcmp(req->path, "/pods") || !strcmp(req->path, "/pods/")) {
        struct podlist pl = {&r->body, 0, tk_agent_node_name(n)};
        tk_buf_puts(&r->body, "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},"
                              "\"items\":[");
        tk_agent_node_pods(n, podlist_one, &pl);
        tk_buf_puts(&r->body, "]}");
        r->content_type = "application/json";
        return 200;
    }
    if (!strcmp(req->path, "/stats/summary") || !strcmp(req->path, "/stats/summary/"))
        return stats_summary(a, n, r);
    if (!strcmp(req->path, "/metrics/resource"))
        return metrics_resource(a, n, r);
    if (!strcmp(req->path, "/metrics")) {
        struct tk_prom_writer w;
        struct tk_agent_stats s;
        tk_agent_get_stats(a, &s);
        tk_prom_writer_init(&w, &r->body);
        tk_prom_write_family(&w, "kubelet_node_name", "The node's name.", TK_PROM_GAUGE);
        {
            struct tk_prom_label l = {"node", tk_agent_node_name(n)};
            tk_prom_write_sample(&w, "kubelet_node_name", &l, 1, 1);
        }
        r->content_type = "text/plain; version=0.0.4";
        return 200;
    }
    tk_buf_printf(&r->body, "%s: not served by the fake kubelet\n", req->path);
    return 404;
}

static int handle(const struct tk_httpd_req *req, struct tk_httpd_resp *resp, void *ud)
{
    struct tk_kubelet *k = ud;
    return tk_kubelet_handle(k->agent, req, resp);
}

/* ---- TLS --------------------------------------------------------------------------------------
 */

static int pem_to_cert(const char *cert_pem, const char *key_pem, struct cert *out)
{
    BIO *b = BIO_new_mem_buf(cert_pem, -1);
    out->x509 = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    b = BIO_new_mem_buf(key_pem, -1);
    out->key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!out->x509 || !out->key) {
        X509_free(out->x509);
        EVP_PKEY_free(out->key);
        out->x509 = NULL;
        out->key = NULL;
        return -1;
    }
    return 0;
}

static int mint(struct tk_kubelet *k, uint32_t ip, const char *name, struct cert *out)
{
    char ipstr[16], *cert = NULL, *key = NULL;
    const char *sans[3];
    struct tk_err err = {0};
    int rc;
    tk_ipalloc_format(ip, ipstr);
    sans[0] = ipstr;
    sans[1] = name;
    sans[2] = NULL;
    if (k->ca)
        rc = tk_pki_mint_serving(k->ca, name, sans, &cert, &key, &err);
    else
        rc = tk_pki_self_signed(name, sans, &cert, &key, &err);
    if (rc == 0)
        rc = pem_to_cert(cert, key, out);
    if (rc)
        tk_warn("kubelet endpoint: no serving certificate", "node=%s error=\"%s\"", name, err.msg);
    free(cert);
    free(key);
    return rc;
}

static int select_cert(SSL *ssl, uint32_t local_ip, void *ud)
{
    struct tk_kubelet *k = ud;
    struct tk_agent_node *n = tk_agent_node_by_ip(k->agent, local_ip);
    struct cert *c = NULL;

    if (n) {
        size_t i = (size_t)(local_ip - tk_agent_config_of(k->agent)->node_ip_net - 1 -
                            (uint32_t)tk_agent_config_of(k->agent)->index_start);
        c = &k->certs[i];
        if (!c->x509 && mint(k, local_ip, tk_agent_node_name(n), c))
            return -1;
    } else {
        struct other_cert *o;
        for (o = k->others; o && o->ip != local_ip; o = o->next)
            ;
        if (!o) {
            o = tk_xcalloc(1, sizeof(*o));
            o->ip = local_ip;
            if (mint(k, local_ip, "turbokube-agent", &o->c)) {
                free(o);
                return -1;
            }
            o->next = k->others;
            k->others = o;
        }
        c = &o->c;
    }
    if (SSL_use_certificate(ssl, c->x509) != 1 || SSL_use_PrivateKey(ssl, c->key) != 1)
        return -1;
    return 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct tk_buf b;
    char buf[4096];
    size_t n;
    if (!f)
        return NULL;
    tk_buf_init(&b, 1 << 20);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        if (tk_buf_append(&b, buf, n))
            break;
    fclose(f);
    return tk_buf_detach(&b);
}

struct tk_kubelet *tk_kubelet_new(struct tk_loop *loop, struct tk_agent *agent, struct tk_err *err)
{
    const struct tk_agent_config *c = tk_agent_config_of(agent);
    struct tk_kubelet *k = tk_xcalloc(1, sizeof(*k));
    struct tk_httpd_tls tls;
    char cert_path[1024], key_path[1024], addr[96];
    const char *ca_cert = NULL, *ca_key = NULL;
    char *ca_pem = NULL;
    int saved_ns = -1;

    k->loop = loop;
    k->agent = agent;
    k->nnodes = (size_t)c->nodes;
    k->certs = tk_xcalloc(k->nnodes, sizeof(*k->certs));
    if (tk_agent_config_ca_paths(c, cert_path, key_path, sizeof(cert_path)) == 0) {
        ca_cert = cert_path;
        ca_key = key_path;
    }
    if (ca_cert && ca_key && tk_pki_ca_load(&k->ca, ca_cert, ca_key, err))
        goto fail;
    k->ctx = SSL_CTX_new(TLS_server_method());
    if (!k->ctx) {
        tk_err_set(err, TK_ETLS, "kubelet endpoint: cannot create a TLS context");
        goto fail;
    }
    SSL_CTX_set_min_proto_version(k->ctx, TLS1_2_VERSION);
    if (ca_cert && (ca_pem = slurp(ca_cert))) {
        /* the apiserver's kubelet client certificate is signed by the cluster CA */
        BIO *b = BIO_new_mem_buf(ca_pem, -1);
        X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
        X509_STORE *st = SSL_CTX_get_cert_store(k->ctx);
        STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
        BIO_free(b);
        if (!x || !st || !names || X509_STORE_add_cert(st, x) != 1) {
            X509_free(x);
            sk_X509_NAME_free(names);
            tk_err_set(err, TK_ETLS, "kubelet endpoint: cannot use CA '%s'", ca_cert);
            goto fail;
        }
        sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(x)));
        SSL_CTX_set_client_CA_list(k->ctx, names);
        X509_free(x);
        SSL_CTX_set_verify(k->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    } else {
        tk_warn("kubelet endpoint: no cluster CA, serving self-signed and not checking clients",
                NULL);
    }
    free(ca_pem);
    ca_pem = NULL;
    tls.ctx = k->ctx;
    tls.select = select_cert;
    tls.ud = k;
    snprintf(addr, sizeof(addr), "%s:%d", c->kubelet_addr, c->kubelet_port);
    if (c->kubelet_netns && tk_netns_enter(c->kubelet_netns, &saved_ns, err))
        goto fail;
    k->httpd = tk_httpd_new(loop, addr, &tls, handle, k, err);
    /* The listening socket stays in the namespace; the agent's own traffic does not. */
    if (c->kubelet_netns && tk_netns_leave(saved_ns)) {
        tk_err_set(err, TK_EIO, "cannot return from network namespace '%s'", c->kubelet_netns);
        goto fail;
    }
    if (!k->httpd)
        goto fail;
    tk_info("kubelet endpoint listening", "addr=%s ca=%s", addr, k->ca ? "cluster" : "self-signed");
    return k;
fail:
    free(ca_pem);
    tk_kubelet_free(k);
    return NULL;
}

int tk_kubelet_port(const struct tk_kubelet *k)
{
    return tk_httpd_port(k->httpd);
}

void tk_kubelet_free(struct tk_kubelet *k)
{
    if (!k)
        return;
    tk_httpd_free(k->httpd);
    for (size_t i = 0; i < k->nnodes; i++) {
        X509_free(k->certs[i].x509);
        EVP_PKEY_free(k->certs[i].key);
    }
    while (k->others) {
        struct other_cert *o = k->others;
        k->others = o->next;
        X509_free(o->c.x509);
        EVP_PKEY_free(o->c.key);
        free(o);
    }
    free(k->certs);
    SSL_CTX_free(k->ctx);
    tk_pki_ca_free(k->ca);
    free(k);
}
