#include "h2.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "hpack.h"
#include "log.h"
#include "queue.h"
#include "tls.h"

#define MS_NS ((int64_t)1000000)
#define MAX_FRAME 16384          /* what we accept (the protocol's default) */
#define STREAM_WINDOW (1u << 20) /* our receive window per stream */
#define CONN_WINDOW (16u << 20)  /* ... and for the connection */
#define DEFAULT_WINDOW 65535     /* the protocol's initial windows */
#define OUT_HIGH (256u << 10)    /* stop framing bodies beyond this much unsent */
#define HBLOCK_MAX (256u << 10)  /* header block (HEADERS + CONTINUATION) cap */
#define READ_CHUNK 16384
#define MAX_REFUSED 3
#define PACE_LOWAT (64u << 10) /* paced reading: bytes that wake us before the step */

enum { RQ_IDLE, RQ_QUEUED, RQ_ACTIVE };
enum { C_CONNECTING, C_HANDSHAKE, C_SETTINGS, C_READY };
enum { F_END_STREAM = 0x1, F_ACK = 0x1, F_END_HEADERS = 0x4, F_PADDED = 0x8, F_PRIORITY = 0x20 };
enum {
    E_NO_ERROR = 0,
    E_PROTOCOL = 1,
    E_FLOW_CONTROL = 3,
    E_FRAME_SIZE = 6,
    E_REFUSED_STREAM = 7,
    E_CANCEL = 8,
    E_COMPRESSION = 9
};

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct h2_conn {
    struct tk_h2 *h;
    struct h2_conn *next; /* h->draining */
    int fd;
    SSL *ssl;
    int state, events, want_write, draining;
    struct tk_buf out;
    size_t out_off;
    struct tk_h2_reader rd;
    struct tk_hpack_dec dec;
    struct tk_buf hblock; /* a header block being assembled */
    uint32_t hblock_stream;
    int in_headers, hblock_end_stream;
    struct tk_h2_req *streams; /* active, doubly linked */
    unsigned nstreams;
    uint32_t next_id, peer_max_streams, peer_max_frame;
    int64_t peer_init_window, send_window;
    uint32_t conn_unacked;
    int64_t since_ns, last_read_ns, idle_since_ns, ping_sent_ns;
    struct tk_timer timer;
    int paced;              /* SO_RCVLOWAT is PACE_LOWAT: small reads wait for the pace timer */
    uint64_t stream_frames; /* frames of streams read (not the connection's own) */
    struct tk_timer pace;   /* the next step of read_pace_ns, while paced */
};

TK_QUEUE_DEFINE(req_queue, tk_h2_req, prev, next)

struct tk_h2 {
    struct tk_loop *loop;
    struct tk_endpoint ep;
    int tls, need_resolve, has_id;
    SSL_CTX *ctx;
    struct tk_tls_identity id; /* set per connection when the context is shared */
    struct addrinfo *ai, *ai_next;
    struct h2_conn *conn;     /* takes new streams */
    struct h2_conn *draining; /* after GOAWAY: finishing what they carry */
    struct req_queue q[2];    /* [0] priority lane */
    int64_t connect_ns, idle_ns, read_idle_ns, ping_timeout_ns, pace_ns;
    struct tk_timer kick;
    struct tk_h2_stats stats;
    struct tk_log_limit log;
};

/* ---- the frame reader ---- */

void tk_h2_reader_init(struct tk_h2_reader *rd)
{
    memset(rd, 0, sizeof(*rd));
    tk_buf_init(&rd->payload, 0);
}

