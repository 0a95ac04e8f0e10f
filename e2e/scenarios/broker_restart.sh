#!/usr/bin/env bash
# Scenario 9, e2e.broker_restart: the Kafka broker restarts while a candidate replays
# (e2e/kafka/kafka-restart.sh: same ports, same data directory, down for a few seconds).
# sessions-v1 is the undisturbed clean run; sessions-v2 replays through a clean broker stop
# (SIGTERM) and sessions-v3 through a broker crash (SIGKILL); all three run the same program.
# Proves, for each of v2 and v3:
#   * the restart landed mid-replay (the candidate's group still lagged right before it);
#   * the cutover completes: validated against the serving version with no mismatch,
#     Serving, the alias names it with the version before as previousVersion;
#   * its read_committed output equals the clean run's, record for record per partition
#     (key, value and the source partition/offset/watermark headers; record timestamps are
#     produce times, not part of what the worker guarantees): nothing lost or duplicated.
# One restart per candidate: a worker may exit when the broker is away longer than its
# timeouts (the kubelet restarts its container; only CrashLoopBackOff after 5 restarts
# fails a version).
#
#   broker_restart.sh [STATE_DIR]    KAPPA_BIN=dir of the binaries (default build/bin)
#                                    KAPPA_E2E_EVENTS=N source events (default 500000)
source "$(dirname "$0")/lib.sh"
e2e_start e2e-broker "${1:-}"

topic=e2e-broker.clicks
# Enough that the replay outlasts its first transactions (a replaying worker commits about
# once a second), so the restart finds committed progress and records still to replay.
events=${KAPPA_E2E_EVENTS:-500000}
# Both outputs are kept for the comparison at the end (no compaction, no deletion when
# a version drains); one replay worker per version.
settings=(spec.replay.replicas=1 "spec.output.config={cleanup.policy: delete}"
  spec.promotion.retainOutputSeconds=3600 spec.promotion.drainDelaySeconds=3600)

has_group() { [ -n "$(field "$1" .status.consumerGroup)" ]; }
partitions=2

Given "a source topic $topic with $events events of 5000 users in 2 partitions"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions "$partitions" \
  --count "$events" --keys 5000 --seed 9 >/dev/null || fail "kappa-loadgen could not write $topic"

Given "the clean run: sessions-v1 replays it undisturbed and serves"
apply_version sessions-v1.yaml sessions-v1 "$topic" "${settings[@]}"
wait_phase sessions-v1 Serving 600

for step in "2 TERM v1" "3 KILL v2"; do
  read -r n sig previous <<<"$step"
  name=sessions-v$n
  When "$name, the same program, replays while the broker restarts (SIG$sig)"
  apply_version sessions-v1.yaml "$name" "$topic" "${settings[@]}"
  wait_for 60 "$name has no consumer group in its status" has_group "$name"
  group=$(field "$name" .status.consumerGroup)
  # As soon as the replay has committed progress, so that the restart lands mid-replay
  # even when the replay is fast.
  lag=""
  for i in $(seq 1 600); do
    [ $((i % 10)) = 0 ] && [ "$(field "$name" .status.phase)" = Failed ] &&
      fail "$name Failed: $(field "$name" .status.message)"
    lag=$(lag_of "$group" || echo "")
    [ -n "$lag" ] && [ "$lag" -lt "$events" ] && break
    sleep 0.2
  done
  [ -n "$lag" ] && [ "$lag" -gt 0 ] ||
    fail "the restart would not land mid-replay: lag of $group is '${lag}'"
  say "  broker restart (SIG$sig, down 3s): $name's group lags $lag of $events (status progress $(field "$name" .status.replay.progressPercent)%)"
  "$E2E_REPO/e2e/kafka/kafka-restart.sh" "$E2E_STATE" --signal "$sig" --down 3 \
    >>"$E2E_STATE/kafka-restart.log" 2>&1 ||
    fail "kafka-restart.sh failed: $(tail -n 3 "$E2E_STATE/kafka-restart.log")"
  say "  broker back at $KAFKA_BOOTSTRAP"

  Then "the cutover completes: $name matches sessions-$previous, serves, and the alias names it"
  wait_phase "$name" Serving 600
  [ "$(alias_version sessions)" = "v$n" ] || fail "alias names '$(alias_version sessions)', want v$n"
  [ "$(field "$name" .status.previousVersion)" = "$previous" ] ||
    fail "$name status.previousVersion is '$(field "$name" .status.previousVersion)', want $previous"
  [ "$(field "$name" .status.validation.mismatchedKeys)" = 0 ] ||
    fail "validation found $(field "$name" .status.validation.mismatchedKeys) mismatched keys"
  wait_phase "sessions-$previous" Draining 60
done

Then "the read_committed outputs of sessions-v2 and sessions-v3 equal sessions-v1's, record for record, per partition"
outs=()
for n in 1 2 3; do
  outs+=("$(field "sessions-v$n" .status.outputTopic)")
  read_topic "${outs[-1]}" "$E2E_STATE/v$n.out" 30000 "$partitions" &
done
wait
for n in 2 3; do
  say "  sessions-v$n (${outs[$((n - 1))]}) against the clean run sessions-v1 (${outs[0]}):"
  compare_outputs "${outs[0]}" "$E2E_STATE/v1.out" "${outs[$((n - 1))]}" "$E2E_STATE/v$n.out" \
    "$partitions"
done
say "PASS: broker restarts mid-replay (SIGTERM for v2, SIGKILL for v3); both cutovers completed; both outputs equal the clean run's record for record"
