#!/usr/bin/env bash
# e2e.ownership_guards: a version never takes, nor deletes, what another one owns. An intruder
# naming the serving version's output topic and a second object for the serving version are
# refused at `kubectl apply` by the operator's admission webhook (the error names the field
# and the other object), also after an operator restart, with the same certificate. With the
# webhook unreachable (failurePolicy Ignore lets them in) the controller refuses them, and a
# version whose output topic already holds someone's records, before they create anything;
# aborting and deleting them leaves the serving output (its end offsets), its worker
# Deployment and the other topic as they were.
#
#   ownership.sh [STATE_DIR]     KAPPA_BIN=dir of the binaries (default build/bin)
source "$(dirname "$0")/lib.sh"
e2e_start e2e-own "${1:-}"

# refused NAME REASON: NAME is Failed with REASON, a Warning Event says so, and it made no
# worker Deployment of its own.
refused() {
  local name=$1 reason=$2
  wait_phase "$name" Failed 60
  [ "$(field "$name" .status.reason)" = "$reason" ] ||
    fail "$name failed with '$(field "$name" .status.reason)', want $reason: $(field "$name" .status.message)"
  [ -z "$(field "$name" .status.consumerGroup)" ] || fail "$name fixed a consumer group"
  k get events -n "$E2E_NS" --field-selector "involvedObject.name=$name,type=Warning" \
    -o jsonpath='{.items[*].reason}' | grep -qw "$reason" || fail "no Warning Event $reason on $name"
  say "  $name: $reason: $(field "$name" .status.message)"
}

# gone NAME: aborted, deleted, and its object gone (the finalizer ran its cleanup).
gone() {
  k annotate plv "$1" -n "$E2E_NS" kappa.io/abort=true --overwrite >/dev/null
  k delete plv "$1" -n "$E2E_NS" --wait=false >/dev/null
  wait_for 60 "$1 was not deleted" bash -c "! \"$KUBECTL\" --kubeconfig \"$KUBECONFIG\" get plv $1 -n $E2E_NS >/dev/null 2>&1"
}

topic=e2e-own.clicks
Given "sessions-v1 serving a source topic $topic of 20000 events"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count 20000 --keys 500 >/dev/null || fail "kappa-loadgen could not write $topic"
apply_version sessions-v1.yaml sessions-v1 "$topic"
wait_phase sessions-v1 Serving
served=$(field sessions-v1 .status.outputTopic)
before=$(records_in "$served")
[ "${before:-0}" -gt 0 ] || fail "the serving output $served is empty"
uid=$(k get plv sessions-v1 -n "$E2E_NS" -o jsonpath='{.metadata.uid}')
say "the serving output $served ends at $before"

# rejected NAME WORDS... -- APPLY_ARGS...: `kubectl apply` of the version fails, and its
# error holds every one of WORDS.
rejected() {
  local name=$1 out word
  shift
  local words=()
  while [ "$1" != -- ]; do words+=("$1"); shift; done
  shift
  if out=$(apply_version "$@" 2>&1); then fail "kubectl apply accepted $name"; fi
  for word in "${words[@]}"; do
    grep -qF -- "$word" <<<"$out" || fail "the refusal of $name does not say '$word': $out"
  done
  k get plv "$name" -n "$E2E_NS" >/dev/null 2>&1 && fail "$name exists after the refusal"
  say "  $(tr -s '\n' ' ' <<<"$out")"
}
by_release=(-l "app.kubernetes.io/instance=$OPERATOR_RELEASE,app.kubernetes.io/component=webhook")
webhook=$(k get validatingwebhookconfiguration "${by_release[@]}" -o jsonpath='{.items[0].metadata.name}')
secret=$(k get secret -n "$OPERATOR_NAMESPACE" "${by_release[@]}" -o jsonpath='{.items[0].metadata.name}')
[ -n "$webhook" ] && [ -n "$secret" ] || fail "the chart installed no webhook registration or Secret"
cert=$(k get secret "$secret" -n "$OPERATOR_NAMESPACE" -o jsonpath='{.data.tls\.crt}')
[ -n "$cert" ] || fail "no webhook certificate in Secret $OPERATOR_NAMESPACE/$secret"

When "an intruder sessions-v9 naming $served as its output topic is applied"
Then "kubectl apply is refused by the webhook, naming the field and the serving version"
rejected sessions-v9 "denied the request" spec.output.topic "PipelineVersion $E2E_NS/sessions-v1" -- \
  sessions-v1.yaml sessions-v9 "$topic" "spec.output.topic=$served"

