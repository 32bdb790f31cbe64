#!/usr/bin/env bash
# Backups: a class's spaces dumped (the real pg_dump of the snapshot script, run by e2e/occ-sim.py
# with the pod's environment) and their objects copied to a StoragePool of purpose Backups on
# another store (MinIO spaces → Garage backups, Garage spaces → MinIO backups), with a manifest,
# retention and a failure that shows. Spaces of this suite's own classes, its own operator.
. "$(dirname "$0")/lib.sh"

METRICS_PORT=28087
PSQL=(psql -qAt -h 127.0.0.1 -p "$FRAMASPACE_PG_PORT" -U postgres)
export PGPASSWORD=$FRAMASPACE_PG_PASSWORD
jsonpath() { kubectl get "$1" -o "jsonpath=$2" 2>/dev/null; }
cond() { jsonpath "space/$1" "{.status.conditions[?(@.type==\"$2\")].status} {.status.conditions[?(@.type==\"$2\")].reason}"; }
cred() { kubectl -n "space-$1" get secret nextcloud-credentials -o jsonpath="{.data.$2}" | base64 -d; }
start_operator() {
  local cmd; mapfile -t cmd < <(operator_command --log-format json --identity backup-operator \
    --metrics-address "127.0.0.1:$METRICS_PORT" --pool-check-seconds 5 --resync-seconds 600)
  start_process backup-operator "${cmd[@]}"
}
enc() { jq -rn --arg k "$1" '$k | @uri'; }
# s3 SPACE METHOD KEY [FILE]: the space's own bucket with its own key.
s3() {
  local pool endpoint region; pool=$(jsonpath "space/$1" '{.status.placement.storagePool}')
  endpoint=$(jsonpath "storagepool/$pool" '{.spec.endpoint}'); region=$(jsonpath "storagepool/$pool" '{.spec.region}')
  local args=(-sf -X "$2" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --aws-sigv4 "aws:amz:$region:s3" --user "$(cred "$1" s3-access-key):$(cred "$1" s3-secret-key)")
  [ -n "${4:-}" ] && args+=(--upload-file "$4")
  curl "${args[@]}" "$endpoint/space-$1/$(enc "$3")"
}
# minio_root METHOD PATH: MinIO as its root user (the MinIO backup store is read with it).
minio_root() {
  curl -sf -X "$1" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$FRAMASPACE_MINIO_ACCESS_KEY:$FRAMASPACE_MINIO_SECRET_KEY" "$FRAMASPACE_MINIO_URL/$2"
}
garage_admin() { curl -sf -H "Authorization: Bearer $FRAMASPACE_GARAGE_ADMIN_TOKEN" -H 'Content-Type: application/json' "$FRAMASPACE_GARAGE_ADMIN_URL/v2/$1" "${@:2}"; }
garage_bucket() { garage_admin "GetBucketInfo?globalAlias=$1"; }
last_id() { jsonpath "space/$1" '{.status.backups.kept[0].id}'; }
kept_ids() { jsonpath "space/$1" '{.status.backups.kept[*].id}'; }
new_class() { # NAME POOL-LABEL BACKUP-POOL
  kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: SpaceClass
metadata: { name: $1 }
spec:
  baseDomain: $1.frama.space
  nextcloud: { version: 33.0.7 }
  limits: { maxQuota: 1Gi, defaultQuota: 100Mi, maxAccounts: 50, defaultMaxAccounts: 50 }
  defaultOffice: none
  poolSelector: { matchLabels: { e2e.frama.space/$2: "yes" } }
  backup: { storagePool: $3, everyHours: 24, keep: 2 }
YAML
}
new_space() { # NAME CLASS
  kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: $1 }
spec: { displayName: "Backup test $1", contactEmail: "contact@$1.example", spaceClassName: $2 }
YAML
}
request() { kubectl annotate --overwrite space "$1" "frama.space/backup-requested=$2" >/dev/null; }
answered() { [ "$(jsonpath "space/$1" '{.status.backups.lastRequest}')" = "$2" ] && [ -z "$(jsonpath "space/$1" '{.status.backups.running.id}')" ]; }

