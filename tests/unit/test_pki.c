/* PKI tests: everything is generated at runtime in a mkdtemp directory and checked with
 * OpenSSL's own verifier (X509_verify_cert with purposes), hostname checks and an in-process
 * TLS handshake over a BIO pair (no sockets at all). */

#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include "buf.h"
#include "err.h"
#include "log.h"
#include "pki.h"
#include "tktest.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static const char *const leaf_names[] = {"apiserver", "apiserver-kubelet-client", "admin",
                                         "kube-scheduler", "kube-controller-manager"};
#define N_LEAVES (sizeof(leaf_names) / sizeof(leaf_names[0]))

static const char *const all_files[] = {
    "ca.crt",
    "ca.key",
    "apiserver.crt",
    "apiserver.key",
    "apiserver-kubelet-client.crt",
    "apiserver-kubelet-client.key",
    "admin.crt",
    "admin.key",
    "kube-scheduler.crt",
    "kube-scheduler.key",
    "kube-controller-manager.crt",
    "kube-controller-manager.key",
    "sa.key",
    "sa.pub",
};
#define N_FILES (sizeof(all_files) / sizeof(all_files[0]))

static const char *const extra_sans[] = {"192.168.7.10", "cp.turbokube.test", "fd00::10", NULL};
static const struct tk_pki_opts test_opts = {extra_sans, NULL};

/* ---- helpers ------------------------------------------------------------------------- */

static char *tmpdir_new(void)
{
    const char *base = getenv("TMPDIR");
    char *tmpl = tk_xasprintf("%s/tk-pki-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        abort();
    }
    return tmpl;
}

/* The directory is flat: remove every entry (dotfiles too), then the directory. */
static void tmpdir_free(char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *p = tk_xasprintf("%s/%s", dir, e->d_name);
        unlink(p);
        free(p);
    }
    if (d)
        closedir(d);
    if (rmdir(dir) != 0)
        fprintf(stderr, "  warning: could not remove %s\n", dir);
    free(dir);
}

static char *path_of(const char *dir, const char *name)
{
    return tk_xasprintf("%s/%s", dir, name);
}

/* Whole file as a string, NULL when unreadable. */
static char *file_read(const char *dir, const char *name)
{
    char *p = path_of(dir, name);
    FILE *f = fopen(p, "rb");
    struct tk_buf b;
    char chunk[4096];
    size_t n;
    free(p);
    if (!f)
        return NULL;
    tk_buf_init(&b, 0);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        tk_buf_append(&b, chunk, n);
    fclose(f);
    return tk_buf_detach(&b);
}

static void file_write(const char *dir, const char *name, const char *data)
{
    char *p = path_of(dir, name);
    FILE *f = fopen(p, "wb");
    if (!f || fputs(data, f) < 0 || fclose(f) != 0) {
        perror(p);
        abort();
    }
    free(p);
}

static int file_mode(const char *dir, const char *name)
{
    char *p = path_of(dir, name);
    struct stat st;
    int rc = stat(p, &st);
    free(p);
    return rc == 0 ? (int)(st.st_mode & 07777) : -1;
}

static int file_exists(const char *dir, const char *name)
{
    return file_mode(dir, name) >= 0;
}

static X509 *cert_from_pem(const char *pem)
{
    BIO *b = pem ? BIO_new_mem_buf(pem, -1) : NULL;
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return x;
}

static EVP_PKEY *key_from_pem(const char *pem)
{
    BIO *b = pem ? BIO_new_mem_buf(pem, -1) : NULL;
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return k;
}

static X509 *cert_file(const char *dir, const char *name)
{
    char *pem = file_read(dir, name);
    X509 *x = cert_from_pem(pem);
    free(pem);
    return x;
}

static EVP_PKEY *key_file(const char *dir, const char *name)
{
    char *pem = file_read(dir, name);
    EVP_PKEY *k = key_from_pem(pem);
    free(pem);
    return k;
}

/* X509_verify_cert of leaf against the single trust anchor ca, for purpose (0: none).
 * Returns X509_V_OK or the verification error. */
static int verify_with(X509 *ca, X509 *leaf, int purpose)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int rc = -1;
    if (store && ctx && X509_STORE_add_cert(store, ca) == 1 &&
        X509_STORE_CTX_init(ctx, store, leaf, NULL) == 1 &&
        (!purpose || X509_STORE_CTX_set_purpose(ctx, purpose) == 1)) {
        rc = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return rc;
}

/* RFC 2253 text of a name, "CN=x,O=y"; caller frees. */
static char *name_text(const X509_NAME *name)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL;
    X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253);
    long n = BIO_get_mem_data(b, &p);
    char *s = tk_xstrndup(p ? p : "", n > 0 ? (size_t)n : 0);
    BIO_free(b);
    return s;
}

static char *subject_text(const X509 *x)
{
    return name_text(X509_get_subject_name(x));
}

/* All SANs as ",IP:1.2.3.4,DNS:name," so a test can look for ",DNS:kubernetes,". */
static char *san_text(const X509 *x)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    struct tk_buf b;
    tk_buf_init(&b, 0);
    tk_buf_puts(&b, ",");
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
        int type;
        const ASN1_STRING *v = GENERAL_NAME_get0_value(gn, &type);
        if (type == GEN_DNS) {
            tk_buf_printf(&b, "DNS:%.*s,", ASN1_STRING_length(v),
                          (const char *)ASN1_STRING_get0_data(v));
        } else if (type == GEN_IPADD) {
            char txt[INET6_ADDRSTRLEN] = "?";
            int len = ASN1_STRING_length(v);
            inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(v), txt, sizeof(txt));
            tk_buf_printf(&b, "IP:%s,", txt);
        } else {
            tk_buf_printf(&b, "OTHER:%d,", type);
        }
    }
    GENERAL_NAMES_free(gens);
    return tk_buf_detach(&b);
}

