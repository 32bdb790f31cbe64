#!/usr/bin/env bash
# The operator binary against the local control plane: CRDs, examples converging, idempotency,
# refusal of invalid input, repair of drift, crash recovery, suspension and deletion.
. "$(dirname "$0")/lib.sh"

OP_LOG="$STATE_DIR/logs/operator.log"
AUDIT="$STATE_DIR/logs/audit.log"
OP_AGENT="framaspace-operator/"

start_operator() {
  local cmd; mapfile -t cmd < <(operator_command --log-format json --resync-seconds 600 --pool-check-seconds 3 \
    --metrics-address "127.0.0.1:$METRICS_PORT" --identity e2e-operator)
  RUST_LOG=info,framaspace_operator=debug start_process operator "${cmd[@]}"
}
METRICS_PORT=28080
kill_operator() {
  local pid; read -r pid _ < "$STATE_DIR/pids/operator"
  kill -KILL "$pid"; rm -f "$STATE_DIR/pids/operator"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}
jsonpath() { kubectl get "$1" -o "jsonpath=$2" 2>/dev/null; }
phase() { jsonpath "space/$1" '{.status.phase}'; }
ready_reason() { jsonpath "space/$1" '{.status.conditions[?(@.type=="Ready")].reason}'; }
reconciles() { grep -c "\"message\":\"reconciled\".*\"space\":\"$1\"" "$OP_LOG" 2>/dev/null || true; }
# Every object of a space with its resourceVersion, one per line, sorted.
children_versions() {
  local ns=space-$1
  { kubectl get namespace "$ns" -o jsonpath='{.kind}/{.metadata.name} {.metadata.resourceVersion}{"\n"}'
    kubectl -n "$ns" get secret,configmap,deployment,service,ingress,networkpolicy,resourcequota,limitrange \
      -l app.kubernetes.io/managed-by=framaspace-operator \
      -o jsonpath='{range .items[*]}{.kind}/{.metadata.name} {.metadata.resourceVersion}{"\n"}{end}'
  } | sort
}
reconciled_since() { test "$(reconciles "$1")" -gt "$2"; }
phase_is() { test "$(phase "$1")" = "$2"; }
operator_writes() { grep -c "\"userAgent\":\"$OP_AGENT" "$AUDIT" 2>/dev/null || true; }
credentials_digest() { kubectl -n "space-$1" get secret nextcloud-credentials -o json | jq -cS .data | sha256sum | cut -d' ' -f1; }

section "installation"
check "helm install of the chart (CRDs, admission policy, RBAC; no pod) serves" "$E2E_DIR/install.sh"
for crd in associationspaces spaceclasses databasepools cachepools storagepools officebackends previewbackends talkbackends; do
  check "CRD $crd.frama.space is Established" kubectl wait --for=condition=Established "crd/$crd.frama.space" --timeout=30s
done
check "kubectl explain documents the fields" bash -c "kubectl explain space.spec.quota | grep -q 'shared by all accounts'"
check "the admission policy type-checks" bash -c "kubectl get validatingadmissionpolicy associationspace-class-limits.frama.space -o json | jq -e '(.status.typeChecking.expressionWarnings // []) | length == 0'"

