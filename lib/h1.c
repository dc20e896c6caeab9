#include "h1.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "log.h"
#include "queue.h"
#include "tls.h"

#define LINE_MAX_BYTES (16 << 10)
#define DEF_CONNS 4
#define DEF_CONNECT_MS 10000
#define DEF_STALL_MS 60000
#define DEF_IDLE_MS 45000
#define READ_CHUNK 16384
#define MS_NS ((int64_t)1000000)

/* ---- the response parser ---- */

enum {
    P_STATUS,
    P_HEADERS,
    P_BODY_LEN,
    P_BODY_EOF,
    P_CHUNK_SIZE,
    P_CHUNK_DATA,
    P_CHUNK_END,
    P_TRAILERS,
    P_DONE
};

void tk_h1_parser_init(struct tk_h1_parser *p)
{
    memset(p, 0, sizeof(*p));
    tk_buf_init(&p->line, LINE_MAX_BYTES);
    tk_h1_parser_reset(p, 0);
}

void tk_h1_parser_release(struct tk_h1_parser *p)
{
    tk_buf_release(&p->line);
}

static void parser_new_response(struct tk_h1_parser *p)
{
    p->state = P_STATUS;
    p->status = 0;
    p->content_length = -1;
    p->chunk_left = 0;
    p->chunked = p->conn_close = 0;
    p->retry_after[0] = '\0';
}

void tk_h1_parser_reset(struct tk_h1_parser *p, int head)
{
    parser_new_response(p);
    p->head = head;
    p->got_bytes = 0;
    tk_buf_reset(&p->line);
}

static int has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i < n;) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (i - s == tl && !strncasecmp(v + s, tok, tl))
            return 1;
    }
    return 0;
}

static int parse_status(struct tk_h1_parser *p, const char *s, size_t n, struct tk_err *err)
{
    if (n < 12 || strncmp(s, "HTTP/1.", 7) || (s[7] != '0' && s[7] != '1') || s[8] != ' ' ||
        s[9] < '1' || s[9] > '5' || s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9' ||
        (n > 12 && s[12] != ' '))
        return tk_err_set(err, TK_ENET, "malformed HTTP status line");
    p->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    if (s[7] == '0')
        p->conn_close = 1; /* HTTP/1.0: no keep-alive unless asked, and we never ask */
    p->state = P_HEADERS;
    return 0;
}

static int parse_header(struct tk_h1_parser *p, const char *s, size_t n, struct tk_err *err)
{
    const char *colon = memchr(s, ':', n);
    size_t nl, vs, ve;

    if (!colon || colon == s)
        return tk_err_set(err, TK_ENET, "malformed HTTP header line");
    nl = (size_t)(colon - s);
    vs = nl + 1;
    ve = n;
    while (vs < ve && (s[vs] == ' ' || s[vs] == '\t'))
        vs++;
    while (ve > vs && (s[ve - 1] == ' ' || s[ve - 1] == '\t'))
        ve--;
    const char *v = s + vs;
    size_t vl = ve - vs;
    if (nl == 14 && !strncasecmp(s, "content-length", 14)) {
        int64_t cl = 0;
        if (vl == 0 || vl > 18)
            return tk_err_set(err, TK_ENET, "bad Content-Length");
        for (size_t i = 0; i < vl; i++) {
            if (v[i] < '0' || v[i] > '9')
                return tk_err_set(err, TK_ENET, "bad Content-Length");
            cl = cl * 10 + (v[i] - '0');
        }
        if (p->content_length >= 0 && p->content_length != cl)
            return tk_err_set(err, TK_ENET, "conflicting Content-Length headers");
        p->content_length = cl;
    } else if (nl == 17 && !strncasecmp(s, "transfer-encoding", 17)) {
        /* we send no TE and no Accept-Encoding: chunked is the only coding we can meet */
        if (vl != 7 || strncasecmp(v, "chunked", 7))
            return tk_err_set(err, TK_ENET, "unsupported Transfer-Encoding");
        p->chunked = 1;
    } else if (nl == 10 && !strncasecmp(s, "connection", 10)) {
        if (has_token(v, vl, "close"))
            p->conn_close = 1;
    } else if (nl == 11 && !strncasecmp(s, "retry-after", 11)) {
        size_t m = vl < sizeof(p->retry_after) - 1 ? vl : sizeof(p->retry_after) - 1;
        memcpy(p->retry_after, v, m);
        p->retry_after[m] = '\0';
    }
    return 0;
}

