#!/usr/bin/env bash
# Scenario e2e.replay_straggler: one of two replaying worker pods is slowed on purpose (its
# container's CPU quota is cut to 2% of a CPU on the node, as a noisy neighbour would), so
# the partitions it holds fall far behind the others. Proves:
#   * status.replay.stragglers lists exactly the partitions Kafka's own group tool says that
#     pod holds, and names the pod;
#   * a ReplayStraggler Warning Event and the operator's kappa_replay_straggler series say so;
#   * once the pod runs at full speed again the version catches up, serves, and lists none.
# Prints the delay from the slow-down to the status entry (straggler_detection_s) with the
# window used (spec.replay.stragglerWindowSeconds 10).
#
#   straggler.sh [STATE_DIR]      KAPPA_BIN=dir of the binaries (default build/bin)
#                                 KAPPA_E2E_EVENTS=N source events (default 6000000: the
#                                 other pod's partitions must stay behind for longer than
#                                 the window after the slow-down, or they have no peers)
source "$(dirname "$0")/lib.sh"
e2e_start e2e-straggler "${1:-}"

topic=e2e-straggler.clicks
events=${KAPPA_E2E_EVENTS:-6000000}
window=10
slow_quota=2000 # of a 100 ms period: 2% of a CPU

running() { [ -n "$(container_pid "$1")" ]; }
two_running() {
  local n=0 p
  for p in $(worker_pods sessions-v1); do running "$p" && n=$((n + 1)); done
  [ "$n" -eq 2 ]
}
has_group() { [ -n "$(field sessions-v1 .status.consumerGroup)" ]; }
# cpu_cgroup PID: the directory of the process's cgroup in the cpu controller.
cpu_cgroup() {
  local path
  path=$(awk -F: '$2 == "cpu" || $2 == "cpu,cpuacct" {print $3; exit}' "/proc/$1/cgroup")
  [ -n "$path" ] && [ -d "/sys/fs/cgroup/cpu$path" ] && echo "/sys/fs/cgroup/cpu$path"
}
# held_by POD: the partitions of $topic that Kafka's group tool says POD's worker holds (its
# offsets view: GROUP TOPIC PARTITION ... CONSUMER-ID HOST CLIENT-ID, a row per partition).
held_by() {
  kafka_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --describe \
    --group "$group" 2>/dev/null |
    awk -v id="kappa-worker/$1" -v t="$topic" '$2 == t && $NF == id {print $3}' | sort -n | xargs
}
listed() { field sessions-v1 '.status.replay.stragglers[*].partition' | xargs -n1 2>/dev/null | sort -n | xargs; }
listed_pods() { field sessions-v1 '.status.replay.stragglers[*].pod' | xargs -n1 2>/dev/null | sort -u | xargs; }

Given "a source topic $topic with $events events of 5000 users in 4 partitions"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 4 \
  --count "$events" --keys 5000 --seed 21 >/dev/null || fail "kappa-loadgen could not write $topic"

When "sessions-v1 replays it with two workers at a quarter of a CPU each (straggler window ${window}s)"
apply_version sessions-v1.yaml sessions-v1 "$topic" spec.replay.replicas=2 \
  "spec.replay.stragglerWindowSeconds=$window" \
  "spec.replay.resources={requests: {cpu: 100m}, limits: {cpu: 250m}}"
wait_for 60 "sessions-v1 has no consumer group in its status" has_group
group=$(field sessions-v1 .status.consumerGroup)
wait_for 120 "sessions-v1 has no two running worker pods ($(worker_pods sessions-v1))" two_running
read -r -a pods <<<"$(worker_pods sessions-v1)"
slow=${pods[0]}
# Both workers have joined the group and hold two partitions each.
balanced() { [ "$(held_by "${pods[0]}" | wc -w)" = 2 ] && [ "$(held_by "${pods[1]}" | wc -w)" = 2 ]; }
wait_for 60 "the group $group did not give each worker two partitions" balanced
expected=$(held_by "$slow")
[ -n "$(listed)" ] && fail "stragglers listed before any slow-down: $(listed)"

When "worker pod $slow is slowed to 2% of a CPU while the replay runs"
pid=$(container_pid "$slow")
[ -n "$pid" ] || fail "the worker container of $slow is not running"
cg=$(cpu_cgroup "$pid") || fail "no cpu cgroup found for pid $pid of $slow"
quota_before=$(cat "$cg/cpu.cfs_quota_us")
echo "$slow_quota" >"$cg/cpu.cfs_quota_us" || fail "could not write $cg/cpu.cfs_quota_us"
t_slow=$(date +%s.%N)
lag=$(lag_of "$group") || fail "could not read the lag of group $group"
say "  $slow (partitions $expected) slowed: cpu.cfs_quota_us $quota_before -> $slow_quota; $lag of $events still to read"
[ "$lag" -gt $((events / 4)) ] || fail "the replay was nearly done before the slow-down (lag $lag)"

Then "status.replay.stragglers lists partitions $expected, held by $slow"
reported() { [ -n "$(listed)" ]; }
wait_for 60 "no straggler in status.replay.stragglers" reported
t_seen=$(date +%s.%N)
delay=$(python3 -c "print(f'{$t_seen - $t_slow:.1f}')")
# The first report may list one of the two before the other's window shows it: wait briefly.
both() { [ "$(listed)" = "$expected" ]; }
wait_for 20 "stragglers $(listed), want $expected (the partitions $slow holds)" both
[ "$(listed_pods)" = "$slow" ] || fail "stragglers name pod(s) '$(listed_pods)', want $slow"
say "  stragglers $(listed) by pod $(listed_pods), $delay s after the slow-down: $(field sessions-v1 '.status.replay.stragglers[0]')"
echo "E2E straggler_detection_s $delay s (window ${window}s, lag sampled every 2 s)"
k get events -n "$E2E_NS" --field-selector reason=ReplayStraggler -o jsonpath='{.items[*].message}' |
  grep -q "held by pod $slow" || fail "no ReplayStraggler Warning Event naming $slow"
series="kappa_replay_straggler{namespace=\"$E2E_NS\",partition=\"${expected%% *}\",pipeline=\"sessions\",pod=\"$slow\""
metric_up() { [ "$(operator_metric "$series")" = 1 ]; }
wait_for 30 "the operator's /metrics has no $series...} 1" metric_up

Then "once $slow runs at full speed again, sessions-v1 catches up, serves and lists no straggler"
echo "$quota_before" >"$cg/cpu.cfs_quota_us" || fail "could not restore $cg/cpu.cfs_quota_us"
wait_phase sessions-v1 Serving 600
[ -z "$(listed)" ] || fail "stragglers still listed once serving: $(listed)"
say "PASS: partitions $expected of the slowed pod $slow reported as stragglers in $delay s; none once it caught up"
