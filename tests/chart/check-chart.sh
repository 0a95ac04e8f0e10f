#!/usr/bin/env bash
# Checks the Helm chart charts/kappa-operator and its alert rules:
#   - `helm lint --strict` with the default values and with the other RBAC/monitoring shapes;
#   - the chart's CRD copy (charts/kappa-operator/crds/) equals crds/pipelineversions.kappa.io.yaml;
#   - `helm template` (default values; ServiceMonitor, PodMonitor + PrometheusRule on; one watched
#     namespace with Secrets access) piped to `kubectl apply --dry-run=server` against the
#     real apiserver of $KAPPA_TEST_APISERVER_ENV, in a namespace labelled for the
#     `restricted` Pod Security level, so any violation by the operator Pod shows as a
#     warning and fails the check. The apiserver has no Prometheus Operator: the check
#     installs minimal monitoring.coreos.com CRDs first (tests/chart/monitoring-crds.yaml);
#   - the PrometheusRule carries files/alerts.yaml verbatim, the dashboard is valid JSON;
#   - `promtool check rules` on files/alerts.yaml and `promtool test rules` on
#     tests/chart/alerts_test.yaml (KappaValidationMismatch fires with a mismatch and not
#     without, and the other alerts).
# helm and promtool come from e2e/tools/build-tools.sh (built from Go modules, cached).
# Prints one line per check and a final "N passed, M failed"; exits 1 if anything failed.
#
#   KAPPA_TEST_APISERVER_ENV=STATE_DIR/apiserver.env tests/chart/check-chart.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
chart=$repo/charts/kappa-operator
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
summary() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ] && exit 0; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/kappa-chart.XXXXXX")
ns="kappa-chart-$$-$RANDOM"
kubectl=""
cleanup() {
  if [ -n "$kubectl" ]; then
    if [ "${rbac_installed:-0}" -eq 1 ]; then
      "$kubectl" delete --ignore-not-found --wait=false -f "$work/rbac.yaml" >/dev/null 2>&1
    fi
    "$kubectl" delete namespace "$ns" --ignore-not-found --wait=false >/dev/null 2>&1
  fi
  rm -rf "$work"
}
trap cleanup EXIT
# helm keeps its config and caches here, not in $HOME.
export HELM_CACHE_HOME="$work/helm/cache" HELM_CONFIG_HOME="$work/helm/config" \
  HELM_DATA_HOME="$work/helm/data"

# Tools.
if ! bin=$("$repo/e2e/tools/build-tools.sh" --print-bin 2>"$work/tools.err"); then
  fail "tools: e2e/tools/build-tools.sh failed: $(tail -n 5 "$work/tools.err")"
  summary
fi
helm=$bin/helm
promtool=$bin/promtool
pass "tools: $("$helm" version --short), promtool $("$promtool" --version 2>&1 | sed -n '1s/^promtool, version \([^ ]*\).*/\1/p')"

# run NAME CMD...: one check; its output is shown only when it fails.
run() {
  local name=$1
  shift
  if "$@" >"$work/out" 2>&1; then
    pass "$name"
  else
    fail "$name"
    sed 's/^/     | /' "$work/out" | tail -n 40
  fi
}

# Variants of the values the checks render.
monitoring=(--set serviceMonitor.enabled=true --set podMonitor.enabled=true --set prometheusRule.enabled=true)
scoped=(--set "watch.namespace=$ns" --set kafkaCredentials.enabled=true
  --set "kafkaCredentials.secretNames={kafka-sasl}" --set replicaCount=2)

# (a) lint.
run "helm lint --strict (default values)" "$helm" lint --strict "$chart"
run "helm lint --strict (ServiceMonitor, PodMonitor, PrometheusRule)" "$helm" lint --strict "$chart" "${monitoring[@]}"
run "helm lint --strict (one namespace, Secrets get)" "$helm" lint --strict "$chart" "${scoped[@]}"

# (b) the CRD copy.
run "chart CRD copy equals crds/pipelineversions.kappa.io.yaml (fix: cp crds/pipelineversions.kappa.io.yaml charts/kappa-operator/crds/)" \
  cmp "$repo/crds/pipelineversions.kappa.io.yaml" "$chart/crds/pipelineversions.kappa.io.yaml"
[ "$(ls "$chart/crds")" = "pipelineversions.kappa.io.yaml" ] &&
  pass "chart crds/ holds only that CRD" || fail "chart crds/ holds other files: $(ls "$chart/crds" | tr '\n' ' ')"

