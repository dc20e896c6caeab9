/* lib/h1: the response parser fed split at every offset and one byte at a time, then the pool
 * against a scripted TLS server on 127.0.0.1 (certificates from lib/pki) for what a real
 * apiserver cannot be made to do on demand: chunked bodies one byte per TLS record, responses
 * cut short, Connection: close, oversized bodies, a server closing idle connections, 429 with
 * Retry-After through lib/kube. The real apiserver is the integration tests' job
 * (tests/integration/test_agent_*.sh run lite mode over lib/h1). */

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

#include "buf.h"
#include "err.h"
#include "h1.h"
#include "kube.h"
#include "log.h"
#include "loop.h"
#include "pki.h"
#include "tktest.h"
#include "tktest_pki.h"
#include "tktest_tmp.h"

#define MS (int64_t)1000000

/* ---- the parser ---- */

struct parsed {
    int rc;
    long status;
    char retry_after[64];
    int conn_close;
    size_t used; /* bytes of the input consumed up to DONE */
    struct tk_buf body;
    struct tk_err err;
};

/* Feeds resp in pieces: cut (0 < cut < len) splits it in two; step > 0 feeds step bytes at a time.
 */
static void parse_pieces(const char *resp, size_t len, size_t cut, size_t step, size_t cap,
                         int head, struct parsed *out)
{
    struct tk_h1_parser p;
    size_t off = 0;

    memset(out, 0, sizeof(*out));
    tk_buf_init(&out->body, cap);
    tk_h1_parser_init(&p);
    tk_h1_parser_reset(&p, head);
    out->rc = TK_H1_MORE;
    while (off < len && out->rc == TK_H1_MORE) {
        size_t n = step ? step : (off < cut ? cut - off : len - off);
        size_t used = 0;
        if (n > len - off)
            n = len - off;
        out->rc = tk_h1_parser_feed(&p, resp + off, n, &used, &out->body, &out->err);
        off += out->rc == TK_H1_DONE ? used : n;
    }
    if (out->rc == TK_H1_MORE && off == len)
        out->rc = tk_h1_parser_eof(&p, &out->err) == TK_H1_DONE ? TK_H1_DONE : out->err.code;
    out->used = off;
    out->status = p.status;
    out->conn_close = p.conn_close;
    memcpy(out->retry_after, p.retry_after, sizeof(out->retry_after));
    tk_h1_parser_release(&p);
}

static const char CHUNKED[] = "HTTP/1.1 100 Continue\r\n\r\n"
                              "HTTP/1.1 429 Too Many Requests\r\n"
                              "Content-Type: application/json\r\n"
                              "transfer-encoding: chunked\r\n"
                              "Retry-After:  7 \r\n"
                              "\r\n"
                              "5;ext=1\r\n{\"a\":\r\n"
                              "A\r\n\"bcdefgh\"}\r\n"
                              "0\r\n"
                              "X-Trailer: t\r\n"
                              "\r\n"
                              "NEXT";

static const char LENGTH[] = "HTTP/1.1 200 OK\r\n"
                             "Content-Length: 11\r\n"
                             "Connection: keep-alive, close\r\n"
                             "\r\n"
                             "hello worldNEXT";

TK_TEST(parser_split_at_every_offset)
{
    struct {
        const char *resp;
        long status;
        const char *body, *retry_after;
        int conn_close;
    } cases[] = {
        {CHUNKED, 429, "{\"a\":\"bcdefgh\"}", "7", 0},
        {LENGTH, 200, "hello world", "", 1},
    };
    for (size_t c = 0; c < 2; c++) {
        size_t len = strlen(cases[c].resp), want_used = len - 4; /* "NEXT" is not ours */
        for (size_t cut = 0; cut <= len; cut++) {
            for (int bytewise = 0; bytewise < 2; bytewise++) {
                struct parsed r;
                if (bytewise && cut > 0)
                    continue; /* one bytewise pass per case */
                parse_pieces(cases[c].resp, len, cut, bytewise ? 1 : 0, 0, 0, &r);
                CHECK_INT(r.rc, TK_H1_DONE);
                CHECK_INT(r.status, cases[c].status);
                CHECK_STR(r.body.data ? r.body.data : "", cases[c].body);
                CHECK_STR(r.retry_after, cases[c].retry_after);
                CHECK_INT(r.conn_close, cases[c].conn_close);
                CHECK_INT(r.used, want_used);
                tk_buf_release(&r.body);
            }
        }
    }
}

