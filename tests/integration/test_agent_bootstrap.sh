#!/usr/bin/env bash
# kubelet fidelity mode with TLS bootstrap, against the real local control plane: the agent is
# given only a bootstrap kubeconfig (server, CA, bootstrap token) and obtains each node's
# identity as a kubelet does -- a CSR per node with signer
# kubernetes.io/kube-apiserver-client-kubelet, approved by kube-controller-manager's
# csrapproving controller (kubeadm's RBAC for TLS bootstrap) and signed by its csrsigning
# controller -- then runs the nodes with those certificates. A restart with --cert-dir reuses
# them; a bad token, an unapproved CSR and a denied CSR each fail fast with a clear message.
source "$(dirname "$0")/test_agent_common.bash"

name=$(it_name agentbs)
cluster_up_env "$name"
server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
ca=$TURBOKUBE_CLUSTER_DIR/pki/ca.crt
d=$TURBOKUBE_HOME/bs
mkdir -p "$d"

# Two bootstrap tokens; the "manual" token's CSRs wait for an admin (lib.sh: it_bootstrap_*).
{
    it_bootstrap_token tkbs01 0123456789abcdef system:bootstrappers:turbokube
    it_bootstrap_token tkbs02 fedcba9876543210 system:bootstrappers:manual
    it_bootstrap_rbac system:bootstrappers:turbokube
} >"$d/rbac.yaml"
check "bootstrap tokens and TLS bootstrap RBAC created" kubectl apply -f "$d/rbac.yaml" -o name

# A bootstrap kubeconfig holds the server, its CA and the token: nothing else.
bs_kubeconfig() { it_bootstrap_kubeconfig "$1" "$server" "$ca" "$2"; }
bs_kubeconfig "$d/good.kubeconfig" tkbs01.0123456789abcdef
bs_kubeconfig "$d/manual.kubeconfig" tkbs02.fedcba9876543210
bs_kubeconfig "$d/bad.kubeconfig" tkbs01.ffffffffffffffff
out=$(kubectl --kubeconfig "$d/good.kubeconfig" create -f - 2>&1 <<<'{"apiVersion":"v1","kind":"Node","metadata":{"name":"agentbs-intruder"}}' || true)
check "the bootstrap token alone may not create a Node" grep -q Forbidden <<<"$out"

csrs_of() { kubectl get csr -o json | jq --arg u "system:bootstrap:$1" '[.items[] | select(.spec.username == $u)]'; }
# count JQ_FILTER: how many of $csrs pass the filter
count() { jq "[.[] | select($1)] | length" <<<"$csrs"; }

# ---- failures: fast, and saying what is missing -----------------------------------------------
run_agent_fg() { # SECONDS ARGS...: runs the agent in the foreground; sets out and rc
    local t=$1
    shift
    rc=0
    out=$(timeout "$t" "$AGENT" --fidelity kubelet --metrics-addr off --kubelet-addr off "$@" 2>&1) || rc=$?
}
# Fast means without retrying until --bootstrap-timeout: an agent still retrying at 30 s is
# killed by timeout (exit 124). How long it took is a figure, not a verdict (shared machine).
t0=$(date +%s)
run_agent_fg 30 --bootstrap-kubeconfig "$d/bad.kubeconfig" --nodes 3 --name-prefix agentbs-bad- \
    --bootstrap-timeout 60s
echo "  refused token: agent exited $rc after $(($(date +%s) - t0)) s"
check "a refused bootstrap token fails the agent (exit 1) before --bootstrap-timeout" [ "$rc" -eq 1 ]
says() { grep -q -- "$1" <<<"$out"; }
check "... saying the token was refused (401)" says "bootstrap token refused (401 Unauthorized)"
check "... and what to check" says "enable-bootstrap-token-auth"
check "... and no node was created" [ -z "$(kubectl get nodes --no-headers 2>/dev/null | grep agentbs-bad- || true)" ]

