#ifndef TK_NETNS_H
#define TK_NETNS_H

/* Network namespaces by name (/run/netns/NAME, as `ip netns add` makes them), for opening a
 * listening socket inside one: the fake nodes' kubelet endpoint lives in a namespace that
 * holds their InternalIPs (scripts/nodes-netns), while everything else the agent does stays
 * in the caller's namespace. A socket keeps the namespace it was created in, so enter, create
 * the socket, leave. Needs CAP_SYS_ADMIN. Not thread-safe (setns is per thread, and the
 * agent has one). */

#include "err.h"

/* Switches the calling thread into namespace name; *saved receives a descriptor of the
 * namespace it was in, for tk_netns_leave. Errors: TK_ENOTFOUND (no such namespace, with a
 * pointer to scripts/nodes-netns), TK_EIO (setns refused: not root). */
int tk_netns_enter(const char *name, int *saved, struct tk_err *err);

/* Returns to the namespace saved by tk_netns_enter and closes it. 0, or -1 if setns failed
 * (the caller is then still inside the other namespace and should stop). */
int tk_netns_leave(int saved);

#endif