TK_TEST(parser_framing)
{
    struct parsed r;
    const char *eof_body = "HTTP/1.1 200 OK\r\n\r\nuntil the end";
    const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n";
    const char *no_content = "HTTP/1.1 204 No Content\r\n\r\n";
    const char *http10 = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";

    parse_pieces(eof_body, strlen(eof_body), 0, 0, 0, 0, &r);
    CHECK_INT(r.rc, TK_H1_DONE); /* ended by eof */
    CHECK_STR(r.body.data, "until the end");
    CHECK_INT(r.conn_close, 1);
    tk_buf_release(&r.body);
    parse_pieces(head, strlen(head), 0, 0, 0, 1, &r); /* a HEAD response has no body */
    CHECK_INT(r.rc, TK_H1_DONE);
    CHECK_INT(r.used, strlen(head));
    tk_buf_release(&r.body);
    parse_pieces(no_content, strlen(no_content), 0, 0, 0, 0, &r);
    CHECK_INT(r.rc, TK_H1_DONE);
    CHECK_INT(r.status, 204);
    tk_buf_release(&r.body);
    parse_pieces(http10, strlen(http10), 0, 0, 0, 0, &r);
    CHECK_INT(r.rc, TK_H1_DONE);
    CHECK_INT(r.conn_close, 1); /* no keep-alive with HTTP/1.0 */
    tk_buf_release(&r.body);
}

TK_TEST(parser_errors)
{
    char longline[20000];
    struct {
        const char *resp;
        int code;
        const char *msg;
    } cases[] = {
        {"HTTP/2 200 OK\r\n\r\n", TK_ENET, "malformed HTTP status line"},
        {"HTTP/1.1 20x OK\r\n\r\n", TK_ENET, "malformed HTTP status line"},
        {"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", TK_ENET, "malformed HTTP header"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", TK_ENET,
         "conflicting Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", TK_ENET, "bad Content-Length"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", TK_ENET, "Transfer-Encoding"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", TK_ENET,
         "malformed chunk size"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n", TK_ENET,
         "not followed by CRLF"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", TK_ENET, "inside the response body"},
        {"HTTP/1.1 200 OK\r\nContent-Le", TK_ENET, "inside the response headers"},
        {"", TK_ENET, "before any response"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789012345678901234567890123456789",
         TK_ENOMEM, "exceeds the 16-byte cap"},
        {longline, TK_ENET, "header line over"},
    };
    snprintf(longline, sizeof(longline), "HTTP/1.1 200 OK\r\nX-Long: %0*d\r\n\r\n", 17000, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].resp);
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            struct parsed r;
            parse_pieces(cases[i].resp, len, 0, bytewise ? 1 : 0, 16, 0, &r);
            CHECK_INT(r.rc, cases[i].code);
            CHECK_CONTAINS(r.err.msg, cases[i].msg);
            tk_buf_release(&r.body);
        }
    }
}

/* ---- the scripted TLS server: one connection at a time, blocking ---- */

enum { KEEP = 0, CLOSE = 1, DROP = 2 };

struct tsrv;
/* Called for each request (idx counts all requests from 0, on_conn those of this connection);
 * writes the response with SSL_write and says what becomes of the connection: KEEP, CLOSE after
 * the response, DROP (close; whatever was written is all the client gets). */
typedef int (*tsrv_fn)(struct tsrv *s, SSL *ssl, int idx, int on_conn, const char *req);

#define TLOG 64

