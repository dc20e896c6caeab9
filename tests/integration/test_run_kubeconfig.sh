#!/usr/bin/env bash
# provider kubeconfig: turbokube run against a cluster it did not create. A local control plane
# (`turbokube cluster up`) stands in for the user's existing cluster; the run attaches through
# its admin kubeconfig, runs the agents here, scrapes the apiserver through the kubeconfig and
# etcd at controlPlane.etcdMetrics, records what it cannot measure, and afterwards the cluster
# is still up with nothing of the run left in it: after a clean run (resumed after a SIGKILL,
# whose leftovers it clears first), with kubelet-fidelity nodes that get their identities by TLS
# bootstrap, and after a SIGTERM mid-load. Bad input: an
# unreachable and an invalid kubeconfig, and a namespace in the load's way, fail their cells
# early with the reason, touching nothing.
source "$(dirname "$0")/lib.sh"

work=$(mktemp -d /tmp/tk-it-prov.XXXXXX)
it_extra_cleanup="rm -rf '$work'"
standin=provtest-$$
it_clusters+=("$standin")
"$TK" cluster up --name "$standin" >"$work/up.out" 2>&1 || { cat "$work/up.out"; exit 1; }
eval "$("$TK" cluster env --name "$standin")" # KUBECONFIG, and PATH with the pinned kubectl
sdir=$TURBOKUBE_HOME/clusters/$standin
etcd_metrics_port=$(jq -r '.components[] | select(.name == "etcd") | .metrics_port' "$sdir/cluster.json")
cp "$KUBECONFIG" "$work/kubeconfig" # certificates by absolute path: the copy works anywhere

cat >"$work/prov.yaml" <<EOF
name: it-prov
controlPlane:
  provider: kubeconfig
  kubeconfig: kubeconfig              # relative: beside this file
  etcdMetrics: http://127.0.0.1:$etcd_metrics_port/metrics
agents:
  nodes: 16
  nodesPerAgent: 8
  podStartup: {distribution: fixed, value: 1100ms}
load: {shape: node-density, podsPerNode: 5, qps: 20, timeout: 2m}
measurement: {scrapeInterval: 2s}
EOF
id=$("$TK" plan --output json "$work/prov.yaml" | jq -r '.cells[0].id')
cdir=$TURBOKUBE_HOME/clusters/tk-$id
it_clusters+=("tk-$id")
db=$work/results/prov.db

# what the run may leave: nothing of these
leftovers() {
    local nodes leases ns events
    nodes=$(kubectl get nodes -l turbokube.io/fake=true -o name | wc -l)
    leases=$(kubectl get leases -n kube-node-lease -o name | grep -c tk-node- || true)
    ns=$(kubectl get ns -l kube-burner.io/uuid -o name | wc -l)
    events=$(kubectl get events -A --field-selector involvedObject.kind=Node -o name | wc -l)
    echo "nodes=$nodes leases=$leases namespaces=$ns node-events=$events"
}
clean="nodes=0 leases=0 namespaces=0 node-events=0"
check "the stand-in cluster starts clean" test "$(leftovers)" = "$clean"

# A run killed outright (SIGKILL, no teardown) leaves its agents, kube-burner and their
# objects behind; the resumed run clears them before its cell starts again.
"$TK" run --db "$db" "$work/prov.yaml" >"$work/killed.out" 2>"$work/killed.err" &
runpid=$!
deadline=$(($(date +%s) + 60))
until [ "$(kubectl get pods -n node-density -o name 2>/dev/null | wc -l)" -ge 10 ] ||
    ! kill -0 "$runpid" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; do sleep 0.5; done
kill -KILL "$runpid"
wait "$runpid" 2>/dev/null || true
check "the killed run left its objects behind" test "$(leftovers)" != "$clean"
check "... and its processes" test -n "$(marked_pids "$cdir")"

t0=$(date +%s)
set +e
(cd / && "$TK" run --resume --db "$db" "$work/prov.yaml" >"$work/run.out" 2>"$work/run.err")
rc=$?
set -e
echo "run: ${rc} in $(($(date +%s) - t0))s"
grep -v "^cell 1/1" "$work/run.err" | tail -8
check "run exits 0" test "$rc" -eq 0
check "the resumed run cleared the killed one's leftovers first" grep -q "before the cell: deleted [1-9][0-9]* object(s)" "$work/run.err"
check "it says where it attached" grep -q "attached to https://127.0.0.1:.* (v1\.[0-9]*\.[0-9]*, kubeconfig $work/kubeconfig)" "$work/run.err"
check "it says nothing is left" grep -q "nothing of the cell is left in the cluster" "$work/run.err"
q() { sqlite3 -batch -noheader "$db" "$1"; }
row=$(q "SELECT id FROM cells WHERE cell_id='$id'")
check "the cell is complete" test "$(q "SELECT status FROM cells WHERE id=$row")" = complete
check "parameters: provider kubeconfig, the kubeconfig resolved beside the file" \
    test "$(q "SELECT json_extract(params,'\$.controlPlane.provider') || ' ' || json_extract(params,'\$.controlPlane.kubeconfig') FROM cells WHERE id=$row")" = "kubeconfig $work/kubeconfig"
