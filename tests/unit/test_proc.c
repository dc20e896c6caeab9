#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "proc.h"
#include "tktest.h"

static char tmpdir[64];

static char *path_in(const char *name)
{
    return tk_xasprintf("%s/%s", tmpdir, name);
}

TK_TEST(spawn_log_marker_stop)
{
    char *log = path_in("child.log"), marker[64];
    /* The child forks a grandchild: stopping the group must take both. */
    const char *argv[] = {"/bin/sh", "-c", "echo started; sleep 300 & echo $!; wait", NULL};
    struct tk_err err = {0};
    pid_t pid = 0, found[8];

    snprintf(marker, sizeof(marker), "tk-test-proc-%d", (int)getpid());
    struct tk_proc_spec spec = {.argv = argv, .log_path = log, .marker = marker};
    CHECK_INT(tk_proc_spawn(&spec, &pid, &err), 0);
    CHECK(pid > 0);
    CHECK(tk_proc_alive(pid));
    CHECK_INT(getpgid(pid), pid); /* its own process group */
    for (int i = 0; i < 100 && tk_proc_find_marked(marker, found, 8) < 2; i++)
        usleep(20000);
    CHECK_INT(tk_proc_find_marked(marker, found, 8), 2);
    struct tk_buf tail;
    tk_buf_init(&tail, 0);
    tk_proc_tail(log, 5, &tail);
    CHECK_CONTAINS(tail.data, "started");
    tk_buf_release(&tail);
    CHECK_INT(tk_proc_stop_group(pid, 3000), 0);
    CHECK(!tk_proc_alive(pid));
    CHECK_INT(tk_proc_find_marked(marker, found, 8), 0);
    free(log);
}

TK_TEST(spawn_missing_program_is_an_error)
{
    char *log = path_in("missing.log");
    const char *argv[] = {"/nonexistent/kube-apiserver", NULL};
    struct tk_err err = {0};
    pid_t pid = 0;
    struct tk_proc_spec spec = {.argv = argv, .log_path = log, .marker = "x"};

    CHECK(tk_proc_spawn(&spec, &pid, &err) != 0);
    CHECK_CONTAINS(err.msg, "cannot start /nonexistent/kube-apiserver");
    CHECK_CONTAINS(err.msg, "No such file");
    free(log);
}

TK_TEST(tail_takes_last_lines)
{
    char *p = path_in("t.log");
    FILE *f = fopen(p, "w");
    CHECK(f);
    for (int i = 1; i <= 100; i++)
        fprintf(f, "line %d\n", i);
    fclose(f);
    struct tk_buf b;
    tk_buf_init(&b, 0);
    tk_proc_tail(p, 3, &b);
    CHECK_STR(b.data, "line 98\nline 99\nline 100\n");
    tk_buf_release(&b);
    free(p);
}

TK_TEST(usage_of_self)
{
    double cpu = -1;
    int64_t rss = -1;
    CHECK_INT(tk_proc_usage(getpid(), &cpu, &rss), 0);
    CHECK(cpu >= 0);
    CHECK(rss > 1 << 20);
    CHECK_INT(tk_proc_usage(999999999, &cpu, &rss), -1);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/tk-test-proc.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    tk_test_fn fns[] = {spawn_log_marker_stop, spawn_missing_program_is_an_error,
                        tail_takes_last_lines, usage_of_self};
    const char *names[] = {"spawn_log_marker_stop", "spawn_missing_program_is_an_error",
                           "tail_takes_last_lines", "usage_of_self"};
    int rc = tk_test_run(names, fns, 4);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd))
        rc = 1;
    return rc;
}
