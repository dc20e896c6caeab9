#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

/* epoll_event.data.u64 carries (fd << 2) | kind, so dispatch needs no per-socket allocation. */
enum { KIND_TIMER = 0, KIND_SIGNAL = 1, KIND_CURL = 2, KIND_USER = 3 };
enum { XFER_IDLE = 0, XFER_PENDING = 1, XFER_ADDED = 2 };

#define MAX_EVENTS 256

struct fd_watch {
    tk_fd_fn cb;
    void *ud;
    int used;
};

struct tk_loop {
    int epfd, tfd, sfd;
    CURLM *multi;

    struct tk_timer **heap;
    size_t nheap, aheap;
    uint64_t seq;
    int64_t firing_now; /* while fire_timers runs: its "now"; else 0 */
    int64_t armed_ns;   /* absolute deadline the timerfd is set to; 0 when disarmed */
    struct tk_timer curl_timer;

    struct tk_xfer *added;                       /* in the multi handle */
    struct tk_xfer *pending_head, *pending_tail; /* to add once libcurl returns */
    size_t nxfers;

    struct fd_watch *fds;
    size_t afds, nuserfds;

    void (*sig_cb)(int signo, void *ud);
    void *sig_ud;
    sigset_t oldmask;

    int stop;
    int depth;   /* > 0 while running: any call then comes from a callback */
    int in_curl; /* > 0 while inside curl_multi_socket_action */
};

static int curl_ready;

/* ---- timers: binary min-heap ordered by (at_ns, seq) ---- */

static int timer_before(const struct tk_timer *a, const struct tk_timer *b)
{
    return a->at_ns < b->at_ns || (a->at_ns == b->at_ns && a->seq < b->seq);
}

static void heap_put(struct tk_loop *loop, size_t i, struct tk_timer *t)
{
    loop->heap[i] = t;
    t->heap_idx = i + 1;
}

static void sift_up(struct tk_loop *loop, size_t i)
{
    struct tk_timer *t = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(t, loop->heap[parent]))
            break;
        heap_put(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_put(loop, i, t);
}

static void sift_down(struct tk_loop *loop, size_t i)
{
    struct tk_timer *t = loop->heap[i];
    size_t n = loop->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && timer_before(loop->heap[c + 1], loop->heap[c]))
            c++;
        if (!timer_before(loop->heap[c], t))
            break;
        heap_put(loop, i, loop->heap[c]);
        i = c;
    }
    heap_put(loop, i, t);
}

static void heap_remove(struct tk_loop *loop, struct tk_timer *t)
{
    size_t i = t->heap_idx - 1;
    struct tk_timer *last = loop->heap[--loop->nheap];

    t->heap_idx = 0;
    if (last == t)
        return;
    heap_put(loop, i, last);
    if (i > 0 && timer_before(last, loop->heap[(i - 1) / 2]))
        sift_up(loop, i);
    else
        sift_down(loop, i);
}

void tk_timer_init(struct tk_timer *t, tk_timer_fn cb, void *ud)
{
    memset(t, 0, sizeof(*t));
    t->cb = cb;
    t->ud = ud;
}

void tk_timer_start(struct tk_loop *loop, struct tk_timer *t, int64_t at_ns)
{
    if (t->heap_idx)
        heap_remove(loop, t);
    if (loop->nheap == loop->aheap) {
        loop->aheap = loop->aheap ? loop->aheap * 2 : 64;
        loop->heap = tk_xrealloc(loop->heap, loop->aheap * sizeof(*loop->heap));
    }
    if (loop->firing_now && at_ns <= loop->firing_now)
        at_ns = loop->firing_now + 1; /* the next pass: fire_timers */
    t->at_ns = at_ns;
    t->seq = loop->seq++;
    loop->heap[loop->nheap++] = t;
    sift_up(loop, loop->nheap - 1);
}

void tk_timer_stop(struct tk_loop *loop, struct tk_timer *t)
{
    if (t->heap_idx)
        heap_remove(loop, t);
}

int tk_timer_active(const struct tk_timer *t)
{
    return t->heap_idx != 0;
}

