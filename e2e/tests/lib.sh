# Assertions for the e2e suites. Sourced. Each suite ends with `summary`, which prints
# "N passed, N failed" and fails when anything failed.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$E2E_DIR/proc.sh"
[ -s "$STATE_DIR/env" ] || { echo "no environment: run 'make cluster-up' first" >&2; exit 2; }
. "$STATE_DIR/env"

PASSED=0; FAILED=0; FAILURES=()
SUITE=$(basename "$0" .sh)

pass() { PASSED=$((PASSED + 1)); printf '  ok   %s\n' "$1"; }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$1"); printf '  FAIL %s\n' "$1"; [ $# -gt 1 ] && printf '       %s\n' "${@:2}"; return 0; }

# check DESCRIPTION COMMAND... : passes when COMMAND succeeds.
check() {
  local what=$1; shift
  local out
  if out=$("$@" 2>&1); then pass "$what"; else fail "$what" "$(printf '%s' "$out" | tail -n 5)"; fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected: $2" "actual:   $3"; fi
}

# check_refused DESCRIPTION TEXT < MANIFEST: the API server refuses the manifest (a server-side
# dry run: nothing is created), with a message that contains TEXT.
check_refused() {
  local out
  if out=$(kubectl apply --dry-run=server -f - 2>&1); then fail "$1" "accepted: $out"; else check "$1" grep -qF -- "$2" <<<"$out"; fi
}

# eventually SECONDS COMMAND... : retries COMMAND until it succeeds (for state that converges).
eventually() {
  local seconds=$1; shift
  local deadline=$(( $(date +%s) + seconds ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.5
  done
}

section() { printf '\n%s: %s\n' "$SUITE" "$1"; }

summary() {
  printf '\n%s: %d passed, %d failed\n' "$SUITE" "$PASSED" "$FAILED"
  for f in "${FAILURES[@]+"${FAILURES[@]}"}"; do printf '  failed: %s\n' "$f"; done
  # Machine-readable totals for run-tests.sh.
  printf '%s %s\n' "$PASSED" "$FAILED" > "$STATE_DIR/results.$SUITE"
  [ "$FAILED" -eq 0 ]
}
