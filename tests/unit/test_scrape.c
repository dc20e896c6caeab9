/* Scraping: the computations over two scrapes, and the scraper on a real loop against a
 * loopback HTTP server this test starts (and a port nobody listens on). */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "loop.h"
#include "scrape.h"
#include "store.h"
#include "tktest.h"

TK_TEST(keep_selects_the_series_worth_recording)
{
    CHECK(tk_scrape_keep("apiserver_request_total"));
    CHECK(tk_scrape_keep("process_cpu_seconds_total"));
    CHECK(tk_scrape_keep("etcd_server_leader_changes_seen_total"));
    CHECK(tk_scrape_keep("turbokube_agent_pods"));
    CHECK(tk_scrape_keep("turbokube_agent_api_request_duration_seconds_count"));
    CHECK(!tk_scrape_keep("turbokube_agent_api_request_duration_seconds_bucket"));
    CHECK(!tk_scrape_keep("apiserver_request_duration_seconds_bucket"));
    CHECK(!tk_scrape_keep("apiserver_request_total_extra"));
}

static const char before[] = "# TYPE apiserver_request_total counter\n"
                             "apiserver_request_total{code=\"200\",verb=\"GET\"} 100\n"
                             "apiserver_request_total{code=\"200\",verb=\"LIST\"} 10\n"
                             "apiserver_request_total{code=\"429\",verb=\"POST\"} 5\n"
                             "apiserver_request_total{code=\"500\",verb=\"GET\"} 50\n";
/* GET 200 +20, LIST 200 +5, POST 429 +3, GET 500 reset (50 -> 7: counts 7), POST 201 new +40 */
static const char after[] = "# TYPE apiserver_request_total counter\n"
                            "apiserver_request_total{verb=\"GET\",code=\"200\"} 120\n"
                            "apiserver_request_total{code=\"200\",verb=\"LIST\"} 15\n"
                            "apiserver_request_total{code=\"429\",verb=\"POST\"} 8\n"
                            "apiserver_request_total{code=\"500\",verb=\"GET\"} 7\n"
                            "apiserver_request_total{code=\"201\",verb=\"POST\"} 40\n"
                            "other_total{code=\"200\"} 1000\n";

TK_TEST(counter_delta_groups_increases_by_a_label)
{
    struct tk_scrape_count *c = NULL;
    size_t n = 0;
    struct tk_err err = {0};

    CHECK_INT(tk_scrape_counter_delta(before, strlen(before), after, strlen(after),
                                      "apiserver_request_total", "code", &c, &n, &err),
              0);
    CHECK_INT(n, 4);
    CHECK_STR(c[0].key, "200");
    CHECK_NEAR(c[0].value, 25, 1e-9);
    CHECK_STR(c[1].key, "201");
    CHECK_NEAR(c[1].value, 40, 1e-9);
    CHECK_STR(c[2].key, "429");
    CHECK_NEAR(c[2].value, 3, 1e-9);
    CHECK_STR(c[3].key, "500");
    CHECK_NEAR(c[3].value, 7, 1e-9);
    free(c);

    /* one group; no earlier scrape counts everything */
    CHECK_INT(tk_scrape_counter_delta(NULL, 0, after, strlen(after), "apiserver_request_total",
                                      NULL, &c, &n, &err),
              0);
    CHECK_INT(n, 1);
    CHECK_STR(c[0].key, "");
    CHECK_NEAR(c[0].value, 190, 1e-9);
    free(c);

    /* a family that is not there: no groups */
    CHECK_INT(tk_scrape_counter_delta(before, strlen(before), after, strlen(after), "nope_total",
                                      NULL, &c, &n, &err),
              0);
    CHECK_INT(n, 0);
    free(c);

    const char bad[] = "apiserver_request_total{code=\"200\" 5\n";
    CHECK_INT(tk_scrape_counter_delta(before, strlen(before), bad, strlen(bad),
                                      "apiserver_request_total", "code", &c, &n, &err),
              TK_EINVAL);
    CHECK(c == NULL);
    CHECK_CONTAINS(err.msg, "later scrape");
}

