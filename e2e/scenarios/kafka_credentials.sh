#!/usr/bin/env bash
# e2e.kafka_credentials_secret: spec.kafka.credentialsSecret end to end. Before the Secret
# exists (or may be read) the version waits and a Warning Event KafkaCredentials names the
# Secret; once it is there, the operator's Kafka clients use its keys as librdkafka
# properties and the worker gets each one as KAPPA_KAFKA_PROPERTY_<key>. The local broker
# speaks PLAINTEXT, so the Secret holds properties that work there (security.protocol,
# client.id); the plumbing is the same for sasl.* and ssl.*.
#
#   kafka_credentials.sh [STATE_DIR]     KAPPA_BIN=dir of the binaries (default build/bin)
source "$(dirname "$0")/lib.sh"
e2e_start e2e-creds "${1:-}"

topic=e2e-creds.clicks
Given "a source topic $topic with 10000 events"
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count 10000 --keys 300 >/dev/null || fail "kappa-loadgen could not write $topic"

When "sessions-v1 names credentialsSecret kafka-creds, which does not exist yet"
apply_version sessions-v1.yaml sessions-v1 "$topic" spec.kafka.credentialsSecret=kafka-creds

Then "it waits, and a Warning Event KafkaCredentials names the Secret"
warned() {
  k get events.events.k8s.io -n "$E2E_NS" -o json | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
sys.exit(0 if any(e.get("type") == "Warning" and e.get("reason") == "KafkaCredentials"
                  and "kafka-creds" in e.get("note", "") for e in items) else 1)'
}
wait_for 60 "no Warning Event KafkaCredentials naming kafka-creds" warned
case "$(field sessions-v1 .status.phase)" in
  "" | Pending) ;;
  *) fail "sessions-v1 went on without its credentials: $(field sessions-v1 .status.phase)" ;;
esac

When "the Secret is created and the operator may read it (a Role limited to that Secret)"
k create secret generic kafka-creds -n "$E2E_NS" \
  --from-literal=security.protocol=plaintext --from-literal=client.id=kappa-e2e-creds >/dev/null
k create role kafka-creds-reader -n "$E2E_NS" --verb=get --resource=secrets \
  --resource-name=kafka-creds >/dev/null
k create rolebinding kafka-creds-reader -n "$E2E_NS" --role=kafka-creds-reader \
  --serviceaccount="$OPERATOR_NAMESPACE:kappa-operator" >/dev/null

Then "the version replays and serves"
wait_phase sessions-v1 Serving 180

Then "the worker process got the Secret's keys as KAPPA_KAFKA_PROPERTY_*"
# Serving drops the replay's resources, so the Deployment rolls: wait for a pod of the new
# ReplicaSet (not one being deleted) whose container runs.
serving_worker() {
  local p
  for p in $(k get pods -n "$E2E_NS" -l kappa.io/worker=sessions-v1 -o go-template=\
'{{range .items}}{{if not .metadata.deletionTimestamp}}{{.metadata.name}} {{end}}{{end}}'); do
    pid=$(container_pid "$p")
    [ -n "$pid" ] && return 0
  done
  return 1
}
pid=""
wait_for 90 "no running worker container of sessions-v1" serving_worker
tr '\0' '\n' <"/proc/$pid/environ" | grep -qx 'KAPPA_KAFKA_PROPERTY_client.id=kappa-e2e-creds' ||
  fail "worker $pid has no KAPPA_KAFKA_PROPERTY_client.id=kappa-e2e-creds in its environment"
k get plv -n "$E2E_NS"
say "PASS: credentialsSecret awaited with a Warning Event, then used by operator and worker"
