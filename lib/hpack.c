#include "hpack.h"

#include <stdlib.h>
#include <string.h>

/* ---- static table (RFC 7541 Appendix A) ---- */

static const struct {
    const char *name, *value;
} static_table[] = {
    {"", ""}, /* index 0 is not a field */
    {":authority", ""},
    {":method", "GET"},
    {":method", "POST"},
    {":path", "/"},
    {":path", "/index.html"},
    {":scheme", "http"},
    {":scheme", "https"},
    {":status", "200"},
    {":status", "204"},
    {":status", "206"},
    {":status", "304"},
    {":status", "400"},
    {":status", "404"},
    {":status", "500"},
    {"accept-charset", ""},
    {"accept-encoding", "gzip, deflate"},
    {"accept-language", ""},
    {"accept-ranges", ""},
    {"accept", ""},
    {"access-control-allow-origin", ""},
    {"age", ""},
    {"allow", ""},
    {"authorization", ""},
    {"cache-control", ""},
    {"content-disposition", ""},
    {"content-encoding", ""},
    {"content-language", ""},
    {"content-length", ""},
    {"content-location", ""},
    {"content-range", ""},
    {"content-type", ""},
    {"cookie", ""},
    {"date", ""},
    {"etag", ""},
    {"expect", ""},
    {"expires", ""},
    {"from", ""},
    {"host", ""},
    {"if-match", ""},
    {"if-modified-since", ""},
    {"if-none-match", ""},
    {"if-range", ""},
    {"if-unmodified-since", ""},
    {"last-modified", ""},
    {"link", ""},
    {"location", ""},
    {"max-forwards", ""},
    {"proxy-authenticate", ""},
    {"proxy-authorization", ""},
    {"range", ""},
    {"referer", ""},
    {"refresh", ""},
    {"retry-after", ""},
    {"server", ""},
    {"set-cookie", ""},
    {"strict-transport-security", ""},
    {"transfer-encoding", ""},
    {"user-agent", ""},
    {"vary", ""},
    {"via", ""},
    {"www-authenticate", ""},
};
#define STATIC_N (sizeof(static_table) / sizeof(static_table[0]) - 1) /* 61 */

/* ---- Huffman code (RFC 7541 Appendix B) ----
 * The code is canonical: codes of one length are consecutive in symbol order, and each length's
 * first code follows the previous length's last. So the lengths alone define it; the codes are
 * derived once. Symbol 256 is EOS. */
static const uint8_t huff_len[257] = {
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6,  10, 10, 12, 13, 6,  8,  11, 10, 10, 8,  11, 8,  6,  6,  6,
    5,  5,  5,  6,  6,  6,  6,  6,  6,  6,  7,  8,  15, 6,  12, 10, 13, 6,  7,  7,  7,  7,  7,  7,
    7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  8,  7,  8,  13, 19, 13, 14, 6,
    15, 5,  6,  5,  6,  5,  6,  6,  6,  5,  7,  7,  6,  6,  6,  5,  6,  7,  6,  5,  5,  6,  7,  7,
    7,  7,  7,  15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21,
    23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24,
    21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
};

#define HUFF_MAXLEN 30

static struct {
    uint32_t code[257];
    uint16_t sym[257];               /* symbols ordered by (length, symbol) */
    uint32_t first[HUFF_MAXLEN + 1]; /* first code of each length */
    uint16_t count[HUFF_MAXLEN + 1], offset[HUFF_MAXLEN + 1];
    int ready;
} huff;

static void huff_build(void)
{
    uint32_t code = 0;
    unsigned k = 0;

    for (int len = 1; len <= HUFF_MAXLEN; len++) {
        huff.first[len] = code;
        huff.offset[len] = (uint16_t)k;
        for (int s = 0; s < 257; s++) {
            if (huff_len[s] != len)
                continue;
            huff.code[s] = code++;
            huff.sym[k++] = (uint16_t)s;
            huff.count[len]++;
        }
        code <<= 1;
    }
    huff.ready = 1;
}

/* The table is built on first use; the agent is single-threaded and the build is idempotent
 * (the same values written twice) if two threads of a test ever raced to it. */
static void huff_init(void)
{
    if (!huff.ready)
        huff_build();
}

int tk_hpack_huffman_decode(const uint8_t *p, size_t n, struct tk_buf *out)
{
    uint32_t code = 0;
    int len = 0, ones = 1;

    huff_init();
    for (size_t i = 0; i < n; i++) {
        for (int b = 7; b >= 0; b--) {
            int bit = (p[i] >> b) & 1;
            code = (code << 1) | (uint32_t)bit;
            ones &= bit;
            len++;
            if (code - huff.first[len] < huff.count[len]) {
                uint16_t s = huff.sym[huff.offset[len] + (code - huff.first[len])];
                if (s == 256)
                    return -1; /* EOS inside a string (RFC 7541 5.2) */
                char c = (char)s;
                tk_buf_append(out, &c, 1);
                code = 0;
                len = 0;
                ones = 1;
            } else if (len == HUFF_MAXLEN) {
                return -1;
            }
        }
    }
    /* padding: fewer than 8 bits, the most significant bits of EOS (all ones) */
    return len > 7 || !ones ? -1 : 0;
}

