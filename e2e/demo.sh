#!/usr/bin/env bash
# make demo: the local environment, the CRDs, the operator in the background, examples/ applied
# and waited for, then how to look at it and how to stop.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/proc.sh"

"$E2E_DIR/cluster-up.sh"
. "$STATE_DIR/env"
"$E2E_DIR/install.sh"
"$E2E_DIR/admin-secrets.sh"
mapfile -t operator < <(operator_command --metrics-address 127.0.0.1:28080 --identity demo)
PROC_LOG="$STATE_DIR/operator.log" start_process operator "${operator[@]}"
kubectl apply -k "$REPO_DIR/examples/"
spaces=$(kubectl get -k "$REPO_DIR/examples/" -o name | grep associationspace)
backends=$(kubectl get -k "$REPO_DIR/examples/" -o name | grep -E 'officebackend|previewbackend|talkbackend')
log "waiting for the example spaces and backends to be Ready"
# shellcheck disable=SC2086
kubectl wait --for=condition=Ready $spaces $backends --timeout=180s
office_wired() { ! kubectl get spaces -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="OfficeReady")].status}{"\n"}{end}' | grep -qv True; }
wait_for "operator: the office suites to be wired (occ Jobs)" 120 office_wired
talk_wired() { ! kubectl get spaces -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="TalkReady")].status}{"\n"}{end}' | grep -qv True; }
wait_for "operator: Talk wired to the TURN server (occ Jobs)" 120 talk_wired
echo
kubectl get spaces -o wide
echo
kubectl get officebackends,previewbackends,talkbackends
cat <<TXT

The demo runs. Look at it with:
  . $STATE_DIR/env
  kubectl get framaspace                      # every Framaspace object
  kubectl describe space collectif-velo       # conditions and events
  kubectl get space collectif-velo -o jsonpath='{.status.nextcloud}'   # the Nextcloud its install Job reported
  kubectl get all -n space-collectif-velo     # what one space becomes
  kubectl get jobs -n space-jardins-partages  # the occ Job that wired OnlyOffice
  kubectl patch space collectif-velo --type merge -p '{"spec":{"office":"onlyoffice"}}'   # switch suites
  kubectl get space collectif-velo -w -o custom-columns='NAME:.metadata.name,OFFICE:.status.office,BACKEND:.status.placement.officeBackend,OFFICE-READY:.status.conditions[?(@.type=="OfficeReady")].reason'
  kubectl -n framaspace-system get lease framaspace-operator   # who leads
  curl -s 127.0.0.1:28080/metrics | grep ^framaspace_          # the operator's metrics
  tail -f $STATE_DIR/operator.log             # its log (it runs as the chart's ServiceAccount)

Stop everything with: make demo-stop   (or make cluster-down)
TXT
