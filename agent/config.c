#include "config.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "duration.h"
#include "ipalloc.h"
#include "quantity.h"
#include "yaml.h"

enum opt_id {
    O_CONFIG = 256,
    O_KUBECONFIG,
    O_CONTEXT,
    O_FIDELITY,
    O_NODES,
    O_INDEX_START,
    O_INDEX_WIDTH,
    O_NAME_PREFIX,
    O_LABELS,
    O_ZONES,
    O_REGION,
    O_TAINTS,
    O_CAPACITY,
    O_RESERVED,
    O_KUBELET_VERSION,
    O_OS_IMAGE,
    O_KERNEL_VERSION,
    O_RUNTIME_VERSION,
    O_ARCH,
    O_STARTUP,
    O_RUN,
    O_TERMINATION,
    O_START_GRID,
    O_SEED,
    O_NODE_IP_RANGE,
    O_POD_CIDR,
    O_POD_CIDR_SIZE,
    O_QPS,
    O_BURST,
    O_API_TRANSPORT,
    O_API_CONNS,
    O_LEASE_DURATION,
    O_LEASE_RENEW,
    O_STATUS_INTERVAL,
    O_MAX_EVENT_BYTES,
    O_METRICS_ADDR,
    O_KUBELET_ADDR,
    O_KUBELET_NETNS,
    O_KUBELET_PORT,
    O_CA_CERT,
    O_CA_KEY,
    O_CLUSTER_DIR,
    O_BOOTSTRAP_KUBECONFIG,
    O_CERT_DIR,
    O_BOOTSTRAP_CONCURRENCY,
    O_BOOTSTRAP_TIMEOUT,
    O_CLEANUP,
    O_LOG_LEVEL,
    O_HELP,
};

struct opt {
    const char *name;
    int id;
    const char *arg;  /* NULL: a switch */
    const char *dflt; /* shown in --help */
    const char *help;
};

