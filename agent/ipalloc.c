#include "ipalloc.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

int tk_ipalloc_parse_cidr(const char *s, uint32_t *net_out, int *prefix_out, int allow_host_bits,
                          struct tk_err *err)
{
    char ip[32];
    const char *slash = strchr(s, '/');
    struct in_addr in;
    char *end;
    long prefix;

    if (!slash || (size_t)(slash - s) >= sizeof(ip))
        return tk_err_set(err, TK_EINVAL, "'%s' is not an IPv4 CIDR (a.b.c.d/len)", s);
    memcpy(ip, s, (size_t)(slash - s));
    ip[slash - s] = '\0';
    prefix = strtol(slash + 1, &end, 10);
    if (inet_pton(AF_INET, ip, &in) != 1 || *end || end == slash + 1 || prefix < 0 || prefix > 32)
        return tk_err_set(err, TK_EINVAL, "'%s' is not an IPv4 CIDR (a.b.c.d/len)", s);
    uint32_t addr = ntohl(in.s_addr);
    uint32_t mask = prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
    if (!allow_host_bits && (addr & ~mask))
        return tk_err_set(err, TK_EINVAL, "'%s' has host bits set", s);
    *net_out = addr & mask;
    *prefix_out = (int)prefix;
    return 0;
}

void tk_ipalloc_format(uint32_t addr, char *out)
{
    snprintf(out, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 255, (addr >> 8) & 255, addr & 255);
}

int tk_ipalloc_init(struct tk_ipalloc *a, uint32_t net, int prefix, struct tk_err *err)
{
    memset(a, 0, sizeof(*a));
    if (prefix < 16 || prefix > 32)
        return tk_err_set(err, TK_EINVAL, "pod range /%d: prefix must be within /16../32", prefix);
    a->base = net;
    a->prefix = prefix;
    a->size = 1u << (32 - prefix);
    if (a->size >= 4) {
        a->first = 2; /* skip network and .1 */
        a->last = a->size - 2;
    } else {
        a->first = 0;
        a->last = a->size - 1;
    }
    a->cursor = a->first;
    a->bits = tk_xcalloc((a->size + 63) / 64, sizeof(uint64_t));
    return 0;
}

int tk_ipalloc_init_cidr(struct tk_ipalloc *a, const char *cidr, struct tk_err *err)
{
    uint32_t net = 0;
    int prefix = 0, rc;

    memset(a, 0, sizeof(*a));
    if ((rc = tk_ipalloc_parse_cidr(cidr, &net, &prefix, 0, err)))
        return rc;
    return tk_ipalloc_init(a, net, prefix, err);
}

void tk_ipalloc_release(struct tk_ipalloc *a)
{
    free(a->bits);
    memset(a, 0, sizeof(*a));
}

static int bit_get(const struct tk_ipalloc *a, uint32_t off)
{
    return (int)((a->bits[off / 64] >> (off % 64)) & 1);
}

int tk_ipalloc_take(struct tk_ipalloc *a, uint32_t *addr_out)
{
    uint32_t span = a->last - a->first + 1, off = a->cursor;

    if (!a->bits || a->used >= span)
        return -1;
    /* Scan word-wise from the cursor: a full word is skipped in one step. */
    for (uint32_t n = 0; n < span;) {
        uint64_t w = a->bits[off / 64];
        if (w == ~0ULL && off % 64 == 0 && off + 64 <= a->last + 1) {
            n += 64;
            off += 64;
        } else {
            if (!((w >> (off % 64)) & 1)) {
                a->bits[off / 64] |= 1ULL << (off % 64);
                a->used++;
                a->cursor = off + 1 > a->last ? a->first : off + 1;
                *addr_out = a->base + off;
                return 0;
            }
            n++;
            off++;
        }
        if (off > a->last)
            off = a->first;
    }
    return -1;
}

int tk_ipalloc_contains(const struct tk_ipalloc *a, uint32_t addr)
{
    return a->bits && addr - a->base < a->size && addr >= a->base;
}

int tk_ipalloc_claim(struct tk_ipalloc *a, uint32_t addr)
{
    uint32_t off = addr - a->base;

    if (!tk_ipalloc_contains(a, addr) || off < a->first || off > a->last || bit_get(a, off))
        return -1;
    a->bits[off / 64] |= 1ULL << (off % 64);
    a->used++;
    return 0;
}

int tk_ipalloc_put(struct tk_ipalloc *a, uint32_t addr)
{
    uint32_t off = addr - a->base;

    if (!tk_ipalloc_contains(a, addr) || !bit_get(a, off))
        return -1;
    a->bits[off / 64] &= ~(1ULL << (off % 64));
    a->used--;
    return 0;
}

int tk_ipalloc_subnet(uint32_t net, int prefix, int block_prefix, uint64_t idx, uint32_t *out,
                      struct tk_err *err)
{
    if (block_prefix < prefix || block_prefix > 32 || prefix < 0)
        return tk_err_set(err, TK_EINVAL, "cannot carve /%d blocks out of a /%d", block_prefix,
                          prefix);
    uint64_t blocks = 1ULL << (block_prefix - prefix);
    if (idx >= blocks)
        return tk_err_set(err, TK_EINVAL, "block %llu is beyond the %llu /%d blocks of a /%d",
                          (unsigned long long)idx, (unsigned long long)blocks, block_prefix,
                          prefix);
    *out = net + (uint32_t)(idx << (32 - block_prefix));
    return 0;
}
