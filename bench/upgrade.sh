#!/usr/bin/env bash
# make bench-upgrade N=...: N spaces of the bench class (created by `make bench`'s creator if they
# are not there yet) move from 33.0.7 to 34.0.1, P per DatabasePool (P=50 by default), and what
# that costs is printed one figure a line; the CSV and the PNG (spaces by version over time) go
# to bench/out/. Run `make cluster-up` first; the spaces stay until `make cluster-down`.
set -euo pipefail
. "$(dirname "$0")/../e2e/lib.sh"
. "$E2E_DIR/proc.sh"
[ -s "$STATE_DIR/env" ] || die "no environment: run 'make cluster-up' first"
. "$STATE_DIR/env"
N=${1:-1000}
P=${P:-50}
TARGET=${TARGET:-34.0.1}
RATE=${RATE:-25}
RESYNC=${RESYNC:-120}
FEATURES=bench
. "$(dirname "$0")/setup.sh"
stop_process operator
stop_process bench-operator
mapfile -t cmd < <(OPERATOR_BIN="$REPO_DIR/target/release/framaspace-operator" operator_command \
  --log-format json --identity bench --metrics-address 127.0.0.1:28084 --resync-seconds "$RESYNC" --concurrency 32)
PROC_LOG="$OUT/operator-upgrade.log" start_process bench-operator "${cmd[@]}"
read -r pid _ < "$STATE_DIR/pids/bench-operator"
wait_for "bench-operator: its metrics endpoint" 60 curl -sf http://127.0.0.1:28084/readyz
for p in dbpool/bench-pg cachepool/bench-redis stpool/bench-minio; do kubectl wait --for=condition=Ready "$p" --timeout=120s >/dev/null; done
have=$(kubectl get spaces -l bench.frama.space/run=1 --no-headers 2>/dev/null | wc -l)
if [ "$have" -lt "$N" ]; then
  log "creating $N spaces first (make bench's creator, its figures in bench/out/figures-$N.txt)"
  "$REPO_DIR/target/release/framaspace-bench" --count "$N" --rate "$RATE" --class bench --operator-pid "$pid" \
    --metrics http://127.0.0.1:28084/metrics --audit-log "$STATE_DIR/logs/audit.log" --resync-seconds "$RESYNC" --out "$OUT" \
    --no-floor --latency-samples 0 | tee "$OUT/figures-$N.txt"
fi
"$REPO_DIR/target/release/framaspace-bench-upgrade" --class bench --target "$TARGET" --parallel "$P" \
  --audit-log "$STATE_DIR/logs/audit.log" --out "$OUT" | tee "$OUT/upgrade-figures-$N.txt"
stop_process bench-operator
log "figures in bench/out/upgrade-figures-$N.txt, chart in bench/out/upgrade-$N.png"
