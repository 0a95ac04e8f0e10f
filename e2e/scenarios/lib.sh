# Shared steps of the end-to-end scenarios (sourced, not run). A scenario calls
#   e2e_start NAMESPACE [STATE_DIR]
# which starts the whole local stack (e2e/cluster-up.sh: a real node, the broker on its
# bridge, the operator installed by helm; KAPPA_IMAGES names the images) in a state
# directory of its own, makes NAMESPACE with Pod Security level restricted enforced, stops it again when the scenario exits (pass or fail, printing the
# operator's and the workers' logs on failure), and defines:
#   k ...                         kubectl with the admin kubeconfig
#   kk SUBCOMMAND ...             kubectl-kappa with the admin kubeconfig, -n NAMESPACE
#   apply_version EXAMPLE NAME TOPIC [PATH=YAML ...]
#                                 applies crds/examples/EXAMPLE as PipelineVersion NAME
#                                 (spec.version = NAME without "<pipeline>-", unless an
#                                 override sets it) reading TOPIC,
#                                 with short catch-up/drain settings (none with
#                                 E2E_AS_SHIPPED=1) and overrides such as
#                                 spec.promotion.mode=Manual
#   field NAME JSONPATH           one field of PipelineVersion NAME ("" when absent)
#   wait_phase NAME PHASE [SECONDS]   until NAME is in PHASE; fails early on Failed
#   wait_for SECONDS MESSAGE CMD...   until CMD succeeds
#   alias_version PIPELINE        the version the serving alias names ("" when none)
#   topic_exists TOPIC            whether the broker has TOPIC
#   records_in TOPIC              the sum of TOPIC's end offsets ("" when it does not exist)
#   group_exists GROUP            whether the broker knows consumer group GROUP
#   operator_pods                 the names of the operator's pods
#   operator_metric SERIES [POD]  the value of the first line of an operator's /metrics
#                                 matching SERIES (the first operator pod by default)
#   worker_pods NAME              the pods of PipelineVersion NAME's worker Deployment
#   restarts POD [NS]             the restart count of POD's first container
#   lag_of GROUP [TOPIC]          the group's total lag on TOPIC (default $topic)
#   container_pid POD [NS]        the host pid of the process of POD's first container ("" when
#                                 it is not running), from the node's containerd
#   read_topic / compare_outputs  a topic's read_committed records per partition, and two
#                                 outputs compared record for record (see below)
#   Given / When / Then TEXT       scenario narration
#   fail TEXT                     stops the scenario
# shellcheck shell=bash
set -euo pipefail
E2E_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
E2E_TIMEOUT=${KAPPA_E2E_TIMEOUT:-240}
E2E_T0=$(date +%s)

fail() { echo "FAIL: $*" >&2; exit 1; }
say() { printf '[t+%3ds] %s\n' "$(($(date +%s) - E2E_T0))" "$*"; }
Given() { say "Given $*"; }
When() { say "When $*"; }
Then() { say "Then $*"; }

e2e_dump_logs() {
  local pod
  echo "--- pods"
  k get pods -A -o wide 2>/dev/null || true
  for pod in $(operator_pods 2>/dev/null); do
    echo "--- operator $pod (last 40 lines; and of its previous container, if any)"
    k logs -n "$OPERATOR_NAMESPACE" "$pod" --tail 40 2>/dev/null || true
    k logs -n "$OPERATOR_NAMESPACE" "$pod" --previous --tail 10 2>/dev/null || true
  done
  for pod in $(k get pods -n "$E2E_NS" -o name 2>/dev/null); do
    echo "--- $pod (last 10 lines)"
    k logs -n "$E2E_NS" "$pod" --tail 10 2>/dev/null || true
  done
  echo "--- events of $E2E_NS"
  k get events -n "$E2E_NS" --sort-by=.lastTimestamp 2>/dev/null | tail -n 15 || true
  echo "--- PipelineVersions"
  k get plv -n "$E2E_NS" -o wide 2>/dev/null || true
  # A failed comparison's counts and examples (field diffs), and each version's history: what
  # a reader of a CI log needs to tell a real mismatch from a race.
  echo "--- validation and history of each PipelineVersion"
  k get plv -n "$E2E_NS" -o json 2>/dev/null | python3 -c '
import json, sys
for v in json.load(sys.stdin).get("items", []):
    st = v.get("status", {})
    print(v["metadata"]["name"], json.dumps({"validation": st.get("validation"),
          "consumerGroup": st.get("consumerGroup"), "history": st.get("history")}))
    for c in st.get("conditions", []):
        print("  condition %s=%s since %s (%s: %s)" % (c.get("type"), c.get("status"),
              c.get("lastTransitionTime"), c.get("reason"), c.get("message")))' 2>/dev/null || true
  for pod in $(operator_pods 2>/dev/null); do
    echo "--- operator $pod: phase changes and warnings"
    k logs -n "$OPERATOR_NAMESPACE" "$pod" 2>/dev/null | grep -E 'phase changed|level=warning|level=error' |
      tail -n 60 || true
  done
}

