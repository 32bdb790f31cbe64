# Sourced by the benchmarks: the release binaries, the chart's objects, and the pools and class
# reserved to the bench (PostgreSQL with schema isolation, Redis, MinIO; class `bench`), sized for
# N spaces. Expects N and FEATURES; sets OUT.
OUT="$REPO_DIR/bench/out"
mkdir -p "$OUT"

log "building the release binaries"
cargo build --release --locked --features "$FEATURES" --bins
"$E2E_DIR/install.sh"
"$E2E_DIR/admin-secrets.sh"
psql_admin() { PGPASSWORD="$FRAMASPACE_PG_PASSWORD" psql -h 127.0.0.1 -p "$FRAMASPACE_PG_PORT" -U "$FRAMASPACE_PG_USER" -d postgres -qAt "$@"; }
psql_admin -c "SELECT 1 FROM pg_database WHERE datname = 'framaspace_bench'" | grep -q 1 || psql_admin -c "CREATE DATABASE framaspace_bench"
capacity=$((N + 1000))
kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: DatabasePool
metadata: { name: bench-pg, labels: { bench.frama.space/pool: "true" } }
spec:
  host: 127.0.0.1
  port: $FRAMASPACE_PG_PORT
  adminSecretRef: { name: pg-1-admin }
  isolation: schema
  sharedDatabase: framaspace_bench
  sslMode: disable
  # As behind a PgBouncer: the bench's pods never connect, and the pool takes no more spaces than
  # the server's max_connections hold at this limit.
  tenantHost: 127.0.0.1
  tenantConnectionLimit: 1
  capacity: { maxSpaces: $capacity }
  maxConcurrentOperations: 8
---
apiVersion: frama.space/v1alpha1
kind: CachePool
metadata: { name: bench-redis, labels: { bench.frama.space/pool: "true" } }
spec:
  host: 127.0.0.1
  port: $FRAMASPACE_REDIS_PORT
  adminSecretRef: { name: redis-1-admin }
  capacity: { maxSpaces: $capacity }
---
apiVersion: frama.space/v1alpha1
kind: StoragePool
metadata: { name: bench-minio, labels: { bench.frama.space/pool: "true" } }
spec:
  provider: minio
  endpoint: $FRAMASPACE_MINIO_URL
  region: us-east-1
  adminSecretRef: { name: s3-minio-admin }
  capacity: { maxSpaces: $capacity }
  maxConcurrentOperations: 4
---
apiVersion: frama.space/v1alpha1
kind: SpaceClass
metadata: { name: bench }
spec:
  baseDomain: bench.frama.space
  nextcloud: { image: registry.frama.space/framaspace/nextcloud, version: 33.0.7 }
  limits: { maxQuota: 50Gi, defaultQuota: 10Gi, maxAccounts: 50, defaultMaxAccounts: 50 }
  defaultOffice: none
  placement: { nodeSelector: { frama.space/node-pool: web } }
  ingress: { className: nginx, maxUploadSize: 1G, controllerNamespace: ingress-nginx }
  poolSelector: { matchLabels: { bench.frama.space/pool: "true" } }
YAML
