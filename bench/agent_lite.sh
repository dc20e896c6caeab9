#!/usr/bin/env bash
# bench/agent_lite.sh: one turbokube-agent in lite mode holding NODES fake nodes against the
# local control plane for DURATION seconds, then (PODS > 0) a Deployment of PODS replicas.
#
# Measures, from /proc and the agent's own /metrics:
#   - time until every node is Ready (the agent's view: registered, lease written)
#   - agent CPU (% of one core) and RSS (total, per node) over the steady window
#   - lease renew lag p50/p99 over the window (histogram delta, interpolated as Prometheus'
#     histogram_quantile does), lease failures
#   - where the lag comes from: the agent's client-side latency of PUT leases against the
#     apiserver's own (apiserver_request_sli_duration_seconds), and the lag p99 of every 10 s
#     window, so a spike is seen as a spike and not as a tail
#   - apiserver and etcd CPU over the same window, for comparison, and etcd's disk (WAL fsync
#     and backend commit p99) in every 10 s window, beside the lag of the slow ones
#   - with PODS: agent CPU per pod start (status + event) and RSS per running pod
#
# usage: NODES=5000 DURATION=600 PODS=0 bench/agent_lite.sh
# env:   TK_BUILD (default build-agent-rel, a build without sanitizers), OUT (results file),
#        FIDELITY (lite, or kubelet for the per-node-identity mode), AGENT_ARGS (extra flags),
#        PERF=1 (perf record -e cpu-clock of the agent over the window's first 60 s; the top
#        of the profile lands beside the results as OUT.perf.txt), PERF=pods (the same over the
#        Deployment's rollout instead, to see what a pod start costs),
#        PERF=stat (perf stat of the agent's syscalls, context switches and task clock over the
#        steady window and over the rollout: a pod start's syscalls and wakeups, net of idle),
#        PERF=trace (perf trace -s over the same two windows: calls per pod start of each of the
#        rollout's eight commonest syscalls, net of idle — epoll_wait is the loop's wakeups),
#        STORE=tmpfs (the cluster's state, etcd's data included, in /dev/shm: the agent and the
#        apiserver without the disk; the per-window etcd fsync and commit figures tell whether
#        the disk mattered — at 5,000 nodes here it did not, docs/measurements.md)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${TK_BUILD:-$ROOT/build-agent-rel}
NODES=${NODES:-5000}
DURATION=${DURATION:-600}
PODS=${PODS:-0}
PORT=${PORT:-10270}
FIDELITY=${FIDELITY:-lite}
AGENT_ARGS=${AGENT_ARGS:-}
OUT=${OUT:-$ROOT/bench/results/agent_$FIDELITY-$(date +%Y%m%d-%H%M%S).txt}
TK=$BUILD/turbokube
AGENT=$BUILD/turbokube-agent
name=agent-bench-$$
source "$ROOT/bench/lib.sh"
bench_dirs tk-bench disk
work=$BENCH_WORK
agent_pid=
trap 'rc=$?; bench_teardown "$TK" "$name" "$agent_pid"; bench_keep_on_failure "$work" "$rc"' EXIT

say() { echo "$(date +%H:%M:%S) $*" >&2; }
metrics() { curl -s "127.0.0.1:$PORT/metrics"; }
comp_pid() { "$TK" cluster status --name "$name" -o json | jq -r ".components[] | select(.name == \"$1\") | .pid"; }
hz=$(getconf CLK_TCK)

say "cluster up ($name)"
"$TK" cluster up --name "$name" -q --timeout 120s
eval "$("$TK" cluster env --name "$name")"
# No route to the nodes' InternalIPs is needed: nothing here goes through the node proxy.
api_pid=$(comp_pid kube-apiserver)
etcd_pid=$(comp_pid etcd)
etcd_port=$(jq -r '.components[] | select(.name == "etcd") | .metrics_port' "$TURBOKUBE_CLUSTER_DIR/cluster.json")
etcd_metrics() { curl -s "127.0.0.1:$etcd_port/metrics"; }

say "agent: $NODES nodes, $FIDELITY mode"
t0=$(date +%s.%N)
# shellcheck disable=SC2086
"$AGENT" --nodes "$NODES" --fidelity "$FIDELITY" --metrics-addr "127.0.0.1:$PORT" \
    --startup-latency fixed:1s --log-level warn $AGENT_ARGS >"$work/agent.log" 2>&1 &
