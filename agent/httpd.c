#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "log.h"

#define HEAD_MAX (16 << 10)
#define MAX_CONNS 1024
#define IDLE_NS (120LL * 1000000000)
#define OUT_HIGH (1 << 20) /* a stream pauses while this much waits for a slow client */

struct conn {
    struct tk_httpd *h;
    struct conn *prev, *next;
    int fd;
    SSL *ssl;
    int handshaken;
    int want_write; /* TLS wants the socket writable to make progress */
    int events;
    int close_after;
    uint32_t local_ip;
    struct tk_buf in, out;
    struct tk_timer idle, tick;
    struct tk_httpd_stream stream;
    int streaming;
    char peer_cn[128];
};

struct tk_httpd {
    struct tk_loop *loop;
    int fd, port;
    struct tk_httpd_tls tls;
    int has_tls;
    tk_httpd_fn fn;
    void *ud;
    struct conn *conns;
    int nconns;
};

static void conn_close(struct conn *c)
{
    struct tk_httpd *h = c->h;
    tk_loop_del_fd(h->loop, c->fd);
    tk_timer_stop(h->loop, &c->idle);
    tk_timer_stop(h->loop, &c->tick);
    if (c->streaming && c->stream.free_fn)
        c->stream.free_fn(c->stream.ud);
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    close(c->fd);
    tk_buf_release(&c->in);
    tk_buf_release(&c->out);
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->nconns--;
    free(c);
}

static void conn_update_events(struct conn *c)
{
    int ev = TK_LOOP_READ;
    if (c->out.len || c->want_write)
        ev |= TK_LOOP_WRITE;
    if (ev != c->events) {
        c->events = ev;
        tk_loop_mod_fd(c->h->loop, c->fd, ev, NULL);
    }
}

/* Writes what out holds. Returns -1 when the connection broke. */
static int conn_flush(struct conn *c)
{
    while (c->out.len) {
        ssize_t n;
        if (c->ssl) {
            int r = SSL_write(c->ssl, c->out.data,
                              (int)(c->out.len > (1 << 30) ? 1 << 30 : c->out.len));
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                    c->want_write = e == SSL_ERROR_WANT_WRITE;
                    return 0;
                }
                return -1;
            }
            n = r;
        } else {
            n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    return 0;
                return -1;
            }
        }
        tk_buf_consume(&c->out, (size_t)n);
    }
    c->want_write = 0;
    return 0;
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

static void put_chunk(struct tk_buf *out, const char *data, size_t n)
{
    if (!n)
        return;
    tk_buf_printf(out, "%zx\r\n", n);
    tk_buf_append(out, data, n);
    tk_buf_puts(out, "\r\n");
}

static void tick_fire(struct tk_timer *t, void *ud)
{
    struct conn *c = ud;
    struct tk_buf more;
    int end;
    (void)t;

    if (!c->streaming)
        return;
    if (c->out.len > OUT_HIGH) {
        tk_timer_start(c->h->loop, &c->tick, tk_now_ns() + c->stream.interval_ms * 1000000LL);
        return;
    }
    tk_buf_init(&more, 0);
    end = c->stream.fn(&more, c->stream.ud);
    put_chunk(&c->out, more.data, more.len);
    tk_buf_release(&more);
    if (end) {
        tk_buf_puts(&c->out, "0\r\n\r\n");
        c->streaming = 0;
        if (c->stream.free_fn)
            c->stream.free_fn(c->stream.ud);
        memset(&c->stream, 0, sizeof(c->stream));
    } else {
        tk_timer_start(c->h->loop, &c->tick, tk_now_ns() + c->stream.interval_ms * 1000000LL);
    }
    if (conn_flush(c)) {
        conn_close(c);
        return;
    }
    conn_update_events(c);
}

static void respond(struct conn *c, int head_only, int status, struct tk_httpd_resp *r)
{
    const char *ct = r->content_type ? r->content_type : "text/plain; charset=utf-8";
    if (r->stream.fn && !head_only) {
        tk_buf_printf(&c->out,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n"
                      "Cache-Control: no-cache\r\n\r\n",
                      status, reason(status), ct);
        put_chunk(&c->out, r->body.data, r->body.len);
        c->stream = r->stream;
        c->streaming = 1;
        if (c->stream.interval_ms <= 0)
            c->stream.interval_ms = 1000;
        tk_timer_start(c->h->loop, &c->tick, tk_now_ns() + c->stream.interval_ms * 1000000LL);
        return;
    }
    if (r->stream.fn && r->stream.free_fn)
        r->stream.free_fn(r->stream.ud);
    tk_buf_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
                  status, reason(status), ct, r->body.len,
                  c->close_after ? "Connection: close\r\n" : "");
    if (!head_only && r->body.len)
        tk_buf_append(&c->out, r->body.data, r->body.len);
}

static void simple_error(struct conn *c, int status, const char *msg)
{
    struct tk_httpd_resp r;
    memset(&r, 0, sizeof(r));
    tk_buf_init(&r.body, 0);
    tk_buf_puts(&r.body, msg);
    c->close_after = 1;
    respond(c, 0, status, &r);
    tk_buf_release(&r.body);
}

