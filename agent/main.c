/* turbokube-agent: one process, thousands of fake kubelet nodes (see agent.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "config.h"
#include "duration.h"
#include "httpd.h"
#include "kubelet.h"
#include "log.h"
#include "loop.h"

struct app {
    struct tk_loop *loop;
    struct tk_agent *agent;
    struct tk_httpd *metrics;
    struct tk_kubelet *kubelet;
    int signals;
};

static void on_stopped(void *ud)
{
    struct app *app = ud;
    tk_loop_stop(app->loop);
}

static void on_signal(int signo, void *ud)
{
    struct app *app = ud;
    if (signo == SIGHUP)
        return;
    if (++app->signals > 1) {
        tk_warn("second signal, stopping now", "signal=%d", signo);
        tk_loop_stop(app->loop);
        return;
    }
    tk_info("stopping", "signal=%d", signo);
    tk_agent_shutdown(app->agent, on_stopped, app);
}

static void on_fatal(void *ud)
{
    struct app *app = ud;
    tk_agent_shutdown(app->agent, on_stopped, app);
}

static int serve_metrics(const struct tk_httpd_req *req, struct tk_httpd_resp *resp, void *ud)
{
    struct app *app = ud;
    if (strcmp(req->path, "/metrics") == 0) {
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        tk_agent_metrics(app->agent, &resp->body);
        return 200;
    }
    if (strcmp(req->path, "/healthz") == 0) {
        tk_buf_puts(&resp->body, "ok");
        return 200;
    }
    tk_buf_puts(&resp->body, "not found\n");
    return 404;
}

int main(int argc, char **argv)
{
    struct tk_agent_config cfg;
    struct tk_err err = {0};
    struct app app;
    int rc, status = 1;

    memset(&app, 0, sizeof(app));
    tk_agent_config_init(&cfg);
    rc = tk_agent_config_parse_args(&cfg, argc, argv, stdout, &err);
    if (rc == TK_AGENT_CONFIG_HELP) {
        tk_agent_config_release(&cfg);
        return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
    }
    if (rc) {
        fprintf(stderr, "turbokube-agent: %s\n", err.msg);
        tk_agent_config_release(&cfg);
        return rc == TK_EINVAL ? 2 : 1;
    }
    tk_log_threshold = cfg.log_level;
    if (!(app.loop = tk_loop_new(&err)))
        goto out;
    tk_loop_on_signal(app.loop, on_signal, &app);
    if (tk_agent_new(&app.agent, app.loop, &cfg, NULL, &err) || tk_agent_connect(app.agent, &err))
        goto out;
    if (cfg.metrics_addr) {
        if (!(app.metrics =
                  tk_httpd_new(app.loop, cfg.metrics_addr, NULL, serve_metrics, &app, &err)))
            goto out;
        tk_info("metrics listening", "addr=%s", cfg.metrics_addr);
    }
    if (cfg.kubelet_addr) {
        if (!(app.kubelet = tk_kubelet_new(app.loop, app.agent, &err)))
            goto out;
    }
    tk_agent_on_fatal(app.agent, on_fatal, &app);
    tk_agent_begin(app.agent);
    char grid[TK_DURATION_MAX] = "off";
    if (cfg.start_grid_ns)
        tk_duration_format(cfg.start_grid_ns, grid, sizeof(grid));
    tk_info("agent started",
            "nodes=%lld prefix=%s first=%lld fidelity=%s start_grid=%s api_transport=%s",
            (long long)cfg.nodes, cfg.name_prefix, (long long)cfg.index_start,
            cfg.fidelity == TK_FIDELITY_KUBELET ? "kubelet" : "lite", grid,
            tk_agent_api_transport_name(cfg.api_transport));
    if (tk_loop_run(app.loop)) {
        tk_err_set(&err, TK_EIO, "event loop failed");
        goto out;
    }
    if (tk_agent_error(app.agent)) {
        err = *tk_agent_error(app.agent);
        goto out;
    }
    status = 0;
out:
    if (err.code)
        fprintf(stderr, "turbokube-agent: %s\n", err.msg);
    tk_kubelet_free(app.kubelet);
    tk_httpd_free(app.metrics);
    tk_agent_free(app.agent);
    tk_loop_free(app.loop);
    tk_agent_config_release(&cfg);
    return status;
}
