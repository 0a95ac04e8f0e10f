#!/usr/bin/env bash
# Scenario e2e.live_catch_up: crds/examples/sessions-v1.yaml as shipped (its catchUp,
# promotion and validation settings untouched; only the name, bootstrap servers and source
# topic set) against a source that receives a steady live stream. The lag in messages never
# settles at 0 while events arrive; the version is caught up by the time rule (every partition
# has read what existed maxLagSeconds earlier, for stableSeconds) and serves.
#
#   live_catch_up.sh [STATE_DIR]     KAPPA_BIN=dir of the binaries (default build/bin)
source "$(dirname "$0")/lib.sh"
e2e_start e2e-live "${1:-}"

topic=e2e-live.clicks
rate=300
Given "a source topic $topic with 20000 events of history and $rate events/s arriving live"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count 20000 --keys 500 --seed 1 >/dev/null || fail "kappa-loadgen could not write $topic"
live_traffic "$topic" "$rate" --keys 500 --seed 2

When "sessions-v1 is applied as shipped in crds/examples/"
E2E_AS_SHIPPED=1 apply_version sessions-v1.yaml sessions-v1 "$topic"
[ "$(field sessions-v1 .spec.catchUp.maxLagSeconds)" = 5 ] ||
  fail "spec.catchUp.maxLagSeconds is '$(field sessions-v1 .spec.catchUp.maxLagSeconds)', want the example's 5"
[ -z "$(field sessions-v1 .spec.catchUp.maxLagMessages)" ] ||
  fail "spec.catchUp.maxLagMessages is set: the example must not need it"

Then "it catches up with the live stream and serves"
wait_phase sessions-v1 Serving 300
kill -0 "$live_pid" 2>/dev/null || fail "the live producer stopped: $(tail -n 3 "$E2E_STATE/live-loadgen.log")"
reason=$(k get plv sessions-v1 -n "$E2E_NS" -o jsonpath='{.status.conditions[?(@.type=="CaughtUp")].reason}')
[ "$reason" = LagWithinBound ] || fail "CaughtUp reason is '$reason', want LagWithinBound"
message=$(k get plv sessions-v1 -n "$E2E_NS" -o jsonpath='{.status.conditions[?(@.type=="CaughtUp")].message}')
say "CaughtUp: $message"
case "$message" in
  *"bound 5s"*) ;;
  *) fail "CaughtUp message '$message' does not name the 5 s bound" ;;
esac
[ -n "$(field sessions-v1 .status.replay.caughtUpAt)" ] || fail "status.replay.caughtUpAt is not set"
k get plv -n "$E2E_NS"
say "PASS: sessions-v1 caught up with a live stream of $rate events/s under the shipped settings"
