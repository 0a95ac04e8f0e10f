#!/usr/bin/env bash
# Scenario 7, e2e.chaos_operator: kappa-operator is killed with SIGKILL at a random moment of
# every cutover of a chain of versions of one pipeline (v1, then v2 .. v12, each applied once
# the one before serves; all with the same logic except v7, which carries the revenue bug of
# e2e/demo.sh): the process of the operator pod's container, found through the node's
# containerd, gets kill -9, and the kubelet restarts the container. Proves:
#   * every cutover converges: each good version ends Serving, the one it replaced Draining
#     and then Retired;
#   * the serving alias is flipped exactly once per cutover: its history (a watch on the
#     ConfigMap kept for the whole scenario) is v1, v2, .. in order, each flip's
#     previousVersion is the version served before it, no version is promoted twice, and the
#     PipelineVersions' status.previousVersion tell the same chain;
#   * the buggy version is blocked by validation (AwaitingPromotion, Validated=False) and
#     never appears in the alias history, killed operator or not.
# The kill delays come from a seed printed at the start; KAPPA_E2E_SEED=N replays them.
#
#   chaos_operator.sh [STATE_DIR]    KAPPA_BIN=dir of the binaries (default build/bin)
#                                    KAPPA_E2E_SEED=N  KAPPA_E2E_KILL_WINDOW=seconds (12)
source "$(dirname "$0")/lib.sh"
seed=${KAPPA_E2E_SEED:-$(($(date +%s%N) / 1000 % 32768))}
RANDOM=$seed
window=${KAPPA_E2E_KILL_WINDOW:-12}
last=12 # v1 .. v12: 11 cutovers after the first version, one of them blocked
bug=7
# A restarted container keeps its Pod's name, hence its leader-election identity (POD_NAME):
# the restarted operator takes its own Lease back at once instead of waiting 15 s for it to
# expire (scenario e2e.leader_failover covers a takeover by another identity).
e2e_start e2e-chaos-op "${1:-}"
say "seed $seed (replay the same kill moments with KAPPA_E2E_SEED=$seed)"

topic=e2e-chaos-op.clicks
history="$E2E_STATE/alias-history.txt"
kills="$E2E_STATE/kills.txt"
: >"$kills"

Given "a source topic $topic with 6000 events of 400 users and a watch on the alias sessions-serving"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count 6000 --keys 400 --seed 7 >/dev/null || fail "kappa-loadgen could not write $topic"
# One line per state of the ConfigMap the apiserver reports: resourceVersion, version,
# previousVersion, promotedAt. The watch lives as long as the scenario; the operator's
# restarts do not touch it.
k get configmaps -n "$E2E_NS" --field-selector metadata.name=sessions-serving -w \
  -o jsonpath='{.metadata.resourceVersion}{" "}{.data.version}{" "}{.data.previousVersion}{" "}{.data.promotedAt}{"\n"}' \
  >"$history" 2>"$E2E_STATE/alias-watch.err" &
watcher=$!
E2E_ON_EXIT="kill $watcher 2>/dev/null; echo '--- alias history'; cat '$history'"

revenue_bug='[{name: views, op: count, where: {field: event_type, equals: view}}, {name: revenue, op: sum, field: price}]'
apply() { # apply N: sessions-vN, with the bug when N is $bug
  local extra=()
  [ "$1" -eq "$bug" ] && extra=("spec.processor.builtin.aggregates=$revenue_bug")
  apply_version sessions-v1.yaml "sessions-v$1" "$topic" spec.replay.replicas=1 \
    spec.validation.timeoutSeconds=120 "${extra[@]}"
}

up_again() { # up_again POD PID: a new process of POD's container runs
  local now
  now=$(container_pid "$1" "$OPERATOR_NAMESPACE")
  [ -n "$now" ] && [ "$now" != "$2" ]
}
# kill_operator N: SIGKILL after a random delay; the kubelet restarts the container.
kill_operator() {
  local n=$1 tenths pod pid phase
  tenths=$((RANDOM % (window * 10)))
  sleep "$((tenths / 10)).$((tenths % 10))"
  pod=$(operator_pods | awk '{print $1}')
  pid=$(container_pid "$pod" "$OPERATOR_NAMESPACE")
  phase=$(field "sessions-v$n" .status.phase)
  [ -n "$pid" ] || fail "no running operator container in pod '$pod' before kill $n"
  kill -9 "$pid"
  echo "v$n ${phase:-none}" >>"$kills"
  say "  kill -9 operator $pod (pid $pid) $((tenths / 10)).$((tenths % 10))s after applying sessions-v$n (phase ${phase:-none})"
  wait_for 60 "the kubelet did not restart the operator container of $pod" up_again "$pod" "$pid"
}

