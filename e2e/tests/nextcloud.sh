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
mapfile -t cmd < <(operator_command --log-format json --identity nextcloud-operator --metrics-address "127.0.0.1:$METRICS_PORT" --pool-check-seconds 5 \
  --external-check-seconds 5 --wake-service framaspace-operator-wake)
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
check "the install Job runs occ as uid 33, from the class's image, with the contact's account of the spec" jq -e '
  .spec.template.spec.containers[0] as $c
  | $c.securityContext.runAsUser == 33 and ($c.image | split("@")[0]) == "registry.frama.space/framaspace/nextcloud:33.0.7"
  and ($c.env[] | select(.name == "FRAMASPACE_CONTACT_EMAIL") | .value) == "contact@nc-slow.example"
  and ($c.command[2] | contains("user:add --password-from-env"))
  and ($c.command[2] | contains("php occ background:cron"))
  and ($c.command[2] | contains("user:welcome") | not)
  and ($c.command[2] | contains("occ maintenance:install"))
  and ([$c.env[] | select(.name == "FRAMASPACE_ADMIN_PASSWORD") | .valueFrom.secretKeyRef.key] == ["admin-password"])' <<<"$job"
check "no secret value in the Job" bash -c "! kubectl -n space-nc-slow get job nextcloud-install -o json | grep -qF \"\$(kubectl -n space-nc-slow get secret nextcloud-credentials -o jsonpath='{.data.admin-password}' | base64 -d)\""
check "the space becomes Ready" kubectl wait --for=condition=Ready space/nc-slow --timeout=90s
nc_image=$(jsonpath space/nc-slow '{.status.nextcloud.image}')
check_eq "status.nextcloud is what occ status printed" "33.0.7.2 33.0.7 registry.frama.space/framaspace/nextcloud:33.0.7" \
  "$(jsonpath space/nc-slow '{.status.nextcloud.version} {.status.nextcloud.versionString}') ${nc_image%@*}"
check_eq "kubectl get spaces -o wide shows the version" "33.0.7" \
  "$(kubectl get space nc-slow -o wide | awk 'NR == 1 { at = index($0, "NEXTCLOUD") } NR == 2 { v = substr($0, at); sub(/ .*/, "", v); print v }')"
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
  "kubectl -n space-nc-slow get configmap nextcloud-config -o jsonpath='{.data.framaspace\\.config\\.php}' | grep -qF \"'one-click-instance.user-limit' => 21,\""
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
# core/installedat (as Setup leaves them). The operator takes over no role it did not create: the
# space waits until the platform engineer marks the role as the operator's (its comment).
${PSQL[@]} -d postgres -c "CREATE ROLE space_nc_taken LOGIN" >/dev/null
${PSQL[@]} -d postgres -c "CREATE DATABASE space_nc_taken OWNER space_nc_taken" >/dev/null
${PSQL[@]} -d space_nc_taken -c "SET ROLE space_nc_taken; CREATE TABLE oc_appconfig (appid varchar(32), configkey varchar(64), configvalue text); INSERT INTO oc_appconfig VALUES ('core', 'installedat', '1764547200.5')" >/dev/null
new_space nc-taken
check "a role of the space's name that the operator did not create is not taken: DatabaseReady=False Conflict" \
  eventually 60 has_reason nc-taken DatabaseReady Conflict
check "the message names the role and the way to hand it over" bash -c \
  "kubectl get space nc-taken -o jsonpath='{.status.conditions[?(@.type==\"DatabaseReady\")].message}' | grep -q 'space_nc_taken exists and was not created by the operator.*COMMENT ON ROLE'"
${PSQL[@]} -d postgres -c "COMMENT ON ROLE space_nc_taken IS 'framaspace-operator: the role of a space'" >/dev/null
kubectl annotate space nc-taken --overwrite e2e.frama.space/poke="$(date +%s%N)" >/dev/null
check "handed over, it is provisioned, then Installed=False ExistingInstallation" eventually 90 has_reason nc-taken Installed ExistingInstallation
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
  .spec.template.spec as $p | ($p.containers[0].image | split("@")[0]) == "registry.frama.space/framaspace/nextcloud:33.0.7"
  and $p.containers[0].securityContext.runAsUser == 33 and $p.initContainers[0].name == "prepare"
  and ([$p.containers[0].env[] | select(.name == "NEXTCLOUD_CONFIG_DIR") | .value] == ["/run/nextcloud/config"])
  and ($p.containers[0].command[2] | contains("cd /usr/src/nextcloud"))' <<<"$job"
