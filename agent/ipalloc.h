#ifndef TK_IPALLOC_H
#define TK_IPALLOC_H

/* IPv4 address pools. A pool is one CIDR (a node's spec.podCIDR, or the block the agent carves
 * for it from its own range) with a bitmap of addresses in use. Allocation is next-fit from a
 * rotating cursor, so an address freed by a deleted pod is reused only after the rest of the
 * range has been handed out: addresses are unique among live pods and recycled, but not
 * immediately. The network and broadcast addresses and the first host (.1, the gateway by
 * convention) are never handed out for prefixes shorter than /31. */

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct tk_ipalloc {
    uint32_t base;   /* network address, host order */
    uint32_t size;   /* addresses in the range (2^(32-prefix)), at most TK_IPALLOC_MAX */
    uint32_t first;  /* first allocatable offset */
    uint32_t last;   /* last allocatable offset */
    uint32_t cursor; /* next offset to try */
    uint32_t used;
    int prefix;
    uint64_t *bits; /* size/64 words (rounded up); owned */
};

/* Largest pool: a /16 (its bitmap is 8 KiB). */
#define TK_IPALLOC_MAX 65536u

/* Parses "a.b.c.d/len" into network address (host order; host bits must be zero unless
 * allow_host_bits) and prefix length. TK_EINVAL on anything else. */
int tk_ipalloc_parse_cidr(const char *s, uint32_t *net_out, int *prefix_out, int allow_host_bits,
                          struct tk_err *err);

/* Formats a host-order address as dotted quad into out (at least 16 bytes). */
void tk_ipalloc_format(uint32_t addr, char *out);

/* Initializes a pool for net/prefix. TK_EINVAL when the prefix is shorter than /16 (a pool
 * that large would cost more bitmap than a node is worth) or longer than /32. */
int tk_ipalloc_init(struct tk_ipalloc *a, uint32_t net, int prefix, struct tk_err *err);

/* Parses cidr and initializes the pool from it. */
int tk_ipalloc_init_cidr(struct tk_ipalloc *a, const char *cidr, struct tk_err *err);

void tk_ipalloc_release(struct tk_ipalloc *a);

/* Takes a free address. Returns 0 and sets *addr_out (host order), or -1 when the pool is
 * exhausted. */
int tk_ipalloc_take(struct tk_ipalloc *a, uint32_t *addr_out);

/* Marks a specific address as used (e.g. a pod that already has an IP after a restart of the
 * agent). Returns 0, or -1 when it lies outside the pool or is already taken. */
int tk_ipalloc_claim(struct tk_ipalloc *a, uint32_t addr);

/* Returns an address to the pool. Returns 0, or -1 when it was not taken from this pool. */
int tk_ipalloc_put(struct tk_ipalloc *a, uint32_t addr);

/* 1 when addr lies inside the pool's CIDR. */
int tk_ipalloc_contains(const struct tk_ipalloc *a, uint32_t addr);

/* The idx-th block of 2^(32-block_prefix) addresses inside net/prefix. Returns 0, or TK_EINVAL
 * when block_prefix < prefix or idx is beyond the range. Used to carve a node's pod range
 * (block idx = global node index) and node InternalIPs out of the agent's ranges. */
int tk_ipalloc_subnet(uint32_t net, int prefix, int block_prefix, uint64_t idx, uint32_t *out,
                      struct tk_err *err);

#endif
