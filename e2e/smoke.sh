#!/usr/bin/env bash
# `make smoke`: one real space on a real cluster, end to end. It cannot run on the development
# machine (no container runtime: KWOK marks pods Ready there, and no Nextcloud ever runs).
#
# Needs: KUBECONFIG for a cluster where the chart runs the operator, its pools and backends are
# Ready, and a SpaceClass names the pushed image (README, "The Nextcloud image"); DNS and TLS for
# the class's base domain (SMOKE_INSECURE=1 accepts a self-signed certificate); curl ≥ 7.75 (SigV4)
# and jq. SMOKE_CLASS picks the class (default: the default class). SMOKE_UPGRADE_TO=<version>
# then moves that class (make it one of the smoke's own: every space of it moves) to a release of
# the next major or patch, pushed as its image, and checks the space's real upgrade: the snapshot
# Job (images/snapshot), `occ upgrade` in the new image, the file still there. A SMOKE_CLASS whose
# CachePool is a cluster checks Nextcloud's `redis.cluster` for real (TLS seeds included): its keys
# on the masters, no ACL refusal on any node. SMOKE_SLEEP=1, with a class that sleeps, waits for the
# space to sleep and wakes it with a real WebDAV request through the edge and the wake component.
set -euo pipefail
: "${KUBECONFIG:?make smoke needs KUBECONFIG for a real cluster}"
for t in kubectl curl jq; do command -v "$t" >/dev/null || { echo "smoke: $t is required"; exit 1; }; done
name="smoke-$(date +%s)"
curl_opts=(-fsS --max-time 60); [ "${SMOKE_INSECURE:-0}" = 1 ] && curl_opts+=(-k)
step() { printf '[smoke] %s\n' "$*"; }
cleanup() { kubectl delete space "$name" --ignore-not-found --wait=false >/dev/null 2>&1 || true; }
trap cleanup EXIT

step "create space $name (deletionPolicy Delete)"
kubectl apply -f - <<YAML
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: $name }
spec:
  displayName: "Smoke test $name"
  contactEmail: "smoke@example.org"
  deletionPolicy: Delete
  ${SMOKE_CLASS:+spaceClassName: $SMOKE_CLASS}
YAML
step "wait until Ready (install Job, then the web pod's health endpoint)"
kubectl wait --for=condition=Ready "space/$name" --timeout=20m
url=$(kubectl get space "$name" -o jsonpath='{.status.url}')
ns=$(kubectl get space "$name" -o jsonpath='{.status.namespace}')
version=$(kubectl get space "$name" -o jsonpath='{.status.nextcloud.versionString}')
step "$url runs Nextcloud $version"
secret() { kubectl -n "$ns" get secret nextcloud-credentials -o jsonpath="{.data.$1}" | base64 -d; }
password=$(secret admin-password)

step "the health endpoint says installed, normal mode, no upgrade pending"
health=$(curl "${curl_opts[@]}" "$url/framaspace/health")
jq -e '.installed == true and .maintenance == false and .needsDbUpgrade == false' <<<"$health" >/dev/null || { echo "$health"; exit 1; }

step "log in as admin over WebDAV, upload and download a file"
body="framaspace smoke $name $(date -u +%FT%TZ)"
dav="$url/remote.php/dav/files/admin/smoke.txt"
curl "${curl_opts[@]}" -u "admin:$password" -T - "$dav" <<<"$body" >/dev/null
[ "$(curl "${curl_opts[@]}" -u "admin:$password" "$dav")" = "$body" ] || { echo "smoke: the file read back differs"; exit 1; }
fileid=$(curl "${curl_opts[@]}" -u "admin:$password" -X PROPFIND -H 'Depth: 0' \
  --data '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop><oc:fileid/></d:prop></d:propfind>' \
  "$dav" | sed -n 's#.*<oc:fileid>\([0-9]*\)</oc:fileid>.*#\1#p')
[ -n "$fileid" ] || { echo "smoke: no fileid"; exit 1; }

