#!/usr/bin/env bash
# A CachePool that is a Valkey Cluster (six nodes on loopback, three masters and three replicas,
# started by cluster-up.sh): every space's user on every node, saved to each node's aclfile,
# given back to a node that restarted without it, served by a replica a failover promoted;
# the spaces' own Nextcloud configuration used by the real phpredis RedisCluster client
# (cluster-client.php), which follows MOVED itself; a node that cannot be reached reported while
# the spaces keep working; Retain and Delete on every node. Its own classes, its own operator.
. "$(dirname "$0")/lib.sh"

METRICS_PORT=28088
PORT0=$FRAMASPACE_REDIS_CLUSTER_PORT
NODES=$FRAMASPACE_REDIS_CLUSTER_NODES
jsonpath() { kubectl get "$1" -o "jsonpath=$2" 2>/dev/null; }
cond() { jsonpath "$1" "{.status.conditions[?(@.type==\"$2\")].status} {.status.conditions[?(@.type==\"$2\")].reason}"; }
port() { echo $((PORT0 + $1 - 1)); }
# ncli NODE ARGS...: the node's admin.
ncli() { REDISCLI_AUTH="$FRAMASPACE_REDIS_PASSWORD" redis-cli --user "$FRAMASPACE_REDIS_USER" -h 127.0.0.1 -p "$(port "$1")" "${@:2}" 2>/dev/null; }
node_dir() { echo "$STATE_DIR/redis-cluster/$1"; }
role() { ncli "$1" ROLE | head -1; }
# nodes_with USER: how many nodes hold the user enabled ("on" among its flags).
nodes_with() { local n=0 i; for i in $(seq 1 "$NODES"); do ncli "$i" ACL GETUSER "$1" | sed -n '/^flags$/,/^passwords$/p' | grep -qx on && n=$((n + 1)); done; echo "$n"; }
nodes_knowing() { local n=0 i; for i in $(seq 1 "$NODES"); do [ -n "$(ncli "$i" ACL GETUSER "$1")" ] && n=$((n + 1)); done; echo "$n"; }
files_with() { local n=0 i; for i in $(seq 1 "$NODES"); do grep -q "^user $1 on " "$(node_dir "$i")/users.acl" && n=$((n + 1)); done; echo "$n"; }
keys_of() { local n=0 i; for i in $(seq 1 "$NODES"); do [ "$(role "$i")" = master ] && n=$((n + $(ncli "$i" --scan --pattern "$1*" | wc -l))); done; echo "$n"; }
# client SPACE MODE [ARG]: the real phpredis with the space's rendered configuration and password.
client() {
  local dir; dir=$(mktemp -d)
  kubectl -n "space-$1" get configmap nextcloud-config -o jsonpath='{.data.redis\.config\.php}' > "$dir/redis.config.php"
  FRAMASPACE_REDIS_PASSWORD=$(kubectl -n "space-$1" get secret nextcloud-credentials -o jsonpath='{.data.redis-password}' | base64 -d) \
    php "$E2E_DIR/tests/cluster-client.php" "$dir/redis.config.php" "${@:2}"
  rm -rf "$dir"
}
field() { jq -r "$1" <<<"$2"; }
start_operator() {
  local cmd; mapfile -t cmd < <(operator_command --log-format json --identity cache-cluster-operator \
    --metrics-address "127.0.0.1:$METRICS_PORT" --pool-check-seconds 3 --resync-seconds 600)
  start_process cache-cluster-operator "${cmd[@]}"
}
pool_node() { jsonpath cachepool/valkey-cluster "{.status.nodes[?(@.address==\"127.0.0.1:$(port "$1")\")].$2}"; }