/* The empty line after the headers: decides how the body is delimited. */
static int end_of_headers(struct tk_h1_parser *p)
{
    if (p->status < 200) { /* 100 Continue and friends: the real response follows */
        parser_new_response(p);
        return TK_H1_MORE;
    }
    if (p->head || p->status == 204 || p->status == 304) {
        p->state = P_DONE;
    } else if (p->chunked) {
        p->state = P_CHUNK_SIZE;
    } else if (p->content_length >= 0) {
        p->state = p->content_length ? P_BODY_LEN : P_DONE;
    } else {
        p->state = P_BODY_EOF; /* delimited by the connection's end */
        p->conn_close = 1;
    }
    return p->state == P_DONE ? TK_H1_DONE : TK_H1_MORE;
}

static int parse_chunk_size(struct tk_h1_parser *p, const char *s, size_t n, struct tk_err *err)
{
    uint64_t v = 0;
    size_t i = 0;

    for (; i < n; i++) {
        int d = s[i] >= '0' && s[i] <= '9'   ? s[i] - '0'
                : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10
                : s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 10
                                             : -1;
        if (d < 0)
            break;
        if (v >> 56)
            return tk_err_set(err, TK_ENET, "chunk size too large");
        v = v * 16 + (uint64_t)d;
    }
    if (i == 0 || (i < n && s[i] != ';' && s[i] != ' ' && s[i] != '\t'))
        return tk_err_set(err, TK_ENET, "malformed chunk size line");
    p->chunk_left = v;
    p->state = v ? P_CHUNK_DATA : P_TRAILERS;
    return 0;
}

/* One complete line (CR LF or LF stripped) in the current state. */
static int parse_line(struct tk_h1_parser *p, const char *s, size_t n, struct tk_err *err)
{
    switch (p->state) {
    case P_STATUS:
        return parse_status(p, s, n, err);
    case P_HEADERS:
        return n == 0 ? end_of_headers(p) : parse_header(p, s, n, err);
    case P_CHUNK_SIZE:
        return parse_chunk_size(p, s, n, err);
    case P_CHUNK_END:
        if (n)
            return tk_err_set(err, TK_ENET, "chunk data not followed by CRLF");
        p->state = P_CHUNK_SIZE;
        return 0;
    case P_TRAILERS:
        if (n == 0) {
            p->state = P_DONE;
            return TK_H1_DONE;
        }
        return 0; /* trailers are not used */
    default:
        return tk_err_set(err, TK_ENET, "parser state");
    }
}

/* Takes bytes up to and including the next LF; calls parse_line once the line is whole. */
static int feed_line(struct tk_h1_parser *p, const char *d, size_t n, size_t *took,
                     struct tk_err *err)
{
    const char *lf = memchr(d, '\n', n);
    size_t take = lf ? (size_t)(lf - d) + 1 : n;
    const char *s;
    size_t len;

    *took = take;
    if (!lf || p->line.len) {
        if (tk_buf_append(&p->line, d, take))
            return tk_err_set(err, TK_ENET, "HTTP header line over %d bytes", LINE_MAX_BYTES);
        if (!lf)
            return 0;
        s = p->line.data;
        len = p->line.len;
    } else {
        s = d; /* the whole line is in this read: no copy */
        len = take;
        if (len > LINE_MAX_BYTES)
            return tk_err_set(err, TK_ENET, "HTTP header line over %d bytes", LINE_MAX_BYTES);
    }
    len--;
    if (len && s[len - 1] == '\r')
        len--;
    int rc = parse_line(p, s, len, err);
    tk_buf_reset(&p->line);
    return rc;
}

static int take_body(struct tk_h1_parser *p, const char *d, size_t n, uint64_t *left,
                     struct tk_buf *body, size_t *took, struct tk_err *err)
{
    size_t k = left && *left < n ? (size_t)*left : n;
    *took = k;
    if (k && tk_buf_append(body, d, k))
        return tk_err_set(err, TK_ENOMEM, "response body exceeds the %zu-byte cap", body->cap);
    if (left)
        *left -= k;
    (void)p;
    return 0;
}

int tk_h1_parser_feed(struct tk_h1_parser *p, const char *data, size_t n, size_t *used,
                      struct tk_buf *body, struct tk_err *err)
{
    size_t off = 0;

