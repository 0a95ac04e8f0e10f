#!/usr/bin/env bash
# Scenario 13, e2e.container_streams_cutover: a Kafka Streams application as
# processor.container (e2e/streams-app: EventCounts, built with Maven from Maven Central and
# packaged by buildah into localhost/kappa-streams-example). Proves:
#   * counts-v1 replays the source from the earliest offset in a pod of that image, is
#     lag-gated through its consumer group (the Streams application.id = KAPPA_CONSUMER_GROUP)
#     and serves;
#   * counts-v2, the same application, replays into its own output, is compared with v1
#     (outputs without source-offset headers: latest values per sampled key; status says no
#     consistent cut was possible) with zero mismatches, is promoted, and v1 drains and
#     retires: its pods go;
#   * the output really holds the application's answer: the count of a key equals the number
#     of source events of that key.
#
#   container_streams.sh [STATE_DIR]   KAPPA_BIN=dir of the binaries (default build/bin)
source "$(dirname "$0")/lib.sh"
e2e_start e2e-streams "${1:-}"
[ -n "${KAPPA_STREAMS_IMAGE:-}" ] ||
  fail "no Kafka Streams image in $KAPPA_IMAGES (e2e/images/build-images.sh builds it)"

topic=e2e-streams.clicks
events=40000
keys=500
Given "a source topic $topic with $events events of $keys users, and image $KAPPA_STREAMS_IMAGE"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count "$events" --keys "$keys" --seed 13 >/dev/null || fail "kappa-loadgen could not write $topic"

streams=("spec.pipeline=counts" "spec.processor.builtin=" "spec.processor.container={image: '$KAPPA_STREAMS_IMAGE'}"
  spec.replay.replicas=1 "spec.output.config={cleanup.policy: compact}" spec.validation.sampleKeys=200)

When "counts-v1, the Streams application, is applied"
apply_version sessions-v1.yaml counts-v1 "$topic" "${streams[@]}"
wait_phase counts-v1 Serving 300
pods=$(worker_pods counts-v1)
[ -n "$pods" ] || fail "no worker pod of counts-v1"
image=$(k get pods -n "$E2E_NS" -l kappa.io/worker=counts-v1 -o jsonpath='{.items[0].spec.containers[0].image}')
[ "$image" = "$KAPPA_STREAMS_IMAGE" ] || fail "counts-v1's pod runs '$image', want $KAPPA_STREAMS_IMAGE"
say "  counts-v1 Serving; pod $pods runs $image"

When "counts-v2, the same application, is applied"
apply_version sessions-v1.yaml counts-v2 "$topic" "${streams[@]}"
wait_phase counts-v2 Serving 300
reason=$(field counts-v2 '.status.conditions[?(@.type=="Validated")].reason')
[ "$reason" = Matched ] || fail "counts-v2 Validated reason '$reason', want Matched"
compared=$(field counts-v2 .status.validation.comparedKeys)
[ "${compared:-0}" -gt 0 ] || fail "counts-v2 compared no keys"
[ "$(field counts-v2 .status.validation.mismatchedKeys)" = 0 ] || fail "counts-v2 found mismatches"
[ "$(alias_version counts)" = v2 ] || fail "alias names '$(alias_version counts)', want v2"
say "  counts-v2 Serving: $compared keys compared, 0 mismatched; alias -> v2"

Then "counts-v1 drains and retires, its pods gone"
wait_phase counts-v1 Retired 120
gone() { [ -z "$(worker_pods counts-v1)" ]; }
wait_for 60 "counts-v1's worker pods still there" gone

Then "the output holds the application's counts"
out=$(field counts-v2 .status.outputTopic)
read_topic "$out" "$E2E_STATE/v2.out" 20000 2
python3 - "$E2E_STATE/v2.out" "$keys" "$events" <<'PY' || fail "the counts in $out do not add up (see above)"
import json, sys
latest = {}
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    parts = line.rstrip("\n").split("\t")
    if len(parts) < 3 or not parts[0].startswith("Partition:"):
        continue
    value = json.loads(parts[-1])
    latest[value["key"]] = value["events"]
total = sum(latest.values())
print("output: %d keys, %d events counted" % (len(latest), total))
sys.exit(0 if len(latest) == int(sys.argv[2]) and total == int(sys.argv[3]) else 1)
PY
k get plv -n "$E2E_NS"
say "PASS: Kafka Streams container processor replayed, gated, compared (Matched), promoted; v1 retired"
