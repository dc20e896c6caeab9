# shellcheck shell=bash
# Helpers for integration tests: each test sources this, names its clusters with it_name,
# and every cluster it brings up is taken down by the EXIT trap, pass or fail.
set -euo pipefail

: "${TK_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${TK_BUILD:=$TK_ROOT/build}"
TK=$TK_BUILD/turbokube
export TURBOKUBE_HOME=${TURBOKUBE_HOME:-$(mktemp -d /tmp/tk-it-home.XXXXXX)}
mkdir -p "$TURBOKUBE_HOME"
# it_name is called in $(...), whose additions to it_clusters die with the subshell: the
# names also go to this file, which the EXIT trap reads.
it_names_file=$TURBOKUBE_HOME/.it-clusters
it_clusters=()
it_failed=0
it_checks=0

it_cleanup() {
    local c names=("${it_clusters[@]}")
    [ -f "$it_names_file" ] && mapfile -t -O "${#names[@]}" names <"$it_names_file"
    for c in $(printf '%s\n' "${names[@]}" | sort -u); do
        "$TK" cluster down --name "$c" >/dev/null 2>&1 || true
    done
    [ -n "${it_extra_cleanup:-}" ] && eval "$it_extra_cleanup"
    case $TURBOKUBE_HOME in /tmp/tk-it-home.*) rm -rf "$TURBOKUBE_HOME" ;; esac
}
trap it_cleanup EXIT

it_name() {
    local n="it-$1-$$"
    it_clusters+=("$n")
    echo "$n" >>"$it_names_file"
    echo "$n"
}

ok() { it_checks=$((it_checks + 1)); echo "ok   $*"; }
fail() { it_checks=$((it_checks + 1)); it_failed=$((it_failed + 1)); echo "FAIL $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }

# Processes carrying a cluster's owner marker (the cluster directory).
marked_pids() {
    local dir=$1 p
    for p in /proc/[0-9]*; do
        tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qxF "TURBOKUBE_OWNER=$dir" && echo "${p#/proc/}"
    done
    return 0
}

# cgroup directories a cluster left (its groups live under .../turbokube/NAME in each hierarchy).
cgroups_left() { find /sys/fs/cgroup -mindepth 2 -maxdepth 6 -type d -path "*/turbokube/$1" 2>/dev/null; }

port_listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q LISTEN; }
port_free() { ! port_listening "$1"; }

# check_nothing_left NAME DIR PORT...: after `cluster down`, the checks every cluster test
# makes: no process carries DIR's owner marker, every PORT is free, DIR and NAME's cgroups
# are gone.
check_nothing_left() {
    local name=$1 dir=$2 p
    shift 2
    check "no process left" test -z "$(marked_pids "$dir")"
    for p in "$@"; do
        check "port $p free" port_free "$p"
    done
    check "cluster directory removed" test ! -e "$dir"
    check "no cgroup left" test -z "$(cgroups_left "$name")"
}

# TLS bootstrap as kubeadm sets it up: a bootstrap token (`kubeadm token create`), and the RBAC
# for it: every bootstrapper may create CSRs, GROUP's are auto-approved, and nodes may renew
# their own (selfnodeclient). Each prints YAML for kubectl apply.
it_bootstrap_token() { # ID SECRET GROUP
    cat <<EOF
apiVersion: v1
kind: Secret
metadata: {name: bootstrap-token-$1, namespace: kube-system}
type: bootstrap.kubernetes.io/token
stringData: {token-id: $1, token-secret: $2, usage-bootstrap-authentication: "true", auth-extra-groups: "$3"}
---
EOF
}
it_bootstrap_binding() { # NAME CLUSTERROLE GROUP
    cat <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "$1"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "$2"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "$3"}]
---
EOF
}
it_bootstrap_rbac() { # AUTO-APPROVED-GROUP
    it_bootstrap_binding turbokube:kubelet-bootstrap system:node-bootstrapper system:bootstrappers
    it_bootstrap_binding turbokube:node-autoapprove-bootstrap \
        system:certificates.k8s.io:certificatesigningrequests:nodeclient "$1"
    it_bootstrap_binding turbokube:node-autoapprove-certificate-rotation \
        system:certificates.k8s.io:certificatesigningrequests:selfnodeclient system:nodes
}
# A bootstrap kubeconfig: the server, its CA and the token, nothing else.
it_bootstrap_kubeconfig() { # FILE SERVER CA TOKEN
    kubectl config --kubeconfig "$1" set-cluster c --server "$2" --certificate-authority "$3" --embed-certs >/dev/null
    kubectl config --kubeconfig "$1" set-credentials bootstrap --token "$4" >/dev/null
    kubectl config --kubeconfig "$1" set-context c --cluster c --user bootstrap >/dev/null
    kubectl config --kubeconfig "$1" use-context c >/dev/null
}

it_finish() {
    echo "$((it_checks - it_failed)) passed, $it_failed failed"
    [ "$it_failed" -eq 0 ]
}
