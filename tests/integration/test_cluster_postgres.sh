#!/usr/bin/env bash
# kine over PostgreSQL: a private initdb'd cluster in the cluster directory on a free loopback
# port, not run as root, in the datastore's cgroup, and gone after down.
source "$(dirname "$0")/lib.sh"

name=$(it_name pg)
dir=$TURBOKUBE_HOME/clusters/$name
# LANG names a locale this machine has not generated (a fresh Debian without locales often
# says en_US.UTF-8): initdb must not take it from the environment.
check "up with kine-postgres and a dedicated etcd group" \
    env LANG=tk_XX.UTF-8 LC_ALL= "$TK" cluster up --name "$name" --datastore kine-postgres \
    --cpus 2 --memory 2Gi --etcd-cpus 1 --etcd-memory 1Gi
"$TK" cluster status --name "$name"
json=$("$TK" cluster status --name "$name" --output json)
field() { jq -r --arg c "$1" ".components[] | select(.name == \$c) | .$2" <<<"$json"; }
pg_pid=$(field postgres pid) pg_port=$(field postgres port)
check "postgres ready" test "$(field postgres state)" = ready
check "kine ready" test "$(field kine state)" = ready
check "postgres and kine in the datastore's group" test "$(field postgres cgroup)/$(field kine cgroup)" = etcd/etcd
check "postgres's data directory is in the cluster directory" test -f "$dir/postgres/data/PG_VERSION"
check "postgres listens on 127.0.0.1:$pg_port only" bash -c \
    "ss -Hltn 'sport = :$pg_port' | awk '{print \$4}' | grep -qx '127.0.0.1:$pg_port'"
check "postgres does not run as root" test "$(stat -c %u "/proc/$pg_pid")" != 0
kine_pid=$(field kine pid)
check "kine stores in that postgres" bash -c \
    "tr '\\0' '\\n' </proc/$kine_pid/cmdline | grep -qx -- '--endpoint=postgres://kine@127.0.0.1:$pg_port/kine?sslmode=disable'"
export KUBECONFIG=$dir/admin.kubeconfig
kubectl=$("$TK_ROOT/scripts/bootstrap" --print-cache)/bin/kubectl
check "create a namespace" "$kubectl" create namespace tk-pg-it
check "list it" bash -c "'$kubectl' get namespaces -o name | grep -qx namespace/tk-pg-it"
# the object is in postgres's kine table, not anywhere else
psql=$(dirname "$(readlink -f "/proc/$pg_pid/exe")")/psql
if [ -x "$psql" ]; then
    rows=$("$psql" -h 127.0.0.1 -p "$pg_port" -U kine -d kine -Atc \
        "SELECT count(*) FROM kine WHERE name = '/registry/namespaces/tk-pg-it'")
    check "the namespace is a row in postgres's kine table" test "${rows:-0}" -ge 1
fi
ports=$(jq -r '.components[].port' <<<"$json")
check "down" "$TK" cluster down --name "$name"
# gone, or a zombie its new parent (init) has not reaped yet
check "postgres is gone" bash -c "[ ! -e /proc/$pg_pid ] || grep -q '^State:.*Z' /proc/$pg_pid/status"
# shellcheck disable=SC2086 # one port a word
check_nothing_left "$name" "$dir" $ports

# A bring-up that fails once kine is up (a flag the apiserver refuses) stops kine before
# postgres, whose smart shutdown would otherwise wait for kine's connections until killed.
bad=$(it_name pgbad)
bdir=$TURBOKUBE_HOME/clusters/$bad
check "up with a flag the apiserver refuses fails" bash -c \
    "! '$TK' cluster up --name '$bad' --datastore kine-postgres --apiserver-arg=--tk-no-such-flag -q"
check "... after kine was ready (the apiserver was started)" test -e "$bdir/logs/kube-apiserver.log"
check "... postgres shut down cleanly, not killed" grep -q "database system is shut down" "$bdir/logs/postgres.log"
check "... no process left" test -z "$(marked_pids "$bdir")"
check "down removes the rest" "$TK" cluster down --name "$bad"
check "... its directory" test ! -e "$bdir"
it_finish