void tk_h2_reader_release(struct tk_h2_reader *rd)
{
    tk_buf_release(&rd->payload);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int reader_header(struct tk_h2_reader *rd, struct tk_err *err)
{
    const uint8_t *h = rd->hdr;

    rd->f.len = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
    rd->f.type = h[3];
    rd->f.flags = h[4];
    rd->f.stream = be32(h + 5) & 0x7fffffff;
    rd->hdr_got = 0;
    if (rd->f.len > MAX_FRAME)
        return tk_err_set(err, TK_ENET, "HTTP/2 frame of %u bytes over our 16 KiB maximum",
                          rd->f.len);
    rd->left = rd->f.len;
    rd->pad_left = 0;
    rd->pad_pending = rd->f.type == TK_H2_DATA && (rd->f.flags & F_PADDED);
    if (rd->pad_pending && rd->f.len == 0)
        return tk_err_set(err, TK_ENET, "HTTP/2 padded DATA frame without a pad length");
    tk_buf_reset(&rd->payload);
    return 0;
}

/* Feeds DATA payload bytes; returns what was used or a negative error / callback value. */
static int reader_data(struct tk_h2_reader *rd, const char *p, size_t n, size_t *used,
                       const struct tk_h2_reader_cb *cb, void *ud, struct tk_err *err)
{
    size_t take = n < rd->left ? n : rd->left;
    size_t off = 0;

    if (rd->pad_pending && take > 0) {
        rd->pad_pending = 0;
        rd->pad_left = (uint8_t)p[0];
        rd->left--;
        off = 1;
        if (rd->pad_left > rd->left)
            return tk_err_set(err, TK_ENET, "HTTP/2 padding longer than its frame");
    }
    size_t data_left = rd->left - rd->pad_left;
    size_t d = take - off < data_left ? take - off : data_left;
    size_t pad = take - off - d;
    rd->left -= (uint32_t)(d + pad);
    rd->pad_left -= (uint32_t)pad;
    *used = take;
    if (d > 0 || rd->left == 0) {
        int rc = cb->data(&rd->f, p + off, d, rd->left == 0, ud);
        if (rc)
            return rc;
    }
    return 0;
}

int tk_h2_reader_feed(struct tk_h2_reader *rd, const char *p, size_t n,
                      const struct tk_h2_reader_cb *cb, void *ud, struct tk_err *err)
{
    while (n > 0) {
        int rc;
        if (rd->hdr_got < 9 && rd->left == 0) {
            size_t k = 9 - rd->hdr_got < n ? 9 - rd->hdr_got : n;
            memcpy(rd->hdr + rd->hdr_got, p, k);
            rd->hdr_got += (unsigned)k;
            p += k;
            n -= k;
            if (rd->hdr_got < 9)
                return 0;
            if ((rc = reader_header(rd, err)))
                return rc;
            if (rd->left > 0)
                continue;
            /* an empty frame is complete at once */
            rc = rd->f.type == TK_H2_DATA ? cb->data(&rd->f, p, 0, 1, ud)
                                          : cb->frame(&rd->f, (const uint8_t *)"", ud);
            if (rc)
                return rc;
            continue;
        }
        if (rd->f.type == TK_H2_DATA) {
            size_t used = 0;
            if ((rc = reader_data(rd, p, n, &used, cb, ud, err)))
                return rc;
            p += used;
            n -= used;
            continue;
        }
        size_t k = n < rd->left ? n : rd->left;
        tk_buf_append(&rd->payload, p, k);
        rd->left -= (uint32_t)k;
        p += k;
        n -= k;
        if (rd->left == 0) {
            rc = cb->frame(&rd->f, (const uint8_t *)rd->payload.data, ud);
            if (rc)
                return rc; /* rd may be gone with its connection */
            if (rd->payload.alloc > 1024)
                tk_buf_release(&rd->payload); /* idle connections keep no frame buffer */
            else
                tk_buf_reset(&rd->payload);
        }
    }
    return 0;
}

/* ---- output ---- */

static void put_frame_hdr(struct tk_buf *b, uint32_t len, uint8_t type, uint8_t flags,
                          uint32_t stream)
{
    uint8_t h[9] = {(uint8_t)(len >> 16),
                    (uint8_t)(len >> 8),
                    (uint8_t)len,
                    type,
                    flags,
                    (uint8_t)(stream >> 24 & 0x7f),
                    (uint8_t)(stream >> 16),
                    (uint8_t)(stream >> 8),
                    (uint8_t)stream};
    tk_buf_append(b, h, sizeof(h));
}

static void put_u32(struct tk_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    tk_buf_append(b, x, 4);
}

static void put_rst(struct h2_conn *c, uint32_t stream, uint32_t code)
{
    put_frame_hdr(&c->out, 4, TK_H2_RST_STREAM, 0, stream);
    put_u32(&c->out, code);
}

static void put_window_update(struct h2_conn *c, uint32_t stream, uint32_t inc)
{
    put_frame_hdr(&c->out, 4, TK_H2_WINDOW_UPDATE, 0, stream);
    put_u32(&c->out, inc);
}

static void conn_watch(struct h2_conn *c, int events)
{
    if (events != c->events && tk_loop_mod_fd(c->h->loop, c->fd, events, NULL) == 0)
        c->events = events;
}

static void conn_arm(struct h2_conn *c, int64_t at_ns)
{
    if (!tk_timer_active(&c->timer) || at_ns < c->timer.at_ns)
        tk_timer_start(c->h->loop, &c->timer, at_ns);
}

/* Writes what is buffered. Returns 0, or -1 with emsg when the connection failed. */
static int flush(struct h2_conn *c, char *emsg, size_t en)
{
    c->want_write = 0;
    while (c->out_off < c->out.len) {
        int w = tk_tls_write(c->fd, c->ssl, c->out.data + c->out_off, c->out.len - c->out_off,
                             &c->want_write, emsg, en);
        if (w == TK_IO_ERR)
            return -1;
        if (w == TK_IO_AGAIN)
            break;
        c->out_off += (size_t)w;
    }
    if (c->out_off == c->out.len) {
        c->out_off = 0;
        if (c->out.alloc > 4096)
            tk_buf_release(&c->out); /* an idle connection keeps no output buffer */
        else
            tk_buf_reset(&c->out);
    }
    conn_watch(c, TK_LOOP_READ | (c->want_write ? TK_LOOP_WRITE : 0));
    return 0;
}

/* ---- queues and streams ---- */

static void kick(struct tk_h2 *h)
{
    if (!tk_timer_active(&h->kick))
        tk_timer_start(h->loop, &h->kick, 0);
}

static void enqueue(struct tk_h2 *h, struct tk_h2_req *r, int front)
{
    r->state = RQ_QUEUED;
    r->conn = NULL;
    req_queue_push(&h->q[r->prio ? 0 : 1], r, front);
    h->stats.queued++;
    if (r->deadline_ns > 0 && h->conn)
        conn_arm(h->conn, r->deadline_ns); /* it bounds the wait for a stream too */
    kick(h);
}

static void stream_unlink(struct tk_h2_req *r)
{
    struct h2_conn *c = r->conn;

    if (r->prev)
        r->prev->next = r->next;
    else
        c->streams = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    c->nstreams--;
    c->h->stats.active--;
    if (c->nstreams == 0) {
        c->idle_since_ns = tk_now_ns();
        if (c->draining)
            conn_arm(c, 0); /* after GOAWAY: its last stream is done, close it now */
    }
    if (c->h->stats.queued)
        kick(c->h); /* a stream slot is free */
    r->conn = NULL;
}

static struct tk_h2_req *stream_find(const struct h2_conn *c, uint32_t id)
{
    for (struct tk_h2_req *r = c->streams; r; r = r->next)
        if (r->id == id)
            return r;
    return NULL;
}

/* Hands the outcome to the owner; r is out of every queue and connection. */
static void complete(struct tk_h2_req *r, int code, int connect_failed, const char *msg)
{
    if (r->conn)
        stream_unlink(r);
    r->state = RQ_IDLE;
    r->err = code;
    r->connect_failed = connect_failed;
    if (code)
        snprintf(r->errmsg, sizeof(r->errmsg), "%.*s", (int)sizeof(r->errmsg) - 1, msg);
    else
        r->errmsg[0] = '\0';
    tk_buf_release(&r->body_in);
    tk_buf_release(&r->block);
    r->done(r, r->ud);
}

/* The stream ends on our side: reset it with the HTTP/2 error h2code and report code, msg. */
static void stream_reset(struct tk_h2_req *r, uint32_t h2code, int code, const char *msg)
{
    put_rst(r->conn, r->id, h2code);
    kick(r->h); /* flush from the loop */
    complete(r, code, 0, msg);
}

/* ... for a reason of ours (cap, sink abort, timeout): CANCEL. */
static void stream_abort(struct tk_h2_req *r, int code, const char *msg)
{
    stream_reset(r, E_CANCEL, code, msg);
}

/* Frames as much of every waiting body as the windows allow. */
static void send_bodies(struct h2_conn *c)
{
    for (struct tk_h2_req *r = c->streams; r; r = r->next) {
        while (r->body_sent < r->body_in.len && c->out.len - c->out_off < OUT_HIGH) {
            size_t left = r->body_in.len - r->body_sent, n = left;
            if ((int64_t)n > r->send_window)
                n = r->send_window > 0 ? (size_t)r->send_window : 0;
            if ((int64_t)n > c->send_window)
                n = c->send_window > 0 ? (size_t)c->send_window : 0;
            if (n > c->peer_max_frame)
                n = c->peer_max_frame;
            if (n == 0)
                break;
            put_frame_hdr(&c->out, (uint32_t)n, TK_H2_DATA, n == left ? F_END_STREAM : 0, r->id);
            tk_buf_append(&c->out, r->body_in.data + r->body_sent, n);
            r->body_sent += n;
            r->send_window -= (int64_t)n;
            c->send_window -= (int64_t)n;
        }
    }
}

static void start_stream(struct h2_conn *c, struct tk_h2_req *r)
{
    struct tk_h2 *h = c->h;
    size_t off = 0, n = r->block.len;
    int64_t now = tk_now_ns();

    r->id = c->next_id;
    c->next_id += 2;
    if (c->next_id > 0x7fffffff)
        c->draining = 1; /* stream ids run out: the next request opens a fresh connection */
    r->state = RQ_ACTIVE;
    r->conn = c;
    r->send_window = c->peer_init_window;
    r->unacked = 0;
    r->body_sent = 0;
    r->headers_done = 0;
    r->progress_ns = r->write_ns = now;
    r->prev = NULL;
    r->next = c->streams;
    if (c->streams)
        c->streams->prev = r;
    c->streams = r;
    c->nstreams++;
    h->stats.active++;
    h->stats.streams++;
    /* HEADERS, then CONTINUATION while the block is longer than the peer's frame size */
    do {
        size_t k = n - off < c->peer_max_frame ? n - off : c->peer_max_frame;
        uint8_t flags = off + k == n ? F_END_HEADERS : 0;
        if (off == 0 && r->body_in.len == 0)
            flags |= F_END_STREAM;
        put_frame_hdr(&c->out, (uint32_t)k, off == 0 ? TK_H2_HEADERS : TK_H2_CONTINUATION, flags,
                      r->id);
        tk_buf_append(&c->out, r->block.data + off, k);
        off += k;
    } while (off < n);
    if (r->deadline_ns > 0)
        conn_arm(c, r->deadline_ns);
    if (r->stall_ns > 0)
        conn_arm(c, now + r->stall_ns);
}

static struct tk_h2_req *q_pop(struct tk_h2 *h)
{
    for (int i = 0; i < 2; i++) {
        struct tk_h2_req *r = h->q[i].head;
        if (r) {
            req_queue_unlink(&h->q[i], r);
            h->stats.queued--;
            return r;
        }
    }
    return NULL;
}

/* ---- connections ---- */

static void conn_event(int fd, int events, void *ud);
static void conn_timer_fire(struct tk_timer *t, void *ud);
static void pace_fire(struct tk_timer *t, void *ud);
static void conn_free(struct h2_conn *c);
static int64_t expire_queued(struct tk_h2 *h, int64_t now);

static void resolve(struct tk_h2 *h)
{
    struct addrinfo *ai = tk_tcp_resolve(h->ep.host, h->ep.port);

    h->need_resolve = 0;
    if (!ai)
        return;
    freeaddrinfo(h->ai);
    h->ai = h->ai_next = ai;
}

/* Fails every queued request the same way (bounded by the count now: requests submitted from
 * these callbacks wait for the next connection). */
static void fail_queue(struct tk_h2 *h, int code, int connect_failed, const char *msg)
{
    unsigned n = h->stats.queued;
    struct tk_h2_req *r;

    while (n-- > 0 && (r = q_pop(h))) {
        r->state = RQ_IDLE;
        complete(r, code, connect_failed, msg);
    }
}

/* Ends the connection: its streams fail with code/msg; queued requests wait for the next one
 * (or fail too when this one never came up). */
static void conn_end(struct h2_conn *c, int code, const char *msg)
{
    struct tk_h2 *h = c->h;
    struct tk_h2_req *r;
    int never_up = c->state != C_READY;
    char m[200];

    snprintf(m, sizeof(m), "%s", msg);
    if (h->conn == c)
        h->conn = NULL;
    else
        for (struct h2_conn **p = &h->draining; *p; p = &(*p)->next)
            if (*p == c) {
                *p = c->next;
                break;
            }
    if (code && tk_log_every(&h->log, 5000, NULL))
        tk_warn("HTTP/2 connection ended", "server=%s:%s error=\"%s\"", h->ep.host, h->ep.port, m);
    if (never_up && code) {
        h->ai_next = h->ai_next && h->ai_next->ai_next ? h->ai_next->ai_next : h->ai;
        if (h->ai_next == h->ai && !h->ep.host_is_ip)
            h->need_resolve = 1;
    }
    while ((r = c->streams))
        complete(r, code ? code : TK_ENET, 0, code ? m : "connection closed");
    conn_free(c);
    if (never_up && code)
        fail_queue(h, code, 1, m);
    if (h->stats.queued)
        kick(h);
}

/* A protocol error of the peer's: tell it (best effort) and end the connection. */
static int conn_error(struct h2_conn *c, uint32_t code, const char *msg)
{
    char emsg[160];

    put_frame_hdr(&c->out, 8, TK_H2_GOAWAY, 0, 0);
    put_u32(&c->out, 0);
    put_u32(&c->out, code);
    flush(c, emsg, sizeof(emsg));
    conn_end(c, TK_ENET, msg);
    return -1;
}

static void conn_free(struct h2_conn *c)
{
    struct tk_h2 *h = c->h;

    h->stats.closes++;
    if (c->state == C_READY)
        h->stats.open--;
    if (c->fd >= 0) {
        tk_loop_del_fd(h->loop, c->fd);
        if (c->ssl)
            SSL_free(c->ssl);
        ERR_clear_error();
        close(c->fd);
    }
    tk_timer_stop(h->loop, &c->timer);
    tk_timer_stop(h->loop, &c->pace);
    tk_buf_release(&c->out);
    tk_buf_release(&c->hblock);
    tk_h2_reader_release(&c->rd);
    tk_hpack_dec_release(&c->dec);
    free(c);
}

static void conn_start_h2(struct h2_conn *c)
{
    struct tk_buf *b = &c->out;
    char emsg[160];

    tk_buf_append(b, preface, sizeof(preface) - 1);
    put_frame_hdr(b, 18, TK_H2_SETTINGS, 0, 0);
    uint8_t s[18] = {0,
                     1,
                     0,
                     0,
                     0,
                     0, /* HEADER_TABLE_SIZE 0 */
                     0,
                     2,
                     0,
                     0,
                     0,
                     0, /* ENABLE_PUSH 0 */
                     0,
                     4,
                     (uint8_t)(STREAM_WINDOW >> 24),
                     (uint8_t)(STREAM_WINDOW >> 16),
                     (uint8_t)(STREAM_WINDOW >> 8),
                     (uint8_t)STREAM_WINDOW};
    tk_buf_append(b, s, sizeof(s));
    put_window_update(c, 0, CONN_WINDOW - DEFAULT_WINDOW);
    c->state = C_SETTINGS;
    c->last_read_ns = tk_now_ns();
    if (flush(c, emsg, sizeof(emsg)))
        conn_end(c, TK_ENET, emsg);
}

static void conn_handshake(struct h2_conn *c)
{
    char emsg[160];
    int ww = 0, r = tk_tls_handshake(c->ssl, &ww, emsg, sizeof(emsg));
    const unsigned char *alpn = NULL;
    unsigned alen = 0;

    if (r == TK_IO_AGAIN) {
        conn_watch(c, TK_LOOP_READ | (ww ? TK_LOOP_WRITE : 0));
        return;
    }
    if (r != 1) {
        conn_end(c, TK_ETLS, emsg);
        return;
    }
    SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
    if (alen != 2 || memcmp(alpn, "h2", 2)) {
        conn_end(c, TK_ENET, "the server did not agree to HTTP/2 (ALPN h2)");
        return;
    }
    conn_start_h2(c);
}

static void conn_connected(struct h2_conn *c)
{
    struct tk_h2 *h = c->h;
    char emsg[200];

    if (tk_tcp_connected(c->fd, h->ep.host, h->ep.port, emsg, sizeof(emsg))) {
        conn_end(c, TK_ENET, emsg);
        return;
    }
    if (!h->tls) {
        conn_start_h2(c);
        return;
    }
    c->ssl = tk_tls_new_ssl(h->ctx, c->fd, h->ep.name, h->ep.name_is_ip, h->has_id ? &h->id : NULL);
    if (!c->ssl) {
        tk_tls_errmsg(emsg, sizeof(emsg), "TLS setup");
        conn_end(c, TK_ETLS, emsg);
        return;
    }
    c->state = C_HANDSHAKE;
    conn_handshake(c);
}

static void conn_open(struct tk_h2 *h)
{
    struct h2_conn *c = tk_xcalloc(1, sizeof(*c));
    const struct addrinfo *a;
    char emsg[160], m[220];
    int done = 0;

    if (h->need_resolve)
        resolve(h);
    a = h->ai_next ? h->ai_next : h->ai;
    c->h = h;
    c->fd = -1;
    c->next_id = 1;
    c->peer_max_streams = 100; /* until the server's SETTINGS say otherwise */
    c->peer_max_frame = MAX_FRAME;
    c->peer_init_window = DEFAULT_WINDOW;
    c->send_window = DEFAULT_WINDOW;
    c->since_ns = c->idle_since_ns = tk_now_ns();
    tk_buf_init(&c->out, 0);
    tk_buf_init(&c->hblock, HBLOCK_MAX);
    tk_h2_reader_init(&c->rd);
    tk_hpack_dec_init(&c->dec, TK_HPACK_DEFAULT_TABLE);
    tk_timer_init(&c->timer, conn_timer_fire, c);
    tk_timer_init(&c->pace, pace_fire, c);
    h->conn = c;
    h->stats.connects++;
    c->fd = tk_tcp_connect(a, &done, emsg, sizeof(emsg));
    c->events = TK_LOOP_WRITE;
    if (c->fd >= 0 && tk_loop_add_fd(h->loop, c->fd, TK_LOOP_WRITE, conn_event, c, NULL)) {
        close(c->fd);
        c->fd = -1;
        snprintf(emsg, sizeof(emsg), "cannot watch the socket");
    }
    if (c->fd < 0) {
        snprintf(m, sizeof(m), "%s (%s:%s)", emsg, h->ep.host, h->ep.port);
        conn_end(c, TK_ENET, m);
        return;
    }
    conn_arm(c, c->since_ns + h->connect_ns);
    int64_t q = expire_queued(h, 0);
    if (q)
        conn_arm(c, q);
    if (done)
        conn_connected(c);
}

/* Starts waiting requests on the current connection (opening one when there is none), frames
 * the bodies the windows allow, and writes what is buffered. */
static void pump(struct tk_h2 *h)
{
    struct h2_conn *c = h->conn;
    char emsg[160];

    if (c && c->draining) {
        h->conn = NULL;
        c->next = h->draining;
        h->draining = c;
        if (!c->nstreams)
            conn_arm(c, 0);
        c = NULL;
    }
    if (!c) {
        if (h->stats.queued)
            conn_open(h);
        return;
    }
    if (c->state != C_READY)
        return;
    while (c->nstreams < c->peer_max_streams && !c->draining && h->stats.queued)
        start_stream(c, q_pop(h));
    send_bodies(c);
    if (c->out.len > c->out_off && flush(c, emsg, sizeof(emsg)))
        conn_end(c, TK_ENET, emsg);
}

/* Draining connections still send: bodies, ACKs, WINDOW_UPDATEs, RST_STREAMs. */
static void flush_all(struct tk_h2 *h)
{
    char emsg[160];
    struct h2_conn *next;

    for (struct h2_conn *c = h->draining; c; c = next) {
        next = c->next;
        send_bodies(c);
        if (c->out.len > c->out_off && flush(c, emsg, sizeof(emsg)))
            conn_end(c, TK_ENET, emsg);
    }
}

static void kick_fire(struct tk_timer *t, void *ud)
{
    struct tk_h2 *h = ud;
    (void)t;
    flush_all(h);
    pump(h);
}

/* ---- incoming frames ---- */

struct hdr_seen {
    long status;
    char retry_after[64];
};

static int on_field(const char *name, size_t nlen, const char *value, size_t vlen, void *ud)
{
    struct hdr_seen *s = ud;

    if (nlen == 7 && !memcmp(name, ":status", 7)) {
        s->status = 0;
        for (size_t i = 0; i < vlen && i < 3; i++)
            s->status = s->status * 10 + (isdigit((unsigned char)value[i]) ? value[i] - '0' : 0);
    } else if (nlen == 11 && !memcmp(name, "retry-after", 11)) {
        snprintf(s->retry_after, sizeof(s->retry_after), "%.*s", (int)vlen, value);
    }
    return 0;
}

static int headers_done(struct h2_conn *c)
{
    struct hdr_seen s = {0, ""};
    struct tk_err err = {0};
    struct tk_h2_req *r;
    int end = c->hblock_end_stream;

    c->in_headers = 0;
    if (tk_hpack_decode(&c->dec, (const uint8_t *)c->hblock.data, c->hblock.len, on_field, &s,
                        &err))
        return conn_error(c, E_COMPRESSION, err.msg);
    tk_buf_release(&c->hblock);
    if (c->dec.scratch.alloc > 1024)
        tk_buf_release(&c->dec.scratch);
    if (!(r = stream_find(c, c->hblock_stream)))
        return 0; /* a stream we cancelled: the block only kept the decoder in step */
    r->got_bytes = 1;
    r->progress_ns = tk_now_ns();
    if (!r->headers_done) {
        if (s.status >= 100 && s.status < 200 && !end)
            return 0; /* informational: the real response follows */
        if (s.status < 200) {
            stream_reset(r, E_PROTOCOL, TK_ENET, "HTTP/2 response without a valid :status");
            return 0;
        }
        r->status = s.status;
        memcpy(r->retry_after, s.retry_after, sizeof(r->retry_after));
        r->headers_done = 1;
    }
    if (end)
        complete(r, 0, 0, NULL);
    return 0;
}

static int on_headers(struct h2_conn *c, const struct tk_h2_frame *f, const uint8_t *p)
{
    uint32_t n = f->len, pad = 0;

    if (f->stream == 0 || (f->stream & 1) == 0)
        return conn_error(c, E_PROTOCOL, "HTTP/2 HEADERS on a stream we did not open");
    if (f->flags & F_PADDED) {
        if (n < 1 || (pad = p[0]) > n - 1)
            return conn_error(c, E_PROTOCOL, "HTTP/2 HEADERS padding longer than the frame");
        p++, n -= 1 + pad;
    }
    if (f->flags & F_PRIORITY) {
        if (n < 5)
            return conn_error(c, E_FRAME_SIZE, "HTTP/2 HEADERS too short for its priority");
        p += 5, n -= 5;
    }
    tk_buf_reset(&c->hblock);
    tk_buf_append(&c->hblock, p, n);
    c->hblock_stream = f->stream;
    c->hblock_end_stream = f->flags & F_END_STREAM;
    c->in_headers = 1;
    return f->flags & F_END_HEADERS ? headers_done(c) : 0;
}

static int on_settings(struct h2_conn *c, const struct tk_h2_frame *f, const uint8_t *p)
{
    struct tk_h2 *h = c->h;

    if (f->stream != 0 || ((f->flags & F_ACK) && f->len) || f->len % 6)
        return conn_error(c, E_PROTOCOL, "HTTP/2 malformed SETTINGS");
    if (f->flags & F_ACK)
        return 0;
    for (uint32_t i = 0; i < f->len; i += 6) {
        unsigned id = (unsigned)p[i] << 8 | p[i + 1];
        uint32_t v = be32(p + i + 2);
        if (id == 3) {
            c->peer_max_streams = v;
        } else if (id == 4) {
            if (v > 0x7fffffff)
                return conn_error(c, E_FLOW_CONTROL, "HTTP/2 initial window over 2^31-1");
            for (struct tk_h2_req *r = c->streams; r; r = r->next)
                r->send_window += (int64_t)v - c->peer_init_window;
            c->peer_init_window = v;
        } else if (id == 5) {
            if (v < 16384 || v > 16777215)
                return conn_error(c, E_PROTOCOL, "HTTP/2 bad MAX_FRAME_SIZE");
            c->peer_max_frame = v;
        }
    }
    put_frame_hdr(&c->out, 0, TK_H2_SETTINGS, F_ACK, 0);
    if (c->state == C_SETTINGS) {
        c->state = C_READY;
        h->stats.handshakes++;
        h->stats.open++;
        conn_arm(c, 0); /* the timer held the connect deadline: plan PING and idle from now */
    }
    kick(h);
    return 0;
}

static int on_rst(struct h2_conn *c, const struct tk_h2_frame *f, const uint8_t *p)
{
    struct tk_h2_req *r;
    char msg[96];

    if (f->len != 4 || f->stream == 0)
        return conn_error(c, E_PROTOCOL, "HTTP/2 malformed RST_STREAM");
    c->h->stats.resets_received++;
    if (!(r = stream_find(c, f->stream)))
        return 0;
    uint32_t code = be32(p);
    if (code == E_REFUSED_STREAM && !r->got_bytes && r->refused < MAX_REFUSED) {
        /* never processed (RFC 9113 8.7): send it again */
        r->refused++;
        c->h->stats.refused++;
        stream_unlink(r);
        enqueue(c->h, r, 1);
        return 0;
    }
    snprintf(msg, sizeof(msg), "HTTP/2 stream reset by the server (error code %u)", code);
    complete(r, TK_ENET, 0, msg);
    return 0;
}

static int on_goaway(struct h2_conn *c, const struct tk_h2_frame *f, const uint8_t *p)
{
    struct tk_h2 *h = c->h;
    struct tk_h2_req *r, *next;

    if (f->len < 8 || f->stream != 0)
        return conn_error(c, E_PROTOCOL, "HTTP/2 malformed GOAWAY");
    uint32_t last = be32(p) & 0x7fffffff;
    h->stats.goaways++;
    c->draining = 1;
    for (r = c->streams; r; r = next) {
        next = r->next;
        if (r->id > last) { /* the server never processed it: a fresh connection takes it */
            stream_unlink(r);
            enqueue(h, r, 1);
        }
    }
    tk_debug("HTTP/2 GOAWAY", "server=%s:%s last_stream=%u code=%u", h->ep.host, h->ep.port, last,
             be32(p + 4));
    kick(h); /* pump moves this connection to the draining list */
    return 0;
}

static int on_frame(const struct tk_h2_frame *f, const uint8_t *p, void *ud)
{
    struct h2_conn *c = ud;
    struct tk_h2_req *r;

    c->stream_frames += f->stream != 0;
    if (c->in_headers && (f->type != TK_H2_CONTINUATION || f->stream != c->hblock_stream))
        return conn_error(c, E_PROTOCOL, "HTTP/2 header block interrupted");
    if (c->state != C_READY && f->type != TK_H2_SETTINGS)
        return conn_error(c, E_PROTOCOL, "HTTP/2 server did not start with SETTINGS");
    switch (f->type) {
    case TK_H2_HEADERS:
        return on_headers(c, f, p);
    case TK_H2_CONTINUATION:
        if (!c->in_headers)
            return conn_error(c, E_PROTOCOL, "HTTP/2 CONTINUATION without HEADERS");
        if (tk_buf_append(&c->hblock, p, f->len))
            return conn_error(c, E_PROTOCOL, "HTTP/2 header block over 256 KiB");
        return f->flags & F_END_HEADERS ? headers_done(c) : 0;
    case TK_H2_SETTINGS:
        return on_settings(c, f, p);
    case TK_H2_RST_STREAM:
        return on_rst(c, f, p);
    case TK_H2_PING:
        if (f->len != 8 || f->stream)
            return conn_error(c, E_PROTOCOL, "HTTP/2 malformed PING");
        if (f->flags & F_ACK) {
            c->ping_sent_ns = 0;
        } else {
            put_frame_hdr(&c->out, 8, TK_H2_PING, F_ACK, 0);
            tk_buf_append(&c->out, p, 8);
            kick(c->h);
        }
        return 0;
    case TK_H2_GOAWAY:
        return on_goaway(c, f, p);
    case TK_H2_WINDOW_UPDATE: {
        if (f->len != 4)
            return conn_error(c, E_FRAME_SIZE, "HTTP/2 malformed WINDOW_UPDATE");
        uint32_t inc = be32(p) & 0x7fffffff;
        if (f->stream == 0) {
            if (inc == 0 || c->send_window + inc > 0x7fffffff)
                return conn_error(c, E_FLOW_CONTROL, "HTTP/2 bad connection WINDOW_UPDATE");
            c->send_window += inc;
        } else if ((r = stream_find(c, f->stream))) {
            /* RFC 9113 §6.9: a zero increment is a stream PROTOCOL_ERROR, a window pushed
             * past 2^31-1 a stream FLOW_CONTROL_ERROR; the connection lives on */
            if (inc == 0 || r->send_window + inc > 0x7fffffff) {
                stream_reset(r, inc == 0 ? E_PROTOCOL : E_FLOW_CONTROL, TK_ENET,
                             inc == 0 ? "HTTP/2 WINDOW_UPDATE of 0 on a stream"
                                      : "HTTP/2 stream window over 2^31-1");
                return 0;
            }
            r->send_window += inc;
        }
        kick(c->h);
        return 0;
    }
    case TK_H2_PUSH_PROMISE:
        return conn_error(c, E_PROTOCOL, "HTTP/2 PUSH_PROMISE though push is off");
    default:
        return 0; /* PRIORITY and unknown types */
    }
}

static int on_data(const struct tk_h2_frame *f, const char *p, size_t n, int last, void *ud)
{
    struct h2_conn *c = ud;
    struct tk_h2_req *r;

    c->stream_frames++;
    if (c->in_headers)
        return conn_error(c, E_PROTOCOL, "HTTP/2 header block interrupted");
    if (c->state != C_READY || f->stream == 0)
        return conn_error(c, E_PROTOCOL, "HTTP/2 DATA outside a stream");
    r = stream_find(c, f->stream);
    if (r && (n > 0 || !r->headers_done)) { /* an empty DATA frame before HEADERS too */
        r->got_bytes = 1;
        r->progress_ns = tk_now_ns();
        if (!r->headers_done) {
            stream_reset(r, E_PROTOCOL, TK_ENET, "HTTP/2 DATA before the response headers");
            r = NULL;
        } else {
            int rc = r->sink ? r->sink(r, p, n, r->ud) : TK_H2_SINK_BUFFER;
            if (rc == TK_H2_SINK_ABORT) {
                stream_abort(r, TK_ENET, "aborted by the receiver");
                r = NULL;
            } else if (rc == TK_H2_SINK_BUFFER && tk_buf_append(r->body, p, n)) {
                stream_abort(r, TK_ENOMEM, "response body over the cap");
                r = NULL;
            }
        }
    }
    if (!last)
        return 0;
    /* flow control counts the whole frame, padding included */
    c->conn_unacked += f->len;
    if (c->conn_unacked >= CONN_WINDOW / 2) {
        put_window_update(c, 0, c->conn_unacked);
        c->conn_unacked = 0;
        kick(c->h);
    }
    if (!r)
        return 0;
    if (f->flags & F_END_STREAM) {
        complete(r, 0, 0, NULL);
        return 0;
    }
    r->unacked += f->len;
    if (r->unacked >= STREAM_WINDOW / 2) {
        put_window_update(c, r->id, r->unacked);
        r->unacked = 0;
        kick(c->h);
    }
    return 0;
}

static const struct tk_h2_reader_cb reader_cb = {on_data, on_frame};

/* Paced reading (read_pace_ns): once a read found frames, the kernel is asked to wake us only
 * when PACE_LOWAT bytes are queued, and what arrives below that is read at the next step of the
 * pace (a multiple of it on the monotonic clock, where other step timers share the pass). A
 * step that finds nothing queued goes back to waking on every byte, so an idle connection costs
 * no timer. got: this read pass found frames of streams (a connection's own SETTINGS, PINGs
 * and WINDOW_UPDATEs do not count). */
static void conn_pace(struct h2_conn *c, int got)
{
    struct tk_h2 *h = c->h;
    int v = got ? (int)PACE_LOWAT : 1;

    if (!h->pace_ns || c->state != C_READY)
        return;
    if (got != c->paced && setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)) == 0)
        c->paced = got;
    if (c->paced && !tk_timer_active(&c->pace))
        tk_timer_start(h->loop, &c->pace, (tk_now_ns() / h->pace_ns + 1) * h->pace_ns);
    else if (!c->paced)
        tk_timer_stop(h->loop, &c->pace);
}