    if (n)
        p->got_bytes = 1;
    while (off < n && p->state != P_DONE) {
        size_t took = 0;
        int rc = 0;
        uint64_t left;
        switch (p->state) {
        case P_BODY_LEN:
            left = (uint64_t)p->content_length;
            rc = take_body(p, data + off, n - off, &left, body, &took, err);
            p->content_length = (int64_t)left;
            if (!rc && left == 0) {
                p->state = P_DONE;
                rc = TK_H1_DONE;
            }
            break;
        case P_BODY_EOF:
            rc = take_body(p, data + off, n - off, NULL, body, &took, err);
            break;
        case P_CHUNK_DATA:
            rc = take_body(p, data + off, n - off, &p->chunk_left, body, &took, err);
            if (!rc && p->chunk_left == 0)
                p->state = P_CHUNK_END;
            break;
        default:
            rc = feed_line(p, data + off, n - off, &took, err);
            break;
        }
        off += took;
        if (rc < 0 || (rc != TK_H1_MORE && rc != TK_H1_DONE))
            return rc;
    }
    *used = off;
    return p->state == P_DONE ? TK_H1_DONE : TK_H1_MORE;
}

int tk_h1_parser_eof(struct tk_h1_parser *p, struct tk_err *err)
{
    switch (p->state) {
    case P_DONE:
    case P_BODY_EOF:
        p->state = P_DONE;
        return TK_H1_DONE;
    case P_STATUS:
        return tk_err_set(err, TK_ENET,
                          p->got_bytes ? "connection closed inside the status line"
                                       : "connection closed before any response");
    case P_HEADERS:
        return tk_err_set(err, TK_ENET, "connection closed inside the response headers");
    default:
        return tk_err_set(err, TK_ENET, "connection closed inside the response body");
    }
}

/* ---- the pool ---- */

enum { RQ_IDLE, RQ_QUEUED, RQ_RESERVED, RQ_SENDING, RQ_WAITING };
enum { C_FREE, C_CONNECTING, C_HANDSHAKE, C_IDLE, C_BUSY };

struct h1_conn {
    struct tk_h1 *h;
    int fd; /* -1 when the slot is free */
    SSL *ssl;
    int state;
    int served; /* responses completed on this connection */
    int events; /* TK_LOOP_* bits watched */
    int want_write;
    struct tk_h1_req *req; /* in flight, or reserved for when the connection is up */
    size_t sent;
    int64_t since_ns; /* connect start, idle since, or the request's last progress */
    struct tk_timer timer;
    struct tk_h1_parser p;
};

TK_QUEUE_DEFINE(h1_queue, tk_h1_req, qprev, qnext)

struct tk_h1 {
    struct tk_loop *loop;
    struct tk_endpoint ep;
    int tls, need_resolve;
    SSL_CTX *ctx;
    struct addrinfo *ai, *ai_next;
    struct h1_conn *conns;
    int nconns;
    int64_t connect_ns, stall_ns, idle_ns;
    struct h1_queue q[2]; /* [0] priority lane, [1] the rest */
    struct tk_timer kick;
    struct tk_h1_stats stats;
    struct tk_log_limit log;
};

static void pump(struct tk_h1 *h);

static struct tk_h1_req *q_pop(struct tk_h1 *h)
{
    struct tk_h1_req *r = h->q[0].head ? h->q[0].head : h->q[1].head;
    if (r) {
        h1_queue_unlink(&h->q[r->prio ? 0 : 1], r);
        h->stats.queued--;
    }
    return r;
}

static void enqueue(struct tk_h1 *h, struct tk_h1_req *r, int front)
{
    r->state = RQ_QUEUED;
    h1_queue_push(&h->q[r->prio ? 0 : 1], r, front);
    h->stats.queued++;
    if (!tk_timer_active(&h->kick))
        tk_timer_start(h->loop, &h->kick, 0);
}

/* Hands the outcome to the owner. The request is out of every queue and connection. */
static void complete(struct tk_h1_req *r, int code, int connect_failed, const char *msg)
{
    r->state = RQ_IDLE;
    r->conn = NULL;
    r->err = code;
    r->connect_failed = connect_failed;
    if (code)
        snprintf(r->errmsg, sizeof(r->errmsg), "%.*s", (int)sizeof(r->errmsg) - 1, msg);
    else
        r->errmsg[0] = '\0';
    r->done(r, r->ud);
}

static void conn_watch(struct h1_conn *c, int events)
{
    if (events != c->events && tk_loop_mod_fd(c->h->loop, c->fd, events, NULL) == 0)
        c->events = events;
}

static void conn_arm(struct h1_conn *c, int64_t at_ns)
{
    if (!tk_timer_active(&c->timer) || at_ns < c->timer.at_ns)
        tk_timer_start(c->h->loop, &c->timer, at_ns);
}