# Rendered content, without an apiserver.
render() { "$helm" template kappa-operator "$chart" --namespace "$ns" "$@"; }
check_rule_embedded() {
  render "${monitoring[@]}" --show-only templates/prometheusrule.yaml >"$work/rule.yaml" &&
    python3 - "$work/rule.yaml" "$chart/files/alerts.yaml" <<'PY'
import sys, yaml
rendered = yaml.safe_load(open(sys.argv[1]))
plain = yaml.safe_load(open(sys.argv[2]))
assert rendered["kind"] == "PrometheusRule", rendered["kind"]
assert rendered["spec"] == plain, "PrometheusRule spec differs from files/alerts.yaml"
names = [r["alert"] for g in plain["groups"] for r in g["rules"]]
want = ["KappaValidationMismatch", "KappaShadowDrift", "KappaReplayStalled", "KappaReplayStraggler", "KappaRetentionAtRisk", "KappaServingWorkerDown", "KappaCutoverFailed"]
assert names == want, names
PY
}
check_dashboard() {
  render --show-only templates/grafana-dashboard.yaml >"$work/dash.yaml" &&
    python3 - "$work/dash.yaml" <<'PY'
import sys, json, yaml
cm = yaml.safe_load(open(sys.argv[1]))
assert cm["metadata"]["labels"].get("grafana_dashboard") == "1", cm["metadata"]["labels"]
d = json.loads(cm["data"]["kappa-operator.json"])
exprs = " ".join(t["expr"] for p in d["panels"] for t in p["targets"])
for m in ["kappa_pipelineversion_phase", "kappa_pipelineversion_lag_messages",
          "kappa_pipelineversion_lag_seconds",
          "kappa_pipelineversion_progress_percent", "kappa_validation_mismatch_ratio",
          "kappa_cutover_duration_seconds_bucket"]:
    assert m in exprs, m + " not on the dashboard"
PY
}
check_deployment() {
  render "${scoped[@]}" --show-only templates/deployment.yaml >"$work/deploy.yaml" &&
    python3 - "$work/deploy.yaml" "$ns" <<'PY'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
ns = sys.argv[2]
pod = d["spec"]["template"]["spec"]
c = pod["containers"][0]
sc, psc = c["securityContext"], pod["securityContext"]
assert psc["runAsNonRoot"] is True and sc["runAsNonRoot"] is True
assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
assert sc["capabilities"]["drop"] == ["ALL"]
assert sc["seccompProfile"]["type"] == "RuntimeDefault" and psc["seccompProfile"]["type"] == "RuntimeDefault"
assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
assert c["resources"]["requests"] and c["resources"]["limits"]
args = c["args"]
for a in ["--namespace=" + ns, "--leader-election=true", "--worker-image=kappa-worker:0.1.0"]:
    assert a in args, (a, args)
PY
}
check_webhook() { # registration, certificate, Service and mount agree; off means none of them
  { render "${scoped[@]}"; echo "---"; render --set webhook.enabled=false; } >"$work/wh.yaml" &&
    python3 - "$work/wh.yaml" "$ns" <<'PY'
import sys, yaml, base64, subprocess
ns = sys.argv[2]
docs = list(yaml.safe_load_all(open(sys.argv[1])))
cut = next(i for i, d in enumerate(docs) if d is None)  # the "---" between the two renders
on, off = [d for d in docs[:cut] if d], [d for d in docs[cut + 1:] if d]
def webhooky(d): return d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "webhook"
def one(docs, kind):
    found = [d for d in docs if d["kind"] == kind and webhooky(d)]
    assert len(found) == 1, (kind, [d["metadata"]["name"] for d in found])
    return found[0]
reg = one(on, "ValidatingWebhookConfiguration")
secret, svc = one(on, "Secret"), one(on, "Service")
[w] = reg["webhooks"]
assert w["failurePolicy"] == "Ignore" and w["sideEffects"] == "None", w
assert w["rules"] == [{"apiGroups": ["kappa.io"], "apiVersions": ["*"], "operations": ["CREATE"],
                       "resources": ["pipelineversions"], "scope": "Namespaced"}], w["rules"]
assert w["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": ns}}, w
ref = w["clientConfig"]["service"]
assert (ref["name"], ref["namespace"], ref["path"]) == (svc["metadata"]["name"], ns, "/validate"), ref
assert w["clientConfig"]["caBundle"] == secret["data"]["ca.crt"]
# The certificate is for the Service's DNS name and signed by the CA in the registration.
crt, ca = (base64.b64decode(secret["data"][k]) for k in ("tls.crt", "ca.crt"))
open(sys.argv[1] + ".crt", "wb").write(crt)
open(sys.argv[1] + ".ca", "wb").write(ca)
text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", sys.argv[1] + ".crt"],
                      capture_output=True, text=True, check=True).stdout
