/* TLS bootstrap pieces: the CSR a node sends (checked with OpenSSL's own parser and verifier
 * against what kube-controller-manager's approver accepts), its name (a vector computed with
 * Go's crypto, as the kubelet's digestedName does), the CertificateSigningRequest body, the
 * reading of its status, and the certificate cache. */

#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include "bootstrap.h"

#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "pki.h"
#include "tktest.h"
#include "tktest_tmp.h"

/* A fixed P-256 key, and the name Go gives a kubelet CSR for it and node tk-node-00042:
 * sha512.New512_256 over b64url(MarshalPKIXPublicKey) "|" b64url(CN) "|" b64url(O) "|"
 * b64url("digital signature") "|" b64url("client auth") "|", as in
 * pkg/kubelet/certificate/bootstrap digestedName (computed once with go 1.25). */
static const char fixed_key[] = "-----BEGIN PRIVATE KEY-----\n"
                                "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg0Bijev3A9pkAw/Qj\n"
                                "ufZmKQPEHmKntrDOqS5oZ6vm/UehRANCAATexJ0hAt5JBqZ0GDvkijz8USi081q6\n"
                                "Re+IqVPtBRJFp53LcycyD+zSHY7V0ESdmh15Z2fDmHpBTb7trAitm3Nl\n"
                                "-----END PRIVATE KEY-----\n";
static const char fixed_name[] = "node-csr-5Yi6ZBAOibVgtXfcwOLUKWpHQB6djHjoS6NzT9FC9C0";

static X509_REQ *req_parse(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509_REQ *r = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
    BIO_free(b);
    return r;
}

static EVP_PKEY *key_parse(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    return k;
}

/* The UTF-8 text of entry idx of name, or "" (static buffer). */
static const char *entry_text(const X509_NAME *name, int idx, int *nid)
{
    static char buf[256];
    X509_NAME_ENTRY *e = X509_NAME_get_entry(name, idx);
    unsigned char *u = NULL;
    int n = e ? ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(e)) : -1;
    buf[0] = '\0';
    *nid = e ? OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) : NID_undef;
    if (n >= 0)
        snprintf(buf, sizeof(buf), "%.*s", n, (const char *)u);
    OPENSSL_free(u);
    return buf;
}

TK_TEST(csr_is_what_the_kubelet_approver_accepts)
{
    char *csr = NULL, *key = NULL, group[32];
    struct tk_err err = {0};
    X509_REQ *r;
    EVP_PKEY *pub, *priv;
    const X509_NAME *subj;
    const X509_ALGOR *alg = NULL;
    STACK_OF(X509_EXTENSION) * exts;
    size_t glen = 0;
    int nid;

    CHECK_INT(tk_pki_csr_new("system:node:tk-node-00007", "system:nodes", &csr, &key, &err), 0);
    CHECK_CONTAINS(csr, "-----BEGIN CERTIFICATE REQUEST-----");
    CHECK_CONTAINS(key, "-----BEGIN PRIVATE KEY-----");
    r = req_parse(csr);
    CHECK(r != NULL);
    CHECK_INT(X509_REQ_get_version(r), 0);
    /* the signature verifies with the request's own key, ECDSA with SHA-256 */
    pub = X509_REQ_get0_pubkey(r);
    CHECK(pub != NULL);
    CHECK_INT(X509_REQ_verify(r, pub), 1);
    X509_REQ_get0_signature(r, NULL, &alg);
    CHECK_INT(OBJ_obj2nid(alg->algorithm), NID_ecdsa_with_SHA256);
    /* EC P-256, and the private key handed back is its pair */
    CHECK(EVP_PKEY_is_a(pub, "EC"));
    CHECK_INT(EVP_PKEY_get_group_name(pub, group, sizeof(group), &glen), 1);
    CHECK_STR(group, "prime256v1");
    priv = key_parse(key);
    CHECK(priv != NULL);
    CHECK_INT(EVP_PKEY_eq(pub, priv), 1);
    /* subject exactly O=system:nodes, CN=system:node:NAME (ValidateKubeletClientCSR) */
    subj = X509_REQ_get_subject_name(r);
    CHECK_INT(X509_NAME_entry_count(subj), 2);
    CHECK_STR(entry_text(subj, 0, &nid), "system:nodes");
    CHECK_INT(nid, NID_organizationName);
    CHECK_STR(entry_text(subj, 1, &nid), "system:node:tk-node-00007");
    CHECK_INT(nid, NID_commonName);
    /* no SANs of any kind: no extension request at all */
    exts = X509_REQ_get_extensions(r);
    CHECK_INT(exts ? sk_X509_EXTENSION_num(exts) : 0, 0);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    CHECK_INT(X509_REQ_get_attr_count(r), 0);
    EVP_PKEY_free(priv);
    X509_REQ_free(r);
    free(csr);
    free(key);

    CHECK_INT(tk_pki_csr_new("", "system:nodes", &csr, &key, &err), TK_EINVAL);
    CHECK(csr == NULL && key == NULL);
}

