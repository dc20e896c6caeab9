#ifndef TK_KUBE_H
#define TK_KUBE_H

/* The Kubernetes API client, on the loop (lib/loop.h): asynchronous requests with retries and
 * a client-side QPS limiter, and watches (LIST + WATCH with resourceVersion tracking,
 * bookmarks, resume, and relist on 410 Gone).
 *
 * One struct tk_kube is one identity on one server; its requests share the loop's libcurl
 * multi handle, so over HTTP/2 they are multiplexed on a few connections. Everything runs on
 * the loop thread. Request and watch callbacks run from the loop and may call any function
 * here, including tk_kube_free (see there). */

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "loop.h"
#include "watch.h"

struct tk_kube;
struct tk_kube_req;
struct tk_kube_watch;

enum tk_kube_transport {
    TK_KUBE_TRANSPORT_CURL = 0, /* every request on libcurl's multi handle (HTTP/2 by default) */
    TK_KUBE_TRANSPORT_H1 = 1,   /* plain requests on lib/h1's pool of HTTP/1.1 keep-alive
                                   connections; watches on libcurl */
    TK_KUBE_TRANSPORT_H2 = 2,   /* everything, watches included, as streams of one lib/h2
                                   connection (a kubelet's client-go shape) */
};

struct tk_kube_opts {
    const char *server; /* "https://host:6443" (a path prefix is kept); required */
    const char *ca_pem; /* PEM bundle trusted instead of the system store; NULL: system */
    const char *client_cert_pem, *client_key_pem; /* client certificate auth, both or neither */
    const char *token;                            /* bearer token, or NULL */
    int insecure;                                 /* skip server certificate verification */
    const char *tls_server_name; /* name to verify (and send as SNI) instead of server's host */
    double qps;                  /* client-side limit; 0 = none */
    int burst;                   /* token bucket size (<= 0 with qps > 0: 1) */
    int http2;                   /* >= 0 (default): HTTP/2 over TLS (ALPN), multiplexed;
                                    -1: HTTP/1.1 only */
    const char *user_agent;      /* NULL: "turbokube" */
    int max_conns;               /* CURLMOPT_MAX_HOST_CONNECTIONS, 0 = libcurl's default */
    int max_retries;             /* retries per request; 0 = 5, -1 = none */
    size_t max_body_bytes;       /* response cap; 0 = 64 MiB */
    int timeout_ms;              /* whole-request deadline for plain requests (never watches);
                                    0 = none (stalls are still cut by a 60 s low-speed limit) */
    int verbose;                 /* libcurl's verbose trace at debug level, Authorization
                                    redacted (libcurl transfers only) */
    int transport;               /* enum tk_kube_transport; 0 = libcurl for everything */
    int h1_conns;                /* TK_KUBE_TRANSPORT_H1: pool size (each connection carries
                                    one request at a time); <= 0: 4 */
    int64_t read_pace_ns;        /* TK_KUBE_TRANSPORT_H2: lib/h2's paced reading (answers and
                                    watch events read at steps of this pace); 0 = off */
};

/* Creates a client on loop (borrowed; must outlive the client). Copies every string in opts;
 * PEMs are handed to libcurl as blobs (CURLOPT_CAINFO_BLOB, SSLCERT_BLOB, SSLKEY_BLOB), the
 * token as an "Authorization: Bearer" header. With TK_KUBE_TRANSPORT_H1, requests without a
 * stream (everything but watches) go over lib/h1 instead, with the same TLS settings, headers,
 * retries, limiter and stats; its open connections count as watched fds of the loop. With
 * TK_KUBE_TRANSPORT_H2 everything, watches included, goes over one lib/h2 connection (the TLS
 * context shared by every client with the same CA, the identity set per connection). max_conns > 0
 * sets the multi handle's per-host connection limit (per loop: the last client created wins).
 * Clients with different client certificates never share a connection (libcurl matches TLS
 * settings), so per-node identities get per-node connections, as real kubelets do. Returns NULL
 * with err (TK_EINVAL: no server, unparsable server URL, cert without key, unknown transport; with
 * H1 or H2 also what tk_h1_new or tk_h2_new reports) on failure. Caller frees. */
struct tk_kube *tk_kube_new(struct tk_loop *loop, const struct tk_kube_opts *opts,
                            struct tk_err *err);

