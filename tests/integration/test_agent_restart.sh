#!/usr/bin/env bash
# The apiserver restarts under the agent: within 60 s of its return every node is Ready
# again and new pods run (watches resumed or relisted, leases renewed, nothing stuck).
# TK_AGENT_FIDELITY=kubelet runs it with per-node identities (test_agent_restart_kubelet.sh);
# TK_AGENT_ARGS adds agent flags and TK_AGENT_VARIANT names the run (test_agent_restart_grid.sh).
source "$(dirname "$0")/test_agent_common.bash"

fidelity=${TK_AGENT_FIDELITY:-lite}
name=$(it_name "agent-restart-$fidelity${TK_AGENT_VARIANT:+-$TK_AGENT_VARIANT}")
cluster_up_env "$name"
dir=$TURBOKUBE_CLUSTER_DIR

# shellcheck disable=SC2086 # TK_AGENT_ARGS is a list of flags
agent_start restart --nodes 50 --fidelity "$fidelity" --startup-latency 300ms \
    --metrics-addr 127.0.0.1:10264 --kubelet-addr off ${TK_AGENT_ARGS:-}
check "50 nodes Ready" wait_until 90 all_nodes_ready tk-node- 50
kubectl create deployment web --image=nginx --replicas=50 >/dev/null
check "50 pods ready" wait_until 120 deploy_ready web 50

# Restart kube-apiserver in place: same command line, same environment (its owner marker).
# The controller-manager and scheduler exit when they lose their leader lease during the
# outage; like a supervisor would, they are started again the same way.
snap=$TURBOKUBE_HOME/procs
mkdir -p "$snap"
apid=
for p in $(marked_pids "$dir"); do
    c=$(cat /proc/$p/comm 2>/dev/null || true)
    case $c in kube-apiserver | kube-controller | kube-scheduler) ;; *) continue ;; esac
    cp "/proc/$p/cmdline" "$snap/$p.cmd"
    cp "/proc/$p/environ" "$snap/$p.env"
    [ "$c" = kube-apiserver ] && apid=$p
done
check "found the apiserver ($apid)" test -n "$apid"
revive() {
    local f p args envs
    for f in "$snap"/*.cmd; do
        p=$(basename "$f" .cmd)
        kill -0 "$p" 2>/dev/null && continue
        mapfile -d '' args <"$f"
        mapfile -d '' envs <"$snap/$p.env"
        env -i "${envs[@]}" setsid "${args[@]}" >>"$dir/logs/restarted-$p.log" 2>&1 &
        echo "$!" >>"$snap/new.pids"
        mv "$f" "$f.done"
    done
}
it_extra_cleanup='[ -f "$snap/new.pids" ] && kill $(cat "$snap/new.pids") 2>/dev/null || true'
kill -TERM "$apid"
wait_until 30 bash -c "! kill -0 $apid" || kill -KILL "$apid"
sleep 10 # down long enough for watches and lease renewals to fail
revive
check "apiserver back" wait_until 60 kubectl get --raw /readyz
t0=$(date +%s)
check "all 50 nodes Ready within 60 s of the restart" wait_until 60 all_nodes_ready tk-node- 50
sleep 20 # the controller-manager and scheduler may exit a little later (leader election)
revive
kubectl scale deployment web --replicas=100 >/dev/null
check "new pods run: 100 ready" wait_until 120 deploy_ready web 100
deploy_ready web 100 || {
    kubectl get deploy web
    kubectl get pods --no-headers | awk '{print $2, $3}' | sort | uniq -c
    kubectl get pods -o json | jq -c '[.items[] | select([.status.conditions[]? | select(.type=="Ready" and .status=="True")] | length == 0)][0] | {m: .metadata.name, s: .status}'
    kubectl get rs -o wide
    for f in "$dir"/logs/restarted-*.log; do echo "--- $f"; tail -5 "$f"; done
    ls "$snap"
}
echo "recovered in $(($(date +%s) - t0)) s"
check "no pod stuck Pending" bash -c '[ -z "$(kubectl get pods --field-selector=status.phase!=Running --no-headers 2>/dev/null)" ]'
restarts=$(metric turbokube_agent_watch_restarts_total 10264)
relists=$(metric turbokube_agent_watch_relists_total 10264)
echo "agent watch restarts=$restarts relists=$relists"
check "the agent's watches resumed" test "$((${restarts:-0} + ${relists:-0}))" -ge 1
it_finish
