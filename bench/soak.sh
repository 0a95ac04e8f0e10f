#!/usr/bin/env bash
# Soak: repeated cutovers of one pipeline on the whole local stack (e2e/cluster-up.sh in
# BUILD_DIR/bench-soak) for KAPPA_SOAK_SECONDS, with live traffic on the source topic,
# sampling kappa-operator's VmRSS after every cutover. Each round applies the next version
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
#   BENCH soak_operator_rss_max_mib       the largest sample
# and keeps the samples in BUILD_DIR/bench-soak/bench/rss.log ("<unix time> <cutover> <MiB>").
#
#   bench/soak.sh [BUILD_DIR]            (make soak; default build)
# Environment: KAPPA_SOAK_SECONDS (3600), KAPPA_SOAK_RATE (live events/s, 200),
#              KAPPA_SOAK_VALIDATION (Skip; Sampled compares 500 sampled keys each time),
#              KAPPA_SOAK_MAX_LAG (catchUp.maxLagMessages, 1000: the head keeps moving).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
duration=${KAPPA_SOAK_SECONDS:-3600}
rate=${KAPPA_SOAK_RATE:-200}
validation=${KAPPA_SOAK_VALIDATION:-Skip}
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
  echo "$(date +%s) $((i - 1)) $rss" >>"$CL_WORK/rss.log"
  echo "bench: soak cutover $((i - 1)) to sessions-v$i; operator VmRSS $rss MiB" >&2
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
if len(rows) > 1 and t[-1] > t[0]:
    mt, mm = statistics.mean(t), statistics.mean(mib)
    slope = sum((a - mt) * (b - mm) for a, b in zip(t, mib)) / sum((a - mt) ** 2 for a in t)
    print(f"BENCH soak_operator_rss_slope_mib_per_h {slope * 3600:.1f} MiB/h")
print(f"BENCH soak_operator_rss_max_mib {max(mib):.1f} MiB")
PY
