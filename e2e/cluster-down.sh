#!/usr/bin/env bash
# Stops every process cluster-up started, by recorded pid, in reverse order, and removes the state.
# Succeeds when nothing runs.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/proc.sh"

[ -d "$STATE_DIR" ] || { log "nothing to stop"; exit 0; }
# The operator (make demo) and anything else recorded, before the control plane it talks to.
for f in "$STATE_DIR"/pids/*; do
  [ -e "$f" ] || continue
  name=$(basename "$f")
  case "$name" in etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kwok|postgres|redis|minio|garage) ;; *) stop_process "$name" ;; esac
done
for name in garage minio redis postgres kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
  stop_process "$name"
done
rm -rf "$STATE_DIR"
log "environment stopped and removed"