static void conn_read(struct h2_conn *c)
{
    char buf[READ_CHUNK], emsg[160];
    struct tk_err err = {0};
    uint64_t frames = c->stream_frames;

    for (;;) {
        int n = tk_tls_read(c->fd, c->ssl, buf, sizeof(buf), &c->want_write, emsg, sizeof(emsg));
        if (n == TK_IO_AGAIN) {
            conn_watch(c, TK_LOOP_READ |
                              (c->want_write || c->out.len > c->out_off ? TK_LOOP_WRITE : 0));
            conn_pace(c, c->stream_frames != frames);
            return;
        }
        if (n == TK_IO_EOF || n == TK_IO_ERR) {
            int quiet = n == TK_IO_EOF && c->nstreams == 0 && (c->draining || c->state == C_READY);
            conn_end(c, quiet ? 0 : TK_ENET,
                     n == TK_IO_EOF ? "connection closed by the server" : emsg);
            return;
        }
        c->last_read_ns = tk_now_ns();
        int rc = tk_h2_reader_feed(&c->rd, buf, (size_t)n, &reader_cb, c, &err);
        if (rc < 0)
            return; /* conn_error ended the connection */
        if (rc) {
            conn_error(c, E_PROTOCOL, err.msg);
            return;
        }
    }
}

