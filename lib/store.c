#include "store.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "json.h"
#include "log.h"
#include "prom.h"

struct tk_store {
    sqlite3 *db;
    char *path;
    int in_phase;
};

/* ---- schema ----------------------------------------------------------------------------- */

/* Migration i takes the schema from version i to i + 1. Append, never edit: a database out there
 * may be at any version. */
static const char *const migrations[] = {
    /* 0 -> 1: the data model of DESIGN.md */
    "CREATE TABLE experiments ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  description TEXT,"
    "  file TEXT,"
    "  spec TEXT,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE INDEX experiments_name ON experiments(name);"
    "CREATE TABLE cells ("
    "  id INTEGER PRIMARY KEY,"
    "  experiment INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,"
    "  idx INTEGER NOT NULL,"
    "  cell_id TEXT NOT NULL,"
    "  params TEXT NOT NULL,"
    "  status TEXT NOT NULL DEFAULT 'pending'"
    "    CHECK (status IN ('pending','running','complete','failed','aborted')),"
    "  exit_reason TEXT,"
    "  created_ms INTEGER NOT NULL,"
    "  started_ms INTEGER,"
    "  finished_ms INTEGER,"
    "  dir TEXT,"
    "  UNIQUE (experiment, cell_id));"
    "CREATE INDEX cells_cell_id ON cells(cell_id);"
    "CREATE TABLE host_facts ("
    "  cell INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE,"
    "  host TEXT NOT NULL,"
    "  cpu_model TEXT,"
    "  cores INTEGER,"
    "  memory_bytes INTEGER,"
    "  kernel TEXT,"
    "  PRIMARY KEY (cell, host));"
    "CREATE TABLE component_versions ("
    "  cell INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE,"
    "  component TEXT NOT NULL,"
    "  version TEXT NOT NULL,"
    "  PRIMARY KEY (cell, component));"
    "CREATE TABLE samples ("
    "  cell INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE,"
    "  t_ms INTEGER NOT NULL,"
    "  source TEXT NOT NULL,"
    "  metric TEXT NOT NULL,"
    "  labels TEXT NOT NULL DEFAULT '',"
    "  value REAL);"
    "CREATE INDEX samples_cell_metric ON samples(cell, metric, t_ms);"
    "CREATE TABLE latency_summaries ("
    "  cell INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE,"
    "  source TEXT NOT NULL,"
    "  metric TEXT NOT NULL,"
    "  verb TEXT NOT NULL,"
    "  resource TEXT NOT NULL,"
    "  subresource TEXT NOT NULL,"
    "  scope TEXT NOT NULL,"
    "  count REAL NOT NULL,"
    "  p50 REAL, p90 REAL, p99 REAL,"
    "  max_bucket REAL,"
    "  reset INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (cell, source, metric, verb, resource, subresource, scope));"
    "CREATE TABLE pod_latency ("
    "  cell INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE,"
    "  job TEXT NOT NULL,"
    "  condition TEXT NOT NULL,"
    "  p50 REAL, p95 REAL, p99 REAL, min REAL, max REAL, avg REAL,"
    "  PRIMARY KEY (cell, job, condition));"
    "CREATE TABLE job_summaries ("
    "  cell INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE,"
    "  job TEXT NOT NULL,"
    "  start_ms INTEGER, end_ms INTEGER,"
    "  elapsed_s REAL,"
    "  passed INTEGER NOT NULL,"
    "  version TEXT, k8s_version TEXT,"
    "  total_nodes INTEGER,"
    "  iterations INTEGER, qps REAL, burst INTEGER,"
    "  errors TEXT,"
    "  PRIMARY KEY (cell, job));"
    "CREATE TABLE usage ("
    "  cell INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE,"
    "  component TEXT NOT NULL,"
    "  cpu_seconds REAL,"
    "  peak_rss_bytes INTEGER,"
    "  PRIMARY KEY (cell, component));"
    "CREATE TABLE failure_points ("
    "  id INTEGER PRIMARY KEY,"
    "  cell INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE,"
    "  t_ms INTEGER NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('soft','hard')),"
    "  what TEXT NOT NULL,"
    "  value REAL, threshold REAL,"
    "  detail TEXT);"
    "CREATE INDEX failure_points_cell ON failure_points(cell);"
    "CREATE TABLE artifacts ("
    "  cell INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL,"
    "  path TEXT NOT NULL,"
    "  PRIMARY KEY (cell, kind, path));",
};