static const struct opt opts[] = {
    {"config", O_CONFIG, "FILE", "none",
     "YAML file of options (keys are these flag names); flags override it"},
    {"kubeconfig", O_KUBECONFIG, "PATH", "$KUBECONFIG or ~/.kube/config",
     "kubeconfig of the cluster under test"},
    {"context", O_CONTEXT, "NAME", "current-context", "kubeconfig context to use"},
    {"fidelity", O_FIDELITY, "lite|kubelet", "lite",
     "lite: one identity, one pods watch and shared connections for all nodes; kubelet: per-node "
     "identity (system:node:NAME cert), connection, watches and kubelet events"},
    {"nodes", O_NODES, "N", "1", "number of fake nodes this agent runs"},
    {"index-start", O_INDEX_START, "I", "0",
     "index of the first node; agents sharding one fleet use disjoint ranges"},
    {"index-width", O_INDEX_WIDTH, "W", "5", "digits of the zero-padded index in node names"},
    {"name-prefix", O_NAME_PREFIX, "P", "tk-node-",
     "node names are P + zero-padded index (DNS-1123, at most 63 characters in all)"},
    {"labels", O_LABELS, "K=V[,K=V...]", "none",
     "extra node labels (repeatable); defaults: type=virtual-kubelet, turbokube.io/fake=true, "
     "kubernetes.io/hostname, kubernetes.io/os, kubernetes.io/arch, "
     "topology.kubernetes.io/zone and region, node.kubernetes.io/instance-type"},
    {"zones", O_ZONES, "Z[,Z...]", "zone-a,zone-b,zone-c",
     "zones spread round-robin over node indexes (topology.kubernetes.io/zone)"},
    {"region", O_REGION, "R", "turbokube", "topology.kubernetes.io/region label"},
    {"taints", O_TAINTS, "K[=V]:EFFECT[,...]", "none",
     "node taints (repeatable); EFFECT NoSchedule, PreferNoSchedule or NoExecute"},
    {"capacity", O_CAPACITY, "RES=QTY[,...]", "cpu=32,memory=256Gi,pods=110,ephemeral-storage=1Ti",
     "node capacity (repeatable; a key overrides its default; extended resources such as "
     "nvidia.com/gpu=8 are added)"},
    {"system-reserved", O_RESERVED, "RES=QTY[,...]", "none",
     "subtracted from capacity to give allocatable"},
    {"kubelet-version", O_KUBELET_VERSION, "V", TK_AGENT_KUBELET_VERSION,
     "nodeInfo.kubeletVersion and kubeProxyVersion"},
    {"os-image", O_OS_IMAGE, "S", "TurboKube fake node", "nodeInfo.osImage"},
    {"kernel-version", O_KERNEL_VERSION, "S", "6.1.0-turbokube", "nodeInfo.kernelVersion"},
    {"container-runtime-version", O_RUNTIME_VERSION, "S", "containerd://2.1.0",
     "nodeInfo.containerRuntimeVersion"},
    {"architecture", O_ARCH, "A", "amd64", "nodeInfo.architecture and kubernetes.io/arch"},
    {"startup-latency", O_STARTUP, "DIST", "lognormal:median=1s,p99=3s",
     "pod startup delay: D | fixed:D | uniform:LO-HI | lognormal:median=D,p99=D (Go durations); "
     "annotation turbokube.io/startup-delay overrides per pod"},
    {"run-duration", O_RUN, "DIST", "fixed:5s",
     "how long pods with restartPolicy Never/OnFailure (Jobs) run before exiting 0; annotation "
     "turbokube.io/run-duration overrides per pod (any pod), turbokube.io/exit-code sets the code"},
    {"termination-delay", O_TERMINATION, "DIST", "fixed:1s",
     "delay from deletionTimestamp to terminated status and the final DELETE, never longer than "
     "the pod's grace period"},
    {"start-grid", O_START_GRID, "D", "0 (off)",
     "report pod starts on a grid of D (at most 1s): a start due between two steps waits for the "
     "next, so the starts of one step go out in one loop pass and share wakeups (less agent CPU "
     "per start); "
     "a start is reported up to D late (a kubelet's PLEG relists every 1s). Lite mode over h2: "
     "pod work (the pods watch, statuses, DELETEs, events) gets a connection of its own, read "
     "at the steps, so a pod event is seen up to D late too"},
    {"seed", O_SEED, "N", "1", "seed of every sampled delay (same seed and pod names: same run)"},
    {"node-ip-range", O_NODE_IP_RANGE, "CIDR", "10.200.0.0/16",
     "node InternalIPs: node index i gets address i+1 of the range (route it to the agent's "
     "host, e.g. `ip route add local CIDR dev lo`, for the apiserver's node proxy)"},
    {"pod-cidr", O_POD_CIDR, "CIDR", "10.128.0.0/9",
     "pod IPs for nodes without spec.podCIDR: node index i gets block i of this range"},
    {"pod-cidr-size", O_POD_CIDR_SIZE, "LEN", "24", "prefix length of each node's pod block"},
    {"qps", O_QPS, "Q", "0 (off)", "client-side API request rate limit, requests per second"},
    {"burst", O_BURST, "B", "QPS rounded up", "client-side burst above --qps"},
    {"api-transport", O_API_TRANSPORT, "h1|h2|curl", "h1 (lite), h2 (kubelet)",
     "how requests reach the apiserver. h2 = TurboKube's own HTTP/2 client: one connection "
     "per client carrying every request and watch as streams, as a kubelet's client-go does "
     "(kubelet mode: one per node; measured 94 KiB per node in all at 1,000 nodes, 315 over "
     "libcurl). h1 (lite mode only) = "
     "requests other than watches on a pool of --api-conns HTTP/1.1 keep-alive connections "
     "(cheapest per request), watches on libcurl. curl = libcurl for everything, over "
     "multiplexed HTTP/2"},
    {"api-conns", O_API_CONNS, "N", "128",
     "with --api-transport h1: connections in the pool, each carrying one request at a time"},
    {"lease-duration", O_LEASE_DURATION, "D", "40s", "Lease spec.leaseDurationSeconds"},
    {"lease-renew-interval", O_LEASE_RENEW, "D", "10s",
     "Lease renew period (stretched by up to 4% jitter, as the kubelet does)"},
    {"status-interval", O_STATUS_INTERVAL, "D", "5m",
     "node status PATCH period when nothing changed"},
    {"max-event-bytes", O_MAX_EVENT_BYTES, "N", "8388608",
     "largest watch event accepted; a larger one restarts the watch"},
    {"metrics-addr", O_METRICS_ADDR, "HOST:PORT|off", "127.0.0.1:10260",
     "the agent's own Prometheus /metrics"},
    {"kubelet-addr", O_KUBELET_ADDR, "ADDR|off", "127.0.0.1",
     "bind address of the kubelet HTTPS endpoint; each node's InternalIP is served there "
     "(with --kubelet-netns, an address inside that namespace, usually 0.0.0.0)"},
    {"kubelet-netns", O_KUBELET_NETNS, "NAME", "none",
     "open the kubelet endpoint inside network namespace NAME, which holds the nodes' "
     "InternalIPs (scripts/nodes-netns up NAME CIDR); the apiserver's node proxy refuses "
     "loopback addresses"},
    {"kubelet-port", O_KUBELET_PORT, "PORT", "10250",
     "kubelet endpoint port (daemonEndpoints.kubeletEndpoint.Port)"},
    {"ca-cert", O_CA_CERT, "PATH", "CLUSTER-DIR/pki/ca.crt or CLUSTER-DIR/ca.crt",
     "cluster CA certificate: signs node identities (kubelet mode) and serving certificates"},
    {"ca-key", O_CA_KEY, "PATH", "CLUSTER-DIR/pki/ca.key or CLUSTER-DIR/ca.key",
     "cluster CA private key"},
    {"cluster-dir", O_CLUSTER_DIR, "DIR", "$TURBOKUBE_CLUSTER_DIR",
     "directory of a `turbokube cluster up` cluster, holding its CA"},
    {"bootstrap-kubeconfig", O_BOOTSTRAP_KUBECONFIG, "PATH", "none (identities minted from the CA)",
     "kubelet mode: obtain each node's identity by TLS bootstrap, as a kubelet does: this "
     "kubeconfig holds the server, its CA and a bootstrap token (system:bootstrap:<id>); each "
     "node sends a CSR (signer kubernetes.io/kube-apiserver-client-kubelet) and uses the "
     "certificate the controller-manager issues. Replaces --kubeconfig; needs no cluster CA key"},
    {"cert-dir", O_CERT_DIR, "DIR", "none",
     "with --bootstrap-kubeconfig: keep issued identities in DIR/kubelet-client-NODE.pem and "
     "reuse them on the next start (no new CSR while one is valid for another hour)"},
    {"bootstrap-concurrency", O_BOOTSTRAP_CONCURRENCY, "N", "32",
     "with --bootstrap-kubeconfig: nodes between CSR and certificate at once"},
    {"bootstrap-timeout", O_BOOTSTRAP_TIMEOUT, "D", "2m",
     "with --bootstrap-kubeconfig: a node's CSR not issued within D fails the agent, naming the "
     "missing approver or signer"},
    {"cleanup", O_CLEANUP, NULL, "off",
     "on exit (SIGTERM/SIGINT) delete this agent's nodes and leases"},
    {"log-level", O_LOG_LEVEL, "debug|info|warn|error", "info", "log threshold"},
    {"help", O_HELP, NULL, NULL, "print this help and exit"},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = v ? tk_xstrdup(v) : NULL;
}

static void kv_free(struct tk_agent_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

/* Sets key=value in the list, replacing an existing key. */
static void kv_put(struct tk_agent_kv **kv, size_t *n, const char *key, size_t keylen,
                   const char *value)
{
    for (size_t i = 0; i < *n; i++) {
        if (strlen((*kv)[i].key) == keylen && !memcmp((*kv)[i].key, key, keylen)) {
            set_str(&(*kv)[i].value, value);
            return;
        }
    }
    *kv = tk_xrealloc(*kv, (*n + 1) * sizeof(**kv));
    (*kv)[*n].key = tk_xstrndup(key, keylen);
    (*kv)[*n].value = tk_xstrdup(value);
    (*n)++;
}

const char *tk_agent_kv_get(const struct tk_agent_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(kv[i].key, key))
            return kv[i].value;
    return NULL;
}

