#!/usr/bin/env bash
# e2e.worker_image_on_node: the kappa-worker image built from Dockerfile.worker
# (e2e/images/build-images.sh) runs as a real pod on the local node, under the `restricted`
# Pod Security level (non-root, no privilege escalation, all capabilities dropped,
# RuntimeDefault seccomp, read-only root filesystem), reaches the Kafka broker at the node
# bridge's address, replays a source topic into its output, and answers its /healthz probes.
#
#   worker-pod-test.sh STATE_DIR IMAGES_DIR     KAPPA_BIN=dir of kappa-loadgen, kubectl-kappa
state=${1:?usage: worker-pod-test.sh STATE_DIR IMAGES_DIR}
images=${2:?usage: worker-pod-test.sh STATE_DIR IMAGES_DIR}
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
bin=${KAPPA_BIN:-$repo/build/bin}
on_fail() { k logs -n worker-test deploy/worker --tail 20; }
[ -f "$images/images.env" ] || fail "$images/images.env missing (e2e/images/build-images.sh $images)"
# shellcheck disable=SC1091
source "$images/images.env"

say "node and broker on the node's bridge"
node_start --kafka
import_images "$images" kappa-worker
say "image $KAPPA_WORKER_IMAGE imported; broker at $KAFKA_BOOTSTRAP"

source_topic=worker-pod.clicks
"$bin/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$source_topic" --create-partitions 2 \
  --count 20000 --keys 500 >/dev/null || fail "kappa-loadgen could not write $source_topic"

ns=worker-test
k create namespace "$ns" >/dev/null
k label namespace "$ns" pod-security.kubernetes.io/enforce=restricted >/dev/null
k apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: worker, namespace: $ns}
spec:
  replicas: 1
  selector: {matchLabels: {app: worker}}
  template:
    metadata: {labels: {app: worker}}
    spec:
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: worker
          image: $KAPPA_WORKER_IMAGE
          imagePullPolicy: Never
          args: [--create-topics]
          env:
            - {name: KAPPA_BOOTSTRAP_SERVERS, value: "$KAFKA_BOOTSTRAP"}
            - {name: KAPPA_SOURCE_TOPIC, value: $source_topic}
            - {name: KAPPA_OUTPUT_TOPIC, value: worker-pod.out}
            - {name: KAPPA_CONSUMER_GROUP, value: worker-pod}
            - {name: KAPPA_TRANSACTIONAL_ID, value: worker-pod}
            - {name: KAPPA_METRICS_ADDRESS, value: "0.0.0.0:9464"}
            - name: KAPPA_PROGRAM
              value: |
                keyField: user_id
                aggregates:
                  - {name: events, op: count}
          ports: [{name: metrics, containerPort: 9464}]
          livenessProbe: {httpGet: {path: /healthz, port: metrics}, periodSeconds: 5}
          readinessProbe: {httpGet: {path: /healthz, port: metrics}, periodSeconds: 2}
          resources:
            requests: {cpu: 100m, memory: 64Mi}
            limits: {memory: 512Mi}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
YAML
say "kappa-worker Deployment applied in namespace $ns (enforce: restricted)"
ready() { [ "$(k get deploy worker -n "$ns" -o jsonpath='{.status.readyReplicas}')" = 1 ]; }
wait_for 120 "the worker pod Ready (its /healthz readiness probe)" ready
k get pods -n "$ns" -o wide
"$bin/kubectl-kappa" lag --bootstrap "$KAFKA_BOOTSTRAP" --group worker-pod --topic "$source_topic" \
  --wait --interval 0.5 --wait-timeout 120 >/dev/null || fail "the worker pod did not consume $source_topic"
out=$("$bin/kubectl-kappa" lag --bootstrap "$KAFKA_BOOTSTRAP" --group "probe-$$" --topic worker-pod.out --json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["messages"])')
[ "$out" -ge 500 ] || fail "output topic worker-pod.out has $out records, want one per key (500)"
uid=$(k get pods -n "$ns" -l app=worker -o jsonpath='{.items[0].spec.containers[0].securityContext.readOnlyRootFilesystem}')
[ "$uid" = true ] || fail "the pod's root filesystem is not read-only"
# The JSON kernel is chosen at run time: Haswell from the image's kappa-worker-haswell.so on a
# CPU with AVX2 (as this one when /proc/cpuinfo says so), the portable one otherwise.
kernel=$(k logs -n "$ns" deploy/worker | grep -m1 "event parser:" || true)
say "  $kernel"
if grep -qw avx2 /proc/cpuinfo && grep -qw bmi2 /proc/cpuinfo; then
  case "$kernel" in *"haswell kernel from /usr/local/bin/kappa-worker-haswell.so"*) ;;
    *) fail "on this AVX2 CPU the worker did not load the image's Haswell kernel: '$kernel'" ;; esac
else
  case "$kernel" in *"portable kernel"*) ;; *) fail "unexpected kernel choice: '$kernel'" ;; esac
fi
say "PASS: the worker image ran as a restricted pod, consumed $source_topic and wrote $out records"