struct tk_kubeconfig;
/* Fills opts (zeroed first) with what a loaded kubeconfig says about the server and the
 * credentials (strings borrowed from kc); the caller sets the rest. */
void tk_kube_opts_from_kubeconfig(const struct tk_kubeconfig *kc, struct tk_kube_opts *opts);

/* Frees the client (NULL-safe), cancelling requests in flight and stopping watches: none of
 * their callbacks is called afterwards. From inside a loop or client callback, the memory is
 * released on the next loop pass (libcurl may still be reaching it now). */
void tk_kube_free(struct tk_kube *kube);

/* A kubeconfig server URL in parts, as tk_kube_new reads it. */
struct tk_kube_server {
    int tls;      /* https */
    char *scheme; /* "https" or "http" */
    char *host;   /* as in the URL (an IPv6 address in brackets) */
    char *port;   /* the URL's, else the scheme's default */
    char *path;   /* "" or "/prefix", no trailing '/' */
};

/* Splits server ("https://host[:port][/path]"); release with tk_kube_server_release. Returns 0,
 * or TK_EINVAL (not a URL, or a scheme other than https/http) with *out zeroed. */
int tk_kube_server_split(const char *server, struct tk_kube_server *out, struct tk_err *err);
void tk_kube_server_release(struct tk_kube_server *s);

struct tk_kube_resp {
    long status;             /* HTTP status; 0 when no response arrived */
    const char *body;        /* NUL-terminated response body ("" when none); borrowed */
    size_t len;              /* body length in bytes */
    const char *retry_after; /* raw Retry-After header of the final response, or NULL */
    struct tk_err err;       /* 0 for a 1xx-3xx response; TK_ENET/TK_ETLS/TK_ETIMEOUT for
                                transport failures, TK_ENOMEM for a body over the cap,
                                TK_EHTTP for >= 400:
                                "POST /api/v1/nodes: 409 AlreadyExists: <Status message>" */
    int64_t latency_ns;      /* the final attempt: handed to libcurl -> complete */
    int64_t total_ns;        /* tk_kube_request -> complete, queueing and retries included */
    int64_t wait_ns;         /* of latency_ns, the final attempt's wait in lib/h1's or lib/h2's
                                queue for a connection or stream; -1 when not known (libcurl) */
    int attempts;            /* 1 + retries */
};

/* Called once per request, from the loop, with the final outcome. resp and everything in it
 * is borrowed, valid only during the call. */
typedef void (*tk_kube_done_fn)(const struct tk_kube_resp *resp, void *ud);

enum {
    TK_KUBE_PRIORITY = 1, /* served by the QPS limiter ahead of every ordinary request */
    TK_KUBE_NO_RETRY = 2, /* one attempt only */
};

/* Issues method path (path starts with '/', may carry a query string) asynchronously. body (or
 * NULL) is copied, sent with content_type (e.g. "application/json",
 * "application/merge-patch+json", "application/strategic-merge-patch+json"; NULL:
 * "application/json"). Responses are requested as JSON.
 * Retries (unless TK_KUBE_NO_RETRY), at most opts.max_retries, with jittered exponential
 * backoff (200 ms doubling to 30 s; Retry-After seconds honoured, up to 30 s):
 *   429 for every method; 5xx and transport errors before any response byte for GET, HEAD,
 *   PUT, DELETE, OPTIONS; for POST and PATCH only 503 with Retry-After (apiserver throttling)
 *   and failures to connect (the request was never sent).
 * The QPS limiter is a token bucket; requests beyond it wait in FIFO order on a timer, and
 * TK_KUBE_PRIORITY requests wait in a FIFO of their own served first (lease renewals never
 * starve behind pod work). Retries queue again.
 * Returns a handle valid until cb has returned or tk_kube_cancel; cb is never called before
 * this function returns. ud is borrowed. */
struct tk_kube_req *tk_kube_request(struct tk_kube *kube, const char *method, const char *path,
                                    const char *body, const char *content_type, int flags,
                                    tk_kube_done_fn cb, void *ud);

/* Cancels a request whose callback has not run yet; the callback is then never called.
 * No-op (NULL-safe) once the callback is running. */
void tk_kube_cancel(struct tk_kube_req *req);