section "setup: pools, two backup stores, classes, operator"
check "the chart is installed" "$E2E_DIR/install.sh"
check "admin Secrets of the pools" "$E2E_DIR/admin-secrets.sh"
check "kubectl apply examples/pools.yaml" kubectl apply -f "$REPO_DIR/examples/pools.yaml"
kubectl label --overwrite databasepool/pg-1 cachepool/redis-1 storagepool/s3-minio e2e.frama.space/bk-minio=yes >/dev/null
kubectl label --overwrite databasepool/pg-1 cachepool/redis-1 storagepool/s3-garage e2e.frama.space/bk-garage=yes >/dev/null
kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: StoragePool
metadata: { name: backups-garage }
spec:
  purpose: Backups
  provider: garage
  endpoint: http://127.0.0.1:23900
  adminEndpoint: http://127.0.0.1:23903
  region: garage
  adminSecretRef: { name: s3-garage-admin }
  bucketPrefix: backup-
  capacity: { maxSpaces: 1000 }
---
apiVersion: frama.space/v1alpha1
kind: StoragePool
metadata: { name: backups-minio }
spec:
  purpose: Backups
  provider: minio
  endpoint: http://127.0.0.1:29000
  adminSecretRef: { name: s3-minio-admin }
  bucketPrefix: backup-
  capacity: { maxSpaces: 1000 }
YAML
check "kubectl get storagepool shows the purpose" bash -c "kubectl get storagepool backups-garage | grep -q Backups"
new_class bk-m bk-minio backups-garage
new_class bk-g bk-garage backups-minio
start_operator
check "the pools are Ready" kubectl wait --for=condition=Ready storagepool/backups-garage storagepool/backups-minio storagepool/s3-minio storagepool/s3-garage --timeout=90s
for s in bk-1 bk-2; do new_space "$s" bk-m; done
new_space bk-3 bk-g
check "three spaces are Ready" kubectl wait --for=condition=Ready space/bk-1 space/bk-2 space/bk-3 --timeout=180s
check_eq "no space is placed on a store for backups" "s3-minio s3-minio s3-garage" \
  "$(jsonpath space/bk-1 '{.status.placement.storagePool}') $(jsonpath space/bk-2 '{.status.placement.storagePool}') $(jsonpath space/bk-3 '{.status.placement.storagePool}')"
check_eq "before its first slot: BackedUp Unknown NoBackupYet" "Unknown NoBackupYet" "$(cond bk-1 BackedUp)"
n1=$(jsonpath space/bk-1 '{.status.backups.nextAt}'); n2=$(jsonpath space/bk-2 '{.status.backups.nextAt}')
check "each space has its slot within the day, not the same one" bash -c \
  "[ -n '$n1' ] && [ '$n1' != '$n2' ] && [ \$(( \$(date -d '$n1' +%s) - \$(date +%s) )) -le 86400 ]"
check "kubectl explain documents the policy" bash -c "kubectl explain spaceclass.spec.backup.keep | grep -q 'kept'"

section "a backup on request: the database and every object, on the other store"
# Rows and objects of the association: accounts in its real oc_users, two files.
db1=space_bk_1
"${PSQL[@]}" -d "$db1" -c "INSERT INTO oc_users (uid, displayname, password, uid_lower) SELECT 'member' || g, 'Member ' || g, '', 'member' || g FROM generate_series(1, 40) g" >/dev/null
head -c 300000 /dev/urandom > "$STATE_DIR/bk-a.bin"; echo "minutes of the assembly" > "$STATE_DIR/bk-b.txt"
s3 bk-1 PUT "urn:oid:1001" "$STATE_DIR/bk-a.bin" >/dev/null
s3 bk-1 PUT "urn:oid:1002" "$STATE_DIR/bk-b.txt" >/dev/null
s3 bk-3 PUT "urn:oid:7" "$STATE_DIR/bk-b.txt" >/dev/null
s3 bk-2 PUT "urn:oid:2000" "$STATE_DIR/bk-a.bin" >/dev/null
rows_before=$("${PSQL[@]}" -d "$db1" -c "SELECT md5(string_agg(uid, ',' ORDER BY uid)) FROM oc_users")
request bk-1 first; request bk-3 first
check "bk-1's backup is taken and recorded" eventually 90 answered bk-1 first
check "bk-3's too" eventually 90 answered bk-3 first
id1=$(last_id bk-1)
check_eq "BackedUp True" "True BackedUp" "$(cond bk-1 BackedUp)"
check "status records size, objects and version" bash -c \
  "kubectl get space bk-1 -o json | jq -e '.status.backups.kept[0] | .databaseBytes > 100 and .objects == 2 and .objectsCopied == 2 and .nextcloud.versionString == \"33.0.7\" and (.location == \"backups-garage/backup-bk-1\")'"
