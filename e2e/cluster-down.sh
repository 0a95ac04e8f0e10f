#!/usr/bin/env bash
# Stops what cluster-up.sh started for STATE_DIR (default .local): the demo's producer, the
# Kafka broker and the node (e2e/node/node-down.sh: pods, kubelet, containerd, control
# plane, bridge, iptables chains, mounts, cgroups). Logs are kept. Idempotent.
#
#   cluster-down.sh [STATE_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
state=${1:-$repo/.local}
run="$state/cluster"

if [ -f "$run/demo-loadgen.pid" ]; then
  kill "$(cat "$run/demo-loadgen.pid")" 2>/dev/null || true
  rm -f "$run/demo-loadgen.pid"
fi
rm -f "$state/cluster.env"
"$repo/e2e/kafka/kafka-down.sh" "$state"
"$repo/e2e/node/node-down.sh" "$state"
echo "cluster-down: stopped (logs kept in $state)"
