/* Which Kubernetes API SLO a call falls under (REFERENCE.md section 3), one rule for every
 * reader: the run's failure points (run.c) and the results' figures (results.c, the
 * calculator). */
#ifndef TK_SLO_H
#define TK_SLO_H

enum tk_slo_class {
    TK_SLO_NONE = 0,    /* no SLO: WATCH, CONNECT, log/exec/portforward/attach/proxy,
                           mutating calls on collections (the namespace controller's deletes) */
    TK_SLO_MUTATING,    /* single-object POST/PUT/PATCH/DELETE... (scope resource, or none) */
    TK_SLO_RO_RESOURCE, /* GET of one object; GET of a non-resource URL */
    TK_SLO_RO_CLUSTER,  /* LIST, and GET with scope namespace or cluster */
};

/* verb, subresource ("" for none) and scope ("" for none) as the apiserver labels them. */
enum tk_slo_class tk_slo_classify(const char *verb, const char *subresource, const char *scope);

#endif