static int ext_critical(const X509 *x, int nid)
{
    int i = X509_get_ext_by_NID(x, nid, -1);
    return i < 0 ? -1 : X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

/* now -> t in seconds */
static long long secs_from_now(const ASN1_TIME *t)
{
    int days = 0, secs = 0;
    if (!ASN1_TIME_diff(&days, &secs, NULL, t))
        return -999999999LL;
    return (long long)days * 86400 + secs;
}

static int ensure_ok(const char *dir, const struct tk_pki_opts *opts)
{
    struct tk_err err = {0};
    int rc = tk_pki_ensure(dir, opts, &err);
    if (rc)
        fprintf(stderr, "  tk_pki_ensure: %s\n", err.msg);
    return rc;
}

/* ---- tests --------------------------------------------------------------------------- */

static void creates_files_with_modes_body(const char *dir)
{
    CHECK_INT(ensure_ok(dir, &test_opts), 0);
    for (size_t i = 0; i < N_FILES; i++) {
        const char *n = all_files[i];
        int is_key = strstr(n, ".key") != NULL;
        int mode = file_mode(dir, n);
        if (mode != (is_key ? 0600 : 0644))
            fprintf(stderr, "  %s: mode %o\n", n, mode);
        CHECK_INT(mode, is_key ? 0600 : 0644);
    }
    /* No temporary files left behind. */
    DIR *d = opendir(dir);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            entries++;
        else
            CHECK(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0);
    closedir(d);
    CHECK_INT(entries, N_FILES);

    /* PEM forms kube-apiserver reads: PKCS#8 private keys, SubjectPublicKeyInfo public key. */
    for (size_t i = 0; i < N_FILES; i++) {
        char *pem = file_read(dir, all_files[i]);
        const char *want = strstr(all_files[i], ".key")   ? "-----BEGIN PRIVATE KEY-----\n"
                           : strstr(all_files[i], ".pub") ? "-----BEGIN PUBLIC KEY-----\n"
                                                          : "-----BEGIN CERTIFICATE-----\n";
        int ok = pem && strncmp(pem, want, strlen(want)) == 0;
        free(pem);
        CHECK(ok);
    }
}

TK_TEST(ensure_creates_files_with_modes)
{
    char *dir = tmpdir_new();
    mode_t old = umask(027); /* modes must not depend on the caller's umask */
    creates_files_with_modes_body(dir);
    umask(old);
    tmpdir_free(dir);
}

static void leaves_verify_body(const char *dir)
{
    CHECK_INT(ensure_ok(dir, &test_opts), 0);
    X509 *ca = cert_file(dir, "ca.crt");
    CHECK(ca != NULL);
    for (size_t i = 0; i < N_LEAVES; i++) {
        char *crt = tk_xasprintf("%s.crt", leaf_names[i]);
        X509 *x = cert_file(dir, crt);
        int server = strcmp(leaf_names[i], "apiserver") == 0;
        int ok = x != NULL;
        int any = ok ? verify_with(ca, x, 0) : -1;
        int right =
            ok ? verify_with(ca, x, server ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT)
               : -1;
        /* The purpose check must bite: a serving cert is no client cert and vice versa. */
        int wrong =
            ok ? verify_with(ca, x, server ? X509_PURPOSE_SSL_CLIENT : X509_PURPOSE_SSL_SERVER)
               : -1;
        if (right != X509_V_OK)
            fprintf(stderr, "  %s: %s\n", crt, X509_verify_cert_error_string(right));
        X509_free(x);
        free(crt);
        CHECK(ok);
        CHECK_INT(any, X509_V_OK);
        CHECK_INT(right, X509_V_OK);
        CHECK_INT(wrong, X509_V_ERR_INVALID_PURPOSE);
    }
    /* And a leaf does not verify against some other CA. */
    char *dir2 = tmpdir_new();
    int rc2 = ensure_ok(dir2, NULL);
    X509 *other_ca = cert_file(dir2, "ca.crt");
    X509 *admin = cert_file(dir, "admin.crt");
    int cross = verify_with(other_ca, admin, X509_PURPOSE_SSL_CLIENT);
    X509_free(other_ca);
    X509_free(admin);
    tmpdir_free(dir2);
    X509_free(ca);
    CHECK_INT(rc2, 0);
    CHECK(cross != X509_V_OK);
}

TK_TEST(ensure_leaves_verify_with_purposes)
{
    char *dir = tmpdir_new();
    leaves_verify_body(dir);
    tmpdir_free(dir);
}

static void apiserver_sans_body(const char *dir)
{
    static const char *const want[] = {
        ",IP:127.0.0.1,",
        ",DNS:localhost,",
        ",IP:10.96.0.1,",
        ",DNS:kubernetes,",
        ",DNS:kubernetes.default,",
        ",DNS:kubernetes.default.svc,",
        ",DNS:kubernetes.default.svc.cluster.local,",
        ",IP:192.168.7.10,",
        ",DNS:cp.turbokube.test,",
        ",IP:fd00::10,",
    };
    CHECK_INT(ensure_ok(dir, &test_opts), 0);
    X509 *x = cert_file(dir, "apiserver.crt");
    CHECK(x != NULL);
    char *sans = san_text(x), *subj = subject_text(x);
    int host_ok = X509_check_host(x, "kubernetes.default.svc", 0, 0, NULL) == 1 &&
                  X509_check_ip_asc(x, "127.0.0.1", 0) == 1 &&
                  X509_check_ip_asc(x, "192.168.7.10", 0) == 1;
    int host_bad =
        X509_check_host(x, "evil.example", 0, 0, NULL) == 1 || X509_check_ip_asc(x, "::1", 0) == 1;
    X509_free(x);
    fprintf(stderr, "  apiserver SANs: %s\n", sans);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (!strstr(sans, want[i])) {
            free(subj);
            CHECK_CONTAINS(sans, want[i]);
        }
    }
    int n = 0;
    for (const char *p = sans; (p = strchr(p + 1, ',')) != NULL;)
        n++;
    free(sans);
    CHECK_INT(n, sizeof(want) / sizeof(want[0])); /* nothing more (no ::1) */
    CHECK(host_ok);
    CHECK(!host_bad);
    CHECK_STR(subj, "CN=kube-apiserver");
    free(subj);

    /* A custom service IP replaces the default one. */
    char *dir2 = tmpdir_new();
    struct tk_pki_opts o = {NULL, "10.100.0.1"};
    int rc = ensure_ok(dir2, &o);
    X509 *y = cert_file(dir2, "apiserver.crt");
    char *sans2 = y ? san_text(y) : NULL;
    X509_free(y);
    tmpdir_free(dir2);
    CHECK_INT(rc, 0);
    int has_custom = sans2 && strstr(sans2, ",IP:10.100.0.1,") != NULL;
    int has_default = sans2 && strstr(sans2, ",IP:10.96.0.1,") != NULL;
    free(sans2);
    CHECK(has_custom);
    CHECK(!has_default);
}

TK_TEST(ensure_apiserver_sans)
{
    char *dir = tmpdir_new();
    apiserver_sans_body(dir);
    tmpdir_free(dir);
}

