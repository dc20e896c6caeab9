#ifndef TK_H1_H
#define TK_H1_H

/* A small HTTP/1.1 keep-alive client over OpenSSL on the loop (lib/loop.h), for the short plain
 * requests of hot paths (lease renewals, status PATCHes) where libcurl's per-transfer machinery
 * (easy reset and setopt, connection-cache liveness poll(), HTTP/2 framing, allocations) costs
 * several times the request itself. lib/kube uses it behind tk_kube_request when a client is
 * created with TK_KUBE_TRANSPORT_H1; watches and anything streaming stay on libcurl.
 *
 * A pool of at most `conns` persistent connections (TLS or plain TCP) to one server, opened on
 * demand; each carries at most one request at a time (no pipelining). Requests wait in two
 * FIFOs, a priority lane served first, for the next free connection. Each request goes out as
 * one buffer (request line, headers, body) in one write. Responses: status line, headers
 * (Content-Length, Transfer-Encoding: chunked, Connection: close, Retry-After), body into the
 * caller's capped buffer; no Accept-Encoding is ever sent, so nothing arrives compressed.
 *
 * Connections the server closed while idle (Go's IdleTimeout, a restart) are noticed by the
 * loop and dropped; ours close after idle_ms, shorter than Go's default 90 s, so a request
 * rarely races a server-side idle close. When one does — the connection had answered before
 * and dies before a single byte of this response — the request is replayed once on a fresh
 * connection if that is safe (see h1.c: replay_safe); otherwise it completes with a transport
 * error for the caller's retry policy.
 *
 * Everything runs on the loop thread. Callbacks run from the loop (fd or timer callbacks),
 * never from inside tk_h1_submit. */

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "loop.h"

struct tk_h1;

struct tk_h1_opts {
    const char *host;        /* address to connect to: IP literal ("[::1]" accepted) or name */
    const char *port;        /* decimal port; required */
    int tls;                 /* 0: plain TCP */
    const char *server_name; /* name verified in the certificate (and sent as SNI when not an IP
                                literal) instead of host; NULL: host */
    const char *ca_pem;      /* PEM bundle trusted instead of the system store; NULL: system */
    const char *cert_pem, *key_pem; /* client certificate (chain) and key, both or neither */
    int insecure;                   /* skip certificate verification */
    int conns;                      /* pool size; <= 0: 4 */
    int connect_timeout_ms;         /* TCP connect + TLS handshake; <= 0: 10 s */
    int stall_ms; /* no response byte for this long fails the request; <= 0: 60 s */
    int idle_ms;  /* idle connections close after this; <= 0: 45 s */
};

/* Creates a pool on loop (borrowed; must outlive it). Copies every string; resolves host now
 * (getaddrinfo, blocking: numeric addresses cost nothing) and again, blocking, at the next
 * connect after a connect to every address failed. Connects nothing yet. Returns NULL with err
 * (TK_EINVAL: no host/port, unresolvable host; TK_ETLS: a PEM that does not parse, a key that
 * does not match its certificate) on failure. Caller frees. */
struct tk_h1 *tk_h1_new(struct tk_loop *loop, const struct tk_h1_opts *opts, struct tk_err *err);

/* Closes every connection and frees the pool (NULL-safe). Requests still queued or in flight are
 * dropped without their callbacks (their memory is their owners'). Must not be called from
 * inside a tk_h1 callback. */
void tk_h1_free(struct tk_h1 *h);

struct tk_h1_req;

/* Called once per submitted request from the loop with the outcome in req's result fields. The
 * callback may submit (this req included), cancel or free other requests; not tk_h1_free. */
typedef void (*tk_h1_done_fn)(struct tk_h1_req *req, void *ud);

/* One request, embedded by its owner and reusable: tk_h1_req_init once, then any number of
 * submit -> done cycles, then tk_h1_req_release. The owner must keep it alive (and unmoved) from
 * submit until done has run or tk_h1_cancel. */
