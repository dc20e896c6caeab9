#ifndef TK_AGENT_BOOTSTRAP_H
#define TK_AGENT_BOOTSTRAP_H

/* TLS bootstrap of node client identities, as a kubelet started with --bootstrap-kubeconfig
 * does (pkg/kubelet/certificate/bootstrap): authenticated by a bootstrap token
 * (system:bootstrap:<id>, group system:bootstrappers), each node makes a fresh P-256 key and a
 * CSR for CN system:node:NAME, O system:nodes, POSTs a certificates.k8s.io/v1
 * CertificateSigningRequest named node-csr-<digest of key, subject and usages> with signerName
 * kubernetes.io/kube-apiserver-client-kubelet and usages [digital signature, client auth],
 * then LIST+WATCHes it (fieldSelector metadata.name=NAME) until status.certificate is set:
 * approved by kube-controller-manager's csrapproving controller (the requester may create
 * certificatesigningrequests/nodeclient) and signed by its csrsigning controller.
 *
 * At most `concurrency` nodes are between POST and certificate at once; the others wait. A
 * denied or failed CSR, a refused token (401), a forbidden POST (403), a deleted CSR or one
 * not issued within the timeout stops the whole bootstrap with one error naming the likely
 * missing piece (fail fast: these are cluster-wide misconfigurations, not one node's luck).
 *
 * With a cert_dir, each issued certificate and its key are kept in
 * cert_dir/kubelet-client-NAME.pem (certificate then key, 0600: the kubelet's
 * kubelet-client-current.pem, one per node), and a later start reuses every one that is
 * still valid for an hour and names the node: no CSR for those.
 *
 * Everything runs on the loop thread. */

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "err.h"
#include "kube.h"
#include "loop.h"

#define TK_BOOTSTRAP_SIGNER "kubernetes.io/kube-apiserver-client-kubelet"
#define TK_BOOTSTRAP_CSR_PATH "/apis/certificates.k8s.io/v1/certificatesigningrequests"
#define TK_BOOTSTRAP_NAME_MAX 64 /* "node-csr-" + 43 base64url characters + NUL */

/* ---- pure pieces (unit tested) ---- */

/* The kubelet's CSR name: "node-csr-" + base64url (unpadded) of SHA-512/256 over
 * b64url(SubjectPublicKeyInfo DER) "|" b64url(CN) "|" b64url(O) "|" b64url(usage) "|" for
 * each usage, with CN system:node:NODE, O system:nodes and the usages we send. A retry with
 * the same key names the same object (409 then means "ours, already there"). Returns 0 or
 * TK_ETLS when key_pem does not parse. */
int tk_bootstrap_csr_name(const char *key_pem, const char *node, char out[TK_BOOTSTRAP_NAME_MAX],
                          struct tk_err *err);

/* Appends the CertificateSigningRequest JSON body: metadata.name, spec.request (base64 of
 * csr_pem), spec.signerName TK_BOOTSTRAP_SIGNER, spec.usages. No expirationSeconds: the
 * signer's --cluster-signing-duration applies, as for a kubelet. */
void tk_bootstrap_csr_body(struct tk_buf *out, const char *name, const char *csr_pem);

enum tk_csr_phase {
    TK_CSR_PENDING,  /* no condition yet */
    TK_CSR_APPROVED, /* Approved, no certificate yet: waiting for a signer */
    TK_CSR_ISSUED,   /* Approved and status.certificate set */
    TK_CSR_DENIED,
    TK_CSR_FAILED,
};

struct tk_csr_status {
    enum tk_csr_phase phase;
    char uid[48];
    char reason[64], message[160]; /* of the Denied or Failed condition */
    char *cert_pem;                /* ISSUED: decoded status.certificate (heap) */
};

