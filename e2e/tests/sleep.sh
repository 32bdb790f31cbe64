# Sleeping spaces (sourced by nextcloud.sh, whose operator runs with --wake-service): a class
# with `spec.sleep` puts its idle spaces to zero web pods; the wake component (this binary's
# `wake`, run here as a process with the chart's framaspace-wake ServiceAccount) holds a
# client's request until the space serves it, gives a browser a waking page, and wakes nothing
# for a monitor; a flood wakes at most the class's bound per pool at once; a sleeping space's
# background jobs run in a Job, its web still at zero. No Nextcloud answers here: once a space is
# awake, the held request goes to a stand-in upstream (tests/stand-in-upstream.py) that says what
# it received, where a cluster would send it to the space's Service.

WAKE_PORT=28095; WAKE_PROBE_PORT=28096; UPSTREAM_PORT=28097
SIM_LOG="$STATE_DIR/logs/occ-sim.log"
db_of() { printf 'space_%s' "${1//-/_}"; }
sql() { "${PSQL[@]}" -d "$(db_of "$1")" -c "$2"; }
sleep_state() { jsonpath "space/$1" '{.status.sleep.state}'; }
is_sleeping() { [ "$(sleep_state "$1")" = Sleeping ] && [ "$(jsonpath "space/$1" '{.status.phase}')" = Sleeping ]; }
wake_url() { printf 'http://127.0.0.1:%s%s' "$WAKE_PORT" "$1"; }
host_of() { printf '%s.sleepy.frama.space' "$1"; }

section "sleeping spaces: idle ones go to zero web pods and say so; used or kept ones stay awake"
start_process stand-in-upstream python3 "$E2E_DIR/tests/stand-in-upstream.py" "$UPSTREAM_PORT"
start_process wake env KUBECONFIG="$STATE_DIR/wake.kubeconfig" "${OPERATOR_BIN:-$REPO_DIR/target/debug/framaspace-operator}" wake \
  --address "127.0.0.1:$WAKE_PORT" --probe-address "127.0.0.1:$WAKE_PROBE_PORT" --upstream "http://127.0.0.1:$UPSTREAM_PORT" \
  --hold-seconds 150 --retry-seconds 2
check "the wake component is ready (it listed the spaces)" eventually 30 curl -sf "http://127.0.0.1:$WAKE_PROBE_PORT/readyz"
sleepy_class() { # NAME DOMAIN EXTRA-INGRESS
  kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: SpaceClass
metadata: { name: $1 }
spec:
  baseDomain: $2
  nextcloud: { image: registry.frama.space/framaspace/nextcloud, version: 33.0.7 }
  limits: { maxQuota: 10Gi, defaultQuota: 1Gi, maxAccounts: 10, defaultMaxAccounts: 5 }
  defaultOffice: none
  apps: []
  ingress: { controllerNamespace: e2e-edge$3 }
  sleep: { idleAfterSeconds: 30, maxWakingPerPool: 5 }
YAML
}
sleepy_space() { # NAME CLASS [keepAwake]
  kubectl apply -f - >/dev/null <<YAML
apiVersion: frama.space/v1alpha1
kind: AssociationSpace
metadata: { name: $1 }
spec: { spaceClassName: $2, displayName: "Sleepy $1", contactEmail: "contact@$1.example", office: none, keepAwake: ${3:-false} }
YAML
}
check_refused "a sleep policy of 5 s is refused by the schema, naming the field" "spec.sleep.idleAfterSeconds" <<YAML
apiVersion: frama.space/v1alpha1
kind: SpaceClass
metadata: { name: too-sleepy }
spec:
  baseDomain: too.frama.space
  nextcloud: { version: 33.0.7 }
  limits: { maxQuota: 10Gi, defaultQuota: 1Gi, maxAccounts: 10, defaultMaxAccounts: 5 }
  sleep: { idleAfterSeconds: 5 }