When "a second object sessions-v1-copy for version v1 is applied"
Then "it is refused at apply too"
rejected sessions-v1-copy "denied the request" spec.version "PipelineVersion sessions-v1 is already version v1" -- \
  sessions-v1.yaml sessions-v1-copy "$topic" spec.version=v1 spec.output.topic=e2e-own.copy

When "the operator restarts"
old=$(operator_pods)
k delete pod -n "$OPERATOR_NAMESPACE" $old --wait=true >/dev/null
new_operator_ready() {
  local pods
  pods=$(operator_pods)
  [ -n "$pods" ] && [ "$pods" != "$old" ] &&
    k wait pod -n "$OPERATOR_NAMESPACE" $pods --for=condition=Ready --timeout=5s >/dev/null 2>&1
}
wait_for 120 "no new operator pod became ready" new_operator_ready
# Ready is not yet reachable: the webhook Service's endpoints follow the pod's readiness a
# moment later, and meanwhile a call fails (failurePolicy Ignore lets it in). A server-side
# dry run goes through admission and creates nothing.
webhook_answers() {
  local out
  out=$(E2E_DRY_RUN=server apply_version sessions-v1.yaml sessions-v9 "$topic" \
    "spec.output.topic=$served" 2>&1) && return 1
  grep -q "denied the request" <<<"$out"
}
wait_for 30 "the webhook did not answer within 30 s of the new operator's readiness" webhook_answers
Then "the webhook serves the same certificate and still refuses the intruder"
[ "$(k get secret "$secret" -n "$OPERATOR_NAMESPACE" -o jsonpath='{.data.tls\.crt}')" = "$cert" ] ||
  fail "the webhook certificate changed across the restart"
rejected sessions-v9 "denied the request" spec.output.topic -- \
  sessions-v1.yaml sessions-v9 "$topic" "spec.output.topic=$served"

When "the webhook is unreachable (its registration points at a closed port)"
k patch validatingwebhookconfiguration "$webhook" --type=json \
  -p '[{"op":"replace","path":"/webhooks/0/clientConfig/service/port","value":1}]' >/dev/null
When "the intruder sessions-v9 is applied again"
apply_version sessions-v1.yaml sessions-v9 "$topic" "spec.output.topic=$served"
Then "the apply goes through (failurePolicy Ignore) and the controller refuses it before it creates anything"
refused sessions-v9 OutputTopicInUse
k get deployment sessions-v9 -n "$E2E_NS" >/dev/null 2>&1 && fail "the intruder got a Deployment"

When "a second object sessions-v1-copy claims version v1"
apply_version sessions-v1.yaml sessions-v1-copy "$topic" spec.version=v1 \
  spec.output.topic=e2e-own.copy
Then "it is refused too"
refused sessions-v1-copy DuplicateVersion

other=e2e-own.foreign
When "sessions-v3's output topic $other already holds someone's records"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$other" --create-partitions 2 \
  --count 300 --keys 30 >/dev/null || fail "kappa-loadgen could not write $other"
foreign=$(records_in "$other")
apply_version sessions-v1.yaml sessions-v3 "$topic" "spec.output.topic=$other"
Then "it is refused"
refused sessions-v3 OutputTopicNotEmpty

When "the three are aborted and deleted"
for name in sessions-v9 sessions-v1-copy sessions-v3; do gone "$name"; done
Then "the serving output, its worker and the other topic are as they were"
[ "$(records_in "$served")" = "$before" ] ||
  fail "the serving output $served ends at '$(records_in "$served")', was $before"
[ "$(records_in "$other")" = "$foreign" ] ||
  fail "$other ends at '$(records_in "$other")', was $foreign"
owner=$(k get deployment sessions-v1 -n "$E2E_NS" -o jsonpath='{.metadata.ownerReferences[0].uid}')
[ "$owner" = "$uid" ] || fail "the Deployment sessions-v1 is owned by '$owner', not sessions-v1 ($uid)"
ready=$(k get deployment sessions-v1 -n "$E2E_NS" -o jsonpath='{.status.readyReplicas}')
[ "${ready:-0}" -ge 1 ] || fail "the serving worker has readyReplicas '$ready'"
[ "$(field sessions-v1 .status.phase)" = Serving ] || fail "sessions-v1 is $(field sessions-v1 .status.phase)"
[ "$(alias_version sessions)" = v1 ] || fail "the alias names '$(alias_version sessions)'"
k get plv -n "$E2E_NS"
say "PASS: two intruders refused at apply (also after an operator restart, same certificate) and by the controller with the webhook unreachable, a third by the controller; $served still ends at $before, $other at $foreign, v1 serves"
