#!/usr/bin/env bash
# Office, preview and calls backends: deployed and scaled with the spaces assigned, a space
# switching from Collabora to OnlyOffice (config, JWT, occ Job, assignment), `office: none`; Talk
# wired to a TalkBackend's TURN server, checked against a real coturn run with the operator's
# configuration and secret (e2e/tests/turn-client.py asks it for allocations with the credentials
# Talk computes), a space moved to another TalkBackend, a class that drops apps.
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
check_eq "a new space never had an office app: no office occ Job" "0" "$(kubectl -n space-office-none get jobs -l frama.space/occ=office -o name | wc -l)"
check_eq "it has no office backend" "" "$(jsonpath space/office-none '{.status.placement.officeBackend}')"
check "its config enables neither app" bash -c "kubectl -n space-office-none get configmap nextcloud-config -o jsonpath='{.data.office\\.config\\.php}' | grep -q 'online editing is disabled'"
check "switching office-1 (OnlyOffice) to none" kubectl patch space office-1 --type merge -p '{"spec":{"office":"none"}}'
check "OfficeReady of office-1 says Disabled" eventually 60 bash -c "[ \"\$(kubectl get space office-1 -o jsonpath='{.status.conditions[?(@.type==\"OfficeReady\")].reason}')\" = Disabled ]"
check "an occ Job disabled both apps" bash -c \
  "kubectl -n space-office-1 get jobs -l frama.space/occ=office -o json | jq -r '.items[0].metadata.annotations[\"frama.space/occ-commands\"]' | tr '\\n' ' ' | grep -q 'app:disable richdocuments app:disable onlyoffice'"
check "its JWT is removed with its OnlyOffice backend" bash -c "kubectl -n space-office-1 get secret nextcloud-credentials -o json | jq -e '.data | has(\"onlyoffice-jwt-secret\") | not'"
check "onlyoffice-1 counts 0 spaces" eventually 60 bash -c "[ \"\$(kubectl get officebackend onlyoffice-1 -o jsonpath='{.status.assignedSpaces}')\" = 0 ]"

section "calls: the TalkBackend's TURN servers and its secret"
PSQL=(psql -qAt -h 127.0.0.1 -p "$FRAMASPACE_PG_PORT" -U postgres)
export PGPASSWORD=$FRAMASPACE_PG_PASSWORD
TURN_CLIENT="$E2E_DIR/tests/turn-client.py"
turn_secret() { kubectl -n $NS get secret "talk-$1-turn" -o jsonpath='{.data.turn-secret}' | base64 -d; }
db_value() { "${PSQL[@]}" -d "space_${1//-/_}" -c "SELECT configvalue FROM oc_appconfig WHERE appid='$2' AND configkey='$3'"; }
talk_is() { [ "$(jsonpath "space/$1" '{.status.conditions[?(@.type=="TalkReady")].reason} {.status.placement.talkBackend}')" = "$2" ]; }
talk_jobs() { kubectl -n "space-$1" get jobs -l frama.space/occ=talk -o json; }
assigned() { jsonpath "talkbackend/$1" '{.status.assignedSpaces}'; }
# coturn as a TalkBackend's pods run it: the operator's configuration from the backend's Secret,
# on loopback ports of this environment (listening-port and relay range replaced).
start_turn() {
  local dir="$STATE_DIR/turn-$1"
  mkdir -p "$dir"
  kubectl -n $NS get secret "talk-$1-turn" -o jsonpath='{.data.turnserver\.conf}' | base64 -d |
    sed -e "s/^listening-port=.*/listening-port=$2/" -e "s/^min-port=.*/min-port=$3/" -e "s/^max-port=.*/max-port=$4/" > "$dir/turnserver.conf"
  printf 'listening-ip=127.0.0.1\nrelay-ip=127.0.0.1\nuserdb=%s/turndb\npidfile=%s/turnserver.pid\n' "$dir" "$dir" >> "$dir/turnserver.conf"
  start_process "turn-$1" turnserver -c "$dir/turnserver.conf"
}
check "talkbackend/turn-1 becomes Ready" kubectl wait --for=condition=Ready talkbackend/turn-1 --timeout=90s
check_eq "coturn runs minReplicas 2 on the TURN nodes' own network, one per node" "2 true kwok-turn-1 kwok-turn-2" \
  "$(kubectl -n $NS get deployment talk-turn-1 -o jsonpath='{.status.readyReplicas} {.spec.template.spec.hostNetwork}') $(kubectl -n $NS get pods -l app.kubernetes.io/instance=talk-turn-1 -o jsonpath='{.items[*].spec.nodeName}' | tr ' ' '\n' | sort | xargs)"
