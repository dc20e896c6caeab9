#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "buf.h"

void tk_tls_errmsg(char *out, size_t n, const char *what)
{
    unsigned long e = ERR_get_error();
    char reason[160];

    if (e) {
        ERR_error_string_n(e, reason, sizeof(reason));
        snprintf(out, n, "%s: %.100s", what, reason);
    } else {
        snprintf(out, n, "%s: %s", what, errno ? strerror(errno) : "connection reset");
    }
    ERR_clear_error();
}

/* ---- PEM ---- */

static int load_pem_certs(const char *pem, X509 **first, STACK_OF(X509) * rest)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x;
    int n = 0;

    if (!bio)
        return 0;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        if (n++ == 0 && first)
            *first = x;
        else if (rest)
            sk_X509_push(rest, x);
        else
            X509_free(x);
    }
    BIO_free(bio);
    ERR_clear_error(); /* the PEM reader's end-of-input */
    return n;
}

int tk_tls_identity_load(struct tk_tls_identity *id, const char *cert_pem, const char *key_pem,
                         struct tk_err *err)
{
    BIO *bio;
    int rc = 0;

    memset(id, 0, sizeof(*id));
    id->chain = sk_X509_new_null();
    if (!cert_pem || !load_pem_certs(cert_pem, &id->leaf, id->chain) || !id->leaf) {
        rc = tk_err_set(err, TK_ETLS, "client certificate PEM does not parse");
        goto out;
    }
    bio = key_pem ? BIO_new_mem_buf(key_pem, -1) : NULL;
    id->key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!id->key || X509_check_private_key(id->leaf, id->key) != 1)
        rc = tk_err_set(err, TK_ETLS,
                        "client key PEM does not parse or does not match the certificate");
out:
    ERR_clear_error();
    return rc;
}

void tk_tls_identity_release(struct tk_tls_identity *id)
{
    X509_free(id->leaf);
    sk_X509_pop_free(id->chain, X509_free);
    EVP_PKEY_free(id->key);
    memset(id, 0, sizeof(*id));
}

/* ---- contexts ---- */

