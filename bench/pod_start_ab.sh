#!/usr/bin/env bash
# bench/pod_start_ab.sh: agent CPU per pod start, two agent binaries side by side on one local
# control plane, so a change to the pod path is read as a ratio rather than against a figure
# from another hour (this machine's per-message cost moves by tens of percent between hours;
# docs/measurements.md).
#
# A warm-up agent registers the nodes first. Each trial starts one agent (lite, NODES nodes) on
# them, waits for every node Ready, lets it settle, takes its idle CPU rate over IDLE seconds,
# creates a Deployment of PODS replicas, and takes its CPU until readyReplicas == PODS; then deletes the Deployment, waits for its pods to be gone and
# stops the agent (the next one takes over the same nodes). CPU is the agent's on-CPU time from
# /proc/PID/schedstat (nanoseconds). Per pod: raw = rollout CPU / PODS, net = (rollout CPU -
# idle rate x rollout time) / PODS. Trials run A B B A in every round, so drift over the run
# falls on both alike; the result is each agent's median and B's median over A's.
#
# usage: AGENT_A=/path/old/turbokube-agent AGENT_B=/path/new/turbokube-agent bench/pod_start_ab.sh
# env:   ROUNDS (3), NODES (500), PODS (1000), IDLE (20 s), TK_BUILD (default build-agent-rel:
#        its turbokube runs the cluster, its agent is the default B), OUT (results file),
#        ARGS_A / ARGS_B (extra flags for each agent), WHAT_A / WHAT_B (what each binary is, for
#        the results' header: a commit, a change), STORE (tmpfs, the default: the cluster's
#        state in /dev/shm, so etcd's disk does not pace the rollout; disk: under TURBOKUBE_HOME)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${TK_BUILD:-$ROOT/build-agent-rel}
TK=$BUILD/turbokube
AGENT_B=${AGENT_B:-$BUILD/turbokube-agent}
AGENT_A=${AGENT_A:?AGENT_A: the agent binary to compare against (e.g. a build of the previous commit)}
ROUNDS=${ROUNDS:-3}
NODES=${NODES:-500}
PODS=${PODS:-1000}
IDLE=${IDLE:-20}
PORT=${PORT:-10271}
OUT=${OUT:-$ROOT/bench/results/pod_start_ab-$(date +%Y%m%d-%H%M%S).txt}
for b in "$TK" "$AGENT_A" "$AGENT_B"; do
    [ -x "$b" ] || { echo "pod_start_ab: $b is not an executable (build it first)" >&2; exit 2; }
done
name=podab-$$
source "$ROOT/bench/lib.sh"
bench_dirs tk-podab tmpfs
work=$BENCH_WORK
agent_pid=
trap 'rc=$?; bench_teardown "$TK" "$name" "$agent_pid"; bench_keep_on_failure "$work" "$rc"' EXIT
trap 'exit 130' INT TERM

