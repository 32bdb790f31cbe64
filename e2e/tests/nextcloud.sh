#!/usr/bin/env bash
# Every space really is a Nextcloud: the operator installs it once (an install Job whose outcome,
# what occ printed, it reads), no web pod runs before, a replaced pod never installs again, a
# failed install retries with backoff and deletes nothing, a database that already holds an
# installation is never installed over. The Jobs' pods are played by e2e/occ-sim.py (the real
# PostgreSQL is written and read as a real install would); outcomes are chosen per namespace.
. "$(dirname "$0")/lib.sh"

METRICS_PORT=28084
PSQL=(psql -qAt -h 127.0.0.1 -p "$FRAMASPACE_PG_PORT" -U postgres)
export PGPASSWORD=$FRAMASPACE_PG_PASSWORD
jsonpath() { kubectl get "$1" -o "jsonpath=$2" 2>/dev/null; }
reason_of() { jsonpath "space/$1" "{.status.conditions[?(@.type==\"$2\")].reason}"; }
has_reason() { [ "$(reason_of "$1" "$2")" = "$3" ]; }
scenario() { mkdir -p "$STATE_DIR/occ-sim"; if [ -n "$2" ]; then echo "$2" > "$STATE_DIR/occ-sim/space-$1"; else rm -f "$STATE_DIR/occ-sim/space-$1"; fi; }
new_space() {
  kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: $1 }
spec: { displayName: "Nextcloud test $1", contactEmail: "contact@$1.example", office: none }
YAML
}
web_pods() { kubectl -n "space-$1" get pods -l app.kubernetes.io/name=nextcloud -o name 2>/dev/null | wc -l; }
install_attempt() { kubectl -n "space-$1" get job nextcloud-install -o jsonpath='{.metadata.annotations.frama\.space/attempt}' 2>/dev/null; }
events_of() { kubectl get events -n default --field-selector "involvedObject.name=$1" -o json | jq -r '[.items[].reason] | join(" ")'; }

section "setup: chart, pools, class, operator"
check "the chart is installed" "$E2E_DIR/install.sh"
check "admin Secrets of the pools" "$E2E_DIR/admin-secrets.sh"
check "kubectl apply examples/pools.yaml and the class" kubectl apply -f "$REPO_DIR/examples/pools.yaml" -f "$REPO_DIR/examples/spaceclass-standard.yaml"
mapfile -t cmd < <(operator_command --log-format json --identity nextcloud-operator --metrics-address "127.0.0.1:$METRICS_PORT" --pool-check-seconds 5)
start_process nextcloud-operator "${cmd[@]}"
check "the pools are Ready" kubectl wait --for=condition=Ready databasepool/pg-1 cachepool/redis-1 storagepool/s3-minio storagepool/s3-garage --timeout=90s

section "a class on a Nextcloud the operator cannot run is refused by the API server"
# refused_class VERSION EXPECTED-TEXT DESCRIPTION: a class on that version is refused, with that text.
refused_class() {
  local out
  out=$(kubectl apply -f - 2>&1 <<YAML
apiVersion: frama.space/v1alpha1
kind: SpaceClass
metadata: { name: old-nextcloud }
spec:
  baseDomain: old.frama.space
  nextcloud: { version: $1 }
  limits: { maxQuota: 50Gi, defaultQuota: 40Gi, maxAccounts: 50, defaultMaxAccounts: 50 }
YAML
) && { fail "$3" "$out"; return; }
  grep -qF "$2" <<<"$out" && pass "$3" || fail "$3" "$out"
}
refused_class 31.0.9 "spec.nextcloud.version must be Nextcloud 33.0.1 or later" "refused: Nextcloud 31, the message names spec.nextcloud.version"
refused_class 33.0.7-apache "spec.nextcloud.version" "refused: a tag is not a version (spec.nextcloud.version)"

section "install: one Job, no web pod before it succeeded, then Ready at the reported version"
scenario nc-slow "slow:8"
new_space nc-slow
check "an install Job is created once the database, cache and bucket are ready" eventually 60 kubectl -n space-nc-slow get job nextcloud-install
check "while it runs: Installed=False Installing, phase Installing" eventually 20 has_reason nc-slow Installed Installing
check_eq "no web pod (no Deployment at all) before the install succeeded" "0 0" \
  "$(kubectl -n space-nc-slow get deployments -o name | wc -l) $(web_pods nc-slow)"
job=$(kubectl -n space-nc-slow get job nextcloud-install -o json)
check "the install Job runs occ as uid 33, from the class's image, with the admin e-mail of the spec" jq -e '
  .spec.template.spec.containers[0] as $c
  | $c.securityContext.runAsUser == 33 and $c.image == "registry.frama.space/framaspace/nextcloud:33.0.7"
  and ($c.env[] | select(.name == "FRAMASPACE_ADMIN_EMAIL") | .value) == "contact@nc-slow.example"
  and ($c.command[2] | contains("occ maintenance:install"))
  and ([$c.env[] | select(.name == "FRAMASPACE_ADMIN_PASSWORD") | .valueFrom.secretKeyRef.key] == ["admin-password"])' <<<"$job"
