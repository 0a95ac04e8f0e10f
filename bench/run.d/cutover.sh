#!/usr/bin/env bash
# Cutovers on the whole local stack (e2e/cluster-up.sh in BUILD_DIR/bench-cutover: the real
# node, a Kafka broker of its own on its bridge, kappa-operator installed by helm with the
# images of BUILD_DIR/images), driven like the e2e scenarios (e2e/scenarios/lib.sh).
#
# 1. Decision latency, over KAPPA_BENCH_CUTOVERS cutovers v2, v3, ... of pipeline "sessions"
#    (crds/examples/sessions-v2.yaml with validation.mode Skip, catchUp.stableSeconds
#    KAPPA_BENCH_CUTOVER_STABLE_SECONDS, one replay replica) on a small source topic:
#      cutover_decision_latency_{p50,p99}_ms (and cutover_decision_latency_ms = p99)
#        from status.replay.caughtUpAt of the candidate -- the time of the operator pass that
#        found the lag within catchUp.maxLagMessages for catchUp.stableSeconds, i.e. the
#        moment the catch-up condition held as the operator saw it -- to the arrival here of
#        the watch event of the serving alias ConfigMap naming the candidate. It covers the
#        passes Replaying -> Validating -> Promoting -> the CAS update of the alias, and the
#        watch delivery (a few ms). Same host, same clock. The earlier versions stay (Retired),
#        as they would in a cluster until deleted, so cutover k runs with k versions of the
#        pipeline: a status change of one that the others decide on queues all of them
#        (controllers/pipelineversion/triggers.cc), in the queue's background lane, behind
#        the candidate's own passes.
#      cutover_lag_zero_to_flip_{p50,p99}_ms
#        from outside: from the first kubectl-kappa lag sample of the candidate's group that
#        returned 0 (`lag --wait --interval 0.05`, stamped when the sample starts; resolution
#        one sample period plus one sample), to the same alias event. This adds
#        stableSeconds and the operator's lag sampling (a Replaying pass every 2 s, every
#        second at the tail of a replay) to the decision, so it is what a user waits after the
#        worker has caught up.
# 3. Catch-up under live traffic (section 3 below runs before 2): pipeline "live" reads a
#    source with 20,000 events of history that receives KAPPA_BENCH_LIVE_RATE events/s
#    (default 2000) all along; KAPPA_BENCH_LIVE_CUTOVERS versions (default 10) replay it in
#    turn with the examples' catch-up settings (maxLagSeconds 5, stableSeconds 10):
#      cutover_replay_end_to_caught_up_{p50,p99}_ms
#        from the end of the replay -- the first sample of an outside observer
#        (`kubectl-kappa lag --wait --max-lag-seconds 5 --interval 0.1`, started as soon as
#        the group is known) by which the group had read everything that existed 5 s before
#        -- to status.replay.caughtUpAt. stableSeconds (10 s) is part of it by design; the
#        rest is the operator's sampling (1 s at the tail of a replay).
# 2. Full cutover of a KAPPA_BENCH_CUTOVER_EVENTS-event history (default 10M, 4 partitions):
#    pipeline "history" v1 (sessions-v1.yaml) replays it and serves, then v2
#    (sessions-v2.yaml, Sampled validation against v1, replay.replicas
#    KAPPA_BENCH_CUTOVER_REPLICAS) is applied and timed from `kubectl apply` to phase Serving:
#      full_cutover_10m_events_s and full_cutover_10m_phase_<phase>_s, the time v2 spent in
#      each phase (from the watch events of its status.phase). v1 and v2 write a sample tap
#      (one key in KEYS/2500), and v2 is compared with v1 on the taps. Then v3, the same
#      program without a tap, is compared with v2 on the whole outputs:
#      full_cutover_10m_untapped_events_s and full_cutover_10m_untapped_phase_validating_s;
#      full_cutover_10m_outside_replay_s is apply to Serving minus Replaying, for both;
#      full_cutover_10m_tap_replay_ratio is v3's Replaying time over v2's (same history, same run).
#
#   cutover.sh BUILD_DIR BOOTSTRAP      (run by bench/run.sh; BOOTSTRAP is not used: the
#                                        stack has its own broker)
# Environment: KAPPA_BENCH_CUTOVERS (20), KAPPA_BENCH_CUTOVER_STABLE_SECONDS (1),
#              KAPPA_BENCH_LIVE_CUTOVERS (10; 0 skips part 3), KAPPA_BENCH_LIVE_RATE (2000),
#              KAPPA_BENCH_CUTOVER_EVENTS (10000000; 0 skips part 2),
#              KAPPA_BENCH_CUTOVER_REPLICAS (2), KAPPA_BENCH_CUTOVER_KEYS (100000).
set -euo pipefail
build=$(cd "$1" && pwd)
cutovers=${KAPPA_BENCH_CUTOVERS:-20}
stable=${KAPPA_BENCH_CUTOVER_STABLE_SECONDS:-1}
events=${KAPPA_BENCH_CUTOVER_EVENTS:-10000000}
replicas=${KAPPA_BENCH_CUTOVER_REPLICAS:-2}
keys=${KAPPA_BENCH_CUTOVER_KEYS:-100000}
tap_rate=$((keys / 2500 > 0 ? keys / 2500 : 1)) # the tap holds ~2,500 keys: the 2,000 sampled
export KAPPA_BIN="$build/bin"
export KAPPA_IMAGES=${KAPPA_IMAGES:-$build/images} # make bench builds them (make images)
# shellcheck source=bench/cutover-lib.sh
source "$(dirname "$0")/../cutover-lib.sh"
cl_start bench-cutover "$build/bench-cutover"