agent_pid=$!
until [ "$(metrics | awk '$1 == "turbokube_agent_nodes{state=\"ready\"}" {print $2}')" = "$NODES" ]; do
    kill -0 "$agent_pid" || { tail "$work/agent.log"; exit 1; }
    sleep 1
done
t_ready=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {printf "%.1f", a - b}')
say "all $NODES nodes ready after ${t_ready}s; settling 30 s"
sleep 30

snap() { # snap NAME: agent cpu ticks, rss, apiserver/etcd ticks, metrics text
    echo "$(date +%s.%N) $(bench_cpu_ticks "$agent_pid") $(bench_rss_kib "$agent_pid") $(bench_cpu_ticks "$api_pid") $(bench_cpu_ticks "$etcd_pid")" >"$work/$1.proc"
    metrics >"$work/$1.prom"
    kubectl get --raw /metrics >"$work/$1.api.prom"
}
snap a
say "steady window: ${DURATION}s"
if [ "${PERF:-0}" = 1 ]; then
    perf record -q -e cpu-clock -F 499 -g -p "$agent_pid" -o "$work/perf.data" -- sleep 60 >/dev/null 2>&1 &
fi
PSTAT_EV=raw_syscalls:sys_enter,context-switches,task-clock
pstat_start() { # pstat_start NAME: perf stat (PERF=stat) or perf trace -s of the agent until pstat_stop
    if [ "$PERF" = trace ]; then
        perf trace -s -p "$agent_pid" -o "$work/$1.ptrace" >/dev/null 2>&1 &
    else
        perf stat -x, -e "$PSTAT_EV" -p "$agent_pid" -o "$work/$1.pstat" >/dev/null 2>&1 &
    fi
    pstat_pid=$!
}
pstat_stop() { kill -INT "$pstat_pid" && wait "$pstat_pid" || true; }
case "${PERF:-0}" in stat | trace) pstat_start idle ;; esac
peak=0
w=0
end=$(($(date +%s) + DURATION))
while [ "$(date +%s)" -lt "$end" ]; do
    r=$(bench_rss_kib "$agent_pid")
    [ "$r" -gt "$peak" ] && peak=$r
    metrics >"$work/w$w.prom"
    etcd_metrics >"$work/w$w.etcd.prom" || true # a missed sample is a gap, not a lost run
    w=$((w + 1))
    sleep 10
done
case "${PERF:-0}" in stat | trace) pstat_stop ;; esac
snap b
kubectl get nodes --no-headers | awk '{print $2}' | sort | uniq -c >"$work/nodes.txt"

if [ "$PODS" -gt 0 ]; then
    say "Deployment of $PODS pods"
    snap p0
    if [ "${PERF:-0}" = pods ]; then
        perf record -q -e cpu-clock -F 999 -g -p "$agent_pid" -o "$work/perf.data" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    case "${PERF:-0}" in stat | trace) pstat_start pods ;; esac
    kubectl create deployment bench --image=registry.k8s.io/pause:3.10 --replicas="$PODS" >/dev/null
    until [ "$(kubectl get deploy bench -o jsonpath='{.status.readyReplicas}')" = "$PODS" ]; do sleep 2; done
    snap p1
    case "${PERF:-0}" in stat | trace) pstat_stop ;; esac
    if [ -n "${perf_pid:-}" ]; then kill -INT "$perf_pid" && wait "$perf_pid" || true; fi
fi

python3 - "$work" "$NODES" "$DURATION" "$hz" "$peak" "$PODS" "$t_ready" "$FIDELITY" "$w" <<'PY' | tee "$work/result.txt"
import math, re, sys
work, nodes, dur, hz, peak, pods, t_ready = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
print(f"mode                       {sys.argv[8]}")
import os
print(f"cluster state              {os.environ.get('STORE', 'disk')}")

def proc(n):
    t, a, rss, api, etcd = open(f"{work}/{n}.proc").read().split()
    return float(t), float(a) / hz, int(rss), float(api) / hz, float(etcd) / hz

def prom(n):
    out = {}
    for line in open(f"{work}/{n}.prom"):
        if line.startswith("#") or not line.strip():
            continue
        k, v = line.rsplit(" ", 1)
        out[k] = float(v)
    return out

LBL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

def hist(p, name, **want):  # cumulative buckets summed over the series that carry `want`
    b = {}
    for k, v in p.items():
        if not k.startswith(name + "_bucket{"):
            continue
        lab = dict(LBL.findall(k[len(name) + 8:]))
        if any(lab.get(x) != y for x, y in want.items()):
            continue
        le = math.inf if lab["le"] == "+Inf" else float(lab["le"])
        b[le] = b.get(le, 0.0) + v
    return sorted(b.items())

def delta(h1, h0):
    d0 = dict(h0)
    return [(le, c - d0.get(le, 0.0)) for le, c in h1]

def quantile(q, buckets):  # Prometheus' bucketQuantile
    total = buckets[-1][1]
    if total == 0:
        return float("nan")
    rank = q * total
    for i, (le, c) in enumerate(buckets):
        if c >= rank:
            if math.isinf(le):
                return buckets[i - 1][0]
            lo, clo = (buckets[i - 1] if i else (0.0, 0.0))
            return lo + (le - lo) * (rank - clo) / (c - clo)
    return float("nan")