e2e_cleanup() {
  local rc=$?
  # Also when cluster-up failed before cluster.env was read: nothing may stop the teardown.
  set +eu
  if [ $rc -ne 0 ]; then e2e_dump_logs; fi
  [ -n "${E2E_ON_EXIT:-}" ] && eval "$E2E_ON_EXIT"
  "$E2E_REPO/e2e/cluster-down.sh" "$E2E_STATE" >/dev/null 2>&1
  exit $rc
}

e2e_start() {
  E2E_NS=$1
  E2E_STATE=${2:-$(mktemp -d "${TMPDIR:-/tmp}/kappa-e2e.XXXXXX")}
  mkdir -p "$E2E_STATE"
  E2E_STATE=$(cd "$E2E_STATE" && pwd)
  trap e2e_cleanup EXIT
  # A state directory reused from an earlier (interrupted) run starts from nothing.
  "$E2E_REPO/e2e/cluster-down.sh" "$E2E_STATE" >/dev/null 2>&1 || true
  "$E2E_REPO/e2e/cluster-up.sh" "$E2E_STATE" >"$E2E_STATE/cluster-up.log" 2>&1 ||
    { tail -n 20 "$E2E_STATE/cluster-up.log" >&2; fail "cluster-up failed"; }
  # shellcheck disable=SC1091
  source "$E2E_STATE/cluster.env"
  k create namespace "$E2E_NS" --dry-run=client -o yaml | k apply -f - >/dev/null
  # Every scenario runs its versions in a namespace at the restricted Pod Security level,
  # where a cluster operator would put them.
  k label namespace "$E2E_NS" --overwrite pod-security.kubernetes.io/enforce=restricted \
    pod-security.kubernetes.io/enforce-version=latest >/dev/null
  say "stack up in $E2E_STATE (Kafka $KAFKA_BOOTSTRAP), namespace $E2E_NS (enforce: restricted)"
}

k() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }
kk() {
  local sub=$1
  shift
  "$KAPPA_BIN/kubectl-kappa" "$sub" --kubeconfig "$KUBECONFIG" -n "$E2E_NS" "$@"
}

# apply_version EXAMPLE NAME TOPIC [PATH=YAML ...]
apply_version() {
  local example=$1 name=$2 topic=$3
  shift 3
  python3 - "$E2E_REPO/crds/examples/$example" "$name" "$KAFKA_BOOTSTRAP" "$topic" "$@" <<'PY' |
import os, sys, yaml
path, name, bootstrap, topic = sys.argv[1:5]
doc = yaml.safe_load(open(path))
doc["metadata"]["name"] = name
spec = doc["spec"]
spec["kafka"]["bootstrapServers"] = bootstrap
spec["source"]["topic"] = topic
if os.environ.get("E2E_AS_SHIPPED") != "1":
    spec["catchUp"]["stableSeconds"] = 3
    spec.setdefault("promotion", {}).update({"drainDelaySeconds": 2, "retainOutputSeconds": 5})
    if "validation" in spec:
        spec["validation"]["timeoutSeconds"] = 120
for override in sys.argv[5:]:
    key, _, value = override.partition("=")
    node, parts = doc, key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    if value == "":
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = yaml.safe_load(value)
# After the overrides: one of them may name another pipeline (or the version itself).
if not any(o.startswith("spec.version=") for o in sys.argv[5:]):
    spec["version"] = name[len(spec["pipeline"]) + 1:] if name.startswith(spec["pipeline"] + "-") else name
print(yaml.safe_dump(doc))
PY
    k apply -n "$E2E_NS" ${E2E_DRY_RUN:+--dry-run=$E2E_DRY_RUN} -f - >/dev/null
}

