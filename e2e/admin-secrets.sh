#!/usr/bin/env bash
# Creates the operator namespace and the pools' admin Secrets (examples/pools.yaml) from the
# credentials of the local environment. Idempotent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$STATE_DIR/env"
NS=${FRAMASPACE_NAMESPACE:-framaspace-system}
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
# secret NAME ENDPOINTS ARGS...: the operator sends a pool's admin Secret only to the servers its
# annotation frama.space/endpoints lists (host:port, comma-separated).
secret() {
  local name=$1 endpoints=$2; shift 2
  kubectl -n "$NS" create secret generic "$name" "$@" --dry-run=client -o yaml \
    | kubectl annotate --local -f - frama.space/endpoints="$endpoints" -o yaml | kubectl apply -f - >/dev/null
}
host_port() { local u=${1#*://}; echo "${u%%/*}"; }
secret pg-1-admin "127.0.0.1:$FRAMASPACE_PG_PORT" --from-literal=username="$FRAMASPACE_PG_USER" --from-literal=password="$FRAMASPACE_PG_PASSWORD"
secret redis-1-admin "127.0.0.1:$FRAMASPACE_REDIS_PORT,127.0.0.1:${FRAMASPACE_REDIS_TLS_PORT:-26380}" \
  --from-literal=username="$FRAMASPACE_REDIS_USER" --from-literal=password="$FRAMASPACE_REDIS_PASSWORD"
secret s3-minio-admin "$(host_port "$FRAMASPACE_MINIO_URL")" --from-literal=accessKey="$FRAMASPACE_MINIO_ACCESS_KEY" --from-literal=secretKey="$FRAMASPACE_MINIO_SECRET_KEY"
secret s3-garage-admin "$(host_port "$FRAMASPACE_GARAGE_ADMIN_URL")" --from-literal=token="$FRAMASPACE_GARAGE_ADMIN_TOKEN"
# The Valkey cluster's admin: bound to each of its six nodes (the operator contacts every node).
if [ -n "${FRAMASPACE_REDIS_CLUSTER_PORT:-}" ]; then
  nodes=$(for i in $(seq 0 $((FRAMASPACE_REDIS_CLUSTER_NODES - 1))); do printf '127.0.0.1:%s,' $((FRAMASPACE_REDIS_CLUSTER_PORT + i)); done)
  secret redis-cluster-admin "${nodes%,}" --from-literal=username="$FRAMASPACE_REDIS_USER" --from-literal=password="$FRAMASPACE_REDIS_PASSWORD"
fi