check "an Event says so" bash -c "kubectl get events --field-selector involvedObject.name=bk-1,reason=BackedUp -o name | grep -q ."
check "the dump left the space's bucket (it would count against the users' quota)" bash -c \
  "! curl -sf -o /dev/null -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' --aws-sigv4 aws:amz:us-east-1:s3 --user '$(cred bk-1 s3-access-key):$(cred bk-1 s3-secret-key)' '$FRAMASPACE_MINIO_URL/space-bk-1/framaspace/backups/$id1.sql.gz'"
g=$(garage_bucket backup-bk-1)
check_eq "Garage holds the dump, two copies and the manifest" "4" "$(jq '.objects' <<<"$g")"
check "the space's own key is not allowed on its backups" bash -c "! jq -e --arg k '$(cred bk-1 s3-access-key)' '.keys[] | select(.accessKeyId == \$k)' <<<'$g'"
# Read back with the operator's backup key (its secret stays in Garage, read with the admin token).
bkey=$(garage_admin "ListKeys" | jq -r '.[] | select(.name == "framaspace-operator-backups") | .id')
bsecret=$(garage_admin "GetKeyInfo?id=$bkey&showSecretKey=true" | jq -r '.secretAccessKey')
gget() { curl -sf -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --aws-sigv4 "aws:amz:garage:s3" --user "$bkey:$bsecret" "http://127.0.0.1:23900/backup-bk-1/$1"; }
gget "manifests/$id1.json" > "$STATE_DIR/bk-manifest.json"
check_eq "the manifest names both objects and the dump's digest" "2 $(jsonpath space/bk-1 '{.status.backups.kept[0].databaseSha256}')" \
  "$(jq -r '"\(.objects | length) \(.database.sha256)"' "$STATE_DIR/bk-manifest.json")"
etag=$(jq -r '.objects[] | select(.key == "urn:oid:1001") | .etag' "$STATE_DIR/bk-manifest.json")
check_eq "the copy of urn:oid:1001 is the file, byte for byte" "$(sha256sum < "$STATE_DIR/bk-a.bin")" \
  "$(gget "files/$(enc "urn:oid:1001@$etag")" | sha256sum)"
gget "db/$id1.sql.gz" > "$STATE_DIR/bk-db.sql.gz"
check_eq "the dump's digest is the recorded one" "$(jsonpath space/bk-1 '{.status.backups.kept[0].databaseSha256}')" "$(sha256sum < "$STATE_DIR/bk-db.sql.gz" | cut -d' ' -f1)"
check "the dump holds the 40 members (the real pg_dump of the space's schema)" bash -c "gzip -dc '$STATE_DIR/bk-db.sql.gz' | grep -c '^member[0-9]*	' | grep -qx 40"
# The dump replays into an empty database and gives the same rows: what a restore relies on.
"${PSQL[@]}" -c "DROP DATABASE IF EXISTS bk_replay" >/dev/null; "${PSQL[@]}" -c "CREATE DATABASE bk_replay" >/dev/null
gzip -dc "$STATE_DIR/bk-db.sql.gz" | "${PSQL[@]}" -d bk_replay -v ON_ERROR_STOP=1 >/dev/null 2>&1
check_eq "replayed, its accounts are the space's at the moment of the backup" "$rows_before" \
  "$("${PSQL[@]}" -d bk_replay -c "SELECT md5(string_agg(uid, ',' ORDER BY uid)) FROM oc_users")"
"${PSQL[@]}" -c "DROP DATABASE IF EXISTS bk_replay" >/dev/null
check "the Garage space's backup is on MinIO" bash -c "minio_root() { curl -sf -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' --aws-sigv4 aws:amz:us-east-1:s3 --user '$FRAMASPACE_MINIO_ACCESS_KEY:$FRAMASPACE_MINIO_SECRET_KEY' \"$FRAMASPACE_MINIO_URL/\$1\"; }; minio_root 'backup-bk-3?list-type=2' | grep -q 'files/urn:oid:7@'"
check_eq "bk-2 was not backed up (no request, its slot not reached)" "" "$(last_id bk-2)"

