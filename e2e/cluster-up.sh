#!/usr/bin/env bash
# Starts the local environment as plain processes on loopback: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, KWOK with fake nodes, PostgreSQL, Redis, MinIO and
# Garage. Writes $STATE_DIR/kubeconfig and $STATE_DIR/env. Idempotent: a component whose recorded
# process is alive is left alone, so running it twice leaves one healthy set of processes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/proc.sh"

"$E2E_DIR/build-tools.sh" all

ETCD_PORT=23790; ETCD_PEER_PORT=23800; APISERVER_PORT=26443; KCM_PORT=20257; SCHED_PORT=20259; KWOK_PORT=20247
PG_PORT=25432; REDIS_PORT=26379; REDIS_CLUSTER_PORT=26411; REDIS_TLS_PORT=26380; REDIS_TLS_BACKEND_PORT=26381; MINIO_PORT=29000; MINIO_CONSOLE_PORT=29001
GARAGE_S3_PORT=23900; GARAGE_RPC_PORT=23901; GARAGE_ADMIN_PORT=23903

mkdir -p "$STATE_DIR"/{pids,logs,pki}
PKI="$STATE_DIR/pki"
K="$K8S_BIN"
KUBECTL=("$K/kubectl" --kubeconfig "$STATE_DIR/kubeconfig")

# Generated once per state directory, then reused.
secret_file() { local f="$STATE_DIR/$1"; [ -s "$f" ] || (umask 077; openssl rand -hex "${2:-24}" > "$f"); cat "$f"; }

