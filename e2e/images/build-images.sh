#!/usr/bin/env bash
# Builds the kappa-operator and kappa-worker images from the repository's Dockerfiles with
# buildah, and writes each as an OCI archive that a node imports (ctr images import) or a
# user pushes to a registry (skopeo, buildah push).
#
# No registry is reachable here, so the Dockerfiles' base images are made locally first:
# `mmdebstrap --variant=minbase bookworm` from the machine's Debian mirror, committed by
# buildah as docker.io/library/debian:12 and docker.io/library/debian:12-slim, so that the
# Dockerfiles stay as a user's Docker builds them (`FROM debian:12`) and buildah finds the
# base without pulling. Layers are cached (buildah --layers) in the buildah storage under
# ~/.cache/kappa/buildah-overlay; the base tarball is made again when older than 7 days.
# The storage starts over when it has grown past KAPPA_BUILDAH_MAX_GB (default 12): every
# source change leaves the layers of its compile step behind.
#
#   build-images.sh OUT_DIR [--fast BIN_DIR]
#     OUT_DIR/kappa-operator.tar, OUT_DIR/kappa-worker.tar (OCI archives),
#     OUT_DIR/kappa-streams-example.tar (the Kafka Streams processor of e2e/streams-app, which
#     the container-mode scenario runs; KAPPA_IMAGES_STREAMS=0 skips it) and
#     OUT_DIR/images.env (KAPPA_OPERATOR_IMAGE, KAPPA_WORKER_IMAGE, KAPPA_STREAMS_IMAGE, sizes).
#     --fast: images of the binaries in BIN_DIR instead of the multi-stage build (for
#     iteration; the same runtime stage, so the same libraries and user).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:?usage: build-images.sh OUT_DIR [--fast BIN_DIR]}
mkdir -p "$out"
out=$(cd "$out" && pwd)
fast=""
if [ "${2:-}" = --fast ]; then fast=$(cd "${3:?--fast needs BIN_DIR}" && pwd); fi
cache=${KAPPA_CACHE:-$HOME/.cache/kappa}
version=$(sed -n 's/^version: *//p' "$repo/charts/kappa-operator/Chart.yaml" | head -n 1)
version=${version:-0.1.0}
log="$out/build-images.log"
: >"$log"

die() { echo "build-images: $*" >&2; exit 1; }
for tool in buildah mmdebstrap; do
  command -v "$tool" >/dev/null || die "$tool not found (run scripts/bootstrap.sh)"
done
# The overlay driver keeps each layer as a diff (vfs copied the whole tree per layer: tens
# of GB after a few builds). KAPPA_BUILDAH_DRIVER=vfs where overlayfs is missing.
driver=${KAPPA_BUILDAH_DRIVER:-overlay}
storage=(--root "$cache/buildah-$driver/root" --runroot "$cache/buildah-$driver/run" --storage-driver "$driver")
bh() { buildah "${storage[@]}" "$@"; }
mkdir -p "$cache/buildah-$driver"
used_gb=$(( $(du -sk "$cache/buildah-$driver" 2>/dev/null | cut -f1) / 1048576 ))
if [ "$used_gb" -ge "${KAPPA_BUILDAH_MAX_GB:-12}" ]; then
  echo "build-images: buildah storage at ${used_gb} GB; starting it over"
  bh rm --all >/dev/null 2>&1 || true
  bh rmi --all --force >/dev/null 2>&1 || true
  rm -rf "$cache/buildah-$driver"
  mkdir -p "$cache/buildah-$driver"
fi
# Storage of the vfs driver that earlier versions of this script used: many GB, never read.
[ "$driver" = vfs ] || [ ! -d "$cache/buildah" ] || rm -rf "$cache/buildah"