ta, aa, ra, pa, ea = proc("a")
tb, ab, rb, pb, eb = proc("b")
A, B = prom("a"), prom("b")
el = tb - ta
LAG = "turbokube_agent_lease_renew_lag_seconds"
lag = delta(hist(B, LAG), hist(A, LAG))
client = delta(hist(B, "turbokube_agent_api_request_duration_seconds", verb="PUT", resource="leases"),
               hist(A, "turbokube_agent_api_request_duration_seconds", verb="PUT", resource="leases"))
SLI = "apiserver_request_sli_duration_seconds"
AA, AB = prom("a.api"), prom("b.api")
server = delta(hist(AB, SLI, verb="PUT", resource="leases"), hist(AA, SLI, verb="PUT", resource="leases"))
windows, slow = [], []
WAIT = "turbokube_agent_lease_queue_wait_seconds"
PATCH = 'turbokube_agent_api_requests_total{verb="PATCH",resource="nodes",subresource="status",code="200"}'
for i in range(1, int(sys.argv[9])):
    pi, pj = prom(f"w{i}"), prom(f"w{i - 1}")
    d = delta(hist(pi, LAG), hist(pj, LAG))
    if d and d[-1][1] > 0:
        windows.append(quantile(0.99, d))
        if windows[-1] > 0.5:  # what else happened in a slow window
            wd = delta(hist(pi, WAIT), hist(pj, WAIT))
            wq = quantile(0.99, wd) if wd and wd[-1][1] > 0 else float("nan")
            slow.append((10 * i, windows[-1], wq, pi.get(PATCH, 0) - pj.get(PATCH, 0), i))
ren = B["turbokube_agent_lease_renewals_total"] - A["turbokube_agent_lease_renewals_total"]
fail = B["turbokube_agent_lease_failures_total"] - A["turbokube_agent_lease_failures_total"]
print(f"nodes                      {nodes}")
print(f"time to all Ready          {t_ready:.1f} s")
print(f"steady window              {el:.0f} s")
print(f"agent CPU                  {100 * (ab - aa) / el:.2f} % of one core")
print(f"agent RSS                  {rb / 1024:.1f} MiB (peak {peak / 1024:.1f} MiB), {rb / nodes:.2f} KiB per node")
print(f"lease renewals             {ren:.0f} ({ren / el:.1f}/s), failures {fail:.0f}")
print(f"lease renew lag            p50 {1000 * quantile(0.5, lag):.1f} ms, p99 {1000 * quantile(0.99, lag):.1f} ms")
ms = lambda q, h: 1000 * quantile(q, h)
print(f"PUT leases, agent's view   p50 {ms(0.5, client):.1f} ms, p99 {ms(0.99, client):.1f} ms (request handed to the transport to its answer)")
print(f"PUT leases, apiserver's    p50 {ms(0.5, server):.1f} ms, p99 {ms(0.99, server):.1f} ms (apiserver_request_sli_duration_seconds)")
if windows:
    over = sum(1 for x in windows if x > 1)
    print(f"lag p99 per 10 s window    median {1000 * sorted(windows)[len(windows) // 2]:.0f} ms, worst {1000 * max(windows):.0f} ms, {over} of {len(windows)} windows over 1 s")
# etcd's disk in each window: its WAL fsync and backend commit p99 (etcd's own /metrics)
FSYNC, COMMIT = "etcd_disk_wal_fsync_duration_seconds", "etcd_disk_backend_commit_duration_seconds"
def etcd_p99(name, i):
    try:
        d = delta(hist(prom(f"w{i}.etcd"), name), hist(prom(f"w{i - 1}.etcd"), name))
    except (FileNotFoundError, ValueError):
        return float("nan")
    return quantile(0.99, d) if d and d[-1][1] > 0 else float("nan")
nw = int(sys.argv[9])
fs_all = sorted(x for x in (etcd_p99(FSYNC, i) for i in range(1, nw)) if x == x)
if fs_all:
    print(f"etcd WAL fsync p99/window  median {1000 * fs_all[len(fs_all) // 2]:.0f} ms, worst {1000 * fs_all[-1]:.0f} ms (etcd_disk_wal_fsync_duration_seconds)")
for t, lagp, waitp, patches, i in slow:
    print(f"  window at +{t:4d} s         lag p99 {1000 * lagp:.0f} ms, queue wait p99 {1000 * waitp:.0f} ms, {patches:.0f} node status PATCHes, "
          f"etcd fsync p99 {1000 * etcd_p99(FSYNC, i):.0f} ms, commit p99 {1000 * etcd_p99(COMMIT, i):.0f} ms")