TK_TEST(csr_name_matches_the_kubelets)
{
    char name[TK_BOOTSTRAP_NAME_MAX], other[TK_BOOTSTRAP_NAME_MAX];
    char *csr = NULL, *key = NULL;
    struct tk_err err = {0};

    CHECK_INT(tk_bootstrap_csr_name(fixed_key, "tk-node-00042", name, &err), 0);
    CHECK_STR(name, fixed_name);
    CHECK_INT(tk_bootstrap_csr_name(fixed_key, "tk-node-00043", other, &err), 0);
    CHECK(strcmp(name, other) != 0);
    /* a fresh key, a fresh name of the same shape */
    CHECK_INT(tk_pki_csr_new("system:node:tk-node-00042", "system:nodes", &csr, &key, &err), 0);
    CHECK_INT(tk_bootstrap_csr_name(key, "tk-node-00042", other, &err), 0);
    CHECK(strcmp(name, other) != 0);
    CHECK_INT(strlen(other), strlen(fixed_name));
    CHECK(strspn(other + 9, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          strlen(other) - 9);
    free(csr);
    free(key);
    CHECK_INT(tk_bootstrap_csr_name("not a key", "n", name, &err), TK_ETLS);
}

TK_TEST(csr_body)
{
    struct tk_buf b;
    char *csr = NULL, *key = NULL, dec[4096];
    struct tk_err err = {0};
    cJSON *o, *u;
    const char *req;
    int n;

    CHECK_INT(tk_pki_csr_new("system:node:n1", "system:nodes", &csr, &key, &err), 0);
    tk_buf_init(&b, 0);
    tk_bootstrap_csr_body(&b, "node-csr-abc", csr);
    o = cJSON_Parse(b.data);
    CHECK(o != NULL);
    CHECK_STR(cJSON_GetObjectItem(o, "apiVersion")->valuestring, "certificates.k8s.io/v1");
    CHECK_STR(cJSON_GetObjectItem(o, "kind")->valuestring, "CertificateSigningRequest");
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "name")->valuestring,
              "node-csr-abc");
    {
        cJSON *spec = cJSON_GetObjectItem(o, "spec");
        CHECK_STR(cJSON_GetObjectItem(spec, "signerName")->valuestring,
                  "kubernetes.io/kube-apiserver-client-kubelet");
        CHECK(cJSON_GetObjectItem(spec, "expirationSeconds") == NULL);
        u = cJSON_GetObjectItem(spec, "usages");
        CHECK_INT(cJSON_GetArraySize(u), 2);
        CHECK_STR(cJSON_GetArrayItem(u, 0)->valuestring, "digital signature");
        CHECK_STR(cJSON_GetArrayItem(u, 1)->valuestring, "client auth");
        req = cJSON_GetObjectItem(spec, "request")->valuestring;
        CHECK(strlen(req) < sizeof(dec));
        n = EVP_DecodeBlock((unsigned char *)dec, (const unsigned char *)req, (int)strlen(req));
        CHECK(n > 0);
        while (n > 0 && req[strlen(req) - 1] == '=' && dec[n - 1] == '\0') /* padding */
            n--;
        CHECK_INT(n, strlen(csr));
        CHECK(memcmp(dec, csr, (size_t)n) == 0);
    }
    cJSON_Delete(o);
    tk_buf_release(&b);
    free(csr);
    free(key);
}

