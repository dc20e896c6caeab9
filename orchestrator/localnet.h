#ifndef TK_LOCALNET_H
#define TK_LOCALNET_H

/* Added latency between the local provider's hosts. The hosts are cgroups on one machine and
 * share its loopback, so latency goes where one component talks to a component on another
 * host: a TCP proxy (toxiproxy-server, pinned and built by scripts/bootstrap) with a latency
 * toxic in each direction, which the client is pointed at instead of the server. netem would
 * be the kernel's way, but it delays a whole interface: it needs each host in a network
 * namespace of its own, and many kernels (this project's CI among them) have no sch_netem. */

#include <stddef.h>

#include "err.h"

struct tk_loop;

/* 1 when netem works here: `tc qdisc add dev lo root netem delay 1ms` in a fresh network
 * namespace succeeds. Else 0 and why (at most n bytes) says what tc or unshare said. */
int tk_localnet_netem(char *why, size_t n);

/* On the toxiproxy-server whose API is 127.0.0.1:api_port, creates proxy name listening on
 * 127.0.0.1:listen and forwarding to 127.0.0.1:upstream, with latency_ms added per round trip:
 * latency_ms / 2 on the way there (upstream), the rest on the way back (downstream). Runs the
 * requests on loop (borrowed). TK_EHTTP/TK_ENET with toxiproxy's answer on failure. */
int tk_localnet_proxy(struct tk_loop *loop, int api_port, const char *name, int listen,
                      int upstream, int latency_ms, struct tk_err *err);

#endif