/* Closes the connection; whatever request it carried is the caller's business. */
static void conn_close(struct h1_conn *c)
{
    struct tk_h1 *h = c->h;

    if (c->fd < 0)
        return;
    if (c->state >= C_IDLE)
        h->stats.open--;
    if (c->state == C_BUSY)
        h->stats.busy--;
    h->stats.closes++;
    tk_loop_del_fd(h->loop, c->fd);
    tk_timer_stop(h->loop, &c->timer);
    if (c->ssl) {
        /* no close_notify round trip: the server sees the FIN */
        SSL_free(c->ssl);
        c->ssl = NULL;
        ERR_clear_error();
    }
    close(c->fd);
    c->fd = -1;
    c->state = C_FREE;
    c->req = NULL;
    c->served = 0;
    c->want_write = 0;
}

static int io_read(struct h1_conn *c, char *buf, size_t n, char *emsg, size_t en)
{
    return tk_tls_read(c->fd, c->ssl, buf, n, &c->want_write, emsg, en);
}

static int io_write(struct h1_conn *c, const char *buf, size_t n, char *emsg, size_t en)
{
    return tk_tls_write(c->fd, c->ssl, buf, n, &c->want_write, emsg, en);
}

/* Connections that may still serve the queue: open, or on their way. */
static int conns_alive(const struct tk_h1 *h)
{
    int n = 0;
    for (int i = 0; i < h->nconns; i++)
        n += h->conns[i].fd >= 0;
    return n;
}

/* No connection is left to serve the queue: everything waiting fails the same way. Bounded by
 * the count now, so requests submitted from these callbacks wait for the next attempt. */
static void fail_queue(struct tk_h1 *h, int code, int connect_failed, const char *msg)
{
    unsigned n = h->stats.queued;
    struct tk_h1_req *r;

    while (n-- > 0 && (r = q_pop(h)))
        complete(r, code, connect_failed, msg);
}

static void connect_failed(struct h1_conn *c, int code, int tcp, const char *msg)
{
    struct tk_h1 *h = c->h;
    struct tk_h1_req *r = c->req;

    conn_close(c);
    if (tcp) {
        h->ai_next = h->ai_next && h->ai_next->ai_next ? h->ai_next->ai_next : h->ai;
        if (h->ai_next == h->ai && !h->ep.host_is_ip)
            h->need_resolve = 1;
    }
    if (tk_log_every(&h->log, 5000, NULL))
        tk_warn("connection failed", "server=%s:%s error=\"%s\"", h->ep.host, h->ep.port, msg);
    if (r)
        complete(r, code, tcp, msg);
    if (!conns_alive(h))
        fail_queue(h, code, tcp, msg);
}

/* Replaying a request the server may already have acted on is safe only when doing it twice
 * means the same as doing it once. GET, HEAD and OPTIONS change nothing. PUT and DELETE are
 * idempotent by HTTP's definition (RFC 9110 9.2.2), and in Kubernetes doubly so: our PUTs
 * carry the resourceVersion they replace, so a replay of one already applied is refused with
 * 409 Conflict instead of writing twice, and a replayed DELETE (UID precondition) finds 404.
 * POST (a second Event, or 409 AlreadyExists where the caller saw nothing) and PATCH (a merge
 * patch is not idempotent in general) are replayed only when not one byte of them was written,
 * i.e. the server cannot have seen them. Either way only on a connection that had answered
 * before (the stale keep-alive race), and only once. */
static int replay_safe(const struct h1_conn *c, const struct tk_h1_req *r)
{
    return c->served > 0 && !c->p.got_bytes && r->replays == 0 && (r->idempotent || c->sent == 0);
}

static int conn_open(struct h1_conn *c, struct tk_h1_req *reserved);

/* The connection broke under a request: replay it on a fresh connection or fail it. */
static void conn_died(struct h1_conn *c, const char *msg)
{
    struct tk_h1 *h = c->h;
    struct tk_h1_req *r = c->req;
    int replay = r && replay_safe(c, r);
    int got = c->p.got_bytes;
    long status = c->p.status;
    char m[160];

    snprintf(m, sizeof(m), "%s", msg);
    conn_close(c);
    if (!r)
        return;
    r->got_bytes = got;
    r->status = status;
    if (replay) {
        r->replays++;
        h->stats.replays++;
        tk_debug("replaying request on a fresh connection", "error=\"%s\"", m);
        conn_open(c, r); /* the slot just freed */
        return;
    }
    complete(r, TK_ENET, 0, m);
    pump(h); /* the slot is free for whoever waits */
}