static int ctx_trust(SSL_CTX *ctx, const char *ca_pem, int insecure, struct tk_err *err)
{
    if (insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return 0;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (!ca_pem)
        return SSL_CTX_set_default_verify_paths(ctx) == 1
                   ? 0
                   : tk_err_set(err, TK_ETLS, "cannot load the system trust store");
    STACK_OF(X509) *certs = sk_X509_new_null();
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    int n = load_pem_certs(ca_pem, NULL, certs), rc = 0;
    for (int i = 0; i < sk_X509_num(certs); i++)
        X509_STORE_add_cert(store, sk_X509_value(certs, i));
    sk_X509_pop_free(certs, X509_free);
    if (n == 0)
        rc = tk_err_set(err, TK_ETLS, "CA PEM holds no certificate");
    ERR_clear_error();
    return rc;
}

SSL_CTX *tk_tls_client_ctx(const char *ca_pem, int insecure, const struct tk_tls_identity *id,
                           const char *alpn, size_t alpn_len, struct tk_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (!ctx) {
        tk_err_set(err, TK_ETLS, "SSL_CTX_new failed");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* one read() per TLS record or more, not one for the header and one for the body */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    if (alpn && SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)alpn, (unsigned)alpn_len))
        goto fail_tls;
    if (ctx_trust(ctx, ca_pem, insecure, err))
        goto fail;
    if (id) {
        if (SSL_CTX_use_certificate(ctx, id->leaf) != 1 ||
            SSL_CTX_use_PrivateKey(ctx, id->key) != 1)
            goto fail_tls;
        for (int i = 0; i < sk_X509_num(id->chain); i++) {
            X509 *x = sk_X509_value(id->chain, i);
            X509_up_ref(x);
            SSL_CTX_add0_chain_cert(ctx, x);
        }
    }
    return ctx;
fail_tls:
    tk_err_set(err, TK_ETLS, "cannot set up the TLS context");
    ERR_clear_error();
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

struct shared_ctx {
    char *ca_pem; /* NULL: system store */
    int insecure;
    char *alpn;
    size_t alpn_len;
    SSL_CTX *ctx;
    struct shared_ctx *next;
};

static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;
static struct shared_ctx *shared_list;

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

SSL_CTX *tk_tls_shared_ctx(const char *ca_pem, int insecure, const char *alpn, size_t alpn_len,
                           struct tk_err *err)
{
    struct shared_ctx *s;
    SSL_CTX *ctx = NULL;

    pthread_mutex_lock(&shared_mu);
    for (s = shared_list; s; s = s->next)
        if (s->insecure == insecure && same_str(s->ca_pem, ca_pem) && s->alpn_len == alpn_len &&
            (!alpn_len || !memcmp(s->alpn, alpn, alpn_len)))
            break;
    if (!s && (ctx = tk_tls_client_ctx(ca_pem, insecure, NULL, alpn, alpn_len, err))) {
        s = tk_xcalloc(1, sizeof(*s));
        s->ca_pem = ca_pem ? tk_xstrdup(ca_pem) : NULL;
        s->insecure = insecure;
        s->alpn = tk_xstrndup(alpn ? alpn : "", alpn_len);
        s->alpn_len = alpn_len;
        s->ctx = ctx;
        s->next = shared_list;
        shared_list = s;
    }
    if (s) {
        SSL_CTX_up_ref(s->ctx);
        ctx = s->ctx;
    }
    pthread_mutex_unlock(&shared_mu);
    return ctx;
}

/* ---- connections ---- */

SSL *tk_tls_new_ssl(SSL_CTX *ctx, int fd, const char *name, int name_is_ip,
                    const struct tk_tls_identity *id)
{
    SSL *ssl = SSL_new(ctx);

    if (!ssl || SSL_set_fd(ssl, fd) != 1)
        goto fail;
    SSL_set_connect_state(ssl);
    if (name_is_ip) {
        if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name))
            goto fail;
    } else if (SSL_set_tlsext_host_name(ssl, name) != 1 || SSL_set1_host(ssl, name) != 1) {
        goto fail;
    }
    if (id) {
        if (SSL_use_certificate(ssl, id->leaf) != 1 || SSL_use_PrivateKey(ssl, id->key) != 1)
            goto fail;
        for (int i = 0; i < sk_X509_num(id->chain); i++)
            if (SSL_add1_chain_cert(ssl, sk_X509_value(id->chain, i)) != 1)
                goto fail;
    }
    return ssl;
fail:
    SSL_free(ssl);
    return NULL;
}

int tk_tls_handshake(SSL *ssl, int *want_write, char *emsg, size_t en)
{
    int r;

    ERR_clear_error();
    *want_write = 0;
    r = SSL_do_handshake(ssl);
    if (r == 1)
        return 1;
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return TK_IO_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        *want_write = 1;
        return TK_IO_AGAIN;
    default: {
        long v = SSL_get_verify_result(ssl);
        if (v != X509_V_OK) {
            snprintf(emsg, en, "TLS handshake: certificate verify failed: %s",
                     X509_verify_cert_error_string(v));
            ERR_clear_error();
        } else {
            tk_tls_errmsg(emsg, en, "TLS handshake");
        }
        return TK_IO_ERR;
    }
    }
}