void tk_agent_config_init(struct tk_agent_config *c)
{
    const char *dir = getenv("TURBOKUBE_CLUSTER_DIR");
    memset(c, 0, sizeof(*c));
    c->fidelity = TK_FIDELITY_LITE;
    c->api_conns = 128;
    c->nodes = 1;
    c->index_width = 5;
    c->name_prefix = tk_xstrdup("tk-node-");
    c->zones = tk_xcalloc(3, sizeof(char *));
    c->zones[0] = tk_xstrdup("zone-a");
    c->zones[1] = tk_xstrdup("zone-b");
    c->zones[2] = tk_xstrdup("zone-c");
    c->nzones = 3;
    c->region = tk_xstrdup("turbokube");
    kv_put(&c->capacity, &c->ncapacity, "cpu", 3, "32");
    kv_put(&c->capacity, &c->ncapacity, "memory", 6, "256Gi");
    kv_put(&c->capacity, &c->ncapacity, "pods", 4, "110");
    kv_put(&c->capacity, &c->ncapacity, "ephemeral-storage", 17, "1Ti");
    c->kubelet_version = tk_xstrdup(TK_AGENT_KUBELET_VERSION);
    c->os_image = tk_xstrdup("TurboKube fake node");
    c->kernel_version = tk_xstrdup("6.1.0-turbokube");
    c->runtime_version = tk_xstrdup("containerd://2.1.0");
    c->architecture = tk_xstrdup("amd64");
    c->seed = 1;
    tk_sampler_init_lognormal(&c->startup, 1000000000, 3000000000, c->seed, NULL);
    tk_sampler_init_fixed(&c->run, 5000000000, c->seed);
    tk_sampler_init_fixed(&c->termination, 1000000000, c->seed);
    c->node_ip_range = tk_xstrdup("10.200.0.0/16");
    tk_ipalloc_parse_cidr(c->node_ip_range, &c->node_ip_net, &c->node_ip_prefix, 0, NULL);
    c->pod_cidr = tk_xstrdup("10.128.0.0/9");
    tk_ipalloc_parse_cidr(c->pod_cidr, &c->pod_net, &c->pod_prefix, 0, NULL);
    c->pod_block_prefix = 24;
    c->lease_duration_s = 40;
    c->lease_renew_ns = 10000000000LL;
    c->lease_jitter = 0.04;
    c->status_interval_ns = 300000000000LL;
    c->max_event_bytes = 8 << 20;
    c->metrics_addr = tk_xstrdup("127.0.0.1:10260");
    c->kubelet_addr = tk_xstrdup("127.0.0.1");
    c->kubelet_port = 10250;
    c->bootstrap_concurrency = 32;
    c->bootstrap_timeout_ns = 120000000000LL;
    if (dir && dir[0])
        c->cluster_dir = tk_xstrdup(dir);
    c->log_level = TK_LOG_INFO;
}

void tk_agent_config_release(struct tk_agent_config *c)
{
    free(c->config_path);
    free(c->kubeconfig);
    free(c->context);
    free(c->name_prefix);
    kv_free(c->labels, c->nlabels);
    for (size_t i = 0; i < c->nzones; i++)
        free(c->zones[i]);
    free(c->zones);
    free(c->region);
    for (size_t i = 0; i < c->ntaints; i++) {
        free(c->taints[i].key);
        free(c->taints[i].value);
        free(c->taints[i].effect);
    }
    free(c->taints);
    kv_free(c->capacity, c->ncapacity);
    kv_free(c->allocatable, c->allocatable ? c->ncapacity : 0);
    kv_free(c->reserved, c->nreserved);
    free(c->kubelet_version);
    free(c->os_image);
    free(c->kernel_version);
    free(c->runtime_version);
    free(c->architecture);
    free(c->node_ip_range);
    free(c->pod_cidr);
    free(c->metrics_addr);
    free(c->kubelet_addr);
    free(c->kubelet_netns);
    free(c->ca_cert);
    free(c->ca_key);
    free(c->cluster_dir);
    free(c->bootstrap_kubeconfig);
    free(c->cert_dir);
    memset(c, 0, sizeof(*c));
}

static int parse_i64(const char *v, int64_t lo, int64_t hi, const char *name, int64_t *out,
                     struct tk_err *err)
{
    char *end;
    long long x;
    if (!v[0])
        return tk_err_set(err, TK_EINVAL, "--%s: empty value", name);
    x = strtoll(v, &end, 10);
    if (*end || x < lo || x > hi)
        return tk_err_set(err, TK_EINVAL, "--%s: '%s' is not an integer in [%lld, %lld]", name, v,
                          (long long)lo, (long long)hi);
    *out = x;
    return 0;
}

static int parse_dur(const char *v, int64_t min_ns, const char *name, int64_t *out,
                     struct tk_err *err)
{
    struct tk_err e = {0};
    int64_t ns;
    if (tk_duration_parse(v, &ns, &e))
        return tk_err_set(err, TK_EINVAL, "--%s: %s", name, e.msg);
    if (ns < min_ns)
        return tk_err_set(err, TK_EINVAL, "--%s: '%s' is too short", name, v);
    *out = ns;
    return 0;
}

/* Label keys: an optional DNS-subdomain prefix and '/', then a name of [A-Za-z0-9-_.] at most
 * 63 long; values at most 63 of the same characters. Checked loosely: the apiserver has the
 * final word and says so in its 422. */
static int label_ok(const char *s, size_t n, int is_key)
{
    if (n == 0)
        return !is_key;
    if (n > (is_key ? 317u : 63u))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.' || (is_key && ch == '/')))
            return 0;
    }
    return 1;
}

/* Splits "a=b,c=d" and calls put for each. */
static int each_item(const char *v, const char *name,
                     int (*put)(struct tk_agent_config *c, const char *item, size_t n,
                                const char *name, struct tk_err *err),
                     struct tk_agent_config *c, struct tk_err *err)
{
    const char *p = v;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n && put(c, p, n, name, err))
            return TK_EINVAL;
        p += n + (comma ? 1 : 0);
    }
    return 0;
}

