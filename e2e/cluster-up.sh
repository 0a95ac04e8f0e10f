#!/usr/bin/env bash
# Starts the whole local stack for STATE_DIR (default .local), the way a user runs the
# operator:
#   a real single-node Kubernetes cluster (e2e/node/node-up.sh: etcd, kube-apiserver,
#   containerd, kubelet, controller manager, scheduler, kube-proxy), the Kafka broker on the
#   node bridge's address (reachable from pods and from this host), the kappa-operator and
#   kappa-worker and kappa-serve images imported into the node's containerd, and
#   `helm install kappa-operator charts/kappa-operator` with them: the CRD, RBAC, the replay
#   PriorityClass and the operator Deployment, whose pod must be Ready.
# Writes <state>/cluster.env: KUBECONFIG (admin), KUBECTL, KAFKA_BOOTSTRAP, OPERATOR_NAMESPACE,
# CONTAINERD_ADDRESS, NODE_IP, HELM, KAPPA_BIN, KAPPA_IMAGES, KAPPA_OPERATOR_IMAGE,
# KAPPA_WORKER_IMAGE, KAPPA_SERVE_IMAGE. Idempotent: what runs is reused, and
# the release is upgraded in place (helm upgrade --install).
#
#   cluster-up.sh [STATE_DIR]   KAPPA_BIN=dir of kubectl-kappa and kappa-loadgen (build/bin)
#                               KAPPA_IMAGES=dir of the images (images.env and OCI archives
#                               from e2e/images/build-images.sh; default build/images)
#                               KAPPA_HELM_ARGS="--set ..." extra values for the release
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
state=${1:-$repo/.local}
mkdir -p "$state"
state=$(cd "$state" && pwd)
run="$state/cluster"
ns=${KAPPA_OPERATOR_NAMESPACE:-kappa-system}
release=kappa-operator
mkdir -p "$run"

die() { echo "cluster-up: $*" >&2; exit 1; }
bin=${KAPPA_BIN:-$repo/build/bin}
bin=$(cd "$bin" 2>/dev/null && pwd) || die "binaries directory ${KAPPA_BIN:-build/bin} not found (run make build)"
for b in kubectl-kappa kappa-loadgen; do
  [ -x "$bin/$b" ] || die "$bin/$b missing (run make build)"
done
images=${KAPPA_IMAGES:-$repo/build/images}
[ -f "$images/images.env" ] ||
  die "no images in $images (run make images, or e2e/images/build-images.sh $images)"
images=$(cd "$images" && pwd)
# shellcheck disable=SC1091
source "$images/images.env"
tools=$("$repo/e2e/tools/build-tools.sh" --print-bin 2>"$run/tools.log") ||
  die "building helm failed; see $run/tools.log"
helm=$tools/helm
[ -x "$helm" ] || die "$helm not found after e2e/tools/build-tools.sh"

# --- the node, and the broker on its bridge -------------------------------------------------
"$repo/e2e/node/node-up.sh" "$state" >"$run/node-up.log" 2>&1 ||
  die "the node did not start: $(tail -n 3 "$run/node-up.log") (see $run/node-up.log)"
# shellcheck disable=SC1091
source "$state/node.env"
KAFKA_HOST=$NODE_IP "$repo/e2e/kafka/kafka-up.sh" "$state" >"$run/kafka-up.log" 2>&1 ||
  die "Kafka did not start: $(tail -n 3 "$run/kafka-up.log") (see $state/kafka)"
# shellcheck disable=SC1091
source "$state/kafka.env"
k() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }
echo "cluster-up: node $NODE_NAME Ready, Kafka at $KAFKA_BOOTSTRAP"

# --- images ------------------------------------------------------------------------------------
for name in kappa-operator kappa-worker kappa-serve kappa-streams-example; do
  [ "$name" != kappa-streams-example ] || [ -f "$images/$name.tar" ] || continue # optional
  [ -f "$images/$name.tar" ] || die "$images/$name.tar missing (e2e/images/build-images.sh $images)"
  ctr --address "$CONTAINERD_ADDRESS" -n k8s.io images import "$images/$name.tar" \
    >>"$run/images.log" 2>&1 || die "importing $images/$name.tar into the node failed; see $run/images.log"
done
echo "cluster-up: images $KAPPA_OPERATOR_IMAGE and $KAPPA_WORKER_IMAGE in the node's containerd"

# --- the operator, from the chart --------------------------------------------------------------
# shellcheck disable=SC2086  # KAPPA_HELM_ARGS is a list of words
"$helm" upgrade --install "$release" "$repo/charts/kappa-operator" -n "$ns" --create-namespace \
  --kubeconfig "$KUBECONFIG" \
  --set image.repository="${KAPPA_OPERATOR_IMAGE%:*}" --set image.tag="${KAPPA_OPERATOR_IMAGE##*:}" \
  --set image.pullPolicy=Never \
  --set workerImage.repository="${KAPPA_WORKER_IMAGE%:*}" --set workerImage.tag="${KAPPA_WORKER_IMAGE##*:}" \
  --set serve.image.repository="${KAPPA_SERVE_IMAGE%:*}" --set serve.image.tag="${KAPPA_SERVE_IMAGE##*:}" \
  --set serve.image.pullPolicy=Never \
  ${KAPPA_HELM_ARGS:-} --wait --timeout 180s >"$run/helm.log" 2>&1 || {
  k get pods -n "$ns" -o wide >>"$run/helm.log" 2>&1
  k logs -n "$ns" "deploy/$release" --tail 20 >>"$run/helm.log" 2>&1
  die "helm upgrade --install $release failed: $(grep -m1 -i error "$run/helm.log") (see $run/helm.log)"
}
echo "cluster-up: kappa-operator installed by helm in $ns ($(k get pods -n "$ns" -l app.kubernetes.io/name=kappa-operator -o jsonpath='{.items[*].metadata.name}'))"

cat >"$state/cluster.env" <<ENV
KUBECONFIG=$KUBECONFIG
KUBECTL=$KUBECTL
KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP
OPERATOR_NAMESPACE=$ns
OPERATOR_RELEASE=$release
CONTAINERD_ADDRESS=$CONTAINERD_ADDRESS
NODE_IP=$NODE_IP
HELM=$helm
KAPPA_BIN=$bin
KAPPA_IMAGES=$images
KAPPA_OPERATOR_IMAGE=$KAPPA_OPERATOR_IMAGE
KAPPA_WORKER_IMAGE=$KAPPA_WORKER_IMAGE
KAPPA_SERVE_IMAGE=$KAPPA_SERVE_IMAGE
KAPPA_STREAMS_IMAGE=${KAPPA_STREAMS_IMAGE:-}
ENV
echo "cluster-up: ready; $state/cluster.env (KUBECONFIG=$KUBECONFIG KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP)"