/* Tables holding per-cell records, for tk_store_reset_cell. */
static const char *const cell_tables[] = {
    "host_facts",  "component_versions", "samples", "latency_summaries",
    "pod_latency", "job_summaries",      "usage",   "failure_points",
    "artifacts",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == TK_STORE_SCHEMA_VERSION,
               "one migration per schema version");

static const char *const status_names[] = {"pending", "running", "complete", "failed", "aborted"};

const char *tk_cell_status_name(enum tk_cell_status s)
{
    return (unsigned)s < sizeof(status_names) / sizeof(status_names[0]) ? status_names[s] : "?";
}

int tk_cell_status_parse(const char *name)
{
    for (size_t i = 0; name && i < sizeof(status_names) / sizeof(status_names[0]); i++)
        if (strcmp(name, status_names[i]) == 0)
            return (int)i;
    return -1;
}

static int db_err(struct tk_store *st, struct tk_err *err, const char *what)
{
    return tk_err_set(err, TK_EIO, "%s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
}

static int exec(struct tk_store *st, const char *sql, const char *what, struct tk_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        tk_err_set(err, TK_EIO, "%s: %s: %s", st->path, what, msg ? msg : "failed");
        sqlite3_free(msg);
        return TK_EIO;
    }
    return 0;
}

static int user_version(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

static int migrate(struct tk_store *st, struct tk_err *err)
{
    int v = user_version(st->db);

    if (v < 0)
        return db_err(st, err, "cannot read the schema version");
    if (v > TK_STORE_SCHEMA_VERSION)
        return tk_err_set(err, TK_ESTATE,
                          "%s: schema version %d is newer than this turbokube knows (%d); "
                          "use a newer turbokube or another --db",
                          st->path, v, TK_STORE_SCHEMA_VERSION);
    for (; v < TK_STORE_SCHEMA_VERSION; v++) {
        char bump[64];
        /* IMMEDIATE: two processes opening a fresh file at once must not both migrate. */
        if (exec(st, "BEGIN IMMEDIATE", "migration", err))
            return err->code;
        if (user_version(st->db) != v) { /* someone else migrated meanwhile */
            exec(st, "COMMIT", "migration", err);
            v = user_version(st->db) - 1;
            continue;
        }
        snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
        if (exec(st, migrations[v], "migration", err) || exec(st, bump, "migration", err)) {
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            tk_err_prefix(err, "schema %d -> %d", v, v + 1);
            return err->code;
        }
        if (exec(st, "COMMIT", "migration", err))
            return err->code;
        tk_debug("store migrated", "path=%s version=%d", st->path, v + 1);
    }
    return 0;
}

static int mkdir_parents(const char *path, struct tk_err *err)
{
    char *dir = tk_xstrdup(path);
    int rc = 0;

    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) && errno != EEXIST) {
            rc = tk_err_set(err, TK_EIO, "cannot create directory '%s': %s", dir, strerror(errno));
            break;
        }
        *p = '/';
    }
    free(dir);
    return rc;
}

int tk_store_open(struct tk_store **out, const char *path, struct tk_err *err)
{
    struct tk_store *st = tk_xcalloc(1, sizeof(*st));

    st->path = tk_xstrdup(path);
    if (mkdir_parents(path, err))
        goto fail;
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)) {
        tk_err_set(err, TK_EIO, "cannot open '%s': %s", path,
                   st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    /* synchronous=FULL: a committed phase survives a power cut too, and commits are few. */
    if (exec(st, "PRAGMA journal_mode=WAL", "cannot enable WAL", err) ||
        exec(st, "PRAGMA synchronous=FULL", "pragma", err) ||
        exec(st, "PRAGMA foreign_keys=ON", "pragma", err))
        goto fail;
    if (migrate(st, err))
        goto fail;
    *out = st;
    return 0;
fail:
    sqlite3_close(st->db);
    free(st->path);
    free(st);
    *out = NULL;
    return err->code;
}

void tk_store_close(struct tk_store *st)
{
    if (!st)
        return;
    if (st->in_phase)
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(st->db);
    free(st->path);
    free(st);
}

int tk_store_schema_version(struct tk_store *st)
{
    return user_version(st->db);
}

struct sqlite3 *tk_store_db(struct tk_store *st)
{
    return st->db;
}

int tk_store_begin(struct tk_store *st, struct tk_err *err)
{
    if (st->in_phase)
        return tk_err_set(err, TK_ESTATE, "%s: a phase is already open", st->path);
    if (exec(st, "BEGIN IMMEDIATE", "begin", err))
        return err->code;
    st->in_phase = 1;
    return 0;
}

int tk_store_commit(struct tk_store *st, struct tk_err *err)
{
    if (!st->in_phase)
        return tk_err_set(err, TK_ESTATE, "%s: no phase is open", st->path);
    if (exec(st, "COMMIT", "commit", err))
        return err->code;
    st->in_phase = 0;
    return 0;
}

void tk_store_rollback(struct tk_store *st)
{
    if (!st->in_phase)
        return;
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    st->in_phase = 0;
}

/* Every multi-statement writer runs inside a savepoint: atomic alone, nested in a phase. */
static int sp_begin(struct tk_store *st, struct tk_err *err)
{
    return exec(st, "SAVEPOINT tk", "savepoint", err);
}

static int sp_end(struct tk_store *st, int rc, struct tk_err *err)
{
    if (rc) {
        sqlite3_exec(st->db, "ROLLBACK TO tk; RELEASE tk", NULL, NULL, NULL);
        return rc;
    }
    return exec(st, "RELEASE tk", "release", err);
}

/* ---- statements ------------------------------------------------------------------------- */

static int prepare(struct tk_store *st, const char *sql, sqlite3_stmt **s, struct tk_err *err)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, s, NULL) != SQLITE_OK) {
        *s = NULL;
        return db_err(st, err, "prepare");
    }
    return 0;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, i);
}

