#!/usr/bin/env bash
# kube-burner (the pinned build) runs a small node-density job against fake nodes: exit 0 and
# podLatency quantiles on disk, for both fidelity modes.
source "$(dirname "$0")/test_agent_common.bash"

KB=${TURBOKUBE_CACHE:-$HOME/.cache/turbokube}/bin/kube-burner
if [ ! -x "$KB" ]; then
    echo "skip: no kube-burner at $KB (scripts/bootstrap builds it)"
    exit 0
fi
name=$(it_name agent-kb)
cluster_up_env "$name"

run_density() {
    local mode=$1 work=$TURBOKUBE_HOME/kb-$1
    mkdir -p "$work"
    cat >"$work/pod.yml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: {{.JobName}}-{{.Iteration}}
  labels: {app: density}
spec:
  containers:
    - name: app
      image: registry.k8s.io/pause:3.10
      resources: {requests: {cpu: 10m, memory: 16Mi}}
YAML
    cat >"$work/config.yml" <<YAML
global:
  gc: true
  measurements:
    - name: podLatency
      thresholds: [{conditionType: Ready, metric: P99, threshold: 10s}]
metricsEndpoints:
  - indexer: {type: local, metricsDirectory: "out/{{.UUID}}"}
jobs:
  - name: node-density
    jobType: create
    jobIterations: 100
    qps: 20
    burst: 20
    namespace: node-density-$mode
    namespacedIterations: false
    waitWhenFinished: true
    maxWaitTimeout: 5m
    preLoadImages: false
    objects:
      - {objectTemplate: pod.yml, replicas: 1}
YAML
    (cd "$work" && "$KB" init -c config.yml --uuid "tk-$mode" --timeout 10m --skip-log-file \
        >"$work/kube-burner.log" 2>&1)
}

agent_start lite --nodes 20 --startup-latency uniform:100ms-900ms --metrics-addr 127.0.0.1:10265 \
    --kubelet-addr off
check "20 nodes Ready" wait_until 90 all_nodes_ready tk-node- 20
rc=0
run_density lite || rc=$?
check "kube-burner node-density exits 0 (lite)" test "$rc" -eq 0
q=$TURBOKUBE_HOME/kb-lite/out/tk-lite/podLatencyQuantilesMeasurement-node-density.json
check "podLatency quantiles on disk (lite)" test -s "$q"
check "... with a Ready quantile" bash -c "jq -e '[.[] | select(.quantileName == \"Ready\")] | length == 1' '$q' >/dev/null"
[ -s "$q" ] && jq -c '.[] | {quantileName, P50, P99, max}' "$q"
[ "$rc" -eq 0 ] || tail -20 "$TURBOKUBE_HOME/kb-lite/kube-burner.log"
kill "$AGENT_PID"
wait "$AGENT_PID" || true

agent_start kubelet --nodes 20 --fidelity kubelet --startup-latency uniform:100ms-900ms \
    --metrics-addr 127.0.0.1:10265 --kubelet-addr off
check "20 nodes Ready (kubelet mode)" wait_until 90 all_nodes_ready tk-node- 20
rc=0
run_density kubelet || rc=$?
check "kube-burner node-density exits 0 (kubelet)" test "$rc" -eq 0
q=$TURBOKUBE_HOME/kb-kubelet/out/tk-kubelet/podLatencyQuantilesMeasurement-node-density.json
check "podLatency quantiles on disk (kubelet)" test -s "$q"
[ -s "$q" ] && jq -c '.[] | {quantileName, P50, P99, max}' "$q"
[ "$rc" -eq 0 ] || tail -20 "$TURBOKUBE_HOME/kb-kubelet/kube-burner.log"
it_finish
