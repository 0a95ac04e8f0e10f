#!/usr/bin/env bash
# Stops the kube-apiserver and etcd started by apiserver-up.sh for STATE_DIR and removes
# etcd's data, the certificates and kubeconfigs. Logs are kept in <state>/apiserver.
# Idempotent.
#
#   apiserver-down.sh [STATE_DIR]      (default: .local in the repository)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${1:-$repo/.local}
run="$state/apiserver"

# KAPPA_APISERVER_STOP_SECONDS: how long a TERM is given before KILL (default 30; the
# node's teardown, whose data is thrown away, gives 5).
wait_s=${KAPPA_APISERVER_STOP_SECONDS:-30}
stop() { # stop NAME: TERM, wait up to $wait_s, then KILL
  local name=$1 pid
  if [ ! -f "$run/$name.pid" ]; then
    return 0
  fi
  pid=$(cat "$run/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 $((wait_s * 5))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "apiserver: $name $pid did not stop in ${wait_s}s; killing it"
      kill -9 "$pid" 2>/dev/null || true
    fi
    echo "apiserver: $name $pid stopped"
  else
    echo "apiserver: $name $pid was not running"
  fi
  rm -f "$run/$name.pid"
}

if [ -f "$run/kube-apiserver.pid" ] || [ -f "$run/etcd.pid" ]; then
  stop kube-apiserver   # before etcd, so it does not spin on a lost backend
  stop etcd
else
  echo "apiserver: no control plane recorded in $state"
fi
if [ -f "$run/datadir" ]; then
  rm -rf "$(cat "$run/datadir")"
  rm -f "$run/datadir"
fi
rm -rf "$run/pki" "$run"/*.kubeconfig
rm -f "$state/apiserver.env"