# --- 1. decision latency ------------------------------------------------------------------
if [ "$cutovers" -gt 0 ]; then
  topic=bench-cutover.clicks
  "$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
    --count 20000 --keys 500 >/dev/null
  cl_watch_alias sessions
  common=(spec.replay.replicas=1 "spec.catchUp.stableSeconds=$stable")
  apply_version sessions-v1.yaml sessions-v1 "$topic" "${common[@]}"
  wait_phase sessions-v1 Serving 300 >&2
  : >"$CL_WORK/decision.ms"
  : >"$CL_WORK/external.ms"
  for i in $(seq 2 $((cutovers + 1))); do
    name=sessions-v$i
    apply_version sessions-v2.yaml "$name" "$topic" "${common[@]}" spec.validation.mode=Skip
    # The group is fixed in status in the first pass (Pending -> Provisioning); from then on
    # only the lag is polled, so that its first 0 is seen as early as possible.
    group=""
    for _ in $(seq 1 600); do
      group=$(field "$name" .status.consumerGroup)
      [ -n "$group" ] && break
      sleep 0.1
    done
    [ -n "$group" ] || fail "$name has no status.consumerGroup after 60s"
    # One plugin process samples the lag every 0.05 s until it is 0 and prints that sample,
    # stamped when it started (a process per sample would take CPU from the operator).
    "$KAPPA_BIN/kubectl-kappa" lag --bootstrap "$KAFKA_BOOTSTRAP" --group "$group" --topic "$topic" \
      --json --wait --interval 0.05 --wait-timeout 300 >"$CL_WORK/lag0.json" 2>/dev/null &
    waiter=$!
    flip=$(cl_flip_time sessions "v$i" 300)
    lag0=""
    for _ in $(seq 1 50); do
      kill -0 "$waiter" 2>/dev/null || break
      sleep 0.1
    done
    kill "$waiter" 2>/dev/null || true
    if wait "$waiter" 2>/dev/null; then
      lag0=$(cl_rfc3339 "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["sampledAt"])' "$CL_WORK/lag0.json")")
    fi
    caught=$(cl_rfc3339 "$(field "$name" .status.replay.caughtUpAt)")
    python3 -c 'import sys; print(f"{(float(sys.argv[1]) - float(sys.argv[2])) * 1000:.1f}")' \
      "$flip" "$caught" >>"$CL_WORK/decision.ms"
    [ -n "$lag0" ] && python3 -c 'import sys; print(f"{(float(sys.argv[1]) - float(sys.argv[2])) * 1000:.1f}")' \
      "$flip" "$lag0" >>"$CL_WORK/external.ms"
    echo "bench: cutover to $name: caughtUpAt -> alias $(tail -n 1 "$CL_WORK/decision.ms") ms, lag 0 seen -> alias ${lag0:+$(tail -n 1 "$CL_WORK/external.ms")} ms" >&2
  done
  cl_percentiles cutover_decision_latency "$CL_WORK/decision.ms" | tee "$CL_WORK/decision.bench"
  awk '/_p99_ms/ {print "BENCH cutover_decision_latency_ms", $3, "ms (p99; target < 2000)"}' "$CL_WORK/decision.bench"
  cl_percentiles cutover_lag_zero_to_flip "$CL_WORK/external.ms"
fi