check "its secret: 64 hex digits from the CSPRNG, in a Secret owned by the backend" bash -c \
  "kubectl -n $NS get secret talk-turn-1-turn -o json | jq -e '(.data[\"turn-secret\"] | @base64d | test(\"^[0-9a-f]{64}\$\")) and .metadata.ownerReferences[0].kind == \"TalkBackend\"'"
secret1=$(turn_secret turn-1)
check "coturn's configuration (same Secret) holds it with Talk's settings and no private peer" bash -c \
  "kubectl -n $NS get secret talk-turn-1-turn -o jsonpath='{.data.turnserver\\.conf}' | base64 -d > $STATE_DIR/turn-1.conf && grep -qx 'static-auth-secret=$secret1' $STATE_DIR/turn-1.conf && grep -qx use-auth-secret $STATE_DIR/turn-1.conf && grep -qx 'realm=turn.frama.space' $STATE_DIR/turn-1.conf && grep -qx 'denied-peer-ip=10.0.0.0-10.255.255.255' $STATE_DIR/turn-1.conf"
check "the secret is in no pod spec (the conf is a Secret volume)" bash -c "! kubectl -n $NS get deployment talk-turn-1 -o json | grep -qF '$secret1'"
for s in office-1 office-3 office-6 office-none; do
  check "space $s: TalkReady Configured on turn-1" eventually 90 talk_is "$s" "Configured turn-1"
done
check "turn-1 counts the 8 spaces" eventually 60 bash -c "[ \"\$(kubectl get talkbackend turn-1 -o jsonpath='{.status.assignedSpaces}')\" = 8 ]"
check "kubectl get talkbackend shows it" eventually 30 bash -c \
  "[ \"\$(kubectl get talkbackend turn-1 --no-headers | awk '{print \$1, \$2, \$3, \$4, \$5, \$6, \$7, \$8}')\" = 'turn-1 turn.frama.space 3478 8 2 2 True True' ]"
check "one talk occ Job wired Talk: lists emptied, then Talk's talk:stun:add, talk:turn:add and talk:signaling:add" bash -c \
  "j=\$(kubectl -n space-office-3 get jobs -l frama.space/occ=talk -o json); echo \"\$j\" | jq -e '.items | length == 1' >/dev/null && echo \"\$j\" | jq -r '.items[0].metadata.annotations[\"frama.space/occ-commands\"]' | tr '\\n' '|' | grep -qF 'app:enable spreed|config:app:delete spreed turn_servers|config:app:delete spreed stun_servers|config:app:delete spreed signaling_servers|talk:stun:add turn.frama.space:3478|talk:turn:add turn turn.frama.space:3478 udp,tcp --secret=\"\$FRAMASPACE_TALK_TURN_SECRET\"|talk:signaling:add https://signaling.frama.space/ \"\$FRAMASPACE_TALK_SIGNALING_SECRET\" --verify'"
check "the Job reads the secret from the space's own Secret" bash -c \
  "kubectl -n space-office-3 get jobs -l frama.space/occ=talk -o json | jq -e '.items[0].spec.template.spec.containers[0].env[] | select(.name == \"FRAMASPACE_TALK_TURN_SECRET\") | .valueFrom.secretKeyRef | .name == \"nextcloud-credentials\" and .key == \"talk-turn-secret\" and .optional == false'"
check_eq "the space's Secret holds turn-1's secret" "$secret1" "$(kubectl -n space-office-3 get secret nextcloud-credentials -o jsonpath='{.data.talk-turn-secret}' | base64 -d)"
check "the web pods are not given it; no Job, Deployment, status or Event shows it" bash -c \
  "! kubectl -n space-office-3 get deployment nextcloud -o json | grep -q FRAMASPACE_TALK_TURN_SECRET && ! { kubectl -n space-office-3 get jobs,deployments -o json; kubectl get space office-3 -o json; kubectl get events -A -o json; } | grep -qF '$secret1'"
check_eq "Talk's TURN list in the space's real database: turn-1, with its secret" "turn turn.frama.space:3478 udp,tcp $secret1" \
  "$(db_value office-3 spreed turn_servers | jq -r '.[] | "\(.schemes) \(.server) \(.protocols) \(.secret)"')"
