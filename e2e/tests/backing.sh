# Backing services, sourced by operator.sh with the operator running: pools and placement,
# isolation between spaces, deletion policies, a pool outage, and no secret in logs or events.

pg_admin() { PGPASSWORD="$FRAMASPACE_PG_PASSWORD" psql -h 127.0.0.1 -p "$FRAMASPACE_PG_PORT" -U postgres -d postgres -tAqc "$1" 2>&1; }
cred() { kubectl -n "space-$1" get secret nextcloud-credentials -o jsonpath="{.data.$2}" | base64 -d; }
role() { echo "space_${1//-/_}"; }
pg_as() { PGPASSWORD="$(cred "$1" database-password)" psql -h 127.0.0.1 -p "$FRAMASPACE_PG_PORT" -U "$(role "$1")" -d "$2" -tAqc "$3" 2>&1; }
redis_as() { REDISCLI_AUTH="$2" redis-cli --no-auth-warning --user "$1" -h 127.0.0.1 -p "$FRAMASPACE_REDIS_PORT" "${@:3}" 2>&1; }
redis_admin() { redis_as admin "$FRAMASPACE_REDIS_PASSWORD" "$@"; }
# The space's own database on its CachePool, as its namespace records it.
cache_db() { kubectl get namespace "space-$1" -o jsonpath='{.metadata.annotations.frama\.space/cache-database}'; }
# space_redis SPACE [DB] ARGS...: a command as the space's user, in its own database unless DB is given.
space_redis() { local s=$1; shift; redis_as "space-$s" "$(cred "$s" redis-password)" "$@"; }
storage_pool() { jsonpath "space/$1" '{.status.placement.storagePool}'; }
s3_endpoint() { kubectl get storagepool "$1" -o jsonpath='{.spec.endpoint}'; }
s3_region() { kubectl get storagepool "$1" -o jsonpath='{.spec.region}'; }
# s3_as SPACE METHOD PATH [DATA_FILE]: HTTP status of a request signed with the space's own key.
s3_as() {
  local pool endpoint region; pool=$(storage_pool "$1"); endpoint=$(s3_endpoint "$pool"); region=$(s3_region "$pool")
  local body=(); [ -n "${4:-}" ] && body=(--data-binary "@$4")
  curl -s -o /dev/null -w '%{http_code}' -X "$2" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
    --aws-sigv4 "aws:amz:$region:s3" --user "$(cred "$1" s3-access-key):$(cred "$1" s3-secret-key)" "${body[@]}" "$endpoint$3"
}
# Objects in a bucket, through the pool's admin credentials.
bucket_objects() {
  local pool=$1 bucket=$2
  case "$(kubectl get storagepool "$pool" -o jsonpath='{.spec.provider}')" in
    minio) curl -s -H "x-amz-content-sha256: $EMPTY_SHA256" --aws-sigv4 "aws:amz:us-east-1:s3" \
             --user "$FRAMASPACE_MINIO_ACCESS_KEY:$FRAMASPACE_MINIO_SECRET_KEY" "$FRAMASPACE_MINIO_URL/$bucket?list-type=2" | grep -o '<Key>' | wc -l ;;
    garage) curl -s -H "Authorization: Bearer $FRAMASPACE_GARAGE_ADMIN_TOKEN" "$FRAMASPACE_GARAGE_ADMIN_URL/v2/GetBucketInfo?globalAlias=$bucket" | jq -r '.objects // "none"' ;;
  esac
}
EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
pool_ready() { test "$(kubectl get "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = "$2"; }
condition_is() { test "$(jsonpath "space/$1" "{.status.conditions[?(@.type==\"$2\")].status}/{.status.conditions[?(@.type==\"$2\")].reason}")" = "$3"; }

section "pools and placement"
for p in databasepool/pg-1 cachepool/redis-1 storagepool/s3-minio storagepool/s3-garage; do
  check "$p is Ready (the operator reaches it with its admin Secret)" kubectl wait --for=condition=Ready "$p" --timeout=60s
done
check_eq "the spaces are spread over both StoragePools (most free capacity first)" "s3-garage s3-minio" \
  "$(for s in collectif-velo jardins-partages; do storage_pool $s; echo; done | sort | xargs)"
check_eq "placement is recorded on the namespace too" "$(storage_pool collectif-velo)" \
  "$(kubectl get namespace space-collectif-velo -o jsonpath='{.metadata.annotations.frama\.space/storage-pool}')"
assigned_is() { test "$(kubectl get databasepool pg-1 -o jsonpath='{.status.assignedSpaces}')" = "$1"; }
spaces_now=$(kubectl get spaces -o json | jq '[.items[] | select(.status.placement.databasePool == "pg-1")] | length')
check "DatabasePool pg-1 counts the $spaces_now spaces placed on it" eventually 30 assigned_is "$spaces_now"
check "the config points Nextcloud at its database, cache and bucket" bash -c "kubectl -n space-collectif-velo get configmap nextcloud-config -o json \
  | jq -r '.data[\"database.config.php\"] + .data[\"redis.config.php\"] + .data[\"objectstore.config.php\"]' \
  | grep -q \"'dbhost' => '127.0.0.1:25432'\" "

section "a pool that is reachable but cannot provision is not Ready and takes no space"
# It may log in to the server's own database (the pool checks revoke that from PUBLIC): only its
# rights are short.
pg_admin "DROP ROLE IF EXISTS e2e_weak_admin; CREATE ROLE e2e_weak_admin LOGIN PASSWORD 'weak-admin-e2e-77' NOCREATEROLE NOCREATEDB; GRANT CONNECT ON DATABASE postgres TO e2e_weak_admin" >/dev/null
redis_admin ACL SETUSER e2e-weak-admin on '>weak-admin-e2e-78' '~*' '+@all' '-acl' >/dev/null
kubectl -n framaspace-system create secret generic pg-weak-admin --from-literal=username=e2e_weak_admin --from-literal=password=weak-admin-e2e-77 --dry-run=client -o yaml \
  | kubectl annotate --local -f - frama.space/endpoints="127.0.0.1:$FRAMASPACE_PG_PORT" -o yaml | kubectl apply -f - >/dev/null
kubectl -n framaspace-system create secret generic redis-weak-admin --from-literal=username=e2e-weak-admin --from-literal=password=weak-admin-e2e-78 --dry-run=client -o yaml \
  | kubectl annotate --local -f - frama.space/endpoints="127.0.0.1:$FRAMASPACE_REDIS_PORT" -o yaml | kubectl apply -f - >/dev/null
kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: DatabasePool
metadata: { name: pg-weak }
spec: { host: 127.0.0.1, port: $FRAMASPACE_PG_PORT, adminSecretRef: { name: pg-weak-admin }, sslMode: disable, capacity: { maxSpaces: 100000 } }
---
apiVersion: frama.space/v1alpha1
kind: CachePool
metadata: { name: redis-weak }
spec: { host: 127.0.0.1, port: $FRAMASPACE_REDIS_PORT, adminSecretRef: { name: redis-weak-admin }, capacity: { maxSpaces: 100000 } }
YAML
check "a DatabasePool whose admin may not create roles: Ready=False, saying so" eventually 60 bash -c \
  "kubectl get databasepool pg-weak -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status} {.status.conditions[?(@.type==\"Ready\")].message}' | grep -q '^False .*may not create roles and databases (CREATEROLE and CREATEDB)'"
check "a CachePool whose admin may not create ACL users: Ready=False, saying so" eventually 60 bash -c \
  "kubectl get cachepool redis-weak -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status} {.status.conditions[?(@.type==\"Ready\")].message}' | grep -q '^False .*may not create ACL users'"
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: not-captured }
spec: { displayName: Not captured, contactEmail: admin@not-captured.example, deletionPolicy: Delete }
YAML
check "a new space, with the most free capacity on the weak pools, is placed on the others" eventually 60 bash -c \
  "[ \"\$(kubectl get space not-captured -o jsonpath='{.status.placement.databasePool} {.status.placement.cachePool}')\" = 'pg-1 redis-1' ]"
kubectl delete space not-captured --wait=false >/dev/null
# A space recorded (on its namespace) on the weak pool and on a pool since deleted, as one placed
# before the pool checks proved rights: nothing of it is installed, so it is placed again.
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Namespace
metadata:
  name: space-placed-again
  labels: { app.kubernetes.io/managed-by: framaspace-operator, frama.space/space: placed-again }
  annotations: { frama.space/database-pool: pg-weak, frama.space/storage-pool: s3-vanished }
---
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: placed-again }
spec: { displayName: Placed again, contactEmail: admin@placed-again.example, deletionPolicy: Delete }
YAML
check "a space recorded on a pool that cannot provision, and on one that is gone, is placed again and becomes Ready" \
  kubectl wait --for=condition=Ready space/placed-again --timeout=120s
check_eq "on pools that work, recorded on its namespace" "pg-1 s3" \
  "$(kubectl get namespace space-placed-again -o jsonpath='{.metadata.annotations.frama\.space/database-pool} {.metadata.annotations.frama\.space/storage-pool}' | cut -c1-7)"
check "a PlacedAgain Event names both pools" bash -c "kubectl get events -A --field-selector involvedObject.name=placed-again,reason=PlacedAgain -o jsonpath='{.items[*].message}' | grep -q 'DatabasePool pg-weak is not Ready; StoragePool s3-vanished is gone'"
kubectl delete space placed-again --wait=false >/dev/null
# Roles of 45 connections on a server of 2000 (3 kept for superusers, 4 for the operator): 44 spaces, not 100.
kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: DatabasePool
metadata: { name: pg-crowded }
spec: { host: 127.0.0.1, port: $FRAMASPACE_PG_PORT, adminSecretRef: { name: pg-1-admin }, sslMode: disable, tenantConnectionLimit: 45, maxConcurrentOperations: 4, capacity: { maxSpaces: 100 } }
YAML
check "a pool counts the spaces its server's connections hold at its tenants' limit" eventually 60 bash -c \
  "[ \"\$(kubectl get databasepool pg-crowded -o jsonpath='{.status.connectionCapacity}')\" = 44 ]"
check "and says in its Ready message that 100 would not fit" bash -c \
  "kubectl get databasepool pg-crowded -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].message}' | grep -q 'its connections hold 44 spaces, not 100: max_connections 2000 at tenantConnectionLimit 45'"
check_eq "and takes no more: its free capacity is 44" "44" "$(kubectl get databasepool pg-crowded -o jsonpath='{.status.freeCapacity}')"
# At 1000 connections a role, the server holds one tenant: the second is never created there.
kubectl patch databasepool pg-crowded --type merge -p '{"spec":{"tenantConnectionLimit":1000}}' >/dev/null
kubectl label databasepool/pg-crowded cachepool/redis-1 storagepool/s3-minio e2e.frama.space/crowded=yes --overwrite >/dev/null
sed -e "s/name: standard/name: crowded/" -e 's/default: true/default: false/' -e "s/baseDomain: frama.space/baseDomain: crowded.frama.space/" \
  "$REPO_DIR/examples/spaceclass-standard.yaml" > "$STATE_DIR/crowded-class.yaml"
printf '  poolSelector:\n    matchLabels: { e2e.frama.space/crowded: "yes" }\n' >> "$STATE_DIR/crowded-class.yaml"
kubectl apply -f "$STATE_DIR/crowded-class.yaml" >/dev/null
check "at 1000 connections a role its capacity is 1" eventually 60 bash -c \
  "[ \"\$(kubectl get databasepool pg-crowded -o jsonpath='{.status.connectionCapacity}/{.status.freeCapacity}')\" = 1/1 ]"
for n in 1 2; do
  kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: crowd-$n }