struct tsrv {
    int lfd, port;
    SSL_CTX *ctx;
    pthread_t thr;
    atomic_int stop, conns, idle_close_ms;
    tsrv_fn fn;
    pthread_mutex_t mu;
    char *log[TLOG];
    int nlog;
};

static void ssl_send(SSL *ssl, const char *s)
{
    SSL_write(ssl, s, (int)strlen(s));
}

/* Reads one request (headers plus Content-Length body) into buf; returns its length, 0 at EOF
 * or error, -1 when the client stayed silent for the idle close delay. */
static int read_request(struct tsrv *s, SSL *ssl, int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            size_t head = (size_t)(end - buf) + 4, body = 0;
            char *cl = strcasestr(buf, "\r\nContent-Length:");
            if (cl && cl < end)
                body = strtoul(cl + 17, NULL, 10);
            if (n >= head + body)
                return (int)n;
        }
        if (!SSL_pending(ssl)) {
            int idle = atomic_load(&s->idle_close_ms);
            struct pollfd p = {fd, POLLIN, 0};
            int pr = poll(&p, 1, idle > 0 ? idle : 5000);
            if (pr == 0)
                return idle > 0 ? -1 : 0;
        }
        int r = SSL_read(ssl, buf + n, (int)(cap - 1 - n));
        if (r <= 0)
            return 0;
        n += (size_t)r;
        buf[n] = '\0';
    }
}

static void *tsrv_main(void *arg)
{
    struct tsrv *s = arg;
    int idx = 0;
    int64_t deadline = tk_now_ns() + 60000 * MS;

    while (!atomic_load(&s->stop) && tk_now_ns() < deadline) {
        struct pollfd p = {s->lfd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        atomic_fetch_add(&s->conns, 1);
        SSL *ssl = SSL_new(s->ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1) {
            char req[16384];
            int rc = KEEP;
            for (int on_conn = 0; rc == KEEP && !atomic_load(&s->stop); on_conn++) {
                req[0] = '\0';
                int n = read_request(s, ssl, fd, req, sizeof(req));
                if (n <= 0)
                    break; /* client closed, or idle close (n < 0) */
                pthread_mutex_lock(&s->mu);
                if (s->nlog < TLOG)
                    s->log[s->nlog++] = tk_xstrdup(req);
                pthread_mutex_unlock(&s->mu);
                rc = s->fn(s, ssl, idx++, on_conn, req);
            }
            if (rc != DROP)
                SSL_shutdown(ssl);
        }
        SSL_free(ssl);
        close(fd);
    }
    return NULL;
}

static struct tsrv *tsrv_start(tsrv_fn fn)
{
    struct tsrv *s = tk_xcalloc(1, sizeof(*s));
    struct pkiset k;
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);

    pki_once(&k);
    s->fn = fn;
    pthread_mutex_init(&s->mu, NULL);
    s->ctx = SSL_CTX_new(TLS_server_method());
    if (SSL_CTX_use_certificate_chain_file(s->ctx, k.srv_crt) != 1 ||
        SSL_CTX_use_PrivateKey_file(s->ctx, k.srv_key, SSL_FILETYPE_PEM) != 1)
        abort();
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) || listen(s->lfd, 16) ||
        getsockname(s->lfd, (struct sockaddr *)&a, &alen))
        abort();
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thr, NULL, tsrv_main, s);
    return s;
}

