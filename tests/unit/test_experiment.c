#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "experiment.h"
#include "plan.h"
#include "tktest.h"
#include "tktest_tmp.h"

static const char *data_dir(void)
{
    const char *d = tk_test_data_dir();
    return d;
}

static struct tk_experiment *load_str(const char *text, struct tk_err *err)
{
    struct tk_experiment *e = NULL;
    tk_experiment_load_string(&e, "t.yaml", text, strlen(text), err);
    return e;
}

static char *param(const struct tk_cell *c, const char *path)
{
    static char buf[256];
    if (tk_exp_cell_param(c, path, buf, sizeof(buf)))
        return NULL;
    return buf;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *replace_all(const char *s, const char *from, const char *to)
{
    struct tk_buf b;
    size_t fl = strlen(from);
    tk_buf_init(&b, 0);
    for (const char *p = s; *p;) {
        if (strncmp(p, from, fl) == 0) {
            tk_buf_puts(&b, to);
            p += fl;
        } else {
            tk_buf_append(&b, p++, 1);
        }
    }
    return tk_buf_detach(&b);
}

/* Every file in data/experiments/bad is refused with the message on its first line
 * ("# expect: file.yaml:L:C: message"; $DIR stands for the directory). */
TK_TEST(bad_files_fail_with_their_message)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/experiments/bad", data_dir());
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    char *names[256];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 256) {
        size_t l = strlen(de->d_name);
        if (l > 5 && strcmp(de->d_name + l - 5, ".yaml") == 0)
            names[n++] = tk_xstrdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_str);
    CHECK(n >= 60);

    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        char path[768], line[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "r");
        line[0] = '\0';
        if (!f || !fgets(line, sizeof(line), f) || strncmp(line, "# expect: ", 10) != 0) {
            fprintf(stderr, "  %s: first line must be '# expect: <message>'\n", names[i]);
            failures++;
            if (f)
                fclose(f);
            continue;
        }
        fclose(f);
        line[strcspn(line, "\n")] = '\0';
        char *msg = replace_all(line + 10, "$DIR", dir);
        char *want = tk_xasprintf("%s/%s", dir, msg);
        free(msg);
        /* messages live in a 256-byte buffer: compare what fits */
        if (strlen(want) > sizeof(((struct tk_err *)0)->msg) - 1)
            want[sizeof(((struct tk_err *)0)->msg) - 1] = '\0';

        struct tk_experiment *e = NULL;
        struct tk_err err = {0};
        int rc = tk_experiment_load(&e, path, &err);
        if (rc == 0 || e != NULL) {
            fprintf(stderr, "  %s: accepted, expected: %s\n", names[i], want);
            failures++;
        } else if (strcmp(err.msg, want) != 0) {
            fprintf(stderr, "  %s:\n    got:      %s\n    expected: %s\n", names[i], err.msg, want);
            failures++;
        } else if (rc != TK_EINVAL && rc != TK_EIO) {
            fprintf(stderr, "  %s: code %d\n", names[i], rc);
            failures++;
        }
        tk_experiment_free(e);
        free(want);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    CHECK_INT(failures, 0);
}

TK_TEST(shipped_experiments_load)
{
    static const char *const files[] = {"quickstart.yaml", "load-shapes.yaml", "topology.yaml",
                                        "etcd-backends.yaml", "sizing.yaml"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[256];
        struct tk_experiment *e = NULL;
        struct tk_err err = {0};
        snprintf(path, sizeof(path), "%s/../../experiments/%s", data_dir(), files[i]);
        if (tk_experiment_load(&e, path, &err))
            fprintf(stderr, "  %s\n", err.msg);
        CHECK(e != NULL);
        CHECK(e->ncells >= 1);
        CHECK(e->description != NULL);
        tk_experiment_free(e);
    }
}

TK_TEST(quickstart_is_one_short_cell)
{
    char path[256];
    struct tk_experiment *e = NULL;
    struct tk_err err = {0};
    snprintf(path, sizeof(path), "%s/../../experiments/quickstart.yaml", data_dir());
    CHECK_INT(tk_experiment_load(&e, path, &err), 0);
    CHECK_STR(e->name, "quickstart");
    CHECK_INT(e->ncells, 1);
    CHECK_INT(e->cells[0].p.nodes, 100);
    CHECK_INT(tk_exp_pods(&e->cells[0].p), 1000);
    CHECK(e->estimate_ns < 5 * 60 * 1000000000LL);
    CHECK_INT(e->nvarying, 0);
    tk_experiment_free(e);
}

