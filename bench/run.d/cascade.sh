#!/usr/bin/env bash
# A medallion cascade on the whole local stack (e2e/cluster-up.sh in BUILD_DIR/bench-cascade:
# the real node, its own broker, kappa-operator installed by helm with the images of
# BUILD_DIR/images). Three tiers over KAPPA_BENCH_CASCADE_EVENTS clickstream events (default
# 10M, 4 partitions, KAPPA_BENCH_CASCADE_KEYS users):
#   bronze  reads the source topic and keeps four fields (select), one record per event;
#   silver  reads bronze's serving output (spec.source.pipeline) and keeps views, carts and
#           purchases (filter + select), following bronze's flips (spec.cascade.mode Follow);
#   gold    reads silver's serving output and keeps, per user, views and revenue (count, sum),
#           following silver's flips.
# Each tier replays with KAPPA_BENCH_CASCADE_REPLICAS replay replicas and is compared on 2,000
# keys of its sample tap (one key in KEYS/2500). Once the three serve, bronze-v2 (the same program) is applied; it replays,
# compares equal and flips, and the cascade does the rest by itself: silver's serving
# version makes its successor over bronze-v2's output, which replays it from the earliest
# offset, compares equal and flips; gold follows silver the same way. Prints
#   cascade_flip_to_downstream_serving_s
#       from the watch event of bronze's alias naming v2 to that of gold's alias naming the
#       gold version the cascade made (two tiers replayed one after the other);
#   cascade_<tier>_made_after_flip_s
#       from the upstream alias's flip to the creation of the tier's cascaded version;
#   cascade_<tier>_phase_<phase>_s
#       the time the cascaded version spent in each phase (watch events of status.phase);
#   cascade_bronze_v2_apply_to_serving_s
#       the upstream cutover itself, for scale.
#
#   cascade.sh BUILD_DIR BOOTSTRAP      (run by bench/run.sh; BOOTSTRAP is not used: the
#                                        stack has its own broker)
# Environment: KAPPA_BENCH_CASCADE_EVENTS (10000000; 0 skips it), KAPPA_BENCH_CASCADE_KEYS
#              (100000), KAPPA_BENCH_CASCADE_REPLICAS (2).
set -euo pipefail
build=$(cd "$1" && pwd)
events=${KAPPA_BENCH_CASCADE_EVENTS:-10000000}
keys=${KAPPA_BENCH_CASCADE_KEYS:-100000}
replicas=${KAPPA_BENCH_CASCADE_REPLICAS:-2}
[ "$events" -gt 0 ] || exit 0
tap_rate=$((keys / 2500 > 0 ? keys / 2500 : 1)) # the tap holds ~2,500 keys: the 2,000 sampled
export KAPPA_BIN="$build/bin"
export KAPPA_IMAGES=${KAPPA_IMAGES:-$build/images} # make bench builds them (make images)
# shellcheck source=bench/cutover-lib.sh
source "$(dirname "$0")/../cutover-lib.sh"
cl_start bench-cascade "$build/bench-cascade"

topic=bench-cascade.clicks
echo "bench: writing $events events ($keys keys, 4 partitions) to $topic" >&2
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 4 \
  --count "$events" --keys "$keys" >/dev/null
cl_watch_versions
for p in bronze silver gold; do cl_watch_alias "$p"; done

fields='[{field: user_id}, {field: event_type}, {field: price}, {field: timestamp_ms}]'
bronze=("spec.processor={builtin: {keyField: user_id, timestampField: timestamp_ms, select: $fields}}")
silver=("spec.source={pipeline: bronze}" "spec.cascade={mode: Follow}"
  "spec.processor={builtin: {keyField: user_id, timestampField: timestamp_ms, filter: [{field: event_type, op: in, values: [view, add_to_cart, purchase]}], select: $fields}}")
gold=("spec.source={pipeline: silver}" "spec.cascade={mode: Follow}"
  "spec.processor={builtin: {keyField: user_id, window: {type: none}, aggregates: [{name: views, op: count, where: {field: event_type, equals: view}}, {name: revenue, op: sum, field: price, where: {field: event_type, equals: purchase}}]}}")
# Generous bounds: 20k events/s at least.
bound=$((events / 20000 + 300))
common=("spec.replay.replicas=$replicas" spec.replay.maxDurationSeconds=21600 spec.catchUp.stableSeconds=1
  spec.validation.timeoutSeconds=1800 spec.validation.sampleKeys=2000 "spec.validation.tapRate=$tap_rate")
first() { # first TIER PROGRAM-OVERRIDES...: version v1 of TIER, applied and serving
  local tier=$1
  shift
  apply_version sessions-v1.yaml "$tier-v1" "$topic" "spec.pipeline=$tier" "$@" "${common[@]}" \
    spec.version=v1
  wait_phase "$tier-v1" Serving "$bound" >&2
  echo "bench: $tier-v1 serving" >&2
}
first bronze "${bronze[@]}"
first silver "${silver[@]}"
first gold "${gold[@]}"

