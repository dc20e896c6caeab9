/* localcp's state reading (tk_localcp_info) from a cluster.json as `cluster up` writes it,
 * in a TURBOKUBE_HOME of the test's own; nothing is started. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "localcp.h"
#include "tktest.h"

static const char state[] =
    "{\"components\":[{\"name\":\"etcd\",\"pid\":101,\"port\":2379,\"peer_port\":2380,"
    "\"metrics_port\":2381,\"health\":\"http://127.0.0.1:2379/health\",\"log\":\"L/etcd.log\","
    "\"group\":\"etcd\"},"
    "{\"name\":\"kube-apiserver\",\"pid\":102,\"port\":6443,\"health\":\"h\",\"log\":\"L/a.log\","
    "\"group\":\"control-plane\"},"
    "{\"name\":\"kube-controller-manager\",\"pid\":103,\"port\":10257,\"health\":\"h\","
    "\"log\":\"L/cm.log\",\"group\":\"aux\"},"
    "{\"name\":\"kube-scheduler\",\"pid\":104,\"port\":10259,\"health\":\"h\",\"log\":\"L/s.log\","
    "\"group\":\"\"}],"
    "\"name\":\"t1\",\"datastore\":\"etcd\"}";

TK_TEST(info_reads_the_state_file)
{
    char home[] = "/tmp/tk-test-localcp-XXXXXX";
    struct tk_localcp_info info;
    struct tk_err err = {0};
    char *old = getenv("TURBOKUBE_HOME") ? tk_xstrdup(getenv("TURBOKUBE_HOME")) : NULL;

    CHECK(mkdtemp(home) != NULL);
    setenv("TURBOKUBE_HOME", home, 1);
    char *clusters = tk_xasprintf("%s/clusters", home), *dir = tk_xasprintf("%s/t1", clusters);
    char *path = tk_xasprintf("%s/cluster.json", dir);
    mkdir(clusters, 0755);

    CHECK_INT(tk_localcp_info("t1", &info, &err), TK_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "not up");
    err.code = 0;

    mkdir(dir, 0755);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(state, f);
    fclose(f);
    CHECK_INT(tk_localcp_info("t1", &info, &err), 0);
    CHECK_STR(info.dir, dir);
    CHECK_INT(info.ncomp, 4);
    CHECK_STR(info.datastore, "etcd");
    CHECK_CONTAINS(info.kubeconfig, "/t1/admin.kubeconfig");
    CHECK_CONTAINS(info.ca, "/t1/pki/ca.crt");
    CHECK_CONTAINS(info.admin_cert, "/t1/pki/admin.crt");
    CHECK_STR(info.comp[0].name, "etcd");
    CHECK_INT(info.comp[0].pid, 101);
    CHECK_INT(info.comp[0].metrics_port, 2381);
    CHECK_STR(info.comp[0].metrics_url, "http://127.0.0.1:2381/metrics");
    CHECK_STR(info.comp[0].group, "etcd");
    CHECK_STR(info.comp[1].metrics_url, "https://127.0.0.1:6443/metrics");
    CHECK_STR(info.comp[2].group, "aux");
    CHECK_STR(info.comp[3].name, "kube-scheduler");
    CHECK_STR(info.comp[3].group, "");
    CHECK_STR(info.comp[3].log, "L/s.log");

    /* three etcd members: the core four first, then the other members with their metrics */
    f = fopen(path, "w");
    fputs("{\"etcd_members\":3,\"datastore\":\"etcd\",\"components\":["
          "{\"name\":\"etcd\",\"pid\":1,\"port\":1,\"metrics_port\":11,\"group\":\"etcd\"},"
          "{\"name\":\"kube-apiserver\",\"pid\":2,\"port\":2},"
          "{\"name\":\"kube-controller-manager\",\"pid\":3,\"port\":3},"
          "{\"name\":\"kube-scheduler\",\"pid\":4,\"port\":4},"
          "{\"name\":\"etcd-1\",\"pid\":5,\"port\":5,\"metrics_port\":15,\"group\":\"etcd\"},"
          "{\"name\":\"etcd-2\",\"pid\":6,\"port\":6,\"metrics_port\":16,\"group\":\"etcd\"}]}",
          f);
    fclose(f);
    CHECK_INT(tk_localcp_info("t1", &info, &err), 0);
    CHECK_INT(info.ncomp, 6);
    CHECK_INT(info.etcd_members, 3);
    CHECK_STR(info.comp[4].name, "etcd-1");
    CHECK_STR(info.comp[5].metrics_url, "http://127.0.0.1:16/metrics");
    CHECK_STR(info.comp[5].group, "etcd");
    CHECK_STR(info.comp[1].metrics_url, "https://127.0.0.1:2/metrics");

    /* a state file that lost its components */
    f = fopen(path, "w");
    fputs("{\"name\":\"t1\"}", f);
    fclose(f);
    CHECK_INT(tk_localcp_info("t1", &info, &err), TK_EIO);

    char *rel = tk_localcp_cgroup_rel("t1", "aux");
    CHECK_STR(rel, "turbokube/t1/aux");
    free(rel);

    unlink(path);
    rmdir(dir);
    rmdir(clusters);
    rmdir(home);
    free(path);
    free(dir);
    free(clusters);
    if (old) {
        setenv("TURBOKUBE_HOME", old, 1);
        free(old);
    } else {
        unsetenv("TURBOKUBE_HOME");
    }
}

