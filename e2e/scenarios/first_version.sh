#!/usr/bin/env bash
# Scenario 1, e2e.first_version_serves: the first PipelineVersion of a pipeline replays a
# small clickstream, is promoted once caught up (no comparison: nothing serves yet), and the
# serving alias ConfigMap <pipeline>-serving names it.
#
#   first_version.sh [STATE_DIR]     KAPPA_BIN=dir of the binaries (default build/bin)
source "$(dirname "$0")/lib.sh"
e2e_start e2e-first "${1:-}"

topic=e2e-first.clicks
Given "a source topic $topic with 20000 events of 500 users"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count 20000 --keys 500 >/dev/null || fail "kappa-loadgen could not write $topic"

When "the first version sessions-v1 is applied"
apply_version sessions-v1.yaml sessions-v1 "$topic"

Then "it replays, catches up and serves"
wait_phase sessions-v1 Serving
[ "$(alias_version sessions)" = v1 ] ||
  fail "serving alias names version '$(alias_version sessions)', want v1"
out=$(k get configmap sessions-serving -n "$E2E_NS" -o jsonpath='{.data.topic}')
[ "$out" = "$(field sessions-v1 .status.outputTopic)" ] ||
  fail "serving alias topic '$out' is not sessions-v1's output topic"
ready=$(k get deployment sessions-v1 -n "$E2E_NS" -o jsonpath='{.status.readyReplicas}')
[ "${ready:-0}" -ge 1 ] || fail "worker Deployment sessions-v1 has readyReplicas '${ready}'"
k get plv -n "$E2E_NS"
say "PASS: sessions-v1 Serving, alias sessions-serving -> v1 ($out)"