check_eq "and its STUN list" '["turn.frama.space:3478"]' "$(db_value office-3 spreed stun_servers)"
check "status.apps.enabled: calendar, contacts, deck, collectives (with circles, text) and spreed" bash -c \
  "kubectl get space office-3 -o json | jq -e '.status.apps.enabled as \$e | all(\"calendar\", \"contacts\", \"deck\", \"collectives\", \"circles\", \"text\", \"spreed\"; . as \$a | \$e | index(\$a))'"
check "the space has the 8 promised features" eventually 30 bash -c "[ \"\$(kubectl get space office-3 -o jsonpath='{.status.features.shown}')\" = 8/8 ]"
check "kubectl get spaces shows them" bash -c "kubectl get space office-3 | grep -q ' 8/8 '"
check_eq "office-1 (office: none) lacks office only, and says why" "7/8 (no office)|office: OfficeReady Disabled" \
  "$(jsonpath space/office-1 '{.status.features.shown}|{.status.features.missing[*]}')"
check "Events tell the wiring" bash -c \
  "kubectl get events -n default --field-selector involvedObject.name=office-3 -o json | jq -e '[.items[].reason] | index(\"TalkConfigured\")'"

section "calls: a real coturn with turn-1's configuration and secret"
start_turn turn-1 23478 23480 23489
secret_db=$(db_value office-3 spreed turn_servers | jq -r '.[0].secret')
check "it grants an allocation to the credentials Talk computes from the space's secret" \
  eventually 10 bash -c "python3 $TURN_CLIENT 127.0.0.1 23478 '$secret_db' | grep -q '^allocated 127.0.0.1:'"
check "it refuses to relay to a private address (denied-peer-ip)" bash -c \
  "python3 $TURN_CLIENT 127.0.0.1 23478 '$secret_db' --peer 10.1.2.3 | grep -q '^permission 10.1.2.3 refused 403'"
check "it refuses stale credentials (their expiry passed)" bash -c "python3 $TURN_CLIENT 127.0.0.1 23478 '$secret_db' --expired | grep -q '^refused 401'"

section "calls: the High-performance backend (signaling server, Janus, NATS)"
signaling_secret() { kubectl -n "space-$1" get secret nextcloud-credentials -o jsonpath='{.data.talk-signaling-secret}' | base64 -d; }
check_eq "one pod of signaling, Janus and NATS on a TURN node's network, replaced whole" "signaling janus nats true Recreate turn 1" \
  "$(kubectl -n $NS get deployment talk-turn-1-signaling -o jsonpath='{.spec.template.spec.containers[*].name} {.spec.template.spec.hostNetwork} {.spec.strategy.type} {.spec.template.spec.nodeSelector.frama\.space/node-pool} {.status.readyReplicas}')"
check "the backend reports it: SignalingReady True" eventually 30 bash -c \
  "[ \"\$(kubectl get talkbackend turn-1 -o jsonpath='{.status.conditions[?(@.type==\"SignalingReady\")].status}')\" = True ]"
check_eq "its own Ingress on signaling.frama.space" "signaling.frama.space" "$(kubectl -n $NS get ingress talk-turn-1-signaling -o jsonpath='{.spec.rules[0].host}')"
check "its configuration lists the 8 spaces, each a backend of its own" eventually 60 bash -c \
  "kubectl -n $NS get secret talk-turn-1-signaling -o jsonpath='{.data.server\\.conf}' | base64 -d | grep -qx 'backends = office-1, office-2, office-3, office-4, office-5, office-6, office-7, office-none'"
sig3=$(signaling_secret office-3); sig6=$(signaling_secret office-6)
check "each space holds a secret of its own (64 hex digits), in its Secret only" bash -c \
  "[[ '$sig3' =~ ^[0-9a-f]{64}\$ ]] && [ '$sig3' != '$sig6' ] && ! kubectl -n space-office-3 get jobs,deployments -o json | grep -qF '$sig3'"
check_eq "Talk's signaling server in the space's real database: the backend's, with the space's secret" \
  "https://signaling.frama.space/ true $sig3" "$(db_value office-3 spreed signaling_servers | jq -r '"\(.servers[0].server) \(.servers[0].verify) \(.secret)"')"
