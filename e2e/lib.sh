# Shared paths for the e2e scripts. Sourced, never executed.
E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$E2E_DIR/.." && pwd)"
# shellcheck source=versions.env
. "$E2E_DIR/versions.env"
FRAMASPACE_CACHE="${FRAMASPACE_CACHE:-$HOME/.cache/framaspace}"
STATE_DIR="${FRAMASPACE_STATE:-$E2E_DIR/.state}"

K8S_BIN="$FRAMASPACE_CACHE/bin/kubernetes-$KUBERNETES_VERSION-kwok-$KWOK_VERSION"
ETCD_BIN="$FRAMASPACE_CACHE/bin/etcd-$ETCD_VERSION"
MINIO_BIN="$FRAMASPACE_CACHE/bin/minio-$MINIO_VERSION"
HELM_BIN="$FRAMASPACE_CACHE/bin/helm-$HELM_VERSION"
GARAGE_BIN="$FRAMASPACE_CACHE/bin/garage-$GARAGE_VERSION"
CARGO_DENY_BIN="$FRAMASPACE_CACHE/bin/cargo-deny-$CARGO_DENY_VERSION"
VALKEY_BIN="$FRAMASPACE_CACHE/bin/valkey-$VALKEY_VERSION"
GATEWAY_API_CRDS="$FRAMASPACE_CACHE/bin/gateway-api-$GATEWAY_API_VERSION"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# PATH with every pinned tool first, so the scripts and the tests never pick a system kubectl.
tools_path() {
  printf '%s' "$K8S_BIN:$ETCD_BIN:$MINIO_BIN:$HELM_BIN:$GARAGE_BIN/bin"
}

# How the suites and the demo run the operator: as the Helm chart's ServiceAccount (e2e/install.sh
# writes its kubeconfig), with the chart's Secret access role and lease. Extra arguments follow.
operator_command() {
  printf '%s\n' env "KUBECONFIG=$STATE_DIR/operator.kubeconfig" "${OPERATOR_BIN:-$REPO_DIR/target/debug/framaspace-operator}" run \
    --secret-access-role framaspace-operator-space-secrets --lease-name framaspace-operator "$@"
}
