/* TLS bootstrap of node identities: see bootstrap.h. */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include "bootstrap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "json.h"
#include "log.h"
#include "pki.h"

#define ORG "system:nodes"
#define SEC_NS 1000000000LL
#define DEFAULT_CONCURRENCY 32
#define DEFAULT_TIMEOUT_NS (120 * SEC_NS)
#define PROGRESS_NS (5 * SEC_NS)
#define CACHE_MIN_VALID_S 3600L

/* What we ask for: an EC key has no use for key encipherment, so the kubelet (since 1.31)
 * sends only these two, in this order. */
static const char *const usages[] = {"digital signature", "client auth"};
#define NUSAGES (sizeof(usages) / sizeof(usages[0]))

/* ---- base64 ------------------------------------------------------------------------------ */

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Standard (padded) or URL-safe unpadded base64 of n bytes; caller frees. */
static char *b64_encode(const unsigned char *in, size_t n, int url)
{
    const char *t = url ? b64_url : b64_std;
    char *out = tk_xmalloc(4 * ((n + 2) / 3) + 1), *o = out;
    size_t i = 0;

    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *o++ = t[v >> 18];
        *o++ = t[(v >> 12) & 63];
        *o++ = t[(v >> 6) & 63];
        *o++ = t[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        *o++ = t[v >> 18];
        *o++ = t[(v >> 12) & 63];
        if (i + 1 < n)
            *o++ = t[(v >> 6) & 63];
        else if (!url)
            *o++ = '=';
        if (!url)
            *o++ = '=';
    }
    *o = '\0';
    return out;
}

static int b64_val(char c)
{
    const char *p = c ? strchr(b64_std, c) : NULL;
    return p ? (int)(p - b64_std) : -1;
}