/* NaN is "no value": NULL in the database. */
static void bind_real(sqlite3_stmt *s, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_double(s, i, v);
}

static int step_done(struct tk_store *st, sqlite3_stmt *s, const char *what, struct tk_err *err)
{
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_err(st, err, what);
    return 0;
}

static int64_t now_ms(void)
{
    return tk_wall_ns() / 1000000;
}

/* ---- cell ids ----------------------------------------------------------------------------- */

static void sort_keys(cJSON *node)
{
    if (cJSON_IsArray(node)) {
        for (cJSON *c = node->child; c; c = c->next)
            sort_keys(c);
        return;
    }
    if (!cJSON_IsObject(node))
        return;
    /* insertion sort of the child list by key; objects here are small */
    cJSON *sorted = NULL;
    cJSON *c = node->child;
    while (c) {
        cJSON *next = c->next;
        sort_keys(c);
        cJSON **at = &sorted;
        while (*at && strcmp((*at)->string, c->string) <= 0)
            at = &(*at)->next;
        c->next = *at;
        *at = c;
        c = next;
    }
    /* cJSON's lists are doubly linked with child->prev pointing at the tail */
    cJSON *prev = NULL, *last = NULL;
    for (cJSON *x = sorted; x; x = x->next) {
        x->prev = prev;
        prev = x;
        last = x;
    }
    if (sorted)
        sorted->prev = last;
    node->child = sorted;
}

char *tk_store_canonical_json(const char *params_json, struct tk_err *err)
{
    cJSON *root = NULL;
    char *out = NULL;

    if (!params_json ||
        tk_json_parse(&root, params_json, strlen(params_json), "cell parameters", err))
        goto done;
    if (!cJSON_IsObject(root)) {
        tk_err_set(err, TK_EINVAL, "cell parameters: expected a JSON object");
        goto done;
    }
    sort_keys(root);
    out = tk_json_print(root);
done:
    cJSON_Delete(root);
    return out;
}

