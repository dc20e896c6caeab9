/* lib/h2: the frame reader fed whole, split at every offset and one byte at a time, then the
 * client against a scripted HTTP/2 server on 127.0.0.1 (h2c with prior knowledge) for what a
 * real apiserver cannot be made to do on demand: REFUSED_STREAM and other resets, GOAWAY with
 * streams in flight, a stream limit of 1, a 100-byte send window, 1xx and trailers, a socket
 * closed mid-DATA, an unanswered PING, malformed HPACK, a server that does not start with
 * SETTINGS. The real apiserver is the integration tests' job (tests/integration/
 * test_cluster_api.c: the *_h2 and h2_* tests). */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "buf.h"
#include "err.h"
#include "h2.h"
#include "hpack.h"
#include "log.h"
#include "loop.h"
#include "pki.h"
#include "tktest.h"
#include "tktest_pki.h"
#include "tktest_tmp.h"

#define MS (int64_t)1000000

/* ---- the frame reader ---- */

static void put_frame(struct tk_buf *b, uint32_t len, uint8_t type, uint8_t flags, uint32_t stream,
                      const void *payload)
{
    uint8_t h[9] = {(uint8_t)(len >> 16),
                    (uint8_t)(len >> 8),
                    (uint8_t)len,
                    type,
                    flags,
                    (uint8_t)(stream >> 24),
                    (uint8_t)(stream >> 16),
                    (uint8_t)(stream >> 8),
                    (uint8_t)stream};
    tk_buf_append(b, h, sizeof(h));
    if (payload)
        tk_buf_append(b, payload, len);
}

/* What the reader handed over, one line per frame: type/flags/stream/len:payload, where a DATA
 * frame's payload is its data (pieces concatenated, padding removed) and any other's is hex. */
struct seen {
    struct tk_buf out;
    int in_data;  /* a DATA frame whose last piece has not come */
    int problems; /* pieces that break the contract */
};

static void seen_head(struct seen *s, const struct tk_h2_frame *f)
{
    tk_buf_printf(&s->out, "%u/%x/%u/%u:", f->type, f->flags, f->stream, f->len);
}

static int seen_data(const struct tk_h2_frame *f, const char *p, size_t n, int last, void *ud)
{
    struct seen *s = ud;

    if (!s->in_data)
        seen_head(s, f);
    s->in_data = 1;
    if (n == 0 && !last)
        s->problems++; /* an empty piece that does not end the frame */
    tk_buf_append(&s->out, p, n);
    if (last) {
        tk_buf_puts(&s->out, "\n");
        s->in_data = 0;
    }
    return 0;
}

static int seen_frame(const struct tk_h2_frame *f, const uint8_t *payload, void *ud)
{
    struct seen *s = ud;

    if (s->in_data)
        s->problems++; /* a frame inside an unfinished DATA frame */
    seen_head(s, f);
    for (uint32_t i = 0; i < f->len && i < 64; i++)
        tk_buf_printf(&s->out, "%02x", payload[i]);
    tk_buf_puts(&s->out, "\n");
    return 0;
}

static const struct tk_h2_reader_cb seen_cb = {seen_data, seen_frame};

/* Feeds p in pieces: cut (0 < cut < n) splits it in two; step > 0 feeds step bytes at a time.
 * Returns the feed's result; s gets what was handed over. */
static int feed_pieces(const char *p, size_t n, size_t cut, size_t step, struct seen *s,
                       struct tk_err *err)
{
    struct tk_h2_reader rd;
    size_t off = 0;
    int rc = 0;

    memset(s, 0, sizeof(*s));
    tk_buf_init(&s->out, 0);
    tk_buf_puts(&s->out, "");
    tk_h2_reader_init(&rd);
    while (off < n && rc == 0) {
        size_t k = step ? step : (off < cut ? cut - off : n - off);
        if (k > n - off)
            k = n - off;
        rc = tk_h2_reader_feed(&rd, p + off, k, &seen_cb, s, err);
        off += k;
    }
    tk_h2_reader_release(&rd);
    return rc;
}

static void build_stream(struct tk_buf *b)
{
    const uint8_t settings[] = {0, 3, 0, 0, 0, 100};
    const uint8_t padded[] = {3, 'h', 'e', 'l', 'l', 'o', 0, 0, 0};
    const uint8_t only_pad[] = {2, 0, 0};
    const uint8_t pad0[] = {0, '!'};
    const uint8_t wu[] = {0, 0, 1, 0};

    tk_buf_init(b, 0);
    put_frame(b, 6, TK_H2_SETTINGS, 0, 0, settings);
    put_frame(b, 1, TK_H2_HEADERS, 0x4, 1, "\x88");
    put_frame(b, 9, TK_H2_DATA, 0x8, 1, padded);
    put_frame(b, 5, TK_H2_DATA, 0, 1, "world");
    put_frame(b, 3, TK_H2_DATA, 0x8, 1, only_pad);
    put_frame(b, 0, TK_H2_DATA, 0x1, 1, NULL);
    put_frame(b, 8, TK_H2_PING, 0, 0, "12345678");
    put_frame(b, 3, 0x42, 0xff, 3, "xyz");
    put_frame(b, 2, TK_H2_DATA, 0x9, 3, pad0);
    put_frame(b, 4, TK_H2_WINDOW_UPDATE, 0, 0x80000005u, wu); /* reserved bit set */
}

static const char STREAM_SEEN[] = "4/0/0/6:000300000064\n"
                                  "1/4/1/1:88\n"
                                  "0/8/1/9:hello\n"
                                  "0/0/1/5:world\n"
                                  "0/8/1/3:\n"
                                  "0/1/1/0:\n"
                                  "6/0/0/8:3132333435363738\n"
                                  "66/ff/3/3:78797a\n"
                                  "0/9/3/2:!\n"
                                  "8/0/5/4:00000100\n";

TK_TEST(reader_split_at_every_offset)
{
    struct tk_buf b;
    struct seen s;
    struct tk_err err = {0};

    build_stream(&b);
    for (size_t cut = 0; cut <= b.len + 1; cut++) {
        /* cut 0: whole; 1..len-1: two pieces; len + 1: one byte at a time */
        int bytewise = cut == b.len + 1;
        CHECK_INT(feed_pieces(b.data, b.len, bytewise ? 0 : cut, bytewise, &s, &err), 0);
        CHECK_STR(s.out.data, STREAM_SEEN);
        CHECK_INT(s.problems, 0);
        CHECK_INT(s.in_data, 0);
        tk_buf_release(&s.out);
    }
    tk_buf_release(&b);
}

static int stop_at_ping(const struct tk_h2_frame *f, const uint8_t *payload, void *ud)
{
    (void)payload, (void)ud;
    return f->type == TK_H2_PING ? 7 : 0;
}

static int no_data(const struct tk_h2_frame *f, const char *p, size_t n, int last, void *ud)
{
    (void)f, (void)p, (void)n, (void)last, (void)ud;
    return 0;
}

TK_TEST(reader_limits_and_callback_result)
{
    struct tk_buf b;
    struct seen s;
    struct tk_err err = {0};
    const struct tk_h2_reader_cb stop_cb = {no_data, stop_at_ping};
    struct tk_h2_reader rd;
    char *big = tk_xcalloc(1, 16384);

    /* the largest frame we accept, whole */
    tk_buf_init(&b, 0);
    put_frame(&b, 16384, 0x42, 0, 1, big);
    CHECK_INT(feed_pieces(b.data, b.len, 100, 0, &s, &err), 0);
    CHECK(!strncmp(s.out.data, "66/0/1/16384:0000", 17));
    tk_buf_release(&s.out);
    tk_buf_release(&b);
    free(big);
    /* a callback's non-zero value stops the feed and comes back */
    build_stream(&b);
    tk_h2_reader_init(&rd);
    CHECK_INT(tk_h2_reader_feed(&rd, b.data, b.len, &stop_cb, NULL, &err), 7);
    CHECK_INT(err.code, 0);
    tk_h2_reader_release(&rd);
    tk_buf_release(&b);
}

TK_TEST(reader_errors)
{
    const uint8_t long_pad[] = {5, 'a', 'b'};
    struct {
        uint32_t len;
        uint8_t type, flags;
        const void *payload;
        const char *msg;
    } cases[] = {
        {16385, TK_H2_DATA, 0, NULL, "frame of 16385 bytes over our 16 KiB maximum"},
        {16385, TK_H2_HEADERS, 0x4, NULL, "over our 16 KiB maximum"},
        {3, TK_H2_DATA, 0x8, long_pad, "padding longer than its frame"},
        {0, TK_H2_DATA, 0x8, NULL, "padded DATA frame without a pad length"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            struct tk_buf b;
            struct seen s;
            struct tk_err err = {0};
            tk_buf_init(&b, 0);
            put_frame(&b, 4, TK_H2_PING, 0, 0, "ok\0\0"); /* a good frame first */
            put_frame(&b, cases[i].len, cases[i].type, cases[i].flags, 1, cases[i].payload);
            CHECK_INT(feed_pieces(b.data, b.len, 0, bytewise, &s, &err), TK_ENET);
            CHECK_INT(err.code, TK_ENET);
            CHECK_CONTAINS(err.msg, cases[i].msg);
            CHECK_STR(s.out.data, "6/0/0/4:6f6b0000\n");
            tk_buf_release(&s.out);
            tk_buf_release(&b);
        }
    }
}

