#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"

enum { CG_CPU, CG_CPUACCT, CG_MEMORY, CG_N };

/* Where each controller lives for this process: mount point + our own path in it. */
struct cg_layout {
    int version; /* 0 unknown/none, 1, 2 */
    char base[CG_N][PATH_MAX];
};

struct tk_cgroup {
    int version;
    char *rel;
    char dir[CG_N][PATH_MAX]; /* v2: all three equal */
    char procs[CG_N][PATH_MAX];
};

static const char *const ctl_names[CG_N] = {"cpu", "cpuacct", "memory"};

/* Our own cgroup path per controller, from /proc/self/cgroup ("4:memory:/x" or "0::/x"). */
static int self_path(int version, const char *ctl, char *out, size_t n)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    char line[1024];
    int found = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        line[strcspn(line, "\n")] = '\0';
        c2[1 + strcspn(c2 + 1, "\n")] = '\0';
        const char *ctls = c1 + 1, *path = c2 + 1;
        int match = 0;
        if (version == 2)
            match = strcmp(line, "0") == 0;
        else {
            char tmp[256];
            snprintf(tmp, sizeof(tmp), "%s", ctls);
            for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t;
                 t = strtok_r(NULL, ",", &save))
                match |= strcmp(t, ctl) == 0;
        }
        if (match) {
            snprintf(out, n, "%s", strcmp(path, "/") == 0 ? "" : path);
            found = 0;
            break;
        }
    }
    fclose(f);
    return found;
}

static int has_controller_v2(const char *mnt, const char *ctl)
{
    char path[PATH_MAX], buf[512];
    FILE *f;
    int ok = 0;

    snprintf(path, sizeof(path), "%s/cgroup.controllers", mnt);
    if (!(f = fopen(path, "r")))
        return 0;
    if (fgets(buf, sizeof(buf), f))
        for (char *save = NULL, *t = strtok_r(buf, " \n", &save); t;
             t = strtok_r(NULL, " \n", &save))
            ok |= strcmp(t, ctl) == 0;
    fclose(f);
    return ok;
}

/* Scans mountinfo: v1 mounts naming our controllers win (these VMs mount v1 with a cgroup2
 * tree beside it that holds no controllers); else a v2 mount with cpu and memory. */
static void detect(struct cg_layout *lay)
{
    char line[4096], v2mnt[PATH_MAX] = "";
    char v1mnt[CG_N][PATH_MAX] = {{0}};
    FILE *f = fopen("/proc/self/mountinfo", "r");

    memset(lay, 0, sizeof(*lay));
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        char *sep = strstr(line, " - ");
        char mnt[PATH_MAX], fstype[64], src[256], opts[1024];
        if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
            continue;
        if (sscanf(sep + 3, "%63s %255s %1023s", fstype, src, opts) != 3)
            continue;
        if (strcmp(fstype, "cgroup2") == 0 && !v2mnt[0]) {
            snprintf(v2mnt, sizeof(v2mnt), "%s", mnt);
        } else if (strcmp(fstype, "cgroup") == 0) {
            for (int c = 0; c < CG_N; c++) {
                char tmp[1024];
                snprintf(tmp, sizeof(tmp), "%s", opts);
                for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t;
                     t = strtok_r(NULL, ",", &save))
                    if (strcmp(t, ctl_names[c]) == 0 && !v1mnt[c][0])
                        snprintf(v1mnt[c], PATH_MAX, "%s", mnt);
            }
        }
    }
    fclose(f);
    if (v1mnt[CG_CPU][0] && v1mnt[CG_CPUACCT][0] && v1mnt[CG_MEMORY][0]) {
        lay->version = 1;
        for (int c = 0; c < CG_N; c++) {
            char self[PATH_MAX] = "";
            self_path(1, ctl_names[c], self, sizeof(self));
            snprintf(lay->base[c], PATH_MAX, "%.2000s%.2000s", v1mnt[c], self);
        }
    } else if (v2mnt[0] && has_controller_v2(v2mnt, "cpu") && has_controller_v2(v2mnt, "memory")) {
        char self[PATH_MAX] = "";
        lay->version = 2;
        self_path(2, NULL, self, sizeof(self));
        for (int c = 0; c < CG_N; c++)
            snprintf(lay->base[c], PATH_MAX, "%.2000s%.2000s", v2mnt, self);
    }
}

