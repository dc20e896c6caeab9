#!/usr/bin/env bash
# bench/kwok_nodes.sh — the KWOK anchor: N fake nodes held by one kwok process against a local
# control plane, measured the same way as turbokube-agent (bench/agent_lite.sh) so the two
# can be compared side by side on the same machine.
#
#   bench/kwok_nodes.sh [--nodes N] [--duration SECONDS] [--name CLUSTER]
#
# Prints one logfmt line: system=kwok nodes ready cpu_pct_of_core rss_mib rss_kib_per_node
# lease_age_p99_s lease_age_max_s (lease age = now - renewTime, sampled every 10 s over the
# window; a renewal every 10 s keeps it under ~10 s). Needs `scripts/bootstrap --bench`.
set -euo pipefail
TK_ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$TK_ROOT/build}
TK=$BUILD/turbokube
CACHE=$("$TK_ROOT/scripts/bootstrap" --print-cache)
N=1000 DURATION=120 NAME=bench-kwok
while [ $# -gt 0 ]; do
    case $1 in
    --nodes) N=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --name) NAME=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed -e 's/^# \{0,1\}//' -e '/^set -e/d'; exit 0 ;;
    *) echo "kwok_nodes.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
[ -x "$CACHE/bin/kwok" ] || { echo "kwok_nodes.sh: no kwok in $CACHE/bin: run scripts/bootstrap --bench" >&2; exit 1; }
source "$TK_ROOT/bench/lib.sh"

work=$(mktemp -d /tmp/tk-bench-kwok.XXXXXX)
kwok_pid=
cleanup() {
    # set -e is still on here: a failed kill or wait must not skip the teardown below.
    if [ -n "$kwok_pid" ]; then
        kill "$kwok_pid" 2>/dev/null || true
        wait "$kwok_pid" 2>/dev/null || true
    fi
    "$TK" cluster down --name "$NAME" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

"$TK" cluster up --name "$NAME" --quiet
eval "$("$TK" cluster env --name "$NAME")"

# KWOK's own default stages (what kwokctl installs: node-fast + heartbeat-with-lease, pod-fast),
# read from the kwok module that bootstrap downloaded; nothing of kwok is copied into the repo.
kwok_ver=$(grep ^KWOK_VERSION "$TK_ROOT/scripts/versions.env" | cut -d= -f2)
stages=$(go env GOMODCACHE)/sigs.k8s.io/kwok@$kwok_ver/kustomize/stage
for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    cat "$stages/$f"
    echo "---"
done >"$work/stages.yaml"
"$CACHE/bin/kwok" --kubeconfig "$KUBECONFIG" --config "$work/stages.yaml" --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-lease-duration-seconds=40 --cidr=10.0.0.0/16 --node-ip=127.0.0.1 \
    --server-address=127.0.0.1:0 >"$work/kwok.log" 2>&1 &
kwok_pid=$!

python3 - "$N" >"$work/nodes.json" <<'PY'
import json, sys
n = int(sys.argv[1])
items = [{"apiVersion": "v1", "kind": "Node",
          "metadata": {"name": f"kwok-node-{i:05d}", "annotations": {"kwok.x-k8s.io/node": "fake"},
                       "labels": {"type": "kwok", "kubernetes.io/hostname": f"kwok-node-{i:05d}"}},
          "spec": {}, "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                                 "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"}}}
         for i in range(n)]
json.dump({"apiVersion": "v1", "kind": "List", "items": items}, sys.stdout)
PY
t0=$(date +%s)
kubectl create -f "$work/nodes.json" >/dev/null
bench_wait_ready "$N" 600 kwok-node-
echo "bench: $N kwok nodes Ready after $(($(date +%s) - t0)) s" >&2
bench_measure "$kwok_pid" "$DURATION" kwok-node- "system=kwok nodes=$N"
