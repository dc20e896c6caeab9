#ifndef TK_TLS_H
#define TK_TLS_H

/* The client-side TCP and TLS pieces lib/h1 and lib/h2 share: a client SSL_CTX from PEM (trust
 * and identity), client identities that can be set per connection (so thousands of node
 * identities share one context and one parsed trust store), non-blocking connect, handshake,
 * read and write over a socket with or without TLS, and OpenSSL's errors as one line.
 *
 * Everything here is non-blocking and keeps no state of its own beyond what the caller holds,
 * except tk_tls_shared_ctx's cache (guarded by a mutex). */

#include <stddef.h>

#include <netdb.h>
#include <openssl/ssl.h>

#include "err.h"

/* Returned by tk_tls_read and tk_tls_write besides a byte count. */
enum { TK_IO_AGAIN = 0, TK_IO_EOF = -1, TK_IO_ERR = -2 };

struct tk_tls_identity {
    X509 *leaf;
    STACK_OF(X509) * chain;
    EVP_PKEY *key;
};

/* Parses a client certificate (chain) and its key. Returns 0, or TK_ETLS with err (a PEM that
 * does not parse, a key that does not match the certificate). Release with
 * tk_tls_identity_release (also after a failure). */
int tk_tls_identity_load(struct tk_tls_identity *id, const char *cert_pem, const char *key_pem,
                         struct tk_err *err);
void tk_tls_identity_release(struct tk_tls_identity *id);

/* A new client context: TLS 1.2 or later, read-ahead, released buffers while idle (a waiting
 * connection holds a few KiB, not ~40), ALPN alpn (wire format, "\x02h2"), trust: insecure
 * (no verification), ca_pem (PEM bundle instead of the system store) or the system store;
 * identity (may be NULL) for every connection. Returns NULL with err (TK_ETLS). */
SSL_CTX *tk_tls_client_ctx(const char *ca_pem, int insecure, const struct tk_tls_identity *id,
                           const char *alpn, size_t alpn_len, struct tk_err *err);

/* The process-wide context for (ca_pem, insecure, alpn) without an identity, created on first
 * use, with a reference for the caller (SSL_CTX_free it). Connections then set their own
 * identity with tk_tls_use_identity. */
SSL_CTX *tk_tls_shared_ctx(const char *ca_pem, int insecure, const char *alpn, size_t alpn_len,
                           struct tk_err *err);

/* A client SSL on fd checking the server's certificate for name (an IP literal is checked as an
 * address; a name is also sent as SNI), with identity id when not NULL. NULL on failure. */
SSL *tk_tls_new_ssl(SSL_CTX *ctx, int fd, const char *name, int name_is_ip,
                    const struct tk_tls_identity *id);

/* Drives the handshake: 1 done, TK_IO_AGAIN (*want_write says whether to wait for POLLOUT too),
 * TK_IO_ERR with emsg (a failed certificate check named as such). */
int tk_tls_handshake(SSL *ssl, int *want_write, char *emsg, size_t en);

/* Non-blocking read and write on fd, through ssl when not NULL. A count > 0, TK_IO_AGAIN
 * (*want_write set when TLS needs the socket writable first), TK_IO_EOF (FIN, close_notify, or a
 * FIN without close_notify, as Go closes), TK_IO_ERR with emsg. */
int tk_tls_read(int fd, SSL *ssl, char *buf, size_t n, int *want_write, char *emsg, size_t en);
int tk_tls_write(int fd, SSL *ssl, const char *buf, size_t n, int *want_write, char *emsg,
                 size_t en);

/* "what: OpenSSL's first queued error" (or errno's), and the queue cleared. */
void tk_tls_errmsg(char *out, size_t n, const char *what);

/* Starts a non-blocking TCP connect to a (TCP_NODELAY, SO_KEEPALIVE). Returns the socket with
 * *done = 1 when connected at once, 0 when in progress; -1 with emsg. */
int tk_tcp_connect(const struct addrinfo *a, int *done, char *emsg, size_t en);

/* After POLLOUT on a connecting socket: 0 connected, else -1 with emsg naming host:port. */
int tk_tcp_connected(int fd, const char *host, const char *port, char *emsg, size_t en);

/* getaddrinfo(host, port) for TCP; NULL when it does not resolve. */
struct addrinfo *tk_tcp_resolve(const char *host, const char *port);

/* Where a client connects and whom it verifies: host and port to connect to, name checked in
 * the server's certificate (server_name, else host; brackets of "[::1]" dropped) and
 * "name:port" for the Host header or :authority. */
struct tk_endpoint {
    char *host, *port, *name, *hostport;
    int name_is_ip, host_is_ip;
};

/* Fills e (who names the client in errors: "h1", "h2"). TK_EINVAL when host or port is missing
 * or only one of cert_pem and key_pem is given. Release with tk_endpoint_release (also after a
 * failure). */
int tk_endpoint_init(struct tk_endpoint *e, const char *who, const char *host, const char *port,
                     const char *server_name, const char *cert_pem, const char *key_pem,
                     struct tk_err *err);
void tk_endpoint_release(struct tk_endpoint *e);

int tk_is_ip(const char *s);
char *tk_unbracket(const char *s); /* "[::1]" -> "::1"; caller frees */

#endif