static int put_label(struct tk_agent_config *c, const char *item, size_t n, const char *name,
                     struct tk_err *err)
{
    const char *eq = memchr(item, '=', n);
    char value[64];
    size_t vn;
    if (!eq || !label_ok(item, (size_t)(eq - item), 1) ||
        !label_ok(eq + 1, n - (size_t)(eq - item) - 1, 0))
        return tk_err_set(err, TK_EINVAL,
                          "--%s: '%.*s' is not KEY=VALUE with a valid label (such as team=a)", name,
                          (int)n, item);
    vn = n - (size_t)(eq - item) - 1;
    memcpy(value, eq + 1, vn);
    value[vn] = '\0';
    kv_put(&c->labels, &c->nlabels, item, (size_t)(eq - item), value);
    return 0;
}

static int put_quantity(struct tk_agent_kv **kv, size_t *nkv, const char *item, size_t n,
                        const char *name, struct tk_err *err)
{
    const char *eq = memchr(item, '=', n);
    char qs[TK_QUANTITY_MAX_LEN + 1], canon[TK_QUANTITY_FMT_MAX];
    struct tk_quantity q;
    struct tk_err e = {0};
    size_t qn;
    if (!eq || eq == item || !label_ok(item, (size_t)(eq - item), 1))
        return tk_err_set(err, TK_EINVAL,
                          "--%s: '%.*s' is not RESOURCE=QUANTITY (such as cpu=32, memory=256Gi or "
                          "nvidia.com/gpu=8)",
                          name, (int)n, item);
    qn = n - (size_t)(eq - item) - 1;
    if (qn > TK_QUANTITY_MAX_LEN)
        return tk_err_set(err, TK_EINVAL, "--%s: quantity too long", name);
    memcpy(qs, eq + 1, qn);
    qs[qn] = '\0';
    if (tk_quantity_parse_nonneg(qs, &q, &e))
        return tk_err_set(err, TK_EINVAL, "--%s: %.*s: %s", name, (int)(eq - item), item, e.msg);
    if ((size_t)(eq - item) == 4 && !memcmp(item, "pods", 4) && (!q.exact || q.milli % 1000))
        return tk_err_set(err, TK_EINVAL, "--%s: pods must be a whole number", name);
    tk_quantity_format(&q, canon, sizeof(canon));
    kv_put(kv, nkv, item, (size_t)(eq - item), canon);
    return 0;
}

static int put_capacity(struct tk_agent_config *c, const char *item, size_t n, const char *name,
                        struct tk_err *err)
{
    return put_quantity(&c->capacity, &c->ncapacity, item, n, name, err);
}

static int put_reserved(struct tk_agent_config *c, const char *item, size_t n, const char *name,
                        struct tk_err *err)
{
    return put_quantity(&c->reserved, &c->nreserved, item, n, name, err);
}

static int put_taint(struct tk_agent_config *c, const char *item, size_t n, const char *name,
                     struct tk_err *err)
{
    const char *colon = memchr(item, ':', n), *eq;
    size_t kn, en;
    struct tk_agent_taint *t;
    static const char *const effects[] = {"NoSchedule", "PreferNoSchedule", "NoExecute"};
    int ok = 0;

    if (!colon)
        return tk_err_set(err, TK_EINVAL, "--%s: '%.*s' is not KEY[=VALUE]:EFFECT", name, (int)n,
                          item);
    en = n - (size_t)(colon - item) - 1;
    for (int i = 0; i < 3; i++)
        ok |= strlen(effects[i]) == en && !memcmp(colon + 1, effects[i], en);
    if (!ok)
        return tk_err_set(err, TK_EINVAL,
                          "--%s: effect '%.*s' is not NoSchedule, PreferNoSchedule or NoExecute",
                          name, (int)en, colon + 1);
    eq = memchr(item, '=', (size_t)(colon - item));
    kn = eq ? (size_t)(eq - item) : (size_t)(colon - item);
    if (!label_ok(item, kn, 1) || kn == 0 || (eq && !label_ok(eq + 1, (size_t)(colon - eq - 1), 0)))
        return tk_err_set(err, TK_EINVAL, "--%s: '%.*s' has an invalid key or value", name, (int)n,
                          item);
    c->taints = tk_xrealloc(c->taints, (c->ntaints + 1) * sizeof(*c->taints));
    t = &c->taints[c->ntaints++];
    t->key = tk_xstrndup(item, kn);
    t->value = eq ? tk_xstrndup(eq + 1, (size_t)(colon - eq - 1)) : tk_xstrdup("");
    t->effect = tk_xstrndup(colon + 1, en);
    return 0;
}

static int set_zones(struct tk_agent_config *c, const char *v, struct tk_err *err)
{
    size_t n = 0;
    char **z = NULL;
    const char *p = v;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len) {
            if (!label_ok(p, len, 0)) {
                for (size_t i = 0; i < n; i++)
                    free(z[i]);
                free(z);
                return tk_err_set(err, TK_EINVAL, "--zones: '%.*s' is not a valid label value",
                                  (int)len, p);
            }
            z = tk_xrealloc(z, (n + 1) * sizeof(*z));
            z[n++] = tk_xstrndup(p, len);
        }
        p += len + (comma ? 1 : 0);
    }
    if (n == 0)
        return tk_err_set(err, TK_EINVAL, "--zones: at least one zone");
    for (size_t i = 0; i < c->nzones; i++)
        free(c->zones[i]);
    free(c->zones);
    c->zones = z;
    c->nzones = n;
    return 0;
}

static int set_cidr(const char *v, const char *name, char **dst, uint32_t *net, int *prefix,
                    struct tk_err *err)
{
    struct tk_err e = {0};
    if (tk_ipalloc_parse_cidr(v, net, prefix, 0, &e))
        return tk_err_set(err, TK_EINVAL, "--%s: %s", name, e.msg);
    set_str(dst, v);
    return 0;
}

static const struct opt *find_opt(const char *name)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (!strcmp(opts[i].name, name))
            return &opts[i];
    return NULL;
}

/* --api-transport's spellings, by enum tk_agent_api_transport */
static const char *const transport_names[] = {"default", "h1", "curl", "h2"};

