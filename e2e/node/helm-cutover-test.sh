#!/usr/bin/env bash
# e2e.helm_cutover_on_node: the operator installed the way a user installs it, on the local
# node: the images from the Dockerfiles (e2e/images/build-images.sh) imported into the
# node's containerd, `helm install charts/kappa-operator` with them, the broker at the node
# bridge's address receiving live events, then crds/examples/sessions-v1.yaml and
# sessions-v2.yaml applied with kubectl (bootstrap servers, source topic and a short drain
# set; catch-up and validation as shipped). v1 replays in worker pods and serves; v2 replays,
# is compared with v1, is promoted, and v1 drains and retires: its worker pods go.
#
#   helm-cutover-test.sh STATE_DIR IMAGES_DIR     KAPPA_BIN=dir of kappa-loadgen
state=${1:?usage: helm-cutover-test.sh STATE_DIR IMAGES_DIR}
images=${2:?usage: helm-cutover-test.sh STATE_DIR IMAGES_DIR}
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
bin=${KAPPA_BIN:-$repo/build/bin}
ns=shop
on_fail() {
  k get plv -n "$ns" -o wide
  echo "--- operator log (last 30 lines)"
  k logs -n kappa-system deploy/kappa-operator --tail 30
}
on_exit() { [ -n "${live:-}" ] && kill "$live" 2>/dev/null; true; }
[ -f "$images/images.env" ] || fail "$images/images.env missing (e2e/images/build-images.sh $images)"
# shellcheck disable=SC1091
source "$images/images.env"
helm=$("$repo/e2e/tools/build-tools.sh" --print-bin)/helm
[ -x "$helm" ] || fail "helm not built (e2e/tools/build-tools.sh)"

say "node, and the broker on the node's bridge"
node_start --kafka
import_images "$images" kappa-operator kappa-worker

say "helm install charts/kappa-operator with $KAPPA_OPERATOR_IMAGE and $KAPPA_WORKER_IMAGE"
"$helm" install kappa-operator "$repo/charts/kappa-operator" -n kappa-system --create-namespace \
  --set image.repository="${KAPPA_OPERATOR_IMAGE%:*}" --set image.tag="${KAPPA_OPERATOR_IMAGE##*:}" \
  --set image.pullPolicy=Never \
  --set workerImage.repository="${KAPPA_WORKER_IMAGE%:*}" --set workerImage.tag="${KAPPA_WORKER_IMAGE##*:}" \
  --wait --timeout 180s >"$state/helm.log" 2>&1 || { cat "$state/helm.log" >&2; fail "helm install failed"; }
k get pods -n kappa-system -o wide

topic=clickstream.raw
say "20000 events of history in $topic, then 200 events/s live"
"$bin/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count 20000 --keys 500 --seed 1 >/dev/null || fail "kappa-loadgen could not write $topic"
"$bin/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --count -1 --rate 200 \
  --keys 500 --seed 2 --start-ms 1700000200000 >"$state/live-loadgen.log" 2>&1 </dev/null &
live=$!

k create namespace "$ns" >/dev/null
apply_example() { # apply_example FILE
  python3 - "$repo/crds/examples/$1" "$KAFKA_BOOTSTRAP" "$topic" <<'PY' | k apply -n "$ns" -f - >/dev/null
import sys, yaml
path, bootstrap, topic = sys.argv[1:4]
doc = yaml.safe_load(open(path))
spec = doc["spec"]
spec["kafka"]["bootstrapServers"] = bootstrap
spec["source"]["topic"] = topic
spec.setdefault("promotion", {})["drainDelaySeconds"] = 5
print(yaml.safe_dump(doc))
PY
}
phase() { k get plv "$1" -n "$ns" -o jsonpath='{.status.phase}'; }
wait_phase() { # wait_phase NAME PHASE SECONDS
  local deadline=$((SECONDS + $3)) p
  until [ "$(phase "$1")" = "$2" ]; do
    p=$(phase "$1")
    [ "$p" = Failed ] && fail "$1 Failed: $(k get plv "$1" -n "$ns" -o jsonpath='{.status.message}')"
    [ $SECONDS -lt $deadline ] || fail "$1 not $2 within $3s (phase '$p')"
    sleep 1
  done
}

say "sessions-v1 applied"
apply_example sessions-v1.yaml
wait_phase sessions-v1 Serving 240
pods=$(k get pods -n "$ns" -l kappa.io/pipeline=sessions,kappa.io/version=v1 -o name | wc -l)
[ "$pods" -ge 1 ] || fail "no worker pod of sessions-v1 (labels kappa.io/pipeline, kappa.io/version)"
say "sessions-v1 Serving with $pods worker pod(s)"

say "sessions-v2 applied"
apply_example sessions-v2.yaml
wait_phase sessions-v2 Serving 300
[ "$(k get cm sessions-serving -n "$ns" -o jsonpath='{.data.version}')" = v2 ] ||
  fail "the serving alias does not name v2"
reason=$(k get plv sessions-v2 -n "$ns" -o jsonpath='{.status.conditions[?(@.type=="Validated")].reason}')
[ "$reason" = Matched ] || fail "sessions-v2 Validated reason '$reason', want Matched"
wait_phase sessions-v1 Retired 240
gone() { [ -z "$(k get deployment sessions-v1 -n "$ns" -o name 2>/dev/null)" ] &&
  [ -z "$(k get pods -n "$ns" -l kappa.io/pipeline=sessions,kappa.io/version=v1 -o name)" ]; }
wait_for 60 "sessions-v1's worker Deployment and pods deleted" gone
kill -0 "$live" 2>/dev/null || fail "the live producer stopped: $(tail -n 3 "$state/live-loadgen.log")"
k get plv -n "$ns"
k get pods -A -o wide
say "PASS: helm-installed operator pod; v1 -> v2 cutover with worker pods on the node; v1 retired"
