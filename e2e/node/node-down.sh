#!/usr/bin/env bash
# Stops the node of STATE_DIR (e2e/node/node-up.sh) and undoes what it did: kube-proxy,
# the scheduler, the controller manager, the kubelet, every pod container and containerd are
# stopped; the mounts under the state directory (pod network namespaces, the kubelet's root,
# container filesystems), the KUBE-* and KAPPA-NODE-* iptables chains (IPv4 and IPv6), the
# bridge, the kubepods cgroups of every hierarchy and the kubelet's sysctl changes are
# removed or restored; containerd's image store is deleted (logs are kept); then the control
# plane (e2e/cluster/apiserver-down.sh). Reports what it could not undo and exits 1 then.
# Safe to run when nothing runs.
#
#   node-down.sh [STATE_DIR]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${1:-$repo/.local}
[ -d "$state" ] || exit 0
state=$(cd "$state" && pwd)
run="$state/node"
[ -d "$run" ] && run=$(cd "$run" && pwd -P) # a link to a short directory (node-up.sh)
left=()

stop() { # stop NAME...: TERM to all, KILL to those left after 10 s
  local name pid pids=()
  for name in "$@"; do
    [ -f "$run/$name.pid" ] || continue
    pid=$(cat "$run/$name.pid")
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
  done
  for _ in $(seq 1 100); do
    local running=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && running=1; done
    [ $running = 0 ] && break
    sleep 0.1
  done
  for name in "$@"; do
    [ -f "$run/$name.pid" ] || continue
    pid=$(cat "$run/$name.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null
      sleep 0.5
      kill -0 "$pid" 2>/dev/null && left+=("process $name ($pid)")
    fi
    rm -f "$run/$name.pid"
  done
}

if [ -d "$run" ]; then
  stop kube-proxy kube-scheduler kube-controller-manager kubelet
  sock="$run/containerd/containerd.sock"
  if [ -S "$sock" ] && [ -f "$run/containerd.pid" ] && kill -0 "$(cat "$run/containerd.pid")" 2>/dev/null; then
    # Every container of every pod, sandboxes included.
    for t in $(ctr --address "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$sock" -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1
    done
    for _ in $(seq 1 50); do
      [ -z "$(ctr --address "$sock" -n k8s.io tasks ls -q 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
  stop containerd
  # containerd-shim processes of this stack outlive containerd; so would their containers.
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $sock" 2>/dev/null); do
    kill -KILL "$pid" 2>/dev/null
  done
  # Processes still running in a pod cgroup (the containers of a killed shim).
  for procs in /sys/fs/cgroup/*/kubepods/cgroup.procs; do
    [ -f "$procs" ] || continue
    find "$(dirname "$procs")" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null
  done
  sleep 0.5
fi

# Mounts under the state directory, deepest first (container rootfs, shm, netns, the
# kubelet's bind mount of its root directory onto itself).
if [ -d "$run" ]; then
  for _ in 1 2 3; do
    mapfile -t mounts < <(awk -v r="$run/" 'index($2, r) == 1 {print $2}' /proc/self/mounts | sort -r)
    [ ${#mounts[@]} -eq 0 ] && break
    for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
  done
  mapfile -t mounts < <(awk -v r="$run/" 'index($2, r) == 1 {print $2}' /proc/self/mounts)
  if [ ${#mounts[@]} -eq 0 ]; then
    # The images and container filesystems (about 1 GB a node): every node-up imports its
    # images again, so only the logs are kept. KAPPA_NODE_KEEP_IMAGES=1 keeps them.
    [ "${KAPPA_NODE_KEEP_IMAGES:-0}" = 1 ] || rm -rf "$run/containerd/root" "$run/containerd/state" "$run/kubelet/root"
  else
    left+=("mounts: ${mounts[*]}")
  fi
fi

# iptables: kube-proxy's and the kubelet's chains, and our guard.
for ipt in iptables ip6tables; do
  command -v "$ipt" >/dev/null || continue
  for table in filter nat mangle; do
    # Rules that jump to a KUBE-/KAPPA-NODE- chain, from any chain.
    # (-S quotes comments the way a shell reads them: eval undoes the quoting)
    "$ipt" -t "$table" -S 2>/dev/null | grep -E -- '-j (KUBE-|KAPPA-NODE-)' | grep '^-A' |
      while read -r _ rule; do
        eval "\"\$ipt\" -t \"\$table\" -D $rule" 2>/dev/null
      done
    for chain in $("$ipt" -t "$table" -S 2>/dev/null | awk '$1 == "-N" && ($2 ~ /^KUBE-/ || $2 ~ /^KAPPA-NODE-/) {print $2}'); do
      "$ipt" -t "$table" -F "$chain" 2>/dev/null
    done
    for chain in $("$ipt" -t "$table" -S 2>/dev/null | awk '$1 == "-N" && ($2 ~ /^KUBE-/ || $2 ~ /^KAPPA-NODE-/) {print $2}'); do
      "$ipt" -t "$table" -X "$chain" 2>/dev/null || left+=("$ipt -t $table chain $chain")
    done
  done
done

# The bridge (its veths went with the pods' network namespaces).
bridge=$(cat "$run/bridge" 2>/dev/null || echo "${KAPPA_NODE_BRIDGE:-kappa0}")
if ip link show "$bridge" >/dev/null 2>&1; then
  ip link delete "$bridge" 2>/dev/null || left+=("bridge $bridge")
fi
for veth in $(ip -o link show type veth 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
  ip link show "$veth" 2>/dev/null | grep -q "master $bridge" && ip link delete "$veth" 2>/dev/null
done

# The pods' cgroups in every hierarchy, leaves first.
for root in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/kubepods.slice; do
  [ -d "$root" ] || continue
  find "$root" -depth -type d -exec rmdir {} \; 2>/dev/null
  [ -d "$root" ] && left+=("cgroup $root")
done

# Sysctls the kubelet changed, as they were before it started.
if [ -f "$run/sysctl.orig" ]; then
  while read -r key value; do
    sysctl -qw "$key=$value" >/dev/null 2>&1 || left+=("sysctl $key")
  done <"$run/sysctl.orig"
  rm -f "$run/sysctl.orig"
fi
rm -f /var/lib/kubelet/device-plugins/kubelet.sock 2>/dev/null
rmdir -p /var/lib/kubelet/device-plugins 2>/dev/null

KAPPA_APISERVER_STOP_SECONDS=5 "$repo/e2e/cluster/apiserver-down.sh" "$state" >/dev/null 2>&1 ||
  left+=("control plane (e2e/cluster/apiserver-down.sh)")
rm -f "$state/node.env"

if [ ${#left[@]} -gt 0 ]; then
  printf 'node-down: could not undo: %s\n' "${left[@]}" >&2
  exit 1
fi
echo "node-down: stopped; nothing of the node left"
