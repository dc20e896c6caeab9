/* PKI on OpenSSL 3: see pki.h for the contract.
 *
 * Certificates are assembled from extension structures rather than from config strings
 * ("DNS:a,IP:b"), so a SAN containing a comma cannot smuggle in a second name, and nothing is
 * parsed on the hot minting path. Deprecated OpenSSL interfaces are compiled out below so any
 * use of one fails the build. */

#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include "pki.h"

#include "buf.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define LEAF_DAYS 365
#define CA_DAYS 3650
/* Components start at slightly different times and clocks drift: a certificate minted now
 * must already be valid for a peer whose clock runs behind. */
#define BACKDATE_SECONDS 3600
/* ensure() re-issues a leaf this long before it expires. */
#define RENEW_BEFORE_SECONDS (30L * 86400)
#define PEM_FILE_CAP (1024 * 1024)
#define DEFAULT_SERVICE_IP "10.96.0.1"

struct tk_pki_ca {
    X509 *cert;
    EVP_PKEY *key;
    EVP_MD *md;           /* NULL for EdDSA keys, which sign without a separate digest */
    X509_EXTENSION *akid; /* authorityKeyIdentifier copied into every certificate we sign */
    EVP_PKEY_CTX *keygen; /* P-256 key generation, set up once and reused for every mint */
};

enum cert_kind { KIND_CA, KIND_SERVER, KIND_CLIENT };

struct cert_spec {
    enum cert_kind kind;
    const char *cn;
    const char *org;         /* NULL: no O attribute */
    const char *const *sans; /* NULL-terminated, or NULL */
};

/* OpenSSL's reason for the failure just seen, for an error message. Takes the earliest entry
 * in the queue (closest to the cause) and empties the queue so the next failure starts clean. */
static const char *ossl_reason(char *buf, size_t n)
{
    unsigned long e, first = 0;

    while ((e = ERR_get_error()) != 0)
        if (!first)
            first = e;
    if (!first) {
        snprintf(buf, n, "unknown OpenSSL error");
        return buf;
    }
    const char *lib = ERR_lib_error_string(first), *reason = ERR_reason_error_string(first);
    if (lib && reason)
        snprintf(buf, n, "%s: %s", lib, reason);
    else if (reason)
        snprintf(buf, n, "%s", reason);
    else
        snprintf(buf, n, "OpenSSL error 0x%lx", first);
    return buf;
}

static int ossl_fail(struct tk_err *err, const char *what)
{
    char why[160];
    return tk_err_set(err, TK_ETLS, "%s: %s", what, ossl_reason(why, sizeof(why)));
}

/* ---- keys ---------------------------------------------------------------------------- */

static EVP_PKEY_CTX *keygen_new(struct tk_err *err)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);

    if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_CTX_set_group_name(ctx, "P-256") <= 0) {
        ossl_fail(err, "cannot set up P-256 key generation");
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static EVP_PKEY *keygen_run(EVP_PKEY_CTX *ctx, struct tk_err *err)
{
    EVP_PKEY *key = NULL;

    if (EVP_PKEY_generate(ctx, &key) <= 0) {
        ossl_fail(err, "cannot generate a P-256 key");
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

/* A fresh P-256 key when no CA handle (and its reusable context) is at hand. */
static EVP_PKEY *keygen_once(struct tk_err *err)
{
    EVP_PKEY_CTX *ctx = keygen_new(err);
    EVP_PKEY *key = ctx ? keygen_run(ctx, err) : NULL;

    EVP_PKEY_CTX_free(ctx);
    return key;
}

/* ---- subjectAltName ------------------------------------------------------------------ */

/* A DNS name as it may appear in a SAN: labels of letters, digits and inner hyphens, at most
 * 63 bytes each and 253 in all, optionally a leading "*." wildcard label. */
static int dns_name_ok(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > 253)
        return 0;
    if (s[0] == '*' && s[1] == '.' && s[2] != '\0')
        s += 2;
    while (*s) {
        size_t n = 0;
        while (s[n] && s[n] != '.') {
            char c = s[n];
            int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            if (!alnum && c != '-')
                return 0;
            n++;
        }
        if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
            return 0;
        s += n;
        if (*s == '.') {
            s++;
            if (*s == '\0')
                return 0; /* trailing dot */
        }
    }
    return 1;
}

static GENERAL_NAME *san_parse(const char *s, struct tk_err *err)
{
    GENERAL_NAME *gn = NULL;
    ASN1_OCTET_STRING *ip = NULL;
    ASN1_IA5STRING *dns = NULL;

    if (!s || !*s) {
        tk_err_set(err, TK_EINVAL, "empty subjectAltName");
        return NULL;
    }
    ip = a2i_IPADDRESS(s);
    if (!ip && !dns_name_ok(s)) {
        tk_err_set(err, TK_EINVAL, "subjectAltName '%s' is neither an IP address nor a DNS name",
                   s);
        return NULL;
    }
    gn = GENERAL_NAME_new();
    if (!gn)
        goto fail;
    if (ip) {
        GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
        return gn;
    }
    dns = ASN1_IA5STRING_new();
    if (!dns || !ASN1_STRING_set(dns, s, (int)strlen(s)))
        goto fail;
    GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
    return gn;
fail:
    ossl_fail(err, "cannot encode subjectAltName");
    ASN1_OCTET_STRING_free(ip);
    ASN1_IA5STRING_free(dns);
    GENERAL_NAME_free(gn);
    return NULL;
}

/* Parses a NULL-terminated SAN list into GENERAL_NAMES, dropping exact duplicates (the
 * apiserver list may well repeat a default in extra_sans). Caller frees the result. */
static GENERAL_NAMES *sans_build(const char *const *sans, struct tk_err *err)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();

    if (!gens) {
        ossl_fail(err, "cannot allocate subjectAltName");
        return NULL;
    }
    for (size_t i = 0; sans && sans[i]; i++) {
        GENERAL_NAME *gn = san_parse(sans[i], err);
        int dup = 0;
        if (!gn)
            goto fail;
        for (int j = 0; j < sk_GENERAL_NAME_num(gens) && !dup; j++)
            dup = GENERAL_NAME_cmp(sk_GENERAL_NAME_value(gens, j), gn) == 0;
        if (dup) {
            GENERAL_NAME_free(gn);
            continue;
        }
        if (!sk_GENERAL_NAME_push(gens, gn)) {
            GENERAL_NAME_free(gn);
            ossl_fail(err, "cannot allocate subjectAltName");
            goto fail;
        }
    }
    return gens;
fail:
    GENERAL_NAMES_free(gens);
    return NULL;
}

/* ---- P-256 encodings -------------------------------------------------------------- */

/* OpenSSL 3.0 routes X509_set_pubkey() and private-key PEM output through its generic
 * encoder/decoder machinery, which costs about 200 us and 75 us per call: most of a mint.
 * For P-256 keys both encodings are fixed layouts, so we build them from the key's raw
 * parameters; any other key takes the generic path. The test compares the results with
 * OpenSSL's own encodings byte for byte. */

/* 1 when key is an EC P-256 key; pub receives its uncompressed point (04 || X || Y). */
static int p256_point(const EVP_PKEY *key, unsigned char pub[65])
{
    char group[32];
    size_t glen = 0, len = 0;

    if (!EVP_PKEY_is_a(key, "EC") ||
        EVP_PKEY_get_group_name(key, group, sizeof(group), &glen) != 1 ||
        (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0))
        return 0;
    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pub, 65, &len) != 1 ||
        len != 65 || pub[0] != 0x04)
        return 0;
    return 1;
}

