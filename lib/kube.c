#include "kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "buf.h"
#include "h1.h"
#include "h2.h"
#include "kubeconfig.h"
#include "log.h"
#include "queue.h"

#define DEFAULT_MAX_RETRIES 5
#define DEFAULT_MAX_BODY ((size_t)64 << 20)
#define BACKOFF_BASE_NS (200 * (int64_t)1000000)
#define BACKOFF_CAP_NS (30 * (int64_t)1000000000)
#define CONNECT_TIMEOUT_MS 10000
#define REQ_STALL_S 60    /* plain requests: less than 1 byte/s for this long is a stall */
#define WATCH_STALL_S 120 /* watches: bookmarks arrive about every minute */
#define LIST_LIMIT 500
#define POOL_MAX 256               /* idle requests kept (with their easy handles) for reuse */
#define POOL_KEEP_BYTES (64 << 10) /* a request whose buffers grew past this is not pooled */
#define RV_MAX 128
#define MAX_STREAMS 1000

enum req_state { RS_IDLE, RS_QUEUED, RS_BACKOFF, RS_INFLIGHT, RS_CALLBACK, RS_CANCELLED };

/* Returned by a stream sink: consumed, abort the transfer, or keep the bytes as a plain body
 * (an error status on a WATCH carries a Status, not events). */
enum { SINK_OK = 0, SINK_ABORT = -1, SINK_BUFFER = 1 };

struct tk_kube_req;
typedef int (*sink_fn)(struct tk_kube_req *r, const char *data, size_t len, void *ud);

struct tk_kube_req {
    struct tk_kube *kube;
    struct tk_xfer xfer;
    struct tk_h1_req h1;               /* the attempt, when it goes over lib/h1 */
    struct tk_h2_req h2;               /* ... or over lib/h2 */
    struct tk_timer timer;             /* retry backoff, or a deferred failure */
    struct tk_kube_req *prev, *next;   /* kube->reqs while live; next links the pool */
    struct tk_kube_req *qprev, *qnext; /* limiter queue or reap queue */
    int state;
    int flags;
    int attempts;
    int in_multi;       /* handed to the loop and not yet completed */
    int got_bytes;      /* a response byte (header or body) arrived in this attempt */
    int too_big;        /* the body hit the cap */
    int fail_now;       /* the timer finishes the request with TK_ENET and errbuf */
    struct tk_buf text; /* method \0 path \0 url \0 body */
    const char *method, *path, *url, *body;
    size_t body_len;
    struct curl_slist *headers; /* shared, owned by kube */
    const char *hdr_block;      /* the same headers as one "Name: value\r\n" block (h1) */
    struct tk_buf resp;
    char retry_after[64];
    char errbuf[CURL_ERROR_SIZE];
    int64_t submit_ns, attempt_ns, write_ns; /* write_ns: the transport started writing */
    tk_kube_done_fn cb;
    void *ud;
    sink_fn sink;
};

TK_QUEUE_DEFINE(req_queue, tk_kube_req, qprev, qnext)

struct hdr_set {
    char *content_type; /* NULL: the set for requests without a body */
    struct curl_slist *list;
    char *block; /* User-Agent, Accept, Content-Type, Authorization lines for lib/h1 */
    struct hdr_set *next;
};

struct tk_kube {
    struct tk_loop *loop;
    char *base; /* URL prefix without a trailing '/' */
    char *ca_pem, *cert_pem, *key_pem;
    char *auth; /* "Authorization: Bearer ..." or NULL */
    char *user_agent;
    struct curl_slist *connect_to;
    struct hdr_set *hdrs;
    int insecure, http2, tls, verbose, max_retries, timeout_ms;
    size_t max_body;
    struct tk_h1 *h1;  /* plain requests go here when the transport is TK_KUBE_TRANSPORT_H1 */
    struct tk_h2 *h2;  /* everything goes here when it is TK_KUBE_TRANSPORT_H2 */
    size_t origin_len; /* strlen("scheme://host:port") of base: url + origin_len is the target */

    double qps, tokens;
    int burst;
    int64_t refill_ns;
    struct req_queue q_prio, q_norm;
    struct tk_timer lim_timer;

    struct tk_kube_req *reqs; /* every live request */
    struct tk_kube_req *pool;
    unsigned npool;
    struct req_queue reap;
    struct tk_timer reap_timer;

    struct tk_kube_watch *watches, *dead_watches;

    int depth; /* > 0 while a callback of this client runs */
    int dead;  /* tk_kube_free called; memory goes with the reaper */
    uint64_t rng;
    struct tk_kube_stats stats;
    struct tk_log_limit watch_log;
};

enum { NEXT_RESUME, NEXT_RELIST };

struct tk_kube_watch {
    struct tk_kube *kube;
    struct tk_kube_watch *prev, *next;
    char *path;
    char *selectors; /* "&fieldSelector=...&labelSelector=..." already encoded, or "" */
    int timeout_seconds, flags;
    tk_watch_event_fn on_event;
    tk_watch_sync_fn on_sync;
    void *ud;
    struct tk_kube_req *req; /* LIST page or WATCH stream in progress */
    struct tk_watch_parser parser;
    struct tk_timer timer;
    char rv[RV_MAX];
    char *cont;
    int then;    /* NEXT_RESUME or NEXT_RELIST, once the current stream is over */
    int aborted; /* we cut the stream ourselves; then says what comes after */
    int stopped;
    int failures; /* consecutive, for backoff */
    int listed;   /* a LIST completed since the watch started */
    int stream_status_known;
    long stream_status;
    uint64_t stream_events;
    int64_t stream_start_ns;
};

static void req_timer_fire(struct tk_timer *t, void *ud);
static void reap_fire(struct tk_timer *t, void *ud);
static void destroy(struct tk_kube *k);

/* ---- small helpers ---- */

static uint64_t rnd(struct tk_kube *k)
{
    /* xorshift64*: jitter only, not security */
    k->rng ^= k->rng >> 12;
    k->rng ^= k->rng << 25;
    k->rng ^= k->rng >> 27;
    return k->rng * 2685821657736338717ULL;
}

static int64_t jitter_between(struct tk_kube *k, int64_t lo, int64_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + (int64_t)(rnd(k) % (uint64_t)(hi - lo));
}

/* attempt n >= 1: half of min(cap, base * 2^(n-1)) plus up to the other half at random */
static int64_t backoff_ns(struct tk_kube *k, int n)
{
    int64_t d = BACKOFF_BASE_NS;
    for (int i = 1; i < n && d < BACKOFF_CAP_NS; i++)
        d *= 2;
    if (d > BACKOFF_CAP_NS)
        d = BACKOFF_CAP_NS;
    return jitter_between(k, d / 2, d);
}

/* Retry-After in seconds (the HTTP-date form is ignored), or -1. */
static int retry_after_s(const char *v)
{
    char *end;
    long s;

    if (!v || !*v)
        return -1;
    s = strtol(v, &end, 10);
    if (end == v || *end != '\0' || s < 0)
        return -1;
    return s > 3600 ? 3600 : (int)s;
}