int tk_tls_read(int fd, SSL *ssl, char *buf, size_t n, int *want_write, char *emsg, size_t en)
{
    if (!ssl) {
        ssize_t r = recv(fd, buf, n, 0);
        if (r > 0)
            return (int)r;
        if (r == 0)
            return TK_IO_EOF;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return TK_IO_AGAIN;
        snprintf(emsg, en, "recv: %s", strerror(errno));
        return TK_IO_ERR;
    }
    int r = SSL_read(ssl, buf, (int)n);
    if (r > 0)
        return r;
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return TK_IO_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        *want_write = 1;
        return TK_IO_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        return TK_IO_EOF;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0 && (errno == 0 || r == 0)) {
            ERR_clear_error();
            return TK_IO_EOF; /* TCP FIN without close_notify: Go closes that way too */
        }
        /* fall through */
    default:
        /* OpenSSL 3 reports a FIN without close_notify as an error; to us it is an end */
        if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ERR_clear_error();
            return TK_IO_EOF;
        }
        tk_tls_errmsg(emsg, en, "TLS read");
        return TK_IO_ERR;
    }
}

int tk_tls_write(int fd, SSL *ssl, const char *buf, size_t n, int *want_write, char *emsg,
                 size_t en)
{
    if (!ssl) {
        ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
        if (w >= 0)
            return (int)w;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            *want_write = 1;
            return TK_IO_AGAIN;
        }
        snprintf(emsg, en, "send: %s", strerror(errno));
        return TK_IO_ERR;
    }
    int w = SSL_write(ssl, buf, (int)n);
    if (w > 0)
        return w;
    switch (SSL_get_error(ssl, w)) {
    case SSL_ERROR_WANT_WRITE:
        *want_write = 1;
        return TK_IO_AGAIN;
    case SSL_ERROR_WANT_READ:
        return TK_IO_AGAIN;
    default:
        tk_tls_errmsg(emsg, en, "TLS write");
        return TK_IO_ERR;
    }
}

/* ---- TCP ---- */

int tk_tcp_connect(const struct addrinfo *a, int *done, char *emsg, size_t en)
{
    int one = 1;
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);

    *done = 0;
    if (fd < 0) {
        snprintf(emsg, en, "socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
        *done = 1;
    } else if (errno != EINPROGRESS) {
        snprintf(emsg, en, "connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int tk_tcp_connected(int fd, const char *host, const char *port, char *emsg, size_t en)
{
    int soerr = 0;
    socklen_t sl = sizeof(soerr);

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr) {
        snprintf(emsg, en, "connect to %s:%s: %s", host, port, strerror(soerr ? soerr : errno));
        return -1;
    }
    return 0;
}

struct addrinfo *tk_tcp_resolve(const char *host, const char *port)
{
    struct addrinfo hints, *ai = NULL;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, &ai) || !ai)
        return NULL;
    return ai;
}

int tk_is_ip(const char *s)
{
    unsigned char b[16];
    return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

char *tk_unbracket(const char *s)
{
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']')
        return tk_xstrndup(s + 1, n - 2);
    return tk_xstrdup(s);
}

int tk_endpoint_init(struct tk_endpoint *e, const char *who, const char *host, const char *port,
                     const char *server_name, const char *cert_pem, const char *key_pem,
                     struct tk_err *err)
{
    memset(e, 0, sizeof(*e));
    if (!host || !host[0] || !port || !port[0])
        return tk_err_set(err, TK_EINVAL, "%s: host and port are required", who);
    if (!cert_pem != !key_pem)
        return tk_err_set(err, TK_EINVAL,
                          "%s: a client certificate needs its key and the key its certificate",
                          who);
    e->host = tk_unbracket(host);
    e->port = tk_xstrdup(port);
    e->name = tk_unbracket(server_name && server_name[0] ? server_name : host);
    e->name_is_ip = tk_is_ip(e->name);
    e->host_is_ip = tk_is_ip(e->host);
    e->hostport = tk_xasprintf(strchr(e->name, ':') ? "[%s]:%s" : "%s:%s", e->name, e->port);
    return 0;
}

void tk_endpoint_release(struct tk_endpoint *e)
{
    free(e->host);
    free(e->port);
    free(e->name);
    free(e->hostport);
    memset(e, 0, sizeof(*e));
}
