#!/usr/bin/env bash
# make demo-medallion: Bronze -> Silver -> Gold on the local stack started by e2e/cluster-up.sh
# (make demo-medallion runs build and cluster-up first), with live traffic. Silver v1 has a
# bug (its filter drops purchases, so Gold's revenue is 0); Silver v2 fixes it. Silver v2's
# output differs by intent, so its validation blocks it and a person promotes it; Silver
# flips, Gold's serving version makes its successor by itself, which replays the new Silver
# output from the earliest offset and flips (a cascade after a change by intent skips the
# comparison: spec.cascade.whenUpstreamChanged SkipValidation); the old tiers drain in
# order. kubectl kappa pipelines shows the DAG, kubectl kappa history silver the cascade.
#
#   demo-medallion.sh [STATE_DIR]     (default .local)   DEMO_HISTORY=100000 DEMO_RATE=200
demo=demo-medallion
ns=kappa-medallion
# shellcheck source=e2e/demo-lib.sh
source "$(dirname "$0")/demo-lib.sh"
history=${DEMO_HISTORY:-100000}
rate=${DEMO_RATE:-200}
topic=clicks.raw.$run_id
step() { echo; echo "==> $* (t+$(($(date +%s) - start))s)"; }

# until_true TIMEOUT MESSAGE CHECK...: a line of every version's phase every 5 s until CHECK
# succeeds; stops with an error when a version Failed or TIMEOUT seconds pass.
until_true() {
  local timeout=$1 msg=$2 t0 last=0 failed
  shift 2
  t0=$(date +%s)
  until "$@"; do
    failed=$(k get plv -n "$ns" -o jsonpath='{range .items[?(@.status.phase=="Failed")]}{.metadata.name}: {.status.message}{"\n"}{end}' 2>/dev/null)
    [ -z "$failed" ] || die "a version Failed: $failed"
    if [ $(($(date +%s) - t0)) -ge "$timeout" ]; then
      k get plv -n "$ns" 2>&1 || true
      die "timed out after ${timeout}s waiting until $msg (logs: kubectl logs -n $OPERATOR_NAMESPACE deploy/kappa-operator)"
    fi
    if [ $(($(date +%s) - last)) -ge 5 ]; then
      last=$(date +%s)
      echo "  [$(($(date +%s) - t0))s] $(k get plv -n "$ns" -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase}; {end}' 2>/dev/null)"
    fi
    sleep 1
  done
}
cascaded() { # cascaded PIPELINE UPSTREAM-VERSION: the version a cascade made ("" until then)
  k get plv -n "$ns" -l "kappa.io/pipeline=$1,kappa.io/cascade-upstream-version=$2" \
    -o jsonpath='{.items[0].metadata.name}' 2>/dev/null || true
}
gold_made() { [ -n "$(cascaded gold v2)" ]; }
gold_totals() { # gold_totals TOPIC: users, views and revenue over each user's latest record
  # shellcheck disable=SC1091
  source "$repo/e2e/kafka/versions.env"
  # (Live traffic keeps the topic growing: read for 15 s, far longer than the history takes.)
  timeout 15 java -cp "${KAPPA_CACHE:-$HOME/.cache/kappa}/kafka-$KAFKA_VERSION/libs/*" -Dlog4j2.level=error \
    org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$KAFKA_BOOTSTRAP" \
    --topic "$1" --from-beginning --isolation-level read_committed --timeout-ms 5000 \
    --property print.key=true 2>/dev/null | python3 -c '
import json, sys
latest = {}
for line in sys.stdin:
    key, _, value = line.rstrip("\n").partition("\t")
    try:
        latest[key] = json.loads(value)
    except ValueError:
        pass
views = sum(v.get("views") or 0 for v in latest.values())
revenue = sum(v.get("revenue") or 0 for v in latest.values())
print(f"{len(latest)} users, {views:.0f} views, revenue {revenue:,.2f}")'
}
gold_serves() { local g; g=$(cascaded gold v2); [ -n "$g" ] && phase_is "$g" Serving; }