/* ---- the scripted server: one connection at a time, blocking, in a thread ----
 * Each accepted connection's preface is checked, then the test's script runs it. The server
 * logs what it sees as lines the tests look for ("REQ conn=0 stream=1 ...", "RST stream=3
 * code=8", "GOAWAY last=0 code=9", "PING", "PING ACK", "EOF") and notes what breaks the
 * protocol ("NOTE ...": every test checks there are none). Connections stay open until stop. */

#define SLOG 128
#define SSTREAMS 16
#define SCONNS 8

struct sstream {
    uint32_t id;
    int ended, answered;
    struct tk_buf hdrs, body;
};

struct srv;

struct sconn {
    struct srv *s;
    int fd, idx;
    SSL *ssl; /* a TLS server's (srv_start_tls), else NULL */
    struct tk_hpack_dec dec;
    struct tk_buf hblock;
    uint32_t hblock_stream;
    int hblock_end;
    struct sstream st[SSTREAMS];
    int nst, reported;
};

typedef void (*srv_script)(struct sconn *c);

struct srv {
    int lfd, port;
    pthread_t thr;
    atomic_int stop;
    srv_script script;
    pthread_mutex_t mu;
    char *log[SLOG];
    int nlog;
    int fds[SCONNS];
    int nfds;
    SSL_CTX *ctx; /* srv_start_tls: the serving certificate, ALPN h2 or none */
};

static void srv_log(struct srv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void srv_log(struct srv *s, const char *fmt, ...)
{
    struct tk_buf b;
    va_list ap;

    tk_buf_init(&b, 0);
    va_start(ap, fmt);
    tk_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&s->mu);
    if (s->nlog < SLOG)
        s->log[s->nlog++] = tk_buf_detach(&b);
    pthread_mutex_unlock(&s->mu);
    tk_buf_release(&b);
}

/* Log lines containing needle. */
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

/* A copy of the nth (0-based) log line containing needle, or NULL. Caller frees. */
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

/* Reads exactly n bytes within timeout_ms. Returns 0, -1 at timeout or stop, -2 at EOF or error
 * (logged as "EOF"). */
static int srv_recv(struct sconn *c, void *p, size_t n, int timeout_ms)
{
    char *q = p;
    int waited = 0;

    while (n > 0) {
        struct pollfd pf = {c->fd, POLLIN, 0};
        if (atomic_load(&c->s->stop) || waited >= timeout_ms)
            return -1;
        if (!(c->ssl && SSL_pending(c->ssl)) && poll(&pf, 1, 20) == 0) {
            waited += 20;
            continue;
        }
        ssize_t r = c->ssl ? SSL_read(c->ssl, q, (int)n) : recv(c->fd, q, n, 0);
        if (r <= 0) {
            srv_log(c->s, "EOF");
            return -2;
        }
        q += r;
        n -= (size_t)r;
    }
    return 0;
}

static void srv_send(struct sconn *c, uint8_t type, uint8_t flags, uint32_t stream, const void *p,
                     size_t n)
{
    struct tk_buf b;

    tk_buf_init(&b, 0);
    put_frame(&b, (uint32_t)n, type, flags, stream, p);
    for (size_t off = 0; off < b.len;) {
        ssize_t w = c->ssl ? SSL_write(c->ssl, b.data + off, (int)(b.len - off))
                           : send(c->fd, b.data + off, b.len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    tk_buf_release(&b);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void set32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static struct sstream *srv_stream(struct sconn *c, uint32_t id)
{
    for (int i = 0; i < c->nst; i++)
        if (c->st[i].id == id)
            return &c->st[i];
    return NULL;
}

static int srv_field(const char *name, size_t nlen, const char *value, size_t vlen, void *ud)
{
    tk_buf_printf(ud, "%.*s: %.*s\n", (int)nlen, name, (int)vlen, value);
    return 0;
}

static void srv_ended(struct sconn *c, struct sstream *st)
{
    st->ended = 1;
    srv_log(c->s, "REQ conn=%d stream=%u\n%s\n%s", c->idx, st->id,
            st->hdrs.data ? st->hdrs.data : "", st->body.data ? st->body.data : "");
}

/* A complete request header block: a new stream (the client never sends trailers). */
static void srv_headers_done(struct sconn *c, int end_stream)
{
    struct tk_err err = {0};
    struct sstream *st;

    if (c->nst == SSTREAMS || srv_stream(c, c->hblock_stream)) {
        srv_log(c->s, "NOTE HEADERS again on stream %u", c->hblock_stream);
        return;
    }
    st = &c->st[c->nst++];
    st->id = c->hblock_stream;
    tk_buf_init(&st->hdrs, 0);
    tk_buf_init(&st->body, 0);
    if (tk_hpack_decode(&c->dec, (const uint8_t *)c->hblock.data, c->hblock.len, srv_field,
                        &st->hdrs, &err))
        srv_log(c->s, "NOTE request headers: %s", err.msg);
    tk_buf_reset(&c->hblock);
    if (end_stream)
        srv_ended(c, st);
}

static void srv_data(struct sconn *c, const struct tk_h2_frame *f, const uint8_t *p)
{
    struct sstream *st = srv_stream(c, f->stream);

    if (!st || st->ended) {
        srv_log(c->s, "NOTE DATA on stream %u, not open", f->stream);
        return;
    }
    tk_buf_append(&st->body, p, f->len);
    if (f->flags & 0x1)
        srv_ended(c, st);
}

/* Keeps the books on one client frame: streams, SETTINGS ACKs, what the log records. */
static void srv_handle(struct sconn *c, const struct tk_h2_frame *f, const uint8_t *p)
{
    switch (f->type) {
    case TK_H2_HEADERS:
    case TK_H2_CONTINUATION:
        if (f->type == TK_H2_HEADERS) {
            c->hblock_stream = f->stream;
            c->hblock_end = f->flags & 0x1; /* END_STREAM rides on HEADERS, not CONTINUATION */
        }
        tk_buf_append(&c->hblock, p, f->len);
        if (f->flags & 0x4)
            srv_headers_done(c, c->hblock_end);
        break;
    case TK_H2_DATA:
        srv_data(c, f, p);
        break;
    case TK_H2_SETTINGS:
        if (!(f->flags & 0x1))
            srv_send(c, TK_H2_SETTINGS, 0x1, 0, NULL, 0);
        break;
    case TK_H2_RST_STREAM:
        srv_log(c->s, "RST stream=%u code=%u", f->stream, f->len == 4 ? get32(p) : 99);
        break;
    case TK_H2_GOAWAY:
        srv_log(c->s, "GOAWAY last=%u code=%u", f->len >= 8 ? get32(p) : 99,
                f->len >= 8 ? get32(p + 4) : 99);
        break;
    case TK_H2_PING:
        srv_log(c->s, f->flags & 0x1 ? "PING ACK %.8s" : "PING %.8s", (const char *)p);
        break;
    default:
        break;
    }
}

/* Reads and handles the next frame (a frame header must start within timeout_ms). Returns its
 * type, or -1 at EOF, timeout or stop. */
static int srv_next(struct sconn *c, int timeout_ms, struct tk_h2_frame *out)
{
    uint8_t h[9], p[16384 + 1];
    struct tk_h2_frame f;

    if (srv_recv(c, h, 9, timeout_ms))
        return -1;
    f.len = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
    f.type = h[3];
    f.flags = h[4];
    f.stream = get32(h + 5) & 0x7fffffff;
    if (f.len > 16384) {
        srv_log(c->s, "NOTE client frame of %u bytes", f.len);
        return -1;
    }
    if (srv_recv(c, p, f.len, 5000))
        return -1;
    p[f.len] = 0;
    srv_handle(c, &f, p);
    if (out)
        *out = f;
    return f.type;
}

/* Handles frames until one of type (on stream, when not 0) has come. Returns 0 or -1. */
static int srv_wait_frame(struct sconn *c, int type, uint32_t stream)
{
    struct tk_h2_frame f;
    int t;

    while ((t = srv_next(c, 5000, &f)) >= 0)
        if (t == type && (!stream || f.stream == stream))
            return 0;
    return -1;
}

/* Handles frames until a request not yet returned is complete. Returns its stream id, or 0. */
static uint32_t srv_wait_request(struct sconn *c)
{
    for (;;) {
        for (int i = 0; i < c->nst; i++)
            if (c->st[i].ended && i >= c->reported) {
                c->reported = i + 1;
                return c->st[i].id;
            }
        if (srv_next(c, 5000, NULL) < 0)
            return 0;
    }
}

/* Handles whatever the client sends within ms (gives a misbehaving client the chance to). */
static void srv_settle(struct sconn *c, int ms)
{
    struct pollfd pf = {c->fd, POLLIN, 0};
    while (poll(&pf, 1, ms) > 0 && srv_next(c, ms, NULL) >= 0)
        ;
}

static void srv_settings(struct sconn *c, unsigned id, uint32_t value)
{
    uint8_t s[6] = {(uint8_t)(id >> 8), (uint8_t)id};
    set32(s + 2, value);
    srv_send(c, TK_H2_SETTINGS, 0, 0, s, id ? 6 : 0);
}

/* Response headers: ":status" (indexed for 200) plus extra, an encoded block. */
static void srv_reply_headers(struct sconn *c, uint32_t stream, const char *status,
                              const struct tk_buf *extra, int end)
{
    struct tk_buf b;

    tk_buf_init(&b, 0);
    if (!strcmp(status, "200"))
        tk_hpack_put_indexed(&b, 8);
    else
        tk_hpack_put_field(&b, ":status", 7, status, strlen(status));
    if (extra)
        tk_buf_append(&b, extra->data, extra->len);
    srv_send(c, TK_H2_HEADERS, (uint8_t)(0x4 | (end ? 0x1 : 0)), stream, b.data, b.len);
    tk_buf_release(&b);
    if (end && srv_stream(c, stream))
        srv_stream(c, stream)->answered = 1;
}

static void srv_reply_data(struct sconn *c, uint32_t stream, const char *data, int end)
{
    srv_send(c, TK_H2_DATA, end ? 0x1 : 0, stream, data, strlen(data));
    if (end && srv_stream(c, stream))
        srv_stream(c, stream)->answered = 1;
}

static void srv_rst(struct sconn *c, uint32_t stream, uint32_t code)
{
    uint8_t p[4];
    set32(p, code);
    srv_send(c, TK_H2_RST_STREAM, 0, stream, p, 4);
    if (srv_stream(c, stream))
        srv_stream(c, stream)->answered = 1;
}

/* 200 with body "conn=N PATH": which connection served which request. */
static void srv_echo(struct sconn *c, uint32_t stream)
{
    struct sstream *st = srv_stream(c, stream);
    const char *path = st && st->hdrs.data ? strstr(st->hdrs.data, ":path: ") : NULL;
    char body[256];

    snprintf(body, sizeof(body), "conn=%d %.*s", c->idx, path ? (int)strcspn(path + 7, "\n") : 1,
             path ? path + 7 : "?");
    srv_reply_headers(c, stream, "200", NULL, 0);
    srv_reply_data(c, stream, body, 1);
}

static void sconn_release(struct sconn *c)
{
    for (int i = 0; i < c->nst; i++) {
        tk_buf_release(&c->st[i].hdrs);
        tk_buf_release(&c->st[i].body);
    }
    tk_buf_release(&c->hblock);
    tk_hpack_dec_release(&c->dec);
}

static void srv_serve(struct srv *s, int fd, int idx)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    struct sconn *c = tk_xcalloc(1, sizeof(*c));
    char got[sizeof(preface) - 1];

    c->s = s;
    c->fd = fd;
    c->idx = idx;
    tk_hpack_dec_init(&c->dec, TK_HPACK_DEFAULT_TABLE);
    tk_buf_init(&c->hblock, 0);
    if (s->ctx) {
        const unsigned char *proto = NULL;
        unsigned plen = 0;
        struct timeval tv = {5, 0}; /* SSL_accept and SSL_read block: bound them */
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        c->ssl = SSL_new(s->ctx);
        SSL_set_fd(c->ssl, fd);
        if (SSL_accept(c->ssl) != 1) {
            srv_log(s, "TLS handshake failed on connection %d", idx);
            goto out;
        }
        SSL_get0_alpn_selected(c->ssl, &proto, &plen);
        srv_log(s, "TLS ALPN '%.*s'", (int)plen, (const char *)proto);
    }
    if (srv_recv(c, got, sizeof(got), 5000) || memcmp(got, preface, sizeof(got)))
        srv_log(s, "NOTE no client preface on connection %d", idx);
    else
        s->script(c);
out:
    if (c->ssl)
        SSL_free(c->ssl);
    sconn_release(c);
    free(c);
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    int64_t deadline = tk_now_ns() + 30000 * MS;

    while (!atomic_load(&s->stop) && tk_now_ns() < deadline) {
        struct pollfd p = {s->lfd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        if (s->nfds == SCONNS) {
            close(fd);
            continue;
        }
        s->fds[s->nfds++] = fd;
        srv_serve(s, fd, s->nfds - 1);
    }
    for (int i = 0; i < s->nfds; i++)
        if (s->fds[i] >= 0)
            close(s->fds[i]);
    return NULL;
}

static int alpn_h2(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    for (unsigned i = 0; i < inlen; i += 1u + in[i])
        if (in[i] == 2 && i + 3 <= inlen && !memcmp(in + i + 1, "h2", 2)) {
            *out = in + i + 1;
            *outlen = 2;
            return SSL_TLSEXT_ERR_OK;
        }
    return SSL_TLSEXT_ERR_NOACK;
}

static struct srv *srv_start_ctx(srv_script script, SSL_CTX *ctx)
{
    struct srv *s = tk_xcalloc(1, sizeof(*s));
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);

    s->ctx = ctx;
    s->script = script;
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) || listen(s->lfd, 16) ||
        getsockname(s->lfd, (struct sockaddr *)&a, &alen))
        abort();
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thr, NULL, srv_main, s);
    return s;
}

