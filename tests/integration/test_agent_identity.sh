#!/usr/bin/env bash
# kubelet fidelity mode: every node authenticates as system:node:NAME with a certificate minted
# from the cluster CA, so the Node authorizer and NodeRestriction apply: a node identity may
# change its own Node but not another's. Pods run and get the kubelet's events.
source "$(dirname "$0")/test_agent_common.bash"

name=$(it_name agent-kubelet)
cluster_up_env "$name"
route=0
ensure_node_route && route=1
pki=$TURBOKUBE_CLUSTER_DIR/pki

agent_start kubelet --nodes 10 --fidelity kubelet --startup-latency 500ms \
    --metrics-addr 127.0.0.1:10263 --kubelet-port 10253
check "10 nodes Ready in kubelet mode" wait_until 90 all_nodes_ready tk-node- 10
check "10 leases" bash -c '[ "$(kubectl get leases -n kube-node-lease --no-headers | grep -c tk-node-)" -eq 10 ]'
check "node events: Starting and NodeReady" bash -c 'kubectl get events --field-selector involvedObject.name=tk-node-00002 -o json | jq -e "[.items[].reason] | index(\"Starting\") and index(\"NodeReady\")" >/dev/null'

kubectl create deployment web --image=nginx --replicas=20 >/dev/null
check "20 pods ready" wait_until 120 deploy_ready web 20
pod=$(kubectl get pods -l app=web -o jsonpath='{.items[0].metadata.name}')
check "kubelet events Pulling, Pulled, Created, Started" bash -c "kubectl get events --field-selector involvedObject.name=$pod -o json | jq -e '[.items[].reason] as \$r | [\"Pulling\",\"Pulled\",\"Created\",\"Started\"] | all(. as \$x | \$r | index(\$x))' >/dev/null"
check "per-node pod watches: each node's pods reported by it" bash -c '[ "$(kubectl get pods -l app=web -o json | jq "[.items[] | select(.status.hostIP != null)] | length")" -eq 20 ]'
[ "$route" = 1 ] && check "kubectl logs in kubelet mode" bash -c "kubectl logs $pod --tail=2 | grep -q 'turbokube fake log'"

# A node identity like the agent's: CN system:node:tk-node-00000, O system:nodes.
d=$TURBOKUBE_HOME/node0
mkdir -p "$d"
openssl ecparam -name prime256v1 -genkey -noout -out "$d/key.pem" 2>/dev/null
openssl req -new -key "$d/key.pem" -subj "/O=system:nodes/CN=system:node:tk-node-00000" -out "$d/csr.pem" 2>/dev/null
openssl x509 -req -in "$d/csr.pem" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 1 \
    -extfile <(printf 'extendedKeyUsage=clientAuth\n') -out "$d/cert.pem" 2>/dev/null
as_node() { kubectl --kubeconfig /dev/null --server "$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')" \
    --certificate-authority "$pki/ca.crt" --client-certificate "$d/cert.pem" --client-key "$d/key.pem" "$@"; }
check "a node identity reads its own Node" as_node get node tk-node-00000
check "... may label its own Node" as_node label node tk-node-00000 turbokube.io/probe=1 --overwrite
out=$(as_node label node tk-node-00001 turbokube.io/probe=1 --overwrite 2>&1 || true)
check "... is refused another node's Node (NodeRestriction)" grep -q Forbidden <<<"$out"
out=$(as_node patch lease tk-node-00001 -n kube-node-lease --type merge -p '{"spec":{"holderIdentity":"x"}}' 2>&1 || true)
check "... is refused another node's Lease (Node authorizer)" grep -q Forbidden <<<"$out"

# The agent's own nodes are node identities too: NodeRestriction refuses a kubelet that sets
# a node-restriction.kubernetes.io/ label on its Node, which an admin could do.
agent_start restricted --nodes 1 --fidelity kubelet --name-prefix restricted- --index-start 500 \
    --labels node-restriction.kubernetes.io/team=a --metrics-addr off --kubelet-addr off
sleep 8
check "a kubelet-mode node may not set a node-restriction label (registration refused)" \
    bash -c '! kubectl get node restricted-00500 && grep -q "403" "$TURBOKUBE_HOME/agent-restricted.log"'
it_finish
