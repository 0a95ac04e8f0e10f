#!/usr/bin/env bash
# Starts etcd and kube-apiserver (built by build-control-plane.sh) on loopback and writes
# <state>/apiserver.env:
#   KUBECONFIG=<admin kubeconfig: CN=kappa-admin, O=system:masters>
#   KAPPA_RESTRICTED_KUBECONFIG=<kubeconfig of CN=kappa-restricted, no groups, no RBAC grants>
#   KUBE_APISERVER_URL=https://127.0.0.1:<port>
#   ETCD_URL=http://127.0.0.1:<port>   (etcd's v3 JSON gateway is on: see etcd-compact.sh)
#   KUBE_CA_FILE, KUBE_ADMIN_CERT_FILE, KUBE_ADMIN_KEY_FILE, KUBE_RESTRICTED_CERT_FILE,
#   KUBE_RESTRICTED_KEY_FILE, KUBECTL=<kubectl of the same version>
# Ports are free ones picked at start; etcd data lives in a fresh temporary directory;
# certificates, kubeconfigs and logs in <state>/apiserver. Idempotent: a control plane
# already running for <state> is reused.
#
# RBAC is on and there are no controllers: the ServiceAccount admission plugin is off, so
# pods and other objects can be created without a token controller. The watch cache is off
# (KAPPA_APISERVER_WATCH_CACHE=true turns it on), so a watch from a resourceVersion that
# etcd has compacted away gets 410 Gone: etcd-compact.sh <state> forces that.
#
# KAPPA_APISERVER_NODE=<address> starts the control plane of a real node instead
# (e2e/node/node-up.sh): kube-apiserver listens on that address (the node bridge's, which
# pods reach), with the Node authorizer, ServiceAccount and NodeRestriction admission, the
# watch cache on, Services from KAPPA_SERVICE_CIDR (default 198.19.0.0/24) and the lease
# endpoint reconciler; certificates and kubeconfigs for the kubelet, the controller manager,
# the scheduler and kube-proxy are written beside the admin's.
#
#   apiserver-up.sh [STATE_DIR]      (default: .local in the repository)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
state=${1:-$repo/.local}
mkdir -p "$state"
state=$(cd "$state" && pwd)
run="$state/apiserver"
envfile="$state/apiserver.env"
timeout=${KAPPA_APISERVER_START_TIMEOUT:-90}

alive() { [ -f "$run/$1.pid" ] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }
ready() { # ready URL: the admin client gets "ok" from /readyz
  [ "$(curl -sS --max-time 5 --cacert "$run/pki/ca.crt" --cert "$run/pki/admin.crt" \
    --key "$run/pki/admin.key" "$1/readyz" 2>/dev/null)" = "ok" ]
}

if alive etcd && alive kube-apiserver && [ -f "$envfile" ]; then
  # shellcheck disable=SC1090
  url=$(source "$envfile" && echo "$KUBE_APISERVER_URL")
  if ready "$url"; then
    echo "apiserver: already running at $url (pids etcd $(cat "$run/etcd.pid"), kube-apiserver $(cat "$run/kube-apiserver.pid"))"
    exit 0
  fi
fi
# Whatever is left of an earlier start for this state (one process died, or no env file).
if [ -d "$run" ]; then
  "$here/apiserver-down.sh" "$state" >/dev/null
fi