static int64_t retry_after_delay(struct tk_kube *k, int secs)
{
    int64_t d = (int64_t)secs * 1000000000;
    if (d <= 0)
        return backoff_ns(k, 1);
    if (d > BACKOFF_CAP_NS)
        d = BACKOFF_CAP_NS;
    /* at least what the server asked, spread by up to 10 % so throttled clients do not return
     * in lockstep */
    return jitter_between(k, d, d + d / 10 + 1);
}

static void url_encode(struct tk_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            tk_buf_append(b, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            tk_buf_append(b, e, 3);
        }
    }
}

static int is_idempotent(const char *m)
{
    return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "PUT") || !strcmp(m, "DELETE") ||
           !strcmp(m, "OPTIONS");
}

static int connect_failure(CURLcode rc)
{
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
           rc == CURLE_COULDNT_RESOLVE_PROXY;
}

static int curl_code_to_err(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return TK_ETIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CLIENTCERT:
        return TK_ETLS;
    default:
        return TK_ENET;
    }
}

static void schedule_reap(struct tk_kube *k)
{
    if (!tk_timer_active(&k->reap_timer))
        tk_timer_start(k->loop, &k->reap_timer, 0);
}

/* ---- header sets: shared slists, so a request allocates no header list ---- */

static const struct hdr_set *headers_for(struct tk_kube *k, const char *content_type)
{
    struct hdr_set *h;
    struct curl_slist *l = NULL;
    struct tk_buf b;

    for (h = k->hdrs; h; h = h->next) {
        if ((!h->content_type && !content_type) ||
            (h->content_type && content_type && !strcmp(h->content_type, content_type)))
            return h;
    }
    h = tk_xcalloc(1, sizeof(*h));
    tk_buf_init(&b, 0);
    tk_buf_printf(&b, "User-Agent: %s\r\nAccept: application/json\r\n", k->user_agent);
    l = curl_slist_append(l, "Accept: application/json");
    if (content_type) {
        char *ct = tk_xasprintf("Content-Type: %s", content_type);
        l = curl_slist_append(l, ct);
        tk_buf_printf(&b, "%s\r\n", ct);
        free(ct);
        /* no "Expect: 100-continue" round trip before large bodies */
        l = curl_slist_append(l, "Expect:");
        h->content_type = tk_xstrdup(content_type);
    }
    if (k->auth) {
        l = curl_slist_append(l, k->auth);
        tk_buf_printf(&b, "%s\r\n", k->auth);
    }
    if (!l)
        abort(); /* curl_slist_append fails only when out of memory */
    h->list = l;
    h->block = tk_buf_detach(&b);
    h->next = k->hdrs;
    k->hdrs = h;
    return h;
}

/* ---- libcurl callbacks (they run inside libcurl: never free or remove anything here) ---- */

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct tk_kube_req *r = ud;
    size_t len = size * nmemb;

    if (r->state == RS_CANCELLED)
        return 0;
    r->got_bytes = 1;
    if (r->sink) {
        int rc = r->sink(r, ptr, len, r->ud);
        if (rc == SINK_ABORT)
            return 0;
        if (rc == SINK_OK)
            return len;
    }
    if (tk_buf_append(&r->resp, ptr, len)) {
        r->too_big = 1;
        return 0;
    }
    return len;
}

static size_t on_header(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct tk_kube_req *r = ud;
    size_t len = size * nmemb;

    if (r->state == RS_CANCELLED)
        return 0;
    r->got_bytes = 1;
    if (len >= 5 && !strncmp(buf, "HTTP/", 5)) {
        r->retry_after[0] = '\0'; /* a new response (after 100 Continue) */
    } else if (len > 12 && !strncasecmp(buf, "retry-after:", 12)) {
        size_t i = 12, j = len;
        while (i < j && (buf[i] == ' ' || buf[i] == '\t'))
            i++;
        while (j > i && (buf[j - 1] == '\r' || buf[j - 1] == '\n' || buf[j - 1] == ' '))
            j--;
        if (j - i >= sizeof(r->retry_after))
            j = i + sizeof(r->retry_after) - 1;
        memcpy(r->retry_after, buf + i, j - i);
        r->retry_after[j - i] = '\0';
    }
    return len;
}

static void log_debug_line(const char *dir, const char *s, size_t n)
{
    char line[512];
    size_t m = 0;

    if (n >= 14 && !strncasecmp(s, "authorization:", 14)) {
        tk_debug("curl", "dir=%s line=\"Authorization: [redacted]\"", dir);
        return;
    }
    for (size_t i = 0; i < n && m + 1 < sizeof(line); i++)
        line[m++] = (s[i] == '"' || s[i] == '\\') ? '\'' : s[i];
    line[m] = '\0';
    tk_debug("curl", "dir=%s line=\"%s\"", dir, line);
}

static int on_debug(CURL *easy, curl_infotype type, char *data, size_t size, void *ud)
{
    const char *dir;
    size_t start = 0;
    (void)easy;
    (void)ud;

    if (type == CURLINFO_TEXT)
        dir = "info";
    else if (type == CURLINFO_HEADER_IN)
        dir = "in";
    else if (type == CURLINFO_HEADER_OUT)
        dir = "out";
    else
        return 0;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == '\n') {
            size_t end = i;
            if (end > start && data[end - 1] == '\r')
                end--;
            if (end > start)
                log_debug_line(dir, data + start, end - start);
            start = i + 1;
        }
    }
    return 0;
}

/* ---- requests ---- */

/* Every TLS connection libcurl opens gives its OpenSSL read and write buffers back while idle
 * (about 34 KiB each otherwise): kubelet mode holds one connection per node, mostly idle
 * between lease renewals, and its watches wait on them for minutes. */
static CURLcode ssl_ctx_cb(CURL *e, void *ctx, void *ud)
{
    (void)e;
    (void)ud;
    SSL_CTX_set_mode((SSL_CTX *)ctx, SSL_MODE_RELEASE_BUFFERS);
    return CURLE_OK;
}

static int setup_easy(struct tk_kube *k, struct tk_kube_req *r)
{
    CURL *e = r->xfer.easy;

    if (e) {
        curl_easy_reset(e);
    } else if (!(e = r->xfer.easy = curl_easy_init())) {
        return -1;
    }
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, k->user_agent);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    /* Stalls are cut by a low-speed limit, never by a whole-transfer timeout on a watch. */
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, r->sink ? (long)WATCH_STALL_S : (long)REQ_STALL_S);
    if (!r->sink && k->timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)k->timeout_ms);
    if (k->http2 >= 0) {
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        /* wait for the connection being set up rather than open one per request */
        if (k->tls)
            curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    }
    if (k->connect_to)
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, k->connect_to);
    /* The receive buffer (CURLOPT_BUFFERSIZE) stays at its default: libcurl 7.88's HTTP/2
     * code copies DATA frames into it as if it were 16 KiB or more (a smaller one overflowed
     * the heap under ASan in test_agent_identity). The send buffer a pooled handle keeps after
     * its first body is 64 KiB by default; 16 KiB is libcurl's least, and our bodies are a
     * few KiB. */
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
    if (k->tls) {
        curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
        if (k->insecure) {
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
        } else if (k->ca_pem) {
            struct curl_blob ca = {k->ca_pem, strlen(k->ca_pem), CURL_BLOB_NOCOPY};
            curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
            /* the kubeconfig's CA replaces the system store, as with kubectl */
            curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
            curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
        }
        if (k->cert_pem) {
            struct curl_blob cert = {k->cert_pem, strlen(k->cert_pem), CURL_BLOB_NOCOPY};
            struct curl_blob key = {k->key_pem, strlen(k->key_pem), CURL_BLOB_NOCOPY};
            curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cert);
            curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
            curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &key);
            curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
        }
    }
    if (!strcmp(r->method, "GET")) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (!strcmp(r->method, "HEAD")) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(r->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
        if (r->body || !strcmp(r->method, "POST")) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        }
    }
    if (k->verbose) {
        curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, on_debug);
        curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
    }
    return 0;
}