static void tsrv_stop(struct tsrv *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->thr, NULL);
    close(s->lfd);
    SSL_CTX_free(s->ctx);
    for (int i = 0; i < s->nlog; i++)
        free(s->log[i]);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static char *tsrv_req(struct tsrv *s, int i)
{
    char *r = NULL;
    pthread_mutex_lock(&s->mu);
    if (i < s->nlog)
        r = tk_xstrdup(s->log[i]);
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* ---- client side ---- */

static struct tk_h1 *pool(struct tk_loop *loop, struct tsrv *s, int conns, int stall_ms)
{
    struct tk_h1_opts o;
    struct pkiset k;
    struct tk_err err = {0};
    char port[16];

    pki_once(&k);
    snprintf(port, sizeof(port), "%d", s->port);
    memset(&o, 0, sizeof(o));
    o.host = "127.0.0.1";
    o.port = port;
    o.tls = 1;
    o.server_name = "kubernetes"; /* in the apiserver certificate's SANs */
    o.ca_pem = k.ca_pem;
    o.conns = conns;
    o.stall_ms = stall_ms;
    struct tk_h1 *h = tk_h1_new(loop, &o, &err);
    if (!h)
        fprintf(stderr, "tk_h1_new: %s\n", err.msg);
    return h;
}

struct call {
    struct tk_h1_req req;
    struct tk_buf body;
    int done, order;
};

static int g_order;

static void on_done(struct tk_h1_req *r, void *ud)
{
    struct call *c = ud;
    (void)r;
    c->done++;
    c->order = ++g_order;
}

static void call_init(struct call *c, size_t cap)
{
    memset(c, 0, sizeof(*c));
    tk_h1_req_init(&c->req);
    tk_buf_init(&c->body, cap);
}

static void call_release(struct call *c)
{
    tk_h1_req_release(&c->req);
    tk_buf_release(&c->body);
}

static int call_done(void *ud)
{
    return ((struct call *)ud)->done > 0;
}

/* Issues one request and runs the loop until it completes (5 s at most). */
static int roundtrip(struct tk_loop *loop, struct tk_h1 *h, struct call *c, const char *method,
                     const char *body)
{
    c->done = 0;
    tk_buf_reset(&c->body);
    if (tk_h1_submit(h, &c->req, method, "/apis/x?y=1", "Accept: application/json\r\n", body,
                     body ? strlen(body) : 0, &c->body, 0, 0, on_done, c))
        return -1;
    return tk_loop_run_until(loop, call_done, c, tk_now_ns() + 5000 * MS);
}

static void set_flag(struct tk_timer *t, void *ud)
{
    (void)t;
    *(int *)ud = 1;
}

static int flag_set(void *ud)
{
    return *(int *)ud;
}

/* Runs the loop for ms (a timer keeps it from running out of work). */
static void sleep_loop(struct tk_loop *loop, int ms)
{
    struct tk_timer t;
    int fired = 0;
    tk_timer_init(&t, set_flag, &fired);
    tk_timer_start(loop, &t, tk_now_ns() + ms * MS);
    tk_loop_run_until(loop, flag_set, &fired, 0);
    tk_timer_stop(loop, &t);
}

static int h_chunked_bytewise(struct tsrv *s, SSL *ssl, int idx, int on_conn, const char *req)
{
    const char *resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
    (void)s, (void)idx, (void)on_conn, (void)req;
    for (const char *p = resp; *p; p++) /* one TLS record per byte */
        SSL_write(ssl, p, 1);
    return KEEP;
}

TK_TEST(h1_chunked_one_byte_per_record)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct tsrv *s = tsrv_start(h_chunked_bytewise);
    struct tk_h1 *h = pool(loop, s, 1, 0);
    struct call c;
    struct tk_h1_stats st;

    CHECK(h != NULL);
    call_init(&c, 0);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(roundtrip(loop, h, &c, "GET", NULL), 0);
        CHECK_INT(c.req.err, 0);
        CHECK_INT(c.req.status, 200);
        CHECK_STR(c.body.data, "abc0123456789abcdef");
    }
    tk_h1_get_stats(h, &st);
    CHECK_INT(st.connects, 1); /* kept alive */
    CHECK_INT(st.requests, 3);
    char *r0 = tsrv_req(s, 0);
    CHECK_CONTAINS(r0, "GET /apis/x?y=1 HTTP/1.1\r\nHost: kubernetes:");
    CHECK_CONTAINS(r0, "Accept: application/json\r\n");
    CHECK(strcasestr(r0, "Accept-Encoding") == NULL); /* nothing compressed, ever */
    CHECK(strcasestr(r0, "Content-Length") == NULL);  /* a GET without a body */
    free(r0);
    call_release(&c);
    tk_h1_free(h);
    tsrv_stop(s);
    tk_loop_free(loop);
}