check "no secret value in the Job" bash -c "! kubectl -n space-nc-slow get job nextcloud-install -o json | grep -qF \"\$(kubectl -n space-nc-slow get secret nextcloud-credentials -o jsonpath='{.data.admin-password}' | base64 -d)\""
check "the space becomes Ready" kubectl wait --for=condition=Ready space/nc-slow --timeout=90s
check_eq "status.nextcloud is what occ status printed" "33.0.7.2 33.0.7 registry.frama.space/framaspace/nextcloud:33.0.7" \
  "$(jsonpath space/nc-slow '{.status.nextcloud.version} {.status.nextcloud.versionString} {.status.nextcloud.image}')"
check_eq "kubectl get spaces -o wide shows the version" "33.0.7" \
  "$(kubectl get space nc-slow -o wide --no-headers | awk '{print $(NF-3)}')"
check "the namespace records it too" bash -c "[ \"\$(kubectl get ns space-nc-slow -o jsonpath='{.metadata.annotations.frama\\.space/nextcloud-version}')\" = '33.0.7.2 33.0.7' ]"
check "the real PostgreSQL holds the installation, in the space's own database" bash -c \
  "[ -n \"\$(${PSQL[*]} -d space_nc_slow -c \"SELECT configvalue FROM oc_appconfig WHERE appid='core' AND configkey='installedat'\")\" ]"
check "the install Job is deleted once recorded" eventually 30 bash -c "! kubectl -n space-nc-slow get job nextcloud-install"
cm=$(kubectl -n space-nc-slow get configmap nextcloud-config -o jsonpath='{.data.state\.config\.php}')
check "the state fragment: installed, the recorded version, read-only configuration" bash -c \
  "grep -qF \"'installed' => true,\" <<<\"\$0\" && grep -qF \"'version' => '33.0.7.2',\" <<<\"\$0\" && grep -qF \"'config_is_read_only' => true,\" <<<\"\$0\"" "$cm"
check "the web pod probes the health endpoint, not status.php" bash -c \
  "[ \"\$(kubectl -n space-nc-slow get deployment nextcloud -o jsonpath='{.spec.template.spec.containers[0].readinessProbe.httpGet.path}')\" = /framaspace/health ]"
check "Events: InstallStarted, Installed" bash -c "events=\$(kubectl get events -n default --field-selector involvedObject.name=nc-slow -o json | jq -r '[.items[].reason] | join(\" \")'); [[ \$events == *InstallStarted* && \$events == *Installed* ]]"

section "pods never forget: a deleted pod, a config change, suspend and resume install nothing"
installs_before=$(kubectl get events -n default --field-selector involvedObject.name=nc-slow,reason=InstallStarted -o name | wc -l)
kubectl -n space-nc-slow delete pods -l app.kubernetes.io/name=nextcloud --wait=false >/dev/null
check "after the web pod is deleted: Ready again" eventually 60 bash -c "[ \"\$(kubectl -n space-nc-slow get pods -l app.kubernetes.io/name=nextcloud -o jsonpath='{.items[*].status.conditions[?(@.type==\"Ready\")].status}')\" = True ]"
kubectl patch space nc-slow --type merge -p '{"spec":{"maxAccounts":20}}' >/dev/null
check "maxAccounts changed: the pods roll with the new configuration" eventually 60 bash -c \
  "kubectl -n space-nc-slow get configmap nextcloud-config -o jsonpath='{.data.framaspace\\.config\\.php}' | grep -qF \"'one-click-instance.user-limit' => 20,\""
check "and the space is Ready" kubectl wait --for=condition=Ready space/nc-slow --timeout=60s
kubectl patch space nc-slow --type merge -p '{"spec":{"suspended":true}}' >/dev/null
check "suspended: no web pod" eventually 60 bash -c "[ \"\$(kubectl -n space-nc-slow get pods -l app.kubernetes.io/name=nextcloud -o name | wc -l)\" = 0 ]"
kubectl patch space nc-slow --type merge -p '{"spec":{"suspended":false}}' >/dev/null
check "resumed: Ready again" kubectl wait --for=condition=Ready space/nc-slow --timeout=90s
check_eq "no new install Job through all of it" "$installs_before no-job" \
  "$(kubectl get events -n default --field-selector involvedObject.name=nc-slow,reason=InstallStarted -o name | wc -l) $(kubectl -n space-nc-slow get job nextcloud-install -o name 2>/dev/null || echo no-job)"
check_eq "at the same version" "33.0.7.2" "$(jsonpath space/nc-slow '{.status.nextcloud.version}')"