size_t tk_loop_timer_count(const struct tk_loop *loop)
{
    return loop->nheap;
}

/* Fires every timer due now that was started before this pass began. A timer a callback starts
 * for "now" or earlier is moved to just after this pass's now (tk_timer_start), so it waits for
 * the next pass (I/O is never starved) and sorts behind every timer still due in this one: a
 * kick at 0 started by the first of many timers due together must not push the others, one per
 * pass, into later passes. */
static void fire_timers(struct tk_loop *loop)
{
    int64_t now = tk_now_ns();

    loop->firing_now = now;
    while (loop->nheap && loop->heap[0]->at_ns <= now) {
        struct tk_timer *t = loop->heap[0];
        heap_remove(loop, t);
        t->cb(t, t->ud);
    }
    loop->firing_now = 0;
}

/* ---- libcurl glue ---- */

static void flush_pending(struct tk_loop *loop);

static void check_done(struct tk_loop *loop)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(loop->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        struct tk_xfer *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        if (!x)
            continue;
        /* msg is invalid once the handle is removed: everything needed was copied above. */
        tk_loop_xfer_remove(loop, x);
        x->done(x, result, x->ud);
    }
}

static void after_curl(struct tk_loop *loop)
{
    if (loop->in_curl)
        return;
    flush_pending(loop);
    check_done(loop);
}

static void curl_action(struct tk_loop *loop, curl_socket_t s, int ev_bitmask)
{
    int running = 0;
    CURLMcode mc;

    loop->in_curl++;
    mc = curl_multi_socket_action(loop->multi, s, ev_bitmask, &running);
    loop->in_curl--;
    if (mc != CURLM_OK)
        tk_warn("curl_multi_socket_action failed", "error=\"%s\"", curl_multi_strerror(mc));
    after_curl(loop);
}

static void curl_timer_fire(struct tk_timer *t, void *ud)
{
    (void)t;
    curl_action(ud, CURL_SOCKET_TIMEOUT, 0);
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct tk_loop *loop = userp;
    (void)multi;
    if (timeout_ms < 0)
        tk_timer_stop(loop, &loop->curl_timer);
    else
        tk_timer_start(loop, &loop->curl_timer, tk_now_ns() + (int64_t)timeout_ms * 1000000);
    return 0;
}

static int curl_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct tk_loop *loop = userp;
    struct epoll_event ev;
    (void)easy;

    if (what == CURL_POLL_REMOVE) {
        if (socketp) {
            epoll_ctl(loop->epfd, EPOLL_CTL_DEL, s, NULL);
            curl_multi_assign(loop->multi, s, NULL);
        }
        return 0;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
    ev.data.u64 = ((uint64_t)s << 2) | KIND_CURL;
    int op = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(loop->epfd, op, s, &ev) != 0) {
        /* The socket number may have been reused behind libcurl's socket hash. */
        op = errno == EEXIST ? EPOLL_CTL_MOD : errno == ENOENT ? EPOLL_CTL_ADD : -1;
        if (op < 0 || epoll_ctl(loop->epfd, op, s, &ev) != 0) {
            tk_warn("epoll_ctl for a curl socket failed", "fd=%d errno=%d", (int)s, errno);
            return -1;
        }
    }
    if (!socketp)
        curl_multi_assign(loop->multi, s, loop); /* any non-NULL marks "in epoll" */
    return 0;
}

static void list_unlink(struct tk_xfer **head, struct tk_xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        *head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
}

static int add_now(struct tk_loop *loop, struct tk_xfer *x, struct tk_err *err)
{
    CURLMcode mc;

    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (char *)x);
    mc = curl_multi_add_handle(loop->multi, x->easy);
    if (mc != CURLM_OK)
        return tk_err_set(err, TK_ENET, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
    x->state = XFER_ADDED;
    x->prev = NULL;
    x->next = loop->added;
    if (loop->added)
        loop->added->prev = x;
    loop->added = x;
    loop->nxfers++;
    return 0;
}