/* REFERENCE.md section 3 and experiments/README.md: what an almost empty file means. */
TK_TEST(defaults)
{
    struct tk_err err = {0};
    struct tk_experiment *e = load_str("name: x\n", &err);
    CHECK(e != NULL);
    const struct tk_cell_params *p = &e->cells[0].p;
    CHECK_INT(e->ncells, 1);
    CHECK_INT(e->repeat, 1);
    CHECK_INT(p->provider, TK_EXP_PROVIDER_LOCAL);
    CHECK_STR(p->kubernetes_version, TK_EXP_DEFAULT_KUBERNETES_VERSION);
    CHECK_INT(p->datastore, TK_EXP_DS_ETCD);
    CHECK_INT(p->etcd_members, 1);
    CHECK_INT(p->nhosts, 1);
    CHECK_STR(p->hosts[0].name, "cp");
    CHECK_INT(p->hosts[0].cpu_milli, 2000);
    CHECK_INT(p->hosts[0].memory_bytes, 4LL << 30);
    for (int c = 0; c < TK_EXP_NCOMPONENTS; c++)
        CHECK_INT(p->placement[c], 0);
    CHECK_INT(p->latency_ns, 0);
    CHECK_INT(p->nodes, 100);
    CHECK_INT(p->nodes_per_agent, 1000);
    CHECK_INT(p->fidelity, TK_EXP_LITE);
    CHECK_INT(p->capacity_cpu_milli, 32000);
    CHECK_INT(p->capacity_memory_bytes, 256LL << 30);
    CHECK_INT(p->capacity_pods, 110);
    CHECK_INT(p->startup_dist, TK_EXP_LOGNORMAL);
    CHECK_INT(p->startup_a_ns, 1000000000);
    CHECK_INT(p->startup_b_ns, 3000000000LL);
    CHECK_INT(p->shape, TK_EXP_NODE_DENSITY);
    CHECK_INT(p->pods_per_node, 10);
    CHECK_NEAR(p->qps, 20, 0);
    CHECK_INT(p->burst, 20);
    CHECK_INT(p->churn, 0);
    CHECK_INT(p->timeout_ns, 15 * 60 * 1000000000LL);
    CHECK_INT(p->scrape_interval_ns, 15 * 1000000000LL);
    CHECK_INT(p->slo_mutating_p99_ns, 1000000000);
    CHECK_INT(p->slo_ro_resource_p99_ns, 1000000000);
    CHECK_INT(p->slo_ro_cluster_p99_ns, 30 * 1000000000LL);
    CHECK_INT(p->slo_pod_startup_p99_ns, 5 * 1000000000LL);
    CHECK_STR(param(&e->cells[0], "controlPlane.hosts.cp.memory"), "4Gi");
    CHECK_STR(param(&e->cells[0], "load.timeout"), "15m0s");
    char spec[64];
    tk_exp_startup_spec(p, spec, sizeof(spec));
    CHECK_STR(spec, "lognormal:median=1s,p99=3s");
    tk_experiment_free(e);
}

/* The default Kubernetes version is the one scripts/versions.env pins. */
TK_TEST(default_version_is_pinned)
{
    char path[256], line[256];
    snprintf(path, sizeof(path), "%s/../../scripts/versions.env", data_dir());
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    int found = 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "KUBERNETES_VERSION=", 19) == 0) {
            line[strcspn(line, "\n")] = '\0';
            found = strcmp(line + 19, TK_EXP_DEFAULT_KUBERNETES_VERSION) == 0 ? 1 : -1;
        }
    fclose(f);
    CHECK_INT(found, 1);
}

TK_TEST(scalar_lists_expand_in_file_order)
{
    struct tk_err err = {0};
    struct tk_experiment *e = load_str("name: x\n"
                                       "agents: {nodes: [100, 200]}\n"
                                       "load: {qps: [10, 20.5]}\n",
                                       &err);
    CHECK(e != NULL);
    CHECK_INT(e->ncells, 4);
    static const int64_t nodes[] = {100, 100, 200, 200};
    static const double qps[] = {10, 20.5, 10, 20.5};
    for (size_t i = 0; i < 4; i++) {
        CHECK_INT(e->cells[i].index, i);
        CHECK_INT(e->cells[i].p.nodes, nodes[i]);
        CHECK_NEAR(e->cells[i].p.qps, qps[i], 0);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(e->cells[i].id, e->cells[j].id) != 0);
    }
    CHECK_INT(e->cells[1].p.burst, 21); /* burst follows qps up */
    CHECK_INT(e->nvarying, 3);
    CHECK_STR(e->varying[0], "agents.nodes");
    CHECK_STR(e->varying[1], "load.burst");
    CHECK_STR(e->varying[2], "load.qps");
    CHECK_STR(param(&e->cells[1], "load.qps"), "20.5");
    tk_experiment_free(e);
}

