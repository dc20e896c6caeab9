#!/usr/bin/env bash
# turbokube run across topologies: etcd on a host of its own, scheduler + controller-manager
# offloaded to another, and the scheduler on etcd's host with the controller-manager on a third
# map onto one cgroup per host with that host's limits, read back from the kernel and recorded,
# with 2ms between hosts through toxiproxy; a cell the local provider cannot build (another
# Kubernetes version) fails with the reason, without starting anything.
source "$(dirname "$0")/lib.sh"

work=$(mktemp -d /tmp/tk-it-topo.XXXXXX)
it_extra_cleanup="rm -rf '$work'"
db=$work/topo.db
cat >"$work/topo.yaml" <<'YAML'
name: e2e-topology
controlPlane:
  - hosts:
      - {name: cp, cpus: 2, memory: 2Gi}
      - {name: etcd, cpus: 1, memory: 1Gi}
    placement: {etcd: etcd}
  - hosts:
      - {name: cp, cpus: 2, memory: 2Gi}
      - {name: aux, cpus: 1500m, memory: 1536Mi}
    placement: {scheduler: aux, controller-manager: aux}
  - hosts:
      - {name: cp, cpus: 2, memory: 2Gi}
      - {name: etcd, cpus: 1, memory: 1Gi}
    placement: {etcd: etcd}
    kubernetesVersion: v1.35.0
  - hosts:
      - {name: cp, cpus: 1500m, memory: 2Gi}
      - {name: etcd, cpus: 1, memory: 1280Mi}
      - {name: aux, cpus: 500m, memory: 768Mi}
    placement: {etcd: etcd, scheduler: etcd, controller-manager: aux}
    latency: 2ms
agents:
  nodes: 10
  podStartup: {distribution: fixed, value: 200ms, grid: 100ms}
load: {shape: node-density, podsPerNode: 3, qps: 20, timeout: 3m}
measurement: {scrapeInterval: 2s}
YAML
for id in $("$TK" plan --output json "$work/topo.yaml" | sed -n 's/.*"id":[[:space:]]*"\([0-9a-f]\{12\}\)".*/\1/p'); do
    it_clusters+=("tk-$id")
done
set +e
"$TK" run --db "$db" "$work/topo.yaml" >"$work/out" 2>"$work/err"
rc=$?
set -e
grep -E "complete in|failed in" "$work/err" || tail -20 "$work/err"
check "run exits 1 (one cell cannot be built)" test "$rc" -eq 1

q() { sqlite3 -batch -noheader "$db" "$1"; }
cell() { q "SELECT id FROM cells WHERE idx=$1"; }
limit() { q "SELECT CAST(value AS INTEGER) FROM samples WHERE cell=$1 AND source='cgroup' AND metric='cgroup_limit_$2' AND labels='group=\"$3\"'"; }
c0=$(cell 0) c1=$(cell 1) c2=$(cell 2) c3=$(cell 3)
check "dedicated etcd: complete" test "$(q "SELECT status FROM cells WHERE id=$c0")" = complete
check "dedicated etcd: control-plane group 2 CPUs" test "$(limit "$c0" cpu_millis control-plane)" = 2000
check "dedicated etcd: etcd group 1 CPU, 1Gi" test "$(limit "$c0" cpu_millis etcd)/$(limit "$c0" memory_bytes etcd)" = "1000/1073741824"
check "dedicated etcd: etcd's group measured" test "$(q "SELECT cpu_seconds > 0 AND peak_rss_bytes > 0 FROM usage WHERE cell=$c0 AND component='cgroup:etcd'")" = 1
check "offloaded: complete" test "$(q "SELECT status FROM cells WHERE id=$c1")" = complete
check "offloaded: aux group 1500m, 1536Mi" test "$(limit "$c1" cpu_millis aux)/$(limit "$c1" memory_bytes aux)" = "1500/1610612736"
check "offloaded: aux group measured" test "$(q "SELECT cpu_seconds > 0 FROM usage WHERE cell=$c1 AND component='cgroup:aux'")" = 1
check "offloaded: no etcd group" test -z "$(limit "$c1" cpu_millis etcd)"
check "scheduler on etcd's host, controller-manager apart: complete" test "$(q "SELECT status FROM cells WHERE id=$c3")" = complete
check "... control-plane group 1500m, 2Gi" test "$(limit "$c3" cpu_millis control-plane)/$(limit "$c3" memory_bytes control-plane)" = "1500/2147483648"
check "... etcd group 1 CPU, 1280Mi" test "$(limit "$c3" cpu_millis etcd)/$(limit "$c3" memory_bytes etcd)" = "1000/1342177280"
check "... aux group 500m, 768Mi" test "$(limit "$c3" cpu_millis aux)/$(limit "$c3" memory_bytes aux)" = "500/805306368"
check "... each group measured" test "$(q "SELECT count(*) FROM usage WHERE cell=$c3 AND cpu_seconds > 0 AND component IN ('cgroup:control-plane','cgroup:etcd','cgroup:aux')")" = 3
# 2ms between hosts: apiserver->etcd, and both controllers->apiserver (one proxy)
check "... 2ms added over 2 links, and how" bash -c "sqlite3 '$db' \"SELECT value, labels FROM samples WHERE cell=$c3 AND metric='latency_added_seconds'\" | grep -qE '^0.002\\|method=\"toxiproxy; netem .*\",links=\"2\"\$'"
check "... toxiproxy measured" test "$(q "SELECT count(*) FROM usage WHERE cell=$c3 AND component='toxiproxy'")" = 1
check "agents.podStartup.grid reaches the agents: --start-grid 100ms" bash -c "grep -l 'start_grid=100ms' \"\$(sqlite3 '$db' 'SELECT dir FROM cells WHERE id=$c0')\"/logs/agent-*.log"
check "another Kubernetes version: failed" test "$(q "SELECT status FROM cells WHERE id=$c2")" = failed
check "another Kubernetes version: the reason says what is missing" bash -c "sqlite3 '$db' 'SELECT exit_reason FROM cells WHERE id=$c2' | grep -q 'Kubernetes v1.35.0'"
check "another Kubernetes version: a hard failure point" test "$(q "SELECT count(*) FROM failure_points WHERE cell=$c2 AND kind='hard' AND what='unsupported'")" = 1
check "another Kubernetes version: nothing was started" test "$(q "SELECT count(*) FROM samples WHERE cell=$c2 AND metric='scrape_up'")" = 0
for c in "${it_clusters[@]}"; do
    check "$c: no process left" test -z "$(marked_pids "$TURBOKUBE_HOME/clusters/$c")"
done
it_finish