step "the space's cache keys carry its prefix, and Valkey refused none of Nextcloud's commands (ACL LOG)"
# Nextcloud 33.0.1+ prefixes every cache key with memcache_customprefix (server#58705, #58810 for
# stable33); how it joins the instance's own prefix was not readable in the stored sources, so a
# real Nextcloud proves it here: its keys exist under `space-<name>:`, and the pinned ACL user
# (`~space-<name>:*`) was never refused. valkey-cli runs in a pod of the operator's namespace, the
# admin credentials from the CachePool's Secret (never on a command line).
pool=$(kubectl get space "$name" -o jsonpath='{.status.placement.cachePool}')
cache=$(kubectl get cachepool "$pool" -o json)
admin_secret=$(jq -r '.spec.adminSecretRef.name' <<<"$cache")
tls_flags=(); [ "$(jq -r '.spec.tls // false' <<<"$cache")" = true ] && tls_flags=(--tls --insecure)
valkey() {
  local overrides
  overrides=$(jq -n --arg img "${SMOKE_VALKEY_IMAGE:-docker.io/valkey/valkey:9.1}" --arg s "$admin_secret" \
    --arg host "$(jq -r .spec.host <<<"$cache")" --arg port "$(jq -r .spec.port <<<"$cache")" --args '{spec: {containers: [{
      name: "valkey", image: $img, stdin: true,
      command: (["sh", "-c", "exec valkey-cli --no-auth-warning --user \"$VALKEY_USER\" -h \"$0\" -p \"$1\" \"$@\"", $host, $port] + $ARGS.positional),
      env: [{name: "VALKEY_USER", valueFrom: {secretKeyRef: {name: $s, key: "username"}}},
            {name: "REDISCLI_AUTH", valueFrom: {secretKeyRef: {name: $s, key: "password"}}}]}]}}' -- "${tls_flags[@]}" "$@")
  kubectl -n "${SMOKE_OPERATOR_NAMESPACE:-framaspace-system}" run "smoke-valkey-$RANDOM" --rm -i --quiet --restart=Never \
    --image="${SMOKE_VALKEY_IMAGE:-docker.io/valkey/valkey:9.1}" --overrides "$overrides" </dev/null
}
if [ "$(jq -r '.spec.cluster != null' <<<"$cache")" = true ]; then
  # A cluster CachePool: the real phpredis RedisCluster (its TLS seeds too) reached every master
  # it needed, as the space's user. `--cluster call` runs a command on every node and prints
  # "host:port: " before each node's first line; database 0 is every space's, so only the
  # space's own keys are looked for.
  seed="$(jq -r .spec.host <<<"$cache"):$(jq -r .spec.port <<<"$cache")"
  keys=$(valkey --cluster call "$seed" --cluster-only-masters KEYS "space-$name:*" | sed 's/^[^ ]*:[0-9]*: //' | grep -c "^space-$name:" || true)
  [ "$keys" -gt 0 ] || { echo "smoke: no key under space-$name: on the cluster's masters after a login and an upload"; exit 1; }
  denied=$(valkey --cluster call "$seed" ACL LOG 100 | grep -A1 -x username | grep -x "space-$name" | head -1 || true)
  [ -z "$denied" ] || { echo "smoke: a node of the cluster refused commands of space-$name (ACL LOG)"; exit 1; }
  step "$keys keys of the space on the cluster's masters, no command refused on any node"
else
  db=$(kubectl get namespace "$ns" -o jsonpath='{.metadata.annotations.frama\.space/cache-database}')
  keys=$(valkey -n "$db" --scan --pattern "space-$name:*" | head -5)
  [ -n "$keys" ] || { echo "smoke: no key under space-$name: in database $db after a login and an upload"; exit 1; }
  others=$(valkey -n "$db" --scan | grep -v "^space-$name:" | head -5 || true)
  [ -z "$others" ] || { echo "smoke: keys outside the space's prefix: $others"; exit 1; }
  denied=$(valkey ACL LOG 100 | grep -A1 -x username | grep -x "space-$name" | head -1 || true)
  [ -z "$denied" ] || { echo "smoke: Valkey refused commands of space-$name (ACL LOG): $(valkey ACL LOG 5)"; exit 1; }
fi

step "the space's quota is what WebDAV offers: framaspace_quota enabled, the home held to what is left"
quota=$(sed -n "s/.*'framaspace.quota' => \([0-9]*\),.*/\1/p" <<<"$(kubectl -n "$ns" get configmap nextcloud-config -o jsonpath='{.data.framaspace\.config\.php}')")
available=$(curl "${curl_opts[@]}" -u "admin:$password" -X PROPFIND -H 'Depth: 0' \
  --data '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:quota-available-bytes/></d:prop></d:propfind>' \
  "$url/remote.php/dav/files/admin/" | sed -n 's#.*<d:quota-available-bytes>\([0-9]*\)</d:quota-available-bytes>.*#\1#p')
[ -n "$quota" ] && [ -n "$available" ] && [ "$available" -gt 0 ] && [ "$available" -lt "$quota" ] ||
  { echo "smoke: quota-available-bytes '$available' is not below the space's quota '$quota' (framaspace_quota not at work)"; exit 1; }
