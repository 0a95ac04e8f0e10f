#!/usr/bin/env bash
# Scenario e2e.shadow_drift_rolls_back: drift that shows only after the flip. The source's
# history holds only views, and sessions-v2 counts every event as a view: its comparison
# before the flip passes and it is promoted. With promotion.shadowSeconds 60 (a round every
# 20 s) and shadowRollback, v1 keeps running beside it instead of draining; purchases then
# arrive live, a shadow round finds the drift, and the alias goes back to v1 at once:
# condition ShadowMatched False naming the round, a Warning Event ShadowDrift,
# kappa_shadow_drifted 1 on the operator's /metrics, v1 serving again, v2 draining.
#
#   shadow.sh [STATE_DIR]     KAPPA_BIN=dir of the binaries (default build/bin)
source "$(dirname "$0")/lib.sh"
e2e_start e2e-shadow "${1:-}"

topic=e2e-shadow.clicks
Given "a source topic $topic whose history is 20000 views of 800 users, and sessions-v1 serving"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count 20000 --keys 800 --event-type view >/dev/null || fail "kappa-loadgen could not write $topic"
apply_version sessions-v1.yaml sessions-v1 "$topic" spec.validation.tapRate=2 \
  spec.promotion.retainOutputSeconds=600
wait_phase sessions-v1 Serving

When "sessions-v2, counting every event as a view, is applied with a 60 s shadow and shadowRollback"
apply_version sessions-v1.yaml sessions-v2 "$topic" \
  'spec.validation={mode: Sampled, sampleKeys: 300, maxMismatchRatio: 0, timeoutSeconds: 120, tapRate: 2, roundIntervalSeconds: 20}' \
  'spec.promotion={drainDelaySeconds: 60, retainOutputSeconds: 600, shadowSeconds: 60, shadowRollback: true}' \
  'spec.processor.builtin.aggregates=[{name: views, op: count}, {name: revenue, op: sum, field: price, where: {field: event_type, equals: purchase}}]'

Then "its comparison on the history passes and it is promoted; v1 keeps running beside it"
wait_phase sessions-v2 Serving 240
[ "$(alias_version sessions)" = v2 ] || fail "alias names '$(alias_version sessions)', want v2"
shadow_planned() { [ "$(field sessions-v2 .status.shadow.roundsPlanned)" = 3 ]; }
wait_for 30 "sessions-v2 planned no 3 shadow rounds: $(field sessions-v2 .status.shadow)" shadow_planned
sleep 5  # past v1's own drain delay (2 s)
[ "$(field sessions-v1 .status.phase)" = Draining ] ||
  fail "sessions-v1 is $(field sessions-v1 .status.phase) during the shadow, want Draining"
k get deployment sessions-v1 -n "$E2E_NS" >/dev/null 2>&1 || fail "v1's worker is gone during the shadow"
say "  $(field sessions-v2 '.status.conditions[?(@.type=="ShadowMatched")].message')"

When "purchases arrive live, 50 a second"
live_traffic "$topic" 50 --keys 800 --seed 2 --event-type purchase

Then "a shadow round finds the drift and the alias goes back to v1"
drifted() {
  [ "$(field sessions-v2 '.status.conditions[?(@.type=="ShadowMatched")].status')" = False ]
}
wait_for 120 "no drift found: $(field sessions-v2 '.status.conditions[?(@.type=="ShadowMatched")].message')" drifted
message=$(field sessions-v2 '.status.conditions[?(@.type=="ShadowMatched")].message')
grep -q "^round [1-3] of 3: " <<<"$message" || fail "the ShadowMatched message names no round: $message"
[ "$(field sessions-v2 '.status.conditions[?(@.type=="ShadowMatched")].reason')" = Drifted ] ||
  fail "ShadowMatched reason is not Drifted"
[ "$(field sessions-v2 .status.shadow.mismatchedKeys)" -gt 0 ] ||
  fail "status.shadow.mismatchedKeys is '$(field sessions-v2 .status.shadow.mismatchedKeys)'"
back_on_v1() { [ "$(alias_version sessions)" = v1 ]; }
wait_for 30 "alias names '$(alias_version sessions)' after the drift, want v1" back_on_v1
wait_phase sessions-v1 Serving 60
wait_phase sessions-v2 Draining 60
k get events -n "$E2E_NS" --field-selector involvedObject.name=sessions-v2,type=Warning \
  -o jsonpath='{.items[*].reason}' | grep -qw ShadowDrift || fail "no Warning Event ShadowDrift"
drift_exported() {
  [ "$(operator_metric "kappa_shadow_drifted{namespace=\"$E2E_NS\",pipeline=\"sessions\",version=\"v2\"}" 2>/dev/null)" = 1 ]
}
wait_for 30 "kappa_shadow_drifted of v2 is not 1 on the operator's /metrics" drift_exported
kill "$live_pid" 2>/dev/null
say "  $message"
say "PASS: v2 promoted on the history, its shadow caught the live drift and rolled back to v1"
