# Shared steps of the worker benchmarks (sourced by bench/run.d/worker*.sh, not run: it is
# not executable, so bench/run.sh skips it). Before sourcing, set `bin` (the build's bin
# directory), `bootstrap` and `work` (a scratch directory).
#
#   wl_write_events TOPIC EVENTS KEYS PARTITIONS
#                       ~100-byte JSON events from kappa-loadgen (seed 7) into a new topic
#   wl_count_program FILE
#                       writes the benchmark program: keyed count by user_id
#   wl_start_worker GROUP SOURCE OUTPUT REPLICA_ID LOG
#                       one kappa-worker in the background (pid in $!); REPLICA_ID "" for a
#                       single worker, else appended to the transactional id kappa-GROUP
#   wl_measure NAME GROUP SOURCE EVENTS START PID...
#                       waits until GROUP's lag on SOURCE against the last stable offset is
#                       0, then stops the PIDs; prints "msgs_per_s peak_rss_mib seconds" where
#                       seconds runs from START (date +%s.%N) to the first lag-0 sample and
#                       peak_rss_mib is the sum of the kernel's VmHWM over the PIDs
# shellcheck shell=bash
# shellcheck disable=SC2154  # bin, bootstrap and work come from the caller

wl_write_events() {
  local topic=$1 events=$2 keys=$3 partitions=$4
  echo "bench: writing $events events ($keys keys, $partitions partitions) to $topic" >&2
  "$bin/kappa-loadgen" --bootstrap "$bootstrap" --topic "$topic" --create-partitions "$partitions" \
    --count "$events" --keys "$keys" --seed 7 >&2
}

wl_count_program() {
  cat >"$1" <<'PROGRAM'
keyField: user_id
aggregates: [{name: events, op: count}]
PROGRAM
}

wl_start_worker() {
  local group=$1 source=$2 output=$3 replica=$4 log=$5
  local extra=()
  # The replica id is appended to an explicit transactional id only (runtime/worker/main.cc).
  [ -n "$replica" ] && extra=(--transactional-id "kappa-$group" --replica-id "$replica")
  "$bin/kappa-worker" --program "$work/count.yaml" --bootstrap "$bootstrap" --source-topic "$source" \
    --output-topic "$output" --group "$group" --create-topics "${extra[@]}" >"$log" 2>&1 &
}

# Total lag of GROUP on TOPIC; -1 while the group has committed nothing or the query fails.
wl_lag() {
  "$bin/kubectl-kappa" lag --bootstrap "$bootstrap" --group "$1" --topic "$2" --json 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["messages"] if d["committed"] else -1)' ||
    echo -1
}

wl_measure() {
  local name=$1 group=$2 source=$3 events=$4 start=$5
  shift 5
  local pid lag
  while true; do
    for pid in "$@"; do
      if ! kill -0 "$pid" 2>/dev/null; then
        echo "bench: $name exited early" >&2
        return 1
      fi
    done
    lag=$(wl_lag "$group" "$source")
    [ "$lag" = "0" ] && break
    sleep 0.1
  done
  local end rss=0 hwm
  end=$(date +%s.%N)
  for pid in "$@"; do
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    rss=$((rss + hwm))
  done
  for pid in "$@"; do kill -TERM "$pid"; done
  for pid in "$@"; do wait "$pid" || true; done
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'{int(sys.argv[3])/s:.0f} {int(sys.argv[4])/1024:.1f} {s:.2f}')" \
    "$start" "$end" "$events" "$rss"
}
