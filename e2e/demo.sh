#!/usr/bin/env bash
# make demo: a live v1 -> v2 cutover, then a buggy v3 that validation blocks, on the local
# stack started by e2e/cluster-up.sh (make demo runs build and cluster-up first).
#
#   demo.sh [STATE_DIR]     (default .local)   DEMO_HISTORY=200000 DEMO_RATE=500
#
# Every run uses a fresh source topic and fresh output topics (suffix = the run id); the
# PipelineVersions of an earlier run are deleted first, so re-running works.
demo=demo
ns=kappa-demo
# shellcheck source=e2e/demo-lib.sh
source "$(dirname "$0")/demo-lib.sh"
history=${DEMO_HISTORY:-200000}
rate=${DEMO_RATE:-500}
topic=clickstream.raw.$run_id
tty=false
[ -t 1 ] && tty=true
bold() { if $tty; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
step() { echo; bold "==> $* (t+$(($(date +%s) - start))s)"; }

# show_until TIMEOUT MESSAGE PLV CHECK...: refreshes `kubectl kappa status sessions` every 2 s
# (in place on a terminal, one line per 5 s otherwise) until CHECK succeeds; stops with an
# error when PipelineVersion PLV (if given) fails or TIMEOUT seconds pass.
show_until() {
  local timeout=$1 msg=$2 plv=$3 t0 last=0 out lines=0
  shift 3
  t0=$(date +%s)
  while true; do
    if "$@"; then
      out=$(kk status sessions 2>&1 || true)
      if $tty; then
        [ "$lines" -gt 0 ] && printf '\033[%dA' "$lines"
        printf '\033[J'
      fi
      echo "$out"
      return 0
    fi
    if [ "$(field "$plv" .status.phase)" = Failed ]; then
      echo
      k get plv -n "$ns" 2>&1 || true
      die "$plv Failed: $(field "$plv" .status.message) (logs: kubectl logs -n $OPERATOR_NAMESPACE deploy/kappa-operator, kubectl logs -n $ns -l kappa.io/pipeline=sessions)"
    fi
    if [ $(($(date +%s) - t0)) -ge "$timeout" ]; then
      echo
      kk status sessions 2>&1 || true
      k get plv -n "$ns" 2>&1 || true
      die "timed out after ${timeout}s waiting until $msg (logs: kubectl logs -n $OPERATOR_NAMESPACE deploy/kappa-operator, kubectl logs -n $ns -l kappa.io/pipeline=sessions)"
    fi
    if $tty; then
      out=$(kk status sessions 2>&1 || true)
      out=$(printf '%s\n  waiting until %s ... %ss' "$out" "$msg" $(($(date +%s) - t0)))
      [ "$lines" -gt 0 ] && printf '\033[%dA' "$lines"
      printf '\033[J%s\n' "$out"
      lines=$(printf '%s\n' "$out" | wc -l)
    elif [ $(($(date +%s) - last)) -ge 5 ]; then
      last=$(date +%s)
      echo "  [$(($(date +%s) - t0))s] $(progress_line)"
    fi
    sleep 2
  done
}
# One line per poll when stdout is not a terminal: each version's phase, and its lag and replay
# progress only while it is a candidate (a serving version's status.lag is its last candidate
# sample, frozen at the flip).
progress_line() {
  k get plv -n "$ns" -o jsonpath='{range .items[*]}{.metadata.name}|{.status.phase}|{.status.lag.messages}|{.status.replay.progressPercent}|{.status.validation.mismatchedKeys}{"\n"}{end}' 2>/dev/null |
    awk -F'|' '{ line = $1 " " $2
           if ($2 ~ /^(Pending|Provisioning|Replaying|Validating|AwaitingPromotion|Promoting)$/) {
             if ($3 != "") line = line " lag=" $3
             if ($4 != "") line = line " progress=" $4 "%"
             if ($5 != "") line = line " mismatched=" $5
           }
           out = out line "; " }
         END { printf "%s", out }'
}
blocked() {
  local p
  p=$(field sessions-v3 .status.phase)
  [ "$p" = Failed ] && return 0
  [ "$p" = AwaitingPromotion ] && [ "$(field sessions-v3 .status.validation.mismatchedKeys)" != "" ] &&
    [ "$(field sessions-v3 .status.validation.mismatchedKeys)" != 0 ]
}