assert "DNS:%s.%s.svc" % (svc["metadata"]["name"], ns) in text, text
subprocess.run(["openssl", "verify", "-CAfile", sys.argv[1] + ".ca", sys.argv[1] + ".crt"], check=True)
deploy = next(d for d in on if d["kind"] == "Deployment")
pod = deploy["spec"]["template"]["spec"]
c = pod["containers"][0]
assert "--webhook-address=0.0.0.0:9443" in c["args"], c["args"]
assert {"name": "webhook", "containerPort": 9443, "protocol": "TCP"} in c["ports"], c["ports"]
assert pod["volumes"][0]["secret"]["secretName"] == secret["metadata"]["name"], pod["volumes"]
assert c["volumeMounts"][0]["mountPath"] == "/etc/kappa/webhook"
assert not [d for d in off if webhooky(d)], "webhook objects with webhook.enabled=false"
c = next(d for d in off if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
assert not [a for a in c["args"] if a.startswith("--webhook")], c["args"]
PY
}
check_rbac() { # the exact rules the operator is granted, in both shapes
  { render; echo "---"; render "${scoped[@]}"; } >"$work/all.yaml" &&
    python3 - "$work/all.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
roles = [d for d in docs if d["kind"] in ("ClusterRole", "Role")]
def rules(d): return sorted((tuple(r.get("apiGroups", [])), tuple(r["resources"]), tuple(r["verbs"]), tuple(r.get("resourceNames", []))) for r in d["rules"])
main = [d for d in roles if not d["metadata"]["name"].endswith("-leader-election")]
assert [d["kind"] for d in main] == ["ClusterRole", "Role"], [d["kind"] for d in main]
base = {
  (("kappa.io",), ("pipelineversions/status", "pipelineversions/finalizers"), ("get", "update", "patch"), ()),
  (("kappa.io",), ("pipelineversions",), ("get", "list", "watch", "create", "update", "patch"), ()),
  (("",), ("configmaps",), ("get", "list", "watch", "create", "update", "patch", "delete"), ()),
  (("apps",), ("deployments",), ("get", "list", "watch", "create", "update", "patch", "delete"), ()),
  (("",), ("pods",), ("get", "list", "watch"), ()),
  (("",), ("resourcequotas",), ("get", "list", "watch", "create", "update", "patch", "delete"), ()),
  (("events.k8s.io",), ("events",), ("create", "patch", "update", "get", "list"), ()),
}
assert set(rules(main[0])) == base, rules(main[0])
assert set(rules(main[1])) == base | {(("",), ("secrets",), ("get",), ("kafka-sasl",))}, rules(main[1])
le = [d for d in roles if d["metadata"]["name"].endswith("-leader-election")]
assert len(le) == 2 and all(d["kind"] == "Role" for d in le)
assert set(rules(le[0])) == {(("coordination.k8s.io",), ("leases",), ("create",), ()),
                             (("coordination.k8s.io",), ("leases",), ("get", "update"), ("kappa-operator",))}, rules(le[0])
for d in docs:
    if d["kind"] in ("ClusterRole", "Role"):
        for r in d["rules"]:
            assert "*" not in r["verbs"] and "*" not in r["resources"], r
PY
}
# Every value carries a comment: a key is documented by the comment line right above it, or
# by a documented mapping it belongs to (e.g. securityContext's fields).
check_values_documented() {
  python3 - "$chart/values.yaml" <<'PY'
import re, sys
stack, missing, prev = [], [], ""
for n, line in enumerate(open(sys.argv[1]), 1):
    if not line.strip():
        continue
    m = re.match(r"^( *)([A-Za-z0-9_.-]+):", line)
    if m and not line.lstrip().startswith("#"):
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        documented = prev.lstrip().startswith("#") or any(d for _, d in stack)
        if not documented:
            missing.append("%d: %s" % (n, line.strip()))
        stack.append((indent, prev.lstrip().startswith("#")))
    prev = line
if missing:
    print("values without a comment:\n  " + "\n  ".join(missing))
    sys.exit(1)
PY
}
run "values.yaml: every value documented with a comment" check_values_documented
run "PrometheusRule spec is files/alerts.yaml verbatim, with the seven alerts" check_rule_embedded
run "Grafana dashboard ConfigMap: label, valid JSON, phases/lag/progress/mismatch/durations" check_dashboard
run "operator Deployment: restricted securityContext, probes, resources, args from values" check_deployment
run "RBAC: exactly the least-privilege rules (cluster-wide and one-namespace shapes)" check_rbac
run "webhook: PipelineVersion creates only, failurePolicy Ignore, CA bundle signs the Service's certificate, Secret mounted; none with webhook.enabled=false" check_webhook