/* SubjectPublicKeyInfo { id-ecPublicKey, prime256v1, point }. The X509 then holds no cached
 * EVP_PKEY (X509_get0_pubkey() on it is NULL): it is meant to be signed and encoded, and
 * whoever needs the key back parses the PEM. */
static int pubkey_set(X509 *x, EVP_PKEY *key)
{
    unsigned char point[65], *enc;

    if (!p256_point(key, point))
        return X509_set_pubkey(x, key);
    enc = OPENSSL_memdup(point, sizeof(point));
    if (enc && X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x),
                                      OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
                                      OBJ_nid2obj(NID_X9_62_prime256v1), enc, sizeof(point)))
        return 1;
    OPENSSL_free(enc);
    return 0;
}

/* PKCS#8 PrivateKeyInfo { id-ecPublicKey, prime256v1, ECPrivateKey } written as PEM, where
 * ECPrivateKey (RFC 5915) is SEQUENCE { INTEGER 1, OCTET STRING d (32 bytes),
 * [1] BIT STRING point } -- parameters omitted as they sit in the algorithm, exactly what
 * OpenSSL itself writes. */
static int p256_key_pem(BIO *b, EVP_PKEY *key, const unsigned char point[65])
{
    static const unsigned char head[7] = {0x30, 0x6b, 0x02, 0x01, 0x01, 0x04, 0x20};
    static const unsigned char mid[5] = {0xa1, 0x44, 0x03, 0x42, 0x00};
    enum { DER_LEN = 7 + 32 + 5 + 65 };
    unsigned char *der = OPENSSL_malloc(DER_LEN);
    BIGNUM *d = NULL;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    int ok = 0;

    if (!der || EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1)
        goto done;
    memcpy(der, head, sizeof(head));
    if (BN_bn2binpad(d, der + 7, 32) != 32)
        goto done;
    memcpy(der + 39, mid, sizeof(mid));
    memcpy(der + 44, point, 65);
    p8 = PKCS8_PRIV_KEY_INFO_new();
    if (!p8 || !PKCS8_pkey_set0(p8, OBJ_nid2obj(NID_X9_62_id_ecPublicKey), 0, V_ASN1_OBJECT,
                                OBJ_nid2obj(NID_X9_62_prime256v1), der, DER_LEN))
        goto done;
    der = NULL; /* p8 owns it now and wipes it when freed */
    ok = PEM_write_bio_PKCS8_PRIV_KEY_INFO(b, p8) == 1;
done:
    if (der)
        OPENSSL_clear_free(der, DER_LEN);
    PKCS8_PRIV_KEY_INFO_free(p8);
    BN_clear_free(d);
    return ok;
}

/* ---- certificates -------------------------------------------------------------------- */

/* O then CN, as UTF8Strings. Set directly rather than through MBSTRING_UTF8, which would
 * enforce X.520's 64-byte upper bound on CN: Kubernetes node names run to 253 bytes, real
 * kubelets put them in "system:node:NAME" anyway, and Go and OpenSSL verifiers accept it. */
static X509_NAME *name_build(const char *cn, const char *org)
{
    X509_NAME *name = X509_NAME_new();

    if (!name)
        return NULL;
    if (org && !X509_NAME_add_entry_by_NID(name, NID_organizationName, V_ASN1_UTF8STRING,
                                           (const unsigned char *)org, -1, -1, 0))
        goto fail;
    if (!X509_NAME_add_entry_by_NID(name, NID_commonName, V_ASN1_UTF8STRING,
                                    (const unsigned char *)cn, -1, -1, 0))
        goto fail;
    return name;
fail:
    X509_NAME_free(name);
    return NULL;
}

static int serial_set(X509 *x)
{
    unsigned char raw[16];
    BIGNUM *bn = NULL;
    ASN1_INTEGER *sn = NULL;
    int ok = 0;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return 0;
    raw[15] |= 1; /* never zero, which RFC 5280 forbids */
    bn = BN_bin2bn(raw, sizeof(raw), NULL);
    sn = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    ok = sn && X509_set_serialNumber(x, sn);
    ASN1_INTEGER_free(sn);
    BN_free(bn);
    return ok;
}

/* subjectKeyIdentifier per RFC 5280 4.2.1.2 method 1: SHA-1 of the public key bit string. */
static ASN1_OCTET_STRING *key_id(const X509 *x)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    ASN1_OCTET_STRING *id = NULL;

    if (!X509_pubkey_digest(x, EVP_sha1(), md, &n))
        return NULL;
    id = ASN1_OCTET_STRING_new();
    if (id && !ASN1_OCTET_STRING_set(id, md, (int)n)) {
        ASN1_OCTET_STRING_free(id);
        id = NULL;
    }
    return id;
}

