#!/usr/bin/env bash
# turbokube cluster up/status/env/down against the real pinned control plane.
source "$(dirname "$0")/lib.sh"

name=$(it_name cluster)
dir=$TURBOKUBE_HOME/clusters/$name

t0=$(date +%s%N)
check "cluster up" "$TK" cluster up --name "$name" --cpus 1500m --memory 3Gi
echo "cluster up took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
check "status says every component is ready" "$TK" cluster status --name "$name"
check "status --output json is ready" bash -c "'$TK' cluster status --name '$name' -o json | grep -q '\"ready\":[[:space:]]*true'"

# The API through lib/kube with TLS verification, as the agent and orchestrator use it.
check "lib/kube: /version, /readyz, namespace create+list" \
    "$TK_BUILD/tests/int_test_cluster_api" "$dir/admin.kubeconfig"

eval "$("$TK" cluster env --name "$name")"
check "env exports the admin kubeconfig" test "$KUBECONFIG" = "$dir/admin.kubeconfig"
check "the pinned kubectl lists namespaces" bash -c "kubectl get namespaces -o name | grep -qx namespace/kube-system"
check "kubectl reports the pinned server version" bash -c "kubectl version -o json | grep -q '\"gitVersion\": \"$(grep ^KUBERNETES_VERSION "$TK_ROOT/scripts/versions.env" | cut -d= -f2)\"'"

# cgroup limits: the group exists with the limits asked for and holds the processes.
if [ "$(id -u)" -eq 0 ] && [ -d /sys/fs/cgroup/memory ]; then
    cg=$(find /sys/fs/cgroup/memory -type d -path "*turbokube/$name/control-plane" | head -1)
    check "memory cgroup created" test -n "$cg"
    check "memory limit is 3Gi" test "$(cat "$cg/memory.limit_in_bytes")" = $((3 << 30))
    check "control plane runs inside it" test "$(wc -l <"$cg/cgroup.procs")" -ge 4
    cpucg=$(find /sys/fs/cgroup/cpu -type d -path "*turbokube/$name/control-plane" | head -1)
    check "cpu quota is 1.5 cores" test "$(cat "$cpucg/cpu.cfs_quota_us")" = 150000
elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    cg=$(find /sys/fs/cgroup -type d -path "*turbokube/$name/control-plane" | head -1)
    check "cgroup v2 memory.max is 3Gi" test "$(cat "$cg/memory.max")" = $((3 << 30))
    check "cgroup v2 cpu.max is 1.5 cores" test "$(cut -d' ' -f1 "$cg/cpu.max")" = 150000
fi

check "up again says already up" bash -c "'$TK' cluster up --name '$name' 2>&1 | grep -q 'already up'"

ports=$(grep -oE '"(port|peer_port|metrics_port)":[[:space:]]*[0-9]+' "$dir/cluster.json" | grep -oE '[0-9]+$')
check "while up, its processes carry the owner marker" test "$(marked_pids "$dir" | wc -l)" -ge 4
check "down" "$TK" cluster down --name "$name"
check "no process left" test -z "$(marked_pids "$dir")"
for p in $ports; do
    check "port $p no longer listening" port_free "$p"
done
check "cluster directory removed" test ! -e "$dir"
check "no cgroup left" bash -c "! find /sys/fs/cgroup -maxdepth 6 -type d -path '*turbokube/$name*' 2>/dev/null | grep -q ."
check "down again is fine" "$TK" cluster down --name "$name"

it_finish