static void usages_body(const char *dir)
{
    CHECK_INT(ensure_ok(dir, &test_opts), 0);
    X509 *ca = cert_file(dir, "ca.crt");
    CHECK(ca != NULL);
    char *subj = subject_text(ca);
    int is_ca = X509_check_ca(ca);
    uint32_t ku = X509_get_key_usage(ca);
    int bc_crit = ext_critical(ca, NID_basic_constraints);
    long long ca_life = secs_from_now(X509_get0_notAfter(ca));
    const ASN1_OCTET_STRING *ca_skid = X509_get0_subject_key_id(ca);
    CHECK_STR(subj, "CN=turbokube-ca");
    free(subj);
    CHECK_INT(is_ca, 1);
    CHECK_INT(bc_crit, 1);
    CHECK(ku & KU_KEY_CERT_SIGN);
    CHECK(ku & KU_CRL_SIGN);
    CHECK(!(ku & KU_DIGITAL_SIGNATURE));
    CHECK_NEAR((double)ca_life, 3650.0 * 86400, 600);
    CHECK(ca_skid != NULL);

    static const char *const subjects[] = {
        "CN=kube-apiserver",
        "CN=kube-apiserver-kubelet-client,O=system:masters",
        "CN=turbokube-admin,O=system:masters",
        "CN=system:kube-scheduler",
        "CN=system:kube-controller-manager",
    };
    for (size_t i = 0; i < N_LEAVES; i++) {
        char *crt = tk_xasprintf("%s.crt", leaf_names[i]);
        char *keyf = tk_xasprintf("%s.key", leaf_names[i]);
        X509 *x = cert_file(dir, crt);
        EVP_PKEY *k = key_file(dir, keyf);
        free(crt);
        free(keyf);
        int server = i == 0;
        if (!x || !k) {
            X509_free(x);
            EVP_PKEY_free(k);
            CHECK(x && k);
        }
        char *s = subject_text(x);
        char group[64] = "";
        size_t glen = 0;
        EVP_PKEY_get_group_name(k, group, sizeof(group), &glen);
        int key_match = X509_check_private_key(x, k);
        int ec = EVP_PKEY_is_a(k, "EC"), bits = EVP_PKEY_get_bits(k);
        uint32_t lku = X509_get_key_usage(x), xku = X509_get_extended_key_usage(x);
        int leaf_ca = X509_check_ca(x), lbc_crit = ext_critical(x, NID_basic_constraints);
        int bc_ca = (X509_get_extension_flags(x) & EXFLAG_CA) != 0;
        int ku_crit = ext_critical(x, NID_key_usage);
        int sig = X509_get_signature_nid(x);
        const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(x);
        const ASN1_OCTET_STRING *akid = X509_get0_authority_key_id(x);
        int akid_is_ca = akid && ca_skid && ASN1_OCTET_STRING_cmp(akid, ca_skid) == 0;
        long long before = secs_from_now(X509_get0_notBefore(x));
        long long after = secs_from_now(X509_get0_notAfter(x));
        BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        int serial_bits = BN_num_bits(serial);
        BN_free(serial);
        EVP_PKEY_free(k);
        X509_free(x);

        if (strcmp(s, subjects[i]) != 0) {
            CHECK_STR(s, subjects[i]);
        }
        free(s);
        CHECK_INT(key_match, 1);
        CHECK(ec);
        CHECK_INT(bits, 256);
        CHECK_STR(group, "prime256v1");
        CHECK_INT(sig, NID_ecdsa_with_SHA256);
        CHECK_INT(leaf_ca, 0);
        CHECK_INT(bc_ca, 0); /* basicConstraints present and CA:FALSE */
        CHECK_INT(lbc_crit, 1);
        CHECK_INT(ku_crit, 1);
        CHECK(lku & KU_DIGITAL_SIGNATURE);
        CHECK(!(lku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)));
        CHECK(xku != UINT32_MAX);
        CHECK_INT(xku & (XKU_SSL_SERVER | XKU_SSL_CLIENT),
                  server ? XKU_SSL_SERVER : XKU_SSL_CLIENT);
        CHECK(skid != NULL);
        CHECK(akid_is_ca);
        CHECK_NEAR((double)before, -3600.0, 300);
        CHECK_NEAR((double)after, 365.0 * 86400, 600);
        CHECK(serial_bits > 100 && serial_bits <= 128);
    }
    X509_free(ca);
}

TK_TEST(ensure_usages_subjects_and_keys)
{
    char *dir = tmpdir_new();
    usages_body(dir);
    tmpdir_free(dir);
}

static void sa_keys_body(const char *dir)
{
    CHECK_INT(ensure_ok(dir, &test_opts), 0);
    EVP_PKEY *k = key_file(dir, "sa.key");
    char *pub_pem = file_read(dir, "sa.pub");
    BIO *b = pub_pem ? BIO_new_mem_buf(pub_pem, -1) : NULL;
    EVP_PKEY *pub = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    int eq = k && pub && EVP_PKEY_eq(k, pub) == 1;
    int ec = k && EVP_PKEY_is_a(k, "EC") && EVP_PKEY_get_bits(k) == 256;
    BIO_free(b);
    free(pub_pem);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(k);
    CHECK(eq);
    CHECK(ec);

    /* sa.pub is derived: a missing one is recreated, and sa.key kept. */
    char *key_before = file_read(dir, "sa.key");
    char *pub_before = file_read(dir, "sa.pub");
    char *p = path_of(dir, "sa.pub");
    unlink(p);
    free(p);
    int rc = ensure_ok(dir, &test_opts);
    char *key_after = file_read(dir, "sa.key");
    char *pub_after = file_read(dir, "sa.pub");
    int same_key = key_before && key_after && strcmp(key_before, key_after) == 0;
    int same_pub = pub_before && pub_after && strcmp(pub_before, pub_after) == 0;
    free(key_before);
    free(key_after);
    free(pub_before);
    free(pub_after);
    CHECK_INT(rc, 0);
    CHECK(same_key);
    CHECK(same_pub);
    CHECK_INT(file_mode(dir, "sa.pub"), 0644);
}

TK_TEST(ensure_service_account_keys)
{
    char *dir = tmpdir_new();
    sa_keys_body(dir);
    tmpdir_free(dir);
}

struct snapshot {
    char *data[N_FILES];
    ino_t ino[N_FILES];
};

static void snap_take(const char *dir, struct snapshot *s)
{
    for (size_t i = 0; i < N_FILES; i++) {
        char *p = path_of(dir, all_files[i]);
        struct stat st;
        s->data[i] = file_read(dir, all_files[i]);
        s->ino[i] = stat(p, &st) == 0 ? st.st_ino : 0;
        free(p);
    }
}

