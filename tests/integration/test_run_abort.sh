#!/usr/bin/env bash
# Killing turbokube run mid-cell: SIGTERM while kube-burner runs tears down every process of
# the cell and marks it aborted; run --resume reruns the same cell to completion.
source "$(dirname "$0")/lib.sh"

work=$(mktemp -d /tmp/tk-it-abort.XXXXXX)
it_extra_cleanup="rm -rf '$work'"
db=$work/results/abort.db
cat >"$work/abort.yaml" <<'EOF'
name: e2e-abort
controlPlane:
  hosts:
    - {name: cp, cpus: 2, memory: 2Gi}
agents:
  nodes: 20
  nodesPerAgent: 10
  podStartup: {distribution: fixed, value: 500ms}
load: {shape: node-density, podsPerNode: 10, qps: 10, timeout: 4m}
measurement: {scrapeInterval: 2s}
EOF
id=$("$TK" plan --output json "$work/abort.yaml" | sed -n 's/.*"id":[[:space:]]*"\([0-9a-f]\{12\}\)".*/\1/p')
cluster=tk-$id
it_clusters+=("$cluster")
cdir=$TURBOKUBE_HOME/clusters/$cluster

"$TK" run --db "$db" "$work/abort.yaml" >"$work/run1.out" 2>"$work/run1.err" &
runpid=$!
# kube-burner is spawned with the cluster's owner marker; wait until it runs, then a moment
burner_running() {
    local p
    for p in $(marked_pids "$cdir"); do
        grep -q kube-burner "/proc/$p/cmdline" 2>/dev/null && return 0
    done
    return 1
}
deadline=$(($(date +%s) + 180))
while ! burner_running && kill -0 "$runpid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.5; done
check "kube-burner started under the run" burner_running
sleep 3
agents_before=$(marked_pids "$cdir" | wc -l)
echo "processes of the cell before SIGTERM: $agents_before"
kill -TERM "$runpid"
set +e
timeout 120 tail --pid="$runpid" -f /dev/null
wait "$runpid"
rc=$?
set -e
tail -5 "$work/run1.err"
check "interrupted run exits 1" test "$rc" -eq 1
check "it says it was interrupted" grep -q "interrupted by" "$work/run1.err"
check "no process of the cell is left" test -z "$(marked_pids "$cdir")"
check "cluster directory removed" test ! -e "$cdir"

q() { sqlite3 -batch -noheader "$db" "$1"; }
check "the cell is marked aborted" test "$(q "SELECT status FROM cells WHERE cell_id='$id'")" = aborted
check "the exit reason names the signal and the phase" bash -c "sqlite3 '$db' \"SELECT exit_reason FROM cells WHERE cell_id='$id'\" | grep -q 'interrupted by Terminated during load'"
check "finished_ms stamped" test "$(q "SELECT finished_ms IS NOT NULL FROM cells WHERE cell_id='$id'")" = 1
row=$(q "SELECT id FROM cells WHERE cell_id='$id'")

set +e
"$TK" run --resume --db "$db" "$work/abort.yaml" >"$work/run2.out" 2>"$work/run2.err"
rc=$?
set -e
tail -3 "$work/run2.err"
check "resumed run exits 0" test "$rc" -eq 0
check "one experiment, one cell: the same row reused" test "$(q "SELECT count(*) FROM experiments")/$(q "SELECT count(*) FROM cells")/$(q "SELECT id FROM cells WHERE cell_id='$id'")" = "1/1/$row"
check "the cell is complete" test "$(q "SELECT status FROM cells WHERE cell_id='$id'")" = complete
check "its exit reason is cleared" test -z "$(q "SELECT coalesce(exit_reason,'') FROM cells WHERE cell_id='$id'")"
check "pod latency recorded by the rerun" test "$(q "SELECT count(*) FROM pod_latency WHERE cell=$row AND condition='Ready'")" = 1
check "a second resume skips the complete cell" bash -c "'$TK' run --resume --db '$db' '$work/abort.yaml' 2>&1 >/dev/null | grep -q 'complete already, skipped'"
check "no process left after the resume" test -z "$(marked_pids "$cdir")"
it_finish
