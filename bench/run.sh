#!/usr/bin/env bash
# Runs every benchmark against a broker of its own and prints `BENCH <name> <value> <unit>`
# lines; writes them, with the machine they ran on, to bench/out/results.json.
#
#   bench/run.sh [BUILD_DIR]     (default: build; `make bench` builds it first)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
bin="$build/bin"
out="$repo/bench/out"
state="$build/bench-kafka"
mkdir -p "$out"
lines="$out/bench.txt"
: >"$lines"
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

api_state="$build/bench-apiserver"
cleanup() {
  "$repo/e2e/kafka/kafka-down.sh" "$state" >/dev/null 2>&1 || true
  "$repo/e2e/cluster/apiserver-down.sh" "$api_state" >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$repo/e2e/kafka/kafka-up.sh" "$state"
# shellcheck disable=SC1091
source "$state/kafka.env"

run() {
  local name=$1
  shift
  echo "bench: $name" >&2
  if ! "$@" | tee -a "$lines"; then
    echo "bench: $name failed" >&2
    return 1
  fi
}

run lag_query "$bin/lag_query_bench" --bootstrap "$KAFKA_BOOTSTRAP" --partitions 1000
run preflight "$bin/preflight_bench" --bootstrap "$KAFKA_BOOTSTRAP" --partitions 1000
run validator "$bin/validator_bench" --bootstrap "$KAFKA_BOOTSTRAP" --keys "${KAPPA_BENCH_VALIDATOR_KEYS:-1000000}"
if [ -x "$bin/kube_bench" ] && [ -x "$bin/serve_bench" ]; then
  "$repo/e2e/cluster/apiserver-up.sh" "$api_state" >&2
  run kube "$bin/kube_bench" --kubeconfig "$(sed -n 's/^KUBECONFIG=//p' "$api_state/apiserver.env")"
  run serve "$bin/serve_bench" --bootstrap "$KAFKA_BOOTSTRAP" \
    --kubeconfig "$(sed -n 's/^KUBECONFIG=//p' "$api_state/apiserver.env")" \
    --records "${KAPPA_BENCH_SERVE_RECORDS:-10000000}" --keys "${KAPPA_BENCH_SERVE_KEYS:-1000000}"
  "$repo/e2e/cluster/apiserver-down.sh" "$api_state" >&2
fi
for extra in "$repo"/bench/run.d/*.sh; do
  [ -x "$extra" ] || continue
  run "$(basename "$extra" .sh)" "$extra" "$build" "$KAFKA_BOOTSTRAP"
done

python3 - "$lines" "$out/results.json" "$started" "$load_start" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  "$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)" <<'PY'
import json, os, platform, subprocess, sys, time
figures = []
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) >= 3 and parts[0] == "BENCH":
        figures.append({"name": parts[1], "value": float(parts[2]), "unit": " ".join(parts[3:])})
cpu = ""
for l in open("/proc/cpuinfo"):
    if l.startswith("model name"):
        cpu = l.split(":", 1)[1].strip()
        break
result = {
    "started": sys.argv[3],
    "taken": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    # 1/5/15-minute load averages when the run started and ended: figures from a machine
    # busy with other work are not comparable with a quiet one's.
    "loadavg": {"start": sys.argv[4], "end": sys.argv[5]},
    "machine": {"cpus": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
                "memoryGiB": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
    "command": "make bench",
    "commit": sys.argv[6],
    "figures": figures,
}
json.dump(result, open(sys.argv[2], "w"), indent=2)
print(f"bench: {len(figures)} figures written to {sys.argv[2]}", file=sys.stderr)
PY
