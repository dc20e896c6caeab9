#!/usr/bin/env bash
# turbokube cluster's answers to bad input: each names the problem and what to do.
source "$(dirname "$0")/lib.sh"

expect_fail() { # what, expected-substring, command...
    local what=$1 want=$2 out rc
    shift 2
    set +e
    out=$("$@" 2>&1)
    rc=$?
    set -e
    if [ $rc -ne 0 ] && grep -qF -- "$want" <<<"$out"; then ok "$what"; else
        fail "$what (rc=$rc, wanted '$want' in:)"; echo "$out" | tail -20; fi
}

expect_fail "missing cache points to bootstrap" "scripts/bootstrap" \
    env TURBOKUBE_CACHE=/nonexistent/tk-cache "$TK" cluster up --name "$(it_name nocache)"

python3 -c 'import socket,time,sys
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(1); print(s.getsockname()[1], flush=True); time.sleep(600)' >/tmp/tk-it-port.$$ &
busy_pid=$!
it_extra_cleanup="kill $busy_pid 2>/dev/null; rm -f /tmp/tk-it-port.$$"
for _ in $(seq 50); do [ -s /tmp/tk-it-port.$$ ] && break; sleep 0.1; done
port=$(cat /tmp/tk-it-port.$$)
expect_fail "a port in use is refused" "port $port on 127.0.0.1 is in use" \
    "$TK" cluster up --name "$(it_name port)" --port "$port"

name=$(it_name dies)
expect_fail "a component that dies at start is named, with its log" "kube-apiserver exited during start-up" \
    "$TK" cluster up --name "$name" --apiserver-arg=--no-such-flag=1
check "and nothing of it is left running" test -z "$(marked_pids "$TURBOKUBE_HOME/clusters/$name")"

expect_fail "a bad name is refused" "cluster name" "$TK" cluster up --name "Bad_Name"
expect_fail "a bad cpu amount is refused" "--cpus 'lots'" "$TK" cluster up --name x --cpus lots
expect_fail "status of a cluster that is not up" "is not up" "$TK" cluster status --name "$(it_name none)"
expect_fail "an unknown subcommand" "is not up, down, status or env" "$TK" cluster sideways

it_finish