static void pace_fire(struct tk_timer *t, void *ud)
{
    struct h2_conn *c = ud;
    (void)t;
    conn_read(c);
}

static void conn_event(int fd, int events, void *ud)
{
    struct h2_conn *c = ud;
    char emsg[160];

    if (c->fd != fd)
        return;
    if (c->state == C_CONNECTING) {
        conn_connected(c);
        return;
    }
    if (c->state == C_HANDSHAKE) {
        conn_handshake(c);
        return;
    }
    if ((events & TK_LOOP_WRITE) && c->out.len > c->out_off) {
        if (flush(c, emsg, sizeof(emsg))) {
            conn_end(c, TK_ENET, emsg);
            return;
        }
        send_bodies(c);
    }
    if (events & (TK_LOOP_READ | TK_LOOP_ERROR | TK_LOOP_WRITE))
        conn_read(c); /* frames it queues (ACKs, WINDOW_UPDATEs) go out from the kick */
}

/* Deadlines and stalls of the streams; returns the next one due (0: none). */
static int64_t expire_streams(struct h2_conn *c, int64_t now)
{
    struct tk_h2_req *r, *next;
    int64_t due = 0;

    for (r = c->streams; r; r = next) {
        next = r->next;
        int64_t stall = r->stall_ns > 0 ? r->progress_ns + r->stall_ns : 0;
        if (r->deadline_ns > 0 && now >= r->deadline_ns) {
            stream_abort(r, TK_ETIMEOUT, "request timed out");
            next = c->streams; /* callbacks may have changed the list: start over */
            continue;
        }
        if (stall && now >= stall) {
            stream_abort(r, TK_ETIMEOUT, "no response progress for the stall limit");
            next = c->streams;
            continue;
        }
        if (r->deadline_ns > 0 && (!due || r->deadline_ns < due))
            due = r->deadline_ns;
        if (stall && (!due || stall < due))
            due = stall;
    }
    return due;
}

