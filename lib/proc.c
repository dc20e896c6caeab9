#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

extern char **environ;

static void child_fail(int fd, const char *what)
{
    char msg[256];
    int n = snprintf(msg, sizeof(msg), "%s: %s", what, strerror(errno));
    if (n > 0 && write(fd, msg, (size_t)n) < 0)
        _exit(127);
    _exit(127);
}

/* Runs in the forked child: nothing here may return. */
static void child_exec(const struct tk_proc_spec *spec, char **envp, int errfd)
{
    int fd;

    setsid();
    if (spec->cg && tk_cgroup_attach(spec->cg, 0))
        child_fail(errfd, "cannot enter cgroup");
    if ((fd = open("/dev/null", O_RDONLY)) < 0 || dup2(fd, 0) < 0)
        child_fail(errfd, "cannot open /dev/null");
    fd = open(spec->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        child_fail(errfd, "cannot open log file");
    if (dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
        child_fail(errfd, "cannot redirect output");
    signal(SIGPIPE, SIG_DFL);
    execve(spec->argv[0], (char *const *)spec->argv, envp);
    child_fail(errfd, spec->argv[0]);
}

static char **build_env(const struct tk_proc_spec *spec)
{
    size_t n = 0, extra = 0, k = 0;
    char **envp;

    while (environ[n])
        n++;
    while (spec->env_extra && spec->env_extra[extra])
        extra++;
    envp = tk_xcalloc(n + extra + 2, sizeof(*envp));
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], TK_PROC_MARKER "=", sizeof(TK_PROC_MARKER)) != 0)
            envp[k++] = environ[i];
    for (size_t i = 0; i < extra; i++)
        envp[k++] = (char *)spec->env_extra[i];
    envp[k++] = tk_xasprintf("%s=%s", TK_PROC_MARKER, spec->marker ? spec->marker : "");
    envp[k] = NULL;
    return envp;
}

int tk_proc_spawn(const struct tk_proc_spec *spec, pid_t *pid, struct tk_err *err)
{
    int pfd[2], rc = 0;
    char **envp = build_env(spec), msg[256];
    ssize_t n;
    pid_t child;
    size_t last = 0;

    while (envp[last + 1])
        last++;
    if (pipe2(pfd, O_CLOEXEC)) {
        rc = tk_err_set(err, TK_EIO, "pipe: %s", strerror(errno));
        goto out;
    }
    child = fork();
    if (child < 0) {
        close(pfd[0]);
        close(pfd[1]);
        rc = tk_err_set(err, TK_ECHILD, "fork: %s", strerror(errno));
        goto out;
    }
    if (child == 0) {
        close(pfd[0]);
        child_exec(spec, envp, pfd[1]);
    }
    close(pfd[1]);
    /* exec closes the pipe (CLOEXEC): EOF means it worked; bytes mean it failed. */
    do
        n = read(pfd[0], msg, sizeof(msg) - 1);
    while (n < 0 && errno == EINTR);
    close(pfd[0]);
    if (n > 0) {
        msg[n] = '\0';
        waitpid(child, NULL, 0);
        rc = tk_err_set(err, TK_ECHILD, "cannot start %s: %s", spec->argv[0], msg);
        goto out;
    }
    *pid = child;
out:
    free(envp[last]);
    free(envp);
    return rc;
}

int tk_proc_alive(pid_t pid)
{
    char path[64], buf[512];
    FILE *f;
    int alive = 0;

    if (pid <= 0)
        return 0;
    waitpid(pid, NULL, WNOHANG);
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (!(f = fopen(path, "r")))
        return 0;
    if (fgets(buf, sizeof(buf), f)) {
        char *rp = strrchr(buf, ')');
        alive = rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
    }
    fclose(f);
    return alive;
}

/* 1 while any live (non-zombie) process belongs to process group pgid. */
static int group_alive(pid_t pgid)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int alive = 0;

    if (!d)
        return kill(-pgid, 0) == 0;
    while (!alive && (e = readdir(d))) {
        char path[300], buf[512];
        FILE *f;
        int pid = atoi(e->d_name), pg = 0;
        char state = 0;
        if (pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        if (!(f = fopen(path, "r")))
            continue;
        if (fgets(buf, sizeof(buf), f)) {
            char *rp = strrchr(buf, ')');
            if (rp && sscanf(rp + 2, "%c %*d %d", &state, &pg) == 2 && pg == pgid && state != 'Z' &&
                state != 'X')
                alive = 1;
        }
        fclose(f);
    }
    closedir(d);
    return alive;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int tk_proc_stop_group(pid_t pgid, int grace_ms)
{
    int waited = 0;

    if (pgid <= 1)
        return 0;
    if (kill(-pgid, SIGTERM) && errno == ESRCH)
        return 0;
    while (waited < grace_ms) {
        while (waitpid(-pgid, NULL, WNOHANG) > 0)
            ;
        if (!group_alive(pgid))
            return 0;
        sleep_ms(50);
        waited += 50;
    }
    kill(-pgid, SIGKILL);
    for (waited = 0; waited < 2000; waited += 50) {
        while (waitpid(-pgid, NULL, WNOHANG) > 0)
            ;
        if (!group_alive(pgid))
            return 0;
        sleep_ms(50);
    }
    return -1;
}

int tk_proc_find_marked(const char *marker, pid_t *pids, int max)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    char want[512];
    int found = 0;
    size_t wl;

    if (!d)
        return 0;
    wl = (size_t)snprintf(want, sizeof(want), "%s=%s", TK_PROC_MARKER, marker);
    while ((e = readdir(d))) {
        char path[300], buf[65536];
        int pid = atoi(e->d_name), fd;
        ssize_t n;
        if (pid <= 0 || pid == getpid())
            continue;
        snprintf(path, sizeof(path), "/proc/%d/environ", pid);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            continue;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0 || !tk_proc_alive(pid))
            continue;
        buf[n] = '\0';
        for (char *p = buf; p < buf + n; p += strlen(p) + 1) {
            if (strlen(p) == wl && memcmp(p, want, wl) == 0) {
                if (found < max)
                    pids[found] = pid;
                found++;
                break;
            }
        }
    }
    closedir(d);
    return found;
}

void tk_proc_tail(const char *path, int lines, struct tk_buf *out)
{
    FILE *f = fopen(path, "r");
    char buf[16384];
    long size, from;
    size_t n;
    int seen = 0;

    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    from = size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0;
    fseek(f, from, SEEK_SET);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    size_t i = n;
    if (i > 0 && buf[i - 1] == '\n')
        i--;
    while (i > 0) {
        if (buf[i - 1] == '\n' && ++seen == lines)
            break;
        i--;
    }
    tk_buf_append(out, buf + i, n - i);
}

int tk_proc_usage(pid_t pid, double *cpu_seconds, int64_t *rss_bytes)
{
    char path[64], buf[1024];
    unsigned long ut, st;
    long rss_pages;
    FILE *f;
    int ok;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (!(f = fopen(path, "r")))
        return -1;
    ok = fgets(buf, sizeof(buf), f) != NULL;
    fclose(f);
    char *rp = ok ? strrchr(buf, ')') : NULL;
    /* Fields after "(comm)": state(3) ... utime(14) stime(15) ... rss(24). */
    if (!rp || sscanf(rp + 2,
                      "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d "
                      "%*d %*d %*u %*u %ld",
                      &ut, &st, &rss_pages) != 3)
        return -1;
    long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    *cpu_seconds = (double)(ut + st) / (double)tck;
    *rss_bytes = (int64_t)rss_pages * page;
    return 0;
}
