#!/usr/bin/env bash
# Soak: repeated cutovers of one pipeline on the whole local stack (e2e/cluster-up.sh in
# BUILD_DIR/bench-soak) for KAPPA_SOAK_SECONDS, with live traffic on the source topic,
# sampling kappa-operator's VmRSS and threads after every cutover. Each cutover compares
# the candidate with the serving version on 500 sampled keys (the comparisons run on threads
# of their own, and keep a record per sampled key: neither may grow). Each round applies the next version
# (crds/examples/sessions-v2.yaml, one replay replica), waits until the serving alias names
# it, and deletes the version two before it (its finalizer cleans up worker, group and
# topics), so the number of objects stays constant and RSS growth means a leak, not more
# state. Prints
#   BENCH soak_cutovers                   cutovers done
#   BENCH soak_operator_rss_growth_mib    median VmRSS of the last 5 samples minus that of the
#                                         first 5 (RSS moves by several MiB from one cutover
#                                         to the next as freed memory is returned; start-up
#                                         allocations are in both)
#   BENCH soak_operator_rss_slope_mib_per_h  least-squares slope of all samples over time
#   BENCH soak_operator_rss_slope_second_half_mib_per_h  the same over the second half of the
#                                         run (after start-up has settled)
#   BENCH soak_operator_rss_max_mib       the largest sample
#   BENCH soak_operator_threads           threads after the first and the last cutover, and
#                                         the most seen
# and keeps the samples in BUILD_DIR/bench-soak/bench/rss.log
# ("<unix time> <cutover> <MiB> <threads>").
#
#   bench/soak.sh [BUILD_DIR]            (make soak; default build)
# Environment: KAPPA_SOAK_SECONDS (3600), KAPPA_SOAK_RATE (live events/s, 200),
#              KAPPA_SOAK_VALIDATION (Sampled: 500 sampled keys each time; Skip: none),
#              KAPPA_SOAK_MAX_LAG (catchUp.maxLagMessages, 1000: the head keeps moving).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
duration=${KAPPA_SOAK_SECONDS:-3600}
rate=${KAPPA_SOAK_RATE:-200}
validation=${KAPPA_SOAK_VALIDATION:-Sampled}
maxlag=${KAPPA_SOAK_MAX_LAG:-1000}
export KAPPA_BIN="$build/bin"
export KAPPA_IMAGES=${KAPPA_IMAGES:-$build/images} # make bench builds them (make images)
# shellcheck source=bench/cutover-lib.sh
source "$repo/bench/cutover-lib.sh"
cl_start bench-soak "$build/bench-soak"

topic=bench-soak.clicks
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --create-partitions 2 \
  --count 20000 --keys 500 >/dev/null
"$KAPPA_BIN/kappa-loadgen" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --count -1 \
  --keys 500 --rate "$rate" --seed 11 >"$CL_WORK/loadgen.log" 2>&1 &
CL_PIDS+=($!)
cl_watch_alias sessions
common=(spec.replay.replicas=1 spec.catchUp.stableSeconds=1 "spec.catchUp.maxLagMessages=$maxlag"
  "spec.validation.mode=$validation" spec.validation.sampleKeys=500)
apply_version sessions-v1.yaml sessions-v1 "$topic" "${common[@]}"
wait_phase sessions-v1 Serving 300 >&2

end=$(($(date +%s) + duration))
: >"$CL_WORK/rss.log"
i=1
while [ "$(date +%s)" -lt "$end" ]; do
  i=$((i + 1))
  apply_version sessions-v2.yaml "sessions-v$i" "$topic" "${common[@]}"
  cl_flip_time sessions "v$i" 600 >/dev/null
  if [ "$i" -gt 3 ]; then
    k delete plv "sessions-v$((i - 2))" -n "$E2E_NS" --wait=false >/dev/null
  fi
  rss=$(cl_operator_rss_mib)
  threads=$(cl_operator_threads)
  echo "$(date +%s) $((i - 1)) $rss $threads" >>"$CL_WORK/rss.log"
  echo "bench: soak cutover $((i - 1)) to sessions-v$i; operator VmRSS $rss MiB, $threads threads" >&2
done

python3 - "$CL_WORK/rss.log" "$duration" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
t = [float(r[0]) for r in rows]
mib = [float(r[2]) for r in rows]
n = min(5, len(mib))
first, last = statistics.median(mib[:n]), statistics.median(mib[-n:])
print(f"BENCH soak_cutovers {len(rows)} cutovers (in {int(sys.argv[2])} s)")
print(f"BENCH soak_operator_rss_growth_mib {last - first:.1f} MiB "
      f"(median VmRSS of the first {n} samples {first:.1f}, of the last {n} {last:.1f})")
def slope(ts, ms):  # least squares, MiB per hour; None with fewer than 2 distinct times
    if len(ts) < 2 or ts[-1] <= ts[0]:
        return None
    mt, mm = statistics.mean(ts), statistics.mean(ms)
    return 3600 * sum((a - mt) * (b - mm) for a, b in zip(ts, ms)) / sum((a - mt) ** 2 for a in ts)
s = slope(t, mib)
if s is not None:
    print(f"BENCH soak_operator_rss_slope_mib_per_h {s:.1f} MiB/h")
# Start-up allocations settle in the first cutovers: the second half shows a leak alone.
half = [i for i, x in enumerate(t) if x >= t[0] + (t[-1] - t[0]) / 2]
s2 = slope([t[i] for i in half], [mib[i] for i in half])
if s2 is not None:
    print(f"BENCH soak_operator_rss_slope_second_half_mib_per_h {s2:.1f} MiB/h ({len(half)} samples)")
print(f"BENCH soak_operator_rss_max_mib {max(mib):.1f} MiB")
threads = [int(r[3]) for r in rows]
print(f"BENCH soak_operator_threads {threads[-1]} threads after the last cutover "
      f"({threads[0]} after the first, at most {max(threads)})")
PY
