#!/usr/bin/env bash
# Scenario 11, e2e.replay_quota_exceeded_then_resolved: the replay's ResourceQuota and
# PriorityClass are enforced by the real apiserver and scheduler, and a version says at
# once why its worker pods do not run instead of waiting silently until maxDurationSeconds.
#   * sessions-v1 replays with 2 replicas of 500m CPU each under spec.replay.quota
#     {requests.cpu: 400m}: the apiserver refuses every replay pod; within seconds the version
#     has WorkerAvailable=False, reason ReplicaFailure, carrying the quota's own "exceeded
#     quota" message, and a Warning Event says the same; it stays Replaying (not Failed).
#   * the quota is raised to {requests.cpu: "1"} in the spec (replay.quota may change): the
#     operator applies it again, the ReplicaSet creates both pods, WorkerAvailable turns
#     True, and v1 serves.
#   * the replay pods ran under the PriorityClass kappa-replay (the quota's scope).
#   * a version whose pods ask for more CPU than the node has (resources.requests.cpu 64)
#     says Unschedulable with the scheduler's message; one whose container image does not
#     exist says ImagePullFailed. Neither fails; both are deleted at the end.
#
#   replay_quota.sh [STATE_DIR]     KAPPA_BIN=dir of the binaries (default build/bin)
source "$(dirname "$0")/lib.sh"
e2e_start e2e-quota "${1:-}"

topic=e2e-quota.clicks
condition() { # condition NAME FIELD: a field of NAME's WorkerAvailable condition
  field "$1" ".status.conditions[?(@.type==\"WorkerAvailable\")].$2"
}
worker_says() { [ "$(condition "$1" reason)" = "$2" ]; }
warning_event() { # warning_event NAME REASON: the message of such a Warning Event ("" if none)
  k get events -n "$E2E_NS" --field-selector "type=Warning,involvedObject.name=$1,reason=$2" \
    -o jsonpath='{.items[0].message}' 2>/dev/null || true
}
has_warning() { [ -n "$(warning_event "$1" "$2")" ]; }

Given "a source topic $topic with 400000 events"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count 400000 --keys 2000 --seed 11 >/dev/null || fail "kappa-loadgen could not write $topic"

When "sessions-v1 replays with 2 replicas of 500m CPU under a replay quota of 400m CPU"
applied=$(date +%s)
apply_version sessions-v1.yaml sessions-v1 "$topic" spec.replay.replicas=2 \
  "spec.replay.resources={requests: {cpu: 500m, memory: 64Mi}}" "spec.replay.quota={requests.cpu: 400m}"
wait_for 90 "sessions-v1 never said ReplicaFailure (WorkerAvailable: $(condition sessions-v1 reason))" \
  worker_says sessions-v1 ReplicaFailure
said=$(date +%s)
message=$(condition sessions-v1 message)
say "  after $((said - applied))s: WorkerAvailable=$(condition sessions-v1 status) ReplicaFailure: $message"
case "$message" in
  *"exceeded quota"*) ;;
  *) fail "the condition does not carry the quota's message: '$message'" ;;
esac
wait_for 30 "no Warning Event ReplicaFailure for sessions-v1" has_warning sessions-v1 ReplicaFailure
say "  Warning Event: $(warning_event sessions-v1 ReplicaFailure)"
[ "$(field sessions-v1 .status.phase)" = Replaying ] ||
  fail "sessions-v1 is $(field sessions-v1 .status.phase), want Replaying while the quota refuses its pods"
[ -z "$(worker_pods sessions-v1)" ] || fail "pods of sessions-v1 exist under a quota that admits none: $(worker_pods sessions-v1)"
k get resourcequota -n "$E2E_NS"

Then "raising the quota to 1 CPU lets both pods be created, and v1 serves"
k patch plv sessions-v1 -n "$E2E_NS" --type merge -p '{"spec":{"replay":{"quota":{"requests.cpu":"1"}}}}' >/dev/null
two_pods() { [ "$(worker_pods sessions-v1 | wc -w)" -ge 2 ]; }
wait_for 90 "no two worker pods of sessions-v1 after the quota was raised ($(condition sessions-v1 reason))" two_pods
available() { [ "$(condition sessions-v1 status)" = True ] || [ "$(field sessions-v1 .status.phase)" != Replaying ]; }
wait_for 60 "WorkerAvailable did not turn True after the quota was raised" available
say "  quota raised after $(($(date +%s) - said))s of refusal: WorkerAvailable $(condition sessions-v1 status) ($(condition sessions-v1 reason))"
pc=$(k get pods -n "$E2E_NS" -l kappa.io/worker=sessions-v1 -o jsonpath='{.items[*].spec.priorityClassName}')
say "  worker pods $(worker_pods sessions-v1), priorityClassName: $pc"
case "$pc" in
  "kappa-replay kappa-replay"*) ;;
  *) fail "the replay pods do not run under the PriorityClass kappa-replay: '$pc'" ;;
esac
wait_phase sessions-v1 Serving 300
[ "$(condition sessions-v1 status)" = True ] ||
  fail "WorkerAvailable is '$(condition sessions-v1 status)' ($(condition sessions-v1 reason)) on a serving version"

When "sessions-v2 asks for 64 CPUs per pod, and sessions-v3 for an image that does not exist"
apply_version sessions-v1.yaml sessions-v2 "$topic" spec.replay.replicas=1 \
  "spec.replay.resources={requests: {cpu: '64'}}" "spec.resources={requests: {cpu: '64'}}"
wait_for 90 "sessions-v2 never said Unschedulable (WorkerAvailable: $(condition sessions-v2 reason))" \
  worker_says sessions-v2 Unschedulable
say "  sessions-v2 Unschedulable: $(condition sessions-v2 message)"
wait_for 30 "no Warning Event Unschedulable for sessions-v2" has_warning sessions-v2 Unschedulable
k delete plv sessions-v2 -n "$E2E_NS" --wait=false >/dev/null
apply_version sessions-v1.yaml sessions-v3 "$topic" spec.replay.replicas=1 \
  spec.processor.builtin= "spec.processor.container={image: 'localhost/no-such-processor:1'}"
wait_for 120 "sessions-v3 never said ImagePullFailed (WorkerAvailable: $(condition sessions-v3 reason))" \
  worker_says sessions-v3 ImagePullFailed
say "  sessions-v3 ImagePullFailed: $(condition sessions-v3 message)"
wait_for 30 "no Warning Event ImagePullFailed for sessions-v3" has_warning sessions-v3 ImagePullFailed
[ "$(field sessions-v3 .status.phase)" = Replaying ] ||
  fail "sessions-v3 is $(field sessions-v3 .status.phase), want Replaying while its image is missing"
k delete plv sessions-v3 -n "$E2E_NS" --wait=false >/dev/null
k get plv -n "$E2E_NS"
say "PASS: quota refusal reported in $((said - applied))s with the quota's message, resolved by raising it; Unschedulable and ImagePullFailed reported"
