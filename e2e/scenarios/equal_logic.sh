#!/usr/bin/env bash
# Scenario 2, e2e.equal_logic_cutover: v1 -> v2 with the same program. Validation compares
# sampled keys of both outputs at a consistent cut and finds zero mismatches, the alias
# flips to v2 (previousVersion v1), v1 drains and retires: its worker Deployment and
# consumer group are deleted at once, its output topic after retainOutputSeconds. Both
# versions write a sample tap (one key in 2 of the 800, more than the 300 sampled), and the
# comparison reads the two taps, not the outputs; v1's tap goes with its output. The whole
# cutover runs in a namespace where the restricted Pod Security level is enforced (as every
# scenario's): the apiserver refuses a pod that breaks it, and admits the workers.
#
#   equal_logic.sh [STATE_DIR]     KAPPA_BIN=dir of the binaries (default build/bin)
source "$(dirname "$0")/lib.sh"
e2e_start e2e-equal "${1:-}"

topic=e2e-equal.clicks
Given "namespace $E2E_NS enforces the restricted Pod Security level"
refusal=$(k run psa-probe -n "$E2E_NS" --image="$KAPPA_WORKER_IMAGE" --restart=Never \
  --overrides='{"spec":{"containers":[{"name":"p","image":"'"$KAPPA_WORKER_IMAGE"'","securityContext":{"privileged":true}}]}}' 2>&1) &&
  fail "a privileged pod was admitted in $E2E_NS"
case "$refusal" in
  *"violates PodSecurity \"restricted"*) say "  a privileged pod is refused: ${refusal:0:120}..." ;;
  *) fail "a privileged pod was refused, but not by Pod Security: $refusal" ;;
esac
Given "a source topic $topic with 30000 events of 800 users, and sessions-v1 serving"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count 30000 --keys 800 >/dev/null || fail "kappa-loadgen could not write $topic"
apply_version sessions-v1.yaml sessions-v1 "$topic" spec.validation.tapRate=2
wait_phase sessions-v1 Serving
v1_group=$(field sessions-v1 .status.consumerGroup)
v1_out=$(field sessions-v1 .status.outputTopic)
[ -n "$v1_group" ] && [ -n "$v1_out" ] || fail "sessions-v1 has no consumerGroup/outputTopic in status"
group_exists "$v1_group" || fail "sessions-v1's consumer group $v1_group not on the broker"

When "sessions-v2, the same program, is applied with a strict validation policy"
apply_version sessions-v1.yaml sessions-v2 "$topic" \
  'spec.validation={mode: Sampled, sampleKeys: 300, maxMismatchRatio: 0, timeoutSeconds: 120, tapRate: 2}' \
  spec.promotion.retainOutputSeconds=8

Then "validation passes with zero mismatches and the alias flips to v2"
wait_phase sessions-v2 Serving
v2_group=$(field sessions-v2 .status.consumerGroup)
[ -n "$v2_group" ] && [ "$v2_group" != "$v1_group" ] ||
  fail "sessions-v2 reuses v1's consumer group $v1_group"
compared=$(field sessions-v2 .status.validation.comparedKeys)
mismatched=$(field sessions-v2 .status.validation.mismatchedKeys)
[ "${compared:-0}" -gt 0 ] || fail "sessions-v2 compared no keys (comparedKeys '$compared')"
[ "$mismatched" = 0 ] || fail "sessions-v2 has $mismatched mismatched keys, want 0"
validated=$(field sessions-v2 '.status.conditions[?(@.type=="Validated")].status')
[ "$validated" = True ] || fail "condition Validated is '$validated', want True"
[ "$(alias_version sessions)" = v2 ] || fail "alias names '$(alias_version sessions)', want v2"
prev=$(k get configmap sessions-serving -n "$E2E_NS" -o jsonpath='{.data.previousVersion}')
[ "$prev" = v1 ] || fail "alias previousVersion is '$prev', want v1"
source=$(field sessions-v2 .status.validation.source)
[ "$source" = Tap ] || fail "sessions-v2 was compared on '$source', want Tap (the two sample taps)"
v1_tap=$(field sessions-v1 .status.tapTopic)
[ "$(records_in "$v1_tap")" -gt 0 ] || fail "v1's tap $v1_tap holds no records"
say "v2 compared $compared keys on the taps, $mismatched mismatched (v2 group $v2_group)"

Then "v1 drains, retires, and its worker and consumer group are gone"
wait_phase sessions-v1 Retired 60
wait_for 30 "worker Deployment sessions-v1 still exists after Retired" \
  bash -c "! '$KUBECTL' --kubeconfig '$KUBECONFIG' get deployment sessions-v1 -n '$E2E_NS' >/dev/null 2>&1"
# The group goes once the worker has stopped (its last commit would bring it back).
group_gone() { ! group_exists "$1"; }
wait_for 30 "consumer group $v1_group of the retired v1 still exists" group_gone "$v1_group"
group_exists "$v2_group" || fail "the serving v2's consumer group is gone"

Then "after retainOutputSeconds v1's output topic is gone, v2's is kept"
topic_gone() { ! topic_exists "$v1_out" && ! topic_exists "$v1_tap"; }
wait_for 60 "v1's output topic $v1_out or its tap still exists after retainOutputSeconds" topic_gone
topic_exists "$(field sessions-v2 .status.outputTopic)" || fail "v2's output topic is gone"
k get plv -n "$E2E_NS"
say "PASS: v1 -> v2 with 0 mismatches; v1 retired, group $v1_group and topic $v1_out deleted"
