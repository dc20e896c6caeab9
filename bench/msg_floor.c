/* bench/msg_floor.c: what one small API message costs a client on this machine, the floor
 * under the agent's per-message CPU. Sends N sequential merge PATCHes of one Lease's renewTime
 * (a lease renewal's size and shape: ~600 B out, ~1 KiB back, one keep-alive TLS connection)
 * through several clients and prints the process's CPU per request (getrusage) for each:
 *
 *   floor  blocking socket, OpenSSL directly: one SSL_write, SSL_read until the response ends.
 *          No event loop, no parser beyond Content-Length/chunked: the least a client can do.
 *   h1     lib/h1 on lib/loop, one request at a time: what the agent's request path costs.
 *   curl   one libcurl easy handle reused (HTTP/1.1 keep-alive): the common C client.
 *   watch  floor's PATCH, and then the same change read back from a watch of the Lease on a
 *          second blocking connection: a status PATCH and its echo, three of the four messages
 *          of a pod start (the fourth, the event POST, is one more floor request).
 *   wave   lib/h1 with 8 connections and 8 requests in flight at once, one to each of the
 *          Leases LEASE-0 .. LEASE-7 (8 keys, so the apiserver neither serialises nor retries
 *          them as it would on one), the next 8 sent when all are answered: what batching
 *          saves when several pod starts go out in one wakeup.
 *   wavelinger  wave, sleeping 3 ms after each wave's writes before reading, so the replies
 *          are collected in one wakeup rather than woken for one by one (a loop that lingers).
 *
 * usage: msg_floor KUBECONFIG NAMESPACE LEASE N [MODE...]   (the modes above; default all)
 * The Leases must exist (bench/msg_floor.sh creates them). Prints, per mode:
 *   MODE requests=N wall_us=W user_us=U sys_us=S cpu_us_per_req=C csw_per_req=X */

#include "../lib/buf.h"
#include "../lib/err.h"
#include "../lib/h1.h"
#include "../lib/kube.h"
#include "../lib/kubeconfig.h"
#include "../lib/log.h"
#include "../lib/loop.h"
#include "../lib/tls.h"
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct target {
    struct tk_kubeconfig *kc;
    char host[256], port[16], path[512];
    int n;
};

struct usage {
    int64_t wall_ns;
    struct rusage ru;
};

static void usage_now(struct usage *u)
{
    u->wall_ns = tk_now_ns();
    getrusage(RUSAGE_SELF, &u->ru);
}

static int64_t tv_us(struct timeval a, struct timeval b)
{
    return (int64_t)(b.tv_sec - a.tv_sec) * 1000000 + (b.tv_usec - a.tv_usec);
}

static void report(const char *mode, int n, const struct usage *a, const struct usage *b)
{
    int64_t user = tv_us(a->ru.ru_utime, b->ru.ru_utime);
    int64_t sys = tv_us(a->ru.ru_stime, b->ru.ru_stime);
    long csw = (b->ru.ru_nvcsw - a->ru.ru_nvcsw) + (b->ru.ru_nivcsw - a->ru.ru_nivcsw);
    printf("%s requests=%d wall_us=%lld user_us=%lld sys_us=%lld cpu_us_per_req=%.1f "
           "csw_per_req=%.2f\n",
           mode, n, (long long)((b->wall_ns - a->wall_ns) / 1000), (long long)user, (long long)sys,
           (double)(user + sys) / n, (double)csw / n);
    fflush(stdout);
}

static void patch_body(char *buf, size_t n)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(buf, n, "{\"spec\":{\"renewTime\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ\"}}",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec / 1000);
}

/* ---- floor: blocking OpenSSL ---- */

static int floor_connect(const struct target *t, SSL_CTX **ctxp, SSL **sslp)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    struct tk_err err = {0};
    int fd, one = 1;

    if (getaddrinfo(t->host, t->port, &hints, &ai))
        return -1;
    fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen)) {
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct tk_tls_identity id;
    *ctxp = NULL;
    if (!tk_tls_identity_load(&id, t->kc->client_cert_pem, t->kc->client_key_pem, &err))
        *ctxp = tk_tls_client_ctx(t->kc->ca_pem, 0, &id, NULL, 0, &err);
    tk_tls_identity_release(&id);
    /* lib/tls's connection set-up (the server's IP verified), as lib/h1 does it */
    if (*ctxp && (*sslp = tk_tls_new_ssl(*ctxp, fd, t->host, 1, NULL)) && SSL_connect(*sslp) == 1)
        return fd;
    fprintf(stderr, "TLS to %s:%s: %s\n", t->host, t->port, err.msg);
    ERR_print_errors_fp(stderr);
    close(fd);
    return -1;
}

