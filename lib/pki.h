#ifndef TK_PKI_H
#define TK_PKI_H

/* PKI for the local control plane and for fake node identities (minted from a CA, or requested
 * by CSR in a TLS bootstrap), on OpenSSL 3 (EVP APIs only).
 *
 * Every key we create is ECDSA P-256 (cheap to mint by the thousand), every signature SHA-256,
 * every serial number 128 random bits. Leaf certificates are valid from one hour ago (clock
 * skew between components) to one year from now; the CA for ten years. Everything is PEM:
 * certificates "CERTIFICATE", private keys PKCS#8 "PRIVATE KEY", public keys SubjectPublicKeyInfo
 * "PUBLIC KEY" -- the forms kube-apiserver, etcd and client-go all read.
 *
 * Files are written atomically (a temporary file created O_EXCL with its final mode before
 * anything is written, then renamed): private keys 0600, certificates and public keys 0644.
 *
 * Errors: TK_EIO for files that cannot be read or written, TK_ETLS for PEM that does not parse,
 * keys that do not match their certificate and OpenSSL failures (with OpenSSL's reason),
 * TK_EINVAL for bad arguments (an unparsable SAN, an empty CN). Messages name the file; they
 * never carry key or certificate data. */

#include "err.h"

/* A CA ready to sign: its parsed certificate and private key plus reusable signing state, so
 * that minting thousands of node certificates parses nothing and allocates little. Not
 * thread-safe (one thread, one event loop). */
struct tk_pki_ca;

struct tk_pki_opts {
    const char *const *extra_sans; /* NULL-terminated; each an IP or DNS name; may be NULL */
    const char *service_ip;        /* kubernetes service IP; "10.96.0.1" when NULL */
};

/* Creates, or keeps when they exist and are still good, the control-plane PKI in dir (which
 * must exist; it is not created):
 *   ca.crt ca.key                        cluster CA, CN turbokube-ca, basicConstraints CA:TRUE
 *                                        critical, keyUsage keyCertSign,cRLSign critical
 *   apiserver.crt/.key                   CN kube-apiserver, EKU serverAuth, SANs IP 127.0.0.1,
 *                                        DNS localhost, IP <service_ip>, DNS kubernetes,
 *                                        kubernetes.default, kubernetes.default.svc,
 *                                        kubernetes.default.svc.cluster.local, then extra_sans
 *   apiserver-kubelet-client.crt/.key    CN kube-apiserver-kubelet-client, O system:masters,
 *                                        EKU clientAuth
 *   admin.crt/.key                       CN turbokube-admin, O system:masters, EKU clientAuth
 *   kube-scheduler.crt/.key              CN system:kube-scheduler, EKU clientAuth
 *   kube-controller-manager.crt/.key     CN system:kube-controller-manager, EKU clientAuth
 *   sa.key sa.pub                        service-account token signing pair (EC P-256)
 * Leaves carry basicConstraints CA:FALSE, keyUsage digitalSignature (critical), subject and
 * authority key identifiers.
 *
 * What is kept and what is replaced:
 *   - The CA and sa.key are roots of trust: when present they are kept, and when they cannot
 *     be used (corrupt PEM, key not matching ca.crt, only one of ca.crt/ca.key present,
 *     expired CA) the call fails with an error naming the file rather than replacing them.
 *     Absent, they are generated.
 *   - A leaf pair is kept only when both files parse, the key matches, the certificate was
 *     signed by this CA, is valid for at least 30 more days and has the expected subject, EKU
 *     and (apiserver) every requested SAN; otherwise it is regenerated. So changing extra_sans
 *     re-issues apiserver.crt alone. A leaf file that exists but cannot be read is an error.
 *   - sa.pub is rewritten from sa.key when missing or not matching.
 * A second call with the same options changes no file. opts may be NULL (defaults).
 * Returns 0 or the error code (err set). */
int tk_pki_ensure(const char *dir, const struct tk_pki_opts *opts, struct tk_err *err);

/* Mints a client certificate signed by ca: subject O=org (omitted when org is NULL), CN=cn;
 * EKU clientAuth; a fresh P-256 key. For node identities cn is "system:node:NAME" and org
 * "system:nodes". On success *cert_pem and *key_pem are heap PEM strings the caller frees;
 * on failure both are NULL. ca is borrowed. Well under a millisecond per call. */