/* Request 0 is answered with Connection: close, 1 normally, 2 with a body over the cap. */
static int h_close_then_big(struct tsrv *s, SSL *ssl, int idx, int on_conn, const char *req)
{
    (void)s, (void)on_conn, (void)req;
    if (idx == 0) {
        ssl_send(ssl, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        return CLOSE;
    }
    if (idx == 1) {
        ssl_send(ssl, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfine");
        return KEEP;
    }
    ssl_send(ssl, "HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n"
                  "0123456789012345678901234567890123456789012345678901234567890123");
    return KEEP;
}

TK_TEST(h1_connection_close_and_oversized_body)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct tsrv *s = tsrv_start(h_close_then_big);
    struct tk_h1 *h = pool(loop, s, 1, 0);
    struct call c;
    struct tk_h1_stats st;

    CHECK(h != NULL);
    call_init(&c, 16);
    CHECK_INT(roundtrip(loop, h, &c, "POST", "{\"k\":1}"), 0);
    CHECK_INT(c.req.status, 201);
    CHECK_STR(c.body.data, "ok");
    char *r0 = tsrv_req(s, 0);
    CHECK_CONTAINS(r0, "Content-Length: 7\r\n\r\n{\"k\":1}");
    free(r0);
    tk_h1_get_stats(h, &st);
    CHECK_INT(st.open, 0); /* closed as the server said */
    CHECK_INT(roundtrip(loop, h, &c, "GET", NULL), 0);
    CHECK_INT(c.req.status, 200);
    CHECK_STR(c.body.data, "fine");
    CHECK_INT(roundtrip(loop, h, &c, "GET", NULL), 0);
    CHECK_INT(c.req.err, TK_ENOMEM);
    CHECK_CONTAINS(c.req.errmsg, "exceeds the 16-byte cap");
    tk_h1_get_stats(h, &st);
    CHECK_INT(st.connects, 2);
    CHECK_INT(st.open, 0); /* the rest of the body is not read: the connection goes */
    call_release(&c);
    tk_h1_free(h);
    tsrv_stop(s);
    tk_loop_free(loop);
}

/* The second request on each connection gets nothing: the connection closes under it (a
 * keep-alive connection the server gave up on just as we wrote). From the fourth request on,
 * the second request gets half a response instead. */
static int h_drop_second(struct tsrv *s, SSL *ssl, int idx, int on_conn, const char *req)
{
    (void)s, (void)req;
    if (on_conn == 0) {
        ssl_send(ssl, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        return KEEP;
    }
    if (idx >= 4)
        ssl_send(ssl, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf");
    return DROP;
}

TK_TEST(h1_dead_connection_replays_once_when_safe)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct tsrv *s = tsrv_start(h_drop_second);
    struct tk_h1 *h = pool(loop, s, 1, 0);
    struct call c;
    struct tk_h1_stats st;

    CHECK(h != NULL);
    call_init(&c, 0);
    CHECK_INT(roundtrip(loop, h, &c, "GET", NULL), 0); /* idx 0, conn 1 */
    CHECK_STR(c.body.data, "ok");
    /* idx 1 dies unanswered on the reused connection; replayed on conn 2 as its first (idx 2) */
    CHECK_INT(roundtrip(loop, h, &c, "PUT", "{}"), 0);
    CHECK_INT(c.req.err, 0);
    CHECK_STR(c.body.data, "ok");
    tk_h1_get_stats(h, &st);
    CHECK_INT(st.replays, 1);
    CHECK_INT(st.connects, 2);
    /* a POST that may have reached the server is not replayed: a transport error, no bytes */
    CHECK_INT(roundtrip(loop, h, &c, "POST", "{}"), 0); /* idx 3 dropped */
    CHECK_INT(c.req.err, TK_ENET);
    CHECK_INT(c.req.got_bytes, 0);
    CHECK_INT(c.req.connect_failed, 0);
    CHECK_CONTAINS(c.req.errmsg, "closed");
    CHECK_INT(roundtrip(loop, h, &c, "GET", NULL), 0); /* idx 4: conn 3's first, fine */
    CHECK_STR(c.body.data, "ok");
    /* half a response is never replayed, whatever the method */
    CHECK_INT(roundtrip(loop, h, &c, "GET", NULL), 0); /* idx 5 */
    CHECK_INT(c.req.err, TK_ENET);
    CHECK_INT(c.req.got_bytes, 1);
    CHECK_INT(c.req.status, 200);
    CHECK_CONTAINS(c.req.errmsg, "closed");
    tk_h1_get_stats(h, &st);
    CHECK_INT(st.replays, 1);
    call_release(&c);
    tk_h1_free(h);
    tsrv_stop(s);
    tk_loop_free(loop);
}

static int h_ok(struct tsrv *s, SSL *ssl, int idx, int on_conn, const char *req)
{
    char resp[256];
    (void)s, (void)on_conn;
    /* echo the request's first line's target, to tell requests apart */
    const char *t = strchr(req, ' ');
    int tl = t ? (int)strcspn(t + 1, " ") : 0;
    (void)idx;
    snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%.*s", tl, tl,
             t ? t + 1 : "");
    ssl_send(ssl, resp);
    return KEEP;
}

TK_TEST(h1_server_closes_idle_connection)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct tsrv *s = tsrv_start(h_ok);
    struct tk_h1 *h = pool(loop, s, 1, 0);
    struct call c;
    struct tk_h1_stats st;

    CHECK(h != NULL);
    atomic_store(&s->idle_close_ms, 100); /* Go's IdleTimeout, shortened */
    call_init(&c, 0);
    CHECK_INT(roundtrip(loop, h, &c, "GET", NULL), 0);
    CHECK_INT(c.req.status, 200);
    sleep_loop(loop, 400);
    tk_h1_get_stats(h, &st);
    CHECK_INT(st.server_closes, 1); /* seen while idle, not discovered by the next request */
    CHECK_INT(st.open, 0);
    CHECK_INT(roundtrip(loop, h, &c, "POST", "{}"), 0);
    CHECK_INT(c.req.err, 0);
    CHECK_INT(c.req.status, 200);
    tk_h1_get_stats(h, &st);
    CHECK_INT(st.connects, 2);
    CHECK_INT(st.replays, 0);
    call_release(&c);
    tk_h1_free(h);
    tsrv_stop(s);
    tk_loop_free(loop);
}