void tk_hpack_huffman_encode(const char *s, size_t n, struct tk_buf *out)
{
    uint64_t acc = 0;
    int bits = 0;

    huff_init();
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        acc = (acc << huff_len[c]) | huff.code[c];
        bits += huff_len[c];
        while (bits >= 8) {
            char o = (char)(acc >> (bits - 8));
            tk_buf_append(out, &o, 1);
            bits -= 8;
        }
    }
    if (bits > 0) {
        char o = (char)((acc << (8 - bits)) | (0xffu >> bits));
        tk_buf_append(out, &o, 1);
    }
}

/* ---- primitives (RFC 7541 5.1, 5.2) ---- */

/* Reads an integer with an N-bit prefix at *pos. Returns 0, or -1 when truncated or over 2^28. */
static int get_int(const uint8_t *p, size_t n, size_t *pos, int prefix, uint32_t *out)
{
    uint32_t max = (1u << prefix) - 1, v;
    int shift = 0;

    if (*pos >= n)
        return -1;
    v = p[(*pos)++] & max;
    if (v < max) {
        *out = v;
        return 0;
    }
    for (;;) {
        if (*pos >= n || shift > 21)
            return -1;
        uint8_t b = p[(*pos)++];
        v += (uint32_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80))
            break;
    }
    *out = v;
    return 0;
}

static void put_int(struct tk_buf *b, uint8_t first, int prefix, size_t v)
{
    size_t max = ((size_t)1 << prefix) - 1;
    uint8_t o;

    if (v < max) {
        o = (uint8_t)(first | v);
        tk_buf_append(b, &o, 1);
        return;
    }
    o = (uint8_t)(first | max);
    tk_buf_append(b, &o, 1);
    v -= max;
    while (v >= 128) {
        o = (uint8_t)(0x80 | (v & 0x7f));
        tk_buf_append(b, &o, 1);
        v >>= 7;
    }
    o = (uint8_t)v;
    tk_buf_append(b, &o, 1);
}

/* Reads a string literal at *pos onto d->scratch; *off gets where it starts there. */
static int get_str(struct tk_hpack_dec *d, const uint8_t *p, size_t n, size_t *pos, size_t *off,
                   size_t *len)
{
    uint32_t l;
    int huffman;

    if (*pos >= n)
        return -1;
    huffman = p[*pos] & 0x80;
    if (get_int(p, n, pos, 7, &l) || l > n - *pos)
        return -1;
    *off = d->scratch.len;
    if (huffman) {
        if (tk_hpack_huffman_decode(p + *pos, l, &d->scratch))
            return -1;
    } else {
        tk_buf_append(&d->scratch, p + *pos, l);
    }
    *pos += l;
    *len = d->scratch.len - *off;
    return 0;
}

/* ---- dynamic table (RFC 7541 2.3.2, 4) ---- */

struct hpack_entry {
    size_t nlen, vlen;
    char data[]; /* name then value */
};

static struct hpack_entry *dyn_get(const struct tk_hpack_dec *d, size_t i) /* 0: newest */
{
    return d->ring[(d->head + d->n - 1 - i) % d->cap];
}

static void dyn_evict(struct tk_hpack_dec *d, size_t limit)
{
    while (d->n > 0 && d->size > limit) {
        struct hpack_entry *e = d->ring[d->head];
        d->size -= e->nlen + e->vlen + 32;
        free(e);
        d->ring[d->head] = NULL;
        d->head = (d->head + 1) % d->cap;
        d->n--;
    }
}

static void dyn_grow(struct tk_hpack_dec *d)
{
    size_t ncap = d->cap ? d->cap * 2 : 8;
    struct hpack_entry **r = tk_xcalloc(ncap, sizeof(*r));
    for (size_t i = 0; i < d->n; i++)
        r[i] = d->ring[(d->head + i) % d->cap];
    free(d->ring);
    d->ring = r;
    d->cap = ncap;
    d->head = 0;
}

static void dyn_add(struct tk_hpack_dec *d, const char *name, size_t nlen, const char *value,
                    size_t vlen)
{
    size_t sz = nlen + vlen + 32;
    struct hpack_entry *e;

    dyn_evict(d, sz > d->max_size ? 0 : d->max_size - sz);
    if (sz > d->max_size)
        return; /* an entry larger than the table empties it and is not added (4.4) */
    if (d->n == d->cap)
        dyn_grow(d);
    e = tk_xmalloc(sizeof(*e) + nlen + vlen);
    e->nlen = nlen;
    e->vlen = vlen;
    memcpy(e->data, name, nlen);
    memcpy(e->data + nlen, value, vlen);
    d->ring[(d->head + d->n) % d->cap] = e;
    d->n++;
    d->size += sz;
}