static void flush_pending(struct tk_loop *loop)
{
    struct tk_xfer *x;

    while ((x = loop->pending_head)) {
        struct tk_err err = {0};
        loop->pending_head = x->next;
        if (loop->pending_head)
            loop->pending_head->prev = NULL;
        else
            loop->pending_tail = NULL;
        x->prev = x->next = NULL;
        x->state = XFER_IDLE;
        loop->nxfers--;
        if (add_now(loop, x, &err)) {
            tk_warn("deferred curl transfer refused", "error=\"%s\"", err.msg);
            x->done(x, CURLE_FAILED_INIT, x->ud);
        }
    }
}

int tk_loop_xfer_add(struct tk_loop *loop, struct tk_xfer *x, struct tk_err *err)
{
    if (x->state != XFER_IDLE)
        return tk_err_set(err, TK_ESTATE, "transfer already added");
    if (!loop->in_curl)
        return add_now(loop, x, err);
    x->state = XFER_PENDING;
    x->next = NULL;
    x->prev = loop->pending_tail;
    if (loop->pending_tail)
        loop->pending_tail->next = x;
    else
        loop->pending_head = x;
    loop->pending_tail = x;
    loop->nxfers++;
    return 0;
}

int tk_loop_xfer_remove(struct tk_loop *loop, struct tk_xfer *x)
{
    switch (x->state) {
    case XFER_PENDING:
        if (x == loop->pending_tail)
            loop->pending_tail = x->prev;
        list_unlink(&loop->pending_head, x);
        break;
    case XFER_ADDED:
        if (loop->in_curl)
            return TK_ESTATE;
        curl_multi_remove_handle(loop->multi, x->easy);
        list_unlink(&loop->added, x);
        break;
    default:
        return 0;
    }
    x->state = XFER_IDLE;
    loop->nxfers--;
    return 0;
}

int tk_loop_in_curl(const struct tk_loop *loop)
{
    return loop->in_curl > 0;
}

size_t tk_loop_xfer_count(const struct tk_loop *loop)
{
    return loop->nxfers;
}

CURLM *tk_loop_multi(struct tk_loop *loop)
{
    return loop->multi;
}

/* ---- fds ---- */

static uint32_t to_epoll(int events)
{
    return ((events & TK_LOOP_READ) ? EPOLLIN : 0) | ((events & TK_LOOP_WRITE) ? EPOLLOUT : 0);
}

int tk_loop_add_fd(struct tk_loop *loop, int fd, int events, tk_fd_fn cb, void *ud,
                   struct tk_err *err)
{
    struct epoll_event ev;

    if (fd < 0 || ((size_t)fd < loop->afds && loop->fds[fd].used))
        return tk_err_set(err, TK_EINVAL, "fd %d: invalid or already watched", fd);
    if ((size_t)fd >= loop->afds) {
        size_t n = loop->afds ? loop->afds : 64;
        while (n <= (size_t)fd)
            n *= 2;
        loop->fds = tk_xrealloc(loop->fds, n * sizeof(*loop->fds));
        memset(loop->fds + loop->afds, 0, (n - loop->afds) * sizeof(*loop->fds));
        loop->afds = n;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = to_epoll(events);
    ev.data.u64 = ((uint64_t)fd << 2) | KIND_USER;
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        return tk_err_set(err, TK_EIO, "epoll_ctl add fd %d: %s", fd, strerror(errno));
    loop->fds[fd].cb = cb;
    loop->fds[fd].ud = ud;
    loop->fds[fd].used = 1;
    loop->nuserfds++;
    return 0;
}

int tk_loop_mod_fd(struct tk_loop *loop, int fd, int events, struct tk_err *err)
{
    struct epoll_event ev;

    if (fd < 0 || (size_t)fd >= loop->afds || !loop->fds[fd].used)
        return tk_err_set(err, TK_ENOTFOUND, "fd %d is not watched", fd);
    memset(&ev, 0, sizeof(ev));
    ev.events = to_epoll(events);
    ev.data.u64 = ((uint64_t)fd << 2) | KIND_USER;
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) != 0)
        return tk_err_set(err, TK_EIO, "epoll_ctl mod fd %d: %s", fd, strerror(errno));
    return 0;
}

