/* lib/kube against a scripted HTTP/1.1 server on 127.0.0.1 that each test starts in a thread
 * and stops (it also stops itself after a minute). The real apiserver is the integration
 * tests' job; this server exists for what a real one cannot be made to do on demand: 429s,
 * 503s, streams cut after two events, 410 ERROR events, oversized events. */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "buf.h"
#include "err.h"
#include "kube.h"
#include "log.h"
#include "loop.h"
#include "pki.h"
#include "tktest.h"

#define MS (int64_t)1000000

/* ---- the scripted server ---- */

enum { KEEP = 0, CLOSE = 1, HOLD = 2 };

struct srv;
/* Runs on the server thread for each request; idx counts requests from 0. Writes the
 * response to fd and says what becomes of the connection. */
typedef int (*srv_handler)(struct srv *s, int fd, int idx, const char *method, const char *target,
                           const char *head);

#define MAXCONN 32
#define MAXLOG 256

struct srv_conn {
    int fd;
    int held;
    struct tk_buf in;
};

struct srv {
    int lfd, port;
    pthread_t thr;
    atomic_int stop;
    pthread_mutex_t mu;
    char *log[MAXLOG]; /* "METHOD target\r\nheaders..." */
    int nlog;
    srv_handler handler;
    void *ud;
    struct srv_conn c[MAXCONN];
};

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void reply(int fd, int status, const char *extra, const char *body)
{
    char *r = tk_xasprintf("HTTP/1.1 %d X\r\nContent-Type: application/json\r\n%sContent-Length: "
                           "%zu\r\n\r\n%s",
                           status, extra ? extra : "", strlen(body), body);
    send_all(fd, r, strlen(r));
    free(r);
}

/* Starts a body delimited by the connection's end (a watch stream); the handler then returns
 * CLOSE (stream over) or HOLD (stream stays open, silent). */
static void stream_start(int fd, const char *events)
{
    const char *h =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
    send_all(fd, h, strlen(h));
    send_all(fd, events, strlen(events));
}

static void conn_close(struct srv_conn *c)
{
    close(c->fd);
    c->fd = -1;
    c->held = 0;
    tk_buf_release(&c->in);
}

/* Handles every complete request in c->in. */
static void serve(struct srv *s, struct srv_conn *c)
{
    for (;;) {
        char *end = c->in.data ? strstr(c->in.data, "\r\n\r\n") : NULL;
        char method[16] = "", target[2048] = "";
        size_t head_len, body_len = 0;
        int idx, rc;

        if (!end)
            return;
        head_len = (size_t)(end - c->in.data) + 4;
        for (char *h = c->in.data; h < end; h = strstr(h, "\r\n") + 2) {
            if (!strncasecmp(h, "content-length:", 15))
                body_len = strtoul(h + 15, NULL, 10);
        }
        if (c->in.len < head_len + body_len)
            return;
        sscanf(c->in.data, "%15s %2047s", method, target);
        pthread_mutex_lock(&s->mu);
        idx = s->nlog;
        if (s->nlog < MAXLOG)
            s->log[s->nlog++] = tk_xstrndup(c->in.data, head_len + body_len);
        pthread_mutex_unlock(&s->mu);
        rc = s->handler(s, c->fd, idx, method, target, c->in.data);
        tk_buf_consume(&c->in, head_len + body_len);
        if (rc == CLOSE) {
            conn_close(c);
            return;
        }
        if (rc == HOLD) {
            c->held = 1;
            return;
        }
    }
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    int64_t deadline = tk_now_ns() + 60000 * MS;

    while (!atomic_load(&s->stop) && tk_now_ns() < deadline) {
        struct pollfd p[MAXCONN + 1];
        int map[MAXCONN + 1], n = 0;
        p[n].fd = s->lfd;
        p[n].events = POLLIN;
        map[n++] = -1;
        for (int i = 0; i < MAXCONN; i++) {
            if (s->c[i].fd >= 0) {
                p[n].fd = s->c[i].fd;
                p[n].events = POLLIN;
                map[n++] = i;
            }
        }
        if (poll(p, (nfds_t)n, 20) <= 0)
            continue;
        for (int k = 0; k < n; k++) {
            if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (map[k] < 0) {
                int fd = accept(s->lfd, NULL, NULL);
                int slot = -1;
                for (int i = 0; i < MAXCONN && fd >= 0; i++)
                    if (s->c[i].fd < 0) {
                        slot = i;
                        break;
                    }
                if (slot < 0) {
                    if (fd >= 0)
                        close(fd);
                    continue;
                }
                s->c[slot].fd = fd;
                tk_buf_init(&s->c[slot].in, 1 << 20);
                continue;
            }
            struct srv_conn *c = &s->c[map[k]];
            char buf[16384];
            ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
            if (r <= 0) {
                conn_close(c);
                continue;
            }
            if (c->held)
                continue;
            tk_buf_append(&c->in, buf, (size_t)r);
            serve(s, c);
        }
    }
    for (int i = 0; i < MAXCONN; i++)
        if (s->c[i].fd >= 0)
            conn_close(&s->c[i]);
    return NULL;
}

static struct srv *srv_start(srv_handler h, void *ud)
{
    struct srv *s = tk_xcalloc(1, sizeof(*s));
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1;

    s->handler = h;
    s->ud = ud;
    for (int i = 0; i < MAXCONN; i++)
        s->c[i].fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) || listen(s->lfd, 64) ||
        getsockname(s->lfd, (struct sockaddr *)&a, &alen))
        abort();
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thr, NULL, srv_main, s);
    return s;
}

static void srv_stop(struct srv *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->thr, NULL);
    close(s->lfd);
    for (int i = 0; i < s->nlog; i++)
        free(s->log[i]);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Requests whose request line and headers contain every one of the needles. */
static int srv_count(struct srv *s, const char *needle)
{
    int n = 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->nlog; i++)
        if (strstr(s->log[i], needle))
            n++;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* A copy of the nth (0-based) request containing needle, or NULL. Caller frees. */