/* Reads one response; returns its status or -1. */
static int floor_read(SSL *ssl, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        int r = SSL_read(ssl, buf + len, (int)(cap - 1 - len));
        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = 0;
        char *hend = strstr(buf, "\r\n\r\n");
        if (!hend)
            continue;
        char *cl = strcasestr(buf, "\r\nContent-Length:");
        if (cl && cl < hend) {
            size_t want = (size_t)(hend + 4 - buf) + strtoul(cl + 17, NULL, 10);
            if (len >= want)
                break;
        } else if (len >= 5 && !memcmp(buf + len - 5, "0\r\n\r\n", 5)) {
            break;
        }
    }
    return atoi(buf + 9);
}

/* Reads until one whole watch event line ("...}\n": an event's JSON has no raw newline) is
 * in buf, then keeps what follows it. Returns 0, or -1 when the stream ends. */
static int watch_read_event(SSL *ssl, char *buf, size_t cap, size_t *len)
{
    for (;;) {
        char *end = *len ? memmem(buf, *len, "}\n", 2) : NULL;
        if (end) {
            size_t used = (size_t)(end + 2 - buf);
            memmove(buf, end + 2, *len - used);
            *len -= used;
            return 0;
        }
        if (*len >= cap - 1)
            *len = 0; /* an event larger than the buffer: its end still arrives */
        int r = SSL_read(ssl, buf + *len, (int)(cap - 1 - *len));
        if (r <= 0)
            return -1;
        *len += (size_t)r;
    }
}

/* Opens the watch of the Lease and reads its first event (ADDED, the current object). */
static int watch_open(const struct target *t, SSL_CTX **ctx, SSL **ssl, char *buf, size_t cap,
                      size_t *len)
{
    char req[1024];
    const char *name = strrchr(t->path, '/') + 1;
    int fd = floor_connect(t, ctx, ssl);
    if (fd < 0)
        return -1;
    int n = snprintf(req, sizeof(req),
                     "GET %.*s?watch=1&fieldSelector=metadata.name%%3D%s HTTP/1.1\r\n"
                     "Host: %s:%s\r\nUser-Agent: msg-floor\r\nAccept: application/json\r\n\r\n",
                     (int)(name - 1 - t->path), t->path, name, t->host, t->port);
    *len = 0;
    if (SSL_write(*ssl, req, n) != n || watch_read_event(*ssl, buf, cap, len)) {
        close(fd);
        return -1;
    }
    return fd;
}

struct bconn {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
};

static void bconn_close(struct bconn *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
}

/* One merge PATCH of the Lease's renewTime and its whole response; returns the status or -1. */
static int floor_patch(const struct target *t, SSL *ssl, char *resp, size_t cap)
{
    char req[2048], body[128];
    patch_body(body, sizeof(body));
    int len = snprintf(req, sizeof(req),
                       "PATCH %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: msg-floor\r\n"
                       "Accept: application/json\r\n"
                       "Content-Type: application/merge-patch+json\r\n"
                       "Content-Length: %zu\r\n\r\n%s",
                       t->path, t->host, t->port, strlen(body), body);
    resp[0] = 0;
    if (SSL_write(ssl, req, len) != len)
        return -1;
    return floor_read(ssl, resp, cap);
}

static int patch_failed(const char *mode, int i, int status, const char *resp)
{
    if (status == 404)
        fprintf(stderr, "%s: the Lease does not exist (bench/msg_floor.sh creates it)\n", mode);
    else
        fprintf(stderr, "%s: request %d failed (status %d): %.200s\n", mode, i, status, resp);
    return 1;
}

