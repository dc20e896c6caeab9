#!/usr/bin/env bash
# turbokube run end to end: a two-cell experiment (two load shapes, 20 fake nodes, 100 pods
# each) against the real local control plane with the real kube-burner, then the database is
# checked with sqlite3: both cells complete, plausible latency summaries, pod latency, usage,
# the cgroup limits as the kernel holds them, and nothing left running.
source "$(dirname "$0")/lib.sh"

work=$(mktemp -d /tmp/tk-it-run.XXXXXX)
it_extra_cleanup="rm -rf '$work'"
db=$work/results/e2e.db
cat >"$work/two-shapes.yaml" <<'EOF'
name: e2e-two-shapes
description: node-density against cluster-density, 20 nodes and 100 pods each
controlPlane:
  hosts:
    - {name: cp, cpus: 2, memory: 3Gi}
agents:
  nodes: 20
  nodesPerAgent: 10
  # At least 1.1 s: kube-burner's pod latency subtracts timestamps of one-second
  # resolution, so a faster start can truthfully measure 0 ms at p50 (CI saw it).
  podStartup: {distribution: uniform, min: 1100ms, max: 1500ms}
  # extra agent flags reach every agent (the default lite transport is h1)
  args: [--api-transport=h2, --seed=7]
load:
  - {shape: node-density, podsPerNode: 5, qps: 20, timeout: 4m}
  - shape: cluster-density
    namespaces: 5
    deploymentsPerNamespace: 2
    replicas: 10
    services: 1
    configmaps: 1
    secrets: 1
    qps: 20
    timeout: 4m
measurement:
  scrapeInterval: 2s
EOF

check "plan has two cells" bash -c "'$TK' plan --output json '$work/two-shapes.yaml' | grep -c '\"id\":' | grep -qx 2"
for id in $("$TK" plan --output json "$work/two-shapes.yaml" | sed -n 's/.*"id":[[:space:]]*"\([0-9a-f]\{12\}\)".*/\1/p'); do
    it_clusters+=("tk-$id")
done

start=$(date +%s)
set +e
# A relative --db, as `make quickstart` uses: kube-burner runs in the job's directory, so
# every path handed to it must survive that (it once did not: "cannot open log file").
(cd "$work" && "$TK" run --db results/e2e.db "$work/two-shapes.yaml") >"$work/summary.txt" 2>"$work/progress.txt"
rc=$?
set -e
echo "run took $(($(date +%s) - start))s, exit $rc"
cat "$work/summary.txt"
check "run exits 0" test "$rc" -eq 0
if [ "$rc" -ne 0 ]; then tail -40 "$work/progress.txt"; fi

q() { sqlite3 -batch -noheader "$db" "$1"; }
exp=$(q "SELECT id FROM experiments WHERE name='e2e-two-shapes' ORDER BY id DESC LIMIT 1")
cells=$(q "SELECT id FROM cells WHERE experiment=$exp ORDER BY idx")
check "two cells recorded" test "$(wc -w <<<"$cells")" -eq 2
check "both cells complete" test "$(q "SELECT count(*) FROM cells WHERE experiment=$exp AND status='complete'")" -eq 2

