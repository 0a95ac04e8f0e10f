#!/usr/bin/env bash
# Checks a control plane started by apiserver-up.sh with real kubectl: namespaces list, a
# CRD and a custom resource apply, a watch sees an update, the restricted user is Forbidden,
# and etcd compaction turns a watch from an old resourceVersion into 410 Gone.
# Exits non-zero on the first mismatch.
#
#   smoke-test.sh STATE_DIR/apiserver.env
set -euo pipefail
envfile=${1:?usage: smoke-test.sh STATE_DIR/apiserver.env}
[ -f "$envfile" ] || { echo "smoke: FAIL: no env file $envfile" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
set -a
# shellcheck disable=SC1090
source "$envfile"
set +a
state=$(cd "$(dirname "$envfile")" && pwd)
kubectl=${KUBECTL:-kubectl}
work=$(mktemp -d "${TMPDIR:-/tmp}/kappa-smoke.XXXXXX")
watch_pid=""
cr="smoke-$$-$RANDOM"
cleanup() {
  [ -z "$watch_pid" ] || kill "$watch_pid" 2>/dev/null || true
  "$kubectl" delete widgets.smoke.kappa.io "$cr" -n default --ignore-not-found --wait=false >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
ok() { echo "smoke: ok: $*"; }

# 1. The admin user lists namespaces.
ns=$("$kubectl" get ns -o name) || fail "kubectl get ns failed"
grep -qx namespace/default <<<"$ns" || fail "namespace default missing from: $ns"
grep -qx namespace/kube-system <<<"$ns" || fail "namespace kube-system missing from: $ns"
ok "kubectl get ns lists default and kube-system ($("$kubectl" version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])'))"

# 2. A CRD and a custom resource of it.
cat >"$work/crd.yaml" <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.smoke.kappa.io
spec:
  group: smoke.kappa.io
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
YAML
"$kubectl" apply -f "$work/crd.yaml" >/dev/null || fail "applying the CRD failed"
"$kubectl" wait --for=condition=Established crd/widgets.smoke.kappa.io --timeout=60s >/dev/null ||
  fail "CRD widgets.smoke.kappa.io not Established within 60s"
cat >"$work/cr.yaml" <<YAML
apiVersion: smoke.kappa.io/v1
kind: Widget
metadata:
  name: $cr
  namespace: default
spec:
  size: 1
YAML
# Discovery of a new CRD can lag its Established condition by a moment.
for i in $(seq 1 50); do
  if "$kubectl" apply -f "$work/cr.yaml" >"$work/apply.out" 2>&1; then break; fi
  [ "$i" -lt 50 ] || fail "applying the custom resource failed: $(cat "$work/apply.out")"
  sleep 0.2
done
size=$("$kubectl" get widgets.smoke.kappa.io "$cr" -n default -o jsonpath='{.spec.size}')
[ "$size" = 1 ] || fail "custom resource reads back spec.size=$size, want 1"
ok "CRD and custom resource applied"

# 3. A watch sees an update.
timeout 60 "$kubectl" get widgets.smoke.kappa.io "$cr" -n default -w --no-headers \
  -o custom-columns=NAME:.metadata.name,SIZE:.spec.size >"$work/watch.out" 2>&1 &
watch_pid=$!
deadline=$((SECONDS + 30))
until grep -q "^$cr  *1$" "$work/watch.out"; do
  [ $SECONDS -lt $deadline ] || fail "watch printed no initial state in 30s: $(cat "$work/watch.out")"
  kill -0 "$watch_pid" 2>/dev/null || fail "kubectl get -w exited: $(cat "$work/watch.out")"
  sleep 0.1
done
"$kubectl" patch widgets.smoke.kappa.io "$cr" -n default --type=merge -p '{"spec":{"size":2}}' >/dev/null ||
  fail "patching the custom resource failed"
until grep -q "^$cr  *2$" "$work/watch.out"; do
  [ $SECONDS -lt $deadline ] || fail "watch did not show spec.size=2 within 30s: $(cat "$work/watch.out")"
  kill -0 "$watch_pid" 2>/dev/null || fail "kubectl get -w exited: $(cat "$work/watch.out")"
  sleep 0.1
done
kill "$watch_pid" 2>/dev/null || true
wait "$watch_pid" 2>/dev/null || true
watch_pid=""
ok "kubectl get -w observed the update"

# 4. The restricted user is authenticated but not authorized.
if KUBECONFIG=$KAPPA_RESTRICTED_KUBECONFIG "$kubectl" get configmaps -n default >"$work/forbidden.out" 2>&1; then
  fail "restricted user could list configmaps: $(cat "$work/forbidden.out")"
fi
grep -q 'Forbidden' "$work/forbidden.out" && grep -q 'User "kappa-restricted"' "$work/forbidden.out" ||
  fail "restricted user did not get Forbidden: $(cat "$work/forbidden.out")"
ok "restricted user gets Forbidden on configmaps"

# 5. After etcd compaction, a watch from an old resourceVersion ends in 410 Gone.
old_rv=$("$kubectl" get widgets.smoke.kappa.io "$cr" -n default -o jsonpath='{.metadata.resourceVersion}')
for n in 3 4 5; do
  "$kubectl" patch widgets.smoke.kappa.io "$cr" -n default --type=merge -p "{\"spec\":{\"size\":$n}}" >/dev/null ||
    fail "patching the custom resource failed"
done
rev=$("$here/etcd-compact.sh" "$state") || fail "etcd compaction failed"
"$kubectl" get --raw "/apis/smoke.kappa.io/v1/namespaces/default/widgets?watch=1&resourceVersion=$old_rv&timeoutSeconds=5" \
  >"$work/gone.out" 2>&1 || true
grep -q '"code":410' "$work/gone.out" ||
  fail "watch from resourceVersion $old_rv after compaction to $rev did not get 410: $(head -c 600 "$work/gone.out")"
ok "watch from compacted resourceVersion $old_rv gets 410 Gone (compacted to $rev)"
echo "smoke: all 5 checks ok"
