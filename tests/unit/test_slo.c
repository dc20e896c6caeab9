/* Which SLO a call falls under: one rule for the run's failure points and the results'
 * figures (a collection DELETE once counted as "mutating p99" in the calculator, 14.9 s where
 * the run judged 1.5 s). */
#include "slo.h"
#include "tktest.h"

TK_TEST(single_object_writes_are_mutating)
{
    CHECK_INT(tk_slo_classify("POST", "", "resource"), TK_SLO_MUTATING);
    CHECK_INT(tk_slo_classify("PATCH", "status", "resource"), TK_SLO_MUTATING);
    CHECK_INT(tk_slo_classify("DELETE", "", "resource"), TK_SLO_MUTATING);
    CHECK_INT(tk_slo_classify("PUT", "", ""), TK_SLO_MUTATING);
    CHECK_INT(tk_slo_classify("post", "binding", "resource"), TK_SLO_MUTATING);
}

TK_TEST(collections_and_streams_have_no_slo)
{
    CHECK_INT(tk_slo_classify("DELETE", "", "namespace"), TK_SLO_NONE);
    CHECK_INT(tk_slo_classify("DELETE", "", "cluster"), TK_SLO_NONE);
    CHECK_INT(tk_slo_classify("WATCH", "", "cluster"), TK_SLO_NONE);
    CHECK_INT(tk_slo_classify("WATCHLIST", "", "namespace"), TK_SLO_NONE);
    CHECK_INT(tk_slo_classify("CONNECT", "exec", "namespace"), TK_SLO_NONE);
    CHECK_INT(tk_slo_classify("GET", "log", "resource"), TK_SLO_NONE);
    CHECK_INT(tk_slo_classify("GET", "proxy", "resource"), TK_SLO_NONE);
    CHECK_INT(tk_slo_classify("", "", "resource"), TK_SLO_NONE);
    CHECK_INT(tk_slo_classify(NULL, NULL, NULL), TK_SLO_NONE);
}

TK_TEST(reads_by_scope)
{
    CHECK_INT(tk_slo_classify("GET", "", "resource"), TK_SLO_RO_RESOURCE);
    CHECK_INT(tk_slo_classify("GET", "", ""), TK_SLO_RO_RESOURCE); /* /openapi/v3 and such */
    CHECK_INT(tk_slo_classify("GET", "", "namespace"), TK_SLO_RO_CLUSTER);
    CHECK_INT(tk_slo_classify("LIST", "", "namespace"), TK_SLO_RO_CLUSTER);
    CHECK_INT(tk_slo_classify("LIST", "", "cluster"), TK_SLO_RO_CLUSTER);
    CHECK_INT(tk_slo_classify("LIST", "", ""), TK_SLO_RO_CLUSTER);
}

TK_TEST_MAIN(single_object_writes_are_mutating, collections_and_streams_have_no_slo, reads_by_scope)
