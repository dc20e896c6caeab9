/* The SLO a call falls under: clusterloader2's rules (REFERENCE.md section 3). */
#include "slo.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

static int one_of(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcasecmp(s, *list) == 0)
            return 1;
    return 0;
}

enum tk_slo_class tk_slo_classify(const char *verb, const char *subresource, const char *scope)
{
    static const char *const skip_verbs[] = {"WATCH", "WATCHLIST", "CONNECT", NULL};
    static const char *const skip_sub[] = {"log", "exec", "portforward", "attach", "proxy", NULL};
    int resource_scope;

    verb = verb ? verb : "";
    subresource = subresource ? subresource : "";
    scope = scope ? scope : "";
    if (!verb[0] || one_of(verb, skip_verbs) || one_of(subresource, skip_sub))
        return TK_SLO_NONE;
    resource_scope = !scope[0] || strcmp(scope, "resource") == 0;
    if (strcasecmp(verb, "LIST") == 0)
        return strcmp(scope, "resource") == 0 ? TK_SLO_RO_RESOURCE : TK_SLO_RO_CLUSTER;
    if (strcasecmp(verb, "GET") == 0)
        return resource_scope ? TK_SLO_RO_RESOURCE : TK_SLO_RO_CLUSTER;
    return resource_scope ? TK_SLO_MUTATING : TK_SLO_NONE;
}
