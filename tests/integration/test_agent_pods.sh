#!/usr/bin/env bash
# Pods on fake nodes against the real control plane: a 600-replica Deployment becomes ready
# with every condition, a unique address inside its node's range and a Started event; scale
# to 0 and namespace deletion finish; a 20-pod Job completes after its run duration; a pod
# beyond a node's capacity stays Pending; `kubectl logs` returns the synthetic lines.
source "$(dirname "$0")/test_agent_common.bash"

name=$(it_name agent-pods)
cluster_up_env "$name"
route=0
ensure_node_route && route=1

agent_start pods --nodes 40 --startup-latency uniform:200ms-1s --run-duration 5s \
    --metrics-addr 127.0.0.1:10262 --kubelet-port 10252
# a small node that only tolerating pods may use: capacity 2 pods; its starts on a 1 s grid, its
# pod work over h2 on a connection of its own read at the grid's steps
agent_start small --nodes 1 --name-prefix small- --index-start 1000 --capacity pods=2 \
    --taints dedicated=small:NoSchedule --metrics-addr off --kubelet-addr off --start-grid 1s \
    --api-transport h2
check "41 nodes Ready" wait_until 90 bash -c '[ "$(kubectl get nodes --no-headers | awk "\$2==\"Ready\"" | wc -l)" -eq 41 ]'

kubectl create deployment web --image=nginx:1.25 --replicas=600 >/dev/null
check "Deployment of 600 reaches readyReplicas 600" wait_until 300 deploy_ready web 600

kubectl get pods -l app=web -o json >"$TURBOKUBE_HOME/pods.json"
kubectl get nodes -o json >"$TURBOKUBE_HOME/nodes.json"
kubectl get events --field-selector reason=Started -o json >"$TURBOKUBE_HOME/events.json"
check "every pod Running with the four conditions True, unique IPs in its node's range, a Started event" \
    python3 - "$TURBOKUBE_HOME" <<'PY'
import ipaddress, json, sys
d = sys.argv[1]
pods = json.load(open(d + "/pods.json"))["items"]
nodes = {n["metadata"]["name"]: n for n in json.load(open(d + "/nodes.json"))["items"]}
started = {e["involvedObject"]["uid"] for e in json.load(open(d + "/events.json"))["items"]
           if e.get("source", {}).get("component") == "kubelet"}
bad, ips = [], set()
for p in pods:
    n, st = p["metadata"]["name"], p["status"]
    conds = {c["type"]: c["status"] for c in st.get("conditions", [])}
    for t in ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled"):
        if conds.get(t) != "True":
            bad.append(f"{n}: {t}={conds.get(t)}")
    if st.get("phase") != "Running":
        bad.append(f"{n}: phase {st.get('phase')}")
    cs = st.get("containerStatuses", [{}])[0]
    if not (cs.get("ready") and cs.get("started") and cs.get("state", {}).get("running", {}).get("startedAt")):
        bad.append(f"{n}: container status {cs}")
    ip = st.get("podIP")
    if ip in ips:
        bad.append(f"{n}: duplicate IP {ip}")
    ips.add(ip)
    node = nodes[p["spec"]["nodeName"]]
    cidr = node["spec"].get("podCIDR")
    if cidr is None:  # the agent's own block: node index i -> 10.128.i.0/24
        idx = int(node["metadata"]["name"].split("-")[-1])
        cidr = f"{ipaddress.ip_address('10.128.0.0') + 256 * idx}/24"
    if ipaddress.ip_address(ip) not in ipaddress.ip_network(cidr):
        bad.append(f"{n}: IP {ip} outside {cidr}")
    if st.get("hostIP") != node["status"]["addresses"][0]["address"]:
        bad.append(f"{n}: hostIP {st.get('hostIP')}")
    if p["metadata"]["uid"] not in started:
        bad.append(f"{n}: no Started event")
print(f"{len(pods)} pods, {len(bad)} problems", *bad[:10], sep="\n")
sys.exit(1 if bad or len(pods) != 600 else 0)
PY

pod=$(kubectl get pods -l app=web -o jsonpath='{.items[0].metadata.name}')
if [ "$route" = 1 ]; then
    check "kubectl logs returns the synthetic lines" bash -c "kubectl logs $pod --tail=3 | grep -c 'turbokube fake log default/$pod/nginx line=' | grep -qx 3"
    check "kubectl logs -f streams new lines" bash -c "timeout 4 kubectl logs -f $pod --tail=1 | wc -l | awk '{exit !(\$1 >= 3)}'"
fi

kubectl scale deployment web --replicas=0 >/dev/null
check "scaling to 0 removes every pod" wait_until 240 no_pods

kubectl create namespace doomed >/dev/null
kubectl create deployment tmp -n doomed --image=nginx --replicas=30 >/dev/null
check "30 pods ready in a namespace" wait_until 120 deploy_ready tmp 30 doomed
kubectl delete namespace doomed --wait=false >/dev/null
check "the namespace with pods deletes completely" wait_until 180 bash -c '! kubectl get namespace doomed'

cat <<'YAML' | kubectl apply -f - >/dev/null
apiVersion: batch/v1
kind: Job
metadata: {name: batch}
spec:
  completions: 20
  parallelism: 20
  template:
    spec:
      restartPolicy: Never
      containers: [{name: work, image: busybox}]
YAML
t0=$(date +%s)
check "a Job of 20 pods completes" wait_until 120 bash -c '[ "$(kubectl get job batch -o jsonpath="{.status.succeeded}")" = 20 ]'
t1=$(date +%s)
check "... after the 5 s run duration ($((t1 - t0)) s)" test $((t1 - t0)) -ge 5
check "its pods are Succeeded with exit 0" bash -c '[ "$(kubectl get pods -l job-name=batch -o json | jq "[.items[] | select(.status.phase==\"Succeeded\" and .status.containerStatuses[0].state.terminated.exitCode==0)] | length")" -eq 20 ]'

for i in 1 2 3; do
    cat <<YAML | kubectl apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: small-$i}
spec:
  nodeSelector: {kubernetes.io/hostname: small-01000}
  tolerations: [{key: dedicated, operator: Equal, value: small, effect: NoSchedule}]
  containers: [{name: c, image: pause}]
YAML
done
check "two pods fit the 2-pod node" wait_until 60 bash -c '[ "$(kubectl get pods -o json | jq "[.items[] | select(.metadata.name | startswith(\"small-\")) | select(.status.phase==\"Running\")] | length")" -eq 2 ]'
sleep 5
check "the third stays Pending, Unschedulable" bash -c '[ "$(kubectl get pods -o json | jq -r "[.items[] | select(.metadata.name | startswith(\"small-\")) | select(.status.phase==\"Pending\") | .status.conditions[0].reason] | join(\",\")")" = Unschedulable ]'
running=$(kubectl get pods -o json | jq -r '[.items[] | select(.metadata.name | startswith("small-")) | select(.status.phase=="Running") | .metadata.name][0]')
pending=$(kubectl get pods -o json | jq -r '[.items[] | select(.metadata.name | startswith("small-")) | select(.status.phase=="Pending") | .metadata.name][0]')
kubectl delete pod "$running" --wait=false >/dev/null
check "a deleted small pod goes ($running), and the Pending one then runs ($pending)" \
    wait_until 60 bash -c "! kubectl get pod $running >/dev/null 2>&1 && [ \"\$(kubectl get pod $pending -o jsonpath={.status.phase})\" = Running ]"
it_finish
