#!/usr/bin/env bash
# kine over SQLite, a dedicated datastore cgroup and an offloaded scheduler/controller-manager.
source "$(dirname "$0")/lib.sh"

name=$(it_name topo)
check "up with kine, dedicated etcd group, offloaded scheduler" \
    "$TK" cluster up --name "$name" --datastore kine --cpus 1 --memory 2Gi \
    --etcd-cpus 500m --etcd-memory 1Gi --offload-scheduler
status=$("$TK" cluster status --name "$name")
echo "$status"
group_of() { awk -v c="$1" '$1 == c { print $5 }' <<<"$status"; }
check "kine is the datastore and ready" bash -c "grep -qE '^kine +[0-9]+ +[0-9]+ +ready' <<<'$status'"
check "kine runs in the dedicated etcd group" test "$(group_of kine)" = etcd
check "apiserver runs in the control-plane group" test "$(group_of kube-apiserver)" = control-plane
check "scheduler runs outside the limits" test "$(group_of kube-scheduler)" = -
check "controller-manager runs outside the limits" test "$(group_of kube-controller-manager)" = -
KUBECONFIG=$TURBOKUBE_HOME/clusters/$name/admin.kubeconfig
export KUBECONFIG
kubectl=$("$TK_ROOT/scripts/bootstrap" --print-cache)/bin/kubectl
check "kine stores objects: create and read a configmap" bash -c \
    "'$kubectl' create configmap tk-it --from-literal=a=b >/dev/null && '$kubectl' get configmap tk-it -o jsonpath='{.data.a}' | grep -qx b"
check "down" "$TK" cluster down --name "$name"
check "no process left" test -z "$(marked_pids "$TURBOKUBE_HOME/clusters/$name")"
it_finish
