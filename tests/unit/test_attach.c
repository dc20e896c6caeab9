/* The kubeconfig provider's pure parts: which kubeconfig a cell uses, versions from /version
 * and etcd's metrics, and which namespaces stand in a load's way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "experiment.h"
#include "json.h"
#include "tktest.h"
#include "tktest_tmp.h"

static cJSON *ns(const char *json)
{
    cJSON *j = NULL;
    struct tk_err err = {0};
    tk_json_parse(&j, json, strlen(json), "namespace", &err);
    return j;
}

static int conflict(const char *json, const struct tk_cell_params *p, char *why, size_t n)
{
    cJSON *j = ns(json);
    int r = tk_attach_namespace_conflict(j, p, why, n);
    cJSON_Delete(j);
    return r;
}

TK_TEST(namespaces_in_the_loads_way)
{
    struct tk_cell_params p;
    char why[512] = "";

    memset(&p, 0, sizeof(p));
    p.shape = TK_EXP_NODE_DENSITY;
    CHECK_INT(conflict("{\"metadata\":{\"name\":\"node-density\"}}", &p, why, sizeof(why)), 1);
    CHECK_CONTAINS(why, "namespace node-density exists already");
    CHECK_INT(conflict("{\"metadata\":{\"name\":\"default\"}}", &p, why, sizeof(why)), 0);
    CHECK_INT(conflict("{\"metadata\":{\"name\":\"cluster-density-0\"}}", &p, why, sizeof(why)), 0);
    /* kube-burner's gc deletes every namespace labelled with the job, whoever made it */
    CHECK_INT(conflict("{\"metadata\":{\"name\":\"theirs\",\"labels\":{\"kube-burner.io/job\":"
                       "\"node-density\"}}}",
                       &p, why, sizeof(why)),
              1);
    CHECK_CONTAINS(why, "namespace theirs is labelled kube-burner.io/job=node-density");
    CHECK_INT(conflict("{\"metadata\":{\"name\":\"theirs\",\"labels\":{\"kube-burner.io/job\":"
                       "\"other\"}}}",
                       &p, why, sizeof(why)),
              0);

    p.shape = TK_EXP_CLUSTER_DENSITY;
    p.namespaces = 10;
    CHECK_INT(conflict("{\"metadata\":{\"name\":\"cluster-density-9\"}}", &p, why, sizeof(why)), 1);
    CHECK_CONTAINS(why, "namespace cluster-density-9 exists already");
    CHECK_INT(conflict("{\"metadata\":{\"name\":\"cluster-density-10\"}}", &p, why, sizeof(why)),
              0);
    CHECK_INT(conflict("{\"metadata\":{\"name\":\"cluster-density-\"}}", &p, why, sizeof(why)), 0);
    CHECK_INT(conflict("{\"metadata\":{\"name\":\"cluster-density-x1\"}}", &p, why, sizeof(why)),
              0);
    CHECK_INT(conflict("{\"metadata\":{\"name\":\"node-density\"}}", &p, why, sizeof(why)), 0);

    /* a custom load names its own namespaces */
    p.shape = TK_EXP_CUSTOM;
    CHECK_INT(conflict("{\"metadata\":{\"name\":\"node-density\",\"labels\":{\"kube-burner.io/"
                       "job\":\"node-density\"}}}",
                       &p, why, sizeof(why)),
              0);
    CHECK_INT(tk_attach_namespace_conflict(NULL, &p, why, sizeof(why)), 0);
}

TK_TEST(versions)
{
    char v[64];
    static const char version[] = "{\"major\":\"1\",\"minor\":\"36\",\"gitVersion\":\"v1.36.3\"}";
    tk_attach_parse_version(version, sizeof(version) - 1, v, sizeof(v));
    CHECK_STR(v, "v1.36.3");
    tk_attach_parse_version("{}", 2, v, sizeof(v));
    CHECK_STR(v, "");
    tk_attach_parse_version("not json", 8, v, sizeof(v));
    CHECK_STR(v, "");

    static const char metrics[] = "# HELP etcd_server_version Which version is running.\n"
                                  "# TYPE etcd_server_version gauge\n"
                                  "etcd_server_version{server_version=\"3.6.8\"} 1\n"
                                  "etcd_server_has_leader 1\n";
    tk_attach_etcd_version(metrics, sizeof(metrics) - 1, v, sizeof(v));
    CHECK_STR(v, "3.6.8");
    /* cut inside the value: no version rather than a partial one */
    tk_attach_etcd_version(metrics, strstr(metrics, "3.6") + 2 - metrics, v, sizeof(v));
    CHECK_STR(v, "");
    tk_attach_etcd_version("etcd_server_has_leader 1\n", 25, v, sizeof(v));
    CHECK_STR(v, "");
    tk_attach_etcd_version(NULL, 0, v, sizeof(v));
    CHECK_STR(v, "");
}

TK_TEST(which_kubeconfig)
{
    struct tk_err err = {0};
    char *path = NULL, a[320], b[320];
    char *home = getenv("HOME") ? tk_xstrdup(getenv("HOME")) : NULL;
    char *kc = getenv("KUBECONFIG") ? tk_xstrdup(getenv("KUBECONFIG")) : NULL;

    snprintf(a, sizeof(a), "%s", tk_test_tmp_path("a.conf"));
    FILE *f = fopen(a, "w");
    CHECK(f != NULL);
    fclose(f);
    snprintf(b, sizeof(b), "%s", tk_test_tmp_path(".kube"));
    CHECK_INT(mkdir(b, 0700), 0);
    snprintf(b, sizeof(b), "%s", tk_test_tmp_path(".kube/config"));
    f = fopen(b, "w");
    CHECK(f != NULL);
    fclose(f);

    /* given: as given, made absolute */
    CHECK_INT(tk_attach_kubeconfig_path(a, &path, &err), 0);
    CHECK_STR(path, a);
    free(path);
    /* else the first of $KUBECONFIG */
    char list[700];
    snprintf(list, sizeof(list), "%s:/nonexistent", a);
    setenv("KUBECONFIG", list, 1);
    CHECK_INT(tk_attach_kubeconfig_path(NULL, &path, &err), 0);
    CHECK_STR(path, a);
    free(path);
    setenv("KUBECONFIG", "/nonexistent/kc", 1);
    CHECK_INT(tk_attach_kubeconfig_path("", &path, &err), TK_ENOTFOUND);
    CHECK(path == NULL);
    CHECK_CONTAINS(err.msg, "kubeconfig '/nonexistent/kc' (from $KUBECONFIG)");
    /* else ~/.kube/config */
    unsetenv("KUBECONFIG");
    snprintf(list, sizeof(list), "%s", tk_test_tmp_path(""));
    setenv("HOME", list, 1);
    tk_err_clear(&err);
    CHECK_INT(tk_attach_kubeconfig_path(NULL, &path, &err), 0);
    CHECK_STR(path, b);
    free(path);
    tk_err_clear(&err);
    CHECK_INT(tk_attach_kubeconfig_path("/nonexistent/x", &path, &err), TK_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "kubeconfig '/nonexistent/x': No such file or directory");

    if (home)
        setenv("HOME", home, 1);
    if (kc)
        setenv("KUBECONFIG", kc, 1);
    else
        unsetenv("KUBECONFIG");
    free(home);
    free(kc);
}

TK_TEST_MAIN(namespaces_in_the_loads_way, versions, which_kubeconfig)