/* Reads a CertificateSigningRequest object (borrowed) into st: uid, phase (Denied and Failed
 * win over Approved, as in client-go's WaitForCertificate), and for ISSUED the certificate
 * decoded from base64. Returns 0, or -1 for an object without metadata.uid or with a
 * certificate that is not base64 (st->cert_pem NULL). Release with
 * tk_bootstrap_csr_status_release. */
int tk_bootstrap_csr_parse(const cJSON *obj, struct tk_csr_status *st);
void tk_bootstrap_csr_status_release(struct tk_csr_status *st);

/* dir/kubelet-client-NODE.pem into *cert_pem and *key_pem (heap; caller frees) when it holds
 * a client certificate for system:node:NODE valid for at least min_valid_s more seconds and
 * its key. TK_ENOTFOUND when there is no file; TK_ETLS (err says why) when it is unusable;
 * TK_EIO when unreadable. */
int tk_bootstrap_cache_load(const char *dir, const char *node, long min_valid_s, char **cert_pem,
                            char **key_pem, struct tk_err *err);

/* Writes dir/kubelet-client-NODE.pem (certificate, then key; 0600, atomically). TK_EIO. */
int tk_bootstrap_cache_store(const char *dir, const char *node, const char *cert_pem,
                             const char *key_pem, struct tk_err *err);

/* ---- the runtime ---- */

struct tk_bootstrap;

/* Node i has its identity. The PEMs are borrowed for the call. from_cache: read from
 * cert_dir rather than issued now. */
typedef void (*tk_bootstrap_cert_fn)(void *ud, size_t i, const char *cert_pem, const char *key_pem,
                                     int from_cache);
/* The bootstrap cannot go on (err borrowed for the call); nothing more is sent and no callback
 * runs afterwards. Called at most once. */
typedef void (*tk_bootstrap_fail_fn)(void *ud, const struct tk_err *err);

struct tk_bootstrap_opts {
    struct tk_kube *kube; /* the bootstrap identity (borrowed; outlives the bootstrapper) */
    size_t nodes;         /* node indexes 0..nodes-1 */
    const char *(*name_of)(void *ud, size_t i); /* node name of index i (borrowed) */
    const char *cert_dir;                       /* NULL: no cache */
    int concurrency;    /* nodes between POST and certificate at once; <= 0: 32 */
    int64_t timeout_ns; /* per node, POST to certificate; <= 0: 2 min */
    tk_bootstrap_cert_fn on_cert;
    tk_bootstrap_fail_fn on_fail;
    void *ud;
};

/* Copies opts (cert_dir included). Nothing is sent yet. Returns NULL with err (TK_EINVAL) when
 * opts lack kube, name_of or on_cert. Caller frees. */
struct tk_bootstrap *tk_bootstrap_new(struct tk_loop *loop, const struct tk_bootstrap_opts *opts,
                                      struct tk_err *err);

/* Creates cert_dir (0700) when missing, hands out the cached identities (on_cert, from this
 * call's stack) and starts CSRs for the rest. Returns 0, or TK_EIO when cert_dir cannot be
 * created (nothing started). Progress is logged every 5 s and once all are done. */
int tk_bootstrap_start(struct tk_bootstrap *bs, struct tk_err *err);

/* Stops: requests cancelled, watches and timers stopped, no callback afterwards. Idempotent;
 * allowed from inside its own callbacks. */
void tk_bootstrap_stop(struct tk_bootstrap *bs);

/* Frees (NULL-safe); stops first. Not from inside its own callbacks. */
void tk_bootstrap_free(struct tk_bootstrap *bs);

struct tk_bootstrap_stats {
    uint64_t issued;  /* certificates obtained by CSR */
    uint64_t cached;  /* identities reused from cert_dir */
    uint64_t pending; /* nodes still without an identity */
    uint64_t inflight;
    uint64_t csr_posts; /* CertificateSigningRequests created */
    double wait_s_max;  /* longest POST-to-certificate wait so far */
};

void tk_bootstrap_get_stats(const struct tk_bootstrap *bs, struct tk_bootstrap_stats *out);

#endif