jq -e '.[] | select(. == "framaspace_quota")' <<<"$(kubectl get space "$name" -o json | jq '.status.apps.enabled')" >/dev/null ||
  { echo "smoke: Nextcloud does not report framaspace_quota enabled"; exit 1; }

step "its object urn:oid:$fileid is in the space's bucket (with the space's own key)"
store=$(kubectl -n "$ns" get configmap nextcloud-config -o jsonpath='{.data.objectstore\.config\.php}')
field() { sed -n "s/.*'$1' => '\{0,1\}\([^',)]*\)'\{0,1\}.*/\1/p" <<<"$store" | head -1; }
bucket=$(field bucket); host=$(field hostname); port=$(field port); ssl=$(field use_ssl); region=$(field region)
scheme=http; [ "$ssl" = true ] && scheme=https
code=$(curl "${curl_opts[@]}" -o /dev/null -w '%{http_code}' -I --aws-sigv4 "aws:amz:$region:s3" \
  --user "$(secret s3-access-key):$(secret s3-secret-key)" "$scheme://$host:$port/$bucket/urn:oid:$fileid")
[ "$code" = 200 ] || { echo "smoke: HEAD of the object answered $code"; exit 1; }

if [ -n "${SMOKE_UPGRADE_TO:-}" ]; then
  : "${SMOKE_CLASS:?SMOKE_UPGRADE_TO needs SMOKE_CLASS, a class of its own for the smoke}"
  step "upgrade class $SMOKE_CLASS to $SMOKE_UPGRADE_TO: snapshot, occ upgrade, verify"
  kubectl patch spaceclass "$SMOKE_CLASS" --type merge -p "{\"spec\":{\"nextcloud\":{\"version\":\"$SMOKE_UPGRADE_TO\"}}}"
  for _ in $(seq 1 240); do
    phase=$(kubectl get space "$name" -o jsonpath='{.status.upgrade.phase}')
    [ "$phase" = Succeeded ] || [ "$phase" = Failed ] && break
    sleep 5
  done
  [ "$phase" = Succeeded ] || { kubectl get space "$name" -o jsonpath='{.status.upgrade}'; echo; echo "smoke: the upgrade ended $phase"; exit 1; }
  kubectl wait --for=condition=Ready "space/$name" --timeout=10m
  health=$(curl "${curl_opts[@]}" "$url/framaspace/health")
  jq -e '.installed == true and .maintenance == false and .needsDbUpgrade == false' <<<"$health" >/dev/null || { echo "$health"; exit 1; }
  [ "$(kubectl get space "$name" -o jsonpath='{.status.nextcloud.versionString}')" = "$SMOKE_UPGRADE_TO" ] || { echo "smoke: not on $SMOKE_UPGRADE_TO"; exit 1; }
  [ "$(curl "${curl_opts[@]}" -u "admin:$password" "$dav")" = "$body" ] || { echo "smoke: the file differs after the upgrade"; exit 1; }
  step "upgraded to $SMOKE_UPGRADE_TO, snapshot $(kubectl get space "$name" -o jsonpath='{.status.upgrade.snapshotBytes}') bytes; the file is intact"
fi

if [ "${SMOKE_SLEEP:-0}" = 1 ]; then
  # SMOKE_CLASS with `spec.sleep` and a short idleAfterSeconds, the chart's wake component on.
  step "the space falls asleep once idle for its class's time: its web pod goes"
  kubectl wait --for=jsonpath='{.status.sleep.state}'=Sleeping "space/$name" --timeout=30m
  kubectl -n "$ns" wait --for=delete pod -l app.kubernetes.io/name=nextcloud --timeout=5m
  step "a WebDAV GET through the real edge is held by the wake component and answered by the woken space"
  t0=$(date +%s.%N)
  [ "$(curl "${curl_opts[@]}" --max-time 300 -u "admin:$password" "$dav")" = "$body" ] || { echo "smoke: the file read through a wake differs"; exit 1; }
  t1=$(date +%s.%N)
  [ "$(kubectl get space "$name" -o jsonpath='{.status.sleep.state}')" = Awake ] || { echo "smoke: not awake after its request"; exit 1; }
  step "woken and served in $(echo "$t1 - $t0" | bc) s (scheduling, the image's entrypoint, Apache, the readiness probe, a cold OPcache)"
fi

step "delete the space (Delete policy: database, cache user and bucket go)"
kubectl delete space "$name" --timeout=10m
trap - EXIT
step "passed"
