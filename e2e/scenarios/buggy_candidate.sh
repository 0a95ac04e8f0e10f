#!/usr/bin/env bash
# Scenario 3, e2e.buggy_candidate_blocked: a v2 with a real bug (revenue sums the price of
# every event, not only purchases). Validation finds the mismatches: v2 waits in
# AwaitingPromotion with condition Validated=False, example diffs in status, a Warning Event
# ValidationMismatch, the kappa_validation_mismatch_ratio metric and a count in
# kappa_validation_mismatches_total; the alias stays on v1.
# `kubectl kappa abort` then fails v2 and deletes its worker, consumer group and output.
#
#   buggy_candidate.sh [STATE_DIR]     KAPPA_BIN=dir of the binaries (default build/bin)
source "$(dirname "$0")/lib.sh"
e2e_start e2e-buggy "${1:-}"

topic=e2e-buggy.clicks
Given "a source topic $topic with 30000 events of 800 users, and sessions-v1 serving"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count 30000 --keys 800 >/dev/null || fail "kappa-loadgen could not write $topic"
apply_version sessions-v1.yaml sessions-v1 "$topic"
wait_phase sessions-v1 Serving

When "sessions-v2 with a bug in revenue is applied"
apply_version sessions-v1.yaml sessions-v2 "$topic" \
  'spec.validation={mode: Sampled, sampleKeys: 500, maxMismatchRatio: 0, timeoutSeconds: 120}' \
  'spec.processor.builtin.aggregates=[{name: views, op: count, where: {field: event_type, equals: view}}, {name: revenue, op: sum, field: price}]'

Then "promotion is blocked: AwaitingPromotion, Validated=False, examples in status"
wait_phase sessions-v2 AwaitingPromotion
mismatched=$(field sessions-v2 .status.validation.mismatchedKeys)
compared=$(field sessions-v2 .status.validation.comparedKeys)
[ "${mismatched:-0}" -gt 0 ] || fail "sessions-v2 has mismatchedKeys '$mismatched', want > 0"
validated=$(field sessions-v2 '.status.conditions[?(@.type=="Validated")].status')
[ "$validated" = False ] || fail "condition Validated is '$validated', want False"
example=$(field sessions-v2 '.status.validation.examples[0].candidate')
[ -n "$example" ] || fail "no example diffs in status.validation.examples"
n_examples=$(k get plv sessions-v2 -n "$E2E_NS" -o json |
  python3 -c 'import json,sys; print(len(json.load(sys.stdin)["status"]["validation"]["examples"]))')
[ "$n_examples" -ge 1 ] && [ "$n_examples" -le 5 ] || fail "$n_examples examples, want 1..5"
say "v2: $mismatched of $compared compared keys differ; e.g. candidate $example"
[ "$(alias_version sessions)" = v1 ] || fail "alias names '$(alias_version sessions)', want v1"

Then "a Warning Event ValidationMismatch is recorded and the mismatch ratio is exported"
has_event() {
  k get events.events.k8s.io -n "$E2E_NS" -o json | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
sys.exit(0 if any(e.get("type") == "Warning" and e.get("reason") == "ValidationMismatch"
                  and e.get("regarding", {}).get("name") == "sessions-v2" for e in items) else 1)'
}
wait_for 20 "no Warning Event ValidationMismatch for sessions-v2" has_event
ratio_exported() {
  local v
  v=$(operator_metric 'kappa_validation_mismatch_ratio{' 2>/dev/null || true)
  [ -n "$v" ] && python3 -c "import sys; sys.exit(0 if float('$v') > 0 else 1)"
}
wait_for 20 "kappa_validation_mismatch_ratio is not > 0 on the operator's /metrics" ratio_exported
mismatches_counted() {
  local v
  v=$(operator_metric "kappa_validation_mismatches_total{namespace=\"$E2E_NS\"" 2>/dev/null || true)
  [ -n "$v" ] && python3 -c "import sys; sys.exit(0 if float('$v') >= 1 else 1)"
}
wait_for 20 "kappa_validation_mismatches_total of $E2E_NS is not >= 1 on /metrics" mismatches_counted

When "the user aborts v2 with kubectl kappa abort"
v2_group=$(field sessions-v2 .status.consumerGroup)
v2_out=$(field sessions-v2 .status.outputTopic)
kk abort sessions-v2 >/dev/null || fail "kubectl kappa abort sessions-v2 failed"

Then "v2 fails with reason Aborted and its worker, group and output are deleted"
wait_phase sessions-v2 Failed 60
[ "$(field sessions-v2 .status.reason)" = Aborted ] ||
  fail "sessions-v2 reason '$(field sessions-v2 .status.reason)', want Aborted"
wait_for 30 "worker Deployment sessions-v2 still exists after the abort" \
  bash -c "! '$KUBECTL' --kubeconfig '$KUBECONFIG' get deployment sessions-v2 -n '$E2E_NS' >/dev/null 2>&1"
gone() { ! group_exists "$v2_group" && ! topic_exists "$v2_out"; }
wait_for 30 "group $v2_group or topic $v2_out of the aborted v2 still exists" gone
[ "$(alias_version sessions)" = v1 ] || fail "alias names '$(alias_version sessions)' after the abort, want v1"
[ "$(field sessions-v1 .status.phase)" = Serving ] || fail "sessions-v1 is no longer Serving"
k get plv -n "$E2E_NS"
say "PASS: buggy v2 blocked ($mismatched mismatched keys), aborted and cleaned up; v1 serves"