static struct srv *srv_start(srv_script script)
{
    return srv_start_ctx(script, NULL);
}

/* The same server over TLS with the test PKI's serving certificate; alpn: select h2 when the
 * client offers it, else agree to no protocol (as an HTTP/1.1-only server does). */
static struct srv *srv_start_tls(srv_script script, int alpn)
{
    struct pkiset k;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    pki_once(&k);
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, k.srv_crt) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, k.srv_key, SSL_FILETYPE_PEM) != 1)
        abort();
    if (alpn)
        SSL_CTX_set_alpn_select_cb(ctx, alpn_h2, NULL);
    return srv_start_ctx(script, ctx);
}

/* Stops the server; returns its notes ("" when the client kept to the protocol). Caller
 * frees. */
static char *srv_stop(struct srv *s)
{
    struct tk_buf notes;

    atomic_store(&s->stop, 1);
    pthread_join(s->thr, NULL);
    close(s->lfd);
    tk_buf_init(&notes, 0);
    tk_buf_puts(&notes, "");
    for (int i = 0; i < s->nlog; i++) {
        if (!strncmp(s->log[i], "NOTE", 4))
            tk_buf_printf(&notes, "%s\n", s->log[i]);
        free(s->log[i]);
    }
    pthread_mutex_destroy(&s->mu);
    if (s->ctx)
        SSL_CTX_free(s->ctx);
    free(s);
    return tk_buf_detach(&notes);
}

/* Stops the server; 1 when the client kept to the protocol (no notes), else prints them. */
static int srv_stop_clean(struct srv *s)
{
    char *notes = srv_stop(s);
    int clean = notes[0] == '\0';

    if (!clean)
        fprintf(stderr, "  server notes:\n%s", notes);
    free(notes);
    return clean;
}

static void srv_goaway(struct sconn *c, uint32_t last, uint32_t code)
{
    uint8_t p[8];
    set32(p, last);
    set32(p + 4, code);
    srv_send(c, TK_H2_GOAWAY, 0, 0, p, 8);
}

/* ---- client side ---- */

/* A client of the scripted server: plain h2c, or TLS trusting ca_pem (NULL: the system store). */
static struct tk_h2 *client_opts(struct tk_loop *loop, int port, int tls, const char *ca_pem,
                                 int read_idle_ms, int ping_timeout_ms)
{
    struct tk_h2_opts o;
    struct tk_err err = {0};
    char p[16];
    struct tk_h2 *h;

    snprintf(p, sizeof(p), "%d", port);
    memset(&o, 0, sizeof(o));
    o.host = "127.0.0.1";
    o.port = p;
    o.tls = tls;
    o.ca_pem = ca_pem;
    o.read_idle_ms = read_idle_ms;
    o.ping_timeout_ms = ping_timeout_ms;
    h = tk_h2_new(loop, &o, &err);
    if (!h)
        fprintf(stderr, "tk_h2_new: %s\n", err.msg);
    return h;
}

static struct tk_h2 *client(struct tk_loop *loop, int port, int read_idle_ms, int ping_timeout_ms)
{
    return client_opts(loop, port, 0, NULL, read_idle_ms, ping_timeout_ms);
}

struct call {
    struct tk_h2_req req;
    struct tk_buf body, sunk;
    int done, pieces, abort;
    int64_t done_ns; /* when done last ran */
    int done_pass;   /* ... in which pass of wait_calls's loop */
};

static int loop_passes; /* counted by calls_done: once before each wait and after each pass */

static void on_done(struct tk_h2_req *r, void *ud)
{
    (void)r;
    ((struct call *)ud)->done++;
    ((struct call *)ud)->done_ns = tk_now_ns();
    ((struct call *)ud)->done_pass = loop_passes;
}

static int on_sink(struct tk_h2_req *r, const char *data, size_t n, void *ud)
{
    struct call *c = ud;
    (void)r;
    c->pieces++;
    tk_buf_append(&c->sunk, data, n);
    return c->abort ? TK_H2_SINK_ABORT : 0;
}

static void call_init(struct call *c, size_t cap)
{
    memset(c, 0, sizeof(*c));
    tk_h2_req_init(&c->req);
    tk_buf_init(&c->body, cap);
    tk_buf_init(&c->sunk, 0);
}

static void call_release(struct call *c)
{
    tk_h2_req_release(&c->req);
    tk_buf_release(&c->body);
    tk_buf_release(&c->sunk);
}

/* Submits method target (headers: an Accept line) with body, to the sink when use_sink. */
static int start(struct tk_h2 *h, struct call *c, const char *method, const char *target,
                 const char *body, int use_sink, int64_t deadline_ns)
{
    c->done = c->pieces = 0;
    tk_buf_reset(&c->body);
    tk_buf_reset(&c->sunk);
    return tk_h2_submit(h, &c->req, method, target, "Accept: application/json\r\n", body,
                        body ? strlen(body) : 0, &c->body, use_sink ? on_sink : NULL, deadline_ns,
                        0, 0, on_done, c);
}

struct calls {
    struct call *c;
    int n;
};

static int calls_done(void *ud)
{
    struct calls *cs = ud;
    loop_passes++;
    for (int i = 0; i < cs->n; i++)
        if (!cs->c[i].done)
            return 0;
    return 1;
}

/* Runs the loop until the n calls have completed (10 s at most). */
static int wait_calls(struct tk_loop *loop, struct call *c, int n)
{
    struct calls cs = {c, n};
    return tk_loop_run_until(loop, calls_done, &cs, tk_now_ns() + 10000 * MS);
}