spec: { displayName: Crowd $n, contactEmail: c@crowd.example, spaceClassName: crowded, deletionPolicy: Delete }
YAML
  [ "$n" = 1 ] && kubectl wait --for=condition=Ready space/crowd-1 --timeout=120s >/dev/null 2>&1
done
check_eq "the first tenant is placed there" "pg-crowded" "$(jsonpath space/crowd-1 '{.status.placement.databasePool}')"
check "the second is not: Placed=False NoCapacity" eventually 60 condition_is crowd-2 Placed False/NoCapacity
check_eq "and no role of it exists on the server" "0" "$(pg_admin "select count(*) from pg_roles where rolname = 'space_crowd_2'")"
check_eq "the first one's role carries the limit" "1000" "$(pg_admin "select rolconnlimit from pg_roles where rolname = 'space_crowd_1'")"
kubectl delete space crowd-1 crowd-2 --wait=true --timeout=90s >/dev/null 2>&1
kubectl delete spaceclass crowded >/dev/null 2>&1
kubectl label cachepool/redis-1 storagepool/s3-minio e2e.frama.space/crowded- >/dev/null
kubectl delete databasepool pg-crowded --wait=false >/dev/null
kubectl delete databasepool pg-weak --wait=false >/dev/null; kubectl delete cachepool redis-weak --wait=false >/dev/null
redis_admin ACL DELUSER e2e-weak-admin >/dev/null

