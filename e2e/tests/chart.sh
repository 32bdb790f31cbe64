#!/usr/bin/env bash
# The Helm chart as platform engineers use it: lint, render, server dry-run, install (with two
# replicas under the restricted Pod Security Standard); the operator's least privilege, the signup
# portal's role, and leader election between two operator processes, with traces exported.
. "$(dirname "$0")/lib.sh"

CHART="$REPO_DIR/charts/framaspace-operator"
NS=framaspace-system
SA="system:serviceaccount:$NS:framaspace-operator"
PORTAL="system:serviceaccount:signup:portal"
OP_KUBECONFIG="$STATE_DIR/operator.kubeconfig"

section "lint and render"
check "helm lint --strict" helm lint --strict "$CHART"
all_options=(--set metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true,portal.serviceAccount=signup/portal)
check "helm template renders with every option" bash -c "helm template framaspace-operator '$CHART' -n $NS --kube-version $KUBERNETES_VERSION ${all_options[*]} > '$STATE_DIR/chart.yaml'"
check_eq "it renders the CRDs, RBAC (the platform engineers' role too), Deployments, Services and PDBs (the operator's, the wake component's), ServiceMonitor, PrometheusRule, dashboard and the admission policies (class limits, re-attach, hold-upgrade, wake-only, operator scope, version path, secret references)" \
  "ClusterRole:5 ClusterRoleBinding:3 ConfigMap:1 CustomResourceDefinition:9 Deployment:2 PodDisruptionBudget:2 PrometheusRule:1 Role:1 RoleBinding:1 Service:2 ServiceAccount:2 ServiceMonitor:1 ValidatingAdmissionPolicy:7 ValidatingAdmissionPolicyBinding:7" \
  "$(grep '^kind:' "$STATE_DIR/chart.yaml" | sort | uniq -c | awk '{printf "%s%s:%s", sep, $3, $1; sep=" "}')"
helm template framaspace-operator "$CHART" -n $NS --kube-version "$KUBERNETES_VERSION" --show-only templates/prometheusrule.yaml "${all_options[@]}" \
  | sed -n '/^spec:/,$p' | tail -n +2 | sed 's/^  //' > "$STATE_DIR/rules.yaml"
check "the PrometheusRule's rules pass promtool check rules" promtool check rules "$STATE_DIR/rules.yaml"
check "files/alerts.yaml passes promtool check rules" promtool check rules "$CHART/files/alerts.yaml"
check "the dashboard is valid JSON with panels" bash -c "helm template x '$CHART' --kube-version $KUBERNETES_VERSION --show-only templates/dashboard.yaml | grep -q 'grafana_dashboard: \"1\"' && jq -e '.panels | length > 10' '$CHART/files/dashboard.json'"
check "more than one replica without leader election is refused" bash -c \
  "helm template x '$CHART' --kube-version $KUBERNETES_VERSION --set operator.leaderElection.enabled=false 2>&1 | grep -q 'two leaders would fight'"

section "install into the local control plane"
check "helm install (CRDs, admission policy, RBAC) succeeds and serves" "$E2E_DIR/install.sh"
check "admin Secrets of the pools" "$E2E_DIR/admin-secrets.sh"
check "pools and class of examples/" kubectl apply -f "$REPO_DIR/examples/pools.yaml" -f "$REPO_DIR/examples/spaceclass-standard.yaml"
check "the rendered chart passes kubectl apply --dry-run=server" bash -c \
  "helm template framaspace-operator '$CHART' -n $NS --kube-version $KUBERNETES_VERSION --set portal.serviceAccount=signup/portal | kubectl apply --dry-run=server -f - >/dev/null"
check "the CRDs survive a chart uninstall (helm.sh/resource-policy: keep)" bash -c \
  "[ \"\$(kubectl get crd -o json | jq '[.items[] | select(.spec.group == \"frama.space\") | select(.metadata.annotations[\"helm.sh/resource-policy\"] == \"keep\")] | length')\" = 9 ]"