static int roundtrip(struct tk_loop *loop, struct tk_h2 *h, struct call *c, const char *method,
                     const char *target, const char *body)
{
    if (start(h, c, method, target, body, 0, 0))
        return -1;
    return wait_calls(loop, c, 1);
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

/* Runs the loop until the server has logged count lines containing needle (or 5 s). */
static int wait_log(struct tk_loop *loop, struct srv *s, const char *needle, int count)
{
    struct tk_timer t;
    struct cond c = {s, needle, count};
    int rc;

    tk_timer_init(&t, tick, loop);
    tk_timer_start(loop, &t, 0);
    rc = tk_loop_run_until(loop, seen_enough, &c, tk_now_ns() + 5000 * MS);
    tk_timer_stop(loop, &t);
    return rc;
}

struct closes {
    struct tk_h2 *h;
    uint64_t n;
};

static int closed_enough(void *ud)
{
    struct closes *c = ud;
    struct tk_h2_stats st;
    tk_h2_get_stats(c->h, &st);
    return st.closes >= c->n;
}

/* Runs the loop until the client has closed n connections (or 5 s). */
static int wait_closes(struct tk_loop *loop, struct tk_h2 *h, uint64_t n)
{
    struct tk_timer t;
    struct closes c = {h, n};
    int rc;

    tk_timer_init(&t, tick, loop);
    tk_timer_start(loop, &t, 0);
    rc = tk_loop_run_until(loop, closed_enough, &c, tk_now_ns() + 5000 * MS);
    tk_timer_stop(loop, &t);
    return rc;
}

/* ---- requests ---- */

static void sc_get_post(struct sconn *c)
{
    const uint8_t padded[] = {4, 'l', 'o', ' ', 0, 0, 0, 0};
    uint32_t id;

    srv_settings(c, 0, 0);
    if (!(id = srv_wait_request(c)))
        return;
    srv_send(c, TK_H2_PING, 0, 0, "tk-ping!", 8); /* answered before the response */
    if (srv_wait_frame(c, TK_H2_PING, 0))
        return;
    srv_reply_headers(c, id, "200", NULL, 0);
    srv_reply_data(c, id, "hel", 0);
    srv_send(c, TK_H2_DATA, 0x8, id, padded, sizeof(padded));
    srv_reply_data(c, id, "world", 1);
    for (int i = 0; i < 2 && (id = srv_wait_request(c)); i++)
        srv_echo(c, id);
}

TK_TEST(h2_get_post_and_request_headers)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(sc_get_post);
    struct tk_h2 *h = client(loop, s->port, 0, 0);
    struct tk_h2_stats st;
    struct call a;
    char want[256], *r;

    CHECK(h);
    call_init(&a, 0);
    CHECK_INT(
        tk_h2_submit(h, &a.req, "GET", "/api/v1/nodes?limit=5",
                     "Host: example.com\r\nAccept: application/json\r\nX-Mixed-Case:  Value\r\n"
                     "Connection: keep-alive\r\nContent-Length: 99\r\n",
                     NULL, 0, &a.body, NULL, 0, 0, 0, on_done, &a),
        0);
    CHECK_INT(
        tk_h2_submit(h, &a.req, "GET", "/", NULL, NULL, 0, &a.body, NULL, 0, 0, 0, on_done, &a),
        TK_ESTATE);       /* already submitted */
    CHECK_INT(a.done, 0); /* callbacks run from the loop only */
    CHECK_INT(wait_calls(loop, &a, 1), 0);
    CHECK_INT(a.done, 1);
    CHECK_INT(a.req.err, 0);
    CHECK_STR(a.req.errmsg, "");
    CHECK_INT(a.req.status, 200);
    CHECK_INT(a.req.got_bytes, 1);
    CHECK_STR(a.body.data, "hello world"); /* padding removed */
    CHECK_INT(roundtrip(loop, h, &a, "POST", "/api/v1/pods", "{\"kind\":\"Pod\"}"), 0);
    CHECK_INT(a.req.status, 200);
    CHECK_STR(a.body.data, "conn=0 /api/v1/pods");
    CHECK_INT(roundtrip(loop, h, &a, "DELETE", "/api/v1/pods/p", NULL), 0);
    CHECK_STR(a.body.data, "conn=0 /api/v1/pods/p");
    /* what the server received */
    r = srv_find(s, "REQ conn=0 stream=1\n", 0);
    snprintf(want, sizeof(want),
             "\n:method: GET\n:scheme: http\n:authority: 127.0.0.1:%d\n:path: "
             "/api/v1/nodes?limit=5\naccept: application/json\nx-mixed-case: Value\n\n",
             s->port);
    CHECK_CONTAINS(r, want); /* lowercased; Host, Connection, Content-Length dropped */
    free(r);
    r = srv_find(s, "REQ conn=0 stream=3\n", 0);
    CHECK_CONTAINS(r, "\n:method: POST\n:scheme: http\n");
    CHECK_CONTAINS(r, "\ncontent-length: 14\n\n{\"kind\":\"Pod\"}");
    free(r);
    r = srv_find(s, "REQ conn=0 stream=5\n", 0);
    CHECK_CONTAINS(r, "\n:method: DELETE\n");
    CHECK(!strstr(r, "content-length"));
    free(r);
    CHECK_INT(srv_count(s, "PING ACK tk-ping!"), 1);
    tk_h2_get_stats(h, &st);
    CHECK_INT(st.connects, 1);
    CHECK_INT(st.handshakes, 1);
    CHECK_INT(st.streams, 3);
    CHECK_INT(st.active, 0);
    CHECK_INT(st.queued, 0);
    tk_h2_free(h);
    CHECK(srv_stop_clean(s));
    tk_loop_free(loop);
    call_release(&a);
}

/* 103 (padded, with priority), then 429 with a Huffman retry-after split over HEADERS and
 * CONTINUATION, a body, and trailers. */
static void sc_interim_and_trailers(struct sconn *c)
{
    struct tk_buf b, huff;
    uint32_t id;

    srv_settings(c, 0, 0);
    if (!(id = srv_wait_request(c)))
        return;
    tk_buf_init(&b, 0);
    tk_buf_append(&b, "\x02\x00\x00\x00\x00\x10", 6); /* pad length, priority */
    tk_hpack_put_field(&b, ":status", 7, "103", 3);
    tk_buf_append(&b, "\x00\x00", 2);
    srv_send(c, TK_H2_HEADERS, 0x4 | 0x8 | 0x20, id, b.data, b.len);
    tk_buf_reset(&b);
    tk_hpack_put_field(&b, ":status", 7, "429", 3);
    tk_buf_init(&huff, 0);
    tk_hpack_huffman_encode("17", 2, &huff);
    tk_buf_append(&b, "\x0f\x26", 2); /* literal without indexing, name: static 53 */
    uint8_t hlen = (uint8_t)(0x80 | huff.len);
    tk_buf_append(&b, &hlen, 1);
    tk_buf_append(&b, huff.data, huff.len);
    tk_hpack_put_field(&b, "content-type", 12, "application/json", 16);
    srv_send(c, TK_H2_HEADERS, 0, id, b.data, 3);
    srv_send(c, TK_H2_CONTINUATION, 0x4, id, b.data + 3, b.len - 3);
    srv_reply_data(c, id, "{\"code\":429}", 0);
    tk_buf_reset(&b);
    tk_hpack_put_field(&b, "x-trailer", 9, "t", 1);
    srv_send(c, TK_H2_HEADERS, 0x4 | 0x1, id, b.data, b.len);
    tk_buf_release(&b);
    tk_buf_release(&huff);
    if ((id = srv_wait_request(c)))
        srv_echo(c, id);
}

TK_TEST(h2_retry_after_interim_and_trailers)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(sc_interim_and_trailers);
    struct tk_h2 *h = client(loop, s->port, 0, 0);
    struct call a;

    call_init(&a, 0);
    CHECK_INT(roundtrip(loop, h, &a, "GET", "/slow", NULL), 0);
    CHECK_INT(a.req.err, 0);
    CHECK_INT(a.req.status, 429);
    CHECK_STR(a.req.retry_after, "17");
    CHECK_STR(a.body.data, "{\"code\":429}"); /* the trailers are not body */
    /* the next request starts clean */
    CHECK_INT(roundtrip(loop, h, &a, "GET", "/next", NULL), 0);
    CHECK_INT(a.req.status, 200);
    CHECK_STR(a.req.retry_after, "");
    CHECK_STR(a.body.data, "conn=0 /next");
    tk_h2_free(h);
    CHECK(srv_stop_clean(s));
    tk_loop_free(loop);
    call_release(&a);
}

/* MAX_CONCURRENT_STREAMS 1: the server notes a second stream opened before the first ends. */
static void sc_one_stream(struct sconn *c)
{
    uint32_t id;

    srv_settings(c, 3, 1);
    for (int i = 0; i < 3 && (id = srv_wait_request(c)); i++) {
        int open = 0;
        srv_settle(c, 50); /* time for a second stream to show up, if the client sends one */
        for (int k = 0; k < c->nst; k++)
            open += !c->st[k].answered;
        if (open > 1)
            srv_log(c->s, "NOTE %d streams open at once over a limit of 1", open);
        srv_echo(c, id);
    }
}