static char *srv_find(struct srv *s, const char *needle, int nth)
{
    char *r = NULL;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->nlog && !r; i++)
        if (strstr(s->log[i], needle) && nth-- == 0)
            r = tk_xstrdup(s->log[i]);
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* ---- client-side helpers ---- */

/* The transport every client of a test uses: the kube_h1_* variants rerun tests over lib/h1. */
static int g_transport = TK_KUBE_TRANSPORT_CURL;

static struct tk_kube *client(struct tk_loop *loop, struct srv *s, double qps, int burst)
{
    struct tk_err err = {0};
    char url[64];
    struct tk_kube_opts o;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", s->port);
    memset(&o, 0, sizeof(o));
    o.server = url;
    o.qps = qps;
    o.burst = burst;
    o.token = "s3cret-token";
    o.user_agent = "tk-test/1";
    o.transport = g_transport;
    return tk_kube_new(loop, &o, &err);
}

/* The loop only wakes for its own events; a ticker lets run_until see server-side state. */
static void tick(struct tk_timer *t, void *ud)
{
    tk_timer_start(ud, t, tk_now_ns() + 10 * MS);
}

struct cond {
    struct srv *s;
    const char *needle;
    int count;
};

static int seen_enough(void *ud)
{
    struct cond *c = ud;
    return srv_count(c->s, c->needle) >= c->count;
}

/* Runs the loop until the server has seen count requests containing needle (or 10 s). */
static int wait_requests(struct tk_loop *loop, struct srv *s, const char *needle, int count)
{
    struct tk_timer t;
    struct cond c = {s, needle, count};
    int rc;

    tk_timer_init(&t, tick, loop);
    tk_timer_start(loop, &t, 0);
    rc = tk_loop_run_until(loop, seen_enough, &c, tk_now_ns() + 10000 * MS);
    tk_timer_stop(loop, &t);
    return rc;
}

static const char *STATUS_409 =
    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
    "\"message\":\"nodes \\\"tk-1\\\" already exists\",\"reason\":\"AlreadyExists\","
    "\"details\":{\"name\":\"tk-1\",\"kind\":\"nodes\"},\"code\":409}";

/* ---- requests and retries ---- */

static int h_429_then_ok(struct srv *s, int fd, int idx, const char *m, const char *t,
                         const char *head)
{
    (void)s, (void)m, (void)t, (void)head;
    if (idx == 0)
        reply(fd, 429, "Retry-After: 1\r\n",
              "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\",\"code\":429}");
    else
        reply(fd, 200, NULL, "{\"kind\":\"Node\",\"metadata\":{\"name\":\"tk-1\"}}");
    return KEEP;
}

TK_TEST(kube_retry_after_429)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(h_429_then_ok, NULL);
    struct tk_kube *k = client(loop, s, 0, 0);
    long status = 0;
    char *body = NULL;
    int64_t t0 = tk_now_ns();

    CHECK(k != NULL);
    CHECK_INT(tk_kube_request_sync(k, "GET", "/api/v1/nodes/tk-1", NULL, NULL, &status, &body,
                                   10000, &err),
              0);
    int64_t took = tk_now_ns() - t0;
    CHECK_INT(status, 200);
    CHECK_CONTAINS(body, "\"tk-1\"");
    CHECK_INT(srv_count(s, "GET /api/v1/nodes/tk-1 "), 2);
    CHECK(took >= 1000 * MS); /* Retry-After: 1 honoured */
    CHECK(took < 2500 * MS);
    /* what every request carries */
    char *req = srv_find(s, "GET /api/v1/nodes/tk-1", 1);
    CHECK_CONTAINS(req, "Authorization: Bearer s3cret-token");
    CHECK_CONTAINS(req, "Accept: application/json");
    CHECK_CONTAINS(req, "User-Agent: tk-test/1");
    free(req);
    free(body);
    tk_kube_free(k);
    srv_stop(s);
    tk_loop_free(loop);
}

struct scripted {
    int n;
    int status[8];
    const char *extra[8];
    const char *body[8];
};

static int h_scripted(struct srv *s, int fd, int idx, const char *m, const char *t,
                      const char *head)
{
    struct scripted *sc = s->ud;
    (void)m, (void)t, (void)head;
    int i = idx < sc->n ? idx : sc->n - 1;
    reply(fd, sc->status[i], sc->extra[i], sc->body[i]);
    return KEEP;
}

struct result {
    int done;
    long status;
    int attempts;
    struct tk_err err;
    char body[256];
};

static void on_result(const struct tk_kube_resp *resp, void *ud)
{
    struct result *r = ud;
    r->done++;
    r->status = resp->status;
    r->attempts = resp->attempts;
    r->err = resp->err;
    snprintf(r->body, sizeof(r->body), "%s", resp->body);
}

static int result_done(void *ud)
{
    return ((struct result *)ud)->done > 0;
}

static int run_request(struct tk_kube *k, struct tk_loop *loop, const char *method,
                       const char *path, const char *body, int flags, struct result *r)
{
    memset(r, 0, sizeof(*r));
    tk_kube_request(k, method, path, body, NULL, flags, on_result, r);
    return tk_loop_run_until(loop, result_done, r, tk_now_ns() + 10000 * MS);
}