TK_TEST(map_sections_as_alternatives)
{
    struct tk_err err = {0};
    struct tk_experiment *e = load_str("name: shapes\n"
                                       "load:\n"
                                       "  - {shape: node-density, podsPerNode: [10, 30]}\n"
                                       "  - {shape: cluster-density, namespaces: 20, replicas: 3}\n"
                                       "agents:\n"
                                       "  podStartup:\n"
                                       "    - {distribution: fixed, value: 2s}\n"
                                       "    - {median: 1s, p99: 5s}\n",
                                       &err);
    if (!e)
        fprintf(stderr, "  %s\n", err.msg);
    CHECK(e != NULL);
    CHECK_INT(e->ncells, 6); /* agents comes later in the file: it varies faster */
    CHECK_INT(e->cells[0].p.shape, TK_EXP_NODE_DENSITY);
    CHECK_INT(e->cells[0].p.pods_per_node, 10);
    CHECK_INT(e->cells[0].p.startup_dist, TK_EXP_FIXED);
    CHECK_INT(e->cells[0].p.startup_a_ns, 2000000000);
    CHECK_INT(e->cells[1].p.startup_dist, TK_EXP_LOGNORMAL);
    CHECK_INT(e->cells[2].p.pods_per_node, 30);
    CHECK_INT(e->cells[4].p.shape, TK_EXP_CLUSTER_DENSITY);
    CHECK_INT(e->cells[4].p.namespaces, 20);
    CHECK_INT(e->cells[4].p.replicas, 3);
    CHECK_INT(tk_exp_pods(&e->cells[4].p), 20 * 5 * 3);
    CHECK_INT(tk_exp_objects(&e->cells[4].p), 20 * (1 + 5 + 5 + 10 + 10));
    CHECK(param(&e->cells[4], "load.podsPerNode") == NULL);
    CHECK_STR(param(&e->cells[1], "agents.podStartup.p99"), "5s");
    tk_experiment_free(e);
}

TK_TEST(start_grid_field)
{
    struct tk_err err = {0};
    struct tk_experiment *plain = load_str("name: g\n", &err);
    struct tk_experiment *e = load_str("name: g\n"
                                       "agents:\n"
                                       "  podStartup:\n"
                                       "    - {grid: [0s, 1s]}\n"
                                       "    - {distribution: fixed, value: 2s, grid: 100ms}\n",
                                       &err);
    char spec[64];
    if (!e)
        fprintf(stderr, "  %s\n", err.msg);
    CHECK(plain != NULL && e != NULL);
    CHECK_INT(e->ncells, 3);
    /* grid alone keeps the default distribution */
    CHECK_INT(e->cells[0].p.startup_grid_ns, 0);
    CHECK_INT(e->cells[1].p.startup_grid_ns, 1000000000);
    CHECK_INT(e->cells[1].p.startup_dist, TK_EXP_LOGNORMAL);
    tk_exp_startup_spec(&e->cells[1].p, spec, sizeof(spec));
    CHECK_STR(spec, "lognormal:median=1s,p99=3s");
    CHECK_STR(param(&e->cells[1], "agents.podStartup.grid"), "1s");
    CHECK_INT(e->cells[2].p.startup_dist, TK_EXP_FIXED);
    CHECK_INT(e->cells[2].p.startup_grid_ns, 100000000);
    CHECK_STR(param(&e->cells[2], "agents.podStartup.grid"), "100ms");
    /* off is not written: a cell without the field keeps the id it had before it existed */
    CHECK(param(&e->cells[0], "agents.podStartup.grid") == NULL);
    CHECK_STR(e->cells[0].id, plain->cells[0].id);
    CHECK(strcmp(e->cells[0].id, e->cells[1].id) != 0);
    /* a start may wait one step more */
    CHECK_INT(tk_exp_estimate_ns(&e->cells[1].p) - tk_exp_estimate_ns(&e->cells[0].p), 1000000000);
    tk_experiment_free(plain);
    tk_experiment_free(e);
}

TK_TEST(agent_args_field)
{
    struct tk_err err = {0};
    struct tk_experiment *plain = load_str("name: g\n", &err);
    struct tk_experiment *e = load_str("name: g\n"
                                       "agents:\n"
                                       "  args: [[], [--api-transport=h2, --qps=50],\n"
                                       "         [--capacity=nvidia.com/gpu=8, --labels=team=a]]\n",
                                       &err);
    if (!e)
        fprintf(stderr, "  %s\n", err.msg);
    CHECK(plain != NULL && e != NULL);
    CHECK_INT(e->ncells, 3);
    CHECK_INT(e->cells[2].p.nagent_args, 2); /* another resource and a label of the user's */
    CHECK_INT(e->cells[0].p.nagent_args, 0);
    CHECK_INT(e->cells[1].p.nagent_args, 2);
    CHECK_STR(e->cells[1].p.agent_args[0], "--api-transport=h2");
    CHECK_STR(e->cells[1].p.agent_args[1], "--qps=50");
    CHECK_STR(param(&e->cells[1], "agents.args"), "[\"--api-transport=h2\",\"--qps=50\"]");
    /* none is not written: a cell without the field keeps the id it had before it existed */
    CHECK(param(&e->cells[0], "agents.args") == NULL);
    CHECK_STR(e->cells[0].id, plain->cells[0].id);
    CHECK(strcmp(e->cells[0].id, e->cells[1].id) != 0);
    /* the capacity the run passes and the load-time check uses, in the agent's syntax */
    char cap[160];
    tk_exp_capacity_spec(&e->cells[0].p, cap, sizeof(cap));
    CHECK_STR(cap, "cpu=32,memory=274877906944,pods=110");
    tk_experiment_free(plain);
    tk_experiment_free(e);
    e = load_str("name: g\nagents: {capacity: {cpu: 1500m, memory: 1Gi, pods: 20}}\n", &err);
    CHECK(e != NULL);
    tk_exp_capacity_spec(&e->cells[0].p, cap, sizeof(cap));
    CHECK_STR(cap, "cpu=1500m,memory=1073741824,pods=20");
    tk_experiment_free(e);
}

