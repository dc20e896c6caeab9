#ifndef TK_LOOP_H
#define TK_LOOP_H

/* One event loop, one thread: epoll driving libcurl's multi socket API (the shape of curl's
 * docs/examples/ephiperfifo.c, minus its exit-on-error), a timerfd for timers, a signalfd for
 * SIGINT/SIGTERM/SIGHUP, and plain fd watching for our own servers.
 *
 * Timers are intrusive (struct tk_timer lives inside its owner) and kept in a binary min-heap:
 * start and stop are O(log n) and allocate nothing, so 10,000 per-node lease timers cost one
 * pointer each in the heap. One timerfd is armed for the earliest of them; libcurl's own
 * timeout is one more timer in the same heap.
 *
 * Nothing here is thread-safe: every call happens on the loop's thread. */

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "err.h"

struct tk_loop;
struct tk_timer;

/* Called on the loop thread when the timer's deadline has passed. The timer is already
 * inactive, so the callback may start it again (it then fires on a later pass, never in the
 * same one) or let its owner free it. */
typedef void (*tk_timer_fn)(struct tk_timer *t, void *ud);

/* Embed in the owning struct; set up with tk_timer_init (or zero it and set cb/ud). Owned by the
 * caller; must stay alive (and must not move) while active. */
struct tk_timer {
    int64_t at_ns; /* deadline, monotonic (tk_now_ns() clock) */
    tk_timer_fn cb;
    void *ud;
    uint64_t seq;    /* start order: equal deadlines fire first-started first */
    size_t heap_idx; /* 1 + position in the loop's heap; 0 when inactive */
};

/* Readiness bits for tk_loop_add_fd and its callback. */
enum {
    TK_LOOP_READ = 1,
    TK_LOOP_WRITE = 2,
    TK_LOOP_ERROR = 4, /* error or hang-up: reported whether asked for or not */
};

/* Called when fd is ready; events holds TK_LOOP_* bits. May be spurious (the fd may have been
 * replaced by a new one with the same number within one pass): use non-blocking fds. */
typedef void (*tk_fd_fn)(int fd, int events, void *ud);

/* Creates the loop: epoll, timerfd, signalfd (SIGINT, SIGTERM and SIGHUP blocked for this
 * thread and delivered through the loop instead), SIGPIPE ignored process-wide, RLIMIT_NOFILE
 * soft limit raised to the hard limit, and a libcurl multi handle (curl_global_init is done
 * once here). Until tk_loop_on_signal is set, SIGINT and SIGTERM stop the loop and SIGHUP is
 * logged. Children forked after this inherit the blocked mask: call tk_loop_child_sigmask()
 * in the child before exec. Returns NULL with err set (TK_EIO) on failure. Caller frees with
 * tk_loop_free. */
struct tk_loop *tk_loop_new(struct tk_err *err);

/* Frees the loop (NULL-safe): removes transfers still added from the multi handle (their
 * owners still own and free the easy handles), closes the fds, restores the signal mask.
 * Owners of timers, fds and transfers (tk_kube, servers) must be freed first. Must not be
 * called from inside a loop callback. */
void tk_loop_free(struct tk_loop *loop);

/* Runs until tk_loop_stop() or until nothing is left to wait for (no active timer other than
 * libcurl's, no transfer, no watched fd). Returns 0, or TK_EIO when epoll fails. Not
 * re-entrant: returns TK_ESTATE when called from inside a loop callback. */
int tk_loop_run(struct tk_loop *loop);

/* Runs until done(ud) returns non-zero (checked before each wait and after each pass), until
 * deadline_ns (monotonic; <= 0 for none) passes, tk_loop_stop() or nothing is left. Returns 0
 * when done, TK_ETIMEOUT at the deadline, TK_ESTATE when stopped, out of work or called from
 * inside a loop callback, TK_EIO when epoll fails. For synchronous helpers (CLIs, tests). */
int tk_loop_run_until(struct tk_loop *loop, int (*done)(void *ud), void *ud, int64_t deadline_ns);

/* Makes the current tk_loop_run/run_until return after the pass in progress. */
void tk_loop_stop(struct tk_loop *loop);

/* Sets (or with cb NULL, clears) the handler for SIGINT, SIGTERM and SIGHUP. ud is borrowed. */
void tk_loop_on_signal(struct tk_loop *loop, void (*cb)(int signo, void *ud), void *ud);