/* Deadlines of requests still waiting for a stream (behind the peer's stream limit, or for the
 * connection): fails those due by now (none when now is 0); returns the next one (0: none). */
static int64_t expire_queued(struct tk_h2 *h, int64_t now)
{
    int64_t due = 0;

    for (int i = 0; i < 2; i++) {
        struct tk_h2_req *r, *next;
        for (r = h->q[i].head; r; r = next) {
            next = r->next;
            if (r->deadline_ns <= 0)
                continue;
            if (now >= r->deadline_ns) {
                req_queue_unlink(&h->q[i], r);
                h->stats.queued--;
                complete(r, TK_ETIMEOUT, 0, "request timed out before it could be sent");
                next = h->q[i].head; /* callbacks may have changed the queue: start over */
                continue;
            }
            if (!due || r->deadline_ns < due)
                due = r->deadline_ns;
        }
    }
    return due;
}

static void conn_timer_fire(struct tk_timer *t, void *ud)
{
    struct h2_conn *c = ud;
    struct tk_h2 *h = c->h;
    int64_t now = tk_now_ns(), due;
    char emsg[160];
    (void)t;

    if (c->state != C_READY) {
        due = c->since_ns + h->connect_ns;
        if (now >= due) {
            snprintf(emsg, sizeof(emsg), "connect to %s:%s timed out", h->ep.host, h->ep.port);
            conn_end(c, TK_ETIMEOUT, emsg);
            return;
        }
        int64_t q = expire_queued(h, now);
        conn_arm(c, q && q < due ? q : due); /* callbacks may have armed it earlier */
        return;
    }
    if (c->ping_sent_ns && now >= c->ping_sent_ns + h->ping_timeout_ns) {
        h->stats.ping_timeouts++;
        conn_end(c, TK_ENET, "no answer to an HTTP/2 PING: connection lost");
        return;
    }
    if (!c->nstreams && (c->draining || now >= c->idle_since_ns + h->idle_ns)) {
        put_frame_hdr(&c->out, 8, TK_H2_GOAWAY, 0, 0);
        put_u32(&c->out, 0);
        put_u32(&c->out, E_NO_ERROR);
        flush(c, emsg, sizeof(emsg));
        conn_end(c, 0, "idle");
        return;
    }
    if (!c->ping_sent_ns && now >= c->last_read_ns + h->read_idle_ns) {
        uint8_t opaque[8] = {'t', 'k', 'p', 'i', 'n', 'g', 0, 0};
        put_frame_hdr(&c->out, 8, TK_H2_PING, 0, 0);
        tk_buf_append(&c->out, opaque, 8);
        c->ping_sent_ns = now;
        h->stats.pings_sent++;
        if (flush(c, emsg, sizeof(emsg))) {
            conn_end(c, TK_ENET, emsg);
            return;
        }
    }
    due = expire_streams(c, now);
    int64_t q = expire_queued(h, now);
    if (q && (!due || q < due))
        due = q;
    int64_t next =
        c->ping_sent_ns ? c->ping_sent_ns + h->ping_timeout_ns : c->last_read_ns + h->read_idle_ns;
    if (!c->nstreams && c->idle_since_ns + h->idle_ns < next)
        next = c->idle_since_ns + h->idle_ns;
    if (due && due < next)
        next = due;
    if (c->out.len > c->out_off)
        kick(h);
    conn_arm(c, next > now ? next : now + MS_NS); /* callbacks may have armed it earlier */
}