section "retention: two kept, older manifests, dumps and copies removed"
echo "minutes, amended" > "$STATE_DIR/bk-b2.txt"
s3 bk-1 PUT "urn:oid:1002" "$STATE_DIR/bk-b2.txt" >/dev/null
sleep 1; request bk-1 second
check "a second backup" eventually 90 answered bk-1 second
check_eq "it copied only the object that changed" "1" "$(jsonpath space/bk-1 '{.status.backups.kept[0].objectsCopied}')"
s3 bk-1 DELETE "urn:oid:1002" >/dev/null
sleep 1; request bk-1 third
check "a third backup" eventually 90 answered bk-1 third
check_eq "two backups kept in status, the first gone" "2 no" "$(kept_ids bk-1 | wc -w) $(kept_ids bk-1 | grep -q "$id1" && echo yes || echo no)"
glist() { curl -sf -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --aws-sigv4 "aws:amz:garage:s3" --user "$bkey:$bsecret" "http://127.0.0.1:23900/backup-bk-1?list-type=2&prefix=$(enc "$1")"; }
check_eq "the store keeps two manifests and two dumps, none of the first backup" "2 2 0" \
  "$(glist manifests/ | grep -o '<Key>' | wc -l) $(glist db/ | grep -o '<Key>' | wc -l) $( { glist manifests/; glist db/; } | grep -c "$id1")"
# Kept: urn:oid:1001 (both), urn:oid:1002's amended version (second); its first version, which
# only the first backup named, is collected.
check_eq "two copies left: 1001 and the amended 1002" "2" "$(glist files/ | grep -o '<Key>files/[^<]*</Key>' | wc -l)"

section "restore in place: rows and objects back to the backup's moment, the other space untouched"
echo "agenda of the assembly" > "$STATE_DIR/bk-d.txt"
s3 bk-1 PUT "urn:oid:1003" "$STATE_DIR/bk-d.txt" >/dev/null
request bk-1 before-restore
check "a backup to restore" eventually 90 answered bk-1 before-restore
rid=$(last_id bk-1)
rows_at=$("${PSQL[@]}" -d "$db1" -c "SELECT md5(string_agg(uid, ',' ORDER BY uid)) FROM oc_users")
objects_at() { for k in "urn:oid:1001" "urn:oid:1003"; do printf '%s %s\n' "$k" "$(s3 bk-1 GET "$k" | sha256sum | cut -d' ' -f1)"; done; }
files_at=$(objects_at)
# The other space, byte for byte: its schema's dump, its objects, its web.
other_db() { pg_dump -h 127.0.0.1 -p "$FRAMASPACE_PG_PORT" -U postgres --no-owner -d space_bk_2 | grep -v '^\\\(un\)\?restrict '; }
other_files() { s3 bk-2 GET "urn:oid:2000" | sha256sum; }
db2_before=$(other_db | sha256sum); f2_before=$(other_files)
check_eq "the other space holds its object" "$(sha256sum < "$STATE_DIR/bk-a.bin")" "$f2_before"
( while :; do
    printf '%s %s %s\n' "$(jsonpath space/bk-1 '{.status.phase}')" "$(kubectl -n space-bk-1 get deployment nextcloud -o jsonpath='{.spec.replicas}' 2>/dev/null)" \
      "$(kubectl -n space-bk-2 get deployment nextcloud -o jsonpath='{.spec.replicas}' 2>/dev/null)/$(jsonpath space/bk-2 '{.status.phase}')"
    sleep 0.3
  done > "$STATE_DIR/restore-samples" ) &
sampler=$!
# A member empties things: accounts deleted, a file overwritten, another deleted, a new one.
"${PSQL[@]}" -d "$db1" -c "DELETE FROM oc_users WHERE uid LIKE 'member1%'" >/dev/null
head -c 1000 /dev/urandom > "$STATE_DIR/bk-junk.bin"
s3 bk-1 PUT "urn:oid:1001" "$STATE_DIR/bk-junk.bin" >/dev/null
s3 bk-1 DELETE "urn:oid:1003" >/dev/null
s3 bk-1 PUT "urn:oid:1009" "$STATE_DIR/bk-junk.bin" >/dev/null
check "the damage is there" bash -c "[ \"\$(${PSQL[*]} -d $db1 -c \"SELECT md5(string_agg(uid, ',' ORDER BY uid)) FROM oc_users\")\" != '$rows_at' ]"
kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: SpaceRestore
metadata: { name: bk-1-undo }
spec: { space: bk-1, backup: "$rid" }
YAML
check "kubectl wait --for=condition=Complete spacerestore/bk-1-undo" kubectl wait --for=condition=Complete spacerestore/bk-1-undo --timeout=120s
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
check_eq "the SpaceRestore says what it did" "Succeeded $rid 33.0.7 2 1" \
  "$(jsonpath spacerestore/bk-1-undo '{.status.phase} {.status.backup} {.status.version} {.status.objectsRestored} {.status.objectsRemoved}')"
