#!/usr/bin/env bash
# Builds the chart and alert-rule check tools from Go modules with the machine's Go:
#   helm      helm.sh/helm/v3/cmd/helm                         (pinned in helm/go.mod, go.sum)
#   promtool  github.com/prometheus/prometheus/cmd/promtool    (pinned in promtool/go.mod, go.sum)
# Each tool has its own module so that their dependency graphs (both pull k8s.io/*) do not
# constrain each other. Binaries go to ~/.cache/kappa/tools-<hash>/bin, where <hash> is taken
# from the pinned sources, the Go version and this script; the Go module and build caches
# are shared with the control plane in ~/.cache/kappa/go (override the root with KAPPA_CACHE).
# Idempotent: when the stamp matches it returns at once. Prints the bin directory on its
# last line ("tools: ready in DIR"); `build-tools.sh --print-bin` prints only DIR (after
# building if needed).
# Also installs with apt what the chart checks need besides (python3-yaml).
#   KAPPA_GO_PARALLEL  packages compiled in parallel (default 2)
#   GO                 the go binary (default: go on PATH, else /usr/local/go/bin/go)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
print_bin=0
[ "${1:-}" = "--print-bin" ] && print_bin=1
say() { if [ $print_bin -eq 1 ]; then echo "$@" >&2; else echo "$@"; fi; }

HELM_MODULE=helm.sh/helm/v3
PROMETHEUS_MODULE=github.com/prometheus/prometheus
helm_version=$(sed -n "s#^\s*$HELM_MODULE \(v[^ ]*\).*#\1#p" "$here/helm/go.mod" | head -n1)
prom_version=$(sed -n "s#^\s*$PROMETHEUS_MODULE \(v[^ ]*\).*#\1#p" "$here/promtool/go.mod" | head -n1)
[ -n "$helm_version" ] && [ -n "$prom_version" ] || { echo "tools: cannot read pinned versions from $here/*/go.mod" >&2; exit 1; }

go=${GO:-}
if [ -z "$go" ]; then
  if command -v go >/dev/null 2>&1; then go=$(command -v go); else go=/usr/local/go/bin/go; fi
fi
[ -x "$go" ] || { echo "tools: Go not found (put go on PATH or set GO=/path/to/go)" >&2; exit 1; }
# The stamp is keyed on the Go binary's identity (path, size, mtime) rather than on
# `go env`, so that a ready cache answers without starting Go.
go_id=$(stat -L -c '%n %s %Y' "$go")

kappa_cache=${KAPPA_CACHE:-$HOME/.cache/kappa}
key=$(cat "$here"/helm/go.mod "$here"/helm/go.sum "$here"/promtool/go.mod "$here"/promtool/go.sum \
  "$0" <(echo "$go_id") | sha256sum | cut -c1-64)
dir="$kappa_cache/tools-${key:0:16}"
bin="$dir/bin"
stamp="$dir/stamp"
done_msg() {
  say "tools: helm $helm_version, promtool $prom_version ready in $bin"
  [ $print_bin -eq 1 ] && echo "$bin"
  return 0
}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ] && [ -x "$bin/helm" ] && [ -x "$bin/promtool" ]; then
  done_msg
  exit 0
fi

# One build at a time per cache; a second caller waits and then finds the stamp.
mkdir -p "$bin"
exec 9>"$dir/.lock"
if ! flock -n 9; then
  say "tools: another build is running; waiting for it"
  flock 9
fi
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ] && [ -x "$bin/helm" ] && [ -x "$bin/promtool" ]; then
  done_msg
  exit 0
fi

# Debian packages that tests/chart/check-chart.sh uses next to the tools.
if ! python3 -c 'import yaml' >/dev/null 2>&1; then
  say "tools: installing python3-yaml"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-yaml >/dev/null
fi

have_go=$(GOTOOLCHAIN=local "$go" env GOVERSION)
have_go=${have_go#go}
for m in helm promtool; do
  need_go=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$here/$m/go.mod")
  if [ "$(printf '%s\n%s\n' "$need_go" "$have_go" | sort -V | head -n1)" != "$need_go" ]; then
    echo "tools: $m needs Go >= $need_go; $go is go$have_go" >&2
    exit 1
  fi
done

export GOTOOLCHAIN=local GOPATH="$kappa_cache/go" GOMODCACHE="$kappa_cache/go/mod" \
  GOCACHE="$kappa_cache/go/build" CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false -trimpath"
par=${KAPPA_GO_PARALLEL:-2}
log="$dir/build.log"
: >"$log"
t_all=$SECONDS
build() { # build NAME MODULE_DIR PACKAGE LDFLAGS [TAGS]
  local name=$1 mdir=$2 pkg=$3 ldflags=$4 tags=${5:-} t0=$SECONDS
  if ! (cd "$mdir" && nice -n 10 "$go" mod download) >>"$log" 2>&1; then
    say "tools: go mod download failed for $name; last lines of $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  if ! (cd "$mdir" && nice -n 10 "$go" build -p "$par" -tags "$tags" -ldflags "$ldflags" -o "$bin/$name.tmp" "$pkg") >>"$log" 2>&1; then
    echo "tools: building $name failed; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  mv -f "$bin/$name.tmp" "$bin/$name"
  say "tools: built $name in $((SECONDS - t0))s"
}

# helm derives the Kubernetes version that `helm template`/`lint` assume from client-go,
# as its own Makefile does.
cgo=$(cd "$here/helm" && "$go" list -m -f '{{.Version}}' k8s.io/client-go)
cgo=${cgo#v}
k8s_major=$(( ${cgo%%.*} + 1 ))
k8s_minor=$(echo "$cgo" | cut -d. -f2)
hl="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
hl+=" -X helm.sh/helm/v3/internal/version.metadata= -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  hl+=" -X $p.k8sVersionMajor=$k8s_major -X $p.k8sVersionMinor=$k8s_minor"
done
say "tools: building helm $helm_version (first time: a few minutes)"
build helm "$here/helm" helm.sh/helm/v3/cmd/helm "$hl"

pv=${prom_version#v0.}
pv="${pv:0:1}.${pv:1:2}.${pv##*.}" # v0.316.0 is Prometheus 3.16.0
pv=$(echo "$pv" | sed 's/\.0\([0-9]\)\./.\1./')
pl="-s -w -X github.com/prometheus/common/version.Version=$pv -X github.com/prometheus/common/version.Branch=HEAD"
say "tools: building promtool $prom_version (Prometheus $pv; first time: a few minutes)"
# remove_all_sd leaves out the service-discovery plugins (cloud SDKs, most of the build);
# `promtool check rules` and `test rules` use none of them.
build promtool "$here/promtool" github.com/prometheus/prometheus/cmd/promtool "$pl" remove_all_sd

echo "$key" >"$stamp"
# Earlier pins' builds are of no further use.
for d in "$kappa_cache"/tools-*; do
  [ "$d" = "$dir" ] || rm -rf "$d"
done
say "tools: build took $((SECONDS - t_all))s"
done_msg