check "parameters: no size, topology or datastore (local-only, refused)" \
    test "$(q "SELECT count(*) FROM json_each((SELECT json_extract(params,'\$.controlPlane') FROM cells WHERE id=$row)) WHERE key IN ('hosts','placement','datastore','etcdMembers','latency','kubernetesVersion','apiserverArgs')")" = 0
check "POST pods latency: p99 >= p50 > 0" \
    test "$(q "SELECT p50 > 0 AND p99 >= p50 FROM latency_summaries WHERE cell=$row AND source='apiserver' AND metric='apiserver_request_sli_duration_seconds' AND verb='POST' AND resource='pods' AND subresource='' AND scope='resource'")" = 1
check "etcd scraped at etcdMetrics: WAL fsync summary" \
    test "$(q "SELECT count > 0 FROM latency_summaries WHERE cell=$row AND source='etcd' AND metric='etcd_disk_wal_fsync_duration_seconds'")" = 1
check "pod latency: Ready p99 recorded" \
    test "$(q "SELECT p99 > 0 FROM pod_latency WHERE cell=$row AND condition='Ready'")" = 1
check "agents' usage recorded (cpu > 0)" test "$(q "SELECT cpu_seconds > 0 FROM usage WHERE cell=$row AND component='agents'")" = 1
check "no usage invented for the remote control plane" \
    test "$(q "SELECT count(*) FROM usage WHERE cell=$row AND component IN ('apiserver','etcd','scheduler','controller-manager') OR (cell=$row AND component LIKE 'cgroup:%')")" = 0
check "what cannot be measured is recorded as such" \
    test "$(q "SELECT count(*) FROM samples WHERE cell=$row AND source='summary' AND metric='not_measured' AND labels IN ('component=\"apiserver\",what=\"usage\"','component=\"scheduler\",what=\"metrics\"','component=\"control-plane\",what=\"cgroup limits\"')")" = 3
check "the summary says what was not measured" grep -q "not measured: apiserver usage" "$work/run.out"
check "no cgroup limits recorded" test "$(q "SELECT count(*) FROM samples WHERE cell=$row AND source='cgroup'")" = 0
check "versions: the apiserver's from /version, etcd's from its metrics, no local binary's" \
    test "$(q "SELECT group_concat(component, ',') FROM (SELECT component FROM component_versions WHERE cell=$row ORDER BY component)")" = "etcd,kube-apiserver,kube-burner,turbokube"
check "the apiserver version is what /version says" \
    test "$(q "SELECT version FROM component_versions WHERE cell=$row AND component='kube-apiserver'")" = "$(kubectl get --raw /version | jq -r .gitVersion)"
check "host facts are the agents' host" test "$(q "SELECT host || ' ' || (cores > 0) FROM host_facts WHERE cell=$row")" = "agents 1"
check "nothing of the run left in the cluster" test "$(leftovers)" = "$clean"
check "the stand-in cluster is still up" "$TK" cluster status --name "$standin"
check "its apiserver is ready" test "$(kubectl get --raw /readyz)" = ok
check "no process of the cell left" test -z "$(marked_pids "$cdir")"
check "the cell's marker directory is gone" test ! -e "$cdir"
check "turbokube results shows the cell" bash -c "'$TK' results --db '$db' show '$id' | grep -q '$id'"

# fidelity kubelet against a cluster it did not create: no CA key, so each node obtains its
# identity by TLS bootstrap with controlPlane.bootstrapKubeconfig's token
{
    it_bootstrap_token tkrun1 0123456789abcdef system:bootstrappers:turbokube
    it_bootstrap_rbac system:bootstrappers:turbokube
} >"$work/bs-rbac.yaml"
kubectl apply -f "$work/bs-rbac.yaml" >/dev/null
it_bootstrap_kubeconfig "$work/bootstrap.kubeconfig" \
    "$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')" \
    "$sdir/pki/ca.crt" tkrun1.0123456789abcdef
