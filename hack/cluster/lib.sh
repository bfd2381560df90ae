# Shared settings and helpers for hack/cluster/*.sh: where things live, logging, waiting.
# shellcheck shell=bash
HERE_CLUSTER=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.sh
. "$HERE_CLUSTER/versions.sh"

CACHE=${CSI_JFS_CACHE:-/var/cache/csi-jfs}
K8S_BIN="$CACHE/k8s-$K8S_VERSION/bin"
SIDECAR_BIN="$CACHE/csi-sidecars/bin"

# Everything the running cluster owns lives under these two roots; down.sh removes both.
CLUSTER_ROOT=${CSI_JFS_CLUSTER_ROOT:-/var/lib/csi-jfs-cluster}
CLUSTER_RUN=${CSI_JFS_CLUSTER_RUN:-/run/csi-jfs-cluster}
PKI="$CLUSTER_ROOT/pki"
LOGS="$CLUSTER_ROOT/logs"
KUBELET_ROOT="$CLUSTER_ROOT/kubelet"
CONTAINERD_ROOT="$CLUSTER_ROOT/containerd"
CONTAINERD_SOCK="$CLUSTER_RUN/containerd/containerd.sock"
KUBECONFIG_ADMIN="$CLUSTER_ROOT/admin.kubeconfig"
NODE_NAME=127.0.0.1
API_PORT=6443
# Not etcd's usual ports, so a Debian etcd service someone started cannot collide.
ETCD_PORT=12379
ETCD_PEER_PORT=12380
# ClusterIPs are only allocated, never served (no kube-proxy): every client here is pointed
# at 127.0.0.1:$API_PORT. A loopback range makes a client that missed that fail on this
# machine (connection refused) instead of routing a private address off-host.
SERVICE_CIDR=127.0.100.0/24
# Pod addresses (hack/cluster/cni/csi-jfs-isolated) and the cluster DNS address pods are told
# of: loopback ranges, so nothing addressed to them can leave the machine.
POD_CIDR=127.200.0.0/16
CLUSTER_DNS=127.0.100.10
PAUSE_IMAGE=localhost/csi-jfs/pause:3.10.1

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND once a second until it succeeds.
wait_for() {
  local secs=$1 what=$2; shift 2
  local i
  for ((i = 0; i < secs; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  die "timed out after ${secs}s waiting for $what"
}

PIDS="$CLUSTER_RUN/pids"
# Fixed paths the cluster's programs create outside its roots: kubelet's device-plugin socket
# dir (/var/lib/kubelet/device-plugins, whatever --root-dir says) and container log links,
# the shims' sockets, kube-controller-manager's default flex-volume dir. up.sh records which
# of them did not exist before it; down.sh removes exactly those.
FIXED_DIRS=(/var/lib/kubelet /var/log/containers /run/containerd /usr/libexec/kubernetes)
# Kernel settings kubelet changes at start; up.sh saves them and down.sh puts them back.
KUBELET_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes)

# running NAME: whether the daemon up.sh started as NAME is alive.
running() {
  local pid
  pid=$(cat "$PIDS/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# module_dir MODULE VERSION: the module's source in the Go module cache (downloaded once).
module_dir() {
  local dir
  dir=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "$1@$2" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  [ -n "$dir" ] || die "go mod download $1@$2 gave no source directory"
  echo "$dir"
}

kubectl_admin() { "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }
ctr_k8s() { ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }
