#ifndef TK_EVENT_H
#define TK_EVENT_H

/* core/v1 Event bodies as the kubelet's event recorder writes them, for
 * POST /api/v1/namespaces/{namespace}/events. kube-burner's podLatency matches container
 * Started events by involvedObject and needs source.component "kubelet"; the name follows
 * client-go's recorder: "<object name>.<lowercase hex UnixNano>". */

#include <stdint.h>

#include "buf.h"

struct tk_event_ref {
    const char *kind;        /* "Pod" or "Node" */
    const char *api_version; /* "v1" */
    const char *namespace_;  /* pod's namespace; "" for a Node (the event goes to "default") */
    const char *name;
    const char *uid;        /* Node events use the node name, as the kubelet does */
    const char *field_path; /* "spec.containers{web}" or NULL */
};

/* Largest name tk_event_build writes: a 253-byte object name + '.' + 16 hex digits + NUL. */
#define TK_EVENT_NAME_MAX 272

/* Appends the Event JSON to out: metadata {name, namespace}, involvedObject from ref, reason,
 * message, type ("Normal"/"Warning"), source {component: kubelet, host}, firstTimestamp and
 * lastTimestamp at wall_ns (second resolution), count 1, reportingComponent kubelet,
 * reportingInstance host. The name is derived from ref->name and wall_ns; callers posting
 * several events for one object in one instant pass distinct wall_ns (+1 ns each). When
 * name_out is non-NULL the name is copied there (TK_EVENT_NAME_MAX bytes). The namespace the
 * event belongs to is ref->namespace_, or "default" when that is empty. Returns 0 or -1 when
 * out's cap is reached. */
int tk_event_build(struct tk_buf *out, const struct tk_event_ref *ref, const char *type,
                   const char *reason, const char *message, const char *host, int64_t wall_ns,
                   char *name_out);

/* The namespace an event about ref is posted to ("default" for cluster-scoped objects). */
const char *tk_event_namespace(const struct tk_event_ref *ref);

#endif
