#!/usr/bin/env bash
# Provisioning against the real PostgreSQL, Redis, MinIO and Garage (Rust integration tests).
. "$(dirname "$0")/lib.sh"
section "provisioning against the real servers (cargo test --features integration --test provision)"
cd "$REPO_DIR"
out=$(cargo test --locked --features integration --test provision 2>&1)
echo "$out" | grep -E '^test |panicked|left:|right:|^test result'
while read -r name result; do
  if [ "$result" = ok ]; then pass "$name"; else fail "$name"; fi
done < <(sed -n 's/^test \([a-z_]*\) \.\.\. \([a-zA-Z]*\)$/\1 \2/p' <<<"$out")
grep -q '^test result: ok' <<<"$out" || fail "cargo test reported a failure" "$(tail -n 5 <<<"$out")"
summary