static int h_slow_first(struct tsrv *s, SSL *ssl, int idx, int on_conn, const char *req)
{
    if (idx == 0)
        usleep(300 * 1000);
    return h_ok(s, ssl, idx, on_conn, req);
}

TK_TEST(h1_priority_lane_first)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct tsrv *s = tsrv_start(h_slow_first);
    struct tk_h1 *h = pool(loop, s, 1, 0);
    struct call c[4];
    const char *targets[4] = {"/a", "/b", "/c", "/lease"};

    CHECK(h != NULL);
    g_order = 0;
    for (int i = 0; i < 4; i++) {
        call_init(&c[i], 0);
        CHECK_INT(tk_h1_submit(h, &c[i].req, "GET", targets[i], NULL, NULL, 0, &c[i].body, 0,
                               i == 3, on_done, &c[i]),
                  0);
    }
    CHECK_INT(tk_h1_submit(h, &c[0].req, "GET", "/again", NULL, NULL, 0, &c[0].body, 0, 0, on_done,
                           &c[0]),
              TK_ESTATE);
    /* everything goes in the first pass (one connection, being set up): the lane decides */
    CHECK_INT(tk_loop_run_until(loop, call_done, &c[2], tk_now_ns() + 5000 * MS), 0);
    CHECK_STR(c[0].body.data, "/a");
    CHECK_INT(c[3].order, 1); /* the priority request went first */
    CHECK_INT(c[0].order, 2);
    CHECK_INT(c[1].order, 3);
    CHECK_INT(c[2].order, 4);
    for (int i = 0; i < 4; i++)
        call_release(&c[i]);
    tk_h1_free(h);
    tsrv_stop(s);
    tk_loop_free(loop);
}