struct tk_h1_req {
    /* results, valid in the done callback */
    long status;          /* HTTP status; 0 when no complete status line arrived */
    int err;              /* 0, or TK_ENET, TK_ETLS, TK_ETIMEOUT, TK_ENOMEM (body over the cap) */
    int connect_failed;   /* err came from TCP connect (refused, unreachable, timed out): the
                             request was never sent */
    int got_bytes;        /* a byte of the response arrived */
    char retry_after[64]; /* raw Retry-After value, or "" */
    char errmsg[160];
    int64_t write_ns; /* when a connection started writing it (0: never) */

    /* owned by the pool */
    struct tk_h1 *h;
    struct tk_buf out;   /* the whole request as sent */
    struct tk_buf *body; /* borrowed: the response body is appended here (its cap applies) */
    tk_h1_done_fn done;
    void *ud;
    struct tk_h1_req *qprev, *qnext;
    struct h1_conn *conn; /* carrying it, or NULL */
    int64_t deadline_ns;  /* 0: none */
    int state, prio, head, idempotent, replays;
};

void tk_h1_req_init(struct tk_h1_req *r);

/* Frees what the request holds (its output buffer). It must not be queued or in flight. */
void tk_h1_req_release(struct tk_h1_req *r);

/* Queues method target (origin form: "/api/v1/...?query") with headers, a block of complete
 * "Name: value\r\n" lines (borrowed, copied now; Host and Content-Length are added here), and
 * body (body_len bytes, may be NULL) copied now. Content-Length is sent whenever there is a body
 * or the method is POST, PUT or PATCH. The response body is appended to body_out (borrowed, not
 * reset here). deadline_ns (monotonic, 0 = none) bounds the whole request. prio puts it in the
 * priority lane. Returns 0, or TK_ESTATE when req is already queued or in flight. */
int tk_h1_submit(struct tk_h1 *h, struct tk_h1_req *req, const char *method, const char *target,
                 const char *headers, const char *body, size_t body_len, struct tk_buf *body_out,
                 int64_t deadline_ns, int prio, tk_h1_done_fn done, void *ud);

/* Withdraws a queued or in-flight request; its callback is never called. A request in flight
 * takes its connection with it (the response can no longer be told apart). No-op (NULL-safe)
 * when the request is not submitted. */
void tk_h1_cancel(struct tk_h1_req *req);

struct tk_h1_stats {
    uint64_t connects;      /* connections opened (TCP connect started) */
    uint64_t handshakes;    /* connections that became usable */
    uint64_t closes;        /* connections closed, for any reason */
    uint64_t server_closes; /* ... of them seen closed by the server while idle */
    uint64_t replays;       /* requests replayed on a fresh connection */
    uint64_t requests;      /* requests written */
    unsigned open, busy, queued;
};

void tk_h1_get_stats(const struct tk_h1 *h, struct tk_h1_stats *out);

/* ---- the response parser, exposed for tests and the fuzz harness ---- */

enum { TK_H1_MORE = 0, TK_H1_DONE = 1 };

struct tk_h1_parser {
    int state;
    long status;
    int64_t content_length; /* -1: not given */
    uint64_t chunk_left;
    int chunked, conn_close, head, got_bytes;
    char retry_after[64];
    struct tk_buf line; /* a header or chunk-size line being assembled */
};

void tk_h1_parser_init(struct tk_h1_parser *p);
void tk_h1_parser_release(struct tk_h1_parser *p);

/* Readies p for the response to a new request; head: the request was HEAD (no body follows). */
void tk_h1_parser_reset(struct tk_h1_parser *p, int head);

/* Feeds n bytes of response. Body bytes are appended to body (its cap applies). Returns
 * TK_H1_MORE (all n consumed, the response goes on), TK_H1_DONE (complete; *used bytes were
 * consumed, the rest is not part of it), or an error with err set: TK_ENET for a malformed
 * response (bad status line, header line over 16 KiB, bad chunk size, conflicting framing),
 * TK_ENOMEM when the body exceeds body's cap. 1xx responses are skipped. */
int tk_h1_parser_feed(struct tk_h1_parser *p, const char *data, size_t n, size_t *used,
                      struct tk_buf *body, struct tk_err *err);

/* The connection ended. Returns TK_H1_DONE when that completes the response (a body delimited by
 * the connection's end), else TK_ENET with err set ("closed inside the response headers", ...). */
int tk_h1_parser_eof(struct tk_h1_parser *p, struct tk_err *err);

#endif