section "each space reaches only its own data"
A=collectif-velo; B=jardins-partages
check "A's role writes its own database" bash -c "$(declare -f cred role pg_as); pg_as $A $(role $A) 'CREATE TABLE IF NOT EXISTS kept (i int); INSERT INTO kept VALUES (42)'"
check "A's role is refused on B's database" bash -c "$(declare -f cred role pg_as); ! pg_as $A $(role $B) 'select 1'"
check "B's role is refused on A's database" bash -c "$(declare -f cred role pg_as); ! pg_as $B $(role $A) 'select 1'"
check "A's role cannot create roles or databases" bash -c "$(declare -f cred role pg_as); pg_as $A $(role $A) 'CREATE DATABASE intrusion' | grep -q 'permission denied'"
echo 'office document' > "$STATE_DIR/doc.txt"
check_eq "A's S3 key writes its bucket" "200" "$(s3_as $A PUT "/space-$A/doc.txt" "$STATE_DIR/doc.txt")"
check_eq "B's S3 key writes its bucket" "200" "$(s3_as $B PUT "/space-$B/doc.txt" "$STATE_DIR/doc.txt")"
# A's key against B's bucket, on B's store (the same store or another one: refused either way).
s3_cross() {
  local pool endpoint region; pool=$(storage_pool "$2"); endpoint=$(s3_endpoint "$pool"); region=$(s3_region "$pool")
  curl -s -o /dev/null -w '%{http_code}' -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
    --aws-sigv4 "aws:amz:$region:s3" --user "$(cred "$1" s3-access-key):$(cred "$1" s3-secret-key)" "$endpoint/space-$2/doc.txt"
}
check_eq "A's S3 key is refused on B's bucket" "403" "$(s3_cross $A $B)"
check_eq "B's S3 key is refused on A's bucket" "403" "$(s3_cross $B $A)"

section "each space's cache is a database of its own (real Valkey)"
da=$(cache_db $A); db=$(cache_db $B)
check "A and B each have a database of their own, never 0" test "$da" -ge 1 -a "$db" -ge 1 -a "$da" != "$db"
check_eq "the status records the same database" "$da" "$(jsonpath space/$A '{.status.placement.cacheDatabase}')"
check "Nextcloud is told its database (redis.dbindex)" bash -c "kubectl -n space-$A get configmap nextcloud-config -o jsonpath='{.data.redis\.config\.php}' | grep -q \"'dbindex' => $da,\""
check_eq "A writes under its prefix in its database" "OK" "$(space_redis $A -n "$da" SET "space-$A:files/alice/budget.pdf" 1)"
check_eq "B writes under its prefix in its database" "OK" "$(space_redis $B -n "$db" SET "space-$B:files/bob/Confidentiel.pdf" 1)"
space_redis $B -n "$db" EVAL "for i=1,50 do redis.call('set', KEYS[1]..i, i) end return 1" 1 "space-$B:bulk:" >/dev/null
refused() { grep -q NOPERM <<<"$1"; }
check "A is refused in database 0 (every command before its SELECT)" refused "$(space_redis $A GET "space-$A:files/alice/budget.pdf")"
check "A is refused B's database (SELECT)" refused "$(space_redis $A -n "$db" PING)"
check "A cannot read B's key, even named" refused "$(space_redis $A -n "$da" GET "space-$B:files/bob/Confidentiel.pdf")"
check "A cannot write B's key names" refused "$(space_redis $A -n "$da" SET "space-$B:files/bob/x" 1)"
check "A cannot move a key to B's database" refused "$(space_redis $A -n "$da" MOVE "space-$A:files/alice/budget.pdf" "$db")"
check "A cannot copy into B's database" refused "$(space_redis $A -n "$da" COPY "space-$A:files/alice/budget.pdf" "space-$A:c" DB "$db")"
check "A cannot swap databases" refused "$(space_redis $A -n "$da" SWAPDB "$da" "$db")"
check "A cannot flush the server" refused "$(space_redis $A -n "$da" FLUSHALL)"
listing=$(space_redis $A -n "$da" KEYS '*'; space_redis $A -n "$da" SCAN 0 COUNT 1000; for _ in 1 2 3 4 5; do space_redis $A -n "$da" RANDOMKEY; done)
check "KEYS, SCAN and RANDOMKEY show A its own key" grep -q "space-$A:files/alice/budget.pdf" <<<"$listing"
check "and never one of B's key names" bash -c "! grep -q 'space-$B' <<<'$listing'"
check_eq "DBSIZE counts A's keys only" "1" "$(space_redis $A -n "$da" DBSIZE)"
check "A cannot track B's keys (CLIENT TRACKING BCAST)" refused "$(space_redis $A -n "$da" CLIENT TRACKING on BCAST PREFIX "space-$B:")"
check "A cannot list the server's channels" refused "$(space_redis $A -n "$da" PUBSUB CHANNELS '*')"
check "A cannot publish on B's channels" refused "$(space_redis $A -n "$da" PUBLISH "space-$B:notify" x)"
check "A cannot subscribe to B's channels" refused "$(timeout 5 bash -c "REDISCLI_AUTH='$(cred $A redis-password)' redis-cli --no-auth-warning --user space-$A -p $FRAMASPACE_REDIS_PORT -n $da SUBSCRIBE space-$B:notify" 2>&1)"
check "nor to keyspace events" refused "$(timeout 5 bash -c "REDISCLI_AUTH='$(cred $A redis-password)' redis-cli --no-auth-warning --user space-$A -p $FRAMASPACE_REDIS_PORT -n $da PSUBSCRIBE '__key*'" 2>&1)"
check_eq "A's scripts reach its own keys (Nextcloud's dec/cas/cad)" "1" "$(space_redis $A -n "$da" EVAL "return redis.call('get', KEYS[1])" 1 "space-$A:files/alice/budget.pdf")"
check "A's scripts cannot reach B's key names" refused "$(space_redis $A -n "$da" EVAL "return redis.call('get', KEYS[1])" 1 "space-$B:files/bob/Confidentiel.pdf")"
check "A cannot manage functions (server-wide libraries)" refused "$(space_redis $A -n "$da" FUNCTION FLUSH)"
check "A cannot flush the script cache" refused "$(space_redis $A -n "$da" SCRIPT FLUSH)"
check "A cannot SCRIPT LOAD (a loaded script is never evicted: memory beyond maxmemory)" refused "$(space_redis $A -n "$da" SCRIPT LOAD "return 1")"
check "nor ask which scripts others ran (SCRIPT EXISTS)" refused "$(space_redis $A -n "$da" SCRIPT EXISTS 0000000000000000000000000000000000000000)"
check "A cannot read server statistics (INFO)" refused "$(space_redis $A -n "$da" INFO keyspace)"
check "A cannot read memory statistics (MEMORY STATS)" refused "$(space_redis $A -n "$da" MEMORY STATS)"
check "A cannot run admin commands" refused "$(space_redis $A -n "$da" CONFIG GET '*')"
# Memcache\Redis::clear() (a theming change): KEYS <prefix>* then DEL, now allowed and confined.
space_redis $A -n "$da" SET "space-$A:theming-cachebuster" 3 >/dev/null
cleared=$(space_redis $A -n "$da" EVAL "local k = redis.call('keys', ARGV[1]) if #k > 0 then return redis.call('del', unpack(k)) end return 0" 0 "space-$A:theming-*" 2>&1)
check_eq "Nextcloud's cache clearing works (KEYS prefix* then DEL): 1 key" "1" "$cleared"
check "KEYS <prefix>* as Nextcloud sends it is allowed" bash -c "! grep -q NOPERM <<<'$(space_redis $A -n "$da" KEYS "space-$A:*")'"
check_eq "B's keys are all still there" "51" "$(space_redis $B -n "$db" DBSIZE)"
a_pw=$(cred $A redis-password)
redis_admin ACL DELUSER "space-$A" >/dev/null
check "a space's Redis user lost behind the operator's back (ACL DELUSER, as a restart does): back at the next pool check, same password" \
  eventually 30 bash -c "[ \"\$(REDISCLI_AUTH='$a_pw' redis-cli --no-auth-warning --user space-$A -h 127.0.0.1 -p $FRAMASPACE_REDIS_PORT -n $da PING 2>&1)\" = PONG ]"
