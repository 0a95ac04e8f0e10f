#!/usr/bin/env bash
# Worker replay vs the raw librdkafka consume rate vs Kafka Streams, on one topic of
# ~100-byte JSON events, keyed count, exactly-once on for both processors.
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

echo "bench: writing $events events ($keys keys, $partitions partitions) to $source" >&2
"$bin/kappa-loadgen" --bootstrap "$bootstrap" --topic "$source" --create-partitions "$partitions" \
  --count "$events" --keys "$keys" --seed 7

"$bin/raw_consume_bench" --bootstrap "$bootstrap" --topic "$source" | tee "$work/raw"
raw=$(awk '{print $3}' "$work/raw")

cat >"$work/count.yaml" <<'PROGRAM'
keyField: user_id
aggregates: [{name: events, op: count}]
PROGRAM

# Time from process start until the group's lag against the last stable offset is 0;
# peak RSS from the kernel's high-water mark just before stopping it.
measure() {  # name group pid-file
  local name=$1 group=$2 pid=$3 start=$4
  while true; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "bench: $name exited early" >&2
      return 1
    fi
    lag=$("$bin/kubectl-kappa" lag --bootstrap "$bootstrap" --group "$group" --topic "$source" \
      --json 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["messages"] if d["committed"] else -1)' || echo -1)
    [ "$lag" = "0" ] && break
    sleep 0.1
  done
  local end
  end=$(date +%s.%N)
  local rss
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"
  wait "$pid" || true
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'{int(sys.argv[3])/s:.0f} {int(sys.argv[4])/1024:.1f} {s:.2f}')" \
    "$start" "$end" "$events" "$rss"
}

group="bench-worker-$run_id"
start=$(date +%s.%N)
"$bin/kappa-worker" --program "$work/count.yaml" --bootstrap "$bootstrap" --source-topic "$source" \
  --output-topic "$source.worker" --group "$group" --create-topics >"$work/worker.log" 2>&1 &
read -r worker_rate worker_rss worker_s < <(measure worker "$group" $! "$start")
echo "bench: worker replayed $events events in ${worker_s}s" >&2
echo "BENCH worker_replay_msgs_per_s $worker_rate msgs/s"
echo "BENCH worker_peak_rss_mib $worker_rss MiB"

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
read -r ks_rate ks_rss ks_s < <(measure kafka-streams "$appid" $! "$start")
echo "bench: Kafka Streams replayed $events events in ${ks_s}s" >&2
echo "BENCH kafka_streams_replay_msgs_per_s $ks_rate msgs/s"
echo "BENCH kafka_streams_peak_rss_mib $ks_rss MiB"
python3 -c "import sys; w,r,k=map(float,sys.argv[1:]); print(f'BENCH worker_vs_raw_ratio {w/r:.3f} ratio'); print(f'BENCH worker_vs_kafka_streams_ratio {w/k:.2f} ratio')" \
  "$worker_rate" "$raw" "$ks_rate"
