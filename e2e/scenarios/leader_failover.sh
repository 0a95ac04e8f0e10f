#!/usr/bin/env bash
# Scenario 10, e2e.leader_failover: two kappa-operator pods (the chart's replicaCount 2) share
# the Lease kappa-system/kappa-operator (leader election is on by default; each pod's
# identity is its name). Proves:
#   * exactly one pod leads: the Lease's holderIdentity is one of them, and exactly one
#     reports kappa_operator_leader 1 on its /metrics;
#   * when the leader dies in the middle of a cutover (sessions-v2 replaying: its process
#     gets kill -9 and its pod is deleted with --force, so it does not come back under the
#     same name), another pod takes the Lease over (after it expires) and finishes the
#     cutover: sessions-v2 Serving, sessions-v1 Draining then Retired;
#   * the serving alias was flipped exactly once for that cutover: its history (a watch
#     on the ConfigMap) is v1, then v2 with previousVersion v1, and nothing else.
#
#   leader_failover.sh [STATE_DIR]   KAPPA_BIN=dir of the binaries (default build/bin)
source "$(dirname "$0")/lib.sh"
export KAPPA_HELM_ARGS="--set replicaCount=2" # the chart's operator Deployment, two pods
e2e_start e2e-leader "${1:-}"

topic=e2e-leader.clicks
history="$E2E_STATE/alias-history.txt"
E2E_ON_EXIT='kill "${watcher:-}" 2>/dev/null; echo "--- alias history"; cat "$history" 2>/dev/null'

leader_gauge() { # leader_gauge POD: 1 or 0 ("" when it does not answer)
  operator_metric "kappa_operator_leader " "$1" | awk '{print $1 + 0}'
}
holder() {
  k get lease kappa-operator -n "$OPERATOR_NAMESPACE" -o jsonpath='{.spec.holderIdentity}' \
    2>/dev/null || true
}
two_pods() { [ "$(operator_pods | wc -w)" -eq 2 ]; }
one_leader() { # exactly one running pod reports leading, and the Lease names it
  local pod n=0
  leader=""
  for pod in $(operator_pods); do
    case "$(leader_gauge "$pod")" in
      1) leader=$pod; n=$((n + 1)) ;;
      0) ;;
      *) return 1 ;;
    esac
  done
  [ "$n" -eq 1 ] && [ "$(holder)" = "$leader" ]
}

wait_for 120 "the chart's two operator pods are not both running" two_pods
Given "two operator pods ($(operator_pods))"
wait_for 60 "not exactly one leader (kappa_operator_leader of the pods and the Lease holder disagree)" one_leader
# Stable for a few seconds: the other pod does not take the Lease as well.
for _ in 1 2 3; do
  sleep 1
  one_leader || fail "leadership changed without a failure (Lease holder '$(holder)')"
done
first=$leader
say "  leader: $first (Lease holderIdentity $(holder)); standby: $(operator_pods | tr ' ' '\n' | grep -vx "$first")"

Given "a source topic $topic with 100000 events and sessions-v1 serving"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count 100000 --keys 2000 --seed 10 >/dev/null || fail "kappa-loadgen could not write $topic"
apply_version sessions-v1.yaml sessions-v1 "$topic" spec.replay.replicas=1
wait_phase sessions-v1 Serving 240
k get configmaps -n "$E2E_NS" --field-selector metadata.name=sessions-serving -w \
  -o jsonpath='{.metadata.resourceVersion}{" "}{.data.version}{" "}{.data.previousVersion}{"\n"}' \
  >"$history" 2>"$E2E_STATE/alias-watch.err" &
watcher=$!

When "sessions-v2 is applied and the leader is killed -9 while it replays"
apply_version sessions-v1.yaml sessions-v2 "$topic" spec.replay.replicas=1
wait_phase sessions-v2 Replaying 120
pid=$(container_pid "$first" "$OPERATOR_NAMESPACE")
[ -n "$pid" ] || fail "no running container in the leader pod $first"
kill -9 "$pid"
k delete pod "$first" -n "$OPERATOR_NAMESPACE" --force --grace-period=0 >/dev/null 2>&1 ||
  fail "could not delete the leader pod $first"
killed_at=$(date +%s)
say "  kill -9 $first (pid $pid) and its pod deleted, with sessions-v2 $(field sessions-v2 .status.phase), progress $(field sessions-v2 .status.replay.progressPercent)%"

Then "another pod takes the Lease over"
took_over() { [ -n "$(holder)" ] && [ "$(holder)" != "$first" ] && one_leader; }
wait_for 90 "no other pod took the Lease over from $first" took_over
successor=$(holder)
say "  Lease holderIdentity $successor after $(($(date +%s) - killed_at))s"

Then "it finishes the cutover: sessions-v2 Serving, sessions-v1 Retired"
wait_phase sessions-v2 Serving 240
[ "$(alias_version sessions)" = v2 ] || fail "alias names '$(alias_version sessions)', want v2"
[ "$(field sessions-v2 .status.previousVersion)" = v1 ] ||
  fail "sessions-v2 status.previousVersion is '$(field sessions-v2 .status.previousVersion)', want v1"
wait_phase sessions-v1 Retired 120
[ "$(holder)" = "$successor" ] || fail "the Lease moved again: '$(holder)'"

Then "the alias was flipped exactly once for the cutover"
sleep 2 # the watch's last lines
kill "$watcher" 2>/dev/null || true
wait "$watcher" 2>/dev/null || true
flips=$(awk '!seen[$1]++ {print $2 "<-" $3}' "$history" | tr '\n' ' ')
[ "$flips" = "v1<- v2<-v1 " ] ||
  fail "alias history '$flips', want 'v1<- v2<-v1 ' (v1 at the start, then one flip to v2)"
k get plv -n "$E2E_NS"
say "PASS: leader $first killed mid-cutover, $successor took the Lease and finished it; one flip v1 -> v2"