TK_TEST(gauge_sums_and_maxes)
{
    const char t[] = "etcd_mvcc_db_total_size_in_bytes 4096\n"
                     "apiserver_current_inflight_requests{request_kind=\"mutating\"} 3\n"
                     "apiserver_current_inflight_requests{request_kind=\"readOnly\"} 7\n";
    double sum, max;
    struct tk_err err = {0};
    CHECK_INT(
        tk_scrape_gauge(t, strlen(t), "apiserver_current_inflight_requests", &sum, &max, &err), 0);
    CHECK_NEAR(sum, 10, 1e-9);
    CHECK_NEAR(max, 7, 1e-9);
    CHECK_INT(tk_scrape_gauge(t, strlen(t), "etcd_mvcc_db_total_size_in_bytes", &sum, NULL, &err),
              0);
    CHECK_NEAR(sum, 4096, 1e-9);
    CHECK_INT(tk_scrape_gauge(t, strlen(t), "absent", &sum, &max, &err), 0);
    CHECK(isnan(sum) && isnan(max));
}

/* Two series of one family; the summed increases are
 *   le     0.1  0.5   1  +Inf
 *   a        2    6   8    10   (after - before)
 *   b        1    2   2     2   (a reset: after as it is)
 *   sum      3    8  10    12
 * p50: rank 6 in (0.1, 0.5]: 0.1 + 0.4 * (6 - 3) / (8 - 3) = 0.34
 * p90: rank 10.8 falls in +Inf: the le before it, 1; p99 likewise. */
static const char hb[] = "# TYPE etcd_disk_wal_fsync_duration_seconds histogram\n"
                         "etcd_disk_wal_fsync_duration_seconds_bucket{x=\"a\",le=\"0.1\"} 1\n"
                         "etcd_disk_wal_fsync_duration_seconds_bucket{x=\"a\",le=\"0.5\"} 1\n"
                         "etcd_disk_wal_fsync_duration_seconds_bucket{x=\"a\",le=\"1\"} 2\n"
                         "etcd_disk_wal_fsync_duration_seconds_bucket{x=\"a\",le=\"+Inf\"} 2\n"
                         "etcd_disk_wal_fsync_duration_seconds_sum{x=\"a\"} 1\n"
                         "etcd_disk_wal_fsync_duration_seconds_count{x=\"a\"} 2\n"
                         "etcd_disk_wal_fsync_duration_seconds_bucket{x=\"b\",le=\"0.1\"} 50\n"
                         "etcd_disk_wal_fsync_duration_seconds_bucket{x=\"b\",le=\"0.5\"} 50\n"
                         "etcd_disk_wal_fsync_duration_seconds_bucket{x=\"b\",le=\"1\"} 50\n"
                         "etcd_disk_wal_fsync_duration_seconds_bucket{x=\"b\",le=\"+Inf\"} 50\n"
                         "etcd_disk_wal_fsync_duration_seconds_count{x=\"b\"} 50\n";
static const char ha[] = "# TYPE etcd_disk_wal_fsync_duration_seconds histogram\n"
                         "etcd_disk_wal_fsync_duration_seconds_bucket{x=\"a\",le=\"0.1\"} 3\n"
                         "etcd_disk_wal_fsync_duration_seconds_bucket{x=\"a\",le=\"0.5\"} 7\n"
                         "etcd_disk_wal_fsync_duration_seconds_bucket{x=\"a\",le=\"1\"} 10\n"
                         "etcd_disk_wal_fsync_duration_seconds_bucket{x=\"a\",le=\"+Inf\"} 12\n"
                         "etcd_disk_wal_fsync_duration_seconds_sum{x=\"a\"} 5\n"
                         "etcd_disk_wal_fsync_duration_seconds_count{x=\"a\"} 12\n"
                         "etcd_disk_wal_fsync_duration_seconds_bucket{x=\"b\",le=\"0.1\"} 1\n"
                         "etcd_disk_wal_fsync_duration_seconds_bucket{x=\"b\",le=\"0.5\"} 2\n"
                         "etcd_disk_wal_fsync_duration_seconds_bucket{x=\"b\",le=\"1\"} 2\n"
                         "etcd_disk_wal_fsync_duration_seconds_bucket{x=\"b\",le=\"+Inf\"} 2\n"
                         "etcd_disk_wal_fsync_duration_seconds_count{x=\"b\"} 2\n";

