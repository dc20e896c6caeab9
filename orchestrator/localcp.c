#include "localcp.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cgroup.h"
#include "kube.h"
#include "kubeconfig.h"
#include "localnet.h"
#include "localpg.h"
#include "log.h"
#include "loop.h"
#include "pki.h"
#include "proc.h"

#define SERVICE_CIDR "10.96.0.0/16"
#define SERVICE_IP "10.96.0.1"
/* Pod CIDRs for the node IPAM controller: a /9 below the service range's neighbours gives
 * 32,768 /24 node ranges, enough for the largest fleets. */
#define CLUSTER_CIDR "10.128.0.0/9"

/* The core components first, in the order tk_localcp_info promises; then the others. etcd's
 * member 0 is C_STORE, members 1 and 2 are C_ETCD1 and C_ETCD2; C_PG is kine's postgres;
 * C_TOXI the proxy that adds latency between hosts. */
enum { C_STORE, C_APISERVER, C_CM, C_SCHED, C_ETCD1, C_ETCD2, C_PG, C_TOXI, C_MAX };
_Static_assert((int)C_SCHED + 1 == (int)TK_LOCALCP_NCOMP, "the core components come first");
_Static_assert((int)C_MAX <= (int)TK_LOCALCP_MAXCOMP, "tk_localcp_info holds every component");
_Static_assert((int)C_STORE == (int)TK_LOCALCP_DATASTORE && (int)C_CM == (int)TK_LOCALCP_CM &&
                   (int)C_SCHED == (int)TK_LOCALCP_SCHEDULER,
               "host_of and the groups' comps use the component indices");

struct comp {
    const char *name;  /* etcd | kine | kube-apiserver | ... | etcd-1 | etcd-2 */
    const char *group; /* cgroup name within the cluster, or NULL */
    int on;            /* part of this cluster */
    int port;          /* main (secure) port */
    int port2, port3;  /* etcd: peer, metrics; kine: metrics */
    char *health_url;
    char *log;
    pid_t pid;
};

struct cluster {
    char *name, *dir, *pki, *cache;
    const struct tk_localcp_opts *opts;
    int members;     /* etcd members: 1 or 3 */
    char pgbin[256]; /* kine-postgres: PostgreSQL's server binaries */
    char *pgdir;     /* kine-postgres: the postgres directory (data/ below it) */
    struct comp c[C_MAX];
    struct tk_localcp_group groups[TK_LOCALCP_MAXHOSTS]; /* one per host in use */
    int ngroups;
    struct tk_cgroup *cg[TK_LOCALCP_MAXHOSTS]; /* groups[g], once made */
    /* latency: one proxy per link whose ends are on different hosts */
    struct link {
        char name[16]; /* "etcd-0".."etcd-2", "apiserver" */
        int listen;    /* the proxy's port */
        int target;    /* component index it forwards to */
    } links[4];
    int nlinks;
    int etcd_link, api_link; /* index into links of etcd member 0 / the apiserver, or -1 */
    int sched_far, cm_far;   /* scheduler, controller-manager away from the apiserver */
    char latency_method[200];
};

/* The component index of etcd member m. */
static int member(int m)
{
    return m == 0 ? C_STORE : C_ETCD1 + m - 1;
}

/* What a component stands for when it is placed: every etcd member, and kine's postgres, is
 * the datastore. */
static int role(int i)
{
    return i == C_TOXI ? -1 : i >= C_ETCD1 ? C_STORE : i;
}

static int is_etcd(const struct cluster *cl, int i)
{
    return cl->opts->datastore == TK_DS_ETCD && (i == C_STORE || i == C_ETCD1 || i == C_ETCD2);
}

static int is_kine(const struct cluster *cl)
{
    return cl->opts->datastore != TK_DS_ETCD;
}

static const char *ds_name(enum tk_localcp_datastore ds)
{
    return ds == TK_DS_ETCD ? "etcd" : "kine";
}

static const char *ds_kind(enum tk_localcp_datastore ds)
{
    return ds == TK_DS_ETCD ? "etcd" : ds == TK_DS_KINE_SQLITE ? "kine-sqlite" : "kine-postgres";
}

char *tk_localcp_cache(void)
{
    const char *c = getenv("TURBOKUBE_CACHE"), *home = getenv("HOME");
    return c && *c ? tk_xstrdup(c) : tk_xasprintf("%s/.cache/turbokube", home ? home : "/root");
}

char *tk_localcp_dir(const char *name)
{
    const char *h = getenv("TURBOKUBE_HOME"), *home = getenv("HOME");
    if (h && *h)
        return tk_xasprintf("%s/clusters/%s", h, name);
    return tk_xasprintf("%s/.turbokube/clusters/%s", home ? home : "/root", name);
}

static int valid_name(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 40 || n[0] == '-')
        return 0;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return 0;
    return 1;
}

static int mkdirs(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, mode) && errno != EEXIST ? -1 : 0;
}

/* ---- ports ---------------------------------------------------------------------------- */

/* A port the kernel says is free on 127.0.0.1 now, not one handed out before in this run. */
static int free_port(const int *taken, int ntaken)
{
    for (int tries = 0; tries < 50; tries++) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t sl = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1, dup = 0;
        if (fd < 0)
            return -1;
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
            getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
            port = ntohs(sa.sin_port);
        close(fd);
        for (int i = 0; i < ntaken; i++)
            dup |= taken[i] == port;
        if (port > 0 && !dup)
            return port;
    }
    return -1;
}

static int port_in_use(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), busy;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    busy = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0;
    close(fd);
    return busy;
}

static int pick_ports(struct cluster *cl, struct tk_err *err)
{
    int taken[4 * C_MAX], n = 0, ns = 0;
    int *slots[4 * C_MAX];

    for (int i = 0; i < C_MAX; i++) {
        struct comp *c = &cl->c[i];
        if (!c->on)
            continue;
        slots[ns++] = &c->port;
        if (is_etcd(cl, i))
            slots[ns++] = &c->port2;
        if (is_etcd(cl, i) || (i == C_STORE && is_kine(cl)))
            slots[ns++] = &c->port3;
    }
    for (int l = 0; l < cl->nlinks; l++)
        slots[ns++] = &cl->links[l].listen;

    if (cl->opts->apiserver_port) {
        if (port_in_use(cl->opts->apiserver_port))
            return tk_err_set(err, TK_ESTATE,
                              "port %d on 127.0.0.1 is in use; pick another with --port, or omit "
                              "it for a free one",
                              cl->opts->apiserver_port);
        cl->c[C_APISERVER].port = cl->opts->apiserver_port;
        taken[n++] = cl->opts->apiserver_port;
    }
    for (int i = 0; i < ns; i++) {
        if (*slots[i])
            continue;
        if ((*slots[i] = free_port(taken, n)) < 0)
            return tk_err_set(err, TK_EIO, "no free port on 127.0.0.1");
        taken[n++] = *slots[i];
    }
    return 0;
}

/* ---- PKI and kubeconfigs ---------------------------------------------------------------- */