is_retiring() { # is_retiring NAME: Draining or Retired
  local p
  p=$(field "$1" .status.phase)
  [ "$p" = Draining ] || [ "$p" = Retired ]
}
blocked() { # AwaitingPromotion because validation found a mismatch
  [ "$(field "sessions-v$bug" .status.phase)" = AwaitingPromotion ] &&
    [ "$(field "sessions-v$bug" '.status.conditions[?(@.type=="Validated")].status')" = False ]
}

When "sessions-v1 .. sessions-v$last are applied one after another (v$bug with the revenue bug), the operator killed at a random moment of each cutover"
apply 1
wait_phase sessions-v1 Serving 180
served=v1
for n in $(seq 2 "$last"); do
  apply "$n"
  kill_operator "$n"
  if [ "$n" -eq "$bug" ]; then
    wait_for 240 "sessions-v$bug not blocked by validation" blocked
    [ "$(alias_version sessions)" = "${served}" ] ||
      fail "alias names '$(alias_version sessions)' while buggy v$bug waits; want $served"
    say "  sessions-v$bug blocked: $(field "sessions-v$bug" .status.validation.mismatchedKeys) of $(field "sessions-v$bug" .status.validation.comparedKeys) compared keys differ"
    continue
  fi
  wait_phase "sessions-v$n" Serving 240
  wait_for 60 "sessions-$served not Draining/Retired after v$n took over" is_retiring "sessions-$served"
  say "  sessions-v$n Serving (took over from $served)"
  served=v$n
done

Then "every version converged: the good ones Retired but the last, which serves; v$bug Superseded"
for n in $(seq 1 $((last - 1))); do
  [ "$n" -eq "$bug" ] && continue
  wait_phase "sessions-v$n" Retired 60
done
wait_phase "sessions-v$bug" Superseded 60
[ "$(field "sessions-v$last" .status.phase)" = Serving ] ||
  fail "sessions-v$last is $(field "sessions-v$last" .status.phase), want Serving"
[ "$(alias_version sessions)" = "v$last" ] ||
  fail "alias names '$(alias_version sessions)', want v$last"

Then "the alias was flipped exactly once per cutover, in order, and never to v$bug"
sleep 2 # the watch's last lines
kill "$watcher" 2>/dev/null || true
wait "$watcher" 2>/dev/null || true
expected=""
for n in $(seq 1 "$last"); do [ "$n" -ne "$bug" ] && expected="$expected v$n"; done
python3 - "$history" "${expected# }" "v$bug" <<'PY' || fail "alias history is wrong (see above)"
import sys
path, expected, bug = sys.argv[1], sys.argv[2].split(), sys.argv[3]
rows = [l.split() for l in open(path) if l.strip()]
errors, seen_rv, prev = [], set(), None
states = []
for r in rows:
    rv, version = r[0], r[1] if len(r) > 1 else ""
    previous = r[2] if len(r) > 3 else ""
    if rv in seen_rv:
        continue  # the same object state reported twice (e.g. list then watch)
    seen_rv.add(rv)
    states.append((rv, version, previous))
versions = [s[1] for s in states]
if bug in versions:
    errors.append("buggy %s was promoted" % bug)
if versions != expected:
    errors.append("flips %s, want %s (one per cutover)" % (versions, expected))
served = ""
for rv, version, previous in states:
    if previous != served:
        errors.append("flip to %s (rv %s) names previousVersion '%s', want '%s'"
                      % (version, rv, previous, served))
    served = version
for e in errors:
    print("alias history: " + e)
print("alias history: %d flips: %s" % (len(states), " ".join(versions)))
sys.exit(1 if errors else 0)
PY
prev=v1
for n in $(seq 2 "$last"); do
  [ "$n" -eq "$bug" ] && continue
  got=$(field "sessions-v$n" .status.previousVersion)
  [ "$got" = "$prev" ] || fail "sessions-v$n has status.previousVersion '$got', want $prev"
  prev=v$n
done
k get plv -n "$E2E_NS"
pod=$(operator_pods | awk '{print $1}')
say "PASS: $(wc -l <"$kills") operator kills, $pod restarted $(restarts "$pod" "$OPERATOR_NAMESPACE") times (seed $seed; phases at kill: $(cut -d' ' -f2 "$kills" | sort | uniq -c | awk '{printf "%s%s x%s", sep, $2, $1; sep=", "}')); alias flipped once per cutover, v$bug never"