TK_TEST(hosts_and_placement_alternatives)
{
    struct tk_err err = {0};
    struct tk_experiment *e = load_str("name: topo\n"
                                       "controlPlane:\n"
                                       "  hosts:\n"
                                       "    - {name: cp, cpus: [2, 4], memory: 8Gi}\n"
                                       "    - {name: db, cpus: 2, memory: 4Gi}\n"
                                       "  placement: {etcd: [cp, db]}\n"
                                       "  latency: [0s, 2ms]\n"
                                       "  apiserverArgs: [[], [--max-requests-inflight=800]]\n",
                                       &err);
    if (!e)
        fprintf(stderr, "  %s\n", err.msg);
    CHECK(e != NULL);
    /* 2 cpus x 2 placements x 2 latencies x 2 arg sets = 16, but with etcd on cp the db host
     * is unused and latency cannot apply: those 8 collapse into 4 */
    CHECK_INT(e->ncells, 12);
    CHECK_INT(e->duplicates, 4);
    const struct tk_cell *c0 = &e->cells[0];
    CHECK_INT(c0->p.nhosts, 1);
    CHECK(param(c0, "controlPlane.hosts.db.cpus") == NULL);
    CHECK_INT(c0->p.napiserver_args, 0);
    const struct tk_cell *c1 = &e->cells[1];
    CHECK_INT(c1->p.napiserver_args, 1);
    CHECK_STR(c1->p.apiserver_args[0], "--max-requests-inflight=800");
    CHECK_STR(param(c1, "controlPlane.apiserverArgs"), "[\"--max-requests-inflight=800\"]");
    /* cells 2..5: etcd on db */
    const struct tk_cell *c2 = &e->cells[2];
    CHECK_INT(c2->p.nhosts, 2);
    CHECK_STR(c2->p.hosts[c2->p.placement[TK_EXP_ETCD]].name, "db");
    CHECK_STR(c2->p.hosts[c2->p.placement[TK_EXP_APISERVER]].name, "cp");
    CHECK_INT(c2->p.latency_ns, 0);
    CHECK_INT(e->cells[4].p.latency_ns, 2000000);
    CHECK_STR(param(c2, "controlPlane.hosts.cp.cpus"), "2");
    CHECK_STR(param(&e->cells[6], "controlPlane.hosts.cp.cpus"), "4");
    tk_experiment_free(e);
}

TK_TEST(exclude_rules)
{
    struct tk_err err = {0};
    struct tk_experiment *e =
        load_str("name: x\n"
                 "controlPlane:\n"
                 "  hosts: [{name: cp, cpus: [2, 4], memory: [4Gi, 8Gi]}]\n"
                 "agents: {nodes: [100, 1000]}\n"
                 "exclude:\n"
                 "  - {controlPlane.hosts.cp.cpus: 2000m, agents.nodes: 1000}\n"
                 "  - {controlPlane.hosts.cp.memory: [4096Mi]}\n",
                 &err);
    if (!e)
        fprintf(stderr, "  %s\n", err.msg);
    CHECK(e != NULL);
    /* 8 cells; the memory rule drops 4, the cpus+nodes rule one more */
    CHECK_INT(e->ncells, 3);
    CHECK_INT(e->excluded, 5);
    for (size_t i = 0; i < e->ncells; i++) {
        CHECK_INT(e->cells[i].p.hosts[0].memory_bytes, 8LL << 30);
        CHECK(!(e->cells[i].p.hosts[0].cpu_milli == 2000 && e->cells[i].p.nodes == 1000));
    }
    tk_experiment_free(e);
}