run_agent_fg 30 --bootstrap-kubeconfig "$d/manual.kubeconfig" --nodes 1 --name-prefix agentbs-wait- \
    --bootstrap-timeout 4s
check "a CSR nobody approves fails the agent after --bootstrap-timeout (exit 1)" [ "$rc" -eq 1 ]
check "... saying so" says "not approved in 4s"
check "... naming the csrapproving controller and certificatesigningrequests/nodeclient" \
    says "is the csrapproving controller running, and may group system:bootstrappers create certificatesigningrequests/nodeclient?"
csrs=$(csrs_of tkbs02)
check "... its CSR is there, pending, from system:bootstrap:tkbs02" [ "$(count '.status.conditions == null')" -ge 1 ]

agent_start deny --fidelity kubelet --bootstrap-kubeconfig "$d/manual.kubeconfig" --nodes 1 \
    --name-prefix agentbs-deny- --metrics-addr off --kubelet-addr off
deny_pid=$AGENT_PID
deny_pending() {
    local n
    for n in $(csrs_of tkbs02 | jq -r '.[] | select(.status.conditions == null) | .metadata.name'); do
        kubectl certificate deny "$n" >/dev/null 2>&1 || true
    done
    ! kill -0 "$deny_pid" 2>/dev/null
}
check "a denied CSR stops the agent" wait_until 20 deny_pending
rc=0
wait "$deny_pid" || rc=$?
out=$(cat "$TURBOKUBE_HOME/agent-deny.log")
check "... with exit 1" [ "$rc" -eq 1 ]
check "... saying it was denied, and why" says "was denied (KubectlDeny"

# ---- 20 nodes by TLS bootstrap ----------------------------------------------------------------
N=20
agent_args=(--fidelity kubelet --bootstrap-kubeconfig "$d/good.kubeconfig" --cert-dir "$d/certs"
    --nodes "$N" --name-prefix agentbs-n- --metrics-addr 127.0.0.1:10294 --kubelet-addr off
    --bootstrap-concurrency 8)
agent_start main "${agent_args[@]}"
check "$N nodes Ready with bootstrapped identities" wait_until 60 all_nodes_ready agentbs-n- "$N"
csrs=$(csrs_of tkbs01)
check "$N CSRs from system:bootstrap:tkbs01" [ "$(jq length <<<"$csrs")" -eq "$N" ]
check "... each Approved (AutoApproved) and Issued" [ "$(count '(.status.conditions // []) | any(.type == "Approved" and .reason == "AutoApproved")) | select(.status.certificate != null')" -eq "$N" ]
check "... with signer kubernetes.io/kube-apiserver-client-kubelet and usages [digital signature, client auth]" \
    [ "$(count '.spec.signerName == "kubernetes.io/kube-apiserver-client-kubelet" and .spec.usages == ["digital signature", "client auth"]')" -eq "$N" ]
check "... named node-csr-<digest>, in groups system:bootstrappers and system:bootstrappers:turbokube" \
    [ "$(count '(.metadata.name | test("^node-csr-[A-Za-z0-9_-]{43}$")) and (.spec.groups | index("system:bootstrappers")) and (.spec.groups | index("system:bootstrappers:turbokube"))')" -eq "$N" ]