TK_TEST(h2_peer_stream_limit)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(sc_one_stream);
    struct tk_h2 *h = client(loop, s->port, 0, 0);
    struct tk_h2_stats st;
    struct call a[3];

    for (int i = 0; i < 3; i++) {
        char target[8];
        snprintf(target, sizeof(target), "/%d", i);
        call_init(&a[i], 0);
        CHECK_INT(start(h, &a[i], "GET", target, NULL, 0, 0), 0);
    }
    tk_h2_get_stats(h, &st);
    CHECK_INT(st.queued, 3);
    CHECK_INT(wait_calls(loop, a, 3), 0);
    for (int i = 0; i < 3; i++) {
        char want[32];
        snprintf(want, sizeof(want), "conn=0 /%d", i); /* in submit order */
        CHECK_INT(a[i].req.err, 0);
        CHECK_STR(a[i].body.data, want);
    }
    tk_h2_get_stats(h, &st);
    CHECK_INT(st.connects, 1);
    CHECK_INT(st.streams, 3);
    tk_h2_free(h);
    CHECK(srv_stop_clean(s));
    tk_loop_free(loop);
    for (int i = 0; i < 3; i++)
        call_release(&a[i]);
}

/* MAX_CONCURRENT_STREAMS 1 and the first stream never answered (until its reset). */
static void sc_one_stream_held(struct sconn *c)
{
    uint32_t id;

    srv_settings(c, 3, 1);
    if (!(id = srv_wait_request(c)))
        return;
    srv_wait_frame(c, TK_H2_RST_STREAM, id);
    while ((id = srv_wait_request(c)))
        srv_echo(c, id);
}

TK_TEST(h2_deadline_of_a_queued_request)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(sc_one_stream_held);
    struct tk_h2 *h = client(loop, s->port, 0, 0);
    struct call a, b;

    call_init(&a, 0);
    call_init(&b, 0);
    CHECK_INT(start(h, &a, "GET", "/held", NULL, 0, 0), 0);
    CHECK_INT(wait_log(loop, s, ":path: /held", 1), 0);
    /* waits behind the stream limit: its deadline still bounds it */
    CHECK_INT(start(h, &b, "GET", "/queued", NULL, 0, tk_now_ns() + 300 * MS), 0);
    CHECK_INT(wait_calls(loop, &b, 1), 0);
    CHECK_INT(b.req.err, TK_ETIMEOUT);
    CHECK_INT(b.req.connect_failed, 0);
    CHECK_INT(a.done, 0);
    tk_h2_cancel(&a.req);
    CHECK_INT(roundtrip(loop, h, &b, "GET", "/after", NULL), 0);
    CHECK_STR(b.body.data, "conn=0 /after");
    CHECK_INT(srv_count(s, ":path: /queued"), 0); /* never sent */
    tk_h2_free(h);
    CHECK(srv_stop_clean(s));
    tk_loop_free(loop);
    call_release(&a);
    call_release(&b);
}

/* Accepts, never sends SETTINGS, reads until the client goes. */
static void sc_mute(struct sconn *c)
{
    while (srv_next(c, 5000, NULL) >= 0)
        ;
}

TK_TEST(h2_deadline_while_connecting)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(sc_mute);
    struct tk_h2 *h = client(loop, s->port, 0, 0);
    struct tk_h2_stats st;
    struct call a;

    call_init(&a, 0);
    CHECK_INT(start(h, &a, "GET", "/x", NULL, 0, tk_now_ns() + 300 * MS), 0);
    CHECK_INT(wait_calls(loop, &a, 1), 0); /* well before the 10 s connect timeout */
    CHECK_INT(a.req.err, TK_ETIMEOUT);
    CHECK_CONTAINS(a.req.errmsg, "before it could be sent");
    tk_h2_get_stats(h, &st);
    CHECK_INT(st.handshakes, 0);
    CHECK_INT(st.queued, 0);
    tk_h2_free(h);
    CHECK(srv_stop_clean(s));
    tk_loop_free(loop);
    call_release(&a);
}

static void sc_resets(struct sconn *c)
{
    uint32_t id;

    srv_settings(c, 0, 0);
    if (!(id = srv_wait_request(c)))
        return;
    srv_rst(c, id, 7); /* REFUSED_STREAM: never processed */
    if (!(id = srv_wait_request(c)))
        return;
    srv_echo(c, id);
    if (!(id = srv_wait_request(c)))
        return;
    srv_rst(c, id, 2); /* INTERNAL_ERROR */
    if ((id = srv_wait_request(c)))
        srv_echo(c, id);
}

TK_TEST(h2_refused_stream_retried_other_reset_fails)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(sc_resets);
    struct tk_h2 *h = client(loop, s->port, 0, 0);
    struct tk_h2_stats st;
    struct call a;
    char *r;

    call_init(&a, 0);
    CHECK_INT(roundtrip(loop, h, &a, "POST", "/a", "{}"), 0);
    CHECK_INT(a.req.err, 0);
    CHECK_INT(a.req.status, 200);
    CHECK_STR(a.body.data, "conn=0 /a");
    tk_h2_get_stats(h, &st);
    CHECK_INT(st.refused, 1);
    r = srv_find(s, "REQ conn=0 stream=3\n", 0); /* the retry, same connection, body again */
    CHECK_CONTAINS(r, ":path: /a\n");
    CHECK_CONTAINS(r, "\n\n{}");
    free(r);
    CHECK_INT(roundtrip(loop, h, &a, "GET", "/b", NULL), 0);
    CHECK_INT(a.req.err, TK_ENET);
    CHECK_CONTAINS(a.req.errmsg, "stream reset by the server (error code 2)");
    CHECK_INT(a.req.status, 0);
    CHECK_INT(a.req.got_bytes, 0);
    CHECK_INT(a.req.connect_failed, 0);
    CHECK_INT(roundtrip(loop, h, &a, "GET", "/c", NULL), 0);
    CHECK_STR(a.body.data, "conn=0 /c");
    tk_h2_get_stats(h, &st);
    CHECK_INT(st.refused, 1);
    CHECK_INT(st.resets_received, 2);
    CHECK_INT(st.connects, 1);
    CHECK_INT(st.streams, 4);
    tk_h2_free(h);
    CHECK(srv_stop_clean(s));
    tk_loop_free(loop);
    call_release(&a);
}

/* Connection 0 takes two streams, says GOAWAY with the first as the last it processes, answers
 * that one and waits for the client to close; connection 1 answers what comes. */
static void sc_goaway(struct sconn *c)
{
    uint32_t a, b;

    srv_settings(c, 0, 0);
    if (c->idx > 0) {
        if ((a = srv_wait_request(c)))
            srv_echo(c, a);
        return;
    }
    if (!(a = srv_wait_request(c)) || !(b = srv_wait_request(c)))
        return;
    srv_goaway(c, a < b ? a : b, 0);
    srv_echo(c, a < b ? a : b);
    while (srv_next(c, 5000, NULL) >= 0) /* until the client closes this one */
        ;
}

TK_TEST(h2_goaway_moves_unprocessed_streams)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(sc_goaway);
    struct tk_h2 *h = client(loop, s->port, 0, 0);
    struct tk_h2_stats st;
    struct call a[2];

    call_init(&a[0], 0);
    call_init(&a[1], 0);
    CHECK_INT(start(h, &a[0], "GET", "/a", NULL, 0, 0), 0);
    CHECK_INT(start(h, &a[1], "GET", "/b", NULL, 0, 0), 0);
    CHECK_INT(wait_calls(loop, a, 2), 0);
    CHECK_INT(a[0].req.err, 0);
    CHECK_STR(a[0].body.data, "conn=0 /a"); /* finished on the old connection */
    CHECK_INT(a[1].req.err, 0);
    CHECK_STR(a[1].body.data, "conn=1 /b"); /* moved to a fresh one */
    tk_h2_get_stats(h, &st);
    CHECK_INT(st.goaways, 1);
    CHECK_INT(st.connects, 2);
    CHECK_INT(st.handshakes, 2);
    CHECK_INT(st.active, 0);
    /* the old connection goes once its last stream is done (not at the next read-idle PING) */
    CHECK_INT(wait_closes(loop, h, 1), 0);
    CHECK_INT(wait_log(loop, s, "EOF", 1), 0);
    CHECK_INT(srv_count(s, "GOAWAY last=0 code=0"), 1); /* a polite close */
    tk_h2_get_stats(h, &st);
    CHECK_INT(st.closes, 1);
    CHECK_INT(st.pings_sent, 0);
    tk_h2_free(h);
    CHECK(srv_stop_clean(s));
    tk_loop_free(loop);
    call_release(&a[0]);
    call_release(&a[1]);
}

/* A 100-byte initial window: the server counts the stream's DATA against what it granted, gives
 * 100 more only once the window is used up (after a moment for an overrun to show). */
static void sc_send_window(struct sconn *c)
{
    struct sstream *st;
    uint32_t granted = 100;
    int updates = 0;
    uint8_t inc[4];

    srv_settings(c, 4, 100);
    if (srv_wait_frame(c, TK_H2_HEADERS, 0) || !(st = srv_stream(c, 1)))
        return;
    set32(inc, 100);
    while (!st->ended) {
        if (st->body.len > granted) {
            srv_log(c->s, "NOTE %zu bytes sent on a window of %u", st->body.len, granted);
            return;
        }
        if (st->body.len < granted) {
            if (srv_next(c, 5000, NULL) < 0)
                return;
            continue;
        }
        srv_settle(c, 50);
        if (st->body.len > granted || st->ended)
            continue;
        srv_send(c, TK_H2_WINDOW_UPDATE, 0, 1, inc, 4);
        granted += 100;
        updates++;
    }
    srv_log(c->s, "UPDATES %d", updates);
    srv_echo(c, 1);
}

