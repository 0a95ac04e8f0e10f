#!/usr/bin/env bash
# Scenario 4, e2e.manual_promotion_and_rollback: a v2 in Manual promotion mode validates and
# then waits in AwaitingPromotion with the alias untouched; `kubectl kappa promote` flips
# it. v1 drains and retires (worker and consumer group deleted, output kept for
# retainOutputSeconds). `kubectl kappa rollback` flips the alias back to v1, which serves
# again from where its output ends (its group is gone: nothing may be counted twice), and
# v2 drains.
#
#   manual_rollback.sh [STATE_DIR]     KAPPA_BIN=dir of the binaries (default build/bin)
source "$(dirname "$0")/lib.sh"
e2e_start e2e-manual "${1:-}"

topic=e2e-manual.clicks
Given "a source topic $topic with 30000 events of 800 users, and sessions-v1 serving"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count 30000 --keys 800 --seed 11 >/dev/null || fail "kappa-loadgen could not write $topic"
apply_version sessions-v1.yaml sessions-v1 "$topic" spec.promotion.retainOutputSeconds=600
wait_phase sessions-v1 Serving
v1_out=$(field sessions-v1 .status.outputTopic)
v1_group=$(field sessions-v1 .status.consumerGroup)

When "sessions-v2 (same program) is applied with promotion mode Manual"
apply_version sessions-v1.yaml sessions-v2 "$topic" spec.promotion.mode=Manual \
  spec.promotion.retainOutputSeconds=600 \
  'spec.validation={mode: Sampled, sampleKeys: 500, maxMismatchRatio: 0, timeoutSeconds: 120}'

Then "it validates and waits for a person: AwaitingPromotion, the alias still names v1"
wait_phase sessions-v2 AwaitingPromotion
validated=$(field sessions-v2 '.status.conditions[?(@.type=="Validated")].status')
[ "$validated" = True ] || fail "condition Validated is '$validated', want True"
sleep 5  # a pass or two later it still waits
[ "$(field sessions-v2 .status.phase)" = AwaitingPromotion ] ||
  fail "sessions-v2 left AwaitingPromotion without a promotion: $(field sessions-v2 .status.phase)"
[ "$(alias_version sessions)" = v1 ] || fail "alias names '$(alias_version sessions)', want v1"

When "the user runs kubectl kappa promote sessions-v2"
kk promote sessions-v2 >/dev/null || fail "kubectl kappa promote sessions-v2 failed"

Then "v2 serves, v1 drains and retires; v1's group is deleted, its output kept"
wait_phase sessions-v2 Serving 90
[ "$(alias_version sessions)" = v2 ] || fail "alias names '$(alias_version sessions)', want v2"
wait_phase sessions-v1 Retired 60
group_gone() { ! group_exists "$1"; }  # once v1's worker has stopped
wait_for 30 "retired v1's consumer group $v1_group still exists" group_gone "$v1_group"
topic_exists "$v1_out" || fail "v1's output $v1_out deleted although retainOutputSeconds is 600"

Given "more history arrives while v1 is retired"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --count 5000 \
  --keys 800 --seed 12 --start-ms 1700001000000 >/dev/null || fail "kappa-loadgen failed"

When "the user runs kubectl kappa rollback sessions"
kk rollback sessions >/dev/null || fail "kubectl kappa rollback sessions failed"

Then "the alias names v1 again, v1 serves and catches up, v2 drains"
aliased_v1() { [ "$(alias_version sessions)" = v1 ]; }
wait_for 60 "alias does not name v1 after the rollback" aliased_v1
prev=$(k get configmap sessions-serving -n "$E2E_NS" -o jsonpath='{.data.previousVersion}')
[ "$prev" = v2 ] || fail "alias previousVersion '$prev' after the rollback, want v2"
wait_phase sessions-v1 Serving 60
[ "$(field sessions-v1 .status.reason)" = RolledBack ] ||
  fail "sessions-v1 reason '$(field sessions-v1 .status.reason)', want RolledBack"
wait_for 60 "sessions-v2 is not Draining or Retired after the rollback" \
  bash -c "p=\$('$KUBECTL' --kubeconfig '$KUBECONFIG' get plv sessions-v2 -n '$E2E_NS' -o jsonpath='{.status.phase}'); [ \"\$p\" = Draining ] || [ \"\$p\" = Retired ]"
caught_up() {
  local lag
  lag=$("$KAPPA_BIN/kubectl-kappa" lag --bootstrap "$KAFKA_BOOTSTRAP" --group "$v1_group" --topic "$topic" --json 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])' 2>/dev/null) || return 1
  [ "$lag" = 0 ]
}
wait_for 90 "rolled-back v1 (group $v1_group) did not catch up on $topic" caught_up

Then "v1 counted nothing twice: its output matches v2's on sampled keys"
"$KAPPA_BIN/kubectl-kappa" validate --bootstrap "$KAFKA_BOOTSTRAP" \
  --serving-topic "$(field sessions-v2 .status.outputTopic)" --candidate-topic "$v1_out" \
  --sample-keys 800 --json \
  >"$E2E_STATE/validate.json" 2>"$E2E_STATE/validate.err" ||
  fail "v1 and v2 outputs differ after the rollback: $(cat "$E2E_STATE/validate.json" "$E2E_STATE/validate.err")"
k get plv -n "$E2E_NS"
say "PASS: manual promotion to v2, rollback to v1 ($(python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); print(v.get("comparedKeys"), "keys compared,", v.get("mismatchedKeys"), "mismatched")' "$E2E_STATE/validate.json"))"