static int set_opt(struct tk_agent_config *c, const struct opt *o, const char *v,
                   struct tk_err *err)
{
    int64_t x = 0; /* -O3 cannot see parse_i64 sets it before every use */
    const char *n = o->name;

    switch (o->id) {
    case O_CONFIG:
        set_str(&c->config_path, v);
        return 0;
    case O_KUBECONFIG:
        set_str(&c->kubeconfig, v);
        return 0;
    case O_CONTEXT:
        set_str(&c->context, v);
        return 0;
    case O_FIDELITY:
        if (!strcmp(v, "lite"))
            c->fidelity = TK_FIDELITY_LITE;
        else if (!strcmp(v, "kubelet"))
            c->fidelity = TK_FIDELITY_KUBELET;
        else
            return tk_err_set(err, TK_EINVAL, "--fidelity: '%s' is not lite or kubelet", v);
        return 0;
    case O_NODES:
        return parse_i64(v, 0, 1000000, n, &c->nodes, err);
    case O_INDEX_START:
        return parse_i64(v, 0, 99999999, n, &c->index_start, err);
    case O_INDEX_WIDTH:
        if (parse_i64(v, 1, 12, n, &x, err))
            return TK_EINVAL;
        c->index_width = (int)x;
        return 0;
    case O_NAME_PREFIX:
        set_str(&c->name_prefix, v);
        return 0;
    case O_LABELS:
        return each_item(v, n, put_label, c, err);
    case O_ZONES:
        return set_zones(c, v, err);
    case O_REGION:
        if (!label_ok(v, strlen(v), 0))
            return tk_err_set(err, TK_EINVAL, "--region: '%s' is not a valid label value", v);
        set_str(&c->region, v);
        return 0;
    case O_TAINTS:
        return each_item(v, n, put_taint, c, err);
    case O_CAPACITY:
        return each_item(v, n, put_capacity, c, err);
    case O_RESERVED:
        return each_item(v, n, put_reserved, c, err);
    case O_KUBELET_VERSION:
        set_str(&c->kubelet_version, v);
        return 0;
    case O_OS_IMAGE:
        set_str(&c->os_image, v);
        return 0;
    case O_KERNEL_VERSION:
        set_str(&c->kernel_version, v);
        return 0;
    case O_RUNTIME_VERSION:
        set_str(&c->runtime_version, v);
        return 0;
    case O_ARCH:
        if (!label_ok(v, strlen(v), 0) || !v[0])
            return tk_err_set(err, TK_EINVAL, "--architecture: '%s' is not a valid label value", v);
        set_str(&c->architecture, v);
        return 0;
    case O_STARTUP:
    case O_RUN:
    case O_TERMINATION: {
        struct tk_sampler *s = o->id == O_STARTUP ? &c->startup
                               : o->id == O_RUN   ? &c->run
                                                  : &c->termination;
        struct tk_err e = {0};
        if (tk_sampler_parse(s, v, c->seed, &e))
            return tk_err_set(err, TK_EINVAL, "--%s: %s", n, e.msg);
        return 0;
    }
    case O_START_GRID:
        if (parse_dur(v, 0, n, &x, err))
            return TK_EINVAL;
        if (x > 1000000000)
            return tk_err_set(err, TK_EINVAL, "--start-grid: '%s' is longer than 1s", v);
        c->start_grid_ns = x;
        return 0;
    case O_SEED: {
        char *end;
        unsigned long long s = strtoull(v, &end, 10);
        if (!v[0] || *end || v[0] == '-')
            return tk_err_set(err, TK_EINVAL, "--seed: '%s' is not an unsigned integer", v);
        c->seed = s;
        return 0;
    }
    case O_NODE_IP_RANGE:
        return set_cidr(v, n, &c->node_ip_range, &c->node_ip_net, &c->node_ip_prefix, err);
    case O_POD_CIDR:
        return set_cidr(v, n, &c->pod_cidr, &c->pod_net, &c->pod_prefix, err);
    case O_POD_CIDR_SIZE:
        if (parse_i64(v, 16, 30, n, &x, err))
            return TK_EINVAL;
        c->pod_block_prefix = (int)x;
        return 0;
    case O_QPS: {
        char *end;
        double q = strtod(v, &end);
        if (!v[0] || *end || !(q >= 0) || q > 1e6)
            return tk_err_set(err, TK_EINVAL, "--qps: '%s' is not a rate in [0, 1e6]", v);
        c->qps = q;
        return 0;
    }
    case O_BURST:
        if (parse_i64(v, 0, 1000000, n, &x, err))
            return TK_EINVAL;
        c->burst = (int)x;
        return 0;
    case O_API_TRANSPORT:
        for (int t = TK_API_H1; t <= TK_API_H2; t++)
            if (!strcmp(v, transport_names[t])) {
                c->api_transport = (enum tk_agent_api_transport)t;
                return 0;
            }
        return tk_err_set(err, TK_EINVAL, "--api-transport: '%s' is not h1, h2 or curl", v);
    case O_API_CONNS:
        if (parse_i64(v, 1, 1024, n, &x, err))
            return TK_EINVAL;
        c->api_conns = (int)x;
        return 0;
    case O_LEASE_DURATION:
        if (parse_dur(v, 1000000000, n, &x, err))
            return TK_EINVAL;
        if (x % 1000000000)
            return tk_err_set(err, TK_EINVAL, "--lease-duration: whole seconds only");
        c->lease_duration_s = x / 1000000000;
        return 0;
    case O_LEASE_RENEW:
        return parse_dur(v, 100000000, n, &c->lease_renew_ns, err);
    case O_STATUS_INTERVAL:
        return parse_dur(v, 1000000000, n, &c->status_interval_ns, err);
    case O_MAX_EVENT_BYTES:
        return parse_i64(v, 4096, INT64_C(1) << 30, n, &c->max_event_bytes, err);
    case O_METRICS_ADDR:
        set_str(&c->metrics_addr, !strcmp(v, "off") || !v[0] ? NULL : v);
        return 0;
    case O_KUBELET_ADDR:
        set_str(&c->kubelet_addr, !strcmp(v, "off") || !v[0] ? NULL : v);
        return 0;
    case O_KUBELET_NETNS:
        set_str(&c->kubelet_netns, !strcmp(v, "none") || !v[0] ? NULL : v);
        return 0;
    case O_KUBELET_PORT:
        if (parse_i64(v, 1, 65535, n, &x, err))
            return TK_EINVAL;
        c->kubelet_port = (int)x;
        return 0;
    case O_CA_CERT:
        set_str(&c->ca_cert, v);
        return 0;
    case O_CA_KEY:
        set_str(&c->ca_key, v);
        return 0;
    case O_CLUSTER_DIR:
        set_str(&c->cluster_dir, v);
        return 0;
    case O_BOOTSTRAP_KUBECONFIG:
        set_str(&c->bootstrap_kubeconfig, v[0] ? v : NULL);
        return 0;
    case O_CERT_DIR:
        set_str(&c->cert_dir, v[0] ? v : NULL);
        return 0;
    case O_BOOTSTRAP_CONCURRENCY:
        if (parse_i64(v, 1, 4096, n, &x, err))
            return TK_EINVAL;
        c->bootstrap_concurrency = (int)x;
        return 0;
    case O_BOOTSTRAP_TIMEOUT:
        return parse_dur(v, 1000000000, n, &c->bootstrap_timeout_ns, err);
    case O_CLEANUP:
        if (!v || !strcmp(v, "true"))
            c->cleanup = 1;
        else if (!strcmp(v, "false"))
            c->cleanup = 0;
        else
            return tk_err_set(err, TK_EINVAL, "--cleanup: '%s' is not true or false", v);
        return 0;
    case O_LOG_LEVEL:
        if (tk_log_parse_level(v, &c->log_level))
            return tk_err_set(err, TK_EINVAL, "--log-level: '%s' is not debug, info, warn, error",
                              v);
        return 0;
    default:
        return tk_err_set(err, TK_EINVAL, "--%s cannot be set here", n);
    }
}

