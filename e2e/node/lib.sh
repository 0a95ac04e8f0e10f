# Shared steps of the tests on the local node (sourced, not run). A test sets `state` (its
# state directory) and may define `on_fail` (more to print when it fails), then calls
#   node_start [--kafka]    node-up.sh in $state (and the broker on the node bridge's
#                           address), sourcing node.env (and kafka.env); stopped on exit
#   import_images DIR NAME...   OCI archives DIR/NAME.tar into the node's containerd
# and uses
#   say TEXT / fail TEXT    narration; fail prints the node's logs and stops the test
#   k ...                   kubectl with the admin kubeconfig
#   wait_for SECONDS WHAT COMMAND...   until COMMAND succeeds, else fail naming WHAT
# shellcheck shell=bash
set -euo pipefail
node_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$node_dir/../.." && pwd)
node_t0=$(date +%s)

say() { printf '[t+%3ds] %s\n' "$(($(date +%s) - node_t0))" "$*"; }
k() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }
fail() {
  echo "FAIL: $*" >&2
  if [ -n "${KUBECTL:-}" ]; then
    k get pods -A -o wide >&2 2>/dev/null
    declare -F on_fail >/dev/null && on_fail >&2 2>/dev/null
  fi
  for f in kubelet kube-controller-manager kube-scheduler kube-proxy containerd; do
    [ -f "$state/node/$f.log" ] && { echo "--- $f.log (last 10 lines)" >&2; tail -n 10 "$state/node/$f.log" >&2; }
  done
  exit 1
}
wait_for() {
  local secs=$1 what=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "$what not within ${secs}s"
    sleep 1
  done
}

node_cleanup() {
  local rc=$?
  declare -F on_exit >/dev/null && on_exit
  if [ "${node_downed:-0}" != 1 ]; then
    "$repo/e2e/kafka/kafka-down.sh" "$state" >/dev/null 2>&1
    "$node_dir/node-down.sh" "$state" >/dev/null 2>&1
  fi
  exit $rc
}

node_start() {
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
  trap node_cleanup EXIT
  "$node_dir/node-down.sh" "$state" >/dev/null 2>&1 || true
  "$node_dir/node-up.sh" "$state" >"$state/node-up.log" 2>&1 ||
    { tail -n 20 "$state/node-up.log" >&2; fail "node-up failed"; }
  # shellcheck disable=SC1091
  source "$state/node.env"
  export KUBECONFIG
  if [ "${1:-}" = --kafka ]; then
    KAFKA_HOST=$NODE_IP "$repo/e2e/kafka/kafka-up.sh" "$state" >"$state/kafka-up.log" 2>&1 ||
      { tail -n 20 "$state/kafka-up.log" >&2; fail "kafka-up failed"; }
    # shellcheck disable=SC1091
    source "$state/kafka.env"
  fi
}

import_images() { # import_images DIR NAME...
  local dir=$1 name
  shift
  for name in "$@"; do
    [ -f "$dir/$name.tar" ] || fail "$dir/$name.tar missing (e2e/images/build-images.sh $dir)"
    ctr --address "$CONTAINERD_ADDRESS" -n k8s.io images import "$dir/$name.tar" >/dev/null ||
      fail "importing $dir/$name.tar failed"
  done
}