YAML
sleepy_class sleepy sleepy.frama.space ""
sleepy_class sleepy-gw sleepy-gw.frama.space ", gateway: { name: public, namespace: e2e-edge }"
flood=(); for i in $(seq -w 1 50); do flood+=("zz-$i"); done
for s in sl-mon sl-page sl-held "${flood[@]}"; do sleepy_space "$s" sleepy; done
sleepy_space sl-keep sleepy true
sleepy_space sl-gw sleepy-gw
installed() { [ -n "$(jsonpath "space/$1" '{.status.nextcloud.version}')" ]; }
all_installed() { local s; for s in "$@"; do installed "$s" || return 1; done; }
check "55 spaces of the class are installed" eventually 240 all_installed sl-mon sl-page sl-held sl-keep sl-gw "${flood[@]}"
# Four more, whose databases are written as soon as they are installed (a space is idle 30 s
# after its install): their use, their last background run, a calendar reminder.
for s in sl-used sl-browser sl-bg sl-rem; do sleepy_space "$s" sleepy; done
check "and four more, written at once" eventually 90 all_installed sl-used sl-browser sl-bg sl-rem
# Use, as Nextcloud records it (oc_authtoken.last_activity, at most once a minute per token):
# a browser session (type 0) in sl-browser, a desktop client's app password (type 1) in sl-used,
# refreshed while the others fall asleep.
sql sl-browser "INSERT INTO oc_authtoken (uid, login_name, name, token, type, last_activity) VALUES ('admin', 'admin', 'Firefox', 'e2e-browser', 0, extract(epoch from now())::int)" >/dev/null
sql sl-used "INSERT INTO oc_authtoken (uid, login_name, name, token, type, last_activity) VALUES ('admin', 'admin', 'Desktop client', 'e2e-desktop', 1, extract(epoch from now())::int)" >/dev/null
( while [ ! -e "$STATE_DIR/use.stop" ]; do
    for s in sl-browser sl-used; do sql "$s" "UPDATE oc_authtoken SET last_activity = extract(epoch from now())::int" >/dev/null 2>&1; done
    sleep 5
  done ) &
user=$!
# sl-bg's jobs last ran three days ago (a missed window); sl-rem has a calendar reminder due in
# 75 s, sooner than its daily run.
sql sl-bg "INSERT INTO oc_appconfig (appid, configkey, configvalue) VALUES ('core', 'lastcron', (extract(epoch from now())::bigint - 259200)::text)" >/dev/null
reminder_at=$(( $(date +%s) + 75 ))
sql sl-rem "INSERT INTO oc_calendar_reminders (calendar_id, object_id, is_recurring, uid, is_recurrence_exception, event_hash, alarm_hash, type, is_relative, notification_date, is_repeat_based)
  VALUES (1, 1, 0, 'e2e-event', 0, 'h', 'a', 'EMAIL', 1, $reminder_at, 0)" >/dev/null
all_sleeping() { local s; for s in "$@"; do is_sleeping "$s" || return 1; done; }
check "idle for the class's 30 s, they fall asleep: phase Sleeping" eventually 180 all_sleeping sl-mon sl-page sl-held sl-bg sl-rem "${flood[@]}"
bg_since=$(jsonpath space/sl-bg '{.status.sleep.since}')
check "sl-rem's next background run is its calendar reminder's time, not the night" bash -c \
  "[ \"\$(kubectl get space sl-rem -o jsonpath='{.status.sleep.background.nextReason} {.status.sleep.background.nextRun}')\" = \"CalendarReminder $(date -u -d @"$reminder_at" +%FT%TZ)\" ]"
check "with why and since when (status.sleep: Idle, the last use it read)" bash -c \
  "kubectl get space sl-mon -o json | jq -e '.status.sleep.reason == \"Idle\" and (.status.sleep.since | length) == 20 and (.status.sleep.message | test(\"sleeps after 30 s idle\"))'"
check "Ready stays True (Sleeping: the first request wakes it), WorkloadReady True Sleeping" bash -c \
  "[ \"\$(kubectl get space sl-mon -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}/{.status.conditions[?(@.type==\"Ready\")].reason} {.status.conditions[?(@.type==\"WorkloadReady\")].reason}')\" = 'True/Sleeping Sleeping' ]"
check "zero web pods: the Deployment at 0 replicas, no pod left" eventually 30 bash -c \
  "[ \"\$(kubectl -n space-sl-mon get deployment nextcloud -o jsonpath='{.spec.replicas}')\" = 0 ] && [ \"\$(kubectl -n space-sl-mon get pods -l app.kubernetes.io/name=nextcloud -o name | wc -l)\" = 0 ]"
check "kubectl get spaces shows it (Phase Sleeping, and -o wide its Since)" bash -c \
  "kubectl get spaces sl-mon --no-headers | grep -qw Sleeping && kubectl get spaces sl-mon -o wide | head -1 | grep -qw SINCE"