section "setup: a cluster CachePool, a class on it, two spaces"
check "the chart is installed" "$E2E_DIR/install.sh"
check "admin Secrets of the pools (the cluster's bound to its six nodes)" "$E2E_DIR/admin-secrets.sh"
check "kubectl apply examples/pools.yaml" kubectl apply -f "$REPO_DIR/examples/pools.yaml"
kubectl label --overwrite databasepool/pg-1 storagepool/s3-minio e2e.frama.space/cc=yes >/dev/null
check "kubectl apply a CachePool of kind cluster" kubectl apply -f - <<YAML
apiVersion: frama.space/v1alpha1
kind: CachePool
metadata:
  name: valkey-cluster
  labels: { e2e.frama.space/cc: "yes" }
spec:
  host: 127.0.0.1
  port: $(port 1)
  cluster:
    seeds: ["127.0.0.1:$(port 2)", "127.0.0.1:$(port 3)"]
    failoverMode: Error
  adminSecretRef: { name: redis-cluster-admin }
  capacity: { maxSpaces: 10000 }
  maxMemory: 64Mi
YAML
check_refused "a seed that is not host:port is refused by the CRD" "spec.cluster.seeds are host:port" <<YAML
apiVersion: frama.space/v1alpha1
kind: CachePool
metadata: { name: bad-seeds }
spec:
  host: 127.0.0.1
  cluster: { seeds: ["not a seed"] }
  adminSecretRef: { name: redis-cluster-admin }
  capacity: { maxSpaces: 1 }
YAML
kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: SpaceClass
metadata: { name: cc }
spec:
  baseDomain: cc.frama.space
  nextcloud: { version: 33.0.7 }
  limits: { maxQuota: 1Gi, defaultQuota: 100Mi, maxAccounts: 50, defaultMaxAccounts: 50 }
  defaultOffice: none
  poolSelector: { matchLabels: { e2e.frama.space/cc: "yes" } }
YAML
start_operator
check "the cluster pool is Ready" kubectl wait --for=condition=Ready cachepool/valkey-cluster --timeout=90s
check_eq "its status lists the six nodes" "$NODES" "$(jsonpath cachepool/valkey-cluster '{.status.nodeCount}')"
check_eq "three masters and three replicas" "master master master replica replica replica" \
  "$(jsonpath cachepool/valkey-cluster '{range .status.nodes[*]}{.role}{"\n"}{end}' | sort | xargs)"
check_eq "every node reached and saving its users to its aclfile" "true true true true true true" \
  "$(jsonpath cachepool/valkey-cluster '{range .status.nodes[*]}{.reachable}{" "}{.persisted}{"\n"}{end}' | awk '{print ($1 == "true" && $2 == "true") ? "true" : "false"}' | xargs)"
check_eq "maxmemory set on every node (replicas too: a promoted one keeps the bound)" "$NODES" \
  "$(for i in $(seq 1 "$NODES"); do ncli "$i" CONFIG GET maxmemory | tail -1; done | grep -cx 67108864)"
kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: CachePool
metadata: { name: cluster-twin }
spec: { host: 127.0.0.1, port: $(port 5), cluster: {}, adminSecretRef: { name: redis-cluster-admin }, capacity: { maxSpaces: 10 }, maxMemory: 32Mi }
---
apiVersion: frama.space/v1alpha1
kind: CachePool
metadata: { name: on-a-node }
spec: { host: 127.0.0.1, port: $(port 6), adminSecretRef: { name: redis-cluster-admin }, capacity: { maxSpaces: 10 }, maxMemory: 32Mi }
YAML
refused() { kubectl get cachepool "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}' | grep -q "^False .*$2"; }
check "a second cluster pool whose seed is a node of the first is refused (they would fight over maxmemory)" \
  eventually 30 refused cluster-twin "its cluster is CachePool valkey-cluster's"
check "a single-server pool on one of its nodes is refused too" eventually 30 refused on-a-node "its server is CachePool valkey-cluster's (a node of its cluster)"
check_eq "and maxmemory is still the first pool's on every node" "$NODES" \
  "$(for i in $(seq 1 "$NODES"); do ncli "$i" CONFIG GET maxmemory | tail -1; done | grep -cx 67108864)"
kubectl delete cachepool cluster-twin on-a-node >/dev/null 2>&1
for s in cc-a cc-b; do
  kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: $s }