/* mode floor (with_watch 0) or watch (1) */
static int run_blocking(const struct target *t, int with_watch)
{
    const char *mode = with_watch ? "watch" : "floor";
    struct bconn c = {.fd = -1}, w = {.fd = -1};
    static char resp[65536], wbuf[65536];
    size_t wlen = 0;
    struct usage a, b;
    int rc = 1, st = 0;

    if ((c.fd = floor_connect(t, &c.ctx, &c.ssl)) < 0) {
        fprintf(stderr, "%s: cannot connect to %s:%s\n", mode, t->host, t->port);
        goto out;
    }
    /* one PATCH first, not counted: the Lease must exist before a watch waits for it */
    if ((st = floor_patch(t, c.ssl, resp, sizeof(resp))) != 200) {
        patch_failed(mode, 0, st, resp);
        goto out;
    }
    if (with_watch && (w.fd = watch_open(t, &w.ctx, &w.ssl, wbuf, sizeof(wbuf), &wlen)) < 0) {
        fprintf(stderr, "watch: cannot open the watch of the Lease\n");
        goto out;
    }
    usage_now(&a);
    for (int i = 0; i < t->n; i++) {
        if ((st = floor_patch(t, c.ssl, resp, sizeof(resp))) != 200) {
            patch_failed(mode, i, st, resp);
            goto out;
        }
        if (with_watch && watch_read_event(w.ssl, wbuf, sizeof(wbuf), &wlen)) {
            fprintf(stderr, "watch: the watch ended after %d events\n", i);
            goto out;
        }
    }
    usage_now(&b);
    report(mode, t->n, &a, &b);
    rc = 0;
out:
    bconn_close(&w);
    bconn_close(&c);
    return rc;
}

/* ---- h1: lib/h1, one at a time ---- */

/* lib/h1 pool of conns TLS connections to t's server with the kubeconfig's identity; NULL
 * with the reason printed under mode's name. */
static struct tk_h1 *h1_open(const struct target *t, struct tk_loop *loop, int conns,
                             const char *mode)
{
    struct tk_err err = {0};
    struct tk_h1_opts o = {.host = t->host,
                           .port = t->port,
                           .tls = 1,
                           .ca_pem = t->kc->ca_pem,
                           .cert_pem = t->kc->client_cert_pem,
                           .key_pem = t->kc->client_key_pem,
                           .conns = conns};
    struct tk_h1 *h = loop ? tk_h1_new(loop, &o, &err) : NULL;

    if (!h)
        fprintf(stderr, "%s: %s\n", mode, loop ? err.msg : "no event loop");
    return h;
}

/* Submits one merge PATCH of path's renewTime through h (body is the caller's buffer of cap). */
static void h1_patch(struct tk_h1 *h, struct tk_h1_req *req, const char *path, char *body,
                     size_t cap, struct tk_buf *resp, tk_h1_done_fn done, void *ud)
{
    tk_buf_reset(resp);
    patch_body(body, cap);
    tk_h1_submit(h, req, "PATCH", path,
                 "User-Agent: msg-floor\r\nAccept: application/json\r\n"
                 "Content-Type: application/merge-patch+json\r\n",
                 body, strlen(body), resp, 0, 0, done, ud);
}

/* Non-zero, with the reason printed, when an answered PATCH of path failed. */
static int h1_failed(const char *mode, const struct tk_h1_req *req, const char *path)
{
    if (!req->err && req->status == 200)
        return 0;
    if (req->status == 404)
        fprintf(stderr, "%s: %s does not exist (bench/msg_floor.sh creates it)\n", mode, path);
    else
        fprintf(stderr, "%s: request failed: %ld %s\n", mode, req->status, req->errmsg);
    return 1;
}

struct h1_run {
    const struct target *t;
    struct tk_h1 *h;
    struct tk_h1_req req;
    struct tk_buf resp;
    char body[128];
    int sent, done, failed;
};

static void h1_next(struct h1_run *r);

static void h1_done(struct tk_h1_req *req, void *ud)
{
    struct h1_run *r = ud;
    if ((r->failed = h1_failed("h1", req, r->t->path)))
        return;
    r->done++;
    h1_next(r);
}

static void h1_next(struct h1_run *r)
{
    if (r->sent == r->t->n)
        return;
    r->sent++;
    h1_patch(r->h, &r->req, r->t->path, r->body, sizeof(r->body), &r->resp, h1_done, r);
}

static int h1_finished(void *ud)
{
    struct h1_run *r = ud;
    return r->failed || r->done == r->t->n;
}