const char *tk_agent_api_transport_name(enum tk_agent_api_transport t)
{
    return transport_names[t];
}

int tk_agent_config_set(struct tk_agent_config *c, const char *name, const char *value,
                        struct tk_err *err)
{
    const struct opt *o = find_opt(name);
    if (!o || o->id == O_HELP)
        return tk_err_set(err, TK_EINVAL, "unknown option '%s'", name);
    return set_opt(c, o, value, err);
}

/* ---- YAML ---------------------------------------------------------------------------- */

/* A YAML value as the flag's text: scalars as written; lists joined with ','; maps as
 * k=v,...; taints' maps as key=value:effect. */
static int yaml_to_flag_text(const struct tk_yaml_doc *doc, const struct tk_yaml_node *v,
                             const struct opt *o, struct tk_buf *out, struct tk_err *err)
{
    const char *s;

    if (v->kind == TK_YAML_SCALAR) {
        if (tk_yaml_to_str(doc, v, o->name, &s, err))
            return TK_EINVAL;
        return tk_buf_puts(out, s) ? TK_ENOMEM : 0;
    }
    if (v->kind == TK_YAML_MAP) {
        if (o->id != O_LABELS && o->id != O_CAPACITY && o->id != O_RESERVED)
            return tk_yaml_err(err, doc, v, "field '%s' cannot be a map", o->name);
        for (size_t i = 0; i < v->n; i++) {
            const char *k, *val;
            if (tk_yaml_to_str(doc, v->items[2 * i], o->name, &k, err) ||
                tk_yaml_to_str(doc, v->items[2 * i + 1], k, &val, err))
                return TK_EINVAL;
            if (strchr(val, ','))
                return tk_yaml_err(err, doc, v->items[2 * i + 1], "value of '%s' holds a ','", k);
            tk_buf_printf(out, "%s%s=%s", i ? "," : "", k, val);
        }
        return 0;
    }
    if (v->kind == TK_YAML_SEQ) {
        if (o->id != O_LABELS && o->id != O_ZONES && o->id != O_TAINTS && o->id != O_CAPACITY &&
            o->id != O_RESERVED)
            return tk_yaml_err(err, doc, v, "field '%s' cannot be a list", o->name);
        for (size_t i = 0; i < v->n; i++) {
            const struct tk_yaml_node *it = v->items[i];
            if (i)
                tk_buf_puts(out, ",");
            if (o->id == O_TAINTS && it->kind == TK_YAML_MAP) {
                static const char *const keys[] = {"key", "value", "effect", NULL};
                const char *k = NULL, *val = NULL, *eff = NULL;
                if (tk_yaml_check_keys(doc, it, keys, err) ||
                    tk_yaml_get_str(doc, it, "key", &k, err) ||
                    tk_yaml_get_str(doc, it, "value", &val, err) ||
                    tk_yaml_get_str(doc, it, "effect", &eff, err))
                    return TK_EINVAL;
                if (!k || !eff)
                    return tk_yaml_err(err, doc, it, "a taint needs key and effect");
                tk_buf_printf(out, "%s%s%s:%s", k, val ? "=" : "", val ? val : "", eff);
                continue;
            }
            if (tk_yaml_to_str(doc, it, o->name, &s, err))
                return TK_EINVAL;
            if (strchr(s, ','))
                return tk_yaml_err(err, doc, it, "list item holds a ','");
            tk_buf_puts(out, s);
        }
        return 0;
    }
    /* null: the default stays */
    return 0;
}

static int load_doc(struct tk_agent_config *c, struct tk_yaml_doc *doc, struct tk_err *err)
{
    const struct tk_yaml_node *root = tk_yaml_root(doc);
    const char *allowed[NOPTS + 1];
    size_t na = 0;
    struct tk_buf text;
    int rc = 0;

    if (root->kind == TK_YAML_NULL)
        return 0;
    if (tk_yaml_expect(doc, root, TK_YAML_MAP, NULL, err))
        return TK_EINVAL;
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].id != O_HELP && opts[i].id != O_CONFIG)
            allowed[na++] = opts[i].name;
    allowed[na] = NULL;
    if (tk_yaml_check_keys(doc, root, allowed, err))
        return TK_EINVAL;
    tk_buf_init(&text, 1 << 20);
    for (size_t i = 0; i < root->n && !rc; i++) {
        const struct tk_yaml_node *k = root->items[2 * i], *v = root->items[2 * i + 1];
        const struct opt *o = find_opt(k->scalar);
        struct tk_err e = {0};
        tk_buf_reset(&text);
        if (v->kind == TK_YAML_NULL)
            continue;
        if (o->id == O_CLEANUP && v->kind == TK_YAML_SCALAR) {
            int b;
            if ((rc = tk_yaml_to_bool(doc, v, o->name, &b, err)))
                break;
            c->cleanup = b;
            continue;
        }
        if ((rc = yaml_to_flag_text(doc, v, o, &text, err)))
            break;
        if (set_opt(c, o, text.data ? text.data : "", &e))
            rc = tk_yaml_err(err, doc, v, "%s", e.msg);
    }
    tk_buf_release(&text);
    return rc;
}