int tk_store_cell_id(const char *params_json, char out[13], struct tk_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char *canon = tk_store_canonical_json(params_json, err);

    if (!canon)
        return err->code ? err->code : TK_EINVAL;
    if (!EVP_Digest(canon, strlen(canon), md, &mdlen, EVP_sha256(), NULL) || mdlen < 6) {
        free(canon);
        return tk_err_set(err, TK_EIO, "SHA-256 failed");
    }
    for (int i = 0; i < 6; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    free(canon);
    return 0;
}

/* ---- experiments and cells -------------------------------------------------------------- */

int tk_store_add_experiment(struct tk_store *st, const char *name, const char *description,
                            const char *file, const char *spec, int64_t *id, struct tk_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = prepare(st,
                     "INSERT INTO experiments(name, description, file, spec, created_ms) "
                     "VALUES (?1, ?2, ?3, ?4, ?5)",
                     &s, err);
    if (!rc) {
        bind_text(s, 1, name);
        bind_text(s, 2, description);
        bind_text(s, 3, file);
        bind_text(s, 4, spec);
        sqlite3_bind_int64(s, 5, now_ms());
        rc = step_done(st, s, "insert experiment", err);
    }
    if (!rc)
        *id = sqlite3_last_insert_rowid(st->db);
    sqlite3_finalize(s);
    return rc;
}

int tk_store_find_experiment(struct tk_store *st, const char *name, int64_t *id, struct tk_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc =
        prepare(st, "SELECT id FROM experiments WHERE name = ?1 ORDER BY id DESC LIMIT 1", &s, err);
    if (!rc) {
        bind_text(s, 1, name);
        int r = sqlite3_step(s);
        if (r == SQLITE_ROW)
            *id = sqlite3_column_int64(s, 0);
        else if (r == SQLITE_DONE)
            rc = tk_err_set(err, TK_ENOTFOUND, "%s: no experiment named '%s'", st->path, name);
        else
            rc = db_err(st, err, "find experiment");
    }
    sqlite3_finalize(s);
    return rc;
}

int tk_store_add_cell(struct tk_store *st, int64_t exp, int64_t idx, const char *cell_id,
                      const char *params_json, int64_t *row, enum tk_cell_status *status,
                      struct tk_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if ((rc = sp_begin(st, err)))
        return rc;
    rc = prepare(st,
                 "INSERT INTO cells(experiment, idx, cell_id, params, created_ms) "
                 "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (experiment, cell_id) DO NOTHING",
                 &s, err);
    if (!rc) {
        sqlite3_bind_int64(s, 1, exp);
        sqlite3_bind_int64(s, 2, idx);
        bind_text(s, 3, cell_id);
        bind_text(s, 4, params_json);
        sqlite3_bind_int64(s, 5, now_ms());
        rc = step_done(st, s, "insert cell", err);
    }
    sqlite3_finalize(s);
    s = NULL;
    if (!rc)
        rc = prepare(st, "SELECT id, status FROM cells WHERE experiment = ?1 AND cell_id = ?2", &s,
                     err);
    if (!rc) {
        sqlite3_bind_int64(s, 1, exp);
        bind_text(s, 2, cell_id);
        if (sqlite3_step(s) == SQLITE_ROW) {
            *row = sqlite3_column_int64(s, 0);
            if (status) {
                int v = tk_cell_status_parse((const char *)sqlite3_column_text(s, 1));
                *status = v < 0 ? TK_CELL_PENDING : (enum tk_cell_status)v;
            }
        } else {
            rc = db_err(st, err, "find cell");
        }
    }
    sqlite3_finalize(s);
    return sp_end(st, rc, err);
}

int tk_store_set_cell_status(struct tk_store *st, int64_t row, enum tk_cell_status status,
                             const char *exit_reason, struct tk_err *err)
{
    sqlite3_stmt *s = NULL;
    const char *sql =
        status == TK_CELL_RUNNING
            ? "UPDATE cells SET status = ?1, exit_reason = ?2, started_ms = ?3, "
              "finished_ms = NULL WHERE id = ?4"
        : status == TK_CELL_PENDING
            ? "UPDATE cells SET status = ?1, exit_reason = ?2, started_ms = NULL, "
              "finished_ms = NULL WHERE id = ?4"
            : "UPDATE cells SET status = ?1, exit_reason = ?2, finished_ms = ?3 WHERE id = ?4";
    int rc = prepare(st, sql, &s, err);

    if (!rc) {
        bind_text(s, 1, tk_cell_status_name(status));
        bind_text(s, 2, exit_reason);
        sqlite3_bind_int64(s, 3, now_ms());
        sqlite3_bind_int64(s, 4, row);
        rc = step_done(st, s, "update cell", err);
    }
    if (!rc && sqlite3_changes(st->db) == 0)
        rc = tk_err_set(err, TK_ENOTFOUND, "%s: no cell with row %lld", st->path, (long long)row);
    sqlite3_finalize(s);
    return rc;
}

int tk_store_set_cell_dir(struct tk_store *st, int64_t row, const char *dir, struct tk_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = prepare(st, "UPDATE cells SET dir = ?1 WHERE id = ?2", &s, err);
    if (!rc) {
        bind_text(s, 1, dir);
        sqlite3_bind_int64(s, 2, row);
        rc = step_done(st, s, "update cell", err);
    }
    if (!rc && sqlite3_changes(st->db) == 0)
        rc = tk_err_set(err, TK_ENOTFOUND, "%s: no cell with row %lld", st->path, (long long)row);
    sqlite3_finalize(s);
    return rc;
}

int tk_store_reset_cell(struct tk_store *st, int64_t row, struct tk_err *err)
{
    int rc = sp_begin(st, err);
    for (size_t i = 0; !rc && i < sizeof(cell_tables) / sizeof(cell_tables[0]); i++) {
        char sql[96];
        sqlite3_stmt *s = NULL;
        snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE cell = ?1", cell_tables[i]);
        rc = prepare(st, sql, &s, err);
        if (!rc) {
            sqlite3_bind_int64(s, 1, row);
            rc = step_done(st, s, "reset cell", err);
        }
        sqlite3_finalize(s);
    }
    if (!rc)
        rc = tk_store_set_cell_status(st, row, TK_CELL_PENDING, NULL, err);
    return sp_end(st, rc, err);
}

/* ---- per-cell records ------------------------------------------------------------------- */

int tk_store_add_host_facts(struct tk_store *st, int64_t cell, const struct tk_host_facts *f,
                            struct tk_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = prepare(st,
                     "INSERT OR REPLACE INTO host_facts(cell, host, cpu_model, cores, "
                     "memory_bytes, kernel) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                     &s, err);
    if (!rc) {
        sqlite3_bind_int64(s, 1, cell);
        bind_text(s, 2, f->host ? f->host : "local");
        bind_text(s, 3, f->cpu_model);
        sqlite3_bind_int64(s, 4, f->cores);
        sqlite3_bind_int64(s, 5, f->memory_bytes);
        bind_text(s, 6, f->kernel);
        rc = step_done(st, s, "insert host facts", err);
    }
    sqlite3_finalize(s);
    return rc;
}

int tk_store_add_component_version(struct tk_store *st, int64_t cell, const char *component,
                                   const char *version, struct tk_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = prepare(st,
                     "INSERT OR REPLACE INTO component_versions(cell, component, version) "
                     "VALUES (?1, ?2, ?3)",
                     &s, err);
    if (!rc) {
        sqlite3_bind_int64(s, 1, cell);
        bind_text(s, 2, component);
        bind_text(s, 3, version ? version : "");
        rc = step_done(st, s, "insert component version", err);
    }
    sqlite3_finalize(s);
    return rc;
}

int tk_store_add_samples(struct tk_store *st, int64_t cell, const struct tk_store_sample *smp,
                         size_t n, struct tk_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sp_begin(st, err);

    if (!rc)
        rc = prepare(st,
                     "INSERT INTO samples(cell, t_ms, source, metric, labels, value) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                     &s, err);
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, cell);
        sqlite3_bind_int64(s, 2, smp[i].t_ms);
        bind_text(s, 3, smp[i].source ? smp[i].source : "");
        bind_text(s, 4, smp[i].metric);
        bind_text(s, 5, smp[i].labels ? smp[i].labels : "");
        bind_real(s, 6, smp[i].value);
        rc = step_done(st, s, "insert sample", err);
    }
    sqlite3_finalize(s);
    return sp_end(st, rc, err);
}

int tk_store_add_latency_summary(struct tk_store *st, int64_t cell, const char *source,
                                 const struct tk_latency_summary *l, struct tk_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = prepare(st,
                     "INSERT OR REPLACE INTO latency_summaries(cell, source, metric, verb, "
                     "resource, subresource, scope, count, p50, p90, p99, max_bucket, reset) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                     &s, err);
    if (!rc) {
        sqlite3_bind_int64(s, 1, cell);
        bind_text(s, 2, source);
        bind_text(s, 3, l->metric);
        bind_text(s, 4, l->verb ? l->verb : "");
        bind_text(s, 5, l->resource ? l->resource : "");
        bind_text(s, 6, l->subresource ? l->subresource : "");
        bind_text(s, 7, l->scope ? l->scope : "");
        sqlite3_bind_double(s, 8, l->count);
        bind_real(s, 9, l->p50);
        bind_real(s, 10, l->p90);
        bind_real(s, 11, l->p99);
        bind_real(s, 12, l->max_bucket);
        sqlite3_bind_int(s, 13, l->reset);
        rc = step_done(st, s, "insert latency summary", err);
    }
    sqlite3_finalize(s);
    return rc;
}

int tk_store_add_pod_latency(struct tk_store *st, int64_t cell, const struct tk_pod_latency *q,
                             size_t n, struct tk_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sp_begin(st, err);

    if (!rc)
        rc = prepare(st,
                     "INSERT OR REPLACE INTO pod_latency(cell, job, condition, p50, p95, p99, "
                     "min, max, avg) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                     &s, err);
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, cell);
        bind_text(s, 2, q[i].job);
        bind_text(s, 3, q[i].condition);
        bind_real(s, 4, q[i].p50);
        bind_real(s, 5, q[i].p95);
        bind_real(s, 6, q[i].p99);
        bind_real(s, 7, q[i].min);
        bind_real(s, 8, q[i].max);
        bind_real(s, 9, q[i].avg);
        rc = step_done(st, s, "insert pod latency", err);
    }
    sqlite3_finalize(s);
    return sp_end(st, rc, err);
}

int tk_store_add_job_summary(struct tk_store *st, int64_t cell, const struct tk_job_summary *j,
                             struct tk_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = prepare(st,
                     "INSERT OR REPLACE INTO job_summaries(cell, job, start_ms, end_ms, "
                     "elapsed_s, passed, version, k8s_version, total_nodes, iterations, qps, "
                     "burst, errors) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                     "?13)",
                     &s, err);
    if (!rc) {
        sqlite3_bind_int64(s, 1, cell);
        bind_text(s, 2, j->job);
        sqlite3_bind_int64(s, 3, j->start_ms);
        sqlite3_bind_int64(s, 4, j->end_ms);
        bind_real(s, 5, j->elapsed_s);
        sqlite3_bind_int(s, 6, j->passed != 0);
        bind_text(s, 7, j->version);
        bind_text(s, 8, j->k8s_version[0] ? j->k8s_version : NULL);
        if (j->total_nodes >= 0)
            sqlite3_bind_int64(s, 9, j->total_nodes);
        else
            sqlite3_bind_null(s, 9);
        sqlite3_bind_int64(s, 10, j->iterations);
        bind_real(s, 11, j->qps);
        sqlite3_bind_int64(s, 12, j->burst);
        bind_text(s, 13, j->errors[0] ? j->errors : NULL);
        rc = step_done(st, s, "insert job summary", err);
    }
    sqlite3_finalize(s);
    return rc;
}