/* The shorthand of `cluster up` (--cpus, --etcd-cpus, --offload-scheduler) as groups. */
TK_TEST(groups_from_the_shorthand)
{
    struct tk_localcp_group g[TK_LOCALCP_MAXHOSTS];
    struct tk_localcp_opts o = {0};
    unsigned out = 0;

    CHECK_INT(tk_localcp_groups(&o, g, &out), 0); /* no limits: no groups */
    CHECK_INT((int)out, 15);
    o.cpu_millis = 2000;
    CHECK_INT(tk_localcp_groups(&o, g, &out), 1);
    CHECK_STR(g[0].name, "control-plane");
    CHECK_INT((int)g[0].comps, 15);
    CHECK_INT((int)out, 0);
    o.etcd_memory_bytes = 1LL << 30; /* etcd's group, unlimited CPU */
    CHECK_INT(tk_localcp_groups(&o, g, &out), 2);
    CHECK_STR(g[1].name, "etcd");
    CHECK_INT(g[1].cpu_millis, 0);
    CHECK_INT(g[1].memory_bytes, 1LL << 30);
    CHECK_INT((int)g[1].comps, 1 << TK_LOCALCP_DATASTORE);
    o.offload_scheduler = 1; /* outside every limit */
    CHECK_INT(tk_localcp_groups(&o, g, &out), 2);
    CHECK_INT((int)g[0].comps, 1 << TK_LOCALCP_APISERVER);
    CHECK_INT((int)out, (1 << TK_LOCALCP_CM) | (1 << TK_LOCALCP_SCHEDULER));
    o.aux_cpu_millis = 500; /* ... or in aux */
    CHECK_INT(tk_localcp_groups(&o, g, &out), 3);
    CHECK_STR(g[2].name, "aux");
    CHECK_INT(g[2].cpu_millis, 500);
    CHECK_INT((int)g[2].comps, (1 << TK_LOCALCP_CM) | (1 << TK_LOCALCP_SCHEDULER));
    CHECK_INT((int)out, 0);
    /* explicit hosts replace the shorthand; an unused host is no group */
    o.nhosts = 3;
    o.hosts[0] = (struct tk_localcp_host){1000, 1LL << 30};
    o.hosts[2] = (struct tk_localcp_host){3000, 3LL << 30};
    o.host_of[TK_LOCALCP_DATASTORE] = 2;
    o.host_of[TK_LOCALCP_APISERVER] = 0;
    o.host_of[TK_LOCALCP_CM] = 0;
    o.host_of[TK_LOCALCP_SCHEDULER] = 2;
    CHECK_INT(tk_localcp_groups(&o, g, &out), 2);
    CHECK_STR(g[0].name, "control-plane");
    CHECK_INT(g[0].cpu_millis, 1000);
    CHECK_STR(g[1].name, "etcd");
    CHECK_INT(g[1].cpu_millis, 3000);
    CHECK_INT((int)g[1].comps, (1 << TK_LOCALCP_DATASTORE) | (1 << TK_LOCALCP_SCHEDULER));
}

TK_TEST_MAIN(info_reads_the_state_file, groups_from_the_shorthand)
