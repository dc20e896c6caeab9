#ifndef TK_SCRAPE_H
#define TK_SCRAPE_H

/* Scraping a cell's components while it runs: every target's Prometheus /metrics (apiserver
 * with the admin certificate, etcd or kine, scheduler, controller-manager, the agents) and the
 * CPU and memory of each process (/proc) and cgroup, in rounds on the caller's event loop, so a
 * slow or dead target never blocks anything else. A round asks every target at once and ends
 * when the last one answered or timed out; its samples (the series worth recording, see
 * tk_scrape_keep) go to the caller's callback.
 *
 * Also here: the pure computations over two scrapes of one target that a cell's record needs
 * beyond lib/store's latency summaries (counter increases grouped by a label, gauge sums, one
 * summary over a whole histogram family). */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "kube.h"
#include "store.h"

struct tk_loop;
struct tk_cgroup;

/* ---- computations over scraped text ---------------------------------------------------- */

/* 1 when a sample of metric (a sample name as scraped: "apiserver_request_total") is recorded
 * every round: process CPU and memory, request counts by code, inflight and APF rejections,
 * object counts, watchers, etcd leader, database size and quota, scheduler attempts, and every
 * turbokube_agent_* series but histogram buckets. Everything else stays in the scrape. */
int tk_scrape_keep(const char *metric);

struct tk_scrape_count {
    char key[64]; /* the label's value ("429"); "" without a label or when absent */
    double value;
};

/* The increase of counter family metric from before to after (Prometheus text; before may be
 * NULL: everything counts from 0), summed over its series, grouped by label's value (label
 * NULL: one group). A series missing from before counts from 0; a series that decreased was
 * reset and counts its new value. *out (caller frees; sorted by key) and *n. TK_EINVAL on a
 * parse error. */
int tk_scrape_counter_delta(const char *before, size_t before_len, const char *after,
                            size_t after_len, const char *metric, const char *label,
                            struct tk_scrape_count **out, size_t *n, struct tk_err *err);

/* The sum over every series of metric in text, into *sum (NaN when there is none), and their
 * maximum into *max (may be NULL). TK_EINVAL on a parse error. */
int tk_scrape_gauge(const char *text, size_t len, const char *metric, double *sum, double *max,
                    struct tk_err *err);

/* One latency summary over every series of histogram family metric (etcd's
 * etcd_disk_wal_fsync_duration_seconds, the scheduler's attempt duration): the bucket
 * increases from before (may be NULL) to after, per series (a decrease is a reset), added up
 * over the union of their bounds, then histogram_quantile for p50/p90/p99, as lib/store does
 * per group. *out is one row (caller frees with tk_latency_summaries_free(*out, 1)) with the
 * metric name and "" for verb, resource, subresource and scope, or NULL when the family is
 * absent or saw no observations. TK_EINVAL on a parse error. */
int tk_scrape_hist_summary(const char *before, size_t before_len, const char *after,
                           size_t after_len, const char *metric, struct tk_latency_summary **out,
                           struct tk_err *err);

/* ---- the scraper ---------------------------------------------------------------------------- */

struct tk_scraper;

struct tk_scrape_round {
    uint64_t seq; /* 1, 2, ... */
    int64_t t_ms; /* wall clock when the round started */
    double duration_s;
    size_t targets, failed;                /* HTTP targets asked, and those that gave no 200 */
    const struct tk_store_sample *samples; /* kept samples of every target, then for each
                                              process: proc_cpu_seconds, proc_rss_bytes
                                              (source = target), for each cgroup: cgroup_*
                                              (source "cgroup", labels group="NAME"), and per
                                              HTTP target scrape_up, scrape_duration_seconds */
    size_t nsamples;
};

/* Called on the loop when a round has ended. r and everything in it is borrowed for the call. */
typedef void (*tk_scrape_round_fn)(void *ud, const struct tk_scrape_round *r);