check "an Event FellAsleep" bash -c "kubectl get events -n default --field-selector involvedObject.name=sl-mon,reason=FellAsleep -o name | grep -q ."
check "its host goes to the wake component: the Ingress names nextcloud-wake, an ExternalName to the wake Service" bash -c \
  "[ \"\$(kubectl -n space-sl-mon get ingress nextcloud -o jsonpath='{.spec.rules[0].http.paths[0].backend.service.name}')\" = nextcloud-wake ] \
   && [ \"\$(kubectl -n space-sl-mon get service nextcloud-wake -o jsonpath='{.spec.type} {.spec.externalName}')\" = 'ExternalName framaspace-operator-wake.framaspace-system.svc.cluster.local' ]"
check "a Gateway class's route, asleep, names the wake Service, which exists (never a Service without endpoints)" eventually 30 bash -c \
  "[ \"\$(kubectl get space sl-gw -o jsonpath='{.status.sleep.state}')\" = Sleeping ] && [ \"\$(kubectl -n space-sl-gw get httproute nextcloud -o jsonpath='{.spec.rules[0].backendRefs[0].name}')\" = nextcloud-wake ] && kubectl -n space-sl-gw get service nextcloud-wake"
check "the metrics count the sleeping spaces" eventually 30 bash -c \
  "curl -sf http://127.0.0.1:$METRICS_PORT/metrics | awk '/^framaspace_spaces\\{phase=\"Sleeping\"\\}/ {n=\$2} END {exit !(n >= 55)}'"
check "a browser session used now keeps sl-browser awake (InUse), one web pod" bash -c \
  "[ \"\$(kubectl get space sl-browser -o jsonpath='{.status.sleep.state}/{.status.sleep.reason}')\" = Awake/InUse ] && [ \"\$(kubectl -n space-sl-browser get deployment nextcloud -o jsonpath='{.spec.replicas}')\" = 1 ]"
check "a desktop client's app password keeps sl-used awake (a syncing client is a user)" bash -c \
  "[ \"\$(kubectl get space sl-used -o jsonpath='{.status.sleep.state}/{.status.sleep.reason}')\" = Awake/InUse ]"
check "spec.keepAwake keeps sl-keep awake (KeptAwake)" bash -c \
  "[ \"\$(kubectl get space sl-keep -o jsonpath='{.status.sleep.state}/{.status.sleep.reason} {.status.phase}')\" = 'Awake/KeptAwake Ready' ]"
touch "$STATE_DIR/use.stop"; wait "$user" 2>/dev/null; rm -f "$STATE_DIR/use.stop"

section "waking: a monitor wakes nothing, a browser gets the waking page, a client's request is held and served"
code=$(curl -s -o /dev/null -w '%{http_code}' -A 'Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)' -H "Host: $(host_of sl-mon)" "$(wake_url /status.php)")
check_eq "an uptime monitor's request is answered 503, without waking" 503 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -I -H "Host: $(host_of sl-mon)" "$(wake_url /)")
check_eq "so is an unauthenticated HEAD (a probe)" 503 "$code"
check "robots.txt is Nextcloud's (Disallow: /), without waking" bash -c "curl -sf -H 'Host: $(host_of sl-mon)' '$(wake_url /robots.txt)' | grep -qx 'Disallow: /'"
sleep 3
check "sl-mon still sleeps, no wake asked" bash -c \
  "[ \"\$(kubectl get space sl-mon -o jsonpath='{.status.sleep.state}')\" = Sleeping ] && [ -z \"\$(kubectl get space sl-mon -o jsonpath='{.metadata.annotations.frama\\.space/wake-requested}')\" ]"
curl -s -D "$STATE_DIR/page.headers" -o "$STATE_DIR/page.html" -H 'Accept: text/html,application/xhtml+xml' \
  -A 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0' -H "Host: $(host_of sl-page)" "$(wake_url /index.php/login)"
check "a browser gets the waking page at once (503, Retry-After, a page that reloads)" bash -c \
  "head -1 '$STATE_DIR/page.headers' | grep -q ' 503' && grep -qi '^retry-after: 2' '$STATE_DIR/page.headers' \
   && grep -q 'http-equiv=\"refresh\" content=\"2\"' '$STATE_DIR/page.html' && grep -q 'se réveille' '$STATE_DIR/page.html'"
check "and the space wakes: Awake, its web pod ready" eventually 60 bash -c \
  "[ \"\$(kubectl get space sl-page -o jsonpath='{.status.sleep.state}')\" = Awake ] && kubectl wait --for=condition=Ready space/sl-page --timeout=2s"
