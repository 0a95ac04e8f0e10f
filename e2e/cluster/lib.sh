# Shared by the e2e/cluster scripts (sourced, not run). Sets, from controlplane/versions.env:
#   KUBERNETES_VERSION ETCD_VERSION  the pinned versions
#   kappa_cache                      ~/.cache/kappa (or $KAPPA_CACHE)
#   cp_dir / cp_bin                  where the built binaries live:
#                                    <cache>/control-plane-<k8s>-etcd-<etcd>/bin/{etcd,kube-apiserver,kubectl}
cluster_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC1091
source "$cluster_dir/controlplane/versions.env"
kappa_cache=${KAPPA_CACHE:-$HOME/.cache/kappa}
cp_dir="$kappa_cache/control-plane-$KUBERNETES_VERSION-etcd-$ETCD_VERSION"
cp_bin="$cp_dir/bin"
