/* Integration: the real apiserver of a local cluster through lib/kubeconfig and lib/kube,
 * with TLS verified against the cluster CA, over libcurl and over lib/h2 (TurboKube's own HTTP/2
 * client: flow control both ways, the server's stream limit, watches as streams, cancels).
 * Usage: int_test_cluster_api ADMIN_KUBECONFIG. Driven by test_cluster.sh, which brings the
 * cluster up and down. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "kube.h"
#include "kubeconfig.h"
#include "log.h"
#include "loop.h"
#include "tktest.h"

static const char *kc_path;
static int g_transport = TK_KUBE_TRANSPORT_CURL; /* the *_h2 variants rerun tests over lib/h2 */

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
        .transport = g_transport,
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

    snprintf(ns, sizeof(ns), "tk-it-%d-%d", (int)getpid(), g_transport);
    snprintf(nsbody, sizeof(nsbody),
             "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}", ns);
    int rc = tk_kube_request_sync(k, "POST", "/api/v1/namespaces", nsbody, "application/json",
                                  &status, &body, 10000, &err);
    if (rc)
        fprintf(stderr, "  POST namespace: %s\n", err.msg);
    CHECK_INT(rc, 0);
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

#define H2_VARIANT(name)                                                                           \
    static void name##_h2(void)                                                                    \
    {                                                                                              \
        g_transport = TK_KUBE_TRANSPORT_H2;                                                        \
        name();                                                                                    \
        g_transport = TK_KUBE_TRANSPORT_CURL;                                                      \
    }
H2_VARIANT(version_readyz_namespace)
H2_VARIANT(wrong_ca_is_refused)

static struct tk_kube *h2_client(struct tk_loop *loop, struct tk_kubeconfig **kc)
{
    struct tk_err err = {0};
    if (tk_kubeconfig_load(kc, kc_path, NULL, &err)) {
        fprintf(stderr, "kubeconfig: %s\n", err.msg);
        return NULL;
    }
    g_transport = TK_KUBE_TRANSPORT_H2;
    struct tk_kube *k = client(loop, *kc, NULL);
    g_transport = TK_KUBE_TRANSPORT_CURL;
    return k;
}

static char *big_configmap(const char *name, size_t bytes)
{
    char *v = malloc(bytes + 1);
    for (size_t i = 0; i < bytes; i++)
        v[i] = (char)('a' + i % 26);
    v[bytes] = '\0';
    char *body = tk_xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":"
                              "{\"name\":\"%s\"},\"data\":{\"v\":\"%s\"}}",
                              name, v);
    free(v);
    return body;
}

/* Bodies beyond every window: a 900 KiB POST needs the apiserver's WINDOW_UPDATEs (it grants
 * 256 KiB per stream), a 2.7 MB LIST needs ours (1 MiB per stream). */
static void h2_flow_control_both_ways(void)
{
    struct tk_err err = {0};
    struct tk_kubeconfig *kc = NULL;
    struct tk_loop *loop = tk_loop_new(&err);
    struct tk_kube *k = h2_client(loop, &kc);
    long status = 0;
    char *body = NULL, ns[64], path[160], nsbody[256];

    CHECK(k);
    snprintf(ns, sizeof(ns), "tk-it-h2-%d", (int)getpid());
    snprintf(nsbody, sizeof(nsbody),
             "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}", ns);
    CHECK_INT(tk_kube_request_sync(k, "POST", "/api/v1/namespaces", nsbody, "application/json",
                                   &status, &body, 10000, &err),
              0);
    CHECK_INT(status, 201);
    free(body);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps", ns);
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof(name), "big-%d", i);
        char *cm = big_configmap(name, 900 << 10);
        body = NULL;
        CHECK_INT(tk_kube_request_sync(k, "POST", path, cm, "application/json", &status, &body,
                                       30000, &err),
                  0);
        CHECK_INT(status, 201);
        CHECK(body && strlen(body) > (900u << 10)); /* the object comes back whole */
        free(cm);
        free(body);
    }
    body = NULL;
    CHECK_INT(tk_kube_request_sync(k, "GET", path, NULL, NULL, &status, &body, 30000, &err), 0);
    CHECK_INT(status, 200);
    cJSON *list = cJSON_Parse(body);
    CHECK(list);
    /* the three, beside the namespace's kube-root-ca.crt, each whole */
    int big = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(list, "items"))
    {
        const char *n =
            cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(it, "metadata"), "name"));
        cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(it, "data"), "v");
        if (n && !strncmp(n, "big-", 4) && cJSON_IsString(v) &&
            strlen(v->valuestring) == (900u << 10) &&
            v->valuestring[(900 << 10) - 1] == (char)('a' + ((900 << 10) - 1) % 26))
            big++;
    }
    CHECK_INT(big, 3);
    cJSON_Delete(list);
    free(body);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s", ns);
    body = NULL;
    CHECK_INT(tk_kube_request_sync(k, "DELETE", path, NULL, NULL, &status, &body, 10000, &err), 0);
    free(body);
    tk_kube_free(k);
    tk_kubeconfig_free(kc);
    tk_loop_free(loop);
}