check "pinned to its own database again: another one is refused" bash -c \
  "REDISCLI_AUTH='$a_pw' redis-cli --no-auth-warning --user space-$A -h 127.0.0.1 -p $FRAMASPACE_REDIS_PORT -n $db PING 2>&1 | grep -q NOPERM"

memory_bound() { [ "$(redis_admin CONFIG GET maxmemory | tail -n 1)/$(redis_admin CONFIG GET maxmemory-policy | tail -n 1)" = "268435456/allkeys-lru" ]; }
check "the server's memory is bounded as the CachePool declares (maxMemory 256Mi, allkeys-lru)" eventually 30 memory_bound
redis_admin CONFIG SET maxmemory 0 >/dev/null
check "and bounded again at the next pool check after someone lifts it" eventually 30 memory_bound

section "deletion policy Retain keeps the data and blocks the space"
check_eq "B writes a row before deletion" "" "$(pg_as $B "$(role $B)" 'CREATE TABLE kept (i int); INSERT INTO kept VALUES (7)')"
old_pw=$(cred $B database-password); old_redis=$(cred $B redis-password); b_pool=$(storage_pool $B)
b_db=$(cache_db $B)
identity() { for k in nextcloud-secret nextcloud-passwordsalt nextcloud-instanceid; do cred "$1" "$k"; echo; done | sha256sum | cut -d' ' -f1; }
b_identity=$(identity $B)
redis_as "space-$B" "$old_redis" -n "$b_db" SET "space-$B:kept" 1 >/dev/null
# What a real install leaves in the database (the pods here are simulated): the re-attached space
# must take it over as it was, not find an installation it has no record of (hostile pass 2, D5).
b_apps=$(jsonpath space/$B '{.status.apps.requested}' | jq -r '.[] | "('"'"'\(.)'"'"', '"'"'enabled'"'"', '"'"'yes'"'"')"' | paste -sd, -)
pg_as $B "$(role $B)" "CREATE TABLE IF NOT EXISTS oc_appconfig (appid varchar(32), configkey varchar(64), configvalue text);
  INSERT INTO oc_appconfig VALUES ('core', 'installedat', '1764930000.5')${b_apps:+, $b_apps}" >/dev/null
b_record=$(jsonpath space/$B '{.status.nextcloud.version} {.status.nextcloud.image}')
check "deleting B (Retain) completes" kubectl delete space $B --wait=true --timeout=120s
check "the ledger keeps the Nextcloud B's data holds" bash -c \
  "kubectl -n framaspace-system get configmap framaspace-retained-placements -o jsonpath='{.data.$B}' | jq -e '.nextcloud.version' >/dev/null"
check "B's Nextcloud identity is kept in a Secret of the operator's namespace (its own went with the namespace)" \
  kubectl -n framaspace-system get secret "retained-identity-$B"
check "B's role can no longer log in" bash -c "! PGPASSWORD='$old_pw' psql -h 127.0.0.1 -p $FRAMASPACE_PG_PORT -U $(role $B) -d $(role $B) -tAc 'select 1'"
check_eq "B's database is kept" "1" "$(pg_admin "select count(*) from pg_database where datname = '$(role $B)'")"
check_eq "B's Redis user is off" "off" "$(redis_admin ACL GETUSER "space-$B" | sed -n '/^flags$/{n;p}')"
check_eq "B's Redis keys are kept, in its database" "1" "$(redis_admin -n "$b_db" GET "space-$B:kept")"
check_eq "B's object is kept in its bucket" "1" "$(bucket_objects "$b_pool" "space-$B")"
kubectl apply -k "$REPO_DIR/examples/" >/dev/null
check "B re-created under the same name waits: Placed=False RetainedDataHeld, naming what is held" eventually 30 bash -c \
  "kubectl get space $B -o jsonpath='{.status.conditions[?(@.type==\"Placed\")].reason} {.status.conditions[?(@.type==\"Placed\")].message}' | grep -q '^RetainedDataHeld .*database on DatabasePool'"
