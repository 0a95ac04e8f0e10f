# Shared steps of the cutover benchmarks (bench/run.d/cutover.sh, bench/soak.sh); sourced.
# They run on the whole local stack through the end-to-end scenario steps
# (e2e/scenarios/lib.sh: e2e_start, apply_version, k, field, ...).
#
#   cl_start NAMESPACE STATE_DIR
#       starts the stack in STATE_DIR (stopped again when the caller exits) and namespace
#   cl_watch_alias PIPELINE
#       starts recording the serving alias <PIPELINE>-serving: "$CL_WORK/alias-PIPELINE.log"
#       gets one line "<unix time> <version> <resourceVersion>" per change of the version it
#       names, stamped when the watch event arrives here
#   cl_watch_versions
#       records phase changes of the namespace's PipelineVersions in
#       "$CL_WORK/phases.log": "<unix time> <name> <phase>"
#   cl_flip_time PIPELINE VERSION SECONDS
#       waits until the alias names VERSION; prints the time its watch event arrived
#   cl_operator_rss_mib
#       the operator's VmRSS
#   cl_operator_threads
#       the operator process's threads
#   cl_rfc3339 TIME
#       an RFC 3339 time (fractions allowed) as unix seconds
#   cl_watch_condition TYPE
#       records changes of condition TYPE of the namespace's PipelineVersions in
#       "$CL_WORK/condition-TYPE.log": "<unix time> <name> <status> <reason> <exited containers>"
#   cl_percentiles NAME FILE
#       BENCH NAME_p50_ms and NAME_p99_ms of the values (ms) in FILE, one a line
# shellcheck shell=bash

CL_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CL_REPO
# shellcheck source=e2e/scenarios/lib.sh
source "$CL_REPO/e2e/scenarios/lib.sh"
CL_PIDS=()

cl_start() {
  local ns=$1 state=$2
  mkdir -p "$state"
  CL_WORK=$(cd "$state" && pwd)/bench
  rm -rf "$CL_WORK"
  mkdir -p "$CL_WORK"
  # e2e_cleanup stops the stack; the watchers go first.
  # shellcheck disable=SC2016,SC2034  # evaluated by e2e_cleanup
  E2E_ON_EXIT='for p in "${CL_PIDS[@]}"; do kill "$p" 2>/dev/null; done'
  e2e_start "$ns" "$state" >&2
}

cl_watch_alias() {
  python3 "$CL_REPO/bench/kube_client.py" "$E2E_STATE/apiserver.env" watch-alias "$E2E_NS" \
    "$1-serving" >"$CL_WORK/alias-$1.log" 2>"$CL_WORK/alias-$1.err" &
  CL_PIDS+=($!)
}

cl_watch_versions() {
  python3 "$CL_REPO/bench/kube_client.py" "$E2E_STATE/apiserver.env" watch-plv "$E2E_NS" \
    >"$CL_WORK/phases.log" 2>"$CL_WORK/phases.err" &
  CL_PIDS+=($!)
}

cl_flip_time() {
  local pipeline=$1 version=$2 secs=$3 deadline t
  deadline=$(($(date +%s) + secs))
  while [ "$(date +%s)" -le "$deadline" ]; do
    t=$(awk -v v="$version" '$2 == v {t = $1} END {print t}' "$CL_WORK/alias-$pipeline.log")
    if [ -n "$t" ]; then
      echo "$t"
      return 0
    fi
    sleep 0.1
  done
  fail "alias $pipeline-serving does not name $version after ${secs}s (phase $(field "$pipeline-$version" .status.phase): $(field "$pipeline-$version" .status.message))"
}

cl_operator_pid() { # the operator pod's process, found through the node's containerd
  container_pid "$(operator_pods | awk '{print $1}')" "$OPERATOR_NAMESPACE"
}

cl_operator_rss_mib() {
  awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$(cl_operator_pid)/status"
}

cl_operator_threads() {
  awk '/^Threads:/ {print $2}' "/proc/$(cl_operator_pid)/status"
}

cl_rfc3339() {
  python3 -c 'import sys, datetime; print(datetime.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00")).timestamp())' "$1"
}

cl_watch_condition() {
  python3 "$CL_REPO/bench/kube_client.py" "$E2E_STATE/apiserver.env" watch-condition "$E2E_NS" \
    "$1" >"$CL_WORK/condition-$1.log" 2>"$CL_WORK/condition-$1.err" &
  CL_PIDS+=($!)
}

cl_percentiles() {
  python3 - "$@" <<'PY'
import math, sys
name, path = sys.argv[1], sys.argv[2]
v = sorted(float(l) for l in open(path) if l.strip())
def pct(p):  # nearest rank
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]
print(f"BENCH {name}_p50_ms {pct(50):.0f} ms (n={len(v)}, min {v[0]:.0f}, max {v[-1]:.0f})")
print(f"BENCH {name}_p99_ms {pct(99):.0f} ms (n={len(v)})")
PY
}
