#!/usr/bin/env bash
# The local environment is real: a v1.36 API server with working controllers and KWOK nodes, and
# PostgreSQL, Redis, MinIO and Garage that accept their admin credentials and refuse wrong ones.
. "$(dirname "$0")/lib.sh"
NS=e2e-environment

section "cluster-up is idempotent"
# The servers no other suite touches: this suite runs beside cache-cluster, which stops and starts
# Valkey cluster nodes and its own operator on purpose (CI once caught one mid-restart).
steady=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok postgres redis redis-tls-server redis-tls minio garage occ-sim)
steady_pids() { for name in "${steady[@]}"; do printf '%s %s\n' "$name" "$(cat "$STATE_DIR/pids/$name" 2>/dev/null)"; done; }
pids_before=$(steady_pids)
check "running cluster-up again succeeds" "$E2E_DIR/cluster-up.sh"
check_eq "it leaves the same processes (recorded pids and start times)" "$pids_before" "$(steady_pids)"
check "every recorded process is alive" bash -c "cd '$STATE_DIR/pids' && for f in ${steady[*]}; do read -r pid start < \"\$f\"; [ \"\$(awk '{print \$22}' /proc/\$pid/stat)\" = \"\$start\" ] || exit 1; done"

section "control plane"
check_eq "kubectl reports a v1.36 server" "v1.36" "$(kubectl version -o json | jq -r '.serverVersion.gitVersion' | cut -d. -f1,2)"
check_eq "/readyz is ok" "ok" "$(kubectl get --raw /readyz)"
check_eq "six KWOK nodes are Ready" "6" "$(kubectl get nodes -l type=kwok -o json | jq '[.items[] | select(.status.conditions[] | select(.type=="Ready" and .status=="True"))] | length')"
for pool in web office preview turn; do
  check "a $pool node exists" test "$(kubectl get nodes -l frama.space/node-pool=$pool -o name | wc -l)" -ge 1
done

kubectl delete namespace "$NS" --ignore-not-found --wait=true >/dev/null 2>&1
kubectl create namespace "$NS" >/dev/null
kubectl -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      nodeSelector: { frama.space/node-pool: web }
      containers: [{ name: web, image: registry.invalid/web:1 }]
YAML
check "a Deployment of 2 replicas becomes Available" kubectl -n "$NS" wait --for=condition=Available deployment/web --timeout=90s
check_eq "its 2 pods are Ready" "2" "$(kubectl -n "$NS" get deployment web -o jsonpath='{.status.readyReplicas}')"
nodes=$(kubectl -n "$NS" get pods -l app=web -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u)
pools=$(for n in $nodes; do kubectl get node "$n" -o jsonpath='{.metadata.labels.frama\.space/node-pool}{"\n"}'; done | sort -u)
check_eq "they run on web nodes only" "web" "$pools"

kubectl -n "$NS" create configmap owner >/dev/null
uid=$(kubectl -n "$NS" get configmap owner -o jsonpath='{.metadata.uid}')
kubectl -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: dependent
  ownerReferences: [{ apiVersion: v1, kind: ConfigMap, name: owner, uid: "$uid" }]
stringData: { k: v }
YAML
kubectl -n "$NS" delete configmap owner >/dev/null
check "deleting an owner garbage-collects its dependent" eventually 60 bash -c "! kubectl -n $NS get secret dependent"
kubectl delete namespace "$NS" --wait=false >/dev/null

section "PostgreSQL"
check "admin credentials are accepted" env PGPASSWORD="$FRAMASPACE_PG_PASSWORD" psql -h 127.0.0.1 -p "$FRAMASPACE_PG_PORT" -U postgres -d postgres -tAc 'select 1'
check "a wrong password is refused" bash -c "! PGPASSWORD=wrong psql -h 127.0.0.1 -p $FRAMASPACE_PG_PORT -U postgres -d postgres -tAc 'select 1'"
check_eq "the server is a superuser session" "on" "$(PGPASSWORD="$FRAMASPACE_PG_PASSWORD" psql -h 127.0.0.1 -p "$FRAMASPACE_PG_PORT" -U postgres -d postgres -tAc 'show is_superuser')"