TK_TEST(repeat_passes)
{
    struct tk_err err = {0};
    struct tk_experiment *e = load_str("name: x\nrepeat: 3\nagents: {nodes: [10, 20]}\n", &err);
    CHECK(e != NULL);
    CHECK_INT(e->ncells, 6);
    CHECK_INT(e->cells[0].repeat, 0);
    CHECK_INT(e->cells[1].repeat, 0);
    CHECK_INT(e->cells[2].repeat, 1);
    CHECK_INT(e->cells[2].p.nodes, 10);
    CHECK_INT(e->cells[5].repeat, 2);
    CHECK(strcmp(e->cells[0].id, e->cells[2].id) != 0);
    CHECK_STR(e->varying[e->nvarying - 1], "repeat");
    /* the first pass keeps the ids it has without repeat */
    struct tk_experiment *one = load_str("name: x\nagents: {nodes: [10, 20]}\n", &err);
    CHECK(one != NULL);
    CHECK_STR(one->cells[1].id, e->cells[1].id);
    tk_experiment_free(one);
    tk_experiment_free(e);
}

/* The same parameters in another key order and spelling give the same ids; a changed value
 * gives another. */
TK_TEST(cell_ids_are_stable)
{
    struct tk_err err = {0};
    struct tk_experiment *a =
        load_str("name: a\n"
                 "controlPlane:\n"
                 "  hosts: [{name: cp, cpus: 4, memory: 8Gi}]\n"
                 "  datastore: etcd\n"
                 "agents: {nodes: [100, 200], capacity: {pods: 110, cpu: 32}}\n"
                 "load: {shape: node-density, podsPerNode: 10, qps: 20, timeout: 15m}\n",
                 &err);
    struct tk_experiment *b =
        load_str("load: {timeout: 900s, qps: 20.0, podsPerNode: 10}\n"
                 "agents: {capacity: {cpu: 32000m, pods: 110}, nodes: [100, 200]}\n"
                 "controlPlane:\n"
                 "  datastore: etcd\n"
                 "  hosts: [{memory: 8192Mi, cpus: \"4\", name: cp}]\n"
                 "name: b\n"
                 "description: another name, same cells\n",
                 &err);
    struct tk_experiment *c = load_str("name: c\n"
                                       "controlPlane:\n"
                                       "  hosts: [{name: cp, cpus: 4, memory: 8Gi}]\n"
                                       "agents: {nodes: [100, 200]}\n"
                                       "load: {podsPerNode: 11}\n",
                                       &err);
    CHECK(a && b && c);
    CHECK_INT(a->ncells, 2);
    CHECK_INT(b->ncells, 2);
    for (size_t i = 0; i < 2; i++) {
        CHECK_STR(a->cells[i].id, b->cells[i].id);
        CHECK_STR(a->cells[i].params_json, b->cells[i].params_json);
        CHECK(strcmp(a->cells[i].id, c->cells[i].id) != 0);
    }
    tk_experiment_free(a);
    tk_experiment_free(b);
    tk_experiment_free(c);
}

TK_TEST(ramp_steps)
{
    struct tk_err err = {0};
    struct tk_experiment *e =
        load_str("name: r\n"
                 "controlPlane:\n"
                 "  hosts: [{name: cp, cpus: [2, 4], memory: 8Gi}]\n"
                 "ramp: {field: agents.nodes, from: 100, step: 400, until: 1000}\n",
                 &err);
    CHECK(e != NULL);
    CHECK(e->ramp.on);
    CHECK_INT(e->ramp.steps, 3); /* 100, 500, 900 */
    CHECK_INT(e->ncells, 6);
    static const int64_t nodes[] = {100, 500, 900, 100, 500, 900};
    for (size_t i = 0; i < 6; i++) {
        CHECK_INT(e->cells[i].p.nodes, nodes[i]);
        CHECK_INT(e->cells[i].ramp_group, (int)(i / 3));
        CHECK_INT(e->cells[i].ramp_step, (int)(i % 3));
    }
    tk_experiment_free(e);

    e = load_str("name: r\nramp: {field: load.qps, from: 10, step: 2.5, until: 15}\n", &err);
    CHECK(e != NULL);
    CHECK_INT(e->ncells, 3);
    CHECK_NEAR(e->cells[1].p.qps, 12.5, 0);
    CHECK_INT(e->cells[1].p.burst, 13);
    tk_experiment_free(e);
}

/* The documented model, by hand: bring-up 20 s; nodes 5 + 200/100 = 7 s; load 2000 pods / 40
 * qps = 50 s + startup p99 3 s + 5 s = 58 s; teardown 10 + 2000/200 + 10 = 30 s: 115 s. */