const char *tk_cgroup_version(void)
{
    struct cg_layout lay;
    detect(&lay);
    return lay.version == 1 ? "v1" : lay.version == 2 ? "v2" : NULL;
}

static int write_file(const char *path, const char *val)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC), rc = 0;
    size_t n = strlen(val);

    if (fd < 0)
        return -1;
    if (write(fd, val, n) != (ssize_t)n)
        rc = -1;
    if (close(fd))
        rc = -1;
    return rc;
}

static int read_file(const char *path, char *buf, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t r;

    if (fd < 0)
        return -1;
    r = read(fd, buf, n - 1);
    close(fd);
    if (r < 0)
        return -1;
    buf[r] = '\0';
    return 0;
}

static int mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

/* v2 needs cpu and memory enabled in subtree_control of every ancestor between our base
 * and the new group. */
static void enable_v2_subtree(const char *base, const char *rel)
{
    char path[PATH_MAX], tmp[PATH_MAX];

    snprintf(path, sizeof(path), "%s", base);
    snprintf(tmp, sizeof(tmp), "%s", rel);
    for (char *save = NULL, *t = strtok_r(tmp, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        char ctl[PATH_MAX + 32];
        snprintf(ctl, sizeof(ctl), "%s/cgroup.subtree_control", path);
        write_file(ctl, "+cpu +memory");
        size_t len = strlen(path);
        snprintf(path + len, sizeof(path) - len, "/%s", t);
    }
}

static int cg_init(struct tk_cgroup **out, const char *rel, int create, struct tk_err *err)
{
    struct cg_layout lay;
    struct tk_cgroup *cg = NULL;

    *out = NULL;
    detect(&lay);
    if (!lay.version)
        return tk_err_set(err, TK_ESTATE, "no cgroup cpu and memory controllers are mounted");
    cg = tk_xcalloc(1, sizeof(*cg));
    cg->version = lay.version;
    cg->rel = tk_xstrdup(rel);
    for (int c = 0; c < CG_N; c++) {
        snprintf(cg->dir[c], PATH_MAX, "%.3000s/%.1000s", lay.base[c], rel);
        snprintf(cg->procs[c], PATH_MAX, "%.3000s/cgroup.procs", cg->dir[c]);
    }
    if (create > 0 && lay.version == 2)
        enable_v2_subtree(lay.base[0], rel);
    for (int c = 0; c < CG_N; c++) {
        struct stat st;
        if (create > 0 && mkdir_p(cg->dir[c])) {
            tk_err_set(err, TK_EIO, "cannot create cgroup %s: %s (cgroups need root)", cg->dir[c],
                       strerror(errno));
            tk_cgroup_free(cg);
            return err ? err->code : TK_EIO;
        }
        if (create == 0 && stat(cg->dir[c], &st)) {
            tk_err_set(err, TK_ENOTFOUND, "cgroup %s does not exist", cg->dir[c]);
            tk_cgroup_free(cg);
            return TK_ENOTFOUND;
        }
    }
    *out = cg;
    return 0;
}

int tk_cgroup_create(struct tk_cgroup **out, const char *rel, struct tk_err *err)
{
    return cg_init(out, rel, 1, err);
}

int tk_cgroup_open(struct tk_cgroup **out, const char *rel, struct tk_err *err)
{
    return cg_init(out, rel, 0, err);
}

int tk_cgroup_remove(const char *rel, struct tk_err *err)
{
    struct tk_cgroup *cg = NULL;
    int rc = cg_init(&cg, rel, -1, err); /* -1: whatever part of it is still there */
    if (rc)
        return rc;
    rc = tk_cgroup_destroy(cg, err);
    tk_cgroup_free(cg);
    return rc;
}

static int set_file(struct tk_cgroup *cg, int c, const char *file, const char *val,
                    struct tk_err *err)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", cg->dir[c], file);
    if (write_file(path, val))
        return tk_err_set(err, TK_EIO, "cannot write '%s' to %s: %s", val, path, strerror(errno));
    return 0;
}