check "occ reported maintenance mode: OfficeReady=False OccFailed, though the Job succeeded" eventually 60 has_reason nc-slow OfficeReady OccFailed
check "the message says what Nextcloud reported" bash -c "jsonpath() { kubectl get \"\$1\" -o \"jsonpath=\$2\"; }; jsonpath space/nc-slow '{.status.conditions[?(@.type==\"OfficeReady\")].message}' | grep -qF 'maintenance true'"

section "background jobs: a cron container beside the web server, staggered, in cron mode from the install"
dep=$(kubectl -n space-nc-slow get deployment nextcloud -o json)
check "the web pod has a cron container: same image and configuration, uid 33, cron.php every 5 minutes" jq -e '
  .spec.template.spec as $p | ($p.containers[] | select(.name == "cron")) as $c
  | $c.image == $p.containers[0].image and $c.securityContext.runAsUser == 33
  and ($c.command[2] | contains("php -f cron.php")) and ($c.command[2] | contains("% 300"))
  and ([$c.env[] | select(.name == "NEXTCLOUD_CONFIG_DIR") | .value] == ["/run/nextcloud/config"])
  and $c.resources.requests.cpu == "5m" and $c.resources.limits.memory == "512Mi"' <<<"$dep"
check "the space's maintenance window opens between 01:00 and 04:00 UTC" bash -c \
  "kubectl -n space-nc-slow get configmap nextcloud-config -o jsonpath='{.data.framaspace\\.config\\.php}' | grep -qE \"'maintenance_window_start' => [1-4],\""
check_eq "no CronJob and no extra Job for background jobs" "0" "$(kubectl -n space-nc-slow get cronjobs -o name | wc -l)"

section "the class's validated apps: enabled at install, one Job per space for a change, none on a resync"
kubectl -n framaspace-system create secret generic smtp-credentials --from-literal=username=spaces@frama.space \
  --from-literal=password=smtp-Secret-e2e-4b1f9 --dry-run=client -o yaml \
  | kubectl label --local -f - frama.space/purpose=smtp-credentials -o yaml | kubectl apply -f - >/dev/null
kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: SpaceClass
metadata: { name: with-apps }
spec:
  baseDomain: apps.frama.space
  nextcloud: { image: registry.frama.space/framaspace/nextcloud, version: 33.0.7 }
  limits: { maxQuota: 10Gi, defaultQuota: 1Gi, maxAccounts: 10, defaultMaxAccounts: 5 }
  defaultOffice: none
  apps: [twofactor_totp]
  supportUrl: https://aide.frama.space/comptes
  mail: { host: smtp.frama.space, port: 587, security: StartTLS, from: noreply@frama.space, credentialsSecretRef: { name: smtp-credentials } }
YAML
scenario nc-apps-1 "slow:6"
for s in nc-apps-1 nc-apps-2; do
  kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: $s }
spec: { displayName: "Apps $s", contactEmail: "bureau+$s@asso.example", spaceClassName: with-apps }
YAML
done
check "the class's image is inspected once: status.image lists its apps" eventually 60 bash -c \
  "kubectl get spaceclass with-apps -o json | jq -e '.status.image.reference == \"registry.frama.space/framaspace/nextcloud:33.0.7\" and (.status.image.apps | index(\"twofactor_totp\"))' >/dev/null"
check_eq "by one Job in the operator's namespace, for both classes on that image" "1" \
  "$(kubectl -n framaspace-system get jobs -l frama.space/occ=inspect -o name | wc -l)"
check "an install Job for each" eventually 60 kubectl -n space-nc-apps-1 get job nextcloud-install
install=$(kubectl -n space-nc-apps-1 get job nextcloud-install -o json)
check "with mail, the install sends the contact's account its welcome with a link to choose a password" jq -e '
  .spec.template.spec.containers[0] as $c | ($c.command[2] | contains("php occ user:welcome --reset-password"))
  and ([$c.env[] | select(.name == "FRAMASPACE_CONTACT_USER") | .value] == ["bureau_nc-apps-1@asso.example"])
  and ($c.command[2] | contains("php occ app:enable framaspace_quota twofactor_totp"))' <<<"$install"
