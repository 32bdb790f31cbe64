#!/usr/bin/env bash
# Installs the operator's Helm chart into the local control plane the way a platform engineer
# would, except that it runs no operator pod (replicaCount=0: pods never run under KWOK); the
# operator then runs as a local process with the chart's ServiceAccount token, so its ClusterRole
# is what the tests exercise. Waits until the CRDs are Established and the admission policy
# resolves its SpaceClass parameters (the API server discovers a new CRD for admission a little
# after it is Established; until then a space is refused). Writes $STATE_DIR/operator.kubeconfig.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/proc.sh"
. "$STATE_DIR/env"
NS=${FRAMASPACE_NAMESPACE:-framaspace-system}
RELEASE=framaspace-operator
helm upgrade --install "$RELEASE" "$REPO_DIR/charts/framaspace-operator" --namespace "$NS" --create-namespace \
  --set replicaCount=0 --set wake.replicaCount=0 --wait --timeout 120s >/dev/null
for crd in $(kubectl get crd -o name | grep '\.frama\.space$'); do
  kubectl wait --for=condition=Established "$crd" --timeout=60s >/dev/null
done
probe() {
  kubectl create --dry-run=server -o name -f - <<'YAML'
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: admission-probe }
spec: { displayName: Probe, contactEmail: probe@example.org }
YAML
}
wait_for "kube-apiserver: the admission policy to resolve SpaceClass" 90 probe

# Kubeconfigs with the ServiceAccounts' tokens: the operator (and the wake component) get
# exactly the chart's rights, and its admission policies judge them.
server=$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')
ca=$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
if [ -z "$ca" ]; then
  ca=$(base64 -w0 < "$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}')")
fi
umask 077
kubeconfig() { # SERVICE-ACCOUNT FILE
  local token; token=$(kubectl -n "$NS" create token "$1" --duration=24h)
  cat > "$2" <<YAML
apiVersion: v1
kind: Config
clusters:
  - name: local
    cluster: { server: "$server", certificate-authority-data: "$ca" }
users:
  - name: $1
    user: { token: "$token" }
contexts:
  - name: $1
    context: { cluster: local, user: $1, namespace: $NS }
current-context: $1
YAML
}
kubeconfig "$RELEASE" "$STATE_DIR/operator.kubeconfig"
kubeconfig framaspace-wake "$STATE_DIR/wake.kubeconfig"