# tier NAME PIPELINE VERSION PROGRAM-JSON [EXTRA-SPEC-JSON]: the manifest of one version
tier() {
  python3 - "$@" "$KAFKA_BOOTSTRAP" "$topic" "$run_id" <<'PY'
import json, sys, yaml
name, pipeline, version, program = sys.argv[1:5]
extra = json.loads(sys.argv[5]) if len(sys.argv) > 8 else {}
bootstrap, topic, run_id = sys.argv[-3:]
spec = {
    "pipeline": pipeline, "version": version,
    "kafka": {"bootstrapServers": bootstrap},
    "processor": {"builtin": json.loads(program)},
    "output": {"topic": f"{pipeline}.{version}.{run_id}", "partitions": 0, "replicationFactor": 1,
               "config": {"cleanup.policy": "delete"}},
    "replicas": 1, "replay": {"replicas": 2},
    "catchUp": {"maxLagSeconds": 5, "stableSeconds": 5},
    "promotion": {"mode": "Auto", "drainDelaySeconds": 10, "retainOutputSeconds": 600},
    "validation": {"sampleKeys": 500, "maxMismatchRatio": 0.02},
}
spec["source"] = {"pipeline": extra.pop("sourcePipeline")} if "sourcePipeline" in extra else {"topic": topic}
spec.update(extra)
print(yaml.safe_dump({"apiVersion": "kappa.io/v1alpha1", "kind": "PipelineVersion",
                      "metadata": {"name": name, "labels": {"kappa.io/demo": "true"}},
                      "spec": spec}, sort_keys=False))
PY
}
fields='[{"field": "user_id"}, {"field": "event_type"}, {"field": "price"}, {"field": "timestamp_ms"}]'
bronze='{"keyField": "user_id", "timestampField": "timestamp_ms", "select": '"$fields"'}'
# The bug: purchases are not kept. The fix keeps them.
silver_bug='{"keyField": "user_id", "timestampField": "timestamp_ms", "filter": [{"field": "event_type", "op": "in", "values": ["view", "add_to_cart"]}], "select": '"$fields"'}'
silver_fix='{"keyField": "user_id", "timestampField": "timestamp_ms", "filter": [{"field": "event_type", "op": "in", "values": ["view", "add_to_cart", "purchase"]}], "select": '"$fields"'}'
gold='{"keyField": "user_id", "aggregates": [{"name": "views", "op": "count", "where": {"field": "event_type", "equals": "view"}}, {"name": "revenue", "op": "sum", "field": "price", "where": {"field": "event_type", "equals": "purchase"}}]}'
follow='"cascade": {"mode": "Follow", "whenUpstreamChanged": "SkipValidation"}'

# --- 0. clean up an earlier run ---------------------------------------------------------
step "Preparing namespace $ns (run $run_id)"
k create namespace "$ns" --dry-run=client -o yaml | k apply -f - >/dev/null
if [ -f "$state/cluster/demo-medallion-loadgen.pid" ]; then
  kill "$(cat "$state/cluster/demo-medallion-loadgen.pid")" 2>/dev/null || true
  rm -f "$state/cluster/demo-medallion-loadgen.pid"
fi
if [ -n "$(k get plv -n "$ns" -o name 2>/dev/null)" ]; then
  echo "deleting the PipelineVersions of an earlier run"
  # Tiers go in order (a version read by one below waits for it), each after its worker.
  k delete plv -n "$ns" --all --wait=false >/dev/null
  for _ in $(seq 1 120); do
    [ -z "$(k get plv -n "$ns" -o name 2>/dev/null)" ] && break
    sleep 1
  done
  for o in $(k get plv -n "$ns" -o name 2>/dev/null); do
    echo "  $o still has finalizers after 120s; removing them"
    k patch -n "$ns" "$o" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null || true
  done