scenario nc-apps-1 ""
check "both spaces become Ready" kubectl wait --for=condition=Ready space/nc-apps-1 space/nc-apps-2 --timeout=120s
apps_jobs() { kubectl -n "space-$1" get jobs -l frama.space/occ=apps -o name 2>/dev/null | wc -l; }
app_on() { [ "$("${PSQL[@]}" -d "space_${1//-/_}" -c "SELECT configvalue FROM oc_appconfig WHERE appid='$2' AND configkey='enabled'")" = "$3" ]; }
check_eq "the install enabled the class's apps: no apps Job" "0 0" "$(apps_jobs nc-apps-1) $(apps_jobs nc-apps-2)"
check "the real database has twofactor_totp enabled, and the platform's framaspace_quota" bash -c "$(declare -f app_on); PSQL=(${PSQL[*]}); app_on nc-apps-1 twofactor_totp yes && app_on nc-apps-1 framaspace_quota yes"
check_eq "status.apps: the list applied, the platform's app with it" "framaspace_quota twofactor_totp" "$(jsonpath space/nc-apps-1 '{.status.apps.requested[*]}')"
check "status.apps: what Nextcloud reports enabled, core apps too" bash -c "kubectl get space nc-apps-1 -o json | jq -e '.status.apps.enabled | index(\"twofactor_totp\") and index(\"files\")' >/dev/null"
check_eq "AppsReady=True Applied" "True/Applied" "$(jsonpath space/nc-apps-1 '{.status.conditions[?(@.type=="AppsReady")].status}/{.status.conditions[?(@.type=="AppsReady")].reason}')"
kubectl patch spaceclass with-apps --type merge -p '{"spec":{"apps":["suspicious_login"]}}' >/dev/null
check "the change: AppsReady=True again in both spaces" eventually 90 bash -c "for s in nc-apps-1 nc-apps-2; do [ \"\$(kubectl get space \$s -o jsonpath='{.status.apps.requested[*]}')\" = 'framaspace_quota suspicious_login' ] || exit 1; done"
check_eq "exactly one apps Job per space" "1 1" "$(apps_jobs nc-apps-1) $(apps_jobs nc-apps-2)"
check "it enabled the added app and disabled the removed one, in the real database" bash -c "$(declare -f app_on); PSQL=(${PSQL[*]}); app_on nc-apps-1 suspicious_login yes && app_on nc-apps-1 twofactor_totp no && app_on nc-apps-1 framaspace_quota yes"
check "an app never listed is left as Nextcloud has it" app_on nc-apps-1 files_trashbin yes
job_before=$(kubectl -n space-nc-apps-1 get jobs -l frama.space/occ=apps -o jsonpath='{.items[0].metadata.name}')
kubectl annotate space nc-apps-1 nc-apps-2 e2e.frama.space/poke="$(date +%s%N)" --overwrite >/dev/null
sleep 5
check_eq "a resync runs no new Job" "1 1 $job_before" "$(apps_jobs nc-apps-1) $(apps_jobs nc-apps-2) $(kubectl -n space-nc-apps-1 get jobs -l frama.space/occ=apps -o jsonpath='{.items[0].metadata.name}')"
kubectl patch spaceclass with-apps --type merge -p '{"spec":{"apps":["suspicious_login","not_in_the_image"]}}' >/dev/null
check "an app the image lacks: the class is Ready=False AppsNotInImage, naming it" eventually 60 bash -c \
  "kubectl get spaceclass with-apps -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason} {.status.conditions[?(@.type==\"Ready\")].message}' | grep -q '^AppsNotInImage spec.apps: not_in_the_image not in image'"
check "its spaces say so (AppsReady=False AppsNotInImage) and stay Ready" eventually 60 bash -c \
  "[ \"\$(kubectl get space nc-apps-1 -o jsonpath='{.status.conditions[?(@.type==\"AppsReady\")].reason}/{.status.conditions[?(@.type==\"Ready\")].status}')\" = AppsNotInImage/True ]"
check_eq "no Job runs for it in any space, and the apps in force stay" "1 1 framaspace_quota suspicious_login" \
  "$(apps_jobs nc-apps-1) $(apps_jobs nc-apps-2) $(jsonpath space/nc-apps-1 '{.status.apps.requested[*]}')"
kubectl patch spaceclass with-apps --type merge -p '{"spec":{"apps":["suspicious_login"]}}' >/dev/null
check "back to a valid list: AppsReady=True" eventually 90 has_reason nc-apps-1 AppsReady Applied
check "the API server refuses the office apps in a class's list" bash -c \
  "kubectl patch spaceclass with-apps --type merge -p '{\"spec\":{\"apps\":[\"richdocuments\"]}}' 2>&1 | grep -q 'each space.s spec.office enables'"
check "and the platform's own app, which every space runs anyway" bash -c \
  "kubectl patch spaceclass with-apps --type merge -p '{\"spec\":{\"apps\":[\"framaspace_quota\"]}}' 2>&1 | grep -q 'the platform.s own app, enabled in every space'"

section "an app the association's admin switches off in the Apps page is enabled again"
# What AppManager::disableApp writes when an admin clicks "Disable" on the quota app.
"${PSQL[@]}" -d space_nc_apps_2 -c "UPDATE oc_appconfig SET configvalue = 'no' WHERE appid = 'framaspace_quota' AND configkey = 'enabled'" >/dev/null
poke_until() { # SECONDS COMMAND...: the check, the space poked between tries (the read is once per --external-check-seconds)
  local end=$(( $(date +%s) + $1 )); shift
  until "$@"; do
    [ "$(date +%s)" -ge "$end" ] && return 1
    kubectl annotate space nc-apps-2 e2e.frama.space/poke="$(date +%s%N)" --overwrite >/dev/null; sleep 2
  done
}
check "the operator finds it off (Event AppsReenabled, naming it)" poke_until 60 bash -c \
  "kubectl get events -n default --field-selector involvedObject.name=nc-apps-2,reason=AppsReenabled -o jsonpath='{.items[*].message}' | grep -q 'framaspace_quota found disabled'"
check "one occ Job enables it again in the real database" poke_until 60 bash -c "$(declare -f app_on); PSQL=(${PSQL[*]}); app_on nc-apps-2 framaspace_quota yes"
check_eq "by one repair Job" "1" "$(kubectl -n space-nc-apps-2 get jobs -o name | grep -c occ-apps-repair-)"
check "metrics: framaspace_apps_reenabled_total" bash -c "curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep -q '^framaspace_apps_reenabled_total 1'"
check "AppsReady=True Applied again" poke_until 60 has_reason nc-apps-2 AppsReady Applied
check_eq "the other space was left alone" "0" "$(kubectl -n space-nc-apps-1 get jobs -o name | grep -c occ-apps-repair-)"

section "the quota inside Nextcloud: the platform's framaspace_quota app, told the space's quota"
check "framaspace.config.php: the space's quota in bytes (defaultQuota 1Gi of the class)" bash -c \
  "kubectl -n space-nc-apps-1 get configmap nextcloud-config -o jsonpath='{.data.framaspace\\.config\\.php}' | grep -qF \"'framaspace.quota' => 1073741824,\""
hash_before=$(kubectl -n space-nc-apps-2 get deployment nextcloud -o jsonpath='{.spec.template.metadata.annotations.frama\.space/config-hash}')
kubectl patch space nc-apps-2 --type merge -p '{"spec":{"quota":"2Gi"}}' >/dev/null
check "a new spec.quota reaches the configuration, and the pods roll with it" eventually 60 bash -c \
  "kubectl -n space-nc-apps-2 get configmap nextcloud-config -o jsonpath='{.data.framaspace\\.config\\.php}' | grep -qF \"'framaspace.quota' => 2147483648,\" && [ \"\$(kubectl -n space-nc-apps-2 get deployment nextcloud -o jsonpath='{.spec.template.metadata.annotations.frama\\.space/config-hash}')\" != '$hash_before' ]"
"${PSQL[@]}" -c "DROP DATABASE IF EXISTS quota_app_check" -c "CREATE DATABASE quota_app_check" >/dev/null 2>&1
check "the app's usage query on the real PostgreSQL: every storage's top folders, each once" \
  php "$REPO_DIR/images/nextcloud/check-quota-app.php" pgsql "pgsql:host=127.0.0.1;port=$FRAMASPACE_PG_PORT;dbname=quota_app_check" postgres
"${PSQL[@]}" -c "DROP DATABASE IF EXISTS quota_app_check" >/dev/null 2>&1

section "mail: the class's SMTP server in each space, its password only in the space's Secret"
mail=$(kubectl -n space-nc-apps-1 get configmap nextcloud-config -o jsonpath='{.data.mail\.config\.php}')
check "mail.config.php: SMTP host, port, sender, authentication from the environment" bash -c \
  "grep -qF \"'mail_smtphost' => 'smtp.frama.space',\" <<<\"\$0\" && grep -qF \"'mail_smtpport' => 587,\" <<<\"\$0\" && grep -qF \"'mail_from_address' => 'noreply',\" <<<\"\$0\" && grep -qF \"'mail_smtppassword' => getenv('FRAMASPACE_SMTP_PASSWORD'),\" <<<\"\$0\"" "$mail"
check_eq "the space's Secret holds the class's SMTP password" "smtp-Secret-e2e-4b1f9" \
  "$(kubectl -n space-nc-apps-1 get secret nextcloud-credentials -o jsonpath='{.data.smtp-password}' | base64 -d)"
leaks=$( { kubectl get configmaps,deployments,jobs,pods -A -o json; kubectl get events -A -o json; kubectl get spaces,spaceclasses -o json; cat "$STATE_DIR"/logs/*.log; } 2>/dev/null | grep -c 'smtp-Secret-e2e-4b1f9' )
check_eq "and nothing else: no ConfigMap, pod spec, Job, status, Event or log" "0" "$leaks"
check "the web pod reads it from the Secret" bash -c "kubectl -n space-nc-apps-1 get deployment nextcloud -o json | jq -e '[.spec.template.spec.containers[0].env[] | select(.name == \"FRAMASPACE_SMTP_PASSWORD\") | .valueFrom.secretKeyRef.key] == [\"smtp-password\"]' >/dev/null"
check "the NetworkPolicy lets the space reach the SMTP port" bash -c "kubectl -n space-nc-apps-1 get networkpolicy -o json | jq -e '[.items[].spec.egress[]?.ports[]?.port] | index(587)' >/dev/null"
check "the user limit counts people: 5 accounts plus the operator's admin, and links to the platform's help" bash -c \
  "c=\$(kubectl -n space-nc-apps-1 get configmap nextcloud-config -o jsonpath='{.data.framaspace\\.config\\.php}'); grep -qF \"'one-click-instance.user-limit' => 6,\" <<<\"\$c\" && grep -qF \"'one-click-instance.link' => 'https://aide.frama.space/comptes',\" <<<\"\$c\""

section "a class's mail Secret must be made for mail: a pool's admin Secret named there copies nothing"
pg_pw=$(kubectl -n framaspace-system get secret pg-1-admin -o jsonpath='{.data.password}')
kubectl patch spaceclass with-apps --type merge -p '{"spec":{"mail":{"credentialsSecretRef":{"name":"pg-1-admin"}}}}' >/dev/null
check "the class says so: Ready=False MailSecretRefused, naming the Secret" eventually 60 bash -c \
  "kubectl get spaceclass with-apps -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason} {.status.conditions[?(@.type==\"Ready\")].message}' | grep -q '^MailSecretRefused spec.mail.credentialsSecretRef: Secret framaspace-system/pg-1-admin is not labelled frama.space/purpose=smtp-credentials'"
kubectl annotate space nc-apps-1 e2e.frama.space/poke="$(date +%s%N)" --overwrite >/dev/null
check "the space's Secret drops the class's former SMTP credentials" eventually 60 bash -c \
  "[ -z \"\$(kubectl -n space-nc-apps-1 get secret nextcloud-credentials -o jsonpath='{.data.smtp-password}')\" ]"
check_eq "and no space's Secret holds the pool's admin password" "" \
  "$(kubectl get secrets -A -l app.kubernetes.io/managed-by=framaspace-operator -o json | jq -r --arg pw "$pg_pw" '.items[] | select(.data["smtp-password"] == $pw) | .metadata.namespace')"
kubectl -n framaspace-system label secret pg-1-admin frama.space/purpose=smtp-credentials --overwrite >/dev/null
kubectl annotate space nc-apps-1 e2e.frama.space/poke="$(date +%s%N)" --overwrite >/dev/null
check "even labelled for mail, a pool's admin Secret is refused" eventually 60 bash -c \
  "kubectl get spaceclass with-apps -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].message}' | grep -q 'is the admin Secret of DatabasePool pg-1'"
sleep 3
check_eq "and still copied nowhere" "" \
  "$(kubectl get secrets -A -l app.kubernetes.io/managed-by=framaspace-operator -o json | jq -r --arg pw "$pg_pw" '.items[] | select(.data["smtp-password"] == $pw) | .metadata.namespace')"
kubectl -n framaspace-system label secret pg-1-admin frama.space/purpose- >/dev/null
kubectl patch spaceclass with-apps --type merge -p '{"spec":{"mail":{"credentialsSecretRef":{"name":"smtp-credentials"}}}}' >/dev/null
check "back to the Secret made for mail: the class is Ready" eventually 60 bash -c \
  "[ \"\$(kubectl get spaceclass with-apps -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}')\" = True ]"

section "the edge: Gateway API, an HTTPRoute per space behind the class's Gateway, and a class moved from Ingress to Gateway and back with no gap"
# No Gateway or ingress controller runs here: accept_route and give_address answer as theirs would
# (the route's status.parents for its generation; the Ingress's status.loadBalancer).
check "the API server serves HTTPRoute (the Gateway API CRDs of versions.env)" kubectl wait --for=condition=Established crd/httproutes.gateway.networking.k8s.io --timeout=10s
check_refused "a class with a Gateway and an IngressClass is refused, naming spec.ingress.gateway" \
  "spec.ingress.gateway: with a Gateway, TLS ends at its listener" <<YAML
apiVersion: frama.space/v1alpha1
kind: SpaceClass
metadata: { name: edge-refused }
spec:
  baseDomain: refused.frama.space
  nextcloud: { image: registry.frama.space/framaspace/nextcloud, version: 33.0.7 }
  limits: { maxQuota: 10Gi, defaultQuota: 1Gi, maxAccounts: 10, defaultMaxAccounts: 5 }
  ingress: { className: nginx, gateway: { name: public, namespace: e2e-edge } }
YAML
kubectl create namespace e2e-edge >/dev/null 2>&1
kubectl apply -f - >/dev/null <<YAML
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: public, namespace: e2e-edge }
spec:
  gatewayClassName: e2e
  listeners:
    - { name: spaces, hostname: "*.edge.frama.space", port: 80, protocol: HTTP, allowedRoutes: { namespaces: { from: All } } }
YAML
edge_class() { # NAME GATEWAY(yes|no)
  local gw=""; [ "$2" = yes ] && gw=', gateway: { name: public, namespace: e2e-edge }'
  kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: SpaceClass
metadata: { name: $1 }
spec:
  baseDomain: edge.frama.space
  nextcloud: { image: registry.frama.space/framaspace/nextcloud, version: 33.0.7 }
  limits: { maxQuota: 10Gi, defaultQuota: 1Gi, maxAccounts: 10, defaultMaxAccounts: 5 }
  defaultOffice: none
  apps: []
  ingress: { controllerNamespace: e2e-edge$gw }
YAML
}
edge_space() { # NAME CLASS
  kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: $1 }
spec: { spaceClassName: $2, displayName: "Edge $1", contactEmail: "contact@$1.example", office: none }
YAML
}
accept_route() { # SPACE
  local gen now; gen=$(kubectl -n "space-$1" get httproute nextcloud -o jsonpath='{.metadata.generation}'); now=$(date -u +%FT%TZ)
  kubectl -n "space-$1" patch httproute nextcloud --subresource=status --type=merge -p "{\"status\":{\"parents\":[{
    \"parentRef\":{\"group\":\"gateway.networking.k8s.io\",\"kind\":\"Gateway\",\"name\":\"public\",\"namespace\":\"e2e-edge\"},
    \"controllerName\":\"e2e.frama.space/gateway\",\"conditions\":[
    {\"type\":\"Accepted\",\"status\":\"True\",\"reason\":\"Accepted\",\"message\":\"\",\"observedGeneration\":$gen,\"lastTransitionTime\":\"$now\"},
    {\"type\":\"ResolvedRefs\",\"status\":\"True\",\"reason\":\"ResolvedRefs\",\"message\":\"\",\"observedGeneration\":$gen,\"lastTransitionTime\":\"$now\"}]}]}}" >/dev/null
}
give_address() { kubectl -n "space-$1" patch ingress nextcloud --subresource=status --type=merge -p '{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.80"}]}}}' >/dev/null; }
ingress_reason() { reason_of "$1" IngressReady; }
# What serves the space's host, sampled: "<Ingress with an address> <route accepted by public>".
serving() { kubectl -n "space-$1" get ingress,httproute -o json 2>/dev/null | jq -r '.items as $l
  | ([$l[] | select(.kind == "Ingress" and ((.status.loadBalancer.ingress // []) | length) > 0)] | length) as $i
  | ([$l[] | select(.kind == "HTTPRoute") | .status.parents[]? | select(.parentRef.name == "public")
     | .conditions[]? | select(.type == "Accepted" and .status == "True")] | length) as $r | "\($i) \($r)"'; }

edge_class edge-gw yes
edge_space nc-edge-new edge-gw
check "a space of a Gateway class gets an HTTPRoute" eventually 60 kubectl -n space-nc-edge-new get httproute nextcloud
route=$(kubectl -n space-nc-edge-new get httproute nextcloud -o json)
check "its host, on the class's Gateway, to the space's Service, with Nextcloud's hour for a request" jq -e '
  .spec.hostnames == ["nc-edge-new.edge.frama.space"]
  and .spec.parentRefs == [{"group":"gateway.networking.k8s.io","kind":"Gateway","name":"public","namespace":"e2e-edge"}]
  and .spec.rules[0].backendRefs[0].name == "nextcloud" and .spec.rules[0].backendRefs[0].port == 80
  and .spec.rules[0].matches[0].path == {"type":"PathPrefix","value":"/"}
  and .spec.rules[0].timeouts == {"request":"1h","backendRequest":"1h"}
  and .metadata.labels["app.kubernetes.io/managed-by"] == "framaspace-operator"' <<<"$route"
check_eq "and no Ingress" "0" "$(kubectl -n space-nc-edge-new get ingress -o name | wc -l)"
check "until the Gateway accepts the route: IngressReady=False WaitingForGateway, not Ready" eventually 60 bash -c \
  "[ \"\$(kubectl get space nc-edge-new -o jsonpath='{.status.conditions[?(@.type==\"IngressReady\")].reason} {.status.conditions[?(@.type==\"Ready\")].status}')\" = 'WaitingForGateway False' ]"
accept_route nc-edge-new
check "once accepted: IngressReady=True Accepted, naming the Gateway, and the space Ready" eventually 60 bash -c \
  "kubectl get space nc-edge-new -o jsonpath='{.status.conditions[?(@.type==\"IngressReady\")].reason} {.status.conditions[?(@.type==\"IngressReady\")].message}' | grep -q '^Accepted .*through Gateway e2e-edge/public' && kubectl wait --for=condition=Ready space/nc-edge-new --timeout=5s"

edge_class edge-move no
edge_space nc-edge-move edge-move
check "a space of an Ingress class is Ready behind its Ingress" kubectl wait --for=condition=Ready space/nc-edge-move --timeout=90s
give_address nc-edge-move
: > "$STATE_DIR/edge-samples"
( while [ ! -e "$STATE_DIR/edge-samples.stop" ]; do serving nc-edge-move >> "$STATE_DIR/edge-samples"; sleep 0.1; done ) &
sampler=$!
since=$(date -u +%FT%T.%6NZ)   # the audit log's precision: the first steps may fall in the same second
edge_class edge-move yes
check "the class names the Gateway: the route is created beside the Ingress" eventually 60 kubectl -n space-nc-edge-move get httproute nextcloud
check "while the Gateway has not taken it, the Ingress serves: IngressReady=True MovingToGateway, still Ready" eventually 30 bash -c \
  "[ \"\$(kubectl get space nc-edge-move -o jsonpath='{.status.conditions[?(@.type==\"IngressReady\")].reason} {.status.conditions[?(@.type==\"Ready\")].status}')\" = 'MovingToGateway True' ] && kubectl -n space-nc-edge-move get ingress nextcloud >/dev/null"
accept_route nc-edge-move
check "accepted: the Ingress is deleted, IngressReady=True Accepted" eventually 60 bash -c \
  "! kubectl -n space-nc-edge-move get ingress nextcloud >/dev/null 2>&1 && [ \"\$(kubectl get space nc-edge-move -o jsonpath='{.status.conditions[?(@.type==\"IngressReady\")].reason}')\" = Accepted ]"
kubectl patch spaceclass edge-move --type json -p '[{"op":"remove","path":"/spec/ingress/gateway"}]' >/dev/null
check "back to Ingress: the Ingress is created while the route still serves (IngressReady=True MovingToIngress)" eventually 60 bash -c \
  "kubectl -n space-nc-edge-move get ingress nextcloud >/dev/null 2>&1 && kubectl -n space-nc-edge-move get httproute nextcloud >/dev/null && [ \"\$(kubectl get space nc-edge-move -o jsonpath='{.status.conditions[?(@.type==\"IngressReady\")].reason}')\" = MovingToIngress ]"
give_address nc-edge-move
kubectl annotate space nc-edge-move e2e.frama.space/poke="$(date +%s%N)" --overwrite >/dev/null
check "once the Ingress has an address, the route is deleted: IngressReady=True Configured" eventually 60 bash -c \
  "! kubectl -n space-nc-edge-move get httproute nextcloud >/dev/null 2>&1 && [ \"\$(kubectl get space nc-edge-move -o jsonpath='{.status.conditions[?(@.type==\"IngressReady\")].reason}')\" = Configured ]"
touch "$STATE_DIR/edge-samples.stop"; wait "$sampler" 2>/dev/null; rm -f "$STATE_DIR/edge-samples.stop"
check "each move is told by an Event: MovedToGateway, then MovedToIngress" bash -c \
  "[ \"\$(kubectl get events -n default --field-selector involvedObject.name=nc-edge-move -o json | jq -r '[.items[] | select(.reason | startswith(\"MovedTo\"))] | sort_by(.eventTime // .lastTimestamp // .firstTimestamp) | [.[].reason] | join(\" \")')\" = 'MovedToGateway MovedToIngress' ]"
check "sampled all along ($(wc -l < "$STATE_DIR/edge-samples") samples): never a moment with neither an addressed Ingress nor an accepted route" \
  bash -c "[ -s '$STATE_DIR/edge-samples' ] && ! grep -qx '0 0' '$STATE_DIR/edge-samples'"
check "the operator deleted the Ingress and the route, each after the other was taken (audit log)" bash -c "
  jq -sr --arg since '$since' '[.[] | select(.objectRef.namespace == \"space-nc-edge-move\" and .requestReceivedTimestamp >= \$since
      and (.objectRef.resource == \"ingresses\" or .objectRef.resource == \"httproutes\")
      and (.verb == \"delete\" or .objectRef.subresource == \"status\") and .responseStatus.code < 300)
    | \"\(.verb)/\(.objectRef.resource)/\(.objectRef.subresource // \"-\")\"] | join(\" \")' '$STATE_DIR/logs/audit.log' \
  | grep -q 'patch/httproutes/status delete/ingresses/- patch/ingresses/status delete/httproutes/-'"
kubectl delete space nc-edge-new nc-edge-move --wait=false >/dev/null 2>&1

. "$E2E_DIR/tests/sleep.sh"

stop_process nextcloud-operator
kubectl delete space nc-slow nc-fail nc-taken nc-apps-1 nc-apps-2 --wait=false >/dev/null 2>&1
summary
