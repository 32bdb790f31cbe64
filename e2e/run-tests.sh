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
suites=("$@"); [ ${#suites[@]} -eq 0 ] && suites=(environment provision office nextcloud operator chart upgrade backup)
for suite in "${suites[@]}"; do
  "$E2E_DIR/tests/$suite.sh" || status=1
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