/* Handles the complete requests in c->in. */
static void process(struct conn *c)
{
    while (!c->streaming && !c->close_after && c->in.len) {
        char *end = memmem(c->in.data, c->in.len, "\r\n\r\n", 4);
        char *line, *sp1, *sp2, *q, *hdr;
        size_t head_len;
        char path[2048];
        struct tk_httpd_req req;
        struct tk_httpd_resp resp;
        int status, head_only;
        long clen = 0;

        if (!end) {
            if (c->in.len >= HEAD_MAX)
                simple_error(c, 431, "request head too large\n");
            return;
        }
        *end = '\0';
        head_len = (size_t)(end - c->in.data) + 4;
        line = c->in.data;
        hdr = strstr(line, "\r\n");
        if (hdr)
            *hdr = '\0';
        sp1 = strchr(line, ' ');
        sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
        if (!sp1 || !sp2 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
            simple_error(c, 400, "bad request line\n");
            return;
        }
        *sp1 = *sp2 = '\0';
        if (sp2[8] == '0')
            c->close_after = 1; /* HTTP/1.0 */
        for (char *h = hdr ? hdr + 2 : NULL; h && *h;) {
            char *e = strstr(h, "\r\n");
            if (e)
                *e = '\0';
            if (!strncasecmp(h, "Connection:", 11) && strcasestr(h + 11, "close"))
                c->close_after = 1;
            if (!strncasecmp(h, "Content-Length:", 15))
                clen = strtol(h + 15, NULL, 10);
            if (!strncasecmp(h, "Transfer-Encoding:", 18))
                c->close_after = 1; /* request bodies are not for us */
            h = e ? e + 2 : NULL;
        }
        if (clen < 0 || clen > HEAD_MAX || c->in.len < head_len + (size_t)clen)
            return; /* wait for the (discarded) body, or refuse a large one below */
        q = strchr(sp1 + 1, '?');
        if (q)
            *q++ = '\0';
        memset(&req, 0, sizeof(req));
        req.method = line;
        req.query = q ? q : "";
        req.local_ip = c->local_ip;
        req.tls = c->ssl != NULL;
        req.peer_cn = c->peer_cn[0] ? c->peer_cn : NULL;
        head_only = !strcmp(line, "HEAD");
        if (tk_httpd_unescape(sp1 + 1, strlen(sp1 + 1), path, sizeof(path))) {
            simple_error(c, 400, "bad path\n");
            return;
        }
        req.path = path;
        memset(&resp, 0, sizeof(resp));
        tk_buf_init(&resp.body, 0);
        if (strcmp(line, "GET") && !head_only) {
            c->close_after = 1;
            tk_buf_puts(&resp.body, "method not allowed\n");
            status = 405;
        } else {
            status = c->h->fn(&req, &resp, c->h->ud);
        }
        respond(c, head_only, status, &resp);
        tk_buf_release(&resp.body);
        tk_buf_consume(&c->in, head_len + (size_t)clen);
    }
}

static void peer_name(struct conn *c)
{
    X509 *cert = SSL_get_peer_certificate(c->ssl);
    if (cert) {
        if (SSL_get_verify_result(c->ssl) == X509_V_OK)
            X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, c->peer_cn,
                                      sizeof(c->peer_cn));
        X509_free(cert);
    }
}

static void conn_event(int fd, int events, void *ud)
{
    struct conn *c = ud;
    char buf[16384];
    (void)fd;

    if (events & TK_LOOP_ERROR) {
        conn_close(c);
        return;
    }
    tk_timer_start(c->h->loop, &c->idle, tk_now_ns() + IDLE_NS);
    if (c->ssl && !c->handshaken) {
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                c->want_write = e == SSL_ERROR_WANT_WRITE;
                conn_update_events(c);
                return;
            }
            tk_debug("kubelet endpoint: TLS handshake failed", "error=\"%s\"",
                     ERR_reason_error_string(ERR_peek_last_error()));
            ERR_clear_error();
            conn_close(c);
            return;
        }
        c->handshaken = 1;
        c->want_write = 0;
        peer_name(c);
    }
    if (c->out.len && conn_flush(c)) {
        conn_close(c);
        return;
    }
    for (;;) {
        ssize_t n;
        if (c->ssl) {
            int r = SSL_read(c->ssl, buf, sizeof(buf));
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ)
                    break;
                if (e == SSL_ERROR_WANT_WRITE) {
                    c->want_write = 1;
                    break;
                }
                ERR_clear_error();
                conn_close(c);
                return;
            }
            n = r;
        } else {
            n = recv(c->fd, buf, sizeof(buf), 0);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                break;
            if (n <= 0) {
                conn_close(c);
                return;
            }
        }
        if (tk_buf_append(&c->in, buf, (size_t)n)) {
            simple_error(c, 431, "request too large\n");
            tk_buf_reset(&c->in);
            break;
        }
    }
    process(c);
    if (conn_flush(c)) {
        conn_close(c);
        return;
    }
    if (c->close_after && !c->out.len && !c->streaming) {
        conn_close(c);
        return;
    }
    conn_update_events(c);
}