void tk_loop_del_fd(struct tk_loop *loop, int fd)
{
    if (fd < 0 || (size_t)fd >= loop->afds || !loop->fds[fd].used)
        return;
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    memset(&loop->fds[fd], 0, sizeof(loop->fds[fd]));
    loop->nuserfds--;
}

/* ---- signals ---- */

void tk_loop_on_signal(struct tk_loop *loop, void (*cb)(int signo, void *ud), void *ud)
{
    loop->sig_cb = cb;
    loop->sig_ud = ud;
}

void tk_loop_child_sigmask(const struct tk_loop *loop)
{
    sigprocmask(SIG_SETMASK, &loop->oldmask, NULL);
}

static void read_signals(struct tk_loop *loop)
{
    struct signalfd_siginfo si;

    while (read(loop->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        int signo = (int)si.ssi_signo;
        if (loop->sig_cb) {
            loop->sig_cb(signo, loop->sig_ud);
        } else if (signo == SIGHUP) {
            tk_info("SIGHUP ignored (no handler)", NULL);
        } else {
            tk_info("signal received, stopping", "signo=%d", signo);
            loop->stop = 1;
        }
    }
}

/* ---- lifecycle ---- */

static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        tk_debug("cannot raise RLIMIT_NOFILE", "errno=%d", errno);
}

static int add_internal(struct tk_loop *loop, int fd, int kind, struct tk_err *err)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.u64 = ((uint64_t)fd << 2) | (uint64_t)kind;
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        return tk_err_set(err, TK_EIO, "epoll_ctl: %s", strerror(errno));
    return 0;
}

struct tk_loop *tk_loop_new(struct tk_err *err)
{
    struct tk_loop *loop = tk_xcalloc(1, sizeof(*loop));
    sigset_t set;

    loop->epfd = loop->tfd = loop->sfd = -1;
    sigprocmask(SIG_SETMASK, NULL, &loop->oldmask);
    tk_timer_init(&loop->curl_timer, curl_timer_fire, loop);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();