int tk_agent_config_load_file(struct tk_agent_config *c, const char *path, struct tk_err *err)
{
    struct tk_yaml_doc *doc = NULL;
    int rc = tk_yaml_load_file(&doc, path, err);
    if (!rc)
        rc = load_doc(c, doc, err);
    tk_yaml_free(doc);
    return rc;
}

int tk_agent_config_load_string(struct tk_agent_config *c, const char *name, const char *text,
                                struct tk_err *err)
{
    struct tk_yaml_doc *doc = NULL;
    int rc = tk_yaml_load_string(&doc, name, text, strlen(text), err);
    if (!rc)
        rc = load_doc(c, doc, err);
    tk_yaml_free(doc);
    return rc;
}

/* ---- flags --------------------------------------------------------------------------- */

static void build_longopts(struct option *lo)
{
    for (size_t i = 0; i < NOPTS; i++) {
        lo[i].name = opts[i].name;
        lo[i].has_arg = opts[i].arg ? required_argument : no_argument;
        lo[i].flag = NULL;
        lo[i].val = opts[i].id;
    }
    memset(&lo[NOPTS], 0, sizeof(lo[NOPTS]));
}

static const struct opt *opt_by_id(int id)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].id == id)
            return &opts[i];
    return NULL;
}

int tk_agent_config_parse_args(struct tk_agent_config *c, int argc, char **argv, FILE *out,
                               struct tk_err *err)
{
    struct option lo[NOPTS + 1];
    int ch, rc = 0;

    build_longopts(lo);
    /* pass 1: --help and --config */
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (ch == 'h' || ch == O_HELP) {
            tk_agent_config_usage(out);
            return TK_AGENT_CONFIG_HELP;
        }
        if (ch == '?' || ch == ':') {
            if (optopt && optopt >= 256)
                return tk_err_set(err, TK_EINVAL, "--%s needs a value",
                                  opt_by_id(optopt) ? opt_by_id(optopt)->name : "?");
            return tk_err_set(err, TK_EINVAL, "unknown option '%s' (see --help)", argv[optind - 1]);
        }
        if (ch == O_CONFIG)
            set_str(&c->config_path, optarg);
    }
    if (optind < argc)
        return tk_err_set(err, TK_EINVAL, "unexpected argument '%s' (see --help)", argv[optind]);
    if (c->config_path && (rc = tk_agent_config_load_file(c, c->config_path, err)))
        return rc;
    /* pass 2: every flag, over the file */
    optind = 0;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        const struct opt *o = opt_by_id(ch);
        if (!o || o->id == O_CONFIG)
            continue;
        if ((rc = set_opt(c, o, optarg, err)))
            return rc;
    }
    return tk_agent_config_validate(c, err);
}

int tk_agent_config_node_name(const struct tk_agent_config *c, int64_t i, char *out)
{
    int n = snprintf(out, 64, "%s%0*lld", c->name_prefix, c->index_width,
                     (long long)(c->index_start + i));
    return n < 0 ? 0 : n > 63 ? 63 : n;
}

int tk_agent_config_ca_paths(const struct tk_agent_config *c, char *cert, char *key, size_t n)
{
    if (c->ca_cert && c->ca_key) {
        snprintf(cert, n, "%s", c->ca_cert);
        snprintf(key, n, "%s", c->ca_key);
        return 0;
    }
    if (!c->cluster_dir)
        return -1;
    for (int i = 0; i < 2; i++) {
        snprintf(cert, n, "%s%s/ca.crt", c->cluster_dir, i == 0 ? "/pki" : "");
        snprintf(key, n, "%s%s/ca.key", c->cluster_dir, i == 0 ? "/pki" : "");
        if (access(cert, R_OK) == 0 && access(key, R_OK) == 0)
            return 0;
    }
    return -1;
}

static int sub_quantity(const char *cap, const char *res, char *out, size_t outsz)
{
    struct tk_quantity a, b, r;
    if (tk_quantity_parse(cap, &a, NULL) || tk_quantity_parse(res, &b, NULL) || a.saturated ||
        b.saturated || b.milli > a.milli)
        return -1;
    tk_quantity_from_milli(&r, a.milli - b.milli, a.fmt);
    tk_quantity_format(&r, out, outsz);
    return 0;
}

/* Where node identities come from: minted from the cluster CA, or by TLS bootstrap. */
static int validate_identity(const struct tk_agent_config *c, struct tk_err *err)
{
    if (c->bootstrap_kubeconfig) {
        if (c->fidelity != TK_FIDELITY_KUBELET)
            return tk_err_set(err, TK_EINVAL,
                              "--bootstrap-kubeconfig needs --fidelity kubelet (lite mode shares "
                              "one identity)");
        if (c->kubeconfig)
            return tk_err_set(err, TK_EINVAL,
                              "--kubeconfig and --bootstrap-kubeconfig exclude each other: the "
                              "bootstrap kubeconfig names the server, the nodes get their own "
                              "identities");
        if (c->cleanup)
            return tk_err_set(err, TK_EINVAL,
                              "--cleanup with --bootstrap-kubeconfig: neither a bootstrap token "
                              "nor a node identity may delete Nodes; delete them with kubectl");
        return 0;
    }
    if (c->cert_dir)
        return tk_err_set(err, TK_EINVAL, "--cert-dir needs --bootstrap-kubeconfig");
    if (c->fidelity == TK_FIDELITY_KUBELET && !c->cluster_dir && !(c->ca_cert && c->ca_key))
        return tk_err_set(err, TK_EINVAL,
                          "--fidelity kubelet needs the cluster CA (--cluster-dir or --ca-cert "
                          "and --ca-key) or --bootstrap-kubeconfig");
    return 0;
}