/* ---- lifecycle ---- */

struct tk_h2 *tk_h2_new(struct tk_loop *loop, const struct tk_h2_opts *o, struct tk_err *err)
{
    struct tk_h2 *h;
    static const char alpn[] = "\x02h2";

    if (!o) {
        tk_err_set(err, TK_EINVAL, "h2: host and port are required");
        return NULL;
    }
    h = tk_xcalloc(1, sizeof(*h));
    h->loop = loop;
    if (tk_endpoint_init(&h->ep, "h2", o->host, o->port, o->server_name, o->cert_pem, o->key_pem,
                         err)) {
        tk_endpoint_release(&h->ep);
        free(h);
        return NULL;
    }
    h->tls = o->tls;
    h->connect_ns = (o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000) * MS_NS;
    h->idle_ns = (o->idle_ms > 0 ? o->idle_ms : 90000) * MS_NS;
    h->read_idle_ns = (o->read_idle_ms > 0 ? o->read_idle_ms : 30000) * MS_NS;
    h->ping_timeout_ns = (o->ping_timeout_ms > 0 ? o->ping_timeout_ms : 15000) * MS_NS;
    h->pace_ns = o->read_pace_ns > 0 ? o->read_pace_ns : 0;
    tk_timer_init(&h->kick, kick_fire, h);
    resolve(h);
    if (!h->ai) {
        tk_err_set(err, TK_EINVAL, "cannot resolve '%s'", h->ep.host);
        goto fail;
    }
    if (!h->tls)
        return h;
    if (o->cert_pem) {
        if (tk_tls_identity_load(&h->id, o->cert_pem, o->key_pem, err))
            goto fail;
        h->has_id = 1;
    }
    if (o->share_ctx) {
        h->ctx = tk_tls_shared_ctx(o->ca_pem, o->insecure, alpn, sizeof(alpn) - 1, err);
    } else {
        h->ctx = tk_tls_client_ctx(o->ca_pem, o->insecure, h->has_id ? &h->id : NULL, alpn,
                                   sizeof(alpn) - 1, err);
        if (h->has_id) { /* the context holds it now */
            tk_tls_identity_release(&h->id);
            h->has_id = 0;
        }
    }
    if (!h->ctx)
        goto fail;
    return h;
fail:
    tk_h2_free(h);
    return NULL;
}