static void on_h1_done(struct tk_h1_req *hr, void *ud);

/* Plain requests of an H1 client go over lib/h1; watches (a sink) stay on libcurl. */
static int start_h1(struct tk_kube *k, struct tk_kube_req *r)
{
    int64_t deadline = k->timeout_ms > 0 ? r->attempt_ns + (int64_t)k->timeout_ms * 1000000 : 0;
    return tk_h1_submit(k->h1, &r->h1, r->method, r->url + k->origin_len, r->hdr_block, r->body,
                        r->body_len, &r->resp, deadline, r->flags & TK_KUBE_PRIORITY, on_h1_done,
                        r);
}

static void on_h2_done(struct tk_h2_req *hr, void *ud);

/* A watch's bytes as lib/h2 hands them over, through the same sink as libcurl's. */
static int h2_sink(struct tk_h2_req *hr, const char *data, size_t n, void *ud)
{
    struct tk_kube_req *r = ud;
    int rc;
    (void)hr;

    if (r->state == RS_CANCELLED)
        return TK_H2_SINK_ABORT;
    r->got_bytes = 1;
    rc = r->sink(r, data, n, r->ud);
    return rc == SINK_ABORT ? TK_H2_SINK_ABORT : rc == SINK_OK ? 0 : TK_H2_SINK_BUFFER;
}

static int start_h2(struct tk_kube *k, struct tk_kube_req *r)
{
    int64_t deadline =
        !r->sink && k->timeout_ms > 0 ? r->attempt_ns + (int64_t)k->timeout_ms * 1000000 : 0;
    int64_t stall = (int64_t)(r->sink ? WATCH_STALL_S : REQ_STALL_S) * 1000000000;
    return tk_h2_submit(k->h2, &r->h2, r->method, r->url + k->origin_len, r->hdr_block, r->body,
                        r->body_len, &r->resp, r->sink ? h2_sink : NULL, deadline, stall,
                        r->flags & TK_KUBE_PRIORITY, on_h2_done, r);
}

