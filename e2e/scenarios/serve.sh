#!/usr/bin/env bash
# Scenario e2e.serve_follows_cutover: kappa-serve, installed as a user installs it (the chart's
# serve.readers, `helm upgrade`), runs as a pod in the pipeline's restricted namespace and
# answers GET /v1/<user> from the serving version's view. While clients keep asking, sessions-v2
# is applied, validated and flipped: every answer is a 200 with a value, the answers name v1 and
# then v2, never v1 again, and the swap was aligned on source positions.
#
#   serve.sh [STATE_DIR]     KAPPA_BIN=dir of the binaries (default build/bin)
source "$(dirname "$0")/lib.sh"
e2e_start e2e-serve "${1:-}"

topic=e2e-serve.clicks
# One record per event keyed by user (no window), so every user is a key of the output.
program='spec.processor.builtin={keyField: user_id, timestampField: timestamp_ms, aggregates: [{name: events, op: count}]}'
Given "a source topic $topic with 20000 events of 200 users, live traffic, and sessions-v1 serving"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count 20000 --keys 200 >/dev/null || fail "kappa-loadgen could not write $topic"
live_traffic "$topic" 100 --keys 200
apply_version sessions-v1.yaml sessions-v1 "$topic" "$program"
wait_phase sessions-v1 Serving

When "kappa-serve is installed for pipeline sessions with the chart (helm upgrade)"
"$HELM" upgrade "$OPERATOR_RELEASE" "$E2E_REPO/charts/kappa-operator" -n "$OPERATOR_NAMESPACE" \
  --kubeconfig "$KUBECONFIG" --reuse-values \
  --set "serve.readers[0].name=sessions-serve" --set "serve.readers[0].pipeline=sessions" \
  --set "serve.readers[0].namespace=$E2E_NS" --set "serve.readers[0].bootstrapServers=$KAFKA_BOOTSTRAP" \
  --wait --timeout 120s >"$E2E_STATE/helm-serve.log" 2>&1 ||
  fail "helm upgrade with serve.readers failed: $(tail -n 5 "$E2E_STATE/helm-serve.log")"
serve_pod() { k get pods -n "$E2E_NS" -l app.kubernetes.io/name=kappa-serve -o jsonpath='{.items[0].metadata.name}' 2>/dev/null; }
has_serve_pod() { [ -n "$(serve_pod)" ]; }
wait_for 120 "no kappa-serve pod was made" has_serve_pod
pod=$(serve_pod)
k wait --for=condition=Ready "pod/$pod" -n "$E2E_NS" --timeout=120s >/dev/null ||
  { k logs -n "$E2E_NS" "$pod" --tail 20 >&2 || true; fail "kappa-serve pod $pod not Ready"; }
ip=$(k get pod "$pod" -n "$E2E_NS" -o jsonpath='{.status.podIP}')
url="http://$ip:8080"
answer=$(curl -s --max-time 5 "$url/v1/u7")
case "$answer" in
  *'"version":"v1"'*'"events":'* | *'"events":'*'"version":"v1"'*) say "  GET /v1/u7 -> $answer" ;;
  *) fail "GET /v1/u7 answered '$answer', want a value from v1" ;;
esac

# Clients: GET a few users again and again, one "<code> <version> <bytes>" line per answer.
answers="$E2E_STATE/answers.log"
: >"$answers"
(
  i=0
  while :; do
    user=u$((i % 50))
    out=$(curl -s --max-time 5 -w '\n%{http_code}' "$url/v1/$user") || out=$'\n000'
    code=${out##*$'\n'}
    body=${out%$'\n'*}
    version=$(grep -o '"version":"[^"]*"' <<<"$body" | tail -n 1 | cut -d'"' -f4)
    value=$(grep -c '"value":{' <<<"$body" || true)
    echo "$code ${version:--} $value" >>"$answers"
    i=$((i + 1))
    sleep 0.02
  done
) &
clients=$!
E2E_ON_EXIT="kill $live_pid $clients 2>/dev/null"

When "sessions-v2, the same program, is applied and flipped while the clients ask"
apply_version sessions-v1.yaml sessions-v2 "$topic" "$program" \
  'spec.validation={mode: Sampled, sampleKeys: 100, maxMismatchRatio: 0, timeoutSeconds: 120}'
wait_phase sessions-v2 Serving
served_v2() { curl -s --max-time 5 "$url/metrics" | grep -q 'kappa_serve_version_info{.*version="v2"'; }
wait_for 60 "kappa-serve still answers from v1 60 s after the flip" served_v2
sleep 3
kill "$clients" 2>/dev/null || true
wait "$clients" 2>/dev/null || true

Then "every answer was a 200 with a value, from v1 and then from v2 only"
total=$(wc -l <"$answers")
[ "$total" -ge 50 ] || fail "only $total answers recorded"
bad=$(awk '$1 != 200 || $3 != 1' "$answers" | head -n 3)
[ -z "$bad" ] || fail "answers without a value or not 200 (code version has-value): $bad"
order=$(awk '{print $2}' "$answers" | uniq | tr '\n' ' ')
[ "$order" = "v1 v2 " ] || fail "the answers named the versions in the order '$order', want 'v1 v2 '"
metrics=$(curl -s --max-time 5 "$url/metrics")
metric() { awk -v m="$1" '$1 == m {print $2}' <<<"$metrics"; }
[ "$(metric kappa_serve_swaps)" = 1 ] || fail "kappa_serve_swaps is '$(metric kappa_serve_swaps)', want 1"
[ "$(metric kappa_serve_unaligned_swaps)" = 0 ] ||
  fail "the swap was made at the alignment timeout (kappa_serve_unaligned_swaps $(metric kappa_serve_unaligned_swaps))"
say "  $total answers: $(grep -c ' v1 ' "$answers") from v1, then $(grep -c ' v2 ' "$answers") from v2; swap $(metric kappa_serve_last_swap_seconds)s after the flip was seen, $(metric kappa_serve_keys) keys"
k logs -n "$E2E_NS" "$pod" --tail 5 | sed 's/^/  kappa-serve: /'
say "PASS: kappa-serve followed v1 -> v2 with every answer a value, none from v1 after v2"
