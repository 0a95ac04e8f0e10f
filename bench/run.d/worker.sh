#!/usr/bin/env bash
# Worker replay vs the raw librdkafka consume rate vs Kafka Streams, on one topic of
# ~100-byte JSON events, keyed count, exactly-once on for both processors; the restore rate
# of the same worker restarted in its group (it reads its whole output back); then the live
# latency of a worker that has caught up (worker-latency.sh).
#
#   worker.sh BUILD_DIR BOOTSTRAP      (run by bench/run.sh)
# Environment: KAPPA_BENCH_EVENTS (default 2000000), KAPPA_BENCH_KEYS (10000),
#              KAPPA_BENCH_PARTITIONS (4).
set -euo pipefail
build=$1
bootstrap=$2
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin="$build/bin"
events=${KAPPA_BENCH_EVENTS:-2000000}
keys=${KAPPA_BENCH_KEYS:-10000}
partitions=${KAPPA_BENCH_PARTITIONS:-4}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run_id=$(date +%s)-$$
source="bench-replay-$run_id"

# shellcheck source=bench/run.d/lib-worker.sh
source "$(dirname "$0")/lib-worker.sh"
wl_write_events "$source" "$events" "$keys" "$partitions"

"$bin/raw_consume_bench" --bootstrap "$bootstrap" --topic "$source" | tee "$work/raw"
raw=$(awk '{print $3}' "$work/raw")

wl_count_program "$work/count.yaml"

# Time from process start until the group's lag against the last stable offset is 0;
# peak RSS from the kernel's high-water mark just before stopping it (wl_measure).
group="bench-worker-$run_id"
start=$(date +%s.%N)
wl_start_worker "$group" "$source" "$source.worker" "" "$work/worker.log"
read -r worker_rate worker_rss worker_s < <(wl_measure worker "$group" "$source" "$events" "$start" $!)
echo "bench: worker replayed $events events in ${worker_s}s" >&2
echo "BENCH worker_replay_msgs_per_s $worker_rate msgs/s"
echo "BENCH worker_peak_rss_mib $worker_rss MiB"

# Restore: a worker started again in the same group rebuilds its state by reading the whole
# output back (what a restart or a rebalance costs); its log reports the time.
wl_start_worker "$group" "$source" "$source.worker" "" "$work/restore.log"
restorer=$!
for _ in $(seq 1 600); do
  grep -q "state restored" "$work/restore.log" && break
  kill -0 "$restorer" 2>/dev/null || break
  sleep 0.2
done
kill -TERM "$restorer" 2>/dev/null || true
wait "$restorer" || true
read -r restored restore_s restore_rate < <(sed -n 's/.*restored \([0-9]*\) output records in \([0-9.]*\) s (\([0-9]*\) records\/s).*/\1 \2 \3/p' "$work/restore.log") || true
if [ -z "${restore_rate:-}" ]; then
  echo "bench: the restarted worker reported no restore; its log:" >&2
  cat "$work/restore.log" >&2
  exit 1
fi
echo "bench: worker restored $restored output records in ${restore_s}s" >&2
echo "BENCH worker_restore_records_per_s $restore_rate records/s ($restored output records)"

# The same replay with the sample tap on (one key in 256, the operator's default): the
# tapped keys' records also go to a second topic, in the same transactions. Replays with and
# without it alternate, twice each, each in a group and to an output of its own, after the
# first replay above has warmed the broker's page cache; the ratio is of their summed rates.
tap_rates=0
plain_rates=0
for round in 1 2; do
  for tap in on off; do
    run="$tap-$round"
    flags=()
    [ "$tap" = on ] && flags=(--tap-topic "$source.$run.tap" --tap-rate 256)
    start=$(date +%s.%N)
    wl_start_worker "bench-worker-$run-$run_id" "$source" "$source.$run" "" "$work/$run.log" \
      "${flags[@]}"
    read -r rate _ secs < <(wl_measure "$run" "bench-worker-$run-$run_id" "$source" "$events" \
      "$start" $!)
    echo "bench: worker (tap $tap) replayed $events events in ${secs}s" >&2
    if [ "$tap" = on ]; then
      grep -q "sample tap $source.$run.tap" "$work/$run.log" ||
        { echo "bench: the worker ran without its tap:" >&2; cat "$work/$run.log" >&2; exit 1; }
      tap_rates=$(python3 -c "print($tap_rates + $rate)")
    else
      plain_rates=$(python3 -c "print($plain_rates + $rate)")
    fi
  done