# Every CSR asks for one of our nodes, each node once; the certificate the agent keeps (and
# uses: the token cannot register nodes) is the one the signer issued.
cns=$(for b in $(jq -r '.[].status.certificate' <<<"$csrs"); do
    base64 -d <<<"$b" >"$d/issued.pem"
    subj=$(openssl x509 -in "$d/issued.pem" -noout -subject -nameopt RFC2253)
    echo "$subj"
    node=${subj#subject=CN=system:node:}
    node=${node%,O=system:nodes}
    f=$d/certs/kubelet-client-$node.pem
    { [ -f "$f" ] && [ "$(stat -c %a "$f")" = 600 ] &&
        [ "$(openssl x509 -in "$d/issued.pem" -outform DER | sha256sum)" = "$(openssl x509 -in "$f" -outform DER | sha256sum)" ]; } ||
        echo "mismatch $node"
done | sort)
want=$(for i in $(seq 0 $((N - 1))); do printf 'subject=CN=system:node:agentbs-n-%05d,O=system:nodes\n' "$i"; done | sort)
check "each node got exactly one certificate, for CN system:node:NAME, O system:nodes" [ "$cns" = "$want" ]
check "--cert-dir holds each node's issued certificate (0600)" [ -z "$(grep mismatch <<<"$cns" || true)" ]
req_ok=1
for b in $(jq -r '.[].spec.request' <<<"$csrs"); do
    base64 -d <<<"$b" | openssl req -noout -verify 2>&1 | grep -q "verify OK" || req_ok=0
    base64 -d <<<"$b" | openssl req -noout -text | grep -q "ASN1 OID: prime256v1" || req_ok=0
done
check "every CSR verifies with OpenSSL and carries a P-256 key" [ "$req_ok" = 1 ]

# The issued identity is a node identity: the Node authorizer and NodeRestriction apply.
f0=$d/certs/kubelet-client-agentbs-n-00000.pem
as_node() { kubectl --kubeconfig /dev/null --server "$server" --certificate-authority "$ca" \
    --client-certificate "$f0" --client-key "$f0" "$@"; }
check "node 0's issued identity reads its own Node" as_node get node agentbs-n-00000 -o name
check "... may label its own Node" as_node label node agentbs-n-00000 turbokube.io/probe=1 --overwrite
out=$(as_node label node agentbs-n-00001 turbokube.io/probe=1 --overwrite 2>&1 || true)
check "... is refused node 1's Node (NodeRestriction)" grep -q Forbidden <<<"$out"
out=$(as_node patch lease agentbs-n-00001 -n kube-node-lease --type merge -p '{"spec":{"holderIdentity":"x"}}' 2>&1 || true)
check "... is refused node 1's Lease (Node authorizer)" grep -q Forbidden <<<"$out"

renew() { kubectl get lease -n kube-node-lease "$1" -o jsonpath='{.spec.renewTime}'; }
renewed() { [ "$(renew "$1")" != "$2" ]; }
r0=$(renew agentbs-n-00007)
check "leases renew" wait_until 25 renewed agentbs-n-00007 "$r0"
from_csr() { curl -s 127.0.0.1:10294/metrics | awk '$1 == "turbokube_agent_bootstrap_identities_total{source=\"csr\"}" {print $2}'; }
check "metrics: $N identities by CSR" [ "$(from_csr)" = "$N" ]
check "metrics: none pending" [ "$(metric turbokube_agent_bootstrap_pending 10294)" = 0 ]

# ---- restart: the certificates in --cert-dir are reused, no new CSR ----------------------------
kill "$AGENT_PID"
wait "$AGENT_PID" || true
agent_start restart "${agent_args[@]}"
check "after a restart the agent reuses all $N certificates" wait_until 20 \
    grep -q "node certificates ready.*issued=0 cached=$N" "$TURBOKUBE_HOME/agent-restart.log"
check "... and sends no new CSR" [ "$(csrs_of tkbs01 | jq length)" -eq "$N" -a "$(metric turbokube_agent_bootstrap_csrs_total 10294)" = 0 ]
r1=$(renew agentbs-n-00003)
check "... its nodes renew their leases with the reused identities" wait_until 25 renewed agentbs-n-00003 "$r1"
check "... all $N still Ready" all_nodes_ready agentbs-n- "$N"

rc=0
out=$("$AGENT" --fidelity kubelet --bootstrap-kubeconfig "$d/good.kubeconfig" --cleanup 2>&1) || rc=$?
check "a usage error exits 2 (--cleanup cannot work with a bootstrap token)" [ "$rc" -eq 2 ]
check "... with a message" says "may delete Nodes"
it_finish