static X509_EXTENSION *akid_ext(const ASN1_OCTET_STRING *keyid)
{
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    X509_EXTENSION *ext = NULL;

    if (!akid)
        return NULL;
    akid->keyid = ASN1_OCTET_STRING_dup(keyid);
    if (akid->keyid)
        ext = X509V3_EXT_i2d(NID_authority_key_identifier, 0, akid);
    AUTHORITY_KEYID_free(akid);
    return ext;
}

static int add_basic_constraints(X509 *x, int is_ca)
{
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    int ok;

    if (!bc)
        return 0;
    bc->ca = is_ca ? 0xFF : 0;
    ok = X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) == 1;
    BASIC_CONSTRAINTS_free(bc);
    return ok;
}

static int add_key_usage(X509 *x, int is_ca)
{
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    int ok = 0;

    if (!ku)
        return 0;
    /* Bit numbers from RFC 5280 4.2.1.3. keyEncipherment is left out on purpose: RFC 5480
     * does not allow it for EC keys, and the ECDHE suites never need it. */
    if (is_ca)
        ok = ASN1_BIT_STRING_set_bit(ku, 5, 1) && ASN1_BIT_STRING_set_bit(ku, 6, 1);
    else
        ok = ASN1_BIT_STRING_set_bit(ku, 0, 1);
    ok = ok && X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) == 1;
    ASN1_BIT_STRING_free(ku);
    return ok;
}

static int add_ext_key_usage(X509 *x, int nid)
{
    EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
    int ok;

    if (!eku)
        return 0;
    ok = sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(nid)) > 0 &&
         X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) == 1;
    EXTENDED_KEY_USAGE_free(eku);
    return ok;
}

/* Builds and signs a certificate for key. issuer NULL means self-signed (sign with key
 * itself); otherwise issuer/issuer_key/md/akid come from a CA handle. The result is for
 * encoding (see pubkey_set()): parse its PEM to get a certificate to verify against. */
static X509 *cert_build(const struct cert_spec *spec, EVP_PKEY *key, const X509 *issuer,
                        EVP_PKEY *issuer_key, const EVP_MD *md, const X509_EXTENSION *akid,
                        struct tk_err *err)
{
    X509 *x = X509_new();
    X509_NAME *name = NULL;
    GENERAL_NAMES *gens = NULL;
    ASN1_OCTET_STRING *skid = NULL;
    X509_EXTENSION *own_akid = NULL;
    int days = spec->kind == KIND_CA ? CA_DAYS : LEAF_DAYS;

    if (!spec->cn || !*spec->cn) {
        tk_err_set(err, TK_EINVAL, "certificate needs a non-empty CN");
        goto fail;
    }
    if (spec->org && !*spec->org) {
        tk_err_set(err, TK_EINVAL, "certificate O must be NULL or non-empty");
        goto fail;
    }
    if (spec->sans) {
        gens = sans_build(spec->sans, err);
        if (!gens)
            goto fail;
    }
    name = name_build(spec->cn, spec->org);
    if (!x || !name || !X509_set_version(x, X509_VERSION_3) || !serial_set(x) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_SECONDS) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) ||
        !X509_set_subject_name(x, name) ||
        !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) ||
        !pubkey_set(x, key))
        goto ossl;
    if (!add_basic_constraints(x, spec->kind == KIND_CA) ||
        !add_key_usage(x, spec->kind == KIND_CA))
        goto ossl;
    if (spec->kind != KIND_CA &&
        !add_ext_key_usage(x, spec->kind == KIND_SERVER ? NID_server_auth : NID_client_auth))
        goto ossl;
    if (gens && sk_GENERAL_NAME_num(gens) > 0 &&
        X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1)
        goto ossl;
    skid = key_id(x);
    if (!skid || X509_add1_ext_i2d(x, NID_subject_key_identifier, skid, 0, X509V3_ADD_DEFAULT) != 1)
        goto ossl;
    if (!issuer) {
        own_akid = akid_ext(skid);
        akid = own_akid;
        issuer_key = key;
        md = EVP_sha256();
    }
    if (!akid || !X509_add_ext(x, (X509_EXTENSION *)akid, -1))
        goto ossl;
    if (X509_sign(x, issuer_key, md) <= 0)
        goto ossl;
    X509_NAME_free(name);
    GENERAL_NAMES_free(gens);
    ASN1_OCTET_STRING_free(skid);
    X509_EXTENSION_free(own_akid);
    return x;
ossl:
    ossl_fail(err, "cannot build certificate");
fail:
    X509_free(x);
    X509_NAME_free(name);
    GENERAL_NAMES_free(gens);
    ASN1_OCTET_STRING_free(skid);
    X509_EXTENSION_free(own_akid);
    return NULL;
}

/* ---- PEM ----------------------------------------------------------------------------- */

static char *bio_take(BIO *b)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    return tk_xstrndup(p ? p : "", n > 0 ? (size_t)n : 0);
}

static char *cert_pem(X509 *x, struct tk_err *err)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s = NULL;

    if (b && PEM_write_bio_X509(b, x))
        s = bio_take(b);
    else
        ossl_fail(err, "cannot encode certificate");
    BIO_free(b);
    return s;
}

static char *key_pem(EVP_PKEY *key, struct tk_err *err)
{
    /* The secure-memory BIO wipes its buffer when freed, so the encoded key lingers only in
     * the copy handed to the caller. */
    BIO *b = BIO_new(BIO_s_secmem());
    unsigned char point[65];
    char *s = NULL;
    int ok = 0;

    if (b && p256_point(key, point))
        ok = p256_key_pem(b, key, point);
    else if (b)
        ok = PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1;
    if (ok)
        s = bio_take(b);
    else
        ossl_fail(err, "cannot encode private key");
    BIO_free(b);
    return s;
}