check_eq "the accounts are the backup's" "$rows_at" "$("${PSQL[@]}" -d "$db1" -c "SELECT md5(string_agg(uid, ',' ORDER BY uid)) FROM oc_users")"
check_eq "the objects are the backup's, byte for byte" "$files_at" "$(objects_at)"
check_eq "urn:oid:1009 is gone" "" "$(s3 bk-1 GET "urn:oid:1009" 2>/dev/null | head -c 10)"
check "the dump left the space's bucket" bash -c "[ -z \"\$(curl -sf -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' --aws-sigv4 aws:amz:us-east-1:s3 --user '$(cred bk-1 s3-access-key):$(cred bk-1 s3-secret-key)' '$FRAMASPACE_MINIO_URL/space-bk-1?list-type=2&prefix=framaspace%2F' | grep -o '<Key>')\" ]"
check "the space went through maintenance: phase Restoring, its web at zero" grep -q '^Restoring 0 ' "$STATE_DIR/restore-samples"
check "the space is Ready again" kubectl wait --for=condition=Ready space/bk-1 --timeout=60s
check_eq "its web runs again" "1" "$(kubectl -n space-bk-1 get deployment nextcloud -o jsonpath='{.spec.replicas}')"
check_eq "the other space was never paused" "" "$(awk '{print $3}' "$STATE_DIR/restore-samples" | grep -v '^1/Ready$' | head -3)"
check_eq "its database is unchanged, byte for byte" "$db2_before" "$(other_db | sha256sum)"
check_eq "its objects too" "$f2_before" "$(other_files)"
check "Events tell the restore" bash -c "kubectl get events --field-selector involvedObject.name=bk-1 -o json | jq -e '[.items[].reason] | (index(\"RestoreStarted\") != null) and (index(\"Restored\") != null)'"
check "kubectl get spacerestore shows it" bash -c "kubectl get spacerestore bk-1-undo | grep -q 'bk-1 .*Succeeded'"

section "restore as a clone: a new space with its own database and bucket, the source untouched"
( while :; do printf '%s\n' "$(jsonpath space/bk-1 '{.status.phase}')"; sleep 0.3; done > "$STATE_DIR/clone-samples" ) &
sampler=$!
kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: SpaceRestore
metadata: { name: bk-1-copy }
spec: { space: bk-1, backup: "$rid", mode: Clone, cloneName: bk-1-copy }
YAML
check "kubectl wait --for=condition=Complete spacerestore/bk-1-copy" kubectl wait --for=condition=Complete spacerestore/bk-1-copy --timeout=180s
check "the clone is Ready" kubectl wait --for=condition=Ready space/bk-1-copy --timeout=120s
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
check_eq "the source was never stopped" "" "$(grep -v '^Ready$' "$STATE_DIR/clone-samples" | head -3)"
check_eq "the clone says where it comes from" "bk-1 bk-1-copy" \
  "$(jsonpath space/bk-1-copy '{.metadata.labels.frama\.space/cloned-from}') $(jsonpath space/bk-1-copy '{.metadata.annotations.frama\.space/restore-from}')"
check_eq "its own database holds the backup's accounts" "$rows_at" \
  "$("${PSQL[@]}" -d space_bk_1_copy -c "SELECT md5(string_agg(uid, ',' ORDER BY uid)) FROM oc_users")"
check "its own bucket and key: the clone's key cannot read the source's bucket" bash -c \
  "[ '$(cred bk-1-copy s3-access-key)' != '$(cred bk-1 s3-access-key)' ] && ! curl -sf -o /dev/null -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' --aws-sigv4 aws:amz:us-east-1:s3 --user '$(cred bk-1-copy s3-access-key):$(cred bk-1-copy s3-secret-key)' '$FRAMASPACE_MINIO_URL/space-bk-1/urn%3Aoid%3A1001'"