static void conn_ready(struct h1_conn *c);
static int conn_write(struct h1_conn *c);

static void conn_send(struct h1_conn *c, struct tk_h1_req *r)
{
    struct tk_h1 *h = c->h;
    int64_t now = tk_now_ns();

    c->req = r;
    r->conn = c;
    r->state = RQ_SENDING;
    r->write_ns = now;
    if (c->state != C_BUSY)
        h->stats.busy++;
    c->state = C_BUSY;
    c->sent = 0;
    c->since_ns = now;
    tk_h1_parser_reset(&c->p, r->head);
    conn_arm(c, r->deadline_ns > 0 && r->deadline_ns < now + h->stall_ns ? r->deadline_ns
                                                                         : now + h->stall_ns);
    h->stats.requests++;
    conn_write(c);
}

/* Writes what is left of the request. Returns 0, or -1 when the connection is gone. */
static int conn_write(struct h1_conn *c)
{
    struct tk_h1_req *r = c->req;
    char emsg[160];

    c->want_write = 0;
    while (c->sent < r->out.len) {
        int w = io_write(c, r->out.data + c->sent, r->out.len - c->sent, emsg, sizeof(emsg));
        if (w == TK_IO_ERR) {
            conn_died(c, emsg);
            return -1;
        }
        if (w == TK_IO_AGAIN)
            break;
        c->sent += (size_t)w;
    }
    if (c->sent == r->out.len)
        r->state = RQ_WAITING;
    conn_watch(c, TK_LOOP_READ | (c->want_write ? TK_LOOP_WRITE : 0));
    return 0;
}

/* The response is complete: hand it over, keep or close the connection, serve the queue. */
static void conn_response(struct h1_conn *c, int extra_bytes)
{
    struct tk_h1 *h = c->h;
    struct tk_h1_req *r = c->req;

    r->status = c->p.status;
    r->got_bytes = 1;
    memcpy(r->retry_after, c->p.retry_after, sizeof(r->retry_after));
    c->req = NULL;
    c->served++;
    if (c->p.conn_close || extra_bytes) {
        conn_close(c);
    } else {
        c->state = C_IDLE;
        h->stats.busy--;
        c->since_ns = tk_now_ns();
        conn_arm(c, c->since_ns + h->idle_ns);
    }
    complete(r, 0, 0, NULL);
    pump(h);
}

static void conn_failed_response(struct h1_conn *c, int code, const char *msg)
{
    struct tk_h1_req *r = c->req;
    r->got_bytes = c->p.got_bytes;
    r->status = c->p.status;
    conn_close(c);
    complete(r, code, 0, msg);
    pump(c->h);
}

/* Reads until the response is complete or the socket is drained. */
static void conn_read(struct h1_conn *c)
{
    struct tk_h1 *h = c->h;
    char buf[READ_CHUNK], emsg[160];
    struct tk_err err = {0};

    for (;;) {
        int n = io_read(c, buf, sizeof(buf), emsg, sizeof(emsg));
        if (n == TK_IO_AGAIN) {
            conn_watch(c, TK_LOOP_READ | (c->want_write ? TK_LOOP_WRITE : 0));
            return;
        }
        if (n == TK_IO_EOF || n == TK_IO_ERR) {
            if (!c->req) { /* the server closed an idle connection (IdleTimeout, restart) */
                h->stats.server_closes++;
                conn_close(c);
            } else if (n == TK_IO_EOF && tk_h1_parser_eof(&c->p, &err) == TK_H1_DONE) {
                c->p.conn_close = 1;
                conn_response(c, 0);
            } else {
                conn_died(c, n == TK_IO_EOF ? err.msg : emsg);
            }
            return;
        }
        if (!c->req) {
            conn_close(c); /* bytes nobody asked for */
            return;
        }
        c->since_ns = tk_now_ns();
        size_t used = 0;
        int rc = tk_h1_parser_feed(&c->p, buf, (size_t)n, &used, c->req->body, &err);
        if (rc == TK_H1_DONE) {
            int extra = used < (size_t)n;
            if (!extra && c->ssl && SSL_has_pending(c->ssl)) {
                /* bytes read ahead past the response: a close_notify (then this connection
                 * must not take the next request) or data nobody asked for */
                char more[256];
                extra = io_read(c, more, sizeof(more), emsg, sizeof(emsg)) != TK_IO_AGAIN;
            }
            conn_response(c, extra);
            return;
        }
        if (rc != TK_H1_MORE) {
            conn_failed_response(c, err.code, err.msg);
            return;
        }
    }
}