static char *pubkey_pem(EVP_PKEY *key, struct tk_err *err)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s = NULL;

    if (b && PEM_write_bio_PUBKEY(b, key))
        s = bio_take(b);
    else
        ossl_fail(err, "cannot encode public key");
    BIO_free(b);
    return s;
}

/* Frees a string that may hold key material. */
static void free_secret(char *s)
{
    if (s)
        OPENSSL_cleanse(s, strlen(s));
    free(s);
}

/* Refuses passphrase prompts: without this OpenSSL would read one from the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* ---- files --------------------------------------------------------------------------- */

/* Reads a whole (small) file. Returns 0, or -1 with errno set. Caller frees *out. */
static int slurp(const char *path, char **out, size_t *len_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct tk_buf b;
    char chunk[4096];
    ssize_t n;
    int saved;

    *out = NULL;
    if (fd < 0)
        return -1;
    tk_buf_init(&b, PEM_FILE_CAP);
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        if (tk_buf_append(&b, chunk, (size_t)n)) {
            errno = EFBIG;
            goto fail;
        }
    }
    close(fd);
    *len_out = b.len;
    *out = tk_buf_detach(&b);
    return 0;
fail:
    saved = errno;
    close(fd);
    if (b.data)
        OPENSSL_cleanse(b.data, b.len);
    tk_buf_release(&b);
    errno = saved;
    return -1;
}

static int read_pem(const char *path, char **data, size_t *len, struct tk_err *err)
{
    if (slurp(path, data, len))
        return tk_err_set(err, TK_EIO, "cannot read '%s': %s", path, strerror(errno));
    return 0;
}

static X509 *cert_parse(const char *data, size_t len)
{
    BIO *b = BIO_new_mem_buf(data, (int)len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, no_passphrase, NULL) : NULL;
    BIO_free(b);
    return x;
}

static EVP_PKEY *key_parse(const char *data, size_t len)
{
    BIO *b = BIO_new_mem_buf(data, (int)len);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;
    BIO_free(b);
    return k;
}

static EVP_PKEY *pubkey_parse(const char *data, size_t len)
{
    BIO *b = BIO_new_mem_buf(data, (int)len);
    EVP_PKEY *k = b ? PEM_read_bio_PUBKEY(b, NULL, no_passphrase, NULL) : NULL;
    BIO_free(b);
    return k;
}

/* Why PEM data did not yield the expected object (want: "CERTIFICATE", "PRIVATE KEY"), for
 * a message. OpenSSL 3.0's key decoder reports every failure as "unsupported", so look at
 * the armor ourselves: the PEM layer's complaint (no start line, bad base64 decode, bad end
 * line), a block of another kind, an encrypted key; only when the armor is fine does
 * parse_why, OpenSSL's reason for rejecting the contents, say anything useful. */
static const char *pem_why(const char *data, size_t len, const char *want, const char *parse_why,
                           char *buf, size_t n)
{
    BIO *b = BIO_new_mem_buf(data, (int)len);
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long der_len = 0;

    if (len == 0)
        snprintf(buf, n, "file is empty");
    else if (!b || !PEM_read_bio(b, &name, &header, &der, &der_len))
        ossl_reason(buf, n);
    else if (strstr(name, "ENCRYPTED") || strstr(header, "ENCRYPTED"))
        snprintf(buf, n, "encrypted keys are not supported");
    else if (strlen(name) < strlen(want) || strcmp(name + strlen(name) - strlen(want), want) != 0)
        snprintf(buf, n, "expected a %s block, found '%.40s'", want, name);
    else
        snprintf(buf, n, "malformed '%.40s' block (%s)", name, parse_why);
    if (der)
        OPENSSL_clear_free(der, (size_t)der_len);
    OPENSSL_free(name);
    OPENSSL_free(header);
    BIO_free(b);
    ERR_clear_error();
    return buf;
}

static X509 *cert_load(const char *path, struct tk_err *err)
{
    char *data = NULL, parse_why[160], why[256];
    size_t len = 0;
    X509 *x = NULL;

    if (read_pem(path, &data, &len, err))
        return NULL;
    x = cert_parse(data, len);
    if (!x) {
        ossl_reason(parse_why, sizeof(parse_why));
        tk_err_set(err, TK_ETLS, "'%s': not a PEM certificate: %s", path,
                   pem_why(data, len, "CERTIFICATE", parse_why, why, sizeof(why)));
    }
    free(data);
    return x;
}

static EVP_PKEY *key_load(const char *path, struct tk_err *err)
{
    char *data = NULL, parse_why[160], why[256];
    size_t len = 0;
    EVP_PKEY *k = NULL;

    if (read_pem(path, &data, &len, err))
        return NULL;
    k = key_parse(data, len);
    if (!k) {
        ossl_reason(parse_why, sizeof(parse_why));
        tk_err_set(err, TK_ETLS, "'%s': not a PEM private key: %s", path,
                   pem_why(data, len, "PRIVATE KEY", parse_why, why, sizeof(why)));
    }
    OPENSSL_cleanse(data, len);
    free(data);
    return k;
}

/* 1 when path exists, 0 when it does not, -1 (err set) when it cannot be told. */
static int path_exists(const char *path, struct tk_err *err)
{
    struct stat st;

    if (stat(path, &st) == 0)
        return 1;
    if (errno == ENOENT)
        return 0;
    tk_err_set(err, TK_EIO, "cannot stat '%s': %s", path, strerror(errno));
    return -1;
}

/* Writes dir/name atomically with exactly mode: the temporary file is created O_EXCL with
 * 0600 (mkostemp) and given its final mode before a byte is written, so a key is never
 * readable by others, not even for a moment; then fsync and rename over the old file. */
static int write_file(const char *dir, const char *name, const char *data, mode_t mode,
                      struct tk_err *err)
{
    char *tmp = tk_xasprintf("%s/.%s.XXXXXX", dir, name);
    char *path = tk_xasprintf("%s/%s", dir, name);
    size_t len = strlen(data), off = 0;
    int fd = mkostemp(tmp, O_CLOEXEC), rc = 0;

