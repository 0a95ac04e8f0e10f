#!/usr/bin/env bash
# Starts the whole local stack for STATE_DIR (default .local in the repository):
#   Kafka (e2e/kafka/kafka-up.sh), etcd + kube-apiserver (e2e/cluster/apiserver-up.sh), the
#   PipelineVersion CRD, the operator's namespace, ServiceAccount and RBAC (rendered from the
#   Helm chart when charts/kappa-operator and helm are there, else e2e/operator-rbac.yaml),
#   the node runner (e2e/node-runner) and kappa-operator, which runs with a token of that
#   ServiceAccount, so it has exactly the chart's permissions.
# Writes <state>/cluster.env: KUBECONFIG (admin), KUBECTL, KAFKA_BOOTSTRAP,
# OPERATOR_KUBECONFIG, KAPPA_BIN. Logs and pids in <state>/cluster. Idempotent: what runs
# is reused.
#
#   cluster-up.sh [STATE_DIR]        KAPPA_BIN=dir of the binaries (default build/bin)
#                                    KAPPA_RBAC_SOURCE=e2e: use e2e/operator-rbac.yaml even
#                                    when the chart is there
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
state=${1:-$repo/.local}
mkdir -p "$state"
state=$(cd "$state" && pwd)
bin=${KAPPA_BIN:-$repo/build/bin}
bin=$(cd "$bin" 2>/dev/null && pwd) || { echo "cluster-up: binaries directory ${KAPPA_BIN:-build/bin} not found (run make build)" >&2; exit 1; }
run="$state/cluster"
ns=${KAPPA_OPERATOR_NAMESPACE:-kappa-system}
release=kappa-operator
mkdir -p "$run"

die() { echo "cluster-up: $*" >&2; exit 1; }
alive() { [ -f "$run/$1.pid" ] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

for b in kappa-operator kappa-worker kubectl-kappa kappa-loadgen; do
  [ -x "$bin/$b" ] || die "$bin/$b missing (run make build)"
done

"$repo/e2e/kafka/kafka-up.sh" "$state" || die "Kafka did not start (see $state/kafka)"
"$repo/e2e/cluster/apiserver-up.sh" "$state" || die "kube-apiserver did not start (see $state/apiserver)"
# shellcheck disable=SC1091
source "$state/kafka.env"
# shellcheck disable=SC1091
source "$state/apiserver.env"
k() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }

# --- CRD, namespace, ServiceAccount, RBAC ------------------------------------------------
k apply -f "$repo/crds/pipelineversions.kappa.io.yaml" >"$run/apply.log" 2>&1 ||
  die "applying the CRD failed: $(tail -n 1 "$run/apply.log")"
k wait --for condition=established --timeout=60s crd/pipelineversions.kappa.io >/dev/null 2>&1 ||
  die "CRD pipelineversions.kappa.io not established within 60s"
k create namespace "$ns" --dry-run=client -o yaml | k apply -f - >>"$run/apply.log" 2>&1 ||
  die "creating namespace $ns failed: $(tail -n 1 "$run/apply.log")"

helm=""
# The newest helm that e2e/tools/build-tools.sh built.
helm=$(ls -t "$HOME"/.cache/kappa/tools-*/bin/helm 2>/dev/null | head -n 1 || true)
rbac_source=""
if [ "${KAPPA_RBAC_SOURCE:-chart}" = chart ] && [ -f "$repo/charts/kappa-operator/Chart.yaml" ] &&
  [ -n "$helm" ]; then
  if "$helm" template "$release" "$repo/charts/kappa-operator" --namespace "$ns" \
      --show-only templates/serviceaccount.yaml --show-only templates/rbac.yaml \
      --show-only templates/priorityclass.yaml >"$run/rbac.yaml" 2>"$run/helm.log"; then
    rbac_source="chart charts/kappa-operator (helm template)"
  else
    echo "cluster-up: helm template failed ($(tail -n 1 "$run/helm.log")); using e2e/operator-rbac.yaml" >&2
  fi
fi
if [ -z "$rbac_source" ]; then
  sed "s/__NAMESPACE__/$ns/g" "$here/operator-rbac.yaml" >"$run/rbac.yaml"
  rbac_source="e2e/operator-rbac.yaml (temporary stand-in for the chart)"
fi
k apply -f "$run/rbac.yaml" >>"$run/apply.log" 2>&1 ||
  die "applying ServiceAccount/RBAC from $rbac_source failed: $(tail -n 1 "$run/apply.log")"
sa=$(k get -n "$ns" serviceaccounts -o jsonpath='{.items[*].metadata.name}' | tr ' ' '\n' |
  grep -x "$release" || true)