static void snap_release(struct snapshot *s)
{
    for (size_t i = 0; i < N_FILES; i++)
        free(s->data[i]);
}

/* Bit i set when all_files[i] differs (content or inode) between the snapshots. */
static unsigned snap_diff(const struct snapshot *a, const struct snapshot *b)
{
    unsigned mask = 0;
    for (size_t i = 0; i < N_FILES; i++) {
        int same = a->data[i] && b->data[i] && strcmp(a->data[i], b->data[i]) == 0 &&
                   a->ino[i] == b->ino[i];
        if (!same)
            mask |= 1u << i;
    }
    return mask;
}

static unsigned mask_of(const char *const *names)
{
    unsigned mask = 0;
    for (size_t i = 0; names[i]; i++)
        for (size_t j = 0; j < N_FILES; j++)
            if (strcmp(names[i], all_files[j]) == 0)
                mask |= 1u << j;
    return mask;
}

static void keeps_files_body(const char *dir)
{
    struct snapshot s0, s1, s2, s3;
    CHECK_INT(ensure_ok(dir, &test_opts), 0);
    snap_take(dir, &s0);
    int rc1 = ensure_ok(dir, &test_opts);
    snap_take(dir, &s1);
    unsigned d1 = snap_diff(&s0, &s1);

    /* New extra SANs: only the apiserver pair is re-issued. */
    static const char *const more[] = {"192.168.7.10", "cp.turbokube.test", "fd00::10", "10.0.0.99",
                                       NULL};
    struct tk_pki_opts o = {more, NULL};
    int rc2 = ensure_ok(dir, &o);
    snap_take(dir, &s2);
    unsigned d2 = snap_diff(&s1, &s2);
    X509 *ca = cert_file(dir, "ca.crt"), *api = cert_file(dir, "apiserver.crt");
    char *sans = api ? san_text(api) : NULL;
    int api_ok = ca && api && verify_with(ca, api, X509_PURPOSE_SSL_SERVER) == X509_V_OK;
    X509_free(ca);
    X509_free(api);

    /* A deleted leaf key: that pair alone is re-issued. */
    char *p = path_of(dir, "admin.key");
    unlink(p);
    free(p);
    int rc3 = ensure_ok(dir, &o);
    snap_take(dir, &s3);
    unsigned d3 = snap_diff(&s2, &s3);

    snap_release(&s0);
    snap_release(&s1);
    snap_release(&s2);
    snap_release(&s3);
    static const char *const api_files[] = {"apiserver.crt", "apiserver.key", NULL};
    static const char *const admin_files[] = {"admin.crt", "admin.key", NULL};
    CHECK_INT(rc1, 0);
    CHECK_INT(d1, 0);
    CHECK_INT(rc2, 0);
    CHECK_INT(d2, mask_of(api_files));
    CHECK(api_ok);
    CHECK_CONTAINS(sans, ",IP:10.0.0.99,");
    free(sans);
    CHECK_INT(rc3, 0);
    CHECK_INT(d3, mask_of(admin_files));
}

TK_TEST(ensure_keeps_good_files)
{
    char *dir = tmpdir_new();
    keeps_files_body(dir);
    tmpdir_free(dir);
}

