#!/usr/bin/env bash
# e2e.first_version_serves: the whole local stack (e2e/cluster-up.sh into a state dir of its
# own), a first PipelineVersion of a pipeline over a small clickstream, and the assertions:
# it reaches Serving, and the serving alias ConfigMap <pipeline>-serving names it. The stack
# is stopped at the end, pass or fail.
#
#   first_version.sh [STATE_DIR]     KAPPA_BIN=dir of the binaries (default build/bin)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${1:-$(mktemp -d "${TMPDIR:-/tmp}/kappa-e2e.XXXXXX")}
mkdir -p "$state"
state=$(cd "$state" && pwd)
ns=e2e-first
timeout=${KAPPA_E2E_TIMEOUT:-240}

fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "--- operator log (last 30 lines)"; tail -n 30 "$state/cluster/operator.log" 2>/dev/null || true
    echo "--- node runner log (last 20 lines)"; tail -n 20 "$state/cluster/node-runner.log" 2>/dev/null || true
    for f in "$state"/cluster/node/logs/"$ns"/*.log; do
      [ -f "$f" ] && { echo "--- $f (last 10 lines)"; tail -n 10 "$f"; }
    done
  fi
  "$repo/e2e/cluster-down.sh" "$state" >/dev/null 2>&1 || true
  exit $rc
}
trap cleanup EXIT

t0=$(date +%s)
"$repo/e2e/cluster-up.sh" "$state"
# shellcheck disable=SC1091
source "$state/cluster.env"
k() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }

topic=e2e-first.clicks
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count 20000 --keys 500 >/dev/null || fail "kappa-loadgen could not write $topic"

k create namespace "$ns" --dry-run=client -o yaml | k apply -f - >/dev/null
python3 - "$repo/crds/examples/sessions-v1.yaml" "$KAFKA_BOOTSTRAP" "$topic" <<'PY' | k apply -n "$ns" -f -
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
doc["spec"]["kafka"]["bootstrapServers"] = sys.argv[2]
doc["spec"]["source"]["topic"] = sys.argv[3]
doc["spec"]["catchUp"]["stableSeconds"] = 5
print(yaml.safe_dump(doc))
PY

phase=""
for _ in $(seq 1 "$timeout"); do
  phase=$(k get plv sessions-v1 -n "$ns" -o jsonpath='{.status.phase}')
  [ "$phase" = Serving ] && break
  [ "$phase" = Failed ] && fail "sessions-v1 Failed: $(k get plv sessions-v1 -n "$ns" -o jsonpath='{.status.message}')"
  sleep 1
done
[ "$phase" = Serving ] || fail "sessions-v1 not Serving after ${timeout}s (phase '$phase': $(k get plv sessions-v1 -n "$ns" -o jsonpath='{.status.message}'))"

version=$(k get configmap sessions-serving -n "$ns" -o jsonpath='{.data.version}') ||
  fail "serving alias ConfigMap sessions-serving missing"
[ "$version" = v1 ] || fail "serving alias names version '$version', want v1"
out=$(k get configmap sessions-serving -n "$ns" -o jsonpath='{.data.topic}')
[ "$out" = "$(k get plv sessions-v1 -n "$ns" -o jsonpath='{.status.outputTopic}')" ] ||
  fail "serving alias topic '$out' is not sessions-v1's output topic"
ready=$(k get deployment sessions-v1 -n "$ns" -o jsonpath='{.status.readyReplicas}')
[ "${ready:-0}" -ge 1 ] || fail "worker Deployment sessions-v1 has readyReplicas '${ready}'"
k get plv -n "$ns"
echo "PASS: sessions-v1 Serving, alias sessions-serving -> v1 ($out), in $(($(date +%s) - t0))s"