TK_TEST(kube_retry_503_get_not_post)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct scripted sc = {2, {503, 200}, {NULL, NULL}, {"{}", "{\"ok\":true}"}};
    struct srv *s = srv_start(h_scripted, &sc);
    struct tk_kube *k = client(loop, s, 0, 0);
    struct result r;

    CHECK(k != NULL);
    /* GET: 503 then 200, one retry after a ~200 ms backoff */
    CHECK_INT(run_request(k, loop, "GET", "/api/v1/pods", NULL, 0, &r), 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(r.attempts, 2);
    CHECK_INT(r.err.code, 0);
    CHECK_STR(r.body, "{\"ok\":true}");
    CHECK_INT(srv_count(s, "GET /api/v1/pods "), 2);
    srv_stop(s);

    /* POST on a plain 5xx is never retried: the apiserver may have done it */
    struct scripted sc2 = {
        2,
        {500, 200},
        {NULL, NULL},
        {"{\"kind\":\"Status\",\"reason\":\"InternalError\",\"message\":\"boom\"}", "{}"}};
    s = srv_start(h_scripted, &sc2);
    tk_kube_free(k);
    k = client(loop, s, 0, 0);
    CHECK_INT(run_request(k, loop, "POST", "/api/v1/nodes", "{\"kind\":\"Node\"}", 0, &r), 0);
    CHECK_INT(r.status, 500);
    CHECK_INT(r.attempts, 1);
    CHECK_INT(r.err.code, TK_EHTTP);
    CHECK_STR(r.err.msg, "POST /api/v1/nodes: 500 InternalError: boom");
    char *req = srv_find(s, "POST /api/v1/nodes", 0);
    CHECK_CONTAINS(req, "Content-Type: application/json");
    CHECK_CONTAINS(req, "\r\n\r\n{\"kind\":\"Node\"}");
    free(req);
    srv_stop(s);

    /* POST on 503 with Retry-After is throttling: retried */
    struct scripted sc3 = {2, {503, 201}, {"Retry-After: 0\r\n", NULL}, {"{}", "{}"}};
    s = srv_start(h_scripted, &sc3);
    tk_kube_free(k);
    k = client(loop, s, 0, 0);
    CHECK_INT(run_request(k, loop, "POST", "/api/v1/nodes", "{}", 0, &r), 0);
    CHECK_INT(r.status, 201);
    CHECK_INT(r.attempts, 2);
    srv_stop(s);

    /* TK_KUBE_NO_RETRY; and a Status body becomes the message */
    struct scripted sc4 = {2, {409, 503}, {NULL, NULL}, {STATUS_409, "{}"}};
    s = srv_start(h_scripted, &sc4);
    tk_kube_free(k);
    k = client(loop, s, 0, 0);
    CHECK_INT(run_request(k, loop, "POST", "/api/v1/nodes", "{}", 0, &r), 0);
    CHECK_INT(r.status, 409);
    CHECK_INT(r.err.code, TK_EHTTP);
    CHECK_STR(r.err.msg, "POST /api/v1/nodes: 409 AlreadyExists: nodes \"tk-1\" already exists");
    CHECK_INT(run_request(k, loop, "GET", "/api/v1/nodes/tk-1", NULL, TK_KUBE_NO_RETRY, &r), 0);
    CHECK_INT(r.status, 503);
    CHECK_INT(r.attempts, 1);
    CHECK_INT(srv_count(s, "GET /api/v1/nodes/tk-1"), 1);
    tk_kube_free(k);
    srv_stop(s);
    tk_loop_free(loop);
}

TK_TEST(kube_transport_error_retried)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char url[64];
    struct tk_kube_opts o;
    struct result r;

    /* a port nobody listens on */
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_INT(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    CHECK_INT(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(a.sin_port));
    memset(&o, 0, sizeof(o));
    o.server = url;
    o.max_retries = 2;
    o.transport = g_transport;
    struct tk_kube *k = tk_kube_new(loop, &o, &err);
    CHECK(k != NULL);
    CHECK_INT(run_request(k, loop, "GET", "/healthz", NULL, 0, &r), 0);
    CHECK_INT(r.status, 0);
    CHECK_INT(r.attempts, 3);
    CHECK_INT(r.err.code, TK_ENET);
    CHECK_CONTAINS(r.err.msg, "GET /healthz: ");
    struct tk_kube_stats st;
    tk_kube_get_stats(k, &st);
    CHECK_INT(st.requests, 3);
    CHECK_INT(st.retries, 2);
    CHECK_INT(st.responses[0], 3);
    tk_kube_free(k);
    tk_loop_free(loop);
}

TK_TEST(kube_new_validates)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct tk_kube_opts o;

    memset(&o, 0, sizeof(o));
    CHECK(tk_kube_new(loop, &o, &err) == NULL);
    CHECK_INT(err.code, TK_EINVAL);
    tk_err_clear(&err);
    o.server = "127.0.0.1:6443";
    CHECK(tk_kube_new(loop, &o, &err) == NULL);
    CHECK_INT(err.code, TK_EINVAL);
    tk_err_clear(&err);
    o.server = "ftp://127.0.0.1";
    CHECK(tk_kube_new(loop, &o, &err) == NULL);
    CHECK_CONTAINS(err.msg, "scheme");
    tk_err_clear(&err);
    o.server = "https://127.0.0.1:6443";
    o.client_cert_pem = "-----BEGIN CERTIFICATE-----\n";
    CHECK(tk_kube_new(loop, &o, &err) == NULL);
    CHECK_CONTAINS(err.msg, "key");
    tk_loop_free(loop);
}