static int h_silent(struct tsrv *s, SSL *ssl, int idx, int on_conn, const char *req)
{
    (void)s, (void)ssl, (void)on_conn, (void)req;
    /* the first longer than the stall limit, the second longer than the client waits */
    usleep(idx == 0 ? 600 * 1000 : 300 * 1000);
    return DROP;
}

TK_TEST(h1_stall_times_out_and_cancel_is_silent)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct tsrv *s = tsrv_start(h_silent);
    struct tk_h1 *h = pool(loop, s, 1, 200);
    struct call c, d;
    struct tk_h1_stats st;

    CHECK(h != NULL);
    call_init(&c, 0);
    call_init(&d, 0);
    int64_t t0 = tk_now_ns();
    CHECK_INT(roundtrip(loop, h, &c, "GET", NULL), 0);
    CHECK_INT(c.req.err, TK_ETIMEOUT);
    CHECK(tk_now_ns() - t0 >= 200 * MS);
    CHECK(tk_now_ns() - t0 < 550 * MS);
    sleep_loop(loop, 500); /* the server gives up on the first connection */
    /* cancelled in flight: no callback, the connection goes with it */
    CHECK_INT(tk_h1_submit(h, &d.req, "GET", "/x", NULL, NULL, 0, &d.body, 0, 0, on_done, &d), 0);
    sleep_loop(loop, 100);
    tk_h1_cancel(&d.req);
    tk_h1_cancel(&d.req); /* twice: no-op */
    sleep_loop(loop, 200);
    CHECK_INT(d.done, 0);
    tk_h1_get_stats(h, &st);
    CHECK_INT(st.open, 0);
    CHECK_INT(st.queued, 0);
    call_release(&c);
    call_release(&d);
    tk_h1_free(h);
    tsrv_stop(s);
    tk_loop_free(loop);
}

TK_TEST(h1_connect_and_verify_failures)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct tsrv *s = tsrv_start(h_ok);
    struct tk_h1_opts o;
    struct pkiset k;
    struct call c;
    char port[16];

    pki_once(&k);
    call_init(&c, 0);
    memset(&o, 0, sizeof(o));
    snprintf(port, sizeof(port), "%d", s->port);
    o.host = "127.0.0.1";
    o.port = port;
    o.tls = 1;
    o.ca_pem = k.ca_pem;
    o.server_name = "not-in-the-cert.example";
    struct tk_h1 *h = tk_h1_new(loop, &o, &err);
    CHECK(h != NULL);
    CHECK_INT(roundtrip(loop, h, &c, "GET", NULL), 0);
    CHECK_INT(c.req.err, TK_ETLS);
    CHECK_CONTAINS(c.req.errmsg, "certificate verify failed");
    CHECK_INT(c.req.connect_failed, 0);
    tk_h1_free(h);
    o.server_name = NULL; /* 127.0.0.1 is an IP SAN of the apiserver certificate */
    h = tk_h1_new(loop, &o, &err);
    CHECK_INT(roundtrip(loop, h, &c, "GET", NULL), 0);
    CHECK_INT(c.req.err, 0);
    char *r0 = tsrv_req(s, 0);
    CHECK_CONTAINS(r0, "Host: 127.0.0.1:");
    free(r0);
    tk_h1_free(h);
    /* nobody listening */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &alen);
    close(fd);
    snprintf(port, sizeof(port), "%d", ntohs(a.sin_port));
    h = tk_h1_new(loop, &o, &err);
    CHECK_INT(roundtrip(loop, h, &c, "POST", "{}"), 0);
    CHECK_INT(c.req.err, TK_ENET);
    CHECK_INT(c.req.connect_failed, 1); /* never sent: safe for the caller to retry a POST */
    tk_h1_free(h);
    /* bad PEM */
    o.cert_pem = "not a pem";
    o.key_pem = "nor this";
    CHECK(tk_h1_new(loop, &o, &err) == NULL);
    CHECK_INT(err.code, TK_ETLS);
    call_release(&c);
    tsrv_stop(s);
    tk_loop_free(loop);
}