TK_TEST(h2_send_flow_control)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(sc_send_window);
    struct tk_h2 *h = client(loop, s->port, 0, 0);
    struct call a;
    char body[1001], *r;

    for (int i = 0; i < 1000; i++)
        body[i] = (char)('a' + i % 26);
    body[1000] = '\0';
    call_init(&a, 0);
    CHECK_INT(roundtrip(loop, h, &a, "PUT", "/flow", body), 0);
    CHECK_INT(a.req.err, 0);
    CHECK_STR(a.body.data, "conn=0 /flow");
    CHECK_INT(srv_count(s, "UPDATES 9"), 1);
    r = srv_find(s, "REQ conn=0 stream=1\n", 0);
    CHECK_CONTAINS(r, "\ncontent-length: 1000\n\n");
    CHECK(r && strlen(r) >= 1000 && !strcmp(r + strlen(r) - 1000, body)); /* intact */
    free(r);
    tk_h2_free(h);
    CHECK(srv_stop_clean(s));
    tk_loop_free(loop);
    call_release(&a);
}

/* Stream windows of 1 MiB, so only the connection's 65,535 bytes limit a 100,000-byte body: the
 * server gives the rest of it with one connection WINDOW_UPDATE once the window is used up. */
static void sc_conn_window(struct sconn *c)
{
    struct sstream *st;
    uint8_t inc[4];

    srv_settings(c, 4, 1u << 20);
    if (srv_wait_frame(c, TK_H2_HEADERS, 0) || !(st = srv_stream(c, 1)))
        return;
    while (st->body.len < 65535 && !st->ended)
        if (srv_next(c, 5000, NULL) < 0)
            return;
    srv_settle(c, 50);
    if (st->body.len != 65535) {
        srv_log(c->s, "NOTE %zu bytes sent on a connection window of 65535", st->body.len);
        return;
    }
    set32(inc, 100000 - 65535);
    srv_send(c, TK_H2_WINDOW_UPDATE, 0, 0, inc, 4);
    while (!st->ended)
        if (srv_next(c, 5000, NULL) < 0)
            return;
    srv_echo(c, 1);
}

TK_TEST(h2_send_flow_control_connection_window)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(sc_conn_window);
    struct tk_h2 *h = client(loop, s->port, 0, 0);
    struct call a;
    char *body = tk_xmalloc(100001), *r;

    for (int i = 0; i < 100000; i++)
        body[i] = (char)('A' + i % 26);
    body[100000] = '\0';
    call_init(&a, 0);
    CHECK_INT(roundtrip(loop, h, &a, "POST", "/conn-window", body), 0);
    CHECK_INT(a.req.err, 0);
    CHECK_STR(a.body.data, "conn=0 /conn-window");
    r = srv_find(s, "REQ conn=0 stream=1\n", 0);
    CHECK_CONTAINS(r, "\ncontent-length: 100000\n\n");
    CHECK(r && strlen(r) >= 100000 && !strcmp(r + strlen(r) - 100000, body)); /* intact */
    free(r);
    free(body);
    tk_h2_free(h);
    CHECK(srv_stop_clean(s));
    tk_loop_free(loop);
    call_release(&a);
}

/* A response that is no response: DATA before any HEADERS (even an empty one), a 1xx that ends
 * the stream; then a headers-only 204 and a request whose header block needs CONTINUATION. */
static void sc_stream_errors(struct sconn *c)
{
    static const uint8_t zero[4] = {0, 0, 0, 0}, max[4] = {0x7f, 0xff, 0xff, 0xff};
    uint32_t id;

    srv_settings(c, 0, 0);
    if (!(id = srv_wait_request(c)))
        return;
    srv_send(c, TK_H2_DATA, 0x1, id, NULL, 0);
    if (srv_wait_frame(c, TK_H2_RST_STREAM, id) || !(id = srv_wait_request(c)))
        return;
    srv_reply_headers(c, id, "103", NULL, 1);
    if (srv_wait_frame(c, TK_H2_RST_STREAM, id) || !(id = srv_wait_request(c)))
        return;
    srv_send(c, TK_H2_WINDOW_UPDATE, 0, id, zero, 4); /* an increment of 0 */
    if (srv_wait_frame(c, TK_H2_RST_STREAM, id) || !(id = srv_wait_request(c)))
        return;
    srv_send(c, TK_H2_WINDOW_UPDATE, 0, id, max, 4); /* 65535 + 2^31-1: past the limit */
    if (srv_wait_frame(c, TK_H2_RST_STREAM, id) || !(id = srv_wait_request(c)))
        return;
    srv_reply_headers(c, id, "204", NULL, 1);
    if ((id = srv_wait_request(c)))
        srv_echo(c, id);
}

TK_TEST(h2_stream_protocol_errors)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(sc_stream_errors);
    struct tk_h2 *h = client(loop, s->port, 0, 0);
    struct tk_h2_stats st;
    struct call a;
    struct tk_buf big;
    char *r;

    call_init(&a, 0);
    CHECK_INT(roundtrip(loop, h, &a, "GET", "/no-headers", NULL), 0);
    CHECK_INT(a.req.err, TK_ENET);
    CHECK_CONTAINS(a.req.errmsg, "DATA before the response headers");
    CHECK_INT(wait_log(loop, s, "RST stream=1 code=1", 1), 0); /* PROTOCOL_ERROR */
    CHECK_INT(roundtrip(loop, h, &a, "GET", "/interim-only", NULL), 0);
    CHECK_INT(a.req.err, TK_ENET);
    CHECK_CONTAINS(a.req.errmsg, "without a valid :status");
    CHECK_INT(wait_log(loop, s, "RST stream=3 code=1", 1), 0);
    /* stream WINDOW_UPDATEs of 0 and past 2^31-1 end that stream, not the connection */
    CHECK_INT(roundtrip(loop, h, &a, "GET", "/window-zero", NULL), 0);
    CHECK_INT(a.req.err, TK_ENET);
    CHECK_CONTAINS(a.req.errmsg, "WINDOW_UPDATE of 0");
    CHECK_INT(wait_log(loop, s, "RST stream=5 code=1", 1), 0);
    CHECK_INT(roundtrip(loop, h, &a, "GET", "/window-overflow", NULL), 0);
    CHECK_INT(a.req.err, TK_ENET);
    CHECK_CONTAINS(a.req.errmsg, "window over 2^31-1");
    CHECK_INT(wait_log(loop, s, "RST stream=7 code=3", 1), 0); /* FLOW_CONTROL_ERROR */
    CHECK_INT(roundtrip(loop, h, &a, "DELETE", "/x", NULL), 0);
    CHECK_INT(a.req.err, 0);
    CHECK_INT(a.req.status, 204);
    CHECK_INT(a.body.len, 0);
    /* a header block over the 16 KiB frame size goes as HEADERS + CONTINUATION */
    tk_buf_init(&big, 0);
    tk_buf_puts(&big, "X-Big: ");
    for (int i = 0; i < 20000; i++)
        tk_buf_puts(&big, i % 100 ? "b" : "B");
    tk_buf_puts(&big, "\r\n");
    a.done = 0;
    CHECK_INT(tk_h2_submit(h, &a.req, "GET", "/big-headers", big.data, NULL, 0, &a.body, NULL, 0, 0,
                           0, on_done, &a),
              0);
    CHECK_INT(wait_calls(loop, &a, 1), 0);
    CHECK_INT(a.req.err, 0);
    CHECK_STR(a.body.data, "conn=0 /big-headers");
    r = srv_find(s, "REQ conn=0 stream=11\n", 0);
    CHECK_CONTAINS(r, "\nx-big: Bbbbb");
    CHECK(r && strstr(r, "\nx-big: ") && strcspn(strstr(r, "\nx-big: ") + 8, "\n") == 20000);
    free(r);
    tk_buf_release(&big);
    tk_h2_get_stats(h, &st);
    CHECK_INT(st.connects, 1);
    tk_h2_free(h);
    CHECK(srv_stop_clean(s));
    tk_loop_free(loop);
    call_release(&a);
}

/* ---- bodies: sinks and caps ---- */

static void sc_sink(struct sconn *c)
{
    uint32_t id;

    srv_settings(c, 0, 0);
    if (!(id = srv_wait_request(c)))
        return;
    srv_reply_headers(c, id, "200", NULL, 0);
    srv_reply_data(c, id, "a", 0);
    srv_reply_data(c, id, "bc", 0);
    srv_reply_data(c, id, "def", 1);
    if (!(id = srv_wait_request(c)))
        return;
    srv_reply_headers(c, id, "200", NULL, 0);
    srv_reply_data(c, id, "x", 0);
    if (srv_wait_frame(c, TK_H2_RST_STREAM, id) || !(id = srv_wait_request(c)))
        return;
    srv_echo(c, id);
}

