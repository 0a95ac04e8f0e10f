# shellcheck shell=bash
# What the demos share (sourced by e2e/demo.sh and e2e/demo-medallion.sh, after they set
# `ns` and `demo`, their name in messages):
#   here, repo      this directory and the repository
#   state           the stack's state directory (the demo's first argument, default .local)
#   run_id, start   this run's id (a suffix for fresh topics) and start time
#   bin             the binaries the stack runs (cluster.env's KAPPA_BIN)
#   die MSG         print "<demo>: MSG" and exit 1
#   k ARGS          kubectl;  kk SUB ARGS: kubectl-kappa SUB in namespace $ns
#   field PLV PATH  a jsonpath of PipelineVersion PLV in $ns ("" when absent)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
repo=$(cd "$here/.." && pwd)
state=${1:-$repo/.local}
state=$(cd "$state" && pwd)
run_id=$(date +%H%M%S)
start=$(date +%s)

die() { echo "$demo: $*" >&2; exit 1; }
[ -f "$state/cluster.env" ] || die "$state/cluster.env missing: run make cluster-up first"
# shellcheck disable=SC1091
source "$state/cluster.env"
export KUBECONFIG
bin=$KAPPA_BIN
k() { "$KUBECTL" "$@"; }
kk() { local sub=$1; shift; "$bin/kubectl-kappa" "$sub" --kubeconfig "$KUBECONFIG" -n "$ns" "$@"; }
field() { k get plv "$1" -n "$ns" -o jsonpath="{$2}" 2>/dev/null || true; }
phase_is() { [ "$(field "$1" .status.phase)" = "$2" ]; }
