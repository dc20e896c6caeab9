/* Integration: the real apiserver of a local cluster through lib/kubeconfig and lib/kube,
 * with TLS verified against the cluster CA. Usage: int_test_cluster_api ADMIN_KUBECONFIG.
 * Driven by test_cluster.sh, which brings the cluster up and down. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube.h"
#include "kubeconfig.h"
#include "loop.h"
#include "tktest.h"

static const char *kc_path;

static struct tk_kube *client(struct tk_loop *loop, const struct tk_kubeconfig *kc,
                              const char *ca_override)
{
    struct tk_kube_opts o = {
        .server = kc->server,
        .ca_pem = ca_override ? ca_override : kc->ca_pem,
        .client_cert_pem = kc->client_cert_pem,
        .client_key_pem = kc->client_key_pem,
        .token = kc->token,
        .user_agent = "turbokube-it",
    };
    struct tk_err err = {0};
    struct tk_kube *k = tk_kube_new(loop, &o, &err);
    if (!k)
        fprintf(stderr, "tk_kube_new: %s\n", err.msg);
    return k;
}

TK_TEST(version_readyz_namespace)
{
    struct tk_err err = {0};
    struct tk_kubeconfig *kc = NULL;
    struct tk_loop *loop = tk_loop_new(&err);
    long status = 0;
    char *body = NULL, ns[64], path[128], nsbody[256];

    CHECK(loop);
    CHECK_INT(tk_kubeconfig_load(&kc, kc_path, NULL, &err), 0);
    struct tk_kube *k = client(loop, kc, NULL);
    CHECK(k);

    CHECK_INT(tk_kube_request_sync(k, "GET", "/version", NULL, NULL, &status, &body, 10000, &err),
              0);
    CHECK_INT(status, 200);
    CHECK_CONTAINS(body, "\"gitVersion\": \"v1.");
    free(body);
    body = NULL;

    CHECK_INT(tk_kube_request_sync(k, "GET", "/readyz", NULL, NULL, &status, &body, 10000, &err),
              0);
    CHECK_INT(status, 200);
    CHECK_STR(body, "ok");
    free(body);
    body = NULL;

    snprintf(ns, sizeof(ns), "tk-it-%d", (int)getpid());
    snprintf(nsbody, sizeof(nsbody),
             "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}", ns);
    CHECK_INT(tk_kube_request_sync(k, "POST", "/api/v1/namespaces", nsbody, "application/json",
                                   &status, &body, 10000, &err),
              0);
    CHECK_INT(status, 201);
    free(body);
    body = NULL;

    CHECK_INT(tk_kube_request_sync(k, "GET", "/api/v1/namespaces", NULL, NULL, &status, &body,
                                   10000, &err),
              0);
    CHECK_INT(status, 200);
    char want[96];
    snprintf(want, sizeof(want), "\"name\":\"%s\"", ns);
    CHECK_CONTAINS(body, want);
    free(body);
    body = NULL;

    snprintf(path, sizeof(path), "/api/v1/namespaces/%s", ns);
    CHECK_INT(tk_kube_request_sync(k, "DELETE", path, NULL, NULL, &status, &body, 10000, &err), 0);
    CHECK_INT(status, 200);
    free(body);
    tk_kube_free(k);
    tk_kubeconfig_free(kc);
    tk_loop_free(loop);
}

/* The same server with a CA that did not sign it: the TLS handshake must fail. */
TK_TEST(wrong_ca_is_refused)
{
    struct tk_err err = {0};
    struct tk_kubeconfig *kc = NULL;
    struct tk_loop *loop = tk_loop_new(&err);
    long status = 0;
    char *body = NULL;
    char *ca = NULL;

    CHECK_INT(tk_kubeconfig_load(&kc, kc_path, NULL, &err), 0);
    /* A real, valid CA of its own, so the check is about trust, not a malformed PEM. */
    char tmpl[] = "/tmp/tk-it-ca.XXXXXX";
    CHECK(mkdtemp(tmpl));
    char cmd[256];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
             "-subj /CN=other -keyout %s/k -out %s/c 2>/dev/null",
             tmpl, tmpl);
    CHECK_INT(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s/c", tmpl);
    FILE *f = fopen(cmd, "r");
    CHECK(f);
    ca = calloc(1, 8192);
    size_t n = fread(ca, 1, 8191, f);
    fclose(f);
    CHECK(n > 0 && strstr(ca, "BEGIN CERTIFICATE"));
    struct tk_kube *k = client(loop, kc, ca);
    CHECK(k);
    int rc = tk_kube_request_sync(k, "GET", "/version", NULL, NULL, &status, &body, 10000, &err);
    CHECK(rc != 0);
    CHECK(status != 200);
    fprintf(stderr, "  (refused as expected: %s)\n", err.msg);
    free(body);
    free(ca);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
    CHECK_INT(system(cmd), 0);
    tk_kube_free(k);
    tk_kubeconfig_free(kc);
    tk_loop_free(loop);
}

int main(int argc, char **argv)
{
    tk_test_fn fns[] = {version_readyz_namespace, wrong_ca_is_refused};
    const char *names[] = {"version_readyz_namespace", "wrong_ca_is_refused"};
    if (argc != 2) {
        fprintf(stderr, "usage: %s ADMIN_KUBECONFIG\n", argv[0]);
        return 2;
    }
    kc_path = argv[1];
    return tk_test_run(names, fns, 2);
}