TK_TEST(hist_summary_adds_series_up)
{
    struct tk_latency_summary *s = NULL;
    struct tk_err err = {0};

    CHECK_INT(tk_scrape_hist_summary(hb, strlen(hb), ha, strlen(ha),
                                     "etcd_disk_wal_fsync_duration_seconds", &s, &err),
              0);
    CHECK(s != NULL);
    CHECK_STR(s->metric, "etcd_disk_wal_fsync_duration_seconds");
    CHECK_STR(s->verb, "");
    CHECK_NEAR(s->count, 12, 1e-9);
    CHECK_NEAR(s->p50, 0.34, 1e-9);
    CHECK_NEAR(s->p90, 1, 1e-9);
    CHECK_NEAR(s->p99, 1, 1e-9);
    CHECK(isinf(s->max_bucket));
    CHECK_INT(s->reset, 1);
    tk_latency_summaries_free(s, 1);

    /* everything new: a's and b's after values; p50 rank 7 in (0.1, 0.5] of 4 -> 9 */
    CHECK_INT(tk_scrape_hist_summary(NULL, 0, ha, strlen(ha),
                                     "etcd_disk_wal_fsync_duration_seconds", &s, &err),
              0);
    CHECK_NEAR(s->count, 14, 1e-9);
    CHECK_NEAR(s->p50, 0.1 + 0.4 * (7.0 - 4.0) / (9.0 - 4.0), 1e-9);
    CHECK_INT(s->reset, 0);
    tk_latency_summaries_free(s, 1);

    /* nothing observed in between, or no such family: no row */
    CHECK_INT(tk_scrape_hist_summary(ha, strlen(ha), ha, strlen(ha),
                                     "etcd_disk_wal_fsync_duration_seconds", &s, &err),
              0);
    CHECK(s == NULL);
    CHECK_INT(tk_scrape_hist_summary(hb, strlen(hb), ha, strlen(ha), "absent_seconds", &s, &err),
              0);
    CHECK(s == NULL);
}

/* ---- the scraper against a loopback server ---------------------------------------------- */

static atomic_int sc_token_seen; /* the remote target's request carried its token */

struct srv {
    int lfd, port;
    atomic_int stop;
    atomic_int served;
    pthread_t thr;
    const char *body;
    size_t body_len;
};

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        char req[4096];
        size_t got = 0;
        while (got < sizeof(req) - 1) {
            ssize_t r = recv(fd, req + got, sizeof(req) - 1 - got, 0);
            if (r <= 0)
                break;
            got += (size_t)r;
            req[got] = '\0';
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        if (strstr(req, "GET /prefix/metrics ") && strstr(req, "Authorization: Bearer t0ken\r\n"))
            atomic_store(&sc_token_seen, 1);
        char head[256];
        int hl = snprintf(head, sizeof(head),
                          "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                          "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                          s->body_len);
        /* counted before the answer: the client may finish before this thread runs again */
        atomic_fetch_add(&s->served, 1);
        if (send(fd, head, (size_t)hl, MSG_NOSIGNAL) == hl)
            send(fd, s->body, s->body_len, MSG_NOSIGNAL);
        close(fd);
    }
    return NULL;
}