check "its host goes back to its own Service once the pod is ready" bash -c \
  "[ \"\$(kubectl -n space-sl-page get ingress nextcloud -o jsonpath='{.spec.rules[0].http.paths[0].backend.service.name}')\" = nextcloud ]"
check "Events Waking then Woke" bash -c "kubectl get events -n default --field-selector involvedObject.name=sl-page -o json | jq -e '[.items[].reason] | index(\"Waking\") and index(\"Woke\")'"
started=$(date +%s%N)
answer=$(curl -s --max-time 150 -X PROPFIND -u alice:app-password -H 'Depth: 0' -H "Host: $(host_of sl-held)" \
  -A 'Mozilla/5.0 (Linux) mirall/3.16.0 (Nextcloud, debian-6.1 ClientArchitecture: x86_64 OsArchitecture: x86_64)' "$(wake_url /remote.php/dav/files/alice/)")
check "a desktop client's PROPFIND is held, then answered by the space (the stand-in upstream), Host kept" \
  grep -q "^served PROPFIND /remote.php/dav/files/alice/ for $(host_of sl-held) at " <<<"$answer"
arrived=$(sed -n 's/.* at \([0-9]*\) .*/\1/p' <<<"$answer")
awake_since=$(date -d "$(jsonpath space/sl-held '{.status.sleep.since}')" +%s)
check "it reached the space only once the space was awake ($(( (arrived - started) / 1000000 )) ms held)" test "$(( arrived / 1000000000 ))" -ge "$awake_since"
body=$(head -c 100000 /dev/zero | tr '\0' 'x')
answer=$(curl -s --max-time 30 -X PUT -u alice:app-password --data-binary "$body" -H "Host: $(host_of sl-held)" "$(wake_url /remote.php/dav/files/alice/big.txt)")
check "an upload to an awake space still routed here passes whole (100000 bytes)" grep -q "(100000 bytes)" <<<"$answer"
out=$(kubectl --kubeconfig "$STATE_DIR/wake.kubeconfig" patch space sl-mon --type merge -p '{"spec":{"keepAwake":true}}' 2>&1)
check "the wake component's identity may change nothing else of a space (admission policy)" grep -q "changes nothing of a space but metadata.annotations" <<<"$out"
out=$(kubectl --kubeconfig "$STATE_DIR/wake.kubeconfig" annotate space sl-mon frama.space/backup-requested=now 2>&1)
check "not even another annotation" grep -q "changes nothing of a space but" <<<"$out"

section "background jobs of a sleeping space: a Job runs cron.php, its web stays at zero; a reminder runs it early"
check "sl-bg, three days without background jobs, runs them at once: Event BackgroundRun" eventually 60 bash -c \
  "kubectl get events -n default --field-selector involvedObject.name=sl-bg,reason=BackgroundRun -o name | grep -q ."
check "the run was a Job of the space (cron.php, played by occ-sim) and is gone" bash -c \
  "grep -q '^space-sl-bg/nextcloud-background-[0-9]*-[a-z0-9]*: exit 0' '$SIM_LOG' && [ -z \"\$(kubectl -n space-sl-bg get jobs -l frama.space/occ=background -o name)\" ]"
check "its lastcron is now, and the next run is its next window (within a day)" bash -c \
  "kubectl get space sl-bg -o json | jq -e '(.status.sleep.background.lastRun | fromdate) > now - 120 and (.status.sleep.background.nextRun | fromdate) > now + 3000 and (.status.sleep.background.nextRun | fromdate) < now + 25 * 3600 and .status.sleep.background.nextReason == \"MaintenanceWindow\"'"
check "and it never woke: asleep since it fell asleep, its Deployment at 0, no web pod" bash -c \
  "[ \"\$(kubectl get space sl-bg -o jsonpath='{.status.sleep.state} {.status.sleep.since}')\" = 'Sleeping $bg_since' ] && [ \"\$(kubectl -n space-sl-bg get deployment nextcloud -o jsonpath='{.spec.replicas}')\" = 0 ] && [ -z \"\$(kubectl -n space-sl-bg get pods -l app.kubernetes.io/name=nextcloud -o name)\" ]"
reminders_sent() { [ "$(sql sl-rem 'SELECT count(*) FROM oc_calendar_reminders')" = 0 ]; }
check "at the reminder's time its run comes (a Job named for that time: cron.php sends it, the row is gone)" eventually 120 bash -c \
  "grep -q '^space-sl-rem/nextcloud-background-$reminder_at-[a-z0-9]*: exit 0' '$SIM_LOG'"
