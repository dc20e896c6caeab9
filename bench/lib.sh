# shellcheck shell=bash
# Shared measurement for the node benchmarks: the process under test is sampled from /proc,
# the cluster through the pinned kubectl (KUBECONFIG set by the caller).

# bench_ready_count PREFIX: nodes whose name starts with PREFIX and whose Ready is True.
bench_ready_count() {
    kubectl get nodes -o json | python3 -c '
import json, sys
p = sys.argv[1]
n = 0
for it in json.load(sys.stdin)["items"]:
    if not it["metadata"]["name"].startswith(p):
        continue
    for c in it.get("status", {}).get("conditions", []):
        if c["type"] == "Ready" and c["status"] == "True":
            n += 1
print(n)' "$1"
}

# bench_wait_ready N TIMEOUT_S PREFIX
bench_wait_ready() {
    local want=$1 timeout=$2 prefix=$3 t0 n
    t0=$(date +%s)
    while :; do
        n=$(bench_ready_count "$prefix")
        [ "$n" -ge "$want" ] && return 0
        if [ $(($(date +%s) - t0)) -ge "$timeout" ]; then
            echo "bench: only $n of $want nodes Ready after ${timeout}s" >&2
            return 1
        fi
        sleep 5
    done
}

# bench_lease_ages PREFIX: now - renewTime in seconds, one per lease of PREFIX nodes.
bench_lease_ages() {
    kubectl get leases -n kube-node-lease -o json | python3 -c '
import json, sys, datetime
p = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
for it in json.load(sys.stdin)["items"]:
    if not it["metadata"]["name"].startswith(p):
        continue
    rt = it["spec"].get("renewTime")
    if rt:
        t = datetime.datetime.strptime(rt[:26].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
        print("%.3f" % (now - t).total_seconds())' "$1"
}

# bench_cpu_ticks PID: utime+stime in clock ticks.
bench_cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
bench_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# bench_measure PID DURATION_S PREFIX LABELS: samples CPU, RSS and lease ages for DURATION_S
# and prints one logfmt line.
bench_measure() {
    local pid=$1 duration=$2 prefix=$3 labels=$4 tck c0 c1 t0 t1 rss peak=0 ages
    tck=$(getconf CLK_TCK)
    ages=$(mktemp)
    c0=$(bench_cpu_ticks "$pid")
    t0=$(date +%s.%N)
    local end=$(($(date +%s) + duration))
    while [ "$(date +%s)" -lt "$end" ]; do
        sleep 10
        rss=$(bench_rss_kib "$pid")
        [ "$rss" -gt "$peak" ] && peak=$rss
        bench_lease_ages "$prefix" >>"$ages"
    done
    c1=$(bench_cpu_ticks "$pid")
    t1=$(date +%s.%N)
    local ready
    ready=$(bench_ready_count "$prefix")
    python3 - "$c0" "$c1" "$t0" "$t1" "$tck" "$peak" "$ready" "$labels" "$ages" <<'PY'
import sys
c0, c1, t0, t1, tck, peak, ready = (float(x) for x in sys.argv[1:8])
labels, agesf = sys.argv[8], sys.argv[9]
ages = sorted(float(l) for l in open(agesf) if l.strip())
n = int(labels.split("nodes=")[1].split()[0])
cpu_pct = 100.0 * (c1 - c0) / tck / (t1 - t0)
p99 = ages[min(len(ages) - 1, int(0.99 * len(ages)))] if ages else float("nan")
mx = ages[-1] if ages else float("nan")
print(f"{labels} ready={int(ready)} window_s={t1 - t0:.0f} cpu_pct_of_core={cpu_pct:.2f} "
      f"rss_mib={peak / 1024:.1f} rss_kib_per_node={peak / n:.1f} "
      f"lease_age_p99_s={p99:.2f} lease_age_max_s={mx:.2f} lease_samples={len(ages)}")
PY
    rm -f "$ages"
}

# bench_dirs PREFIX DEFAULT_STORE: a work directory (BENCH_WORK, /tmp/PREFIX.*) and, when STORE
# (else DEFAULT_STORE) is tmpfs, the cluster's state in /dev/shm (BENCH_SHM, exported as
# TURBOKUBE_HOME), so etcd's disk does not pace what is measured.
bench_dirs() {
    BENCH_WORK=$(mktemp -d "/tmp/$1.XXXXXX")
    BENCH_SHM=
    if [ "${STORE:-$2}" = tmpfs ]; then
        BENCH_SHM=$(mktemp -d "/dev/shm/$1.XXXXXX")
        export TURBOKUBE_HOME=$BENCH_SHM
    fi
}

# bench_keep_on_failure DIR RC: in an EXIT trap, removes DIR after a run that succeeded (RC 0)
# and keeps it (the agent's log, the samples) after one that failed, saying where.
bench_keep_on_failure() {
    if [ "$2" -eq 0 ]; then rm -rf "$1"; else echo "bench: exit $2; logs and samples kept in $1" >&2; fi
}

# bench_teardown TK CLUSTER PID: stops PID (if any), the cluster and BENCH_SHM. Never fails,
# so an EXIT trap under set -e runs to its end.
bench_teardown() {
    if [ -n "$3" ]; then
        kill "$3" 2>/dev/null || true
        wait "$3" 2>/dev/null || true
    fi
    "$1" cluster down --name "$2" -q >/dev/null 2>&1 || true
    if [ -n "${BENCH_SHM:-}" ]; then rm -rf "$BENCH_SHM"; fi
}