spec: { displayName: "Cluster $s", contactEmail: "contact@$s.example", spaceClassName: cc }
YAML
done
check "space cc-a is Ready" kubectl wait --for=condition=Ready space/cc-a --timeout=180s
check "space cc-b is Ready" kubectl wait --for=condition=Ready space/cc-b --timeout=180s
check_eq "cc-a is placed on the cluster, in its one database" "valkey-cluster 0" \
  "$(jsonpath space/cc-a '{.status.placement.cachePool} {.status.placement.cacheDatabase}')"
config=$(kubectl -n space-cc-a get configmap nextcloud-config -o jsonpath='{.data.redis\.config\.php}')
check "its Nextcloud is configured with redis.cluster: the three seeds, FAILOVER_ERROR, its user" grep -q \
  "'redis.cluster' => array ('seeds' => array ('127.0.0.1:$(port 1)', '127.0.0.1:$(port 2)', '127.0.0.1:$(port 3)'), 'timeout' => 1.5, 'read_timeout' => 1.5, 'failover_mode' => \\\\RedisCluster::FAILOVER_ERROR, 'user' => 'space-cc-a'" <<<"$config"
check "and no dbindex (a cluster has one database)" bash -c "! grep -q dbindex <<<\"\$1\"" _ "$config"

section "every space isolated on every node"
check_eq "cc-a's user is on all six nodes" "$NODES" "$(nodes_with space-cc-a)"
check_eq "cc-b's user is on all six nodes" "$NODES" "$(nodes_with space-cc-b)"
check_eq "and saved in every node's aclfile" "$NODES" "$(files_with space-cc-a)"
check "pinned to its prefix and to database 0 (Valkey 9.1 pins users to databases)" bash -c \
  "for i in \$(seq 1 $NODES); do REDISCLI_AUTH=\"$FRAMASPACE_REDIS_PASSWORD\" redis-cli --user admin -p \$(( $PORT0 + i - 1 )) ACL LIST | grep '^user space-cc-a ' | grep -q '~space-cc-a:\\* resetchannels &space-cc-a:\\* db=0 ' || exit 1; done"
own=$(client cc-a own)
check_eq "phpredis as cc-a: 60 keys written and read back over the three masters (MOVED followed)" "60 60 3" \
  "$(field '"\(.written) \(.read) \(.masters)"' "$own")"
check_eq "its Lua script (Memcache\\Redis 'dec') runs on its key" "3" "$(field .lua "$own")"
check_eq "its cache clearing works: KEYS on every master (Nextcloud before #61559), SCAN per master (after)" "61 61" \
  "$(field '"\(.keys) \(.scanned)"' "$own")"
check_eq "its file lock (SET NX EX under its prefix) is taken" "true" "$(field .lock "$own")"
other=$(client cc-a other space-cc-b:)
check_eq "cc-a is refused cc-b's keys and channels: get, set, unlink, eval, publish" "false false false false false" \
  "$(field '"\(.get.ok) \(.set.ok) \(.unlink.ok) \(.eval.ok) \(.publish.ok)"' "$other")"
check "the refusals are the ACL's (NOPERM)" grep -q NOPERM <<<"$(field .get.error "$other")"
pw_a=$(kubectl -n space-cc-a get secret nextcloud-credentials -o jsonpath='{.data.redis-password}' | base64 -d)
check_eq "on every node, masters and replicas alike, cc-a's GET of a cc-b key is refused by the ACL (before any redirection)" "$NODES" \
  "$(for i in $(seq 1 "$NODES"); do REDISCLI_AUTH="$pw_a" redis-cli --user space-cc-a -h 127.0.0.1 -p "$(port "$i")" GET space-cc-b:k1 2>&1; done | grep -c NOPERM)"