    if ((loop->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        tk_err_set(err, TK_EIO, "epoll_create1: %s", strerror(errno));
        goto fail;
    }
    loop->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (loop->tfd < 0) {
        tk_err_set(err, TK_EIO, "timerfd_create: %s", strerror(errno));
        goto fail;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0 ||
        (loop->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
        tk_err_set(err, TK_EIO, "signalfd: %s", strerror(errno));
        goto fail;
    }
    if (add_internal(loop, loop->tfd, KIND_TIMER, err) ||
        add_internal(loop, loop->sfd, KIND_SIGNAL, err))
        goto fail;

    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            tk_err_set(err, TK_EIO, "curl_global_init failed");
            goto fail;
        }
        curl_ready = 1;
    }
    if (!(loop->multi = curl_multi_init())) {
        tk_err_set(err, TK_EIO, "curl_multi_init failed");
        goto fail;
    }
    curl_multi_setopt(loop->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
    curl_multi_setopt(loop->multi, CURLMOPT_SOCKETDATA, loop);
    curl_multi_setopt(loop->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(loop->multi, CURLMOPT_TIMERDATA, loop);
    return loop;
fail:
    tk_loop_free(loop);
    return NULL;
}

void tk_loop_free(struct tk_loop *loop)
{
    struct tk_xfer *x;

    if (!loop)
        return;
    loop->in_curl = 0;
    while ((x = loop->pending_head))
        tk_loop_xfer_remove(loop, x);
    while ((x = loop->added))
        tk_loop_xfer_remove(loop, x);
    if (loop->multi)
        curl_multi_cleanup(loop->multi);
    for (size_t i = 0; i < loop->nheap; i++)
        loop->heap[i]->heap_idx = 0;
    free(loop->heap);
    free(loop->fds);
    if (loop->sfd >= 0)
        close(loop->sfd);
    if (loop->tfd >= 0)
        close(loop->tfd);
    if (loop->epfd >= 0)
        close(loop->epfd);
    sigprocmask(SIG_SETMASK, &loop->oldmask, NULL);
    free(loop);
}

/* ---- running ---- */

static int has_work(const struct tk_loop *loop)
{
    size_t timers = loop->nheap - (tk_timer_active(&loop->curl_timer) ? 1 : 0);
    return timers > 0 || loop->nxfers > 0 || loop->nuserfds > 0;
}

static void arm_timerfd(struct tk_loop *loop, int64_t at_ns)
{
    struct itimerspec its;

    if (at_ns == loop->armed_ns)
        return;
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = at_ns / 1000000000;
    its.it_value.tv_nsec = at_ns % 1000000000;
    if (timerfd_settime(loop->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        loop->armed_ns = at_ns;
}

static int run_once(struct tk_loop *loop, int64_t deadline_ns)
{
    struct epoll_event evs[MAX_EVENTS];
    int64_t now = tk_now_ns();
    int timeout = -1, n;

    if (loop->nheap) {
        int64_t at = loop->heap[0]->at_ns;
        if (at <= now)
            timeout = 0;
        else
            arm_timerfd(loop, at);
    } else if (loop->armed_ns) {
        arm_timerfd(loop, 0); /* an all-zero it_value disarms */
    }
    if (deadline_ns > 0) {
        int64_t rem = deadline_ns - now;
        int64_t ms = rem <= 0 ? 0 : (rem + 999999) / 1000000;
        if (ms > 1000000)
            ms = 1000000;
        if (timeout < 0 || ms < timeout)
            timeout = (int)ms;
    }

    n = epoll_wait(loop->epfd, evs, MAX_EVENTS, timeout);
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        tk_error("epoll_wait failed", "errno=%d", errno);
        return TK_EIO;
    }
    for (int i = 0; i < n; i++) {
        int fd = (int)(evs[i].data.u64 >> 2);
        uint32_t e = evs[i].events;
        switch ((int)(evs[i].data.u64 & 3)) {
        case KIND_TIMER: {
            uint64_t ticks;
            if (read(loop->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
                tk_debug("timerfd read failed", "errno=%d", errno);
            loop->armed_ns = 0; /* a one-shot timerfd is disarmed once it expired */
            break;
        }
        case KIND_SIGNAL:
            read_signals(loop);
            break;
        case KIND_CURL: {
            int action = 0;
            if (e & (EPOLLIN | EPOLLHUP | EPOLLERR))
                action |= CURL_CSELECT_IN;
            if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
                action |= CURL_CSELECT_OUT;
            curl_action(loop, fd, action);
            break;
        }
        default: {
            if ((size_t)fd >= loop->afds || !loop->fds[fd].used)
                break;
            int events = ((e & EPOLLIN) ? TK_LOOP_READ : 0) | ((e & EPOLLOUT) ? TK_LOOP_WRITE : 0) |
                         ((e & (EPOLLERR | EPOLLHUP)) ? TK_LOOP_ERROR : 0);
            loop->fds[fd].cb(fd, events, loop->fds[fd].ud);
            break;
        }
        }
    }
    fire_timers(loop);
    return 0;
}

static int run(struct tk_loop *loop, int (*done)(void *ud), void *ud, int64_t deadline_ns,
               int until)
{
    int rc = 0;

    if (loop->depth)
        return TK_ESTATE;
    loop->depth++;
    loop->stop = 0;
    for (;;) {
        if (done && done(ud))
            break;
        if (loop->stop || !has_work(loop)) {
            rc = until ? TK_ESTATE : 0;
            break;
        }
        if (deadline_ns > 0 && tk_now_ns() >= deadline_ns) {
            rc = TK_ETIMEOUT;
            break;
        }
        if ((rc = run_once(loop, deadline_ns)))
            break;
    }
    loop->depth--;
    return rc;
}

int tk_loop_run(struct tk_loop *loop)
{
    return run(loop, NULL, NULL, 0, 0);
}

int tk_loop_run_until(struct tk_loop *loop, int (*done)(void *ud), void *ud, int64_t deadline_ns)
{
    return run(loop, done, ud, deadline_ns, 1);
}

void tk_loop_stop(struct tk_loop *loop)
{
    loop->stop = 1;
}