    if (fd < 0) {
        rc = tk_err_set(err, TK_EIO, "cannot create '%s': %s", path, strerror(errno));
        goto done;
    }
    if (fchmod(fd, mode) != 0)
        goto io;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto io;
        off += (size_t)n;
    }
    if (fsync(fd) != 0)
        goto io;
    if (close(fd) != 0) {
        fd = -1;
        goto io;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto io;
    goto done;
io:
    rc = tk_err_set(err, TK_EIO, "cannot write '%s': %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
done:
    free(tmp);
    free(path);
    return rc;
}

/* ---- CA handle ----------------------------------------------------------------------- */

void tk_pki_ca_free(struct tk_pki_ca *ca)
{
    if (!ca)
        return;
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    EVP_MD_free(ca->md);
    X509_EXTENSION_free(ca->akid);
    EVP_PKEY_CTX_free(ca->keygen);
    free(ca);
}

/* Wraps a checked certificate and key into a handle; takes ownership of both, also on
 * failure. */
static struct tk_pki_ca *ca_wrap(X509 *cert, EVP_PKEY *key, struct tk_err *err)
{
    struct tk_pki_ca *ca = tk_xcalloc(1, sizeof(*ca));
    const ASN1_OCTET_STRING *skid;
    ASN1_OCTET_STRING *computed = NULL;

    ca->cert = cert;
    ca->key = key;
    if (!EVP_PKEY_is_a(key, "ED25519") && !EVP_PKEY_is_a(key, "ED448")) {
        ca->md = EVP_MD_fetch(NULL, "SHA256", NULL);
        if (!ca->md) {
            ossl_fail(err, "cannot fetch SHA-256");
            goto fail;
        }
    }
    /* A foreign CA may lack a subjectKeyIdentifier; derive the id the same way we would
     * have set it, which verifiers accept (they compare key ids only when both exist). */
    skid = X509_get0_subject_key_id(cert);
    if (!skid)
        skid = computed = key_id(cert);
    ca->akid = skid ? akid_ext(skid) : NULL;
    ASN1_OCTET_STRING_free(computed);
    if (!ca->akid) {
        ossl_fail(err, "cannot build authorityKeyIdentifier");
        goto fail;
    }
    ca->keygen = keygen_new(err);
    if (!ca->keygen)
        goto fail;
    return ca;
fail:
    tk_pki_ca_free(ca);
    return NULL;
}

int tk_pki_ca_load(struct tk_pki_ca **out, const char *cert_path, const char *key_path,
                   struct tk_err *err)
{
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    int rc = 0;

    *out = NULL;
    ERR_clear_error();
    if (!cert_path || !key_path)
        return tk_err_set(err, TK_EINVAL, "CA certificate and key paths are required");
    cert = cert_load(cert_path, err);
    if (!cert)
        goto fail;
    key = key_load(key_path, err);
    if (!key)
        goto fail;
    if (X509_check_private_key(cert, key) != 1) {
        ERR_clear_error();
        tk_err_set(err, TK_ETLS, "'%s' does not match certificate '%s'", key_path, cert_path);
        goto fail;
    }
    if (X509_check_ca(cert) == 0) {
        tk_err_set(err, TK_ETLS, "'%s' is not a CA certificate", cert_path);
        goto fail;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
        tk_err_set(err, TK_ETLS, "'%s' has expired", cert_path);
        goto fail;
    }
    *out = ca_wrap(cert, key, err);
    return *out ? 0 : (err ? err->code : TK_ETLS);
fail:
    rc = err ? err->code : TK_ETLS;
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

/* ---- minting ------------------------------------------------------------------------- */

static int pems_from(X509 *x, EVP_PKEY *key, char **cert_out, char **key_out, struct tk_err *err)
{
    *cert_out = cert_pem(x, err);
    *key_out = *cert_out ? key_pem(key, err) : NULL;
    if (*cert_out && *key_out)
        return 0;
    free(*cert_out);
    *cert_out = NULL;
    return err ? err->code : TK_ETLS;
}

static int mint(const struct tk_pki_ca *ca, const struct cert_spec *spec, char **cert_out,
                char **key_out, struct tk_err *err)
{
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    int rc = TK_EINVAL;

    *cert_out = *key_out = NULL;
    ERR_clear_error();
    if (!ca) {
        rc = tk_err_set(err, TK_EINVAL, "no CA to sign '%s'", spec->cn ? spec->cn : "");
        goto done;
    }
    key = keygen_run(ca->keygen, err);
    if (key)
        x = cert_build(spec, key, ca->cert, ca->key, ca->md, ca->akid, err);
    if (x)
        rc = pems_from(x, key, cert_out, key_out, err);
    else
        rc = err ? err->code : TK_ETLS;
done:
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

int tk_pki_mint_client(const struct tk_pki_ca *ca, const char *cn, const char *org, char **cert_out,
                       char **key_out, struct tk_err *err)
{
    struct cert_spec spec = {KIND_CLIENT, cn, org, NULL};
    return mint(ca, &spec, cert_out, key_out, err);
}

int tk_pki_mint_serving(const struct tk_pki_ca *ca, const char *cn, const char *const *sans,
                        char **cert_out, char **key_out, struct tk_err *err)
{
    struct cert_spec spec = {KIND_SERVER, cn, NULL, sans};
    return mint(ca, &spec, cert_out, key_out, err);
}

int tk_pki_self_signed(const char *cn, const char *const *sans, char **cert_out, char **key_out,
                       struct tk_err *err)
{
    struct cert_spec spec = {KIND_SERVER, cn, NULL, sans};
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    int rc;

    *cert_out = *key_out = NULL;
    ERR_clear_error();
    key = keygen_once(err);
    if (key)
        x = cert_build(&spec, key, NULL, NULL, NULL, NULL, err);
    if (x)
        rc = pems_from(x, key, cert_out, key_out, err);
    else
        rc = err ? err->code : TK_ETLS;
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

/* ---- ensure -------------------------------------------------------------------------- */

struct leaf {
    const char *name; /* file stem: name.crt, name.key */
    enum cert_kind kind;
    const char *cn;
    const char *org;
};

static const struct leaf leaves[] = {
    {"apiserver", KIND_SERVER, "kube-apiserver", NULL},
    {"apiserver-kubelet-client", KIND_CLIENT, "kube-apiserver-kubelet-client", "system:masters"},
    {"admin", KIND_CLIENT, "turbokube-admin", "system:masters"},
    {"kube-scheduler", KIND_CLIENT, "system:kube-scheduler", NULL},
    {"kube-controller-manager", KIND_CLIENT, "system:kube-controller-manager", NULL},
};

/* The apiserver's SAN list: defaults, the service IP, then the caller's extras. The strings
 * are borrowed; caller frees the array. */
static const char **apiserver_sans(const struct tk_pki_opts *opts)
{
    size_t n_extra = 0, i = 0;
    const char **sans;

    while (opts && opts->extra_sans && opts->extra_sans[n_extra])
        n_extra++;
    sans = tk_xcalloc(8 + n_extra, sizeof(*sans));
    sans[i++] = "127.0.0.1";
    sans[i++] = "localhost";
    sans[i++] = opts && opts->service_ip ? opts->service_ip : DEFAULT_SERVICE_IP;
    sans[i++] = "kubernetes";
    sans[i++] = "kubernetes.default";
    sans[i++] = "kubernetes.default.svc";
    sans[i++] = "kubernetes.default.svc.cluster.local";
    for (size_t j = 0; j < n_extra; j++)
        sans[i++] = opts->extra_sans[j];
    sans[i] = NULL;
    return sans;
}

/* Same set of names, order aside. */
static int sans_equal(const GENERAL_NAMES *want, const GENERAL_NAMES *have)
{
    if (!have || sk_GENERAL_NAME_num(want) != sk_GENERAL_NAME_num(have))
        return 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(want); i++) {
        int found = 0;
        for (int j = 0; j < sk_GENERAL_NAME_num(have) && !found; j++)
            found = GENERAL_NAME_cmp(sk_GENERAL_NAME_value(want, i),
                                     sk_GENERAL_NAME_value(have, j)) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

/* Why an existing leaf pair must be re-issued, or NULL when it is good to keep. */
static const char *leaf_problem(const struct tk_pki_ca *ca, X509 *x, EVP_PKEY *key,
                                const struct cert_spec *spec, const GENERAL_NAMES *want_sans)
{
    const char *why = NULL;
    X509_NAME *name = name_build(spec->cn, spec->org);
    GENERAL_NAMES *have_sans = NULL;
    time_t renew_at = time(NULL) + RENEW_BEFORE_SECONDS;
    uint32_t xku = X509_get_extended_key_usage(x);
    uint32_t want_xku = spec->kind == KIND_SERVER ? XKU_SSL_SERVER : XKU_SSL_CLIENT;

    if (X509_check_private_key(x, key) != 1)
        why = "key does not match certificate";
    else if (X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca->cert)) != 0 ||
             X509_verify(x, X509_get0_pubkey(ca->cert)) != 1)
        why = "not signed by this CA";
    else if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0)
        why = "not valid yet";
    else if (X509_cmp_time(X509_get0_notAfter(x), &renew_at) <= 0)
        why = "expires within 30 days";
    else if (!name || X509_NAME_cmp(X509_get_subject_name(x), name) != 0)
        why = "subject differs";
    else if (xku == UINT32_MAX || !(xku & want_xku))
        why = "extended key usage differs";
    else if (X509_get_extension_flags(x) & EXFLAG_CA)
        why = "is a CA certificate";
    else if (want_sans) {
        have_sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
        if (!sans_equal(want_sans, have_sans))
            why = "subjectAltName differs";
    }
    X509_NAME_free(name);
    GENERAL_NAMES_free(have_sans);
    ERR_clear_error(); /* failed checks above leave entries that are not errors of ours */
    return why;
}

static int ensure_ca(const char *dir, struct tk_pki_ca **out, struct tk_err *err)
{
    char *crt = tk_xasprintf("%s/ca.crt", dir), *keyp = tk_xasprintf("%s/ca.key", dir);
    char *cpem = NULL, *kpem = NULL;
    struct cert_spec spec = {KIND_CA, "turbokube-ca", NULL, NULL};
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    int have_crt, have_key, rc = 0;

    *out = NULL;
    have_crt = path_exists(crt, err);
    have_key = have_crt < 0 ? -1 : path_exists(keyp, err);
    if (have_crt < 0 || have_key < 0) {
        rc = err ? err->code : TK_EIO;
        goto done;
    }
    if (have_crt && have_key) {
        rc = tk_pki_ca_load(out, crt, keyp, err);
        goto done;
    }
    if (have_crt || have_key) {
        rc = tk_err_set(err, TK_ETLS,
                        "'%s' exists but '%s' does not; not replacing a CA (remove both to "
                        "generate a new one)",
                        have_crt ? crt : keyp, have_crt ? keyp : crt);
        goto done;
    }
    key = keygen_once(err);
    x = key ? cert_build(&spec, key, NULL, NULL, NULL, NULL, err) : NULL;
    if (!x || pems_from(x, key, &cpem, &kpem, err) || write_file(dir, "ca.key", kpem, 0600, err) ||
        write_file(dir, "ca.crt", cpem, 0644, err)) {
        rc = err ? err->code : TK_ETLS;
        goto done;
    }
    tk_info("generated cluster CA", "file=%s", crt);
    /* The handle gets the certificate as parsed from its PEM, like a loaded one, so that its
     * public key is there for verifying leaves. */
    X509_free(x);
    x = cert_parse(cpem, strlen(cpem));
    if (!x) {
        rc = ossl_fail(err, "cannot parse the CA certificate just made");
        goto done;
    }
    *out = ca_wrap(x, key, err);
    x = NULL;
    key = NULL;
    if (!*out)
        rc = err ? err->code : TK_ETLS;
done:
    X509_free(x);
    EVP_PKEY_free(key);
    free(cpem);
    free_secret(kpem);
    free(crt);
    free(keyp);
    return rc;
}

static int ensure_leaf(const char *dir, const struct tk_pki_ca *ca, const struct leaf *leaf,
                       const char *const *sans, const GENERAL_NAMES *want_sans, struct tk_err *err)
{
    char *crt = tk_xasprintf("%s/%s.crt", dir, leaf->name);
    char *keyp = tk_xasprintf("%s/%s.key", dir, leaf->name);
    char *kname = tk_xasprintf("%s.key", leaf->name), *cname = tk_xasprintf("%s.crt", leaf->name);
    char *cdata = NULL, *kdata = NULL;
    size_t clen = 0, klen = 0;
    struct cert_spec spec = {leaf->kind, leaf->cn, leaf->org, sans};
    const char *why = "missing";
    X509 *x = NULL;
    EVP_PKEY *key = NULL;
    int have_crt, have_key, rc = 0;

    have_crt = path_exists(crt, err);
    have_key = have_crt < 0 ? -1 : path_exists(keyp, err);
    if (have_crt < 0 || have_key < 0) {
        rc = err ? err->code : TK_EIO;
        goto done;
    }
    if (have_crt && have_key) {
        /* A file we cannot read we could not safely replace either: report it. */
        if (read_pem(crt, &cdata, &clen, err) || read_pem(keyp, &kdata, &klen, err)) {
            rc = err ? err->code : TK_EIO;
            goto done;
        }
        x = cert_parse(cdata, clen);
        key = key_parse(kdata, klen);
        ERR_clear_error();
        if (!x)
            why = "certificate does not parse";
        else if (!key)
            why = "key does not parse";
        else
            why = leaf_problem(ca, x, key, &spec, want_sans);
        if (!why) {
            tk_debug("keeping certificate", "file=%s", crt);
            goto done;
        }
    }
    X509_free(x);
    x = NULL;
    free(cdata);
    cdata = NULL;
    free_secret(kdata);
    kdata = NULL;
    rc = mint(ca, &spec, &cdata, &kdata, err);
    if (rc == 0)
        rc = write_file(dir, kname, kdata, 0600, err);
    if (rc == 0)
        rc = write_file(dir, cname, cdata, 0644, err);
    if (rc == 0)
        tk_info("issued certificate", "file=%s cn=\"%s\" reason=\"%s\"", crt, leaf->cn, why);
done:
    X509_free(x);
    EVP_PKEY_free(key);
    free(cdata);
    free_secret(kdata);
    free(crt);
    free(keyp);
    free(kname);
    free(cname);
    return rc;
}

static int ensure_sa(const char *dir, struct tk_err *err)
{
    char *keyp = tk_xasprintf("%s/sa.key", dir), *pubp = tk_xasprintf("%s/sa.pub", dir);
    char *kpem = NULL, *ppem = NULL, *pdata = NULL;
    size_t plen = 0;
    EVP_PKEY *key = NULL, *pub = NULL;
    int have, rc = 0;

    have = path_exists(keyp, err);
    if (have < 0) {
        rc = err ? err->code : TK_EIO;
        goto done;
    }
    if (have) {
        /* Every token the apiserver issued was signed by this key: never replace it. */
        key = key_load(keyp, err);
        if (!key) {
            rc = err ? err->code : TK_ETLS;
            goto done;
        }
        have = path_exists(pubp, err);
        if (have < 0) {
            rc = err ? err->code : TK_EIO;
            goto done;
        }
        if (have) {
            if (read_pem(pubp, &pdata, &plen, err)) {
                rc = err ? err->code : TK_EIO;
                goto done;
            }
            pub = pubkey_parse(pdata, plen);
            ERR_clear_error();
            if (pub && EVP_PKEY_eq(pub, key) == 1)
                goto done;
        }
    } else {
        key = keygen_once(err);
        if (!key) {
            rc = err ? err->code : TK_ETLS;
            goto done;
        }
        kpem = key_pem(key, err);
        if (!kpem || write_file(dir, "sa.key", kpem, 0600, err)) {
            rc = err ? err->code : TK_EIO;
            goto done;
        }
    }
    ppem = pubkey_pem(key, err);
    if (!ppem || write_file(dir, "sa.pub", ppem, 0644, err)) {
        rc = err ? err->code : TK_EIO;
        goto done;
    }
    tk_info("wrote service-account key", "file=%s", pubp);
done:
    EVP_PKEY_free(key);
    EVP_PKEY_free(pub);
    free_secret(kpem);
    free(ppem);
    free(pdata);
    free(keyp);
    free(pubp);
    return rc;
}

int tk_pki_ensure(const char *dir, const struct tk_pki_opts *opts, struct tk_err *err)
{
    struct tk_pki_ca *ca = NULL;
    const char **sans = NULL;
    GENERAL_NAMES *want_sans = NULL;
    struct stat st;
    int rc = 0;

    ERR_clear_error();
    if (!dir || !*dir)
        return tk_err_set(err, TK_EINVAL, "PKI directory not given");
    if (stat(dir, &st) != 0)
        return tk_err_set(err, TK_EIO, "PKI directory '%s': %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return tk_err_set(err, TK_EIO, "PKI directory '%s': not a directory", dir);
    /* Bad SANs are the caller's mistake: report them before touching any file. */
    if (opts && opts->service_ip) {
        ASN1_OCTET_STRING *ip = a2i_IPADDRESS(opts->service_ip);
        ASN1_OCTET_STRING_free(ip);
        if (!ip)
            return tk_err_set(err, TK_EINVAL, "service IP '%s' is not an IP address",
                              opts->service_ip);
    }
    sans = apiserver_sans(opts);
    want_sans = sans_build(sans, err);
    if (!want_sans) {
        tk_err_prefix(err, "apiserver certificate");
        rc = err ? err->code : TK_EINVAL;
        goto done;
    }
    rc = ensure_ca(dir, &ca, err);
    for (size_t i = 0; rc == 0 && i < sizeof(leaves) / sizeof(leaves[0]); i++) {
        int server = leaves[i].kind == KIND_SERVER;
        rc = ensure_leaf(dir, ca, &leaves[i], server ? sans : NULL, server ? want_sans : NULL, err);
    }
    if (rc == 0)
        rc = ensure_sa(dir, err);
done:
    tk_pki_ca_free(ca);
    GENERAL_NAMES_free(want_sans);
    free(sans);
    return rc;
}

/* ---- certificate requests and reuse checks (TLS bootstrap) ---------------------------- */

static char *csr_pem(X509_REQ *req, struct tk_err *err)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s = NULL;

    if (b && PEM_write_bio_X509_REQ(b, req))
        s = bio_take(b);
    else
        ossl_fail(err, "cannot encode certificate request");
    BIO_free(b);
    return s;
}

int tk_pki_csr_new(const char *cn, const char *org, char **csr_out, char **key_out,
                   struct tk_err *err)
{
    EVP_PKEY *key = NULL;
    X509_REQ *req = NULL;
    X509_NAME *name = NULL;
    int rc = 0;

    *csr_out = *key_out = NULL;
    ERR_clear_error();
    if (!cn || !*cn || (org && !*org))
        return tk_err_set(err, TK_EINVAL, "certificate request needs a non-empty CN (and O)");
    key = keygen_once(err);
    if (!key) {
        rc = err ? err->code : TK_ETLS;
        goto done;
    }
    /* Version 1 (encoded 0), no attributes, no extensions: what Go's x509 writes for
     * certutil.MakeCSR(key, subject, nil, nil), so the approver sees no SAN at all. */
    name = name_build(cn, org);
    req = X509_REQ_new();
    if (!name || !req || !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
        !X509_REQ_set_subject_name(req, name) || !X509_REQ_set_pubkey(req, key) ||
        X509_REQ_sign(req, key, EVP_sha256()) <= 0) {
        rc = ossl_fail(err, "cannot build certificate request");
        goto done;
    }
    *csr_out = csr_pem(req, err);
    *key_out = *csr_out ? key_pem(key, err) : NULL;
    if (!*csr_out || !*key_out) {
        free(*csr_out);
        *csr_out = NULL;
        rc = err ? err->code : TK_ETLS;
    }
done:
    X509_NAME_free(name);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    return rc;
}

int tk_pki_pubkey_der(const char *key_pem, unsigned char **der_out, size_t *len_out,
                      struct tk_err *err)
{
    EVP_PKEY *key = key_parse(key_pem, strlen(key_pem));
    unsigned char *der = NULL;
    int len = key ? i2d_PUBKEY(key, &der) : -1;

    *der_out = NULL;
    *len_out = 0;
    EVP_PKEY_free(key);
    if (len <= 0) {
        OPENSSL_free(der);
        return ossl_fail(err, "cannot encode the public key of a private key");
    }
    *der_out = tk_xmalloc((size_t)len);
    memcpy(*der_out, der, (size_t)len);
    *len_out = (size_t)len;
    OPENSSL_free(der);
    return 0;
}

/* 1 when name holds exactly one entry of nid and it equals want; want NULL: no entry. */
static int name_entry_is(const X509_NAME *name, int nid, const char *want)
{
    int i = X509_NAME_get_index_by_NID(name, nid, -1);
    const ASN1_STRING *s;
    unsigned char *utf8 = NULL;
    int len, ok;

    if (!want)
        return i < 0;
    if (i < 0 || X509_NAME_get_index_by_NID(name, nid, i) >= 0)
        return 0;
    s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    len = ASN1_STRING_to_UTF8(&utf8, s);
    ok = len >= 0 && (size_t)len == strlen(want) && memcmp(utf8, want, (size_t)len) == 0;
    OPENSSL_free(utf8);
    return ok;
}

static const char *client_problem(X509 *x, EVP_PKEY *key, const char *cn, const char *org,
                                  long min_valid_s)
{
    const X509_NAME *name = X509_get_subject_name(x);
    time_t until = time(NULL) + min_valid_s;
    uint32_t xku = X509_get_extended_key_usage(x);

    if (X509_check_private_key(x, key) != 1)
        return "key does not match certificate";
    if (X509_NAME_entry_count(name) != (org ? 2 : 1) || !name_entry_is(name, NID_commonName, cn) ||
        !name_entry_is(name, NID_organizationName, org))
        return "subject differs";
    if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0)
        return "not valid yet";
    if (X509_cmp_time(X509_get0_notAfter(x), &until) <= 0)
        return min_valid_s > 0 ? "expired or expiring soon" : "expired";
    if (xku != UINT32_MAX && !(xku & XKU_SSL_CLIENT))
        return "not a client certificate (extended key usage)";
    return NULL;
}

int tk_pki_client_check(const char *cert_pem, const char *key_pem, const char *cn, const char *org,
                        long min_valid_s, struct tk_err *err)
{
    X509 *x = cert_parse(cert_pem, strlen(cert_pem));
    EVP_PKEY *key = x ? key_parse(key_pem, strlen(key_pem)) : NULL;
    const char *why = !x ? "certificate does not parse" : !key ? "key does not parse" : NULL;
    int rc = 0;

    if (!why)
        why = client_problem(x, key, cn, org, min_valid_s);
    if (why)
        rc = tk_err_set(err, TK_ETLS, "%s", why);
    X509_free(x);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return rc;
}

int tk_pki_write_file(const char *dir, const char *name, const char *data, unsigned mode,
                      struct tk_err *err)
{
    return write_file(dir, name, data, (mode_t)mode, err);
}

int tk_pki_read_file(const char *path, char **data, struct tk_err *err)
{
    size_t len = 0;

    if (slurp(path, data, &len) == 0)
        return 0;
    if (errno == ENOENT)
        return tk_err_set(err, TK_ENOTFOUND, "'%s' does not exist", path);
    return tk_err_set(err, TK_EIO, "cannot read '%s': %s", path, strerror(errno));
}
