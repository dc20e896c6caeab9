#ifndef TK_LOCALPG_H
#define TK_LOCALPG_H

/* A private PostgreSQL cluster for the local provider's kine-postgres datastore: Debian's
 * server binaries found where the package puts them, a data directory made by initdb inside the
 * cluster directory, and the command line of a postmaster on one loopback port (no Unix
 * socket, trust authentication: like etcd here, reachable from this machine only).
 *
 * PostgreSQL refuses to run as root. Run as root, initdb and postgres go through setpriv as
 * "nobody", keeping only CAP_DAC_READ_SEARCH so they can reach a data directory below a
 * root-only parent (~root/.turbokube, a 0700 mktemp directory); the data directory itself is
 * nobody's. Run as anyone else, they run as that user. */

#include <stddef.h>

#include "err.h"

/* The directory holding initdb and postgres into bindir (at most n bytes): $TURBOKUBE_PG_BIN,
 * else the highest version under /usr/lib/postgresql/N/bin (Debian), else the directory of
 * an initdb on PATH. TK_ENOTFOUND with a hint (scripts/bootstrap installs postgresql). */
int tk_localpg_find(char *bindir, size_t n, struct tk_err *err);

/* Creates dir (mode 0700, owned by the user postgres will run as) and runs initdb into
 * dir/data with superuser "kine" and locale C (whatever LANG says), its output appended to
 * log, marker as the owner marker.
 * Blocks until initdb exits (a second or two). TK_ECHILD when it fails (see log). */
int tk_localpg_initdb(const char *bindir, const char *dir, const char *log, const char *marker,
                      struct tk_err *err);

/* The argv (NULL-terminated; caller frees with tk_localpg_argv_free) of a postmaster for the
 * data directory dir/data listening on 127.0.0.1:port only. */
char **tk_localpg_argv(const char *bindir, const char *dir, int port);
void tk_localpg_argv_free(char **argv);

/* 1 when the postmaster of dir/data says it accepts connections (postmaster.pid's status
 * line reads "ready"), else 0. */
int tk_localpg_ready(const char *dir);

#endif
