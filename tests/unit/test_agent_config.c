#include "config.h"

#include <stdlib.h>

#include "tktest.h"

/* getopt wants char **: copy the literals (-Wwrite-strings). */
static int parse_out(struct tk_agent_config *c, struct tk_err *err, int argc,
                     const char *const *argv, FILE *out)
{
    char *v[64];
    int rc;
    for (int i = 0; i < argc; i++)
        v[i] = strdup(argv[i]);
    v[argc] = NULL;
    rc = tk_agent_config_parse_args(c, argc, v, out, err);
    for (int i = 0; i < argc; i++)
        free(v[i]);
    return rc;
}

static int parse(struct tk_agent_config *c, struct tk_err *err, int argc, const char *const *argv)
{
    return parse_out(c, err, argc, argv, stdout);
}

TK_TEST(config_defaults)
{
    struct tk_agent_config c;
    struct tk_err err = {0};
    char name[64];
    const char *argv[] = {"agent", NULL};
    tk_agent_config_init(&c);
    CHECK_INT(parse(&c, &err, 1, argv), 0);
    CHECK_INT(c.nodes, 1);
    CHECK_INT(c.fidelity, TK_FIDELITY_LITE);
    CHECK_STR(tk_agent_kv_get(c.capacity, c.ncapacity, "pods"), "110");
    CHECK_STR(tk_agent_kv_get(c.allocatable, c.ncapacity, "memory"), "256Gi");
    CHECK_INT(c.lease_duration_s, 40);
    CHECK_INT(c.lease_renew_ns, 10000000000LL);
    CHECK_INT(c.status_interval_ns, 300000000000LL);
    CHECK_INT(c.start_grid_ns, 0); /* off: each start at its own sampled time */
    CHECK_INT(c.startup.kind, TK_SAMPLER_LOGNORMAL);
    CHECK_INT(c.qps == 0, 1);
    CHECK_INT(c.api_transport, TK_API_H1); /* lite mode's default */
    CHECK_INT(c.api_conns, 128);
    tk_agent_config_node_name(&c, 0, name);
    CHECK_STR(name, "tk-node-00000");
    tk_agent_config_release(&c);
}

TK_TEST(config_flags)
{
    struct tk_agent_config c;
    struct tk_err err = {0};
    char name[64];
    const char *argv[] = {"agent",
                          "--kubeconfig",
                          "/tmp/kc",
                          "--nodes=200",
                          "--name-prefix",
                          "fake-",
                          "--index-start",
                          "1000",
                          "--index-width",
                          "4",
                          "--fidelity",
                          "lite",
                          "--labels",
                          "team=a,tier=b",
                          "--labels",
                          "team=c",
                          "--zones",
                          "z1,z2",
                          "--taints",
                          "dedicated=fake:NoSchedule,gpu:PreferNoSchedule",
                          "--capacity",
                          "cpu=8,nvidia.com/gpu=4,memory=32768Mi",
                          "--system-reserved",
                          "cpu=500m,memory=1Gi",
                          "--startup-latency",
                          "uniform:1s-2s",
                          "--start-grid",
                          "100ms",
                          "--qps",
                          "20",
                          "--metrics-addr",
                          "off",
                          "--seed",
                          "7",
                          "--cleanup",
                          NULL};
    tk_agent_config_init(&c);
    CHECK_INT(parse(&c, &err, (int)(sizeof(argv) / sizeof(argv[0])) - 1, argv), 0);
    CHECK_STR(c.kubeconfig, "/tmp/kc");
    CHECK_INT(c.nodes, 200);
    CHECK_INT(c.start_grid_ns, 100000000);
    tk_agent_config_node_name(&c, 5, name);
    CHECK_STR(name, "fake-1005");
    CHECK_INT(c.nlabels, 2);
    CHECK_STR(tk_agent_kv_get(c.labels, c.nlabels, "team"), "c");
    CHECK_INT(c.nzones, 2);
    CHECK_STR(c.zones[1], "z2");
    CHECK_INT(c.ntaints, 2);
    CHECK_STR(c.taints[0].key, "dedicated");
    CHECK_STR(c.taints[0].value, "fake");
    CHECK_STR(c.taints[0].effect, "NoSchedule");
    CHECK_STR(c.taints[1].value, "");
    CHECK_STR(tk_agent_kv_get(c.capacity, c.ncapacity, "cpu"), "8");
    CHECK_STR(tk_agent_kv_get(c.capacity, c.ncapacity, "memory"), "32Gi");
    CHECK_STR(tk_agent_kv_get(c.capacity, c.ncapacity, "nvidia.com/gpu"), "4");
    CHECK_STR(tk_agent_kv_get(c.allocatable, c.ncapacity, "cpu"), "7500m");
    CHECK_STR(tk_agent_kv_get(c.allocatable, c.ncapacity, "memory"), "31Gi");
    CHECK_STR(tk_agent_kv_get(c.allocatable, c.ncapacity, "pods"), "110");
    CHECK_INT(c.startup.kind, TK_SAMPLER_UNIFORM);
    CHECK_INT(c.startup.seed, 7);
    CHECK_INT(c.burst, 20);
    CHECK(c.metrics_addr == NULL);
    CHECK_INT(c.cleanup, 1);
    tk_agent_config_release(&c);
}