/* In a forked child before exec: restores the signal mask the process had before
 * tk_loop_new blocked SIGINT/SIGTERM/SIGHUP. Async-signal-safe. */
void tk_loop_child_sigmask(const struct tk_loop *loop);

/* Prepares an embedded timer (inactive). */
void tk_timer_init(struct tk_timer *t, tk_timer_fn cb, void *ud);

/* (Re)starts t to fire at at_ns (monotonic ns; a past deadline fires on the next pass).
 * Started from a timer callback for a deadline already past, it fires on the next pass, after
 * every timer due in the current one (so a 0-deadline "kick" started by the first of many timers
 * due together does not split them over many passes). Restarting an active timer moves it. O(log
 * n); allocates only when the heap array grows. */
void tk_timer_start(struct tk_loop *loop, struct tk_timer *t, int64_t at_ns);

/* Stops t if active (no-op otherwise). O(log n). */
void tk_timer_stop(struct tk_loop *loop, struct tk_timer *t);

/* Non-zero while t is started and has not fired. */
int tk_timer_active(const struct tk_timer *t);

/* Number of active timers (libcurl's included). */
size_t tk_loop_timer_count(const struct tk_loop *loop);

/* Watches fd for events (TK_LOOP_READ|TK_LOOP_WRITE), level-triggered. The fd stays the
 * caller's: tk_loop_del_fd before closing it. ud is borrowed. Returns 0, TK_EINVAL when fd is
 * already watched or negative, TK_EIO when epoll refuses. */
int tk_loop_add_fd(struct tk_loop *loop, int fd, int events, tk_fd_fn cb, void *ud,
                   struct tk_err *err);

/* Changes the events watched on fd. Returns 0, TK_ENOTFOUND when fd is not watched, TK_EIO. */
int tk_loop_mod_fd(struct tk_loop *loop, int fd, int events, struct tk_err *err);

/* Stops watching fd (no-op when not watched). Safe from inside the fd's own callback. */
void tk_loop_del_fd(struct tk_loop *loop, int fd);

/* The loop's libcurl multi handle, for curl_multi_setopt (connection limits, multiplexing).
 * Add and remove transfers only through tk_loop_xfer_add/remove. */
CURLM *tk_loop_multi(struct tk_loop *loop);

struct tk_xfer;

/* Called by the loop (never from inside a libcurl callback) when a transfer finished; the easy
 * handle has already been removed from the multi handle, so the owner may free it, reuse it
 * or add it again. result is the transfer's CURLcode. */
typedef void (*tk_xfer_done_fn)(struct tk_xfer *x, CURLcode result, void *ud);

/* A transfer, embedded by its owner; the loop keeps its own list of them (libcurl 7.88 has no
 * curl_multi_get_handles). The loop stores &xfer in the easy's CURLOPT_PRIVATE. */
struct tk_xfer {
    CURL *easy;
    tk_xfer_done_fn done;
    void *ud;
    /* owned by the loop */
    struct tk_xfer *prev, *next;
    int state; /* 0 idle, 1 waiting to be added, 2 added */
};

/* Adds x->easy to the multi handle (x->easy, done and ud set by the caller). Safe anywhere,
 * including from inside libcurl callbacks (a watch event handler issuing a request): there the
 * add is deferred until libcurl returns. Returns 0, TK_ESTATE when x is already added,
 * TK_ENET when libcurl refuses (then x stays idle). A deferred add libcurl refuses reports
 * CURLE_FAILED_INIT through done. */
int tk_loop_xfer_add(struct tk_loop *loop, struct tk_xfer *x, struct tk_err *err);

/* Takes x out of the loop (curl_multi_remove_handle when added; no-op when idle), so its
 * owner may free it. Must not be called from inside a libcurl callback (tk_loop_in_curl()):
 * mark the transfer closing and remove it on the next pass instead (a timer at 0 does that).
 * Returns 0, or TK_ESTATE when called from inside libcurl (nothing done). */
int tk_loop_xfer_remove(struct tk_loop *loop, struct tk_xfer *x);

/* Non-zero while the loop is inside libcurl (socket_action), i.e. in a libcurl callback. */
int tk_loop_in_curl(const struct tk_loop *loop);

/* Number of transfers added or waiting to be added. */
size_t tk_loop_xfer_count(const struct tk_loop *loop);

#endif
