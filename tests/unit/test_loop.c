#include <signal.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "log.h"
#include "loop.h"
#include "tktest.h"

#define MS (int64_t)1000000

struct order {
    int seen[64];
    int n;
};

struct tagged {
    struct tk_timer t;
    struct order *o;
    int tag;
};

static void record_tag(struct tk_timer *t, void *ud)
{
    struct tagged *x = ud;
    (void)t;
    x->o->seen[x->o->n++] = x->tag;
}

TK_TEST(loop_timers_fire_in_order)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct order o = {{0}, 0};
    struct tagged x[5];
    int64_t now = tk_now_ns();
    int64_t at[5] = {30 * MS, 10 * MS, 20 * MS, 20 * MS, 0};

    CHECK(loop != NULL);
    for (int i = 0; i < 5; i++) {
        x[i].o = &o;
        x[i].tag = i;
        tk_timer_init(&x[i].t, record_tag, &x[i]);
        tk_timer_start(loop, &x[i].t, now + at[i]);
        CHECK(tk_timer_active(&x[i].t));
    }
    CHECK_INT(tk_loop_run(loop), 0); /* returns when no timer is left */
    CHECK_INT(o.n, 5);
    /* equal deadlines (2 and 3) fire in start order */
    CHECK_INT(o.seen[0], 4);
    CHECK_INT(o.seen[1], 1);
    CHECK_INT(o.seen[2], 2);
    CHECK_INT(o.seen[3], 3);
    CHECK_INT(o.seen[4], 0);
    CHECK(tk_now_ns() - now >= 30 * MS);
    for (int i = 0; i < 5; i++)
        CHECK(!tk_timer_active(&x[i].t));
    tk_loop_free(loop);
}

struct periodic {
    struct tk_timer t;
    struct tk_loop *loop;
    int fired;
    int64_t last_ns;
};

static void periodic_fire(struct tk_timer *t, void *ud)
{
    struct periodic *p = ud;
    p->fired++;
    p->last_ns = tk_now_ns();
    if (p->fired < 3)
        tk_timer_start(p->loop, t, tk_now_ns() + 5 * MS);
}

/* Restarting "now" from inside the callback must not spin within one pass. */
static void immediate_fire(struct tk_timer *t, void *ud)
{
    struct periodic *p = ud;
    if (++p->fired < 100)
        tk_timer_start(p->loop, t, 0);
}

TK_TEST(loop_timer_stop_restart)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct order o = {{0}, 0};
    struct tagged a = {.o = &o, .tag = 1}, b = {.o = &o, .tag = 2};
    struct periodic p = {.loop = loop}, q = {.loop = loop};
    int64_t now = tk_now_ns();

    CHECK(loop != NULL);
    tk_timer_init(&a.t, record_tag, &a);
    tk_timer_init(&b.t, record_tag, &b);
    tk_timer_start(loop, &a.t, now + 10 * MS);
    tk_timer_start(loop, &b.t, now + 15 * MS);
    tk_timer_stop(loop, &a.t);
    CHECK(!tk_timer_active(&a.t));
    tk_timer_stop(loop, &a.t); /* stopping twice is harmless */
    CHECK_INT(tk_loop_timer_count(loop), 1);
    tk_timer_start(loop, &a.t, now + 20 * MS); /* restart later than b */
    tk_timer_start(loop, &b.t, now + 25 * MS); /* move an active timer */
    CHECK_INT(tk_loop_timer_count(loop), 2);
    tk_timer_init(&p.t, periodic_fire, &p);
    tk_timer_start(loop, &p.t, now + 1 * MS);
    tk_timer_init(&q.t, immediate_fire, &q);
    tk_timer_start(loop, &q.t, 0);
    CHECK_INT(tk_loop_run(loop), 0);
    CHECK_INT(o.n, 2);
    CHECK_INT(o.seen[0], 1);
    CHECK_INT(o.seen[1], 2);
    CHECK_INT(p.fired, 3);
    CHECK(p.last_ns - now >= 11 * MS);
    CHECK_INT(q.fired, 100);
    tk_loop_free(loop);
}

#define NRANDOM 10000

struct rt {
    struct tk_timer t;
    int64_t due;
    int fired;
};

static int64_t last_due;
static int out_of_order, early, fired_total;

static void random_fire(struct tk_timer *t, void *ud)
{
    struct rt *r = ud;
    (void)t;
    if (r->due < last_due)
        out_of_order++;
    if (tk_now_ns() < r->due)
        early++;
    last_due = r->due;
    r->fired++;
    fired_total++;
}