static int listen_loopback(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16) ||
        getsockname(fd, (struct sockaddr *)&a, &al))
        abort();
    *port = ntohs(a.sin_port);
    return fd;
}

struct rounds {
    int n, want;
    size_t targets, failed, kept, up_ok, up_bad, proc;
    int64_t t_ms;
};

static void on_round(void *ud, const struct tk_scrape_round *r)
{
    struct rounds *x = ud;
    x->n++;
    x->targets = r->targets;
    x->failed = r->failed;
    x->t_ms = r->t_ms;
    x->kept = x->up_ok = x->up_bad = x->proc = 0;
    for (size_t i = 0; i < r->nsamples; i++) {
        const struct tk_store_sample *s = &r->samples[i];
        if (strcmp(s->source, "good") == 0 && strcmp(s->metric, "apiserver_request_total") == 0 &&
            strcmp(s->labels, "code=\"200\",verb=\"GET\"") == 0 && s->value == 42)
            x->kept++;
        if (strcmp(s->metric, "node_collector_evictions_total") == 0)
            x->kept += 100; /* not a kept series: must not appear */
        if (strcmp(s->metric, "scrape_up") == 0) {
            if (s->value == 1 && strcmp(s->source, "good") == 0)
                x->up_ok++;
            if (s->value == 0 && strcmp(s->source, "refused") == 0)
                x->up_bad++;
        }
        if (strcmp(s->source, "good") == 0 && strcmp(s->metric, "proc_cpu_seconds") == 0)
            x->proc++;
    }
}

static int rounds_at_least(void *ud)
{
    struct rounds *x = ud;
    return x->n >= x->want;
}

