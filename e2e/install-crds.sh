#!/usr/bin/env bash
# Installs the CRDs and the admission policy, and waits until both serve: the CRDs Established,
# and the policy able to resolve its SpaceClass parameters (the API server discovers a new CRD for
# admission a little after it is Established; until then a space is refused).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/proc.sh"
. "$STATE_DIR/env"
kubectl apply --server-side --force-conflicts -f "$REPO_DIR/crds/" >/dev/null
for crd in $(kubectl get -f "$REPO_DIR/crds/" -o name | grep customresourcedefinition); do
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