static int run_h1(const struct target *t)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct h1_run r = {.t = t};
    struct usage a, b;

    if (!(r.h = h1_open(t, loop, 1, "h1"))) {
        tk_loop_free(loop);
        return 1;
    }
    tk_h1_req_init(&r.req);
    tk_buf_init(&r.resp, 1 << 20);
    /* the first request opens the connection; count from the second */
    r.sent = r.done = t->n - 1;
    h1_next(&r);
    tk_loop_run_until(loop, h1_finished, &r, 0);
    r.sent = r.done = 0;
    usage_now(&a);
    h1_next(&r);
    tk_loop_run_until(loop, h1_finished, &r, 0);
    usage_now(&b);
    if (!r.failed)
        report("h1", t->n, &a, &b);
    tk_h1_req_release(&r.req);
    tk_buf_release(&r.resp);
    tk_h1_free(r.h);
    tk_loop_free(loop);
    return r.failed;
}

/* ---- h1 waves: WAVE requests in flight at once, replies collected together ---- */

enum { WAVE = 8 };

struct wave_run {
    const struct target *t;
    struct tk_loop *loop;
    struct tk_h1 *h;
    struct tk_h1_req req[WAVE];
    struct tk_buf resp[WAVE];
    char body[WAVE][128];
    char path[WAVE][600];
    int inflight, failed;
};

static void wave_done(struct tk_h1_req *req, void *ud)
{
    struct wave_run *r = ud;
    if (!r->failed)
        r->failed = h1_failed("wave", req, r->path[req - r->req]);
    r->inflight--;
}

static int wave_idle(void *ud)
{
    struct wave_run *r = ud;
    return r->failed || r->inflight == 0;
}

/* Sends n requests in waves of WAVE; with linger_us > 0 sleeps that long after each wave's
 * writes before the loop reads, so the replies are read in one wakeup instead of one each. */
static int wave_send(struct wave_run *r, int n, long linger_us)
{
    for (int sent = 0; sent < n && !r->failed;) {
        int k = n - sent < WAVE ? n - sent : WAVE;
        for (int i = 0; i < k; i++)
            h1_patch(r->h, &r->req[i], r->path[i], r->body[i], sizeof(r->body[i]), &r->resp[i],
                     wave_done, r);
        r->inflight += k;
        sent += k;
        if (linger_us > 0) {
            struct timespec ts = {0, linger_us * 1000};
            nanosleep(&ts, NULL);
        }
        tk_loop_run_until(r->loop, wave_idle, r, 0);
    }
    return r->failed;
}

static int run_wave(const struct target *t, const char *mode, long linger_us)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct wave_run r = {.t = t, .loop = loop};
    struct usage a, b;

    if (!(r.h = h1_open(t, loop, WAVE, mode))) {
        tk_loop_free(loop);
        return 1;
    }
    for (int i = 0; i < WAVE; i++) {
        snprintf(r.path[i], sizeof(r.path[i]), "%s-%d", t->path, i);
        tk_h1_req_init(&r.req[i]);
        tk_buf_init(&r.resp[i], 1 << 20);
    }
    wave_send(&r, WAVE, 0); /* opens the connections; counted from the next wave */
    usage_now(&a);
    wave_send(&r, t->n, linger_us);
    usage_now(&b);
    if (!r.failed)
        report(mode, t->n, &a, &b);
    for (int i = 0; i < WAVE; i++) {
        tk_h1_req_release(&r.req[i]);
        tk_buf_release(&r.resp[i]);
    }
    tk_h1_free(r.h);
    tk_loop_free(loop);
    return r.failed;
}

static int run_wave_now(const struct target *t)
{
    return run_wave(t, "wave", 0);
}

static int run_wave_linger(const struct target *t)
{
    return run_wave(t, "wavelinger", 3000);
}

/* ---- curl: one easy handle, keep-alive ---- */

static size_t curl_sink(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

static int curl_blob(CURL *e, CURLoption opt, const char *pem)
{
    struct curl_blob blob = {.data = (void *)pem, .len = strlen(pem), .flags = CURL_BLOB_COPY};
    return curl_easy_setopt(e, opt, &blob) != CURLE_OK;
}

static int run_curl(const struct target *t)
{
    char url[800], body[128];
    CURL *e = curl_easy_init();
    struct curl_slist *hd = NULL;
    struct usage a, b;
    long code = 0;
    int rc = 1;

    snprintf(url, sizeof(url), "https://%s:%s%s", t->host, t->port, t->path);
    hd = curl_slist_append(hd, "Content-Type: application/merge-patch+json");
    hd = curl_slist_append(hd, "Accept: application/json");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PATCH");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, curl_sink);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    if (curl_blob(e, CURLOPT_CAINFO_BLOB, t->kc->ca_pem) ||
        curl_blob(e, CURLOPT_SSLCERT_BLOB, t->kc->client_cert_pem) ||
        curl_blob(e, CURLOPT_SSLKEY_BLOB, t->kc->client_key_pem)) {
        fprintf(stderr, "curl: this libcurl takes no PEM blobs\n");
        goto out;
    }
    for (int i = -1; i < t->n; i++) { /* i = -1 opens the connection, not counted */
        if (i == 0)
            usage_now(&a);
        patch_body(body, sizeof(body));
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        if (curl_easy_perform(e) != CURLE_OK ||
            (curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code), code != 200)) {
            fprintf(stderr, "curl: request failed (%ld)%s\n", code,
                    code == 404 ? ": the Lease does not exist (bench/msg_floor.sh creates it)"
                                : "");
            goto out;
        }
    }
    usage_now(&b);
    report("curl", t->n, &a, &b);
    rc = 0;
