/* The kubelet endpoint: handlers on an agent fed by hand, then the HTTPS server on loopback
 * with a CA made here, a serving certificate minted for the address, and client certificates
 * required. */
#include "agent.h"
#include "config.h"
#include "httpd.h"
#include "kubelet.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "loop.h"
#include "pki.h"
#include "tktest.h"

static struct tk_kube_req *no_request(void *ud, struct tk_kube *kube, const char *method,
                                      const char *path, const char *body, const char *content_type,
                                      int flags, tk_kube_done_fn cb, void *cb_ud)
{
    static char dummy;
    (void)ud, (void)kube, (void)method, (void)path, (void)body, (void)content_type, (void)flags,
        (void)cb, (void)cb_ud;
    return (struct tk_kube_req *)&dummy;
}

static void no_cancel(void *ud, struct tk_kube_req *req)
{
    (void)ud, (void)req;
}

static cJSON *load_json(const char *name)
{
    char path[512];
    const char *dir = tk_test_data_dir();
    snprintf(path, sizeof(path), "%s/agent/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return cJSON_Parse(buf);
}

struct env {
    struct tk_loop *loop;
    struct tk_agent_config cfg;
    struct tk_agent *agent;
};

static int env_up(struct env *e)
{
    struct tk_err err = {0};
    struct tk_agent_io io = {no_request, no_cancel, NULL};
    e->loop = tk_loop_new(&err);
    if (!e->loop)
        return -1;
    tk_agent_config_init(&e->cfg);
    tk_agent_config_set(&e->cfg, "nodes", "3", &err);
    tk_agent_config_set(&e->cfg, "startup-latency", "1h", &err);
    tk_agent_config_set(&e->cfg, "capacity", "memory=8Gi", &err);
    if (tk_agent_config_validate(&e->cfg, &err))
        return -1;
    if (tk_agent_new(&e->agent, e->loop, &e->cfg, &io, &err))
        return -1;
    cJSON *pod = load_json("pod-deploy.json"); /* on tk-node-00001, containers web + sidecar */
    if (!pod)
        return -1;
    tk_agent_pod_event(e->agent, TK_WATCH_ADDED, pod, 0);
    cJSON_Delete(pod);
    return 0;
}

static void env_down(struct env *e)
{
    tk_agent_free(e->agent);
    tk_agent_config_release(&e->cfg);
    tk_loop_free(e->loop);
}

static int get(struct env *e, uint32_t ip, const char *path, const char *query,
               struct tk_httpd_resp *r)
{
    struct tk_httpd_req req = {"GET", path, query, ip, 0, NULL};
    memset(r, 0, sizeof(*r));
    tk_buf_init(&r->body, 0);
    return tk_kubelet_handle(e->agent, &req, r);
}

#define NODE1_IP ((10u << 24) | (200u << 16) | 2u) /* 10.200.0.2 */

TK_TEST(kubelet_log_lines_deterministic)
{
    char a[512], b[512], c[512];
    tk_kubelet_log_line(a, sizeof(a), "ns", "p", "c", 7, 1767323045000000000LL, 0);
    tk_kubelet_log_line(b, sizeof(b), "ns", "p", "c", 7, 1767323045000000000LL, 0);
    tk_kubelet_log_line(c, sizeof(c), "ns", "p", "c", 8, 1767323045000000000LL, 0);
    CHECK_STR(a, b);
    CHECK(strcmp(a, c) != 0);
    CHECK_CONTAINS(a, "turbokube fake log ns/p/c line=7 ");
    CHECK(a[strlen(a) - 1] == '\n');
    tk_kubelet_log_line(a, sizeof(a), "ns", "p", "c", 7, 1767323045000000000LL, 1);
    CHECK(!strncmp(a, "2026-01-02T03:04:12.000000Z turbokube fake log", 46));
}

TK_TEST(kubelet_handlers)
{
    struct env e;
    struct tk_httpd_resp r;
    CHECK_INT(env_up(&e), 0);

    CHECK_INT(get(&e, NODE1_IP, "/healthz", "", &r), 200);
    CHECK_STR(r.body.data, "ok");
    tk_buf_release(&r.body);

    CHECK_INT(get(&e, NODE1_IP, "/pods", "", &r), 200);
    cJSON *o = cJSON_Parse(r.body.data);
    CHECK(o != NULL);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "items")), 1);
    CHECK_STR(
        cJSON_GetStringValue(cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "items"), 0), "metadata"),
            "name")),
        "web-7d4b9c8f6-x2x9q");
    cJSON_Delete(o);
    tk_buf_release(&r.body);

    /* another node's address: its own (empty) pod list */
    CHECK_INT(get(&e, NODE1_IP + 1, "/pods", "", &r), 200);
    CHECK_CONTAINS(r.body.data, "\"items\":[]");
    tk_buf_release(&r.body);
    CHECK_INT(get(&e, 0x7f000001, "/pods", "", &r), 404); /* not a node */
    tk_buf_release(&r.body);

    CHECK_INT(
        get(&e, NODE1_IP, "/containerLogs/density/web-7d4b9c8f6-x2x9q/web", "tailLines=1", &r),
        200);
    CHECK_CONTAINS(r.body.data, "turbokube fake log density/web-7d4b9c8f6-x2x9q/web line=");
    CHECK_INT(strchr(r.body.data, '\n') - r.body.data + 1, (long)r.body.len); /* one line */
    tk_buf_release(&r.body);
    CHECK_INT(
        get(&e, NODE1_IP, "/containerLogs/density/web-7d4b9c8f6-x2x9q/web", "tailLines=0", &r),
        200);
    CHECK_INT(r.body.len, 0);
    tk_buf_release(&r.body);
    CHECK_INT(get(&e, NODE1_IP, "/containerLogs/density/web-7d4b9c8f6-x2x9q/nope", "", &r), 404);
    tk_buf_release(&r.body);
    CHECK_INT(get(&e, NODE1_IP, "/containerLogs/density/ghost/web", "", &r), 404);
    tk_buf_release(&r.body);
    CHECK_INT(get(&e, NODE1_IP, "/containerLogs/density", "", &r), 400);
    tk_buf_release(&r.body);
    CHECK_INT(
        get(&e, NODE1_IP, "/containerLogs/density/web-7d4b9c8f6-x2x9q/web", "tailLines=x", &r),
        400);
    tk_buf_release(&r.body);
    /* follow: a stream whose callback appends the lines that come due */
    CHECK_INT(get(&e, NODE1_IP, "/containerLogs/density/web-7d4b9c8f6-x2x9q/web",
                  "follow=true&tailLines=2", &r),
              200);
    CHECK(r.stream.fn != NULL);
    {
        struct tk_buf more;
        tk_buf_init(&more, 0);
        CHECK_INT(r.stream.fn(&more, r.stream.ud), 0); /* the pod is still there */
        tk_buf_release(&more);
        r.stream.free_fn(r.stream.ud);
    }
    tk_buf_release(&r.body);

    /* starting pods have no usage yet; the summary is still well-formed */
    CHECK_INT(get(&e, NODE1_IP, "/stats/summary", "", &r), 200);
    o = cJSON_Parse(r.body.data);
    CHECK(o != NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "node"), "nodeName")),
              "tk-node-00001");
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "node"), "memory"),
                              "workingSetBytes") != NULL);
    cJSON_Delete(o);
    tk_buf_release(&r.body);
    CHECK_INT(get(&e, NODE1_IP, "/metrics/resource", "", &r), 200);
    CHECK_CONTAINS(r.body.data, "node_cpu_usage_seconds_total ");
    CHECK_CONTAINS(r.body.data, "scrape_error 0");
    tk_buf_release(&r.body);
    CHECK_INT(get(&e, NODE1_IP, "/exec/x", "", &r), 404);
    tk_buf_release(&r.body);
    env_down(&e);
}