wall = delta(hist(B, WAIT), hist(A, WAIT))
if wall and wall[-1][1] > 0:
    print(f"lease queue wait           p50 {ms(0.5, wall):.1f} ms, p99 {ms(0.99, wall):.1f} ms (lib/h1 or lib/h2 queue, before the write)")
etcd_upd = delta(hist(AB, "etcd_request_duration_seconds", operation="update", resource="leases"),
                 hist(AA, "etcd_request_duration_seconds", operation="update", resource="leases"))
if etcd_upd and etcd_upd[-1][1] > 0:
    print(f"of which etcd              p50 {ms(0.5, etcd_upd):.1f} ms, p99 {ms(0.99, etcd_upd):.1f} ms (the apiserver's etcd_request_duration_seconds, lease updates)")
print(f"kube-apiserver CPU         {100 * (pb - pa) / el:.1f} % of one core")
print(f"etcd CPU                   {100 * (eb - ea) / el:.1f} % of one core")
print("node states (kubectl)      " + " ".join(l.strip() for l in open(f"{work}/nodes.txt")))
def pstat(n):  # perf stat -x, lines: value,unit,event,...
    out = {}
    for line in open(f"{work}/{n}.pstat"):
        f = line.strip().split(",")
        if len(f) > 2 and f[0].replace(".", "", 1).isdigit():
            out[f[2]] = float(f[0])
    return out
def ptrace(n):  # perf trace -s: per thread, "syscall calls errors total ...", summed
    out = {}
    for line in open(f"{work}/{n}.ptrace"):
        f = line.split()
        if len(f) >= 3 and f[0].isidentifier() and f[1].isdigit() and f[2].isdigit():
            out[f[0]] = out.get(f[0], 0) + int(f[1])
    return out
PSTAT = (("raw_syscalls:sys_enter", "syscalls"), ("context-switches", "context switches"))
I = pstat("idle") if os.path.exists(f"{work}/idle.pstat") else None
if I:
    print("agent per second, idle     " + ", ".join(f"{I[e] / el:.0f} {l}" for e, l in PSTAT if e in I) + " (perf stat)")
if pods:
    t0, c0, r0, p0, e0 = proc("p0")
    t1, c1, r1, p1, e1 = proc("p1")
    idle = (ab - aa) / el
    cpu = (c1 - c0) - idle * (t1 - t0)
    print(f"pods                       {pods} ready in {t1 - t0:.0f} s")
    print(f"agent CPU per pod start    {1e6 * cpu / pods:.0f} us (net of idle; {1e6 * (c1 - c0) / pods:.0f} us raw)")
    print(f"agent RSS per running pod  {(r1 - r0) / pods * 1024:.0f} B (RSS moves with malloc's trimming)")
    H = "turbokube_agent_heap_inuse_bytes"
    P0, P1 = prom("p0"), prom("p1")
    if H in P0 and H in P1:
        print(f"agent heap per running pod {(P1[H] - P0[H]) / pods:.0f} B (malloc's bytes in use)")
    print(f"kube-apiserver CPU, pods   {100 * (p1 - p0) / (t1 - t0):.1f} % of one core")
    if I and os.path.exists(f"{work}/pods.pstat"):
        R = pstat("pods")
        for ev, label in PSTAT:
            if ev in I and ev in R:
                net = (R[ev] - I[ev] / el * (t1 - t0)) / pods
                print(f"agent {label:<17}{net:8.1f} per pod start (net of idle; {R[ev] / pods:.1f} raw; idle {I[ev] / el:.0f}/s)")
        if "task-clock" in I and "task-clock" in R:  # msec
            net = (R["task-clock"] - I["task-clock"] / el * (t1 - t0)) * 1000 / pods
            print(f"agent task clock           {net:8.0f} us per pod start (net of idle; perf's count)")
    if os.path.exists(f"{work}/idle.ptrace") and os.path.exists(f"{work}/pods.ptrace"):
        TI, TR = ptrace("idle"), ptrace("pods")
        for sc in sorted(TR, key=lambda k: -TR[k])[:8]:
            net = (TR[sc] - TI.get(sc, 0) / el * (t1 - t0)) / pods
            print(f"agent {sc:<17}{net:8.2f} calls per pod start (net of idle; {TR[sc] / pods:.2f} raw; idle {TI.get(sc, 0) / el:.1f}/s; perf trace -s)")
PY
mkdir -p "$(dirname "$OUT")"
cp "$work/result.txt" "$OUT"
if [ -s "$work/perf.data" ]; then
    perf report -i "$work/perf.data" --no-children --percent-limit 1 --stdio 2>/dev/null |
        grep -v '^$' | head -150 >"$OUT.perf.txt" || true
fi
say "results in $OUT"