static void conn_handshake(struct h1_conn *c)
{
    char emsg[160];
    int ww = 0, r = tk_tls_handshake(c->ssl, &ww, emsg, sizeof(emsg));

    if (r == 1)
        conn_ready(c);
    else if (r == TK_IO_AGAIN)
        conn_watch(c, TK_LOOP_READ | (ww ? TK_LOOP_WRITE : 0));
    else
        connect_failed(c, TK_ETLS, 0, emsg);
}

static int tls_start(struct h1_conn *c)
{
    struct tk_h1 *h = c->h;

    if (!(c->ssl = tk_tls_new_ssl(h->ctx, c->fd, h->ep.name, h->ep.name_is_ip, NULL)))
        return -1;
    c->state = C_HANDSHAKE;
    conn_handshake(c);
    return 0;
}

static void conn_connected(struct h1_conn *c)
{
    char emsg[160];

    if (tk_tcp_connected(c->fd, c->h->ep.host, c->h->ep.port, emsg, sizeof(emsg))) {
        connect_failed(c, TK_ENET, 1, emsg);
        return;
    }
    if (!c->h->tls) {
        conn_ready(c);
        return;
    }
    if (tls_start(c)) {
        tk_tls_errmsg(emsg, sizeof(emsg), "TLS setup");
        connect_failed(c, TK_ETLS, 0, emsg);
    }
}

static void conn_ready(struct h1_conn *c)
{
    struct tk_h1 *h = c->h;
    struct tk_h1_req *r = c->req;

    h->stats.handshakes++;
    h->stats.open++;
    c->state = C_IDLE;
    c->since_ns = tk_now_ns();
    conn_watch(c, TK_LOOP_READ);
    conn_arm(c, c->since_ns + h->idle_ns);
    if (r) {
        c->req = NULL;
        conn_send(c, r);
        return;
    }
    pump(h);
}

static void conn_event(int fd, int events, void *ud)
{
    struct h1_conn *c = ud;

    if (c->fd != fd)
        return;
    switch (c->state) {
    case C_CONNECTING:
        conn_connected(c);
        return;
    case C_HANDSHAKE:
        conn_handshake(c);
        return;
    default:
        break;
    }
    if (c->req && c->req->state == RQ_SENDING && (events & (TK_LOOP_WRITE | TK_LOOP_READ))) {
        if (conn_write(c))
            return;
    } else if (c->want_write && (events & TK_LOOP_WRITE)) {
        c->want_write = 0; /* a read that wanted to write: read again */
    }
    if (events & (TK_LOOP_READ | TK_LOOP_ERROR))
        conn_read(c);
}

static void conn_timer_fire(struct tk_timer *t, void *ud)
{
    struct h1_conn *c = ud;
    struct tk_h1 *h = c->h;
    int64_t now = tk_now_ns(), due;
    char emsg[96];
    (void)t;

    if (c->fd < 0)
        return;
    if (c->state == C_CONNECTING || c->state == C_HANDSHAKE) {
        due = c->since_ns + h->connect_ns;
        if (now >= due) {
            snprintf(emsg, sizeof(emsg), "connect to %s:%s timed out", h->ep.host, h->ep.port);
            connect_failed(c, TK_ETIMEOUT, 1, emsg);
            return;
        }
    } else if (c->state == C_IDLE) {
        due = c->since_ns + h->idle_ns;
        if (now >= due) {
            conn_close(c);
            return;
        }
    } else {
        struct tk_h1_req *r = c->req;
        due = c->since_ns + h->stall_ns;
        if (r->deadline_ns > 0 && r->deadline_ns < due)
            due = r->deadline_ns;
        if (now >= due) {
            snprintf(emsg, sizeof(emsg), "%s",
                     r->deadline_ns > 0 && now >= r->deadline_ns
                         ? "request timed out"
                         : "no response progress for the stall limit");
            conn_failed_response(c, TK_ETIMEOUT, emsg);
            return;
        }
    }
    tk_timer_start(h->loop, &c->timer, due);
}

static void resolve(struct tk_h1 *h)
{
    struct addrinfo *ai = tk_tcp_resolve(h->ep.host, h->ep.port);

    h->need_resolve = 0;
    if (!ai)
        return; /* keep the addresses we had */
    freeaddrinfo(h->ai);
    h->ai = h->ai_next = ai;
}

