#ifndef TK_CGROUP_H
#define TK_CGROUP_H

/* Control groups for sizing a control plane: one group spans the cpu, cpuacct and memory
 * controllers, on cgroup v2 (a unified hierarchy with those controllers enabled) or v1
 * (one mount per controller, as these VMs have). Which one is detected from
 * /proc/self/mountinfo, never assumed. Groups are created below the caller's own cgroup
 * of each controller, so a sandboxed caller stays inside its sandbox. Root is needed to
 * create groups; callers that only read usage need nothing. */

#include <stdint.h>
#include <sys/types.h>

#include "err.h"

struct tk_cgroup;

struct tk_cgroup_usage {
    int64_t cpu_ns;            /* CPU time consumed by the group's processes */
    int64_t memory_bytes;      /* current usage, page cache included */
    int64_t memory_peak_bytes; /* high-water mark (v1 max_usage_in_bytes; v2 memory.peak, 0 if
                                  absent) */
    int64_t oom_kills;         /* processes killed by the OOM killer (0 where not exposed) */
};

/* "v1", "v2", or NULL when no usable cpu+memory controllers are mounted. */
const char *tk_cgroup_version(void);

/* Creates (or opens, if it exists) the group at relative path rel (e.g. "turbokube/default/cp";
 * parents are created). *out is the caller's, freed with tk_cgroup_free. */
int tk_cgroup_create(struct tk_cgroup **out, const char *rel, struct tk_err *err);

/* Opens an existing group; TK_ENOTFOUND when it does not exist. */
int tk_cgroup_open(struct tk_cgroup **out, const char *rel, struct tk_err *err);

/* Sets the CPU limit in millicores (0: none) and the memory limit in bytes (0: none).
 * CPU is a CFS quota over a 100 ms period; memory is a hard limit (OOM kill beyond it). */
int tk_cgroup_set_limits(struct tk_cgroup *cg, int64_t cpu_millis, int64_t memory_bytes,
                         struct tk_err *err);

/* Reads the limits back from the kernel (0 means unlimited), to verify they took. */
int tk_cgroup_get_limits(struct tk_cgroup *cg, int64_t *cpu_millis, int64_t *memory_bytes,
                         struct tk_err *err);

/* Moves pid (0: the calling process) into the group in every controller. Safe to call in a
 * freshly forked child before exec (no allocation: paths are precomputed). */
int tk_cgroup_attach(struct tk_cgroup *cg, pid_t pid);

int tk_cgroup_usage(struct tk_cgroup *cg, struct tk_cgroup_usage *u, struct tk_err *err);

/* Number of processes in the group (from cgroup.procs of the memory controller). */
int tk_cgroup_nprocs(struct tk_cgroup *cg);

/* Removes the group's directories (they must hold no process), then empty parents up to
 * the first component of rel. Missing directories are not an error. */
int tk_cgroup_destroy(struct tk_cgroup *cg, struct tk_err *err);

/* Removes group rel (and the parents it created, when empty) in every controller where any
 * of it is left, also a group half removed before; 0 when nothing of it is left or it never
 * existed. */
int tk_cgroup_remove(const char *rel, struct tk_err *err);

void tk_cgroup_free(struct tk_cgroup *cg);

#endif
