# Sourced first by every benchmark: the e2e helpers, the process helpers and the running local
# environment (`make cluster-up`), whose ports and credentials it exports.
. "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"
. "$E2E_DIR/proc.sh"
[ -s "$STATE_DIR/env" ] || die "no environment: run 'make cluster-up' first"
. "$STATE_DIR/env"
