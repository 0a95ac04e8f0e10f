#!/usr/bin/env bash
# Live latency of one kappa-worker that has caught up: bench/worker_latency_bench writes
# ~100-byte JSON events to its source topic at a steady rate and reads its output with a
# read_committed consumer; each output record is matched to its event by its source-position
# headers.
#   worker_live_latency_p50_ms / _p99_ms   produce call -> output record read, after a
#                                           warm-up; includes the worker's transaction
#                                           commit (--commit-interval-ms, 100 by default)
#
#   bash worker-latency.sh BUILD_DIR BOOTSTRAP
# Run by bench/run.d/worker.sh after the replays (not executable, so bench/run.sh does not
# run it first). On a freshly started broker, and on a machine busy with other work, runs
# measured p50 of seconds (2.3, 7.6, 4.3 s), the worker taking in fewer events per second
# than were written; on a broker that had served the replays, 74-106 ms. The cause is not
# established: the writer sends each event in a request of its own (linger.ms 0).
# Environment: KAPPA_BENCH_LATENCY_RATE (events/s, default 1000), KAPPA_BENCH_LATENCY_SECONDS
#              (20, after 5 s of warm-up), KAPPA_BENCH_PARTITIONS (4).
set -euo pipefail
build=$1
bootstrap=$2
bin="$build/bin"
rate=${KAPPA_BENCH_LATENCY_RATE:-1000}
seconds=${KAPPA_BENCH_LATENCY_SECONDS:-20}
partitions=${KAPPA_BENCH_PARTITIONS:-4}
work=$(mktemp -d)
worker=
cleanup() {
  [ -n "$worker" ] && kill "$worker" 2>/dev/null && wait "$worker" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
run_id=$(date +%s)-$$
source="bench-live-$run_id"

# shellcheck source=bench/run.d/lib-worker.sh
source "$(dirname "$0")/lib-worker.sh"
wl_write_events "$source" 1 1 "$partitions"  # creates the source topic
wl_count_program "$work/count.yaml"
wl_start_worker "live-$run_id" "$source" "$source-out" "" "$work/worker.log"
worker=$!
# Measured from the first transaction on: the worker has consumed the first event and
# committed (on a fresh broker the first transactional producer waits for the coordinator).
if ! timeout 120 "$bin/kubectl-kappa" lag --bootstrap "$bootstrap" --group "live-$run_id" \
  --topic "$source" --json --wait --interval 0.1 >/dev/null; then
  echo "bench: the worker did not consume the first event; its log:" >&2
  tail -n 20 "$work/worker.log" >&2
  exit 1
fi
if ! "$bin/worker_latency_bench" --bootstrap "$bootstrap" --source "$source" \
  --output "$source-out" --rate "$rate" --seconds "$seconds"; then
  echo "bench: worker log:" >&2
  tail -n 20 "$work/worker.log" >&2
  exit 1
fi