static void drop_conn(struct h2_conn *c)
{
    struct tk_h2_req *r;
    while ((r = c->streams)) {
        stream_unlink(r);
        r->state = RQ_IDLE;
    }
    conn_free(c);
}

void tk_h2_free(struct tk_h2 *h)
{
    struct tk_h2_req *r;
    struct h2_conn *c;

    if (!h)
        return;
    if (h->conn)
        drop_conn(h->conn);
    while ((c = h->draining)) {
        h->draining = c->next;
        drop_conn(c);
    }
    while ((r = q_pop(h)))
        r->state = RQ_IDLE;
    tk_timer_stop(h->loop, &h->kick);
    SSL_CTX_free(h->ctx);
    if (h->has_id)
        tk_tls_identity_release(&h->id);
    freeaddrinfo(h->ai);
    tk_endpoint_release(&h->ep);
    free(h);
}

/* ---- requests ---- */

void tk_h2_req_init(struct tk_h2_req *r)
{
    memset(r, 0, sizeof(*r));
    tk_buf_init(&r->block, 0);
    tk_buf_init(&r->body_in, 0);
}

void tk_h2_req_release(struct tk_h2_req *r)
{
    tk_buf_release(&r->block);
    tk_buf_release(&r->body_in);
}

static int skip_header(const char *name, size_t n)
{
    static const char *const hop[] = {"host",          "connection", "transfer-encoding",
                                      "keep-alive",    "upgrade",    "proxy-connection",
                                      "content-length"};
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if (strlen(hop[i]) == n && !strncasecmp(hop[i], name, n))
            return 1;
    return 0;
}

