#!/usr/bin/env bash
# Office and preview backends: deployed and scaled with the spaces assigned, a space switching
# from Collabora to OnlyOffice (config, JWT, occ Job, assignment), `office: none`.
. "$(dirname "$0")/lib.sh"

NS=framaspace-system
METRICS_PORT=28083
jsonpath() { kubectl get "$1" -o "jsonpath=$2" 2>/dev/null; }
office_of() { jsonpath "space/$1" '{.status.conditions[?(@.type=="OfficeReady")].reason}'; }
config_of() { kubectl -n "space-$1" get configmap nextcloud-config -o "jsonpath={.data.$2}"; }
occ_jobs() { kubectl -n "space-$1" get jobs -l frama.space/occ=office -o json; }
new_space() {
  kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: $1 }
spec: { displayName: "Office test $1", contactEmail: "admin@$1.example"${2:+, office: $2} }
YAML
}

section "setup: chart, pools, class, backends, operator"
check "the chart is installed" "$E2E_DIR/install.sh"
check "admin Secrets of the pools" "$E2E_DIR/admin-secrets.sh"
check "kubectl apply examples/backends.yaml (and pools, class)" \
  kubectl apply -f "$REPO_DIR/examples/pools.yaml" -f "$REPO_DIR/examples/spaceclass-standard.yaml" -f "$REPO_DIR/examples/backends.yaml"
mapfile -t cmd < <(operator_command --log-format json --identity office-operator --metrics-address "127.0.0.1:$METRICS_PORT" --pool-check-seconds 5)
start_process office-operator "${cmd[@]}"

section "backends are deployed on their nodes"
for b in officebackend/collabora-1 officebackend/onlyoffice-1 previewbackend/imaginary-1; do
  check "$b becomes Ready" kubectl wait --for=condition=Ready "$b" --timeout=90s
done
node_pool_of() { local n; n=$(kubectl -n $NS get pods -l "app.kubernetes.io/instance=$1" -o jsonpath='{.items[0].spec.nodeName}'); jsonpath "node/$n" '{.metadata.labels.frama\.space/node-pool}'; }
check_eq "Collabora runs on an office node" "office" "$(node_pool_of office-collabora-1)"
check_eq "OnlyOffice runs on an office node" "office" "$(node_pool_of office-onlyoffice-1)"
check_eq "Imaginary runs on a preview node" "preview" "$(node_pool_of preview-imaginary-1)"
check_eq "each office server has an Ingress on its own host" "office.frama.space onlyoffice.frama.space" \
  "$(kubectl -n $NS get ingress office-collabora-1 office-onlyoffice-1 -o jsonpath='{.items[*].spec.rules[0].host}')"
aliases=$(kubectl -n $NS get deployment office-collabora-1 -o jsonpath='{.spec.template.spec.containers[0].env[?(@.name=="aliasgroup1")].value}')
check_eq "Collabora accepts the class's space hosts through one alias-group regex" \
  'https://frama.space:443,https://[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.frama\.space:443' "$aliases"
check "the OnlyOffice JWT is generated once, in a Secret owned by its backend" bash -c \
  "kubectl -n $NS get secret office-onlyoffice-1-jwt -o json | jq -e '(.data[\"jwt-secret\"] | @base64d | length) == 48 and .metadata.ownerReferences[0].kind == \"OfficeBackend\"'"
jwt=$(kubectl -n $NS get secret office-onlyoffice-1-jwt -o jsonpath='{.data.jwt-secret}')

section "7 spaces with spacesPerReplica 3"
check "collabora-1 set to 3 spaces per replica" kubectl patch officebackend collabora-1 --type merge -p '{"spec":{"scaling":{"spacesPerReplica":3,"minReplicas":1}}}'
for i in 1 2 3 4 5 6 7; do new_space "office-$i"; done
for i in 1 2 3 4 5 6 7; do
  check "space office-$i is Ready" kubectl wait --for=condition=Ready "space/office-$i" --timeout=120s