check "the reminder was sent (its row is gone), the space still asleep, its web at zero" eventually 30 bash -c \
  "$(declare -f sql db_of); PSQL=(${PSQL[*]}); $(declare -f reminders_sent); reminders_sent && [ \"\$(kubectl get space sl-rem -o jsonpath='{.status.sleep.state}')\" = Sleeping ] && [ \"\$(kubectl -n space-sl-rem get deployment nextcloud -o jsonpath='{.spec.replicas}')\" = 0 ]"
check "not before it was due" bash -c \
  "t=\$(kubectl -n space-sl-rem get events --field-selector reason=SuccessfulCreate -o json | jq -r '[.items[] | select(.involvedObject.kind == \"Job\" and (.involvedObject.name | startswith(\"nextcloud-background-\")))] | .[0].firstTimestamp // .[0].eventTime'); [ \"\$(date -d \"\$t\" +%s)\" -ge $reminder_at ]"

section "a flood: 200 requests for 50 sleeping spaces wake at most the class's bound (5) at once, and all are served"
# The per-pool count of spaces Waking, sampled while the requests are held.
( while [ ! -e "$STATE_DIR/flood.stop" ]; do
    kubectl get spaces -o json | jq -r '[.items[] | select(.status.sleep.state == "Waking") | .status.placement.databasePool] | group_by(.) | map(length) | max // 0'
    sleep 0.3
  done > "$STATE_DIR/flood-samples" ) &
sampler=$!
for s in "${flood[@]}"; do for n in 1 2 3 4; do echo "$s $n"; done; done \
  | xargs -P 200 -n 2 sh -c "curl -s --max-time 170 -u alice:pw -H \"Host: \$0.sleepy.frama.space\" '$(wake_url /remote.php/dav/files/alice/)' -X PROPFIND | grep -c '^served PROPFIND'" \
  > "$STATE_DIR/flood-answers"
touch "$STATE_DIR/flood.stop"; wait "$sampler" 2>/dev/null; rm -f "$STATE_DIR/flood.stop"
check_eq "every one of the 200 requests was held and served" 200 "$(grep -c '^1$' "$STATE_DIR/flood-answers")"
most=$(sort -n "$STATE_DIR/flood-samples" | tail -1)
check "never more than 5 spaces of a pool waking at once ($most at most, $(wc -l < "$STATE_DIR/flood-samples") samples)" test "${most:-99}" -le 5 -a "${most:-0}" -ge 1
# Each woke (an idle one falls asleep again 30 s later, so some sleep already).
check_eq "each of the 50 woke (Event Woke)" 50 "$(kubectl get events -n default -o json | jq '[.items[] | select(.reason == "Woke" and (.involvedObject.name | startswith("zz-"))) | .involvedObject.name] | unique | length')"
check "the wake component counts what it served, and how long it held (metrics)" bash -c \
  "curl -sf http://127.0.0.1:$WAKE_PROBE_PORT/metrics | awk '/^framaspace_wake_requests_total\\{outcome=\"served\"\\}/ {s=\$2} /^framaspace_wake_hold_seconds_count/ {h=\$2} END {exit !(s >= 202 && h >= 202)}'"
check "the operator's wake metrics: wakes and their duration" bash -c \
  "curl -sf http://127.0.0.1:$METRICS_PORT/metrics | awk '/^framaspace_space_sleep_transitions_total\\{result=\"woke\"\\}/ {w=\$2} /^framaspace_space_wake_seconds_count/ {c=\$2} END {exit !(w >= 52 && c >= 52)}'"

section "a suspended space is not sleeping"
kubectl patch space sl-page --type merge -p '{"spec":{"suspended":true}}' >/dev/null
check "suspended: phase Suspended, no sleep status" eventually 30 bash -c \
  "[ \"\$(kubectl get space sl-page -o jsonpath='{.status.phase}|{.status.sleep}')\" = 'Suspended|' ]"

stop_process wake
stop_process stand-in-upstream
# Gone before this suite's operator stops: 59 spaces left deleting would still count on the
# pools when the next suite places its own (most free capacity first).
kubectl delete space sl-mon sl-page sl-held sl-bg sl-rem sl-used sl-browser sl-keep sl-gw "${flood[@]}" --wait=true --timeout=180s >/dev/null 2>&1
