# Process bookkeeping for the e2e scripts: every process is started in its own session, its pid
# and start time recorded, and stopped by that record only (a recycled pid is never signalled).
# Sourced, never executed.

proc_start_time() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null; }

# True when the process recorded under NAME is the one still running.
is_running() {
  local f="$STATE_DIR/pids/$1"
  [ -s "$f" ] || return 1
  local pid start; read -r pid start < "$f"
  [ -n "$pid" ] && [ "$(proc_start_time "$pid")" = "$start" ]
}

# start_process NAME COMMAND... : starts COMMAND unless NAME already runs; logs to logs/NAME.log
# (or to $PROC_LOG when set).
start_process() {
  local name=$1; shift
  if is_running "$name"; then log "$name: already running"; return; fi
  log "starting $name"
  mkdir -p "$STATE_DIR/logs" "$STATE_DIR/pids"
  setsid "$@" >>"${PROC_LOG:-$STATE_DIR/logs/$name.log}" 2>&1 < /dev/null &
  local pid=$!
  disown "$pid" 2>/dev/null || true   # no "Killed" job notice when a test kills it on purpose
  local start=""
  for _ in 1 2 3 4 5 6 7 8 9 10; do start=$(proc_start_time "$pid"); [ -n "$start" ] && break; sleep 0.05; done
  echo "$pid $start" > "$STATE_DIR/pids/$name"
}

# stop_process NAME : TERM, then KILL after a grace period, by the recorded pid only.
stop_process() {
  local name=$1 f="$STATE_DIR/pids/$1"
  [ -s "$f" ] || return 0
  if is_running "$name"; then
    local pid; read -r pid _ < "$f"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do is_running "$name" || break; sleep 0.1; done
    if is_running "$name"; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; fi
  fi
  rm -f "$f"
}

# wait_for WHAT SECONDS COMMAND... : retries COMMAND until it succeeds or time runs out. The first
# word of WHAT names the component whose log is shown on a time-out.
wait_for() {
  local what=$1 seconds=$2; shift 2
  local deadline=$(( $(date +%s) + seconds ))
  local component=${what%% *}; component=${component%:}
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "timed out after ${seconds}s waiting for $what; last lines of logs/$component.log:"
      tail -n 30 "$STATE_DIR/logs/$component.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.5
  done
}

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
