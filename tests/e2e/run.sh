#!/usr/bin/env bash
# The e2e tier (`make e2e`, part of `make test`): brings the one-node test cluster up if it is
# not running, builds and imports the images, applies tests/e2e/overlay (deploy/ made local),
# runs the Deno suite in tests/e2e against it with kubectl, then removes what it created and
# checks that no mount or process was left behind. A cluster this run started is taken down
# again; one that was already up is left up (for quick reruns while developing).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$REPO/hack/cluster/lib.sh"
E2E_DATA=/var/lib/csi-jfs-e2e  # the Secret's metaurl and bucket live here (overlay/juicefs-e2e.yaml)
TEST_NS=csi-jfs-e2e
# Mount Pods where deploy/ runs them (the node DaemonSet says --mount-mode=pod), else the
# JuiceFS clients as the node plugin's child processes.
# E2E_OVERLAY and E2E_MOUNT_MODE together deploy another overlay (while developing one).
if [ -n "${E2E_OVERLAY:-}" ]; then
  MOUNT_MODE=${E2E_MOUNT_MODE:?E2E_OVERLAY needs E2E_MOUNT_MODE (pod or process)} OVERLAY=$(cd "$E2E_OVERLAY" && pwd)
elif grep -q -- '--mount-mode=pod' "$REPO/deploy/node.yaml"; then
  MOUNT_MODE=pod OVERLAY="$REPO/tests/e2e/overlay"
else
  MOUNT_MODE=process OVERLAY="$REPO/tests/e2e/overlay-process"
fi
# The sidecar injector too, where deploy/ has it (tests/e2e/overlay-sidecar).
SIDECAR=
if [ -z "${E2E_OVERLAY:-}" ] && [ "$MOUNT_MODE" = pod ] && [ -e "$REPO/deploy/sidecar-injector/kustomization.yaml" ]; then
  SIDECAR=1 OVERLAY="$REPO/tests/e2e/overlay-sidecar"
