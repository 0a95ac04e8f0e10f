#!/usr/bin/env bash
# The cross-object cases of the invalid-manifest catalogue: rules no schema can state, which
# the operator's validating admission webhook enforces at `kubectl apply`. Against the real
# kube-apiserver of the `apiserver` fixture and the real kappa-operator binary:
#   - a CA and a serving certificate for 127.0.0.1 are made with openssl;
#   - kappa-operator runs on this host as a standby replica (another holder keeps its Lease,
#     so it reconciles nothing) with --webhook-address, and a ValidatingWebhookConfiguration
#     sends it the PipelineVersion creates of this test's namespace only (failurePolicy
#     Fail: a webhook that does not answer fails the cases instead of letting them pass);
#   - each tests/crds/cross-object/CASE/: the existing-*.yaml objects (if any) are created for
#     real, in order; reject.yaml is refused (`kubectl apply --dry-run=server`, which admission
#     webhooks see) with its first-line `# expect: SUBSTRING` ($NS: the namespace); and
#     accept.yaml, when there is one, is admitted. The case's objects are deleted after it.
# Prints one line per check and a final "N passed, M failed"; exits 1 if anything failed.
#
#   KAPPA_TEST_APISERVER_ENV=STATE_DIR/apiserver.env KAPPA_BIN=build/bin tests/crds/run-cross-object.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
envfile=${KAPPA_TEST_APISERVER_ENV:?set KAPPA_TEST_APISERVER_ENV to an apiserver.env written by e2e/cluster/apiserver-up.sh}
[ -f "$envfile" ] || { echo "cross-object: no env file $envfile" >&2; exit 1; }
bin=${KAPPA_BIN:-$repo/build/bin}
[ -x "$bin/kappa-operator" ] || { echo "cross-object: no $bin/kappa-operator (set KAPPA_BIN)" >&2; exit 1; }
set -a
# shellcheck disable=SC1090
source "$envfile"
set +a
kubectl=${KUBECTL:-kubectl}
ns="kappa-xobj-$$-$RANDOM"
webhook="kappa-cross-object-$ns"
work=$(mktemp -d "${TMPDIR:-/tmp}/kappa-xobj.XXXXXX")
passed=0
failed=0
operator_pid=""