static void errors_body(const char *dir)
{
    struct tk_err err = {0};
    CHECK_INT(ensure_ok(dir, &test_opts), 0);
    char *good_key = file_read(dir, "ca.key");
    CHECK(good_key != NULL);
    /* A line of the real key's base64, which must never reach a message. */
    char secret[21] = "";
    memcpy(secret, strchr(good_key, '\n') + 1, 20);

    /* Truncated key: fails, names the file, carries no key material; nothing replaced. */
    char *half = tk_xstrndup(good_key, strlen(good_key) / 2);
    file_write(dir, "ca.key", half);
    free(half);
    int rc = tk_pki_ensure(dir, &test_opts, &err);
    fprintf(stderr, "  corrupt ca.key: %s\n", err.msg);
    CHECK_INT(rc, TK_ETLS);
    CHECK_INT(err.code, TK_ETLS);
    CHECK_CONTAINS(err.msg, "ca.key");
    CHECK(!strstr(err.msg, secret));
    CHECK(!strstr(err.msg, "BEGIN"));
    CHECK_CONTAINS(err.msg, "bad end line");

    /* Garbage inside valid armor. */
    tk_err_clear(&err);
    file_write(dir, "ca.key",
               "-----BEGIN PRIVATE KEY-----\nnot*base64!\n-----END PRIVATE KEY-----\n");
    struct tk_pki_ca *ca = NULL;
    char *crtp = path_of(dir, "ca.crt"), *keyp = path_of(dir, "ca.key");
    rc = tk_pki_ca_load(&ca, crtp, keyp, &err);
    fprintf(stderr, "  garbage ca.key: %s\n", err.msg);
    CHECK_INT(rc, TK_ETLS);
    CHECK(ca == NULL);
    CHECK_CONTAINS(err.msg, keyp);
    CHECK_CONTAINS(err.msg, "bad base64 decode");

    /* A certificate where the key should be, an empty file, an encrypted key (which must
     * not make OpenSSL prompt for a passphrase). */
    tk_err_clear(&err);
    char *crt_pem = file_read(dir, "admin.crt");
    file_write(dir, "ca.key", crt_pem);
    free(crt_pem);
    rc = tk_pki_ca_load(&ca, crtp, keyp, &err);
    CHECK_INT(rc, TK_ETLS);
    CHECK_CONTAINS(err.msg, "expected a PRIVATE KEY block, found 'CERTIFICATE'");
    tk_err_clear(&err);
    file_write(dir, "ca.key", "");
    rc = tk_pki_ca_load(&ca, crtp, keyp, &err);
    CHECK_INT(rc, TK_ETLS);
    CHECK_CONTAINS(err.msg, "empty");
    tk_err_clear(&err);
    {
        EVP_PKEY *k = key_from_pem(good_key);
        BIO *b = BIO_new(BIO_s_mem());
        char *p = NULL;
        int ok = k && b &&
                 PEM_write_bio_PrivateKey(b, k, EVP_aes_256_cbc(), NULL, 0, NULL,
                                          (void *)"passphrase") == 1;
        long n = ok ? BIO_get_mem_data(b, &p) : 0;
        char *enc = tk_xstrndup(p ? p : "", n > 0 ? (size_t)n : 0);
        BIO_free(b);
        EVP_PKEY_free(k);
        file_write(dir, "ca.key", enc);
        free(enc);
        CHECK(ok);
    }
    rc = tk_pki_ca_load(&ca, crtp, keyp, &err);
    fprintf(stderr, "  encrypted ca.key: %s\n", err.msg);
    CHECK_INT(rc, TK_ETLS);
    CHECK_CONTAINS(err.msg, "encrypted");

    /* A valid key that is not the CA's. */
    tk_err_clear(&err);
    char *other = file_read(dir, "admin.key");
    file_write(dir, "ca.key", other);
    free(other);
    rc = tk_pki_ensure(dir, &test_opts, &err);
    fprintf(stderr, "  mismatched ca.key: %s\n", err.msg);
    CHECK_INT(rc, TK_ETLS);
    CHECK_CONTAINS(err.msg, "ca.key");
    CHECK_CONTAINS(err.msg, "does not match");

    /* A corrupt certificate. */
    tk_err_clear(&err);
    file_write(dir, "ca.key", good_key);
    file_write(dir, "ca.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    rc = tk_pki_ca_load(&ca, crtp, keyp, &err);
    fprintf(stderr, "  corrupt ca.crt: %s\n", err.msg);
    CHECK_INT(rc, TK_ETLS);
    CHECK_CONTAINS(err.msg, crtp);

    /* A leaf is not a CA. */
    tk_err_clear(&err);
    char *admin_crt = path_of(dir, "admin.crt"), *admin_key = path_of(dir, "admin.key");
    rc = tk_pki_ca_load(&ca, admin_crt, admin_key, &err);
    free(admin_crt);
    free(admin_key);
    CHECK_INT(rc, TK_ETLS);
    CHECK_CONTAINS(err.msg, "not a CA");

    /* Half a CA is never silently replaced. */
    tk_err_clear(&err);
    unlink(crtp);
    rc = tk_pki_ensure(dir, &test_opts, &err);
    fprintf(stderr, "  ca.crt missing: %s\n", err.msg);
    CHECK_INT(rc, TK_ETLS);
    CHECK_CONTAINS(err.msg, "ca.crt");
    CHECK(!file_exists(dir, "ca.crt"));
    char *key_now = file_read(dir, "ca.key");
    int key_kept = key_now && strcmp(key_now, good_key) == 0;
    free(key_now);
    CHECK(key_kept);

    /* Unreadable file: TK_EIO naming it. */
    tk_err_clear(&err);
    rc = tk_pki_ca_load(&ca, crtp, keyp, &err);
    CHECK_INT(rc, TK_EIO);
    CHECK_CONTAINS(err.msg, crtp);
    free(crtp);
    free(keyp);
    free(good_key);

    /* Missing directory. */
    tk_err_clear(&err);
    char *missing = path_of(dir, "nope");
    rc = tk_pki_ensure(missing, NULL, &err);
    int named = strstr(err.msg, missing) != NULL;
    free(missing);
    CHECK_INT(rc, TK_EIO);
    CHECK(named);

    /* Bad SANs are refused before anything is written. */
    char *empty = tmpdir_new();
    static const char *const bad[] = {"ok.example", "bad name!", NULL};
    struct tk_pki_opts o1 = {bad, NULL}, o2 = {NULL, "kubernetes-svc"};
    tk_err_clear(&err);
    int rc1 = tk_pki_ensure(empty, &o1, &err);
    int named1 = strstr(err.msg, "bad name!") != NULL;
    tk_err_clear(&err);
    int rc2 = tk_pki_ensure(empty, &o2, &err);
    int named2 = strstr(err.msg, "service IP 'kubernetes-svc'") != NULL;
    int wrote = file_exists(empty, "ca.key");
    tmpdir_free(empty);
    CHECK_INT(rc1, TK_EINVAL);
    CHECK(named1);
    CHECK_INT(rc2, TK_EINVAL);
    CHECK(named2);
    CHECK(!wrote);
}

TK_TEST(ensure_and_load_errors)
{
    char *dir = tmpdir_new();
    errors_body(dir);
    tmpdir_free(dir);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

#define N_NODES 1000

static void mint_nodes_body(const char *dir)
{
    struct tk_err err = {0};
    struct tk_pki_ca *ca = NULL;
    CHECK_INT(ensure_ok(dir, NULL), 0);
    char *crtp = path_of(dir, "ca.crt"), *keyp = path_of(dir, "ca.key");
    int rc = tk_pki_ca_load(&ca, crtp, keyp, &err);
    free(crtp);
    free(keyp);
    CHECK_INT(rc, 0);
    X509 *ca_x = cert_file(dir, "ca.crt");

    char **certs = tk_xcalloc(N_NODES, sizeof(*certs));
    char **keys = tk_xcalloc(N_NODES, sizeof(*keys));
    int failures = 0;
    int64_t t0 = tk_now_ns();
    for (int i = 0; i < N_NODES; i++) {
        char cn[64];
        snprintf(cn, sizeof(cn), "system:node:tk-%04d", i);
        if (tk_pki_mint_client(ca, cn, "system:nodes", &certs[i], &keys[i], &err))
            failures++;
    }
    int64_t t1 = tk_now_ns();
    double ms = (double)(t1 - t0) / 1e6;
    printf("minted %d node certs in %.1f ms: %.1f us each, %.0f/s\n", N_NODES, ms,
           ms * 1000 / N_NODES, N_NODES / (ms / 1000));

    /* Every one verifies as a client of this CA, has the exact identity and its own key. */
    int bad_verify = 0, bad_subject = 0, bad_key = 0;
    char **serials = tk_xcalloc(N_NODES, sizeof(*serials));
    for (int i = 0; i < N_NODES && !failures; i++) {
        X509 *x = cert_from_pem(certs[i]);
        EVP_PKEY *k = key_from_pem(keys[i]);
        char want[96];
        snprintf(want, sizeof(want), "CN=system:node:tk-%04d,O=system:nodes", i);
        char *s = x ? subject_text(x) : tk_xstrdup("");
        bad_verify += !x || verify_with(ca_x, x, X509_PURPOSE_SSL_CLIENT) != X509_V_OK;
        bad_subject += strcmp(s, want) != 0;
        bad_key += !x || !k || X509_check_private_key(x, k) != 1;
        BIGNUM *bn = x ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL) : NULL;
        char *hex = bn ? BN_bn2hex(bn) : NULL;
        serials[i] = tk_xstrdup(hex ? hex : "");
        OPENSSL_free(hex);
        BN_free(bn);
        free(s);
        EVP_PKEY_free(k);
        X509_free(x);
    }
    int dup_serials = 0;
    if (!failures) {
        qsort(serials, N_NODES, sizeof(*serials), cmp_str);
        for (int i = 1; i < N_NODES; i++)
            dup_serials += strcmp(serials[i - 1], serials[i]) == 0;
    }
    char *first_subject = NULL;
    if (!failures) {
        X509 *x = cert_from_pem(certs[0]);
        first_subject = x ? subject_text(x) : NULL;
        X509_free(x);
    }
    for (int i = 0; i < N_NODES; i++) {
        free(certs[i]);
        free(keys[i]);
        free(serials[i]);
    }
    free(certs);
    free(keys);
    free(serials);
    X509_free(ca_x);
    tk_pki_ca_free(ca);
    CHECK_INT(failures, 0);
    CHECK_INT(bad_verify, 0);
    CHECK_INT(bad_subject, 0);
    CHECK_INT(bad_key, 0);
    CHECK_INT(dup_serials, 0);
    CHECK_STR(first_subject, "CN=system:node:tk-0000,O=system:nodes");
    free(first_subject);
}

TK_TEST(mint_1000_node_certs)
{
    char *dir = tmpdir_new();
    mint_nodes_body(dir);
    tmpdir_free(dir);
}

static void mint_serving_body(const char *dir)
{
    struct tk_err err = {0};
    struct tk_pki_ca *ca = NULL;
    char *cert = NULL, *key = NULL;
    CHECK_INT(ensure_ok(dir, NULL), 0);
    char *crtp = path_of(dir, "ca.crt"), *keyp = path_of(dir, "ca.key");
    int rc = tk_pki_ca_load(&ca, crtp, keyp, &err);
    free(crtp);
    free(keyp);
    CHECK_INT(rc, 0);

    static const char *const sans[] = {"10.0.3.4", "tk-0001", "*.nodes.turbokube.test", NULL};
    rc = tk_pki_mint_serving(ca, "tk-0001", sans, &cert, &key, &err);
    X509 *x = cert_from_pem(cert), *ca_x = cert_file(dir, "ca.crt");
    int v_server = x ? verify_with(ca_x, x, X509_PURPOSE_SSL_SERVER) : -1;
    int v_client = x ? verify_with(ca_x, x, X509_PURPOSE_SSL_CLIENT) : -1;
    int ip = x && X509_check_ip_asc(x, "10.0.3.4", 0) == 1;
    int host = x && X509_check_host(x, "tk-0001", 0, 0, NULL) == 1;
    int wild = x && X509_check_host(x, "a.nodes.turbokube.test", 0, 0, NULL) == 1;
    int other = x && X509_check_ip_asc(x, "10.0.3.5", 0) == 1;
    char *subj = x ? subject_text(x) : NULL;
    X509_free(x);
    X509_free(ca_x);
    free(cert);
    free(key);

    /* Bad input: TK_EINVAL, both outputs NULL. */
    static const char *const bad[] = {"a,DNS:evil.example", NULL};
    struct tk_err e1 = {0}, e2 = {0}, e3 = {0};
    char *c1 = (char *)1, *k1 = (char *)1;
    int rb1 = tk_pki_mint_serving(ca, "x", bad, &c1, &k1, &e1);
    int rb2 = tk_pki_mint_client(ca, "", NULL, &cert, &key, &e2);
    int rb3 = tk_pki_mint_client(NULL, "x", NULL, &cert, &key, &e3);
    /* Node names run to 253 bytes, past X.520's 64-byte CN bound; real kubelets use them. */
    char long_cn[300];
    snprintf(long_cn, sizeof(long_cn), "system:node:%0240d", 7);
    struct tk_err e4 = {0};
    char *lc = NULL, *lk = NULL;
    int rl = tk_pki_mint_client(ca, long_cn, "system:nodes", &lc, &lk, &e4);
    X509 *lx = cert_from_pem(lc), *lca = cert_file(dir, "ca.crt");
    char *lsubj = lx ? subject_text(lx) : NULL;
    char *lwant = tk_xasprintf("CN=%s,O=system:nodes", long_cn);
    int long_ok = rl == 0 && lx && verify_with(lca, lx, X509_PURPOSE_SSL_CLIENT) == X509_V_OK &&
                  lsubj && strcmp(lsubj, lwant) == 0;
    if (!long_ok)
        fprintf(stderr, "  long CN: rc=%d %s\n", rl, e4.msg);
    X509_free(lx);
    X509_free(lca);
    free(lsubj);
    free(lwant);
    free(lc);
    free(lk);
    tk_pki_ca_free(ca);

    CHECK_INT(rc, 0);
    CHECK_INT(v_server, X509_V_OK);
    CHECK_INT(v_client, X509_V_ERR_INVALID_PURPOSE);
    CHECK(ip);
    CHECK(host);
    CHECK(wild);
    CHECK(!other);
    CHECK_STR(subj, "CN=tk-0001");
    free(subj);
    CHECK_INT(rb1, TK_EINVAL);
    CHECK(c1 == NULL && k1 == NULL);
    CHECK_CONTAINS(e1.msg, "a,DNS:evil.example");
    CHECK_INT(rb2, TK_EINVAL);
    CHECK_INT(rb3, TK_EINVAL);
    CHECK(long_ok);
    CHECK(cert == NULL && key == NULL);
}

TK_TEST(mint_serving_cert)
{
    char *dir = tmpdir_new();
    mint_serving_body(dir);
    tmpdir_free(dir);
}

TK_TEST(self_signed_cert)
{
    struct tk_err err = {0};
    char *cert = NULL, *key = NULL;
    static const char *const sans[] = {"127.0.0.1", "tk-agent", NULL};
    int rc = tk_pki_self_signed("tk-agent", sans, &cert, &key, &err);
    X509 *x = cert_from_pem(cert);
    EVP_PKEY *k = key_from_pem(key);
    int v = x ? verify_with(x, x, X509_PURPOSE_SSL_SERVER) : -1;
    int match = x && k && X509_check_private_key(x, k) == 1;
    int ip = x && X509_check_ip_asc(x, "127.0.0.1", 0) == 1;
    int leaf = x && X509_check_ca(x) == 0 && !(X509_get_extension_flags(x) & EXFLAG_CA);
    uint32_t xku = x ? X509_get_extended_key_usage(x) : 0;
    char *subj = x ? subject_text(x) : NULL;
    char *iss = x ? name_text(X509_get_issuer_name(x)) : NULL;
    X509_free(x);
    EVP_PKEY_free(k);
    free(cert);
    free(key);
    CHECK_INT(rc, 0);
    CHECK_INT(v, X509_V_OK);
    CHECK(match);
    CHECK(ip);
    CHECK(leaf);
    CHECK(xku & XKU_SSL_SERVER);
    CHECK_STR(subj, "CN=tk-agent");
    CHECK_STR(iss, "CN=tk-agent");
    free(subj);
    free(iss);
}

/* A CA made by someone else (kubeadm's are RSA; Ed25519 signs without a digest), written
 * to dir/NAME.crt and dir/NAME.key. with_skid 0 leaves out the subjectKeyIdentifier;
 * expired makes notAfter lie in the past. Returns 0 on success. */
static int foreign_ca(const char *dir, const char *name, const char *alg, int with_skid,
                      int expired)
{
    EVP_PKEY *k = strcmp(alg, "RSA") == 0  ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                  : strcmp(alg, "EC") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
                                           : EVP_PKEY_Q_keygen(NULL, NULL, alg);
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    X509V3_CTX ctx;
    int ok =
        k && x && n && X509_set_version(x, X509_VERSION_3) &&
        ASN1_INTEGER_set(X509_get_serialNumber(x), 4242) &&
        X509_gmtime_adj(X509_getm_notBefore(x), expired ? -2 * 86400 : -60) &&
        X509_gmtime_adj(X509_getm_notAfter(x), expired ? -86400 : 86400) &&
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0) &&
        X509_set_subject_name(x, n) && X509_set_issuer_name(x, n) && X509_set_pubkey(x, k);
    static const char *const exts[][2] = {{"basicConstraints", "critical,CA:TRUE"},
                                          {"keyUsage", "critical,keyCertSign,cRLSign"},
                                          {"subjectKeyIdentifier", "hash"}};
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    for (size_t i = 0; ok && i < (with_skid ? 3u : 2u); i++) {
        X509_EXTENSION *e = X509V3_EXT_conf(NULL, &ctx, exts[i][0], exts[i][1]);
        ok = e && X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    ok = ok && X509_sign(x, k, EVP_PKEY_is_a(k, "ED25519") ? NULL : EVP_sha256()) > 0;
    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
    ok = ok && PEM_write_bio_X509(cb, x) &&
         PEM_write_bio_PrivateKey(kb, k, NULL, NULL, 0, NULL, NULL);
    if (ok) {
        char *p = NULL, *crt = tk_xasprintf("%s.crt", name), *key = tk_xasprintf("%s.key", name);
        long len = BIO_get_mem_data(cb, &p);
        char *s = tk_xstrndup(p, (size_t)len);
        file_write(dir, crt, s);
        free(s);
        len = BIO_get_mem_data(kb, &p);
        s = tk_xstrndup(p, (size_t)len);
        file_write(dir, key, s);
        free(s);
        free(crt);
        free(key);
    }
    BIO_free(cb);
    BIO_free(kb);
    X509_NAME_free(n);
    X509_free(x);
    EVP_PKEY_free(k);
    ERR_clear_error();
    return ok ? 0 : -1;
}

/* Mints a node cert from dir/NAME.{crt,key}; returns the X509_verify_cert result against
 * that CA (or -1 when loading or minting failed, with err set). */
static int mint_from(const char *dir, const char *name, struct tk_err *err)
{
    struct tk_pki_ca *ca = NULL;
    char *crtn = tk_xasprintf("%s.crt", name), *keyn = tk_xasprintf("%s.key", name);
    char *crtp = path_of(dir, crtn), *keyp = path_of(dir, keyn);
    char *cert = NULL, *key = NULL;
    int rc = -1;
    if (tk_pki_ca_load(&ca, crtp, keyp, err) == 0 &&
        tk_pki_mint_client(ca, "system:node:foreign", "system:nodes", &cert, &key, err) == 0) {
        X509 *ca_x = cert_file(dir, crtn), *x = cert_from_pem(cert);
        EVP_PKEY *k = key_from_pem(key);
        rc = ca_x && x ? verify_with(ca_x, x, X509_PURPOSE_SSL_CLIENT) : -2;
        if (rc == X509_V_OK && (!k || X509_check_private_key(x, k) != 1))
            rc = -3;
        X509_free(ca_x);
        X509_free(x);
        EVP_PKEY_free(k);
    }
    tk_pki_ca_free(ca);
    free(cert);
    free(key);
    free(crtn);
    free(keyn);
    free(crtp);
    free(keyp);
    return rc;
}

static void foreign_body(const char *dir)
{
    struct tk_err e1 = {0}, e2 = {0}, e3 = {0};
    CHECK_INT(foreign_ca(dir, "rsa-ca", "RSA", 1, 0), 0);
    CHECK_INT(foreign_ca(dir, "ed-ca", "ED25519", 0, 0), 0);
    CHECK_INT(foreign_ca(dir, "old-ca", "EC", 1, 1), 0);
    int rsa = mint_from(dir, "rsa-ca", &e1);
    int ed = mint_from(dir, "ed-ca", &e2);
    int old = mint_from(dir, "old-ca", &e3);
    if (rsa || ed)
        fprintf(stderr, "  rsa: %s / ed25519: %s\n", e1.msg, e2.msg);
    CHECK_INT(rsa, X509_V_OK);
    CHECK_INT(ed, X509_V_OK);
    CHECK_INT(old, -1);
    CHECK_INT(e3.code, TK_ETLS);
    CHECK_CONTAINS(e3.msg, "old-ca.crt' has expired");
}

TK_TEST(foreign_ca_rsa_ed25519_expired)
{
    char *dir = tmpdir_new();
    foreign_body(dir);
    tmpdir_free(dir);
}

/* pki.c writes P-256 keys and SubjectPublicKeyInfo itself (OpenSSL's encoders are slow):
 * the bytes must be exactly what OpenSSL would have written. */
static void encodings_body(const char *dir)
{
    struct tk_err err = {0};
    struct tk_pki_ca *ca = NULL;
    char *cert = NULL, *key = NULL;
    CHECK_INT(ensure_ok(dir, NULL), 0);
    char *crtp = path_of(dir, "ca.crt"), *keyp = path_of(dir, "ca.key");
    int rc = tk_pki_ca_load(&ca, crtp, keyp, &err);
    free(crtp);
    free(keyp);
    CHECK_INT(rc, 0);
    rc = tk_pki_mint_client(ca, "system:node:enc", "system:nodes", &cert, &key, &err);
    tk_pki_ca_free(ca);
    CHECK_INT(rc, 0);

    EVP_PKEY *k = key_from_pem(key);
    X509 *x = cert_from_pem(cert);
    BIO *b = BIO_new(BIO_s_mem());
    char *ours = NULL;
    long n = 0;
    if (k && b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1) {
        char *p = NULL;
        n = BIO_get_mem_data(b, &p);
        ours = tk_xstrndup(p, (size_t)n);
    }
    unsigned char *spki_cert = NULL, *spki_key = NULL;
    int len_cert = x ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki_cert) : -1;
    int len_key = k ? i2d_PUBKEY(k, &spki_key) : -2;
    int spki_same =
        len_cert > 0 && len_cert == len_key && memcmp(spki_cert, spki_key, (size_t)len_cert) == 0;
    int key_same = ours && strcmp(ours, key) == 0;
    int sa_same = 0;
    {
        /* sa.key went through the same path; and sa.pub is OpenSSL's encoding of it. */
        EVP_PKEY *sa = key_file(dir, "sa.key");
        char *sa_pem = file_read(dir, "sa.key");
        BIO *b2 = BIO_new(BIO_s_mem());
        char *p = NULL;
        if (sa && b2 && PEM_write_bio_PrivateKey(b2, sa, NULL, NULL, 0, NULL, NULL) == 1) {
            long m = BIO_get_mem_data(b2, &p);
            sa_same = sa_pem && (size_t)m == strlen(sa_pem) && memcmp(p, sa_pem, (size_t)m) == 0;
        }
        BIO_free(b2);
        free(sa_pem);
        EVP_PKEY_free(sa);
    }
    OPENSSL_free(spki_cert);
    OPENSSL_free(spki_key);
    BIO_free(b);
    free(ours);
    X509_free(x);
    EVP_PKEY_free(k);
    free(cert);
    free(key);
    CHECK(key_same);
    CHECK(spki_same);
    CHECK(sa_same);
}

