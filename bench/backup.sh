#!/usr/bin/env bash
# make bench-backup N=...: what backups and restores cost, one figure a line (bench/out/
# backup-figures-N.txt). First one space per database size (10 MB, 100 MB, 1 GB): its backup
# (the real pg_dump by the Job, the copy to the backup store) and its restore in place (the
# files, then the dump streamed into one transaction), each timed from the status and the
# SpaceRestore. Then N spaces of the bench class (created by `make bench`'s creator if they are
# not there) all asked for a backup at once: how long the fleet takes, and what that makes of
# 10,000 spaces in a night. Run `make cluster-up` first; the spaces stay until `make cluster-down`.
set -euo pipefail
. "$(dirname "$0")/env.sh"
N=${1:-1000}
RATE=${RATE:-25}
RESYNC=${RESYNC:-120}
SIZES=${SIZES:-"10 100 1000"}
FEATURES=bench
. "$(dirname "$0")/setup.sh"
figures backup
jsonpath() { kubectl get "$1" -o "jsonpath=$2" 2>/dev/null; }
psql_bench() { PGPASSWORD="$FRAMASPACE_PG_PASSWORD" psql -h 127.0.0.1 -p "$FRAMASPACE_PG_PORT" -U "$FRAMASPACE_PG_USER" -d framaspace_bench -qAt "$@"; }

kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: StoragePool
metadata: { name: bench-backups }
spec:
  purpose: Backups
  provider: garage
  endpoint: http://127.0.0.1:23900
  adminEndpoint: http://127.0.0.1:23903
  region: garage
  adminSecretRef: { name: s3-garage-admin }
  bucketPrefix: bench-backup-
  capacity: { maxSpaces: $((N + 1000)) }
  maxConcurrentOperations: 8
YAML
kubectl patch spaceclass bench --type merge -p '{"spec":{"backup":{"storagePool":"bench-backups","everyHours":24,"keep":3}}}' >/dev/null
start_bench_operator operator-backup.log
kubectl wait --for=condition=Ready stpool/bench-backups --timeout=120s >/dev/null

answered() { [ "$(jsonpath "space/$1" '{.status.backups.lastRequest}')" = "$2" ] && [ -z "$(jsonpath "space/$1" '{.status.backups.running.id}')" ]; }
wait_answered() { local deadline=$(( $(date +%s) + $3 )); until answered "$1" "$2"; do [ "$(date +%s)" -lt "$deadline" ] || die "$1: no backup for $2"; sleep 0.5; done; }

say "== one space per database size: backup, then restore in place"
for mb in $SIZES; do
  s="bks-$mb"
  kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: $s }
spec: { displayName: "Backup bench $mb MB", contactEmail: "contact@$s.example", spaceClassName: bench }
YAML
  kubectl wait --for=condition=Ready "space/$s" --timeout=300s >/dev/null
  role="space_${s//-/_}"
  # Rows of ~150 bytes that compress about 2:1 (hex), as the space's role in its schema.
  rows=$(( mb * 1000000 / 150 ))
  psql_bench -c "SET ROLE $role; DROP TABLE IF EXISTS $role.oc_bench_fill; CREATE TABLE $role.oc_bench_fill (id bigserial PRIMARY KEY, body text)" >/dev/null
  psql_bench -c "SET ROLE $role; INSERT INTO $role.oc_bench_fill (body) SELECT md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) || md5(random()::text) FROM generate_series(1, $rows) g" >/dev/null
  size=$(psql_bench -c "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '$role' AND c.relkind = 'r'")
  t0=$(date +%s.%N)
  token="bench-$(date +%s)"
  kubectl annotate --overwrite space "$s" frama.space/backup-requested="$token" >/dev/null
  wait_answered "$s" "$token" 3600
  t1=$(date +%s.%N)
  read -r bytes dur < <(kubectl get space "$s" -o json | jq -r '.status.backups.kept[0] | "\(.databaseBytes) \(.durationSeconds)"')
  id=$(jsonpath "space/$s" '{.status.backups.kept[0].id}')
  say "database $mb MB ($((size / 1000000)) MB on disk): backup ${dur} s in status, $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s from the request; dump $((bytes / 1000000)) MB gzip'd SQL"
  psql_bench -c "SET ROLE $role; DELETE FROM $role.oc_bench_fill WHERE id % 2 = 0" >/dev/null
  t0=$(date +%s.%N)
  kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: SpaceRestore
metadata: { name: $s-${id,,}-bench }
spec: { space: $s, backup: "$id" }
YAML
  kubectl wait --for=condition=Complete "spacerestore/$s-${id,,}-bench" --timeout=3600s >/dev/null
  t1=$(date +%s.%N)
  kubectl wait --for=condition=Ready "space/$s" --timeout=600s >/dev/null
  t2=$(date +%s.%N)
  back=$(psql_bench -c "SELECT count(*) FROM $role.oc_bench_fill")
  say "database $mb MB: restore in place $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s to Complete, $(printf '%.1f' "$(echo "$t2 - $t0" | bc)") s to Ready again; $back rows back of $rows"
done

say "== $N spaces asked for a backup at once"
ensure_bench_spaces
cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
t0=$(date +%s)
token="fleet-$t0"
# kubectl annotate takes its objects before the annotation.
kubectl get spaces -l bench.frama.space/run=1 -o name | head -n "$N" \
  | xargs -n 200 sh -c 'kubectl annotate --overwrite "$@" "frama.space/backup-requested=$0" >/dev/null' "$token"
done_count() { kubectl get spaces -l bench.frama.space/run=1 -o json | jq --arg t "$token" '[.items[] | select(.status.backups.lastRequest == $t and .status.backups.running == null)] | length'; }
peak=0
until [ "$(done_count)" -ge "$N" ]; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status"); [ "$rss" -gt "$peak" ] && peak=$rss
  [ $(( $(date +%s) - t0 )) -lt 7200 ] || die "the fleet's backups did not end within 2 h"
  sleep 5
done
t1=$(date +%s)
cpu1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
hz=$(getconf CLK_TCK)
wall=$((t1 - t0))
failed=$(kubectl get spaces -l bench.frama.space/run=1 -o json | jq '[.items[] | select(.status.backups.failure != null)] | length')
cpu=$(( (cpu1 - cpu0) / hz ))
say "$N backups in ${wall} s ($(echo "scale=2; $N / $wall" | bc) spaces/s), $failed failed; operator CPU ${cpu} s ($(echo "scale=1; 1000 * $cpu / $N" | bc) ms a space), peak RSS $((peak / 1024)) MiB"
say "10,000 spaces at this rate: $(echo "scale=1; 10000 * $wall / $N / 60" | bc) min of the 24 h period (each space at its own slot, ~one every 8.6 s)"
dumps=$(kubectl get spaces -l bench.frama.space/run=1 -o json | jq '[.items[].status.backups.kept[0].databaseBytes // 0] | add / length | floor')
say "a new space's dump: $dumps bytes; recovery point: the period (24 h), or less with everyHours; recovery time: the restores above"
stop_process bench-operator
log "figures in $FIG"
