#!/usr/bin/env bash
# make bench-cache-cluster N=...: a cluster CachePool's check on the local six-node Valkey cluster
# with N space users (bench/out/cache-cluster-figures-N.txt): the users set on every node as the
# spaces' provisioning sets them, the steady check, then a replica restarted without its aclfile
# (its base file: the admin only) and the check that gives it every user back. Run
# `make cluster-up` first; the users stay until `make cluster-down`.
set -euo pipefail
. "$(dirname "$0")/env.sh"
N=${1:-1000}
OUT="$REPO_DIR/bench/out"; mkdir -p "$OUT"
FIG="$OUT/cache-cluster-figures-$N.txt"; : > "$FIG"
say() { echo "$*" | tee -a "$FIG"; }
log "building the release binaries"
cargo build --release --locked --features bench --bin framaspace-bench-cache-cluster
BIN="$REPO_DIR/target/release/framaspace-bench-cache-cluster"
seed="127.0.0.1:$FRAMASPACE_REDIS_CLUSTER_PORT"
cli() { REDISCLI_AUTH="$FRAMASPACE_REDIS_PASSWORD" redis-cli --user admin -h 127.0.0.1 -p "$1" "${@:2}"; }
say "== $N users on a cluster of $FRAMASPACE_REDIS_CLUSTER_NODES nodes"
say "$("$BIN" --seed "$seed" setup "$N")"
for i in 1 2 3; do say "steady $("$BIN" --seed "$seed" check "$N")"; done
victim=""
for i in $(seq 0 $((FRAMASPACE_REDIS_CLUSTER_NODES - 1))); do
  p=$((FRAMASPACE_REDIS_CLUSTER_PORT + i))
  [ "$(cli "$p" ROLE | head -1)" = slave ] && victim=$((i + 1)) && break
done
port=$((FRAMASPACE_REDIS_CLUSTER_PORT + victim - 1))
dir="$STATE_DIR/redis-cluster/$victim"
stop_process "redis-cluster-$victim"
printf 'user default off\nuser admin on >%s ~* &* +@all\n' "$FRAMASPACE_REDIS_PASSWORD" > "$dir/users.acl"
start_process "redis-cluster-$victim" "$VALKEY_BIN/valkey-server" "$dir/valkey.conf"
wait_for "node $victim" 30 bash -c "REDISCLI_AUTH=$FRAMASPACE_REDIS_PASSWORD redis-cli --user admin -p $port PING | grep -q PONG"
say "node 127.0.0.1:$port restarted with its base aclfile: $(cli "$port" ACL USERS | grep -c '^space-bench-cc-' || true) of $N users there"
say "heal $("$BIN" --seed "$seed" check "$N")"
say "node 127.0.0.1:$port after the check: $(cli "$port" ACL USERS | grep -c '^space-bench-cc-') of $N users, $(grep -c '^user space-bench-cc-' "$dir/users.acl") in its aclfile"
say "steady $("$BIN" --seed "$seed" check "$N")"
log "figures in $FIG"