clone_files=$(for k in "urn:oid:1001" "urn:oid:1003"; do printf '%s %s\n' "$k" "$(s3 bk-1-copy GET "$k" | sha256sum | cut -d' ' -f1)"; done)
check_eq "holding the backup's objects, byte for byte" "$files_at" "$clone_files"
check_eq "never installed over: no install Job ran" "0" "$(grep -c '^space-bk-1-copy/nextcloud-install' "$STATE_DIR/logs/occ-sim.log" 2>/dev/null)"
check_eq "with the identity its data was written with (the source's instance id, secret, salt)" \
  "$(cred bk-1 nextcloud-instanceid) $(cred bk-1 nextcloud-secret | sha256sum) $(cred bk-1 nextcloud-passwordsalt | sha256sum)" \
  "$(cred bk-1-copy nextcloud-instanceid) $(cred bk-1-copy nextcloud-secret | sha256sum) $(cred bk-1-copy nextcloud-passwordsalt | sha256sum)"
check_eq "the clone runs the backup's Nextcloud" "33.0.7" "$(jsonpath space/bk-1-copy '{.status.nextcloud.versionString}')"
check_eq "the source's own data is as it was" "$rows_at" "$("${PSQL[@]}" -d "$db1" -c "SELECT md5(string_agg(uid, ',' ORDER BY uid)) FROM oc_users")"

section "restores refused with a reason, nothing touched"
kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: SpaceRestore
metadata: { name: bk-1-nowhere }
spec: { space: bk-1, backup: "20200101T000000Z" }
YAML
check "a backup that does not exist: Refused" eventually 30 bash -c "[ \"\$(kubectl get spacerestore bk-1-nowhere -o jsonpath='{.status.phase} {.status.conditions[0].reason}')\" = 'Refused BackupNotFound' ]"
check "the message lists what the space keeps" bash -c "kubectl get spacerestore bk-1-nowhere -o jsonpath='{.status.message}' | grep -q '$rid'"
check_eq "the space stayed Ready" "Ready" "$(jsonpath space/bk-1 '{.status.phase}')"
kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: SpaceRestore
metadata: { name: bk-1-onto-bk-2 }
spec: { space: bk-1, mode: Clone, cloneName: bk-2 }
YAML
check "a clone name that is taken: Refused" eventually 30 bash -c "[ \"\$(kubectl get spacerestore bk-1-onto-bk-2 -o jsonpath='{.status.phase} {.status.conditions[0].reason}')\" = 'Refused CloneNameTaken' ]"
out=$(kubectl apply -f - 2>&1 <<YAML
apiVersion: frama.space/v1alpha1
kind: SpaceRestore
metadata: { name: no-name }
spec: { space: bk-1, mode: Clone }
YAML
)
check "a clone without its name is refused by the schema" grep -q "cloneName is required" <<<"$out"
out=$(kubectl patch spacerestore bk-1-undo --type merge -p '{"spec":{"backup":"20200101T000000Z"}}' 2>&1)
check "a SpaceRestore's spec cannot change" grep -q "cannot change" <<<"$out"
out=$(kubectl apply -f - 2>&1 <<YAML
apiVersion: frama.space/v1alpha1
kind: SpaceRestore
metadata: { name: bad-id }
spec: { space: bk-1, backup: "yesterday" }
YAML
)
check "a malformed backup id is refused by the schema" grep -q "spec.backup" <<<"$out"