manifest() { # manifest SOURCE_EXAMPLE VERSION [bug] -> YAML on stdout
  python3 - "$1" "$2" "${3:-}" "$KAFKA_BOOTSTRAP" "$topic" "$run_id" <<'PY'
import sys, yaml
src, version, bug, bootstrap, topic, run_id = sys.argv[1:7]
doc = yaml.safe_load(open(src))
doc["metadata"]["name"] = "sessions-" + version
doc["metadata"].setdefault("labels", {})["kappa.io/demo"] = "true"
spec = doc["spec"]
spec["version"] = version
spec["kafka"]["bootstrapServers"] = bootstrap
spec["source"]["topic"] = topic
spec["output"]["topic"] = "sessions.%s.%s" % (version, run_id)
spec["promotion"]["drainDelaySeconds"] = 20
if bug:
    # The bug: revenue sums the price of every event, not only purchases.
    for a in spec["processor"]["builtin"]["aggregates"]:
        if a["name"] == "revenue":
            a.pop("where", None)
print(yaml.safe_dump(doc, sort_keys=False))
PY
}

# --- 0. clean up an earlier run ---------------------------------------------------------
step "Preparing namespace $ns (run $run_id)"
k create namespace "$ns" --dry-run=client -o yaml | k apply -f - >/dev/null
if [ -f "$state/cluster/demo-loadgen.pid" ]; then
  kill "$(cat "$state/cluster/demo-loadgen.pid")" 2>/dev/null || true
  rm -f "$state/cluster/demo-loadgen.pid"
fi
old=$(k get plv -n "$ns" -o name 2>/dev/null || true)
if [ -n "$old" ]; then
  echo "deleting the PipelineVersions of an earlier run: $(echo "$old" | tr '\n' ' ')"
  # shellcheck disable=SC2086
  k delete -n "$ns" $old --wait=false >/dev/null
  for _ in $(seq 1 60); do
    [ -z "$(k get plv -n "$ns" -o name 2>/dev/null)" ] && break
    sleep 1
  done
  for o in $(k get plv -n "$ns" -o name 2>/dev/null); do
    echo "  $o still has finalizers after 60s; removing them"
    k patch -n "$ns" "$o" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null || true
  done
fi
k delete configmap sessions-serving -n "$ns" --ignore-not-found >/dev/null

# --- 1. a live clickstream --------------------------------------------------------------
step "Writing $history historical clickstream events to $topic (4 partitions)"
"$bin/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 4 \
  --count "$history" --keys 5000 --seed 1 >"$state/cluster/demo-loadgen-history.log" 2>&1 ||
  die "kappa-loadgen failed: $(tail -n 1 "$state/cluster/demo-loadgen-history.log")"
live_start=$((1700000000000 + history * 10))
nohup "$bin/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --count -1 \
  --rate "$rate" --keys 5000 --seed 2 --start-ms "$live_start" \
  >"$state/cluster/demo-loadgen.log" 2>&1 </dev/null &
echo $! >"$state/cluster/demo-loadgen.pid"
echo "live traffic: $rate events/s in the background (pid $(cat "$state/cluster/demo-loadgen.pid"); make cluster-down stops it)"