done
python3 -c "import sys; print(f'BENCH worker_tap_throughput_ratio {float(sys.argv[1]) / float(sys.argv[2]):.3f} (replay rate with tap / without, {sys.argv[3]} events, same topic, tap rate 256, 2 runs each)')" \
  "$tap_rates" "$plain_rates" "$events"

# Session windows over the same topic, emitting on every event (the default) and on close
# (one record per session, open sessions in a changelog): alternating, twice each. The
# loadgen's events are 10 ms apart in event time and a user's about every 100 s, so 5-minute
# sessions close throughout the replay.
for emit in onUpdate onClose; do
  cat >"$work/sessions-$emit.yaml" <<PROGRAM
keyField: user_id
timestampField: timestamp_ms
window: {type: session, gapSeconds: 300, allowedLatenessSeconds: 30, emit: $emit}
aggregates: [{name: events, op: count}, {name: revenue, op: sum, field: price}]
PROGRAM
done
declare -A emit_rate=([onUpdate]=0 [onClose]=0) emit_out=()
for round in 1 2; do
  for emit in onUpdate onClose; do
    run="sessions-$emit-$round"
    start=$(date +%s.%N)
    WL_PROGRAM="$work/sessions-$emit.yaml" wl_start_worker "bench-worker-$run-$run_id" "$source" \
      "$source.$run" "" "$work/$run.log"
    read -r rate _ secs < <(wl_measure "$run" "bench-worker-$run-$run_id" "$source" "$events" \
      "$start" $!)
    echo "bench: worker (sessions, emit $emit) replayed $events events in ${secs}s" >&2
    emit_rate[$emit]=$(python3 -c "print(${emit_rate[$emit]} + $rate)")
    # The records it wrote: the last progress line's "out" count.
    emit_out[$emit]=$(sed -n 's/.* out \([0-9]*\) .*/\1/p' "$work/$run.log" | tail -n 1)
  done
done
python3 -c "import sys; u, c = float(sys.argv[1]) / 2, float(sys.argv[2]) / 2
print(f'BENCH worker_sessions_update_replay_msgs_per_s {u:.0f} msgs/s (session windows, a record per event: {sys.argv[3]} output records)')
print(f'BENCH worker_sessions_onclose_replay_msgs_per_s {c:.0f} msgs/s (same topic, one record per closed session: {sys.argv[4]} output records)')
print(f'BENCH worker_sessions_onclose_vs_update_ratio {c / u:.3f} ratio')" \
  "${emit_rate[onUpdate]}" "${emit_rate[onClose]}" "${emit_out[onUpdate]:-?}" "${emit_out[onClose]:-?}"

kslibs="${KAPPA_CACHE:-$HOME/.cache/kappa}/kstreams-libs"
if [ ! -f "$repo/bench/kstreams/target/kstreams-replay-1.jar" ] || [ ! -d "$kslibs" ]; then
  echo "bench: building the Kafka Streams peer" >&2
  mvn -q -B -f "$repo/bench/kstreams/pom.xml" package -DskipTests >&2
  mvn -q -B -f "$repo/bench/kstreams/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$kslibs" >&2
fi
"$bin/kappa-loadgen" --bootstrap "$bootstrap" --topic "$source.kstreams" --create-partitions "$partitions" --count 0 >/dev/null 2>&1 || true
appid="bench-kstreams-$run_id"
start=$(date +%s.%N)
java -Xmx1g -cp "$repo/bench/kstreams/target/kstreams-replay-1.jar:$kslibs/*" io.kappa.bench.KStreamsReplay \
  "$bootstrap" "$source" "$source.kstreams" "$appid" >"$work/kstreams.log" 2>&1 &
read -r ks_rate ks_rss ks_s < <(wl_measure kafka-streams "$appid" "$source" "$events" "$start" $!)
echo "bench: Kafka Streams replayed $events events in ${ks_s}s" >&2
echo "BENCH kafka_streams_replay_msgs_per_s $ks_rate msgs/s"
echo "BENCH kafka_streams_peak_rss_mib $ks_rss MiB"
python3 -c "import sys; w,r,k=map(float,sys.argv[1:]); print(f'BENCH worker_vs_raw_ratio {w/r:.3f} ratio'); print(f'BENCH worker_vs_kafka_streams_ratio {w/k:.2f} ratio')" \
  "$worker_rate" "$raw" "$ks_rate"

# Live latency of a caught-up worker, on the broker the replays above have warmed up.
bash "$(dirname "$0")/worker-latency.sh" "$build" "$bootstrap"
