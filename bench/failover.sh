#!/usr/bin/env bash
# make bench-failover N=...: two operator replicas with leader election, N spaces made Ready by the
# leader, then the leader is SIGKILLed. Measured from the kill: when the standby holds the lease,
# when its caches are filled (/readyz), its first write (the finalizer of a space created right
# after the kill), and when it has reconciled every space; and the writes the killed leader could
# not have sent (a SIGKILLed process sends nothing, so the count is the standby's refused writes
# while it waited: 0). Run on a fresh environment (`make cluster-down cluster-up`).
set -euo pipefail
. "$(dirname "$0")/env.sh"
N=${1:-1000}
LEASE=${LEASE:-15}
GRACE=${GRACE:-5}
FEATURES=bench
. "$(dirname "$0")/setup.sh"
stop_process operator

port_of() { case $1 in fo-a) echo 28085 ;; fo-b) echo 28086 ;; esac; }
# The sum of the samples whose line starts with $2 (a metric name, optionally with its first labels).
metric() { curl -sf "http://127.0.0.1:$(port_of "$1")/metrics" | grep -v '^#' | grep -F "$2" | awk '{s += $NF} END {print s + 0}'; }
start_replica() {
  local cmd; mapfile -t cmd < <(OPERATOR_BIN="$REPO_DIR/target/release/framaspace-operator" operator_command \
    --log-format json --identity "$1" --metrics-address "127.0.0.1:$(port_of "$1")" --resync-seconds 3600 --concurrency 32 \
    --lease-duration-seconds "$LEASE" --lease-grace-seconds "$GRACE")
  PROC_LOG="$OUT/failover-$1.log" start_process "$1" "${cmd[@]}"
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

start_replica fo-a
wait_for "fo-a: leading" 60 bash -c "[ \"\$(curl -sf http://127.0.0.1:$(port_of fo-a)/metrics | awk '\$1 == \"framaspace_leader\" {print \$2}')\" = 1 ]"
start_replica fo-b
wait_for "fo-b: its metrics endpoint" 60 curl -sf "http://127.0.0.1:$(port_of fo-b)/readyz"
for p in dbpool/bench-pg cachepool/bench-redis stpool/bench-minio; do kubectl wait --for=condition=Ready "$p" --timeout=120s >/dev/null; done

log "creating $N spaces"
manifest="$OUT/failover-spaces.yaml"
: > "$manifest"
for i in $(seq 1 "$N"); do
  printf -- '---\napiVersion: frama.space/v1alpha1\nkind: AssociationSpace\nmetadata: { name: fo-%05d }\nspec: { displayName: Failover %d, contactEmail: admin@fo.example, spaceClassName: bench, office: none }\n' "$i" "$i" >> "$manifest"
done
started=$(now)
kubectl apply --server-side -f "$manifest" >/dev/null
ready_count() { kubectl get spaces -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True || true; }
until [ "$(ready_count)" -ge "$N" ]; do sleep 2; done
log "$N spaces created and Ready in $(since "$started") s"
[ "$(metric fo-b framaspace_reconciles_total)" = 0 ] || die "the standby reconciled before the failover"

read -r leader_pid _ < "$STATE_DIR/pids/fo-a"
kill -KILL "$leader_pid"; rm -f "$STATE_DIR/pids/fo-a"
killed=$(now)
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: fo-after-kill }
spec: { displayName: Created after the kill, contactEmail: admin@fo.example, spaceClassName: bench, office: none }
YAML
lead="" filled="" first_write="" all=""
while [ -z "$all" ]; do
  [ -z "$lead" ] && [ "$(metric fo-b framaspace_leader)" = 1 ] && lead=$(since "$killed")
  [ -z "$filled" ] && [ -n "$lead" ] && [ "$(curl -sf "http://127.0.0.1:$(port_of fo-b)/readyz")" = "ok" ] && filled=$(since "$killed")
  if [ -z "$first_write" ] && kubectl get space fo-after-kill -o jsonpath='{.metadata.finalizers}' | grep -q cleanup; then first_write=$(since "$killed"); fi
  [ -n "$first_write" ] && [ "$(metric fo-b 'framaspace_reconciles_total{controller="space"')" -ge $((N + 1)) ] && all=$(since "$killed")
  [ "$(awk -v a="$killed" -v b="$(now)" 'BEGIN { print (b - a > 600) }')" = 1 ] && die "no failover within 600 s"
  sleep 0.2
done
kubectl wait --for=condition=Ready space/fo-after-kill --timeout=300s >/dev/null
ready_after=$(since "$killed")
{
  echo "failover of $N spaces (lease ${LEASE} s, grace ${GRACE} s), seconds after the leader's SIGKILL:"
  echo "  standby holds the lease:          $lead"
  echo "  its caches filled (/readyz ok):   $filled"
  echo "  its first write (a finalizer):    $first_write"
  echo "  every space reconciled:           $all"
  echo "  the new space Ready:              $ready_after"
  echo "  writes refused by the new leader: $(metric fo-b framaspace_writes_refused_total)"
  echo "  operator RSS of the new leader:   $(( $(awk '/VmRSS/ {print $2}' "/proc/$(head -c 20 "$STATE_DIR/pids/fo-b" | cut -d' ' -f1)/status") / 1024 )) MiB"
} | tee "$OUT/failover-$N.txt"
stop_process fo-b
log "figures in bench/out/failover-$N.txt; the spaces stay until 'make cluster-down'"
