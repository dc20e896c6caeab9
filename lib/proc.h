#ifndef TK_PROC_H
#define TK_PROC_H

/* Child processes for the local control plane and the agents: each is started in a process
 * group of its own (so a stop reaches everything it forked), with stdin from /dev/null,
 * stdout and stderr appended to a log file, an owner marker in its environment (so a lost
 * pid file never leaves an orphan: tk_proc_find_marked finds it), and optionally inside a
 * cgroup, entered before exec. */

#include <sys/types.h>

#include "buf.h"
#include "cgroup.h"
#include "err.h"

#define TK_PROC_MARKER "TURBOKUBE_OWNER"

struct tk_proc_spec {
    const char *const *argv;      /* argv[0] is the program path (no PATH search) */
    const char *log_path;         /* appended; created 0644 */
    const char *marker;           /* value of TURBOKUBE_OWNER in the child's environment */
    const char *const *env_extra; /* "K=V" strings added to the environment, NULL-terminated */
    struct tk_cgroup *cg;         /* borrowed; NULL = stay in the caller's groups */
};

/* Starts the process. Returns 0 with *pid (also its process group id), or an error when the
 * program cannot be executed (reported through a close-on-exec pipe, so "no such file" is
 * the caller's error, not a line in the log). */
int tk_proc_spawn(const struct tk_proc_spec *spec, pid_t *pid, struct tk_err *err);

/* 1 when pid exists and is not a zombie. Reaps it if it is our zombie child. */
int tk_proc_alive(pid_t pid);

/* SIGTERM to the process group pgid, up to grace_ms for every member to exit, then SIGKILL.
 * Returns 0 when the group is gone, -1 if something survived SIGKILL for 2 s. */
int tk_proc_stop_group(pid_t pgid, int grace_ms);

/* Fills pids (up to max) with processes whose environment has TURBOKUBE_OWNER=marker.
 * Returns how many there are (which may exceed max). */
int tk_proc_find_marked(const char *marker, pid_t *pids, int max);

/* Appends the last `lines` lines of the file at path to out (nothing if unreadable). */
void tk_proc_tail(const char *path, int lines, struct tk_buf *out);

/* CPU seconds (utime+stime) and RSS bytes of one process, from /proc. -1 when gone. */
int tk_proc_usage(pid_t pid, double *cpu_seconds, int64_t *rss_bytes);

#endif
