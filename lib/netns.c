#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int tk_netns_enter(const char *name, int *saved, struct tk_err *err)
{
    char path[512];
    int target, self;

    *saved = -1;
    if (!name[0] || strchr(name, '/'))
        return tk_err_set(err, TK_EINVAL, "network namespace name '%s' is not valid", name);
    snprintf(path, sizeof(path), "/run/netns/%s", name);
    if ((target = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return tk_err_set(err, TK_ENOTFOUND,
                          "network namespace '%s' does not exist (%s); create it with "
                          "scripts/nodes-netns up %s",
                          name, strerror(errno), name);
    if ((self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0) {
        close(target);
        return tk_err_set(err, TK_EIO, "cannot open /proc/self/ns/net: %s", strerror(errno));
    }
    if (setns(target, CLONE_NEWNET)) {
        int e = errno;
        close(target);
        close(self);
        return tk_err_set(err, TK_EIO, "cannot enter network namespace '%s': %s (needs root)", name,
                          strerror(e));
    }
    close(target);
    *saved = self;
    return 0;
}

int tk_netns_leave(int saved)
{
    int rc = 0;
    if (saved < 0)
        return 0;
    if (setns(saved, CLONE_NEWNET))
        rc = -1;
    close(saved);
    return rc;
}
