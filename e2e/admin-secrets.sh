#!/usr/bin/env bash
# Creates the operator namespace and the pools' admin Secrets (examples/pools.yaml) from the
# credentials of the local environment. Idempotent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$STATE_DIR/env"
NS=${FRAMASPACE_NAMESPACE:-framaspace-system}
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
secret() {
  local name=$1; shift
  kubectl -n "$NS" create secret generic "$name" "$@" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
}
secret pg-1-admin --from-literal=username="$FRAMASPACE_PG_USER" --from-literal=password="$FRAMASPACE_PG_PASSWORD"
secret redis-1-admin --from-literal=username="$FRAMASPACE_REDIS_USER" --from-literal=password="$FRAMASPACE_REDIS_PASSWORD"
secret s3-minio-admin --from-literal=accessKey="$FRAMASPACE_MINIO_ACCESS_KEY" --from-literal=secretKey="$FRAMASPACE_MINIO_SECRET_KEY"
secret s3-garage-admin --from-literal=token="$FRAMASPACE_GARAGE_ADMIN_TOKEN"
