#!/usr/bin/env bash
# Runs the e2e suites against a fresh local environment, which is always stopped afterwards,
# even on failure. Prints the totals last.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

cleanup() { "$E2E_DIR/cluster-down.sh" >/dev/null 2>&1 || true; }
trap cleanup EXIT
"$E2E_DIR/cluster-down.sh" >/dev/null 2>&1 || true
"$E2E_DIR/cluster-up.sh" || { echo "e2e: the environment did not come up"; exit 1; }

status=0
# A step is a suite, or suites joined by `+` that run at the same time: at most one of them starts
# an operator (two would fight over the lease and the spaces), and none stops what another uses.
# `provision` (the Rust integration tests against the servers) and `environment` (checks of the
# servers themselves, in a namespace of its own) start none.
steps=("$@"); [ ${#steps[@]} -eq 0 ] && steps=(environment+provision+cache-cluster office nextcloud operator chart upgrade backup)
suites=()
for step in "${steps[@]}"; do
  IFS=+ read -r -a group <<<"$step"
  suites+=("${group[@]}")
  if [ ${#group[@]} -eq 1 ]; then
    "$E2E_DIR/tests/${group[0]}.sh" || status=1
    continue
  fi
  pids=()
  for suite in "${group[@]}"; do
    "$E2E_DIR/tests/$suite.sh" > "$STATE_DIR/output.$suite" 2>&1 &
    pids+=($!)
  done
  for i in "${!group[@]}"; do
    wait "${pids[$i]}" || status=1
    cat "$STATE_DIR/output.${group[$i]}"
  done
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