TK_TEST(kube_server_split)
{
    struct tk_err err = {0};
    struct tk_kube_server sv;

    CHECK_INT(tk_kube_server_split("https://10.0.0.1:6443/prefix/", &sv, &err), 0);
    CHECK_INT(sv.tls, 1);
    CHECK_STR(sv.scheme, "https");
    CHECK_STR(sv.host, "10.0.0.1");
    CHECK_STR(sv.port, "6443");
    CHECK_STR(sv.path, "/prefix"); /* no trailing '/' */
    tk_kube_server_release(&sv);
    CHECK_INT(tk_kube_server_split("HTTP://api.example", &sv, &err), 0);
    CHECK_INT(sv.tls, 0);
    CHECK_STR(sv.scheme, "http");
    CHECK_STR(sv.port, "80"); /* the scheme's default */
    CHECK_STR(sv.path, "");
    tk_kube_server_release(&sv);
    CHECK_INT(tk_kube_server_split("ftp://10.0.0.1", &sv, &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "scheme");
    CHECK(sv.host == NULL);
    tk_err_clear(&err);
    CHECK_INT(tk_kube_server_split("https://", &sv, &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "not a URL");
    CHECK(sv.host == NULL);
}

/* ---- QPS limiter and priority ---- */

static int h_ok(struct srv *s, int fd, int idx, const char *m, const char *t, const char *head)
{
    (void)s, (void)idx, (void)m, (void)t, (void)head;
    reply(fd, 200, NULL, "{}");
    return KEEP;
}

struct many {
    int done;
    int64_t last_ns;
    int order[32];
};

struct one {
    struct many *m;
    int id;
};

static void on_many(const struct tk_kube_resp *resp, void *ud)
{
    struct one *o = ud;
    (void)resp;
    o->m->order[o->m->done++] = o->id;
    o->m->last_ns = tk_now_ns();
}

struct many_wait {
    struct many m;
    int want;
};

static int many_done(void *ud)
{
    struct many_wait *w = ud;
    return w->m.done >= w->want;
}

TK_TEST(kube_qps_limiter_spreads)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(h_ok, NULL);
    struct tk_kube *k = client(loop, s, 10, 1);
    struct many_wait w;
    struct one ids[20];
    int64_t t0 = tk_now_ns();

    memset(&w, 0, sizeof(w));
    w.want = 20;
    for (int i = 0; i < 20; i++) {
        ids[i].m = &w.m;
        ids[i].id = i;
        CHECK(tk_kube_request(k, "GET", "/api/v1/nodes", NULL, NULL, 0, on_many, &ids[i]));
    }
    struct tk_kube_stats st;
    tk_kube_get_stats(k, &st);
    CHECK_INT(st.queued, 19); /* one token: one request left at once */
    CHECK_INT(tk_loop_run_until(loop, many_done, &w, tk_now_ns() + 10000 * MS), 0);
    int64_t spread = w.m.last_ns - t0;
    CHECK(spread >= 1850 * MS); /* 19 waits of 100 ms */
    CHECK(spread < 3500 * MS);
    for (int i = 0; i < 20; i++)
        CHECK_INT(w.m.order[i], i); /* FIFO */
    tk_kube_free(k);
    srv_stop(s);
    tk_loop_free(loop);
}

TK_TEST(kube_priority_overtakes_queue)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(h_ok, NULL);
    struct tk_kube *k = client(loop, s, 10, 1);
    struct many_wait w;
    struct one ids[11];

    memset(&w, 0, sizeof(w));
    w.want = 11;
    for (int i = 0; i < 11; i++) {
        ids[i].m = &w.m;
        ids[i].id = i;
        tk_kube_request(k, "PUT", i == 10 ? "/apis/coordination.k8s.io/v1/leases/x" : "/api/v1/x",
                        "{}", NULL, i == 10 ? TK_KUBE_PRIORITY : 0, on_many, &ids[i]);
    }
    CHECK_INT(tk_loop_run_until(loop, many_done, &w, tk_now_ns() + 10000 * MS), 0);
    /* request 0 took the only token; the lease (id 10) got the next one, ahead of 1..9 */
    CHECK_INT(w.m.order[0], 0);
    CHECK_INT(w.m.order[1], 10);
    CHECK_INT(w.m.order[2], 1);
    CHECK_INT(w.m.order[10], 9);
    tk_kube_free(k);
    srv_stop(s);
    tk_loop_free(loop);
}

TK_TEST(kube_verbose_redacts_token)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(h_ok, NULL);
    struct tk_kube_opts o;
    char url[64];
    FILE *tmp = tmpfile();
    int saved = dup(2);
    enum tk_log_level old = tk_log_threshold;
    char log[65536];
    size_t n;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", s->port);
    memset(&o, 0, sizeof(o));
    o.server = url;
    o.token = "s3cret-token";
    o.verbose = 1;
    struct tk_kube *k = tk_kube_new(loop, &o, &err);
    CHECK(k != NULL && tmp != NULL);
    fflush(stderr);
    dup2(fileno(tmp), 2);
    tk_log_threshold = TK_LOG_DEBUG;
    int rc = tk_kube_request_sync(k, "GET", "/api/v1/nodes", NULL, NULL, NULL, NULL, 5000, &err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    tk_log_threshold = old;
    CHECK_INT(rc, 0);
    rewind(tmp);
    n = fread(log, 1, sizeof(log) - 1, tmp);
    log[n] = '\0';
    fclose(tmp);
    CHECK_CONTAINS(log, "line=\"GET /api/v1/nodes HTTP/1.1\"");
    CHECK_CONTAINS(log, "line=\"Authorization: [redacted]\"");
    CHECK(strstr(log, "s3cret-token") == NULL);
    char *sent = srv_find(s, "GET /api/v1/nodes", 0);
    CHECK_CONTAINS(sent, "s3cret-token"); /* it was sent, only not logged */
    free(sent);
    tk_kube_free(k);
    srv_stop(s);
    tk_loop_free(loop);
}

/* ---- cancellation and freeing ---- */

static int h_hold(struct srv *s, int fd, int idx, const char *m, const char *t, const char *head)
{
    (void)s, (void)fd, (void)idx, (void)m, (void)t, (void)head;
    return HOLD;
}

static void must_not_run(const struct tk_kube_resp *resp, void *ud)
{
    (void)resp;
    (*(int *)ud)++;
}

struct freer {
    struct tk_kube *k;
    int calls;
};

static void free_from_callback(const struct tk_kube_resp *resp, void *ud)
{
    struct freer *f = ud;
    (void)resp;
    f->calls++;
    tk_kube_free(f->k);
}

static int freer_done(void *ud)
{
    return ((struct freer *)ud)->calls > 0;
}

