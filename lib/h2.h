#ifndef TK_H2_H
#define TK_H2_H

/* A small HTTP/2 client (RFC 9113) over OpenSSL on the loop (lib/loop.h): one connection to one
 * server carrying every request and watch of its owner as streams, as a kubelet's client-go
 * does. Made for kubelet mode, where every fake node has its own identity and so its own
 * connection: libcurl 7.88 costs ~300 KiB per such node (a 32 KiB read buffer and an nghttp2
 * session per connection, a 16 KiB receive buffer and an easy handle per transfer); this costs
 * the TLS session, a few hundred bytes per stream, and buffers only while bytes are in flight.
 *
 * What it does: ALPN h2 (or prior knowledge over plain TCP), SETTINGS both ways (we send no
 * push, a header table of 0 so the server's encoder keeps no state for us, 1 MiB stream windows
 * and a 16 MiB connection window, refreshed as the bytes are consumed), the peer's stream limit
 * (requests beyond it wait, a priority lane first), send flow control for bodies, CONTINUATION,
 * padding, trailers (ignored), 1xx (skipped), RST_STREAM (REFUSED_STREAM retried on the same
 * connection, others fail the stream), GOAWAY (streams the server never processed are moved to a
 * fresh connection; the old one drains), PING answered, and a PING of our own after read_idle_ms
 * without a frame, the connection closed when its answer takes longer than ping_timeout_ms —
 * client-go's ReadIdleTimeout and PingTimeout. No Accept-Encoding is sent: nothing arrives
 * compressed. No server push, no priorities.
 *
 * Responses stream: each DATA chunk goes to the request's sink as it arrives (a watch), or onto
 * its body buffer (its cap applies). Everything runs on the loop thread; callbacks run from the
 * loop, never from inside tk_h2_submit. */

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "loop.h"

struct tk_h2;

struct tk_h2_opts {
    const char *host;               /* IP literal ("[::1]" accepted) or name */
    const char *port;               /* required */
    int tls;                        /* 0: plain TCP with prior knowledge (h2c) */
    const char *server_name;        /* verified in the certificate (and SNI) instead of host */
    const char *ca_pem;             /* trusted instead of the system store; NULL: system */
    const char *cert_pem, *key_pem; /* client identity, both or neither */
    int insecure;
    /* Share one TLS context (trust store) per (ca_pem, insecure) in the process and set the
     * identity per connection: thousands of identities then cost a certificate and key each,
     * not a context each. */
    int share_ctx;
    int connect_timeout_ms; /* TCP + TLS + the server's SETTINGS; <= 0: 10 s */
    int idle_ms;            /* no stream for this long closes the connection; <= 0: 90 s */
    int read_idle_ms;       /* no frame for this long sends a PING; <= 0: 30 s */
    int ping_timeout_ms;    /* unanswered PING closes the connection; <= 0: 15 s */
    /* > 0: paced reading. While frames keep coming, the connection is read at the steps of
     * this pace (multiples of it on tk_now_ns's clock) or once 64 KiB are queued, whichever is
     * first, instead of at every arrival: a peer's answers that arrive apart are read in one
     * wakeup, shared with the caller's own timers on the same steps, at the price of up to one
     * step of delay. A step that finds nothing queued returns to reading at every arrival.
     * 0: off. */
    int64_t read_pace_ns;
};

/* Creates the client (connects nothing yet). Copies every string; resolves host now. Returns
 * NULL with err (TK_EINVAL: no host/port, unresolvable; TK_ETLS: bad PEM) on failure. */
struct tk_h2 *tk_h2_new(struct tk_loop *loop, const struct tk_h2_opts *opts, struct tk_err *err);

/* Closes the connection(s) and frees (NULL-safe). Requests still queued or in flight are dropped
 * without their callbacks. Must not be called from inside a tk_h2 callback. */
void tk_h2_free(struct tk_h2 *h);

struct tk_h2_req;
typedef void (*tk_h2_done_fn)(struct tk_h2_req *req, void *ud);

/* Receives response body bytes as they arrive, with req->status already set. Returns 0 (taken),
 * TK_H2_SINK_BUFFER (append them to the body buffer instead: an error status's Status object),
 * or TK_H2_SINK_ABORT (reset the stream; done follows with err TK_ENET). */
typedef int (*tk_h2_sink_fn)(struct tk_h2_req *req, const char *data, size_t n, void *ud);
enum { TK_H2_SINK_BUFFER = 1, TK_H2_SINK_ABORT = -1 };

struct h2_conn;

/* One request, embedded by its owner and reusable (init once, any number of submit -> done
 * cycles, release). Kept alive and unmoved from submit until done has run or tk_h2_cancel. */
