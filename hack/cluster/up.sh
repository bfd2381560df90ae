#!/usr/bin/env bash
# Brings up a one-node Kubernetes cluster on this machine (`make cluster-up`), idempotently:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd and kubelet run
# as host processes listening on 127.0.0.1 only; the node is named 127.0.0.1 so kubelet and
# hostNetwork pods are reached there too. Other pods get a network namespace of their own
# whose eth0 routes nowhere (step_cni). Prints the admin kubeconfig path on its last line.
# State: $CLUSTER_ROOT (/var/lib/csi-jfs-cluster) and $CLUSTER_RUN (/run/csi-jfs-cluster),
# both removed by down.sh. Binaries are cached under $CACHE (/var/cache/csi-jfs), by version.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
IMAGES_DIR=$(cd "$HERE_CLUSTER/../images" && pwd)
[ "$(id -u)" = 0 ] || die "run as root (the node needs mounts, cgroups and containerd)"
start=$SECONDS

step_packages() {
  local want=(containerd runc containernetworking-plugins iproute2 etcd-server openssl curl jq gcc libc6-dev
    debootstrap busybox-static) missing=() p
  for p in "${want[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -eq 0 ]; then log "packages: present"; return; fi
  log "packages: apt-get install ${missing[*]}"
  # Debian's etcd and containerd packages would start their own services: forbid that
  # while installing, unless the machine already forbids it.
  local policy=/usr/sbin/policy-rc.d made_policy=
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1; fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
  [ -z "$made_policy" ] || rm -f "$policy"
}

# start_daemon NAME COMMAND...: runs COMMAND in its own session, logging to $LOGS/NAME.log.
start_daemon() {
  local name=$1; shift
  if running "$name"; then log "$name: already running (pid $(cat "$PIDS/$name.pid"))"; return; fi
  log "$name: starting"
  # Daemons get only stdio: an inherited descriptor (a caller's `flock` on the cluster, a
  # pipe) would otherwise live as long as the cluster and hold its caller up.
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] && eval "exec $fd>&-"
    done
    exec setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null
  ) &
  echo $! >"$PIDS/$name.pid"
}

step_dirs() {
  mkdir -p "$CLUSTER_ROOT" "$CLUSTER_RUN" "$PIDS" "$LOGS" "$KUBELET_ROOT" "$CLUSTER_ROOT/cni/net.d"
  # Bidirectional mount propagation (kubelet dir, the node plugin's state dir) needs the
  # host side on a shared mount: make the cluster root its own shared mount point.
  if ! grep -q " $CLUSTER_ROOT " /proc/self/mountinfo; then
    mount --bind "$CLUSTER_ROOT" "$CLUSTER_ROOT"
  fi
  mount --make-rshared "$CLUSTER_ROOT"
  if [ ! -e "$CLUSTER_ROOT/sysctl.saved" ]; then
    local k
    for k in "${KUBELET_SYSCTLS[@]}"; do echo "$k=$(sysctl -n "$k")"; done >"$CLUSTER_ROOT/sysctl.saved"
  fi
  # Paths outside the roots that kubelet, kube-controller-manager and the containerd shims
  # always use, whatever they are told: remember which ones this cluster creates.
  if [ ! -e "$CLUSTER_ROOT/made-dirs" ]; then
    local d
    for d in "${FIXED_DIRS[@]}"; do [ -e "$d" ] || echo "$d"; done >"$CLUSTER_ROOT/made-dirs"
  fi
}

step_etcd() {
  start_daemon etcd etcd --name csi-jfs-test --data-dir "$CLUSTER_ROOT/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "csi-jfs-test=http://127.0.0.1:$ETCD_PEER_PORT" \
    --quota-backend-bytes 2147483648 --log-level warn
  wait_for 60 "etcd health" curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
}

step_apiserver() {
  start_daemon kube-apiserver "$K8S_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
    --endpoint-reconciler-type none \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=true --profiling=false --v=1
  wait_for 120 "kube-apiserver /readyz" curl -fsS --cacert "$PKI/ca.crt" \
    --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://127.0.0.1:$API_PORT/readyz"
}

step_controllers() {
  start_daemon kube-controller-manager "$K8S_BIN/kube-controller-manager" \
    --kubeconfig "$CLUSTER_ROOT/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$CLUSTER_ROOT/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$CLUSTER_ROOT/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false \
    --root-ca-file "$PKI/ca.crt" --service-account-private-key-file "$PKI/sa.key" \
    --flex-volume-plugin-dir "$CLUSTER_ROOT/volume-plugins" \
    --use-service-account-credentials=true --profiling=false --v=1
  start_daemon kube-scheduler "$K8S_BIN/kube-scheduler" \
    --kubeconfig "$CLUSTER_ROOT/scheduler.kubeconfig" \
    --authentication-kubeconfig "$CLUSTER_ROOT/scheduler.kubeconfig" \
    --authorization-kubeconfig "$CLUSTER_ROOT/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false --v=1
}