# two cells, 2 then 4 nodes: the second reuses the first's 2 certificates (the run's --cert-dir)
sed -e 's/^  nodes: 16$/  nodes: [2, 4]/' -e 's/^  nodesPerAgent: 8$/  fidelity: kubelet/' \
    -e 's/^  kubeconfig: kubeconfig .*/  kubeconfig: kubeconfig\n  bootstrapKubeconfig: bootstrap.kubeconfig/' \
    -e 's/^name: it-prov$/name: it-prov-kubelet/' "$work/prov.yaml" >"$work/kubelet.yaml"
kid=$("$TK" plan --output json "$work/kubelet.yaml" | jq -r '.cells[0].id')
kid2=$("$TK" plan --output json "$work/kubelet.yaml" | jq -r '.cells[1].id')
it_clusters+=("tk-$kid" "tk-$kid2")
set +e
"$TK" run --db "$db" "$work/kubelet.yaml" >"$work/kubelet.out" 2>"$work/kubelet.err"
rc=$?
set -e
grep -v "^cell [0-9]/2" "$work/kubelet.err" | tail -6
check "kubelet fidelity by bootstrap token: run exits 0" test "$rc" -eq 0
check "... both cells are complete" test "$(q "SELECT group_concat(status) FROM cells WHERE cell_id IN ('$kid', '$kid2')")" = complete,complete
check "... its parameters name the bootstrap kubeconfig" \
    test "$(q "SELECT json_extract(params,'\$.controlPlane.bootstrapKubeconfig') || ' ' || json_extract(params,'\$.agents.fidelity') FROM cells WHERE cell_id='$kid'")" = "$work/bootstrap.kubeconfig kubelet"
csrs=$(kubectl get csr -o json | jq '[.items[] | select(.spec.username == "system:bootstrap:tkrun1" and .spec.signerName == "kubernetes.io/kube-apiserver-client-kubelet" and .status.certificate != null)] | length')
check "... the 4 nodes got their certificates by 4 CSRs the token sent, not 6 ($csrs)" test "$csrs" -eq 4
certs_made() { # CELL-ID ISSUED CACHED: what that cell's agent log says of its certificates
    cat "$work"/results/runs/prov/it-prov-kubelet-*/[0-9]*-"$1"/logs/agent-*.log |
        grep -q "node certificates ready.*issued=$2 cached=$3"
}
check "... the first cell issued 2 certificates" certs_made "$kid" 2 0
check "... the second reused those 2 and issued 2 more" certs_made "$kid2" 2 2
check "... kept where the run keeps its cells, owner-only" test "$(stat -c %a "$work"/results/runs/prov/it-prov-kubelet-*/node-certs/*)" = 700
check "... the pods ran in both: Ready p99 recorded" \
    test "$(q "SELECT count(*) FROM pod_latency p JOIN cells c ON c.id=p.cell WHERE c.cell_id IN ('$kid', '$kid2') AND condition='Ready' AND p99 > 0")" = 2
check "... and nothing of it is left in the cluster (the sweep deleted the nodes)" test "$(leftovers)" = "$clean"
kubectl delete -f "$work/bs-rbac.yaml" >/dev/null

# SIGTERM while kube-burner runs: its namespace is deleted by turbokube, the agents' nodes too
sed 's/podsPerNode: 5, qps: 20/podsPerNode: 10, qps: 4/' "$work/prov.yaml" >"$work/slow.yaml"
sid=$("$TK" plan --output json "$work/slow.yaml" | jq -r '.cells[0].id')
sdir_cell=$TURBOKUBE_HOME/clusters/tk-$sid
it_clusters+=("tk-$sid")
"$TK" run --db "$db" "$work/slow.yaml" >"$work/slow.out" 2>"$work/slow.err" &
runpid=$!
deadline=$(($(date +%s) + 60))
until [ "$(kubectl get pods -n node-density -o name 2>/dev/null | wc -l)" -ge 10 ] ||
    ! kill -0 "$runpid" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; do sleep 0.5; done
check "the load is under way before the signal" test "$(kubectl get pods -n node-density -o name | wc -l)" -ge 10
kill -TERM "$runpid"
set +e
timeout 120 tail --pid="$runpid" -f /dev/null
wait "$runpid"
rc=$?
set -e
grep -v "^cell 1/1" "$work/slow.err" | tail -4
check "interrupted run exits 1" test "$rc" -eq 1
check "the cell is aborted" test "$(q "SELECT status FROM cells WHERE cell_id='$sid'")" = aborted
check "nothing of the interrupted run left in the cluster" test "$(leftovers)" = "$clean"
check "no kube-burner namespace left" test -z "$(kubectl get ns node-density -o name --ignore-not-found)"
check "no process of the interrupted cell left" test -z "$(marked_pids "$sdir_cell")"
check "the stand-in survives the interruption" test "$(kubectl get --raw /readyz)" = ok

