#!/usr/bin/env bash
# Latency between hosts: etcd on a host of its own, 20 ms round trip added on the way from the
# apiserver to etcd (a toxiproxy in between; this kernel has no netem). A write that reaches
# etcd takes at least that long, is slower than the same cluster without the latency, and the
# apiserver's own etcd_request_duration_seconds says so.
source "$(dirname "$0")/lib.sh"

# create_ms DIR N: one line per ConfigMap created through the apiserver, its round trip in ms
create_ms() {
    local d=$1 n=$2 port i
    port=$(jq -r '.components[] | select(.name == "kube-apiserver") | .port' "$d/cluster.json")
    for i in $(seq "$n"); do
        curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --cacert "$d/pki/ca.crt" \
            --cert "$d/pki/admin.crt" --key "$d/pki/admin.key" -H 'Content-Type: application/json' \
            -d "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"tk-lat-$i\"}}" \
            "https://127.0.0.1:$port/api/v1/namespaces/default/configmaps"
    done | awk '$1 == 201 { printf "%.1f\n", $2 * 1000 }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : -1 }'; }
# the apiserver's mean etcd create time for configmaps, in ms
etcd_create_ms() {
    local d=$1 port
    port=$(jq -r '.components[] | select(.name == "kube-apiserver") | .port' "$d/cluster.json")
    curl -s --cacert "$d/pki/ca.crt" --cert "$d/pki/admin.crt" --key "$d/pki/admin.key" \
        "https://127.0.0.1:$port/metrics" |
        awk '/^etcd_request_duration_seconds_(sum|count)\{.*operation="create".*resource="configmaps"/ {
                 if ($1 ~ /_sum/) s = $2; else c = $2 }
             END { printf "%.1f\n", c ? s / c * 1000 : -1 }'
}

base=$(it_name lat0)
check "up without latency, etcd on its own host" \
    "$TK" cluster up --name "$base" --cpus 2 --memory 2Gi --etcd-cpus 1 --etcd-memory 1Gi
fast=$(create_ms "$TURBOKUBE_HOME/clusters/$base" 15)
fast_med=$(median <<<"$fast")
echo "without latency: configmap create round trips (ms): $(tr '\n' ' ' <<<"$fast")"
check "15 configmaps created without latency" test "$(wc -l <<<"$fast")" = 15
check "down (no latency)" "$TK" cluster down --name "$base"

name=$(it_name lat20)
dir=$TURBOKUBE_HOME/clusters/$name
check "up with 20ms between hosts" \
    "$TK" cluster up --name "$name" --cpus 2 --memory 2Gi --etcd-cpus 1 --etcd-memory 1Gi \
    --latency 20ms
"$TK" cluster status --name "$name"
method=$(jq -r .latency_method "$dir/cluster.json")
echo "latency method: $method"
check "the cluster says how latency is added" bash -c "grep -qE '^toxiproxy; netem (unavailable: .+|available but not used)' <<<'$method'"
proxy=$(jq -r '.latency_links[] | select(.name == "etcd-0") | .listen' "$dir/cluster.json")
etcd_port=$(jq -r '.components[0].port' "$dir/cluster.json")
api_pid=$(jq -r '.components[1].pid' "$dir/cluster.json")
check "the apiserver reaches etcd through the proxy" bash -c \
    "tr '\\0' '\\n' </proc/$api_pid/cmdline | grep -qx -- '--etcd-servers=http://127.0.0.1:$proxy'"
check "the proxy forwards to etcd" test "$(jq -r '.latency_links[0].upstream' "$dir/cluster.json")" = "$etcd_port"
slow=$(create_ms "$dir" 15)
slow_min=$(sort -n <<<"$slow" | head -1) slow_med=$(median <<<"$slow")
echo "with 20ms: configmap create round trips (ms): $(tr '\n' ' ' <<<"$slow")"
echo "median without latency ${fast_med}ms, with 20ms ${slow_med}ms (fastest ${slow_min}ms)"
check "15 configmaps created with latency" test "$(wc -l <<<"$slow")" = 15
check "every create takes >= 20ms" awk -v m="$slow_min" 'BEGIN { exit !(m >= 20) }'
# Without latency against with it is a timing on a shared machine (a loaded one can take
# 20 ms for every create), so it is shown, not judged; the 20 ms floor above is the proxy's.
fast_min=$(sort -n <<<"$fast" | head -1)
echo "fastest create: ${fast_min}ms without latency, ${slow_min}ms with 20ms"
etcd_ms=$(etcd_create_ms "$dir")
echo "apiserver etcd_request_duration_seconds create configmaps: mean ${etcd_ms}ms"
check "apiserver->etcd latency in the metrics >= 20ms" awk -v m="$etcd_ms" 'BEGIN { exit !(m >= 20) }'
ports="$(jq -r '.components[].port, .latency_links[].listen' "$dir/cluster.json")"
check "down" "$TK" cluster down --name "$name"
# shellcheck disable=SC2086 # one port a word
check_nothing_left "$name" "$dir" $ports
it_finish