check "and nothing is created for it: no namespace, the old role still locked out" bash -c \
  "! kubectl get namespace space-$B >/dev/null 2>&1 && ! PGPASSWORD='$old_pw' psql -h 127.0.0.1 -p $FRAMASPACE_PG_PORT -U $(role $B) -d $(role $B) -tAc 'select 1' >/dev/null 2>&1"
kubectl annotate space $B frama.space/reattach-retained=true >/dev/null
check "a platform engineer re-attaches it (annotation): B becomes Ready" kubectl wait --for=condition=Ready space/$B --timeout=120s
check_eq "and gets its rows back (with its new credentials)" "7" "$(pg_as $B "$(role $B)" 'select i from kept')"
check_eq "and runs the Nextcloud its data holds, recorded again (no install over it)" "$b_record Installed" \
  "$(jsonpath space/$B '{.status.nextcloud.version} {.status.nextcloud.image} {.status.conditions[?(@.type=="Installed")].reason}')"
check_eq "and its object" "200" "$(s3_as $B GET "/space-$B/doc.txt")"
check_eq "and its cache database" "$b_db" "$(cache_db $B)"
check_eq "and the Nextcloud identity its rows were written with (secret, passwordsalt, instanceid)" "$b_identity" "$(identity $B)"
check "the kept copy is removed once the space's Secret holds it" eventually 30 bash -c \
  "! kubectl -n framaspace-system get secret retained-identity-$B >/dev/null 2>&1"

section "deletion policy Delete removes the data, even with a session open"
C=a-supprimer
kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: $C }
spec: { displayName: "À supprimer", contactEmail: "c@example.org", deletionPolicy: Delete }
YAML
check "space $C becomes Ready" kubectl wait --for=condition=Ready space/$C --timeout=120s
c_pool=$(storage_pool $C)
pg_as $C "$(role $C)" 'CREATE TABLE t (i int)' >/dev/null
c_db=$(cache_db $C)
space_redis $C -n "$c_db" SET "space-$C:k" 1 >/dev/null
s3_as $C PUT "/space-$C/doc.txt" "$STATE_DIR/doc.txt" >/dev/null
PGPASSWORD="$(cred $C database-password)" setsid psql -h 127.0.0.1 -p "$FRAMASPACE_PG_PORT" -U "$(role $C)" -d "$(role $C)" -c 'select pg_sleep(300)' >/dev/null 2>&1 &
live_session=$!
sleep 1
check "deleting $C (Delete) completes with a session open" kubectl delete space $C --wait=true --timeout=120s
kill "$live_session" 2>/dev/null
check_eq "its database is gone" "0" "$(pg_admin "select count(*) from pg_database where datname = '$(role $C)'")"
check_eq "its role is gone" "0" "$(pg_admin "select count(*) from pg_roles where rolname = '$(role $C)'")"
check "its Redis user is gone" bash -c "[ -z \"\$(REDISCLI_AUTH=$FRAMASPACE_REDIS_PASSWORD redis-cli --no-auth-warning --user admin -p $FRAMASPACE_REDIS_PORT ACL GETUSER space-$C)\" ]"
check_eq "its Redis database is emptied" "0" "$(redis_admin -n "$c_db" DBSIZE)"
check "its bucket is gone" bash -c "$(declare -f bucket_objects); EMPTY_SHA256=$EMPTY_SHA256; r=\$(bucket_objects $c_pool space-$C); [ \"\$r\" = 0 ] || [ \"\$r\" = none ]"

section "a pool that goes down, then comes back"
stop_process postgres
check "DatabasePool pg-1 turns Ready=False" eventually 30 pool_ready databasepool/pg-1 False
check_eq "with a reason that says why" "PoolUnreachable" "$(kubectl get databasepool pg-1 -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}')"
check "the spaces on it report DatabaseReady=False/PoolNotReady" eventually 30 condition_is collectif-velo DatabaseReady False/PoolNotReady
check "and are Degraded" eventually 30 phase_is collectif-velo Degraded
before=$(reconciles collectif-velo); sleep 10; during=$(( $(reconciles collectif-velo) - before ))
check "no hot loop while it is down ($during reconciles of a space in 10 s)" test "$during" -le 10
"$E2E_DIR/cluster-up.sh" >/dev/null 2>&1
check "pg-1 is Ready again once PostgreSQL is back" eventually 60 pool_ready databasepool/pg-1 True
check "the space converges to Ready again" kubectl wait --for=condition=Ready space/collectif-velo --timeout=90s
check_eq "without a duplicate database" "1" "$(pg_admin "select count(*) from pg_database where datname = 'space_collectif_velo'")"
check_eq "and its data is there" "42" "$(pg_as collectif-velo space_collectif_velo 'select i from kept')"

section "a stalled store: calls bounded, a status at once, the pool not Ready"
# SIGSTOP: the kernel still accepts connections, nothing answers (a hung or overloaded server).
stalled_pids=(); for p in minio garage; do read -r pid _ < "$STATE_DIR/pids/$p"; stalled_pids+=("$pid"); done
kill -STOP "${stalled_pids[@]}"
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: stalled-store }
spec: { displayName: Stalled store, contactEmail: s@stalled.example }
YAML
storage_waits() { jsonpath space/stalled-store '{.status.conditions[?(@.type=="StorageReady")].status}/{.status.conditions[?(@.type=="StorageReady")].reason}' | grep -Eq '^False/(PoolUnreachable|PoolNotReady)$'; }
check "a new space shows StorageReady=False within 30 s (each call is bounded), not after every socket timeout" eventually 30 storage_waits
check "its StoragePool turns Ready=False (PoolUnreachable): its health check is bounded too" eventually 40 bash -c \
  "[ \"\$(kubectl get storagepool \"\$(kubectl get space stalled-store -o jsonpath='{.status.placement.storagePool}')\" -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}/{.status.conditions[?(@.type==\"Ready\")].reason}')\" = False/PoolUnreachable ]"