/* The response status so far (a watch's sink asks before the stream is over). */
static long req_status(struct tk_kube_req *r)
{
    long status = 0;
    if (r->kube->h2)
        return r->h2.status;
    curl_easy_getinfo(r->xfer.easy, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static void dispatch(struct tk_kube_req *r)
{
    struct tk_kube *k = r->kube;
    struct tk_err err = {0};

    r->state = RS_INFLIGHT;
    r->attempts++;
    k->stats.requests++;
    if (r->attempts > 1)
        k->stats.retries++;
    tk_buf_reset(&r->resp);
    r->retry_after[0] = '\0';
    r->errbuf[0] = '\0';
    r->got_bytes = r->too_big = 0;
    r->write_ns = 0;
    r->attempt_ns = tk_now_ns();
    if (k->h2 ? start_h2(k, r) == 0
        : k->h1 && !r->sink
            ? start_h1(k, r) == 0
            : setup_easy(k, r) == 0 && tk_loop_xfer_add(k->loop, &r->xfer, &err) == 0) {
        r->in_multi = 1;
        k->stats.inflight++;
        return;
    }
    /* Reported from the loop, so the caller's callback never runs inside tk_kube_request. */
    snprintf(r->errbuf, sizeof(r->errbuf), "cannot start request: %.200s",
             err.code ? err.msg : "curl_easy_init failed");
    tk_warn("cannot start request", "method=%s path=\"%s\" error=\"%s\"", r->method, r->path,
            r->errbuf);
    r->state = RS_BACKOFF;
    r->fail_now = 1;
    tk_timer_start(k->loop, &r->timer, 0);
}

static void lim_timer_fire(struct tk_timer *t, void *ud);

/* Hands queued requests to libcurl while the bucket has tokens: priority queue first. */
static void lim_pump(struct tk_kube *k)
{
    int64_t now = tk_now_ns();
    struct tk_kube_req *r;

    k->tokens += (double)(now - k->refill_ns) * k->qps / 1e9;
    if (k->tokens > k->burst)
        k->tokens = k->burst;
    k->refill_ns = now;
    while ((r = k->q_prio.head ? k->q_prio.head : k->q_norm.head) && k->tokens >= 1.0) {
        k->tokens -= 1.0;
        req_queue_unlink(r->flags & TK_KUBE_PRIORITY ? &k->q_prio : &k->q_norm, r);
        k->stats.queued--;
        dispatch(r);
    }
    if (k->q_prio.head || k->q_norm.head) {
        int64_t wait = (int64_t)((1.0 - k->tokens) / k->qps * 1e9) + 1;
        tk_timer_start(k->loop, &k->lim_timer, now + wait);
    } else {
        tk_timer_stop(k->loop, &k->lim_timer);
    }
}

static void lim_timer_fire(struct tk_timer *t, void *ud)
{
    (void)t;
    lim_pump(ud);
}

static void submit(struct tk_kube_req *r)
{
    struct tk_kube *k = r->kube;

    if (k->qps <= 0) {
        dispatch(r);
        return;
    }
    r->state = RS_QUEUED;
    req_queue_push(r->flags & TK_KUBE_PRIORITY ? &k->q_prio : &k->q_norm, r, 0);
    k->stats.queued++;
    /* While others wait, a newcomer waits behind them: the timer serves the queue. */
    if (!tk_timer_active(&k->lim_timer))
        lim_pump(k);
}

static void req_destroy(struct tk_kube_req *r)
{
    if (r->xfer.easy)
        curl_easy_cleanup(r->xfer.easy);
    tk_h1_req_release(&r->h1);
    tk_h2_req_release(&r->h2);
    tk_buf_release(&r->text);
    tk_buf_release(&r->resp);
    free(r);
}

/* Returns a request that is out of libcurl, its timer and every queue, to the pool. */
static void req_release(struct tk_kube_req *r)
{
    struct tk_kube *k = r->kube;

    if (r->prev)
        r->prev->next = r->next;
    else if (k->reqs == r)
        k->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    tk_timer_stop(k->loop, &r->timer);
    if (k->dead || k->npool >= POOL_MAX || r->text.alloc > POOL_KEEP_BYTES ||
        r->resp.alloc > POOL_KEEP_BYTES) {
        req_destroy(r);
        return;
    }
    tk_buf_reset(&r->text);
    tk_buf_reset(&r->resp);
    r->state = RS_IDLE;
    r->next = k->pool;
    k->pool = r;
    k->npool++;
}

static void http_error(struct tk_err *err, const struct tk_kube_req *r, long status)
{
    cJSON *st = r->resp.len ? cJSON_ParseWithLength(r->resp.data, r->resp.len) : NULL;
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(st, "reason");
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(st, "message");
    const char *rs = cJSON_IsString(reason) && reason->valuestring[0] ? reason->valuestring : NULL;
    const char *ms =
        cJSON_IsString(message) && message->valuestring[0] ? message->valuestring : NULL;

    if (rs && ms)
        tk_err_set(err, TK_EHTTP, "%s %s: %ld %s: %s", r->method, r->path, status, rs, ms);
    else if (rs)
        tk_err_set(err, TK_EHTTP, "%s %s: %ld %s", r->method, r->path, status, rs);
    else if (ms)
        tk_err_set(err, TK_EHTTP, "%s %s: %ld: %s", r->method, r->path, status, ms);
    else
        tk_err_set(err, TK_EHTTP, "%s %s: %ld", r->method, r->path, status);
    cJSON_Delete(st);
}

/* code: 0 when a response arrived, else a TK_E* transport error described in errbuf. */
static void finish(struct tk_kube_req *r, int code, long status)
{
    struct tk_kube *k = r->kube;
    struct tk_kube_resp resp;
    int64_t now = tk_now_ns();

    memset(&resp, 0, sizeof(resp));
    resp.status = status;
    resp.body = r->resp.data ? r->resp.data : "";
    resp.len = r->resp.len;
    resp.retry_after = r->retry_after[0] ? r->retry_after : NULL;
    resp.latency_ns = now - r->attempt_ns;
    resp.total_ns = now - r->submit_ns;
    resp.wait_ns = r->write_ns ? r->write_ns - r->attempt_ns : -1;
    resp.attempts = r->attempts;
    if (r->too_big)
        tk_err_set(&resp.err, TK_ENOMEM, "%s %s: response body exceeds the %zu-byte cap", r->method,
                   r->path, k->max_body);
    else if (code)
        tk_err_set(&resp.err, code, "%s %s: %s", r->method, r->path, r->errbuf);
    else if (status >= 400)
        http_error(&resp.err, r, status);
    r->state = RS_CALLBACK;
    if (r->cb) {
        k->depth++;
        r->cb(&resp, r->ud);
        k->depth--;
    }
    req_release(r);
}

/* unsent: the transport failed before the request could leave (connect failures). */
static int should_retry(struct tk_kube_req *r, int code, int unsent, long status, int64_t *delay)
{
    struct tk_kube *k = r->kube;
    int idem = is_idempotent(r->method);
    int ra = retry_after_s(r->retry_after);

    if ((r->flags & TK_KUBE_NO_RETRY) || r->attempts > k->max_retries || r->too_big)
        return 0;
    if (code) {
        if (r->got_bytes || (!idem && !unsent))
            return 0;
        *delay = backoff_ns(k, r->attempts);
        return 1;
    }
    if (status == 429 || (status >= 500 && (idem || (status == 503 && ra >= 0)))) {
        *delay = ra >= 0 ? retry_after_delay(k, ra) : backoff_ns(k, r->attempts);
        return 1;
    }
    return 0;
}

/* Where both transports end an attempt: retry it or finish the request. */
static void attempt_done(struct tk_kube_req *r, int code, int unsent, long status)
{
    struct tk_kube *k = r->kube;
    int64_t delay = 0;

    k->stats.responses[status >= 100 && status < 600 ? status / 100 : 0]++;
    if (should_retry(r, code, unsent, status, &delay)) {
        tk_debug("retrying request", "method=%s path=\"%s\" status=%ld attempt=%d delay_ms=%lld",
                 r->method, r->path, status, r->attempts, (long long)(delay / 1000000));
        r->state = RS_BACKOFF;
        tk_timer_start(k->loop, &r->timer, tk_now_ns() + delay);
        return;
    }
    finish(r, code, status);
}

static void on_xfer_done(struct tk_xfer *x, CURLcode rc, void *ud)
{
    struct tk_kube_req *r = ud;
    long status = 0;
    (void)x;

    r->in_multi = 0;
    r->kube->stats.inflight--;
    if (r->state == RS_CANCELLED)
        return; /* the reaper frees it */
    curl_easy_getinfo(r->xfer.easy, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK && !r->errbuf[0])
        snprintf(r->errbuf, sizeof(r->errbuf), "%s", curl_easy_strerror(rc));
    attempt_done(r, rc == CURLE_OK ? 0 : curl_code_to_err(rc), connect_failure(rc), status);
}

static void on_h1_done(struct tk_h1_req *hr, void *ud)
{
    struct tk_kube_req *r = ud;

    r->in_multi = 0;
    r->kube->stats.inflight--;
    if (r->state == RS_CANCELLED)
        return; /* the reaper frees it */
    r->got_bytes = hr->got_bytes;
    r->too_big = hr->err == TK_ENOMEM;
    r->write_ns = hr->write_ns;
    memcpy(r->retry_after, hr->retry_after, sizeof(r->retry_after));
    snprintf(r->errbuf, sizeof(r->errbuf), "%s", hr->errmsg);
    attempt_done(r, hr->err, hr->connect_failed, hr->status);
}

static void on_h2_done(struct tk_h2_req *hr, void *ud)
{
    struct tk_kube_req *r = ud;

    r->in_multi = 0;
    r->kube->stats.inflight--;
    if (r->state == RS_CANCELLED)
        return; /* the reaper frees it */
    r->got_bytes = hr->got_bytes;
    r->too_big = hr->err == TK_ENOMEM;
    r->write_ns = hr->write_ns;
    memcpy(r->retry_after, hr->retry_after, sizeof(r->retry_after));
    snprintf(r->errbuf, sizeof(r->errbuf), "%s", hr->errmsg);
    attempt_done(r, hr->err, hr->connect_failed, hr->status);
}

static void req_timer_fire(struct tk_timer *t, void *ud)
{
    struct tk_kube_req *r = ud;
    (void)t;
    if (r->fail_now) {
        r->fail_now = 0;
        finish(r, TK_ENET, 0);
        return;
    }
    submit(r);
}

static struct tk_kube_req *req_new(struct tk_kube *k, const char *method, const char *path,
                                   const char *body, const char *content_type, int flags,
                                   tk_kube_done_fn cb, void *ud, sink_fn sink)
{
    struct tk_kube_req *r = k->pool;
    size_t path_off, url_off, body_off = 0;

    if (k->dead)
        return NULL;
    if (r) {
        k->pool = r->next;
        k->npool--;
    } else {
        r = tk_xcalloc(1, sizeof(*r));
        tk_buf_init(&r->text, 0);
        tk_buf_init(&r->resp, k->max_body);
        tk_h1_req_init(&r->h1);
        tk_h2_req_init(&r->h2);
        r->xfer.done = on_xfer_done;
        r->xfer.ud = r;
    }
    r->kube = k;
    tk_timer_init(&r->timer, req_timer_fire, r);
    r->state = RS_IDLE;
    r->flags = flags;
    r->attempts = 0;
    r->in_multi = r->fail_now = 0;
    r->cb = cb;
    r->ud = ud;
    r->sink = sink;
    r->submit_ns = tk_now_ns();

    tk_buf_append(&r->text, method, strlen(method) + 1);
    path_off = r->text.len;
    tk_buf_append(&r->text, path, strlen(path) + 1);
    url_off = r->text.len;
    tk_buf_puts(&r->text, k->base);
    tk_buf_append(&r->text, path, strlen(path) + 1);
    r->body_len = body ? strlen(body) : 0;
    if (body) {
        body_off = r->text.len;
        tk_buf_append(&r->text, body, r->body_len);
    }
    r->method = r->text.data;
    r->path = r->text.data + path_off;
    r->url = r->text.data + url_off;
    r->body = body ? r->text.data + body_off : NULL;
    const struct hdr_set *hs =
        headers_for(k, body ? (content_type ? content_type : "application/json") : NULL);
    r->headers = hs->list;
    r->hdr_block = hs->block;

    r->prev = NULL;
    r->next = k->reqs;
    if (k->reqs)
        k->reqs->prev = r;
    k->reqs = r;
    submit(r);
    return r;
}

struct tk_kube_req *tk_kube_request(struct tk_kube *kube, const char *method, const char *path,
                                    const char *body, const char *content_type, int flags,
                                    tk_kube_done_fn cb, void *ud)
{
    return req_new(kube, method, path, body, content_type, flags, cb, ud, NULL);
}

void tk_kube_cancel(struct tk_kube_req *r)
{
    struct tk_kube *k;

    if (!r)
        return;
    k = r->kube;
    switch (r->state) {
    case RS_QUEUED:
        req_queue_unlink(r->flags & TK_KUBE_PRIORITY ? &k->q_prio : &k->q_norm, r);
        k->stats.queued--;
        break;
    case RS_BACKOFF:
        tk_timer_stop(k->loop, &r->timer);
        break;
    case RS_INFLIGHT:
    case RS_IDLE:
        break;
    default: /* its callback is running, or it is already cancelled */
        return;
    }
    r->state = RS_CANCELLED;
    req_queue_push(&k->reap, r, 0);
    schedule_reap(k);
}

struct sync_ctx {
    int done;
    long status;
    char *body;
    struct tk_err err;
};

static void sync_done(const struct tk_kube_resp *resp, void *ud)
{
    struct sync_ctx *c = ud;
    c->done = 1;
    c->status = resp->status;
    c->body = tk_xstrndup(resp->body, resp->len);
    c->err = resp->err;
}

static int sync_check(void *ud)
{
    return ((struct sync_ctx *)ud)->done;
}

int tk_kube_request_sync(struct tk_kube *kube, const char *method, const char *path,
                         const char *body, const char *content_type, long *status_out,
                         char **body_out, int timeout_ms, struct tk_err *err)
{
    struct sync_ctx c;
    struct tk_kube_req *r;
    int64_t deadline = timeout_ms > 0 ? tk_now_ns() + (int64_t)timeout_ms * 1000000 : 0;
    int rc;

    memset(&c, 0, sizeof(c));
    if (status_out)
        *status_out = 0;
    if (body_out)
        *body_out = NULL;
    r = tk_kube_request(kube, method, path, body, content_type, 0, sync_done, &c);
    if (!r)
        return tk_err_set(err, TK_ESTATE, "%s %s: client is being freed", method, path);
    rc = tk_loop_run_until(kube->loop, sync_check, &c, deadline);
    if (!c.done) {
        tk_kube_cancel(r);
        if (rc == TK_ETIMEOUT)
            rc = tk_err_set(err, TK_ETIMEOUT, "%s %s: no response within %d ms", method, path,
                            timeout_ms);
        else if (rc == TK_EIO)
            rc = tk_err_set(err, TK_EIO, "%s %s: event loop failed", method, path);
        else
            rc = tk_err_set(err, TK_ESTATE,
                            "%s %s: loop stopped before the response (interrupted, or called "
                            "from a loop callback)",
                            method, path);
        goto out;
    }
    if (status_out)
        *status_out = c.status;
    if (body_out) {
        *body_out = c.body;
        c.body = NULL;
    }
    rc = c.err.code ? tk_err_set(err, c.err.code, "%s", c.err.msg) : 0;
out:
    free(c.body);
    return rc;
}

/* ---- watches ---- */

static void list_begin(struct tk_kube_watch *w);
static void watch_begin(struct tk_kube_watch *w);

static int watch_log_ok(struct tk_kube *k)
{
    uint64_t dropped = 0;
    if (!tk_log_every(&k->watch_log, 1000, &dropped))
        return 0;
    if (dropped)
        tk_warn("watch messages suppressed", "count=%llu", (unsigned long long)dropped);
    return 1;
}

/* Delivers one event; returns non-zero when the watch was stopped from the callback. */
static int deliver(struct tk_kube_watch *w, enum tk_watch_type type, cJSON *obj)
{
    struct tk_kube *k = w->kube;
    k->stats.watch_events++;
    k->depth++;
    w->on_event(type, obj, w->ud);
    k->depth--;
    return w->stopped;
}

static void watch_timer_fire(struct tk_timer *t, void *ud)
{
    struct tk_kube_watch *w = ud;
    (void)t;
    if (w->stopped)
        return;
    if (w->then == NEXT_RELIST || !w->rv[0]) {
        list_begin(w);
    } else {
        w->kube->stats.watch_restarts++;
        watch_begin(w);
    }
}

static void watch_schedule(struct tk_kube_watch *w, int next, int64_t delay_ns)
{
    w->then = next;
    tk_timer_start(w->kube->loop, &w->timer, tk_now_ns() + delay_ns);
}

static int set_rv(struct tk_kube_watch *w, const char *rv)
{
    size_t n = strlen(rv);
    if (n >= sizeof(w->rv))
        return -1;
    memcpy(w->rv, rv, n + 1);
    return 0;
}

static void list_page(struct tk_kube_watch *w);

static void list_done(const struct tk_kube_resp *resp, void *ud)
{
    struct tk_kube_watch *w = ud;
    struct tk_kube *k = w->kube;
    cJSON *root = NULL;
    const cJSON *items, *meta, *cont;
    const char *rv;

    w->req = NULL;
    if (resp->err.code || resp->status != 200) {
        if (resp->status == 410) { /* the continue token expired: a fresh list */
            watch_schedule(w, NEXT_RELIST, 0);
            goto out;
        }
        w->failures++;
        if (watch_log_ok(k))
            tk_warn("watch list failed, retrying", "path=\"%s\" error=\"%s\"", w->path,
                    resp->err.code ? resp->err.msg : "unexpected status");
        watch_schedule(w, NEXT_RELIST, backoff_ns(k, w->failures));
        goto out;
    }
    root = cJSON_ParseWithLength(resp->body, resp->len);
    items = cJSON_GetObjectItemCaseSensitive(root, "items");
    rv = tk_watch_resource_version(root);
    if (!cJSON_IsArray(items) && !cJSON_IsNull(items))
        items = NULL;
    if (!root || !rv || !items || set_rv(w, rv)) {
        w->failures++;
        if (watch_log_ok(k))
            tk_warn("watch list returned no usable list, retrying", "path=\"%s\" bytes=%zu",
                    w->path, resp->len);
        watch_schedule(w, NEXT_RELIST, backoff_ns(k, w->failures));
        goto out;
    }
    for (cJSON *it = items->child; it; it = it->next) {
        if (deliver(w, TK_WATCH_ADDED, it))
            goto out;
    }
    meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    cont = cJSON_GetObjectItemCaseSensitive(meta, "continue");
    free(w->cont);
    w->cont = NULL;
    if (cJSON_IsString(cont) && cont->valuestring[0]) {
        w->cont = tk_xstrdup(cont->valuestring);
        list_page(w);
        goto out;
    }
    w->failures = 0;
    w->listed = 1;
    if (w->on_sync) {
        k->depth++;
        w->on_sync(w->ud);
        k->depth--;
        if (w->stopped)
            goto out;
    }
    watch_begin(w);
out:
    cJSON_Delete(root);
}

static void list_page(struct tk_kube_watch *w)
{
    struct tk_buf p;

    tk_buf_init(&p, 0);
    tk_buf_printf(&p, "%s%climit=%d%s", w->path, strchr(w->path, '?') ? '&' : '?', LIST_LIMIT,
                  w->selectors);
    if (w->cont) {
        tk_buf_puts(&p, "&continue=");
        url_encode(&p, w->cont);
    }
    w->req = req_new(w->kube, "GET", p.data, NULL, NULL, w->flags & TK_KUBE_PRIORITY, list_done, w,
                     NULL);
    tk_buf_release(&p);
}

static void list_begin(struct tk_kube_watch *w)
{
    if (w->listed)
        w->kube->stats.watch_relists++;
    free(w->cont);
    w->cont = NULL;
    list_page(w);
}

static int watch_on_event(enum tk_watch_type type, cJSON *obj, void *ud)
{
    struct tk_kube_watch *w = ud;
    struct tk_kube *k = w->kube;
    const char *rv;

    if (type == TK_WATCH_ERROR) {
        int code = tk_watch_status_code(obj);
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(obj, "message");
        w->aborted = 1;
        if (code == 410) {
            w->then = NEXT_RELIST;
            tk_info("watch expired, relisting", "path=\"%s\" rv=%s", w->path, w->rv);
        } else {
            w->then = NEXT_RESUME;
            w->failures++;
            if (watch_log_ok(k))
                tk_warn("watch error event, restarting", "path=\"%s\" code=%d message=\"%s\"",
                        w->path, code, cJSON_IsString(msg) ? msg->valuestring : "");
        }
        deliver(w, type, obj);
        return TK_WATCH_STOP;
    }
    rv = tk_watch_resource_version(obj);
    if (rv && set_rv(w, rv)) {
        tk_error("watch resourceVersion too long, relisting", "path=\"%s\"", w->path);
        w->aborted = 1;
        w->then = NEXT_RELIST;
        return TK_WATCH_STOP;
    }
    w->stream_events++;
    return deliver(w, type, obj) ? TK_WATCH_STOP : 0;
}

static int watch_sink(struct tk_kube_req *r, const char *data, size_t len, void *ud)
{
    struct tk_kube_watch *w = ud;
    struct tk_err err = {0};
    int rc;

    if (w->stopped)
        return SINK_ABORT;
    if (!w->stream_status_known) {
        w->stream_status = req_status(r);
        w->stream_status_known = 1;
    }
    if (w->stream_status != 200)
        return SINK_BUFFER;
    rc = tk_watch_parser_feed(&w->parser, data, len, watch_on_event, w, &err);
    if (rc == 0)
        return SINK_OK;
    if (w->stopped || rc == TK_WATCH_STOP)
        return SINK_ABORT;
    w->aborted = 1;
    w->failures++;
    if (rc == TK_ENOMEM) {
        tk_error("watch event over the cap, relisting", "path=\"%s\" error=\"%s\"", w->path,
                 err.msg);
        w->then = NEXT_RELIST;
    } else {
        tk_error("malformed watch stream, restarting", "path=\"%s\" error=\"%s\"", w->path,
                 err.msg);
        w->then = NEXT_RESUME;
    }
    return SINK_ABORT;
}

static void watch_done(const struct tk_kube_resp *resp, void *ud)
{
    struct tk_kube_watch *w = ud;
    struct tk_kube *k = w->kube;
    int64_t lasted = tk_now_ns() - w->stream_start_ns;

    w->req = NULL;
    if (w->aborted) {
        w->aborted = 0;
        watch_schedule(w, w->then,
                       w->then == NEXT_RELIST && w->failures == 0 ? 0 : backoff_ns(k, w->failures));
        return;
    }
    if (resp->status == 410) {
        tk_info("watch expired (410), relisting", "path=\"%s\" rv=%s", w->path, w->rv);
        watch_schedule(w, NEXT_RELIST, w->failures ? backoff_ns(k, w->failures) : 0);
        return;
    }
    if (!resp->err.code && resp->status == 200) {
        /* The server ended the stream (timeoutSeconds, restart): resume from where we are. */
        if (tk_watch_parser_pending(&w->parser)) {
            w->failures++;
            if (watch_log_ok(k))
                tk_warn("watch stream ended inside an event, resuming", "path=\"%s\" bytes=%zu",
                        w->path, tk_watch_parser_pending(&w->parser));
        } else if (w->stream_events > 0 || lasted > 30 * (int64_t)1000000000) {
            w->failures = 0;
        } else {
            w->failures++;
        }
        watch_schedule(w, NEXT_RESUME, backoff_ns(k, w->failures > 0 ? w->failures : 1));
        return;
    }
    if (w->stream_events > 0)
        w->failures = 0;
    w->failures++;
    if (watch_log_ok(k))
        tk_warn("watch failed, resuming", "path=\"%s\" rv=%s error=\"%s\"", w->path, w->rv,
                resp->err.code ? resp->err.msg : "unexpected status");
    int ra = retry_after_s(resp->retry_after);
    watch_schedule(w, NEXT_RESUME, ra >= 0 ? retry_after_delay(k, ra) : backoff_ns(k, w->failures));
}

static void watch_begin(struct tk_kube_watch *w)
{
    struct tk_kube *k = w->kube;
    struct tk_buf p;
    int timeout = w->timeout_seconds > 0 ? w->timeout_seconds : (int)jitter_between(k, 300, 600);

    if (!w->rv[0]) {
        list_begin(w);
        return;
    }
    tk_buf_init(&p, 0);
    tk_buf_printf(&p, "%s%cwatch=1&allowWatchBookmarks=true&resourceVersion=", w->path,
                  strchr(w->path, '?') ? '&' : '?');
    url_encode(&p, w->rv);
    tk_buf_printf(&p, "&timeoutSeconds=%d%s", timeout, w->selectors);
    tk_watch_parser_reset(&w->parser);
    w->then = NEXT_RESUME;
    w->aborted = 0;
    w->stream_status_known = 0;
    w->stream_status = 0;
    w->stream_events = 0;
    w->stream_start_ns = tk_now_ns();
    w->req = req_new(k, "GET", p.data, NULL, NULL, (w->flags & TK_KUBE_PRIORITY) | TK_KUBE_NO_RETRY,
                     watch_done, w, watch_sink);
    tk_buf_release(&p);
}

struct tk_kube_watch *tk_kube_watch_start(struct tk_kube *kube, const struct tk_watch_opts *opts,
                                          tk_watch_event_fn on_event, tk_watch_sync_fn on_sync,
                                          void *ud, struct tk_err *err)
{
    struct tk_kube_watch *w;
    struct tk_buf sel;

    if (!opts || !opts->path || opts->path[0] != '/' || !on_event) {
        tk_err_set(err, TK_EINVAL,
                   "watch: a path starting with '/' and an event callback are "
                   "required");
        return NULL;
    }
    if (kube->dead) {
        tk_err_set(err, TK_ESTATE, "watch %s: client is being freed", opts->path);
        return NULL;
    }
    w = tk_xcalloc(1, sizeof(*w));
    w->kube = kube;
    w->path = tk_xstrdup(opts->path);
    tk_buf_init(&sel, 0);
    tk_buf_puts(&sel, "");
    if (opts->field_selector && opts->field_selector[0]) {
        tk_buf_puts(&sel, "&fieldSelector=");
        url_encode(&sel, opts->field_selector);
    }
    if (opts->label_selector && opts->label_selector[0]) {
        tk_buf_puts(&sel, "&labelSelector=");
        url_encode(&sel, opts->label_selector);
    }
    w->selectors = tk_buf_detach(&sel);
    w->timeout_seconds = opts->timeout_seconds;
    w->flags = opts->flags;
    w->on_event = on_event;
    w->on_sync = on_sync;
    w->ud = ud;
    tk_watch_parser_init(&w->parser, opts->max_event_bytes);
    tk_timer_init(&w->timer, watch_timer_fire, w);
    w->next = kube->watches;
    if (kube->watches)
        kube->watches->prev = w;
    kube->watches = w;
    list_begin(w);
    return w;
}

static void watch_destroy(struct tk_kube_watch *w)
{
    tk_watch_parser_release(&w->parser);
    free(w->path);
    free(w->selectors);
    free(w->cont);
    free(w);
}

void tk_kube_watch_stop(struct tk_kube_watch *w)
{
    struct tk_kube *k;

    if (!w || w->stopped)
        return;
    k = w->kube;
    w->stopped = 1;
    tk_kube_cancel(w->req);
    w->req = NULL;
    tk_timer_stop(k->loop, &w->timer);
    if (w->prev)
        w->prev->next = w->next;
    else
        k->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = NULL;
    w->next = k->dead_watches;
    k->dead_watches = w;
    schedule_reap(k);
}

const char *tk_kube_watch_rv(const struct tk_kube_watch *w)
{
    return w->rv;
}

/* ---- lifecycle ---- */

static void reap_fire(struct tk_timer *t, void *ud)
{
    struct tk_kube *k = ud;
    struct tk_kube_req *r;
    struct tk_kube_watch *w;
    (void)t;

    while ((r = k->reap.head)) {
        req_queue_unlink(&k->reap, r);
        tk_loop_xfer_remove(k->loop, &r->xfer);
        tk_h1_cancel(&r->h1);
        tk_h2_cancel(&r->h2);
        if (r->in_multi) {
            r->in_multi = 0;
            k->stats.inflight--;
        }
        req_release(r);
    }
    while ((w = k->dead_watches)) {
        k->dead_watches = w->next;
        watch_destroy(w);
    }
    if (k->dead)
        destroy(k);
}

int tk_kube_server_split(const char *server, struct tk_kube_server *out, struct tk_err *err)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (!u)
        abort();
    if (curl_url_set(u, CURLUPART_URL, server, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
        rc = tk_err_set(err, TK_EINVAL, "server '%s' is not a URL", server);
        goto out;
    }
    if (strcasecmp(scheme, "https") && strcasecmp(scheme, "http")) {
        rc = tk_err_set(err, TK_EINVAL, "server '%s': scheme must be https or http", server);
        goto out;
    }
    size_t plen = strlen(path);
    while (plen > 0 && path[plen - 1] == '/')
        path[--plen] = '\0';
    out->tls = !strcasecmp(scheme, "https");
    out->scheme = tk_xstrdup(out->tls ? "https" : "http");
    out->host = tk_xstrdup(host);
    out->port = tk_xstrdup(port);
    out->path = tk_xstrdup(path);
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

void tk_kube_server_release(struct tk_kube_server *s)
{
    free(s->scheme);
    free(s->host);
    free(s->port);
    free(s->path);
    memset(s, 0, sizeof(*s));
}

/* Sets k->base, k->tls, k->connect_to, k->origin_len; *host_out and *port_out (caller frees)
 * get the address to connect to. */
static int parse_server(struct tk_kube *k, const struct tk_kube_opts *o, char **host_out,
                        char **port_out, struct tk_err *err)
{
    struct tk_kube_server sv;
    int rc = tk_kube_server_split(o->server, &sv, err);

    if (rc)
        return rc;
    k->tls = sv.tls;
    if (o->tls_server_name && o->tls_server_name[0]) {
        /* libcurl verifies (and sends as SNI) the URL's host: put the name there and connect
         * to the real address underneath. */
        char *cto = tk_xasprintf("%s:%s:%s:%s", o->tls_server_name, sv.port, sv.host, sv.port);
        k->connect_to = curl_slist_append(NULL, cto);
        free(cto);
        k->base = tk_xasprintf("%s://%s:%s%s", sv.scheme, o->tls_server_name, sv.port, sv.path);
    } else {
        k->base = tk_xasprintf("%s://%s:%s%s", sv.scheme, sv.host, sv.port, sv.path);
    }
    k->origin_len = strlen(k->base) - strlen(sv.path);
    *host_out = sv.host;
    *port_out = sv.port;
    sv.host = sv.port = NULL;
    tk_kube_server_release(&sv);
    return 0;
}

static int h1_open(struct tk_kube *k, const struct tk_kube_opts *o, const char *host,
                   const char *port, struct tk_err *err)
{
    struct tk_h1_opts h;

    memset(&h, 0, sizeof(h));
    h.host = host;
    h.port = port;
    h.tls = k->tls;
    h.server_name = o->tls_server_name;
    h.ca_pem = o->ca_pem;
    h.cert_pem = o->client_cert_pem;
    h.key_pem = o->client_key_pem;
    h.insecure = o->insecure;
    h.conns = o->h1_conns;
    h.connect_timeout_ms = CONNECT_TIMEOUT_MS;
    h.stall_ms = REQ_STALL_S * 1000;
    k->h1 = tk_h1_new(k->loop, &h, err);
    return k->h1 ? 0 : err->code;
}

static int h2_open(struct tk_kube *k, const struct tk_kube_opts *o, const char *host,
                   const char *port, struct tk_err *err)
{
    struct tk_h2_opts h;

    memset(&h, 0, sizeof(h));
    h.host = host;
    h.port = port;
    h.tls = k->tls;
    h.server_name = o->tls_server_name;
    h.ca_pem = o->ca_pem;
    h.cert_pem = o->client_cert_pem;
    h.key_pem = o->client_key_pem;
    h.insecure = o->insecure;
    h.share_ctx = 1;
    h.connect_timeout_ms = CONNECT_TIMEOUT_MS;
    h.read_pace_ns = o->read_pace_ns;
    k->h2 = tk_h2_new(k->loop, &h, err);
    return k->h2 ? 0 : err->code;
}

void tk_kube_opts_from_kubeconfig(const struct tk_kubeconfig *kc, struct tk_kube_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->server = kc->server;
    o->ca_pem = kc->ca_pem;
    o->client_cert_pem = kc->client_cert_pem;
    o->client_key_pem = kc->client_key_pem;
    o->token = kc->token;
    o->insecure = kc->insecure;
    o->tls_server_name = kc->tls_server_name;
}

struct tk_kube *tk_kube_new(struct tk_loop *loop, const struct tk_kube_opts *o, struct tk_err *err)
{
    struct tk_kube *k;
    char *host = NULL, *port = NULL;

    if (!o || !o->server || !o->server[0]) {
        tk_err_set(err, TK_EINVAL, "kube client: no server");
        return NULL;
    }
    if (!o->client_cert_pem != !o->client_key_pem) {
        tk_err_set(err, TK_EINVAL,
                   "kube client: a client certificate needs its key (and the "
                   "key its certificate)");
        return NULL;
    }
    if (o->transport != TK_KUBE_TRANSPORT_CURL && o->transport != TK_KUBE_TRANSPORT_H1 &&
        o->transport != TK_KUBE_TRANSPORT_H2) {
        tk_err_set(err, TK_EINVAL, "kube client: unknown transport %d", o->transport);
        return NULL;
    }
    k = tk_xcalloc(1, sizeof(*k));
    k->loop = loop;
    if (parse_server(k, o, &host, &port, err))
        goto fail;
    k->ca_pem = o->ca_pem ? tk_xstrdup(o->ca_pem) : NULL;
    k->cert_pem = o->client_cert_pem ? tk_xstrdup(o->client_cert_pem) : NULL;
    k->key_pem = o->client_key_pem ? tk_xstrdup(o->client_key_pem) : NULL;
    k->auth = o->token && o->token[0] ? tk_xasprintf("Authorization: Bearer %s", o->token) : NULL;
    k->user_agent = tk_xstrdup(o->user_agent ? o->user_agent : "turbokube");
    k->insecure = o->insecure;
    k->http2 = o->http2;
    k->verbose = o->verbose;
    k->timeout_ms = o->timeout_ms;
    k->max_retries = o->max_retries == 0  ? DEFAULT_MAX_RETRIES
                     : o->max_retries < 0 ? 0
                                          : o->max_retries;
    k->max_body = o->max_body_bytes ? o->max_body_bytes : DEFAULT_MAX_BODY;
    k->qps = o->qps > 0 ? o->qps : 0;
    k->burst = o->burst > 0 ? o->burst : 1;
    k->tokens = k->burst;
    k->refill_ns = tk_now_ns();
    k->rng = (uint64_t)tk_now_ns() ^ ((uint64_t)(uintptr_t)k << 17) ^ (uint64_t)getpid();
    if (!k->rng)
        k->rng = 0x9e3779b97f4a7c15ULL;
    tk_timer_init(&k->lim_timer, lim_timer_fire, k);
    tk_timer_init(&k->reap_timer, reap_fire, k);
    if (o->max_conns > 0)
        curl_multi_setopt(tk_loop_multi(loop), CURLMOPT_MAX_HOST_CONNECTIONS, (long)o->max_conns);
    /* libcurl's own cap is 100 streams per connection. The server advertises its own (for
     * kube-apiserver --http2-max-streams-per-connection; 100 with the default, as measured
     * against 1.36) and libcurl keeps to the smaller, so ours must not be the one that binds.
     * Beyond the server's limit libcurl opens another connection, up to max_conns. */
    curl_multi_setopt(tk_loop_multi(loop), CURLMOPT_MAX_CONCURRENT_STREAMS, (long)MAX_STREAMS);
    if (o->transport == TK_KUBE_TRANSPORT_H1 && h1_open(k, o, host, port, err))
        goto fail;
    if (o->transport == TK_KUBE_TRANSPORT_H2 && h2_open(k, o, host, port, err))
        goto fail;
    free(host);
    free(port);
    return k;
fail:
    free(host);
    free(port);
    destroy(k);
    return NULL;
}

static void free_slist_wiped(struct curl_slist *l)
{
    /* the Authorization header does not linger in freed memory */
    for (struct curl_slist *i = l; i; i = i->next)
        explicit_bzero(i->data, strlen(i->data));
    curl_slist_free_all(l);
}

static void free_wiped(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static void destroy(struct tk_kube *k)
{
    struct tk_kube_req *r;
    struct tk_kube_watch *w;
    struct hdr_set *h;

    k->dead = 1;
    while ((w = k->watches))
        tk_kube_watch_stop(w);
    while ((w = k->dead_watches)) {
        k->dead_watches = w->next;
        watch_destroy(w);
    }
    tk_timer_stop(k->loop, &k->reap_timer);
    tk_timer_stop(k->loop, &k->lim_timer);
    /* Every queue dies with k: only libcurl, lib/h1 and the timers need taking apart. */
    tk_h1_free(k->h1);
    k->h1 = NULL;
    tk_h2_free(k->h2);
    k->h2 = NULL;
    while ((r = k->reqs)) {
        k->reqs = r->next;
        tk_loop_xfer_remove(k->loop, &r->xfer);
        tk_timer_stop(k->loop, &r->timer);
        req_destroy(r);
    }
    while ((r = k->pool)) {
        k->pool = r->next;
        req_destroy(r);
    }
    while ((h = k->hdrs)) {
        k->hdrs = h->next;
        free_slist_wiped(h->list);
        free_wiped(h->block);
        free(h->content_type);
        free(h);
    }
    curl_slist_free_all(k->connect_to);
    free(k->base);
    free(k->ca_pem);
    free(k->cert_pem);
    free_wiped(k->key_pem);
    free_wiped(k->auth);
    free(k->user_agent);
    free(k);
}

void tk_kube_free(struct tk_kube *k)
{
    struct tk_kube_req *r;
    struct tk_kube_watch *w;

    if (!k || k->dead)
        return;
    if (k->depth == 0 && !tk_loop_in_curl(k->loop)) {
        destroy(k);
        return;
    }
    /* Inside a callback: libcurl or our caller may still reach these objects. Cut every
     * callback now, release the memory from the loop. */
    while ((w = k->watches))
        tk_kube_watch_stop(w);
    for (r = k->reqs; r; r = r->next)
        tk_kube_cancel(r);
    tk_timer_stop(k->loop, &k->lim_timer);
    k->dead = 1;
    schedule_reap(k);
}

void tk_kube_get_stats(const struct tk_kube *kube, struct tk_kube_stats *out)
{
    *out = kube->stats;
    if (kube->h1) {
        struct tk_h1_stats h;
        tk_h1_get_stats(kube->h1, &h);
        out->conns_opened = h.connects;
        out->conns_closed = h.closes;
        out->conns_open = h.open;
        out->transport_queued = h.queued;
    } else if (kube->h2) {
        struct tk_h2_stats h;
        tk_h2_get_stats(kube->h2, &h);
        out->conns_opened = h.connects;
        out->conns_closed = h.closes;
        out->conns_open = h.open;
        out->transport_queued = h.queued;
    }
}
