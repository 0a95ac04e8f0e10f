#!/usr/bin/env bash
# Scenario e2e.parallel_run_catches_a_live_bug: a bug the history cannot show. The source's
# history holds only views, and sessions-v2 counts every event as a view (views: count, with
# no where), which agrees with v1 on every historical key. v2 runs beside v1 for a window of
# 60 s, compared every 20 s at a fresh cut (4 rounds): round 1 passes on the history; then
# purchases arrive live, a later round finds the difference, and the flip is blocked:
# AwaitingPromotion, Validated=False naming the round, a Warning Event, the alias on v1.
#
#   parallel_run.sh [STATE_DIR]     KAPPA_BIN=dir of the binaries (default build/bin)
source "$(dirname "$0")/lib.sh"
e2e_start e2e-rounds "${1:-}"

topic=e2e-rounds.clicks
Given "a source topic $topic whose history is 20000 views of 800 users, and sessions-v1 serving"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count 20000 --keys 800 --event-type view >/dev/null || fail "kappa-loadgen could not write $topic"
apply_version sessions-v1.yaml sessions-v1 "$topic" spec.validation.tapRate=2
wait_phase sessions-v1 Serving

When "sessions-v2, counting every event as a view, runs in parallel for 60 s, a round every 20 s"
apply_version sessions-v1.yaml sessions-v2 "$topic" \
  'spec.validation={mode: Sampled, sampleKeys: 300, maxMismatchRatio: 0, timeoutSeconds: 120, tapRate: 2, windowSeconds: 60, roundIntervalSeconds: 20}' \
  'spec.processor.builtin.aggregates=[{name: views, op: count}, {name: revenue, op: sum, field: price, where: {field: event_type, equals: purchase}}]'

Then "round 1 of 4 passes on the history, where the bug does not show"
rounds_passed() { [ "$(field sessions-v2 .status.validation.roundsPassed)" -ge 1 ] 2>/dev/null; }
wait_for 240 "sessions-v2 passed no round (phase $(field sessions-v2 .status.phase))" rounds_passed
[ "$(field sessions-v2 .status.validation.roundsPlanned)" = 4 ] ||
  fail "roundsPlanned is '$(field sessions-v2 .status.validation.roundsPlanned)', want 4"
[ "$(field sessions-v2 .status.phase)" = Validating ] ||
  fail "sessions-v2 is $(field sessions-v2 .status.phase) after one round, want Validating"
[ "$(field sessions-v2 .status.validation.mismatchedKeys)" = 0 ] ||
  fail "round 1 found $(field sessions-v2 .status.validation.mismatchedKeys) mismatches on the history"
say "  $(field sessions-v2 '.status.conditions[?(@.type=="Validated")].message')"
[ "$(alias_version sessions)" = v1 ] || fail "alias names '$(alias_version sessions)', want v1"

When "purchases arrive live, 50 a second"
live_traffic "$topic" 50 --keys 800 --seed 2 --event-type purchase

Then "a later round finds the difference and blocks the flip"
wait_phase sessions-v2 AwaitingPromotion 120
kill "$live_pid" 2>/dev/null
[ "$(field sessions-v2 .status.reason)" = ValidationMismatch ] ||
  fail "sessions-v2 awaits promotion for '$(field sessions-v2 .status.reason)', want ValidationMismatch"
validated=$(field sessions-v2 '.status.conditions[?(@.type=="Validated")].status')
[ "$validated" = False ] || fail "condition Validated is '$validated', want False"
message=$(field sessions-v2 '.status.conditions[?(@.type=="Validated")].message')
passed=$(field sessions-v2 .status.validation.roundsPassed)
[ "$passed" -ge 1 ] && [ "$passed" -lt 4 ] || fail "roundsPassed is '$passed', want 1..3"
grep -q "^round $((passed + 1)) of 4: " <<<"$message" ||
  fail "the Validated message does not name round $((passed + 1)) of 4: $message"
mismatched=$(field sessions-v2 .status.validation.mismatchedKeys)
[ "${mismatched:-0}" -gt 0 ] || fail "mismatchedKeys is '$mismatched', want > 0"
diff=$(field sessions-v2 '.status.validation.examples[0].diff')
grep -q "^views: " <<<"$diff" || fail "the first example's diff is not about views: $diff"
k get events -n "$E2E_NS" --field-selector involvedObject.name=sessions-v2,type=Warning \
  -o jsonpath='{.items[*].reason}' | grep -qw ValidationMismatch ||
  fail "no Warning Event ValidationMismatch on sessions-v2"
[ "$(alias_version sessions)" = v1 ] || fail "alias names '$(alias_version sessions)', want v1"
say "  $message; e.g. $(field sessions-v2 '.status.validation.examples[0].key'): $diff"
say "PASS: round 1 passed on the history, round $((passed + 1)) of 4 caught the live-only bug; v1 serves"
