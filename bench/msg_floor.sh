#!/usr/bin/env bash
# bench/msg_floor.sh: what one small API message costs a client on this machine — the floor
# under the agent's CPU per pod start. Runs bench/msg_floor.c (built as msg_floor) against a
# fresh local control plane: N sequential merge PATCHes of one Lease per client, ROUNDS rounds
# with the clients interleaved so the machine's drift hits each alike, then the median CPU per
# request of each and its ratio to the floor:
#   floor  blocking socket + OpenSSL, nothing else (the least any client can spend)
#   h1     lib/h1 on lib/loop, one request at a time (the agent's request path)
#   curl   libcurl, one easy handle, HTTP/1.1 keep-alive
#   watch  floor's PATCH plus the change read back from a watch (a status PATCH and its echo)
#   wave   lib/h1, 8 requests in flight at once, to 8 Leases (batching)
#   wavelinger  the same, sleeping 3 ms after each wave's writes so the replies are read in
#          one wakeup
#
# usage: ROUNDS=5 N=2000 bench/msg_floor.sh
# env:   TK_BUILD (default build-agent-rel), OUT (results file), STORE=tmpfs (the cluster's
#        state in /dev/shm; the client's CPU does not depend on it, the wall time does)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${TK_BUILD:-$ROOT/build-agent-rel}
ROUNDS=${ROUNDS:-5}
N=${N:-2000}
OUT=${OUT:-$ROOT/bench/results/msg_floor-$(date +%Y%m%d-%H%M%S).txt}
TK=$BUILD/turbokube
FLOOR=$BUILD/msg_floor
name=msg-floor-$$
source "$ROOT/bench/lib.sh"
bench_dirs tk-bench disk
work=$BENCH_WORK
trap 'rc=$?; bench_teardown "$TK" "$name" ""; bench_keep_on_failure "$work" "$rc"' EXIT

say() { echo "$(date +%H:%M:%S) $*" >&2; }
[ -x "$FLOOR" ] || { echo "bench: $FLOOR missing: cmake --build $BUILD --target msg_floor" >&2; exit 2; }

say "cluster up ($name)"
"$TK" cluster up --name "$name" -q --timeout 120s
eval "$("$TK" cluster env --name "$name")"
for lease in msg-floor msg-floor-{0..7}; do # the wave modes patch msg-floor-0 .. 7, one each
    kubectl create -f - >/dev/null <<EOF
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: $lease, namespace: default}
spec: {holderIdentity: msg-floor, leaseDurationSeconds: 40}
EOF
done

MODES="floor h1 curl watch wave wavelinger" # the summary below reports these, in this order
for r in $(seq "$ROUNDS"); do
    say "round $r of $ROUNDS: $N requests per client"
    # shellcheck disable=SC2086
    "$FLOOR" "$KUBECONFIG" default msg-floor "$N" $MODES |
        tee -a "$work/raw.txt"
done

{
    echo "# bench/msg_floor.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git -C "$ROOT" rev-parse --short HEAD)"
    echo "# ROUNDS=$ROUNDS N=$N STORE=${STORE:-disk}; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    cat "$work/raw.txt"
    python3 - "$work/raw.txt" "$MODES" <<'EOF'
import collections, statistics, sys
cpu, csw = collections.defaultdict(list), collections.defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    kv = dict(x.split("=") for x in f[1:])
    cpu[f[0]].append(float(kv["cpu_us_per_req"]))
    csw[f[0]].append(float(kv["csw_per_req"]))
base = statistics.median(cpu["floor"])
print("# median CPU per request (user + sys), context switches per request, ratio to floor")
for m in sys.argv[2].split():
    c = statistics.median(cpu[m])
    print(f"{m:10s} {c:7.1f} us  {statistics.median(csw[m]):4.2f} csw  {c / base:4.2f}x  "
          f"(min {min(cpu[m]):.1f}, max {max(cpu[m]):.1f})")
EOF
} | tee "$OUT"
say "results: $OUT"
