#!/usr/bin/env bash
# Scenario, e2e.medallion_cascade: three tiers, bronze -> silver -> gold, each a pipeline
# reading the tier above through its alias (spec.source.pipeline) and following its flips
# (spec.cascade.mode Follow), with live traffic on bronze's source. Proves:
#   * a tier applied before the tier above serves waits in Pending, saying so, and reads
#     the upstream version serving when it can (status.source);
#   * a new bronze version (the same program, validated equal) flips bronze; silver's
#     serving version makes its successor by itself, which replays bronze's new output,
#     compares equal and flips; gold follows silver the same way: three tiers cascade twice;
#   * nothing upstream retires while a version below still reads it: bronze-v1 retires only
#     after the silver version reading it has;
#   * the cascaded gold's values equal those of a gold made from scratch over the new silver.
#
#   medallion.sh [STATE_DIR]      KAPPA_BIN=dir of the binaries (default build/bin)
source "$(dirname "$0")/lib.sh"
e2e_start e2e-medallion "${1:-}"

topic=e2e-medallion.clicks
# Each tier keeps, per user, the largest count the tier above has sent: the tiers' outputs
# are update streams (a new count per event), and a max over them is the latest count.
bronze=(spec.pipeline=bronze "spec.processor={builtin: {keyField: user_id, timestampField: timestamp_ms, window: {type: none}, aggregates: [{name: views, op: count, where: {field: event_type, equals: view}}, {name: events, op: count}]}}")
tier() { # tier UPSTREAM: a tier reading UPSTREAM's serving output and following its flips
  echo "spec.source={pipeline: $1}"
  echo "spec.cascade={mode: Follow}"
  echo "spec.processor={builtin: {keyField: key, window: {type: none}, aggregates: [{name: views, op: max, field: views}, {name: events, op: max, field: events}]}}"
}
# Two tiers over two upstream versions read different topics: compared at their latest
# values, where the live events of the last moment may differ on a few keys.
common=(spec.replay.replicas=1 spec.replicas=1 "spec.validation.sampleKeys=300"
  "spec.validation.maxMismatchRatio=0.05" "spec.validation.tapRate=0")
mapfile -t silver < <(tier bronze)
mapfile -t gold < <(tier silver)
cascaded() { # cascaded PIPELINE UPSTREAM-VERSION: the version a cascade made, once it exists
  k get plv -n "$E2E_NS" -l "kappa.io/pipeline=$1,kappa.io/cascade-upstream-version=$2" \
    -o jsonpath='{.items[0].metadata.name}' 2>/dev/null || true
}

Given "a source topic $topic with 20000 events of 400 users, and live traffic of 5 events/s"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count 20000 --keys 400 >/dev/null || fail "kappa-loadgen could not write $topic"
live_traffic "$topic" 5 --keys 400

Given "silver-v1 applied before bronze serves: it waits"
apply_version sessions-v1.yaml silver-v1 "$topic" spec.pipeline=silver "${silver[@]}" "${common[@]}"
waiting() { field silver-v1 .status.message | grep -q "waiting for pipeline bronze"; }
wait_for 60 "silver-v1 does not say it waits for bronze ($(field silver-v1 .status.message))" waiting
[ "$(field silver-v1 .status.phase)" = Pending ] || fail "silver-v1 left Pending without a source"
say "  silver-v1: $(field silver-v1 .status.message)"

When "bronze-v1 serves, then gold-v1 is applied"
apply_version sessions-v1.yaml bronze-v1 "$topic" "${bronze[@]}" "${common[@]}"
wait_phase bronze-v1 Serving
wait_phase silver-v1 Serving
apply_version sessions-v1.yaml gold-v1 "$topic" spec.pipeline=gold "${gold[@]}" "${common[@]}"
wait_phase gold-v1 Serving

Then "each tier reads the serving version of the tier above"
[ "$(field silver-v1 .status.source.version)" = v1 ] &&
  [ "$(field silver-v1 .status.source.topic)" = bronze.v1 ] ||
  fail "silver-v1 reads '$(field silver-v1 .status.source.pipeline)/$(field silver-v1 .status.source.version)' ($(field silver-v1 .status.source.topic)), want bronze/v1 (bronze.v1)"
[ "$(field gold-v1 .status.source.topic)" = silver.v1 ] ||
  fail "gold-v1 reads '$(field gold-v1 .status.source.topic)', want silver.v1"
"$KAPPA_BIN/kubectl-kappa" status gold --kubeconfig "$KUBECONFIG" -n "$E2E_NS" | sed 's/^/  /'