# bad input: each cell fails early with its reason and touches nothing
cat >"$work/garbage.kubeconfig" <<'EOF'
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", certificate-authority-data: "!!not base64!!"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
EOF
closed=1 # nothing listens on a privileged port nobody uses
cat >"$work/unreachable.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:$closed", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
EOF
cat >"$work/bad.yaml" <<EOF
name: it-prov-bad
controlPlane:
  - {provider: kubeconfig, kubeconfig: unreachable.kubeconfig}
  - {provider: kubeconfig, kubeconfig: garbage.kubeconfig}
  - {provider: kubeconfig, kubeconfig: kubeconfig}
agents: {nodes: 2}
load: {shape: node-density, podsPerNode: 1}
EOF
kubectl create namespace node-density >/dev/null # someone else's, in the load's way
t0=$(date +%s)
set +e
"$TK" run --db "$db" "$work/bad.yaml" >"$work/bad.out" 2>"$work/bad.err"
rc=$?
set -e
took=$(($(date +%s) - t0))
grep -v "^cell [0-9]/3" "$work/bad.err" | tail -8
echo "  bad cells: the run took ${took}s" # a figure: the machine is shared
check "bad cells: the run goes through, failed cells exit 1" test "$rc" -eq 1
reason() { q "SELECT status || ': ' || exit_reason FROM cells c JOIN experiments e ON e.id=c.experiment WHERE e.name='it-prov-bad' AND c.idx=$1"; }
echo "  $(reason 0)"
echo "  $(reason 1)"
echo "  $(reason 2)"
matches() { [[ $1 == $2 ]]; }
check "unreachable: failed, says it cannot reach the server" matches "$(reason 0)" "failed: bring-up: cannot reach https://127.0.0.1:$closed *"
check "invalid: failed, names the file and the field" matches "$(reason 1)" "failed: bring-up: *garbage.kubeconfig*certificate-authority-data*"
check "in the way: failed, names the namespace" matches "$(reason 2)" "failed: bring-up: namespace node-density exists already*"
check "bad cells started no agent" test "$(q "SELECT count(*) FROM usage u JOIN cells c ON c.id=u.cell JOIN experiments e ON e.id=c.experiment WHERE e.name='it-prov-bad' AND u.component='agents'")" = 0
check "the namespace in the way is untouched" test "$(kubectl get ns node-density -o jsonpath='{.status.phase}')" = Active
check "nothing of the bad cells left in the cluster" test "$(leftovers)" = "$clean"
kubectl delete namespace node-density --wait=false >/dev/null
printf 'name: x\ncontrolPlane: {provider: kubeconfig, kubeconfig: kubeconfig, hosts: [{name: cp, cpus: 2, memory: 4Gi}]}\n' >"$work/hosts.yaml"
set +e
"$TK" run --db "$db" "$work/hosts.yaml" >/dev/null 2>"$work/hosts.err"
rc=$?
set -e
check "a local-only parameter (hosts) is refused before anything starts" test "$rc" -ne 0
check "... with where and why" grep -q "hosts.yaml:2:.*controlPlane.hosts does not apply to provider kubeconfig" "$work/hosts.err"
check "... and no experiment recorded for it" test "$(q "SELECT count(*) FROM experiments WHERE name='x'")" = 0
# a bootstrap kubeconfig for another cluster fails the cell before any agent starts
cat >"$work/bs-other.yaml" <<EOF
name: it-prov-bs-other
controlPlane: {provider: kubeconfig, kubeconfig: kubeconfig, bootstrapKubeconfig: unreachable.kubeconfig}
agents: {nodes: 2, fidelity: kubelet}
load: {shape: node-density, podsPerNode: 1}
EOF
set +e
"$TK" run --db "$db" "$work/bs-other.yaml" >/dev/null 2>"$work/bs-other.err"
rc=$?
set -e
check "a bootstrap kubeconfig of another server: the cell fails (exit 1)" test "$rc" -eq 1
check "... at bring-up, naming both servers" \
    matches "$(q "SELECT status || ': ' || exit_reason FROM cells c JOIN experiments e ON e.id=c.experiment WHERE e.name='it-prov-bs-other'")" \
    "failed: bring-up: controlPlane.bootstrapKubeconfig *unreachable.kubeconfig names server https://127.0.0.1:$closed, but the run attached to https://127.0.0.1:*"
check "... and started no agent" test "$(q "SELECT count(*) FROM usage u JOIN cells c ON c.id=u.cell JOIN experiments e ON e.id=c.experiment WHERE e.name='it-prov-bs-other' AND u.component='agents'")" = 0
check "... nothing left in the cluster" test "$(leftovers)" = "$clean"
it_finish