/* Synchronous convenience for CLIs and tests: issues the request and runs the loop until it
 * completes or timeout_ms passes (<= 0: no limit). Whenever it completed — HTTP and transport
 * errors included — *status_out (may be NULL) gets the status (0: no response) and *body_out
 * (may be NULL; caller frees) the body ("" when none); otherwise 0 and NULL. Returns 0, or the
 * error code with err set: the response's (TK_EHTTP, TK_ENET,
 * ...), TK_ETIMEOUT, or TK_ESTATE when called from inside a loop callback or the loop was
 * stopped (a signal). */
int tk_kube_request_sync(struct tk_kube *kube, const char *method, const char *path,
                         const char *body, const char *content_type, long *status_out,
                         char **body_out, int timeout_ms, struct tk_err *err);

/* ---- watches ---- */

/* One event: object is borrowed, valid only during the call. ADDED means "create or
 * replace": after a relist the same object is delivered as ADDED again. BOOKMARK objects carry
 * only metadata.resourceVersion. ERROR carries the Status (informational: the watch recovers
 * by itself). */
typedef void (*tk_watch_event_fn)(enum tk_watch_type type, cJSON *object, void *ud);

/* Called after an initial LIST (or a relist) has been delivered as ADDED events, so the owner
 * can reconcile: objects it knows that were not in the list are gone. */
typedef void (*tk_watch_sync_fn)(void *ud);

struct tk_watch_opts {
    const char *path; /* collection, e.g. "/api/v1/pods", "/api/v1/namespaces/x/configmaps" */
    const char *field_selector, *label_selector; /* NULL or raw selectors (we URL-encode) */
    size_t max_event_bytes;                      /* 0 = 16 MiB */
    int timeout_seconds; /* server-side timeoutSeconds per WATCH; 0 = random 300-600 each */
    int flags;           /* TK_KUBE_PRIORITY: LIST and WATCH requests jump the limiter queue */
};

/* Starts LIST (limit=500, continue pagination) -> items as ADDED -> sync -> WATCH from the
 * list's resourceVersion with allowWatchBookmarks=true. resourceVersion is tracked from every
 * event, bookmarks included. When a stream ends (server timeout, dropped connection, apiserver
 * restart, stall: 1 byte/s over 120 s) the WATCH resumes from the last resourceVersion after
 * jittered backoff, without relisting; on 410 Gone (HTTP status or ERROR event) it relists and
 * calls sync again; an event over max_event_bytes drops the stream and relists; a malformed
 * stream is logged and the WATCH restarts. Copies opts; ud borrowed. Returns NULL with err
 * (TK_EINVAL: no path) on failure. Callbacks never run before this returns. */
struct tk_kube_watch *tk_kube_watch_start(struct tk_kube *kube, const struct tk_watch_opts *opts,
                                          tk_watch_event_fn on_event, tk_watch_sync_fn on_sync,
                                          void *ud, struct tk_err *err);

/* Stops the watch (NULL-safe; also from inside its own callbacks): no callback of it runs
 * afterwards. The memory goes on the next loop pass or with tk_kube_free. */
void tk_kube_watch_stop(struct tk_kube_watch *w);

/* The last resourceVersion the watch has seen ("" before the first LIST completed). Borrowed,
 * valid until the next loop pass. */
const char *tk_kube_watch_rv(const struct tk_kube_watch *w);

/* ---- counters, for the agent's /metrics ---- */

struct tk_kube_stats {
    uint64_t requests;       /* attempts handed to libcurl */
    uint64_t retries;        /* attempts that were retries */
    uint64_t responses[6];   /* by class: [0] no response, [1] 1xx ... [5] 5xx */
    uint64_t watch_events;   /* events delivered by watches */
    uint64_t watch_restarts; /* WATCH requests issued after the first of a LIST */
    uint64_t watch_relists;  /* LISTs issued after the first */
    unsigned inflight;       /* attempts in libcurl now */
    unsigned queued;         /* requests waiting for the QPS limiter */
    /* lib/h1 or lib/h2 (zero over libcurl) */
    uint64_t conns_opened;     /* TCP connects started */
    uint64_t conns_closed;     /* connections ended, for any reason */
    unsigned conns_open;       /* usable now (h1: handshaken; h2: SETTINGS exchanged) */
    unsigned transport_queued; /* requests waiting for a connection or stream */
};

/* Copies the client's counters into *out. */
void tk_kube_get_stats(const struct tk_kube *kube, struct tk_kube_stats *out);

#endif