kill -CONT "${stalled_pids[@]}"
check "once the store answers again the space converges to Ready" kubectl wait --for=condition=Ready space/stalled-store --timeout=120s
check "and so do the spaces that were there" kubectl wait --for=condition=Ready space/collectif-velo --timeout=90s
kubectl delete space stalled-store --timeout=60s >/dev/null 2>&1

section "placement is decided once, and survives a lost status"
placement_is() { test "$(jsonpath "space/$1" '{.status.placement}')" = "$2"; }
before=$(jsonpath space/collectif-velo '{.status.placement}')
kubectl patch space collectif-velo --subresource=status --type=json -p '[{"op":"remove","path":"/status/placement"}]' >/dev/null
check "a status that lost its placement (a restore) gets it back from the namespace" eventually 30 placement_is collectif-velo "$before"
check_eq "and the space stays on the same database" "1" "$(pg_admin "select count(*) from pg_database where datname = 'space_collectif_velo'")"

section "a space that cannot be placed says so"
sed -e 's/name: standard/name: isolated/' -e 's/default: true/default: false/' -e 's/baseDomain: frama.space/baseDomain: isolated.frama.space/' \
  "$REPO_DIR/examples/spaceclass-standard.yaml" > "$STATE_DIR/isolated-class.yaml"
printf '  poolSelector:\n    matchLabels: { frama.space/tier: none }\n' >> "$STATE_DIR/isolated-class.yaml"
kubectl apply -f "$STATE_DIR/isolated-class.yaml" >/dev/null
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: sans-pool }
spec: { displayName: Sans pool, contactEmail: s@example.org, spaceClassName: isolated }
YAML
check "Placed=False with reason NoPool when the class allows no pool" eventually 30 condition_is sans-pool Placed False/NoPool
check_eq "the message names what is missing" "no DatabasePool exists that the class allows" \
  "$(jsonpath space/sans-pool '{.status.conditions[?(@.type=="Placed")].message}' | cut -d';' -f1)"
check_eq "nothing is created on a pool for it" "0" "$(pg_admin "select count(*) from pg_roles where rolname = 'space_sans_pool'")"
check "it can still be deleted" kubectl delete space sans-pool --wait=true --timeout=60s

section "a bucket the operator did not create is never taken or destroyed (hostile pass 2, F3)"
# Another system's bucket under the name a new space gets, on both stores, each holding an object.
F=ledger-elsewhere
minio_root() { curl -s -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --aws-sigv4 "aws:amz:us-east-1:s3" --user "$FRAMASPACE_MINIO_ACCESS_KEY:$FRAMASPACE_MINIO_SECRET_KEY" "$@"; }
garage_admin() { curl -s -H "Authorization: Bearer $FRAMASPACE_GARAGE_ADMIN_TOKEN" -H 'Content-Type: application/json' "$FRAMASPACE_GARAGE_ADMIN_URL/v2/$1" "${@:2}"; }
printf 'compte;montant\nFR76-0001;1200\n' > "$STATE_DIR/ledger.csv"
minio_root -o /dev/null -X PUT "$FRAMASPACE_MINIO_URL/space-$F"
minio_root -o /dev/null -X PUT --data-binary "@$STATE_DIR/ledger.csv" "$FRAMASPACE_MINIO_URL/space-$F/ledger.csv"
gk="GK$(openssl rand -hex 12)"; gs=$(openssl rand -hex 32)
garage_admin ImportKey -d "{\"accessKeyId\":\"$gk\",\"secretAccessKey\":\"$gs\",\"name\":\"books-tool\"}" >/dev/null
gid=$(garage_admin CreateBucket -d "{\"globalAlias\":\"space-$F\"}" | jq -r .id)
garage_admin AllowBucketKey -d "{\"bucketId\":\"$gid\",\"accessKeyId\":\"$gk\",\"permissions\":{\"read\":true,\"write\":true,\"owner\":true}}" >/dev/null
garage_owner() { curl -s -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --aws-sigv4 "aws:amz:garage:s3" --user "$gk:$gs" "$@"; }
garage_owner -o /dev/null -X PUT --data-binary "@$STATE_DIR/ledger.csv" "$FRAMASPACE_GARAGE_S3_URL/space-$F/ledger.csv"
kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: $F }
spec: { displayName: Ledger elsewhere, contactEmail: l@ledger.example, deletionPolicy: Delete }
YAML
check "a space named after a foreign bucket: StorageReady=False/Conflict" eventually 60 condition_is $F StorageReady False/Conflict
check "the message names the bucket and says nothing was taken" bash -c \
  "kubectl get space $F -o jsonpath='{.status.conditions[?(@.type==\"StorageReady\")].message}' | grep -q 'bucket space-$F exists and was not created by the operator.*nothing was read, written or granted'"
check_eq "the space's own key reads nothing of it" "403" "$(s3_as $F GET "/space-$F/ledger.csv")"
check "deleting the space (deletionPolicy Delete) completes" kubectl delete space $F --wait=true --timeout=90s
check "the MinIO bucket and its object are still there, for their owner" bash -c \
  "[ \"\$($(declare -f minio_root); FRAMASPACE_MINIO_ACCESS_KEY=$FRAMASPACE_MINIO_ACCESS_KEY FRAMASPACE_MINIO_SECRET_KEY=$FRAMASPACE_MINIO_SECRET_KEY minio_root $FRAMASPACE_MINIO_URL/space-$F/ledger.csv)\" = \"\$(cat $STATE_DIR/ledger.csv)\" ]"
check_eq "the Garage bucket's object too, read with its owner's key" "$(cat "$STATE_DIR/ledger.csv")" "$(garage_owner "$FRAMASPACE_GARAGE_S3_URL/space-$F/ledger.csv")"
check_eq "and its owner's key keeps its rights on it" "true true" \
  "$(garage_admin "GetBucketInfo?globalAlias=space-$F" -X GET | jq -r --arg k "$gk" '.keys[] | select(.accessKeyId == $k) | "\(.permissions.read) \(.permissions.write)"')"

