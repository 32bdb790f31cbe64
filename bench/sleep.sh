#!/usr/bin/env bash
# make bench-sleep N=...: what sleeping saves and what waking costs, one figure a line
# (bench/out/sleep-figures-N.txt). N spaces of the bench class (created by `make bench`'s creator
# if they are not there), with an activity pattern: USED % of them used every day (a browser
# session or an app password whose last use Nextcloud records, oc_authtoken.last_activity), the
# others used weekly or less (no use recorded since their install). The class sleeps after
# IDLE seconds. Figures: the spaces asleep and the time to get there, the memory the space pods
# request before and after (from the pods' own requests, LimitRange defaults included), then
# HELD requests for sleeping spaces at once through the wake component (the release binary's
# `wake`, in front of a stand-in upstream: no Nextcloud runs here) and their wait, p50 and p95.
# Run `make cluster-up` first; the spaces stay until `make cluster-down`.
set -euo pipefail
. "$(dirname "$0")/env.sh"
N=${1:-1000}
RATE=${RATE:-25}
RESYNC=${RESYNC:-120}
USED=${USED:-30}
IDLE=${IDLE:-60}
HELD=${HELD:-200}
BOUND=${BOUND:-20}
FEATURES=bench
. "$(dirname "$0")/setup.sh"
figures sleep
psql_bench() { PGPASSWORD="$FRAMASPACE_PG_PASSWORD" psql -h 127.0.0.1 -p "$FRAMASPACE_PG_PORT" -U "$FRAMASPACE_PG_USER" -d framaspace_bench -qAt "$@"; }
WAKE_PORT=28195; WAKE_PROBE_PORT=28196; UPSTREAM_PORT=28197

start_bench_operator operator-sleep.log --wake-service framaspace-operator-wake
ensure_bench_spaces
mapfile -t spaces < <(kubectl get spaces -l bench.frama.space/run=1 -o name | head -n "$N" | sed 's#.*/##')
requested_mib() { kubectl get pods -A -l app.kubernetes.io/name=nextcloud -o json | jq '[.items[] | select(.metadata.deletionTimestamp == null)
  | .spec.containers[].resources.requests.memory // "0" | if endswith("Mi") then .[:-2] | tonumber elif endswith("Gi") then .[:-2] | tonumber * 1024 else 0 end] | add // 0'; }
pods() { kubectl get pods -A -l app.kubernetes.io/name=nextcloud --no-headers 2>/dev/null | wc -l; }
used=$(( N * USED / 100 ))
say "== $N spaces; $used used daily (a recorded use that stays recent), $((N - used)) weekly or less; the class sleeps after $IDLE s idle"
# The daily users: a use recorded in the future stands for a space used all day long.
for s in "${spaces[@]:0:$used}"; do
  role="space_${s//-/_}"
  echo "INSERT INTO $role.oc_authtoken (uid, login_name, name, token, type, last_activity) VALUES ('admin', 'admin', 'Desktop client', 'bench-$s', 1, extract(epoch from now())::int + 30 * 86400);"
done | psql_bench >/dev/null
before_pods=$(pods); before=$(requested_mib)
say "before: $before_pods web pods requesting $before MiB ($(( before / (before_pods > 0 ? before_pods : 1) )) MiB a space)"
t0=$(date +%s)
kubectl patch spaceclass bench --type merge -p "{\"spec\":{\"sleep\":{\"idleAfterSeconds\":$IDLE,\"maxWakingPerPool\":$BOUND}}}" >/dev/null
asleep() { kubectl get spaces -l bench.frama.space/run=1 -o json | jq '[.items[] | select(.status.sleep.state == "Sleeping")] | length'; }
until [ "$(asleep)" -ge $((N - used)) ]; do
  [ $(( $(date +%s) - t0 )) -lt 1800 ] || die "the idle spaces did not fall asleep within 30 min"
  sleep 5
done
t1=$(date +%s)
until [ "$(pods)" -le "$used" ] || [ $(( $(date +%s) - t1 )) -gt 300 ]; do sleep 2; done
after_pods=$(pods); after=$(requested_mib)
say "asleep: $(asleep) of $N, all idle ones $((t1 - t0)) s after the policy was set (idle time $IDLE s included)"
say "after: $after_pods web pods requesting $after MiB: $((before - after)) MiB less ($(( 100 * (before - after) / (before > 0 ? before : 1) )) %)"
say "a space costs $(( before / (before_pods > 0 ? before_pods : 1) )) MiB of requests awake, 0 asleep (its Deployment at 0; a background run is a Job of minutes a day)"

say "== $HELD requests for sleeping spaces at once, through the wake component (at most $BOUND of the pool waking at once)"
start_process bench-upstream python3 "$E2E_DIR/tests/stand-in-upstream.py" "$UPSTREAM_PORT"
start_process bench-wake env KUBECONFIG="$STATE_DIR/wake.kubeconfig" "$REPO_DIR/target/release/framaspace-operator" wake \
  --address "127.0.0.1:$WAKE_PORT" --probe-address "127.0.0.1:$WAKE_PROBE_PORT" --upstream "http://127.0.0.1:$UPSTREAM_PORT" \
  --hold-seconds 600 --retry-seconds 5
wait_for "bench-wake: ready" 60 curl -sf "http://127.0.0.1:$WAKE_PROBE_PORT/readyz"
mapfile -t sleeping < <(kubectl get spaces -l bench.frama.space/run=1 -o json | jq -r '.items[] | select(.status.sleep.state == "Sleeping") | .metadata.name' | head -n "$HELD")
t0=$(date +%s)
printf '%s\n' "${sleeping[@]}" | xargs -P "$HELD" -I{} curl -s -o /dev/null --max-time 620 -w '%{http_code} %{time_total}\n' -X PROPFIND -u alice:pw \
  -H "Host: {}.bench.frama.space" "http://127.0.0.1:$WAKE_PORT/remote.php/dav/files/alice/" > "$OUT/sleep-held-$N.txt"
t1=$(date +%s)
ok=$(grep -c '^200 ' "$OUT/sleep-held-$N.txt" || true)
pct() { sort -n | awk -v p="$1" '{a[NR] = $1} END {i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print a[i]}'; }
p50=$(awk '{print $2}' "$OUT/sleep-held-$N.txt" | pct 50); p95=$(awk '{print $2}' "$OUT/sleep-held-$N.txt" | pct 95)
say "$ok of ${#sleeping[@]} held requests served (the rest: $(grep -vc '^200 ' "$OUT/sleep-held-$N.txt" || true)), all in $((t1 - t0)) s; wait p50 ${p50} s, p95 ${p95} s"
say "the operator's view (framaspace_space_wake_seconds): $(curl -sf http://127.0.0.1:28084/metrics | awk '/^framaspace_space_wake_seconds_sum/ {s=$2} /^framaspace_space_wake_seconds_count/ {c=$2} END {if (c > 0) printf "%.1f s on average over %d wakes", s / c, c}')"
say "simulated pods (KWOK): a real cluster adds the pod's scheduling and image pull (cached on the node: ~0 s), the image's entrypoint (two php -r, 1-2 s), Apache's start and the readiness probe's first period, and a cold OPcache on the first requests"
stop_process bench-wake
stop_process bench-upstream
stop_process bench-operator
log "figures in $FIG"