# (d) alert rules.
run "promtool check rules files/alerts.yaml" "$promtool" check rules "$chart/files/alerts.yaml"
run "promtool test rules tests/chart/alerts_test.yaml" "$promtool" test rules "$here/alerts_test.yaml"

# (c) server-side dry runs.
envfile=${KAPPA_TEST_APISERVER_ENV:-}
if [ -z "$envfile" ] || [ ! -f "$envfile" ]; then
  fail "apiserver: KAPPA_TEST_APISERVER_ENV is unset or names no file ('$envfile'); start one with e2e/cluster/apiserver-up.sh"
  summary
fi
set -a
# shellcheck disable=SC1090
source "$envfile"
set +a
kubectl=${KUBECTL:-kubectl}

# A namespace held to the restricted Pod Security level: the apiserver warns about any
# workload whose Pod template would violate it.
ns_setup() {
  "$kubectl" create namespace "$ns" &&
    "$kubectl" label namespace "$ns" pod-security.kubernetes.io/enforce=restricted \
      pod-security.kubernetes.io/warn=restricted pod-security.kubernetes.io/audit=restricted
}
run "namespace $ns (Pod Security: restricted)" ns_setup
# The PipelineVersion CRD itself (as tests/crds does; same file, under the same lock), so
# that `kubectl auth can-i` below resolves kappa.io resources.
run "crds/pipelineversions.kappa.io.yaml installed and Established" \
  bash -c "'$kubectl' apply -f '$repo/crds/pipelineversions.kappa.io.yaml' && '$kubectl' wait --for condition=Established --timeout=60s \
    crd/pipelineversions.kappa.io"
run "monitoring.coreos.com CRDs (tests/chart/monitoring-crds.yaml) installed and Established" \
  bash -c "'$kubectl' apply -f '$here/monitoring-crds.yaml' && '$kubectl' wait --for condition=Established --timeout=60s \
    crd/servicemonitors.monitoring.coreos.com crd/podmonitors.monitoring.coreos.com crd/prometheusrules.monitoring.coreos.com"

# dry_run NAME VALUES...: render with --include-crds and apply with a server dry run; any
# warning (Pod Security, unknown fields, deprecations) fails too.
dry_run() {
  local name=$1
  shift
  if ! render --include-crds "$@" >"$work/rendered.yaml" 2>"$work/render.err"; then
    fail "dry run ($name): helm template failed"
    sed 's/^/     | /' "$work/render.err" | tail -n 20
    return
  fi
  if "$kubectl" apply --dry-run=server -f "$work/rendered.yaml" >"$work/apply.out" 2>"$work/apply.err" &&
     ! grep -qi 'warning' "$work/apply.err"; then
    pass "dry run ($name): $(grep -c . "$work/apply.out") objects accepted by the apiserver: $(awk '{print $1}' "$work/apply.out" | sed 's#/.*##' | sort | uniq -c | awk '{printf "%s%s", sep, $2; sep=" "}')"
  else
    fail "dry run ($name)"
    sed 's/^/     | /' "$work/apply.err" "$work/apply.out" | tail -n 40
  fi
}
# The Pod Security check above is live: a Pod template that breaks `restricted` draws a warning.
psa_control() {
  local out
  out=$(render --set securityContext.allowPrivilegeEscalation=true --show-only templates/deployment.yaml |
    "$kubectl" apply --dry-run=server -f - 2>&1)
  echo "$out"
  grep -q 'would violate PodSecurity "restricted' <<<"$out"
}
run "control: a Deployment with allowPrivilegeEscalation=true draws the restricted PodSecurity warning" psa_control