TK_TEST(config_flag_errors)
{
    struct {
        const char *argv[8];
        const char *msg;
    } cases[] = {
        {{"agent", "--fidelity", "lite", "--bootstrap-kubeconfig", "b", NULL},
         "needs --fidelity kubelet"},
        {{"agent", "--fidelity", "kubelet", "--bootstrap-kubeconfig", "b", "--kubeconfig", "k",
          NULL},
         "exclude each other"},
        {{"agent", "--cert-dir", "d", NULL}, "--cert-dir needs --bootstrap-kubeconfig"},
        {{"agent", "--fidelity", "kubelet", "--bootstrap-kubeconfig", "b", "--cleanup", NULL},
         "may delete Nodes"},
        {{"agent", "--fidelity", "kubelet", "--cluster-dir", "", "--bootstrap-concurrency", "0",
          NULL},
         "--bootstrap-concurrency"},
        {{"agent", "--bootstrap-timeout", "10ms", NULL}, "--bootstrap-timeout"},
        {{"agent", "--nodes", "x", NULL}, "--nodes: 'x' is not an integer"},
        {{"agent", "--fidelity", "full", NULL}, "not lite or kubelet"},
        {{"agent", "--bogus", NULL, NULL}, "unknown option '--bogus'"},
        {{"agent", "--nodes", NULL, NULL}, "--nodes needs a value"},
        {{"agent", "--taints", "a=b:Sometimes", NULL}, "effect 'Sometimes'"},
        {{"agent", "--capacity", "cpu=lots", NULL}, "--capacity: cpu:"},
        {{"agent", "--capacity", "pods=1.5", NULL}, "whole number"},
        {{"agent", "--capacity", "cpu", NULL},
         "--capacity: 'cpu' is not RESOURCE=QUANTITY (such as cpu=32"},
        {{"agent", "--labels", "team", NULL}, "--labels: 'team' is not KEY=VALUE"},
        {{"agent", "--system-reserved", "cpu=64", NULL}, "exceeds capacity"},
        {{"agent", "--name-prefix", "Tk_", NULL}, "--name-prefix"},
        {{"agent", "--nodes", "70000", NULL}, "--node-ip-range"},
        {{"agent", "--pod-cidr-size", "12", NULL}, "--pod-cidr-size"},
        {{"agent", "--startup-latency", "lognormal:median=2s", NULL}, "median=D,p99=D"},
        {{"agent", "--lease-renew-interval", "1m", NULL}, "shorter than --lease-duration"},
        {{"agent", "stray", NULL, NULL}, "unexpected argument 'stray'"},
        {{"agent", "--start-grid", "2s", NULL}, "--start-grid: '2s' is longer than 1s"},
        {{"agent", "--start-grid", "-1ms", NULL}, "--start-grid: '-1ms' is too short"},
        {{"agent", "--start-grid", "100", NULL}, "--start-grid"},
        {{"agent", "--api-transport", "h3", NULL}, "not h1, h2 or curl"},
        {{"agent", "--api-conns", "0", NULL}, "--api-conns"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tk_agent_config c;
        struct tk_err err = {0};
        int argc = 0;
        while (cases[i].argv[argc])
            argc++;
        tk_agent_config_init(&c);
        /* TK_EINVAL, never taken for --help (which exits 0 and says nothing on stderr) */
        int rc = parse(&c, &err, argc, cases[i].argv);
        CHECK_INT(rc, TK_EINVAL);
        CHECK(rc != (int)TK_AGENT_CONFIG_HELP);
        CHECK_CONTAINS(err.msg, cases[i].msg);
        tk_agent_config_release(&c);
    }
}

TK_TEST(config_yaml_and_precedence)
{
    struct tk_agent_config c;
    struct tk_err err = {0};
    const char *yaml = "nodes: 50\n"
                       "name-prefix: y-\n"
                       "labels: {team: yaml, env: test}\n"
                       "zones: [east, west]\n"
                       "taints:\n"
                       "  - {key: k, value: v, effect: NoExecute}\n"
                       "  - gpu:NoSchedule\n"
                       "capacity: {cpu: 4, nvidia.com/gpu: 1}\n"
                       "startup-latency: lognormal:median=500ms,p99=2s\n"
                       "cleanup: yes\n"
                       "qps: 5.5\n";
    tk_agent_config_init(&c);
    CHECK_INT(tk_agent_config_load_string(&c, "agent.yaml", yaml, &err), 0);
    CHECK_INT(tk_agent_config_set(&c, "nodes", "60", &err), 0); /* a flag over the file */
    CHECK_INT(tk_agent_config_validate(&c, &err), 0);
    CHECK_INT(c.nodes, 60);
    CHECK_STR(c.name_prefix, "y-");
    CHECK_STR(tk_agent_kv_get(c.labels, c.nlabels, "env"), "test");
    CHECK_INT(c.nzones, 2);
    CHECK_INT(c.ntaints, 2);
    CHECK_STR(c.taints[0].effect, "NoExecute");
    CHECK_STR(c.taints[1].key, "gpu");
    CHECK_STR(tk_agent_kv_get(c.capacity, c.ncapacity, "cpu"), "4");
    CHECK_STR(tk_agent_kv_get(c.capacity, c.ncapacity, "memory"), "256Gi");
    CHECK_INT(c.startup.a_ns, 500000000);
    CHECK_INT(c.cleanup, 1);
    CHECK_INT(c.burst, 6);
    tk_agent_config_release(&c);
}

TK_TEST(config_yaml_errors_have_marks)
{
    struct {
        const char *yaml, *msg;
    } cases[] = {
        {"nodes: 5\nnodez: 3\n", "agent.yaml:2:1: unknown key 'nodez' (did you mean 'nodes'?)"},
        {"nodes: 5\nfidelity: heavy\n", "agent.yaml:2:11: --fidelity: 'heavy'"},
        {"labels:\n  a: [1]\n", "agent.yaml:2:6:"},
        {"taints:\n  - {key: k}\n", "agent.yaml:2:5: a taint needs key and effect"},
        {"taints:\n  - {key: k, effect: X, colour: red}\n", "unknown key 'colour'"},
        {"- a\n- b\n", "agent.yaml:1:1:"},
        {"region: {a: b}\n", "agent.yaml:1:9: field 'region' cannot be a map"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tk_agent_config c;
        struct tk_err err = {0};
        tk_agent_config_init(&c);
        CHECK_INT(tk_agent_config_load_string(&c, "agent.yaml", cases[i].yaml, &err), TK_EINVAL);
        CHECK_CONTAINS(err.msg, cases[i].msg);
        tk_agent_config_release(&c);
    }
}

TK_TEST(config_file_via_flag)
{
    struct tk_agent_config c;
    struct tk_err err = {0};
    char path[512];
    const char *dir = tk_test_data_dir();
    snprintf(path, sizeof(path), "%s/agent/agent.yaml", dir);
    const char *argv[] = {"agent", "--config", path, "--nodes", "3", NULL};
    tk_agent_config_init(&c);
    CHECK_INT(parse(&c, &err, 5, argv), 0);
    CHECK_INT(c.nodes, 3);                /* flag wins */
    CHECK_STR(c.name_prefix, "fleet-a-"); /* from the file */
    CHECK_INT(c.fidelity, TK_FIDELITY_LITE);
    tk_agent_config_release(&c);
    const char *bad[] = {"agent", "--config", "/nonexistent/agent.yaml", NULL};
    tk_agent_config_init(&c);
    CHECK_INT(parse(&c, &err, 3, bad), TK_EIO);
    tk_agent_config_release(&c);
}

TK_TEST(config_help_lists_every_flag)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct tk_agent_config c;
    struct tk_err err = {0};
    const char *argv[] = {"agent", "--nodes", "2", "--help", NULL};
    tk_agent_config_init(&c);
    CHECK_INT(parse_out(&c, &err, 4, argv, f), TK_AGENT_CONFIG_HELP);
    fclose(f);
    const char *flags[] = {"--kubeconfig PATH",
                           "--nodes N",
                           "--name-prefix P",
                           "--fidelity lite|kubelet",
                           "--metrics-addr",
                           "--labels",
                           "--zones",
                           "--taints",
                           "--capacity",
                           "--system-reserved",
                           "--kubelet-version",
                           "--startup-latency",
                           "--run-duration",
                           "--termination-delay",
                           "--start-grid D",
                           "--seed",
                           "--qps",
                           "--burst",
                           "--index-start",
                           "--cleanup",
                           "--config FILE",
                           "--node-ip-range",
                           "--pod-cidr",
                           "--ca-cert",
                           "--cluster-dir",
                           "--bootstrap-kubeconfig PATH",
                           "--cert-dir DIR",
                           "--bootstrap-concurrency N",
                           "--bootstrap-timeout D",
                           "--kubelet-port",
                           "--lease-renew-interval",
                           "--api-transport h1|h2|curl",
                           "--api-conns N"};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        CHECK_CONTAINS(buf, flags[i]);
    CHECK_CONTAINS(buf, "[default: cpu=32,memory=256Gi,pods=110");
    free(buf);
    tk_agent_config_release(&c);
}

TK_TEST(config_bootstrap)
{
    struct tk_agent_config c;
    struct tk_err err = {0};
    const char *argv[] = {
        "agent",      "--fidelity",          "kubelet",  "--bootstrap-kubeconfig",
        "/x/bs.conf", "--cert-dir",          "/x/certs", "--bootstrap-concurrency",
        "8",          "--bootstrap-timeout", "30s",      NULL};
    tk_agent_config_init(&c);
    free(c.cluster_dir); /* no CA at all: the bootstrap needs none */
    c.cluster_dir = NULL;
    CHECK_INT(parse(&c, &err, 11, argv), 0);
    CHECK_STR(c.bootstrap_kubeconfig, "/x/bs.conf");
    CHECK_STR(c.cert_dir, "/x/certs");
    CHECK_INT(c.bootstrap_concurrency, 8);
    CHECK_INT(c.bootstrap_timeout_ns, 30000000000LL);
    CHECK(c.kubeconfig == NULL);
    tk_agent_config_release(&c);

    /* without it, kubelet mode still wants the CA, and says there is another way */
    {
        const char *argv2[] = {"agent", "--fidelity", "kubelet", NULL};
        struct tk_err e2 = {0};
        tk_agent_config_init(&c);
        free(c.cluster_dir);
        c.cluster_dir = NULL;
        CHECK_INT(parse(&c, &e2, 3, argv2), TK_EINVAL);
        CHECK_CONTAINS(e2.msg, "--bootstrap-kubeconfig");
        tk_agent_config_release(&c);
    }
}

/* lite mode defaults to lib/h1, --api-transport curl goes back to libcurl; kubelet mode defaults
 * to lib/h2 (one HTTP/2 connection per node) and refuses h1. */
TK_TEST(config_api_transport)
{
    struct tk_agent_config c;
    struct tk_err err = {0};
    const char *curl[] = {"agent", "--api-transport", "curl", "--api-conns", "3", NULL};
    const char *kubelet[] = {"agent", "--fidelity", "kubelet", "--cluster-dir", "/x", NULL};
    const char *bad[] = {"agent", "--fidelity",      "kubelet", "--cluster-dir",
                         "/x",    "--api-transport", "h1",      NULL};

    tk_agent_config_init(&c);
    CHECK_INT(parse(&c, &err, 5, curl), 0);
    CHECK_INT(c.api_transport, TK_API_CURL);
    CHECK_INT(c.api_conns, 3);
    tk_agent_config_release(&c);
    tk_agent_config_init(&c);
    CHECK_INT(tk_agent_config_load_string(&c, "t.yaml", "api-transport: h1\napi-conns: 16\n", &err),
              0);
    CHECK_INT(c.api_transport, TK_API_H1);
    CHECK_INT(c.api_conns, 16);
    tk_agent_config_release(&c);
    tk_agent_config_init(&c);
    CHECK_INT(parse(&c, &err, 5, kubelet), 0);
    CHECK_INT(c.api_transport, TK_API_H2);
    tk_agent_config_release(&c);
    tk_agent_config_init(&c);
    CHECK_INT(tk_agent_config_load_string(&c, "t.yaml", "api-transport: h2\n", &err), 0);
    CHECK_INT(c.api_transport, TK_API_H2); /* lite mode may use it too */
    tk_agent_config_release(&c);
    tk_agent_config_init(&c);
    CHECK_INT(parse(&c, &err, 7, bad), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "--api-transport h1 is for lite mode");
    tk_agent_config_release(&c);
}

TK_TEST_MAIN(config_defaults, config_flags, config_bootstrap, config_flag_errors,
             config_yaml_and_precedence, config_yaml_errors_have_marks, config_file_via_flag,
             config_help_lists_every_flag, config_api_transport)