# The signaling server as the pod runs it (Debian's nextcloud-spreed-signaling, with nats-server):
# the operator's configuration from the Secret, on loopback; no Janus here (mcu off), which the
# backend API does not need.
SIG_DIR="$STATE_DIR/signaling"; mkdir -p "$SIG_DIR"
signaling_conf() {
  kubectl -n $NS get secret talk-turn-1-signaling -o jsonpath='{.data.server\.conf}' | base64 -d |
    sed -e 's#^listen = .*#listen = 127.0.0.1:28088#' -e 's#^url = nats://.*#url = nats://127.0.0.1:28422#' -e 's#^type = janus$#type =#' -e 's#^url = ws://127.0.0.1:8188$##' > "$SIG_DIR/server.conf.new"
  mv "$SIG_DIR/server.conf.new" "$SIG_DIR/server.conf"
}
signaling_conf
start_process nats-e2e nats-server -a 127.0.0.1 -p 28422
start_process signaling-e2e nextcloud-spreed-signaling-server -config "$SIG_DIR/server.conf"
SIG_CLIENT="$E2E_DIR/tests/signaling-client.py"
check "the signaling server accepts a room request signed with the secret the operator gave the space" \
  eventually 15 bash -c "python3 $SIG_CLIENT http://127.0.0.1:28088 https://office-3.frama.space/ '$sig3' | grep -qx 200"
check "and refuses one signed with another space's secret" bash -c "python3 $SIG_CLIENT http://127.0.0.1:28088 https://office-3.frama.space/ '$sig6' | grep -qx 403"
check "and one of the space's secret sent for another space" bash -c "python3 $SIG_CLIENT http://127.0.0.1:28088 https://office-6.frama.space/ '$sig3' | grep -qx 403"

section "calls: a space moved to another TalkBackend"
check "kubectl apply a second TalkBackend" kubectl apply -f - <<'YAML'
apiVersion: frama.space/v1alpha1
kind: TalkBackend
metadata: { name: turn-2 }
spec:
  turn: { host: turn2.frama.space, port: 3479 }
  scaling: { spacesPerReplica: 2500, minReplicas: 1, maxReplicas: 4 }
YAML
# coturn's default relay range, as turn-1's: on the same nodes' network the scheduler would run
# both (it sees no relay port), and each would fail relays on the ports the other holds.
refused() {
  [ "$(jsonpath talkbackend/turn-2 '{.status.conditions[?(@.type=="Ready")].reason} {.status.desiredReplicas} {.status.readyReplicas}')" = "PortConflict 0 0" ] &&
    jsonpath talkbackend/turn-2 '{.status.conditions[?(@.type=="Ready")].message}' |
      grep -qF 'its relay ports 49152-65535 overlap the relay ports 49152-65535 of TalkBackend turn-1 on the same nodes (frama.space/node-pool=turn)' &&
    [ "$(kubectl -n $NS get deployment talk-turn-2 -o jsonpath='{.spec.replicas}')" = 0 ]
}
check "on turn-1's nodes with turn-1's relay ports, it is refused: Ready False PortConflict naming turn-1, no pod" eventually 30 refused
check "given relay ports of its own (not turn-1's relay nor its signaling media 20000-40000)" \
  kubectl patch talkbackend turn-2 --type merge -p '{"spec":{"turn":{"relayPorts":{"min":41000,"max":44999}}}}'
check "talkbackend/turn-2 becomes Ready" kubectl wait --for=condition=Ready talkbackend/turn-2 --timeout=90s
secret2=$(turn_secret turn-2)
check "each backend has its own secret" test -n "$secret2" -a "$secret1" != "$secret2"
old_job=$(talk_jobs office-3 | jq -r '.items[0].metadata.name')
check "kubectl patch space office-3 spec.callsBackend=turn-2" kubectl patch space office-3 --type merge -p '{"spec":{"callsBackend":"turn-2"}}'
check "TalkReady comes back Configured on turn-2" eventually 60 talk_is office-3 "Configured turn-2"
check "kubectl describe tells the move by an Event of its own naming turn-2, turn-1's still there (not a count on it)" eventually 20 bash -c \
  "kubectl get events -n default --field-selector involvedObject.name=office-3 -o json | jq -e '[.items[] | select(.reason == \"TalkConfigured\") | .message] | any(contains(\"TalkBackend turn-2\")) and any(contains(\"TalkBackend turn-1\"))'"