TK_TEST(estimate_model)
{
    struct tk_err err = {0};
    struct tk_experiment *e =
        load_str("name: est\nagents: {nodes: 200}\nload: {podsPerNode: 10, qps: 40}\n", &err);
    CHECK(e != NULL);
    CHECK_NEAR((double)e->cells[0].estimate_ns / 1e9, 115, 1e-6);
    CHECK_INT(e->estimate_ns, e->cells[0].estimate_ns);
    tk_experiment_free(e);

    /* 3 etcd members (+10 s) and churn: 2 cycles x (2 x 100 churned / 40 + 30 s delay) = 70 s;
     * the load phase is capped by the timeout: min(58 + 70, 60) */
    e = load_str("name: est\ncontrolPlane: {etcdMembers: 3}\nagents: {nodes: 200}\n"
                 "load: {podsPerNode: 10, qps: 40, churn: {cycles: 2, percent: 5}, timeout: 1m}\n",
                 &err);
    CHECK(e != NULL);
    CHECK_NEAR((double)e->cells[0].estimate_ns / 1e9, 30 + 7 + 60 + 30, 1e-6);
    CHECK_INT(e->cells[0].p.churn_mode, TK_EXP_CHURN_OBJECTS);
    tk_experiment_free(e);
    char s[32];
    tk_plan_format_estimate(115 * 1000000000LL, s, sizeof(s));
    CHECK_STR(s, "1m55s");
    tk_plan_format_estimate(3725 * 1000000000LL, s, sizeof(s));
    CHECK_STR(s, "1h02m");
}

/* The sweep's wait for a cell's pods, by hand: 200 nodes x 10 pods = 2,000 pods, 60 + 2000/50
 * = 100 s, + the default 1-s termination delay. agents.args can lengthen it: a uniform delay
 * adds its top, --qps 3 requests per pod over each agent's limiter (200 nodes, 100 per agent:
 * 2 agents, 1,000 pods each, at 20/s: 150 s), a lognormal delay the 30-s grace period. */
TK_TEST(drain_bound)
{
    static const struct {
        const char *agents;
        double want_s;
    } cases[] = {
        {"{nodes: 200}", 101},
        {"{nodes: 200, nodesPerAgent: 100,\n"
         "  args: [--termination-delay=uniform:1s-20s, --qps=20]}",
         100 + 20 + 150},
        {"{nodes: 200, args: ['--termination-delay=lognormal:median=5s,p99=2m']}", 100 + 30},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tk_err err = {0};
        char text[256];
        snprintf(text, sizeof(text), "name: d\nagents: %s\nload: {podsPerNode: 10}\n",
                 cases[i].agents);
        struct tk_experiment *e = load_str(text, &err);
        if (!e)
            fprintf(stderr, "  case %zu: %s\n", i, err.msg);
        CHECK(e != NULL);
        if (e)
            CHECK_NEAR((double)tk_exp_drain_ns(&e->cells[0].p) / 1e9, cases[i].want_s, 1e-6);
        tk_experiment_free(e);
    }
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
}

/* Loads text as if it were the file dir/t.yaml. */
static struct tk_experiment *load_in(const char *dir, const char *text, struct tk_err *err)
{
    char name[512];
    struct tk_experiment *e = NULL;
    snprintf(name, sizeof(name), "%s/t.yaml", dir);
    tk_err_clear(err);
    tk_experiment_load_string(&e, name, text, strlen(text), err);
    return e;
}

