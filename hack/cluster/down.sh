#!/usr/bin/env bash
# Removes the test cluster up.sh made (`make cluster-down`): stops every container, shim and
# daemon it started, unmounts everything under its state roots, removes its cgroups, puts back
# the kernel settings kubelet changed, deletes its state, and then checks that no process,
# mount, network namespace, veth or container of it is left. Exits non-zero if something is.
# The last logs are kept in /tmp/csi-jfs-cluster-logs for a post-mortem. Idempotent.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Extra directories whose mounts are ours too (the e2e suite's shared JuiceFS data dir).
EXTRA_ROOTS=${CSI_JFS_CLUSTER_EXTRA_ROOTS:-}
SAVED_LOGS=/tmp/csi-jfs-cluster-logs
ROOTS=("$CLUSTER_ROOT" "$CLUSTER_RUN")
for r in $EXTRA_ROOTS; do ROOTS+=("$r"); done

# stop NAME: TERM the daemon up.sh started as NAME, KILL it after 15s.
stop() {
  local name=$1 pid i
  pid=$(cat "$PIDS/$name.pid" 2>/dev/null) || return 0
  if kill -0 "$pid" 2>/dev/null; then
    log "$name: stopping (pid $pid)"
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "$name: still alive, KILL"; kill -KILL "$pid" 2>/dev/null; sleep 0.2; }
  fi
  rm -f "$PIDS/$name.pid"
}

# Processes of pods: whatever sits in kubelet's cgroups.
pod_pids() { cat /sys/fs/cgroup/pids/kubepods/cgroup.procs /sys/fs/cgroup/pids/kubepods/*/cgroup.procs \
  /sys/fs/cgroup/pids/kubepods/*/*/cgroup.procs /sys/fs/cgroup/pids/kubepods/*/*/*/cgroup.procs 2>/dev/null | sort -u; }
# containerd shims started for our containerd (they name its socket on their command line).
shim_pids() {
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "-address $CONTAINERD_SOCK" && echo "${p#/proc/}"
  done
}
# Mount points under our roots, deepest first.
our_mounts() {
  local r
  for r in "${ROOTS[@]}"; do
    awk -v r="$r" '$5 == r || index($5, r "/") == 1 {print $5}' /proc/self/mountinfo
  done | sort -u | awk '{print length, $0}' | sort -rn | cut -d' ' -f2-
}

step_containers() {
  if running containerd; then
    local ids
    ids=$(ctr_k8s tasks ls -q 2>/dev/null)
    if [ -n "$ids" ]; then
      log "containers: killing $(echo "$ids" | wc -l) tasks"
      for id in $ids; do ctr_k8s tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1; done
      sleep 1
      for id in $ids; do ctr_k8s tasks rm -f "$id" >/dev/null 2>&1; done
    fi
  fi
  local pids
  pids=$(pod_pids)
  [ -z "$pids" ] || { log "containers: KILL leftover pod processes: $(echo $pids)"; kill -KILL $pids 2>/dev/null; sleep 0.5; }
}

step_shims() {
  local pids
  pids=$(shim_pids)
  [ -z "$pids" ] || { log "containerd shims: stopping $(echo $pids)"; kill -TERM $pids 2>/dev/null; sleep 1; }
  pids=$(shim_pids)
  [ -z "$pids" ] || { kill -KILL $pids 2>/dev/null; sleep 0.2; }
}

step_mounts() {
  local m pass
  for pass in 1 2 3 4 5; do
    local list
    list=$(our_mounts)
    [ -z "$list" ] && return 0
    [ "$pass" = 1 ] && log "mounts: unmounting $(echo "$list" | wc -l) under ${ROOTS[*]}"
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done <<<"$list"
  done
}

step_cgroups() {
  local h
  for h in /sys/fs/cgroup/*/kubepods; do
    [ -d "$h" ] && find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
}

step_netns() { # containerd names the namespaces it makes cni-<uuid>; hostNetwork pods make none
  local ns
  for ns in /var/run/netns/cni-*; do
    [ -e "$ns" ] || continue
    log "netns: removing $(basename "$ns")"
    umount "$ns" 2>/dev/null; rm -f "$ns"
  done
}

# Host ends of the pods' veth pairs (hack/cluster/cni/csi-jfs-isolated names them cjfs*). The
# kernel removes a pair with its namespace, a moment after the namespace's last user is gone;
# any still here then (a pod whose DEL never ran and whose namespace outlived it) is removed.
our_veths() { ip -o link show type veth 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | grep '^cjfs' || true; }
step_veths() {
  local i left
  for ((i = 0; i < 50; i++)); do
    left=$(our_veths)
    [ -z "$left" ] && return 0
    sleep 0.2
  done
  log "veths: removing $(echo $left)"
  for i in $left; do ip link del "$i" 2>/dev/null; done
}

step_sysctls() {
  [ -f "$CLUSTER_ROOT/sysctl.saved" ] || return 0
  log "sysctls: restoring what kubelet changed"
  sysctl -q -p "$CLUSTER_ROOT/sysctl.saved" >/dev/null 2>&1
}

step_files() {
  if [ -d "$LOGS" ]; then rm -rf "$SAVED_LOGS" && cp -r "$LOGS" "$SAVED_LOGS"; fi
  local d
  if [ -e "$CLUSTER_ROOT/made-dirs" ]; then
    while read -r d; do [ -n "$d" ] && rm -rf "$d"; done <"$CLUSTER_ROOT/made-dirs"
  fi
  find /var/log/containers -maxdepth 1 -lname "$CLUSTER_ROOT/*" -delete 2>/dev/null
  rm -rf "$CLUSTER_ROOT" "$CLUSTER_RUN"
}

check() {
  local bad=0 left
  left=$(pod_pids; shim_pids)
  [ -z "$left" ] || { log "LEAK: processes still running: $(echo $left)"; bad=1; }
  left=$(pgrep -f -- "$CLUSTER_ROOT|$CLUSTER_RUN" | grep -v "^$$\$")
  [ -z "$left" ] || { log "LEAK: processes naming the cluster dirs: $(echo $left)"; bad=1; }
  left=$(our_mounts)
  [ -z "$left" ] || { log "LEAK: mounts: $(echo $left)"; bad=1; }
  ls /var/run/netns/cni-* >/dev/null 2>&1 && { log "LEAK: network namespaces in /var/run/netns"; bad=1; }
  left=$(our_veths)
  [ -z "$left" ] || { log "LEAK: pod veths: $(echo $left)"; bad=1; }
  ls -d /sys/fs/cgroup/*/kubepods >/dev/null 2>&1 && { log "LEAK: kubepods cgroups"; bad=1; }
  [ ! -e "$CLUSTER_ROOT" ] && [ ! -e "$CLUSTER_RUN" ] || { log "LEAK: $CLUSTER_ROOT or $CLUSTER_RUN remain"; bad=1; }
  return $bad
}

if [ ! -e "$CLUSTER_ROOT" ] && [ ! -e "$CLUSTER_RUN" ]; then
  log "no cluster here (no $CLUSTER_ROOT)"
else
  stop kubelet
  step_containers
  stop containerd
  step_shims
  step_containers
  stop kube-scheduler
  stop kube-controller-manager
  stop kube-apiserver
  stop etcd
  step_mounts
  step_cgroups
  step_netns
  step_veths
  step_sysctls
  step_files
fi
if check; then log "cluster removed; nothing left behind"; else die "cluster removal left things behind (above)"; fi