kubectl create namespace chart-ha --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl label namespace chart-ha --overwrite pod-security.kubernetes.io/enforce=restricted >/dev/null
check "helm install --wait of a 2-replica release in a namespace enforcing the restricted Pod Security Standard" \
  helm upgrade --install ha "$CHART" -n chart-ha --set crds.install=false,admissionPolicy.enabled=false,portal.rbac.create=false --wait --timeout 120s
check_eq "its two operator pods are Ready" "2" "$(kubectl -n chart-ha get deployment ha-framaspace-operator -o jsonpath='{.status.readyReplicas}')"
check_eq "and its two wake component pods" "2" "$(kubectl -n chart-ha get deployment ha-framaspace-operator-wake -o jsonpath='{.status.readyReplicas}')"
check "the pods (the operator's, the wake component's) run as non-root with a read-only root file system, no privilege escalation and no capability" bash -c \
  "kubectl -n chart-ha get pods -l app.kubernetes.io/instance=ha -o json | jq -e '[.items[].spec | .securityContext.runAsNonRoot == true and (.containers[0].securityContext | .readOnlyRootFilesystem == true and .allowPrivilegeEscalation == false and .capabilities.drop == [\"ALL\"])] | length == 4 and all'"
check "helm uninstall of that release" helm uninstall ha -n chart-ha --wait --timeout 60s
kubectl delete namespace chart-ha --wait=false >/dev/null 2>&1

section "the operator's rights are the least it needs"
can() { kubectl auth can-i "$@" 2>/dev/null; }
WAKE_SA="system:serviceaccount:$NS:framaspace-wake"
check_eq "the wake component reads and patches spaces, and may do nothing else (list, patch; no create, delete, Secret)" "yes yes no no no no" \
  "$(can list associationspaces --as "$WAKE_SA") $(can patch associationspaces --as "$WAKE_SA") $(can create associationspaces --as "$WAKE_SA") $(can delete associationspaces --as "$WAKE_SA") $(can get secrets -n $NS --as "$WAKE_SA") $(can patch associationspaces --subresource=status --as "$WAKE_SA")"
check_eq "it cannot read Secrets in kube-system" "no" "$(can get secrets -n kube-system --as "$SA")"
check_eq "it cannot list Secrets cluster-wide" "no" "$(can list secrets --all-namespaces --as "$SA")"
check "a real request for a Secret of another namespace is refused (Forbidden)" bash -c \
  "kubectl --kubeconfig '$OP_KUBECONFIG' get secrets -n kube-system 2>&1 | grep -q Forbidden"
check_eq "it reads the admin Secrets of its own namespace" "yes" "$(can list secrets -n $NS --as "$SA")"
check_eq "it cannot delete a namespace (the garbage collector deletes a space's)" "no" "$(can delete namespaces --as "$SA")"
check_eq "it cannot create pods" "no" "$(can create pods -n default --as "$SA")"
check_eq "it cannot bind cluster-admin" "no" "$(can bind clusterrole/cluster-admin --as "$SA")"
check_eq "it can bind only the space-secrets role" "yes" "$(can bind clusterrole/framaspace-operator-space-secrets --as "$SA")"
check_eq "it cannot update a space's spec" "no" "$(can update associationspaces --as "$SA")"
# What its ClusterRole allows anywhere, the admission policy holds to the spaces' namespaces and its own.
refused_outside() {
  local out
  out=$(kubectl --kubeconfig "$OP_KUBECONFIG" "$@" 2>&1) && { echo "accepted: $out"; return 1; }
  grep -q 'the operator writes only in the namespaces of spaces' <<<"$out" || { echo "$out"; return 1; }
}
check "with its token, binding the space-secrets role in kube-system is refused (admission policy)" refused_outside \
  -n kube-system create rolebinding stolen --clusterrole=framaspace-operator-space-secrets --serviceaccount="$NS:framaspace-operator"