field() { k get plv "$1" -n "$E2E_NS" -o jsonpath="{$2}" 2>/dev/null || true; }

# live_traffic TOPIC RATE [KAPPA-LOADGEN ARGS...]: events arrive in TOPIC at RATE a second
# until `kill $live_pid` or the scenario's end; event times go on from the end of a history
# written with the defaults (20,000 events 10 ms apart). Its log: $E2E_STATE/live-loadgen.log.
live_traffic() {
  local topic=$1 rate=$2
  shift 2
  "$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --count -1 \
    --rate "$rate" --start-ms 1700000200000 "$@" >"$E2E_STATE/live-loadgen.log" 2>&1 </dev/null &
  live_pid=$!
  E2E_ON_EXIT="kill $live_pid 2>/dev/null"
}

wait_phase() {
  local name=$1 want=$2 secs=${3:-$E2E_TIMEOUT} phase=""
  for _ in $(seq 1 "$secs"); do
    phase=$(field "$name" .status.phase)
    [ "$phase" = "$want" ] && return 0
    if [ "$phase" = Failed ] && [ "$want" != Failed ]; then
      fail "$name Failed while waiting for $want: $(field "$name" .status.message)"
    fi
    sleep 1
  done
  fail "$name not $want after ${secs}s (phase '$phase': $(field "$name" .status.message))"
}

wait_for() {
  local secs=$1 msg=$2
  shift 2
  for _ in $(seq 1 "$secs"); do
    "$@" && return 0
    sleep 1
  done
  fail "$msg (waited ${secs}s)"
}

alias_version() {
  k get configmap "$1-serving" -n "$E2E_NS" -o jsonpath='{.data.version}' 2>/dev/null || true
}

topic_exists() { kafka_tool org.apache.kafka.tools.TopicCommand --list | grep -qx "$1"; }

kafka_tool() { # kafka_tool CLASS ARGS...: one of Kafka's own command-line tools
  # shellcheck disable=SC1091
  source "$E2E_REPO/e2e/kafka/versions.env"
  java -cp "${KAPPA_CACHE:-$HOME/.cache/kappa}/kafka-$KAFKA_VERSION/libs/*" \
    -Dlog4j2.level=error "$@" --bootstrap-server "$KAFKA_BOOTSTRAP" 2>/dev/null
}

records_in() { # records_in TOPIC: the sum of the topic's end offsets ("" when it is gone)
  kafka_tool org.apache.kafka.tools.GetOffsetShell --topic "$1" --time -1 |
    awk -F: '{n += $3; seen = 1} END {if (seen) print n}'
}

group_exists() {
  kafka_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --list | grep -qx "$1"
}

operator_pods() {
  k get pods -n "$OPERATOR_NAMESPACE" -l "app.kubernetes.io/instance=$OPERATOR_RELEASE" \
    --field-selector status.phase=Running -o jsonpath='{.items[*].metadata.name}' 2>/dev/null
}

# operator_metric NAME_AND_LABELS_PREFIX [POD]: the value of the first matching series on an
# operator pod's /metrics, read at the pod's address on the node bridge ("" when none).
operator_metric() {
  local pod=${2:-} ip
  [ -n "$pod" ] || pod=$(operator_pods | awk '{print $1}')
  ip=$(k get pod "$pod" -n "$OPERATOR_NAMESPACE" -o jsonpath='{.status.podIP}' 2>/dev/null)
  [ -n "$ip" ] || return 0
  curl -s --max-time 5 "http://$ip:8080/metrics" | grep -F "$1" | grep -v '^#' | head -n 1 |
    awk '{print $NF}'
}

worker_pods() {
  k get pods -n "$E2E_NS" -l "kappa.io/worker=$1" -o jsonpath='{.items[*].metadata.name}' 2>/dev/null
}

# restarts POD [NS]: the restart count of POD's first container.
restarts() {
  k get pod "$1" -n "${2:-$E2E_NS}" -o jsonpath='{.status.containerStatuses[0].restartCount}' 2>/dev/null
}