/* Resolves index i (1-based, static then dynamic). */
static int lookup(const struct tk_hpack_dec *d, uint32_t i, const char **name, size_t *nlen,
                  const char **value, size_t *vlen)
{
    if (i == 0)
        return -1;
    if (i <= STATIC_N) {
        *name = static_table[i].name;
        *nlen = strlen(*name);
        *value = static_table[i].value;
        *vlen = strlen(*value);
        return 0;
    }
    if (i - STATIC_N > d->n)
        return -1;
    struct hpack_entry *e = dyn_get(d, i - STATIC_N - 1);
    *name = e->data;
    *nlen = e->nlen;
    *value = e->data + e->nlen;
    *vlen = e->vlen;
    return 0;
}

void tk_hpack_dec_init(struct tk_hpack_dec *d, size_t max_limit)
{
    memset(d, 0, sizeof(*d));
    d->max_size = d->max_limit = max_limit;
    tk_buf_init(&d->scratch, 0);
}

void tk_hpack_dec_release(struct tk_hpack_dec *d)
{
    dyn_evict(d, 0);
    free(d->ring);
    tk_buf_release(&d->scratch);
    memset(d, 0, sizeof(*d));
}

/* ---- decoding ---- */

/* A literal field (6.2): prefix bits of index, optional literal name, literal value. */
static int literal(struct tk_hpack_dec *d, const uint8_t *p, size_t n, size_t *pos, int prefix,
                   int add, tk_hpack_field_fn cb, void *ud)
{
    uint32_t idx;
    const char *name = NULL, *sv;
    size_t nlen = 0, noff = 0, voff, vlen, svl;
    int rc;

    tk_buf_reset(&d->scratch);
    if (get_int(p, n, pos, prefix, &idx))
        return -1;
    if (idx) {
        if (lookup(d, idx, &name, &nlen, &sv, &svl))
            return -1;
        /* copy: dyn_add below may evict the entry the name came from */
        noff = d->scratch.len;
        tk_buf_append(&d->scratch, name, nlen);
    } else if (get_str(d, p, n, pos, &noff, &nlen)) {
        return -1;
    }
    if (get_str(d, p, n, pos, &voff, &vlen))
        return -1;
    name = d->scratch.data + noff;
    const char *value = d->scratch.data + voff;
    if (add)
        dyn_add(d, name, nlen, value, vlen);
    rc = cb(name, nlen, value, vlen, ud);
    return rc ? rc : 0;
}

int tk_hpack_decode(struct tk_hpack_dec *d, const uint8_t *p, size_t n, tk_hpack_field_fn cb,
                    void *ud, struct tk_err *err)
{
    size_t pos = 0;
    int fields = 0, rc = 0;

    while (pos < n) {
        uint8_t b = p[pos];
        if (b & 0x80) { /* indexed (6.1) */
            uint32_t idx;
            const char *name, *value;
            size_t nlen, vlen;
            if (get_int(p, n, &pos, 7, &idx) || lookup(d, idx, &name, &nlen, &value, &vlen))
                return tk_err_set(err, TK_ENET, "HPACK: bad index");
            rc = cb(name, nlen, value, vlen, ud);
        } else if (b & 0x40) { /* literal with incremental indexing (6.2.1) */
            rc = literal(d, p, n, &pos, 6, 1, cb, ud);
        } else if (b & 0x20) { /* dynamic table size update (6.3) */
            uint32_t sz;
            if (fields > 0 || get_int(p, n, &pos, 5, &sz) || sz > d->max_limit)
                return tk_err_set(err, TK_ENET, "HPACK: bad table size update");
            d->max_size = sz;
            dyn_evict(d, sz);
            continue;
        } else { /* without indexing (6.2.2) or never indexed (6.2.3) */
            rc = literal(d, p, n, &pos, 4, 0, cb, ud);
        }
        if (rc < 0)
            return tk_err_set(err, TK_ENET, "HPACK: malformed field at byte %zu", pos);
        if (rc)
            return rc;
        fields++;
    }
    return 0;
}

/* ---- encoding ---- */

void tk_hpack_put_indexed(struct tk_buf *b, unsigned idx)
{
    put_int(b, 0x80, 7, idx);
}

void tk_hpack_put_field(struct tk_buf *b, const char *name, size_t nlen, const char *value,
                        size_t vlen)
{
    unsigned idx = 0;

    for (unsigned i = 1; i <= STATIC_N && !idx; i++)
        if (strlen(static_table[i].name) == nlen && !memcmp(static_table[i].name, name, nlen))
            idx = i;
    put_int(b, 0x00, 4, idx);
    if (!idx) {
        put_int(b, 0x00, 7, nlen);
        tk_buf_append(b, name, nlen);
    }
    put_int(b, 0x00, 7, vlen);
    tk_buf_append(b, value, vlen);
}