check "creating a Job in kube-system is refused" refused_outside -n kube-system create job stolen --image=registry.invalid/x:1
check "creating a Deployment in kube-system is refused" refused_outside -n kube-system create deployment stolen --image=registry.invalid/x:1
check "writing a ConfigMap in kube-system is refused" refused_outside -n kube-system create configmap stolen --from-literal=a=b
check "patching the kube-system namespace is refused" refused_outside label namespace kube-system stolen=yes
# It deletes a space's Ingress or HTTPRoute when its class moves between Ingress and Gateway API.
kubectl -n kube-system create ingress e2e-foreign --rule="foreign.example/*=foreign:80" >/dev/null
check "deleting an Ingress in kube-system is refused" refused_outside -n kube-system delete ingress e2e-foreign
kubectl -n kube-system delete ingress e2e-foreign --ignore-not-found >/dev/null
check "creating an HTTPRoute in kube-system is refused" refused_outside -n kube-system create -f - <<'YAML'
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: stolen }
spec: { hostnames: [stolen.example], rules: [{ backendRefs: [{ name: kubernetes, port: 443 }] }] }
YAML
check "creating a namespace that is no space's, even labelled managed-by, is refused" bash -c \
  "kubectl --kubeconfig '$OP_KUBECONFIG' create -f - 2>&1 <<'YAML' | grep -q 'the operator creates only the namespaces of spaces'
apiVersion: v1
kind: Namespace
metadata: { name: ingress-stolen, labels: { app.kubernetes.io/managed-by: framaspace-operator } }
YAML"
check_eq "and it does not exist" "" "$(kubectl get namespace ingress-stolen -o name 2>/dev/null)"
# It may create and delete spaces only as restores need: the clone a SpaceRestore asks for, the
# scratch clone of a restore test (rt-<hex>, cloned from a space).
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: chart-kept }
spec: { displayName: Kept, contactEmail: admin@kept.example, deletionPolicy: Retain }
YAML
check "with its token, deleting an association's space is refused (admission policy)" bash -c \
  "kubectl --kubeconfig '$OP_KUBECONFIG' delete space chart-kept 2>&1 | grep -q 'deletes only the scratch clones of restore tests'"
check "creating a space no SpaceRestore asked for is refused" bash -c \
  "kubectl --kubeconfig '$OP_KUBECONFIG' create -f - 2>&1 <<'YAML' | grep -q 'the operator creates only the clones SpaceRestores ask for'
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: chart-stolen }
spec: { displayName: Stolen, contactEmail: admin@stolen.example }
YAML"
check_eq "the space is still there, the other never was" "chart-kept" \
  "$(kubectl get space chart-kept chart-stolen -o name 2>/dev/null | sed 's|.*/||' | tr '\n' ' ' | sed 's/ $//')"
kubectl delete space chart-kept --wait=false >/dev/null 2>&1
check_eq "and nothing of it was written there" "" \
  "$(kubectl -n kube-system get rolebinding/stolen job/stolen deployment/stolen configmap/stolen -o name 2>/dev/null; kubectl get namespace kube-system -o jsonpath='{.metadata.labels.stolen}')"

section "the signup portal's role"
kubectl create namespace signup --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n signup create serviceaccount portal --dry-run=client -o yaml | kubectl apply -f - >/dev/null
check "helm upgrade binds the portal role to signup/portal" \
  helm upgrade framaspace-operator "$CHART" -n $NS --reuse-values --set portal.serviceAccount=signup/portal --wait --timeout 60s
portal_space() {
  kubectl --as "$PORTAL" create -f - <<'YAML'
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: portal-made }
spec: { displayName: Made by the portal, contactEmail: admin@portal-made.example }
YAML
}
check "the portal creates a space" eventually 20 portal_space
check "the portal reads, lists and watches spaces" bash -c \
  "kubectl --as '$PORTAL' get space portal-made -o name && kubectl --as '$PORTAL' get spaces -o name && timeout 2 kubectl --as '$PORTAL' get spaces --watch -o name; [ \$? -eq 124 ]"
check "the portal cannot delete a space (Forbidden)" bash -c "kubectl --as '$PORTAL' delete space portal-made 2>&1 | grep -q Forbidden"
check "the portal cannot change a space (Forbidden)" bash -c \
  "kubectl --as '$PORTAL' patch space portal-made --type merge -p '{\"spec\":{\"suspended\":true}}' 2>&1 | grep -q Forbidden"