# lag_of GROUP [TOPIC]: the group's total lag on TOPIC (default: the scenario's $topic),
# against the last stable offset.
lag_of() {
  "$KAPPA_BIN/kubectl-kappa" lag --bootstrap "$KAFKA_BOOTSTRAP" --group "$1" --topic "${2:-$topic}" \
    --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])'
}

# container_id POD [NS]: the id of POD's first container ("containerd://...").
container_id() {
  k get pod "$1" -n "${2:-$E2E_NS}" -o jsonpath='{.status.containerStatuses[0].containerID}' 2>/dev/null || true
}

# pod_ready POD [NS]: POD's condition Ready is True.
pod_ready() {
  [ "$(k get pod "$1" -n "${2:-$E2E_NS}" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' \
    2>/dev/null)" = True ]
}

# container_pid POD [NS]: the host pid of POD's first container, through its containerd task.
container_pid() {
  local id
  id=$(container_id "$1" "${2:-}")
  id=${id#containerd://}
  [ -n "$id" ] || return 0
  ctr --address "$CONTAINERD_ADDRESS" -n k8s.io tasks ls 2>/dev/null |
    awk -v id="$id" '$1 == id && $3 == "RUNNING" {print $2}'
}

# --- comparing two outputs record for record (the chaos scenarios) ---------------------
read_topic() { # read_topic TOPIC FILE TIMEOUT_MS PARTITIONS: every committed record, per partition
  local p pids=() libs
  # shellcheck disable=SC1091
  source "$E2E_REPO/e2e/kafka/versions.env"
  libs="${KAPPA_CACHE:-$HOME/.cache/kappa}/kafka-$KAFKA_VERSION/libs"
  # One consumer per partition, assigned (no consumer group to join): the exact order of
  # each partition. A consumer stops after TIMEOUT_MS without a record.
  for p in $(seq 0 $(($4 - 1))); do
    java -cp "$libs/*" -Dlog4j2.level=error org.apache.kafka.tools.consumer.ConsoleConsumer \
      --bootstrap-server "$KAFKA_BOOTSTRAP" --topic "$1" --partition "$p" --offset earliest \
      --isolation-level read_committed --timeout-ms "$3" \
      --property print.partition=true --property print.key=true --property print.headers=true \
      >"$2.$p" 2>"$2.$p.err" &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  for p in $(seq 0 $(($4 - 1))); do cat "$2.$p"; done >"$2"
}
same_output() { # same_output CLEAN_FILE CANDIDATE_FILE: the same records, in the same order
  python3 - "$1" "$2" <<'PY'
import sys
from collections import defaultdict

def load(path):  # "Partition:P<TAB>headers<TAB>key<TAB>value" -> {P: [rest, ...]}
    parts = defaultdict(list)
    for line in open(path, encoding="utf-8", errors="replace"):
        p, _, rest = line.rstrip("\n").partition("\t")
        if p.startswith("Partition:"):
            parts[p].append(rest)
    return parts

a, b = load(sys.argv[1]), load(sys.argv[2])
bad = sum(len(v) for v in a.values()) == 0
if bad:
    print("the clean run's output is empty")
for p in sorted(set(a) | set(b)):
    x, y = a.get(p, []), b.get(p, [])
    if x == y:
        print("%s: %d records, identical" % (p, len(x)))
        continue
    bad = True
    i = next((i for i, (u, v) in enumerate(zip(x, y)) if u != v), min(len(x), len(y)))
    print("%s: clean run %d records, candidate %d; first difference at #%d:" % (p, len(x), len(y), i))
    print("  clean     %s" % (x[i] if i < len(x) else "(end)"))
    print("  candidate %s" % (y[i] if i < len(y) else "(end)"))
sys.exit(1 if bad else 0)
PY
}
# compare_outputs CLEAN_TOPIC CLEAN_FILE CANDIDATE_TOPIC CANDIDATE_FILE PARTITIONS (both
# files read already): on a difference, both topics are read once more with a longer idle timeout
# before failing, since on a loaded machine a reader can stop before the end; the outputs
# are final (the source no longer changes), so a real difference stays.
compare_outputs() {
  same_output "$2" "$4" && return 0
  say "  outputs differ; reading $1 and $3 again to rule out a reader that stopped early"
  read_topic "$1" "$2" 60000 "$5" &
  read_topic "$3" "$4" 60000 "$5"
  wait
  same_output "$2" "$4" || fail "$3 differs from the clean run's $1 (see above)"
}