TK_TEST(kube_cancel_and_free)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(h_hold, NULL);
    struct tk_kube *k = client(loop, s, 0, 0);
    int calls = 0;

    /* in flight, then cancelled: never called back */
    struct tk_kube_req *r = tk_kube_request(k, "GET", "/held", NULL, NULL, 0, must_not_run, &calls);
    CHECK_INT(wait_requests(loop, s, "GET /held", 1), 0);
    tk_kube_cancel(r);
    /* the transfer is taken out of libcurl on the next pass */
    CHECK_INT(tk_loop_run_until(loop, NULL, NULL, tk_now_ns() + 100 * MS), TK_ESTATE);
    CHECK_INT(tk_loop_xfer_count(loop), 0);
    /* freeing with requests in flight calls none of them */
    tk_kube_request(k, "GET", "/held2", NULL, NULL, 0, must_not_run, &calls);
    tk_kube_request(k, "GET", "/held3", NULL, NULL, 0, must_not_run, &calls);
    CHECK_INT(wait_requests(loop, s, "GET /held", 3), 0);
    tk_kube_free(k);
    CHECK_INT(tk_loop_xfer_count(loop), 0);
    CHECK_INT(calls, 0);
    srv_stop(s);

    /* tk_kube_free from inside a callback, with another request queued behind the limiter */
    s = srv_start(h_ok, NULL);
    struct freer f = {client(loop, s, 10, 1), 0};
    tk_kube_request(f.k, "GET", "/a", NULL, NULL, 0, free_from_callback, &f);
    tk_kube_request(f.k, "GET", "/b", NULL, NULL, 0, must_not_run, &calls);
    CHECK_INT(tk_loop_run_until(loop, freer_done, &f, tk_now_ns() + 5000 * MS), 0);
    /* the reaper releases the client on the next pass; nothing else may run */
    CHECK_INT(tk_loop_run_until(loop, NULL, NULL, tk_now_ns() + 300 * MS), TK_ESTATE);
    CHECK_INT(f.calls, 1);
    CHECK_INT(calls, 0);
    CHECK_INT(tk_loop_xfer_count(loop), 0);
    srv_stop(s);
    tk_loop_free(loop);
}

/* ---- watches ---- */

#define POD(name, rv)                                                                              \
    "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"" name                       \
    "\",\"namespace\":\"default\",\"resourceVersion\":\"" rv "\"},\"spec\":{\"nodeName\":\"tk-"    \
    "node-1\"}}"
#define EVENT(type, obj) "{\"type\":\"" type "\",\"object\":" obj "}\n"

struct wrec {
    char *ev[64];
    int n;
    int syncs;
    struct tk_kube *patch_with; /* if set, a MODIFIED event issues a PATCH from the callback */
    struct result *patch_result;
};

static void on_wevent(enum tk_watch_type type, cJSON *obj, void *ud)
{
    struct wrec *w = ud;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
    if (w->n < 64)
        w->ev[w->n++] = tk_xasprintf(
            "%s %s %s", tk_watch_type_name(type), cJSON_IsString(name) ? name->valuestring : "-",
            tk_watch_resource_version(obj) ? tk_watch_resource_version(obj) : "-");
    /* this runs inside libcurl's write callback: the request must still go out */
    if (type == TK_WATCH_MODIFIED && w->patch_with)
        tk_kube_request(w->patch_with, "PATCH", "/api/v1/namespaces/default/pods/a/status",
                        "{\"status\":{\"phase\":\"Running\"}}",
                        "application/strategic-merge-patch+json", 0, on_result, w->patch_result);
}

static void on_wsync(void *ud)
{
    struct wrec *w = ud;
    w->syncs++;
    if (w->n < 64)
        w->ev[w->n++] = tk_xstrdup("SYNC");
}

static void wrec_free(struct wrec *w)
{
    for (int i = 0; i < w->n; i++)
        free(w->ev[i]);
}

/* LIST in two pages, then three streams: two events and close; a bookmark and close; hold. */
static int h_resume(struct srv *s, int fd, int idx, const char *m, const char *t, const char *head)
{
    (void)s, (void)idx, (void)head;
    if (!strcmp(m, "PATCH")) {
        reply(fd, 200, NULL, "{\"kind\":\"Pod\"}");
        return KEEP;
    }
    if (strstr(t, "limit=500") && !strstr(t, "continue=")) {
        reply(fd, 200, NULL,
              "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":"
              "\"100\",\"continue\":\"tok/1+=\"},\"items\":[" POD("a", "90") "]}");
        return KEEP;
    }
    if (strstr(t, "limit=500")) {
        reply(fd, 200, NULL,
              "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":"
              "\"100\"},\"items\":[" POD("b", "95") "]}");
        return KEEP;
    }
    if (strstr(t, "resourceVersion=100&")) {
        stream_start(fd, EVENT("ADDED", POD("c", "101")) EVENT("MODIFIED", POD("a", "102")));
        return CLOSE;
    }
    if (strstr(t, "resourceVersion=102&")) {
        stream_start(fd, EVENT("BOOKMARK", "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{"
                                           "\"resourceVersion\":\"110\"}}"));
        return CLOSE;
    }
    stream_start(fd, "");
    return HOLD;
}

TK_TEST(kube_watch_resumes_from_last_rv)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(h_resume, NULL);
    struct tk_kube *k = client(loop, s, 0, 0);
    struct result patch;
    struct wrec w = {{0}, 0, 0, k, &patch};
    struct tk_watch_opts o = {.path = "/api/v1/pods",
                              .field_selector = "spec.nodeName=tk-node-1",
                              .timeout_seconds = 450};

    memset(&patch, 0, sizeof(patch));

    struct tk_kube_watch *wt = tk_kube_watch_start(k, &o, on_wevent, on_wsync, &w, &err);
    CHECK(wt != NULL);
    CHECK_INT(wait_requests(loop, s, "resourceVersion=110&", 1), 0);
    /* pages, then sync, then the stream's events; the bookmark moved the RV without an event
     * being lost */
    CHECK_INT(w.n, 6);
    CHECK_STR(w.ev[0], "ADDED a 90");
    CHECK_STR(w.ev[1], "ADDED b 95");
    CHECK_STR(w.ev[2], "SYNC");
    CHECK_STR(w.ev[3], "ADDED c 101");
    CHECK_STR(w.ev[4], "MODIFIED a 102");
    CHECK_STR(w.ev[5], "BOOKMARK - 110");
    CHECK_STR(tk_kube_watch_rv(wt), "110");
    /* the requests, exactly */
    char *r = srv_find(s, "GET /api/v1/pods?", 0);
    CHECK_CONTAINS(r, "GET /api/v1/pods?limit=500&fieldSelector=spec.nodeName%3Dtk-node-1 ");
    free(r);
    r = srv_find(s, "GET /api/v1/pods?", 1);
    CHECK_CONTAINS(r, "&continue=tok%2F1%2B%3D ");
    free(r);
    r = srv_find(s, "watch=1", 0);
    CHECK_CONTAINS(r, "GET /api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion=100&"
                      "timeoutSeconds=450&fieldSelector=spec.nodeName%3Dtk-node-1 ");
    free(r);
    r = srv_find(s, "watch=1", 1);
    CHECK_CONTAINS(r, "resourceVersion=102&");
    free(r);
    CHECK_INT(srv_count(s, "limit=500"), 2); /* resumed, never relisted */
    /* the PATCH issued from inside the event callback went out and came back */
    CHECK_INT(tk_loop_run_until(loop, result_done, &patch, tk_now_ns() + 5000 * MS), 0);
    CHECK_INT(patch.status, 200);
    r = srv_find(s, "PATCH /api/v1/namespaces/default/pods/a/status ", 0);
    CHECK_CONTAINS(r, "Content-Type: application/strategic-merge-patch+json");
    CHECK_CONTAINS(r, "\r\n\r\n{\"status\":{\"phase\":\"Running\"}}");
    free(r);
    CHECK_INT(w.syncs, 1);
    struct tk_kube_stats st;
    tk_kube_get_stats(k, &st);
    CHECK_INT(st.watch_restarts, 2);
    CHECK_INT(st.watch_relists, 0);
    tk_kube_watch_stop(wt);
    tk_kube_free(k);
    wrec_free(&w);
    srv_stop(s);
    tk_loop_free(loop);
}

