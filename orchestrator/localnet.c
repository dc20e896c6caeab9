#include "localnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "buf.h"
#include "kube.h"

int tk_localnet_netem(char *why, size_t n)
{
    FILE *p = popen("unshare --net tc qdisc add dev lo root netem delay 1ms 2>&1", "r");
    char line[256] = "";
    int st;

    if (!p) {
        snprintf(why, n, "cannot run unshare and tc");
        return 0;
    }
    if (!fgets(line, sizeof(line), p))
        line[0] = '\0';
    while (fgetc(p) != EOF)
        ;
    st = pclose(p);
    if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 1;
    line[strcspn(line, "\n")] = '\0';
    snprintf(why, n, "%s", line[0] ? line : "unshare --net tc qdisc add ... netem failed");
    return 0;
}

static int post(struct tk_kube *k, const char *path, const char *body, struct tk_err *err)
{
    long status = 0;
    char *answer = NULL;
    int rc = tk_kube_request_sync(k, "POST", path, body, "application/json", &status, &answer, 5000,
                                  err);
    if (!rc && status != 200 && status != 201)
        rc = tk_err_set(err, TK_EHTTP, "toxiproxy POST %s: %ld %.120s", path, status,
                        answer ? answer : "");
    free(answer);
    return rc;
}

int tk_localnet_proxy(struct tk_loop *loop, int api_port, const char *name, int listen,
                      int upstream, int latency_ms, struct tk_err *err)
{
    char server[64], path[96], body[256];
    struct tk_kube *k;
    int rc, up = latency_ms / 2;

    snprintf(server, sizeof(server), "http://127.0.0.1:%d", api_port);
    struct tk_kube_opts o = {.server = server, .user_agent = "turbokube", .max_retries = -1};
    if (!(k = tk_kube_new(loop, &o, err)))
        return err->code;
    snprintf(body, sizeof(body),
             "{\"name\":\"%s\",\"listen\":\"127.0.0.1:%d\",\"upstream\":\"127.0.0.1:%d\","
             "\"enabled\":true}",
             name, listen, upstream);
    rc = post(k, "/proxies", body, err);
    snprintf(path, sizeof(path), "/proxies/%s/toxics", name);
    for (int dir = 0; dir < 2 && !rc; dir++) {
        snprintf(body, sizeof(body),
                 "{\"name\":\"latency-%s\",\"type\":\"latency\",\"stream\":\"%s\","
                 "\"toxicity\":1.0,\"attributes\":{\"latency\":%d,\"jitter\":0}}",
                 dir ? "downstream" : "upstream", dir ? "downstream" : "upstream",
                 dir ? latency_ms - up : up);
        rc = post(k, path, body, err);
    }
    tk_kube_free(k);
    if (rc)
        tk_err_prefix(err, "proxy %s", name);
    return rc;
}
