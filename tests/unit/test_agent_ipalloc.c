#include "ipalloc.h"

#include <stdlib.h>

#include "tktest.h"

TK_TEST(ipalloc_parse_cidr)
{
    struct tk_err err = {0};
    uint32_t net;
    int prefix;
    char s[16];
    CHECK_INT(tk_ipalloc_parse_cidr("10.244.3.0/24", &net, &prefix, 0, &err), 0);
    CHECK_INT(prefix, 24);
    tk_ipalloc_format(net, s);
    CHECK_STR(s, "10.244.3.0");
    CHECK_INT(tk_ipalloc_parse_cidr("10.244.3.7/24", &net, &prefix, 0, &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "host bits");
    tk_err_clear(&err);
    CHECK_INT(tk_ipalloc_parse_cidr("10.244.3.7/24", &net, &prefix, 1, &err), 0);
    tk_ipalloc_format(net, s);
    CHECK_STR(s, "10.244.3.0");
    CHECK_INT(tk_ipalloc_parse_cidr("10.244.3.0", &net, &prefix, 0, &err), TK_EINVAL);
    tk_err_clear(&err);
    CHECK_INT(tk_ipalloc_parse_cidr("10.244.3.0/33", &net, &prefix, 0, &err), TK_EINVAL);
    tk_err_clear(&err);
    CHECK_INT(tk_ipalloc_parse_cidr("fd00::/64", &net, &prefix, 0, &err), TK_EINVAL);
    tk_err_clear(&err);
    CHECK_INT(tk_ipalloc_parse_cidr("10.1.2.0/", &net, &prefix, 0, &err), TK_EINVAL);
}

TK_TEST(ipalloc_unique_until_exhausted)
{
    struct tk_ipalloc a;
    struct tk_err err = {0};
    uint32_t ip, seen[256];
    int n = 0;
    CHECK_INT(tk_ipalloc_init_cidr(&a, "10.244.7.0/24", &err), 0);
    while (tk_ipalloc_take(&a, &ip) == 0) {
        CHECK(tk_ipalloc_contains(&a, ip));
        CHECK((ip & 255) >= 2 && (ip & 255) <= 254); /* no network, gateway or broadcast */
        for (int i = 0; i < n; i++)
            CHECK(seen[i] != ip);
        seen[n++] = ip;
        CHECK(n <= 253);
    }
    CHECK_INT(n, 253);
    CHECK_INT(a.used, 253);
    CHECK_INT(tk_ipalloc_put(&a, seen[100]), 0);
    CHECK_INT(tk_ipalloc_put(&a, seen[100]), -1); /* double free refused */
    CHECK_INT(tk_ipalloc_take(&a, &ip), 0);
    CHECK_INT(ip, seen[100]); /* the only free one is recycled */
    CHECK_INT(tk_ipalloc_take(&a, &ip), -1);
    tk_ipalloc_release(&a);
}

TK_TEST(ipalloc_recycles_late)
{
    struct tk_ipalloc a;
    struct tk_err err = {0};
    uint32_t first, ip;
    CHECK_INT(tk_ipalloc_init_cidr(&a, "10.0.0.0/24", &err), 0);
    CHECK_INT(tk_ipalloc_take(&a, &first), 0);
    CHECK_INT(tk_ipalloc_put(&a, first), 0);
    /* next-fit: the freed address comes back only after the range wrapped */
    for (int i = 0; i < 252; i++) {
        CHECK_INT(tk_ipalloc_take(&a, &ip), 0);
        CHECK(ip != first);
    }
    CHECK_INT(tk_ipalloc_take(&a, &ip), 0);
    CHECK_INT(ip, first);
    tk_ipalloc_release(&a);
}

TK_TEST(ipalloc_claim_and_big_pool)
{
    struct tk_ipalloc a;
    struct tk_err err = {0};
    uint32_t net, ip;
    int prefix;
    CHECK_INT(tk_ipalloc_init_cidr(&a, "10.1.0.0/16", &err), 0);
    tk_ipalloc_parse_cidr("10.1.0.2/32", &net, &prefix, 0, &err);
    CHECK_INT(tk_ipalloc_claim(&a, net), 0);
    CHECK_INT(tk_ipalloc_claim(&a, net), -1);
    CHECK_INT(tk_ipalloc_take(&a, &ip), 0);
    CHECK_INT(ip, net + 1);
    CHECK_INT(tk_ipalloc_claim(&a, net + 70000), -1); /* outside */
    for (int i = 0; i < 65533 - 2; i++)
        CHECK_INT(tk_ipalloc_take(&a, &ip), 0);
    CHECK_INT(tk_ipalloc_take(&a, &ip), -1);
    CHECK_INT(a.used, 65533);
    tk_ipalloc_release(&a);
    CHECK_INT(tk_ipalloc_init_cidr(&a, "10.0.0.0/8", &err), TK_EINVAL);
    tk_ipalloc_release(&a);
}

TK_TEST(ipalloc_subnet_carving)
{
    struct tk_err err = {0};
    uint32_t net, out;
    int prefix;
    char s[16];
    tk_ipalloc_parse_cidr("10.128.0.0/9", &net, &prefix, 0, &err);
    CHECK_INT(tk_ipalloc_subnet(net, prefix, 24, 0, &out, &err), 0);
    tk_ipalloc_format(out, s);
    CHECK_STR(s, "10.128.0.0");
    CHECK_INT(tk_ipalloc_subnet(net, prefix, 24, 4999, &out, &err), 0);
    tk_ipalloc_format(out, s);
    CHECK_STR(s, "10.147.135.0");
    CHECK_INT(tk_ipalloc_subnet(net, prefix, 24, 32768, &out, &err), TK_EINVAL);
    tk_err_clear(&err);
    CHECK_INT(tk_ipalloc_subnet(net, prefix, 8, 0, &out, &err), TK_EINVAL);
}

TK_TEST_MAIN(ipalloc_parse_cidr, ipalloc_unique_until_exhausted, ipalloc_recycles_late,
             ipalloc_claim_and_big_pool, ipalloc_subnet_carving)