struct relist_script {
    atomic_int lists;
    const char *first_stream; /* sent on the first WATCH, then the connection closes */
    int http_410;             /* answer the first WATCH with HTTP 410 instead */
};

static int h_relist(struct srv *s, int fd, int idx, const char *m, const char *t, const char *head)
{
    struct relist_script *sc = s->ud;
    (void)idx, (void)m, (void)head;
    if (strstr(t, "limit=500")) {
        int n = atomic_fetch_add(&sc->lists, 1);
        reply(fd, 200, NULL,
              n == 0 ? "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"100\"},"
                       "\"items\":[" POD("a", "90") "]}"
                     : "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"200\"},"
                       "\"items\":[" POD("b", "150") "]}");
        return KEEP;
    }
    if (strstr(t, "resourceVersion=100&")) {
        if (sc->http_410) {
            reply(fd, 410, "Connection: close\r\n",
                  "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"Expired\","
                  "\"message\":\"too old resource version: 100 (180)\",\"code\":410}");
            return CLOSE;
        }
        stream_start(fd, sc->first_stream);
        return HOLD; /* the client must act on the content, not on the stream's end */
    }
    stream_start(fd, "");
    return HOLD;
}

/* Runs a watch against h_relist until a request containing until_seen arrives; *second_watch
 * gets that request (or NULL). */
static int relist_case(const char *stream, int http_410, size_t max_event, const char *until_seen,
                       struct wrec *w, char **second_watch, struct tk_kube_stats *st)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct relist_script sc = {0, stream, http_410};
    struct srv *s = srv_start(h_relist, &sc);
    struct tk_kube *k = client(loop, s, 0, 0);
    struct tk_watch_opts o = {.path = "/api/v1/pods", .max_event_bytes = max_event};
    int rc;

    struct tk_kube_watch *wt = tk_kube_watch_start(k, &o, on_wevent, on_wsync, w, &err);
    rc = wait_requests(loop, s, until_seen, 1);
    *second_watch = srv_find(s, until_seen, 0);
    tk_kube_get_stats(k, st);
    tk_kube_watch_stop(wt);
    tk_kube_free(k);
    srv_stop(s);
    tk_loop_free(loop);
    return rc;
}

TK_TEST(kube_watch_410_event_relists)
{
    struct wrec w = {{0}, 0, 0, NULL, NULL};
    char *second = NULL;
    struct tk_kube_stats st;

    CHECK_INT(relist_case(EVENT("MODIFIED", POD("a", "120")) EVENT(
                              "ERROR", "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                                       "\"status\":\"Failure\",\"message\":\"too old resource "
                                       "version: 120 (180)\",\"reason\":\"Expired\",\"code\":410}"),
                          0, 0, "resourceVersion=200&", &w, &second, &st),
              0);
    CHECK(second != NULL);
    CHECK_INT(w.n, 6);
    CHECK_STR(w.ev[0], "ADDED a 90");
    CHECK_STR(w.ev[1], "SYNC");
    CHECK_STR(w.ev[2], "MODIFIED a 120");
    CHECK_STR(w.ev[3], "ERROR - -");
    CHECK_STR(w.ev[4], "ADDED b 150"); /* the relist */
    CHECK_STR(w.ev[5], "SYNC");
    CHECK_INT(w.syncs, 2);
    CHECK_INT(st.watch_relists, 1);
    free(second);
    wrec_free(&w);
}

TK_TEST(kube_watch_http_410_relists)
{
    struct wrec w = {{0}, 0, 0, NULL, NULL};
    char *second = NULL;
    struct tk_kube_stats st;

    CHECK_INT(relist_case("", 1, 0, "resourceVersion=200&", &w, &second, &st), 0);
    CHECK(second != NULL);
    CHECK_INT(w.n, 4);
    CHECK_STR(w.ev[2], "ADDED b 150");
    CHECK_INT(w.syncs, 2);
    free(second);
    wrec_free(&w);
}

TK_TEST(kube_watch_oversized_event_relists)
{
    struct wrec w = {{0}, 0, 0, NULL, NULL};
    char *second = NULL;
    struct tk_kube_stats st;
    struct tk_buf big;

    tk_buf_init(&big, 0);
    tk_buf_puts(&big, EVENT("ADDED", POD("small", "110")));
    tk_buf_puts(&big, "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"huge\","
                      "\"resourceVersion\":\"111\"},\"data\":\"");
    for (int i = 0; i < 4096; i++)
        tk_buf_puts(&big, "x");
    tk_buf_puts(&big, "\"}}\n");
    CHECK_INT(relist_case(big.data, 0, 1024, "resourceVersion=200&", &w, &second, &st), 0);
    CHECK(second != NULL);
    CHECK_INT(w.n, 5);
    CHECK_STR(w.ev[2], "ADDED small 110");
    CHECK_STR(w.ev[3], "ADDED b 150"); /* "huge" never delivered: relisted instead */
    CHECK_STR(w.ev[4], "SYNC");
    CHECK_INT(st.watch_relists, 1);
    tk_buf_release(&big);
    free(second);
    wrec_free(&w);
}