"$here/build-control-plane.sh"
for tool in openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "apiserver: $tool not found (run e2e/cluster/build-control-plane.sh)" >&2; exit 1; }
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ports=()
while [ ${#ports[@]} -lt 3 ]; do
  p=$(free_port)
  [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
done
etcd_port=${ports[0]} peer_port=${ports[1]} api_port=${ports[2]}
etcd_url="http://127.0.0.1:$etcd_port"
node_ip=${KAPPA_APISERVER_NODE:-}
service_cidr=${KAPPA_SERVICE_CIDR:-198.19.0.0/24}
# The first address of the Service range: the ClusterIP of the `kubernetes` Service.
service_ip=$(python3 -c 'import ipaddress, sys; print(ipaddress.ip_network(sys.argv[1])[1])' "$service_cidr")
api_host=${node_ip:-127.0.0.1}
api_url="https://$api_host:$api_port"

mkdir -p "$run/pki"
pki="$run/pki"
data=$(mktemp -d "${TMPDIR:-/tmp}/kappa-etcd.XXXXXX")
echo "$data" >"$run/datadir"

# --- certificates -------------------------------------------------------------------------
ossl() { # run openssl quietly, and on failure show what it said
  if ! openssl "$@" >"$run/openssl.log" 2>&1; then
    echo "apiserver: openssl $1 failed:" >&2
    cat "$run/openssl.log" >&2
    exit 1
  fi
}
ossl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key"
ossl req -x509 -new -key "$pki/ca.key" -sha256 -days 365 -subj "/CN=kappa-local-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$pki/ca.crt"
issue() { # issue NAME SUBJECT EXTENSIONS...
  local name=$1 subj=$2
  shift 2
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" "$@" \
    >"$pki/$name.ext"
  ossl ecparam -name prime256v1 -genkey -noout -out "$pki/$name.key"
  ossl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr"
  ossl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -sha256 -days 365 -extfile "$pki/$name.ext" -out "$pki/$name.crt"
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}
san="IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
if [ -n "$node_ip" ]; then san="$san,IP:$node_ip,IP:$service_ip"; else san="$san,IP:10.0.0.1"; fi
issue serving "/CN=kube-apiserver" "extendedKeyUsage=serverAuth" "subjectAltName=$san"
issue admin "/O=system:masters/CN=kappa-admin" "extendedKeyUsage=clientAuth"
issue restricted "/CN=kappa-restricted" "extendedKeyUsage=clientAuth"
if [ -n "$node_ip" ]; then
  node_name=${KAPPA_NODE_NAME:-kappa-node}
  issue kubelet "/O=system:nodes/CN=system:node:$node_name" "extendedKeyUsage=clientAuth"
  issue controller-manager "/CN=system:kube-controller-manager" "extendedKeyUsage=clientAuth"
  issue scheduler "/CN=system:kube-scheduler" "extendedKeyUsage=clientAuth"
  issue kube-proxy "/CN=system:kube-proxy" "extendedKeyUsage=clientAuth"
  # The apiserver's client certificate towards kubelets (logs, exec, port-forward).
  issue apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" \
    "extendedKeyUsage=clientAuth"
fi
# Service account tokens are signed with this pair.
ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key"
ossl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
chmod 600 "$pki"/*.key

kubeconfig() { # kubeconfig USER -> writes $run/USER.kubeconfig with the data inlined
  local user=$1 b64="base64 -w0"
  cat >"$run/$user.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: kappa-local
  cluster:
    server: $api_url
    certificate-authority-data: $($b64 <"$pki/ca.crt")
users:
- name: kappa-$user
  user:
    client-certificate-data: $($b64 <"$pki/$user.crt")
    client-key-data: $($b64 <"$pki/$user.key")
contexts:
- name: kappa-$user@kappa-local
  context:
    cluster: kappa-local
    user: kappa-$user
    namespace: default
current-context: kappa-$user@kappa-local
KC
  chmod 600 "$run/$user.kubeconfig"
}
kubeconfig admin
kubeconfig restricted
if [ -n "$node_ip" ]; then
  for user in kubelet controller-manager scheduler kube-proxy; do kubeconfig "$user"; done
fi

# --- etcd ---------------------------------------------------------------------------------
etcd_args=(
  --name=kappa --data-dir="$data/etcd"
  --listen-client-urls="$etcd_url" --advertise-client-urls="$etcd_url"
  --listen-peer-urls="http://127.0.0.1:$peer_port"
  --initial-advertise-peer-urls="http://127.0.0.1:$peer_port"
  --initial-cluster="kappa=http://127.0.0.1:$peer_port"
  --initial-cluster-state=new
  --enable-grpc-gateway=true
  --unsafe-no-fsync=true
  --log-level=warn
)
printf '%s\n' "${etcd_args[@]}" >"$run/etcd.args"
nohup "$cp_bin/etcd" "${etcd_args[@]}" >"$run/etcd.log" 2>&1 </dev/null &
echo $! >"$run/etcd.pid"

deadline=$((SECONDS + timeout))
until curl -sS --max-time 2 "$etcd_url/health" 2>/dev/null | grep -q '"health":"true"'; do
  if ! alive etcd; then
    echo "apiserver: etcd exited during start; last lines of $run/etcd.log:" >&2
    tail -n 20 "$run/etcd.log" >&2
    exit 1
  fi
  if [ $SECONDS -ge $deadline ]; then
    echo "apiserver: etcd did not become healthy within ${timeout}s; see $run/etcd.log" >&2
    exit 1
  fi
  sleep 0.2
done

# --- kube-apiserver -------------------------------------------------------------------------
# Flags follow controller-runtime envtest's defaults for its kube-apiserver, with our own
# certificates and a second user.
api_args=(
  --etcd-servers="$etcd_url"
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port"
  --cert-dir="$pki" --tls-cert-file="$pki/serving.crt" --tls-private-key-file="$pki/serving.key"
  --client-ca-file="$pki/ca.crt"
  --authorization-mode=RBAC
  --service-account-issuer="$api_url"
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key"
  --allow-privileged=true
  --profiling=false
  --v="${KAPPA_APISERVER_VERBOSITY:-1}"
)
if [ -n "$node_ip" ]; then
  api_args=("${api_args[@]/--authorization-mode=RBAC/--authorization-mode=Node,RBAC}")
  api_args=("${api_args[@]/--bind-address=127.0.0.1/--bind-address=$node_ip}")
  api_args=("${api_args[@]/--advertise-address=127.0.0.1/--advertise-address=$node_ip}")
  api_args+=(
    --service-cluster-ip-range="$service_cidr"
    --enable-admission-plugins=NodeRestriction
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt"
    --kubelet-client-key="$pki/apiserver-kubelet-client.key"
    --kubelet-preferred-address-types=InternalIP
    --watch-cache="${KAPPA_APISERVER_WATCH_CACHE:-true}"
  )
else
  api_args+=(
    --service-cluster-ip-range=10.0.0.0/24
    --disable-admission-plugins=ServiceAccount
    --endpoint-reconciler-type=none
    --watch-cache="${KAPPA_APISERVER_WATCH_CACHE:-false}"
  )
fi
printf '%s\n' "${api_args[@]}" >"$run/kube-apiserver.args"
nohup "$cp_bin/kube-apiserver" "${api_args[@]}" >"$run/kube-apiserver.log" 2>&1 </dev/null &
echo $! >"$run/kube-apiserver.pid"

# Ready: /readyz says ok (RBAC bootstrap roles included) and the default namespace exists.
until ready "$api_url" && [ "$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' \
    --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "$api_url/api/v1/namespaces/default" 2>/dev/null)" = "200" ]; do
  if ! alive kube-apiserver; then
    echo "apiserver: kube-apiserver exited during start; last lines of $run/kube-apiserver.log:" >&2
    tail -n 20 "$run/kube-apiserver.log" >&2
    exit 1
  fi
  if [ $SECONDS -ge $deadline ]; then
    echo "apiserver: kube-apiserver not ready within ${timeout}s; see $run/kube-apiserver.log" >&2
    exit 1
  fi
  sleep 0.3
done

cat >"$envfile.tmp" <<ENV
KUBECONFIG=$run/admin.kubeconfig
KAPPA_RESTRICTED_KUBECONFIG=$run/restricted.kubeconfig
KUBE_APISERVER_URL=$api_url
ETCD_URL=$etcd_url
KUBE_CA_FILE=$pki/ca.crt
KUBE_ADMIN_CERT_FILE=$pki/admin.crt
KUBE_ADMIN_KEY_FILE=$pki/admin.key
KUBE_RESTRICTED_CERT_FILE=$pki/restricted.crt
KUBE_RESTRICTED_KEY_FILE=$pki/restricted.key
KUBECTL=$cp_bin/kubectl
ENV
if [ -n "$node_ip" ]; then
  cat >>"$envfile.tmp" <<ENV
KUBE_SERVICE_CIDR=$service_cidr
KUBE_SERVICE_IP=$service_ip
KUBE_SA_KEY_FILE=$pki/sa.key
KUBE_KUBELET_KUBECONFIG=$run/kubelet.kubeconfig
KUBE_CONTROLLER_MANAGER_KUBECONFIG=$run/controller-manager.kubeconfig
KUBE_SCHEDULER_KUBECONFIG=$run/scheduler.kubeconfig
KUBE_PROXY_KUBECONFIG=$run/kube-proxy.kubeconfig
ENV
fi
mv -f "$envfile.tmp" "$envfile"
echo "apiserver: kube-apiserver $KUBERNETES_VERSION up at $api_url, etcd $ETCD_VERSION at $etcd_url" \
  "(pids $(cat "$run/kube-apiserver.pid"), $(cat "$run/etcd.pid"); env in $envfile)"
