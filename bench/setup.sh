# Sourced by the benchmarks: the release binaries, the chart's objects, and the pools and class
# reserved to the bench (PostgreSQL with schema isolation, Redis, MinIO; class `bench`), sized for
# N spaces. Expects N and FEATURES; sets OUT.
OUT="$REPO_DIR/bench/out"
mkdir -p "$OUT"
# figures NAME: this run's figures file, bench/out/NAME-figures-N.txt, emptied; `say` prints a
# line and keeps it there.
figures() { FIG="$OUT/$1-figures-$N.txt"; : > "$FIG"; }
say() { echo "$*" | tee -a "$FIG"; }

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

# start_bench_operator LOG-FILE EXTRA-ARGS...: the release operator as the chart's ServiceAccount
# (the one started before stopped), its metrics at :28084, the bench's pools Ready. Sets pid.
start_bench_operator() {
  local log_file=$1; shift
  stop_process operator
  stop_process bench-operator
  mapfile -t cmd < <(OPERATOR_BIN="$REPO_DIR/target/release/framaspace-operator" operator_command \
    --log-format json --identity bench --metrics-address 127.0.0.1:28084 --resync-seconds "$RESYNC" --concurrency 32 "$@")
  PROC_LOG="$OUT/$log_file" start_process bench-operator "${cmd[@]}"
  read -r pid _ < "$STATE_DIR/pids/bench-operator"
  wait_for "bench-operator: its metrics endpoint" 60 curl -sf http://127.0.0.1:28084/readyz
  for p in dbpool/bench-pg cachepool/bench-redis stpool/bench-minio; do kubectl wait --for=condition=Ready "$p" --timeout=120s >/dev/null; done
}

# ensure_bench_spaces: N spaces of the bench class, made by `make bench`'s creator when fewer are
# there (its figures in bench/out/figures-N.txt).
ensure_bench_spaces() {
  local have; have=$(kubectl get spaces -l bench.frama.space/run=1 --no-headers 2>/dev/null | wc -l)
  [ "$have" -lt "$N" ] || return 0
  log "creating $N spaces first (make bench's creator, its figures in bench/out/figures-$N.txt)"
  "$REPO_DIR/target/release/framaspace-bench" --count "$N" --rate "$RATE" --class bench --operator-pid "$pid" \
    --metrics http://127.0.0.1:28084/metrics --audit-log "$STATE_DIR/logs/audit.log" --resync-seconds "$RESYNC" --out "$OUT" \
    --no-floor --latency-samples 0 > "$OUT/figures-$N.txt"
}