check "rewired once: one talk Job, a new one, for turn-2's secret" bash -c \
  "j=\$(kubectl -n space-office-3 get jobs -l frama.space/occ=talk -o json); echo \"\$j\" | jq -e --arg old '$old_job' '.items | length == 1 and .[0].metadata.name != \$old and .[0].status.succeeded == 1'"
check_eq "Talk's TURN list: turn-2 only, with its secret" "turn2.frama.space:3479 $secret2" \
  "$(db_value office-3 spreed turn_servers | jq -r '.[] | "\(.server) \(.secret)"')"
check_eq "the space's Secret holds turn-2's secret, no longer turn-1's" "$secret2" "$(kubectl -n space-office-3 get secret nextcloud-credentials -o jsonpath='{.data.talk-turn-secret}' | base64 -d)"
start_turn turn-2 23479 23490 23499
check "turn-2's coturn grants the space's credentials" eventually 10 bash -c "python3 $TURN_CLIENT 127.0.0.1 23479 '$secret2' | grep -q '^allocated'"
check "the old secret stops working for it: turn-2's coturn refuses credentials from turn-1's" bash -c \
  "python3 $TURN_CLIENT 127.0.0.1 23479 '$secret1' | grep -q '^refused 401'"
check "and turn-1's coturn refuses another backend's spaces (turn-2's secret)" bash -c \
  "python3 $TURN_CLIENT 127.0.0.1 23478 '$secret2' | grep -q '^refused 401'"
check "turn-2 has no signaling server: the space's Talk list of them is emptied, its secret removed" bash -c \
  "$(declare -f db_value); PSQL=(${PSQL[*]}); [ -z \"\$(db_value office-3 spreed signaling_servers)\" ] && kubectl -n space-office-3 get secret nextcloud-credentials -o json | jq -e '.data | has(\"talk-signaling-secret\") | not'"
check "turn-1's signaling configuration no longer lists it" eventually 60 bash -c \
  "! kubectl -n $NS get secret talk-turn-1-signaling -o jsonpath='{.data.server\\.conf}' | base64 -d | grep -q '^\\[office-3\\]'"
signaling_conf
pkill -HUP -f "nextcloud-spreed-signaling-server -config $SIG_DIR/server.conf"
check "reloaded (SIGHUP, as the pod's wrapper sends it), the signaling server refuses the space's old secret" \
  eventually 15 bash -c "python3 $SIG_CLIENT http://127.0.0.1:28088 https://office-3.frama.space/ '$sig3' | grep -qx 403"
check "and still serves the spaces it lists" bash -c "python3 $SIG_CLIENT http://127.0.0.1:28088 https://office-6.frama.space/ '$sig6' | grep -qx 200"
check "turn-1 counts 7 spaces, turn-2 one" eventually 60 bash -c "[ \"\$(kubectl get talkbackend turn-1 -o jsonpath='{.status.assignedSpaces}') \$(kubectl get talkbackend turn-2 -o jsonpath='{.status.assignedSpaces}')\" = '7 1' ]"
moved_job=$(talk_jobs office-3 | jq -r '.items[0].metadata.name')
kubectl annotate space office-3 e2e.frama.space/poke="$(date +%s%N)" --overwrite >/dev/null
sleep 3
check_eq "a resync runs no new Job" "1 $moved_job" "$(talk_jobs office-3 | jq -r '"\(.items | length) \(.items[0].metadata.name)"')"
check "a space naming a TalkBackend that does not exist says so" bash -c \
  "kubectl patch space office-7 --type merge -p '{\"spec\":{\"callsBackend\":\"turn-9\"}}' >/dev/null && for _ in \$(seq 60); do [ \"\$(kubectl get space office-7 -o jsonpath='{.status.conditions[?(@.type==\"TalkReady\")].reason}/{.status.conditions[?(@.type==\"Ready\")].status}')\" = BackendNotFound/True ] && exit 0; sleep 0.5; done; exit 1"
check "creating that TalkBackend wires the waiting space at once, not at its next resync" bash -c \
  "kubectl apply -f - >/dev/null <<'YAML'
apiVersion: frama.space/v1alpha1
kind: TalkBackend
metadata: { name: turn-9 }
spec:
  turn: { host: turn9.frama.space, port: 3481, relayPorts: { min: 45000, max: 48999 } }
  scaling: { spacesPerReplica: 2500, minReplicas: 1, maxReplicas: 1 }