int tk_pki_mint_client(const struct tk_pki_ca *ca, const char *cn, const char *org, char **cert_pem,
                       char **key_pem, struct tk_err *err);

/* Mints a serving certificate signed by ca: CN cn, EKU serverAuth, subjectAltName from sans
 * (NULL-terminated; each entry an IPv4/IPv6 address or a DNS name, "*.x" allowed; sans may be
 * NULL for none). Ownership and errors as tk_pki_mint_client(); a SAN that is neither an IP
 * nor a valid DNS name is TK_EINVAL. */
int tk_pki_mint_serving(const struct tk_pki_ca *ca, const char *cn, const char *const *sans,
                        char **cert_pem, char **key_pem, struct tk_err *err);

/* Loads a CA from a PEM certificate and a PEM private key (unencrypted; any key type OpenSSL
 * signs with: EC, RSA, Ed25519), e.g. dir/ca.crt and dir/ca.key, or a foreign cluster's CA.
 * The certificate must be a CA (basicConstraints CA:TRUE, keyCertSign when keyUsage is
 * present) and the key must match it. On success *out is a new handle (tk_pki_ca_free());
 * on failure *out is NULL and err names the file: TK_EIO unreadable, TK_ETLS bad PEM, key
 * mismatch, not a CA. */
int tk_pki_ca_load(struct tk_pki_ca **out, const char *cert_path, const char *key_path,
                   struct tk_err *err);

/* Frees a CA handle; NULL-safe. */
void tk_pki_ca_free(struct tk_pki_ca *ca);

/* Makes a self-signed serving certificate for when no CA is at hand (the agent's kubelet
 * endpoint against a foreign cluster): CN cn, basicConstraints CA:FALSE, EKU serverAuth, SANs
 * as tk_pki_mint_serving(). It verifies when the certificate itself is the trust anchor.
 * Nothing is written to disk: *cert_pem and *key_pem are heap PEM strings the caller frees
 * (both NULL on failure). */
int tk_pki_self_signed(const char *cn, const char *const *sans, char **cert_pem, char **key_pem,
                       struct tk_err *err);

/* ---- TLS bootstrap (a node asks the cluster for its identity) ---- */

/* Makes a PKCS#10 certificate request with a fresh P-256 key: subject O=org (omitted when org
 * is NULL), CN=cn, as UTF8Strings; no attributes or extensions (no SANs); signed ECDSA with
 * SHA-256 -- what a kubelet sends for its client certificate (certutil.MakeCSR with a subject
 * only). On success *csr_pem ("CERTIFICATE REQUEST") and *key_pem (PKCS#8) are heap strings
 * the caller frees; on failure both are NULL. TK_EINVAL for an empty cn or org. */
int tk_pki_csr_new(const char *cn, const char *org, char **csr_pem, char **key_pem,
                   struct tk_err *err);

/* The DER SubjectPublicKeyInfo of the private key in key_pem (Go's x509.MarshalPKIXPublicKey
 * of its public half), for naming a request after its key. *der is heap (caller frees), *len
 * its size. TK_ETLS when key_pem does not parse. */
int tk_pki_pubkey_der(const char *key_pem, unsigned char **der, size_t *len, struct tk_err *err);

/* Whether a client certificate and key (PEM) can be used as the identity O=org, CN=cn: both
 * parse, the key matches, the subject is exactly those entries (O absent when org is NULL),
 * the extended key usage (when present) allows clientAuth, and it is valid now and for at
 * least min_valid_s more seconds. The chain is not verified (the signer's CA need not be at
 * hand). Returns 0, or TK_ETLS with err saying why ("subject differs", "expired", ...). */
int tk_pki_client_check(const char *cert_pem, const char *key_pem, const char *cn, const char *org,
                        long min_valid_s, struct tk_err *err);

/* Writes data to dir/name atomically with exactly mode, as the PKI files are written (0600 for
 * anything holding a key). TK_EIO naming the file. */
int tk_pki_write_file(const char *dir, const char *name, const char *data, unsigned mode,
                      struct tk_err *err);

/* Reads a small file (at most 1 MiB) into a heap string (caller frees; cleanse it when it
 * holds a key). TK_ENOTFOUND when it does not exist, TK_EIO otherwise. */
int tk_pki_read_file(const char *path, char **data, struct tk_err *err);

#endif
