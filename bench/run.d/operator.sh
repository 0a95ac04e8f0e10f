#!/usr/bin/env bash
# kappa-operator's footprint and reconcile throughput against a real kube-apiserver (etcd +
# kube-apiserver from e2e/cluster/apiserver-up.sh, the PipelineVersion CRD applied; the
# operator runs with the admin kubeconfig, leader election on):
#   operator_idle_rss_mib      VmRSS of an operator with no PipelineVersions, after it has
#                              settled (KAPPA_BENCH_OPERATOR_SETTLE seconds after /readyz)
#   operator_idle_cpu_percent  its CPU time (utime+stime of /proc/PID/stat) over
#                              KAPPA_BENCH_OPERATOR_IDLE_SECONDS, as % of one core
#   operator_rss_10k_mib       VmRSS of a fresh operator started with N PipelineVersions in the
#                              cluster, once it has worked through all of them (and its peak)
#   operator_reconciles_per_s  kappa_operator_reconciles_total (from /metrics) divided by the
#                              time from the operator's start to the last reconcile of that
#                              backlog
# The N objects carry kappa.io/abort=true, so each stops early and deterministically: pass 1
# adds the finalizer, pass 2 (Pending, abort gate) writes phase Failed and an Event, pass 3
# (Failed, nothing to delete) changes nothing; then the operator is idle. Every pass still
# does what a real one does: GET of the object, of the serving alias and of the worker
# Deployment, the Kafka facts of its phase (a metadata request to the bench broker in
# Pending). The objects are spread over several namespaces, each its own pipeline.
#
#   operator.sh BUILD_DIR BOOTSTRAP      (run by bench/run.sh)
# Environment: KAPPA_BENCH_OPERATOR_OBJECTS (default 10000), KAPPA_BENCH_OPERATOR_NAMESPACES
#              (100), KAPPA_BENCH_OPERATOR_IDLE_SECONDS (30), KAPPA_BENCH_OPERATOR_SETTLE (10),
#              KAPPA_BENCH_OPERATOR_QPS (--kube-api-qps/--kube-api-burst of the operator,
#              default 1000; the operator's own default of 50 would make the apiserver rate
#              limit, not the operator, the figure), KAPPA_BENCH_OPERATOR_WORKERS (--workers
#              while working through the N objects, default 4: a pass mostly waits for
#              apiserver writes; the idle figures use the default 1),
#              KAPPA_BENCH_OPERATOR_TIMEOUT (1800 s).
set -euo pipefail
build=$1
bootstrap=$2
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin="$build/bin"
objects=${KAPPA_BENCH_OPERATOR_OBJECTS:-10000}
namespaces=${KAPPA_BENCH_OPERATOR_NAMESPACES:-100}
idle_secs=${KAPPA_BENCH_OPERATOR_IDLE_SECONDS:-30}
settle=${KAPPA_BENCH_OPERATOR_SETTLE:-10}
qps=${KAPPA_BENCH_OPERATOR_QPS:-1000}
workers=${KAPPA_BENCH_OPERATOR_WORKERS:-4}
timeout=${KAPPA_BENCH_OPERATOR_TIMEOUT:-1800}
state="$build/bench-operator"
op_pid=""
cleanup() {
  [ -n "$op_pid" ] && kill -TERM "$op_pid" 2>/dev/null && wait "$op_pid" 2>/dev/null
  "$repo/e2e/cluster/apiserver-down.sh" "$state" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$repo/e2e/cluster/apiserver-down.sh" "$state" >/dev/null 2>&1 || true
"$repo/e2e/cluster/apiserver-up.sh" "$state" >&2
kcfg=$(sed -n 's/^KUBECONFIG=//p' "$state/apiserver.env")
kubectl=$(sed -n 's/^KUBECTL=//p' "$state/apiserver.env")
"$kubectl" --kubeconfig "$kcfg" apply -f "$repo/crds/pipelineversions.kappa.io.yaml" >&2
"$kubectl" --kubeconfig "$kcfg" wait --for condition=established --timeout=60s \
  crd/pipelineversions.kappa.io >&2

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mport=$(free_port)
pport=$(free_port)
while [ "$pport" = "$mport" ]; do pport=$(free_port); done

start_operator() {  # LOG WORKERS: sets op_pid, waits for /readyz
  "$bin/kappa-operator" --kubeconfig "$kcfg" --leader-election-namespace default \
    --metrics-address "127.0.0.1:$mport" --health-probe-address "127.0.0.1:$pport" \
    --kube-api-qps "$qps" --kube-api-burst "$qps" --workers "$2" >"$1" 2>&1 &
  op_pid=$!
  for _ in $(seq 1 300); do
    kill -0 "$op_pid" 2>/dev/null || { echo "bench: kappa-operator exited: $(tail -n 3 "$1")" >&2; exit 1; }
    [ "$(curl -s --max-time 2 "http://127.0.0.1:$pport/readyz" 2>/dev/null)" = ok ] && return 0
    sleep 0.1
  done
  echo "bench: kappa-operator not ready in 30 s" >&2
  exit 1
}
stop_operator() {
  kill -TERM "$op_pid"
  wait "$op_pid" || true
  op_pid=""
}
rss_mib() { awk -v f="$2" '$1 == f":" {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# "RECONCILES QUEUE_DEPTH": the sum of kappa_operator_reconciles_total over its results and
# kappa_operator_queue_depth, from one scrape. A scrape renders at least one series per
# object, computed from the operator's cache at that moment, so it is taken every 10 s only.
scrape() {
  curl -s --max-time 30 "http://127.0.0.1:$mport/metrics" |
    awk '/^kappa_operator_reconciles_total/ {s += $NF} $1 == "kappa_operator_queue_depth" {q = $NF}
         END {printf "%d %d\n", s, q}'
}
# Unix time of the operator's last "phase changed" log line (the last Pending -> Failed
# pass; the pass after it writes nothing and takes milliseconds).
last_phase_change() {
  grep 'msg="phase changed"' "$1" | tail -n 1 | sed -n 's/^ts=\([^ ]*\) .*/\1/p' |
    python3 -c 'import sys, datetime; print(datetime.datetime.fromisoformat(sys.stdin.read().strip().replace("Z", "+00:00")).timestamp())'
}

# --- idle ---------------------------------------------------------------------------------
log="$state/operator-idle.log"
start_operator "$log" 1
sleep "$settle"
idle_rss=$(rss_mib "$op_pid" VmRSS)
idle_anon=$(rss_mib "$op_pid" RssAnon)
idle_file=$(rss_mib "$op_pid" RssFile)
threads=$(awk '/^Threads:/ {print $2}' "/proc/$op_pid/status")
t0=$(cpu_ticks "$op_pid")
w0=$(date +%s.%N)
sleep "$idle_secs"
t1=$(cpu_ticks "$op_pid")
w1=$(date +%s.%N)
idle_cpu=$(python3 -c "import os,sys; t=(int(sys.argv[2])-int(sys.argv[1]))/os.sysconf('SC_CLK_TCK'); print(f'{100*t/(float(sys.argv[4])-float(sys.argv[3])):.2f}')" "$t0" "$t1" "$w0" "$w1")
echo "BENCH operator_idle_rss_mib $idle_rss MiB (VmRSS ${settle}s after ready, no PipelineVersions, $threads threads: anonymous $idle_anon MiB, file-backed $idle_file MiB (library code); target <= 16)"
echo "BENCH operator_idle_cpu_percent $idle_cpu % of one core (over ${idle_secs}s)"
stop_operator

# --- N PipelineVersions -------------------------------------------------------------------
python3 "$repo/bench/kube_client.py" "$state/apiserver.env" create-plvs --count "$objects" \
  --namespaces "$namespaces" --bootstrap "$bootstrap" --annotation kappa.io/abort=true --threads 8
log="$state/operator-10k.log"
started=$(date +%s.%N)
start_operator "$log" "$workers"
# Done: two scrapes 10 s apart with the same reconcile count and an empty queue. The work
# ends at the last phase change in the log.
last=-1
deadline=$(($(date +%s) + timeout))
while true; do
  sleep 10
  read -r n depth < <(scrape)
  [ "$n" -gt 0 ] && [ "$n" = "$last" ] && [ "$depth" = 0 ] && break
  [ "$n" -ge "$last" ] && last=$n  # else a failed scrape
  if [ "$(date +%s)" -gt "$deadline" ]; then
    echo "bench: operator not done after ${timeout}s ($n reconciles)" >&2
    exit 1
  fi
done
last_change=$(last_phase_change "$log")
phases=$(python3 "$repo/bench/kube_client.py" "$state/apiserver.env" count-phases)
echo "bench: $objects PipelineVersions after the backlog: $phases; $last reconciles" >&2
sleep "$settle"
rss=$(rss_mib "$op_pid" VmRSS)
anon=$(rss_mib "$op_pid" RssAnon)
hwm=$(rss_mib "$op_pid" VmHWM)
threads=$(awk '/^Threads:/ {print $2}' "/proc/$op_pid/status")
rate=$(python3 -c "import sys; print(f'{int(sys.argv[1])/(float(sys.argv[3])-float(sys.argv[2])):.1f}')" "$last" "$started" "$last_change")
secs=$(python3 -c "import sys; print(f'{float(sys.argv[2])-float(sys.argv[1]):.1f}')" "$started" "$last_change")
failed=$(python3 -c "import json,sys; print(json.loads(sys.argv[1]).get('Failed', 0))" "$phases")
echo "BENCH operator_rss_10k_mib $rss MiB (VmRSS with $objects PipelineVersions, all processed, anonymous $anon MiB; $threads threads; target <= 64)"
echo "BENCH operator_peak_rss_10k_mib $hwm MiB (VmHWM while working through $objects)"
echo "BENCH operator_reconciles_per_s $rate reconciles/s ($last reconciles of $objects objects in ${secs}s, $failed reached Failed; --workers $workers, --kube-api-qps $qps)"
stop_operator