TK_TEST(scraper_rounds_on_the_loop)
{
    /* kube-controller-manager really writes NUL bytes into label values */
    static const char body[] = "# TYPE apiserver_request_total counter\n"
                               "apiserver_request_total{verb=\"GET\",code=\"200\"} 42\n"
                               "# TYPE node_collector_evictions_total counter\n"
                               "node_collector_evictions_total{zone=\"r:\0:zone-a\"} 0\n"
                               "process_cpu_seconds_total 1.5\n";
    struct srv s = {.body = body, .body_len = sizeof(body) - 1};
    struct tk_err err = {0};
    struct rounds x = {0};
    struct tk_loop *loop = NULL;
    struct tk_scraper *sc = NULL;
    char url[64], dead[64];
    int dead_port, dead_fd;

    s.lfd = listen_loopback(&s.port);
    pthread_create(&s.thr, NULL, srv_main, &s);
    /* a port that refuses: bound, never listened on */
    dead_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t al = sizeof(a);
        CHECK_INT(bind(dead_fd, (struct sockaddr *)&a, sizeof(a)), 0);
        getsockname(dead_fd, (struct sockaddr *)&a, &al);
        dead_port = ntohs(a.sin_port);
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", s.port);
    snprintf(dead, sizeof(dead), "http://127.0.0.1:%d/metrics", dead_port);

    loop = tk_loop_new(&err);
    CHECK(loop != NULL);
    struct tk_scraper_opts o = {.loop = loop, .timeout_ms = 3000, .on_round = on_round, .ud = &x};
    sc = tk_scraper_new(&o, &err);
    CHECK(sc != NULL);
    CHECK_INT(tk_scraper_add(sc, "good", url, getpid(), TK_SCRAPE_KEEP_TEXT, &err), 0);
    CHECK_INT(tk_scraper_add(sc, "refused", dead, 0, 0, &err), 0);
    CHECK_INT(tk_scraper_add(sc, "good", url, 0, 0, &err), TK_EINVAL);
    err.code = 0;
    CHECK_INT(tk_scraper_add(sc, "self", NULL, getpid(), 0, &err), 0);

    /* two requests while one round is in flight give exactly two rounds */
    CHECK_INT(tk_scraper_request(sc), 1);
    CHECK_INT(tk_scraper_request(sc), 1);
    x.want = 1;
    CHECK_INT(tk_loop_run_until(loop, rounds_at_least, &x, tk_now_ns() + 10000000000LL), 0);
    x.want = 2; /* nothing more was asked: the loop runs out of work */
    CHECK_INT(tk_loop_run_until(loop, rounds_at_least, &x, tk_now_ns() + 2000000000LL), TK_ESTATE);
    CHECK_INT(x.n, 1);
    CHECK_INT(tk_scraper_rounds(sc), 1);
    CHECK_INT(x.targets, 2);
    CHECK_INT(x.failed, 1);
    CHECK_INT(x.kept, 1);
    CHECK_INT(x.up_ok, 1);
    CHECK_INT(x.up_bad, 1);
    CHECK_INT(x.proc, 1);
    CHECK(x.t_ms > 0);

    size_t len;
    const char *t = tk_scraper_text(sc, "good", &len);
    CHECK(t != NULL);
    CHECK_INT(len, sizeof(body) - 1);
    CHECK_CONTAINS(t, "zone=\"r:?:zone-a\"");
    CHECK(tk_scraper_text(sc, "refused", &len) == NULL);
    CHECK_INT(len, 0);

    struct tk_scrape_usage u;
    CHECK_INT(tk_scraper_usage(sc, "self", &u), 0);
    CHECK_INT(u.seen, 1);
    CHECK(u.rss_bytes > 0);
    CHECK(u.peak_rss_bytes >= u.rss_bytes);
    CHECK_INT(tk_scraper_usage(sc, "refused", &u), 0);
    CHECK_INT(u.seen, 0);
    CHECK_INT(tk_scraper_usage(sc, "nobody", &u), TK_ENOTFOUND);

    /* a second request after the round: a new round */
    CHECK_INT(tk_scraper_request(sc), 2);
    CHECK_INT(tk_loop_run_until(loop, rounds_at_least, &x, tk_now_ns() + 10000000000LL), 0);
    CHECK_INT(x.n, 2);
    CHECK(atomic_load(&s.served) >= 2);

    /* a target with its own connection (a remote apiserver through a kubeconfig's token):
     * the server's path prefix is kept and the token is sent; the others keep theirs */
    char server[64];
    snprintf(server, sizeof(server), "http://127.0.0.1:%d/prefix", s.port);
    struct tk_kube_opts conn = {.server = server, .token = "t0ken"};
    CHECK_INT(tk_scraper_add_conn(sc, "remote", &conn, "/metrics", 0, TK_SCRAPE_KEEP_TEXT, &err),
              0);
    CHECK_INT(tk_scraper_add_conn(sc, "remote", &conn, NULL, 0, 0, &err), TK_EINVAL);
    err.code = 0;
    struct tk_kube_opts none = {0};
    CHECK_INT(tk_scraper_add_conn(sc, "none", &none, NULL, 0, 0, &err), TK_EINVAL);
    err.code = 0;
    sc_token_seen = 0;
    CHECK_INT(tk_scraper_request(sc), 3);
    x.want = 3;
    CHECK_INT(tk_loop_run_until(loop, rounds_at_least, &x, tk_now_ns() + 10000000000LL), 0);
    CHECK(tk_scraper_text(sc, "remote", &len) != NULL);
    CHECK_INT(x.targets, 3);
    CHECK_INT(x.failed, 1);
    CHECK_INT(sc_token_seen, 1);

    tk_scraper_free(sc);
    tk_loop_free(loop);
    close(dead_fd);
    atomic_store(&s.stop, 1);
    pthread_join(s.thr, NULL);
    close(s.lfd);
}

TK_TEST_MAIN(keep_selects_the_series_worth_recording, counter_delta_groups_increases_by_a_label,
             gauge_sums_and_maxes, hist_summary_adds_series_up, scraper_rounds_on_the_loop)