struct many {
    int done, ok;
};

static void many_done(const struct tk_kube_resp *resp, void *ud)
{
    struct many *m = ud;
    m->done++;
    m->ok += resp->status == 200 && strstr(resp->body, "gitVersion") != NULL;
}

static int many_finished(void *ud)
{
    return ((struct many *)ud)->done == 300;
}

/* 300 requests at once on one connection: the apiserver allows 100 streams (its
 * --http2-max-streams-per-connection default); the rest wait their turn and every one succeeds. */
static void h2_more_requests_than_streams(void)
{
    struct tk_err err = {0};
    struct tk_kubeconfig *kc = NULL;
    struct tk_loop *loop = tk_loop_new(&err);
    struct tk_kube *k = h2_client(loop, &kc);
    struct many m = {0, 0};

    CHECK(k);
    for (int i = 0; i < 300; i++)
        CHECK(tk_kube_request(k, "GET", "/version", NULL, NULL, 0, many_done, &m));
    tk_loop_run_until(loop, many_finished, &m, tk_now_ns() + 60 * (int64_t)1000000000);
    CHECK_INT(m.done, 300);
    CHECK_INT(m.ok, 300);
    tk_kube_free(k);
    tk_kubeconfig_free(kc);
    tk_loop_free(loop);
}

struct wctx {
    int synced, added, stopped_seen;
    char name[64];
};

static void w_event(enum tk_watch_type type, cJSON *obj, void *ud)
{
    struct wctx *w = ud;
    const char *n =
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"), "name"));
    if (type == TK_WATCH_ADDED && n && !strcmp(n, w->name))
        w->added++;
}

static void w_sync(void *ud)
{
    ((struct wctx *)ud)->synced++;
}

static int w_synced(void *ud)
{
    return ((struct wctx *)ud)->synced > 0;
}

static int w_added(void *ud)
{
    return ((struct wctx *)ud)->added > 0;
}

/* A watch is a stream: its events arrive while other requests share the connection, and
 * stopping it (RST_STREAM) leaves the connection serving. */
static void h2_watch_stream_and_cancel(void)
{
    struct tk_err err = {0};
    struct tk_kubeconfig *kc = NULL;
    struct tk_loop *loop = tk_loop_new(&err);
    struct tk_kube *k = h2_client(loop, &kc);
    struct wctx w;
    long status = 0;
    char *body = NULL, cm[256];

    CHECK(k);
    memset(&w, 0, sizeof(w));
    snprintf(w.name, sizeof(w.name), "tk-h2-watch-%d", (int)getpid());
    struct tk_watch_opts o = {.path = "/api/v1/namespaces/default/configmaps"};
    struct tk_kube_watch *wt = tk_kube_watch_start(k, &o, w_event, w_sync, &w, &err);
    CHECK(wt);
    tk_loop_run_until(loop, w_synced, &w, tk_now_ns() + 20 * (int64_t)1000000000);
    CHECK_INT(w.synced, 1);
    snprintf(cm, sizeof(cm),
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\"}}",
             w.name);
    CHECK_INT(tk_kube_request_sync(k, "POST", "/api/v1/namespaces/default/configmaps", cm,
                                   "application/json", &status, &body, 10000, &err),
              0);
    CHECK_INT(status, 201);
    free(body);
    tk_loop_run_until(loop, w_added, &w, tk_now_ns() + 20 * (int64_t)1000000000);
    CHECK_INT(w.added, 1);
    tk_kube_watch_stop(wt);
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/configmaps/%s", w.name);
    body = NULL;
    CHECK_INT(tk_kube_request_sync(k, "DELETE", path, NULL, NULL, &status, &body, 10000, &err), 0);
    CHECK_INT(status, 200);
    free(body);
    struct tk_kube_stats st;
    tk_kube_get_stats(k, &st);
    CHECK_INT((long)st.responses[0], 0); /* no attempt lost its connection */
    tk_kube_free(k);
    tk_kubeconfig_free(kc);
    tk_loop_free(loop);
}

int main(int argc, char **argv)
{
    tk_test_fn fns[] = {version_readyz_namespace,    wrong_ca_is_refused,
                        version_readyz_namespace_h2, wrong_ca_is_refused_h2,
                        h2_flow_control_both_ways,   h2_more_requests_than_streams,
                        h2_watch_stream_and_cancel};
    const char *names[] = {"version_readyz_namespace",    "wrong_ca_is_refused",
                           "version_readyz_namespace_h2", "wrong_ca_is_refused_h2",
                           "h2_flow_control_both_ways",   "h2_more_requests_than_streams",
                           "h2_watch_stream_and_cancel"};
    if (argc != 2) {
        fprintf(stderr, "usage: %s ADMIN_KUBECONFIG\n", argv[0]);
        return 2;
    }
    kc_path = argv[1];
    return tk_test_run(names, fns, (int)(sizeof(fns) / sizeof(fns[0])));
}