TK_TEST(loop_10000_random_timers)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct rt *r = tk_xcalloc(NRANDOM, sizeof(*r));
    int64_t now = tk_now_ns();
    unsigned seed = 12345;
    int stopped = 0;

    CHECK(loop != NULL);
    for (int i = 0; i < NRANDOM; i++) {
        r[i].due =
            now + 5 * MS + (int64_t)(rand_r(&seed) % 300) * MS + (int64_t)(rand_r(&seed) % 1000000);
        tk_timer_init(&r[i].t, random_fire, &r[i]);
        tk_timer_start(loop, &r[i].t, r[i].due);
    }
    /* churn the heap: stop some, move others (as lease renewals get rescheduled) */
    for (int i = 0; i < NRANDOM; i += 3) {
        if (i % 2) {
            tk_timer_stop(loop, &r[i].t);
            stopped++;
        } else {
            r[i].due = now + 5 * MS + (int64_t)(rand_r(&seed) % 300) * MS;
            tk_timer_start(loop, &r[i].t, r[i].due);
        }
    }
    CHECK_INT(tk_loop_timer_count(loop), NRANDOM - stopped);
    last_due = 0;
    out_of_order = early = fired_total = 0;
    CHECK_INT(tk_loop_run(loop), 0);
    CHECK_INT(fired_total, NRANDOM - stopped);
    CHECK_INT(out_of_order, 0);
    CHECK_INT(early, 0);
    for (int i = 0; i < NRANDOM; i++)
        CHECK_INT(r[i].fired, (i % 3 == 0 && i % 2) ? 0 : 1);
    free(r);
    tk_loop_free(loop);
}

struct sig {
    struct tk_timer t;
    struct tk_loop *loop;
    int signo;
    int count;
};

static void on_sig(int signo, void *ud)
{
    struct sig *s = ud;
    s->signo = signo;
    s->count++;
    tk_loop_stop(s->loop);
}

static void raise_term(struct tk_timer *t, void *ud)
{
    (void)t;
    raise(ud ? SIGTERM : SIGINT);
}

TK_TEST(loop_signal_callback)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct sig s = {.loop = loop};
    struct tk_timer never;

    CHECK(loop != NULL);
    tk_loop_on_signal(loop, on_sig, &s);
    tk_timer_init(&s.t, raise_term, &s);
    tk_timer_start(loop, &s.t, tk_now_ns() + 5 * MS);
    /* a far timer keeps the loop busy: only the signal can end this run */
    tk_timer_init(&never, raise_term, NULL);
    tk_timer_start(loop, &never, tk_now_ns() + 60000 * MS);
    CHECK_INT(tk_loop_run(loop), 0);
    CHECK_INT(s.count, 1);
    CHECK_INT(s.signo, SIGTERM);
    CHECK(tk_timer_active(&never));

    /* without a handler, SIGINT stops the loop */
    tk_loop_on_signal(loop, NULL, NULL);
    tk_timer_init(&s.t, raise_term, NULL); /* SIGINT this time */
    tk_timer_start(loop, &s.t, tk_now_ns() + 5 * MS);
    CHECK_INT(tk_loop_run_until(loop, NULL, NULL, tk_now_ns() + 5000 * MS), TK_ESTATE);
    CHECK_INT(s.count, 1);
    tk_timer_stop(loop, &never);
    tk_loop_free(loop);
}

struct pipe_ctx {
    struct tk_loop *loop;
    struct tk_timer t;
    int fds[2];
    char got[8];
    int n;
};

static void pipe_readable(int fd, int events, void *ud)
{
    struct pipe_ctx *c = ud;
    if (events & TK_LOOP_READ) {
        ssize_t r = read(fd, c->got + c->n, sizeof(c->got) - 1 - (size_t)c->n);
        if (r > 0)
            c->n += (int)r;
    }
    if (c->n >= 2)
        tk_loop_del_fd(c->loop, fd); /* from inside its own callback */
}

static void pipe_write(struct tk_timer *t, void *ud)
{
    struct pipe_ctx *c = ud;
    (void)t;
    if (write(c->fds[1], "ok", 2) != 2)
        abort();
}

static int got_two(void *ud)
{
    return ((struct pipe_ctx *)ud)->n >= 2;
}