TK_TEST(h2_sink_pieces_and_abort)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(sc_sink);
    struct tk_h2 *h = client(loop, s->port, 0, 0);
    struct tk_h2_stats st;
    struct call a;

    call_init(&a, 0);
    CHECK_INT(start(h, &a, "GET", "/watch", NULL, 1, 0), 0);
    CHECK_INT(wait_calls(loop, &a, 1), 0);
    CHECK_INT(a.req.err, 0);
    CHECK_INT(a.req.status, 200);
    CHECK(a.pieces >= 3); /* one frame at least one piece */
    CHECK_STR(a.sunk.data, "abcdef");
    CHECK_INT(a.body.len, 0);
    a.abort = 1;
    CHECK_INT(start(h, &a, "GET", "/watch2", NULL, 1, 0), 0);
    CHECK_INT(wait_calls(loop, &a, 1), 0);
    CHECK_INT(a.req.err, TK_ENET);
    CHECK_CONTAINS(a.req.errmsg, "aborted by the receiver");
    CHECK_INT(a.req.status, 200);
    CHECK_INT(a.req.got_bytes, 1);
    CHECK_INT(a.pieces, 1);
    CHECK_INT(wait_log(loop, s, "RST stream=3 code=8", 1), 0); /* CANCEL */
    a.abort = 0;
    CHECK_INT(roundtrip(loop, h, &a, "GET", "/after", NULL), 0);
    CHECK_STR(a.body.data, "conn=0 /after");
    tk_h2_get_stats(h, &st);
    CHECK_INT(st.connects, 1); /* the abort cost the stream, not the connection */
    tk_h2_free(h);
    CHECK(srv_stop_clean(s));
    tk_loop_free(loop);
    call_release(&a);
}

static void sc_big_body(struct sconn *c)
{
    char big[101];
    uint32_t id;

    memset(big, 'z', 100);
    big[100] = '\0';
    srv_settings(c, 0, 0);
    if (!(id = srv_wait_request(c)))
        return;
    srv_reply_headers(c, id, "200", NULL, 0);
    srv_reply_data(c, id, big, 0);
    if (srv_wait_frame(c, TK_H2_RST_STREAM, id) || !(id = srv_wait_request(c)))
        return;
    srv_echo(c, id);
}

TK_TEST(h2_body_over_cap)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(sc_big_body);
    struct tk_h2 *h = client(loop, s->port, 0, 0);
    struct call a;

    call_init(&a, 16);
    CHECK_INT(roundtrip(loop, h, &a, "GET", "/big", NULL), 0);
    CHECK_INT(a.req.err, TK_ENOMEM);
    CHECK_CONTAINS(a.req.errmsg, "over the cap");
    CHECK_INT(a.req.status, 200);
    CHECK(a.body.len <= 16);
    CHECK_INT(wait_log(loop, s, "RST stream=1 code=8", 1), 0);
    CHECK_INT(roundtrip(loop, h, &a, "GET", "/small", NULL), 0);
    CHECK_INT(a.req.err, 0);
    CHECK_STR(a.body.data, "conn=0 /small");
    tk_h2_free(h);
    CHECK(srv_stop_clean(s));
    tk_loop_free(loop);
    call_release(&a);
}

/* ---- deadlines and cancel ---- */

/* Never answers the first two requests; waits for their resets; answers the third. */
static void sc_silent(struct sconn *c)
{
    uint32_t id;

    srv_settings(c, 0, 0);
    for (int i = 0; i < 2; i++)
        if (!(id = srv_wait_request(c)) || srv_wait_frame(c, TK_H2_RST_STREAM, id))
            return;
    if ((id = srv_wait_request(c)))
        srv_echo(c, id);
}

TK_TEST(h2_deadline_and_cancel)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(sc_silent);
    struct tk_h2 *h = client(loop, s->port, 0, 0);
    struct tk_h2_stats st;
    struct call a, never;

    call_init(&a, 0);
    call_init(&never, 0);
    CHECK_INT(start(h, &a, "GET", "/slow", NULL, 0, tk_now_ns() + 300 * MS), 0);
    CHECK_INT(wait_calls(loop, &a, 1), 0);
    CHECK_INT(a.req.err, TK_ETIMEOUT);
    CHECK_CONTAINS(a.req.errmsg, "timed out");
    CHECK_INT(a.req.status, 0);
    CHECK_INT(wait_log(loop, s, "RST stream=1 code=8", 1), 0);
    /* cancelled while queued: never sent */
    CHECK_INT(start(h, &never, "GET", "/never", NULL, 0, 0), 0);
    tk_h2_cancel(&never.req);
    /* cancelled in flight: a reset, no callback */
    CHECK_INT(start(h, &a, "GET", "/cancel", NULL, 0, 0), 0);
    CHECK_INT(wait_log(loop, s, ":path: /cancel", 1), 0);
    tk_h2_cancel(&a.req);
    tk_h2_cancel(&a.req); /* a no-op now */
    tk_h2_cancel(NULL);
    CHECK_INT(wait_log(loop, s, "RST stream=3 code=8", 1), 0);
    CHECK_INT(a.done, 0);
    CHECK_INT(never.done, 0);
    tk_h2_get_stats(h, &st);
    CHECK_INT(st.active, 0);
    CHECK_INT(st.queued, 0);
    CHECK_INT(roundtrip(loop, h, &a, "GET", "/after", NULL), 0);
    CHECK_STR(a.body.data, "conn=0 /after");
    CHECK_INT(a.done, 1);
    CHECK_INT(never.done, 0);
    CHECK_INT(srv_count(s, ":path: /never"), 0);
    tk_h2_free(h);
    CHECK(srv_stop_clean(s));
    tk_loop_free(loop);
    call_release(&a);
    call_release(&never);
}

/* ---- connection problems ---- */

static void sc_cut_mid_data(struct sconn *c)
{
    uint8_t hdr[9] = {0, 0, 100, TK_H2_DATA, 0, 0, 0, 0, 0};
    uint32_t id;

    srv_settings(c, 0, 0);
    if (!(id = srv_wait_request(c)))
        return;
    srv_reply_headers(c, id, "200", NULL, 0);
    set32(hdr + 5, id);
    send(c->fd, hdr, 9, MSG_NOSIGNAL); /* 100 bytes announced, 10 sent */
    send(c->fd, "0123456789", 10, MSG_NOSIGNAL);
    shutdown(c->fd, SHUT_RDWR);
}

TK_TEST(h2_server_closes_mid_data)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(sc_cut_mid_data);
    struct tk_h2 *h = client(loop, s->port, 0, 0);
    struct call a;

    call_init(&a, 0);
    CHECK_INT(roundtrip(loop, h, &a, "GET", "/cut", NULL), 0);
    CHECK_INT(a.req.err, TK_ENET);
    CHECK_CONTAINS(a.req.errmsg, "connection closed by the server");
    CHECK_INT(a.req.got_bytes, 1);
    CHECK_INT(a.req.connect_failed, 0);
    CHECK_INT(a.req.status, 200);
    CHECK_STR(a.body.data, "0123456789"); /* what came, as it came */
    tk_h2_free(h);
    CHECK(srv_stop_clean(s));
    tk_loop_free(loop);
    call_release(&a);
}

/* Takes a request, reads our PING and never answers it. */
static void sc_no_pong(struct sconn *c)
{
    srv_settings(c, 0, 0);
    if (!srv_wait_request(c) || srv_wait_frame(c, TK_H2_PING, 0))
        return;
    while (srv_next(c, 5000, NULL) >= 0)
        ;
}

TK_TEST(h2_unanswered_ping_ends_connection)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(sc_no_pong);
    struct tk_h2 *h = client(loop, s->port, 200, 200);
    struct tk_h2_stats st;
    struct call a;

    call_init(&a, 0);
    CHECK_INT(start(h, &a, "GET", "/watch", NULL, 1, 0), 0);
    CHECK_INT(wait_calls(loop, &a, 1), 0);
    CHECK_INT(a.req.err, TK_ENET);
    CHECK_CONTAINS(a.req.errmsg, "PING");
    CHECK_INT(srv_count(s, "PING tkping"), 1);
    CHECK_INT(wait_log(loop, s, "EOF", 1), 0); /* we closed it */
    tk_h2_get_stats(h, &st);
    CHECK_INT(st.pings_sent, 1);
    CHECK_INT(st.ping_timeouts, 1);
    CHECK_INT(st.closes, 1);
    tk_h2_free(h);
    CHECK(srv_stop_clean(s));
    tk_loop_free(loop);
    call_release(&a);
}

TK_TEST(h2_connect_refused)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct sockaddr_in sa;
    socklen_t alen = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct tk_h2_stats st;
    struct tk_h2 *h;
    struct call a;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &alen) == 0);
    close(fd); /* a port nobody listens on */
    h = client(loop, ntohs(sa.sin_port), 0, 0);
    call_init(&a, 0);
    CHECK_INT(roundtrip(loop, h, &a, "GET", "/x", NULL), 0);
    CHECK_INT(a.req.err, TK_ENET);
    CHECK_INT(a.req.connect_failed, 1);
    CHECK_INT(a.req.got_bytes, 0);
    CHECK(a.req.errmsg[0] != '\0');
    tk_h2_get_stats(h, &st);
    CHECK_INT(st.connects, 1);
    CHECK_INT(st.handshakes, 0);
    tk_h2_free(h);
    tk_loop_free(loop);
    call_release(&a);
}

/* Connection 0 answers with a header block that is not HPACK; connection 1 is fine. */
static void sc_bad_hpack(struct sconn *c)
{
    uint32_t id;

    srv_settings(c, 0, 0);
    if (!(id = srv_wait_request(c)))
        return;
    if (c->idx > 0) {
        srv_echo(c, id);
        return;
    }
    srv_send(c, TK_H2_HEADERS, 0x4, id, "\x80", 1); /* index 0 */
    srv_wait_frame(c, TK_H2_GOAWAY, 0);
}