int tk_store_add_usage(struct tk_store *st, int64_t cell, const char *component, double cpu_seconds,
                       int64_t peak_rss_bytes, struct tk_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = prepare(st,
                     "INSERT OR REPLACE INTO usage(cell, component, cpu_seconds, peak_rss_bytes) "
                     "VALUES (?1, ?2, ?3, ?4)",
                     &s, err);
    if (!rc) {
        sqlite3_bind_int64(s, 1, cell);
        bind_text(s, 2, component);
        bind_real(s, 3, cpu_seconds);
        sqlite3_bind_int64(s, 4, peak_rss_bytes);
        rc = step_done(st, s, "insert usage", err);
    }
    sqlite3_finalize(s);
    return rc;
}

int tk_store_add_failure(struct tk_store *st, int64_t cell, const struct tk_failure_point *f,
                         struct tk_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = prepare(st,
                     "INSERT INTO failure_points(cell, t_ms, kind, what, value, threshold, detail) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                     &s, err);
    if (!rc) {
        sqlite3_bind_int64(s, 1, cell);
        sqlite3_bind_int64(s, 2, f->t_ms);
        bind_text(s, 3, f->kind == TK_FAILURE_HARD ? "hard" : "soft");
        bind_text(s, 4, f->what);
        bind_real(s, 5, f->value);
        bind_real(s, 6, f->threshold);
        bind_text(s, 7, f->detail);
        rc = step_done(st, s, "insert failure point", err);
    }
    sqlite3_finalize(s);
    return rc;
}

int tk_store_add_artifact(struct tk_store *st, int64_t cell, const char *kind, const char *path,
                          struct tk_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = prepare(st, "INSERT OR REPLACE INTO artifacts(cell, kind, path) VALUES (?1, ?2, ?3)",
                     &s, err);
    if (!rc) {
        sqlite3_bind_int64(s, 1, cell);
        bind_text(s, 2, kind);
        bind_text(s, 3, path);
        rc = step_done(st, s, "insert artifact", err);
    }
    sqlite3_finalize(s);
    return rc;
}

/* ---- latency summaries from two scrapes ----------------------------------------------------- */

static const char *const summary_metrics[] = {
    "apiserver_request_duration_seconds",
    "apiserver_request_sli_duration_seconds",
    "etcd_request_duration_seconds",
};
#define NSUMMARY (sizeof(summary_metrics) / sizeof(summary_metrics[0]))

struct scrape {
    struct tk_prom_hists h[NSUMMARY];
};

static int scrape_cb(void *ud, const struct tk_prom_sample *s)
{
    struct scrape *sc = ud;
    for (size_t i = 0; i < NSUMMARY; i++)
        if (tk_prom_hists_add(&sc->h[i], s))
            break;
    return 0;
}

static void scrape_init(struct scrape *sc)
{
    for (size_t i = 0; i < NSUMMARY; i++)
        tk_prom_hists_init(&sc->h[i], summary_metrics[i]);
}

static void scrape_release(struct scrape *sc)
{
    for (size_t i = 0; i < NSUMMARY; i++)
        tk_prom_hists_release(&sc->h[i]);
}

static int scrape_parse(struct scrape *sc, const char *text, size_t len, const char *what,
                        struct tk_err *err)
{
    if (text && tk_prom_parse(text, len, scrape_cb, sc, err)) {
        tk_err_prefix(err, "%s scrape", what);
        return err->code;
    }
    for (size_t i = 0; i < NSUMMARY; i++)
        tk_prom_hists_finish(&sc->h[i]);
    return 0;
}

/* The value of label name in a labels_key (a="1",b="x\"y"), unescaped, into a new string; ""
 * when absent. */
static char *key_label(const char *key, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = key;

    while (*p) {
        const char *eq = strchr(p, '=');
        if (!eq || eq[1] != '"')
            break;
        int match = (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0;
        struct tk_buf v;
        tk_buf_init(&v, 0);
        const char *q = eq + 2;
        for (; *q && *q != '"'; q++) {
            char c = *q;
            if (c == '\\' && q[1]) {
                q++;
                c = *q == 'n' ? '\n' : *q;
            }
            if (match)
                tk_buf_append(&v, &c, 1);
        }
        if (match)
            return tk_buf_detach(&v);
        tk_buf_release(&v);
        p = *q ? q + 1 : q;
        if (*p == ',')
            p++;
    }
    return tk_xstrdup("");
}

struct group {
    struct tk_latency_summary row;
    struct tk_prom_hist *series; /* deltas, owned */
    size_t n, alloc;
};

static int group_cmp_row(const struct tk_latency_summary *a, const struct tk_latency_summary *b)
{
    int c;
    if ((c = strcmp(a->metric, b->metric)) || (c = strcmp(a->verb, b->verb)) ||
        (c = strcmp(a->resource, b->resource)) || (c = strcmp(a->subresource, b->subresource)))
        return c;
    return strcmp(a->scope, b->scope);
}

static int row_cmp(const void *a, const void *b)
{
    return group_cmp_row(a, b);
}

/* resource, or resource.group for a non-core group: the name kubectl would use. */
static char *qualified_resource(const char *key, const char *res_label)
{
    char *res = key_label(key, res_label);
    char *grp = key_label(key, "group");
    char *out = grp[0] ? tk_xasprintf("%s.%s", res, grp) : tk_xstrdup(res);
    free(res);
    free(grp);
    return out;
}

static void group_key(const char *metric, const char *key, struct tk_latency_summary *r)
{
    r->metric = tk_xstrdup(metric);
    if (strcmp(metric, "etcd_request_duration_seconds") == 0) {
        /* before 1.34: operation + type; since: operation + group + resource */
        r->verb = key_label(key, "operation");
        char *type = key_label(key, "type");
        if (type[0]) {
            r->resource = type;
        } else {
            free(type);
            r->resource = qualified_resource(key, "resource");
        }
        r->subresource = tk_xstrdup("");
        r->scope = tk_xstrdup("");
    } else {
        r->verb = key_label(key, "verb");
        r->resource = qualified_resource(key, "resource");
        r->subresource = key_label(key, "subresource");
        r->scope = key_label(key, "scope");
    }
}

static void row_free(struct tk_latency_summary *r)
{
    free(r->metric);
    free(r->verb);
    free(r->resource);
    free(r->subresource);
    free(r->scope);
}

/* Cumulative count of h at x: the count of its last bucket with le <= x (buckets ascending). */
static double cum_at(const struct tk_prom_hist *h, double x)
{
    double c = 0;
    for (size_t i = 0; i < h->n && h->le[i] <= x; i++)
        c = h->count[i];
    return c;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Adds the group's series up over the union of their bounds and computes the row. */
static void group_finish(struct group *g)
{
    size_t total_le = 0, nle = 0;
    for (size_t i = 0; i < g->n; i++)
        total_le += g->series[i].n;
    double *le = tk_xcalloc(total_le ? total_le : 1, sizeof(double));
    for (size_t i = 0; i < g->n; i++)
        for (size_t j = 0; j < g->series[i].n; j++)
            le[nle++] = g->series[i].le[j];
    qsort(le, nle, sizeof(double), dbl_cmp);
    size_t u = 0;
    for (size_t i = 0; i < nle; i++)
        if (u == 0 || le[i] != le[u - 1])
            le[u++] = le[i];
    double *cnt = tk_xcalloc(u ? u : 1, sizeof(double));
    for (size_t i = 0; i < u; i++)
        for (size_t k = 0; k < g->n; k++)
            cnt[i] += cum_at(&g->series[k], le[i]);

    struct tk_latency_summary *r = &g->row;
    r->count = u && isinf(le[u - 1]) ? cnt[u - 1] : 0;
    r->p50 = tk_prom_histogram_quantile(0.50, le, cnt, u);
    r->p90 = tk_prom_histogram_quantile(0.90, le, cnt, u);
    r->p99 = tk_prom_histogram_quantile(0.99, le, cnt, u);
    r->max_bucket = NAN;
    for (size_t i = 0; i < u; i++)
        if (cnt[i] >= r->count) {
            r->max_bucket = le[i];
            break;
        }
    free(le);
    free(cnt);
}

int tk_latency_summarize(const char *before, size_t before_len, const char *after, size_t after_len,
                         struct tk_latency_summary **rows, size_t *n, struct tk_err *err)
{
    struct scrape b, a;
    struct group *groups = NULL;
    size_t ngroups = 0, galloc = 0;
    int rc;

    *rows = NULL;
    *n = 0;
    scrape_init(&b);
    scrape_init(&a);
    if ((rc = scrape_parse(&b, before, before_len, "first", err)) ||
        (rc = scrape_parse(&a, after, after_len, "second", err)))
        goto done;

    for (size_t m = 0; m < NSUMMARY; m++) {
        for (size_t i = 0; i < tk_prom_hists_count(&a.h[m]); i++) {
            const struct tk_prom_hist *ah = tk_prom_hists_at(&a.h[m], i);
            const struct tk_prom_hist *bh = tk_prom_hists_find(&b.h[m], ah->labels_key);
            struct tk_latency_summary key = {0};
            struct group *g = NULL;

            group_key(summary_metrics[m], ah->labels_key, &key);
            for (size_t k = 0; k < ngroups && !g; k++)
                if (group_cmp_row(&groups[k].row, &key) == 0)
                    g = &groups[k];
            if (g) {
                row_free(&key);
            } else {
                if (ngroups == galloc) {
                    galloc = galloc ? 2 * galloc : 16;
                    groups = tk_xrealloc(groups, galloc * sizeof(*groups));
                }
                g = &groups[ngroups++];
                memset(g, 0, sizeof(*g));
                g->row = key;
            }
            if (g->n == g->alloc) {
                g->alloc = g->alloc ? 2 * g->alloc : 4;
                g->series = tk_xrealloc(g->series, g->alloc * sizeof(*g->series));
            }
            if (tk_prom_hist_delta(bh, ah, &g->series[g->n++]))
                g->row.reset = 1;
        }
    }

    struct tk_latency_summary *out = tk_xcalloc(ngroups ? ngroups : 1, sizeof(*out));
    size_t nout = 0;
    for (size_t k = 0; k < ngroups; k++) {
        group_finish(&groups[k]);
        if (groups[k].row.count > 0) {
            out[nout++] = groups[k].row;
        } else {
            row_free(&groups[k].row);
        }
    }
    qsort(out, nout, sizeof(*out), row_cmp);
    *rows = out;
    *n = nout;
done:
    for (size_t k = 0; k < ngroups; k++) {
        for (size_t i = 0; i < groups[k].n; i++)
            tk_prom_hist_release(&groups[k].series[i]);
        free(groups[k].series);
        if (rc) /* on success the rows moved out or were freed above */
            row_free(&groups[k].row);
    }
    free(groups);
    scrape_release(&b);
    scrape_release(&a);
    return rc;
}

void tk_latency_summaries_free(struct tk_latency_summary *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        row_free(&rows[i]);
    free(rows);
}

int tk_store_add_latency_from_scrapes(struct tk_store *st, int64_t cell, const char *source,
                                      const char *before, size_t before_len, const char *after,
                                      size_t after_len, size_t *nrows, struct tk_err *err)
{
    struct tk_latency_summary *rows = NULL;
    size_t n = 0;
    int rc = tk_latency_summarize(before, before_len, after, after_len, &rows, &n, err);

    if (!rc && !(rc = sp_begin(st, err))) {
        for (size_t i = 0; !rc && i < n; i++)
            rc = tk_store_add_latency_summary(st, cell, source, &rows[i], err);
        rc = sp_end(st, rc, err);
    }
    if (nrows)
        *nrows = rc ? 0 : n;
    tk_latency_summaries_free(rows, n);
    return rc;
}