fi
# How the driver is installed: with the sidecar injector, from the Helm chart
# (deploy/helm/e2e-values.yaml, which `make helm` checks renders what overlay-sidecar does), so
# every `make test` runs the suite on the chart; otherwise with kustomize. E2E_INSTALL overrides.
INSTALL=${E2E_INSTALL:-$([ -n "$SIDECAR" ] && echo helm || echo kustomize)}
started_cluster=
deployed=
summary=
phase() { printf '\n[e2e %s] == %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
t0=$SECONDS

[ "$(id -u)" = 0 ] || die "run as root (the test cluster needs it)"
[ "$CLUSTER_ROOT" = /var/lib/csi-jfs-cluster ] || die "the overlay names /var/lib/csi-jfs-cluster; unset CSI_JFS_CLUSTER_ROOT"

phase "tools"
"$REPO/hack/install-tools.sh" packages >/dev/null
DENO_BIN="$("$REPO/hack/install-tools.sh" deno)/deno"
"$REPO/hack/install-tools.sh" juicefs >/dev/null

cleanup() {
  local rc=$? leaks=0
  trap - EXIT
  if running kube-apiserver; then
    phase "removing the test namespace"
    kubectl_admin delete namespace "$TEST_NS" --ignore-not-found --wait=true --timeout=180s >/dev/null 2>&1 ||
      log "the test namespace did not go away in 180s"
    kubectl_admin delete namespace -l jfs.csi.dev/e2e=true --ignore-not-found --wait=true --timeout=180s >/dev/null 2>&1 ||
      log "the suite's other namespaces did not go away in 180s"
  fi
  if [ -n "$deployed" ] && running kube-apiserver; then
    phase "removing the driver"
    # The namespace took its claims along; let the driver delete their volumes while it runs.
    wait_pvs_gone || log "some PersistentVolumes of jfs.csi.dev were not deleted"
    kubectl_admin delete storageclass -l jfs.csi.dev/e2e=true --ignore-not-found >/dev/null 2>&1 || true
    kubectl_admin delete volumesnapshotclass -l jfs.csi.dev/e2e=true --ignore-not-found >/dev/null 2>&1 || true
    kubectl_admin delete -k "$OVERLAY" --ignore-not-found --wait=true --timeout=180s >/dev/null 2>&1 ||
      log "the driver's objects did not all go away in 180s"
    kubectl_admin -n csi-jfs wait --for=delete pod --all --timeout=120s >/dev/null 2>&1 || true
    phase "checking for leaks"
    check_leaks || leaks=1
  fi
  rm -rf "$E2E_DATA"
  if [ -n "$started_cluster" ]; then
    phase "taking down the cluster this run started"
    CSI_JFS_CLUSTER_EXTRA_ROOTS="$E2E_DATA" "$REPO/hack/cluster/down.sh" || leaks=1
  fi
  [ "$leaks" = 0 ] || { log "e2e: leaks found (above)"; [ "$rc" != 0 ] || rc=1; }
  log "e2e: done in $((SECONDS - t0))s, exit $rc"
  [ -z "$summary" ] || echo "$summary"  # the closing line: the suite's counts
  exit "$rc"
}
trap cleanup EXIT

wait_pvs_gone() {
  local i
  for ((i = 0; i < 120; i++)); do
    [ -z "$(kubectl_admin get pv -o jsonpath='{range .items[?(@.spec.csi.driver=="jfs.csi.dev")]}{.metadata.name}{"\n"}{end}' 2>/dev/null)" ] && return 0
    sleep 1
  done
  return 1
}

# JuiceFS mounts and processes the driver made must be gone once its pods are.
check_leaks() {
  local bad=0 m p
  m=$(awk -v a="$CLUSTER_ROOT/" -v b="$E2E_DATA" '$9 ~ /^fuse/ && (index($5, a) == 1 || index($5, b) == 1) {print $5}' /proc/self/mountinfo)
  [ -z "$m" ] || { log "LEAK: FUSE mounts: $(echo $m)"; bad=1; }
  m=$(awk -v a="$KUBELET_ROOT/pods/" 'index($5, a) == 1 && $5 ~ /kubernetes.io~csi/ {print $5}' /proc/self/mountinfo)
  [ -z "$m" ] || { log "LEAK: CSI volume mounts in pods: $(echo $m)"; bad=1; }
  m=$(awk -v a="$KUBELET_ROOT/plugins/kubernetes.io/csi/" 'index($5, a) == 1 {print $5}' /proc/self/mountinfo)
  [ -z "$m" ] || { log "LEAK: CSI staging mounts: $(echo $m)"; bad=1; }
  p=$(cat /sys/fs/cgroup/pids/kubepods/*/*/*/cgroup.procs /sys/fs/cgroup/pids/kubepods/*/*/cgroup.procs 2>/dev/null |
    while read -r pid; do tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -E 'juicefs|csi-jfs|deno' | sed "s/^/$pid: /"; done)
  [ -z "$p" ] || { log "LEAK: driver processes after its pods were deleted:"; echo "$p" >&2; bad=1; }
  return $bad
}

phase "cluster"
if running kube-apiserver && running kubelet && kubectl_admin get node "$NODE_NAME" >/dev/null 2>&1; then
  log "using the running cluster"
else
  started_cluster=1
  "$REPO/hack/cluster/up.sh" >/dev/null
fi

driver_ready=
if [ -x "$REPO/bin/csi-jfs" ] && [ -e "$REPO/main.ts" ]; then driver_ready=1; fi

phase "images"
"$REPO/hack/images/build-sidecar-images.sh"
if [ -n "$driver_ready" ]; then
  "$REPO/hack/images/build-csi-jfs.sh"
else
  log "bin/csi-jfs or main.ts is not in the repo yet: no driver image, driver scenarios skipped"
fi

if [ -n "$driver_ready" ]; then
  # The cluster add-on VolumeSnapshots need (snapshot CRDs, snapshot-controller), before the
  # driver: its csi-snapshotter sidecar watches those CRDs.
  phase "snapshot add-on (external-snapshotter $SNAPSHOTTER_VERSION)"
  "$REPO/hack/cluster/snapshot-addon.sh"
  phase "deploying ${OVERLAY#"$REPO/"} (--mount-mode=$MOUNT_MODE${SIDECAR:+, sidecar injector}, by $INSTALL)"
  if kubectl_admin get namespace csi-jfs >/dev/null 2>&1; then
    log "removing what an earlier run left deployed"
    kubectl_admin delete namespace "$TEST_NS" --ignore-not-found --wait=true --timeout=180s >/dev/null
    kubectl_admin delete namespace -l jfs.csi.dev/e2e=true --ignore-not-found --wait=true --timeout=180s >/dev/null
    wait_pvs_gone || log "some PersistentVolumes of jfs.csi.dev were not deleted"
    kubectl_admin delete storageclass -l jfs.csi.dev/e2e=true --ignore-not-found >/dev/null
    kubectl_admin delete -k "$OVERLAY" --ignore-not-found --wait=true --timeout=180s >/dev/null
    kubectl_admin -n csi-jfs wait --for=delete pod --all --timeout=120s >/dev/null 2>&1 || true
  fi
  rm -rf "$E2E_DATA" && mkdir -p "$E2E_DATA/bucket"
  deployed=1
  if [ "$INSTALL" = helm ]; then
    log "installing from the Helm chart (deploy/helm/csi-jfs, values deploy/helm/e2e-values.yaml)"
    rendered=$(mktemp -d)
    make -s -C "$REPO" helm-template HELM_ARGS="-f deploy/helm/e2e-values.yaml" >"$rendered/chart.yaml"
    kubectl_admin kustomize "$OVERLAY" >"$rendered/overlay.yaml"
    "$DENO_BIN" run -A "$REPO/tests/e2e/chart_install.ts" "$rendered/chart.yaml" "$rendered/overlay.yaml" |
      kubectl_admin apply -f - >/dev/null
    rm -rf "$rendered"
  else
    kubectl_admin apply -k "$OVERLAY" >/dev/null
  fi
  if ! kubectl_admin -n csi-jfs rollout status deployment/csi-jfs-controller --timeout=180s ||
    ! kubectl_admin -n csi-jfs rollout status daemonset/csi-jfs-node --timeout=180s ||
    { [ -n "$SIDECAR" ] && ! kubectl_admin -n csi-jfs rollout status deployment/csi-jfs-sidecar-injector --timeout=180s; }; then
    kubectl_admin -n csi-jfs get pods -o wide >&2 || true
    kubectl_admin -n csi-jfs describe pods >&2 || true
    for app in csi-jfs-controller csi-jfs-node csi-jfs-sidecar-injector; do
      kubectl_admin -n csi-jfs logs -l "app=$app" --all-containers --prefix --tail=50 >&2 2>/dev/null || true
    done
    die "the driver did not become ready"
  fi
fi

phase "suite"
set +e
# Every secret value the suite makes carries this mark; no_secrets_test.ts looks for it.
E2E_DRIVER_DEPLOYED=${driver_ready:+1} KUBECTL="$K8S_BIN/kubectl" KUBECONFIG="$KUBECONFIG_ADMIN" \
  E2E_NODE_NAME="$NODE_NAME" E2E_META_DB="$E2E_DATA/meta.db" E2E_MOUNT_MODE="$MOUNT_MODE" E2E_SIDECAR="$SIDECAR" \
  E2E_SECRET_MARK="e2e-secret-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
  "$DENO_BIN" test -A --no-check=remote "$REPO/tests/e2e/" 2>&1 | tee "$LOGS/e2e-suite.log"
suite_rc=${PIPESTATUS[0]}
set -e
if [ "$suite_rc" != 0 ] && [ -n "$deployed" ]; then
  log "suite failed: driver logs follow"
  for app in csi-jfs-controller csi-jfs-node csi-jfs-sidecar-injector; do
    kubectl_admin -n csi-jfs logs -l "app=$app" --all-containers --prefix --tail=80 >&2 2>/dev/null || true
  done
fi
count() { sed 's/\x1b\[[0-9;]*m//g' "$LOGS/e2e-suite.log" | grep -E '^(ok|FAILED) \| ' | tail -1 |
  grep -oE "[0-9]+ $1" | cut -d' ' -f1 || true; }
summary="e2e: $(count passed | grep . || echo 0) passed, $(count failed | grep . || echo 0) failed, $(count ignored | grep . || echo 0) skipped"
exit "$suite_rc"
