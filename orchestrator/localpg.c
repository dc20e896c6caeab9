#include "localpg.h"

#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "proc.h"

#define SETPRIV "/usr/bin/setpriv"

static int has_server(const char *dir)
{
    char *a = tk_xasprintf("%s/initdb", dir), *b = tk_xasprintf("%s/postgres", dir);
    int ok = access(a, X_OK) == 0 && access(b, X_OK) == 0;
    free(a);
    free(b);
    return ok;
}

/* The highest N with /usr/lib/postgresql/N/bin holding the server, or -1. */
static int debian_version(void)
{
    DIR *d = opendir("/usr/lib/postgresql");
    struct dirent *e;
    int best = -1;

    if (!d)
        return -1;
    while ((e = readdir(d))) {
        char *end, *bin;
        long v = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end || v <= best)
            continue;
        bin = tk_xasprintf("/usr/lib/postgresql/%s/bin", e->d_name);
        if (has_server(bin))
            best = (int)v;
        free(bin);
    }
    closedir(d);
    return best;
}

static int on_path(char *out, size_t n)
{
    const char *path = getenv("PATH");
    char *copy = tk_xstrdup(path ? path : ""), *save = NULL;
    int found = 0;

    for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save))
        if (*dir && has_server(dir)) {
            snprintf(out, n, "%s", dir);
            found = 1;
        }
    free(copy);
    return found;
}

int tk_localpg_find(char *bindir, size_t n, struct tk_err *err)
{
    const char *env = getenv("TURBOKUBE_PG_BIN");
    int v;

    if (env && *env) {
        if (has_server(env)) {
            snprintf(bindir, n, "%s", env);
            return 0;
        }
        return tk_err_set(err, TK_ENOTFOUND, "TURBOKUBE_PG_BIN=%s holds no initdb and postgres",
                          env);
    }
    if ((v = debian_version()) >= 0) {
        snprintf(bindir, n, "/usr/lib/postgresql/%d/bin", v);
        return 0;
    }
    if (on_path(bindir, n))
        return 0;
    return tk_err_set(err, TK_ENOTFOUND,
                      "kine-postgres needs PostgreSQL's initdb and postgres, and neither "
                      "/usr/lib/postgresql/N/bin nor PATH has them: run scripts/bootstrap (it "
                      "installs Debian's postgresql), or set TURBOKUBE_PG_BIN");
}

/* Appends the setpriv prefix that drops root to nobody, when we are root. */
static size_t drop_prefix(char **v, size_t i)
{
    struct passwd *pw;
    if (geteuid() != 0 || !(pw = getpwnam("nobody")))
        return i;
    v[i++] = tk_xstrdup(SETPRIV);
    v[i++] = tk_xasprintf("--reuid=%d", (int)pw->pw_uid);
    v[i++] = tk_xasprintf("--regid=%d", (int)pw->pw_gid);
    v[i++] = tk_xstrdup("--clear-groups");
    v[i++] = tk_xstrdup("--inh-caps=+dac_read_search");
    v[i++] = tk_xstrdup("--ambient-caps=+dac_read_search");
    return i;
}

void tk_localpg_argv_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

char **tk_localpg_argv(const char *bindir, const char *dir, int port)
{
    char **v = tk_xcalloc(24, sizeof(*v));
    size_t i = drop_prefix(v, 0);
    v[i++] = tk_xasprintf("%s/postgres", bindir);
    v[i++] = tk_xasprintf("-D%s/data", dir);
    v[i++] = tk_xasprintf("-p%d", port);
    v[i++] = tk_xstrdup("-clisten_addresses=127.0.0.1");
    v[i++] = tk_xstrdup("-cunix_socket_directories=");
    v[i++] = tk_xstrdup("-clog_line_prefix=%m [%p] ");
    v[i] = NULL;
    return v;
}

int tk_localpg_initdb(const char *bindir, const char *dir, const char *log, const char *marker,
                      struct tk_err *err)
{
    char **v = tk_xcalloc(24, sizeof(*v));
    struct passwd *pw = geteuid() == 0 ? getpwnam("nobody") : NULL;
    pid_t pid = -1;
    int st = 0, rc = 0;

    if (mkdir(dir, 0700) && errno != EEXIST) {
        rc = tk_err_set(err, TK_EIO, "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    if (geteuid() == 0 && (!pw || access(SETPRIV, X_OK))) {
        rc = tk_err_set(err, TK_ENOTFOUND, "PostgreSQL refuses to run as root and %s",
                        pw ? SETPRIV " (util-linux) is missing to drop to nobody"
                           : "there is no user 'nobody' to run it as");
        goto out;
    }
    if (pw && chown(dir, pw->pw_uid, pw->pw_gid)) {
        rc = tk_err_set(err, TK_EIO, "cannot hand %s to nobody: %s", dir, strerror(errno));
        goto out;
    }
    size_t i = drop_prefix(v, 0);
    v[i++] = tk_xasprintf("%s/initdb", bindir);
    v[i++] = tk_xasprintf("--pgdata=%s/data", dir);
    v[i++] = tk_xstrdup("--username=kine");
    v[i++] = tk_xstrdup("--auth=trust");
    v[i++] = tk_xstrdup("--encoding=UTF8");
    /* Not the environment's locale: initdb refuses one that is set but not generated (LANG
     * en_US.UTF-8 on a fresh Debian without the locales package). */
    v[i++] = tk_xstrdup("--locale=C");
    v[i] = NULL;
    struct tk_proc_spec spec = {.argv = (const char *const *)v, .log_path = log, .marker = marker};
    if ((rc = tk_proc_spawn(&spec, &pid, err)))
        goto out;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        rc = tk_err_set(err, TK_ECHILD, "initdb failed (log: %s)", log);
out:
    tk_localpg_argv_free(v);
    return rc;
}

int tk_localpg_ready(const char *dir)
{
    char *path = tk_xasprintf("%s/data/postmaster.pid", dir), line[128];
    FILE *f = fopen(path, "r");
    int n = 0, ready = 0;

    free(path);
    if (!f)
        return 0;
    /* Line 8 is the postmaster's status: "starting", "ready", "stopping" (PostgreSQL >= 10). */
    while (fgets(line, sizeof(line), f))
        if (++n == 8) {
            ready = strncmp(line, "ready", 5) == 0;
            break;
        }
    fclose(f);
    return ready;
}