YAML
for _ in \$(seq 40); do [ \"\$(kubectl get space office-7 -o jsonpath='{.status.conditions[?(@.type==\"TalkReady\")].reason} {.status.placement.talkBackend}')\" = 'Configured turn-9' ] && exit 0; sleep 0.5; done; exit 1"
kubectl patch space office-7 --type json -p '[{"op":"remove","path":"/spec/callsBackend"}]' >/dev/null
kubectl delete talkbackend turn-9 --wait=false >/dev/null

section "a class that drops apps: deck and Talk"
app_on() { [ "$(db_value "$1" "$2" enabled)" = "$3" ]; }
apps_jobs() { kubectl -n "space-$1" get jobs -l frama.space/occ=apps -o name | wc -l; }
check "kubectl patch the class: apps without deck and spreed" kubectl patch spaceclass standard --type merge -p \
  '{"spec":{"apps":["calendar","circles","collectives","contacts","text","twofactor_totp"]}}'
check "deck and spreed are disabled in the space's real database" eventually 90 bash -c "$(declare -f app_on db_value); PSQL=(${PSQL[*]}); app_on office-6 deck no && app_on office-6 spreed no"
check_eq "by one apps Job" "1" "$(apps_jobs office-6)"
check "Talk is unwired: its TURN and STUN lists emptied, no TalkReady left" eventually 60 bash -c \
  "$(declare -f db_value); PSQL=(${PSQL[*]}); [ -z \"\$(db_value office-6 spreed turn_servers)\" ] && [ -z \"\$(kubectl get space office-6 -o jsonpath='{.status.conditions[?(@.type==\"TalkReady\")].type}')\" ]"
check "the space no longer holds a TURN secret" bash -c "kubectl -n space-office-6 get secret nextcloud-credentials -o json | jq -e '.data | has(\"talk-turn-secret\") | not'"
check "its features say kanban and calls are gone" eventually 30 bash -c "[ \"\$(kubectl get space office-6 -o jsonpath='{.status.features.shown}')\" = '6/8 (no kanban,calls)' ]"
check "turn-1 and turn-2 count no space" eventually 60 bash -c "[ \"\$(kubectl get talkbackend turn-1 -o jsonpath='{.status.assignedSpaces}') \$(kubectl get talkbackend turn-2 -o jsonpath='{.status.assignedSpaces}')\" = '0 0' ]"
check "the class back as in examples/" kubectl apply -f "$REPO_DIR/examples/spaceclass-standard.yaml"
check "deck enabled and Talk wired again" eventually 90 bash -c "$(declare -f app_on db_value); PSQL=(${PSQL[*]}); app_on office-6 deck yes && [ \"\$(kubectl get space office-6 -o jsonpath='{.status.conditions[?(@.type==\"TalkReady\")].reason}')\" = Configured ]"
check "the space has the 8 promised features again" eventually 30 bash -c "[ \"\$(kubectl get space office-6 -o jsonpath='{.status.features.shown}')\" = 8/8 ]"
stop_process turn-turn-1
stop_process turn-turn-2
stop_process signaling-e2e
stop_process nats-e2e

section "scaling down, never below minReplicas"
check "deleting 4 Collabora spaces" kubectl delete space office-2 office-3 office-4 office-5 --wait=true --timeout=120s
check "collabora-1 scales down to 1 replica for its 2 spaces" eventually 60 backend_is collabora-1 "2/1/1/True"
check "minReplicas 2 keeps 2 replicas" kubectl patch officebackend collabora-1 --type merge -p '{"spec":{"scaling":{"minReplicas":2}}}'
check "collabora-1 runs 2 replicas although 1 would do" eventually 60 backend_is collabora-1 "2/2/2/True"
check "backend replicas are exported as metrics" bash -c \
  "curl -sf http://127.0.0.1:$METRICS_PORT/metrics | grep -q 'framaspace_backend_replicas{kind=\"OfficeBackend\",backend=\"collabora-1\",state=\"ready\"} 2'"

section "cleanup"
check "the remaining spaces are deleted" kubectl delete space office-1 office-6 office-7 office-none --wait=true --timeout=120s
kubectl delete talkbackend turn-2 --wait=true >/dev/null
kubectl patch officebackend collabora-1 --type merge -p '{"spec":{"scaling":{"spacesPerReplica":50,"minReplicas":1}}}' >/dev/null
stop_process office-operator
summary