say() { echo "$(date +%H:%M:%S) $*" >&2; }
metric() { curl -s "127.0.0.1:$PORT/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
oncpu() { awk '{print $1}' "/proc/$agent_pid/schedstat"; }
now_ns() { date +%s%N; }

say "cluster up ($name)"
"$TK" cluster up --name "$name" -q --timeout 120s
eval "$("$TK" cluster env --name "$name")"

start_agent() { # start_agent LABEL BINARY ARGS: runs it until every node is Ready
    local label=$1 bin=$2 args=$3 deadline
    # shellcheck disable=SC2086
    "$bin" --nodes "$NODES" --fidelity lite --metrics-addr "127.0.0.1:$PORT" \
        --startup-latency fixed:1s --log-level warn $args >>"$work/agent-$label.log" 2>&1 &
    agent_pid=$!
    deadline=$(($(date +%s) + 120))
    until [ "$(metric 'turbokube_agent_nodes{state="ready"}')" = "$NODES" ]; do
        kill -0 "$agent_pid" 2>/dev/null || { tail "$work/agent-$label.log" >&2; exit 1; }
        [ "$(date +%s)" -lt "$deadline" ] || { echo "pod_start_ab: $label: nodes not Ready in 120 s" >&2; exit 1; }
        sleep 1
    done
}

stop_agent() {
    kill "$agent_pid"
    wait "$agent_pid" || true
    agent_pid=
}

trial() { # trial LABEL BINARY ARGS: appends "LABEL raw_us net_us rollout_s" to trials.txt
    local label=$1 deadline c0 t0 c1 t1 c2 t2
    start_agent "$@"
    sleep 10
    c0=$(oncpu) t0=$(now_ns)
    sleep "$IDLE"
    c1=$(oncpu) t1=$(now_ns)
    kubectl create deployment podab --image=registry.k8s.io/pause:3.10 --replicas="$PODS" >/dev/null
    deadline=$(($(date +%s) + 600))
    until [ "$(kubectl get deploy podab -o jsonpath='{.status.readyReplicas}')" = "$PODS" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "pod_start_ab: $label: rollout not done in 600 s" >&2; exit 1; }
        sleep 1
    done
    c2=$(oncpu) t2=$(now_ns)
    kubectl delete deployment podab --wait=true >/dev/null
    deadline=$(($(date +%s) + 300))
    until [ "$(kubectl get pods --no-headers 2>/dev/null | wc -l)" = 0 ]; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "pod_start_ab: $label: pods not gone in 300 s" >&2; exit 1; }
        sleep 1
    done
    stop_agent
    awk -v l="$label" -v p="$PODS" -v c0="$c0" -v c1="$c1" -v c2="$c2" -v t0="$t0" -v t1="$t1" -v t2="$t2" 'BEGIN {
        idle = (c1 - c0) / (t1 - t0); roll = c2 - c1; dt = t2 - t1
        printf "%s %.0f %.0f %.1f\n", l, roll / p / 1000, (roll - idle * dt) / p / 1000, dt / 1e9 }' |
        tee -a "$work/trials.txt" >&2
}

{
    echo "# bench/pod_start_ab.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) rounds=$ROUNDS nodes=$NODES pods=$PODS idle=${IDLE}s store=${STORE:-tmpfs}"
    echo "# A: $AGENT_A (sha256 $(sha256sum "$AGENT_A" | cut -c1-12)) ${ARGS_A:-} ${WHAT_A:-}"
    echo "# B: $AGENT_B (sha256 $(sha256sum "$AGENT_B" | cut -c1-12)) ${ARGS_B:-} ${WHAT_B:-}"
    echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# agent raw_us_per_pod net_us_per_pod rollout_s"
} >"$work/trials.txt"
# The first agent on a fresh cluster creates the nodes and leases; every trial should take
# over existing ones (the first trial's idle rate was inflated without this).
say "warm-up: agent A registers the nodes"
start_agent warmup "$AGENT_A" "${ARGS_A:-}"
stop_agent
for r in $(seq "$ROUNDS"); do
    for who in A B B A; do
        if [ "$who" = A ]; then bin=$AGENT_A args=${ARGS_A:-}; else bin=$AGENT_B args=${ARGS_B:-}; fi
        say "round $r/$ROUNDS: agent $who"
        trial "$who" "$bin" "$args" # in this shell: the EXIT trap must see the agent's pid
    done
done
python3 - "$work/trials.txt" <<'PY' | tee "$OUT"
import statistics, sys
lines = open(sys.argv[1]).read().splitlines()
rows = [l.split() for l in lines if l and not l.startswith("#")]
print("\n".join(l for l in lines if l.startswith("#")))
for r in rows:
    print(" ".join(r))
med = {}
for who in ("A", "B"):
    raw = [float(r[1]) for r in rows if r[0] == who]
    net = [float(r[2]) for r in rows if r[0] == who]
    med[who] = (statistics.median(raw), statistics.median(net))
    print(f"median {who}: raw {med[who][0]:.0f} us/pod, net {med[who][1]:.0f} us/pod ({len(raw)} trials)")
print(f"B / A: raw {med['B'][0] / med['A'][0]:.2f}, net {med['B'][1] / med['A'][1]:.2f}")
PY
say "results in $OUT"