make_pki() {
  [ -s "$PKI/admin.crt" ] && return
  log "generating certificates"
  ( cd "$PKI"; umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=framaspace-local-ca" 2>/dev/null
    cat > apiserver.ext <<EXT
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
EXT
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 -extfile apiserver.ext 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=framaspace-admin" 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 3650 -extfile client.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
}

# A private CA of the backing services and their certificate for 127.0.0.1: PostgreSQL's TLS and
# the TLS front of Valkey (its build has no TLS), which pools trust through caSecretRef.
make_services_pki() {
  [ -s "$PKI/services-server.crt" ] && return
  ( cd "$PKI"; umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -keyout services-ca.key -out services-ca.crt -days 3650 -subj "/CN=framaspace-test-services-ca" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > services-server.ext
    openssl req -newkey rsa:2048 -nodes -keyout services-server.key -out services-server.csr -subj "/CN=127.0.0.1" 2>/dev/null
    openssl x509 -req -in services-server.csr -CA services-ca.crt -CAkey services-ca.key -CAcreateserial -out services-server.crt -days 3650 -extfile services-server.ext 2>/dev/null
    cat services-server.crt services-server.key > services-server.pem
  )
}

write_kubeconfig() {
  cat > "$STATE_DIR/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: framaspace-local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: framaspace-admin
  user:
    client-certificate: $PKI/admin.crt
    client-key: $PKI/admin.key
contexts:
- name: framaspace-local
  context: { cluster: framaspace-local, user: framaspace-admin }
current-context: framaspace-local
KC
  chmod 600 "$STATE_DIR/kubeconfig"
}

start_etcd() {
  start_process etcd "$ETCD_BIN/etcd" --name framaspace --data-dir "$STATE_DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "framaspace=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" \
    --quota-backend-bytes 8589934592 --snapshot-count 50000 --log-level warn
  wait_for "etcd" 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
}

start_apiserver() {
  start_process kube-apiserver "$K/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" --client-ca-file "$PKI/ca.crt" \
    --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$PKI/sa.pub" \
    --service-account-signing-key-file "$PKI/sa.key" --service-cluster-ip-range 10.96.0.0/16 \
    --authorization-mode Node,RBAC --allow-privileged=true \
    --audit-policy-file "$E2E_DIR/audit-policy.yaml" --audit-log-path "$STATE_DIR/logs/audit.log" \
    --audit-log-maxsize 200 --audit-log-maxbackup 40 --audit-log-format json \
    --max-requests-inflight 800 --max-mutating-requests-inflight 400
  wait_for "kube-apiserver" 90 "${KUBECTL[@]}" get --raw /readyz
}

start_controllers() {
  start_process kube-controller-manager "$K/kube-controller-manager" \
    --kubeconfig "$STATE_DIR/kubeconfig" --authentication-kubeconfig "$STATE_DIR/kubeconfig" \
    --authorization-kubeconfig "$STATE_DIR/kubeconfig" --bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
    --leader-elect=false --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --use-service-account-credentials=false --controllers '*' --concurrent-deployment-syncs 20 \
    --concurrent-replicaset-syncs 20 --concurrent-gc-syncs 40 --concurrent-namespace-syncs 20 \
    --kube-api-qps 500 --kube-api-burst 1000
  start_process kube-scheduler "$K/kube-scheduler" \
    --kubeconfig "$STATE_DIR/kubeconfig" --authentication-kubeconfig "$STATE_DIR/kubeconfig" \
    --authorization-kubeconfig "$STATE_DIR/kubeconfig" --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" \
    --leader-elect=false --kube-api-qps 500 --kube-api-burst 1000
  # occ Job pods are left to e2e/occ-sim.py, which plays their kubelet and occ: the pod stages
  # that would mark them Ready and Succeeded skip the label.
  local configs=() stages="$STATE_DIR/stages"
  mkdir -p "$stages"
  for f in "$K"/stages/*.yaml; do
    case "$(basename "$f")" in
      pod-ready.yaml|pod-complete.yaml)
        sed "/matchExpressions:/a\\    - key: '.metadata.labels[\"frama.space/occ\"]'\\n      operator: 'DoesNotExist'" "$f" > "$stages/$(basename "$f")" ;;
      *) cp "$f" "$stages/" ;;
    esac
  done
  for f in "$stages"/*.yaml; do configs+=(--config "$f"); done
  start_process kwok "$K/kwok" --kubeconfig "$STATE_DIR/kubeconfig" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --node-lease-duration-seconds 40 --v WARN --server-address "127.0.0.1:$KWOK_PORT" --cidr 10.0.0.0/16 "${configs[@]}"
}

apply_nodes() {
  local pool n
  for n in web-1:web web-2:web office-1:office preview-1:preview turn-1:turn turn-2:turn; do
    pool=${n#*:}; n=kwok-${n%%:*}
    cat <<NODE
---
apiVersion: v1
kind: Node
metadata:
  name: $n
  annotations: { kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0" }
  labels:
    type: kwok
    kubernetes.io/hostname: $n
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    frama.space/node-pool: $pool
status:
  allocatable: { cpu: "1000", memory: 4Ti, pods: "20000" }
  capacity: { cpu: "1000", memory: 4Ti, pods: "20000" }
NODE
  done | "${KUBECTL[@]}" apply -f - >/dev/null
  wait_for "kwok: fake nodes Ready" 60 "${KUBECTL[@]}" wait --for=condition=Ready node -l type=kwok --timeout=5s
}

# Gateway API's CRDs (standard channel, pinned in versions.env), so the spaces' HTTPRoutes meet the
# real schema. No Gateway controller runs here: the tests answer for the Gateway (its status).
apply_gateway_api() {
  [ -d "$GATEWAY_API_CRDS" ] || die "no Gateway API CRDs in $GATEWAY_API_CRDS: run e2e/build-tools.sh gateway-api"
  "${KUBECTL[@]}" apply --server-side --field-manager framaspace-e2e -f "$GATEWAY_API_CRDS" >/dev/null
  wait_for "kube-apiserver: the Gateway API CRDs established" 60 "${KUBECTL[@]}" wait --for=condition=Established \
    crd/httproutes.gateway.networking.k8s.io crd/gateways.gateway.networking.k8s.io --timeout=5s
}

start_postgres() {
  local pw; pw=$(secret_file postgres.password)
  local bin; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  local data="$STATE_DIR/postgres" sock="$STATE_DIR/postgres-socket"
  if [ ! -s "$data/PG_VERSION" ]; then
    mkdir -p "$data" "$sock"; chown postgres:postgres "$data" "$sock"; chmod 700 "$data"
    printf '%s\n' "$pw" > "$STATE_DIR/postgres.pwfile"; chown postgres "$STATE_DIR/postgres.pwfile"
    as_postgres "$bin/initdb" -D "$data" -U postgres --pwfile "$STATE_DIR/postgres.pwfile" \
      --auth-host=scram-sha-256 --auth-local=scram-sha-256 -E UTF8 --locale C >"$STATE_DIR/logs/initdb.log" 2>&1
    rm -f "$STATE_DIR/postgres.pwfile"
  fi
  # TLS with a private CA (not the API server's), for the pools that verify the server
  # (sslMode verify-full, caSecretRef); clients that ask no TLS still connect in clear.
  install -o postgres -g postgres -m 600 "$PKI/services-server.key" "$data/server.key"
  install -o postgres -g postgres -m 644 "$PKI/services-server.crt" "$data/server.crt"
  start_process postgres setpriv --reuid=postgres --regid=postgres --init-groups "$bin/postgres" -D "$data" \
    -p "$PG_PORT" -k "$sock" -c listen_addresses=127.0.0.1 -c max_connections=2000 -c fsync=off \
    -c synchronous_commit=off -c full_page_writes=off -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key
  wait_for "postgres" 30 "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"
}

start_redis() {
  local pw; pw=$(secret_file redis.password)
  local dir="$STATE_DIR/redis"; mkdir -p "$dir"
  # Valkey, not Debian's Redis 7: each space's user is pinned to a database of its own (`db=<n>`,
  # Valkey 9.1), which a CachePool requires. The default user is off: every client authenticates,
  # and the admin user is the only one with every command. ACLs written here are the file's; the
  # operator's users live in memory (ACL SETUSER). 16384 databases hold the bench's 10,000 spaces
  # on one pool (an empty database costs about 100 bytes).
  (umask 077; printf 'user default off\nuser admin on >%s ~* &* +@all\n' "$pw" > "$dir/users.acl")
  cat > "$dir/redis.conf" <<CONF
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
daemonize no
dir $dir
aclfile $dir/users.acl
save ""
appendonly no
databases 16384
CONF
  start_process redis "$VALKEY_BIN/valkey-server" "$dir/redis.conf"
  wait_for "redis" 30 redis_ping "$pw"
  # A second server reached over TLS only, as a CachePool with `tls` reaches one: this Valkey build
  # has no TLS, so a TLS front (socat) whose certificate the services' private CA signed.
  local tls="$STATE_DIR/redis-tls"; mkdir -p "$tls"
  cp "$dir/users.acl" "$tls/users.acl"
  sed -e "s#^port .*#port $REDIS_TLS_BACKEND_PORT#" -e "s#^dir .*#dir $tls#" -e "s#^aclfile .*#aclfile $tls/users.acl#" -e "s#^databases .*#databases 64#" \
    "$dir/redis.conf" > "$tls/redis.conf"
  start_process redis-tls-server "$VALKEY_BIN/valkey-server" "$tls/redis.conf"
  start_process redis-tls socat "OPENSSL-LISTEN:$REDIS_TLS_PORT,bind=127.0.0.1,reuseaddr,fork,cert=$PKI/services-server.pem,verify=0" "TCP:127.0.0.1:$REDIS_TLS_BACKEND_PORT"
  wait_for "redis-tls" 30 bash -c "echo | openssl s_client -connect 127.0.0.1:$REDIS_TLS_PORT -CAfile '$PKI/services-ca.crt' -verify_return_error >/dev/null 2>&1"
}
redis_ping() { [ "$(REDISCLI_AUTH="$1" redis-cli --user admin -p "$REDIS_PORT" -h 127.0.0.1 ping 2>/dev/null)" = PONG ]; }

# A Valkey Cluster of six nodes, three masters with a replica each, as Framaspace's cache tier is
# (a CachePool with `cluster`). Each node has its own aclfile, first holding only the admin (the
# base a node is provisioned with): the operator gives it the spaces' users and `ACL SAVE`s them.
# A 2 s node timeout makes a failed master's replica take over within the tests' waits. The
# cluster bus listens on port+10 (26421-26426): the default, port+10000, falls in the kernel's
# ephemeral range (32768-60999), where a client socket of the moment can hold it. A replica
# authenticates to its master as the admin (`primaryuser`/`primaryauth`, valkey src/config.c, aliases
# of masteruser/masterauth): the default user is off, and without them every replica's sync is
# refused with NOAUTH, retried each second, and a failed-over master's data was never copied.
cluster_node_conf() { # NODE
  local dir="$STATE_DIR/redis-cluster/$1" port=$((REDIS_CLUSTER_PORT + $1 - 1))
  mkdir -p "$dir"
  (umask 077; cat > "$dir/valkey.conf") <<CONF
bind 127.0.0.1
port $port
protected-mode yes
daemonize no
dir $dir
aclfile $dir/users.acl
cluster-enabled yes
cluster-port $((port + 10))
cluster-config-file nodes.conf
cluster-node-timeout 2000
save ""
appendonly no
primaryuser admin
primaryauth $(cat "$STATE_DIR/redis.password")
CONF
}
cluster_base_acl() { (umask 077; printf 'user default off\nuser admin on >%s ~* &* +@all\n' "$(cat "$STATE_DIR/redis.password")" > "$STATE_DIR/redis-cluster/$1/users.acl"); }
start_cluster_node() { # NODE: its process, from its own config and aclfile
  start_process "redis-cluster-$1" "$VALKEY_BIN/valkey-server" "$STATE_DIR/redis-cluster/$1/valkey.conf"
}
cluster_cli() { REDISCLI_AUTH="$(cat "$STATE_DIR/redis.password")" redis-cli --user admin -h 127.0.0.1 "$@"; }
cluster_ok() { for i in 1 2 3 4 5 6; do cluster_cli -p $((REDIS_CLUSTER_PORT + i - 1)) CLUSTER INFO 2>/dev/null | grep -q '^cluster_state:ok' || return 1; done; }
start_redis_cluster() {
  local i seeds=()
  for i in 1 2 3 4 5 6; do
    # A node already running keeps its files (its users, its place in the cluster).
    [ -s "$STATE_DIR/redis-cluster/$i/valkey.conf" ] || { cluster_node_conf "$i"; cluster_base_acl "$i"; }
    start_cluster_node "$i"
    seeds+=("127.0.0.1:$((REDIS_CLUSTER_PORT + i - 1))")
  done
  for i in 1 2 3 4 5 6; do wait_for "redis-cluster-$i" 30 cluster_cli -p $((REDIS_CLUSTER_PORT + i - 1)) PING; done
  cluster_ok && return 0   # already formed (cluster-up run again)
  cluster_cli --cluster create "${seeds[@]}" --cluster-replicas 1 --cluster-yes >"$STATE_DIR/logs/redis-cluster-create.log" 2>&1 \
    || die "the Valkey cluster was not created (see $STATE_DIR/logs/redis-cluster-create.log)"
  wait_for "redis-cluster: every slot served" 60 cluster_ok
}

start_minio() {
  local user=framaspace-admin pw; pw=$(secret_file minio.password)
  mkdir -p "$STATE_DIR/minio"
  MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=$pw MINIO_BROWSER=off MINIO_UPDATE=off \
    start_process minio "$MINIO_BIN/minio" server --quiet --address "127.0.0.1:$MINIO_PORT" \
    --console-address "127.0.0.1:$MINIO_CONSOLE_PORT" "$STATE_DIR/minio"
  wait_for "minio" 60 curl -sf "http://127.0.0.1:$MINIO_PORT/minio/health/ready"
}

start_garage() {
  local token rpc; token=$(secret_file garage.admin-token); rpc=$(secret_file garage.rpc-secret 32)
  local dir="$STATE_DIR/garage"; mkdir -p "$dir/meta" "$dir/data"
  (umask 077; cat > "$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$GARAGE_RPC_PORT"
rpc_public_addr = "127.0.0.1:$GARAGE_RPC_PORT"
rpc_secret = "$rpc"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$GARAGE_S3_PORT"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$GARAGE_ADMIN_PORT"
admin_token = "$token"
TOML
  )
  start_process garage "$GARAGE_BIN/bin/garage" -c "$dir/garage.toml" server
  # /health answers 503 until the node has a layout: wait for an answer, not for a 200.
  wait_for "garage admin API" 30 garage_answers
  # A new single node has no layout: give it one, once.
  if ! "$GARAGE_BIN/bin/garage" -c "$dir/garage.toml" layout show 2>/dev/null | grep -q 'Current cluster layout version: [1-9]'; then
    local id; id=$("$GARAGE_BIN/bin/garage" -c "$dir/garage.toml" node id -q 2>/dev/null | cut -d@ -f1)
    "$GARAGE_BIN/bin/garage" -c "$dir/garage.toml" layout assign -z local -c 10G "$id" >/dev/null
    "$GARAGE_BIN/bin/garage" -c "$dir/garage.toml" layout apply --version 1 >/dev/null
  fi
  wait_for "garage: cluster healthy" 30 garage_ready "$token"
}
garage_answers() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GARAGE_ADMIN_PORT/health")" != 000 ]; }
garage_ready() { curl -sf -H "Authorization: Bearer $1" "http://127.0.0.1:$GARAGE_ADMIN_PORT/v2/GetClusterHealth" | grep -q '"status": *"healthy"'; }

write_env() {
  local pg rd mn gt
  pg=$(cat "$STATE_DIR/postgres.password"); rd=$(cat "$STATE_DIR/redis.password")
  mn=$(cat "$STATE_DIR/minio.password"); gt=$(cat "$STATE_DIR/garage.admin-token")
  (umask 077; cat > "$STATE_DIR/env" <<ENV
# Written by e2e/cluster-up.sh. Source it: . e2e/.state/env
export KUBECONFIG=$STATE_DIR/kubeconfig
export PATH=$(tools_path):\$PATH
export FRAMASPACE_STATE=$STATE_DIR
export FRAMASPACE_PG_HOST=127.0.0.1 FRAMASPACE_PG_PORT=$PG_PORT FRAMASPACE_PG_USER=postgres FRAMASPACE_PG_PASSWORD=$pg
export FRAMASPACE_PG_URL=postgres://postgres:$pg@127.0.0.1:$PG_PORT/postgres
export FRAMASPACE_SERVICES_CA=$PKI/services-ca.crt FRAMASPACE_REDIS_TLS_PORT=$REDIS_TLS_PORT
export FRAMASPACE_REDIS_HOST=127.0.0.1 FRAMASPACE_REDIS_PORT=$REDIS_PORT FRAMASPACE_REDIS_USER=admin FRAMASPACE_REDIS_PASSWORD=$rd
export FRAMASPACE_REDIS_URL=redis://admin:$rd@127.0.0.1:$REDIS_PORT
export FRAMASPACE_REDIS_CLUSTER_PORT=$REDIS_CLUSTER_PORT FRAMASPACE_REDIS_CLUSTER_NODES=6
export FRAMASPACE_MINIO_URL=http://127.0.0.1:$MINIO_PORT FRAMASPACE_MINIO_ACCESS_KEY=framaspace-admin FRAMASPACE_MINIO_SECRET_KEY=$mn
export FRAMASPACE_GARAGE_S3_URL=http://127.0.0.1:$GARAGE_S3_PORT FRAMASPACE_GARAGE_ADMIN_URL=http://127.0.0.1:$GARAGE_ADMIN_PORT FRAMASPACE_GARAGE_ADMIN_TOKEN=$gt
ENV
  )
}

started=$(date +%s)
make_pki
make_services_pki
write_kubeconfig
start_etcd
start_apiserver
start_controllers
apply_nodes
apply_gateway_api
start_postgres
start_redis
start_redis_cluster
start_minio
start_garage
start_process occ-sim env STATE_DIR="$STATE_DIR" APISERVER_PORT="$APISERVER_PORT" PG_PORT="$PG_PORT" python3 "$E2E_DIR/occ-sim.py"
write_env
log "environment up in $(( $(date +%s) - started ))s: . $STATE_DIR/env"