section "a space over its storage quota: uploads refused, reads and deletes kept, unfinished uploads aborted (hostile pass 2, F4, F5)"
# Each store through a class whose pools are the shared database and cache and that store only.
for store in minio garage; do
  kubectl label databasepool/pg-1 cachepool/redis-1 "storagepool/s3-$store" "e2e.frama.space/$store=yes" --overwrite >/dev/null
  kubectl patch storagepool "s3-$store" --type merge -p '{"spec":{"usageCheckSeconds":10}}' >/dev/null
  sed -e "s/name: standard/name: on-$store/" -e 's/default: true/default: false/' -e "s/baseDomain: frama.space/baseDomain: $store.frama.space/" \
    "$REPO_DIR/examples/spaceclass-standard.yaml" > "$STATE_DIR/on-$store-class.yaml"
  printf '  poolSelector:\n    matchLabels: { e2e.frama.space/%s: "yes" }\n' "$store" >> "$STATE_DIR/on-$store-class.yaml"
  kubectl apply -f "$STATE_DIR/on-$store-class.yaml" >/dev/null
  kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: hoard-$store }
spec: { displayName: Hoard $store, contactEmail: h@hoard.example, spaceClassName: on-$store, quota: 1Mi, deletionPolicy: Delete }
YAML
done
poke() { kubectl annotate space "$1" --overwrite e2e.frama.space/poke="$(date +%s%N)" >/dev/null; }
poked_until() { local s=$1; shift; poke "$s"; "$@"; }
events_of() { kubectl get events -A --field-selector "involvedObject.name=$1,reason=$2" -o name | wc -l; }
for store in minio garage; do
  check "hoard-$store becomes Ready on s3-$store" kubectl wait --for=condition=Ready "space/hoard-$store" --timeout=120s
done
check_eq "each on its store" "s3-garage s3-minio" "$(for s in hoard-garage hoard-minio; do storage_pool $s; echo; done | xargs)"

# MinIO: parallel uploads, each within the quota, pass its own check (its scanner's figure).
head -c 614400 /dev/urandom > "$STATE_DIR/600k.bin"
for i in 1 2 3 4; do s3_as hoard-minio PUT "/space-hoard-minio/part-$i.bin" "$STATE_DIR/600k.bin" > "$STATE_DIR/put-$i" & done; wait
accepted=$(cat "$STATE_DIR"/put-[1-4] | grep -o 200 | wc -l)
check "MinIO accepted several parallel 600 KiB uploads into a 1 MiB bucket ($accepted of 4): what its quota lets through" test "$accepted" -ge 2
over_minio() { poked_until hoard-minio condition_is hoard-minio StorageReady False/OverQuota; }
check "the operator's measure finds it over: StorageReady=False/OverQuota" eventually 60 over_minio
check_eq "status.usage.storage shows what it holds" "$((accepted * 614400)) $accepted 1048576 true" \
  "$(jsonpath space/hoard-minio '{.status.usage.storage.usedBytes} {.status.usage.storage.objects} {.status.usage.storage.quotaBytes} {.status.usage.storage.writesRefused}')"
check_eq "an upload is refused" "403" "$(s3_as hoard-minio PUT /space-hoard-minio/more.bin "$STATE_DIR/ledger.csv")"
check_eq "reading goes on" "200" "$(s3_as hoard-minio GET /space-hoard-minio/part-1.bin)"
check "a StorageOverQuota Event says so" test "$(events_of hoard-minio StorageOverQuota)" -ge 1
for i in 1 2 3 4; do s3_as hoard-minio DELETE "/space-hoard-minio/part-$i.bin" >/dev/null; done
back_minio() { poked_until hoard-minio condition_is hoard-minio StorageReady True/Provisioned; }
check "deleting files brings it back under: StorageReady=True" eventually 60 back_minio
# The operator gave the key its uploads back; MinIO's own hard quota still checks its scanner's
# last figure (cmd/bucket-quota.go enforceQuotaHard), which may show the bucket full a while longer.
upload_ok() { [ "$(s3_as hoard-minio PUT /space-hoard-minio/more.bin "$STATE_DIR/ledger.csv")" = 200 ]; }
check "and uploads are allowed again (once MinIO's scanner has seen the deletes too)" eventually 120 upload_ok
check "a StorageWithinQuota Event says so" test "$(events_of hoard-minio StorageWithinQuota)" -ge 1

# Garage: unfinished multipart uploads are outside its quota.
head -c 5242880 /dev/urandom > "$STATE_DIR/5m.bin"
garage_space() { curl -s -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --aws-sigv4 "aws:amz:garage:s3" --user "$(cred hoard-garage s3-access-key):$(cred hoard-garage s3-secret-key)" "$@"; }
upload=$(garage_space -X POST "$FRAMASPACE_GARAGE_S3_URL/space-hoard-garage/hoard.bin?uploads=" | sed -n 's:.*<UploadId>\(.*\)</UploadId>.*:\1:p')
for n in 1 2 3 4 5 6; do
  garage_space -o /dev/null -X PUT --data-binary "@$STATE_DIR/5m.bin" "$FRAMASPACE_GARAGE_S3_URL/space-hoard-garage/hoard.bin?partNumber=$n&uploadId=$upload"
done
unfinished() { garage_admin "GetBucketInfo?globalAlias=space-hoard-garage" -X GET | jq -r .unfinishedMultipartUploadBytes; }
held=$(unfinished)
check "Garage held 30 MiB of unfinished parts in the 1 MiB bucket ($held bytes): what its quota lets through" test "${held:-0}" -ge 31457280
aborted() { poke hoard-garage; [ "$(unfinished)" = 0 ]; }
check "the operator's measure aborts them" eventually 60 aborted
check "an UnfinishedUploadsAborted Event says so" eventually 10 bash -c "[ \$(kubectl get events -A --field-selector involvedObject.name=hoard-garage,reason=UnfinishedUploadsAborted -o name | wc -l) -ge 1 ]"
check_eq "the bucket carries the lifecycle rule that aborts them after a day anyway" "framaspace-abort-unfinished-uploads 1" \
  "$(garage_admin "GetBucketInfo?globalAlias=space-hoard-garage" -X GET | jq -r '.lifecycleRules[] | "\(.ID) \(.AbortIncompleteMultipartUpload.DaysAfterInitiation)"')"