static int parse_json(const char *text, struct tk_csr_status *st)
{
    cJSON *o = cJSON_Parse(text);
    int rc = o ? tk_bootstrap_csr_parse(o, st) : -2;
    cJSON_Delete(o);
    return rc;
}

TK_TEST(csr_status)
{
    struct tk_csr_status st;
    /* "-----BEGIN CERTIFICATE-----\nMII=\n" in base64 */
    static const char issued[] =
        "{\"metadata\":{\"uid\":\"u1\"},\"status\":{\"conditions\":[{\"type\":\"Approved\","
        "\"status\":\"True\",\"reason\":\"AutoApproved\"}],\"certificate\":"
        "\"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JST0K\"}}";

    CHECK_INT(parse_json("{\"metadata\":{\"uid\":\"u1\"},\"spec\":{}}", &st), 0);
    CHECK_INT(st.phase, TK_CSR_PENDING);
    CHECK_STR(st.uid, "u1");
    CHECK_INT(parse_json("{\"metadata\":{\"uid\":\"u1\"},\"status\":{\"conditions\":[{\"type\":"
                         "\"Approved\",\"status\":\"True\"}]}}",
                         &st),
              0);
    CHECK_INT(st.phase, TK_CSR_APPROVED);
    CHECK(st.cert_pem == NULL);
    /* a condition that is not True does not count */
    CHECK_INT(parse_json("{\"metadata\":{\"uid\":\"u1\"},\"status\":{\"conditions\":[{\"type\":"
                         "\"Approved\",\"status\":\"False\"}]}}",
                         &st),
              0);
    CHECK_INT(st.phase, TK_CSR_PENDING);
    CHECK_INT(parse_json(issued, &st), 0);
    CHECK_INT(st.phase, TK_CSR_ISSUED);
    CHECK_STR(st.cert_pem, "-----BEGIN CERTIFICATE-----\nMII=\n");
    tk_bootstrap_csr_status_release(&st);
    CHECK(st.cert_pem == NULL);
    /* Denied wins over an earlier Approved, with its reason and message */
    CHECK_INT(parse_json("{\"metadata\":{\"uid\":\"u1\"},\"status\":{\"conditions\":[{\"type\":"
                         "\"Approved\",\"status\":\"True\"},{\"type\":\"Denied\",\"status\":"
                         "\"True\",\"reason\":\"KubectlDeny\",\"message\":\"no\"}]}}",
                         &st),
              0);
    CHECK_INT(st.phase, TK_CSR_DENIED);
    CHECK_STR(st.reason, "KubectlDeny");
    CHECK_STR(st.message, "no");
    CHECK_INT(parse_json("{\"metadata\":{\"uid\":\"u1\"},\"status\":{\"conditions\":[{\"type\":"
                         "\"Failed\",\"status\":\"True\",\"reason\":\"SignerValidationFailure\"}]"
                         "}}",
                         &st),
              0);
    CHECK_INT(st.phase, TK_CSR_FAILED);
    CHECK_STR(st.reason, "SignerValidationFailure");
    CHECK_INT(parse_json("{\"metadata\":{},\"status\":{}}", &st), -1);
    CHECK_INT(parse_json("{\"metadata\":{\"uid\":\"u1\"},\"status\":{\"conditions\":[{\"type\":"
                         "\"Approved\"}],\"certificate\":\"not*base64\"}}",
                         &st),
              -1);
    CHECK(st.cert_pem == NULL);
}