/* Starts a connection in the free slot c; reserved (or NULL) is sent as soon as it is up. */
static int conn_open(struct h1_conn *c, struct tk_h1_req *reserved)
{
    struct tk_h1 *h = c->h;
    const struct addrinfo *a;
    char emsg[160];

    if (h->need_resolve)
        resolve(h);
    a = h->ai_next ? h->ai_next : h->ai;
    c->req = reserved;
    if (reserved)
        reserved->state = RQ_RESERVED, reserved->conn = c;
    c->served = 0;
    c->events = TK_LOOP_WRITE;
    c->since_ns = tk_now_ns();
    h->stats.connects++;
    int done = 0;
    c->fd = tk_tcp_connect(a, &done, emsg, sizeof(emsg));
    if (c->fd < 0) {
        c->fd = -1;
        /* tk_tcp_connect's message, with the address it tried */
        char m[200];
        snprintf(m, sizeof(m), "%s (%s:%s)", emsg, h->ep.host, h->ep.port);
        if (reserved)
            c->req = NULL, complete(reserved, TK_ENET, 1, m);
        return -1;
    }
    c->state = C_CONNECTING;
    if (tk_loop_add_fd(h->loop, c->fd, TK_LOOP_WRITE, conn_event, c, NULL)) {
        close(c->fd);
        c->fd = -1;
        c->state = C_FREE;
        if (reserved)
            c->req = NULL, complete(reserved, TK_ENET, 1, "cannot watch the socket");
        return -1;
    }
    conn_arm(c, c->since_ns + h->connect_ns);
    if (done)
        conn_connected(c);
    return 0;
}

/* Gives waiting requests to idle connections; opens connections (up to the pool size) for the
 * ones still waiting beyond those already being set up. */
static void pump(struct tk_h1 *h)
{
    for (;;) {
        struct h1_conn *idle = NULL, *free_slot = NULL;
        int setting_up = 0;
        if (!h->stats.queued)
            return;
        for (int i = 0; i < h->nconns; i++) {
            struct h1_conn *c = &h->conns[i];
            if (c->state == C_IDLE && !idle)
                idle = c;
            else if (c->state == C_FREE && !free_slot)
                free_slot = c;
            else if ((c->state == C_CONNECTING || c->state == C_HANDSHAKE) && !c->req)
                setting_up++;
        }
        if (idle) {
            conn_send(idle, q_pop(h));
            continue;
        }
        if (!free_slot || (unsigned)setting_up >= h->stats.queued)
            return;
        conn_open(free_slot, NULL);
    }
}

static void kick_fire(struct tk_timer *t, void *ud)
{
    (void)t;
    pump(ud);
}

/* ---- TLS context ---- */

static int ctx_new(struct tk_h1 *h, const struct tk_h1_opts *o, struct tk_err *err)
{
    static const char alpn[] = "\x08http/1.1";
    struct tk_tls_identity id;
    int rc = 0;

    if (o->cert_pem && (rc = tk_tls_identity_load(&id, o->cert_pem, o->key_pem, err))) {
        tk_tls_identity_release(&id);
        return rc;
    }
    h->ctx = tk_tls_client_ctx(o->ca_pem, o->insecure, o->cert_pem ? &id : NULL, alpn,
                               sizeof(alpn) - 1, err);
    if (o->cert_pem)
        tk_tls_identity_release(&id);
    return h->ctx ? 0 : err->code;
}

/* ---- lifecycle ---- */

struct tk_h1 *tk_h1_new(struct tk_loop *loop, const struct tk_h1_opts *o, struct tk_err *err)
{
    struct tk_h1 *h;

    if (!o) {
        tk_err_set(err, TK_EINVAL, "h1: host and port are required");
        return NULL;
    }
    h = tk_xcalloc(1, sizeof(*h));
    h->loop = loop;
    if (tk_endpoint_init(&h->ep, "h1", o->host, o->port, o->server_name, o->cert_pem, o->key_pem,
                         err)) {
        tk_endpoint_release(&h->ep);
        free(h);
        return NULL;
    }
    h->tls = o->tls;
    h->nconns = o->conns > 0 ? o->conns : DEF_CONNS;
    h->connect_ns = (o->connect_timeout_ms > 0 ? o->connect_timeout_ms : DEF_CONNECT_MS) * MS_NS;
    h->stall_ns = (o->stall_ms > 0 ? o->stall_ms : DEF_STALL_MS) * MS_NS;
    h->idle_ns = (o->idle_ms > 0 ? o->idle_ms : DEF_IDLE_MS) * MS_NS;
    h->conns = tk_xcalloc((size_t)h->nconns, sizeof(*h->conns));
    for (int i = 0; i < h->nconns; i++) {
        struct h1_conn *c = &h->conns[i];
        c->h = h;
        c->fd = -1;
        tk_timer_init(&c->timer, conn_timer_fire, c);
        tk_h1_parser_init(&c->p);
    }
    tk_timer_init(&h->kick, kick_fire, h);
    resolve(h);
    if (!h->ai) {
        tk_err_set(err, TK_EINVAL, "cannot resolve '%s'", h->ep.host);
        goto fail;
    }
    if (h->tls && ctx_new(h, o, err))
        goto fail;
    return h;
fail:
    tk_h1_free(h);
    return NULL;
}

