#!/usr/bin/env bash
# make bench-upgrade N=...: N spaces of the bench class (created by `make bench`'s creator if they
# are not there yet) move from 33.0.7 to 34.0.1, P per DatabasePool (P=50 by default), and what
# that costs is printed one figure a line; the CSV and the PNG (spaces by version over time) go
# to bench/out/. Run `make cluster-up` first; the spaces stay until `make cluster-down`.
set -euo pipefail
. "$(dirname "$0")/env.sh"
N=${1:-1000}
P=${P:-50}
TARGET=${TARGET:-34.0.1}
RATE=${RATE:-25}
RESYNC=${RESYNC:-120}
FEATURES=bench
. "$(dirname "$0")/setup.sh"
start_bench_operator operator-upgrade.log
ensure_bench_spaces
"$REPO_DIR/target/release/framaspace-bench-upgrade" --class bench --target "$TARGET" --parallel "$P" \
  --audit-log "$STATE_DIR/logs/audit.log" --out "$OUT" | tee "$OUT/upgrade-figures-$N.txt"
stop_process bench-operator
log "figures in bench/out/upgrade-figures-$N.txt, chart in bench/out/upgrade-$N.png"