out:
    curl_slist_free_all(hd);
    curl_easy_cleanup(e);
    return rc;
}

/* The server's host and port (lib/kube's reading of the URL); its path prefix into prefix. */
static int split_server(struct target *t, char *prefix, size_t n, struct tk_err *err)
{
    struct tk_kube_server sv;
    int rc = tk_kube_server_split(t->kc->server, &sv, err);

    if (rc == 0 && !sv.tls)
        rc = tk_err_set(err, TK_EINVAL, "server '%s' is not https", t->kc->server);
    else if (rc == 0 && strlen(sv.host) >= sizeof(t->host))
        rc = tk_err_set(err, TK_EINVAL, "server '%s': host too long", t->kc->server);
    if (rc == 0) {
        snprintf(t->host, sizeof(t->host), "%s", sv.host);
        snprintf(t->port, sizeof(t->port), "%s", sv.port);
        snprintf(prefix, n, "%s", sv.path);
    }
    tk_kube_server_release(&sv);
    return rc;
}

static int run_floor(const struct target *t)
{
    return run_blocking(t, 0);
}

static int run_watch(const struct target *t)
{
    return run_blocking(t, 1);
}

static const struct mode {
    const char *name;
    int (*run)(const struct target *t);
} modes[] = {{"floor", run_floor}, {"h1", run_h1},         {"curl", run_curl},
             {"watch", run_watch}, {"wave", run_wave_now}, {"wavelinger", run_wave_linger}};
enum { NMODES = sizeof(modes) / sizeof(modes[0]) };

static const struct mode *find_mode(const char *name)
{
    for (int i = 0; i < NMODES; i++)
        if (!strcmp(modes[i].name, name))
            return &modes[i];
    return NULL;
}

/* The modes' names, separated by sep, for the usage and error messages. */
static void print_modes(const char *sep)
{
    for (int i = 0; i < NMODES; i++)
        fprintf(stderr, "%s%s", i ? sep : "", modes[i].name);
}

int main(int argc, char **argv)
{
    struct target t = {0};
    struct tk_err err = {0};
    const struct mode *run[16];
    char prefix[256];
    int nrun = 0, rc = 0;

    if (argc < 5 || (t.n = atoi(argv[4])) <= 0 || argc - 5 > 16) {
        fprintf(stderr, "usage: %s KUBECONFIG NAMESPACE LEASE N [", argv[0]);
        print_modes("|");
        fprintf(stderr, " ...]\n");
        return 2;
    }
    for (int i = 5; i < argc; i++)
        if (!(run[nrun++] = find_mode(argv[i]))) {
            fprintf(stderr, "unknown mode '%s' (", argv[i]);
            print_modes(", ");
            fprintf(stderr, ")\n");
            return 2;
        }
    for (int i = 0; argc == 5 && i < NMODES; i++)
        run[nrun++] = &modes[i];
    if (tk_kubeconfig_load(&t.kc, argv[1], NULL, &err) || !t.kc->client_cert_pem ||
        split_server(&t, prefix, sizeof(prefix), &err)) {
        fprintf(stderr,
                "%s: needs a kubeconfig with a client certificate and an "
                "https:// server (%s)\n",
                argv[1], err.code ? err.msg : "no client certificate");
        tk_kubeconfig_free(t.kc);
        return 2;
    }
    snprintf(t.path, sizeof(t.path), "%s/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s",
             prefix, argv[2], argv[3]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int i = 0; i < nrun && !rc; i++)
        rc = run[i]->run(&t);
    tk_kubeconfig_free(t.kc);
    curl_global_cleanup();
    return rc;
}
