#!/usr/bin/env bash
# e2e.node_smoke: the local node as a cluster user sees it. Starts it (node-up.sh) in
# STATE_DIR, then checks with kubectl:
#   - the node is Ready and reports containerd;
#   - a Deployment's pods are scheduled by kube-scheduler, created by the controller manager
#     and run by the kubelet, with pod IPs from the pod range and a ServiceAccount token
#     mounted (ServiceAccount admission and the token controller at work);
#   - kube-proxy has programmed the `kubernetes` Service;
#   - a ResourceQuota is enforced by the apiserver: a Deployment asking for more pods than
#     the quota allows gets them up to the quota, and says why in its ReplicaFailure
#     condition (the quota's own message);
#   - kill -9 of a container's process: the kubelet restarts it;
# and finally that node-down.sh leaves no process, mount, bridge, iptables chain or cgroup.
#
#   smoke-test.sh [STATE_DIR]
state=${1:-$(mktemp -d "${TMPDIR:-/tmp}/kappa-node.XXXXXX")}
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

say "starting the node in $state"
node_start
say "$(tail -n 1 "$state/node-up.log")"

runtime=$(k get node "$NODE_NAME" -o jsonpath='{.status.nodeInfo.containerRuntimeVersion}')
[[ $runtime == containerd://* ]] || fail "node reports runtime '$runtime', want containerd"
k get nodes -o wide

ns=smoke
k create namespace "$ns" >/dev/null
deployment() { # deployment NAME REPLICAS
  cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1, namespace: $ns}
spec:
  replicas: $2
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: pause
          image: $PAUSE_IMAGE
          imagePullPolicy: Never
          resources:
            requests: {cpu: 10m, memory: 16Mi}
            limits: {cpu: 100m, memory: 32Mi}
YAML
}
say "a Deployment of 2 pods"
deployment sleeper 2 | k apply -f - >/dev/null
running() { [ "$(k get pods -n "$ns" -l app="$1" --field-selector=status.phase=Running -o name | wc -l)" -ge "$2" ]; }
wait_for 120 "2 Running pods of Deployment sleeper" running sleeper 2
k get pods -n "$ns" -o wide
for ip in $(k get pods -n "$ns" -l app=sleeper -o jsonpath='{.items[*].status.podIP}'); do
  python3 -c 'import ipaddress, sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network(sys.argv[2]))' \
    "$ip" "$POD_CIDR" || fail "pod IP $ip is outside the pod range $POD_CIDR"
done
pod=$(k get pods -n "$ns" -l app=sleeper -o jsonpath='{.items[0].metadata.name}')
vols=$(k get pod "$pod" -n "$ns" -o jsonpath='{.spec.volumes[*].projected.sources[*].serviceAccountToken.path}')
[[ $vols == *token* ]] || fail "pod $pod has no ServiceAccount token volume (ServiceAccount admission)"
scheduler=$(k get events -n "$ns" --field-selector "involvedObject.name=$pod,reason=Scheduled" -o jsonpath='{.items[0].source.component}{.items[0].reportingComponent}')
[[ $scheduler == *scheduler* ]] || fail "pod $pod has no Scheduled event from the scheduler ('$scheduler')"

say "kube-proxy programs the kubernetes Service"
svc_ip=$(k get service kubernetes -n default -o jsonpath='{.spec.clusterIP}')
wait_for 60 "iptables rules of Service default/kubernetes ($svc_ip)" \
  bash -c "iptables -t nat -S KUBE-SERVICES | grep -q -- '-d $svc_ip/32'"

say "kill -9 of a container's process: the kubelet restarts it"
cid=$(k get pod "$pod" -n "$ns" -o jsonpath='{.status.containerStatuses[0].containerID}')
cid=${cid#containerd://}
pid=$(ctr --address "$CONTAINERD_ADDRESS" -n k8s.io tasks ls | awk -v c="$cid" '$1 == c {print $2}')
[ -n "$pid" ] || fail "no task for container $cid of $pod"
kill -9 "$pid"
restarted() { [ "$(k get pod "$pod" -n "$ns" -o jsonpath='{.status.containerStatuses[0].restartCount}')" -ge 1 ] &&
  [ "$(k get pod "$pod" -n "$ns" -o jsonpath='{.status.containerStatuses[0].ready}')" = true ]; }
wait_for 60 "container of $pod restarted after kill -9" restarted

say "a ResourceQuota of 3 pods and a Deployment asking for 4 more"
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: ResourceQuota
metadata: {name: pods, namespace: $ns}
spec: {hard: {pods: "3"}}
YAML
wait_for 30 "quota status" bash -c "[ -n \"\$('$KUBECTL' --kubeconfig '$KUBECONFIG' get resourcequota pods -n $ns -o jsonpath='{.status.used.pods}')\" ]"
deployment greedy 4 | k apply -f - >/dev/null
refused() {
  k get deployment greedy -n "$ns" -o jsonpath='{.status.conditions[?(@.type=="ReplicaFailure")].message}' | grep -q "exceeded quota"
}
wait_for 60 "ReplicaFailure 'exceeded quota' on Deployment greedy" refused
msg=$(k get deployment greedy -n "$ns" -o jsonpath='{.status.conditions[?(@.type=="ReplicaFailure")].message}')
say "Deployment greedy: $msg"
wait_for 60 "1 Running pod of greedy (3 - 2 of sleeper)" running greedy 1
[ "$(k get pods -n "$ns" -o name | wc -l)" -le 3 ] || fail "more pods than the quota allows"

say "node-down leaves nothing behind"
node_downed=1
"$node_dir/node-down.sh" "$state" || fail "node-down reported leftovers"
left=$(pgrep -f "$state/" || true)
[ -z "$left" ] || fail "processes of the node still run: $(ps -o pid,cmd -p "$(echo "$left" | tr '\n' ',' | sed 's/,$//')")"
grep -q " $state/" /proc/self/mounts && fail "mounts under $state remain: $(grep " $state/" /proc/self/mounts)"
ip link show kappa0 >/dev/null 2>&1 && fail "bridge kappa0 remains"
for ipt in iptables ip6tables; do
  for table in filter nat mangle; do
    if "$ipt" -t "$table" -S 2>/dev/null | grep -qE -- '-N (KUBE-|KAPPA-NODE-)'; then
      fail "$ipt -t $table chains remain: $("$ipt" -t "$table" -S | grep -E -- '-N (KUBE-|KAPPA-NODE-)' | tr '\n' ' ')"
    fi
  done
done
ls -d /sys/fs/cgroup/*/kubepods 2>/dev/null && fail "kubepods cgroups remain"
say "PASS: node Ready, pods scheduled and run, quota enforced, restart after kill -9, clean teardown"
