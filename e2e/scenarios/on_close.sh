#!/usr/bin/env bash
# Scenario, e2e.on_close_cutover: a sessions program that writes each closed session once
# (window.emit onClose) and keeps its open sessions in a state changelog. Proves, on the
# real node:
#   * the operator names the changelog <output>.state in status.stateTopic, creates it
#     compacted with the output, and the worker pods keep their open sessions in it;
#   * the output holds one record per session (no record key twice), far fewer than events;
#   * v2, the same program, compares equal with v1 and serves; v1's changelog is deleted
#     with its output after retainOutputSeconds.
#
#   on_close.sh [STATE_DIR]     KAPPA_BIN=dir of the binaries (default build/bin)
source "$(dirname "$0")/lib.sh"
e2e_start e2e-onclose "${1:-}"

topic=e2e-onclose.clicks
events=60000
# A user's events are about 300 s apart in event time (300 users, 1 s between events): with
# a 600 s gap a session holds several events, and sessions close all along the stream.
program="spec.processor={builtin: {keyField: user_id, timestampField: timestamp_ms, window: {type: session, gapSeconds: 600, allowedLatenessSeconds: 10, emit: onClose}, aggregates: [{name: events, op: count}, {name: revenue, op: sum, field: price}]}}"

Given "a source topic $topic with $events events of 300 users, one second apart in event time"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count "$events" --keys 300 --step-ms 1000 >/dev/null || fail "kappa-loadgen could not write $topic"

When "sessions-v1 emits on close"
apply_version sessions-v1.yaml sessions-v1 "$topic" "$program" spec.output.config=
wait_phase sessions-v1 Serving
state=$(field sessions-v1 .status.stateTopic)
[ "$state" = sessions.v1.state ] || fail "status.stateTopic is '$state', want sessions.v1.state"

Then "its changelog is compacted and holds the open sessions; its output one record per session"
policy=$(kafka_tool kafka.admin.ConfigCommand --describe --entity-type topics \
  --entity-name "$state" | grep -o 'cleanup.policy=[a-z,]*' | head -n 1)
[ "$policy" = cleanup.policy=compact ] || fail "$state has '$policy', want cleanup.policy=compact"
[ "$(records_in "$state")" -gt 0 ] || fail "the changelog $state holds no records"
read_topic sessions.v1 "$E2E_STATE/v1.out" 5000 2
python3 - "$E2E_STATE/v1.out" "$events" <<'PY' || fail "the onClose output is not one record per session"
import collections, sys
keys = collections.Counter()
for line in open(sys.argv[1]):
    parts = line.split("\t")
    if len(parts) >= 3:
        keys[parts[2]] += 1
twice = [k for k, n in keys.items() if n > 1]
print(f"  {sum(keys.values())} output records for {sys.argv[2]} events, {len(twice)} keys written twice")
sys.exit(1 if twice or not keys or sum(keys.values()) * 3 > int(sys.argv[2]) else 0)
PY

When "sessions-v2, the same program, is applied"
apply_version sessions-v1.yaml sessions-v2 "$topic" "$program" spec.output.config= \
  'spec.validation={mode: Sampled, sampleKeys: 500, maxMismatchRatio: 0, timeoutSeconds: 120}' \
  spec.promotion.retainOutputSeconds=5

Then "it compares equal and serves; v1's changelog goes with its output"
wait_phase sessions-v2 Serving
[ "$(field sessions-v2 .status.validation.mismatchedKeys)" = 0 ] ||
  fail "validation found $(field sessions-v2 .status.validation.mismatchedKeys) mismatched keys"
say "  v2 compared $(field sessions-v2 .status.validation.comparedKeys) sessions with v1, 0 mismatched"
wait_phase sessions-v1 Retired 60
gone() { ! topic_exists sessions.v1 && ! topic_exists "$state"; }
wait_for 60 "sessions.v1 or its changelog $state still exists after retainOutputSeconds" gone
topic_exists sessions.v2.state || fail "the serving v2's changelog is gone"
k get plv -n "$E2E_NS"
say "PASS: onClose sessions: one record per session, open ones in the changelog; v1 -> v2 equal"
