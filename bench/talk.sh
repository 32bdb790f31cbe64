#!/usr/bin/env bash
# make bench-talk N=...: what wiring Talk costs, one figure a line (bench/out/talk-figures-N.txt).
# N spaces of the bench class (whose apps, omitted, are the promised ones, spreed included) wait
# for a calls backend (TalkReady NoPool: no TalkBackend exists); then one TalkBackend with the
# High-performance backend is applied and wires them all. Figures: the time until every space
# is Configured, the API writes the wiring made (every client's, from the API server's audit log,
# by resource and verb, and per space), the backend's replicas, and the size of its signaling
# configuration (one entry per space, in a Secret of at most 1 MiB). Run `make cluster-up`
# first, on an environment where no TalkBackend was made; the spaces stay until
# `make cluster-down`.
set -euo pipefail
. "$(dirname "$0")/env.sh"
N=${1:-200}
NS=framaspace-system
RATE=${RATE:-25}
RESYNC=${RESYNC:-120}
FEATURES=bench
. "$(dirname "$0")/setup.sh"
figures talk
[ "$(kubectl get talkbackends --no-headers 2>/dev/null | wc -l)" = 0 ] ||
  die "a TalkBackend exists: its spaces are wired already; run on a fresh environment (make cluster-down cluster-up)"

start_bench_operator operator-talk.log
ensure_bench_spaces
# count_talk REASON...: the spaces whose TalkReady has one of these reasons.
count_talk() { kubectl get spaces -l bench.frama.space/run=1 -o json |
  jq --arg r "$*" '[.items[] | select([.status.conditions[]? | select(.type == "TalkReady") | .reason] | length == 1 and (.[0] as $x | $r | split(" ") | index($x)))] | length'; }
all_waiting() { [ "$(count_talk NoPool NoBackendAssigned)" -ge "$N" ]; }
wait_for "the $N spaces: Talk waits for a calls backend (TalkReady NoPool)" 600 all_waiting || die "the spaces do not wait for a calls backend"
say "== $N spaces of the bench class (spreed among their apps), no calls backend yet"

# Every write from here on, by any client, is the wiring's (nothing else changes the spaces).
since=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
t0=$(date +%s)
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: frama.space/v1alpha1
kind: TalkBackend
metadata: { name: bench-turn, labels: { bench.frama.space/pool: "true" } }   # the bench class's poolSelector
spec:
  turn: { host: turn.bench.frama.space, port: 3478 }
  scaling: { spacesPerReplica: 1000, minReplicas: 2, maxReplicas: 3 }
  signaling:
    host: signaling.bench.frama.space
    janusImage: registry.frama.space/framaspace/janus:1.3.0
YAML
until [ "$(count_talk Configured)" -ge "$N" ]; do
  [ $(( $(date +%s) - t0 )) -lt 1800 ] || die "the spaces were not all wired within 30 min"
  sleep 3
done
t1=$(date +%s)
sleep 10   # the last status writes and Events of the wiring land
say "wired: $N spaces Configured $((t1 - t0)) s after the TalkBackend was applied ($(awk -v n="$N" -v s=$((t1 - t0)) 'BEGIN {printf "%.1f", n / (s > 0 ? s : 1)}') spaces/s)"

writes() { cat "$STATE_DIR"/logs/audit*.log | jq -c --arg since "$since" '
  select(.requestReceivedTimestamp >= $since and (.verb | IN("create", "update", "patch", "delete")))
  | {agent: (.userAgent // "no user agent (occ-sim)" | split("/")[0]), what: "\(.verb) \(.objectRef.resource)\(if .objectRef.subresource then "/" + .objectRef.subresource else "" end)"}'; }
all=$(writes)
op=$(jq -c 'select(.agent == "framaspace-operator")' <<<"$all")
total=$(wc -l <<<"$all"); by_op=$(grep -c . <<<"$op" || true)
say "API writes of the wiring: $total by every client, $by_op by the operator ($(awk -v w="$by_op" -v n="$N" 'BEGIN {printf "%.2f", w / n}') a space)"
say "the operator's, by resource and verb (count, a space):"
jq -r '.what' <<<"$op" | sort | uniq -c | sort -rn | while read -r c what; do
  say "  $what: $c ($(awk -v c="$c" -v n="$N" 'BEGIN {printf "%.2f", c / n}'))"
done
say "the other clients' (the simulated kubelets and Job controller running the talk Jobs):"
jq -r 'select(.agent != "framaspace-operator") | "\(.agent) \(.what)"' <<<"$all" | sort | uniq -c | sort -rn | head -12 | while read -r c rest; do say "  $rest: $c"; done

read -r assigned desired ready < <(kubectl get talkbackend bench-turn -o jsonpath='{.status.assignedSpaces} {.status.desiredReplicas} {.status.readyReplicas}{"\n"}')
say "bench-turn: $assigned spaces assigned, $desired TURN replicas desired, $ready ready (spacesPerReplica 1000, minReplicas 2)"
conf=$(kubectl -n "$NS" get secret talk-bench-turn-signaling -o jsonpath='{.data.server\.conf}' | base64 -d | wc -c)
say "its signaling configuration: $conf bytes for $assigned spaces ($(awk -v b="$conf" -v n="$assigned" 'BEGIN {printf "%.0f", b / (n > 0 ? n : 1)}') a space; 3,000 spaces: ~$(awk -v b="$conf" -v n="$assigned" 'BEGIN {printf "%.0f", b / (n > 0 ? n : 1) * 3000 / 1024}') KiB of the Secret's 1 MiB)"
say "figures in $FIG"
