#ifndef TK_POD_H
#define TK_POD_H

/* What the agent keeps of a Pod: the few fields a fake kubelet needs, parsed once from a watch
 * event into one allocation (struct, containers and strings together), so a running pod costs
 * a few hundred bytes instead of its JSON. */

#include <stdint.h>

#include "err.h"

struct cJSON;

enum tk_pod_restart { TK_RESTART_ALWAYS = 0, TK_RESTART_ONFAILURE, TK_RESTART_NEVER };
enum tk_pod_qos { TK_QOS_BESTEFFORT = 0, TK_QOS_BURSTABLE, TK_QOS_GUARANTEED };
enum tk_pod_phase {
    TK_PHASE_NONE = 0, /* status.phase absent */
    TK_PHASE_PENDING,
    TK_PHASE_RUNNING,
    TK_PHASE_SUCCEEDED,
    TK_PHASE_FAILED,
    TK_PHASE_UNKNOWN
};

struct tk_pod_container {
    const char *name; /* borrowed from the pod's allocation */
    const char *image;
    int sidecar;       /* init container with restartPolicy Always (a native sidecar) */
    int64_t cpu_milli; /* resources.requests.cpu (0 when absent) */
    int64_t mem_bytes; /* resources.requests.memory */
};

/* Annotations that steer one pod (values in Go duration syntax / integers). */
#define TK_POD_ANN_STARTUP "turbokube.io/startup-delay" /* overrides the sampled delay */
#define TK_POD_ANN_RUN "turbokube.io/run-duration"      /* containers exit after this long */
#define TK_POD_ANN_EXIT "turbokube.io/exit-code"        /* ... with this code (default 0) */

struct tk_pod_info {
    const char *namespace_, *name, *uid, *node_name; /* node_name "" when unbound */
    const char *pod_ip;                              /* status.podIP as observed, "" when none */
    int64_t creation_ns;                             /* wall clock */
    int64_t deletion_ns;   /* metadata.deletionTimestamp, 0 when not deleting */
    int64_t grace_s;       /* deletionGracePeriodSeconds, else spec's, else 30 */
    int64_t start_time_ns; /* status.startTime, 0 when absent */
    int64_t startup_ns;    /* TK_POD_ANN_STARTUP, -1 when absent */
    int64_t run_ns;        /* TK_POD_ANN_RUN, -1 when absent */
    int exit_code;         /* TK_POD_ANN_EXIT, 0 when absent */
    enum tk_pod_restart restart;
    enum tk_pod_qos qos;     /* computed from requests and limits */
    enum tk_pod_phase phase; /* observed status.phase */
    int ready;               /* observed condition Ready=True */
    int host_network;
    int ncontainers, ninit;
    struct tk_pod_container *containers; /* ncontainers regular ones */
    struct tk_pod_container *init;       /* ninit init containers */
    int64_t cpu_milli, mem_bytes;        /* sums of regular containers' requests */
};

/* Parses a Pod object (a watch event's "object" or a LIST item). Required: metadata.name,
 * namespace, uid and at least one spec.containers[] with a name; anything else falls back to
 * its Kubernetes default. Bad annotations are ignored with their default (a pod author's typo
 * must not stop the fleet) and reported through *warn_out when non-NULL (a static string).
 * On success *out is the pod (tk_pod_info_free); on failure *out is NULL and err says which
 * field is missing (TK_EINVAL). */
int tk_pod_parse(const struct cJSON *obj, struct tk_pod_info **out, const char **warn_out,
                 struct tk_err *err);

/* Frees a parsed pod; NULL-safe. */
void tk_pod_info_free(struct tk_pod_info *pod);

/* The QoS class Kubernetes computes (pkg/apis/core/helper/qos): only cpu and memory count;
 * Guaranteed when every container (init included) has limits for both and requests equal to
 * limits; BestEffort when no container requests or limits either; else Burstable.
 * Quantities that do not parse count as absent. */
enum tk_pod_qos tk_pod_compute_qos(const struct cJSON *spec);

/* "BestEffort", "Burstable", "Guaranteed". */
const char *tk_pod_qos_name(enum tk_pod_qos qos);

/* "Pending", "Running", ...; "" for TK_PHASE_NONE. */
const char *tk_pod_phase_name(enum tk_pod_phase phase);

/* Convenience lookup of a string at a dotted path ("metadata.name"); NULL when absent or not
 * a string. Borrowed from obj. */
const char *tk_pod_jstr(const struct cJSON *obj, const char *path);

#endif