struct tk_scraper_opts {
    struct tk_loop *loop;           /* borrowed; must outlive the scraper */
    const char *ca_pem;             /* trusted for https targets (copied) */
    const char *cert_pem, *key_pem; /* client identity for https targets (copied), or NULL */
    int timeout_ms;                 /* per request; 0 = 10 s */
    tk_scrape_round_fn on_round;    /* may be NULL */
    void *ud;
};

/* A scraper with no targets. NULL with err on failure (bad PEM is reported when a target is
 * added). Caller frees with tk_scraper_free. */
struct tk_scraper *tk_scraper_new(const struct tk_scraper_opts *opts, struct tk_err *err);

/* Cancels a round in flight (no callback afterwards) and frees everything. NULL-safe. Not from
 * inside the round callback. */
void tk_scraper_free(struct tk_scraper *s);

enum {
    TK_SCRAPE_KEEP_TEXT = 1, /* keep the last good body (tk_scraper_text) */
};

/* Adds a target named name (the samples' source: "apiserver", "agent-0"): url is its /metrics
 * ("http://..." or "https://..."; NULL for a process watched through /proc only), pid (0 for
 * none) the process whose CPU and RSS are read each round. Names must be unique. TK_EINVAL for
 * a URL the client refuses. Safe between rounds and during one (the target joins the next). */
int tk_scraper_add(struct tk_scraper *s, const char *name, const char *url, pid_t pid, int flags,
                   struct tk_err *err);

/* As tk_scraper_add, for a target with connection settings of its own instead of the
 * scraper's PEMs: a remote apiserver through a kubeconfig's credentials (token, client
 * certificate, CA, insecure, TLS server name), an etcd with its own CA. conn->server is
 * required ("https://host:6443", a path prefix is kept) and path ("/metrics" when NULL) is
 * appended to it; every string is copied; user agent, retries (none) and timeout are the
 * scraper's. TK_EINVAL for no server or settings the client refuses. */
int tk_scraper_add_conn(struct tk_scraper *s, const char *name, const struct tk_kube_opts *conn,
                        const char *path, pid_t pid, int flags, struct tk_err *err);

/* Adds a cgroup (borrowed; must outlive the scraper or be removed by freeing the scraper)
 * whose usage is read each round, as source "cgroup" with labels group="name". */
void tk_scraper_add_cgroup(struct tk_scraper *s, const char *name, struct tk_cgroup *cg);

/* Asks for a round: starts one now, or when one is in flight, another right after it. Returns
 * the seq of the round whose samples are all taken after this call; it has ended once
 * tk_scraper_rounds() >= that value. */
uint64_t tk_scraper_request(struct tk_scraper *s);

/* Rounds ended so far. */
uint64_t tk_scraper_rounds(const struct tk_scraper *s);

/* The last good body of target name (TK_SCRAPE_KEEP_TEXT), borrowed until the next round
 * ends; NULL (and *len 0) when the target never answered or keeps no text. */
const char *tk_scraper_text(const struct tk_scraper *s, const char *name, size_t *len);

struct tk_scrape_usage {
    int seen;               /* 1 once a value was read */
    double cpu_seconds;     /* latest reading (process: utime+stime; cgroup: cpuacct) */
    int64_t rss_bytes;      /* latest (process RSS; cgroup: memory usage) */
    int64_t peak_rss_bytes; /* highest reading (cgroup: the kernel's high-water mark) */
    int64_t oom_kills;      /* cgroups: latest count */
};

/* The usage of target name (its process) as of the last round. TK_ENOTFOUND for an unknown
 * name. */
int tk_scraper_usage(const struct tk_scraper *s, const char *name, struct tk_scrape_usage *u);

/* The same for cgroup name (a group may share its name with a target: "etcd"). */
int tk_scraper_cgroup_usage(const struct tk_scraper *s, const char *name,
                            struct tk_scrape_usage *u);

#endif
