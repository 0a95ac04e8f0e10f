#!/usr/bin/env bash
# Stops the broker started by kafka-up.sh for STATE_DIR and removes its data. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${1:-$repo/.local}
run="$state/kafka"
if [ -f "$run/pid" ]; then
  pid=$(cat "$run/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "kafka: broker $pid did not stop in 30s; killing it"
      kill -9 "$pid" 2>/dev/null || true
    fi
    echo "kafka: broker $pid stopped"
  else
    echo "kafka: broker $pid was not running"
  fi
  rm -f "$run/pid"
else
  echo "kafka: no broker recorded in $state"
fi
if [ -f "$run/datadir" ]; then
  rm -rf "$(cat "$run/datadir")"
  rm -f "$run/datadir"
fi
rm -f "$state/kafka.env"