static int write_secret(const char *path, const char *data, mode_t mode, struct tk_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    size_t n = strlen(data);
    if (fd < 0)
        return tk_err_set(err, TK_EIO, "cannot write %s: %s", path, strerror(errno));
    if (write(fd, data, n) != (ssize_t)n || close(fd))
        return tk_err_set(err, TK_EIO, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* Serving certs for the scheduler and controller-manager, so their /healthz is verified
 * against the cluster CA like everything else. */
static int mint_serving(struct cluster *cl, const char *comp, struct tk_err *err)
{
    static const char *const sans[] = {"127.0.0.1", "localhost", NULL};
    struct tk_pki_ca *ca = NULL;
    char *cert = NULL, *key = NULL, *cp = NULL, *kp = NULL, *ca_crt, *ca_key;
    int rc;

    ca_crt = tk_xasprintf("%s/ca.crt", cl->pki);
    ca_key = tk_xasprintf("%s/ca.key", cl->pki);
    cp = tk_xasprintf("%s/%s-serving.crt", cl->pki, comp);
    kp = tk_xasprintf("%s/%s-serving.key", cl->pki, comp);
    if ((rc = tk_pki_ca_load(&ca, ca_crt, ca_key, err)))
        goto out;
    if ((rc = tk_pki_mint_serving(ca, comp, sans, &cert, &key, err)))
        goto out;
    if ((rc = write_secret(cp, cert, 0644, err)) || (rc = write_secret(kp, key, 0600, err)))
        goto out;
out:
    tk_pki_ca_free(ca);
    free(cert);
    free(key);
    free(cp);
    free(kp);
    free(ca_crt);
    free(ca_key);
    return rc;
}

static int write_kubeconfigs(struct cluster *cl, struct tk_err *err)
{
    static const char *const users[][2] = {
        {"admin", "admin"},
        {"kube-scheduler", "kube-scheduler"},
        {"kube-controller-manager", "kube-controller-manager"},
    };
    char *ca = tk_xasprintf("%s/ca.crt", cl->pki);
    int rc = 0;

    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]) && !rc; i++) {
        /* a controller on another host reaches the apiserver through the latency proxy */
        int far = (i == 1 && cl->sched_far) || (i == 2 && cl->cm_far);
        char *server = tk_xasprintf("https://127.0.0.1:%d", far && cl->api_link >= 0
                                                                ? cl->links[cl->api_link].listen
                                                                : cl->c[C_APISERVER].port);
        char *path = tk_xasprintf("%s/%s.kubeconfig", cl->dir, users[i][0]);
        char *crt = tk_xasprintf("%s/%s.crt", cl->pki, users[i][1]);
        char *key = tk_xasprintf("%s/%s.key", cl->pki, users[i][1]);
        rc = tk_kubeconfig_write(path, cl->name, server, ca, crt, key, err);
        free(server);
        free(path);
        free(crt);
        free(key);
    }
    free(ca);
    return rc;
}

/* ---- component command lines ------------------------------------------------------------ */

struct argv {
    char **v;
    size_t n;
};

