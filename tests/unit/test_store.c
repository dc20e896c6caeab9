#include <ftw.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "store.h"
#include "tktest.h"
#include "tktest_tmp.h"

static char *read_data(const char *name, size_t *len)
{
    const char *dir = tk_test_data_dir();
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct tk_buf b;
    tk_buf_init(&b, 0);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        tk_buf_append(&b, chunk, n);
    fclose(f);
    *len = b.len;
    return tk_buf_detach(&b);
}

static long long query_int(struct tk_store *st, const char *sql)
{
    sqlite3_stmt *s = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(tk_store_db(st), sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static char *query_text(struct tk_store *st, const char *sql)
{
    sqlite3_stmt *s = NULL;
    char *v = NULL;
    if (sqlite3_prepare_v2(tk_store_db(st), sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
        v = tk_xstrdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return v;
}

static int64_t add_cell(struct tk_store *st)
{
    struct tk_err err = {0};
    int64_t exp = 0, row = 0;
    if (tk_store_add_experiment(st, "t", NULL, NULL, NULL, &exp, &err) ||
        tk_store_add_cell(st, exp, 0, "0123456789ab", "{}", &row, NULL, &err))
        return -1;
    return row;
}

TK_TEST(store_schema_created)
{
    struct tk_store *st = NULL;
    struct tk_err err = {0};
    static const char *const tables[] = {
        "experiments",        "cells",         "host_facts",
        "component_versions", "samples",       "latency_summaries",
        "pod_latency",        "job_summaries", "usage",
        "failure_points",     "artifacts",
    };

    /* parent directories are created */
    CHECK_INT(tk_store_open(&st, tk_test_tmp_path("a/b/schema.db"), &err), 0);
    CHECK_INT(tk_store_schema_version(st), TK_STORE_SCHEMA_VERSION);
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        char sql[128];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='%s'", tables[i]);
        if (query_int(st, sql) != 1)
            fprintf(stderr, "  missing table %s\n", tables[i]);
        CHECK_INT(query_int(st, sql), 1);
    }
    char *mode = query_text(st, "PRAGMA journal_mode");
    CHECK_STR(mode, "wal");
    free(mode);
    CHECK_INT(query_int(st, "PRAGMA foreign_keys"), 1);
    tk_store_close(st);
}

TK_TEST(store_migration_idempotent)
{
    struct tk_store *st = NULL;
    struct tk_err err = {0};
    int64_t id = 0, found = 0;
    const char *path = tk_test_tmp_path("idem.db");

    CHECK_INT(tk_store_open(&st, path, &err), 0);
    CHECK_INT(tk_store_add_experiment(st, "quickstart", "d", "f.yaml", "spec", &id, &err), 0);
    tk_store_close(st);

    /* a second open migrates nothing and loses nothing */
    CHECK_INT(tk_store_open(&st, path, &err), 0);
    CHECK_INT(tk_store_schema_version(st), TK_STORE_SCHEMA_VERSION);
    CHECK_INT(tk_store_find_experiment(st, "quickstart", &found, &err), 0);
    CHECK_INT(found, id);
    CHECK_INT(query_int(st, "SELECT count(*) FROM experiments"), 1);
    CHECK_INT(tk_store_find_experiment(st, "nope", &found, &err), TK_ENOTFOUND);
    tk_err_clear(&err);

    /* a database from the future is refused, not downgraded */
    CHECK_INT(sqlite3_exec(tk_store_db(st), "PRAGMA user_version = 99", NULL, NULL, NULL), 0);
    tk_store_close(st);
    CHECK_INT(tk_store_open(&st, path, &err), TK_ESTATE);
    CHECK(st == NULL);
    CHECK_CONTAINS(err.msg, "schema version 99 is newer");
}

TK_TEST(store_open_error)
{
    struct tk_store *st = NULL;
    struct tk_err err = {0};
    CHECK_INT(tk_store_open(&st, "/proc/nope/x.db", &err), TK_EIO);
    CHECK(st == NULL);
    CHECK_CONTAINS(err.msg, "/proc/nope");
}

/* A phase begun but never committed (the process dies mid-phase) is not visible after reopen;
 * a phase committed before it is. */
TK_TEST(store_crash_loses_only_open_phase)
{
    struct tk_store *st = NULL;
    struct tk_err err = {0};
    const char *path = tk_test_tmp_path("crash.db");
    int64_t cell;

    CHECK_INT(tk_store_open(&st, path, &err), 0);
    cell = add_cell(st);
    CHECK(cell > 0);
    tk_store_close(st);

    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct tk_store *c = NULL;
        struct tk_err e = {0};
        struct tk_store_sample a = {1000, "apiserver", "committed", "", 1};
        struct tk_store_sample b = {2000, "apiserver", "in_flight", "", 2};
        struct tk_failure_point f = {2000, TK_FAILURE_HARD, "kube-burner timeout", NAN, NAN, NULL};
        if (tk_store_open(&c, path, &e) || tk_store_begin(c, &e) ||
            tk_store_add_samples(c, cell, &a, 1, &e) || tk_store_commit(c, &e) ||
            tk_store_begin(c, &e) || tk_store_add_samples(c, cell, &b, 1, &e) ||
            tk_store_add_failure(c, cell, &f, &e) ||
            tk_store_set_cell_status(c, cell, TK_CELL_FAILED, "timeout", &e))
            _exit(1);
        _exit(0); /* dies without commit or close */
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    CHECK_INT(tk_store_open(&st, path, &err), 0);
    CHECK_INT(query_int(st, "SELECT count(*) FROM samples WHERE metric='committed'"), 1);
    CHECK_INT(query_int(st, "SELECT count(*) FROM samples WHERE metric='in_flight'"), 0);
    CHECK_INT(query_int(st, "SELECT count(*) FROM failure_points"), 0);
    char *s = query_text(st, "SELECT status FROM cells");
    CHECK_STR(s, "pending");
    free(s);
    tk_store_close(st);
}

TK_TEST(store_phase_rollback_and_nesting)
{
    struct tk_store *st = NULL;
    struct tk_err err = {0};
    CHECK_INT(tk_store_open(&st, tk_test_tmp_path("phase.db"), &err), 0);
    int64_t cell = add_cell(st);
    struct tk_store_sample smp[3] = {
        {1, "apiserver", "m", "a=\"1\"", 1.5},
        {2, "apiserver", "m", "a=\"1\"", 2.5},
        {3, "etcd", "n", NULL, NAN},
    };
    CHECK_INT(tk_store_begin(st, &err), 0);
    CHECK_INT(tk_store_begin(st, &err), TK_ESTATE);
    tk_err_clear(&err);
    CHECK_INT(tk_store_add_samples(st, cell, smp, 3, &err), 0);
    tk_store_rollback(st);
    CHECK_INT(query_int(st, "SELECT count(*) FROM samples"), 0);
    CHECK_INT(tk_store_commit(st, &err), TK_ESTATE);
    tk_err_clear(&err);
    /* outside a phase each call commits on its own */
    CHECK_INT(tk_store_add_samples(st, cell, smp, 3, &err), 0);
    CHECK_INT(query_int(st, "SELECT count(*) FROM samples"), 3);
    CHECK_INT(query_int(st, "SELECT count(*) FROM samples WHERE value IS NULL"), 1);
    tk_store_close(st);
}

TK_TEST(store_cell_lifecycle)
{
    struct tk_store *st = NULL;
    struct tk_err err = {0};
    int64_t exp = 0, row = 0, row2 = 0;
    enum tk_cell_status status = TK_CELL_FAILED;

    CHECK_INT(tk_store_open(&st, tk_test_tmp_path("cells.db"), &err), 0);
    CHECK_INT(tk_store_add_experiment(st, "e", NULL, NULL, NULL, &exp, &err), 0);
    CHECK_INT(tk_store_add_cell(st, exp, 0, "aaaaaaaaaaaa", "{\"a\":1}", &row, &status, &err), 0);
    CHECK_INT(status, TK_CELL_PENDING);
    CHECK_INT(tk_store_set_cell_status(st, row, TK_CELL_RUNNING, NULL, &err), 0);
    CHECK_INT(query_int(st, "SELECT started_ms > 0 FROM cells"), 1);
    CHECK_INT(tk_store_set_cell_status(st, row, TK_CELL_ABORTED, "SIGTERM", &err), 0);
    /* resume: the same cell id finds the same row and its status */
    CHECK_INT(tk_store_add_cell(st, exp, 0, "aaaaaaaaaaaa", "{\"a\":1}", &row2, &status, &err), 0);
    CHECK_INT(row2, row);
    CHECK_INT(status, TK_CELL_ABORTED);
    char *r = query_text(st, "SELECT exit_reason FROM cells");
    CHECK_STR(r, "SIGTERM");
    free(r);
    CHECK_INT(tk_store_set_cell_dir(st, row, "/tmp/cell", &err), 0);
    struct tk_store_sample smp = {5, "apiserver", "m", "", 1};
    CHECK_INT(tk_store_add_samples(st, row, &smp, 1, &err), 0);
    CHECK_INT(tk_store_add_usage(st, row, "etcd", 12.5, 1 << 20, &err), 0);
    CHECK_INT(tk_store_reset_cell(st, row, &err), 0);
    CHECK_INT(query_int(st, "SELECT count(*) FROM samples"), 0);
    CHECK_INT(query_int(st, "SELECT count(*) FROM usage"), 0);
    r = query_text(st, "SELECT status FROM cells");
    CHECK_STR(r, "pending");
    free(r);
    CHECK_INT(tk_store_set_cell_status(st, 999, TK_CELL_RUNNING, NULL, &err), TK_ENOTFOUND);
    tk_err_clear(&err);
    /* the status constraint holds in the database itself */
    CHECK(sqlite3_exec(tk_store_db(st), "UPDATE cells SET status='done'", NULL, NULL, NULL) !=
          SQLITE_OK);
    CHECK_STR(tk_cell_status_name(TK_CELL_COMPLETE), "complete");
    CHECK_INT(tk_cell_status_parse("aborted"), TK_CELL_ABORTED);
    CHECK_INT(tk_cell_status_parse("done"), -1);
    tk_store_close(st);
}

TK_TEST(store_records)
{
    struct tk_store *st = NULL;
    struct tk_err err = {0};
    CHECK_INT(tk_store_open(&st, tk_test_tmp_path("records.db"), &err), 0);
    int64_t cell = add_cell(st);

    struct tk_host_facts hf = {"cp", "AMD EPYC 7B13", 2, 8LL << 30, "6.1.0-18-cloud-amd64"};
    CHECK_INT(tk_store_add_host_facts(st, cell, &hf, &err), 0);
    CHECK_INT(tk_store_add_component_version(st, cell, "kube-apiserver", "v1.36.3", &err), 0);
    CHECK_INT(tk_store_add_component_version(st, cell, "kube-apiserver", "v1.36.4", &err), 0);
    char *v = query_text(st, "SELECT version FROM component_versions");
    CHECK_STR(v, "v1.36.4");
    free(v);
    struct tk_pod_latency q[2] = {
        {"node-density", "Ready", 1000, 2000, 3000, 0, 4000, 1200.5},
        {"node-density", "PodScheduled", 0, 0, 1000, 0, 1000, 10},
    };
    CHECK_INT(tk_store_add_pod_latency(st, cell, q, 2, &err), 0);
    CHECK_INT(query_int(st, "SELECT p99 FROM pod_latency WHERE condition='Ready'"), 3000);
    struct tk_job_summary j = {.job = "node-density",
                               .start_ms = 1,
                               .end_ms = 2,
                               .elapsed_s = 48.5,
                               .passed = 1,
                               .version = "2.7.3@abc",
                               .total_nodes = -1,
                               .iterations = 1000,
                               .qps = 20,
                               .burst = 20};
    CHECK_INT(tk_store_add_job_summary(st, cell, &j, &err), 0);
    CHECK_INT(query_int(st, "SELECT total_nodes IS NULL AND k8s_version IS NULL FROM "
                            "job_summaries"),
              1);
    struct tk_failure_point f = {10, TK_FAILURE_SOFT, "slo:podStartupP99", 7.5, 5, "Ready P99"};
    CHECK_INT(tk_store_add_failure(st, cell, &f, &err), 0);
    CHECK_INT(query_int(st, "SELECT count(*) FROM failure_points WHERE kind='soft' AND "
                            "value=7.5 AND threshold=5"),
              1);
    CHECK_INT(tk_store_add_artifact(st, cell, "kube-burner-config", "/x/config.yml", &err), 0);
    CHECK_INT(query_int(st, "SELECT count(*) FROM artifacts"), 1);
    /* records of a cell that does not exist are refused (foreign keys) */
    CHECK(tk_store_add_usage(st, 4242, "etcd", 1, 1, &err) != 0);
    tk_store_close(st);
}

TK_TEST(store_cell_id_stability)
{
    struct tk_err err = {0};
    char a[13], b[13], c[13], d[13];

    CHECK_INT(tk_store_cell_id("{\"load\":{\"qps\":20,\"shape\":\"node-density\"},\"agents\":"
                               "{\"nodes\":100}}",
                               a, &err),
              0);
    CHECK_INT(tk_store_cell_id(" { \"agents\" : {\"nodes\":100}, \"load\": {\"shape\":"
                               "\"node-density\", \"qps\": 20.0 } }",
                               b, &err),
              0);
    CHECK_STR(a, b);
    CHECK_INT(strlen(a), 12);
    for (int i = 0; i < 12; i++)
        CHECK(strchr("0123456789abcdef", a[i]) != NULL);
    CHECK_INT(tk_store_cell_id("{\"load\":{\"qps\":20,\"shape\":\"node-density\"},\"agents\":"
                               "{\"nodes\":101}}",
                               c, &err),
              0);
    CHECK(strcmp(a, c) != 0);
    /* arrays keep their order: argument order is meaningful */
    CHECK_INT(tk_store_cell_id("{\"args\":[\"a\",\"b\"]}", c, &err), 0);
    CHECK_INT(tk_store_cell_id("{\"args\":[\"b\",\"a\"]}", d, &err), 0);
    CHECK(strcmp(c, d) != 0);
    char *canon = tk_store_canonical_json("{\"b\":[{\"z\":1,\"y\":2}],\"a\":null}", &err);
    CHECK_STR(canon, "{\"a\":null,\"b\":[{\"y\":2,\"z\":1}]}");
    free(canon);
    CHECK_INT(tk_store_cell_id("[1,2]", c, &err), TK_EINVAL);
    tk_err_clear(&err);
    CHECK_INT(tk_store_cell_id("{\"a\":", c, &err), TK_EINVAL);
}

struct want {
    const char *metric, *verb, *resource, *scope;
    double count, p50, p90, p99, max_bucket;
    int reset;
};

static int check_row(const struct tk_latency_summary *r, const struct want *w)
{
    int ok = strcmp(r->metric, w->metric) == 0 && strcmp(r->verb, w->verb) == 0 &&
             strcmp(r->resource, w->resource) == 0 && strcmp(r->scope, w->scope) == 0 &&
             r->subresource[0] == '\0' && fabs(r->count - w->count) < 1e-9 &&
             fabs(r->p50 - w->p50) < 1e-9 && fabs(r->p90 - w->p90) < 1e-9 &&
             fabs(r->p99 - w->p99) < 1e-9 && r->reset == w->reset &&
             (isinf(w->max_bucket) ? isinf(r->max_bucket) : r->max_bucket == w->max_bucket);
    if (!ok)
        fprintf(stderr,
                "  got %s %s %s %s count=%g p50=%.12g p90=%.12g p99=%.12g max=%g reset=%d\n",
                r->metric, r->verb, r->resource, r->scope, r->count, r->p50, r->p90, r->p99,
                r->max_bucket, r->reset);
    return ok;
}

/* Hand-computed from tests/data/store/scrape-{before,after}.txt, bucket by bucket. */
static const struct want want_rows[] = {
    /* reset: after (1, 2, 3, 3) as is. p50: rank 1.5 in (0.1, 0.5]: 0.1 + 0.4 * 0.5 / 1 */
    {"apiserver_request_duration_seconds", "LIST", "pods", "cluster", 3, 0.3, 0.85, 0.985, 1, 1},
    /* new series, all in the first bucket: interpolation from 0 */
    {"apiserver_request_duration_seconds", "POST", "deployments.apps", "namespace", 4, 0.05, 0.09,
     0.099, 0.1, 0},
    /* deltas (20, 80, 98, 100) + (0, 0, 2, 4) = (20, 80, 100, 104): p50 rank 52 in (0.1, 0.5]
     * = 0.1 + 0.4 * 32/60; p90 rank 93.6 in (0.5, 1] = 0.5 + 0.5 * 13.6/20; p99 rank 102.96
     * falls in +Inf: the le before it, 1 */
    {"apiserver_request_duration_seconds", "POST", "pods", "resource", 104, 0.1 + 0.4 * 32 / 60,
     0.84, 1, INFINITY, 0},
    /* deltas (50, 90, 100): p50 rank 50 is exactly bucket 0's count: 0.1; p90 rank 90 = 1 */
    {"apiserver_request_sli_duration_seconds", "POST", "pods", "resource", 100, 0.1, 1, 1, INFINITY,
     0},
    /* deltas (10, 40, 50, 50) */
    {"etcd_request_duration_seconds", "create", "pods", "", 50, 0.015, 0.0625, 0.09625, 0.1, 0},
    /* pre-1.34 labels: operation + type */
    {"etcd_request_duration_seconds", "get", "*core.Node", "", 3, 0.0025, 0.0045, 0.00495, 0.005,
     0},
};

TK_TEST(store_latency_from_two_scrapes)
{
    size_t blen = 0, alen = 0, n = 0;
    char *before = read_data("store/scrape-before.txt", &blen);
    char *after = read_data("store/scrape-after.txt", &alen);
    struct tk_latency_summary *rows = NULL;
    struct tk_err err = {0};

    CHECK(before && after);
    CHECK_INT(tk_latency_summarize(before, blen, after, alen, &rows, &n, &err), 0);
    CHECK_INT(n, sizeof(want_rows) / sizeof(want_rows[0]));
    for (size_t i = 0; i < n; i++)
        CHECK(check_row(&rows[i], &want_rows[i]));
    tk_latency_summaries_free(rows, n);

    /* the same through the database */
    struct tk_store *st = NULL;
    size_t nrows = 0;
    CHECK_INT(tk_store_open(&st, tk_test_tmp_path("latency.db"), &err), 0);
    int64_t cell = add_cell(st);
    CHECK_INT(tk_store_add_latency_from_scrapes(st, cell, "apiserver", before, blen, after, alen,
                                                &nrows, &err),
              0);
    CHECK_INT(nrows, 6);
    sqlite3_stmt *s = NULL;
    CHECK_INT(sqlite3_prepare_v2(tk_store_db(st),
                                 "SELECT count, p50, p90, p99, max_bucket FROM latency_summaries "
                                 "WHERE source='apiserver' AND verb='POST' AND resource='pods' "
                                 "AND metric='apiserver_request_duration_seconds'",
                                 -1, &s, NULL),
              SQLITE_OK);
    CHECK_INT(sqlite3_step(s), SQLITE_ROW);
    CHECK_NEAR(sqlite3_column_double(s, 0), 104, 1e-9);
    CHECK_NEAR(sqlite3_column_double(s, 1), 0.1 + 0.4 * 32 / 60, 1e-9);
    CHECK_NEAR(sqlite3_column_double(s, 2), 0.84, 1e-9);
    CHECK_NEAR(sqlite3_column_double(s, 3), 1, 1e-9);
    CHECK(isinf(sqlite3_column_double(s, 4)));
    sqlite3_finalize(s);
    /* every row is plausible: p99 >= p90 >= p50 > 0 */
    CHECK_INT(query_int(st, "SELECT count(*) FROM latency_summaries WHERE p99 >= p90 AND "
                            "p90 >= p50 AND p50 > 0"),
              6);

    /* no first scrape: everything in the second counts */
    CHECK_INT(tk_latency_summarize(NULL, 0, after, alen, &rows, &n, &err), 0);
    CHECK_INT(n, 7); /* GET nodes now has 100 requests */
    tk_latency_summaries_free(rows, n);

    /* a malformed scrape is an error naming the line */
    CHECK_INT(tk_latency_summarize("x{", 2, after, alen, &rows, &n, &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "first scrape");
    CHECK(rows == NULL);
    tk_store_close(st);
    free(before);
    free(after);
}

TK_TEST_MAIN(store_schema_created, store_migration_idempotent, store_open_error,
             store_crash_loses_only_open_phase, store_phase_rollback_and_nesting,
             store_cell_lifecycle, store_records, store_cell_id_stability,
             store_latency_from_two_scrapes)