[ -n "$sa" ] || die "no ServiceAccount $release in $ns after applying $rbac_source"
echo "cluster-up: CRD, namespace $ns, ServiceAccount $sa and RBAC from $rbac_source"

# --- the operator's kubeconfig: a token of that ServiceAccount, nothing else --------------
opkc="$run/operator.kubeconfig"
token=$(k create token "$sa" -n "$ns" --duration 24h 2>"$run/token.log") ||
  die "kubectl create token $sa failed: $(tail -n 1 "$run/token.log")"
umask 077
cat >"$opkc" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $KUBE_APISERVER_URL
    certificate-authority-data: $(base64 -w0 <"$KUBE_CA_FILE")
users:
- name: $sa
  user:
    token: $token
contexts:
- name: $sa@local
  context: {cluster: local, user: $sa, namespace: $ns}
current-context: $sa@local
KC
umask 022
# A missing rule must fail, not be papered over: the operator only gets what RBAC grants.
# These are the calls it makes (runtime/kube/kube_workload_runner.cc reads the worker Pods
# for crash-loop detection).
missing=""
while read -r verb res where; do
  "$KUBECTL" --kubeconfig "$opkc" auth can-i "$verb" "$res" $where >/dev/null 2>&1 ||
    missing="$missing $verb:$res"
done <<CHECKS
watch pipelineversions.kappa.io --all-namespaces
patch pipelineversions.kappa.io/status --all-namespaces
update pipelineversions.kappa.io/finalizers --all-namespaces
patch deployments.apps --all-namespaces
delete deployments.apps --all-namespaces
list pods --all-namespaces
update configmaps --all-namespaces
create configmaps --all-namespaces
patch resourcequotas --all-namespaces
create events.events.k8s.io --all-namespaces
create leases.coordination.k8s.io -n $ns
CHECKS
[ -z "$missing" ] ||
  die "ServiceAccount $ns/$sa lacks RBAC rules the operator needs:$missing (from $rbac_source)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- node runner -------------------------------------------------------------------------
if alive node-runner; then
  echo "cluster-up: node runner already running (pid $(cat "$run/node-runner.pid"))"
else
  nohup "$here/node-runner/kappa-node-runner" --apiserver-env "$state/apiserver.env" \
    --state "$run/node" --bin-dir "$bin" >>"$run/node-runner.log" 2>&1 </dev/null &
  echo $! >"$run/node-runner.pid"
  sleep 1
  alive node-runner || die "node runner exited at start: $(tail -n 2 "$run/node-runner.log")"
  echo "cluster-up: node runner started (pid $(cat "$run/node-runner.pid"), log $run/node-runner.log)"
fi

# --- operator ----------------------------------------------------------------------------
if alive operator && [ -f "$run/operator.ports" ]; then
  echo "cluster-up: kappa-operator already running (pid $(cat "$run/operator.pid"))"
else
  mport=$(free_port)
  pport=$(free_port)
  while [ "$pport" = "$mport" ]; do pport=$(free_port); done
  nohup "$bin/kappa-operator" --kubeconfig "$opkc" --leader-election-namespace "$ns" \
    --worker-image kappa-worker:latest --metrics-address "127.0.0.1:$mport" \
    --health-probe-address "127.0.0.1:$pport" >>"$run/operator.log" 2>&1 </dev/null &
  echo $! >"$run/operator.pid"
  echo "METRICS=127.0.0.1:$mport PROBES=127.0.0.1:$pport" >"$run/operator.ports"
  for _ in $(seq 1 150); do
    alive operator || die "kappa-operator exited at start: $(tail -n 2 "$run/operator.log")"
    [ "$(curl -s --max-time 2 "http://127.0.0.1:$pport/readyz" 2>/dev/null)" = ok ] && break
    sleep 0.2
  done
  [ "$(curl -s --max-time 2 "http://127.0.0.1:$pport/readyz" 2>/dev/null)" = ok ] ||
    die "kappa-operator not ready within 30s: $(tail -n 2 "$run/operator.log")"
  echo "cluster-up: kappa-operator started (pid $(cat "$run/operator.pid"), metrics 127.0.0.1:$mport, log $run/operator.log)"
fi

cat >"$state/cluster.env" <<ENV
KUBECONFIG=$KUBECONFIG
KUBECTL=$KUBECTL
KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP
OPERATOR_KUBECONFIG=$opkc
OPERATOR_NAMESPACE=$ns
KAPPA_BIN=$bin
ENV
echo "cluster-up: ready; $state/cluster.env (KUBECONFIG=$KUBECONFIG KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP)"