/* Standard base64 (padding optional) to a NUL-terminated heap string; NULL when malformed. */
static char *b64_decode(const char *in)
{
    size_t n = strlen(in), o = 0;
    char *out;
    uint32_t acc = 0;
    int bits = 0;

    while (n > 0 && in[n - 1] == '=')
        n--;
    out = tk_xmalloc(n * 3 / 4 + 1);
    for (size_t i = 0; i < n; i++) {
        int v = b64_val(in[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- pure pieces --------------------------------------------------------------------------- */

static void digest_part(EVP_MD_CTX *md, const void *data, size_t n)
{
    char *e = b64_encode(data, n, 1);
    EVP_DigestUpdate(md, e, strlen(e));
    EVP_DigestUpdate(md, "|", 1);
    free(e);
}

int tk_bootstrap_csr_name(const char *key_pem, const char *node, char out[TK_BOOTSTRAP_NAME_MAX],
                          struct tk_err *err)
{
    unsigned char *der = NULL, sum[EVP_MAX_MD_SIZE];
    unsigned int sum_len = 0;
    size_t der_len = 0;
    EVP_MD_CTX *md = NULL;
    char cn[96], *enc;
    int rc = 0;

    out[0] = '\0';
    if ((rc = tk_pki_pubkey_der(key_pem, &der, &der_len, err)))
        return rc;
    snprintf(cn, sizeof(cn), "system:node:%s", node);
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha512_256(), NULL) != 1) {
        rc = tk_err_set(err, TK_ETLS, "SHA-512/256 is not available");
        goto done;
    }
    digest_part(md, der, der_len);
    digest_part(md, cn, strlen(cn));
    digest_part(md, ORG, strlen(ORG));
    for (size_t i = 0; i < NUSAGES; i++)
        digest_part(md, usages[i], strlen(usages[i]));
    if (EVP_DigestFinal_ex(md, sum, &sum_len) != 1) {
        rc = tk_err_set(err, TK_ETLS, "SHA-512/256 failed");
        goto done;
    }
    enc = b64_encode(sum, sum_len, 1);
    snprintf(out, TK_BOOTSTRAP_NAME_MAX, "node-csr-%s", enc);
    free(enc);
done:
    EVP_MD_CTX_free(md);
    free(der);
    return rc;
}

void tk_bootstrap_csr_body(struct tk_buf *out, const char *name, const char *csr_pem)
{
    char *req = b64_encode((const unsigned char *)csr_pem, strlen(csr_pem), 0);

    /* name and request are base64 alphabets: nothing to escape */
    tk_buf_printf(
        out,
        "{\"apiVersion\":\"certificates.k8s.io/v1\",\"kind\":\"CertificateSigningRequest\","
        "\"metadata\":{\"name\":\"%s\"},\"spec\":{\"request\":\"%s\",\"signerName\":\"%s\","
        "\"usages\":[",
        name, req, TK_BOOTSTRAP_SIGNER);
    for (size_t i = 0; i < NUSAGES; i++)
        tk_buf_printf(out, "%s\"%s\"", i ? "," : "", usages[i]);
    tk_buf_puts(out, "]}}");
    free(req);
}

static int cond_true(const cJSON *c, const char *type)
{
    const char *t = tk_json_get_str(c, "type"), *s = tk_json_get_str(c, "status");
    /* status is optional on CSR conditions (empty means True, for old clients) */
    return t && !strcmp(t, type) && (!s || !strcmp(s, "True"));
}

int tk_bootstrap_csr_parse(const cJSON *obj, struct tk_csr_status *st)
{
    const char *uid = tk_json_get_str(obj, "metadata.uid");
    const char *cert = tk_json_get_str(obj, "status.certificate");
    const cJSON *conds = tk_json_get(obj, "status.conditions"), *c;
    const cJSON *list = cJSON_IsArray(conds) ? conds : NULL;
    int approved = 0;

    memset(st, 0, sizeof(*st));
    if (!uid)
        return -1;
    snprintf(st->uid, sizeof(st->uid), "%s", uid);
    cJSON_ArrayForEach(c, list)
    {
        int denied = cond_true(c, "Denied"), failed = cond_true(c, "Failed");
        if (denied || failed) {
            const char *r = tk_json_get_str(c, "reason"), *m = tk_json_get_str(c, "message");
            st->phase = denied ? TK_CSR_DENIED : TK_CSR_FAILED;
            snprintf(st->reason, sizeof(st->reason), "%s", r && *r ? r : "no reason given");
            snprintf(st->message, sizeof(st->message), "%s", m ? m : "");
            return 0;
        }
        approved |= cond_true(c, "Approved");
    }
    if (!approved)
        return 0;
    st->phase = TK_CSR_APPROVED;
    if (cert && *cert) {
        if (!(st->cert_pem = b64_decode(cert)))
            return -1;
        st->phase = TK_CSR_ISSUED;
    }
    return 0;
}

void tk_bootstrap_csr_status_release(struct tk_csr_status *st)
{
    free(st->cert_pem);
    st->cert_pem = NULL;
}

static char *cache_file(const char *node)
{
    return tk_xasprintf("kubelet-client-%s.pem", node);
}

static void free_secret(char *s)
{
    if (s)
        OPENSSL_cleanse(s, strlen(s));
    free(s);
}

int tk_bootstrap_cache_load(const char *dir, const char *node, long min_valid_s, char **cert_pem,
                            char **key_pem, struct tk_err *err)
{
    char *file = cache_file(node), *path = tk_xasprintf("%s/%s", dir, file), *data = NULL;
    char cn[96];
    const char *k;
    int rc;

    *cert_pem = *key_pem = NULL;
    if ((rc = tk_pki_read_file(path, &data, err)))
        goto done;
    /* certificate (chain) first, then the key, as kubelet-client-current.pem */
    k = strstr(data, "-----BEGIN PRIVATE KEY-----");
    if (!k)
        k = strstr(data, "-----BEGIN EC PRIVATE KEY-----");
    if (!k || k == data) {
        rc = tk_err_set(err, TK_ETLS, "'%s': expected a certificate and then a private key", path);
        goto done;
    }
    *cert_pem = tk_xstrndup(data, (size_t)(k - data));
    *key_pem = tk_xstrdup(k);
    snprintf(cn, sizeof(cn), "system:node:%s", node);
    if ((rc = tk_pki_client_check(*cert_pem, *key_pem, cn, ORG, min_valid_s, err))) {
        tk_err_prefix(err, "'%s'", path);
        free(*cert_pem);
        free_secret(*key_pem);
        *cert_pem = *key_pem = NULL;
    }
done:
    free_secret(data);
    free(path);
    free(file);
    return rc;
}

int tk_bootstrap_cache_store(const char *dir, const char *node, const char *cert_pem,
                             const char *key_pem, struct tk_err *err)
{
    size_t cl = strlen(cert_pem);
    char *file = cache_file(node);
    char *data =
        tk_xasprintf("%s%s%s", cert_pem, cl && cert_pem[cl - 1] != '\n' ? "\n" : "", key_pem);
    int rc = tk_pki_write_file(dir, file, data, 0600, err);

    free_secret(data);
    free(file);
    return rc;
}

/* ---- the runtime --------------------------------------------------------------------------- */

enum sstep { S_IDLE, S_POST, S_GET, S_WAIT };

/* One node between its CSR and its certificate. */
struct slot {
    struct tk_bootstrap *bs;
    size_t node;
    enum sstep step;
    int approved;
    int failures;
    char name[TK_BOOTSTRAP_NAME_MAX];
    char uid[48];
    char *body;    /* the POST body (kept for retries and to recognise our own CSR) */
    char *request; /* spec.request as sent (base64) */
    char *key_pem;
    struct tk_kube_req *req;
    struct tk_kube_watch *w;
    struct tk_timer deadline, retry;
    int64_t started_ns;
    char last_error[256];
};

struct tk_bootstrap {
    struct tk_loop *loop;
    struct tk_bootstrap_opts o;
    char *cert_dir;
    struct slot *slots;
    int nslots;
    size_t *todo; /* node indexes still to request, in order */
    size_t ntodo, todo_next;
    struct tk_timer progress;
    int64_t start_ns;
    int stopped, done_logged;
    struct tk_bootstrap_stats st;
};

static void pump(struct tk_bootstrap *bs);
static void post_send(struct slot *s);

static const char *node_name(const struct tk_bootstrap *bs, size_t i)
{
    return bs->o.name_of(bs->o.ud, i);
}

static void slot_clear(struct slot *s)
{
    struct tk_bootstrap *bs = s->bs;
    if (s->req) {
        tk_kube_cancel(s->req);
        s->req = NULL;
    }
    tk_kube_watch_stop(s->w);
    s->w = NULL;
    tk_timer_stop(bs->loop, &s->deadline);
    tk_timer_stop(bs->loop, &s->retry);
    free(s->body);
    free(s->request);
    free_secret(s->key_pem);
    s->body = s->request = s->key_pem = NULL;
    s->step = S_IDLE;
    s->approved = s->failures = 0;
    s->name[0] = s->uid[0] = s->last_error[0] = '\0';
}

static void log_progress(struct tk_bootstrap *bs)
{
    tk_info("bootstrapping node certificates", "issued=%llu cached=%llu pending=%llu inflight=%llu",
            (unsigned long long)bs->st.issued, (unsigned long long)bs->st.cached,
            (unsigned long long)bs->st.pending, (unsigned long long)bs->st.inflight);
}

static void maybe_done(struct tk_bootstrap *bs)
{
    if (bs->st.pending || bs->done_logged)
        return;
    bs->done_logged = 1;
    tk_timer_stop(bs->loop, &bs->progress);
    tk_info("node certificates ready",
            "nodes=%zu issued=%llu cached=%llu seconds=%.2f max_wait_seconds=%.2f", bs->o.nodes,
            (unsigned long long)bs->st.issued, (unsigned long long)bs->st.cached,
            (double)(tk_now_ns() - bs->start_ns) / 1e9, bs->st.wait_s_max);
}

/* Stops everything and reports err once. */
static void fail(struct tk_bootstrap *bs, const struct tk_err *err)
{
    if (bs->stopped)
        return;
    tk_bootstrap_stop(bs);
    if (bs->o.on_fail) /* the owner logs it */
        bs->o.on_fail(bs->o.ud, err);
}

static void failf(struct tk_bootstrap *bs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void failf(struct tk_bootstrap *bs, const char *fmt, ...)
{
    struct tk_err e = {0};
    va_list ap;
    va_start(ap, fmt);
    e.code = TK_ESTATE;
    vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
    va_end(ap);
    fail(bs, &e);
}

static void issued(struct slot *s, const char *cert_pem)
{
    struct tk_bootstrap *bs = s->bs;
    const char *node = node_name(bs, s->node);
    struct tk_err e = {0};
    char cn[96];
    double waited = (double)(tk_now_ns() - s->started_ns) / 1e9;

    snprintf(cn, sizeof(cn), "system:node:%s", node);
    if (tk_pki_client_check(cert_pem, s->key_pem, cn, ORG, 0, &e)) {
        failf(bs, "CSR %s of node %s: the issued certificate is unusable: %s", s->name, node,
              e.msg);
        return;
    }
    if (bs->cert_dir && tk_bootstrap_cache_store(bs->cert_dir, node, cert_pem, s->key_pem, &e)) {
        fail(bs, &e);
        return;
    }
    bs->st.issued++;
    bs->st.pending--;
    bs->st.inflight--;
    if (waited > bs->st.wait_s_max)
        bs->st.wait_s_max = waited;
    tk_debug("node certificate issued", "node=%s csr=%s seconds=%.3f", node, s->name, waited);
    {
        /* the slot is reused by pump(): hand out copies it does not own */
        char *key = s->key_pem;
        size_t i = s->node;
        s->key_pem = NULL;
        slot_clear(s);
        bs->o.on_cert(bs->o.ud, i, cert_pem, key, 0);
        free_secret(key);
    }
    if (bs->stopped)
        return;
    maybe_done(bs);
    pump(bs);
}

static void csr_event(enum tk_watch_type type, cJSON *obj, void *ud)
{
    struct slot *s = ud;
    struct tk_bootstrap *bs = s->bs;
    const char *node = node_name(bs, s->node);
    struct tk_csr_status st;

    if (type == TK_WATCH_DELETED) {
        failf(bs, "CSR %s of node %s was deleted before it was issued", s->name, node);
        return;
    }
    if ((type != TK_WATCH_ADDED && type != TK_WATCH_MODIFIED) || tk_bootstrap_csr_parse(obj, &st)) {
        if (type == TK_WATCH_ADDED || type == TK_WATCH_MODIFIED)
            tk_warn("unreadable CertificateSigningRequest", "csr=%s", s->name);
        return;
    }
    if (s->uid[0] && strcmp(st.uid, s->uid) != 0) {
        failf(bs, "CSR %s of node %s was replaced by another object (uid changed)", s->name, node);
    } else if (st.phase == TK_CSR_DENIED) {
        failf(bs, "CSR %s of node %s was denied (%s%s%s)", s->name, node, st.reason,
              st.message[0] ? ": " : "", st.message);
    } else if (st.phase == TK_CSR_FAILED) {
        failf(bs, "CSR %s of node %s failed (%s%s%s)", s->name, node, st.reason,
              st.message[0] ? ": " : "", st.message);
    } else if (st.phase == TK_CSR_ISSUED) {
        issued(s, st.cert_pem);
    } else if (st.phase == TK_CSR_APPROVED && !s->approved) {
        s->approved = 1;
        tk_debug("CSR approved, waiting for the signer", "csr=%s node=%s", s->name, node);
    }
    tk_bootstrap_csr_status_release(&st);
}

static void watch_csr(struct slot *s)
{
    struct tk_watch_opts wo;
    struct tk_err e = {0};
    char sel[96];

    memset(&wo, 0, sizeof(wo));
    snprintf(sel, sizeof(sel), "metadata.name=%s", s->name);
    wo.path = TK_BOOTSTRAP_CSR_PATH;
    wo.field_selector = sel;
    wo.max_event_bytes = 1 << 20;
    s->step = S_WAIT;
    s->w = tk_kube_watch_start(s->bs->o.kube, &wo, csr_event, NULL, s, &e);
    if (!s->w)
        fail(s->bs, &e);
}

static void retry_fire(struct tk_timer *t, void *ud)
{
    struct slot *s = ud;
    (void)t;
    post_send(s);
}

/* A failure that may pass (the apiserver starting, a 5xx): try again until the deadline. */
static void transient(struct slot *s, const struct tk_kube_resp *resp)
{
    int64_t d = SEC_NS << (s->failures < 3 ? s->failures : 3);
    s->failures++;
    snprintf(s->last_error, sizeof(s->last_error), "%s",
             resp->err.code ? resp->err.msg : "unexpected answer");
    tk_warn("cannot create CSR yet, retrying", "node=%s error=\"%s\"", node_name(s->bs, s->node),
            s->last_error);
    s->step = S_POST;
    tk_timer_start(s->bs->loop, &s->retry, tk_now_ns() + d);
}

static void post_done(const struct tk_kube_resp *resp, void *ud);

static void get_done(const struct tk_kube_resp *resp, void *ud)
{
    struct slot *s = ud;
    const char *node = node_name(s->bs, s->node);
    cJSON *obj = NULL;
    const char *req;

    s->req = NULL;
    if (resp->status != 200) {
        transient(s, resp);
        return;
    }
    obj = cJSON_ParseWithLength(resp->body, resp->len);
    req = tk_json_get_str(obj, "spec.request");
    if (!req || strcmp(req, s->request) != 0) {
        failf(s->bs, "CSR %s of node %s exists with another request (a name collision)", s->name,
              node);
    } else {
        const char *uid = tk_json_get_str(obj, "metadata.uid");
        snprintf(s->uid, sizeof(s->uid), "%s", uid ? uid : "");
        watch_csr(s);
    }
    cJSON_Delete(obj);
}

static void post_done(const struct tk_kube_resp *resp, void *ud)
{
    struct slot *s = ud;
    struct tk_bootstrap *bs = s->bs;
    const char *node = node_name(bs, s->node);
    char path[192];

    s->req = NULL;
    if (resp->status == 201 || resp->status == 200) {
        cJSON *obj = cJSON_ParseWithLength(resp->body, resp->len);
        const char *uid = tk_json_get_str(obj, "metadata.uid");
        snprintf(s->uid, sizeof(s->uid), "%s", uid ? uid : "");
        cJSON_Delete(obj);
        bs->st.csr_posts++;
        watch_csr(s);
    } else if (resp->status == 409) { /* ours from an earlier attempt (the name is our key's) */
        snprintf(path, sizeof(path), "%s/%s", TK_BOOTSTRAP_CSR_PATH, s->name);
        s->step = S_GET;
        s->req = tk_kube_request(bs->o.kube, "GET", path, NULL, NULL, 0, get_done, s);
    } else if (resp->status == 401) {
        failf(bs,
              "bootstrap token refused (401 Unauthorized) creating the CSR of node %s: check the "
              "token, its Secret kube-system/bootstrap-token-<id> (usage-bootstrap-authentication, "
              "expiration) and kube-apiserver --enable-bootstrap-token-auth",
              node);
    } else if (resp->status == 403) {
        failf(bs, "the bootstrap identity may not create CertificateSigningRequests (403 "
                  "Forbidden): bind ClusterRole system:node-bootstrapper to group "
                  "system:bootstrappers");
    } else if (resp->status >= 400 && resp->status < 500 && resp->status != 429) {
        failf(bs, "cannot create the CSR of node %s: %s", node, resp->err.msg);
    } else {
        transient(s, resp);
    }
}

static void post_send(struct slot *s)
{
    s->step = S_POST;
    s->req = tk_kube_request(s->bs->o.kube, "POST", TK_BOOTSTRAP_CSR_PATH, s->body,
                             "application/json", 0, post_done, s);
}

static void deadline_fire(struct tk_timer *t, void *ud)
{
    struct slot *s = ud;
    struct tk_bootstrap *bs = s->bs;
    const char *node = node_name(bs, s->node);
    int secs = (int)(bs->o.timeout_ns / SEC_NS);
    (void)t;

    if (s->step != S_WAIT)
        failf(bs, "node %s: could not create its CSR within %ds: %s", node, secs,
              s->last_error[0] ? s->last_error : "no answer");
    else if (!s->approved)
        failf(bs,
              "node %s: CSR %s not approved in %ds: is the csrapproving controller running, and "
              "may group system:bootstrappers create certificatesigningrequests/nodeclient?",
              node, s->name, secs);
    else
        failf(bs,
              "node %s: CSR %s approved but not signed in %ds: kube-controller-manager's "
              "csrsigning controller needs --cluster-signing-cert-file/--cluster-signing-key-file",
              node, s->name, secs);
}

/* Starts node i in slot s: key, CSR, POST. */
static int slot_begin(struct slot *s, size_t i)
{
    struct tk_bootstrap *bs = s->bs;
    const char *node = node_name(bs, i);
    struct tk_err e = {0};
    struct tk_buf b;
    char cn[96], *csr = NULL;

    snprintf(cn, sizeof(cn), "system:node:%s", node);
    if (tk_pki_csr_new(cn, ORG, &csr, &s->key_pem, &e) ||
        tk_bootstrap_csr_name(s->key_pem, node, s->name, &e)) {
        free(csr);
        fail(bs, &e);
        return -1;
    }
    s->node = i;
    s->request = b64_encode((const unsigned char *)csr, strlen(csr), 0);
    tk_buf_init(&b, 0);
    tk_bootstrap_csr_body(&b, s->name, csr);
    s->body = tk_buf_detach(&b);
    free(csr);
    s->started_ns = tk_now_ns();
    bs->st.inflight++;
    tk_timer_start(bs->loop, &s->deadline, s->started_ns + bs->o.timeout_ns);
    post_send(s);
    return 0;
}

static void pump(struct tk_bootstrap *bs)
{
    for (int k = 0; k < bs->nslots && bs->todo_next < bs->ntodo && !bs->stopped; k++) {
        struct slot *s = &bs->slots[k];
        if (s->step != S_IDLE)
            continue;
        if (slot_begin(s, bs->todo[bs->todo_next++]))
            return;
    }
}

static void progress_fire(struct tk_timer *t, void *ud)
{
    struct tk_bootstrap *bs = ud;
    log_progress(bs);
    tk_timer_start(bs->loop, t, tk_now_ns() + PROGRESS_NS);
}

struct tk_bootstrap *tk_bootstrap_new(struct tk_loop *loop, const struct tk_bootstrap_opts *opts,
                                      struct tk_err *err)
{
    struct tk_bootstrap *bs;

    if (!opts || !opts->kube || !opts->name_of || !opts->on_cert) {
        tk_err_set(err, TK_EINVAL, "bootstrap needs a client, node names and a callback");
        return NULL;
    }
    bs = tk_xcalloc(1, sizeof(*bs));
    bs->loop = loop;
    bs->o = *opts;
    if (bs->o.concurrency <= 0)
        bs->o.concurrency = DEFAULT_CONCURRENCY;
    if (bs->o.timeout_ns <= 0)
        bs->o.timeout_ns = DEFAULT_TIMEOUT_NS;
    bs->cert_dir = opts->cert_dir ? tk_xstrdup(opts->cert_dir) : NULL;
    bs->o.cert_dir = bs->cert_dir;
    bs->nslots = bs->o.concurrency;
    bs->slots = tk_xcalloc((size_t)bs->nslots, sizeof(*bs->slots));
    for (int k = 0; k < bs->nslots; k++) {
        bs->slots[k].bs = bs;
        tk_timer_init(&bs->slots[k].deadline, deadline_fire, &bs->slots[k]);
        tk_timer_init(&bs->slots[k].retry, retry_fire, &bs->slots[k]);
    }
    bs->todo = tk_xcalloc(bs->o.nodes ? bs->o.nodes : 1, sizeof(*bs->todo));
    tk_timer_init(&bs->progress, progress_fire, bs);
    return bs;
}

static int ensure_dir(const char *dir, struct tk_err *err)
{
    struct stat st;
    if (mkdir(dir, 0700) == 0 || (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)))
        return 0;
    return tk_err_set(err, TK_EIO, "--cert-dir '%s': %s", dir,
                      errno == EEXIST ? "not a directory" : strerror(errno));
}

/* Hands out the identities cert_dir still holds; queues the other nodes. */
static void scan_cache(struct tk_bootstrap *bs)
{
    for (size_t i = 0; i < bs->o.nodes && !bs->stopped; i++) {
        char *cert = NULL, *key = NULL;
        struct tk_err e = {0};
        int rc = bs->cert_dir ? tk_bootstrap_cache_load(bs->cert_dir, node_name(bs, i),
                                                        CACHE_MIN_VALID_S, &cert, &key, &e)
                              : TK_ENOTFOUND;
        if (rc == 0) {
            bs->st.cached++;
            bs->st.pending--;
            bs->o.on_cert(bs->o.ud, i, cert, key, 1);
        } else {
            if (rc != TK_ENOTFOUND)
                tk_warn("cached node certificate not usable, bootstrapping again",
                        "node=%s why=\"%s\"", node_name(bs, i), e.msg);
            bs->todo[bs->ntodo++] = i;
        }
        free(cert);
        free_secret(key);
    }
}

int tk_bootstrap_start(struct tk_bootstrap *bs, struct tk_err *err)
{
    int rc;
    if (bs->cert_dir && (rc = ensure_dir(bs->cert_dir, err)))
        return rc;
    bs->start_ns = tk_now_ns();
    bs->st.pending = bs->o.nodes;
    scan_cache(bs);
    if (bs->stopped)
        return 0;
    tk_info("bootstrapping node certificates",
            "nodes=%zu cached=%llu to_request=%zu "
            "concurrency=%d",
            bs->o.nodes, (unsigned long long)bs->st.cached, bs->ntodo, bs->nslots);
    maybe_done(bs);
    if (!bs->done_logged)
        tk_timer_start(bs->loop, &bs->progress, tk_now_ns() + PROGRESS_NS);
    pump(bs);
    return 0;
}

void tk_bootstrap_stop(struct tk_bootstrap *bs)
{
    if (!bs || bs->stopped)
        return;
    bs->stopped = 1;
    for (int k = 0; k < bs->nslots; k++)
        slot_clear(&bs->slots[k]);
    tk_timer_stop(bs->loop, &bs->progress);
}

void tk_bootstrap_free(struct tk_bootstrap *bs)
{
    if (!bs)
        return;
    tk_bootstrap_stop(bs);
    free(bs->slots);
    free(bs->todo);
    free(bs->cert_dir);
    free(bs);
}

void tk_bootstrap_get_stats(const struct tk_bootstrap *bs, struct tk_bootstrap_stats *out)
{
    *out = bs->st;
}