TK_TEST(kube_watch_malformed_restarts)
{
    struct wrec w = {{0}, 0, 0, NULL, NULL};
    char *second = NULL;
    struct tk_kube_stats st;

    /* garbage after an event: logged, and the WATCH restarts from the last good RV, no relist */
    int rc = relist_case(EVENT("MODIFIED", POD("a", "120")) "<html>proxy error</html>\n", 0, 0,
                         "resourceVersion=120&", &w, &second, &st);
    CHECK_INT(rc, 0);
    CHECK(second != NULL);
    free(second);
    CHECK_INT(st.watch_relists, 0);
    CHECK_INT(st.watch_restarts, 1);
    CHECK_INT(w.n, 3);
    CHECK_STR(w.ev[2], "MODIFIED a 120");
    wrec_free(&w);
}

struct stopper {
    struct wrec w;
    struct tk_kube_watch *wt;
    struct tk_kube *k;
    int free_client;
};

static void stop_in_event(enum tk_watch_type type, cJSON *obj, void *ud)
{
    struct stopper *st = ud;
    on_wevent(type, obj, &st->w);
    if (st->free_client)
        tk_kube_free(st->k);
    else
        tk_kube_watch_stop(st->wt);
}

static int one_event(void *ud)
{
    return ((struct stopper *)ud)->w.n > 0;
}

TK_TEST(kube_watch_stop_inside_callbacks)
{
    for (int mode = 0; mode < 2; mode++) {
        struct tk_err err = {0};
        struct tk_loop *loop = tk_loop_new(&err);
        struct srv *s = srv_start(h_resume, NULL);
        struct stopper st;
        memset(&st, 0, sizeof(st));
        st.k = client(loop, s, 0, 0);
        st.free_client = mode;
        struct tk_watch_opts o = {.path = "/api/v1/pods"};
        st.wt = tk_kube_watch_start(st.k, &o, stop_in_event, on_wsync, &st.w, &err);
        CHECK(st.wt != NULL);
        CHECK_INT(tk_loop_run_until(loop, one_event, &st, tk_now_ns() + 5000 * MS), 0);
        /* nothing more is delivered, the second page is never asked for */
        tk_loop_run_until(loop, NULL, NULL, tk_now_ns() + 300 * MS);
        CHECK_INT(st.w.n, 1);
        CHECK_INT(srv_count(s, "continue="), 0);
        if (!mode)
            tk_kube_free(st.k);
        CHECK_INT(tk_loop_xfer_count(loop), 0);
        wrec_free(&st.w);
        srv_stop(s);
        tk_loop_free(loop);
    }
}

/* ---- TLS: CA blob, client certificate blobs, insecure, tls_server_name ---- */

/* One connection at a time: handshake (asking for, not requiring, a client certificate),
 * read the request, answer with what was seen, close. */
struct tls_srv {
    int lfd, port;
    SSL_CTX *ctx;
    pthread_t thr;
    atomic_int stop;
};