done
backend_is() { [ "$(jsonpath "officebackend/$1" '{.status.assignedSpaces}/{.status.desiredReplicas}/{.status.readyReplicas}/{.status.conditions[?(@.type=="Ready")].status}')" = "$2" ]; }
check "collabora-1: 7 spaces assigned, 3 replicas wanted and Ready" eventually 60 backend_is collabora-1 "7/3/3/True"
check_eq "its Deployment runs 3 replicas" "3/3" "$(kubectl -n $NS get deployment office-collabora-1 -o jsonpath='{.spec.replicas}/{.status.readyReplicas}')"
check_eq "kubectl get officebackend shows the counts" "collabora-1 collabora 7 3 3 True" \
  "$(kubectl get officebackend collabora-1 --no-headers | awk '{print $1, $2, $4, $5, $6, $7}')"
check_eq "the spaces are placed on collabora-1 and imaginary-1" "collabora-1 imaginary-1" \
  "$(jsonpath space/office-3 '{.status.placement.officeBackend} {.status.placement.previewBackend}')"
check "previews point at the Imaginary Service" bash -c \
  "kubectl -n space-office-3 get configmap nextcloud-config -o jsonpath='{.data.preview\\.config\\.php}' | grep -q \"'preview_imaginary_url' => 'http://preview-imaginary-1.$NS.svc:9000'\""
check "OfficeReady is True, Configured" eventually 60 bash -c "[ \"\$(kubectl get space office-3 -o jsonpath='{.status.conditions[?(@.type==\"OfficeReady\")].reason}')\" = Configured ]"
check "the occ Job ran richdocuments' wiring in the space's own image" bash -c \
  "occ=\$(kubectl -n space-office-3 get jobs -l frama.space/occ=office -o json); echo \"\$occ\" | jq -e '.items | length == 1' && echo \"\$occ\" | jq -r '.items[0].metadata.annotations[\"frama.space/occ-commands\"]' | grep -q 'app:enable richdocuments' && echo \"\$occ\" | jq -r '.items[0].metadata.annotations[\"frama.space/occ-commands\"]' | grep -q 'wopi_url --value=https://office.frama.space' && [ \"\$(echo \"\$occ\" | jq -r '.items[0].status.succeeded')\" = 1 ]"
check "a Collabora space holds no OnlyOffice JWT" bash -c "! kubectl -n space-office-3 get secret nextcloud-credentials -o json | jq -e '.data | has(\"onlyoffice-jwt-secret\")'"

section "switch one space to OnlyOffice"
old_job=$(kubectl -n space-office-1 get jobs -l frama.space/occ=office -o jsonpath='{.items[0].metadata.name}')
check "kubectl patch space office-1 spec.office=onlyoffice" kubectl patch space office-1 --type merge -p '{"spec":{"office":"onlyoffice"}}'
check "status.apps.enabled lists the suite's app the office Job enabled" eventually 30 bash -c \
  "kubectl get space office-3 -o json | jq -e '.status.apps.enabled | index(\"richdocuments\")' >/dev/null"
switched() { [ "$(office_of office-1)" = Configured ] && [ "$(jsonpath space/office-1 '{.status.placement.officeBackend}')" = onlyoffice-1 ]; }
check "OfficeReady comes back Configured on onlyoffice-1" eventually 60 switched
check "its config points at the OnlyOffice server with the JWT from the environment" bash -c \
  "kubectl -n space-office-1 get configmap nextcloud-config -o jsonpath='{.data.office\\.config\\.php}' | grep -q \"'DocumentServerUrl' => 'https://onlyoffice.frama.space/', 'jwt_secret' => getenv('FRAMASPACE_ONLYOFFICE_JWT')\""
check_eq "its Secret holds the backend's JWT" "$jwt" "$(kubectl -n space-office-1 get secret nextcloud-credentials -o jsonpath='{.data.onlyoffice-jwt-secret}')"
check "its Nextcloud reads the JWT from the Secret" bash -c \
  "kubectl -n space-office-1 get deployment nextcloud -o json | jq -e '.spec.template.spec.containers[0].env[] | select(.name == \"FRAMASPACE_ONLYOFFICE_JWT\") | .valueFrom.secretKeyRef.key == \"onlyoffice-jwt-secret\"'"
check "a new occ Job enabled onlyoffice and disabled richdocuments; the old one is gone" bash -c \
  "occ=\$(kubectl -n space-office-1 get jobs -l frama.space/occ=office -o json); echo \"\$occ\" | jq -e '.items | length == 1' && [ \"\$(echo \"\$occ\" | jq -r '.items[0].metadata.name')\" != '$old_job' ] && echo \"\$occ\" | jq -r '.items[0].metadata.annotations[\"frama.space/occ-commands\"]' | grep -q 'app:disable richdocuments' && echo \"\$occ\" | jq -r '.items[0].metadata.annotations[\"frama.space/occ-commands\"]' | grep -q 'app:enable onlyoffice'"