# --- 3. catch-up under live traffic -------------------------------------------------------
live_cutovers=${KAPPA_BENCH_LIVE_CUTOVERS:-10}
live_rate=${KAPPA_BENCH_LIVE_RATE:-2000}
if [ "$live_cutovers" -gt 0 ]; then
  live=bench-cutover.live
  "$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$live" --create-partitions 2 \
    --count 20000 --keys 500 --seed 1 >/dev/null
  "$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$live" --count -1 \
    --rate "$live_rate" --keys 500 --seed 2 --start-ms 1700000200000 \
    >"$CL_WORK/live-loadgen.log" 2>&1 </dev/null &
  live_pid=$!
  : >"$CL_WORK/caughtup.ms"
  for i in $(seq 1 "$live_cutovers"); do
    name=live-v$i
    apply_version sessions-v2.yaml "$name" "$live" spec.pipeline=live "spec.version=v$i" \
      spec.replay.replicas=1 spec.catchUp.maxLagSeconds=5 spec.catchUp.stableSeconds=10 \
      spec.validation.mode=Skip
    group=""
    for _ in $(seq 1 600); do
      group=$(field "$name" .status.consumerGroup)
      [ -n "$group" ] && break
      sleep 0.1
    done
    [ -n "$group" ] || { kill "$live_pid"; fail "$name has no status.consumerGroup after 60s"; }
    "$KAPPA_BIN/kubectl-kappa" lag --bootstrap "$KAFKA_BOOTSTRAP" --group "$group" --topic "$live" \
      --json --wait --max-lag-seconds 5 --interval 0.1 --wait-timeout 300 \
      >"$CL_WORK/within.json" 2>/dev/null ||
      { kill "$live_pid"; fail "$name: the observer never saw the group within 5 s"; }
    wait_phase "$name" Serving 300 >&2
    within=$(cl_rfc3339 "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["sampledAt"])' "$CL_WORK/within.json")")
    caught=$(cl_rfc3339 "$(field "$name" .status.replay.caughtUpAt)")
    python3 -c 'import sys; print(f"{(float(sys.argv[1]) - float(sys.argv[2])) * 1000:.1f}")' \
      "$caught" "$within" >>"$CL_WORK/caughtup.ms"
    echo "bench: $name under $live_rate events/s: replay end -> caughtUpAt $(tail -n 1 "$CL_WORK/caughtup.ms") ms" >&2
  done
  kill "$live_pid" 2>/dev/null || true
  cl_percentiles cutover_replay_end_to_caught_up "$CL_WORK/caughtup.ms"
fi

# --- 2. full cutover of a long history ----------------------------------------------------
if [ "$events" -gt 0 ]; then
  big=bench-cutover.history
  echo "bench: writing $events events ($keys keys, 4 partitions) to $big" >&2
  "$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$big" --create-partitions 4 \
    --count "$events" --keys "$keys" >/dev/null
  cl_watch_versions
  cl_watch_alias history
  # Generous bounds: 20k events/s at least.
  bound=$((events / 20000 + 300))
  hist=(spec.pipeline=history "spec.replay.replicas=$replicas" spec.replay.maxDurationSeconds=21600
    "spec.catchUp.stableSeconds=$stable" spec.validation.timeoutSeconds=1800)
  # Every version taps one key in $tap_rate: the tap then holds about 1.25 x the 2,000
  # sampled keys, so v2 is compared with v1 on the two taps. v3 writes no tap and is compared
  # with v2 on the whole outputs: the two side by side, same history, same run.
  tapped=("spec.validation.tapRate=$tap_rate")
  apply_version sessions-v1.yaml history-v1 "$big" "${hist[@]}" "${tapped[@]}" spec.version=v1
  wait_phase history-v1 Serving "$bound" >&2
  applied=$(date +%s.%N)
  apply_version sessions-v2.yaml history-v2 "$big" "${hist[@]}" "${tapped[@]}" spec.version=v2
  wait_phase history-v2 Serving "$bound" >&2
  v2_source=$(field history-v2 .status.validation.source)
  untapped_applied=$(date +%s.%N)
  apply_version sessions-v2.yaml history-v3 "$big" "${hist[@]}" spec.validation.tapRate=0 \
    spec.version=v3
  wait_phase history-v3 Serving "$bound" >&2
  v3_source=$(field history-v3 .status.validation.source)
  python3 - "$CL_WORK/phases.log" "$applied" "$untapped_applied" "$events" "$tap_rate" \
    "$v2_source" "$v3_source" <<'PY'
import os, sys
sys.path.insert(0, os.environ["CL_REPO"] + "/bench")
from phases import phases as phases_of
path, applied, untapped_applied, events, rate, v2_source, v3_source = sys.argv[1:8]
applied, untapped_applied, events = float(applied), float(untapped_applied), int(events)

def phases(name, since):
    return phases_of(path, name, since)

total, spent = phases("history-v2", applied)
print(f"BENCH full_cutover_10m_events_s {total:.1f} s ({events} events, apply to Serving, "
      f"validated on {v2_source}, tap rate {rate})")
for p, s in spent.items():
    print(f"BENCH full_cutover_10m_phase_{p.lower()}_s {s:.1f} s ({events} events)")
untapped_total, untapped = phases("history-v3", untapped_applied)
print(f"BENCH full_cutover_10m_untapped_events_s {untapped_total:.1f} s ({events} events, "
      f"no tap, validated on {v3_source})")
print(f"BENCH full_cutover_10m_untapped_phase_validating_s {untapped['Validating']:.1f} s "
      f"(the whole outputs read)")
# What the operator adds to the replay (every phase but Replaying), tapped and untapped: two
# replays of the same history differ in time by more than the comparison takes, so this is
# where the taps' gain shows.
print(f"BENCH full_cutover_10m_outside_replay_s {total - spent['Replaying']:.1f} s tapped, "
      f"{untapped_total - untapped['Replaying']:.1f} s untapped (apply to Serving minus Replaying)")
# The worker writes the tap in the same transactions as its output: the replay of the same
# history with and without it (v3 replays after v2; the worker bench alternates the two).
print(f"BENCH full_cutover_10m_tap_replay_ratio {untapped['Replaying'] / spent['Replaying']:.3f} "
      f"(replay time without tap / with tap, {events} events)")
PY
fi