REDISCLI_AUTH="$pw_a" redis-cli -c --user space-cc-a -h 127.0.0.1 -p "$(port 1)" SET space-cc-a:probe v1 EX 300 >/dev/null 2>&1
check_eq "and its own key is read from every node it asks first (redis-cli -c follows MOVED to the key's master)" "$NODES" \
  "$(for i in $(seq 1 "$NODES"); do REDISCLI_AUTH="$pw_a" redis-cli -c --user space-cc-a -h 127.0.0.1 -p "$(port "$i")" GET space-cc-a:probe 2>&1; done | grep -cx v1)"
side=$(client cc-a side)
check_eq "side channels closed: CONFIG, FLUSHALL, CLIENT LIST, ACL, SCRIPT, GETKEYSINSLOT, COUNTKEYSINSLOT, PUBSUB, tracking, CLUSTER FAILOVER" \
  "false false false false false false false false false false" \
  "$(field '"\(.config.ok) \(.flushall.ok) \(.client_list.ok) \(.acl_list.ok) \(.script_load.ok) \(.getkeysinslot.ok) \(.countkeysinslot.ok) \(.pubsub.ok) \(.tracking.ok) \(.cluster_failover.ok)"' "$side")"
check_eq "cc-b works the same on its own keys" "60 60" "$(field '"\(.written) \(.read)"' "$(client cc-b own)")"

section "a node restarted without its aclfile gets every user back within one pool check"
victim=""
for i in $(seq 1 "$NODES"); do [ "$(role "$i")" = slave ] && victim=$i && break; done
stop_process "redis-cluster-$victim"
# The node comes back as a node provisioned from scratch would: its base aclfile (the admin only).
printf 'user default off\nuser admin on >%s ~* &* +@all\n' "$FRAMASPACE_REDIS_PASSWORD" > "$(node_dir "$victim")/users.acl"
start_process "redis-cluster-$victim" "$VALKEY_BIN/valkey-server" "$(node_dir "$victim")/valkey.conf"
check "the node answers again" eventually 30 bash -c "REDISCLI_AUTH=$FRAMASPACE_REDIS_PASSWORD redis-cli --user admin -p $(port "$victim") PING | grep -q PONG"
t0=$(date +%s)
check "the pool check gives it both users back" eventually 30 bash -c "[ \"\$(REDISCLI_AUTH=$FRAMASPACE_REDIS_PASSWORD redis-cli --user admin -p $(port "$victim") ACL USERS | grep -c '^space-cc-')\" = 2 ]"
echo "       (healed in $(( $(date +%s) - t0 )) s, pool checks every 3 s)"
check_eq "with the same password hash as the other nodes" \
  "$(ncli 1 ACL LIST | grep '^user space-cc-a ' | cut -d' ' -f4)" "$(ncli "$victim" ACL LIST | grep '^user space-cc-a ' | cut -d' ' -f4)"
check "and saved to its aclfile again" eventually 10 grep -q "^user space-cc-a on " "$(node_dir "$victim")/users.acl"
check "the pool reports what it gave back, and is Ready" eventually 30 bash -c \
  "[ \"\$(kubectl get cachepool valkey-cluster -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}')\" = True ]"

section "a replica promoted by CLUSTER FAILOVER serves the spaces' users"
promoted=""
for i in $(seq 1 "$NODES"); do [ "$(role "$i")" = slave ] && promoted=$i && break; done
check "CLUSTER FAILOVER on node $promoted" bash -c "REDISCLI_AUTH=$FRAMASPACE_REDIS_PASSWORD redis-cli --user admin -p $(port "$promoted") CLUSTER FAILOVER | grep -q OK"
check "node $promoted is a master" eventually 30 bash -c "REDISCLI_AUTH=$FRAMASPACE_REDIS_PASSWORD redis-cli --user admin -p $(port "$promoted") ROLE | head -1 | grep -qx master"
check "every slot is served again" eventually 30 bash -c "REDISCLI_AUTH=$FRAMASPACE_REDIS_PASSWORD redis-cli --user admin -p $(port "$promoted") CLUSTER INFO | grep -q '^cluster_state:ok'"
check_eq "cc-a's keys are written and read through the promoted master" "60 60" "$(field '"\(.written) \(.read)"' "$(client cc-a own)")"
check "the pool shows node $promoted as a master" eventually 30 bash -c "[ \"\$(kubectl get cachepool valkey-cluster -o jsonpath='{.status.nodes[?(@.address==\"127.0.0.1:$(port "$promoted")\")].role}')\" = master ]"