section "a backup store that refuses writes: a condition, an Event, a metric, then recovery"
# Garage refuses every write to a bucket over its quota (403): bk-2 (a MinIO space) backs up to
# Garage; its backup bucket gets a quota of one byte once it exists.
request bk-2 refused
check "bk-2's first backup goes to Garage and succeeds" eventually 90 answered bk-2 refused
bid2=$(garage_bucket backup-bk-2 | jq -r .id)
garage_admin "UpdateBucket?id=$bid2" -X POST -d '{"quotas":{"maxSize":1,"maxObjects":null}}' >/dev/null
echo "new" > "$STATE_DIR/bk-c.txt"; s3 bk-2 PUT "urn:oid:2001" "$STATE_DIR/bk-c.txt" >/dev/null
request bk-2 refused-again
check "the attempt ends" eventually 90 answered bk-2 refused-again
check_eq "BackedUp False LocationRefused" "False LocationRefused" "$(cond bk-2 BackedUp)"
check_eq "Ready is not affected" "True" "$(jsonpath space/bk-2 '{.status.conditions[?(@.type=="Ready")].status}')"
check "the failure says what refused" bash -c "kubectl get space bk-2 -o jsonpath='{.status.backups.failure.message}' | grep -q 'HTTP 403'"
check "a Warning Event BackupFailed" bash -c "kubectl get events --field-selector involvedObject.name=bk-2,reason=BackupFailed,type=Warning -o name | grep -q ."
check "the metric counts a failing space" eventually 30 bash -c "curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep -qx 'framaspace_spaces_backup_failing 1'"
check "and a failed backup" bash -c "curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep -q '^framaspace_backups_total{result=\"failed\"} [1-9]'"
check "the dump did not stay in the space's bucket" bash -c "! curl -sf -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' --aws-sigv4 aws:amz:us-east-1:s3 --user '$(cred bk-2 s3-access-key):$(cred bk-2 s3-secret-key)' '$FRAMASPACE_MINIO_URL/space-bk-2?list-type=2&prefix=framaspace/' | grep -q '<Key>'"
garage_admin "UpdateBucket?id=$bid2" -X POST -d '{"quotas":{"maxSize":null,"maxObjects":null}}' >/dev/null
request bk-2 recovered
check "the next attempt succeeds" eventually 90 answered bk-2 recovered
check_eq "BackedUp True again" "True BackedUp" "$(cond bk-2 BackedUp)"
check "no space failing any more" eventually 30 bash -c "curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep -qx 'framaspace_spaces_backup_failing 0'"

section "restore tests: a random space's backup cloned, checked against its manifest, removed"
kubectl patch spaceclass bk-m --type merge -p '{"spec":{"backup":{"restoreTestHours":168}}}' >/dev/null
kubectl annotate --overwrite spaceclass bk-m frama.space/restore-test-requested=first >/dev/null
verdict() { kubectl get spacerestores -l frama.space/restore-test=bk-m -o json | jq -r --arg r "$1" '.items[] | select(.metadata.annotations["frama.space/restore-test-requested"] == $r) | .metadata.annotations["frama.space/restore-test-result"] // empty'; }
verdict_is() { [ "$(verdict "$1")" = "$2" ]; }
verdict_starts() { verdict "$1" | grep -q "^$2"; }
check "the test runs and passes" eventually 180 verdict_is first passed
test1=$(kubectl get spacerestores -l frama.space/restore-test=bk-m -o json | jq -r '.items[] | select(.metadata.annotations["frama.space/restore-test-requested"] == "first")')
clone1=$(jq -r .spec.cloneName <<<"$test1")
check "it restored one of the class's spaces into a scratch clone" grep -Eq '^rt-[0-9a-f]{10}$' <<<"$clone1"
check "an Event says what was compared" bash -c "kubectl get events --field-selector involvedObject.name=restore-test-$clone1,reason=RestoreTestPassed -o jsonpath='{.items[0].message}' | grep -q 'tables (.* rows) and .* objects as the backup holds them'"
check "the scratch clone is deleted, with its database" eventually 90 bash -c "! kubectl get space $clone1 2>/dev/null && [ -z \"\$(${PSQL[*]} -c \"SELECT 1 FROM pg_database WHERE datname = 'space_${clone1//-/_}'\")\" ]"
check "metrics: a test passed, none failing" bash -c "m=\$(curl -s http://127.0.0.1:$METRICS_PORT/metrics); grep -q '^framaspace_restore_tests_total{result=\"passed\"} 1' <<<\"\$m\" && grep -qx 'framaspace_restore_tests_failing 0' <<<\"\$m\" && ! grep -qx 'framaspace_restore_test_last_pass_timestamp_seconds 0' <<<\"\$m\""
# A backup that no longer restores as it was taken: the copy of an object altered in the store.
for sp in bk-1 bk-2; do
  id=$(last_id $sp)
  m=$(curl -sf -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --aws-sigv4 "aws:amz:garage:s3" --user "$bkey:$bsecret" "http://127.0.0.1:23900/backup-$sp/manifests/$id.json")
  copy=$(jq -r '.objects[0] | "\(.key)@\(.etag)"' <<<"$m")
  echo "not what was backed up" > "$STATE_DIR/bk-tampered.txt"
  curl -sf -X PUT -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --aws-sigv4 "aws:amz:garage:s3" --user "$bkey:$bsecret" \
    --upload-file "$STATE_DIR/bk-tampered.txt" "http://127.0.0.1:23900/backup-$sp/files/$(enc "$copy")" >/dev/null