static void build_block(struct tk_h2 *h, struct tk_h2_req *r, const char *method,
                        const char *target, const char *headers, int has_body)
{
    struct tk_buf *b = &r->block;
    char lname[128], num[24];

    tk_buf_reset(b);
    if (!strcmp(method, "GET"))
        tk_hpack_put_indexed(b, 2);
    else if (!strcmp(method, "POST"))
        tk_hpack_put_indexed(b, 3);
    else
        tk_hpack_put_field(b, ":method", 7, method, strlen(method));
    tk_hpack_put_indexed(b, h->tls ? 7 : 6);
    tk_hpack_put_field(b, ":authority", 10, h->ep.hostport, strlen(h->ep.hostport));
    tk_hpack_put_field(b, ":path", 5, target, strlen(target));
    for (const char *l = headers; l && *l;) {
        const char *eol = strstr(l, "\r\n"), *colon = strchr(l, ':');
        size_t len = eol ? (size_t)(eol - l) : strlen(l);
        if (colon && colon < l + len && (size_t)(colon - l) < sizeof(lname)) {
            size_t nl = (size_t)(colon - l);
            const char *v = colon + 1;
            while (v < l + len && (*v == ' ' || *v == '\t'))
                v++;
            for (size_t i = 0; i < nl; i++)
                lname[i] = (char)tolower((unsigned char)l[i]);
            if (!skip_header(lname, nl))
                tk_hpack_put_field(b, lname, nl, v, (size_t)(l + len - v));
        }
        l += len + (eol ? 2 : 0);
    }
    if (has_body) {
        snprintf(num, sizeof(num), "%zu", r->body_in.len);
        tk_hpack_put_field(b, "content-length", 14, num, strlen(num));
    }
}

int tk_h2_submit(struct tk_h2 *h, struct tk_h2_req *r, const char *method, const char *target,
                 const char *headers, const char *body, size_t body_len, struct tk_buf *body_out,
                 tk_h2_sink_fn sink, int64_t deadline_ns, int64_t stall_ns, int prio,
                 tk_h2_done_fn done, void *ud)
{
    if (r->state != RQ_IDLE)
        return TK_ESTATE;
    tk_buf_reset(&r->body_in);
    if (body && body_len)
        tk_buf_append(&r->body_in, body, body_len);
    build_block(h, r, method, target, headers,
                body || !strcmp(method, "POST") || !strcmp(method, "PUT") ||
                    !strcmp(method, "PATCH"));
    r->h = h;
    r->body = body_out;
    r->sink = sink;
    r->done = done;
    r->ud = ud;
    r->deadline_ns = deadline_ns;
    r->stall_ns = stall_ns;
    r->prio = prio != 0;
    r->refused = 0;
    r->status = 0;
    r->err = r->connect_failed = r->got_bytes = 0;
    r->retry_after[0] = r->errmsg[0] = '\0';
    r->write_ns = 0;
    enqueue(h, r, 0);
    return 0;
}

void tk_h2_cancel(struct tk_h2_req *r)
{
    if (!r || r->state == RQ_IDLE)
        return;
    if (r->state == RQ_QUEUED) {
        req_queue_unlink(&r->h->q[r->prio ? 0 : 1], r);
        r->h->stats.queued--;
    } else if (r->conn) {
        struct h2_conn *c = r->conn;
        put_rst(c, r->id, E_CANCEL);
        stream_unlink(r);
        if (c->draining && !c->nstreams)
            conn_arm(c, 0);
        kick(r->h);
    }
    r->state = RQ_IDLE;
    tk_buf_release(&r->block);
    tk_buf_release(&r->body_in);
}

void tk_h2_get_stats(const struct tk_h2 *h, struct tk_h2_stats *out)
{
    *out = h->stats;
}