step_cni() {
  # Every pod that is not hostNetwork gets its own network namespace with an eth0 that routes
  # nowhere (hack/cluster/cni/csi-jfs-isolated): a veth whose host end stays down, an address
  # from 127.200.0.0/16 (host-local, its reservations under the cluster root), no route. A pod
  # can use its own addresses and loopback and nothing else; no packet leaves its namespace.
  local bin="$CLUSTER_ROOT/cni/bin" p
  mkdir -p "$bin" "$CLUSTER_ROOT/cni/net.d"
  for p in loopback host-local; do
    [ -x "/usr/lib/cni/$p" ] || die "no /usr/lib/cni/$p (Debian package containernetworking-plugins)"
    ln -sfn "/usr/lib/cni/$p" "$bin/$p"
  done
  install -m 755 "$HERE_CLUSTER/cni/csi-jfs-isolated" "$bin/csi-jfs-isolated"
  rm -f "$CLUSTER_ROOT/cni/net.d/10-csi-jfs-host-only.conflist"
  cat >"$CLUSTER_ROOT/cni/net.d/10-csi-jfs-isolated.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "csi-jfs-isolated", "plugins": [{"type": "csi-jfs-isolated",
  "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "dataDir": "$CLUSTER_ROOT/cni/ipam"}}]}
JSON
}

step_containerd() {
  cat >"$CLUSTER_ROOT/containerd.toml" <<TOML
version = 2
root = "$CONTAINERD_ROOT"
state = "$CLUSTER_RUN/containerd"
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CONTAINERD_ROOT/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # This machine grants root no CAP_SYS_RESOURCE, so no process may lower its OOM score
  # below containerd's (kubelet asks -998 for sandboxes): clamp instead of failing runc.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$CLUSTER_RUN/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CLUSTER_ROOT/cni/bin"
    conf_dir = "$CLUSTER_ROOT/cni/net.d"
TOML
  mkdir -p "$CLUSTER_RUN/containerd"
  start_daemon containerd containerd --config "$CLUSTER_ROOT/containerd.toml"
  wait_for 60 "containerd socket" ctr --address "$CONTAINERD_SOCK" version
}

step_pause_image() {
  log "pause image: $PAUSE_IMAGE"
  "$IMAGES_DIR/build-pause.sh" >/dev/null
}

step_kubelet() {
  cat >"$CLUSTER_ROOT/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet.crt
tlsPrivateKeyFile: $PKI/kubelet.key
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
failSwapOn: false
makeIPTablesUtilChains: false
podLogsDir: $CLUSTER_ROOT/pod-logs
volumePluginDir: $CLUSTER_ROOT/volume-plugins
resolvConf: /etc/resolv.conf
# Ordinary pods (dnsPolicy ClusterFirst) get this nameserver, which no one serves: in a pod's
# namespace every 127/8 address is the pod's own loopback, so a lookup fails at once, locally.
clusterDNS: [$CLUSTER_DNS]
clusterDomain: cluster.local
# Images are imported, never pulled: keep them however full the disk gets.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
syncFrequency: 10s
fileCheckFrequency: 10s
YAML
  start_daemon kubelet "$K8S_BIN/kubelet" --config "$CLUSTER_ROOT/kubelet.yaml" \
    --kubeconfig "$CLUSTER_ROOT/kubelet.kubeconfig" --root-dir "$KUBELET_ROOT" \
    --cert-dir "$PKI" --hostname-override "$NODE_NAME" --v=1
  wait_for 120 "node $NODE_NAME to register" kubectl_admin get node "$NODE_NAME"
  kubectl_admin wait --for=condition=Ready "node/$NODE_NAME" --timeout=120s >/dev/null ||
    die "node $NODE_NAME is not Ready (see $LOGS/kubelet.log)"
}

step_packages
log "kubernetes $K8S_VERSION binaries"; "$HERE_CLUSTER/build-k8s.sh" >/dev/null
log "CSI sidecar binaries"; "$HERE_CLUSTER/build-sidecars.sh" >/dev/null
step_dirs
log "certificates and kubeconfigs"; "$HERE_CLUSTER/pki.sh"
step_etcd
step_apiserver
step_controllers
step_cni
step_containerd
step_pause_image
step_kubelet
log "node $NODE_NAME Ready after $((SECONDS - start))s; kubectl: $K8S_BIN/kubectl"
log "export KUBECONFIG=$KUBECONFIG_ADMIN"
echo "$KUBECONFIG_ADMIN"
