#!/usr/bin/env bash
# Worker replay scaling: msgs/s of the keyed-count replay (as worker.sh: ~100-byte JSON
# events, exactly-once, from process start until the group's lag is 0)
#   - with 1 and 2 kappa-worker processes in one consumer group (10^4 keys), and
#   - with 10^3, 10^4, 10^5 and 10^6 distinct keys (one worker).
# Prints worker_replay_replicas_{1,2}_msgs_per_s, worker_replay_keys_1e{3,4,5,6}_msgs_per_s
# and the summed peak RSS of each run.
#
#   worker-scaling.sh BUILD_DIR BOOTSTRAP      (run by bench/run.sh)
# Environment: KAPPA_BENCH_SCALING_EVENTS (events per topic, default 1000000),
#              KAPPA_BENCH_PARTITIONS (4), KAPPA_BENCH_SCALING_KEYS (the key counts,
#              default "1000 10000 100000 1000000"), KAPPA_BENCH_SCALING_REPLICAS ("1 2").
set -euo pipefail
build=$1
# shellcheck disable=SC2034  # used by lib-worker.sh
bootstrap=$2
# shellcheck disable=SC2034
bin="$build/bin"
events=${KAPPA_BENCH_SCALING_EVENTS:-1000000}
partitions=${KAPPA_BENCH_PARTITIONS:-4}
key_counts=${KAPPA_BENCH_SCALING_KEYS:-1000 10000 100000 1000000}
replica_counts=${KAPPA_BENCH_SCALING_REPLICAS:-1 2}
work=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
run_id=$(date +%s)-$$
# shellcheck source=bench/run.d/lib-worker.sh
source "$(dirname "$0")/lib-worker.sh"
wl_count_program "$work/count.yaml"

# 1e3 for 1000 etc.; other counts as they are.
exponent() { python3 -c 'import math,sys; n=int(sys.argv[1]); e=round(math.log10(n)); print(f"1e{e}" if 10**e==n else n)' "$1"; }

# replay NAME SOURCE REPLICAS: one replay of SOURCE by REPLICAS workers in a fresh group;
# prints "msgs_per_s peak_rss_mib seconds".
replay() {
  local name=$1 source=$2 replicas=$3 i start
  local group="bench-scaling-$name-$run_id"
  pids=()
  start=$(date +%s.%N)
  for i in $(seq 1 "$replicas"); do
    wl_start_worker "$group" "$source" "$source.$name" "$([ "$replicas" -gt 1 ] && echo "r$i")" \
      "$work/$name-$i.log"
    pids+=($!)
  done
  wl_measure "$name" "$group" "$source" "$events" "$start" "${pids[@]}"
  for i in "${pids[@]}"; do wait "$i" 2>/dev/null || true; done
  pids=()
}

# The topic of each key count, written once.
declare -A topics
topic_for() {
  local keys=$1
  if [ -z "${topics[$keys]:-}" ]; then
    topics[$keys]="bench-scaling-$keys-$run_id"
    wl_write_events "${topics[$keys]}" "$events" "$keys" "$partitions"
  fi
}

results=()
for replicas in $replica_counts; do
  topic_for 10000
  read -r rate rss secs < <(replay "replicas-$replicas" "${topics[10000]}" "$replicas")
  echo "bench: $replicas worker(s) replayed $events events (10^4 keys) in ${secs}s" >&2
  echo "BENCH worker_replay_replicas_${replicas}_msgs_per_s $rate msgs/s ($events events, 10^4 keys, $partitions partitions)"
  echo "BENCH worker_replay_replicas_${replicas}_peak_rss_mib $rss MiB (sum over workers)"
  [ "$replicas" = 1 ] && results+=("10000 $rate $rss")
done
for keys in $key_counts; do
  name=$(exponent "$keys")
  if [ "$keys" = 10000 ] && [ ${#results[@]} -gt 0 ]; then
    # The replicas=1 run above is this run already.
    read -r _ rate rss <<<"${results[0]}"
  else
    topic_for "$keys"
    read -r rate rss secs < <(replay "keys-$name" "${topics[$keys]}" 1)
    echo "bench: 1 worker replayed $events events ($keys keys) in ${secs}s" >&2
  fi
  echo "BENCH worker_replay_keys_${name}_msgs_per_s $rate msgs/s ($events events, $partitions partitions)"
  echo "BENCH worker_replay_keys_${name}_peak_rss_mib $rss MiB"
done
