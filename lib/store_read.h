#ifndef TK_STORE_READ_H
#define TK_STORE_READ_H

/* Reading the results database without any way to change it: for `turbokube results`, the
 * calculator and the report, which only ever read (DESIGN.md: "results / calculator / report
 * read only the database").
 *
 * The connection is opened with SQLITE_OPEN_READONLY (nothing is created, a missing file is an
 * error), PRAGMA query_only=ON, SQLite's defensive mode, and an authorizer that refuses ATTACH,
 * DETACH and every PRAGMA but a few that only read (table_info, table_list, index_list, ...,
 * and user_version without a value), so a user's `query` cannot switch query_only off again
 * or reach another file. tk_store_query also refuses any statement SQLite does not consider
 * read-only (sqlite3_stmt_readonly) before stepping it: VACUUM INTO, CREATE TEMP TABLE. */

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct sqlite3;

/* Opens the database at path read-only into *out (close with tk_store_close_readonly).
 * Errors: TK_ENOTFOUND when path does not exist; TK_EIO when SQLite cannot open or read it;
 * TK_EINVAL when it is not a TurboKube results database (user_version 0, no cells table);
 * TK_ESTATE when its schema is newer than TK_STORE_SCHEMA_VERSION. *out is NULL on failure. */
int tk_store_open_readonly(struct sqlite3 **out, const char *path, struct tk_err *err);

/* Closes a connection from tk_store_open_readonly. NULL-safe. */
void tk_store_close_readonly(struct sqlite3 *db);

/* One result row of tk_store_query: ncols columns, names[i] and values[i] as text (values[i]
 * NULL for SQL NULL), types[i] the SQLite type (SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT,
 * SQLITE_BLOB, SQLITE_NULL). Everything is borrowed for the call. stmt_index counts the
 * statements of the SQL text from 0. Return non-zero to stop (tk_store_query then returns
 * TK_ESTATE with "stopped"). */
typedef int (*tk_store_row_fn)(void *ud, int stmt_index, int ncols, const char *const *names,
                               const char *const *values, const int *types);

/* Called once per statement before its rows (also when it has none), with its column names. */
typedef int (*tk_store_header_fn)(void *ud, int stmt_index, int ncols, const char *const *names);

/* Runs every statement of sql (separated by ';') in order. header (may be NULL) is called for
 * each statement, then row for each of its rows. Errors: TK_EINVAL when a statement does not
 * compile or is not read-only ("statement 2 would write: the database is opened read-only"),
 * TK_EIO when stepping fails (SQLite's message), TK_ESTATE when a callback stopped. */
int tk_store_query(struct sqlite3 *db, const char *sql, tk_store_header_fn header,
                   tk_store_row_fn row, void *ud, struct tk_err *err);

#endif
