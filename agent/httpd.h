#ifndef TK_HTTPD_H
#define TK_HTTPD_H

/* A small HTTP/1.1 server on the loop: the agent's /metrics (plain) and the kubelet endpoint
 * (TLS through OpenSSL, non-blocking, with client certificates). GET/HEAD only; keep-alive;
 * request heads up to 16 KiB; at most 1024 connections; an idle connection closes after
 * 120 s. A handler answers at once, or starts a stream (chunked transfer encoding) that a
 * timer feeds, for `kubectl logs -f`. */

#include <stdint.h>

#include <openssl/ssl.h>

#include "buf.h"
#include "err.h"
#include "loop.h"

struct tk_httpd;

struct tk_httpd_req {
    const char *method; /* "GET", "HEAD" */
    const char *path;   /* percent-decoded, without the query */
    const char *query;  /* raw query string without '?', "" when none */
    uint32_t local_ip;  /* the address the client connected to, host order (which node) */
    int tls;
    const char *peer_cn; /* CN of a verified client certificate, or NULL */
};

/* Streaming: after the first body goes out, fn is called every interval_ms to append more to
 * out; it returns 0 to go on, 1 to end the response. free_fn(ud) runs when the stream ends or
 * the client goes away. */
struct tk_httpd_stream {
    int (*fn)(struct tk_buf *out, void *ud);
    void (*free_fn)(void *ud);
    void *ud;
    int interval_ms;
};

struct tk_httpd_resp {
    const char *content_type;      /* NULL: text/plain; charset=utf-8 */
    struct tk_buf body;            /* the handler appends here */
    struct tk_httpd_stream stream; /* stream.fn non-NULL: a streaming response */
};

/* Returns the status code. Runs on the loop; must not block. */
typedef int (*tk_httpd_fn)(const struct tk_httpd_req *req, struct tk_httpd_resp *resp, void *ud);

/* TLS for the server. ctx is borrowed (the caller frees it after the server). Before each
 * handshake, select(ssl, local_ip, ud) may install the certificate for the address the
 * client connected to (return 0; -1 refuses the connection). */
struct tk_httpd_tls {
    SSL_CTX *ctx;
    int (*select)(SSL *ssl, uint32_t local_ip, void *ud);
    void *ud;
};

/* Listens on addr ("127.0.0.1:10260", "0.0.0.0:10250", ":10250" = all addresses), IPv4.
 * tls NULL: plain HTTP. Returns NULL with err (TK_EIO: bind/listen failed; TK_EINVAL: bad
 * address). */
struct tk_httpd *tk_httpd_new(struct tk_loop *loop, const char *addr,
                              const struct tk_httpd_tls *tls, tk_httpd_fn fn, void *ud,
                              struct tk_err *err);

/* The port actually bound (useful with port 0). */
int tk_httpd_port(const struct tk_httpd *h);

/* Closes the listener and every connection (streams' free_fn run). NULL-safe. */
void tk_httpd_free(struct tk_httpd *h);

/* Percent-decodes s into out (at most outsz-1 bytes). Returns 0, or -1 on a bad escape or
 * when out is too small. */
int tk_httpd_unescape(const char *s, size_t n, char *out, size_t outsz);

/* The value of key in a query string ("a=1&tailLines=10"), decoded into out. Returns 0 when
 * present, -1 when absent. */
int tk_httpd_query(const char *query, const char *key, char *out, size_t outsz);

#endif
