#!/usr/bin/env bash
# Scenario 8, e2e.chaos_worker: workers killed in the middle of their replay still produce
# exactly the output of a run that was never interrupted. sessions-v1 replays the source
# undisturbed (the clean run); sessions-v2, the same program, is the candidate: once its
# replay has made progress, the process of one of its two worker pods is killed with
# SIGKILL (the kubelet restarts the container) and the other pod is deleted with
# --force --grace-period=0 (the Deployment makes a new one); both rejoin the group and
# restore their state from the output while the replay goes on (a few crashes are
# tolerated: only CrashLoopBackOff after 5 restarts fails a version). Proves:
#   * the kills landed mid-replay (the group's lag was above 0 right after them);
#   * the candidate still catches up, validates and serves;
#   * its read_committed output equals the clean run's, record for record: per output
#     partition the same sequence of (key, value, source-partition/offset/watermark headers).
#     Record timestamps are not compared: they are produce times, not part of what the
#     worker guarantees (a deterministic function of the input log).
#
#   chaos_worker.sh [STATE_DIR]      KAPPA_BIN=dir of the binaries (default build/bin)
#                                    KAPPA_E2E_EVENTS=N source events (default 500000)
source "$(dirname "$0")/lib.sh"
e2e_start e2e-chaos-worker "${1:-}"

topic=e2e-chaos-worker.clicks
# Enough that the replay outlasts its first transactions (a replaying worker commits about
# once a second), so the kills find committed progress and an open transaction.
events=${KAPPA_E2E_EVENTS:-500000}
# Both versions keep their output for the comparison at the end (no compaction, no deletion
# when sessions-v1 retires), and replay with two workers.
settings=(spec.replay.replicas=2 "spec.output.config={cleanup.policy: delete}"
  spec.promotion.retainOutputSeconds=3600 spec.promotion.drainDelaySeconds=3600)

running() { [ -n "$(container_pid "$1")" ]; }
two_running() { # the worker has two pods with a running container, none of them $1
  local n=0 p
  for p in $(worker_pods sessions-v2); do
    [ "$p" != "${1:-}" ] && running "$p" && n=$((n + 1))
  done
  [ "$n" -eq 2 ]
}
has_group() { [ -n "$(field sessions-v2 .status.consumerGroup)" ]; }

Given "a source topic $topic with $events events of 5000 users in 2 partitions"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count "$events" --keys 5000 --seed 8 >/dev/null || fail "kappa-loadgen could not write $topic"

Given "the clean run: sessions-v1 replays it undisturbed and serves"
apply_version sessions-v1.yaml sessions-v1 "$topic" "${settings[@]}"
wait_phase sessions-v1 Serving 600

When "sessions-v2, the same program, replays and each of its two workers is killed -9 mid-replay"
# Its workers are held to a quarter of a CPU each while they replay: unthrottled, two workers
# replay the whole source in about two seconds, shorter than it takes to see their first
# commit and kill them; throttled, the replay lasts long enough to land both kills in it.
apply_version sessions-v1.yaml sessions-v2 "$topic" "${settings[@]}" \
  "spec.replay.resources={requests: {cpu: 100m}, limits: {cpu: 250m}}"
wait_for 60 "sessions-v2 has no consumer group in its status" has_group
group=$(field sessions-v2 .status.consumerGroup)
wait_for 120 "sessions-v2 has no two running worker pods ($(worker_pods sessions-v2))" two_running
read -r -a pods <<<"$(worker_pods sessions-v2)"
# Once the replay has visibly progressed (some offsets committed, most still to go), each
# worker is killed in turn, without waiting for the first one to come back.
for i in $(seq 1 600); do
  [ $((i % 10)) = 0 ] && [ "$(field sessions-v2 .status.phase)" = Failed ] &&
    fail "sessions-v2 Failed: $(field sessions-v2 .status.message)"
  lag=$(lag_of "$group" || echo "")
  [ -n "$lag" ] && [ "$lag" -lt $((events * 98 / 100)) ] && break
  sleep 0.2
done
before=$lag
pid=$(container_pid "${pods[0]}")
[ -n "$pid" ] || fail "the worker container of ${pods[0]} is not running"
restarts_before=$(restarts "${pods[0]}")
kill -9 "$pid"
k delete pod "${pods[1]}" -n "$E2E_NS" --force --grace-period=0 >/dev/null 2>&1 ||
  fail "could not delete pod ${pods[1]}"
# The lag only shrinks: above 0 after the second kill means both landed mid-replay.
lag=$(lag_of "$group") || fail "could not read the lag of group $group"
say "  kill -9 of ${pods[0]}'s worker (pid $pid), forced delete of ${pods[1]}: group $group lagged ${before:-?} of $events before, $lag after"
[ "$lag" -gt 0 ] || fail "the kills did not land mid-replay: lag of $group was already 0"
restarted() { [ "$(restarts "${pods[0]}")" -gt "$restarts_before" ] && running "${pods[0]}"; }
wait_for 60 "the kubelet did not restart the worker container of ${pods[0]}" restarted
wait_for 60 "the Deployment did not replace ${pods[1]} with a running pod" two_running "${pods[1]}"
say "  ${pods[0]} restarted (restartCount $(restarts "${pods[0]}")); pods now $(worker_pods sessions-v2)"

Then "sessions-v2 catches up, matches sessions-v1 and serves"
wait_phase sessions-v2 Serving 600
[ "$(alias_version sessions)" = v2 ] || fail "alias names '$(alias_version sessions)', want v2"
[ "$(field sessions-v2 .status.validation.mismatchedKeys)" = 0 ] ||
  fail "validation found $(field sessions-v2 .status.validation.mismatchedKeys) mismatched keys"

Then "sessions-v2's read_committed output equals sessions-v1's, record for record, per partition"
partitions=2
out1=$(field sessions-v1 .status.outputTopic)
out2=$(field sessions-v2 .status.outputTopic)
read_topic "$out1" "$E2E_STATE/v1.out" 30000 "$partitions" &
read_topic "$out2" "$E2E_STATE/v2.out" 30000 "$partitions"
wait
compare_outputs "$out1" "$E2E_STATE/v1.out" "$out2" "$E2E_STATE/v2.out" "$partitions"
say "PASS: a worker killed -9 and a worker pod force-deleted mid-replay; output $out2 equals $out1 record for record"
