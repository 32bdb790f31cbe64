#!/usr/bin/env bash
# make adoption-sample N=50: a sample inventory of N existing instances (e2e/legacy-instances.sh:
# database, Garage bucket, Redis user, config.php) adopted step by step on the local environment
# (`make cluster-up` first), printing what a platform engineer types and sees.
set -uo pipefail
. "$(dirname "$0")/env.sh"
N=${1:-50}
OUT="$REPO_DIR/bench/out/adoption-$N"; rm -rf "$OUT"; mkdir -p "$OUT"
. "$E2E_DIR/legacy-instances.sh"
step() { printf '\n$ %s\n' "$*"; "$@"; }
cargo build --locked --bins >/dev/null 2>&1 || die "build failed"
"$E2E_DIR/install.sh" >/dev/null && "$E2E_DIR/admin-secrets.sh" >/dev/null
kubectl apply -f "$REPO_DIR/examples/pools.yaml" -f "$REPO_DIR/examples/spaceclass-standard.yaml" -f "$REPO_DIR/examples/backends.yaml" >/dev/null
stop_process operator
mapfile -t cmd < <(operator_command --log-format json --metrics-address 127.0.0.1:28085 --identity adoption-sample)
PROC_LOG="$OUT/operator.log" start_process operator "${cmd[@]}"
kubectl wait --for=condition=Ready databasepool/pg-1 cachepool/redis-1 storagepool/s3-garage --timeout=120s >/dev/null
log "making $N existing instances (database, bucket, Redis user, config.php)"
names=(); for i in $(seq -w 1 "$N"); do names+=("asso-$i"); done
t0=$(date +%s)
legacy_instances "$OUT/inventory" "${names[@]}" || die "the inventory was not made"
log "inventory made in $(( $(date +%s) - t0 )) s"
# Waves: the first five, then the rest.
{ head -1 "$OUT/inventory/extra.csv" | sed 's/$/,wave/'; tail -n +2 "$OUT/inventory/extra.csv" | awk -F, '{ print $0 "," (NR <= 5 ? 1 : 2) }'; } > "$OUT/inventory.csv"
OP="$REPO_DIR/target/debug/framaspace-operator"
cd "$OUT"
printf '\n$ framaspace-operator adopt inventory/*.config.php --csv inventory.csv --class standard --out manifests --database-pool 127.0.0.1:%s=pg-1 --storage-pool 127.0.0.1:%s=s3-garage\n' \
  "$FRAMASPACE_PG_PORT" "${FRAMASPACE_GARAGE_S3_URL##*:}"
"$OP" adopt inventory/*.config.php --csv inventory.csv --class standard --out manifests \
  --database-pool "127.0.0.1:$FRAMASPACE_PG_PORT=pg-1" --storage-pool "127.0.0.1:${FRAMASPACE_GARAGE_S3_URL##*:}=s3-garage"
printf '\n$ sed -n "/kind: AssociationSpace/,\\$p" manifests/asso-01.yaml   (after its adoption Secret)\n'; sed -n '/kind: AssociationSpace/,$p' manifests/asso-01.yaml
printf '\n$ kubectl apply -f manifests/\n'; kubectl apply -f manifests/ -o name | tail -2
clean() { [ "$(kubectl get spaces -l frama.space/adoption-wave -o json | jq '[.items[] | select(.status.adoption.state == "Clean")] | length')" = "$N" ]; }
t0=$(date +%s); until clean; do sleep 1; [ $(( $(date +%s) - t0 )) -gt 600 ] && break; done
echo "(all $N observed and Clean after $(( $(date +%s) - t0 )) s)"
step kubectl get spaces -l frama.space/adoption-wave -o wide --sort-by=.metadata.name | head -6
step kubectl describe space asso-01 | sed -n '/Conditions:/,/Events:/p' | head -20
sleep 11   # the metrics are counted every 10 s
printf '\n$ curl -s localhost:28085/metrics | grep ^framaspace_spaces_adoption\n'; curl -s http://127.0.0.1:28085/metrics | grep '^framaspace_spaces_adoption'
for wave in 1 2; do
  printf '\n$ kubectl get spaces -l frama.space/adoption-wave=%s -o name | xargs -I{} kubectl patch {} --type merge -p '"'"'{"spec":{"adoption":{"policy":"Manage"}}}'"'"'\n' "$wave"
  t0=$(date +%s)
  kubectl get spaces -l "frama.space/adoption-wave=$wave" -o name | xargs -I{} kubectl patch {} --type merge -p '{"spec":{"adoption":{"policy":"Manage"}}}' >/dev/null
  step kubectl wait --for=condition=Ready space -l "frama.space/adoption-wave=$wave" --timeout=15m | tail -2
  echo "(wave $wave: $(kubectl get spaces -l "frama.space/adoption-wave=$wave" -o name | wc -l) spaces Ready in $(( $(date +%s) - t0 )) s)"
done
sleep 12
step kubectl get spaces -l frama.space/adoption-wave --sort-by=.metadata.name | head -6
printf '\n$ kubectl get space asso-01 -o jsonpath={.status.usage}\n'; kubectl get space asso-01 -o jsonpath='{.status.usage}' | jq .
printf '\n$ curl -s localhost:28085/metrics | grep -E "^framaspace_spaces_(adoption|by_usage)"\n'
curl -s http://127.0.0.1:28085/metrics | grep -E '^framaspace_spaces_(adoption|by_usage\{resource="accounts")'
installs=$(jq -c 'select(.verb == "create" and .objectRef.resource == "jobs" and (.objectRef.name // "" | startswith("nextcloud-install")) and (.objectRef.namespace // "" | startswith("space-asso-")))' "$STATE_DIR/logs/audit.log" | wc -l)
echo
echo "install Jobs created for the adopted spaces: $installs"
stop_process operator
