#!/usr/bin/env bash
# Straggler detection on the whole local stack: runs e2e/scenarios/straggler.sh in
# BUILD_DIR/bench-straggler (the real node, a broker of its own, the operator installed by
# helm with BUILD_DIR/images). One of two replaying worker pods of sessions-v1 is slowed to 2%
# of a CPU through its container's cgroup; prints
#   straggler_detection_s   from that write to the poll here that first saw
#                           status.replay.stragglers non-empty (window 10 s, lag sampled every
#                           2 s, status polled every second)
#
#   bench/run.d/straggler.sh BUILD_DIR [BOOTSTRAP]   (the stack has a broker of its own)
set -euo pipefail
build=$(cd "$1" && pwd)
export KAPPA_BIN="$build/bin"
export KAPPA_IMAGES=${KAPPA_IMAGES:-$build/images} # make bench builds them (make images)
log=$build/bench-straggler.log
bash "$(dirname "$0")/../../e2e/scenarios/straggler.sh" "$build/bench-straggler" >"$log" 2>&1 || {
  tail -n 20 "$log" >&2
  echo "bench: straggler scenario failed (log $log)" >&2
  exit 1
}
sed -n 's/^E2E straggler_detection_s \(.*\)$/BENCH straggler_detection_s \1/p' "$log"
