#!/usr/bin/env bash
# Scenario 12, e2e.kubelet_restart: the node's kubelet is killed in the middle of a replay
# and started again (e2e/node/node-up.sh starts what is dead). Containers outlive their
# kubelet, so the replay goes on while the node is NotReady; the restarted kubelet adopts
# the running containers instead of starting them again. Proves:
#   * the kill landed mid-replay (the group's lag was above 0 after it);
#   * the node is Ready again and the worker containers are the same processes (their host
#     pids unchanged, restartCount 0), the operator's too;
#   * sessions-v2 catches up, validates against sessions-v1 with zero mismatches and serves.
#
#   kubelet_restart.sh [STATE_DIR]   KAPPA_BIN=dir of the binaries (default build/bin)
source "$(dirname "$0")/lib.sh"
e2e_start e2e-kubelet "${1:-}"

topic=e2e-kubelet.clicks
# The replay pods are held to 50m CPU each (a real cgroup limit; unlimited, two workers
# replay 400,000 events in about a second) so that the replay outlasts the kubelet's
# absence. More events would not do: the comparison reads both whole outputs inside the
# operator pod, and two outputs of 1.5M events took it past the chart's 512Mi limit.
events=${KAPPA_E2E_EVENTS:-400000}
pids_of() { # pids_of NAME: "pod=pid ..." of the worker's running containers
  local p
  for p in $(worker_pods "$1"); do printf '%s=%s ' "$p" "$(container_pid "$p")"; done
}
node_ready() {
  [ "$(k get node -o jsonpath='{.items[0].status.conditions[?(@.type=="Ready")].status}')" = True ]
}
running_pods() { [ "$(pids_of "$1" | grep -o '=[0-9]' | wc -l)" -eq "$2" ]; }

Given "a source topic $topic with $events events and sessions-v1 serving"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count "$events" --keys 3000 --seed 12 >/dev/null || fail "kappa-loadgen could not write $topic"
apply_version sessions-v1.yaml sessions-v1 "$topic" spec.replay.replicas=1
wait_phase sessions-v1 Serving 300

When "sessions-v2 replays and the kubelet is killed and started again"
apply_version sessions-v1.yaml sessions-v2 "$topic" spec.replay.replicas=2 \
  "spec.replay.resources={requests: {cpu: 50m}, limits: {cpu: 50m}}"
has_group() { [ -n "$(field sessions-v2 .status.consumerGroup)" ]; }
wait_for 60 "sessions-v2 has no consumer group in its status" has_group
group=$(field sessions-v2 .status.consumerGroup)
wait_for 120 "sessions-v2 has no two running worker pods" running_pods sessions-v2 2
for _ in $(seq 1 300); do
  lag=$(lag_of "$group" || echo "")
  [ -n "$lag" ] && [ "$lag" -lt $((events * 95 / 100)) ] && break
  sleep 0.2
done
before=$(pids_of sessions-v2)
operator_before=$(container_pid "$(operator_pods | awk '{print $1}')" "$OPERATOR_NAMESPACE")
kubelet=$(cat "$E2E_STATE/node/kubelet.pid")
kill -9 "$kubelet"
lag=$(lag_of "$group") || fail "could not read the lag of group $group"
say "  kill -9 kubelet (pid $kubelet) with group $group lagging $lag of $events; workers $before"
[ "$lag" -gt 0 ] || fail "the kill did not land mid-replay: lag of $group was already 0"
sleep 2
"$E2E_REPO/e2e/node/node-up.sh" "$E2E_STATE" >>"$E2E_STATE/node-restart.log" 2>&1 ||
  fail "node-up.sh could not start the kubelet again: $(tail -n 3 "$E2E_STATE/node-restart.log")"
say "  kubelet started again (pid $(cat "$E2E_STATE/node/kubelet.pid"))"

Then "the node is Ready, and the same containers run on"
wait_for 60 "the node is not Ready after the kubelet restart" node_ready
after=$(pids_of sessions-v2)
phase=$(field sessions-v2 .status.phase)
[ "$phase" = Replaying ] ||
  fail "the replay ended ($phase) before the kubelet was back: nothing to compare (raise KAPPA_E2E_EVENTS)"
[ "$after" = "$before" ] ||
  fail "worker containers changed across the kubelet restart: before '$before', after '$after'"
operator_after=$(container_pid "$(operator_pods | awk '{print $1}')" "$OPERATOR_NAMESPACE")
[ "$operator_after" = "$operator_before" ] ||
  fail "the operator container changed across the kubelet restart: pid $operator_before -> '$operator_after'"
restarts=$(k get pods -n "$E2E_NS" -l kappa.io/worker=sessions-v2 -o jsonpath='{.items[*].status.containerStatuses[0].restartCount}')
[ "$restarts" = "0 0" ] || fail "worker containers restarted across the kubelet restart: restartCount $restarts"
say "  workers $after (restartCount $restarts), operator pid $operator_after"

Then "sessions-v2 catches up, matches sessions-v1 and serves"
wait_phase sessions-v2 Serving 400
[ "$(alias_version sessions)" = v2 ] || fail "alias names '$(alias_version sessions)', want v2"
[ "$(field sessions-v2 .status.validation.mismatchedKeys)" = 0 ] ||
  fail "validation found $(field sessions-v2 .status.validation.mismatchedKeys) mismatched keys"
k get pods -A -o wide
say "PASS: kubelet killed mid-replay and restarted; containers kept running; v2 serves with zero mismatches"