static int get_file(struct tk_cgroup *cg, int c, const char *file, char *buf, size_t n)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", cg->dir[c], file);
    return read_file(path, buf, n);
}

int tk_cgroup_set_limits(struct tk_cgroup *cg, int64_t cpu_millis, int64_t memory_bytes,
                         struct tk_err *err)
{
    char v[64];
    const int64_t period_us = 100000;
    int64_t quota_us = cpu_millis * period_us / 1000;

    if (cg->version == 2) {
        if (cpu_millis > 0)
            snprintf(v, sizeof(v), "%lld %lld", (long long)quota_us, (long long)period_us);
        else
            snprintf(v, sizeof(v), "max %lld", (long long)period_us);
        if (set_file(cg, CG_CPU, "cpu.max", v, err))
            return err->code;
        if (memory_bytes > 0)
            snprintf(v, sizeof(v), "%lld", (long long)memory_bytes);
        else
            snprintf(v, sizeof(v), "max");
        if (set_file(cg, CG_MEMORY, "memory.max", v, err))
            return err->code;
        if (memory_bytes > 0)
            set_file(cg, CG_MEMORY, "memory.swap.max", "0", NULL);
        return 0;
    }
    snprintf(v, sizeof(v), "%lld", (long long)period_us);
    if (set_file(cg, CG_CPU, "cpu.cfs_period_us", v, err))
        return err->code;
    snprintf(v, sizeof(v), "%lld", cpu_millis > 0 ? (long long)quota_us : -1LL);
    if (set_file(cg, CG_CPU, "cpu.cfs_quota_us", v, err))
        return err->code;
    snprintf(v, sizeof(v), "%lld", memory_bytes > 0 ? (long long)memory_bytes : -1LL);
    if (set_file(cg, CG_MEMORY, "memory.limit_in_bytes", v, err))
        return err->code;
    return 0;
}

int tk_cgroup_get_limits(struct tk_cgroup *cg, int64_t *cpu_millis, int64_t *memory_bytes,
                         struct tk_err *err)
{
    char b[128];
    long long q = -1, p = 100000, m = -1;

    if (cg->version == 2) {
        if (get_file(cg, CG_CPU, "cpu.max", b, sizeof(b)) ||
            get_file(cg, CG_MEMORY, "memory.max", b + 64, 64))
            return tk_err_set(err, TK_EIO, "cannot read limits of cgroup %s", cg->rel);
        if (strncmp(b, "max", 3) != 0)
            sscanf(b, "%lld %lld", &q, &p);
        if (strncmp(b + 64, "max", 3) != 0)
            m = atoll(b + 64);
    } else {
        if (get_file(cg, CG_CPU, "cpu.cfs_quota_us", b, 64) ||
            get_file(cg, CG_CPU, "cpu.cfs_period_us", b + 64, 64))
            return tk_err_set(err, TK_EIO, "cannot read cpu limits of cgroup %s", cg->rel);
        q = atoll(b);
        p = atoll(b + 64);
        if (get_file(cg, CG_MEMORY, "memory.limit_in_bytes", b, sizeof(b)))
            return tk_err_set(err, TK_EIO, "cannot read memory limit of cgroup %s", cg->rel);
        m = atoll(b);
        /* v1 reports "unlimited" as a huge page-aligned number. */
        if (m >= (1LL << 62))
            m = -1;
    }
    *cpu_millis = q > 0 && p > 0 ? q * 1000 / p : 0;
    *memory_bytes = m > 0 ? m : 0;
    return 0;
}

int tk_cgroup_attach(struct tk_cgroup *cg, pid_t pid)
{
    char v[32];
    int n = snprintf(v, sizeof(v), "%d", pid ? (int)pid : (int)getpid());
    (void)n;
    for (int c = 0; c < CG_N; c++) {
        if (c > 0 && strcmp(cg->procs[c], cg->procs[c - 1]) == 0)
            continue;
        if (write_file(cg->procs[c], v))
            return -1;
    }
    return 0;
}