When "bronze-v2, the same program, is applied"
apply_version sessions-v1.yaml bronze-v2 "$topic" "${bronze[@]}" "${common[@]}"
wait_phase bronze-v2 Serving
equal=$(k get configmap bronze-serving -n "$E2E_NS" -o jsonpath='{.data.flips}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["equal"])')
[ "$equal" = True ] || fail "bronze's flip to v2 is not recorded as validated equal ($equal)"

Then "silver cascades by itself: its successor reads bronze.v2, compares equal and flips"
silver_made() { [ -n "$(cascaded silver v2)" ]; }
wait_for 60 "no silver version was made for bronze v2" silver_made
silver2=$(cascaded silver v2)
say "  silver's serving version made $silver2: $(k get plv "$silver2" -n "$E2E_NS" -o jsonpath='{.metadata.annotations.kappa\.io/cascade}')"
wait_phase "$silver2" Serving
[ "$(field "$silver2" .status.source.topic)" = bronze.v2 ] ||
  fail "$silver2 reads '$(field "$silver2" .status.source.topic)', want bronze.v2"
silver2_version=$(field "$silver2" .spec.version)

Then "gold follows silver the same way"
gold_made() { [ -n "$(cascaded gold "$silver2_version")" ]; }
wait_for 60 "no gold version was made for silver $silver2_version" gold_made
gold2=$(cascaded gold "$silver2_version")
dag=$("$KAPPA_BIN/kubectl-kappa" pipelines --kubeconfig "$KUBECONFIG" -n "$E2E_NS") ||
  fail "kubectl kappa pipelines failed: $dag"
echo "$dag" | sed 's/^/  /'
order=$(echo "$dag" | awk 'NR > 1 {print $1}' | tr '\n' ' ')
[ "$order" = "bronze silver gold " ] || fail "kubectl kappa pipelines lists the tiers as '$order'"
wait_phase "$gold2" Serving
say "  gold: $(field "$gold2" .status.validation.comparedKeys) keys compared with gold-v1, $(field "$gold2" .status.validation.mismatchedKeys) mismatched"

Then "the old tiers drain in order: bronze-v1 retires only after silver-v1, which gold-v1 read"
wait_phase gold-v1 Retired 120
wait_phase silver-v1 Retired 120
wait_phase bronze-v1 Retired 120
drained() { cl_time=$(field "$1" .status.drainedAt); python3 -c 'import sys, datetime; print(datetime.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00")).timestamp())' "$cl_time"; }
g=$(drained gold-v1)
s=$(drained silver-v1)
b=$(drained bronze-v1)
python3 -c 'import sys; g, s, b = map(float, sys.argv[1:]); sys.exit(0 if g <= s <= b else 1)' "$g" "$s" "$b" ||
  fail "drained out of order: gold-v1 $g, silver-v1 $s, bronze-v1 $b"
held=$(k get events -n "$E2E_NS" --field-selector "involvedObject.name=bronze-v1,reason=DrainHeld" \
  -o jsonpath='{.items[0].message}')
[ -n "$held" ] || fail "bronze-v1 recorded no DrainHeld Event while silver-v1 read it"
say "  bronze-v1: $held"

Then "the cascaded gold's values equal those of a gold made from scratch over the new silver"
kill "$live_pid" 2>/dev/null || true
apply_version sessions-v1.yaml goldcheck-v1 "$topic" spec.pipeline=goldcheck "${gold[@]}" \
  "spec.cascade={mode: Pinned}" "${common[@]}"
wait_phase goldcheck-v1 Serving
settled() { # both golds caught up with the last events
  "$KAPPA_BIN/kubectl-kappa" lag --bootstrap "$KAFKA_BOOTSTRAP" --group "$(field "$gold2" .status.consumerGroup)" \
    --topic "$(field "$gold2" .status.source.topic)" --max-lag 0 >/dev/null 2>&1 &&
    "$KAPPA_BIN/kubectl-kappa" lag --bootstrap "$KAFKA_BOOTSTRAP" --group "$(field goldcheck-v1 .status.consumerGroup)" \
      --topic "$(field goldcheck-v1 .status.source.topic)" --max-lag 0 >/dev/null 2>&1
}
wait_for 60 "the two golds did not catch up with silver" settled
out=$("$KAPPA_BIN/kubectl-kappa" validate --bootstrap "$KAFKA_BOOTSTRAP" \
  --serving-topic "$(field goldcheck-v1 .status.outputTopic)" \
  --candidate-topic "$(field "$gold2" .status.outputTopic)" --sample-keys 400 2>&1) ||
  fail "the cascaded gold differs from a gold made from scratch: $out"
say "  $(echo "$out" | head -n 1)"
k get plv -n "$E2E_NS"
say "PASS: bronze v1 -> v2 cascaded through silver ($silver2) and gold ($gold2); old tiers drained in order"