# --- 2. v1 ------------------------------------------------------------------------------
step "Applying sessions-v1: the first version replays history and is promoted once caught up"
manifest "$repo/crds/examples/sessions-v1.yaml" v1 >"$state/cluster/demo-sessions-v1.yaml"
k apply -n "$ns" -f "$state/cluster/demo-sessions-v1.yaml"
show_until 180 "sessions-v1 is Serving" sessions-v1 phase_is sessions-v1 Serving
echo "serving alias: $(k get configmap sessions-serving -n "$ns" -o jsonpath='{.data.version} -> {.data.topic}')"

# --- 2b. a serving application ----------------------------------------------------------
step "Installing kappa-serve for pipeline sessions (helm upgrade, values serve.readers)"
"$HELM" upgrade "$OPERATOR_RELEASE" "$repo/charts/kappa-operator" -n "$OPERATOR_NAMESPACE" \
  --kubeconfig "$KUBECONFIG" --reuse-values \
  --set "serve.readers[0].name=sessions-serve" --set "serve.readers[0].pipeline=sessions" \
  --set "serve.readers[0].namespace=$ns" --set "serve.readers[0].bootstrapServers=$KAFKA_BOOTSTRAP" \
  --wait --timeout 120s >"$state/cluster/demo-helm-serve.log" 2>&1 ||
  die "helm upgrade with serve.readers failed: $(tail -n 3 "$state/cluster/demo-helm-serve.log")"
serve_url() {
  local ip
  ip=$(k get pods -n "$ns" -l app.kubernetes.io/name=kappa-serve \
    -o jsonpath='{range .items[?(@.status.podIP)]}{.status.podIP}{"\n"}{end}' 2>/dev/null | head -n 1)
  [ -n "$ip" ] && echo "http://$ip:8080"
}
serving_v1() { url=$(serve_url) && curl -sf --max-time 2 "$url/keys?limit=1" | grep -q '"version":"v1"'; }
show_until 120 "kappa-serve answers from sessions-v1" "" serving_v1
url=$(serve_url)
mapfile -t keys < <(curl -sf --max-time 5 "$url/keys?limit=3" | grep -o '"keys":\[[^]]*\]' |
  grep -o '"[^"]*"' | tail -n +2 | tr -d '"')
[ "${#keys[@]}" -gt 0 ] || die "kappa-serve at $url listed no keys"
show_answers() {
  local key
  for key in "${keys[@]}"; do
    echo "  GET /v1/$key -> $(curl -s --max-time 5 "$url/v1/$key")"
  done
}
echo "kappa-serve ($url, kubectl get pods -n $ns -l app.kubernetes.io/name=kappa-serve) answers from v1:"
show_answers
# Clients asking all along the cutover: one "<code> <version> <has a value>" line per answer.
answers="$state/cluster/demo-answers.log"
: >"$answers"
(
  while :; do
    for key in "${keys[@]}"; do
      out=$(curl -s --max-time 5 -w '\n%{http_code}' "$url/v1/$key") || out=$'\n000'
      version=$(grep -o '"version":"[^"]*"' <<<"${out%$'\n'*}" | tail -n 1 | cut -d'"' -f4)
      echo "${out##*$'\n'} ${version:--} $(grep -c '"value":{' <<<"$out" || true)" >>"$answers"
    done
    sleep 0.1
  done
) &
clients=$!
trap 'kill $clients 2>/dev/null || true' EXIT