TK_TEST(kubeconfig_provider)
{
    struct tk_err err = {0};
    char dir[256], kc[320], ca[320], text[1024];
    snprintf(dir, sizeof(dir), "%s", tk_test_tmp_path(""));
    dir[strlen(dir) - 1] = '\0'; /* no trailing slash */
    snprintf(kc, sizeof(kc), "%s/kube.conf", dir);
    snprintf(ca, sizeof(ca), "%s/etcd-ca.crt", dir);
    touch(kc);
    touch(ca);

    /* relative paths resolve against the experiment file's directory */
    struct tk_experiment *e =
        load_in(dir,
                "name: k\ncontrolPlane: {provider: kubeconfig, kubeconfig: kube.conf, "
                "etcdMetrics: 'https://10.0.0.5:2379/metrics', etcdCA: etcd-ca.crt}\n",
                &err);
    if (!e)
        fprintf(stderr, "  %s\n", err.msg);
    CHECK(e != NULL);
    CHECK_INT(e->cells[0].p.provider, TK_EXP_PROVIDER_KUBECONFIG);
    CHECK_STR(e->cells[0].p.kubeconfig, kc);
    CHECK_STR(e->cells[0].p.etcd_metrics, "https://10.0.0.5:2379/metrics");
    CHECK_STR(e->cells[0].p.etcd_ca, ca);
    CHECK(e->cells[0].p.etcd_cert == NULL && e->cells[0].p.etcd_key == NULL);
    CHECK_INT(e->cells[0].p.nhosts, 0);
    CHECK(param(&e->cells[0], "controlPlane.hosts.cp.cpus") == NULL);
    CHECK(param(&e->cells[0], "controlPlane.datastore") == NULL);
    CHECK(param(&e->cells[0], "controlPlane.etcdMembers") == NULL);
    CHECK(param(&e->cells[0], "controlPlane.kubernetesVersion") == NULL);
    CHECK_STR(param(&e->cells[0], "controlPlane.kubeconfig"), kc);
    CHECK_STR(param(&e->cells[0], "controlPlane.etcdCA"), ca);
    CHECK(param(&e->cells[0], "controlPlane.etcdKey") == NULL); /* not given: absent */
    /* no bring-up in the estimate */
    CHECK_NEAR((double)e->cells[0].estimate_ns / 1e9, 6 + (1000 / 20.0 + 3 + 5) + (10 + 5 + 10),
               1e-6);
    tk_experiment_free(e);

    /* ~/ is $HOME's; without a kubeconfig the run uses $KUBECONFIG */
    char *home = getenv("HOME") ? tk_xstrdup(getenv("HOME")) : NULL;
    setenv("HOME", dir, 1);
    e = load_in("/nonexistent",
                "name: k\ncontrolPlane: {provider: kubeconfig, kubeconfig: ~/kube.conf}\n", &err);
    CHECK(e != NULL);
    if (e)
        CHECK_STR(e->cells[0].p.kubeconfig, kc);
    tk_experiment_free(e);
    if (home)
        setenv("HOME", home, 1);
    free(home);
    e = load_in(dir, "name: k\ncontrolPlane: {provider: kubeconfig}\n", &err);
    CHECK(e != NULL);
    if (e)
        CHECK(e->cells[0].p.kubeconfig == NULL);
    tk_experiment_free(e);

    /* what only the local provider can build is refused, each key by name */
    static const char *const local_only[] = {"kubernetesVersion: v1.36.3",
                                             "datastore: kine-sqlite",
                                             "etcdMembers: 3",
                                             "hosts: [{name: cp, cpus: 2, memory: 4Gi}]",
                                             "placement: {etcd: cp}",
                                             "latency: 2ms",
                                             "apiserverArgs: [--max-requests-inflight=800]"};
    for (size_t i = 0; i < sizeof(local_only) / sizeof(local_only[0]); i++) {
        char key[32];
        snprintf(key, sizeof(key), "%.*s", (int)strcspn(local_only[i], ":"), local_only[i]);
        snprintf(text, sizeof(text),
                 "name: k\ncontrolPlane: {provider: kubeconfig, kubeconfig: kube.conf, %s}\n",
                 local_only[i]);
        e = load_in(dir, text, &err);
        CHECK(e == NULL);
        char want[128];
        snprintf(want, sizeof(want), "controlPlane.%s does not apply to provider kubeconfig", key);
        CHECK_CONTAINS(err.msg, want);
        tk_experiment_free(e);
    }
    /* ... and the kubeconfig provider's keys on a local control plane */
    static const char *const remote_only[] = {
        "kubeconfig", "bootstrapKubeconfig", "etcdMetrics", "etcdCA", "etcdCert", "etcdKey"};
    for (size_t i = 0; i < sizeof(remote_only) / sizeof(remote_only[0]); i++) {
        snprintf(text, sizeof(text), "name: k\ncontrolPlane: {%s: 'http://x/metrics'}\n",
                 remote_only[i]);
        e = load_in(dir, text, &err);
        CHECK(e == NULL);
        char want[128];
        snprintf(want, sizeof(want), "controlPlane.%s applies to provider kubeconfig only",
                 remote_only[i]);
        CHECK_CONTAINS(err.msg, want);
        tk_experiment_free(e);
    }
    /* fidelity kubelet: node identities by TLS bootstrap, with bootstrapKubeconfig only */
    char bs[320];
    snprintf(bs, sizeof(bs), "%s/bootstrap.conf", dir);
    touch(bs);
    e = load_in(dir,
                "name: k\ncontrolPlane: {provider: kubeconfig, kubeconfig: kube.conf, "
                "bootstrapKubeconfig: bootstrap.conf}\nagents: {fidelity: kubelet}\n",
                &err);
    if (!e)
        fprintf(stderr, "  %s\n", err.msg);
    CHECK(e != NULL);
    int64_t with_csrs = 0;
    if (e) {
        CHECK_STR(e->cells[0].p.bootstrap_kubeconfig, bs);
        CHECK_STR(param(&e->cells[0], "controlPlane.bootstrapKubeconfig"), bs);
        with_csrs = e->cells[0].estimate_ns;
    }
    tk_experiment_free(e);
    e = load_in(dir, "name: k\ncontrolPlane: {provider: kubeconfig, kubeconfig: kube.conf}\n",
                &err);
    CHECK(e && param(&e->cells[0], "controlPlane.bootstrapKubeconfig") == NULL);
    /* a CSR per node: 100 nodes at 10/s, not 100/s */
    if (e)
        CHECK_NEAR((double)(with_csrs - e->cells[0].estimate_ns) / 1e9, 100 / 10.0 - 100 / 100.0,
                   1e-6);
    tk_experiment_free(e);
    static const struct {
        const char *yaml, *want;
    } bscases[] = {
        {"name: k\ncontrolPlane: {provider: kubeconfig, kubeconfig: kube.conf}\n"
         "agents: {fidelity: kubelet}\n",
         "3:20: agents.fidelity kubelet against provider kubeconfig needs "
         "controlPlane.bootstrapKubeconfig"},
        {"name: k\ncontrolPlane: {provider: kubeconfig, kubeconfig: kube.conf, "
         "bootstrapKubeconfig: bootstrap.conf}\n",
         "2:82: controlPlane.bootstrapKubeconfig gives node identities to agents.fidelity "
         "kubelet; this cell's agents are lite"},
        {"name: k\ncontrolPlane: {provider: kubeconfig, kubeconfig: kube.conf, "
         "bootstrapKubeconfig: nope.conf}\nagents: {fidelity: kubelet}\n",
         "controlPlane.bootstrapKubeconfig: cannot read"},
    };
    for (size_t i = 0; i < sizeof(bscases) / sizeof(bscases[0]); i++) {
        e = load_in(dir, bscases[i].yaml, &err);
        CHECK(e == NULL);
        CHECK_CONTAINS(err.msg, bscases[i].want);
        tk_experiment_free(e);
    }
    /* a mixed matrix: the local alternative keeps its sizes, the kubeconfig one has none */
    e = load_in(dir,
                "name: k\ncontrolPlane:\n  - {hosts: [{name: cp, cpus: 4, memory: 8Gi}]}\n"
                "  - {provider: kubeconfig, kubeconfig: kube.conf}\n",
                &err);
    CHECK(e != NULL);
    if (e) {
        CHECK_INT(e->ncells, 2);
        CHECK_STR(param(&e->cells[0], "controlPlane.hosts.cp.cpus"), "4");
        CHECK(param(&e->cells[1], "controlPlane.hosts.cp.cpus") == NULL);
    }
    tk_experiment_free(e);
}