TK_TEST(cache_round_trip_and_refusals)
{
    struct tk_pki_ca *ca = NULL;
    char *cert = NULL, *key = NULL, *c2 = NULL, *k2 = NULL, *other = NULL, *okey = NULL;
    char crt[300], cak[300], dir[256], pki[256], n1[300], n2[300];
    struct tk_err err = {0};
    struct stat st;

    /* tk_test_tmp_path returns a static buffer: copy what is kept */
    snprintf(pki, sizeof(pki), "%s", tk_test_tmp_path("pki"));
    snprintf(dir, sizeof(dir), "%s", tk_test_tmp_path("certs"));
    snprintf(n1, sizeof(n1), "%s/kubelet-client-n1.pem", dir);
    snprintf(n2, sizeof(n2), "%s/kubelet-client-n2.pem", dir);
    CHECK_INT(mkdir(pki, 0700), 0);
    CHECK_INT(mkdir(dir, 0700), 0);
    CHECK_INT(tk_pki_ensure(pki, NULL, &err), 0);
    snprintf(crt, sizeof(crt), "%s/ca.crt", pki);
    snprintf(cak, sizeof(cak), "%s/ca.key", pki);
    CHECK_INT(tk_pki_ca_load(&ca, crt, cak, &err), 0);
    CHECK_INT(tk_pki_mint_client(ca, "system:node:n1", "system:nodes", &cert, &key, &err), 0);

    CHECK_INT(tk_bootstrap_cache_load(dir, "n1", 3600, &c2, &k2, &err), TK_ENOTFOUND);
    memset(&err, 0, sizeof(err));
    CHECK_INT(tk_bootstrap_cache_store(dir, "n1", cert, key, &err), 0);
    CHECK_INT(stat(n1, &st), 0);
    CHECK_INT(st.st_mode & 0777, 0600);
    CHECK_INT(tk_bootstrap_cache_load(dir, "n1", 3600, &c2, &k2, &err), 0);
    CHECK_STR(c2, cert);
    CHECK_STR(k2, key);
    free(c2);
    free(k2);
    /* not for a certificate that expires within the margin (ours last a year) */
    CHECK_INT(tk_bootstrap_cache_load(dir, "n1", 400L * 86400, &c2, &k2, &err), TK_ETLS);
    CHECK_CONTAINS(err.msg, "expir");
    CHECK(c2 == NULL && k2 == NULL);
    memset(&err, 0, sizeof(err));
    /* another node's file under this node's name */
    CHECK_INT(rename(n1, n2), 0);
    CHECK_INT(tk_bootstrap_cache_load(dir, "n2", 3600, &c2, &k2, &err), TK_ETLS);
    CHECK_CONTAINS(err.msg, "subject differs");
    memset(&err, 0, sizeof(err));
    /* a key that is not the certificate's */
    CHECK_INT(tk_pki_mint_client(ca, "system:node:n3", "system:nodes", &other, &okey, &err), 0);
    CHECK_INT(tk_bootstrap_cache_store(dir, "n3", other, key, &err), 0);
    CHECK_INT(tk_bootstrap_cache_load(dir, "n3", 3600, &c2, &k2, &err), TK_ETLS);
    CHECK_CONTAINS(err.msg, "key does not match");
    memset(&err, 0, sizeof(err));
    /* the certificate alone */
    CHECK_INT(tk_pki_write_file(dir, "kubelet-client-n4.pem", other, 0600, &err), 0);
    CHECK_INT(tk_bootstrap_cache_load(dir, "n4", 3600, &c2, &k2, &err), TK_ETLS);
    CHECK_CONTAINS(err.msg, "private key");
    /* a serving certificate is no client identity */
    memset(&err, 0, sizeof(err));
    free(other);
    free(okey);
    CHECK_INT(tk_pki_mint_serving(ca, "system:node:n5", NULL, &other, &okey, &err), 0);
    CHECK_INT(tk_pki_client_check(other, okey, "system:node:n5", NULL, 0, &err), TK_ETLS);
    CHECK_CONTAINS(err.msg, "client");
    tk_pki_ca_free(ca);
    free(cert);
    free(key);
    free(other);
    free(okey);
}

TK_TEST_MAIN(csr_is_what_the_kubelet_approver_accepts, csr_name_matches_the_kubelets, csr_body,
             csr_status, cache_round_trip_and_refusals)