static void idle_fire(struct tk_timer *t, void *ud)
{
    struct conn *c = ud;
    (void)t;
    if (c->streaming) {
        tk_timer_start(c->h->loop, &c->idle, tk_now_ns() + IDLE_NS);
        return;
    }
    conn_close(c);
}

static void accept_event(int fd, int events, void *ud)
{
    struct tk_httpd *h = ud;
    (void)events;
    for (;;) {
        struct sockaddr_in local;
        socklen_t ll = sizeof(local);
        struct conn *c;
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
            return;
        if (h->nconns >= MAX_CONNS) {
            close(cfd);
            continue;
        }
        c = tk_xcalloc(1, sizeof(*c));
        c->h = h;
        c->fd = cfd;
        if (getsockname(cfd, (struct sockaddr *)&local, &ll) == 0 && local.sin_family == AF_INET)
            c->local_ip = ntohl(local.sin_addr.s_addr);
        tk_buf_init(&c->in, HEAD_MAX * 2);
        tk_buf_init(&c->out, 0);
        tk_timer_init(&c->idle, idle_fire, c);
        tk_timer_init(&c->tick, tick_fire, c);
        if (h->has_tls) {
            c->ssl = SSL_new(h->tls.ctx);
            if (!c->ssl || (h->tls.select && h->tls.select(c->ssl, c->local_ip, h->tls.ud)) ||
                SSL_set_fd(c->ssl, cfd) != 1) {
                if (c->ssl)
                    SSL_free(c->ssl);
                close(cfd);
                tk_buf_release(&c->in);
                tk_buf_release(&c->out);
                free(c);
                ERR_clear_error();
                continue;
            }
            SSL_set_accept_state(c->ssl);
            SSL_set_mode(c->ssl,
                         SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        }
        c->next = h->conns;
        if (h->conns)
            h->conns->prev = c;
        h->conns = c;
        h->nconns++;
        c->events = TK_LOOP_READ;
        if (tk_loop_add_fd(h->loop, cfd, TK_LOOP_READ, conn_event, c, NULL)) {
            conn_close(c);
            continue;
        }
        tk_timer_start(h->loop, &c->idle, tk_now_ns() + IDLE_NS);
    }
}

struct tk_httpd *tk_httpd_new(struct tk_loop *loop, const char *addr,
                              const struct tk_httpd_tls *tls, tk_httpd_fn fn, void *ud,
                              struct tk_err *err)
{
    struct tk_httpd *h = NULL;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    char host[64];
    const char *colon = strrchr(addr, ':');
    char *end;
    long port;
    int one = 1, fd = -1;

    if (!colon || (size_t)(colon - addr) >= sizeof(host)) {
        tk_err_set(err, TK_EINVAL, "listen address '%s' is not HOST:PORT", addr);
        return NULL;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    port = strtol(colon + 1, &end, 10);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (*end || port < 0 || port > 65535 ||
        (host[0] && strcmp(host, "*") && inet_pton(AF_INET, host, &sa.sin_addr) != 1)) {
        tk_err_set(err, TK_EINVAL, "listen address '%s' is not IPv4 HOST:PORT", addr);
        return NULL;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1024) ||
        getsockname(fd, (struct sockaddr *)&sa, &sl)) {
        tk_err_set(err, TK_EIO, "cannot listen on %s: %s", addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    h = tk_xcalloc(1, sizeof(*h));
    h->loop = loop;
    h->fd = fd;
    h->port = ntohs(sa.sin_port);
    h->fn = fn;
    h->ud = ud;
    if (tls) {
        h->tls = *tls;
        h->has_tls = 1;
    }
    if (tk_loop_add_fd(loop, fd, TK_LOOP_READ, accept_event, h, err)) {
        close(fd);
        free(h);
        return NULL;
    }
    return h;
}

int tk_httpd_port(const struct tk_httpd *h)
{
    return h->port;
}

void tk_httpd_free(struct tk_httpd *h)
{
    if (!h)
        return;
    while (h->conns)
        conn_close(h->conns);
    tk_loop_del_fd(h->loop, h->fd);
    close(h->fd);
    free(h);
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int tk_httpd_unescape(const char *s, size_t n, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return -1;
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            ch = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= outsz)
            return -1;
        out[o++] = ch;
    }
    out[o] = '\0';
    return 0;
}

int tk_httpd_query(const char *query, const char *key, char *out, size_t outsz)
{
    size_t kl = strlen(key);
    const char *p = query;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n >= kl && !strncmp(p, key, kl) && (n == kl || p[kl] == '=')) {
            const char *v = n == kl ? p + n : p + kl + 1;
            size_t vn = n == kl ? 0 : n - kl - 1;
            return tk_httpd_unescape(v, vn, out, outsz);
        }
        p = amp ? amp + 1 : NULL;
    }
    return -1;
}