static void arg(struct argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(struct argv *a, const char *fmt, ...)
{
    struct tk_buf b;
    va_list ap;
    tk_buf_init(&b, 0);
    va_start(ap, fmt);
    tk_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    a->v = tk_xrealloc(a->v, (a->n + 2) * sizeof(*a->v));
    a->v[a->n++] = tk_buf_detach(&b);
    a->v[a->n] = NULL;
}

static void argv_free(struct argv *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

/* etcd member m (0 for a single member, which keeps the cluster's name and data directory). */
static void store_argv(struct cluster *cl, int m, struct argv *a)
{
    struct comp *s = &cl->c[member(m)];
    struct tk_buf initial;
    if (is_kine(cl)) {
        arg(a, "%s/bin/kine", cl->cache);
        if (cl->opts->datastore == TK_DS_KINE_POSTGRES)
            arg(a, "--endpoint=postgres://kine@127.0.0.1:%d/kine?sslmode=disable",
                cl->c[C_PG].port);
        else
            arg(a,
                "--endpoint=sqlite://%s/kine/"
                "state.db?_journal=WAL&cache=shared&_busy_timeout=30000",
                cl->dir);
        arg(a, "--listen-address=127.0.0.1:%d", s->port);
        arg(a, "--metrics-bind-address=127.0.0.1:%d", s->port3);
        return;
    }
    tk_buf_init(&initial, 0);
    for (int k = 0; k < cl->members; k++) {
        if (cl->members == 1)
            tk_buf_printf(&initial, "%s=", cl->name);
        else
            tk_buf_printf(&initial, "%s%s-%d=", k ? "," : "", cl->name, k);
        tk_buf_printf(&initial, "http://127.0.0.1:%d", cl->c[member(k)].port2);
    }
    arg(a, "%s/bin/etcd", cl->cache);
    if (cl->members == 1) {
        arg(a, "--name=%s", cl->name);
        arg(a, "--data-dir=%s/etcd", cl->dir);
    } else {
        arg(a, "--name=%s-%d", cl->name, m);
        arg(a, "--data-dir=%s/etcd/%d", cl->dir, m);
        arg(a, "--initial-cluster-token=%s", cl->name);
        arg(a, "--initial-cluster-state=new");
    }
    arg(a, "--listen-client-urls=http://127.0.0.1:%d", s->port);
    arg(a, "--advertise-client-urls=http://127.0.0.1:%d", s->port);
    arg(a, "--listen-peer-urls=http://127.0.0.1:%d", s->port2);
    arg(a, "--initial-advertise-peer-urls=http://127.0.0.1:%d", s->port2);
    arg(a, "--initial-cluster=%s", initial.data);
    tk_buf_release(&initial);
    arg(a, "--listen-metrics-urls=http://127.0.0.1:%d", s->port3);
    arg(a, "--quota-backend-bytes=%lld", 8LL << 30);
    arg(a, "--log-level=warn");
}

static void apiserver_argv(struct cluster *cl, struct argv *a)
{
    const char *p = cl->pki;
    arg(a, "%s/bin/kube-apiserver", cl->cache);
    arg(a, "--bind-address=127.0.0.1");
    arg(a, "--advertise-address=127.0.0.1");
    arg(a, "--secure-port=%d", cl->c[C_APISERVER].port);
    struct tk_buf servers;
    tk_buf_init(&servers, 0);
    for (int m = 0; m < cl->members; m++)
        tk_buf_printf(&servers, "%shttp://127.0.0.1:%d", m ? "," : "",
                      cl->etcd_link >= 0 ? cl->links[cl->etcd_link + m].listen
                                         : cl->c[member(m)].port);
    arg(a, "--etcd-servers=%s", servers.data);
    tk_buf_release(&servers);
    arg(a, "--service-cluster-ip-range=" SERVICE_CIDR);
    arg(a, "--tls-cert-file=%s/apiserver.crt", p);
    arg(a, "--tls-private-key-file=%s/apiserver.key", p);
    arg(a, "--client-ca-file=%s/ca.crt", p);
    arg(a, "--kubelet-client-certificate=%s/apiserver-kubelet-client.crt", p);
    arg(a, "--kubelet-client-key=%s/apiserver-kubelet-client.key", p);
    arg(a, "--kubelet-certificate-authority=%s/ca.crt", p);
    arg(a, "--kubelet-preferred-address-types=InternalIP");
    arg(a, "--service-account-issuer=https://kubernetes.default.svc.cluster.local");
    arg(a, "--service-account-key-file=%s/sa.pub", p);
    arg(a, "--service-account-signing-key-file=%s/sa.key", p);
    arg(a, "--authorization-mode=Node,RBAC");
    arg(a, "--enable-admission-plugins=NodeRestriction");
    arg(a, "--enable-bootstrap-token-auth=true");
    arg(a, "--allow-privileged=true");
    arg(a, "--profiling=false");
    arg(a, "--v=1");
    for (const char *const *x = cl->opts->apiserver_args; x && *x; x++)
        arg(a, "%s", *x);
}

static void controller_common(struct cluster *cl, struct argv *a, const char *bin, const char *kc,
                              int port)
{
    arg(a, "%s/bin/%s", cl->cache, bin);
    arg(a, "--kubeconfig=%s/%s.kubeconfig", cl->dir, kc);
    arg(a, "--authentication-kubeconfig=%s/%s.kubeconfig", cl->dir, kc);
    arg(a, "--authorization-kubeconfig=%s/%s.kubeconfig", cl->dir, kc);
    arg(a, "--bind-address=127.0.0.1");
    arg(a, "--secure-port=%d", port);
    arg(a, "--tls-cert-file=%s/%s-serving.crt", cl->pki, bin);
    arg(a, "--tls-private-key-file=%s/%s-serving.key", cl->pki, bin);
    arg(a, "--leader-elect=false");
    arg(a, "--v=1");
}

static void cm_argv(struct cluster *cl, struct argv *a)
{
    const char *p = cl->pki;
    controller_common(cl, a, "kube-controller-manager", "kube-controller-manager",
                      cl->c[C_CM].port);
    arg(a, "--cluster-signing-cert-file=%s/ca.crt", p);
    arg(a, "--cluster-signing-key-file=%s/ca.key", p);
    arg(a, "--root-ca-file=%s/ca.crt", p);
    arg(a, "--service-account-private-key-file=%s/sa.key", p);
    arg(a, "--use-service-account-credentials=true");
    arg(a, "--controllers=*,bootstrapsigner,tokencleaner");
    arg(a, "--allocate-node-cidrs=true");
    arg(a, "--cluster-cidr=" CLUSTER_CIDR);
    arg(a, "--node-cidr-mask-size=24");
    arg(a, "--service-cluster-ip-range=" SERVICE_CIDR);
}

static void sched_argv(struct cluster *cl, struct argv *a)
{
    controller_common(cl, a, "kube-scheduler", "kube-scheduler", cl->c[C_SCHED].port);
}

/* ---- state file ----------------------------------------------------------------------- */

static char *state_path(const char *dir)
{
    return tk_xasprintf("%s/cluster.json", dir);
}

static int save_state(struct cluster *cl, struct tk_err *err)
{
    cJSON *root = cJSON_CreateObject(), *comps = cJSON_AddArrayToObject(root, "components");
    char *path = state_path(cl->dir), *tmp = tk_xasprintf("%s.tmp", path), *text;
    int rc = 0;

    cJSON_AddStringToObject(root, "name", cl->name);
    cJSON_AddStringToObject(root, "dir", cl->dir);
    cJSON_AddStringToObject(root, "datastore", ds_name(cl->opts->datastore));
    cJSON_AddStringToObject(root, "datastore_kind", ds_kind(cl->opts->datastore));
    cJSON_AddNumberToObject(root, "etcd_members", cl->members);
    cJSON_AddNumberToObject(root, "latency_ms", (double)(cl->opts->latency_ns / 1000000));
    cJSON_AddStringToObject(root, "latency_method", cl->latency_method);
    cJSON *links = cJSON_AddArrayToObject(root, "latency_links");
    for (int l = 0; l < cl->nlinks; l++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", cl->links[l].name);
        cJSON_AddNumberToObject(o, "listen", cl->links[l].listen);
        cJSON_AddNumberToObject(o, "upstream", cl->c[cl->links[l].target].port);
        cJSON_AddItemToArray(links, o);
    }
    cJSON_AddNumberToObject(root, "created_unix", (double)time(NULL));
    cJSON_AddStringToObject(root, "cgroup_version", tk_cgroup_version() ? tk_cgroup_version() : "");
    for (int i = 0; i < C_MAX; i++) {
        struct comp *c = &cl->c[i];
        if (!c->on)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", c->name);
        cJSON_AddNumberToObject(o, "pid", c->pid);
        cJSON_AddNumberToObject(o, "port", c->port);
        if (is_etcd(cl, i))
            cJSON_AddNumberToObject(o, "peer_port", c->port2);
        if (is_etcd(cl, i) || (i == C_STORE && is_kine(cl)))
            cJSON_AddNumberToObject(o, "metrics_port", c->port3);
        if (i == C_PG)
            cJSON_AddBoolToObject(o, "multiprocess", 1);
        cJSON_AddStringToObject(o, "health", c->health_url);
        cJSON_AddStringToObject(o, "log", c->log);
        cJSON_AddStringToObject(o, "group", c->group ? c->group : "");
        cJSON_AddItemToArray(comps, o);
    }
    text = cJSON_Print(root);
    rc = write_secret(tmp, text, 0644, err);
    if (!rc && rename(tmp, path))
        rc = tk_err_set(err, TK_EIO, "cannot write %s: %s", path, strerror(errno));
    free(text);
    cJSON_Delete(root);
    free(path);
    free(tmp);
    return rc;
}

static cJSON *load_state(const char *dir)
{
    char *path = state_path(dir);
    struct tk_buf b;
    char chunk[4096];
    size_t n;
    FILE *f = fopen(path, "r");
    cJSON *j = NULL;

    free(path);
    if (!f)
        return NULL;
    tk_buf_init(&b, 1 << 20);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (tk_buf_append(&b, chunk, n))
            break;
    fclose(f);
    if (b.data)
        j = cJSON_Parse(b.data);
    tk_buf_release(&b);
    return j;
}

/* ---- probing ---------------------------------------------------------------------------- */

/* One client per probe target: etcd speaks plain HTTP, the rest TLS against our CA; the
 * apiserver is asked with the admin identity. Targets are numbered by the caller (component
 * index at bring-up, position in cluster.json for status); a NULL URL is no target. */
struct prober {
    struct tk_loop *loop;
    int own_loop; /* 0 when the caller lent its loop (tk_localcp_opts.loop) */
    struct tk_kube *kube[TK_LOCALCP_MAXCOMP];
};

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    struct tk_buf b;
    char chunk[4096];
    size_t n;
    if (!f)
        return NULL;
    tk_buf_init(&b, 1 << 20);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        tk_buf_append(&b, chunk, n);
    fclose(f);
    return tk_buf_detach(&b);
}

/* urls[0..n): the targets; target api is asked with the admin identity. */
static int prober_init(struct prober *p, struct tk_loop *loop, const char *pki, char *const *urls,
                       int n, int api, struct tk_err *err)
{
    char *ca_path = tk_xasprintf("%s/ca.crt", pki), *crt_path = tk_xasprintf("%s/admin.crt", pki),
         *key_path = tk_xasprintf("%s/admin.key", pki);
    char *ca = read_all(ca_path), *crt = read_all(crt_path), *key = read_all(key_path);
    int rc = 0;

    memset(p, 0, sizeof(*p));
    if (!ca || !crt || !key) {
        rc = tk_err_set(err, TK_EIO, "cannot read the cluster's PKI in %s", pki);
        goto out;
    }
    if (loop) {
        p->loop = loop;
    } else if ((p->loop = tk_loop_new(err))) {
        p->own_loop = 1;
    } else {
        rc = err->code;
        goto out;
    }
    for (int i = 0; i < n && i < TK_LOCALCP_MAXCOMP; i++) {
        char server[128];
        const char *u = urls[i];
        if (!u || strncmp(u, "http", 4) != 0)
            continue;
        const char *slash = strchr(u + strlen("https://"), '/');
        snprintf(server, sizeof(server), "%.*s", (int)(slash ? slash - u : (long)strlen(u)), u);
        struct tk_kube_opts o = {.server = server, .user_agent = "turbokube-probe"};
        if (strncmp(u, "https:", 6) == 0) {
            o.ca_pem = ca;
            if (i == api) {
                o.client_cert_pem = crt;
                o.client_key_pem = key;
            }
        }
        if (!(p->kube[i] = tk_kube_new(p->loop, &o, err))) {
            rc = err->code;
            goto out;
        }
    }
out:
    free(ca);
    free(crt);
    free(key);
    free(ca_path);
    free(crt_path);
    free(key_path);
    return rc;
}

static void prober_release(struct prober *p)
{
    for (int i = 0; i < TK_LOCALCP_MAXCOMP; i++)
        tk_kube_free(p->kube[i]);
    if (p->own_loop)
        tk_loop_free(p->loop);
}

/* 1 when url answers 200 within timeout_ms; etcd's /health must also say it is healthy.
 * "pg:DIR" is a postgres whose postmaster.pid in DIR/data says it is ready. */
static int probe(struct prober *p, int i, const char *url, int timeout_ms, char *why, size_t n)
{
    const char *path;
    struct tk_err err = {0};
    long status = 0;
    char *body = NULL;
    int ok, etcd;

    if (strncmp(url, "pg:", 3) == 0) {
        if (!(ok = tk_localpg_ready(url + 3)) && why)
            snprintf(why, n, "postmaster.pid in %s/data does not say ready", url + 3);
        return ok;
    }
    path = strchr(url + strlen("https://"), '/');
    etcd = path && strcmp(path, "/health") == 0;
    if (!p->kube[i]) {
        if (why)
            snprintf(why, n, "no probe for %s", url);
        return 0;
    }
    tk_kube_request_sync(p->kube[i], "GET", path ? path : "/", NULL, NULL, &status, &body,
                         timeout_ms, &err);
    ok = status == 200 && (!etcd || !body || !strstr(body, "\"false\""));
    if (!ok && why)
        snprintf(why, n, "%s", err.code ? err.msg : body ? body : "no answer");
    free(body);
    return ok;
}

/* ---- up ------------------------------------------------------------------------------- */

static void progress(const struct cluster *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void progress(const struct cluster *cl, const char *fmt, ...)
{
    va_list ap;
    if (cl->opts && cl->opts->quiet)
        return;
    fprintf(stderr, "cluster %s: ", cl->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int check_binaries(struct cluster *cl, struct tk_err *err)
{
    const char *bins[] = {is_kine(cl) ? "kine" : "etcd", "kube-apiserver",
                          "kube-controller-manager", "kube-scheduler"};
    for (size_t i = 0; i < sizeof(bins) / sizeof(bins[0]); i++) {
        char *p = tk_xasprintf("%s/bin/%s", cl->cache, bins[i]);
        int ok = access(p, X_OK) == 0;
        free(p);
        if (!ok)
            return tk_err_set(err, TK_ENOTFOUND,
                              "%s is not in %s/bin: run scripts/bootstrap first (it builds the "
                              "pinned control plane; set TURBOKUBE_CACHE if it lives elsewhere)",
                              bins[i], cl->cache);
    }
    if (cl->opts->datastore == TK_DS_KINE_POSTGRES)
        return tk_localpg_find(cl->pgbin, sizeof(cl->pgbin), err);
    return 0;
}

/* Creates group turbokube/NAME/group with the limits and reads them back: a kernel that
 * rounds or refuses a limit must not pass silently. */
static int make_group(struct cluster *cl, const char *group, int64_t cpu_millis, int64_t mem_bytes,
                      struct tk_cgroup **out, struct tk_err *err)
{
    char *rel = tk_xasprintf("turbokube/%s/%s", cl->name, group);
    int64_t cpu, mem;
    int rc;

    if ((rc = tk_cgroup_create(out, rel, err)) ||
        (rc = tk_cgroup_set_limits(*out, cpu_millis, mem_bytes, err)) ||
        (rc = tk_cgroup_get_limits(*out, &cpu, &mem, err)))
        goto out;
    if (cpu != cpu_millis || mem != mem_bytes)
        rc = tk_err_set(
            err, TK_ESTATE, "cgroup %s took cpu=%lldm memory=%lld, not the %lldm/%lld asked", rel,
            (long long)cpu, (long long)mem, (long long)cpu_millis, (long long)mem_bytes);
out:
    free(rel);
    return rc;
}

/* The hosts and placement opts asks for, the shorthand (limits + offload_scheduler) turned
 * into them; host_of[r] is -1 for a component in no group. Returns the number of hosts. */
static int resolve_hosts(const struct tk_localcp_opts *o, struct tk_localcp_host *hosts,
                         int *host_of)
{
    int want_cp = o->cpu_millis || o->memory_bytes;
    int want_etcd = o->etcd_cpu_millis || o->etcd_memory_bytes;
    int want_aux = o->offload_scheduler && (o->aux_cpu_millis || o->aux_memory_bytes), n = 1;

    if (o->nhosts > 0) {
        for (int h = 0; h < o->nhosts && h < TK_LOCALCP_MAXHOSTS; h++)
            hosts[h] = o->hosts[h];
        for (int r = 0; r < TK_LOCALCP_NCOMP; r++)
            host_of[r] = o->host_of[r] >= 0 && o->host_of[r] < o->nhosts ? o->host_of[r] : -1;
        return o->nhosts < TK_LOCALCP_MAXHOSTS ? o->nhosts : TK_LOCALCP_MAXHOSTS;
    }
    for (int r = 0; r < TK_LOCALCP_NCOMP; r++)
        host_of[r] = want_cp || want_etcd || want_aux ? 0 : -1;
    if (!want_cp && !want_etcd && !want_aux)
        return 0;
    /* The control-plane host always exists once any limit is asked for (unlimited when only
     * the others are), so every component has a group to be measured in. */
    hosts[0] = (struct tk_localcp_host){o->cpu_millis, o->memory_bytes};
    if (want_etcd) {
        hosts[n] = (struct tk_localcp_host){o->etcd_cpu_millis, o->etcd_memory_bytes};
        host_of[TK_LOCALCP_DATASTORE] = n++;
    }
    if (o->offload_scheduler) {
        if (want_aux)
            hosts[n] = (struct tk_localcp_host){o->aux_cpu_millis, o->aux_memory_bytes};
        host_of[TK_LOCALCP_CM] = host_of[TK_LOCALCP_SCHEDULER] = want_aux ? n : -1;
        n += want_aux;
    }
    return n;
}

int tk_localcp_groups(const struct tk_localcp_opts *opts,
                      struct tk_localcp_group groups[TK_LOCALCP_MAXHOSTS], unsigned *comps_outside)
{
    /* Named by what they hold, in this order: the apiserver's host, the datastore's, others. */
    static const int order[] = {TK_LOCALCP_APISERVER, TK_LOCALCP_DATASTORE, TK_LOCALCP_SCHEDULER,
                                TK_LOCALCP_CM};
    struct tk_localcp_host hosts[TK_LOCALCP_MAXHOSTS];
    int host_of[TK_LOCALCP_NCOMP], group_of_host[TK_LOCALCP_MAXHOSTS], n = 0, naux = 0;
    unsigned outside = 0;

    memset(groups, 0, TK_LOCALCP_MAXHOSTS * sizeof(*groups));
    resolve_hosts(opts, hosts, host_of);
    for (int h = 0; h < TK_LOCALCP_MAXHOSTS; h++)
        group_of_host[h] = -1;
    for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
        int r = order[k], h = host_of[r];
        if (h < 0) {
            outside |= 1u << r;
            continue;
        }
        if (group_of_host[h] < 0) {
            struct tk_localcp_group *g = &groups[n];
            if (r == TK_LOCALCP_APISERVER)
                snprintf(g->name, sizeof(g->name), "control-plane");
            else if (r == TK_LOCALCP_DATASTORE)
                snprintf(g->name, sizeof(g->name), "etcd");
            else if (naux++ == 0)
                snprintf(g->name, sizeof(g->name), "aux");
            else
                snprintf(g->name, sizeof(g->name), "aux-%d", naux);
            g->cpu_millis = hosts[h].cpu_millis;
            g->memory_bytes = hosts[h].memory_bytes;
            group_of_host[h] = n++;
        }
        groups[group_of_host[h]].comps |= 1u << r;
    }
    if (comps_outside)
        *comps_outside = outside;
    return n;
}

/* Which links cross hosts when latency is asked for: the apiserver to each etcd member (or
 * kine), and a controller on another host to the apiserver. A component in no group while
 * others have one (the shorthand's --offload-scheduler) counts as on a host of its own. */
static int plan_links(struct cluster *cl, struct tk_err *err)
{
    struct tk_localcp_host hosts[TK_LOCALCP_MAXHOSTS];
    int host_of[TK_LOCALCP_NCOMP], key[TK_LOCALCP_NCOMP], nh;
    int64_t lat = cl->opts->latency_ns;
    char why[160];

    cl->etcd_link = cl->api_link = -1;
    if (lat <= 0)
        return 0;
    if (lat % 1000000 || lat > 10LL * 1000000000)
        return tk_err_set(err, TK_EINVAL,
                          "latency %lldus: toxiproxy adds whole milliseconds, up to 10s",
                          (long long)(lat / 1000));
    nh = resolve_hosts(cl->opts, hosts, host_of);
    for (int r = 0; r < TK_LOCALCP_NCOMP; r++)
        key[r] = host_of[r] >= 0 ? host_of[r]
                 : nh == 0       ? 0
                                 : TK_LOCALCP_MAXHOSTS + (r == C_CM ? C_SCHED : r);
    if (key[C_STORE] != key[C_APISERVER]) {
        cl->etcd_link = cl->nlinks;
        for (int m = 0; m < cl->members; m++) {
            struct link *l = &cl->links[cl->nlinks++];
            snprintf(l->name, sizeof(l->name), "etcd-%d", m);
            l->target = member(m);
        }
    }
    cl->sched_far = key[C_SCHED] != key[C_APISERVER];
    cl->cm_far = key[C_CM] != key[C_APISERVER];
    if (cl->sched_far || cl->cm_far) {
        cl->api_link = cl->nlinks;
        snprintf(cl->links[cl->nlinks].name, sizeof(cl->links[0].name), "apiserver");
        cl->links[cl->nlinks++].target = C_APISERVER;
    }
    if (!cl->nlinks)
        return 0;
    char *bin = tk_xasprintf("%s/bin/toxiproxy-server", cl->cache);
    int ok = access(bin, X_OK) == 0;
    free(bin);
    if (!ok)
        return tk_err_set(err, TK_ENOTFOUND,
                          "latency between hosts needs toxiproxy-server in %s/bin: run "
                          "scripts/bootstrap (it builds the pinned toxiproxy)",
                          cl->cache);
    cl->c[C_TOXI].on = 1;
    /* netem is the kernel's way, but it would need each host in a network namespace of its
     * own; record why it is not the one used here. */
    if (tk_localnet_netem(why, sizeof(why)))
        snprintf(cl->latency_method, sizeof(cl->latency_method),
                 "toxiproxy; netem available but not used (the hosts share one network "
                 "namespace)");
    else
        snprintf(cl->latency_method, sizeof(cl->latency_method),
                 "toxiproxy; netem unavailable: %.150s", why);
    return 0;
}

static int setup_cgroups(struct cluster *cl, struct tk_err *err)
{
    int rc = 0;

    cl->ngroups = tk_localcp_groups(cl->opts, cl->groups, NULL);
    if (cl->ngroups == 0)
        return 0;
    if (!tk_cgroup_version())
        return tk_err_set(err, TK_ESTATE,
                          "CPU and memory limits need cgroups with the cpu and "
                          "memory controllers, and none are mounted here");
    for (int g = 0; g < cl->ngroups && !rc; g++)
        rc = make_group(cl, cl->groups[g].name, cl->groups[g].cpu_millis,
                        cl->groups[g].memory_bytes, &cl->cg[g], err);
    return rc;
}

static struct tk_cgroup *group_for(struct cluster *cl, int i, const char **name)
{
    *name = NULL;
    for (int g = 0; g < cl->ngroups && role(i) >= 0; g++)
        if (cl->groups[g].comps & (1u << role(i))) {
            *name = cl->groups[g].name;
            return cl->cg[g];
        }
    return NULL;
}

static int start_comp(struct cluster *cl, int i, struct tk_err *err)
{
    struct argv a = {0};
    struct comp *c = &cl->c[i];
    struct tk_cgroup *cg = group_for(cl, i, &c->group);
    int rc;

    if (i == C_TOXI) {
        arg(&a, "%s/bin/toxiproxy-server", cl->cache);
        arg(&a, "-host=127.0.0.1");
        arg(&a, "-port=%d", c->port);
    } else if (i == C_PG) {
        char **v = tk_localpg_argv(cl->pgbin, cl->pgdir, c->port);
        struct tk_proc_spec pg = {
            .argv = (const char *const *)v, .log_path = c->log, .marker = cl->dir, .cg = cg};
        rc = tk_proc_spawn(&pg, &c->pid, err);
        tk_localpg_argv_free(v);
        return rc;
    }
    switch (i == C_TOXI ? -1 : role(i)) {
    case -1:
        break;
    case C_STORE:
        store_argv(cl, i == C_STORE ? 0 : i - C_ETCD1 + 1, &a);
        break;
    case C_APISERVER:
        apiserver_argv(cl, &a);
        break;
    case C_CM:
        cm_argv(cl, &a);
        break;
    default:
        sched_argv(cl, &a);
        break;
    }
    struct tk_proc_spec spec = {
        .argv = (const char *const *)a.v, .log_path = c->log, .marker = cl->dir, .cg = cg};
    rc = tk_proc_spawn(&spec, &c->pid, err);
    argv_free(&a);
    return rc;
}

static void fail_with_log(struct comp *c, const char *why, struct tk_err *err)
{
    struct tk_buf tail;
    tk_buf_init(&tail, 0);
    tk_proc_tail(c->log, 12, &tail);
    fprintf(stderr, "--- last lines of %s ---\n%s--- end of %s ---\n", c->log,
            tail.data ? tail.data : "", c->name);
    tk_err_set(err, TK_ECHILD, "%s %s (log: %s)", c->name, why, c->log);
    tk_buf_release(&tail);
}

/* Waits until the components in mask (bit i: component i) are ready, or one dies, or the
 * deadline passes. */
static int wait_ready(struct cluster *cl, struct prober *p, unsigned mask, int64_t deadline,
                      struct tk_err *err)
{
    int ready[C_MAX] = {0};
    char why[256] = "";

    for (;;) {
        int all = 1;
        if (cl->opts->cancelled && cl->opts->cancelled(cl->opts->cancel_ud))
            return tk_err_set(err, TK_ESTATE, "bring-up cancelled");
        for (int i = 0; i < C_MAX; i++) {
            if (!(mask & (1u << i)) || !cl->c[i].on || ready[i])
                continue;
            if (!tk_proc_alive(cl->c[i].pid)) {
                fail_with_log(&cl->c[i], "exited during start-up", err);
                return err->code;
            }
            if (!(ready[i] = probe(p, i, cl->c[i].health_url, 2000, why, sizeof(why))))
                all = 0;
            else
                progress(cl, "%s ready on 127.0.0.1:%d", cl->c[i].name, cl->c[i].port);
        }
        if (all)
            return 0;
        if (tk_now_ns() > deadline) {
            for (int i = 0; i < C_MAX; i++)
                if ((mask & (1u << i)) && cl->c[i].on && !ready[i]) {
                    char msg[300];
                    snprintf(msg, sizeof(msg), "not ready in time (%.150s)", why);
                    fail_with_log(&cl->c[i], msg, err);
                    return err->code;
                }
        }
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Starts toxiproxy and one proxy per link, each with the latency. */
static int start_links(struct cluster *cl, struct prober *p, int64_t deadline, struct tk_err *err)
{
    int rc;
    if ((rc = start_comp(cl, C_TOXI, err)) || (rc = save_state(cl, err)) ||
        (rc = wait_ready(cl, p, 1u << C_TOXI, deadline, err)))
        return rc;
    for (int l = 0; l < cl->nlinks && !rc; l++)
        rc = tk_localnet_proxy(p->loop, cl->c[C_TOXI].port, cl->links[l].name, cl->links[l].listen,
                               cl->c[cl->links[l].target].port,
                               (int)(cl->opts->latency_ns / 1000000), err);
    if (!rc)
        progress(cl, "%d link(s) with %lldms round trip (%s)", cl->nlinks,
                 (long long)(cl->opts->latency_ns / 1000000), cl->latency_method);
    return rc;
}

static void init_comps(struct cluster *cl)
{
    static const char *const names[C_MAX] = {
        "etcd",           "kube-apiserver", "kube-controller-manager",
        "kube-scheduler", "etcd-1",         "etcd-2",
        "postgres",       "toxiproxy"};
    for (int i = 0; i < C_MAX; i++) {
        cl->c[i].name = i == C_STORE ? ds_name(cl->opts->datastore) : names[i];
        cl->c[i].on = i <= C_SCHED || (i <= C_ETCD2 && i - C_ETCD1 + 1 < cl->members) ||
                      (i == C_PG && cl->opts->datastore == TK_DS_KINE_POSTGRES);
        cl->c[i].log = tk_xasprintf("%s/logs/%s.log", cl->dir, cl->c[i].name);
    }
}

static void set_health_urls(struct cluster *cl)
{
    struct comp *c = cl->c;
    /* kine has no health endpoint of its own; its metrics listener answering means it is up,
     * and the apiserver's /readyz checks storage for real. */
    if (c[C_PG].on)
        c[C_PG].health_url = tk_xasprintf("pg:%s", cl->pgdir);
    if (c[C_TOXI].on)
        c[C_TOXI].health_url = tk_xasprintf("http://127.0.0.1:%d/version", c[C_TOXI].port);
    c[C_STORE].health_url = is_kine(cl)
                                ? tk_xasprintf("http://127.0.0.1:%d/metrics", c[C_STORE].port3)
                                : tk_xasprintf("http://127.0.0.1:%d/health", c[C_STORE].port);
    for (int m = 1; m < cl->members; m++)
        c[member(m)].health_url = tk_xasprintf("http://127.0.0.1:%d/health", c[member(m)].port);
    c[C_APISERVER].health_url = tk_xasprintf("https://127.0.0.1:%d/readyz", c[C_APISERVER].port);
    c[C_CM].health_url = tk_xasprintf("https://127.0.0.1:%d/healthz", c[C_CM].port);
    c[C_SCHED].health_url = tk_xasprintf("https://127.0.0.1:%d/healthz", c[C_SCHED].port);
}

static void cluster_release(struct cluster *cl)
{
    for (int i = 0; i < C_MAX; i++) {
        free(cl->c[i].health_url);
        free(cl->c[i].log);
    }
    for (int g = 0; g < TK_LOCALCP_MAXHOSTS; g++)
        tk_cgroup_free(cl->cg[g]);
    free(cl->pgdir);
    free(cl->name);
    free(cl->dir);
    free(cl->pki);
    free(cl->cache);
}

static int already_up(const char *dir)
{
    pid_t pids[C_MAX];
    return tk_proc_find_marked(dir, pids, C_MAX) > 0;
}

static int prepare_dirs(struct cluster *cl, struct tk_err *err)
{
    const char *sub[] = {"logs", "pki", is_kine(cl) ? "kine" : "etcd"};
    for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
        char *p = tk_xasprintf("%s/%s", cl->dir, sub[i]);
        int bad = mkdirs(p, i == 0 ? 0755 : 0700);
        free(p);
        if (bad)
            return tk_err_set(err, TK_EIO, "cannot create %s/%s: %s", cl->dir, sub[i],
                              strerror(errno));
    }
    return 0;
}

static int bring_up(struct cluster *cl, struct tk_err *err)
{
    struct prober p;
    int64_t t0 = tk_now_ns(), deadline;
    int timeout_s = cl->opts->timeout_s > 0 ? cl->opts->timeout_s : 90, rc;
    const struct tk_pki_opts pki_opts = {0};

    deadline = t0 + (int64_t)timeout_s * 1000000000LL;
    if ((rc = prepare_dirs(cl, err)) || (rc = plan_links(cl, err)) || (rc = pick_ports(cl, err)) ||
        (rc = tk_pki_ensure(cl->pki, &pki_opts, err)) ||
        (rc = mint_serving(cl, "kube-controller-manager", err)) ||
        (rc = mint_serving(cl, "kube-scheduler", err)) || (rc = write_kubeconfigs(cl, err)) ||
        (rc = setup_cgroups(cl, err)))
        return rc;
    set_health_urls(cl);
    char *urls[C_MAX];
    for (int i = 0; i < C_MAX; i++)
        urls[i] = cl->c[i].on ? cl->c[i].health_url : NULL;
    if ((rc = prober_init(&p, cl->opts->loop, cl->pki, urls, C_MAX, C_APISERVER, err)))
        return rc;
    /* Order matters: kine's postgres, storage (every etcd member at once: each waits for a
     * quorum), then the apiserver, then the two controllers together. */
    unsigned store = 0;
    if (cl->c[C_PG].on) {
        progress(cl, "initdb (PostgreSQL in %s)", cl->pgbin);
        if (!(rc = tk_localpg_initdb(cl->pgbin, cl->pgdir, cl->c[C_PG].log, cl->dir, err)) &&
            !(rc = start_comp(cl, C_PG, err)) && !(rc = save_state(cl, err)))
            rc = wait_ready(cl, &p, 1u << C_PG, deadline, err);
    }
    for (int m = 0; m < cl->members && !rc; m++) {
        rc = start_comp(cl, member(m), err);
        store |= 1u << member(m);
    }
    if (!rc && !(rc = save_state(cl, err)))
        rc = wait_ready(cl, &p, store, deadline, err);
    if (!rc && cl->c[C_TOXI].on)
        rc = start_links(cl, &p, deadline, err);
    if (!rc && !(rc = start_comp(cl, C_APISERVER, err)) && !(rc = save_state(cl, err)))
        rc = wait_ready(cl, &p, 1u << C_APISERVER, deadline, err);
    if (!rc && !(rc = start_comp(cl, C_CM, err)) && !(rc = start_comp(cl, C_SCHED, err)) &&
        !(rc = save_state(cl, err)))
        rc = wait_ready(cl, &p, 1u << C_CM | 1u << C_SCHED, deadline, err);
    prober_release(&p);
    if (!rc)
        progress(cl, "up in %.1fs; apiserver https://127.0.0.1:%d", (tk_now_ns() - t0) / 1e9,
                 cl->c[C_APISERVER].port);
    return rc;
}

/* The position in cluster.json of the k-th of n components to stop: the core ones backwards
 * (scheduler ... datastore), then the others backwards. */
static int stop_position(int k, int n)
{
    if (n <= TK_LOCALCP_NCOMP || k >= TK_LOCALCP_NCOMP)
        return n - 1 - (n <= TK_LOCALCP_NCOMP ? k : k - TK_LOCALCP_NCOMP);
    return TK_LOCALCP_NCOMP - 1 - k;
}

int tk_localcp_up(const struct tk_localcp_opts *opts, struct tk_err *err)
{
    struct cluster cl = {0};
    int rc;

    if (!valid_name(opts->name))
        return tk_err_set(err, TK_EINVAL,
                          "cluster name '%s': use 1-40 of a-z, 0-9 and '-', not starting with '-'",
                          opts->name);
    if (opts->etcd_members != 0 && opts->etcd_members != 1 && opts->etcd_members != 3)
        return tk_err_set(err, TK_EINVAL, "etcd members %d: want 1 or 3", opts->etcd_members);
    if (opts->etcd_members == 3 && opts->datastore != TK_DS_ETCD)
        return tk_err_set(err, TK_EINVAL, "3 etcd members need the etcd datastore, not kine");
    cl.opts = opts;
    cl.members = opts->etcd_members == 3 ? 3 : 1;
    cl.name = tk_xstrdup(opts->name);
    cl.dir = tk_localcp_dir(opts->name);
    cl.pgdir = tk_xasprintf("%s/postgres", cl.dir);
    cl.pki = tk_xasprintf("%s/pki", cl.dir);
    cl.cache = tk_localcp_cache();
    init_comps(&cl);
    if (already_up(cl.dir)) {
        progress(&cl, "already up (see 'turbokube cluster status --name %s')", cl.name);
        rc = 0;
        goto out;
    }
    if ((rc = check_binaries(&cl, err)))
        goto out;
    /* A stale directory from a crash: its processes are gone; start clean. */
    tk_localcp_down(cl.name, 0, NULL);
    if ((rc = bring_up(&cl, err))) {
        tk_err_prefix(err, "cluster %s", cl.name);
        /* As down does: kine before its postgres, whose smart shutdown (SIGTERM) would
         * otherwise wait for kine's connections until it is killed. The component indices
         * are cluster.json's positions with every component present. */
        for (int k = 0; k < C_MAX; k++) {
            int i = stop_position(k, C_MAX);
            if (cl.c[i].pid > 0)
                tk_proc_stop_group(cl.c[i].pid, 5000);
        }
        for (int g = 0; g < TK_LOCALCP_MAXHOSTS; g++)
            if (cl.cg[g])
                tk_cgroup_destroy(cl.cg[g], NULL);
    }
out:
    cluster_release(&cl);
    return rc;
}

/* ---- down ------------------------------------------------------------------------------- */

static void destroy_groups(const char *name)
{
    const char *groups[] = {"control-plane", "etcd", "aux", "aux-2", "aux-3"};
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
        char *rel = tk_xasprintf("turbokube/%s/%s", name, groups[i]);
        if (tk_cgroup_version())
            tk_cgroup_remove(rel, NULL);
        free(rel);
    }
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int rm_rf(const char *path)
{
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int tk_localcp_down(const char *name, int keep, struct tk_err *err)
{
    char *dir = tk_localcp_dir(name);
    cJSON *st = load_state(dir), *c;
    pid_t pids[64];
    int n, rc = 0, stopped = 0;
    struct stat sb;

    if (!valid_name(name)) {
        free(dir);
        cJSON_Delete(st);
        return tk_err_set(err, TK_EINVAL, "cluster name '%s' is not valid", name);
    }
    /* Controllers first, then the apiserver and the datastore, so nothing writes to a store
     * that is gone; then what serves the datastore (etcd's other members). */
    if (st) {
        cJSON *comps = cJSON_GetObjectItem(st, "components");
        int ncomps = cJSON_GetArraySize(comps);
        for (int k = 0; k < ncomps; k++) {
            c = cJSON_GetArrayItem(comps, stop_position(k, ncomps));
            int pid = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(c, "pid"));
            if (pid > 1 && tk_proc_alive(pid)) {
                tk_proc_stop_group(pid, 10000);
                stopped++;
            }
        }
    }
    /* Whatever the pid file missed: every process that carries this cluster's marker. */
    n = tk_proc_find_marked(dir, pids, 64);
    for (int i = 0; i < n && i < 64; i++) {
        tk_proc_stop_group(getpgid(pids[i]) > 1 ? getpgid(pids[i]) : pids[i], 5000);
        kill(pids[i], SIGKILL);
        stopped++;
    }
    if (tk_proc_find_marked(dir, pids, 64) > 0)
        rc = tk_err_set(err, TK_ESTATE, "cluster %s: process %d survived SIGKILL", name, pids[0]);
    destroy_groups(name);
    if (!rc && !keep && stat(dir, &sb) == 0 && rm_rf(dir))
        rc = tk_err_set(err, TK_EIO, "cannot remove %s", dir);
    if (err && !rc && stopped == 0 && !st)
        tk_debug("cluster not up", "name=%s", name);
    cJSON_Delete(st);
    free(dir);
    return rc;
}

/* ---- status and env --------------------------------------------------------------------- */

int tk_localcp_status(const char *name, const char *format, FILE *out, struct tk_err *err)
{
    char *dir = tk_localcp_dir(name), *pki = tk_xasprintf("%s/pki", dir);
    cJSON *st = load_state(dir), *comps, *arr = NULL;
    struct prober p;
    char *urls[TK_LOCALCP_MAXCOMP];
    int all_ready = 1, json = format && strcmp(format, "json") == 0, rc = 0, n;

    memset(&p, 0, sizeof(p));
    if (!st) {
        rc =
            tk_err_set(err, TK_ENOTFOUND, "cluster '%s' is not up (no %s/cluster.json)", name, dir);
        goto out;
    }
    comps = cJSON_GetObjectItem(st, "components");
    n = cJSON_GetArraySize(comps);
    if (n > TK_LOCALCP_MAXCOMP)
        n = TK_LOCALCP_MAXCOMP;
    for (int i = 0; i < n; i++) {
        cJSON *h = cJSON_GetObjectItem(cJSON_GetArrayItem(comps, i), "health");
        urls[i] = cJSON_IsString(h) ? h->valuestring : (char *)"http://127.0.0.1:1/";
    }
    if ((rc = prober_init(&p, NULL, pki, urls, n, C_APISERVER, err)))
        goto out;
    arr = cJSON_CreateArray();
    if (!json)
        fprintf(out, "%-24s %8s %6s  %-9s %-14s %10s %12s\n", "COMPONENT", "PID", "PORT", "STATE",
                "CGROUP", "CPU(s)", "RSS(MiB)");
    for (int i = 0; i < n; i++) {
        cJSON *c = cJSON_GetArrayItem(comps, i);
        const char *cname = cJSON_GetStringValue(cJSON_GetObjectItem(c, "name"));
        const char *group = cJSON_GetStringValue(cJSON_GetObjectItem(c, "group"));
        int pid = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(c, "pid"));
        int port = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(c, "port"));
        int alive = tk_proc_alive(pid);
        int ready = alive && probe(&p, i, urls[i], 2000, NULL, 0);
        double cpu = 0;
        int64_t rss = 0;
        if (alive)
            tk_proc_usage(pid, &cpu, &rss);
        all_ready &= ready;
        const char *state = ready ? "ready" : alive ? "not-ready" : "dead";
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", cname ? cname : "?");
            cJSON_AddNumberToObject(o, "pid", pid);
            cJSON_AddNumberToObject(o, "port", port);
            cJSON_AddStringToObject(o, "state", state);
            cJSON_AddStringToObject(o, "cgroup", group ? group : "");
            cJSON_AddNumberToObject(o, "cpu_seconds", cpu);
            cJSON_AddNumberToObject(o, "rss_bytes", (double)rss);
            cJSON_AddItemToArray(arr, o);
        } else {
            fprintf(out, "%-24s %8d %6d  %-9s %-14s %10.1f %12.1f\n", cname ? cname : "?", pid,
                    port, state, group && *group ? group : "-", cpu, rss / 1048576.0);
        }
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddBoolToObject(o, "ready", all_ready);
        cJSON_AddItemToObject(o, "components", arr);
        arr = NULL;
        char *text = cJSON_Print(o);
        fprintf(out, "%s\n", text);
        free(text);
        cJSON_Delete(o);
    }
    rc = all_ready ? 0 : 1;
out:
    if (p.loop)
        prober_release(&p);
    cJSON_Delete(arr);
    cJSON_Delete(st);
    free(pki);
    free(dir);
    return rc;
}

char *tk_localcp_cgroup_rel(const char *name, const char *group)
{
    return tk_xasprintf("turbokube/%s/%s", name, group);
}

static void copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* A number from the state file, or dflt when it is absent (an older cluster.json). */
static double num_or(const cJSON *o, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

int tk_localcp_info(const char *name, struct tk_localcp_info *out, struct tk_err *err)
{
    char *dir = tk_localcp_dir(name);
    cJSON *st = load_state(dir), *comps;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (!st) {
        rc =
            tk_err_set(err, TK_ENOTFOUND, "cluster '%s' is not up (no %s/cluster.json)", name, dir);
        goto out;
    }
    comps = cJSON_GetObjectItem(st, "components");
    if (!cJSON_IsArray(comps) || cJSON_GetArraySize(comps) < TK_LOCALCP_NCOMP ||
        cJSON_GetArraySize(comps) > TK_LOCALCP_MAXCOMP) {
        rc = tk_err_set(err, TK_EIO, "%s/cluster.json: no components", dir);
        goto out;
    }
    copy_str(out->dir, sizeof(out->dir), dir);
    snprintf(out->kubeconfig, sizeof(out->kubeconfig), "%s/admin.kubeconfig", dir);
    snprintf(out->ca, sizeof(out->ca), "%s/pki/ca.crt", dir);
    snprintf(out->admin_cert, sizeof(out->admin_cert), "%s/pki/admin.crt", dir);
    snprintf(out->admin_key, sizeof(out->admin_key), "%s/pki/admin.key", dir);
    copy_str(out->datastore, sizeof(out->datastore),
             cJSON_GetStringValue(cJSON_GetObjectItem(st, "datastore")));
    out->etcd_members = (int)num_or(st, "etcd_members", 1);
    if (out->etcd_members < 1)
        out->etcd_members = 1;
    out->ncomp = cJSON_GetArraySize(comps);
    out->latency_ns = (int64_t)num_or(st, "latency_ms", 0) * 1000000;
    if (out->latency_ns < 0)
        out->latency_ns = 0;
    copy_str(out->latency_method, sizeof(out->latency_method),
             cJSON_GetStringValue(cJSON_GetObjectItem(st, "latency_method")));
    out->latency_links = cJSON_GetArraySize(cJSON_GetObjectItem(st, "latency_links"));
    for (int i = 0; i < out->ncomp; i++) {
        cJSON *c = cJSON_GetArrayItem(comps, i);
        struct tk_localcp_comp *o = &out->comp[i];
        copy_str(o->name, sizeof(o->name), cJSON_GetStringValue(cJSON_GetObjectItem(c, "name")));
        copy_str(o->group, sizeof(o->group), cJSON_GetStringValue(cJSON_GetObjectItem(c, "group")));
        copy_str(o->log, sizeof(o->log), cJSON_GetStringValue(cJSON_GetObjectItem(c, "log")));
        o->pid = (pid_t)cJSON_GetNumberValue(cJSON_GetObjectItem(c, "pid"));
        o->port = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(c, "port"));
        o->multiprocess = cJSON_IsTrue(cJSON_GetObjectItem(c, "multiprocess"));
        if (cJSON_IsNumber(cJSON_GetObjectItem(c, "metrics_port"))) {
            o->metrics_port = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(c, "metrics_port"));
            snprintf(o->metrics_url, sizeof(o->metrics_url), "http://127.0.0.1:%d/metrics",
                     o->metrics_port);
        } else if (i < TK_LOCALCP_NCOMP) {
            snprintf(o->metrics_url, sizeof(o->metrics_url), "https://127.0.0.1:%d/metrics",
                     o->port);
        }
    }
out:
    cJSON_Delete(st);
    free(dir);
    return rc;
}

int tk_localcp_env(const char *name, FILE *out, struct tk_err *err)
{
    char *dir = tk_localcp_dir(name), *cache = tk_localcp_cache();
    cJSON *st = load_state(dir);
    int rc = 0;

    if (!st)
        rc = tk_err_set(err, TK_ENOTFOUND,
                        "cluster '%s' is not up; start it with 'turbokube "
                        "cluster up --name %s'",
                        name, name);
    else
        fprintf(out,
                "export KUBECONFIG='%s/admin.kubeconfig'\n"
                "export TURBOKUBE_CLUSTER_DIR='%s'\n"
                "export PATH='%s/bin':\"$PATH\"\n",
                dir, dir, cache);
    cJSON_Delete(st);
    free(dir);
    free(cache);
    return rc;
}