cleanup() {
  "$kubectl" delete validatingwebhookconfiguration "$webhook" --ignore-not-found >/dev/null 2>&1
  [ -n "$operator_pid" ] && kill "$operator_pid" 2>/dev/null && wait "$operator_pid" 2>/dev/null
  "$kubectl" delete namespace "$ns" --ignore-not-found --wait=false >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
die() { fail "$*"; echo "$passed passed, $failed failed"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$kubectl" apply -f "$repo/crds/pipelineversions.kappa.io.yaml" >/dev/null &&
  "$kubectl" wait --for condition=Established --timeout=60s crd/pipelineversions.kappa.io >/dev/null ||
  die "the CRD did not install"
"$kubectl" create namespace "$ns" >/dev/null || die "namespace $ns"

# --- the serving certificate ---------------------------------------------------------------
pki=$work/pki
mkdir -p "$pki"
if ! { openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=kappa-test-ca \
         -keyout "$pki/ca.key" -out "$pki/ca.crt" &&
       openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$pki/tls.key" \
         -out "$pki/tls.csr" &&
       openssl x509 -req -in "$pki/tls.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
         -CAcreateserial -days 1 -out "$pki/tls.crt" \
         -extfile <(printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'); } \
     >"$work/openssl.log" 2>&1; then
  cat "$work/openssl.log"
  die "openssl could not make the webhook certificate"
fi

# --- the operator, standing by -------------------------------------------------------------
now=$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)
"$kubectl" apply -f - >/dev/null <<YAML || die "the Lease of the other holder"
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: kappa-operator, namespace: $ns}
spec: {holderIdentity: another-replica, leaseDurationSeconds: 3600, acquireTime: "$now", renewTime: "$now"}
YAML
port=$(free_port)
health=$(free_port)
"$bin/kappa-operator" --kubeconfig "$KUBECONFIG" --namespace "$ns" \
  --leader-election-namespace "$ns" --metrics-address "127.0.0.1:$(free_port)" \
  --health-probe-address "127.0.0.1:$health" --webhook-address "127.0.0.1:$port" \
  --webhook-cert-dir "$pki" >"$work/operator.log" 2>&1 &
operator_pid=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$health/readyz" >/dev/null 2>&1 && break
  kill -0 "$operator_pid" 2>/dev/null || { tail -n 20 "$work/operator.log"; die "kappa-operator exited"; }
  sleep 0.2
done
curl -sf "http://127.0.0.1:$health/readyz" >/dev/null || { tail -n 20 "$work/operator.log"; die "kappa-operator is not ready"; }
grep -q 'msg=leading' "$work/operator.log" && die "kappa-operator leads; it should stand by"
pass "kappa-operator serves the webhook on 127.0.0.1:$port, standing by"

"$kubectl" apply -f - >/dev/null <<YAML || die "registering the webhook"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: $webhook}
webhooks:
  - name: pipelineversions.kappa.io
    admissionReviewVersions: ["v1"]
    sideEffects: None
    failurePolicy: Fail
    timeoutSeconds: 10
    clientConfig:
      url: https://127.0.0.1:$port/validate
      caBundle: $(base64 -w0 "$pki/ca.crt")
    rules:
      - {apiGroups: [kappa.io], apiVersions: ["*"], operations: [CREATE], resources: [pipelineversions]}
    namespaceSelector:
      matchLabels: {kubernetes.io/metadata.name: $ns}
YAML

# --- the cases -----------------------------------------------------------------------------
# dry_run FILE: `kubectl apply --dry-run=server`, output in $work/out.
dry_run() { "$kubectl" apply --dry-run=server -n "$ns" -f "$1" >"$work/out" 2>&1; }
for dir in "$here"/cross-object/*/; do
  case=$(basename "$dir")
  made=()
  for f in "$dir"existing-*.yaml; do
    [ -e "$f" ] || continue  # a case that needs no other object
    if "$kubectl" apply -n "$ns" -f "$f" >"$work/out" 2>&1; then
      made+=("$f")
    else
      fail "$case: $(basename "$f") not created: $(cat "$work/out")"
    fi
  done
  want=$(sed -n '1s/^# expect: //p' "$dir/reject.yaml")
  want=${want//\$NS/$ns}
  # The operator learns of the objects just made through its watch: a few tries.
  verdict=admitted
  for _ in $(seq 1 50); do
    if ! dry_run "$dir/reject.yaml"; then verdict=refused; break; fi
    sleep 0.1
  done
  if [ $verdict = admitted ]; then
    fail "$case: reject.yaml admitted"
  elif grep -qF -- "$want" "$work/out"; then
    pass "$case: refused: $want"
  else
    fail "$case: reject.yaml refused for another reason, want '$want':"
    sed 's/^/       /' "$work/out"
  fi
  if [ -f "$dir/accept.yaml" ]; then
    if dry_run "$dir/accept.yaml"; then
      pass "$case: accept.yaml admitted"
    else
      fail "$case: accept.yaml refused:"
      sed 's/^/       /' "$work/out"
    fi
  fi
  for f in "${made[@]}"; do "$kubectl" delete -n "$ns" -f "$f" --wait=true >/dev/null 2>&1; done
done

# The webhook's own view: every denial is in the operator's log.
denials=$(grep -c 'msg="admission denied"' "$work/operator.log")
cases=$(find "$here/cross-object" -name reject.yaml | wc -l)
if [ "$denials" -ge "$cases" ]; then
  pass "the operator logged $denials denials for $cases cases"
else
  fail "the operator logged $denials denials, want at least $cases"
  tail -n 20 "$work/operator.log"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
