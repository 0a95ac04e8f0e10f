#!/usr/bin/env bash
# Scenario 5, e2e.supersede_replaying_candidate: while a candidate v2 is still replaying, the
# user applies v3. v2 is Superseded (reason NewerVersion) and cleaned up (worker, consumer
# group, output topic); v3 replays, validates against v1 and is promoted; the alias goes
# straight from v1 to v3 and never names v2.
#
#   supersede.sh [STATE_DIR]     KAPPA_BIN=dir of the binaries (default build/bin)
source "$(dirname "$0")/lib.sh"
e2e_start e2e-supersede "${1:-}"

topic=e2e-supersede.clicks
Given "a source topic $topic with 30000 events of 800 users, and sessions-v1 serving"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count 30000 --keys 800 --seed 21 >/dev/null || fail "kappa-loadgen could not write $topic"
apply_version sessions-v1.yaml sessions-v1 "$topic"
wait_phase sessions-v1 Serving

Given "a candidate sessions-v2 that is replaying (it must stay caught up for 300 s first)"
apply_version sessions-v1.yaml sessions-v2 "$topic" spec.catchUp.stableSeconds=300 \
  'spec.validation={mode: Sampled, sampleKeys: 500, maxMismatchRatio: 0, timeoutSeconds: 120}'
wait_phase sessions-v2 Replaying 60
wait_for 60 "sessions-v2 has no worker Deployment while Replaying" \
  bash -c "'$KUBECTL' --kubeconfig '$KUBECONFIG' get deployment sessions-v2 -n '$E2E_NS' >/dev/null 2>&1"
v2_group=$(field sessions-v2 .status.consumerGroup)
v2_out=$(field sessions-v2 .status.outputTopic)
v2_has_output() { topic_exists "$v2_out" && group_exists "$v2_group"; }
wait_for 60 "sessions-v2 has not started consuming (group $v2_group, output $v2_out)" v2_has_output

When "sessions-v3 is applied while v2 replays"
apply_version sessions-v1.yaml sessions-v3 "$topic" \
  'spec.validation={mode: Sampled, sampleKeys: 500, maxMismatchRatio: 0, timeoutSeconds: 120}'

Then "v2 is Superseded by v3 and cleaned up"
wait_phase sessions-v2 Superseded 60
[ "$(field sessions-v2 .status.reason)" = NewerVersion ] ||
  fail "sessions-v2 reason '$(field sessions-v2 .status.reason)', want NewerVersion"
case "$(field sessions-v2 .status.message)" in
  *v3*) ;;
  *) fail "sessions-v2 message does not name v3: $(field sessions-v2 .status.message)" ;;
esac
wait_for 30 "worker Deployment sessions-v2 still exists after the supersede" \
  bash -c "! '$KUBECTL' --kubeconfig '$KUBECONFIG' get deployment sessions-v2 -n '$E2E_NS' >/dev/null 2>&1"
v2_gone() { ! group_exists "$v2_group" && ! topic_exists "$v2_out"; }
wait_for 30 "group $v2_group or topic $v2_out of the superseded v2 still exists" v2_gone

Then "v3 is promoted; the alias goes from v1 to v3 and never named v2"
wait_phase sessions-v3 Serving
[ "$(alias_version sessions)" = v3 ] || fail "alias names '$(alias_version sessions)', want v3"
prev=$(k get configmap sessions-serving -n "$E2E_NS" -o jsonpath='{.data.previousVersion}')
[ "$prev" = v1 ] || fail "alias previousVersion is '$prev', want v1 (v2 must never have served)"
[ -z "$(field sessions-v2 .status.servingSince)" ] || fail "sessions-v2 has servingSince set"
wait_phase sessions-v1 Retired 60
[ "$(field sessions-v2 .status.phase)" = Superseded ] ||
  fail "sessions-v2 left Superseded: $(field sessions-v2 .status.phase)"
k get plv -n "$E2E_NS"
say "PASS: v2 superseded by v3 while replaying and cleaned up; v1 -> v3"
