#!/usr/bin/env bash
# test_agent_restart.sh in lite mode with --start-grid 1s over h2: pod work on its own connection,
# read at the grid's steps (lib/h2's paced reading), loses the apiserver for 10 s with the lease
# connection; every node is Ready again within 60 s, new pods run.
TK_AGENT_VARIANT=grid TK_AGENT_ARGS="--start-grid 1s --api-transport h2" \
    exec bash "$(dirname "$0")/test_agent_restart.sh"
