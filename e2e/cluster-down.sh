#!/usr/bin/env bash
# Stops what cluster-up.sh started for STATE_DIR (default .local): kappa-operator, the node
# runner (which stops its worker processes), kube-apiserver + etcd, Kafka. Logs are kept.
# Idempotent.
#
#   cluster-down.sh [STATE_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
state=${1:-$repo/.local}
run="$state/cluster"

stop() { # stop NAME SECONDS: TERM, wait, then KILL
  local name=$1 secs=$2 pid
  [ -f "$run/$name.pid" ] || return 0
  pid=$(cat "$run/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 $((secs * 5))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "cluster-down: $name $pid did not stop in ${secs}s; killing it"
      kill -9 "$pid" 2>/dev/null || true
    fi
    echo "cluster-down: $name $pid stopped"
  fi
  rm -f "$run/$name.pid"
}

stop demo-loadgen 5
stop operator 20
stop node-runner 30
# Worker processes left behind by a node runner that was killed.
if [ -d "$run/node/pids" ]; then
  for f in "$run"/node/pids/*.pid; do
    [ -f "$f" ] || continue
    kill -9 -- "-$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
fi
rm -f "$run/operator.ports" "$state/cluster.env"
"$repo/e2e/cluster/apiserver-down.sh" "$state"
"$repo/e2e/kafka/kafka-down.sh" "$state"
echo "cluster-down: stopped (logs kept in $run)"
