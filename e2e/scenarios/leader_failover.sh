#!/usr/bin/env bash
# Scenario 10, e2e.leader_failover: two kappa-operator replicas share the Lease
# kappa-system/kappa-operator (leader election is on by default). Proves:
#   * exactly one replica leads: the Lease's holderIdentity is one of them, and exactly one
#     reports kappa_operator_leader 1 on its /metrics;
#   * when the leader is killed with SIGKILL in the middle of a cutover (sessions-v2
#     replaying), the other replica takes the Lease over (holderIdentity changes to it,
#     after the Lease expires) and finishes the cutover: sessions-v2 Serving, sessions-v1
#     Draining then Retired;
#   * the serving alias was flipped exactly once for that cutover: its history (a watch
#     on the ConfigMap) is v1, then v2 with previousVersion v1, and nothing else.
#
#   leader_failover.sh [STATE_DIR]   KAPPA_BIN=dir of the binaries (default build/bin)
source "$(dirname "$0")/lib.sh"
# Each replica's identity is its default, <host>_<pid> (a POD_NAME from the environment
# would give both the same one).
unset POD_NAME
e2e_start e2e-leader "${1:-}"

topic=e2e-leader.clicks
run="$E2E_STATE/cluster"
history="$E2E_STATE/alias-history.txt"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
host=$(hostname)

# The second replica: like the first (e2e/cluster-up.sh), same ServiceAccount kubeconfig and
# Lease namespace, its own ports and log.
mport=$(free_port)
pport=$(free_port)
nohup "$KAPPA_BIN/kappa-operator" --kubeconfig "$OPERATOR_KUBECONFIG" \
  --leader-election-namespace "$OPERATOR_NAMESPACE" --worker-image kappa-worker:latest \
  --metrics-address "127.0.0.1:$mport" --health-probe-address "127.0.0.1:$pport" \
  >>"$run/operator-2.log" 2>&1 </dev/null &
echo $! >"$run/operator-2.pid"
disown # it is stopped (and killed) on purpose; no job report
echo "METRICS=127.0.0.1:$mport PROBES=127.0.0.1:$pport" >"$run/operator-2.ports"
E2E_ON_EXIT='kill -9 "$(cat "$run/operator-2.pid")" 2>/dev/null; kill "${watcher:-}" 2>/dev/null; echo "--- alias history"; cat "$history" 2>/dev/null'

pid_of() { cat "$run/$1.pid"; } # operator | operator-2
metrics_of() { sed -n 's/^METRICS=\([^ ]*\).*/\1/p' "$run/$1.ports"; }
leader_gauge() { # leader_gauge operator|operator-2: 1 or 0 ("" when it does not answer)
  curl -s --max-time 3 "http://$(metrics_of "$1")/metrics" 2>/dev/null |
    awk '$1 == "kappa_operator_leader" {print $2 + 0}'
}
holder() {
  k get lease kappa-operator -n "$OPERATOR_NAMESPACE" -o jsonpath='{.spec.holderIdentity}' \
    2>/dev/null || true
}
ready() { [ "$(curl -s --max-time 2 "http://127.0.0.1:$pport/readyz" 2>/dev/null)" = ok ]; }
one_leader() { # exactly one replica reports leading, and the Lease names it
  local a b
  a=$(leader_gauge operator)
  b=$(leader_gauge operator-2)
  if [ "$a" = 1 ] && [ "$b" = 0 ]; then leader=operator
  elif [ "$a" = 0 ] && [ "$b" = 1 ]; then leader=operator-2
  else return 1
  fi
  [ "$(holder)" = "${host}_$(pid_of "$leader")" ]
}

Given "two operator replicas (pids $(pid_of operator) and $(pid_of operator-2))"
wait_for 60 "the second operator replica is not ready (see $run/operator-2.log)" ready
wait_for 30 "not exactly one leader (kappa_operator_leader of both replicas and the Lease holder disagree)" one_leader
# Stable for a few seconds: the other replica does not take the Lease as well.
for _ in 1 2 3; do
  sleep 1
  one_leader || fail "leadership changed without a failure (Lease holder '$(holder)')"
done
first=$leader
first_identity=$(holder)
other=operator-2
[ "$first" = operator-2 ] && other=operator
say "  leader: $first (Lease holderIdentity $first_identity); standby: $other"

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
kill -9 "$(pid_of "$first")"
killed_at=$(date +%s)
say "  kill -9 $first (pid $(pid_of "$first")) with sessions-v2 $(field sessions-v2 .status.phase), progress $(field sessions-v2 .status.replay.progressPercent)%"

Then "the standby takes the Lease over"
took_over() { [ "$(holder)" = "${host}_$(pid_of "$other")" ] && [ "$(leader_gauge "$other")" = 1 ]; }
wait_for 60 "$other did not take the Lease over" took_over
say "  Lease holderIdentity $(holder) after $(($(date +%s) - killed_at))s"

Then "it finishes the cutover: sessions-v2 Serving, sessions-v1 Retired"
wait_phase sessions-v2 Serving 240
[ "$(alias_version sessions)" = v2 ] || fail "alias names '$(alias_version sessions)', want v2"
[ "$(field sessions-v2 .status.previousVersion)" = v1 ] ||
  fail "sessions-v2 status.previousVersion is '$(field sessions-v2 .status.previousVersion)', want v1"
wait_phase sessions-v1 Retired 120
[ "$(holder)" = "${host}_$(pid_of "$other")" ] || fail "the Lease moved again: '$(holder)'"

Then "the alias was flipped exactly once for the cutover"
sleep 2 # the watch's last lines
kill "$watcher" 2>/dev/null || true
wait "$watcher" 2>/dev/null || true
flips=$(awk '!seen[$1]++ {print $2 "<-" $3}' "$history" | tr '\n' ' ')
[ "$flips" = "v1<- v2<-v1 " ] ||
  fail "alias history '$flips', want 'v1<- v2<-v1 ' (v1 at the start, then one flip to v2)"
k get plv -n "$E2E_NS"
say "PASS: $first killed mid-cutover, $other took the Lease and finished it; one flip v1 -> v2"
