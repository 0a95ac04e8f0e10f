#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, test and run kappa-operator:
# the C++ toolchain and -dev packages (apt), containerd, runc, CNI plugins and buildah for
# the local node, Java and Maven, and the Kafka broker jars
# (Maven Central, cached under ~/.cache/kappa). Idempotent: on a ready machine it checks
# and returns in seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

packages=(
  build-essential cmake ninja-build pkg-config git python3 curl ca-certificates time
  clang clang-format libclang-rt-14-dev
  libgtest-dev libgmock-dev
  librdkafka-dev libssl-dev
  libboost-dev
  nlohmann-json3-dev libyaml-cpp-dev prometheus-cpp-dev
  libsimdjson-dev libspdlog-dev libcli11-dev libxxhash-dev libgoogle-perftools-dev
  libabsl-dev
  # The local node (e2e/node): container runtime, CNI plugins, kube-proxy's iptables, and
  # the image builders (buildah; mmdebstrap makes the Debian base image from the mirror).
  containerd runc containernetworking-plugins iptables conntrack iproute2 buildah mmdebstrap
)
# Java and Maven are needed for the broker; any JDK >= 17 on PATH will do.
command -v java >/dev/null 2>&1 || packages+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || packages+=(maven)
# javac for Maven builds (the Kafka Streams example of e2e/streams-app).
command -v javac >/dev/null 2>&1 || packages+=(openjdk-17-jdk-headless)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

"$repo/e2e/kafka/fetch-kafka.sh"
# The local Kubernetes control plane (etcd, kube-apiserver), built from Go modules.
if [ -x "$repo/e2e/cluster/build-control-plane.sh" ]; then
  "$repo/e2e/cluster/build-control-plane.sh"
fi
# helm and promtool for the chart and alert-rule checks, built from Go modules.
if [ -x "$repo/e2e/tools/build-tools.sh" ]; then
  "$repo/e2e/tools/build-tools.sh"
fi
echo "bootstrap: ready"