check "the pools' admin Secrets are created in framaspace-system" "$E2E_DIR/admin-secrets.sh"
start_operator
section "examples converge"
check "kubectl apply -k examples/ (the GitOps path)" kubectl apply -k "$REPO_DIR/examples/"
for s in collectif-velo jardins-partages; do
  check "kubectl wait --for=condition=Ready space/$s" kubectl wait --for=condition=Ready "space/$s" --timeout=120s
  check_eq "space/$s is in phase Ready" "Ready" "$(phase "$s")"
  check_eq "space/$s reports its URL" "https://$s.frama.space" "$(jsonpath "space/$s" '{.status.url}')"
  for obj in secret/nextcloud-credentials configmap/nextcloud-config deployment/nextcloud service/nextcloud \
             ingress/nextcloud networkpolicy/nextcloud resourcequota/space-quota limitrange/space-limits; do
    check "space/$s has $obj" kubectl -n "space-$s" get "$obj"
  done
  check_eq "the namespace of $s is owned by the space" "AssociationSpace/$s" "$(jsonpath "namespace/space-$s" '{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}')"
  node=$(kubectl -n "space-$s" get pods -l app.kubernetes.io/name=nextcloud -o jsonpath='{.items[0].spec.nodeName}')
  check_eq "the Nextcloud pod of $s runs on a web node" "web" "$(jsonpath "node/$node" '{.metadata.labels.frama\.space/node-pool}')"
  keys=10; [ "$s" = jardins-partages ] && keys=11   # + the OnlyOffice JWT of its backend
  check_eq "the credentials Secret of $s holds its $keys keys (6 generated, the S3 key pair, its TalkBackend's TURN secret and its own signaling secret, the JWT for OnlyOffice)" "$keys" "$(kubectl -n "space-$s" get secret nextcloud-credentials -o json | jq '.data | length')"
  check_eq "space/$s is Placed with its database, cache and bucket provisioned" "True True True True" \
    "$(jsonpath "space/$s" '{.status.conditions[?(@.type=="Placed")].status} {.status.conditions[?(@.type=="DatabaseReady")].status} {.status.conditions[?(@.type=="CacheReady")].status} {.status.conditions[?(@.type=="StorageReady")].status}')"