TK_TEST(custom_shape_resolves_and_hashes_its_config)
{
    char path[512];
    struct tk_experiment *e = NULL;
    struct tk_err err = {0};
    snprintf(path, sizeof(path), "%s/experiments/good/custom.yaml", data_dir());
    if (tk_experiment_load(&e, path, &err))
        fprintf(stderr, "  %s\n", err.msg);
    CHECK(e != NULL);
    const struct tk_cell_params *p = &e->cells[0].p;
    CHECK_INT(p->shape, TK_EXP_CUSTOM);
    CHECK_CONTAINS(p->config_path, "/experiments/good/custom-kube-burner.yml");
    CHECK_INT(strlen(p->config_sha), 12);
    CHECK_STR(param(&e->cells[0], "load.configSha256"), p->config_sha);
    CHECK(param(&e->cells[0], "load.qps") == NULL);
    tk_experiment_free(e);
}

TK_TEST(plan_output)
{
    struct tk_err err = {0};
    struct tk_experiment *e =
        load_str("name: p\ndescription: two sizes\nagents: {nodes: [100, 200]}\n", &err);
    CHECK(e != NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK_INT(tk_plan_print(e, TK_PLAN_TABLE, f), 0);
    fclose(f);
    CHECK_CONTAINS(buf, "experiment p (t.yaml): 2 cells, estimated");
    CHECK_CONTAINS(buf, "two sizes");
    CHECK_CONTAINS(buf, e->cells[1].id);
    CHECK_CONTAINS(buf, "agents.nodes");
    CHECK_CONTAINS(buf, "same in every cell:");
    CHECK_CONTAINS(buf, "load.shape");
    free(buf);
    f = open_memstream(&buf, &len);
    CHECK_INT(tk_plan_print(e, TK_PLAN_JSON, f), 0);
    fclose(f);
    CHECK_CONTAINS(buf, "\"varying\":\t[\"agents.nodes\"]");
    CHECK_CONTAINS(buf, "\"pods\":\t2000");
    CHECK_CONTAINS(buf, "\"podsPerNode\":\t10");
    free(buf);
    tk_experiment_free(e);
}

TK_TEST(syntax_errors_name_the_file)
{
    struct tk_err err = {0};
    struct tk_experiment *e = load_str("name: [\n", &err);
    CHECK(e == NULL);
    CHECK_INT(err.code, TK_EINVAL);
    CHECK_CONTAINS(err.msg, "t.yaml:");
    tk_err_clear(&err);
    CHECK_INT(tk_experiment_load(&e, "/nonexistent/x.yaml", &err), TK_EIO);
    CHECK_CONTAINS(err.msg, "cannot read '/nonexistent/x.yaml'");
}

TK_TEST_MAIN(bad_files_fail_with_their_message, shipped_experiments_load, start_grid_field,
             agent_args_field, quickstart_is_one_short_cell, defaults, default_version_is_pinned,
             scalar_lists_expand_in_file_order, map_sections_as_alternatives,
             hosts_and_placement_alternatives, exclude_rules, repeat_passes, cell_ids_are_stable,
             ramp_steps, estimate_model, drain_bound, kubeconfig_provider,
             custom_shape_resolves_and_hashes_its_config, plan_output, syntax_errors_name_the_file)