section "a failed install: Installed=False with where to look, an Event, retries with backoff, nothing lost"
scenario nc-fail fail
new_space nc-fail
check "Installed=False InstallFailed once the Job failed" eventually 120 has_reason nc-fail Installed InstallFailed
msg=$(jsonpath space/nc-fail '{.status.conditions[?(@.type=="Installed")].message}')
check "the message says what occ printed and where to look" bash -c \
  "grep -qF 'PostgreSQL Login and/or password not valid' <<<\"\$0\" && grep -qF 'kubectl -n space-nc-fail logs job/nextcloud-install' <<<\"\$0\"" "$msg"
check_eq "Ready=False with the same reason; no web pod" "InstallFailed 0" "$(reason_of nc-fail Ready) $(web_pods nc-fail)"
check "an InstallFailed Warning Event" bash -c "[[ \$(kubectl get events -n default --field-selector involvedObject.name=nc-fail,reason=InstallFailed -o jsonpath='{.items[0].type}') == Warning ]]"
check "after the backoff, a second attempt" eventually 120 bash -c "[ \"\$(kubectl -n space-nc-fail get job nextcloud-install -o jsonpath='{.metadata.annotations.frama\\.space/attempt}')\" = 2 ]"
check_eq "one database, kept" "1" "$(${PSQL[@]} -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = 'space_nc_fail'")"
scenario nc-fail ""
check "the cause fixed, a later attempt installs: Ready" eventually 300 bash -c "kubectl wait --for=condition=Ready space/nc-fail --timeout=5s"

section "a database that already holds an installation is not installed again"
# The role and database of space nc-taken exist before the space, with Nextcloud's tables and its
# core/installedat (as Setup leaves them); provisioning takes the role and database over.
${PSQL[@]} -d postgres -c "CREATE ROLE space_nc_taken LOGIN" >/dev/null
${PSQL[@]} -d postgres -c "CREATE DATABASE space_nc_taken OWNER space_nc_taken" >/dev/null
${PSQL[@]} -d space_nc_taken -c "SET ROLE space_nc_taken; CREATE TABLE oc_appconfig (appid varchar(32), configkey varchar(64), configvalue text); INSERT INTO oc_appconfig VALUES ('core', 'installedat', '1764547200.5')" >/dev/null
new_space nc-taken
check "Installed=False ExistingInstallation" eventually 90 has_reason nc-taken Installed ExistingInstallation
check "no install Job, no web pod" bash -c "! kubectl -n space-nc-taken get job nextcloud-install && [ \"\$(kubectl -n space-nc-taken get pods -o name | wc -l)\" = 0 ]"
check_eq "the installation is untouched" "1764547200.5" "$(${PSQL[@]} -d space_nc_taken -c "SELECT configvalue FROM oc_appconfig WHERE configkey='installedat'")"
check "an ExistingInstallation Warning Event that says how to take it over" bash -c \
  "kubectl get events -n default --field-selector involvedObject.name=nc-taken,reason=ExistingInstallation -o jsonpath='{.items[0].message}' | grep -qF frama.space/nextcloud-version"

section "the office switch Job: code, configuration, uid 33, and its reported outcome drives OfficeReady"
kubectl apply -f "$REPO_DIR/examples/backends.yaml" >/dev/null
check "collabora-1 is Ready" kubectl wait --for=condition=Ready officebackend/collabora-1 --timeout=90s
scenario nc-slow maintenance
kubectl patch space nc-slow --type merge -p '{"spec":{"office":"collabora"}}' >/dev/null
check "an office occ Job is created" eventually 60 bash -c "kubectl -n space-nc-slow get jobs -l frama.space/occ=office -o name | grep -q ."
job=$(kubectl -n space-nc-slow get jobs -l frama.space/occ=office -o json | jq '.items[0]')
check "it runs in the recorded image, as uid 33, with NEXTCLOUD_CONFIG_DIR and a prepare init container" jq -e '
  .spec.template.spec as $p | $p.containers[0].image == "registry.frama.space/framaspace/nextcloud:33.0.7"
  and $p.containers[0].securityContext.runAsUser == 33 and $p.initContainers[0].name == "prepare"
  and ([$p.containers[0].env[] | select(.name == "NEXTCLOUD_CONFIG_DIR") | .value] == ["/run/nextcloud/config"])
  and ($p.containers[0].command[2] | contains("cd /usr/src/nextcloud"))' <<<"$job"
check "occ reported maintenance mode: OfficeReady=False OccFailed, though the Job succeeded" eventually 60 has_reason nc-slow OfficeReady OccFailed
check "the message says what Nextcloud reported" bash -c "jsonpath() { kubectl get \"\$1\" -o \"jsonpath=\$2\"; }; jsonpath space/nc-slow '{.status.conditions[?(@.type==\"OfficeReady\")].message}' | grep -qF 'maintenance true'"

stop_process nextcloud-operator
kubectl delete space nc-slow nc-fail nc-taken --wait=false >/dev/null 2>&1
summary