/* ---- over HTTPS ---- */

struct fetch {
    struct tk_xfer x;
    struct tk_buf body;
    long status;
    CURLcode rc;
    int done;
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    struct fetch *f = ud;
    tk_buf_append(&f->body, p, sz * n);
    return sz * n;
}

static void on_done(struct tk_xfer *x, CURLcode result, void *ud)
{
    struct fetch *f = ud;
    f->rc = result;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &f->status);
    f->done = 1;
}

static int fetch_done(void *ud)
{
    return ((struct fetch *)ud)->done;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *s = calloc(1, 65536);
    if (f) {
        size_t n = fread(s, 1, 65535, f);
        s[n] = '\0';
        fclose(f);
    }
    return s;
}

/* GET url with the given client certificate (NULL: none), verifying the server with ca. */
static void https_get(struct tk_loop *loop, const char *url, const char *ca, const char *cert,
                      const char *key, struct fetch *f)
{
    struct curl_blob cab = {0}, certb = {0}, keyb = {0};
    char *ca_pem = slurp(ca), *cert_pem = cert ? slurp(cert) : NULL,
         *key_pem = key ? slurp(key) : NULL;
    memset(f, 0, sizeof(*f));
    tk_buf_init(&f->body, 0);
    f->x.easy = curl_easy_init();
    f->x.done = on_done;
    f->x.ud = f;
    curl_easy_setopt(f->x.easy, CURLOPT_URL, url);
    cab.data = ca_pem;
    cab.len = strlen(ca_pem);
    curl_easy_setopt(f->x.easy, CURLOPT_CAINFO_BLOB, &cab);
    if (cert_pem) {
        certb.data = cert_pem;
        certb.len = strlen(cert_pem);
        keyb.data = key_pem;
        keyb.len = strlen(key_pem);
        curl_easy_setopt(f->x.easy, CURLOPT_SSLCERT_BLOB, &certb);
        curl_easy_setopt(f->x.easy, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(f->x.easy, CURLOPT_SSLKEY_BLOB, &keyb);
        curl_easy_setopt(f->x.easy, CURLOPT_SSLKEYTYPE, "PEM");
    }
    curl_easy_setopt(f->x.easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(f->x.easy, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(f->x.easy, CURLOPT_TIMEOUT_MS, 5000L);
    tk_loop_xfer_add(loop, &f->x, NULL);
    tk_loop_run_until(loop, fetch_done, f, tk_now_ns() + 6000000000LL);
    tk_loop_xfer_remove(loop, &f->x);
    curl_easy_cleanup(f->x.easy);
    free(ca_pem);
    free(cert_pem);
    free(key_pem);
}

TK_TEST(kubelet_https_client_certs)
{
    struct env e;
    struct tk_err err = {0};
    char dir[] = "/tmp/tk-kubelet-test.XXXXXX", url[128], ca[600], cert[600], key[600];
    struct tk_kubelet *k;
    struct fetch f;
    CHECK(mkdtemp(dir) != NULL);
    CHECK_INT(tk_pki_ensure(dir, NULL, &err), 0);
    CHECK_INT(env_up(&e), 0);
    tk_agent_config_set(&e.cfg, "cluster-dir", dir, &err);
    tk_agent_config_set(&e.cfg, "kubelet-addr", "127.0.0.1", &err);
    tk_agent_config_set(&e.cfg, "kubelet-port", "1", &err);
    e.cfg.kubelet_port = 0; /* any free port */
    k = tk_kubelet_new(e.loop, e.agent, &err);
    CHECK(k != NULL);
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    snprintf(cert, sizeof(cert), "%s/apiserver-kubelet-client.crt", dir);
    snprintf(key, sizeof(key), "%s/apiserver-kubelet-client.key", dir);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/healthz", tk_kubelet_port(k));

    /* the apiserver's kubelet client certificate is accepted; the serving certificate minted
     * for 127.0.0.1 verifies against the cluster CA */
    https_get(e.loop, url, ca, cert, key, &f);
    CHECK_INT(f.rc, CURLE_OK);
    CHECK_INT(f.status, 200);
    CHECK_STR(f.body.data, "ok");
    tk_buf_release(&f.body);

    /* no client certificate: the handshake is refused */
    https_get(e.loop, url, ca, NULL, NULL, &f);
    CHECK(f.rc != CURLE_OK || f.status != 200);
    tk_buf_release(&f.body);

    tk_kubelet_free(k);
    env_down(&e);
    {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        CHECK_INT(system(cmd), 0);
    }
}

static int plain_handler(const struct tk_httpd_req *req, struct tk_httpd_resp *resp, void *ud)
{
    (void)ud;
    if (!strcmp(req->path, "/hello")) {
        tk_buf_printf(&resp->body, "hi %s", req->query);
        return 200;
    }
    return 404;
}

TK_TEST(httpd_plain)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct tk_httpd *h;
    struct fetch f;
    char url[128];
    CHECK(loop != NULL);
    h = tk_httpd_new(loop, "127.0.0.1:0", NULL, plain_handler, NULL, &err);
    CHECK(h != NULL);
    for (int i = 0; i < 3; i++) { /* keep-alive: curl reuses the connection */
        memset(&f, 0, sizeof(f));
        tk_buf_init(&f.body, 0);
        f.x.easy = curl_easy_init();
        f.x.done = on_done;
        f.x.ud = &f;
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/%s", tk_httpd_port(h),
                 i == 1 ? "missing" : "hello?x=1");
        curl_easy_setopt(f.x.easy, CURLOPT_URL, url);
        curl_easy_setopt(f.x.easy, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(f.x.easy, CURLOPT_WRITEDATA, &f);
        tk_loop_xfer_add(loop, &f.x, NULL);
        tk_loop_run_until(loop, fetch_done, &f, tk_now_ns() + 5000000000LL);
        tk_loop_xfer_remove(loop, &f.x);
        curl_easy_cleanup(f.x.easy);
        CHECK_INT(f.rc, CURLE_OK);
        CHECK_INT(f.status, i == 1 ? 404 : 200);
        if (i != 1)
            CHECK_STR(f.body.data, "hi x=1");
        tk_buf_release(&f.body);
    }
    CHECK(tk_httpd_new(loop, "127.0.0.1:99999", NULL, plain_handler, NULL, &err) == NULL);
    CHECK_INT(err.code, TK_EINVAL);
    tk_httpd_free(h);
    tk_loop_free(loop);
}

TK_TEST(httpd_query_and_unescape)
{
    char v[64];
    CHECK_INT(tk_httpd_query("follow=true&tailLines=10", "tailLines", v, sizeof(v)), 0);
    CHECK_STR(v, "10");
    CHECK_INT(tk_httpd_query("follow&x=1", "follow", v, sizeof(v)), 0);
    CHECK_STR(v, "");
    CHECK_INT(tk_httpd_query("tail=1", "tailLines", v, sizeof(v)), -1);
    CHECK_INT(tk_httpd_query("a=%2Fb%20c", "a", v, sizeof(v)), 0);
    CHECK_STR(v, "/b c");
    CHECK_INT(tk_httpd_unescape("%zz", 3, v, sizeof(v)), -1);
    CHECK_INT(tk_httpd_unescape("%2", 2, v, sizeof(v)), -1);
    CHECK_INT(tk_httpd_unescape("%00", 3, v, sizeof(v)), -1);
    CHECK_INT(tk_httpd_unescape("abcdef", 6, v, 4), -1);
}

TK_TEST_MAIN(kubelet_log_lines_deterministic, kubelet_handlers, kubelet_https_client_certs,
             httpd_plain, httpd_query_and_unescape)