# --- the Debian base, from the mirror apt uses ----------------------------------------------
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
mirror=${mirror:-$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)}
[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list(.d)"
base_tar="$cache/images/debian-bookworm-minbase.tar"
mkdir -p "$cache/images"
fresh=$(find "$base_tar" -maxdepth 0 -mtime -7 2>/dev/null || true)
if [ -z "$fresh" ]; then
  echo "build-images: making the Debian 12 base tarball from $mirror"
  t0=$SECONDS
  # (mmdebstrap picks its output format from the name: it must end in .tar)
  rm -rf "$cache/images/new-base.tar"
  mmdebstrap --variant=minbase --include=ca-certificates bookworm "$cache/images/new-base.tar" \
    "$mirror" >>"$log" 2>&1 || die "mmdebstrap failed; see $log"
  mv -f "$cache/images/new-base.tar" "$base_tar"
  echo "build-images: base tarball in $((SECONDS - t0))s"
  bh rmi -f docker.io/library/debian:12 docker.io/library/debian:12-slim >/dev/null 2>&1 || true
fi
if ! bh inspect --type image docker.io/library/debian:12 >/dev/null 2>&1; then
  ctr=$(bh from scratch)
  bh add "$ctr" "$base_tar" / >>"$log" 2>&1 || die "adding the base tarball failed; see $log"
  bh config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  bh commit --quiet "$ctr" docker.io/library/debian:12 >>"$log" 2>&1 || die "committing the base image failed"
  bh rm "$ctr" >/dev/null
  bh tag docker.io/library/debian:12 docker.io/library/debian:12-slim
  echo "build-images: base image docker.io/library/debian:12 (and 12-slim) from $base_tar"
fi

# bud_and_write NAME DOCKERFILE CONTEXT T0: builds localhost/NAME:VERSION and writes it as the
# OCI archive OUT_DIR/NAME.tar.
bud_and_write() {
  local name=$1 dockerfile=$2 ctx=$3 t0=$4
  bh bud --pull-never --network host --layers --format oci -f "$dockerfile" \
    -t "localhost/$name:$version" "$ctx" >>"$log" 2>&1 || die "building $name failed; last lines of $log:
$(tail -n 20 "$log")"
  rm -f "$out/$name.tar"
  bh push "localhost/$name:$version" "oci-archive:$out/$name.tar:localhost/$name:$version" >>"$log" 2>&1 ||
    die "writing $out/$name.tar failed; see $log"
  echo "build-images: $name:$version in $((SECONDS - t0))s ($(du -m "$out/$name.tar" | cut -f1) MB archive)"
}

# --- the two images ----------------------------------------------------------------------------
build() { # build NAME DOCKERFILE
  local name=$1 dockerfile=$2 t0=$SECONDS ctx="$repo"
  if [ -n "$fast" ]; then
    # The runtime stage of the Dockerfile with the binary from BIN_DIR.
    ctx=$(mktemp -d)
    mkdir -p "$ctx/build/bin"
    cp "$fast/$name" "$ctx/build/bin/"
    strip "$ctx/build/bin/$name"
    awk 'BEGIN {n = 0} /^FROM / {n++} n >= 2' "$dockerfile" |
      sed "s#^COPY --from=build /build/bin/#COPY build/bin/#" >"$ctx/Dockerfile"
    dockerfile="$ctx/Dockerfile"
  fi
  echo "build-images: building $name:$version from ${dockerfile#$repo/}${fast:+ (binary from $fast)}"
  bud_and_write "$name" "$dockerfile" "$ctx" "$t0"
  [ -n "$fast" ] && rm -rf "$ctx"
  return 0
}
build kappa-worker "$repo/Dockerfile.worker"
build kappa-operator "$repo/Dockerfile.operator"
build kappa-serve "$repo/Dockerfile.serve"

# --- the Kafka Streams example processor (container mode) -------------------------------------
# Maven builds it from Maven Central into a copy of e2e/streams-app (the repository stays
# clean), its local repository cached under ~/.cache/kappa/m2; then e2e/streams-app/Dockerfile.
build_streams() {
  local name=kappa-streams-example t0=$SECONDS ctx="$out/streams-app"
  command -v mvn >/dev/null || die "mvn not found (run scripts/bootstrap.sh)"
  echo "build-images: building $name:$version (Maven, then e2e/streams-app/Dockerfile)"
  rm -rf "$ctx"
  mkdir -p "$ctx" "$cache/m2"
  cp -r "$repo/e2e/streams-app/pom.xml" "$repo/e2e/streams-app/src" "$repo/e2e/streams-app/Dockerfile" "$ctx/"
  (cd "$ctx" && mvn -q -B -Dmaven.repo.local="$cache/m2" package) >>"$log" 2>&1 ||
    die "Maven could not build e2e/streams-app; last lines of $log:
$(tail -n 20 "$log")"
  bud_and_write "$name" "$ctx/Dockerfile" "$ctx" "$t0"
}
[ "${KAPPA_IMAGES_STREAMS:-1}" = 0 ] || build_streams

size() { bh images --noheading --format '{{.Size}}' "localhost/$1:$version" 2>/dev/null | head -n 1; }
cat >"$out/images.env" <<ENV
KAPPA_OPERATOR_IMAGE=localhost/kappa-operator:$version
KAPPA_WORKER_IMAGE=localhost/kappa-worker:$version
KAPPA_SERVE_IMAGE=localhost/kappa-serve:$version
KAPPA_OPERATOR_IMAGE_SIZE="$(size kappa-operator)"
KAPPA_WORKER_IMAGE_SIZE="$(size kappa-worker)"
KAPPA_SERVE_IMAGE_SIZE="$(size kappa-serve)"
KAPPA_IMAGES_FAST=${fast:+1}
ENV
if [ -f "$out/kappa-streams-example.tar" ]; then
  cat >>"$out/images.env" <<ENV
KAPPA_STREAMS_IMAGE=localhost/kappa-streams-example:$version
KAPPA_STREAMS_IMAGE_SIZE="$(size kappa-streams-example)"
ENV
fi
echo "build-images: images in $out (images.env)"