section "a node the operator cannot reach is reported; the spaces keep working"
down=""
for i in $(seq 1 "$NODES"); do [ "$(role "$i")" = slave ] && down=$i && break; done
stop_process "redis-cluster-$down"
check "the pool is not Ready: NodeUnreachable" eventually 30 bash -c "[ \"\$(kubectl get cachepool valkey-cluster -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}')\" = NodeUnreachable ]"
check_eq "its message names the node" "1" "$(jsonpath cachepool/valkey-cluster '{.status.conditions[?(@.type=="Ready")].message}' | grep -c "127.0.0.1:$(port "$down")")"
check_eq "the node is shown unreachable" "false" "$(pool_node "$down" reachable)"
check_eq "the pool is still Available: the cluster serves every slot" "True Serving" "$(cond cachepool/valkey-cluster Available)"
check_eq "cc-a stays Ready" "True" "$(jsonpath space/cc-a '{.status.conditions[?(@.type=="Ready")].status}')"
check_eq "and its Nextcloud still reads and writes" "60 60" "$(field '"\(.written) \(.read)"' "$(client cc-a own)")"
kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: cc-c }
spec: { displayName: "Cluster cc-c", contactEmail: "contact@cc-c.example", spaceClassName: cc }
YAML
check "a space created meanwhile becomes Ready" kubectl wait --for=condition=Ready space/cc-c --timeout=180s
check_eq "its user is on the five nodes that answer" "5" "$(nodes_with space-cc-c)"
start_process "redis-cluster-$down" "$VALKEY_BIN/valkey-server" "$(node_dir "$down")/valkey.conf"
check "once the node is back, the pool is Ready again" eventually 40 bash -c "[ \"\$(kubectl get cachepool valkey-cluster -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}')\" = True ]"
check_eq "and the node holds cc-c's user too" "$NODES" "$(nodes_with space-cc-c)"

section "Retain disables the user on every node; Delete removes it and the keys everywhere"
client cc-b own >/dev/null
kubectl patch space cc-b --type merge -p '{"spec":{"deletionPolicy":"Retain"}}' >/dev/null
check "cc-b (Retain) is deleted" kubectl delete space cc-b --timeout=120s
check_eq "its user is switched off on every node" "0 $NODES" "$(nodes_with space-cc-b) $(nodes_knowing space-cc-b)"
check "and saved so on every node's aclfile" bash -c "for i in \$(seq 1 $NODES); do grep -q '^user space-cc-b off ' $STATE_DIR/redis-cluster/\$i/users.acl || exit 1; done"
kubectl patch space cc-a --type merge -p '{"spec":{"deletionPolicy":"Delete"}}' >/dev/null
client cc-a own >/dev/null
check "cc-a (Delete) is deleted" kubectl delete space cc-a --timeout=120s
check_eq "its user is gone from every node" "0" "$(nodes_knowing space-cc-a)"
check_eq "and its keys from every master" "0" "$(keys_of space-cc-a:)"
check_eq "cc-c's keys and user are untouched" "$NODES" "$(nodes_with space-cc-c)"

section "cleanup (the suites after this one place their spaces on the other pools)"
check "cc-c is deleted" kubectl delete space cc-c --timeout=120s
stop_process cache-cluster-operator
kubectl delete spaceclass cc --wait=false >/dev/null 2>&1
check "the cluster pool is deleted" kubectl delete cachepool valkey-cluster --timeout=60s
kubectl label databasepool/pg-1 storagepool/s3-minio e2e.frama.space/cc- >/dev/null 2>&1
summary