check "the portal cannot read a Secret (Forbidden)" bash -c "kubectl --as '$PORTAL' -n $NS get secret pg-1-admin 2>&1 | grep -q Forbidden"
check "the portal cannot create a space that takes a retained space's data (admission policy)" bash -c \
  "kubectl --as '$PORTAL' create -f - 2>&1 <<'YAML' | grep -q 'only a platform engineer (verb reattach on associationspaces)'
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: portal-reattach, annotations: { frama.space/reattach-retained: \"true\" } }
spec: { displayName: Takeover, contactEmail: admin@portal-reattach.example }
YAML"
kubectl create clusterrolebinding e2e-platform-engineer --clusterrole=framaspace-operator-platform-engineer --user=engineer \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null
check_eq "the verb is the platform engineers' role's, not the portal's" "yes no" \
  "$(can reattach associationspaces.frama.space --as engineer) $(can reattach associationspaces.frama.space --as "$PORTAL")"
check "the portal cannot create a space held back from upgrades (admission policy)" bash -c \
  "kubectl --as '$PORTAL' create -f - 2>&1 <<'YAML' | grep -q 'only a platform engineer (verb hold-upgrade on associationspaces)'
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: portal-held }
spec: { displayName: Held, contactEmail: admin@portal-held.example, holdUpgrade: true }
YAML"
check_eq "holding a space back is the platform engineers' too" "yes no" \
  "$(can hold-upgrade associationspaces.frama.space --as engineer) $(can hold-upgrade associationspaces.frama.space --as "$PORTAL")"

section "a pool or a class names only a Secret its author may read (no admin Secret sent elsewhere)"
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: e2e-pool-editor }
rules:
  - apiGroups: [frama.space]
    resources: [databasepools, cachepools, storagepools, spaceclasses]
    verbs: [get, list, create, update, patch]
YAML
kubectl create clusterrolebinding e2e-pool-editor --clusterrole=e2e-pool-editor --user=pool-editor --dry-run=client -o yaml | kubectl apply -f - >/dev/null
check_eq "the pool editor may create pools but not read the operator's Secrets" "yes no" \
  "$(can create cachepools.frama.space --as pool-editor) $(can get secrets -n $NS --as pool-editor)"
# A listener on loopback that records every byte it receives: where the pools below point.
EXFIL_PORT=26997; EXFIL_FILE="$STATE_DIR/exfil.bin"; : > "$EXFIL_FILE"
start_process exfil-listener python3 -c '
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
def take(c):
    with c, open(sys.argv[2], "ab") as f:
        while data := c.recv(4096):
            f.write(data); f.flush()
while True:
    c, _ = s.accept(); threading.Thread(target=take, args=(c,), daemon=True).start()' "$EXFIL_PORT" "$EXFIL_FILE"
# refused_to_pool_editor DESCRIPTION FIELD SECRET: the manifest on stdin, applied as the pool editor,
# is refused with a message naming FIELD and SECRET.
refused_to_pool_editor() {
  local out; out=$(kubectl --as pool-editor apply -f - 2>&1)
  check "$1" grep -q "$2: only who may read Secret $NS/$3" <<<"$out"
}
refused_to_pool_editor "a CachePool naming a DatabasePool's admin Secret is refused, saying why" spec.adminSecretRef pg-1-admin <<YAML
apiVersion: frama.space/v1alpha1
kind: CachePool
metadata: { name: exfil-cache }
spec: { host: 127.0.0.1, port: $EXFIL_PORT, adminSecretRef: { name: pg-1-admin }, capacity: { maxSpaces: 1 } }
YAML
refused_to_pool_editor "so is a StoragePool sending the Garage token elsewhere" spec.adminSecretRef s3-garage-admin <<YAML
apiVersion: frama.space/v1alpha1
kind: StoragePool
metadata: { name: exfil-s3 }
spec: { provider: garage, endpoint: "http://127.0.0.1:$EXFIL_PORT", adminEndpoint: "http://127.0.0.1:$EXFIL_PORT", region: garage, adminSecretRef: { name: s3-garage-admin }, capacity: { maxSpaces: 1 } }
YAML
refused_to_pool_editor "and a SpaceClass naming it as its mail Secret" spec.mail.credentialsSecretRef redis-1-admin <<YAML
apiVersion: frama.space/v1alpha1
kind: SpaceClass
metadata: { name: exfil-mail }
spec:
  baseDomain: exfil.frama.space
  nextcloud: { version: 33.0.7 }
  limits: { maxQuota: 1Gi, defaultQuota: 100Mi, maxAccounts: 10, defaultMaxAccounts: 10 }
  mail: { host: 127.0.0.1, port: $EXFIL_PORT, security: None, from: noreply@exfil.frama.space, credentialsSecretRef: { name: redis-1-admin } }