quota_actions=$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | grep '^framaspace_storage_quota_actions_total')
counted() { grep "system=\"$1\"" <<<"$quota_actions" | grep "action=\"$2\"" | awk '$NF >= 1' | grep -q .; }
check "framaspace_storage_quota_actions_total counts the refusal, the return and the aborted uploads" \
  bash -c "$(declare -f counted); quota_actions='$quota_actions'; counted minio writes_refused && counted minio writes_restored && counted garage uploads_aborted"
for store in minio garage; do
  kubectl delete space "hoard-$store" --wait=true --timeout=90s >/dev/null 2>&1
  kubectl delete spaceclass "on-$store" >/dev/null 2>&1
  kubectl patch storagepool "s3-$store" --type json -p '[{"op":"remove","path":"/spec/usageCheckSeconds"}]' >/dev/null
done

section "a second CachePool on redis-1's Valkey is refused (hostile pass 2, F12)"
maxmemory_before=$(redis_admin CONFIG GET maxmemory | tail -1)
# Another address of the same server process, which redis-1's admin Secret is bound to as well.
redis_endpoints=$(kubectl -n framaspace-system get secret redis-1-admin -o jsonpath='{.metadata.annotations.frama\.space/endpoints}')
kubectl -n framaspace-system annotate secret redis-1-admin --overwrite frama.space/endpoints="$redis_endpoints,127.0.0.1:26391" >/dev/null
setsid socat TCP-LISTEN:26391,fork,reuseaddr,bind=127.0.0.1 "TCP:127.0.0.1:$FRAMASPACE_REDIS_PORT" >/dev/null 2>&1 &
kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: CachePool
metadata: { name: redis-twin }
spec: { host: 127.0.0.1, port: 26391, adminSecretRef: { name: redis-1-admin }, capacity: { maxSpaces: 50 }, maxMemory: 300Mi }
---
apiVersion: frama.space/v1alpha1
kind: CachePool
metadata: { name: redis-same }
spec: { host: 127.0.0.1, port: $FRAMASPACE_REDIS_PORT, adminSecretRef: { name: redis-1-admin }, capacity: { maxSpaces: 50 }, maxMemory: 310Mi }
YAML
refused_as() { kubectl get cachepool "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}' | grep -q "^False .*its server is CachePool redis-1's ($2)"; }
check "a CachePool at another address of redis-1's server: Ready=False, naming redis-1 (its run_id)" eventually 60 refused_as redis-twin "the same run_id under another address"
check "a CachePool at redis-1's own address: Ready=False too" eventually 60 refused_as redis-same "the same host and port"
check "redis-1 stays Ready" pool_ready cachepool/redis-1 True
sleep 3
check_eq "and the server's maxmemory is still redis-1's (nothing was set by the others)" "$maxmemory_before" "$(redis_admin CONFIG GET maxmemory | tail -1)"
kubectl delete cachepool redis-twin redis-same >/dev/null 2>&1
pkill -f "TCP-LISTEN:26391" 2>/dev/null
kubectl -n framaspace-system annotate secret redis-1-admin --overwrite frama.space/endpoints="$redis_endpoints" >/dev/null

section "a pool naming another pool's admin Secret sends it nowhere (hostile pass 2, F2; no admission policy here)"
# A listener on loopback records every byte it receives.
: > "$STATE_DIR/exfil.bytes"
setsid socat -u TCP-LISTEN:26998,fork,reuseaddr,bind=127.0.0.1 "OPEN:$STATE_DIR/exfil.bytes,creat,append" >/dev/null 2>&1 &
kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: CachePool
metadata: { name: exfil-cache }
spec: { host: 127.0.0.1, port: 26998, adminSecretRef: { name: pg-1-admin }, capacity: { maxSpaces: 1 } }
---
apiVersion: frama.space/v1alpha1
kind: DatabasePool
metadata: { name: exfil-db }
spec: { host: 127.0.0.1, port: 26998, adminSecretRef: { name: redis-1-admin }, sslMode: disable, capacity: { maxSpaces: 1 } }
---
apiVersion: frama.space/v1alpha1
kind: StoragePool
metadata: { name: exfil-s3 }
spec: { provider: garage, endpoint: "http://127.0.0.1:26998", adminEndpoint: "http://127.0.0.1:26998", region: garage, adminSecretRef: { name: s3-garage-admin }, capacity: { maxSpaces: 1 } }
YAML
unbound() { kubectl get "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}' | grep -q "^False .*is not bound to 127.0.0.1:26998: nothing was sent"; }
for p in cachepool/exfil-cache databasepool/exfil-db storagepool/exfil-s3; do
  check "$p: Ready=False, its admin Secret is not bound to that server" eventually 60 unbound "$p"
done
sleep 5
check_eq "the listener received nothing at all" "0" "$(stat -c %s "$STATE_DIR/exfil.bytes")"
kubectl delete cachepool exfil-cache >/dev/null; kubectl delete databasepool exfil-db >/dev/null; kubectl delete storagepool exfil-s3 >/dev/null
pkill -f "TCP-LISTEN:26998" 2>/dev/null

section "no secret value in the operator's log, Events or status"
secrets_json=$(kubectl get secrets -A -l app.kubernetes.io/managed-by=framaspace-operator -o json)
values=$( { jq -r '.items[].data | to_entries[] | select(.key != "nextcloud-instanceid") | .value' <<<"$secrets_json" | while read -r v; do echo "$v" | base64 -d; echo; done
  printf '%s\n' "$FRAMASPACE_PG_PASSWORD" "$FRAMASPACE_REDIS_PASSWORD" "$FRAMASPACE_MINIO_SECRET_KEY" "$FRAMASPACE_GARAGE_ADMIN_TOKEN"; } | sort -u)
haystack="$STATE_DIR/haystack.txt"
{ cat "$OP_LOG"; kubectl get events -A -o json; kubectl get spaces,databasepools,cachepools,storagepools -o json; } > "$haystack"
leaks=0; count=0
while read -r v; do
  [ ${#v} -ge 16 ] || continue
  count=$((count + 1))
  grep -qF -- "$v" "$haystack" && leaks=$((leaks + 1))
done <<<"$values"
check "some generated secrets were checked ($count)" test "$count" -ge 20
check_eq "none of the $count generated secrets appears anywhere" "0" "$leaks"
