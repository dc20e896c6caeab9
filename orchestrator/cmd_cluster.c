/* turbokube cluster up|down|status|env: the local control plane by hand. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cmd.h"
#include "duration.h"
#include "localcp.h"
#include "quantity.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: turbokube cluster up     [--name NAME] [options]\n"
            "       turbokube cluster down   [--name NAME] [--keep]\n"
            "       turbokube cluster status [--name NAME] [--output table|json]\n"
            "       turbokube cluster env    [--name NAME]\n"
            "\n"
            "A real control plane on this machine, on loopback: etcd (or kine over SQLite or\n"
            "PostgreSQL),\n"
            "kube-apiserver (Node,RBAC; NodeRestriction), kube-controller-manager and\n"
            "kube-scheduler, built by scripts/bootstrap. State lives in\n"
            "$TURBOKUBE_HOME/clusters/NAME (default ~/.turbokube/clusters/NAME).\n"
            "\n"
            "  -n, --name NAME           cluster name (default: default)\n"
            "\n"
            "up:\n"
            "      --datastore etcd|kine|kine-postgres\n"
            "                            kine stores in SQLite, kine-postgres in a private\n"
            "                            PostgreSQL (default: etcd)\n"
            "      --etcd-members 1|3    etcd cluster size (default: 1)\n"
            "      --port PORT           apiserver port (default: a free one)\n"
            "      --cpus CPUS           CPU limit of the control-plane cgroup (\"2\", \"1500m\")\n"
            "      --memory SIZE         memory limit of the control-plane cgroup (\"4Gi\")\n"
            "      --etcd-cpus CPUS      put etcd in a dedicated cgroup with this CPU limit\n"
            "      --etcd-memory SIZE    ... and this memory limit\n"
            "      --offload-scheduler   scheduler and controller-manager outside the limits\n"
            "      --latency DURATION    round trip added between components on different\n"
            "                            groups (\"20ms\"; whole milliseconds, via toxiproxy)\n"
            "      --apiserver-arg FLAG  extra kube-apiserver flag (repeatable),\n"
            "                            e.g. --apiserver-arg=--max-requests-inflight=800\n"
            "      --timeout DURATION    readiness deadline (default: 90s)\n"
            "  -q, --quiet               no progress lines\n"
            "down:\n"
            "      --keep                keep the cluster directory (logs, data)\n"
            "status:\n"
            "  -o, --output FORMAT       table (default) or json; exit 1 if a component is not "
            "ready\n"
            "env:  prints export lines for KUBECONFIG, TURBOKUBE_CLUSTER_DIR and PATH\n"
            "      (eval \"$(turbokube cluster env)\")\n");
}

enum {
    O_DATASTORE = 256,
    O_MEMBERS,
    O_PORT,
    O_CPUS,
    O_MEMORY,
    O_ETCD_CPUS,
    O_ETCD_MEMORY,
    O_OFFLOAD,
    O_LATENCY,
    O_APIARG,
    O_TIMEOUT,
    O_KEEP
};

static int parse_cpu(const char *flag, const char *s, int64_t *milli)
{
    struct tk_quantity q;
    struct tk_err err = {0};
    if (tk_quantity_parse_nonneg(s, &q, &err) || q.milli <= 0) {
        tk_cmd_fail("%s '%s': want a CPU amount such as 2 or 1500m%s%s", flag, s,
                    err.code ? ": " : "", err.msg);
        return -1;
    }
    *milli = q.milli;
    return 0;
}

static int parse_mem(const char *flag, const char *s, int64_t *bytes)
{
    struct tk_quantity q;
    struct tk_err err = {0};
    if (tk_quantity_parse_nonneg(s, &q, &err) || q.value < (64 << 20)) {
        tk_cmd_fail("%s '%s': want a memory size of at least 64Mi, such as 4Gi%s%s", flag, s,
                    err.code ? ": " : "", err.msg);
        return -1;
    }
    *bytes = q.value;
    return 0;
}

static int parse_port(const char *s, int *port)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end || v < 1 || v > 65535) {
        tk_cmd_fail("--port '%s': want a number from 1 to 65535", s);
        return -1;
    }
    *port = (int)v;
    return 0;
}

int cmd_cluster(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"name", required_argument, NULL, 'n'},
        {"output", required_argument, NULL, 'o'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"datastore", required_argument, NULL, O_DATASTORE},
        {"etcd-members", required_argument, NULL, O_MEMBERS},
        {"port", required_argument, NULL, O_PORT},
        {"cpus", required_argument, NULL, O_CPUS},
        {"memory", required_argument, NULL, O_MEMORY},
        {"etcd-cpus", required_argument, NULL, O_ETCD_CPUS},
        {"etcd-memory", required_argument, NULL, O_ETCD_MEMORY},
        {"offload-scheduler", no_argument, NULL, O_OFFLOAD},
        {"latency", required_argument, NULL, O_LATENCY},
        {"apiserver-arg", required_argument, NULL, O_APIARG},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"keep", no_argument, NULL, O_KEEP},
        {NULL, 0, NULL, 0},
    };
    struct tk_localcp_opts o = {.name = "default"};
    const char *output = "table", *sub;
    const char **apiargs = NULL;
    size_t napi = 0;
    int keep = 0, c, rc = 2;
    struct tk_err err = {0};
    int64_t ns;

    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    sub = argv[1];
    argc--;
    argv++;
    while ((c = getopt_long(argc, argv, "n:o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            o.name = optarg;
            break;
        case 'o':
            output = optarg;
            if (strcmp(output, "table") && strcmp(output, "json")) {
                tk_cmd_fail("--output '%s': want table or json", output);
                goto out;
            }
            break;
        case 'q':
            o.quiet = 1;
            break;
        case 'h':
            usage(stdout);
            rc = 0;
            goto out;
        case O_DATASTORE:
            if (!strcmp(optarg, "etcd"))
                o.datastore = TK_DS_ETCD;
            else if (!strcmp(optarg, "kine") || !strcmp(optarg, "kine-sqlite"))
                o.datastore = TK_DS_KINE_SQLITE;
            else if (!strcmp(optarg, "kine-postgres"))
                o.datastore = TK_DS_KINE_POSTGRES;
            else {
                tk_cmd_fail("--datastore '%s': want etcd, kine (kine-sqlite) or kine-postgres",
                            optarg);
                goto out;
            }
            break;
        case O_MEMBERS:
            if (strcmp(optarg, "1") && strcmp(optarg, "3")) {
                tk_cmd_fail("--etcd-members '%s': want 1 or 3", optarg);
                goto out;
            }
            o.etcd_members = atoi(optarg);
            break;
        case O_PORT:
            if (parse_port(optarg, &o.apiserver_port))
                goto out;
            break;
        case O_CPUS:
            if (parse_cpu("--cpus", optarg, &o.cpu_millis))
                goto out;
            break;
        case O_MEMORY:
            if (parse_mem("--memory", optarg, &o.memory_bytes))
                goto out;
            break;
        case O_ETCD_CPUS:
            if (parse_cpu("--etcd-cpus", optarg, &o.etcd_cpu_millis))
                goto out;
            break;
        case O_ETCD_MEMORY:
            if (parse_mem("--etcd-memory", optarg, &o.etcd_memory_bytes))
                goto out;
            break;
        case O_OFFLOAD:
            o.offload_scheduler = 1;
            break;
        case O_LATENCY:
            if (tk_duration_parse(optarg, &ns, &err) || ns < 0 || ns % 1000000 ||
                ns > 10LL * 1000000000) {
                tk_cmd_fail("--latency '%s': want whole milliseconds up to 10s, such as 20ms",
                            optarg);
                goto out;
            }
            o.latency_ns = ns;
            break;
        case O_APIARG:
            if (strncmp(optarg, "--", 2) != 0) {
                tk_cmd_fail("--apiserver-arg '%s': want a flag such as --max-requests-inflight=800",
                            optarg);
                goto out;
            }
            apiargs = tk_xrealloc(apiargs, (napi + 2) * sizeof(*apiargs));
            apiargs[napi++] = optarg;
            apiargs[napi] = NULL;
            break;
        case O_TIMEOUT:
            if (tk_duration_parse(optarg, &ns, &err) || ns < 1000000000LL) {
                tk_cmd_fail("--timeout '%s': want a duration of at least 1s, such as 90s", optarg);
                goto out;
            }
            o.timeout_s = (int)(ns / 1000000000LL);
            break;
        case O_KEEP:
            keep = 1;
            break;
        default:
            usage(stderr);
            goto out;
        }
    }
    if (optind < argc) {
        tk_cmd_fail("cluster %s: unexpected argument '%s'", sub, argv[optind]);
        goto out;
    }
    o.apiserver_args = apiargs;
    if (!strcmp(sub, "up"))
        rc = tk_localcp_up(&o, &err) ? 1 : 0;
    else if (!strcmp(sub, "down"))
        rc = tk_localcp_down(o.name, keep, &err) ? 1 : 0;
    else if (!strcmp(sub, "status")) {
        int s = tk_localcp_status(o.name, output, stdout, &err);
        rc = s == 0 ? 0 : 1;
    } else if (!strcmp(sub, "env"))
        rc = tk_localcp_env(o.name, stdout, &err) ? 1 : 0;
    else {
        tk_cmd_fail("cluster: '%s' is not up, down, status or env", sub);
        usage(stderr);
        goto out;
    }
    if (err.code)
        tk_cmd_fail("%s", err.msg);
out:
    free(apiargs);
    return rc;
}