section "Redis"
redis() { REDISCLI_AUTH="$2" redis-cli --no-auth-warning --user "$1" -h 127.0.0.1 -p "$FRAMASPACE_REDIS_PORT" "${@:3}" 2>&1; }
check_eq "admin credentials are accepted" "PONG" "$(redis admin "$FRAMASPACE_REDIS_PASSWORD" ping)"
check "a wrong password is refused" bash -c "redis-cli --no-auth-warning --user admin -a wrong -h 127.0.0.1 -p $FRAMASPACE_REDIS_PORT ping 2>&1 | grep -q WRONGPASS"
check "the default user is disabled" bash -c "redis-cli -h 127.0.0.1 -p $FRAMASPACE_REDIS_PORT ping 2>&1 | grep -q NOAUTH"
check "ACLs are enabled (ACL WHOAMI)" test "$(redis admin "$FRAMASPACE_REDIS_PASSWORD" acl whoami)" = admin
check "the cache server is Valkey 9.1 (its ACL pins a user to a database)" bash -c "REDISCLI_AUTH=$FRAMASPACE_REDIS_PASSWORD redis-cli --no-auth-warning --user admin -p $FRAMASPACE_REDIS_PORT info server | grep -q '^valkey_version:9\.1\.'"
check_eq "it has a database for each of 16383 spaces" "16384" "$(redis admin "$FRAMASPACE_REDIS_PASSWORD" config get databases | tail -1)"
cnode() { REDISCLI_AUTH="$FRAMASPACE_REDIS_PASSWORD" redis-cli --no-auth-warning --user admin -h 127.0.0.1 -p "$1" "${@:2}" 2>&1; }
check_eq "the Valkey cluster serves every slot" "cluster_state:ok" "$(cnode "$FRAMASPACE_REDIS_CLUSTER_PORT" cluster info | grep -o 'cluster_state:[a-z]*')"
check_eq "with three masters and three replicas" "3 3" \
  "$(cnode "$FRAMASPACE_REDIS_CLUSTER_PORT" cluster nodes | awk '{ if ($3 ~ /master/) m++; else if ($3 ~ /slave/) r++ } END { print m, r }')"
check "each node has its own aclfile, the admin in it and the default user off" bash -c \
  "for i in \$(seq 1 $FRAMASPACE_REDIS_CLUSTER_NODES); do f=$STATE_DIR/redis-cluster/\$i/users.acl; grep -q '^user admin on ' \$f && grep -q '^user default off' \$f || exit 1; done"

section "MinIO"
EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
# HTTP status of a SigV4-signed GET: URL ACCESS_KEY SECRET_KEY [REGION]
sigv4_status() {
  curl -s -o /dev/null -w '%{http_code}' -H "x-amz-content-sha256: $EMPTY_SHA256" \
    --aws-sigv4 "aws:amz:${4:-us-east-1}:s3" --user "$2:$3" "$1"
}
s3_status() { sigv4_status "$1/" "$2" "$3"; }
check_eq "admin credentials list buckets" "200" "$(s3_status "$FRAMASPACE_MINIO_URL" "$FRAMASPACE_MINIO_ACCESS_KEY" "$FRAMASPACE_MINIO_SECRET_KEY")"
check_eq "a wrong secret key is refused" "403" "$(s3_status "$FRAMASPACE_MINIO_URL" "$FRAMASPACE_MINIO_ACCESS_KEY" wrong-secret-key)"
check_eq "the admin API answers the admin" "200" "$(sigv4_status "$FRAMASPACE_MINIO_URL/minio/admin/v3/info" "$FRAMASPACE_MINIO_ACCESS_KEY" "$FRAMASPACE_MINIO_SECRET_KEY")"
check_eq "the admin API refuses a wrong secret" "403" "$(sigv4_status "$FRAMASPACE_MINIO_URL/minio/admin/v3/info" "$FRAMASPACE_MINIO_ACCESS_KEY" wrong-secret-key)"

section "Garage"
garage_status() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $2" "$FRAMASPACE_GARAGE_ADMIN_URL/v2/$1"; }
check_eq "the admin token reads the cluster status" "200" "$(garage_status GetClusterStatus "$FRAMASPACE_GARAGE_ADMIN_TOKEN")"
check "a wrong token is refused" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer wrong' $FRAMASPACE_GARAGE_ADMIN_URL/v2/GetClusterStatus)\" -ge 400 ]"
check "the cluster is healthy (a layout is applied)" bash -c "curl -sf -H 'Authorization: Bearer $FRAMASPACE_GARAGE_ADMIN_TOKEN' $FRAMASPACE_GARAGE_ADMIN_URL/v2/GetClusterHealth | jq -e '.status == \"healthy\"'"
key=$(curl -sf -X POST -H "Authorization: Bearer $FRAMASPACE_GARAGE_ADMIN_TOKEN" -H 'Content-Type: application/json' \
  -d '{"name":"e2e-environment"}' "$FRAMASPACE_GARAGE_ADMIN_URL/v2/CreateKey")
key_id=$(jq -r .accessKeyId <<<"$key"); key_secret=$(jq -r .secretAccessKey <<<"$key")
garage_s3() { sigv4_status "$FRAMASPACE_GARAGE_S3_URL/" "$1" "$2" garage; }
check_eq "a key created with the admin API lists buckets over S3" "200" "$(garage_s3 "$key_id" "$key_secret")"
check_eq "the same key with a wrong secret is refused" "403" "$(garage_s3 "$key_id" "x$key_secret")"
curl -sf -X POST -H "Authorization: Bearer $FRAMASPACE_GARAGE_ADMIN_TOKEN" "$FRAMASPACE_GARAGE_ADMIN_URL/v2/DeleteKey?id=$key_id" >/dev/null

summary
