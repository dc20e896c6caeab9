#include "store_read.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "store.h"

/* Pragmas that only report something, with or without an argument (a table name). Every other
 * pragma is refused, and user_version or query_only with a value too: query_only=OFF would
 * undo the protection, and journal_mode or wal_checkpoint touch files. */
static const char *const arg_pragmas[] = {
    "table_info",  "table_xinfo",      "table_list",      "index_list",  "index_info",
    "index_xinfo", "foreign_key_list", "integrity_check", "quick_check",
};
static const char *const bare_pragmas[] = {
    "user_version", "schema_version", "database_list", "compile_options", "function_list",
    "pragma_list",  "collation_list", "module_list",   "data_version",    "page_count",
    "page_size",    "freelist_count", "encoding",      "foreign_keys",    "query_only",
};

static int listed(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(name, list[i]) == 0)
            return 1;
    return 0;
}

static int authorize(void *ud, int action, const char *a1, const char *a2, const char *db,
                     const char *trigger)
{
    (void)ud;
    (void)db;
    (void)trigger;
    switch (action) {
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
        return SQLITE_DENY;
    case SQLITE_PRAGMA:
        if (listed(a1, arg_pragmas, sizeof(arg_pragmas) / sizeof(arg_pragmas[0])))
            return SQLITE_OK;
        if (!a2 && listed(a1, bare_pragmas, sizeof(bare_pragmas) / sizeof(bare_pragmas[0])))
            return SQLITE_OK;
        return SQLITE_DENY;
    default:
        return SQLITE_OK;
    }
}

static int scalar_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

int tk_store_open_readonly(struct sqlite3 **out, const char *path, struct tk_err *err)
{
    sqlite3 *db = NULL;
    struct stat sb;
    int64_t version = 0, ncells = 0;

    *out = NULL;
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT)
            tk_err_set(err, TK_ENOTFOUND, "no results database at '%s' (turbokube run writes one)",
                       path);
        else
            tk_err_set(err, TK_EIO, "cannot stat '%s': %s", path, strerror(errno));
        goto fail;
    }
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        tk_err_set(err, TK_EIO, "cannot open '%s': %s", path,
                   db ? sqlite3_errmsg(db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    if (sqlite3_exec(db, "PRAGMA query_only=ON", NULL, NULL, NULL) != SQLITE_OK) {
        tk_err_set(err, TK_EIO, "'%s': %s", path, sqlite3_errmsg(db));
        goto fail;
    }
    if (scalar_int(db, "PRAGMA user_version", &version)) {
        tk_err_set(err, TK_EIO, "cannot read '%s': %s", path, sqlite3_errmsg(db));
        goto fail;
    }
    if (version > TK_STORE_SCHEMA_VERSION) {
        tk_err_set(err, TK_ESTATE,
                   "'%s' has schema version %lld, newer than this turbokube (%d): upgrade it", path,
                   (long long)version, TK_STORE_SCHEMA_VERSION);
        goto fail;
    }
    if (version < 1 ||
        scalar_int(db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='cells'",
                   &ncells) ||
        ncells != 1) {
        tk_err_set(err, TK_EINVAL, "'%s' is not a TurboKube results database", path);
        goto fail;
    }
    sqlite3_set_authorizer(db, authorize, NULL);
    *out = db;
    return 0;
fail:
    sqlite3_close(db);
    return err->code;
}

void tk_store_close_readonly(struct sqlite3 *db)
{
    sqlite3_close(db);
}

int tk_store_query(struct sqlite3 *db, const char *sql, tk_store_header_fn header,
                   tk_store_row_fn row, void *ud, struct tk_err *err)
{
    const char *tail = sql;
    sqlite3_stmt *st = NULL;
    const char **names = NULL, **values = NULL;
    int *types = NULL;
    int index = 0, rc;

    while (tail && *tail) {
        const char *start = tail;
        if (sqlite3_prepare_v2(db, start, -1, &st, &tail) != SQLITE_OK) {
            tk_err_set(err, TK_EINVAL, "statement %d: %s", index + 1, sqlite3_errmsg(db));
            goto done;
        }
        if (!st) /* only whitespace or a comment was left */
            break;
        if (!sqlite3_stmt_readonly(st)) {
            tk_err_set(err, TK_EINVAL, "statement %d would write: the database is opened read-only",
                       index + 1);
            goto done;
        }
        int ncols = sqlite3_column_count(st);
        names = tk_xcalloc((size_t)ncols + 1, sizeof(*names));
        values = tk_xcalloc((size_t)ncols + 1, sizeof(*values));
        types = tk_xcalloc((size_t)ncols + 1, sizeof(*types));
        for (int i = 0; i < ncols; i++)
            names[i] = sqlite3_column_name(st, i);
        if (header && header(ud, index, ncols, names)) {
            tk_err_set(err, TK_ESTATE, "stopped");
            goto done;
        }
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            for (int i = 0; i < ncols; i++) {
                types[i] = sqlite3_column_type(st, i);
                values[i] = (const char *)sqlite3_column_text(st, i);
            }
            if (row && row(ud, index, ncols, names, values, types)) {
                tk_err_set(err, TK_ESTATE, "stopped");
                goto done;
            }
        }
        if (rc != SQLITE_DONE) {
            tk_err_set(err, TK_EIO, "statement %d: %s", index + 1, sqlite3_errmsg(db));
            goto done;
        }
        sqlite3_finalize(st);
        st = NULL;
        free(names);
        free(values);
        free(types);
        names = values = NULL;
        types = NULL;
        index++;
    }
done:
    sqlite3_finalize(st);
    free(names);
    free(values);
    free(types);
    return err->code;
}
