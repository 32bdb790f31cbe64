# Adopting existing instances, sourced by operator.sh with the operator running (after
# backing.sh): the inventory command, observe-only reads that write nothing (the PostgreSQL
# statement log, a Redis MONITOR, Garage's bucket and objects, the API server's audit log),
# refusals, the takeover on the instance's own data, a SIGKILL during one, usage, and deletion
# that keeps every adopted byte.
. "$E2E_DIR/legacy-instances.sh"

INV="$STATE_DIR/adoption"; rm -rf "$INV"; mkdir -p "$INV"
PG_LOG="$STATE_DIR/logs/postgres.log"
GARAGE_S3_PORT=${FRAMASPACE_GARAGE_S3_URL##*:}
cfg() { php -r 'include $argv[1]; $v = $CONFIG; foreach (array_slice($argv, 2) as $k) { $v = $v[$k]; } echo $v;' "$INV/$1.config.php" "${@:2}"; }
as_instance() { PGPASSWORD="$(cfg "$1" dbpassword)" psql -h 127.0.0.1 -p "$FRAMASPACE_PG_PORT" -U "nc_${1//-/_}" -d "nc_${1//-/_}" -tAqc "$2" 2>&1; }
# Every table the test planted, row by row, as one digest per table.
tables_digest() {
  local t out=""
  for t in oc_users oc_filecache oc_storages oc_preferences oc_authtoken; do
    out+="$t=$(as_instance "$1" "SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM $t x") "
  done
  echo "${out% }"
}
# oc_appconfig without the rows of the apps the takeover was reported to enable or disable (the
# class's, the platform's, the office suites').
appconfig_digest() { as_instance "$1" "SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) FROM oc_appconfig x WHERE appid NOT IN ('framaspace_quota', 'twofactor_totp', 'richdocuments', 'onlyoffice', 'calendar', 'circles', 'collectives', 'contacts', 'deck', 'spreed')"; }
# The bucket as Garage describes it, and its objects with their ETags and sizes, listed with the instance's key.
bucket_digest() {
  local b; b=$(cfg "$1" objectstore arguments bucket)
  { garage_admin "GetBucketInfo?globalAlias=$b" -X GET | jq -S 'del(.keys[].bucketLocalAliases)'
    curl -s -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --aws-sigv4 "aws:amz:garage:s3" \
      --user "$(cfg "$1" objectstore arguments key):$(cfg "$1" objectstore arguments secret)" "$FRAMASPACE_GARAGE_S3_URL/$b?list-type=2" \
      | grep -o '<Key>[^<]*</Key><LastModified>[^<]*</LastModified><ETag>[^<]*</ETag><Size>[0-9]*</Size>'; } | sha256sum | cut -d' ' -f1
}
bucket_marked() { garage_admin "GetBucketInfo?globalAlias=$(cfg "$1" objectstore arguments bucket)" -X GET | jq -e '[.keys[] | select(.bucketLocalAliases | length > 0)] | length > 0' >/dev/null; }
adoption_state() { jsonpath "space/$1" '{.status.adoption.state}'; }
state_is() { [ "$(adoption_state "$1")" = "$2" ]; }
# Statements that change something, sent by the operator, about instance $1 (its role, its database).
pg_writes_about() { sed -n "$((PG_MARK + 1)),\$p" "$PG_LOG" | grep 'app=framaspace-operator' | grep 'statement:' | grep -c "nc_${1//-/_}" || true; }
pg_reads_as() { sed -n "$((PG_MARK + 1)),\$p" "$PG_LOG" | grep -c "connection authorized: user=nc_${1//-/_} database=nc_${1//-/_} application_name=framaspace-operator" || true; }
# The operator's API writes about space $1 other than its status (and its Events).
api_writes_beyond_status() { jq -c --arg s "$1" 'select((.userAgent // "") | startswith("framaspace-operator/")) | select(.objectRef.name == $s or .objectRef.namespace == ("space-" + $s)) | select(.objectRef.subresource != "status")' "$AUDIT" 2>/dev/null | wc -l; }
install_jobs_of() { jq -c --arg ns "space-$1" 'select(.verb == "create" and .objectRef.resource == "jobs" and .objectRef.namespace == $ns and (.objectRef.name // "" | startswith("nextcloud-install")))' "$AUDIT" 2>/dev/null | wc -l; }

section "adoption: existing instances described by their config.php become manifests"
check "three existing instances are made as Nextcloud's installer and Framasoft's scripts leave them" \
  legacy_instances "$INV" adopt-clean adopt-drift adopt-kill
# Planted: the drifted instance is on an older release.
sed -i "s/'version' => '33.0.7.2'/'version' => '33.0.5.1'/" "$INV/adopt-drift.config.php"
# Three that cannot be adopted as they are.
sed "s/'pgsql'/'mysql'/; s/adopt-clean/on-mysql/g; s/nc_adopt_clean/nc_on_mysql/g" "$INV/adopt-clean.config.php" > "$INV/on-mysql.config.php"
sed "s/adopt-clean\.frama/no-contact.frama/; s/nc_adopt_clean/nc_no_contact/g; s/nc-adopt-clean/nc-no-contact/" "$INV/adopt-clean.config.php" > "$INV/no-contact.config.php"
sed "s/adopt-clean\.frama/twin.frama/" "$INV/adopt-clean.config.php" > "$INV/zz-twin.config.php"
ADOPT=("$REPO_DIR/target/debug/framaspace-operator" adopt --csv "$INV/extra.csv" --class standard --out "$INV/manifests"
  --database-pool "127.0.0.1:$FRAMASPACE_PG_PORT=pg-1" --storage-pool "127.0.0.1:$GARAGE_S3_PORT=s3-garage")
out=$("${ADOPT[@]}" "$INV"/*.config.php 2>&1); code=$?
check_eq "adopt maps the three and exits 3 for the refused ones" "3 3 instance(s) mapped, 3 refused" "$code $(tail -1 <<<"$out")"
check "it refuses a MySQL instance, saying why" grep -q 'refused .*on-mysql.config.php: dbtype is "mysql": the operator.s DatabasePools are PostgreSQL' <<<"$out"
check "it refuses an instance without a contact, naming the CSV" grep -q 'refused .*no-contact.config.php: no contact e-mail for no-contact.frama.space: add a row with its host and contact_email to the CSV' <<<"$out"
check "it refuses a second instance on the same database and bucket" grep -q "refused .*zz-twin.config.php: its database nc_adopt_clean on 127.0.0.1:$FRAMASPACE_PG_PORT is also .*adopt-clean.config.php's" <<<"$out"
check_eq "one file per space, each an adoption Secret and an observed AssociationSpace" "adopt-clean.yaml adopt-drift.yaml adopt-kill.yaml" "$(ls "$INV/manifests" | xargs)"
check "the Secret carries config.php's identity under its own names" bash -c \
  "grep -q \"instanceid: $(cfg adopt-clean instanceid)\" '$INV/manifests/adopt-clean.yaml' && grep -q 'passwordsalt: ' '$INV/manifests/adopt-clean.yaml'"
# Planted: a Secret whose instanceid is not the instance's (a typo a person could make).
sed -i "s/instanceid: .*/instanceid: ocwrong0000x/" "$INV/manifests/adopt-drift.yaml"

section "adoption: observing writes nothing anywhere"
declare -A DIGEST_BEFORE
for i in adopt-clean adopt-drift adopt-kill; do DIGEST_BEFORE[$i]="$(tables_digest $i) $(appconfig_digest $i) $(bucket_digest $i)"; done
redis_user_before=$(redis_admin ACL GETUSER nc-adopt-clean | sha256sum)
# The server logs every statement that changes something, and every connection, with its
# application name: the operator's reads show, and any write would.
# (ALTER SYSTEM runs outside a transaction block: one statement per call.)
for setting in "log_statement = 'mod'" "log_connections = on" "log_line_prefix = '%m app=%a db=%d user=%u '"; do pg_admin "ALTER SYSTEM SET $setting" >/dev/null; done
pg_admin "SELECT pg_reload_conf()" >/dev/null
sleep 1
PG_MARK=$(wc -l < "$PG_LOG")
REDISCLI_AUTH="$FRAMASPACE_REDIS_PASSWORD" setsid redis-cli --no-auth-warning --user admin -h 127.0.0.1 -p "$FRAMASPACE_REDIS_PORT" MONITOR > "$INV/monitor.log" 2>&1 &
MONITOR_PID=$!
check "kubectl apply the manifests" kubectl apply -f "$INV/manifests/"
check "adopt-clean is read and found Clean" eventually 60 state_is adopt-clean Clean
check "adopt-drift is read and found Differing" eventually 60 state_is adopt-drift Differing
check_eq "adopt-clean: phase Observing, Ready=False Observing, Adopted=False Clean" "Observing False/Observing False/Clean" \
  "$(jsonpath space/adopt-clean '{.status.phase} {.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason} {.status.conditions[?(@.type=="Adopted")].status}/{.status.conditions[?(@.type=="Adopted")].reason}')"
check_eq "its report lists what managing it changes: the office suite, the platform's and the class's apps, Talk's servers" \
  "office false richdocuments not enabled|apps false calendar, circles, collectives, contacts, deck, framaspace_quota, spreed, twofactor_totp not enabled|talk false Talk's TURN, STUN and signaling servers as the instance has them" \
  "$(kubectl get space adopt-clean -o json | jq -r '[.status.adoption.differences[] | "\(.field) \(.blocking) \(.observed)"] | join("|")')"
check_eq "and what it read: 3 accounts, 3 objects of 4677 bytes, its version" "3 3 4677 33.0.7.2" \
  "$(jsonpath space/adopt-clean '{.status.adoption.instance.accounts} {.status.adoption.instance.objects} {.status.adoption.instance.bytes} {.status.adoption.instance.version}')"
check_eq "adopt-drift reports the differences planted: its release, the Secret's instanceid, the apps" "version true|instanceid true|office false|apps false|talk false" \
  "$(kubectl get space adopt-drift -o json | jq -r '[.status.adoption.differences[] | "\(.field) \(.blocking)"] | join("|")')"
check "with the path to take for the release" bash -c "kubectl get space adopt-drift -o jsonpath='{.status.adoption.differences[0].managed}' | grep -q 'older than SpaceClass standard (33.0.7): upgrade it in place to 33.0.7 (occ upgrade)'"
check "the Adopted condition lists them" bash -c "kubectl get space adopt-drift -o jsonpath='{.status.conditions[?(@.type==\"Adopted\")].message}' | grep -q 'instanceid: no appdata_ocwrong0000x in the bucket.s storage'"
check "kubectl get spaces -o wide shows the adoption state" bash -c "kubectl get spaces -o wide | grep -E '^adopt-clean ' | grep -q Clean"
sleep 3
kill "$MONITOR_PID" 2>/dev/null
check "the operator read each database as the instance's role (PostgreSQL's connection log)" test "$(pg_reads_as adopt-clean)" -ge 1
for i in adopt-clean adopt-drift adopt-kill; do
  check_eq "$i: PostgreSQL logged no statement of the operator that changes it" "0" "$(pg_writes_about $i)"
  check_eq "$i: its tables, appconfig and bucket (info, objects, ETags) are as they were" "${DIGEST_BEFORE[$i]}" "$(tables_digest $i) $(appconfig_digest $i) $(bucket_digest $i)"
  check_eq "$i: the API server's audit log shows no write of the operator but its status" "0" "$(api_writes_beyond_status $i)"
  check "$i: no namespace, no finalizer" bash -c "! kubectl get namespace space-$i >/dev/null 2>&1 && [ -z \"\$(kubectl get space $i -o jsonpath='{.metadata.finalizers}')\" ]"
done
check_eq "Redis received no command about the instances or their spaces (MONITOR)" "0" "$(grep -cE 'adopt-(clean|drift|kill)' "$INV/monitor.log")"
check_eq "the instance's Redis user is as it was" "$redis_user_before" "$(redis_admin ACL GETUSER nc-adopt-clean | sha256sum)"
status_writes() { jq -c --arg s "$1" 'select((.userAgent // "") | startswith("framaspace-operator/")) | select(.objectRef.name == $s and .objectRef.subresource == "status")' "$AUDIT" | wc -l; }
writes=$(status_writes adopt-clean); observed_at=$(jsonpath space/adopt-clean '{.status.adoption.observedAt}')
poke adopt-clean; sleep 4
check_eq "reading it again and finding the same writes no status (audit log), observedAt kept" "$writes $observed_at" "$(status_writes adopt-clean) $(jsonpath space/adopt-clean '{.status.adoption.observedAt}')"

section "adoption: what points at another space's data, or at nothing, is refused"
# adopting NAME DATABASE BUCKET SECRET: a manifest that adopts them on pg-1 and s3-garage.
adopting() {
  kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: $1 }
spec:
  displayName: $1
  contactEmail: contact@$1.example
  adoption: { database: { pool: pg-1, name: $2, role: $2 }, bucket: { pool: s3-garage, name: $3 }, secretName: $4, version: 33.0.7.2, host: $1.frama.space }
YAML
}
adopting grab-clean nc_probe_untouched nc-adopt-clean adopt-adopt-clean
adopting grab-velo space_collectif_velo nc-grab-velo adopt-adopt-clean
adopting borrow nc_borrow nc-borrow adopt-adopt-clean
adopting ghost nc_ghost nc-ghost adopt-ghost
# A database that exists, so that a read of it would show in the connection log.
pg_admin "CREATE ROLE nc_probe_untouched LOGIN PASSWORD 'probe-pw-00112233'" >/dev/null
pg_admin "CREATE DATABASE nc_probe_untouched OWNER nc_probe_untouched" >/dev/null
check_eq "(the probe database exists)" "1" "$(pg_admin "SELECT count(*) FROM pg_database WHERE datname = 'nc_probe_untouched'")"
kubectl -n framaspace-system create secret generic adopt-ghost --from-literal=instanceid=ocghost0001 --from-literal=secret=s --from-literal=passwordsalt=p \
  --from-literal=dbpassword=x --from-literal=objectstore-key=GK00 --from-literal=objectstore-secret=y --dry-run=client -o yaml \
  | kubectl label --local -f - frama.space/purpose=adoption -o yaml | kubectl annotate --local -f - frama.space/space=ghost -o yaml | kubectl apply -f - >/dev/null
refused_with() { [ "$(adoption_state "$1")" = Refused ] && kubectl get space "$1" -o jsonpath='{.status.adoption.message}' | grep -q "$2"; }
check "a manifest on adopt-clean's bucket is Refused: nothing was read" eventually 60 refused_with grab-clean "bucket nc-adopt-clean on StoragePool s3-garage is adopted by space adopt-clean: nothing was read"
check "a manifest on an operator-made space's database is Refused" eventually 60 refused_with grab-velo "database space_collectif_velo (role space_collectif_velo) on DatabasePool pg-1 is space collectif-velo's: nothing was read"
check "a manifest naming another space's adoption Secret is Refused, nothing read" eventually 60 refused_with borrow "Secret framaspace-system/adopt-adopt-clean is not labelled frama.space/purpose=adoption and annotated frama.space/space=borrow"
check "a manifest that points at nothing is Refused, saying so" eventually 60 refused_with ghost "database nc_ghost does not exist on DatabasePool pg-1: the manifest points at nothing"
check_eq "the refused manifest's database was never connected to" "0" "$(sed -n "$((PG_MARK + 1)),\$p" "$PG_LOG" | grep -c 'database=nc_probe_untouched')"
kubectl delete space grab-clean grab-velo borrow ghost --wait=true --timeout=60s >/dev/null
check "the refused spaces are deleted at once, nothing of theirs was made" bash -c "! kubectl get namespace space-grab-clean space-grab-velo space-borrow space-ghost >/dev/null 2>&1"

section "adoption: deleting an observed space (deletionPolicy Delete) keeps everything"
kubectl patch space adopt-kill --type merge -p '{"spec":{"deletionPolicy":"Delete"}}' >/dev/null
check "the observed space adopt-kill is deleted" kubectl delete space adopt-kill --wait=true --timeout=60s
check_eq "its tables, appconfig and bucket are as they were" "${DIGEST_BEFORE[adopt-kill]}" "$(tables_digest adopt-kill) $(appconfig_digest adopt-kill) $(bucket_digest adopt-kill)"
check "its role still logs in" as_instance adopt-kill "SELECT 1"
kubectl apply -f "$INV/manifests/adopt-kill.yaml" >/dev/null

section "adoption: a clean instance switched to Manage runs on its own data, with no install"
check "kubectl patch space adopt-clean: policy Manage" kubectl patch space adopt-clean --type merge -p '{"spec":{"adoption":{"policy":"Manage"}}}'
check "adopt-clean becomes Ready" kubectl wait --for=condition=Ready space/adopt-clean --timeout=120s
check_eq "Adopted=True Managed, report Managed" "True/Managed Managed" "$(jsonpath space/adopt-clean '{.status.conditions[?(@.type=="Adopted")].status}/{.status.conditions[?(@.type=="Adopted")].reason} {.status.adoption.state}')"
check_eq "no install Job was ever created for it (audit log)" "0" "$(install_jobs_of adopt-clean)"
check_eq "it runs the version its config.php records" "33.0.7.2" "$(jsonpath space/adopt-clean '{.status.nextcloud.version}')"
for k in instanceid:nextcloud-instanceid secret:nextcloud-secret passwordsalt:nextcloud-passwordsalt dbpassword:database-password; do
  check_eq "the space's Secret holds config.php's ${k%%:*}" "$(cfg adopt-clean "${k%%:*}")" "$(cred adopt-clean "${k#*:}")"
done
check_eq "and its object store key" "$(cfg adopt-clean objectstore arguments key)" "$(cred adopt-clean s3-access-key)"
check "the rendered config points at the adopted database and bucket" bash -c "kubectl -n space-adopt-clean get configmap nextcloud-config -o json | jq -r '.data[\"database.config.php\"] + .data[\"objectstore.config.php\"]' | grep -q \"'dbname' => 'nc_adopt_clean'\" && kubectl -n space-adopt-clean get configmap nextcloud-config -o json | jq -r '.data[\"objectstore.config.php\"]' | grep -q \"'bucket' => 'nc-adopt-clean'\""
check_eq "rows and objects are byte-identical" "$(cut -d' ' -f1-5 <<<"${DIGEST_BEFORE[adopt-clean]}") $(cut -d' ' -f7 <<<"${DIGEST_BEFORE[adopt-clean]}")" "$(tables_digest adopt-clean) $(bucket_digest adopt-clean)"
check_eq "oc_appconfig changed only in the apps the report said managing enables" "$(cut -d' ' -f6 <<<"${DIGEST_BEFORE[adopt-clean]}")" "$(appconfig_digest adopt-clean)"
check_eq "the adopted bucket is not marked as the operator's" "no" "$(bucket_marked adopt-clean && echo yes || echo no)"
check_eq "PostgreSQL logged no DDL or write of the operator on it" "0" "$(pg_writes_about adopt-clean)"
check "the Nextcloud pod runs with it" kubectl -n space-adopt-clean get deployment nextcloud
check_eq "adopt-drift, switched to Manage too, stays observed: Ready=False AdoptionNotClean, no namespace" "Observing AdoptionNotClean absent" \
  "$(kubectl patch space adopt-drift --type merge -p '{"spec":{"adoption":{"policy":"Manage"}}}' >/dev/null; sleep 4; jsonpath space/adopt-drift '{.status.phase} {.status.conditions[?(@.type=="Ready")].reason}') $(kubectl get namespace space-adopt-drift >/dev/null 2>&1 && echo present || echo absent)"
out=$(kubectl patch space adopt-clean --type merge -p '{"spec":{"adoption":{"policy":"Observe"}}}' 2>&1)
check "a managed space cannot go back to Observe (CEL)" grep -q "cannot go back from Manage to Observe" <<<"$out"
out=$(kubectl patch space adopt-clean --type merge -p '{"spec":{"adoption":{"bucket":{"pool":"s3-garage","name":"nc-other"}}}}' 2>&1)
check "nor change the bucket it adopts" grep -q "spec.adoption.bucket is immutable" <<<"$out"

section "adoption: usage of a managed space"
check_eq "status.usage: the bucket's bytes and objects as planted" "4677 3" "$(jsonpath space/adopt-clean '{.status.usage.storage.usedBytes} {.status.usage.storage.objects}')"
check_eq "its accounts, last login and last activity as planted" "3 50 2025-12-05T15:53:20Z 2025-12-05T18:40:00Z" \
  "$(jsonpath space/adopt-clean '{.status.usage.accounts.accounts} {.status.usage.accounts.maxAccounts} {.status.usage.accounts.lastLogin} {.status.usage.accounts.lastActivity}')"
check "kubectl get spaces shows used/quota and accounts" bash -c "kubectl get space adopt-clean | grep -q '4.6KiB/40.0GiB *3/50'"
as_instance adopt-clean "INSERT INTO oc_users (uid, displayname, uid_lower) VALUES ('dan', 'Dan', 'dan'); UPDATE oc_preferences SET configvalue = '1764990000' WHERE userid = 'bob' AND configkey = 'lastLogin'" >/dev/null
kubectl patch storagepool s3-garage --type merge -p '{"spec":{"usageCheckSeconds":10}}' >/dev/null
counted() { poke adopt-clean; [ "$(jsonpath space/adopt-clean '{.status.usage.accounts.accounts} {.status.usage.accounts.lastLogin}')" = "4 2025-12-06T03:00:00Z" ]; }
check "a new account and a new login are counted at the next measure" eventually 60 counted
measured_at=$(jsonpath space/adopt-clean '{.status.usage.storage.measuredAt}')
writes=$(status_writes adopt-clean)
sleep 22; poke adopt-clean; sleep 2
check_eq "a measure that finds the same figures writes no status (audit log), measuredAt kept" "$writes $measured_at" "$(status_writes adopt-clean) $(jsonpath space/adopt-clean '{.status.usage.storage.measuredAt}')"
kubectl patch storagepool s3-garage --type json -p '[{"op":"remove","path":"/spec/usageCheckSeconds"}]' >/dev/null
metrics=$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics")
check "framaspace_spaces_adoption counts the managed spaces" grep -q '^framaspace_spaces_adoption{state="Managed"} [1-9]' <<<"$metrics"
check "and the observed ones by state" grep -q '^framaspace_spaces_adoption{state="Differing"} 1$' <<<"$metrics"
check "framaspace_spaces_by_usage gives the distribution of the accounts' share" grep -q '^framaspace_spaces_by_usage{resource="accounts",band="lt50"} [1-9]' <<<"$metrics"
check "framaspace_space_usage_top_ratio names at most ten spaces per resource" test "$(grep -c '^framaspace_space_usage_top_ratio{' <<<"$metrics")" -le 20
check_eq "framaspace_spaces_near_limit is published for both resources" "2" "$(grep -c '^framaspace_spaces_near_limit{' <<<"$metrics")"

section "adoption: SIGKILL during a takeover, then restart"
kubectl patch space adopt-kill --type merge -p '{"spec":{"adoption":{"policy":"Manage"}}}' >/dev/null
check "the takeover of adopt-kill has begun (its namespace exists)" eventually 60 kubectl get namespace space-adopt-kill
kill_operator
start_operator
check "adopt-kill becomes Ready after the restart" kubectl wait --for=condition=Ready space/adopt-kill --timeout=120s
check_eq "one credentials Secret, holding config.php's identity" "1 $(cfg adopt-kill instanceid)" \
  "$(kubectl -n space-adopt-kill get secrets -l app.kubernetes.io/managed-by=framaspace-operator -o name | grep -c credentials) $(cred adopt-kill nextcloud-instanceid)"
check_eq "no install Job" "0" "$(install_jobs_of adopt-kill)"
check_eq "rows and objects byte-identical" "$(cut -d' ' -f1-5 <<<"${DIGEST_BEFORE[adopt-kill]}") $(cut -d' ' -f7 <<<"${DIGEST_BEFORE[adopt-kill]}")" "$(tables_digest adopt-kill) $(bucket_digest adopt-kill)"

section "adoption: deleting an adopted space with deletionPolicy Delete keeps every adopted byte"
kubectl patch space adopt-clean --type merge -p '{"spec":{"deletionPolicy":"Delete"}}' >/dev/null
after_takeover="$(tables_digest adopt-clean) $(appconfig_digest adopt-clean) $(bucket_digest adopt-clean)"
check "the adopted space adopt-clean is deleted" kubectl delete space adopt-clean --wait=true --timeout=90s
check_eq "its tables, appconfig and bucket are as the space left them" "$after_takeover" "$(tables_digest adopt-clean) $(appconfig_digest adopt-clean) $(bucket_digest adopt-clean)"
check "its role still logs in with its password (nothing revoked)" as_instance adopt-clean "SELECT count(*) FROM oc_users"
check_eq "its key still reads its bucket" "200" "$(curl -s -o /dev/null -w '%{http_code}' -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --aws-sigv4 "aws:amz:garage:s3" --user "$(cfg adopt-clean objectstore arguments key):$(cfg adopt-clean objectstore arguments secret)" "$FRAMASPACE_GARAGE_S3_URL/nc-adopt-clean/urn%3Aoid%3A5")"
check "an AdoptedDataKept Event says so" bash -c "kubectl get events -A --field-selector involvedObject.name=adopt-clean,reason=AdoptedDataKept -o name | grep -q ."
check_eq "PostgreSQL logged no DROP or REVOKE about it" "0" "$(pg_writes_about adopt-clean)"
kubectl delete space adopt-drift adopt-kill --wait=true --timeout=90s >/dev/null
check_eq "the operator's own cache users of the adopted spaces are gone (none pins a database a new space may get); the instances' are kept" "nc-adopt-clean" \
  "$(redis_admin ACL USERS | grep -x 'space-adopt-.*\|nc-adopt-clean' | xargs)"
for setting in log_statement log_connections log_line_prefix; do pg_admin "ALTER SYSTEM RESET $setting" >/dev/null; done
pg_admin "SELECT pg_reload_conf()" >/dev/null
leaked() {
  local v hay="$INV/haystack.txt"
  { cat "$OP_LOG"; kubectl get events -A -o json; kubectl get spaces -o json; } > "$hay"
  for v in "$(cfg adopt-drift secret)" "$(cfg adopt-drift passwordsalt)" "$(cfg adopt-drift dbpassword)" "$(cfg adopt-drift objectstore arguments secret)" \
           "$(cfg adopt-kill secret)" "$(cfg adopt-kill dbpassword)"; do
    grep -qF -- "$v" "$hay" && echo "leak"
  done
}
check_eq "no adopted secret value appears in the operator's log, Events or the spaces' status" "" "$(leaked)"
