#!/usr/bin/env bash
# Runs the e2e suites against a fresh local environment, which is always stopped afterwards,
# even on failure. Prints the totals last.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/proc.sh"

# A line on the machine every two minutes, so a run that crawls (CI) says why at the tail of its
# output: load, memory, disk, and how long the API server takes to answer.
heartbeat() {
  local t0 ready
  while sleep 120; do
    t0=$(date +%s%N)
    ready=$(timeout 30 "$K8S_BIN/kubectl" --kubeconfig "$STATE_DIR/kubeconfig" get --raw /readyz 2>&1 | head -c 80)
    echo "e2e: [$(date +%H:%M:%S)] load $(cut -d' ' -f1-3 /proc/loadavg); memory available $(awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo) MiB;" \
      "disk free $(df -Pm "$STATE_DIR" | awk 'NR == 2 {print $4}') MiB; /readyz: ${ready:-no answer} in $(( ($(date +%s%N) - t0) / 1000000 )) ms" >&2
  done
}
heartbeat_pid=""
cleanup() { [ -n "$heartbeat_pid" ] && kill "$heartbeat_pid" 2>/dev/null; "$E2E_DIR/cluster-down.sh" >/dev/null 2>&1 || true; }
trap cleanup EXIT
"$E2E_DIR/cluster-down.sh" >/dev/null 2>&1 || true
"$E2E_DIR/cluster-up.sh" || { echo "e2e: the environment did not come up"; exit 1; }
heartbeat & heartbeat_pid=$!

# A step may take at most SUITE_TIMEOUT seconds (20 min; the longest takes 8 here): one that hangs
# fails with its name instead of spending CI's whole budget, and what it started is stopped, so
# the next step's operator is not refused the lease by the hung one's.
SUITE_TIMEOUT=${SUITE_TIMEOUT:-1200}
steady=" etcd kube-apiserver kube-controller-manager kube-scheduler kwok postgres redis redis-tls-server redis-tls minio garage occ-sim "
stop_strays() {
  local f name
  for f in "$STATE_DIR"/pids/*; do
    [ -e "$f" ] || continue
    name=$(basename "$f")
    case "$steady" in *" $name "*) continue ;; esac
    case "$name" in redis-cluster-*) continue ;; esac
    is_running "$name" && { echo "e2e: stopping $name, left running by the step"; stop_process "$name"; }
  done
}
run_suite() { # SUITE
  timeout --kill-after=30 "$SUITE_TIMEOUT" "$E2E_DIR/tests/$1.sh"
  local rc=$?
  [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && echo "e2e: suite $1 stopped after ${SUITE_TIMEOUT}s"
  return "$rc"
}

status=0
# A step is a suite, or suites joined by `+` that run at the same time: at most one of them starts
# an operator (two would fight over the lease and the spaces), and none stops what another uses.
# `provision` (the Rust integration tests against the servers) and `environment` (checks of the
# servers themselves, in a namespace of its own) start none.
steps=("$@"); [ ${#steps[@]} -eq 0 ] && steps=(environment+provision+cache-cluster office nextcloud operator chart upgrade backup)
suites=()
# Each step's time is printed after it, so a slow CI run says where its time went.
step_started=0
took() { echo "e2e: step $1 took $(( $(date +%s) - step_started )) s"; }
for step in "${steps[@]}"; do
  IFS=+ read -r -a group <<<"$step"
  suites+=("${group[@]}")
  step_started=$(date +%s)
  if [ ${#group[@]} -eq 1 ]; then
    run_suite "${group[0]}" || status=1
    took "$step"
    stop_strays
    continue
  fi
  pids=()
  for suite in "${group[@]}"; do
    run_suite "$suite" > "$STATE_DIR/output.$suite" 2>&1 &
    pids+=($!)
  done
  for i in "${!group[@]}"; do
    wait "${pids[$i]}" || status=1
    cat "$STATE_DIR/output.${group[$i]}"
  done
  took "$step"
  stop_strays
done
passed=0; failed=0
for suite in "${suites[@]}"; do
  if [ -s "$STATE_DIR/results.$suite" ]; then
    read -r p f < "$STATE_DIR/results.$suite"; passed=$((passed + p)); failed=$((failed + f))
  else
    echo "e2e: suite $suite ended before its summary"; failed=$((failed + 1)); status=1
  fi
done
# Keep the logs of a failed run for the person who reads CI.
if [ "$status" -ne 0 ] && [ -d "$STATE_DIR/logs" ]; then
  mkdir -p "$REPO_DIR/target/e2e-logs" && cp -r "$STATE_DIR/logs/." "$REPO_DIR/target/e2e-logs/" 2>/dev/null
  echo "e2e: logs kept in target/e2e-logs/"
fi
echo
echo "e2e: $passed passed, $failed failed"
exit $status