applied=$(date +%s.%N)
apply_version sessions-v1.yaml bronze-v2 "$topic" spec.pipeline=bronze "${bronze[@]}" "${common[@]}" \
  spec.version=v2
cascaded() { # cascaded PIPELINE UPSTREAM-VERSION: the version a cascade made, once it exists
  k get plv -n "$E2E_NS" -l "kappa.io/pipeline=$1,kappa.io/cascade-upstream-version=$2" \
    -o jsonpath='{.items[0].metadata.name}' 2>/dev/null || true
}
bronze_flip=$(cl_flip_time bronze v2 "$bound")
echo "bench: bronze flipped to v2" >&2
silver2=""
for _ in $(seq 1 600); do
  silver2=$(cascaded silver v2)
  [ -n "$silver2" ] && break
  sleep 0.1
done
[ -n "$silver2" ] || fail "no silver version was made for bronze v2"
silver2_version=$(field "$silver2" .spec.version)
silver_flip=$(cl_flip_time silver "$silver2_version" "$bound")
echo "bench: silver flipped to $silver2_version ($silver2)" >&2
gold2=""
for _ in $(seq 1 600); do
  gold2=$(cascaded gold "$silver2_version")
  [ -n "$gold2" ] && break
  sleep 0.1
done
[ -n "$gold2" ] || fail "no gold version was made for silver $silver2_version"
gold_flip=$(cl_flip_time gold "$(field "$gold2" .spec.version)" "$bound")
echo "bench: gold flipped to $(field "$gold2" .spec.version) ($gold2)" >&2
for v in "$silver2" "$gold2"; do
  [ "$(field "$v" .status.validation.mismatchedKeys)" = 0 ] ||
    fail "$v: $(field "$v" .status.validation.mismatchedKeys) keys mismatched"
done
validated() { # validated VERSION: how its comparison went, for the figures' notes
  k get plv "$1" -n "$E2E_NS" -o jsonpath='{.status.validation.source} {.status.validation.comparedKeys} {.status.validation.sampledKeys} {.status.validation.roundsPassed}'
}
silver_validated=$(validated "$silver2")
gold_validated=$(validated "$gold2")
k get plv -n "$E2E_NS" -o json >"$CL_WORK/versions.json"
silver_made=$(cl_rfc3339 "$(k get plv "$silver2" -n "$E2E_NS" -o jsonpath='{.metadata.creationTimestamp}')")
gold_made=$(cl_rfc3339 "$(k get plv "$gold2" -n "$E2E_NS" -o jsonpath='{.metadata.creationTimestamp}')")

python3 - "$CL_WORK/phases.log" "$events" "$applied" "$bronze_flip" "$silver_flip" "$gold_flip" \
  "$silver2" "$gold2" "$silver_made" "$gold_made" "$silver_validated" "$gold_validated" <<'PY'
import os, sys
sys.path.insert(0, os.environ["CL_REPO"] + "/bench")
from phases import phases as phases_of
path, events = sys.argv[1], int(sys.argv[2])
applied, bronze_flip, silver_flip, gold_flip = map(float, sys.argv[3:7])
silver2, gold2 = sys.argv[7:9]
silver_made, gold_made = map(float, sys.argv[9:11])
validated = dict(zip(("silver", "gold"), (v.split() for v in sys.argv[11:13])))

def phases(name, since):
    return phases_of(path, name, since)

total, _ = phases("bronze-v2", applied)
print(f"BENCH cascade_bronze_v2_apply_to_serving_s {total:.1f} s ({events} events)")
print(f"BENCH cascade_flip_to_downstream_serving_s {gold_flip - bronze_flip:.1f} s "
      f"({events} events; bronze alias -> v2, to gold alias -> {gold2}; silver flipped after "
      f"{silver_flip - bronze_flip:.1f} s)")
for tier, name, made, upstream_flip in (("silver", silver2, silver_made, bronze_flip),
                                         ("gold", gold2, gold_made, silver_flip)):
    # creationTimestamp has a resolution of a second
    print(f"BENCH cascade_{tier}_made_after_flip_s {max(0.0, made - upstream_flip):.0f} s "
          f"({name}; creationTimestamp, whole seconds)")
    _, spent = phases(name, made)
    for p, s in spent.items():
        how = ""
        if p == "Validating" and len(validated[tier]) >= 3:
            source, compared, sampled = validated[tier][:3]
            how = f"; compared {compared} of {sampled} sampled keys on the {source.lower()}s"
        print(f"BENCH cascade_{tier}_phase_{p.lower()}_s {s:.1f} s ({name}{how})")
PY