done
kubectl annotate --overwrite spaceclass bk-m frama.space/restore-test-requested=second >/dev/null
check "a backup altered in its store fails its restore test" eventually 180 verdict_starts second "failed: objects missing or different in the clone"
check "the failing test shows in the metrics" eventually 30 bash -c "curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep -qx 'framaspace_restore_tests_failing 1'"
check "a Warning Event RestoreTestFailed" bash -c "kubectl get events --field-selector reason=RestoreTestFailed,type=Warning -o name | grep -q ."

section "an upgrade's snapshot is a backup like the others, and its rollback comes from there"
scenario() { mkdir -p "$STATE_DIR/occ-sim"; if [ -n "$2" ]; then echo "$2" > "$STATE_DIR/occ-sim/space-$1"; else rm -f "$STATE_DIR/occ-sim/space-$1"; fi; }
"${PSQL[@]}" -d space_bk_3 -c "INSERT INTO oc_users (uid, displayname, password, uid_lower) SELECT 'm' || g, 'M ' || g, '', 'm' || g FROM generate_series(1, 25) g" >/dev/null
bk3_rows=$("${PSQL[@]}" -d space_bk_3 -c "SELECT md5(string_agg(uid, ',' ORDER BY uid)) FROM oc_users")
bk3_kept=$(kept_ids bk-3 | wc -w)
scenario bk-3 upgrade-fail:1
kubectl patch spaceclass bk-g --type merge -p '{"spec":{"nextcloud":{"version":"34.0.1"},"rollout":{"canary":{"names":["bk-3"]},"waves":["100%"],"settleSeconds":2,"stepTimeoutSeconds":120}}}' >/dev/null
check "the upgrade fails and is rolled back" eventually 180 bash -c "[ \"\$(kubectl get space bk-3 -o jsonpath='{.status.upgrade.phase} {.status.conditions[?(@.type==\"UpToDate\")].reason}')\" = 'Failed UpgradeFailed' ]"
snap=$(jsonpath space/bk-3 '{.status.upgrade.snapshotBackup}')
check_eq "the snapshot was kept as a backup, listed with the others" "$snap Upgrade 33.0.7" \
  "$(kubectl get space bk-3 -o json | jq -r --arg id "$snap" '.status.backups.kept[] | select(.id == $id) | "\(.id) \(.trigger) \(.nextcloud.versionString)"')"
check_eq "one more backup kept (within keep: 2)" "$(( bk3_kept < 2 ? bk3_kept + 1 : 2 ))" "$(kept_ids bk-3 | wc -w)"
check "in the backup store (MinIO, for this Garage space), with its manifest" bash -c \
  "curl -sf -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' --aws-sigv4 aws:amz:us-east-1:s3 --user '$FRAMASPACE_MINIO_ACCESS_KEY:$FRAMASPACE_MINIO_SECRET_KEY' '$FRAMASPACE_MINIO_URL/backup-bk-3/manifests/$snap.json' | jq -e '.database.sha256 | length == 64'"
check_eq "back on 33.0.7, its accounts as before the upgrade (restored from the backup store)" "33.0.7 $bk3_rows" \
  "$(jsonpath space/bk-3 '{.status.nextcloud.versionString}') $("${PSQL[@]}" -d space_bk_3 -c "SELECT md5(string_agg(uid, ',' ORDER BY uid)) FROM oc_users")"
check "the snapshot is not left in the space's bucket (nor against its quota)" eventually 30 bash -c \
  "[ -z \"\$(curl -sf -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' --aws-sigv4 aws:amz:garage:s3 --user '$(cred bk-3 s3-access-key):$(cred bk-3 s3-secret-key)' 'http://127.0.0.1:23900/space-bk-3?list-type=2&prefix=framaspace%2F' | grep -o '<Key>')\" ]"
check "the space serves again" kubectl wait --for=condition=Ready space/bk-3 --timeout=60s
scenario bk-3 ""

section "cleanup"
stop_process backup-operator
kubectl delete spacerestore --all --wait=false >/dev/null 2>&1
kubectl delete space bk-1 bk-2 bk-3 bk-1-copy --wait=false >/dev/null 2>&1
summary
