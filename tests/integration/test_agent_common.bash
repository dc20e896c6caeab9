# shellcheck shell=bash
# Helpers for the agent's integration tests (sourced by test_agent_*.sh): agents started here
# are stopped by the EXIT trap before lib.sh takes the clusters down.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

AGENT=$TK_BUILD/turbokube-agent
agent_pids=()
agent_logs=()

agent_stop_all() {
    local p
    for p in "${agent_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${agent_pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "$it_failed" -ne 0 ]; then
        for p in "${agent_logs[@]}"; do
            echo "--- $p"
            # a sanitizer's report from its first line (its tail is only the shadow legend)
            if grep -q 'ERROR: \(Address\|Leak\|Undefined\)Sanitizer\|runtime error:' "$p"; then
                grep -m1 -A40 'ERROR: \(Address\|Leak\|Undefined\)Sanitizer\|runtime error:' "$p"
            else
                grep -v 'level=debug' "$p" | tail -20
            fi
        done
    fi
}
trap 'agent_stop_all; it_cleanup' EXIT

# Brings up a cluster and points kubectl (and KUBECONFIG, TURBOKUBE_CLUSTER_DIR) at it.
# (it_name runs in a $(...) subshell, so the name is registered for the EXIT trap here.)
cluster_up_env() {
    it_clusters+=("$1")
    "$TK" cluster up --name "$1" -q
    eval "$("$TK" cluster env --name "$1")"
}

# The apiserver reaches fake nodes at their InternalIPs (10.200.0.0/16 by default) and refuses
# loopback addresses for the node proxy, so the range lives in a network namespace of our own
# (scripts/nodes-netns) where the agent opens its kubelet endpoint. Needs root; without it the
# node-proxy checks are skipped. Agents started after this get the flags.
agent_net_args=()
ensure_node_route() {
    [ "$(id -u)" -eq 0 ] || return 1
    local ns="tk-it-$$"
    "$TK_ROOT/scripts/nodes-netns" up "$ns" "${1:-10.200.0.0/16}" >/dev/null || return 1
    it_extra_cleanup="${it_extra_cleanup:+$it_extra_cleanup; }'$TK_ROOT/scripts/nodes-netns' down '$ns' '${1:-10.200.0.0/16}'"
    agent_net_args=(--kubelet-addr 0.0.0.0 --kubelet-netns "$ns")
}

# agent_start NAME ARGS...: starts turbokube-agent in the background; sets AGENT_PID.
agent_start() {
    local name=$1
    shift
    local log=$TURBOKUBE_HOME/agent-$name.log
    # The namespace flags come first, so an agent's own --kubelet-addr off still wins.
    "$AGENT" "${agent_net_args[@]}" "$@" >"$log" 2>&1 &
    AGENT_PID=$!
    agent_pids+=("$AGENT_PID")
    agent_logs+=("$log")
}

# wait_until SECONDS CMD...: 0 as soon as CMD succeeds, 1 after SECONDS.
wait_until() {
    local deadline=$(($(date +%s) + $1))
    shift
    while [ "$(date +%s)" -lt "$deadline" ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 1
    done
    return 1
}

ready_nodes() { kubectl get nodes --no-headers 2>/dev/null | awk '$2 == "Ready"' | grep -c "${1:-}" || true; }
all_nodes_ready() { [ "$(ready_nodes "$1")" -eq "$2" ]; }
deploy_ready() { [ "$(kubectl get deploy "$1" ${3:+-n "$3"} -o jsonpath='{.status.readyReplicas}' 2>/dev/null)" = "$2" ]; }
no_pods() { [ -z "$(kubectl get pods ${1:+-n "$1"} --no-headers 2>/dev/null)" ]; }

# metric NAME PORT: the value of an unlabelled sample of the agent's /metrics.
metric() { curl -s "127.0.0.1:$2/metrics" | awk -v n="$1" '$1 == n {print $2}'; }