fi
k delete configmap -n "$ns" bronze-serving silver-serving gold-serving --ignore-not-found >/dev/null

# --- 1. live clickstream ----------------------------------------------------------------
step "Writing $history clickstream events to $topic, then $rate events/s live"
"$bin/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 4 \
  --count "$history" --keys 2000 --seed 1 >"$state/cluster/demo-medallion-history.log" 2>&1 ||
  die "kappa-loadgen failed: $(tail -n 1 "$state/cluster/demo-medallion-history.log")"
nohup "$bin/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --count -1 \
  --rate "$rate" --keys 2000 --seed 2 --start-ms $((1700000000000 + history * 10)) \
  >"$state/cluster/demo-medallion-loadgen.log" 2>&1 </dev/null &
echo $! >"$state/cluster/demo-medallion-loadgen.pid"

# --- 2. three tiers ---------------------------------------------------------------------
step "Applying bronze-v1 (raw events), silver-v1 (cleaned; with a bug: purchases dropped), gold-v1 (per user)"
{
  tier bronze-v1 bronze v1 "$bronze"
  echo ---
  tier silver-v1 silver v1 "$silver_bug" '{"sourcePipeline": "bronze", '"$follow"'}'
  echo ---
  tier gold-v1 gold v1 "$gold" '{"sourcePipeline": "silver", '"$follow"'}'
} >"$state/cluster/demo-medallion-v1.yaml"
k apply -n "$ns" -f "$state/cluster/demo-medallion-v1.yaml"
until_true 240 "gold-v1 is Serving" phase_is gold-v1 Serving
kk pipelines

# --- 3. the fix -------------------------------------------------------------------------
step "Applying silver-v2, the fix (purchases kept): its output differs by intent"
tier silver-v2 silver v2 "$silver_fix" '{"sourcePipeline": "bronze", '"$follow"'}' \
  >"$state/cluster/demo-medallion-silver-v2.yaml"
k apply -n "$ns" -f "$state/cluster/demo-medallion-silver-v2.yaml"
until_true 240 "silver-v2's comparison blocks it" phase_is silver-v2 AwaitingPromotion
echo "silver-v2: $(field silver-v2 .status.message)"
step "A person reviews the mismatch and promotes silver-v2 (kubectl kappa promote silver-v2)"
kk promote silver-v2
until_true 120 "silver-v2 is Serving" phase_is silver-v2 Serving

# --- 4. gold follows by itself ----------------------------------------------------------
step "Gold cascades by itself: its successor replays silver-v2's output and flips"
until_true 60 "a gold version is made for silver v2" gold_made
gold2=$(cascaded gold v2)
echo "$gold2: $(k get plv "$gold2" -n "$ns" -o jsonpath='{.metadata.annotations.kappa\.io/cascade}')"
until_true 300 "$gold2 is Serving" gold_serves
echo "gold before and after the fix (each user's latest record):"
echo "  gold-v1:  $(gold_totals "$(field gold-v1 .status.outputTopic)")"
echo "  $gold2:  $(gold_totals "$(field "$gold2" .status.outputTopic)")"
step "The old tiers drain in order (gold-v1, then silver-v1)"
until_true 180 "silver-v1 is Retired" phase_is silver-v1 Retired
kk pipelines
echo
kk history silver

# --- 5. summary -------------------------------------------------------------------------
step "Done"
k get plv -n "$ns"
cat <<EOF_HELP

Look around (the stack keeps running, live traffic too):
  source $state/cluster.env; export KUBECONFIG PATH=$bin:\$PATH
  kubectl-kappa pipelines -n $ns               # the DAG: each tier, what it reads, what serves
  kubectl-kappa history silver -n $ns          # the fix and the cascade it made, as one story
  \$KUBECTL get plv -n $ns
  make cluster-down                            # stop everything
EOF_HELP