void tk_h1_free(struct tk_h1 *h)
{
    struct tk_h1_req *r;

    if (!h)
        return;
    for (int i = 0; i < h->nconns; i++) {
        struct h1_conn *c = &h->conns[i];
        if (c->req)
            c->req->state = RQ_IDLE, c->req->conn = NULL;
        conn_close(c);
        tk_h1_parser_release(&c->p);
    }
    while ((r = q_pop(h)))
        r->state = RQ_IDLE;
    tk_timer_stop(h->loop, &h->kick);
    SSL_CTX_free(h->ctx);
    freeaddrinfo(h->ai);
    free(h->conns);
    tk_endpoint_release(&h->ep);
    free(h);
}

/* ---- requests ---- */

void tk_h1_req_init(struct tk_h1_req *r)
{
    memset(r, 0, sizeof(*r));
    tk_buf_init(&r->out, 0);
}

void tk_h1_req_release(struct tk_h1_req *r)
{
    tk_buf_release(&r->out);
}

static int method_is(const char *m, const char *x)
{
    return !strcmp(m, x);
}

static void put_num(struct tk_buf *b, size_t v)
{
    char d[24];
    int i = (int)sizeof(d);
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    tk_buf_append(b, d + i, sizeof(d) - (size_t)i);
}

int tk_h1_submit(struct tk_h1 *h, struct tk_h1_req *r, const char *method, const char *target,
                 const char *headers, const char *body, size_t body_len, struct tk_buf *body_out,
                 int64_t deadline_ns, int prio, tk_h1_done_fn done, void *ud)
{
    struct tk_buf *b = &r->out;

    if (r->state != RQ_IDLE)
        return TK_ESTATE;
    tk_buf_reset(b);
    tk_buf_puts(b, method);
    tk_buf_append(b, " ", 1);
    tk_buf_puts(b, target);
    tk_buf_puts(b, " HTTP/1.1\r\nHost: ");
    tk_buf_puts(b, h->ep.hostport);
    tk_buf_append(b, "\r\n", 2);
    if (headers)
        tk_buf_puts(b, headers);
    if (body || method_is(method, "POST") || method_is(method, "PUT") ||
        method_is(method, "PATCH")) {
        tk_buf_puts(b, "Content-Length: ");
        put_num(b, body ? body_len : 0);
        tk_buf_append(b, "\r\n", 2);
    }
    tk_buf_append(b, "\r\n", 2);
    if (body && body_len)
        tk_buf_append(b, body, body_len);
    r->h = h;
    r->body = body_out;
    r->done = done;
    r->ud = ud;
    r->deadline_ns = deadline_ns;
    r->prio = prio != 0;
    r->head = method_is(method, "HEAD");
    r->idempotent = r->head || method_is(method, "GET") || method_is(method, "OPTIONS") ||
                    method_is(method, "PUT") || method_is(method, "DELETE");
    r->replays = 0;
    r->status = 0;
    r->err = r->connect_failed = r->got_bytes = 0;
    r->retry_after[0] = r->errmsg[0] = '\0';
    r->write_ns = 0;
    r->conn = NULL;
    enqueue(h, r, 0);
    return 0;
}

void tk_h1_cancel(struct tk_h1_req *r)
{
    if (!r || r->state == RQ_IDLE)
        return;
    if (r->state == RQ_QUEUED) {
        h1_queue_unlink(&r->h->q[r->prio ? 0 : 1], r);
        r->h->stats.queued--;
    } else if (r->conn) {
        r->conn->req = NULL;
        conn_close(r->conn);
    }
    r->state = RQ_IDLE;
    r->conn = NULL;
}

void tk_h1_get_stats(const struct tk_h1 *h, struct tk_h1_stats *out)
{
    *out = h->stats;
}