static int64_t read_i64(struct tk_cgroup *cg, int c, const char *file)
{
    char b[64];
    return get_file(cg, c, file, b, sizeof(b)) ? -1 : atoll(b);
}

/* Finds "key value" in a flat keyed file (memory.events, cpu.stat). */
static int64_t read_key(struct tk_cgroup *cg, int c, const char *file, const char *key)
{
    char b[4096];
    size_t kl = strlen(key);
    if (get_file(cg, c, file, b, sizeof(b)))
        return -1;
    for (char *line = b; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, key, kl) == 0 && line[kl] == ' ')
            return atoll(line + kl + 1);
    return -1;
}

int tk_cgroup_usage(struct tk_cgroup *cg, struct tk_cgroup_usage *u, struct tk_err *err)
{
    memset(u, 0, sizeof(*u));
    if (cg->version == 2) {
        int64_t us = read_key(cg, CG_CPU, "cpu.stat", "usage_usec");
        if (us < 0)
            return tk_err_set(err, TK_EIO, "cannot read cpu.stat of cgroup %s", cg->rel);
        u->cpu_ns = us * 1000;
        u->memory_bytes = read_i64(cg, CG_MEMORY, "memory.current");
        u->memory_peak_bytes = read_i64(cg, CG_MEMORY, "memory.peak");
        u->oom_kills = read_key(cg, CG_MEMORY, "memory.events", "oom_kill");
    } else {
        u->cpu_ns = read_i64(cg, CG_CPUACCT, "cpuacct.usage");
        if (u->cpu_ns < 0)
            return tk_err_set(err, TK_EIO, "cannot read cpuacct.usage of cgroup %s", cg->rel);
        u->memory_bytes = read_i64(cg, CG_MEMORY, "memory.usage_in_bytes");
        u->memory_peak_bytes = read_i64(cg, CG_MEMORY, "memory.max_usage_in_bytes");
        u->oom_kills = read_key(cg, CG_MEMORY, "memory.oom_control", "oom_kill");
    }
    if (u->memory_peak_bytes < 0)
        u->memory_peak_bytes = 0;
    if (u->oom_kills < 0)
        u->oom_kills = 0;
    return 0;
}

int tk_cgroup_nprocs(struct tk_cgroup *cg)
{
    char b[65536];
    int n = 0;
    if (read_file(cg->procs[CG_MEMORY], b, sizeof(b)))
        return -1;
    for (char *p = b; *p; p++)
        n += *p == '\n';
    return n;
}

int tk_cgroup_destroy(struct tk_cgroup *cg, struct tk_err *err)
{
    int first = 0;

    /* Every controller's directory is tried, even after one refused: stopping at the first
     * left the others behind (cpu and cpuacct without memory), half a group that a later
     * open could no longer find. The first failure is the one reported. */
    for (int c = 0; c < CG_N; c++) {
        char path[PATH_MAX];
        if (c > 0 && strcmp(cg->dir[c], cg->dir[c - 1]) == 0)
            continue;
        snprintf(path, sizeof(path), "%s", cg->dir[c]);
        /* A process that just exited stays attached until its parent reaps it (EBUSY); a
         * stopped cluster's processes are reaped by init, a moment later. */
        int rc = rmdir(path);
        for (int tries = 0; rc && errno == EBUSY && tries < 60; tries++) {
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
            rc = rmdir(path);
        }
        if (rc && errno != ENOENT) {
            if (!first)
                first =
                    tk_err_set(err, TK_EIO, "cannot remove cgroup %s: %s", path, strerror(errno));
            continue;
        }
        /* Remove now-empty parents that rel created, stopping at the first non-empty one. */
        size_t depth = 0;
        for (const char *s = cg->rel; *s; s++)
            depth += *s == '/';
        for (; depth > 0; depth--) {
            char *slash = strrchr(path, '/');
            if (!slash)
                break;
            *slash = '\0';
            if (rmdir(path))
                break;
        }
    }
    return first;
}

void tk_cgroup_free(struct tk_cgroup *cg)
{
    if (!cg)
        return;
    free(cg->rel);
    free(cg);
}