done
check_eq "the spec quota wins over the class default" "20Gi" "$(jsonpath space/collectif-velo '{.status.quota}')"
check_eq "the class default fills an empty quota" "40Gi" "$(jsonpath space/jardins-partages '{.status.quota}')"
check_eq "spec.office is honoured" "onlyoffice" "$(jsonpath space/jardins-partages '{.status.office}')"
check "the Ingress carries the class's TLS issuer" bash -c "kubectl -n space-collectif-velo get ingress nextcloud -o json | jq -e '.metadata.annotations[\"cert-manager.io/cluster-issuer\"] == \"letsencrypt\" and .spec.tls[0].hosts[0] == \"collectif-velo.frama.space\"'"
check "the config sets the account limit of the space (its 25 people and the operator's admin)" bash -c "kubectl -n space-collectif-velo get configmap nextcloud-config -o jsonpath='{.data.framaspace\.config\.php}' | grep -q \"'one-click-instance.user-limit' => 26,\""
class_counts() { test "$(jsonpath "spaceclass/$1" '{.status.spaces}/{.status.conditions[?(@.type=="Ready")].status}')" = "$2/True"; }
check "SpaceClass standard counts its 2 spaces and is Ready" eventually 60 class_counts standard 2
# What Framaspace promises, on the example spaces as a platform engineer applies them: the apps
# Nextcloud reports enabled (the last occ Job's app:list) and Talk wired to the example TalkBackend.
promised() {
  kubectl get space "$1" -o json | jq -e '
    (.status.apps.enabled // []) as $e
    | all("calendar", "contacts", "deck", "collectives", "circles", "text", "spreed"; . as $a | $e | index($a))
    and .status.features.shown == "8/8"
    and .status.placement.talkBackend == "turn-1"
    and ([.status.conditions[] | select(.type == "TalkReady") | .reason] == ["Configured"])' >/dev/null
}
for s in collectif-velo jardins-partages; do
  check "space/$s reports calendar, contacts, deck, collectives and spreed enabled, Talk wired to turn-1, 8/8 features" eventually 90 promised "$s"
done
check "an Event tells the space is ready" bash -c "kubectl get events -n default --field-selector involvedObject.name=collectif-velo -o json | jq -e '[.items[] | select(.reason==\"SpaceReady\")] | length >= 1'"

section "GitOps tools and the operator do not fight"
check "a GitOps server-side apply of a space succeeds without conflict" \
  kubectl apply --server-side --field-manager=flux -f "$REPO_DIR/examples/space-collectif-velo.yaml"
check_eq "the operator's finalizer survives it" "frama.space/cleanup" "$(jsonpath space/collectif-velo '{.metadata.finalizers[0]}')"
check "the operator never owns a spec field" bash -c "! kubectl get space collectif-velo --show-managed-fields -o json | jq -e '.metadata.managedFields[] | select(.manager == \"framaspace-operator\") | .fieldsV1 | has(\"f:spec\")'"
check "the space stays Ready" kubectl wait --for=condition=Ready space/collectif-velo --timeout=30s

section "a reconcile with nothing changed writes nothing"
s=collectif-velo
sleep 2   # let the last status writes of the start-up settle
before=$(children_versions $s)
count=$(reconciles $s)
kubectl annotate space $s e2e.frama.space/poke="$(date +%s%N)" --overwrite >/dev/null
space_rv=$(jsonpath space/$s '{.metadata.resourceVersion}')
writes_before=$(operator_writes)
check "the operator reconciled $s again" eventually 30 reconciled_since $s "$count"
check_eq "no child's resourceVersion changed" "$before" "$(children_versions $s)"
check_eq "the space's status was not rewritten (resourceVersion unchanged)" "$space_rv" "$(jsonpath space/$s '{.metadata.resourceVersion}')"
check_eq "the API server's audit log shows no write by the operator" "$writes_before" "$(operator_writes)"

section "invalid manifests are refused and create nothing"
spaces_before=$(kubectl get spaces -o name | sort)
namespaces_before=$(kubectl get namespaces -l app.kubernetes.io/managed-by=framaspace-operator -o name | sort)
for f in "$E2E_DIR"/tests/invalid/*.yaml; do
  expect=$(sed -n 's/^# expect: //p' "$f")
  what=$(basename "$f" .yaml | cut -d- -f2- | tr - ' ')
  if out=$(kubectl apply -f "$f" 2>&1); then
    fail "refused: $what" "the API server accepted it: $out"
  elif grep -qF -- "$expect" <<<"$out"; then
    pass "refused: $what"
  else
    fail "refused: $what (with a message naming the field)" "expected: $expect" "got:      $out"
  fi
done
out=$(kubectl patch space jardins-partages --type merge -p '{"spec":{"spaceClassName":"premium"}}' 2>&1) && fail "refused: change of spaceClassName" "$out" || \
  { grep -qF "spec.spaceClassName is immutable" <<<"$out" && pass "refused: change of the immutable spec.spaceClassName" || fail "refused: change of spaceClassName" "$out"; }
out=$(kubectl patch space collectif-velo --type merge -p '{"spec":{"spaceClassName":"standard"}}' 2>&1) && fail "refused: adding spaceClassName later" "$out" || \
  { grep -qF "spec.spaceClassName cannot be added or removed" <<<"$out" && pass "refused: adding spaceClassName after creation" || fail "refused: adding spaceClassName" "$out"; }
out=$(kubectl apply -f - 2>&1 <<'YAML'
apiVersion: frama.space/v1alpha1
kind: SpaceClass
metadata: { name: broken }
spec:
  baseDomain: frama.space
  nextcloud: { version: 33.0.7 }
  limits: { maxQuota: 10Gi, defaultQuota: 40Gi, maxAccounts: 50, defaultMaxAccounts: 50 }
YAML
) && fail "refused: a class whose default quota exceeds its maximum" "$out" || \
  { grep -qF "limits.defaultQuota must not exceed limits.maxQuota" <<<"$out" && pass "refused: a class whose default quota exceeds its maximum" || fail "refused: class limits" "$out"; }
# Hostile class values that would break every space of the class (issue 15, items 1 and 13).
refused_class() {
  local what=$1 expect=$2 spec=$3 out
  if out=$(kubectl apply -f - 2>&1 <<YAML
apiVersion: frama.space/v1alpha1
kind: SpaceClass
metadata: { name: hostile }
spec:
  nextcloud: { version: 33.0.7 }
$spec
YAML
); then
    fail "refused: a class with $what" "the API server accepted it: $out"; kubectl delete spaceclass hostile --wait=false >/dev/null 2>&1
  elif grep -qF -- "$expect" <<<"$out"; then pass "refused: a class with $what"
  else fail "refused: a class with $what" "expected: $expect" "got:      $out"; fi
}
limits='  limits: { maxQuota: 10Gi, defaultQuota: 1Gi, maxAccounts: 50, defaultMaxAccounts: 50 }'
refused_class "a node selector key 'bad key!'" "placement.nodeSelector: each key must be a label key" \
  "  baseDomain: hostile.example
$limits
  placement: { nodeSelector: { 'bad key!': web } }"
refused_class "a namespace quota 'pods: abc'" "spec.namespaceQuota: each value must be a quantity" \
  "  baseDomain: hostile.example
$limits
  namespaceQuota: { pods: abc }"
refused_class "an ingress class 'x y'" "spec.ingress.className in body should match" \
  "  baseDomain: hostile.example
$limits
  ingress: { className: 'x y' }"
refused_class "a maxQuota of 99999Pi" "limits.maxQuota must be at most 1Pi" \
  "  baseDomain: hostile.example
  limits: { maxQuota: 99999Pi, defaultQuota: 1Gi, maxAccounts: 50, defaultMaxAccounts: 50 }"
refused_class "a defaultQuota of half a byte" "limits.defaultQuota must be at least 1Mi" \
  "  baseDomain: hostile.example
  limits: { maxQuota: 10Gi, defaultQuota: '0.5', maxAccounts: 50, defaultMaxAccounts: 50 }"
refused_class "an IP address for a base domain" "spec.baseDomain must end in a top-level domain that starts with a letter" \
  "  baseDomain: 127.0.0.1
$limits"
check_eq "no space was created by the refused manifests" "$spaces_before" "$(kubectl get spaces -o name | sort)"
check_eq "no namespace was created by the refused manifests" "$namespaces_before" "$(kubectl get namespaces -l app.kubernetes.io/managed-by=framaspace-operator -o name | sort)"
# class_and_space CLASS DOMAIN SPACE SPACE-CLASS: a class on DOMAIN, and a space SPACE of SPACE-CLASS.
class_and_space() {
  kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: SpaceClass
metadata: { name: $1 }
spec:
  baseDomain: $2
  nextcloud: { version: 33.0.7 }
$limits
---
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: $3 }
spec: { displayName: "Domain $3", contactEmail: "x@$3.example", spaceClassName: $4 }
YAML
}
class_and_space under-velo collectif-velo.frama.space under-velo-1 under-velo
check "a class under another space's host (collectif-velo.frama.space): Ready=False BaseDomainUnderSpace" eventually 30 bash -c \
  "[ \"\$(kubectl get spaceclass under-velo -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}')\" = BaseDomainUnderSpace ]"
check "and its spaces are refused with the reason, nothing created" eventually 30 bash -c \
  "[ \"\$(kubectl get space under-velo-1 -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}')\" = BaseDomainUnderSpace ] && ! kubectl get namespace space-under-velo-1 >/dev/null 2>&1"
kubectl delete space under-velo-1 --timeout=30s >/dev/null 2>&1; kubectl delete spaceclass under-velo --timeout=30s >/dev/null 2>&1
class_and_space sub-domain sub-domain.frama.space sub-domain standard
check "a new space whose host would be a class's domain (sub-domain.frama.space): refused, HostAboveClassDomain" eventually 30 bash -c \
  "[ \"\$(kubectl get space sub-domain -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}')\" = HostAboveClassDomain ] && ! kubectl get namespace space-sub-domain >/dev/null 2>&1"
check "and that class, with no space above it, stays Ready" eventually 30 bash -c \
  "[ \"\$(kubectl get spaceclass sub-domain -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}')\" = Valid ]"
kubectl delete space sub-domain --timeout=30s >/dev/null 2>&1; kubectl delete spaceclass sub-domain --timeout=30s >/dev/null 2>&1

section "drift is repaired"
ns=space-collectif-velo
image=$(kubectl -n $ns get deployment nextcloud -o jsonpath='{.spec.template.spec.containers[0].image}')
svc_uid=$(kubectl -n $ns get service nextcloud -o jsonpath='{.metadata.uid}')
admin_pw=$(kubectl -n $ns get secret nextcloud-credentials -o jsonpath='{.data.admin-password}')
kubectl -n $ns delete service nextcloud >/dev/null
check "a deleted Service is re-created" eventually 30 bash -c "u=\$(kubectl -n $ns get service nextcloud -o jsonpath='{.metadata.uid}') && [ -n \"\$u\" ] && [ \"\$u\" != $svc_uid ]"
kubectl -n $ns set image deployment/nextcloud nextcloud=registry.invalid/tampered:1 >/dev/null
check "an edited Deployment image is restored" eventually 30 bash -c "[ \"\$(kubectl -n $ns get deployment nextcloud -o jsonpath='{.spec.template.spec.containers[0].image}')\" = '$image' ]"
kubectl -n $ns scale deployment nextcloud --replicas=3 >/dev/null
check "a scaled Deployment is set back to 1 replica" eventually 30 bash -c "[ \"\$(kubectl -n $ns get deployment nextcloud -o jsonpath='{.spec.replicas}')\" = 1 ]"
kubectl -n $ns patch configmap nextcloud-config --type merge -p '{"data":{"framaspace.config.php":"<?php // tampered"}}' >/dev/null
check "an edited config fragment is restored" eventually 30 bash -c "kubectl -n $ns get configmap nextcloud-config -o jsonpath='{.data.framaspace\.config\.php}' | grep -q trusted_domains"
pods=$(kubectl -n $ns get resourcequota space-quota -o jsonpath='{.spec.hard.pods}')
kubectl -n $ns patch resourcequota space-quota --type merge -p '{"spec":{"hard":{"pods":"99"}}}' >/dev/null
check "an edited ResourceQuota is restored to $pods pods (its usage churns; its spec is compared by content)" eventually 30 bash -c "[ \"\$(kubectl -n $ns get resourcequota space-quota -o jsonpath='{.spec.hard.pods}')\" = '$pods' ]"
kubectl -n $ns patch secret nextcloud-credentials --type json -p '[{"op":"remove","path":"/data/redis-password"}]' >/dev/null
# Secrets are not watched (that would need the right to read every Secret of the cluster): the
# next reconcile of the space repairs them, here triggered by an edit, otherwise by the resync.
kubectl annotate space collectif-velo --overwrite e2e.frama.space/poke="$(date +%s%N)" >/dev/null
check "a credential removed from the Secret is generated again at the next reconcile" eventually 30 bash -c "[ -n \"\$(kubectl -n $ns get secret nextcloud-credentials -o jsonpath='{.data.redis-password}')\" ]"
check_eq "the other credentials are kept, never regenerated" "$admin_pw" "$(kubectl -n $ns get secret nextcloud-credentials -o jsonpath='{.data.admin-password}')"
check "the space is Ready after the repairs" kubectl wait --for=condition=Ready space/collectif-velo --timeout=60s
salt=$(kubectl -n $ns get secret nextcloud-credentials -o jsonpath='{.data.nextcloud-passwordsalt}')
kubectl -n $ns patch secret nextcloud-credentials --type json -p '[{"op":"remove","path":"/data/nextcloud-passwordsalt"}]' >/dev/null
kubectl annotate space collectif-velo --overwrite e2e.frama.space/poke="$(date +%s%N)" >/dev/null
check "Nextcloud's identity taken from an installed space's Secret is not made up again: IdentityLost" eventually 30 bash -c \
  "[ \"\$(kubectl get space collectif-velo -o jsonpath='{.status.conditions[?(@.type==\"WorkloadReady\")].reason}')\" = IdentityLost ]"
check_eq "the Secret still lacks it: no new salt" "" "$(kubectl -n $ns get secret nextcloud-credentials -o jsonpath='{.data.nextcloud-passwordsalt}')"
check "a Warning Event names it and the two ways out" bash -c \
  "kubectl get events -n default --field-selector involvedObject.name=collectif-velo,reason=IdentityLost -o jsonpath='{.items[0].type} {.items[0].note}{.items[0].message}' | grep -q '^Warning .*nextcloud-passwordsalt.*frama.space/new-identity=accept'"
kubectl -n $ns patch secret nextcloud-credentials --type json -p "[{\"op\":\"add\",\"path\":\"/data/nextcloud-passwordsalt\",\"value\":\"$salt\"}]" >/dev/null
kubectl annotate space collectif-velo --overwrite e2e.frama.space/poke="$(date +%s%N)" >/dev/null
check "the value restored from a backup: Ready again, with that value" bash -c \
  "kubectl wait --for=condition=Ready space/collectif-velo --timeout=60s >/dev/null && [ \"\$(kubectl -n $ns get secret nextcloud-credentials -o jsonpath='{.data.nextcloud-passwordsalt}')\" = '$salt' ]"

section "SIGKILL during provisioning, then restart"
digest=$(credentials_digest collectif-velo)
RESTART=20
for i in $(seq 1 $RESTART); do
  printf -- '---\napiVersion: frama.space/v1alpha1\nkind: AssociationSpace\nmetadata: { name: restart-%s }\nspec: { displayName: "Restart %s", contactEmail: "a%s@restart.example" }\n' "$i" "$i" "$i"
done | kubectl apply -f - >/dev/null
first_namespace() { kubectl get namespaces -l 'frama.space/space in (restart-1,restart-2,restart-3,restart-4,restart-5)' -o name | grep -q .; }
eventually 30 first_namespace
kill_operator
provisioned=$(kubectl get deployments -A -l app.kubernetes.io/managed-by=framaspace-operator -o name | grep -c restart || true)
echo "       (SIGKILL with $provisioned of $RESTART new Deployments written)"
start_operator
for i in $(seq 1 $RESTART); do
  kubectl wait --for=condition=Ready "space/restart-$i" --timeout=120s >/dev/null 2>&1 || fail "restart-$i converges to Ready after the restart"
done
check_eq "all $RESTART spaces created around the crash are Ready" "$RESTART" "$(kubectl get spaces -o json | jq '[.items[] | select(.metadata.name | startswith("restart-")) | select(.status.phase == "Ready")] | length')"
spaces=$(kubectl get spaces -o name | wc -l)
check_eq "one namespace per space, no orphan" "$spaces" "$(kubectl get namespaces -l app.kubernetes.io/managed-by=framaspace-operator -o name | wc -l)"
check_eq "one Deployment per space, no duplicate" "$spaces" "$(kubectl get deployments -A -l frama.space/space -o name | wc -l)"
check_eq "one credentials Secret per space" "$spaces" "$(kubectl get secrets -A -l frama.space/space -o name | wc -l)"
check "one ReplicaSet per new space" bash -c "for i in \$(seq 1 $RESTART); do [ \$(kubectl -n space-restart-\$i get replicasets -o name | wc -l) = 1 ] || exit 1; done"
check_eq "credentials survive the restart unchanged" "$digest" "$(credentials_digest collectif-velo)"

section "suspension"
kubectl patch space restart-1 --type merge -p '{"spec":{"suspended":true}}' >/dev/null
check "suspended: true gives phase Suspended" eventually 60 phase_is restart-1 Suspended
check_eq "the Deployment has 0 replicas" "0" "$(kubectl -n space-restart-1 get deployment nextcloud -o jsonpath='{.spec.replicas}')"
no_pods() { test -z "$(kubectl -n "$1" get pods -l app.kubernetes.io/name=nextcloud -o name)"; }
check "its pods are gone" eventually 60 no_pods space-restart-1
check_eq "the Ready condition says why" "Suspended" "$(ready_reason restart-1)"
check "the Secret and config are kept" kubectl -n space-restart-1 get secret/nextcloud-credentials configmap/nextcloud-config
kubectl patch space restart-1 --type merge -p '{"spec":{"suspended":false}}' >/dev/null
check "suspended: false brings it back to Ready" kubectl wait --for=condition=Ready space/restart-1 --timeout=90s
check_eq "with 1 replica" "1" "$(kubectl -n space-restart-1 get deployment nextcloud -o jsonpath='{.spec.replicas}')"

section "a space whose class does not exist yet waits, then converges"
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: late-class }
spec: { displayName: Late, contactEmail: late@example.org, spaceClassName: premium }
YAML
check "it is Pending with reason ClassNotFound" eventually 30 bash -c "[ \"\$(kubectl get space late-class -o jsonpath='{.status.phase}/{.status.conditions[?(@.type==\"Ready\")].reason}')\" = Pending/ClassNotFound ]"
check "nothing is created for it meanwhile" bash -c "! kubectl get namespace space-late-class"
sed -e 's/name: standard/name: premium/' -e 's/default: true/default: false/' -e 's/baseDomain: frama.space/baseDomain: premium.frama.space/' \
  "$REPO_DIR/examples/spaceclass-standard.yaml" | kubectl apply -f - >/dev/null
check "it becomes Ready once the class exists" kubectl wait --for=condition=Ready space/late-class --timeout=90s
check_eq "under the class's domain" "https://late-class.premium.frama.space" "$(jsonpath space/late-class '{.status.url}')"

section "a namespace the space did not create is never taken"
kubectl create namespace space-not-mine >/dev/null
kubectl -n space-not-mine create secret generic admin-things --from-literal=token=admin-e2e-7c1d >/dev/null
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: not-mine }
spec: { displayName: Not mine, contactEmail: x@not-mine.example }
YAML
check "a space named after an admin's namespace: WorkloadReady=False NamespaceConflict" eventually 30 bash -c \
  "[ \"\$(kubectl get space not-mine -o jsonpath='{.status.conditions[?(@.type==\"WorkloadReady\")].reason}')\" = NamespaceConflict ]"
check "the message says whose it is and what to do" bash -c \
  "kubectl get space not-mine -o jsonpath='{.status.conditions[?(@.type==\"WorkloadReady\")].message}' | grep -q 'namespace space-not-mine exists and was not created for this space (not labelled by framaspace-operator)'"
check "nothing is written there: no owner, no operator label, no RoleBinding, no ConfigMap" bash -c \
  "[ -z \"\$(kubectl get namespace space-not-mine -o jsonpath='{.metadata.ownerReferences}{.metadata.labels.frama\\.space/space}')\" ] && [ -z \"\$(kubectl -n space-not-mine get rolebindings,configmaps,deployments -l app.kubernetes.io/managed-by=framaspace-operator -o name)\" ]"
check "deleting the space leaves the namespace and its Secret" bash -c \
  "kubectl delete space not-mine --timeout=60s >/dev/null && sleep 3 && [ \"\$(kubectl -n space-not-mine get secret admin-things -o jsonpath='{.data.token}' | base64 -d)\" = admin-e2e-7c1d ]"
kubectl delete namespace space-not-mine --wait=false >/dev/null 2>&1

section "deletion"
check "deleting a space completes (the finalizer is released)" kubectl delete space restart-2 --wait=true --timeout=120s
check "its namespace is collected with it" eventually 60 bash -c "! kubectl get namespace space-restart-2"
check "no object of it remains" bash -c "[ -z \"\$(kubectl get all,secrets,configmaps -A -l frama.space/space=restart-2 -o name)\" ]"
check "the operator log has no secret value" bash -c "! grep -qF \"\$(kubectl -n space-collectif-velo get secret nextcloud-credentials -o jsonpath='{.data.admin-password}' | base64 -d)\" '$OP_LOG'"

. "$E2E_DIR/tests/backing.sh"

section "metrics and probes"
METRICS="http://127.0.0.1:$METRICS_PORT"
check_eq "/healthz answers ok" "ok" "$(curl -sf "$METRICS/healthz")"
check_eq "/readyz answers ok once the caches are synced" "ok" "$(curl -sf "$METRICS/readyz")"
curl -sf "$METRICS/metrics" > "$STATE_DIR/metrics.txt"
check "/metrics passes promtool check metrics" bash -c "promtool check metrics < '$STATE_DIR/metrics.txt'"
metric() { grep -F "$1" "$STATE_DIR/metrics.txt" | grep -v '^#' | awk '{print $NF}' | head -1; }
check "successful space reconciles are counted" test "$(metric 'framaspace_reconciles_total{controller="space",result="success"}' | cut -d. -f1)" -gt 0
ready_spaces=$(kubectl get spaces -o json | jq '[.items[] | select(.status.phase == "Ready")] | length')
ready_metric_is() { test "$(curl -sf "$METRICS/metrics" | grep -F 'framaspace_spaces{phase="Ready"}' | awk '{print $NF}' | cut -d. -f1)" = "$1"; }
check "framaspace_spaces{phase=\"Ready\"} counts the $ready_spaces Ready spaces" eventually 30 ready_metric_is "$ready_spaces"
check_eq "pool health is exported" "1" "$(metric 'framaspace_pool_ready{kind="DatabasePool",pool="pg-1"}')"
check "external calls are timed by system and operation" test -n "$(metric 'framaspace_external_call_duration_seconds_count{system="postgres",operation="ensure"}')"
check "the PostgreSQL outage was counted as errors" test -n "$(metric 'framaspace_external_call_errors_total{system="postgres",operation="health",reason="PoolUnreachable"}')"
check "no label carries a space name but the bounded top list's" bash -c "! grep -v '^#' '$STATE_DIR/metrics.txt' | grep -v '^framaspace_space_usage_top_ratio{' | grep -q 'collectif-velo'"
check "the top list names at most ten spaces per resource" bash -c "for r in storage accounts; do [ \$(grep -c \"^framaspace_space_usage_top_ratio{resource=\\\"\$r\\\"\" '$STATE_DIR/metrics.txt') -le 10 ] || exit 1; done"
check_eq "the operator reports that it leads" "1" "$(metric 'framaspace_leader ')"
check "process memory and CPU are exported" bash -c "grep -q '^process_resident_memory_bytes [1-9]' '$STATE_DIR/metrics.txt' && grep -q '^process_cpu_seconds_total ' '$STATE_DIR/metrics.txt'"
# Every series the Grafana dashboard and the alert rules query must exist in a real scrape.
CHART_FILES="$REPO_DIR/charts/framaspace-operator/files"
used_names=$(cat "$CHART_FILES/dashboard.json" "$CHART_FILES/alerts.yaml" | grep -oE '\b(framaspace|process)_[a-z_]+' | sort -u)
check "the dashboard and the alerts query some metrics ($(echo "$used_names" | wc -l))" test "$(echo "$used_names" | wc -l)" -ge 10
for name in $used_names; do
  check "$name (dashboard/alerts) exists in the scrape" grep -qE "^$name(\{| )" "$STATE_DIR/metrics.txt"
done

# Last: it restarts the operator (a SIGKILL during a takeover), which resets the counters above.
. "$E2E_DIR/tests/adoption.sh"

stop_process operator
summary