YAML
check_eq "none of them exists" "" "$(kubectl get cachepool/exfil-cache storagepool/exfil-s3 spaceclass/exfil-mail -o name 2>/dev/null)"
sleep 6   # more than a pool check's period
check_eq "the listener received nothing" "0" "$(stat -c %s "$EXFIL_FILE")"
stop_process exfil-listener

section "leader election: two operator processes"
stop_process operator   # the operator suite's, if any
OTLP_PORT=24318
OTLP_FILE="$STATE_DIR/otlp-received.bin"
rm -f "$OTLP_FILE"
start_process otlp-receiver python3 "$E2E_DIR/tests/otlp-receiver.py" "$OTLP_PORT" "$OTLP_FILE"
port_of() { case $1 in op-a) echo 28081 ;; op-b) echo 28082 ;; esac; }
start_replica() {
  local cmd; mapfile -t cmd < <(operator_command --log-format json --identity "$1" --metrics-address "127.0.0.1:$(port_of "$1")" \
    --lease-duration-seconds 6 --lease-grace-seconds 2 --resync-seconds 600 --pool-check-seconds 5)
  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$OTLP_PORT" OTEL_BSP_SCHEDULE_DELAY=500 start_process "$1" "${cmd[@]}"
}
leader_metric() { curl -sf "http://127.0.0.1:$(port_of "$1")/metrics" | awk '$1 == "framaspace_leader" {print $2}'; }
reconciles_of() { curl -sf "http://127.0.0.1:$(port_of "$1")/metrics" | awk '$1 ~ /^framaspace_reconciles_total/ {s += $2} END {print s + 0}'; }
holder() { kubectl -n $NS get lease framaspace-operator -o jsonpath='{.spec.holderIdentity}'; }
one_leader() { [ "$(leader_metric op-a)$(leader_metric op-b)" = 10 ] || [ "$(leader_metric op-a)$(leader_metric op-b)" = 01 ]; }
start_replica op-a
start_replica op-b
check "exactly one of the two processes leads" eventually 30 one_leader
if [ "$(leader_metric op-a)" = 1 ]; then leader=op-a; standby=op-b; else leader=op-b; standby=op-a; fi
check_eq "the Lease names the leader" "$leader" "$(holder)"
check "the leader reconciles (the portal's space becomes Ready)" kubectl wait --for=condition=Ready space/portal-made --timeout=90s
check_eq "the standby has reconciled nothing" "0" "$(reconciles_of $standby)"
check_eq "the standby answers /readyz (it is healthy, waiting)" "ok: standby" "$(curl -sf "http://127.0.0.1:$(port_of $standby)/readyz")"

read -r leader_pid _ < "$STATE_DIR/pids/$leader"
kill -KILL "$leader_pid"; rm -f "$STATE_DIR/pids/$leader"
killed_at=$(date +%s.%N)
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: after-failover }
spec: { displayName: Created after the leader died, contactEmail: admin@after-failover.example }
YAML
standby_leads() { [ "$(leader_metric "$standby")" = 1 ]; }
check "after SIGKILL of the leader, the standby takes over (lease 6 s)" eventually 30 standby_leads
took_over_at=$(date +%s.%N)
check "it converges a space created after the kill" kubectl wait --for=condition=Ready space/after-failover --timeout=90s
ready_at=$(date +%s.%N)
check_eq "the Lease names the new leader" "$standby" "$(holder)"
seconds_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
echo "  failover after SIGKILL: leader in $(seconds_between "$killed_at" "$took_over_at") s, new space Ready $(seconds_between "$killed_at" "$ready_at") s after the kill"