TK_TEST(p256_encodings_match_openssl)
{
    char *dir = tmpdir_new();
    encodings_body(dir);
    tmpdir_free(dir);
}

/* ---- TLS handshake over a BIO pair ---------------------------------------------------- */

static SSL_CTX *tls_ctx(int server, const char *dir, const char *cert_name, const char *key_name)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    char *crt = path_of(dir, cert_name), *key = path_of(dir, key_name);
    char *ca = path_of(dir, "ca.crt");
    int ok = ctx && SSL_CTX_use_certificate_file(ctx, crt, SSL_FILETYPE_PEM) == 1 &&
             SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1 &&
             SSL_CTX_load_verify_locations(ctx, ca, NULL) == 1;
    free(crt);
    free(key);
    free(ca);
    if (!ok) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
    return ctx;
}

struct tls_result {
    int ok;             /* both sides completed the handshake */
    long client_verify; /* client's verdict on the server certificate */
    long server_verify; /* server's verdict on the client certificate */
    char *peer_subject; /* client certificate subject as the server saw it; caller frees */
};

static struct tls_result tls_handshake(const char *dir, const char *client_cert,
                                       const char *client_key, const char *host)
{
    struct tls_result r = {0, -1, -1, NULL};
    SSL_CTX *sctx = tls_ctx(1, dir, "apiserver.crt", "apiserver.key");
    SSL_CTX *cctx = tls_ctx(0, dir, client_cert, client_key);
    SSL *s = sctx ? SSL_new(sctx) : NULL, *c = cctx ? SSL_new(cctx) : NULL;
    BIO *sb = NULL, *cb = NULL;

    if (!s || !c || !BIO_new_bio_pair(&sb, 0, &cb, 0))
        goto done;
    SSL_set_bio(s, sb, sb);
    SSL_set_bio(c, cb, cb);
    SSL_set_accept_state(s);
    SSL_set_connect_state(c);
    SSL_set1_host(c, host);
    int cdone = 0, sdone = 0;
    for (int round = 0; round < 50 && !(cdone && sdone); round++) {
        if (!cdone) {
            int rc = SSL_do_handshake(c);
            int e = SSL_get_error(c, rc);
            if (rc == 1)
                cdone = 1;
            else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                break;
        }
        if (!sdone) {
            int rc = SSL_do_handshake(s);
            int e = SSL_get_error(s, rc);
            if (rc == 1)
                sdone = 1;
            else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                break;
        }
    }
    /* TLS 1.3: the server's verdict on the client certificate arrives after the client has
     * finished; one read on the client delivers the server's alert or session tickets. */
    if (cdone && sdone) {
        char byte;
        if (SSL_write(c, "x", 1) == 1 && SSL_read(s, &byte, 1) == 1)
            r.ok = 1;
    }
    r.client_verify = SSL_get_verify_result(c);
    r.server_verify = SSL_get_verify_result(s);
    X509 *peer = SSL_get1_peer_certificate(s);
    if (peer) {
        r.peer_subject = subject_text(peer);
        X509_free(peer);
    }
done:
    SSL_free(s);
    SSL_free(c);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    ERR_clear_error();
    return r;
}

