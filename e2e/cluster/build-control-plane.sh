#!/usr/bin/env bash
# Builds the local Kubernetes control plane and node from Go modules with the machine's Go:
# kube-apiserver, kubectl, kube-controller-manager, kube-scheduler, kubelet and kube-proxy of
# k8s.io/kubernetes (one `go build`, so the packages they share compile once), and etcd
# (go.etcd.io/etcd/server/v3 etcdmain), at the versions pinned in controlplane/versions.env
# and controlplane/*/go.sum.
# Binaries go to ~/.cache/kappa/control-plane-<k8s>-etcd-<etcd>/bin; the Go module and build
# caches to ~/.cache/kappa/go (override the root with KAPPA_CACHE). Idempotent: when the
# pinned sources have not changed since the last build it checks a stamp and returns.
#
# Also installs with apt what the scripts next to it need (openssl, curl, python3).
#   KAPPA_GO_PARALLEL  packages compiled in parallel (default 2)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
src="$here/controlplane"

# Debian packages that apiserver-up.sh and the smoke test use.
missing=()
for p in openssl curl python3; do
  command -v "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "control-plane: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

go=${GO:-}
if [ -z "$go" ]; then
  if command -v go >/dev/null 2>&1; then go=$(command -v go); else go=/usr/local/go/bin/go; fi
fi
[ -x "$go" ] || { echo "control-plane: Go not found (put go >= 1.26 on PATH or set GO=/path/to/go)" >&2; exit 1; }
need_go=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$src/kube/go.mod")
have_go=$(GOTOOLCHAIN=local "$go" env GOVERSION)
have_go=${have_go#go}
if [ "$(printf '%s\n%s\n' "$need_go" "$have_go" | sort -V | head -n1)" != "$need_go" ]; then
  echo "control-plane: Kubernetes $KUBERNETES_VERSION needs Go >= $need_go; $go is go$have_go" >&2
  exit 1
fi

# The stamp is keyed on everything that decides the output: the pinned sources, the Go
# version and this script.
key=$(cat "$src/versions.env" "$src"/kube/go.mod "$src"/kube/go.sum "$src"/etcd/go.mod \
  "$src"/etcd/go.sum "$src"/etcd/main.go "$0" <(echo "go$have_go") | sha256sum | cut -c1-64)
stamp="$cp_dir/stamp"
# One build at a time per cache (a test fixture and a make target may start together); a
# second caller waits here and then finds the stamp written by the first.
mkdir -p "$cp_dir"
exec 9>"$cp_dir/.lock"
if ! flock -n 9; then
  echo "control-plane: another build is running; waiting for it"
  flock 9
fi
kube_cmds=(kube-apiserver kubectl kube-controller-manager kube-scheduler kubelet kube-proxy)
built() { for b in etcd "${kube_cmds[@]}"; do [ -x "$cp_bin/$b" ] || return 1; done; }
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ] && built; then
  echo "control-plane: Kubernetes $KUBERNETES_VERSION (apiserver, node), etcd $ETCD_VERSION ready in $cp_bin"
  exit 0
fi

export GOTOOLCHAIN=local GOPATH="$kappa_cache/go" GOMODCACHE="$kappa_cache/go/mod" \
  GOCACHE="$kappa_cache/go/build" CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false -trimpath"
par=${KAPPA_GO_PARALLEL:-2}
mkdir -p "$cp_bin"
log="$cp_dir/build.log"
: >"$log"
build() { # build NAME MODULE_DIR PACKAGE LDFLAGS
  local name=$1 dir=$2 pkg=$3 ldflags=$4 t0=$SECONDS
  if ! (cd "$dir" && "$go" build -p "$par" -ldflags "$ldflags" -o "$cp_bin/$name.tmp" "$pkg") >>"$log" 2>&1; then
    echo "control-plane: building $name failed; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  mv -f "$cp_bin/$name.tmp" "$cp_bin/$name"
  echo "control-plane: built $name in $((SECONDS - t0))s"
}

# The version the binaries report, as Kubernetes' own build stamps it (hack/lib/version.sh).
minor=${KUBERNETES_VERSION#v1.}
minor=${minor%%.*}
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
kv=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kv+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  kv+=" -X $p.gitTreeState=clean -X $p.buildDate=$now"
done

echo "control-plane: downloading Go modules into $GOMODCACHE"
(cd "$src/kube" && "$go" mod download) >>"$log" 2>&1 || { echo "control-plane: go mod download failed for kube; see $log" >&2; tail -n 20 "$log" >&2; exit 1; }
(cd "$src/etcd" && "$go" mod download) >>"$log" 2>&1 || { echo "control-plane: go mod download failed for etcd; see $log" >&2; tail -n 20 "$log" >&2; exit 1; }
echo "control-plane: building etcd $ETCD_VERSION"
build etcd "$src/etcd" . "-s -w"
echo "control-plane: building ${kube_cmds[*]} $KUBERNETES_VERSION (first time: about ten minutes)"
t0=$SECONDS
tmp="$cp_bin/.build"
rm -rf "$tmp"
mkdir -p "$tmp"
pkgs=()
for c in "${kube_cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
if ! (cd "$src/kube" && "$go" build -p "$par" -ldflags "-s -w$kv" -o "$tmp/" "${pkgs[@]}") >>"$log" 2>&1; then
  echo "control-plane: building the Kubernetes commands failed; last lines of $log:" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
for c in "${kube_cmds[@]}"; do mv -f "$tmp/$c" "$cp_bin/$c"; done
rmdir "$tmp"
echo "control-plane: built ${kube_cmds[*]} in $((SECONDS - t0))s"
echo "$key" >"$stamp"
echo "control-plane: Kubernetes $KUBERNETES_VERSION (apiserver, node), etcd $ETCD_VERSION ready in $cp_bin"
