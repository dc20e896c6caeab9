#!/usr/bin/env bash
# test_agent_restart.sh in kubelet mode: 50 node identities, each on its own HTTP/2 connection
# (lib/h2), lose the apiserver for 10 s; every node is Ready again within 60 s, new pods run.
TK_AGENT_FIDELITY=kubelet exec bash "$(dirname "$0")/test_agent_restart.sh"