check "the JWT never appears in the Job" bash -c "! kubectl -n space-office-1 get jobs -o json | grep -qF \"\$(echo '$jwt' | base64 -d)\""
check "Events tell the switch" bash -c \
  "kubectl get events -n default --field-selector involvedObject.name=office-1 -o json | jq -e '[.items[].reason] | index(\"OccJobCreated\") and index(\"OfficeConfigured\")'"
check "collabora-1 counts 6 spaces, onlyoffice-1 counts 1" eventually 60 bash -c \
  "[ \"\$(kubectl get officebackend collabora-1 -o jsonpath='{.status.assignedSpaces}') \$(kubectl get officebackend onlyoffice-1 -o jsonpath='{.status.assignedSpaces}')\" = '6 1' ]"
check "the other spaces never got the JWT" bash -c \
  "for i in 2 3 4 5 6 7; do kubectl -n space-office-\$i get secret nextcloud-credentials -o json | jq -e '.data | has(\"onlyoffice-jwt-secret\") | not' >/dev/null || exit 1; done"

section "office: none"
new_space office-none none
check "a space with office: none is Ready" kubectl wait --for=condition=Ready space/office-none --timeout=120s
check "OfficeReady says Disabled" eventually 60 bash -c "[ \"\$(kubectl get space office-none -o jsonpath='{.status.conditions[?(@.type==\"OfficeReady\")].reason}')\" = Disabled ]"
check_eq "a new space never had an office app: no occ Job" "0" "$(kubectl -n space-office-none get jobs -o name | wc -l)"
check_eq "it has no office backend" "" "$(jsonpath space/office-none '{.status.placement.officeBackend}')"
check "its config enables neither app" bash -c "kubectl -n space-office-none get configmap nextcloud-config -o jsonpath='{.data.office\\.config\\.php}' | grep -q 'online editing is disabled'"
check "switching office-1 (OnlyOffice) to none" kubectl patch space office-1 --type merge -p '{"spec":{"office":"none"}}'
check "OfficeReady of office-1 says Disabled" eventually 60 bash -c "[ \"\$(kubectl get space office-1 -o jsonpath='{.status.conditions[?(@.type==\"OfficeReady\")].reason}')\" = Disabled ]"
check "an occ Job disabled both apps" bash -c \
  "kubectl -n space-office-1 get jobs -l frama.space/occ=office -o json | jq -r '.items[0].metadata.annotations[\"frama.space/occ-commands\"]' | tr '\\n' ' ' | grep -q 'app:disable richdocuments app:disable onlyoffice'"
check "its JWT is removed with its OnlyOffice backend" bash -c "kubectl -n space-office-1 get secret nextcloud-credentials -o json | jq -e '.data | has(\"onlyoffice-jwt-secret\") | not'"
check "onlyoffice-1 counts 0 spaces" eventually 60 bash -c "[ \"\$(kubectl get officebackend onlyoffice-1 -o jsonpath='{.status.assignedSpaces}')\" = 0 ]"

section "scaling down, never below minReplicas"
check "deleting 4 Collabora spaces" kubectl delete space office-2 office-3 office-4 office-5 --wait=true --timeout=120s
check "collabora-1 scales down to 1 replica for its 2 spaces" eventually 60 backend_is collabora-1 "2/1/1/True"
check "minReplicas 2 keeps 2 replicas" kubectl patch officebackend collabora-1 --type merge -p '{"spec":{"scaling":{"minReplicas":2}}}'
check "collabora-1 runs 2 replicas although 1 would do" eventually 60 backend_is collabora-1 "2/2/2/True"
check "backend replicas are exported as metrics" bash -c \
  "curl -sf http://127.0.0.1:$METRICS_PORT/metrics | grep -q 'framaspace_backend_replicas{kind=\"OfficeBackend\",backend=\"collabora-1\",state=\"ready\"} 2'"

section "cleanup"
check "the remaining spaces are deleted" kubectl delete space office-1 office-6 office-7 office-none --wait=true --timeout=120s
kubectl patch officebackend collabora-1 --type merge -p '{"spec":{"scaling":{"spacesPerReplica":50,"minReplicas":1}}}' >/dev/null
stop_process office-operator
summary
