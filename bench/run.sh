#!/usr/bin/env bash
# make bench N=...: the scale benchmark against the local environment (run `make cluster-up` first).
# Pools reserved to the bench (PostgreSQL with schema isolation, Redis, MinIO), a class `bench`,
# the operator (release build, the chart's ServiceAccount) and N spaces created at a steady rate;
# figures are printed one a line, the CSV and the PNG go to bench/out/. FLOOR_ONLY=1 writes only the
# floor, on a fresh environment, and compares it with the operator's figures-N.txt; FLOOR=0 leaves
# the floor out of the operator's run.
set -euo pipefail
. "$(dirname "$0")/env.sh"
N=${1:-10000}
RATE=${RATE:-25}
RESYNC=${RESYNC:-120}
CONCURRENCY=${CONCURRENCY:-32}
# HEAP_PROFILE=1: the operator records every allocation (slowly: its figures are not throughput
# figures) and writes bench/out/dhat-heap-N.json when it is stopped; see bench/heap-top.py.
FEATURES=bench
if [ "${HEAP_PROFILE:-0}" = 1 ]; then FEATURES=bench,dhat-heap; export FRAMASPACE_HEAP_PROFILE="$REPO_DIR/bench/out/dhat-heap-$N.json"; fi
. "$(dirname "$0")/setup.sh"
stop_process operator
stop_process bench-operator
if [ "${FLOOR_ONLY:-0}" = 1 ]; then
  # The floor alone, on an environment as empty as the operator's run started from; the ratio is
  # taken against that run's figures-N.txt.
  "$REPO_DIR/target/release/framaspace-bench" --floor-only --count "$N" --class bench --out "$OUT" | tee "$OUT/floor-$N.txt"
  log "floor figures in bench/out/floor-$N.txt, its progress in bench/out/floor-$N.csv"
  exit 0
fi
mapfile -t cmd < <(OPERATOR_BIN="$REPO_DIR/target/release/framaspace-operator" operator_command \
  --log-format json --identity bench --metrics-address 127.0.0.1:28084 --resync-seconds "$RESYNC" --concurrency "$CONCURRENCY")
PROC_LOG="$OUT/operator.log" start_process bench-operator "${cmd[@]}"
read -r pid _ < "$STATE_DIR/pids/bench-operator"
wait_for "bench-operator: its metrics endpoint" 60 curl -sf http://127.0.0.1:28084/readyz
for p in dbpool/bench-pg cachepool/bench-redis stpool/bench-minio; do kubectl wait --for=condition=Ready "$p" --timeout=120s >/dev/null; done

"$REPO_DIR/target/release/framaspace-bench" --count "$N" --rate "$RATE" --class bench --operator-pid "$pid" \
  --metrics http://127.0.0.1:28084/metrics --audit-log "$STATE_DIR/logs/audit.log" --resync-seconds "$RESYNC" --out "$OUT" \
  $([ "${FLOOR:-1}" = 0 ] && echo --no-floor) \
  | tee "$OUT/figures-$N.txt"
if [ "${HEAP_PROFILE:-0}" = 1 ]; then
  # Writing the profile (symbolising every allocation site) takes longer than an ordinary stop allows.
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  python3 "$REPO_DIR/bench/heap-top.py" "$FRAMASPACE_HEAP_PROFILE" | tee "$OUT/heap-$N.txt"
fi
stop_process bench-operator
log "figures in bench/out/figures-$N.txt, chart in bench/out/ready-$N.png; the spaces stay until 'make cluster-down'"