TK_TEST(h2_malformed_hpack_is_a_connection_error)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(sc_bad_hpack);
    struct tk_h2 *h = client(loop, s->port, 0, 0);
    struct tk_h2_stats st;
    struct call a;

    call_init(&a, 0);
    CHECK_INT(roundtrip(loop, h, &a, "GET", "/x", NULL), 0);
    CHECK_INT(a.req.err, TK_ENET);
    CHECK_CONTAINS(a.req.errmsg, "HPACK");
    CHECK_INT(a.req.connect_failed, 0);
    CHECK_INT(wait_log(loop, s, "GOAWAY last=0 code=9", 1), 0); /* COMPRESSION_ERROR */
    CHECK_INT(roundtrip(loop, h, &a, "GET", "/y", NULL), 0);
    CHECK_STR(a.body.data, "conn=1 /y");
    tk_h2_get_stats(h, &st);
    CHECK_INT(st.connects, 2);
    tk_h2_free(h);
    CHECK(srv_stop_clean(s));
    tk_loop_free(loop);
    call_release(&a);
}

static void sc_no_settings(struct sconn *c)
{
    srv_send(c, TK_H2_PING, 0, 0, "hi-there", 8);
    srv_wait_frame(c, TK_H2_GOAWAY, 0);
}

TK_TEST(h2_server_must_start_with_settings)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(sc_no_settings);
    struct tk_h2 *h = client(loop, s->port, 0, 0);
    struct tk_h2_stats st;
    struct call a;

    call_init(&a, 0);
    CHECK_INT(roundtrip(loop, h, &a, "GET", "/x", NULL), 0);
    CHECK_INT(a.req.err, TK_ENET);
    CHECK_INT(a.req.connect_failed, 1);
    CHECK_CONTAINS(a.req.errmsg, "did not start with SETTINGS");
    CHECK_INT(wait_log(loop, s, "GOAWAY last=0 code=1", 1), 0); /* PROTOCOL_ERROR */
    CHECK_INT(srv_count(s, "REQ "), 0);
    tk_h2_get_stats(h, &st);
    CHECK_INT(st.handshakes, 0);
    tk_h2_free(h);
    CHECK(srv_stop_clean(s));
    tk_loop_free(loop);
    call_release(&a);
}

/* ---- over TLS: the scripted server behind the test PKI's serving certificate ---- */

static void sc_tls(struct sconn *c)
{
    uint32_t id;

    srv_settings(c, 0, 0);
    while ((id = srv_wait_request(c)))
        srv_echo(c, id);
}

static struct tk_h2 *tls_client(struct tk_loop *loop, int port, const char *ca_pem)
{
    return client_opts(loop, port, 1, ca_pem, 0, 0);
}

/* Requests over TLS with ALPN h2, verified against the CA; a server that does not agree to h2
 * and a certificate from a CA the client does not trust each fail the request, with why. */
TK_TEST(h2_over_tls)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct pkiset k;
    struct tk_h2_stats st;
    struct call a;
    char *notes;

    pki_once(&k);
    call_init(&a, 0);
    struct srv *s = srv_start_tls(sc_tls, 1);
    struct tk_h2 *h = tls_client(loop, s->port, k.ca_pem);
    CHECK_INT(roundtrip(loop, h, &a, "GET", "/over-tls", NULL), 0);
    CHECK_INT(a.req.err, 0);
    CHECK_INT(a.req.status, 200);
    CHECK_STR(a.body.data, "conn=0 /over-tls");
    CHECK_INT(roundtrip(loop, h, &a, "POST", "/again", "{}"), 0);
    CHECK_STR(a.body.data, "conn=0 /again"); /* the same connection */
    CHECK_INT(srv_count(s, "TLS ALPN 'h2'"), 1);
    tk_h2_get_stats(h, &st);
    CHECK_INT(st.handshakes, 1);
    tk_h2_free(h);
    CHECK(srv_stop_clean(s));

    /* an HTTP/1.1-only server: TLS completes, ALPN selects nothing */
    s = srv_start_tls(sc_tls, 0);
    h = tls_client(loop, s->port, k.ca_pem);
    CHECK_INT(roundtrip(loop, h, &a, "GET", "/x", NULL), 0);
    CHECK_INT(a.req.err, TK_ENET);
    CHECK_INT(a.req.got_bytes, 0);
    CHECK_CONTAINS(a.req.errmsg, "did not agree to HTTP/2");
    CHECK_INT(wait_log(loop, s, "TLS ALPN ''", 1), 0);
    tk_h2_free(h);
    notes = srv_stop(s);
    CHECK_CONTAINS(notes, "no client preface"); /* the client hung up after the handshake */
    free(notes);

    /* a certificate the client cannot verify: the system store does not know the test CA */
    s = srv_start_tls(sc_tls, 1);
    h = tls_client(loop, s->port, NULL);
    CHECK_INT(roundtrip(loop, h, &a, "GET", "/x", NULL), 0);
    CHECK(a.req.err != 0);
    CHECK_INT(a.req.got_bytes, 0);
    CHECK_CONTAINS(a.req.errmsg, "verify");
    tk_h2_get_stats(h, &st);
    CHECK_INT(st.handshakes, 0);
    tk_h2_free(h);
    CHECK_INT(wait_log(loop, s, "TLS handshake failed", 1), 0);
    CHECK(srv_stop_clean(s));
    tk_loop_free(loop);
    call_release(&a);
}

/* /a at once, in one frame (HEADERS, END_STREAM); /b, then /c 20 ms later; then whatever
 * comes at once, in one frame. */
static void sc_paced(struct sconn *c)
{
    uint32_t id, id2;

    srv_settings(c, 0, 0);
    if (!(id = srv_wait_request(c)))
        return;
    srv_reply_headers(c, id, "200", NULL, 1);
    if (!(id = srv_wait_request(c)) || !(id2 = srv_wait_request(c)))
        return;
    srv_echo(c, id);
    usleep(20000);
    srv_echo(c, id2);
    while ((id = srv_wait_request(c)))
        srv_reply_headers(c, id, "200", NULL, 1);
}

#define PACE (500 * MS)

static void step_fire(struct tk_timer *t, void *ud)
{
    (void)t;
    *(int *)ud = 1;
}

static int flag_set(void *ud)
{
    return *(int *)ud;
}

/* Runs the loop until just past a step of PACE, so what follows has most of a step ahead. */
static void to_step(struct tk_loop *loop)
{
    struct tk_timer t;
    int fired = 0;

    tk_timer_init(&t, step_fire, &fired);
    tk_timer_start(loop, &t, (tk_now_ns() / PACE + 1) * PACE + MS);
    CHECK_INT(tk_loop_run_until(loop, flag_set, &fired, tk_now_ns() + 2 * PACE), 0);
    tk_timer_stop(loop, &t);
}

/* read_pace_ns: the first frame after a quiet step is read on arrival; what arrives after it
 * is read at the pace's next step, in one pass (here the HEADERS and DATA of two answers
 * 20 ms apart); a step that finds nothing returns the connection to reading on arrival. */
TK_TEST(h2_paced_reading)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct srv *s = srv_start(sc_paced);
    struct tk_h2_opts o;
    char port[16];
    struct call a[4];

    snprintf(port, sizeof(port), "%d", s->port);
    memset(&o, 0, sizeof(o));
    o.host = "127.0.0.1";
    o.port = port;
    o.read_pace_ns = PACE;
    struct tk_h2 *h = tk_h2_new(loop, &o, &err);
    CHECK(h != NULL);
    for (int i = 0; i < 4; i++)
        call_init(&a[i], 0);
    /* the first answer is read on arrival (nothing had been read yet) */
    to_step(loop);
    int64_t t0 = tk_now_ns();
    CHECK_INT(roundtrip(loop, h, &a[0], "GET", "/a", NULL), 0);
    CHECK_INT(a[0].req.status, 200);
    CHECK(a[0].done_ns - t0 < PACE / 2);
    /* now paced: /b's and /c's answers, 20 ms apart, are read in one pass at the next step */
    to_step(loop);
    CHECK_INT(start(h, &a[1], "GET", "/b", NULL, 0, 0), 0);
    CHECK_INT(start(h, &a[2], "GET", "/c", NULL, 0, 0), 0);
    CHECK_INT(wait_calls(loop, &a[1], 2), 0);
    CHECK_STR(a[1].body.data, "conn=0 /b");
    CHECK_STR(a[2].body.data, "conn=0 /c");
    CHECK_INT(a[2].done_pass, a[1].done_pass);   /* one read, not two 20 ms apart */
    CHECK(a[2].done_ns - a[1].done_ns < 5 * MS); /* the same instant */
    CHECK(a[1].done_ns % PACE < PACE / 4);       /* at a step */
    /* the step after finds nothing: reading at once again */
    to_step(loop);
    to_step(loop);
    t0 = tk_now_ns();
    CHECK_INT(roundtrip(loop, h, &a[3], "GET", "/d", NULL), 0);
    CHECK_INT(a[3].req.status, 200);
    CHECK(a[3].done_ns - t0 < PACE / 2);
    tk_h2_free(h);
    CHECK(srv_stop_clean(s));
    tk_loop_free(loop);
    for (int i = 0; i < 4; i++)
        call_release(&a[i]);
}

TK_TEST_MAIN(reader_split_at_every_offset, reader_limits_and_callback_result, reader_errors,
             h2_get_post_and_request_headers, h2_retry_after_interim_and_trailers,
             h2_peer_stream_limit, h2_deadline_of_a_queued_request, h2_deadline_while_connecting,
             h2_refused_stream_retried_other_reset_fails, h2_goaway_moves_unprocessed_streams,
             h2_send_flow_control, h2_send_flow_control_connection_window,
             h2_stream_protocol_errors, h2_sink_pieces_and_abort, h2_body_over_cap,
             h2_deadline_and_cancel, h2_server_closes_mid_data, h2_unanswered_ping_ends_connection,
             h2_connect_refused, h2_malformed_hpack_is_a_connection_error,
             h2_server_must_start_with_settings, h2_over_tls, h2_paced_reading)