for cell in $cells; do
    shape=$(q "SELECT json_extract(params,'\$.load.shape') FROM cells WHERE id=$cell")
    sli="cell=$cell AND source='apiserver' AND metric='apiserver_request_sli_duration_seconds'"
    check "$shape: latency summaries recorded" test "$(q "SELECT count(*) FROM latency_summaries WHERE $sli")" -gt 5
    post=$(q "SELECT count, p50, p99 FROM latency_summaries WHERE $sli AND verb='POST' AND resource='pods' AND subresource=''")
    echo "  $shape POST pods: count|p50|p99 = $post"
    check "$shape: POST pods counted (>= 100)" test "$(q "SELECT count >= 100 FROM latency_summaries WHERE $sli AND verb='POST' AND resource='pods' AND subresource=''")" = 1
    check "$shape: POST pods p99 >= p50 > 0" test "$(q "SELECT p50 > 0 AND p99 >= p50 FROM latency_summaries WHERE $sli AND verb='POST' AND resource='pods' AND subresource=''")" = 1
    check "$shape: apiserver -> etcd latencies" test "$(q "SELECT count(*) FROM latency_summaries WHERE cell=$cell AND metric='etcd_request_duration_seconds' AND p99 > 0")" -gt 0
    check "$shape: etcd WAL fsync summary" test "$(q "SELECT count(*) FROM latency_summaries WHERE cell=$cell AND source='etcd' AND metric='etcd_disk_wal_fsync_duration_seconds' AND count > 0")" = 1
    check "$shape: pod latency Ready p99 >= p50 > 0" test "$(q "SELECT p50 > 0 AND p99 >= p50 FROM pod_latency WHERE cell=$cell AND condition='Ready'")" = 1
    check "$shape: job summary passed" test "$(q "SELECT passed FROM job_summaries WHERE cell=$cell")" = 1
    for comp in apiserver etcd scheduler controller-manager agents kube-burner turbokube cgroup:control-plane; do
        check "$shape: usage of $comp (cpu > 0, peak RSS > 1 MiB)" test "$(q "SELECT cpu_seconds > 0 AND peak_rss_bytes > 1048576 FROM usage WHERE cell=$cell AND component='$comp'")" = 1
    done
    check "$shape: cgroup CPU limit read back as 2000m" test "$(q "SELECT value FROM samples WHERE cell=$cell AND source='cgroup' AND metric='cgroup_limit_cpu_millis' AND labels='group=\"control-plane\"'")" = 2000.0
    check "$shape: cgroup memory limit read back as 3Gi" test "$(q "SELECT CAST(value AS INTEGER) FROM samples WHERE cell=$cell AND source='cgroup' AND metric='cgroup_limit_memory_bytes' AND labels='group=\"control-plane\"'")" = 3221225472
    check "$shape: cgroup usage sampled during the cell" test "$(q "SELECT count(*) FROM samples WHERE cell=$cell AND source='cgroup' AND metric='cgroup_cpu_seconds'")" -gt 3
    check "$shape: apiserver scraped each interval" test "$(q "SELECT count(*) FROM samples WHERE cell=$cell AND source='apiserver' AND metric='scrape_up' AND value=1")" -gt 3
    check "$shape: per-interval p99 of POST pods recorded" test "$(q "SELECT count(*) FROM samples WHERE cell=$cell AND metric='apiserver_request_sli_p99_seconds' AND labels LIKE '%verb=\"POST\"' AND labels LIKE 'resource=\"pods\"%' AND value > 0")" -gt 0
    check "$shape: both agents scraped" test "$(q "SELECT count(DISTINCT source) FROM samples WHERE cell=$cell AND metric='turbokube_agent_nodes'")" = 2
    check "$shape: request counts by code" test "$(q "SELECT count(*) FROM samples WHERE cell=$cell AND source='summary' AND metric='apiserver_requests' AND labels LIKE 'code=\"2%'")" -gt 0
    check "$shape: no node lost" test "$(q "SELECT value FROM samples WHERE cell=$cell AND source='summary' AND metric='nodes_lost'")" = 0.0
    check "$shape: no hard failure point" test "$(q "SELECT count(*) FROM failure_points WHERE cell=$cell AND kind='hard'")" = 0
    check "$shape: host facts and versions" test "$(q "SELECT count(*) FROM host_facts WHERE cell=$cell")$(q "SELECT version FROM component_versions WHERE cell=$cell AND component='kube-apiserver'")" = "1v1.36.3"
    dir=$(q "SELECT dir FROM cells WHERE id=$cell")
    check "$shape: agents.args in the cell's parameters" test "$(q "SELECT json_extract(params,'\$.agents.args') FROM cells WHERE id=$cell")" = '["--api-transport=h2","--seed=7"]'
    check "$shape: agents.args reached both agents" test "$(grep -l 'agent started.*api_transport=h2' "$dir"/logs/agent-*.log | wc -l)" -eq 2
    check "$shape: kube-burner config and logs kept in the cell directory" test -s "$dir/config.yml" -a -s "$dir/kube-burner.log" -a -s "$dir/logs/kube-apiserver.log" -a -s "$dir/logs/agent-1.log"
done

# Before run.c recorded per-interval p99 samples the report's latency chart was empty on
# real runs ("no samples recorded"): now both cells' charts draw a line per call.
check "report written" "$TK" report --db "$db" -e e2e-two-shapes -o "$work/report.html"
check "report: both cells' latency charts drawn" test "$(grep -A1 'id="latency-' "$work/report.html" | grep -c 'data-chart="latency-')" -eq 2
check "summary table names pod startup and the control plane" bash -c "grep -q 'pod startup (kube-burner)' '$work/summary.txt' && grep -q 'control plane' '$work/summary.txt'"
for c in "${it_clusters[@]}"; do
    check "$c: no process left" test -z "$(marked_pids "$TURBOKUBE_HOME/clusters/$c")"
    check "$c: cluster directory removed" test ! -e "$TURBOKUBE_HOME/clusters/$c"
done
it_finish