static void tls_body(const char *dir)
{
    CHECK_INT(ensure_ok(dir, &test_opts), 0);

    /* admin against the apiserver by its in-cluster name: mutual TLS succeeds. */
    struct tls_result good = tls_handshake(dir, "admin.crt", "admin.key", "kubernetes.default.svc");
    /* Wrong host name: the client refuses the server. */
    struct tls_result badhost = tls_handshake(dir, "admin.crt", "admin.key", "evil.example");
    /* The serving cert used as a client cert: the server refuses it (EKU serverAuth only). */
    struct tls_result badeku =
        tls_handshake(dir, "apiserver.crt", "apiserver.key", "kubernetes.default.svc");

    CHECK(good.ok);
    CHECK_INT(good.client_verify, X509_V_OK);
    CHECK_INT(good.server_verify, X509_V_OK);
    CHECK_STR(good.peer_subject, "CN=turbokube-admin,O=system:masters");
    free(good.peer_subject);
    free(badhost.peer_subject);
    free(badeku.peer_subject);
    CHECK(!badhost.ok);
    CHECK_INT(badhost.client_verify, X509_V_ERR_HOSTNAME_MISMATCH);
    CHECK(!badeku.ok);
    CHECK_INT(badeku.server_verify, X509_V_ERR_INVALID_PURPOSE);
}

TK_TEST(tls_loopback_handshake)
{
    char *dir = tmpdir_new();
    tls_body(dir);
    tmpdir_free(dir);
}

TK_TEST_MAIN(ensure_creates_files_with_modes, ensure_leaves_verify_with_purposes,
             ensure_apiserver_sans, ensure_usages_subjects_and_keys, ensure_service_account_keys,
             ensure_keeps_good_files, ensure_and_load_errors, mint_1000_node_certs,
             mint_serving_cert, self_signed_cert, foreign_ca_rsa_ed25519_expired,
             p256_encodings_match_openssl, tls_loopback_handshake)