TK_TEST(loop_fd_watch_and_run_until)
{
    struct tk_err err = {0};
    struct tk_loop *loop = tk_loop_new(&err);
    struct pipe_ctx c = {.loop = loop};

    CHECK(loop != NULL);
    CHECK_INT(pipe(c.fds), 0);
    CHECK_INT(tk_loop_add_fd(loop, c.fds[0], TK_LOOP_READ, pipe_readable, &c, &err), 0);
    CHECK_INT(tk_loop_add_fd(loop, c.fds[0], TK_LOOP_READ, pipe_readable, &c, &err), TK_EINVAL);
    tk_err_clear(&err);
    CHECK_INT(tk_loop_mod_fd(loop, 999, TK_LOOP_READ, &err), TK_ENOTFOUND);
    tk_err_clear(&err);
    CHECK_INT(tk_loop_mod_fd(loop, c.fds[0], TK_LOOP_READ, &err), 0);

    /* nothing written yet: the deadline passes */
    int64_t t0 = tk_now_ns();
    CHECK_INT(tk_loop_run_until(loop, got_two, &c, t0 + 30 * MS), TK_ETIMEOUT);
    CHECK(tk_now_ns() - t0 >= 30 * MS);

    tk_timer_init(&c.t, pipe_write, &c);
    tk_timer_start(loop, &c.t, tk_now_ns() + 5 * MS);
    CHECK_INT(tk_loop_run_until(loop, got_two, &c, tk_now_ns() + 5000 * MS), 0);
    CHECK_STR(c.got, "ok");
    /* the fd was removed in its callback, nothing is left: run returns at once */
    CHECK_INT(tk_loop_run(loop), 0);
    close(c.fds[0]);
    close(c.fds[1]);
    tk_loop_free(loop);
}

/* Timers due together fire in one pass even when the first starts a timer for "now" (lib/h2's
 * kick): that one waits for the next pass and then sees every start of the batch, which is what
 * lets a --start-grid step's requests go out in one write. */
struct batch {
    struct tk_loop *loop;
    struct tk_timer t[20], kick;
    int passes;            /* calls of done(): one before each wait and one after each pass */
    int fired, fired_pass; /* the batch timers, and the pass the last of them fired in */
    int kick_seen, kick_pass;
};

static void batch_fire(struct tk_timer *t, void *ud)
{
    struct batch *b = ud;
    (void)t;
    b->fired++;
    b->fired_pass = b->passes;
    if (!tk_timer_active(&b->kick))
        tk_timer_start(b->loop, &b->kick, 0);
}

static void batch_kick(struct tk_timer *t, void *ud)
{
    struct batch *b = ud;
    (void)t;
    b->kick_seen = b->fired;
    b->kick_pass = b->passes;
}

static int batch_pass(void *ud)
{
    struct batch *b = ud;
    b->passes++;
    return b->kick_pass != 0;
}

TK_TEST(loop_timers_due_together_share_a_pass)
{
    struct tk_err err = {0};
    struct batch b = {.loop = tk_loop_new(&err)};
    int64_t due = tk_now_ns() - MS;

    CHECK(b.loop != NULL);
    tk_timer_init(&b.kick, batch_kick, &b);
    for (int i = 0; i < 20; i++) {
        tk_timer_init(&b.t[i], batch_fire, &b);
        tk_timer_start(b.loop, &b.t[i], due);
    }
    CHECK_INT(tk_loop_run_until(b.loop, batch_pass, &b, tk_now_ns() + 5000 * MS), 0);
    CHECK_INT(b.fired, 20);
    CHECK_INT(b.kick_seen, 20);        /* the kick came after the whole batch */
    CHECK(b.kick_pass > b.fired_pass); /* ... on a later pass */
    CHECK_INT(b.fired_pass, 1);        /* and the batch all fired in the first */
    tk_loop_free(b.loop);
}

struct nested {
    int rc;
    struct tk_loop *loop;
};

static void nested_run(struct tk_timer *t, void *ud)
{
    struct nested *n = ud;
    (void)t;
    n->rc = tk_loop_run(n->loop);
}

TK_TEST(loop_not_reentrant)
{
    struct tk_err err = {0};
    struct nested ctx = {-1, tk_loop_new(&err)};
    struct tk_timer t;

    CHECK(ctx.loop != NULL);
    tk_timer_init(&t, nested_run, &ctx);
    tk_timer_start(ctx.loop, &t, 0);
    CHECK_INT(tk_loop_run(ctx.loop), 0);
    CHECK_INT(ctx.rc, TK_ESTATE);
    tk_loop_free(ctx.loop);
}

TK_TEST_MAIN(loop_timers_fire_in_order, loop_timer_stop_restart,
             loop_timers_due_together_share_a_pass, loop_10000_random_timers, loop_signal_callback,
             loop_fd_watch_and_run_until, loop_not_reentrant)