start_replica "$leader"   # back as the standby
old_leader=$leader; leader=$standby; standby=$old_leader
check "the restarted process waits as the standby" eventually 20 bash -c "[ \"\$(curl -sf http://127.0.0.1:$(port_of "$standby")/readyz)\" = 'ok: standby' ]"
stopped_at=$(date +%s.%N)
stop_process "$leader"
released_or_taken() { local h; h=$(holder); [ -z "$h" ] || [ "$h" = "$standby" ]; }
check "SIGTERM releases the lease (no holder, or already the standby)" released_or_taken
check "after SIGTERM the leader releases the lease and the standby takes over" eventually 30 standby_leads
echo "  handover after SIGTERM: $(seconds_between "$stopped_at" "$(date +%s.%N)") s"

# A leader frozen while it works (SIGSTOP) loses the lease to the standby; when it runs again, its
# reconciles in flight resume, and its write gate, shut on its own clock, refuses their writes.
start_replica "$leader"   # back as the standby
old_leader=$leader; leader=$standby; standby=$old_leader
check "the restarted process waits as the standby" eventually 20 bash -c "[ \"\$(curl -sf http://127.0.0.1:$(port_of "$standby")/readyz)\" = 'ok: standby' ]"
for i in $(seq 1 12); do
  printf -- '---\napiVersion: frama.space/v1alpha1\nkind: AssociationSpace\nmetadata: { name: frozen-%02d }\nspec: { displayName: Frozen, contactEmail: admin@frozen.example }\n' "$i"
done | kubectl apply -f - >/dev/null
sleep 0.3
read -r frozen_pid _ < "$STATE_DIR/pids/$leader"
kill -STOP "$frozen_pid"
check "the standby takes over from the frozen leader" eventually 30 standby_leads
taken_over=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
check "the new leader converges the spaces the frozen one was working on" \
  kubectl wait --for=condition=Ready space/frozen-01 space/frozen-06 space/frozen-12 --timeout=120s
kill -CONT "$frozen_pid"
check "the thawed leader sees the lease lost and exits" eventually 30 bash -c "! kill -0 $frozen_pid 2>/dev/null"
rm -f "$STATE_DIR/pids/$leader"
late_writes() {
  python3 - "$STATE_DIR/logs" "$leader" "$taken_over" <<'PY'
import json, os, sys
logs, who, since = sys.argv[1], sys.argv[2], sys.argv[3]
late = 0
for name in os.listdir(logs):
    if not (name.startswith("audit") and name.endswith(".log")):
        continue
    for line in open(os.path.join(logs, name), errors="replace"):
        if f"({who})" not in line:
            continue
        e = json.loads(line)
        if e.get("verb") in ("create", "update", "patch", "delete") and e.get("requestReceivedTimestamp", "") > since:
            late += 1
print(late)
PY
}
check_eq "the thawed leader sent no write after the takeover (API server audit log)" "0" "$(late_writes)"
echo "  writes the thawed leader refused: $(grep -c '"reason":"NotLeader"' "$STATE_DIR/logs/$leader.log" || true)"
leader=$standby

section "traces"
check "spans were exported over OTLP/HTTP to /v1/traces" eventually 20 grep -q "/v1/traces" "$OTLP_FILE"
check "the export names the service and carries reconcile and external-call spans" bash -c \
  "grep -aq framaspace-operator '$OTLP_FILE' && grep -aq reconcile '$OTLP_FILE' && grep -aq external_call '$OTLP_FILE'"

check "the spaces of this suite are deleted by the leader" \
  kubectl delete space portal-made after-failover $(printf 'frozen-%02d ' $(seq 1 12)) --wait=true --timeout=120s
stop_process "$standby"
stop_process otlp-receiver
summary
