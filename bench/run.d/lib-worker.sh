# Shared steps of the worker benchmarks (sourced by bench/run.d/worker*.sh, not run: it is
# not executable, so bench/run.sh skips it). Before sourcing, set `bin` (the build's bin
# directory), `bootstrap` and `work` (a scratch directory).
#
#   wl_write_events TOPIC EVENTS KEYS PARTITIONS
#                       ~100-byte JSON events from kappa-loadgen (seed 7) into a new topic
#   wl_count_program FILE
#                       writes the benchmark program: keyed count by user_id
#   wl_start_worker GROUP SOURCE OUTPUT REPLICA_ID LOG [KAPPA-WORKER FLAGS...]
#                       one kappa-worker in the background (pid in $!); REPLICA_ID "" for a
#                       single worker, else appended to the transactional id kappa-GROUP;
#                       its program is $WL_PROGRAM (default: wl_count_program's file)
#   wl_measure NAME GROUP SOURCE EVENTS START PID...
#                       waits until GROUP's lag on SOURCE against the last stable offset is
#                       0 (kubectl-kappa lag --wait, a sample every 0.1 s), then stops the
#                       PIDs; prints "msgs_per_s peak_rss_mib seconds" where seconds runs
#                       from START (date +%s.%N) to the start of the first lag-0 sample and
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
  shift 5
  local extra=("$@") # more kappa-worker flags
  # The replica id is appended to an explicit transactional id only (runtime/worker/main.cc).
  [ -n "$replica" ] && extra+=(--transactional-id "kappa-$group" --replica-id "$replica")
  "$bin/kappa-worker" --program "${WL_PROGRAM:-$work/count.yaml}" --bootstrap "$bootstrap" --source-topic "$source" \
    --output-topic "$output" --group "$group" --create-topics "${extra[@]}" >"$log" 2>&1 &
}

wl_measure() {
  local name=$1 group=$2 source=$3 events=$4 start=$5
  shift 5
  local pid waiter sampled="$work/lag0-$name.json"
  # One plugin process samples the lag every 0.1 s over one connection (not a process per
  # sample, whose start-up would take CPU from what is measured); the loop here only checks
  # that the measured processes are alive.
  "$bin/kubectl-kappa" lag --bootstrap "$bootstrap" --group "$group" --topic "$source" --json \
    --wait --interval 0.1 >"$sampled" 2>"$work/lag0-$name.err" &
  waiter=$!
  while kill -0 "$waiter" 2>/dev/null; do
    for pid in "$@"; do
      if ! kill -0 "$pid" 2>/dev/null; then
        echo "bench: $name exited early" >&2
        kill "$waiter" 2>/dev/null
        return 1
      fi
    done
    sleep 0.1
  done
  if ! wait "$waiter"; then
    echo "bench: waiting for the lag of $group to reach 0 failed: $(tail -n 1 "$work/lag0-$name.err")" >&2
    return 1
  fi
  local end rss=0 hwm
  # The start of the first sample that found lag 0.
  end=$(python3 -c 'import json, sys, datetime; print(datetime.datetime.fromisoformat(json.load(open(sys.argv[1]))["sampledAt"].replace("Z", "+00:00")).timestamp())' "$sampled")
  for pid in "$@"; do
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    rss=$((rss + hwm))
  done
  for pid in "$@"; do kill -TERM "$pid"; done
  for pid in "$@"; do wait "$pid" || true; done
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'{int(sys.argv[3])/s:.0f} {int(sys.argv[4])/1024:.1f} {s:.2f}')" \
    "$start" "$end" "$events" "$rss"
}
