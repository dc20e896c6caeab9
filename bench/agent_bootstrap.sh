#!/usr/bin/env bash
# bench/agent_bootstrap.sh: how long NODES kubelet-mode nodes take to obtain their client
# certificates by TLS bootstrap against the local control plane (bootstrap token, one CSR per
# node, auto-approved by kube-controller-manager's csrapproving controller and signed by its
# csrsigning controller), for each --bootstrap-concurrency in CONCURRENCY; then a restart that
# reuses them from --cert-dir.
#
# Reports per run: seconds until every node has its certificate (the agent's "node
# certificates ready" line), CSRs per second, the longest single wait, seconds until every node
# is Ready; the apiserver's count of SubjectAccessReviews and CSR approval/status updates (what
# the controller-manager spends per CSR) and the controller-manager's client-side rate-limiter
# wait over the run.
#
# usage: NODES=200 CONCURRENCY="8 32 128" bench/agent_bootstrap.sh
# env:   TK_BUILD (default build), OUT (results file)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${TK_BUILD:-$ROOT/build}
NODES=${NODES:-200}
CONCURRENCY=${CONCURRENCY:-32}
OUT=${OUT:-$ROOT/bench/results/agent_bootstrap-$(date +%Y%m%d-%H%M%S).txt}
TK=$BUILD/turbokube
AGENT=$BUILD/turbokube-agent
name=agentbs-bench-$$
work=$(mktemp -d /tmp/tk-bench.XXXXXX)
agent_pid=

cleanup() {
    [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
    "$TK" cluster down --name "$name" -q >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
say() { echo "$(date +%H:%M:%S) $*" >&2; }

say "cluster up ($name)"
"$TK" cluster up --name "$name" -q --timeout 120s
eval "$("$TK" cluster env --name "$name")"
server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
pki=$TURBOKUBE_CLUSTER_DIR/pki
kcm_port=$("$TK" cluster status --name "$name" -o json |
    jq -r '.components[] | select(.name == "kube-controller-manager") | .port')

# A bootstrap token and kubeadm's RBAC for TLS bootstrap (auto-approval of node client CSRs).
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Secret
metadata: {name: bootstrap-token-tkbnch, namespace: kube-system}
type: bootstrap.kubernetes.io/token
stringData: {token-id: tkbnch, token-secret: 0123456789abcdef, usage-bootstrap-authentication: "true", auth-extra-groups: "system:bootstrappers:turbokube"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: turbokube:kubelet-bootstrap}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:node-bootstrapper}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: system:bootstrappers}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: turbokube:node-autoapprove-bootstrap}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:certificates.k8s.io:certificatesigningrequests:nodeclient}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: system:bootstrappers:turbokube}]
EOF
bs=$work/bootstrap.kubeconfig
kubectl config --kubeconfig "$bs" set-cluster c --server "$server" --certificate-authority "$pki/ca.crt" --embed-certs >/dev/null
kubectl config --kubeconfig "$bs" set-credentials b --token tkbnch.0123456789abcdef >/dev/null
kubectl config --kubeconfig "$bs" set-context c --cluster c --user b >/dev/null
kubectl config --kubeconfig "$bs" use-context c >/dev/null

# api_count RESOURCE SUBRESOURCE VERB: the apiserver's request count so far
api_count() {
    kubectl get --raw /metrics | awk -v r="resource=\"$1\"" -v s="subresource=\"$2\"" -v v="verb=\"$3\"" \
        '/^apiserver_request_total\{/ && index($0, r) && index($0, s) && index($0, v) {n += $NF} END {print n + 0}'
}
# the controller-manager's client-side rate-limiter wait so far, seconds (all verbs)
kcm_wait() {
    curl -sk --cert "$pki/admin.crt" --key "$pki/admin.key" -H 'Accept: text/plain' \
        "https://127.0.0.1:$kcm_port/metrics" |
        awk '/^rest_client_rate_limiter_duration_seconds_sum/ {s += $NF} END {printf "%.1f", s}'
}
ready_count() { kubectl get nodes --no-headers 2>/dev/null | awk -v p="$1" 'index($1, p) == 1 && $2 == "Ready"' | wc -l; }

# run PREFIX CONCURRENCY CERTDIR: one agent until its nodes are Ready; prints a result line
run() {
    local prefix=$1 conc=$2 dir=$3 log=$work/agent-$1.log t0 sar0 app0 st0 w0 line secs maxw t_ready
    sar0=$(api_count subjectaccessreviews "" POST)
    app0=$(api_count certificatesigningrequests approval PUT)
    st0=$(api_count certificatesigningrequests status PUT)
    w0=$(kcm_wait)
    t0=$(date +%s.%N)
    "$AGENT" --fidelity kubelet --bootstrap-kubeconfig "$bs" --cert-dir "$dir" --nodes "$NODES" \
        --name-prefix "$prefix" --bootstrap-concurrency "$conc" --metrics-addr off \
        --kubelet-addr off >"$log" 2>&1 &
    agent_pid=$!
    until line=$(grep -m1 'node certificates ready' "$log"); do
        kill -0 "$agent_pid" 2>/dev/null || { tail "$log" >&2; exit 1; }
        sleep 0.2
    done
    until [ "$(ready_count "$prefix")" -ge "$NODES" ]; do sleep 0.5; done
    t_ready=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {printf "%.1f", a - b}')
    kill "$agent_pid"
    wait "$agent_pid" 2>/dev/null || true
    agent_pid=
    secs=$(sed -n 's/.* seconds=\([0-9.]*\) .*/\1/p' <<<"$line")
    maxw=$(sed -n 's/.*max_wait_seconds=\([0-9.]*\).*/\1/p' <<<"$line")
    printf '%-9s %-11s %6s s %8s %9s s %10s s %5s %5s %5s %8s s\n' "$conc" \
        "$(sed -n 's/.*\(issued=[0-9]*\) \(cached=[0-9]*\).*/\1,\2/p' <<<"$line" | tr -d a-z=)" \
        "$secs" "$(awk -v n="$NODES" -v s="$secs" 'BEGIN {printf "%.1f/s", (s > 0 ? n / s : 0)}')" \
        "$maxw" "$t_ready" \
        "$(($(api_count subjectaccessreviews "" POST) - sar0))" \
        "$(($(api_count certificatesigningrequests approval PUT) - app0))" \
        "$(($(api_count certificatesigningrequests status PUT) - st0))" \
        "$(awk -v a="$(kcm_wait)" -v b="$w0" 'BEGIN {printf "%.1f", a - b}')"
}

{
    echo "TLS bootstrap of $NODES kubelet-mode nodes, local control plane ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
    echo "kube-controller-manager defaults: --kube-api-qps 20 per controller client (--use-service-account-credentials)"
    printf '%-9s %-11s %8s %8s %11s %12s %5s %5s %5s %10s\n' concurr. "csr,cache" "certs in" rate "max wait" "all Ready" SAR appr sign "kcm wait"
} | tee "$work/result.txt"
i=0
for c in $CONCURRENCY; do
    i=$((i + 1))
    say "run $i: $NODES nodes, --bootstrap-concurrency $c"
    run "bsb$i-" "$c" "$work/certs$i" | tee -a "$work/result.txt"
done
say "restart of run 1 with its --cert-dir"
run "bsb1-" "${CONCURRENCY%% *}" "$work/certs1" | sed 's/^/(restart) /' | tee -a "$work/result.txt"
mkdir -p "$(dirname "$OUT")"
cp "$work/result.txt" "$OUT"
say "results in $OUT"