# --- 3. v2: the cutover -----------------------------------------------------------------
step "Applying sessions-v2 (adds a 'carts' aggregate): replay, catch up, validate, flip, drain"
manifest "$repo/crds/examples/sessions-v2.yaml" v2 >"$state/cluster/demo-sessions-v2.yaml"
k apply -n "$ns" -f "$state/cluster/demo-sessions-v2.yaml"
show_until 240 "sessions-v2 is Serving" sessions-v2 phase_is sessions-v2 Serving
serving_v2() { curl -sf --max-time 2 "$url/keys?limit=1" | grep -q '"version":"v2"'; }
show_until 60 "kappa-serve answers from sessions-v2" "" serving_v2
sleep 1
kill "$clients" 2>/dev/null || true
wait "$clients" 2>/dev/null || true
echo "kappa-serve answered $(wc -l <"$answers") GETs while v2 replayed, was validated and flipped:" \
  "$(awk '$2 == "v1"' "$answers" | wc -l) from v1, then $(awk '$2 == "v2"' "$answers" | wc -l) from v2" \
  "(in that order: $(awk '{print $2}' "$answers" | uniq | tr '\n' ' ')), $(awk '$1 != 200 || $3 != 1' "$answers" | wc -l) errors or empty answers;" \
  "swapped $(curl -s --max-time 5 "$url/metrics" | awk '$1 == "kappa_serve_last_swap_seconds" {print $2}') s after it saw the flip"
echo "the same keys now (v2 adds 'carts'):"
show_answers
echo "worker pods (kubectl get pods -n $ns):"
k get pods -n "$ns" -o wide
echo "validation: $(field sessions-v2 .status.validation.comparedKeys) keys compared, $(field sessions-v2 .status.validation.mismatchedKeys) mismatched"
echo "serving alias: $(k get configmap sessions-serving -n "$ns" -o jsonpath='{.data.version} -> {.data.topic} (previous {.data.previousVersion})')"
step "sessions-v1 drains for 20 s (drainDelaySeconds), then retires"
show_until 120 "sessions-v1 is Retired" sessions-v1 phase_is sessions-v1 Retired

# --- 4. v3: a bug that validation catches -----------------------------------------------
step "Applying sessions-v3 with a bug (revenue sums every event's price, not only purchases)"
manifest "$repo/crds/examples/sessions-v2.yaml" v3 bug >"$state/cluster/demo-sessions-v3.yaml"
k apply -n "$ns" -f "$state/cluster/demo-sessions-v3.yaml"
show_until 240 "sessions-v3 is blocked by validation" "" blocked
echo
bold "sessions-v3: phase $(field sessions-v3 .status.phase); $(field sessions-v3 .status.message)"
echo "validation: $(field sessions-v3 .status.validation.mismatchedKeys) of $(field sessions-v3 .status.validation.comparedKeys) compared keys differ; examples:"
k get plv sessions-v3 -n "$ns" -o json | python3 -c '
import json, sys
v = json.load(sys.stdin).get("status", {}).get("validation", {})
for e in v.get("examples", [])[:3]:
    print("  key %s\n    serving   %s\n    candidate %s" % (e.get("key"), e.get("serving"), e.get("candidate")))
'
echo "Warning events of sessions-v3 (kubectl get events -n $ns --field-selector type=Warning):"
k get events -n "$ns" --field-selector type=Warning,involvedObject.name=sessions-v3 2>/dev/null | tail -n 5
echo "serving alias still: $(k get configmap sessions-serving -n "$ns" -o jsonpath='{.data.version} -> {.data.topic}')"

# --- 5. summary -------------------------------------------------------------------------
step "Done"
k get plv -n "$ns"
echo
k get pods -A -o wide
cat <<EOF

Look around (the stack keeps running, live traffic too):
  source $state/cluster.env; export KUBECONFIG PATH=$bin:\$PATH
  \$KUBECTL get plv -n $ns                     # PIPELINE VERSION PHASE LAG PROGRESS VALIDATION
  kubectl-kappa status sessions -n $ns -w      # or: kubectl kappa status sessions -n $ns -w
  kubectl-kappa abort sessions-v3 -n $ns       # drop the buggy candidate
  curl $url/v1/${keys[0]}   # kappa-serve: the serving version's answer (also /keys, /metrics)
  \$KUBECTL get events -n $ns
  \$KUBECTL get pods -A -o wide                # the operator and the worker pods on the node
  \$KUBECTL logs -n $OPERATOR_NAMESPACE deploy/kappa-operator
  make cluster-down                            # stop everything
EOF
