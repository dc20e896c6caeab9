#ifndef TK_PODSTATUS_H
#define TK_PODSTATUS_H

/* Pod status bodies for PATCH /api/v1/namespaces/{ns}/pods/{name}/status, as strategic merge
 * patches (Content-Type application/strategic-merge-patch+json). The body carries
 * metadata.uid, so a patch aimed at a pod that was deleted and recreated under the same name
 * fails instead of touching the new one (the kubelet's status manager does the same).
 * status.conditions merge by type, so PodScheduled (the scheduler's) is kept untouched;
 * containerStatuses are replaced whole.
 *
 * What kube-burner's podLatency needs (REFERENCE.md §2) is what TK_PODSTATUS_RUNNING writes:
 * phase Running, startTime, hostIP(s), podIP(s), conditions PodReadyToStartContainers,
 * Initialized, ContainersReady and Ready all "True" with lastTransitionTime, containerStatuses
 * with ready, started, state.running.startedAt, image, imageID and containerID, init
 * containers terminated with reason Completed (native sidecars running), and qosClass. */

#include <stdint.h>

#include "buf.h"
#include "pod.h"

enum tk_podstatus_kind {
    TK_PODSTATUS_PENDING,   /* sandbox being created: phase Pending, containers waiting
                               ContainerCreating, PodReadyToStartContainers False */
    TK_PODSTATUS_RUNNING,   /* every container running and ready */
    TK_PODSTATUS_BACKOFF,   /* containers exited and wait to restart: waiting CrashLoopBackOff,
                               lastState terminated, Ready False */
    TK_PODSTATUS_SUCCEEDED, /* every container terminated; phase Succeeded (exit 0) */
    TK_PODSTATUS_FAILED,    /* every container terminated; phase Failed (exit != 0) */
};

struct tk_podstatus_in {
    enum tk_podstatus_kind kind;
    const char *host_ip; /* the node's InternalIP */
    const char *pod_ip;  /* NULL or "" while pending */
    int64_t start_ns;    /* status.startTime: when the agent took the pod (wall clock) */
    int64_t sandbox_ns;  /* PodReadyToStartContainers True since (0: = ready_ns) */
    int64_t init_ns;     /* Initialized True since (0: = ready_ns) */
    int64_t ready_ns;    /* ContainersReady/Ready True since; containers' startedAt */
    int64_t finished_ns; /* SUCCEEDED/FAILED/BACKOFF: when the containers exited */
    int exit_code;       /* SUCCEEDED/FAILED/BACKOFF: their exit code */
    int restart_count;
    /* restart_count > 0: the previous run, reported as lastState.terminated */
    int64_t last_started_ns, last_finished_ns;
    int last_exit_code;
    int64_t backoff_s; /* BACKOFF: the back-off announced in the waiting message */
};

/* Appends the status patch for pod in state `in` to out. Returns 0, or -1 when out's cap is
 * reached. Container IDs and image IDs are deterministic hashes of the pod UID, container name
 * and restart count (the same pod gets the same IDs in every run). */
int tk_podstatus_build(struct tk_buf *out, const struct tk_pod_info *pod,
                       const struct tk_podstatus_in *in);

/* Writes "containerd://<64 hex>" for (uid, container, restart) into out (at least 78 bytes). */
void tk_podstatus_container_id(char *out, const char *uid, const char *container, int restart);

/* Writes the image ID a container runtime reports for image: the reference normalized the
 * way containerd does ("nginx:1.25" -> "docker.io/library/nginx") + "@sha256:<64 hex>" (the
 * digest a hash of the reference; an image given by digest keeps its own). Returns 0, or -1
 * when it does not fit outsz. */
int tk_podstatus_image_id(char *out, size_t outsz, const char *image);

#endif