int tk_agent_config_check(struct tk_agent_config *c, struct tk_err *err)
{
    char name[64];
    uint64_t last = (uint64_t)(c->index_start + c->nodes);
    const char *p;

    if (c->nodes < 1)
        return tk_err_set(err, TK_EINVAL, "--nodes: at least 1");
    for (p = c->name_prefix; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
            return tk_err_set(err, TK_EINVAL,
                              "--name-prefix: '%s' may hold only a-z, 0-9, '-' and '.'",
                              c->name_prefix);
    if (c->name_prefix[0] == '-' || c->name_prefix[0] == '.')
        return tk_err_set(err, TK_EINVAL, "--name-prefix: must start with a letter or digit");
    snprintf(name, sizeof(name), "%lld", (long long)(last - 1));
    if (strlen(c->name_prefix) +
            (strlen(name) > (size_t)c->index_width ? strlen(name) : (size_t)c->index_width) >
        63)
        return tk_err_set(err, TK_EINVAL, "node names would exceed 63 characters");
    /* node IPs: index i -> offset i+1; the last offset must stay below the broadcast */
    if (c->node_ip_prefix > 30 || last + 1 >= (UINT64_C(1) << (32 - c->node_ip_prefix)))
        return tk_err_set(err, TK_EINVAL,
                          "--node-ip-range %s holds fewer than the %llu addresses node indexes "
                          "up to %llu need",
                          c->node_ip_range, (unsigned long long)last + 1,
                          (unsigned long long)last - 1);
    if (c->pod_block_prefix < c->pod_prefix ||
        last > (UINT64_C(1) << (c->pod_block_prefix - c->pod_prefix)))
        return tk_err_set(err, TK_EINVAL,
                          "--pod-cidr %s holds fewer than %llu /%d blocks (node indexes up to "
                          "%llu)",
                          c->pod_cidr, (unsigned long long)last, c->pod_block_prefix,
                          (unsigned long long)last - 1);
    if (c->lease_renew_ns >= c->lease_duration_s * 1000000000LL)
        return tk_err_set(err, TK_EINVAL,
                          "--lease-renew-interval must be shorter than --lease-duration");
    if (!tk_agent_kv_get(c->capacity, c->ncapacity, "pods"))
        return tk_err_set(err, TK_EINVAL, "--capacity: pods is required");
    /* the sampler seeds follow --seed, whichever came first */
    tk_sampler_reseed(&c->startup, c->seed);
    tk_sampler_reseed(&c->run, c->seed ^ 0x72756eULL);
    tk_sampler_reseed(&c->termination, c->seed ^ 0x7465726dULL);
    if (c->qps > 0 && c->burst <= 0)
        c->burst = (int)(c->qps + 0.999);
    kv_free(c->allocatable, c->allocatable ? c->ncapacity : 0);
    c->allocatable = tk_xcalloc(c->ncapacity, sizeof(*c->allocatable));
    for (size_t i = 0; i < c->ncapacity; i++) {
        const char *r = tk_agent_kv_get(c->reserved, c->nreserved, c->capacity[i].key);
        char q[TK_QUANTITY_FMT_MAX];
        c->allocatable[i].key = tk_xstrdup(c->capacity[i].key);
        if (r && sub_quantity(c->capacity[i].value, r, q, sizeof(q)))
            return tk_err_set(err, TK_EINVAL, "--system-reserved: %s=%s exceeds capacity %s",
                              c->capacity[i].key, r, c->capacity[i].value);
        c->allocatable[i].value = tk_xstrdup(r ? q : c->capacity[i].value);
    }
    for (size_t i = 0; i < c->nreserved; i++)
        if (!tk_agent_kv_get(c->capacity, c->ncapacity, c->reserved[i].key))
            return tk_err_set(err, TK_EINVAL, "--system-reserved: %s is not a capacity resource",
                              c->reserved[i].key);
    if (c->fidelity == TK_FIDELITY_KUBELET && c->api_transport == TK_API_H1)
        return tk_err_set(err, TK_EINVAL,
                          "--api-transport h1 is for lite mode: kubelet mode keeps one HTTP/2 "
                          "connection per node, as kubelets do");
    if (c->api_transport == TK_API_DEFAULT)
        c->api_transport = c->fidelity == TK_FIDELITY_LITE ? TK_API_H1 : TK_API_H2;
    return 0;
}

int tk_agent_config_validate(struct tk_agent_config *c, struct tk_err *err)
{
    if (tk_agent_config_check(c, err))
        return err->code;
    return validate_identity(c, err);
}

void tk_agent_config_usage(FILE *out)
{
    fprintf(out, "usage: turbokube-agent [--config FILE] --kubeconfig PATH --nodes N [options]\n"
                 "       turbokube-agent --fidelity kubelet --bootstrap-kubeconfig PATH "
                 "[--cert-dir DIR] --nodes N [options]\n\n"
                 "Presents N fake kubelet nodes to a Kubernetes API server: registers them, keeps\n"
                 "their Leases and status fresh, and runs the pods bound to them (status, events,\n"
                 "deletion) without containers. Exit status: 0 clean stop, 1 failure, 2 usage.\n\n"
                 "options (also YAML keys of --config, where lists may be YAML lists or maps):\n");
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        char head[96];
        snprintf(head, sizeof(head), "  --%s%s%s", o->name, o->arg ? " " : "",
                 o->arg ? o->arg : "");
        fprintf(out, "%s\n      %s", head, o->help);
        if (o->dflt)
            fprintf(out, " [default: %s]", o->dflt);
        fputc('\n', out);
    }
    fprintf(out, "\nper-pod annotations: turbokube.io/startup-delay: D, turbokube.io/run-duration: "
                 "D,\nturbokube.io/exit-code: N (exit != 0: Failed under restartPolicy Never, "
                 "else CrashLoopBackOff\nand restart).\n");
}
