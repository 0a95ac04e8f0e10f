#!/usr/bin/env bash
# Serving health on the whole local stack (e2e/cluster-up.sh in BUILD_DIR/bench-health: the
# real node, a broker of its own, kappa-operator installed by helm with BUILD_DIR/images).
# Pipeline "sessions" v1 serves with one worker pod; its worker container is killed -9
# KAPPA_BENCH_UNREADY_ROUNDS times (default 20), each time once the pod is running again and
# the version says WorkerAvailable True:
#   worker_unready_to_status_{p50,p99}_ms
#     from just before kill(2) of the worker's process (found through the node's
#     containerd) to the arrival here of the watch event of the PipelineVersion that first
#     reported it: WorkerAvailable turned False, or status.workerExits recorded the exit
#     (a restart within a second may never show the pod not ready). It covers the
#     kubelet noticing the exit and updating the Pod, the operator's Pod informer queueing
#     the version, the reconcile pass and its status write. Same host, same clock.
#   worker_unready_seen_rounds: in how many rounds WorkerAvailable False came first.
#
#   bench/run.d/serving-health.sh BUILD_DIR [BOOTSTRAP]   (the stack has a broker of its own)
set -euo pipefail
build=$(cd "$1" && pwd)
rounds=${KAPPA_BENCH_UNREADY_ROUNDS:-20}
export KAPPA_BIN="$build/bin"
export KAPPA_IMAGES=${KAPPA_IMAGES:-$build/images} # make bench builds them (make images)
# shellcheck source=bench/cutover-lib.sh
source "$(dirname "$0")/../cutover-lib.sh"
cl_start bench-health "$build/bench-health"

topic=bench-health.clicks
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count 5000 --keys 500 >/dev/null
cl_watch_condition WorkerAvailable
apply_version sessions-v1.yaml sessions-v1 "$topic" spec.replicas=1 spec.validation.mode=Skip
wait_phase sessions-v1 Serving 300 >&2
log=$CL_WORK/condition-WorkerAvailable.log
available() { grep ' sessions-v1 ' "$log" | tail -n 1 | grep -q ' True '; }
one_pod() {
  local pods
  pods=$(worker_pods sessions-v1)
  [ "$(echo "$pods" | wc -w)" = 1 ] && [ -n "$(container_pid "$pods")" ] && pod_ready "$pods" &&
    available
}
: >"$CL_WORK/unready.ms"
for round in $(seq 1 "$rounds"); do
  wait_for 120 "round $round: sessions-v1 has no running pod with WorkerAvailable True" one_pod
  lines=$(wc -l <"$log")
  pod=$(worker_pods sessions-v1)
  pid=$(container_pid "$pod")
  after=$(container_id "$pod")
  t0=$(date +%s.%N)
  kill -9 "$pid"
  seen=""
  for _ in $(seq 1 600); do
    seen=$(tail -n +"$((lines + 1))" "$log" |
      awk -v after="$after" '$2 == "sessions-v1" && ($3 == "False" || index("," $5 ",", "," after ",") > 0) {print $1, ($3 == "False" ? "unready" : "exit"); exit}')
    [ -n "$seen" ] && break
    sleep 0.05
  done
  [ -n "$seen" ] || fail "round $round: neither WorkerAvailable False nor status.workerExits $after within 30 s"
  ms=$(python3 -c "print(round((${seen% *} - $t0) * 1000))")
  echo "$ms" >>"$CL_WORK/unready.ms"
  echo "${seen#* }" >>"$CL_WORK/unready.how"
  echo "bench: serving health round $round: kill -9 -> ${seen#* } reported in $ms ms" >&2
done
cl_percentiles worker_unready_to_status "$CL_WORK/unready.ms"
echo "BENCH worker_unready_seen_rounds $(grep -c unready "$CL_WORK/unready.how" || true) rounds (of $rounds: WorkerAvailable False came first; in the others status.workerExits did)"