dry_run "default values"
dry_run "ServiceMonitor, PodMonitor and PrometheusRule on" "${monitoring[@]}"
dry_run "one watched namespace, Secrets get" "${scoped[@]}" "${monitoring[@]}"
# A kappa-serve reader in the restricted namespace: its Deployment, Service and RBAC.
reader=(--set "serve.readers[0].name=sessions-serve" --set "serve.readers[0].pipeline=sessions"
  --set "serve.readers[0].bootstrapServers=kafka:9092" --set "serve.readers[0].namespace=$ns"
  --set "serve.readers[0].kafkaProperties.security\.protocol=PLAINTEXT")
dry_run "a kappa-serve reader" "${reader[@]}"

# The RBAC objects installed for real, then asked `kubectl auth can-i` as the operator's
# ServiceAccount: what it needs is allowed, what it does not need is refused.
# Cluster-wide shape under a name of this run's (deleted at the end).
cluster_rbac=(--set "fullnameOverride=$ns" --set replayPriorityClass.create=false)
rbac_installed=0
install_rbac() {
  render "${cluster_rbac[@]}" --show-only templates/rbac.yaml --show-only templates/serviceaccount.yaml \
    >"$work/rbac.yaml" && "$kubectl" apply -f "$work/rbac.yaml" && rbac_installed=1
}
run "RBAC (all namespaces) installed for real" install_rbac
sa="system:serviceaccount:$ns:$ns"
other="kappa-chart-elsewhere"
can() { "$kubectl" auth can-i --as "$sa" "$@" >/dev/null 2>&1; }
check_can() { # check_can yes|no ARGS...
  local want=$1
  shift
  if can "$@"; then got=yes; else got=no; fi
  if [ "$got" = "$want" ]; then pass "can-i $* -> $want"; else fail "can-i $*: got $got, want $want"; fi
}
if [ $rbac_installed -eq 1 ]; then
  check_can yes list pipelineversions.kappa.io --all-namespaces
  check_can yes watch pipelineversions.kappa.io -n "$other"
  check_can yes patch pipelineversions.kappa.io --subresource=status -n "$other"
  check_can yes update pipelineversions.kappa.io --subresource=finalizers -n "$other"
  check_can yes create deployments.apps -n "$other"
  check_can yes delete configmaps -n "$other"
  check_can yes create resourcequotas -n "$other"
  check_can yes create events.events.k8s.io -n "$other"
  check_can yes create leases.coordination.k8s.io -n "$ns"
  check_can yes update leases.coordination.k8s.io/kappa-operator -n "$ns"
  check_can no delete pipelineversions.kappa.io -n "$other"
  check_can yes create pipelineversions.kappa.io -n "$other"
  check_can no get secrets -n "$other"
  check_can yes list pods -n "$other"
  check_can no create pods -n "$other"
  check_can no delete pods -n "$other"
  check_can no create events -n "$other"
  check_can no create leases.coordination.k8s.io -n "$other"
  check_can no update leases.coordination.k8s.io/someone-else -n "$ns"
  check_can no list nodes
  check_can no create clusterroles.rbac.authorization.k8s.io
  check_can no delete priorityclasses.scheduling.k8s.io
fi
# One-namespace shape with kafkaCredentials: a Role in the namespace, Secrets by name only.
install_scoped_rbac() {
  render "${scoped[@]}" --set "fullnameOverride=$ns-scoped" --show-only templates/rbac.yaml \
    --show-only templates/serviceaccount.yaml | "$kubectl" apply -f -
}
run "RBAC (one namespace, Secrets get) installed for real" install_scoped_rbac
sa="system:serviceaccount:$ns:$ns-scoped"
check_can yes get secrets/kafka-sasl -n "$ns"
check_can no get secrets/other -n "$ns"
check_can no list secrets -n "$ns"
check_can yes create deployments.apps -n "$ns"
check_can no create deployments.apps -n "$other"
check_can no list pipelineversions.kappa.io --all-namespaces

# A kappa-serve reader's Role: the alias of its pipeline, read-only, and nothing else.
install_serve_rbac() { # all of it: this apiserver runs no controller, so nothing starts
  render "${reader[@]}" --show-only templates/serve.yaml | "$kubectl" apply -f -
}
run "kappa-serve RBAC installed for real" install_serve_rbac
sa="system:serviceaccount:$ns:sessions-serve"
check_can yes get configmaps/sessions-serving -n "$ns"
check_can yes watch configmaps/sessions-serving -n "$ns"
check_can yes list configmaps/sessions-serving -n "$ns"
check_can no get configmaps/orders-serving -n "$ns"
check_can no list configmaps -n "$ns"
check_can no update configmaps/sessions-serving -n "$ns"
check_can no get configmaps/sessions-serving -n "$other"

summary