/* ---- through lib/kube ---- */

static int h_429_then_ok(struct tsrv *s, SSL *ssl, int idx, int on_conn, const char *req)
{
    if (idx == 0) {
        ssl_send(ssl, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Type: "
                      "application/json\r\nContent-Length: 54\r\n\r\n"
                      "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\",\"code\":429}");
        return KEEP;
    }
    if (idx == 2) { /* the POST: cut after the headers */
        ssl_send(ssl, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial");
        return DROP;
    }
    return h_ok(s, ssl, idx, on_conn, req);
}

TK_TEST(h1_kube_retry_after_and_truncation)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct tsrv *s = tsrv_start(h_429_then_ok);
    struct tk_kube_opts o;
    struct pkiset k;
    char url[64];
    long status = 0;
    char *body = NULL;

    pki_once(&k);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/prefix", s->port);
    memset(&o, 0, sizeof(o));
    o.server = url;
    o.ca_pem = k.ca_pem;
    o.tls_server_name = "kubernetes";
    o.token = "tok-h1";
    o.transport = TK_KUBE_TRANSPORT_H1;
    o.h1_conns = 2;
    struct tk_kube *kb = tk_kube_new(loop, &o, &err);
    CHECK(kb != NULL);
    int64_t t0 = tk_now_ns();
    CHECK_INT(tk_kube_request_sync(kb, "GET", "/api/v1/nodes/n1", NULL, NULL, &status, &body, 10000,
                                   &err),
              0);
    CHECK(tk_now_ns() - t0 >= 1000 * MS); /* Retry-After: 1 honoured */
    CHECK_INT(status, 200);
    CHECK_STR(body, "/prefix/api/v1/nodes/n1");
    free(body);
    char *r0 = tsrv_req(s, 0);
    CHECK_CONTAINS(r0, "GET /prefix/api/v1/nodes/n1 HTTP/1.1\r\nHost: kubernetes:");
    CHECK_CONTAINS(r0, "Authorization: Bearer tok-h1\r\n");
    CHECK_CONTAINS(r0, "User-Agent: turbokube\r\n");
    CHECK(strcasestr(r0, "Accept-Encoding") == NULL);
    free(r0);
    /* a truncated POST response is a transport error, not retried */
    CHECK_INT(
        tk_kube_request_sync(kb, "POST", "/api/v1/events", "{}", NULL, &status, &body, 10000, &err),
        TK_ENET);
    CHECK_CONTAINS(err.msg, "POST /api/v1/events: connection closed");
    free(body);
    struct tk_kube_stats st;
    tk_kube_get_stats(kb, &st);
    CHECK_INT(st.requests, 3);
    CHECK_INT(st.retries, 1);
    CHECK_INT(st.inflight, 0);
    tk_kube_free(kb);
    tsrv_stop(s);
    tk_loop_free(loop);
}

TK_TEST_MAIN(parser_split_at_every_offset, parser_framing, parser_errors,
             h1_chunked_one_byte_per_record, h1_connection_close_and_oversized_body,
             h1_dead_connection_replays_once_when_safe, h1_server_closes_idle_connection,
             h1_priority_lane_first, h1_stall_times_out_and_cancel_is_silent,
             h1_connect_and_verify_failures, h1_kube_retry_after_and_truncation)
