#!/usr/bin/env bash
# Starts a real single-node Kubernetes cluster for STATE_DIR (default .local):
#   the bridge kappa0 (198.18.0.1/24 by default, KAPPA_NODE_IP / KAPPA_POD_CIDR), etcd and
#   kube-apiserver listening on the bridge's address (e2e/cluster/apiserver-up.sh with
#   KAPPA_APISERVER_NODE), containerd + runc with the stack's own root, state, socket and
#   CNI configuration, a pause image built here, the kubelet, kube-controller-manager,
#   kube-scheduler and kube-proxy (iptables mode) -- all built by build-control-plane.sh --
#   and waits until the node is Ready.
# Writes <state>/node.env (KUBECONFIG, KUBECTL, KUBE_APISERVER_URL, NODE_IP, NODE_NAME,
# CONTAINERD_ADDRESS, CTR) and <state>/apiserver.env. Logs and pids in <state>/node.
# Idempotent: what runs is reused. e2e/node/node-down.sh undoes everything it did.
#
# Network: pods get addresses from the pod range on kappa0 and a route to the Service range
# through the bridge's address, nothing else (no default route, no masquerade, IP forwarding
# left as it is): they reach the apiserver, the Kafka broker and one another, no other host.
#
#   node-up.sh [STATE_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../cluster/lib.sh
source "$repo/e2e/cluster/lib.sh"
state=${1:-$repo/.local}
mkdir -p "$state"
state=$(cd "$state" && pwd)
run="$state/node"
# Unix socket paths are short (containerd refuses one over 104 bytes; the kubelet's
# pod-resources socket lies 40 bytes below its directory): under a long STATE_DIR the node's
# files live in a short directory that $state/node links to.
if [ ! -e "$run" ] && [ ${#run} -gt 60 ]; then
  short=/var/lib/kappa-node/$(printf %s "$run" | sha1sum | cut -c1-12)
  mkdir -p "$short"
  ln -sfn "$short" "$run"
fi
mkdir -p "$run"
run=$(cd "$run" && pwd -P)
node_ip=${KAPPA_NODE_IP:-198.18.0.1}
pod_cidr=${KAPPA_POD_CIDR:-198.18.0.0/24}
service_cidr=${KAPPA_SERVICE_CIDR:-198.19.0.0/24}
node_name=${KAPPA_NODE_NAME:-kappa-node}
bridge=${KAPPA_NODE_BRIDGE:-kappa0}
timeout=${KAPPA_NODE_START_TIMEOUT:-180}
pause_image=kappa.local/pause:3.10.2

die() { echo "node-up: $*" >&2; exit 1; }
alive() { [ -f "$run/$1.pid" ] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }
start() { # start NAME COMMAND...: in the background, logging to $run/NAME.log
  local name=$1
  shift
  if alive "$name"; then return 0; fi
  printf '%q ' "$@" >"$run/$name.cmd"
  nohup "$@" >>"$run/$name.log" 2>&1 </dev/null &
  echo $! >"$run/$name.pid"
  sleep 0.5
  alive "$name" || die "$name exited at start; last lines of $run/$name.log:
$(tail -n 15 "$run/$name.log")"
}
wait_for() { # wait_for SECONDS WHAT COMMAND...
  local secs=$1 what=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "$what not within ${secs}s"
    sleep 0.5
  done
}
[ "$(id -u)" -eq 0 ] || die "a node needs root (network, mounts, cgroups)"
for tool in containerd runc ctr ip iptables buildah gcc; do
  command -v "$tool" >/dev/null || die "$tool not found (run scripts/bootstrap.sh)"
done
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] ||
  die "CNI plugins not found in /usr/lib/cni (run scripts/bootstrap.sh)"
"$repo/e2e/cluster/build-control-plane.sh" >"$run/build.log" 2>&1 ||
  die "building the control plane failed; see $run/build.log"
for b in kubelet kube-controller-manager kube-scheduler kube-proxy; do
  [ -x "$cp_bin/$b" ] || die "$cp_bin/$b missing (e2e/cluster/build-control-plane.sh)"
done

# --- the bridge: pods' network, and the address the apiserver and the broker listen on ----
if ! ip link show "$bridge" >/dev/null 2>&1; then
  ip link add "$bridge" type bridge
fi
prefix=${pod_cidr#*/}
ip addr show dev "$bridge" | grep "inet $node_ip/" >/dev/null || ip addr add "$node_ip/$prefix" dev "$bridge"
ip link set "$bridge" up
echo "$bridge" >"$run/bridge"
# A guard of our own: nothing from the pod range is forwarded anywhere, whatever else the
# host's forwarding says.
iptables -N KAPPA-NODE-GUARD 2>/dev/null || true
iptables -F KAPPA-NODE-GUARD
iptables -A KAPPA-NODE-GUARD -s "$pod_cidr" -j DROP
iptables -C FORWARD -j KAPPA-NODE-GUARD 2>/dev/null || iptables -I FORWARD 1 -j KAPPA-NODE-GUARD

# --- control plane on the bridge's address -------------------------------------------------
KAPPA_APISERVER_NODE=$node_ip KAPPA_SERVICE_CIDR=$service_cidr KAPPA_NODE_NAME=$node_name \
  "$repo/e2e/cluster/apiserver-up.sh" "$state" >"$run/apiserver-up.log" 2>&1 ||
  die "kube-apiserver did not start: $(tail -n 3 "$run/apiserver-up.log") (see $state/apiserver)"
# shellcheck disable=SC1091
source "$state/apiserver.env"
[ -n "${KUBE_KUBELET_KUBECONFIG:-}" ] ||
  die "the control plane of $state runs without node mode; stop it first (e2e/node/node-down.sh $state)"
k() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }

# --- disk ------------------------------------------------------------------------------------
# The kubelet evicts pods and deletes images (the imported ones cannot be pulled again) once
# less than 1% of the disk is free (evictionHard below); the images take about 1.5 GB.
read -r disk_kb free_kb < <(df -Pk "$run" | awk 'NR == 2 {print $2, $4}')
need_kb=$((disk_kb / 100 + 3 * 1024 * 1024))
[ "$free_kb" -ge "$need_kb" ] ||
  die "$((free_kb / 1024)) MiB free on the disk of $run; the node needs $((need_kb / 1024)) MiB (3 GiB for images and logs, and 1% of the disk that the kubelet keeps free)"

# --- containerd ------------------------------------------------------------------------------
cd_root="$run/containerd"
mkdir -p "$cd_root/root" "$cd_root/state" "$run/cni/net.d" "$run/cni/ipam" "$run/runc"
sock="$cd_root/containerd.sock"
cat >"$cd_root/config.toml" <<TOML
version = 2
root = "$cd_root/root"
state = "$cd_root/state"
oom_score = 0
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  level = "warn"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  # The VM's capability bounding set lacks CAP_SYS_RESOURCE: no OOM score may be lowered.
  restrict_oom_score_adj = true
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$run/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$run/runc"
        SystemdCgroup = false
TOML
cat >"$run/cni/net.d/10-kappa.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "kappa",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$run/cni/ipam",
        "ranges": [[{"subnet": "$pod_cidr", "rangeStart": "$(python3 -c 'import ipaddress,sys; print(ipaddress.ip_network(sys.argv[1])[16])' "$pod_cidr")", "gateway": "$node_ip"}]],
        "routes": [{"dst": "$service_cidr", "gw": "$node_ip"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
start containerd containerd --config "$cd_root/config.toml"
wait_for 30 "containerd on $sock" ctr --address "$sock" version

# --- the pause image, built here (no registry is reachable) ---------------------------------
ctr_k8s() { ctr --address "$sock" -n k8s.io "$@"; }
# (grep reads all of its input: with -q and pipefail, ctr could die of SIGPIPE)
have_pause() { ctr_k8s images ls -q | grep -x "$pause_image" >/dev/null; }
if ! have_pause; then
  "$here/pause-image.sh" "$run/pause-image.tar" >"$run/pause-image.log" 2>&1 ||
    die "building the pause image failed; see $run/pause-image.log"
  ctr_k8s images import "$run/pause-image.tar" >>"$run/pause-image.log" 2>&1 ||
    die "importing the pause image failed; see $run/pause-image.log"
  have_pause || die "$pause_image not in containerd after the import; see $run/pause-image.log"
fi

# --- kubelet -----------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kl="$run/kubelet"
mkdir -p "$kl/root" "$kl/manifests" "$kl/logs" "$kl/plugins"
kubelet_port=$(free_port)
kubelet_healthz=$(free_port)
cat >"$kl/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 (hybrid) on this machine: kept working with failCgroupV1 false; no systemd.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$sock
# CAP_SYS_RESOURCE is missing: no negative OOM scores.
oomScoreAdj: 0
failSwapOn: false
resolvConf: /etc/resolv.conf
staticPodPath: $kl/manifests
podLogsDir: $kl/logs
volumePluginDir: $kl/plugins
address: $node_ip
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $kubelet_healthz
maxOpenFiles: 16384
# Leave the kernel's settings as they are (cluster-down restores nothing it did not change).
protectKernelDefaults: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $KUBE_CA_FILE}
authorization:
  mode: Webhook
serializeImagePulls: false
# A crashed container comes back within 2 s instead of after a backoff doubling to 5
# minutes: the chaos tests kill the same container many times in a row. (Beta, on by
# default since Kubernetes 1.35; a production node keeps the default.)
crashLoopBackOff: {maxContainerRestartPeriod: 2s}
# A test node: its disk may be fuller than a production node's would be.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
registerNode: true
YAML
# The kubelet sets vm.overcommit_memory, kernel.panic and kernel.panic_on_oops; node-down.sh
# puts back what was there before the first start.
if [ ! -f "$run/sysctl.orig" ]; then
  for key in vm.overcommit_memory kernel.panic kernel.panic_on_oops; do
    echo "$key $(sysctl -n "$key")"
  done >"$run/sysctl.orig"
fi
start kubelet "$cp_bin/kubelet" --config="$kl/config.yaml" --kubeconfig="$KUBE_KUBELET_KUBECONFIG" \
  --root-dir="$kl/root" --cert-dir="$kl/pki" --hostname-override="$node_name" \
  --node-ip="$node_ip" --v=1

# --- controller manager, scheduler, kube-proxy -------------------------------------------------
start kube-controller-manager "$cp_bin/kube-controller-manager" \
  --kubeconfig="$KUBE_CONTROLLER_MANAGER_KUBECONFIG" \
  --authentication-kubeconfig="$KUBE_CONTROLLER_MANAGER_KUBECONFIG" \
  --authorization-kubeconfig="$KUBE_CONTROLLER_MANAGER_KUBECONFIG" \
  --service-account-private-key-file="$KUBE_SA_KEY_FILE" --root-ca-file="$KUBE_CA_FILE" \
  --use-service-account-credentials=true --service-cluster-ip-range="$service_cidr" \
  --cluster-cidr="$pod_cidr" --allocate-node-cidrs=false --leader-elect=false \
  --bind-address=127.0.0.1 --secure-port="$(free_port)" --v=1
start kube-scheduler "$cp_bin/kube-scheduler" --kubeconfig="$KUBE_SCHEDULER_KUBECONFIG" \
  --authentication-kubeconfig="$KUBE_SCHEDULER_KUBECONFIG" \
  --authorization-kubeconfig="$KUBE_SCHEDULER_KUBECONFIG" \
  --leader-elect=false --bind-address=127.0.0.1 --secure-port="$(free_port)" --v=1
cat >"$run/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $KUBE_PROXY_KUBECONFIG}
mode: iptables
hostnameOverride: $node_name
clusterCIDR: $pod_cidr
bindAddress: $node_ip
healthzBindAddress: 127.0.0.1:$(free_port)
metricsBindAddress: 127.0.0.1:$(free_port)
# Leave the host's conntrack sysctls alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
start kube-proxy "$cp_bin/kube-proxy" --config="$run/kube-proxy.yaml" --v=1

# --- Ready ---------------------------------------------------------------------------------------
node_ready() {
  [ "$(k get node "$node_name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
deadline=$((SECONDS + timeout))
until node_ready 2>/dev/null; do
  for c in containerd kubelet kube-controller-manager kube-scheduler kube-proxy; do
    alive "$c" || die "$c exited; last lines of $run/$c.log:
$(tail -n 15 "$run/$c.log")"
  done
  [ $SECONDS -lt $deadline ] || die "node $node_name not Ready within ${timeout}s; see $run/kubelet.log"
  sleep 1
done
# The token controller's first ServiceAccount: pods can be admitted from here on.
wait_for 60 "ServiceAccount default/default" k get serviceaccount default -n default

cat >"$state/node.env" <<ENV
KUBECONFIG=$KUBECONFIG
KUBECTL=$KUBECTL
KUBE_APISERVER_URL=$KUBE_APISERVER_URL
NODE_NAME=$node_name
NODE_IP=$node_ip
POD_CIDR=$pod_cidr
SERVICE_CIDR=$service_cidr
CONTAINERD_ADDRESS=$sock
PAUSE_IMAGE=$pause_image
ENV
echo "node-up: node $node_name Ready (Kubernetes $KUBERNETES_VERSION, containerd $(containerd --version | awk '{print $3}')), apiserver $KUBE_APISERVER_URL; env in $state/node.env"