struct tk_h2_req {
    /* results, valid in the done callback (status also in the sink) */
    long status;          /* 0 when no response headers arrived */
    int err;              /* 0, TK_ENET, TK_ETLS, TK_ETIMEOUT, TK_ENOMEM (body over the cap) */
    int connect_failed;   /* the connection never came up: the request was never sent */
    int got_bytes;        /* response headers or body arrived */
    char retry_after[64]; /* raw Retry-After value, or "" */
    char errmsg[160];
    int64_t write_ns; /* when its stream opened (the HEADERS framed; 0: never) */

    /* owned by the client */
    struct tk_h2 *h;
    struct h2_conn *conn;
    struct tk_h2_req *prev, *next; /* the queue, or its connection's streams */
    struct tk_buf block;           /* HPACK header block */
    struct tk_buf body_in;         /* request body */
    size_t body_sent;
    struct tk_buf *body; /* borrowed: response body */
    tk_h2_sink_fn sink;
    tk_h2_done_fn done;
    void *ud;
    uint32_t id;
    int64_t send_window;
    uint32_t unacked; /* received and not yet given back by WINDOW_UPDATE */
    int64_t deadline_ns, stall_ns, progress_ns;
    int state, prio, headers_done, refused;
};

void tk_h2_req_init(struct tk_h2_req *r);
void tk_h2_req_release(struct tk_h2_req *r);

/* Queues method target (origin form) with headers, a block of "Name: value\r\n" lines (names
 * lowercased on the wire; Host, Connection, Transfer-Encoding dropped: HTTP/2 has none of them),
 * and body (copied). The response body goes to sink when not NULL, else onto body_out. deadline_ns
 * (monotonic, 0 = none) bounds the whole request; stall_ns (0 = none) bounds the time without a
 * response byte. prio: served first when the peer's stream limit makes requests wait. Returns 0,
 * or TK_ESTATE when req is already submitted. */
int tk_h2_submit(struct tk_h2 *h, struct tk_h2_req *req, const char *method, const char *target,
                 const char *headers, const char *body, size_t body_len, struct tk_buf *body_out,
                 tk_h2_sink_fn sink, int64_t deadline_ns, int64_t stall_ns, int prio,
                 tk_h2_done_fn done, void *ud);

/* Withdraws a request (RST_STREAM CANCEL when it is a stream); its callback is never called.
 * NULL-safe; a no-op when it is not submitted. */
void tk_h2_cancel(struct tk_h2_req *req);

struct tk_h2_stats {
    uint64_t connects, handshakes, closes, goaways, pings_sent, ping_timeouts;
    uint64_t streams, resets_received, refused;
    unsigned open, active, queued; /* open: connections past the SETTINGS exchange */
};

void tk_h2_get_stats(const struct tk_h2 *h, struct tk_h2_stats *out);

/* ---- the frame reader, exposed for tests and the fuzz harness ----
 * Splits a byte stream into frames: DATA payloads are handed over in pieces as they arrive
 * (padding removed), every other frame whole (payload up to 16 KiB, our advertised maximum). */

enum {
    TK_H2_DATA = 0,
    TK_H2_HEADERS = 1,
    TK_H2_PRIORITY = 2,
    TK_H2_RST_STREAM = 3,
    TK_H2_SETTINGS = 4,
    TK_H2_PUSH_PROMISE = 5,
    TK_H2_PING = 6,
    TK_H2_GOAWAY = 7,
    TK_H2_WINDOW_UPDATE = 8,
    TK_H2_CONTINUATION = 9
};

struct tk_h2_frame {
    uint8_t type, flags;
    uint32_t stream, len; /* len: the whole payload, padding included (flow control counts it) */
};

struct tk_h2_reader_cb {
    /* a piece of a DATA frame's data; last: the frame's final piece (then its END_STREAM flag
     * counts) */
    int (*data)(const struct tk_h2_frame *f, const char *p, size_t n, int last, void *ud);
    /* any other frame, whole */
    int (*frame)(const struct tk_h2_frame *f, const uint8_t *payload, void *ud);
};

struct tk_h2_reader {
    uint8_t hdr[9];
    unsigned hdr_got;
    struct tk_h2_frame f;
    uint32_t left;     /* payload bytes still to come */
    uint32_t pad_left; /* of them, padding at the end */
    int pad_pending;   /* a PADDED DATA frame whose pad length byte has not arrived */
    struct tk_buf payload;
};

void tk_h2_reader_init(struct tk_h2_reader *rd);
void tk_h2_reader_release(struct tk_h2_reader *rd);

/* Feeds n bytes. Returns 0, a callback's non-zero value, or TK_ENET with err (a frame over 16 KiB,
 * padding longer than the frame). */
int tk_h2_reader_feed(struct tk_h2_reader *rd, const char *p, size_t n,
                      const struct tk_h2_reader_cb *cb, void *ud, struct tk_err *err);

#endif