static void *tls_main(void *arg)
{
    struct tls_srv *s = arg;
    int64_t deadline = tk_now_ns() + 60000 * MS;

    while (!atomic_load(&s->stop) && tk_now_ns() < deadline) {
        struct pollfd p = {s->lfd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        struct timeval tv = {5, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        SSL *ssl = SSL_new(s->ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1) {
            char req[8192], cn[256] = "anonymous";
            int n = 0, r;
            while (n < (int)sizeof(req) - 1 &&
                   (r = SSL_read(ssl, req + n, (int)sizeof(req) - 1 - n)) > 0) {
                n += r;
                req[n] = '\0';
                if (strstr(req, "\r\n\r\n"))
                    break;
            }
            req[n] = '\0';
            X509 *peer = SSL_get1_peer_certificate(ssl);
            if (peer) {
                X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn,
                                          sizeof(cn));
                X509_free(peer);
            }
            const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
            char *body =
                tk_xasprintf("{\"cn\":\"%s\",\"sni\":\"%s\",\"bearer\":%s}", cn, sni ? sni : "",
                             strstr(req, "Authorization: Bearer tls-tok") ? "true" : "false");
            char *resp = tk_xasprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                      "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                                      strlen(body), body);
            SSL_write(ssl, resp, (int)strlen(resp));
            SSL_shutdown(ssl);
            free(resp);
            free(body);
        }
        SSL_free(ssl);
        close(fd);
    }
    return NULL;
}

static char *read_file(const char *dir, const char *name)
{
    char *path = tk_xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    struct tk_buf b;
    char chunk[4096];
    size_t n;

    free(path);
    if (!f)
        return NULL;
    tk_buf_init(&b, 0);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        tk_buf_append(&b, chunk, n);
    fclose(f);
    return tk_buf_detach(&b);
}

static int tls_get(struct tk_loop *loop, const struct tk_kube_opts *o, char **body,
                   struct tk_err *err)
{
    struct tk_kube_opts oo = *o;
    oo.transport = g_transport;
    struct tk_kube *k = tk_kube_new(loop, &oo, err);
    long status = 0;
    int rc;

    if (!k)
        return err->code;
    rc = tk_kube_request_sync(k, "GET", "/version", NULL, NULL, &status, body, 10000, err);
    tk_kube_free(k);
    return rc;
}

TK_TEST(kube_tls_options_wired)
{
    struct tk_err err = {0};
    char dir[] = "/tmp/tk-kube-tls-XXXXXX";
    struct tk_pki_ca *ca = NULL;
    char *cert = NULL, *key = NULL, *ca_pem = NULL, *body = NULL;
    struct tls_srv s;
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    char url[64];

    CHECK(mkdtemp(dir) != NULL);
    CHECK_INT(tk_pki_ensure(dir, NULL, &err), 0);
    char *crt_path = tk_xasprintf("%s/ca.crt", dir), *key_path = tk_xasprintf("%s/ca.key", dir);
    CHECK_INT(tk_pki_ca_load(&ca, crt_path, key_path, &err), 0);
    CHECK_INT(tk_pki_mint_client(ca, "system:node:tk-1", "system:nodes", &cert, &key, &err), 0);
    ca_pem = read_file(dir, "ca.crt");
    CHECK(ca_pem != NULL);

    memset(&s, 0, sizeof(s));
    s.ctx = SSL_CTX_new(TLS_server_method());
    char *srv_crt = tk_xasprintf("%s/apiserver.crt", dir),
         *srv_key = tk_xasprintf("%s/apiserver.key", dir);
    CHECK_INT(SSL_CTX_use_certificate_chain_file(s.ctx, srv_crt), 1);
    CHECK_INT(SSL_CTX_use_PrivateKey_file(s.ctx, srv_key, SSL_FILETYPE_PEM), 1);
    CHECK_INT(SSL_CTX_load_verify_locations(s.ctx, crt_path, NULL), 1);
    SSL_CTX_set_verify(s.ctx, SSL_VERIFY_PEER, NULL);
    s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_INT(bind(s.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    CHECK_INT(listen(s.lfd, 16), 0);
    CHECK_INT(getsockname(s.lfd, (struct sockaddr *)&a, &alen), 0);
    s.port = ntohs(a.sin_port);
    pthread_create(&s.thr, NULL, tls_main, &s);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", s.port);

    struct tk_loop *loop = tk_loop_new(&err);
    struct tk_kube_opts o;

    /* CA blob + client certificate blobs + bearer token */
    memset(&o, 0, sizeof(o));
    o.server = url;
    o.ca_pem = ca_pem;
    o.client_cert_pem = cert;
    o.client_key_pem = key;
    o.token = "tls-tok";
    CHECK_INT(tls_get(loop, &o, &body, &err), 0);
    CHECK_STR(body, "{\"cn\":\"system:node:tk-1\",\"sni\":\"\",\"bearer\":true}");
    free(body);
    body = NULL;

    /* tls_server_name: verified (and sent as SNI) instead of the address */
    o.tls_server_name = "kubernetes";
    CHECK_INT(tls_get(loop, &o, &body, &err), 0);
    CHECK_STR(body, "{\"cn\":\"system:node:tk-1\",\"sni\":\"kubernetes\",\"bearer\":true}");
    free(body);
    body = NULL;
    o.tls_server_name = "not-in-the-cert.example";
    CHECK_INT(tls_get(loop, &o, &body, &err), TK_ETLS);
    CHECK_CONTAINS(err.msg, "GET /version: ");
    CHECK_STR(body, ""); /* completed without a response: an empty body */
    free(body);
    body = NULL;
    tk_err_clear(&err);

    /* without our CA the system store does not trust the server */
    memset(&o, 0, sizeof(o));
    o.server = url;
    CHECK_INT(tls_get(loop, &o, &body, &err), TK_ETLS);
    free(body);
    body = NULL;
    tk_err_clear(&err);

    /* insecure skips verification; no client certificate means anonymous */
    o.insecure = 1;
    CHECK_INT(tls_get(loop, &o, &body, &err), 0);
    CHECK_STR(body, "{\"cn\":\"anonymous\",\"sni\":\"\",\"bearer\":false}");
    free(body);

    tk_loop_free(loop);
    atomic_store(&s.stop, 1);
    pthread_join(s.thr, NULL);
    close(s.lfd);
    SSL_CTX_free(s.ctx);
    tk_pki_ca_free(ca);
    free(cert);
    free(key);
    free(ca_pem);
    free(crt_path);
    free(key_path);
    free(srv_crt);
    free(srv_key);
    char *cmd = tk_xasprintf("rm -rf '%s'", dir);
    CHECK_INT(system(cmd), 0);
    free(cmd);
}

/* The same tests with plain requests over lib/h1 (watches stay on libcurl, their LISTs move). */
#define H1_VARIANT(name)                                                                           \
    TK_TEST(name##_h1)                                                                             \
    {                                                                                              \
        g_transport = TK_KUBE_TRANSPORT_H1;                                                        \
        name();                                                                                    \
        g_transport = TK_KUBE_TRANSPORT_CURL;                                                      \
    }
H1_VARIANT(kube_retry_after_429)
H1_VARIANT(kube_retry_503_get_not_post)
H1_VARIANT(kube_transport_error_retried)
H1_VARIANT(kube_qps_limiter_spreads)
H1_VARIANT(kube_priority_overtakes_queue)
H1_VARIANT(kube_cancel_and_free)
H1_VARIANT(kube_watch_resumes_from_last_rv)
H1_VARIANT(kube_watch_410_event_relists)
H1_VARIANT(kube_watch_http_410_relists)
H1_VARIANT(kube_watch_oversized_event_relists)
H1_VARIANT(kube_watch_malformed_restarts)
H1_VARIANT(kube_watch_stop_inside_callbacks)
H1_VARIANT(kube_tls_options_wired)

TK_TEST_MAIN(kube_retry_after_429, kube_retry_503_get_not_post, kube_transport_error_retried,
             kube_new_validates, kube_server_split, kube_qps_limiter_spreads,
             kube_priority_overtakes_queue, kube_verbose_redacts_token, kube_cancel_and_free,
             kube_watch_resumes_from_last_rv, kube_watch_410_event_relists,
             kube_watch_http_410_relists, kube_watch_oversized_event_relists,
             kube_watch_malformed_restarts, kube_watch_stop_inside_callbacks,
             kube_tls_options_wired, kube_retry_after_429_h1, kube_retry_503_get_not_post_h1,
             kube_transport_error_retried_h1, kube_qps_limiter_spreads_h1,
             kube_priority_overtakes_queue_h1, kube_cancel_and_free_h1,
             kube_watch_resumes_from_last_rv_h1, kube_watch_410_event_relists_h1,
             kube_watch_http_410_relists_h1, kube_watch_oversized_event_relists_h1,
             kube_watch_malformed_restarts_h1, kube_watch_stop_inside_callbacks_h1,
             kube_tls_options_wired_h1)
