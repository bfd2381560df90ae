#!/usr/bin/env bash
# csi-sanity (the Kubernetes CSI conformance suite) against a controller and a node
# (process backend) on the embedded default: sqlite3 metadata, a local directory as
# object storage. Every spec must pass; skipped ones are listed in the README.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(CSI_JFS_CACHE=${CSI_JFS_CACHE:-/var/cache/csi-jfs} "$root/hack/install-tools.sh" all)
export PATH="$bin:$PATH"
work=$(mktemp -d /tmp/csi-jfs-sanity.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  # Whatever the run left mounted under the work dir is a leak: report it, then clear it.
  leaks=$(awk -v w="$work" '$5 ~ "^"w {print $5}' /proc/self/mountinfo | sort -r)
  if [ -n "$leaks" ]; then echo "sanity: mounts left behind:" $leaks >&2; for m in $leaks; do umount -l "$m" || true; done; fi
  pkill -f -- "--settings-file=$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/secrets.yaml" <<YAML
CreateVolumeSecret: &fs
  name: sanityfs
  metaurl: sqlite3://$work/meta.db
  storage: file
  bucket: $work/bucket/
DeleteVolumeSecret: *fs
ControllerValidateVolumeCapabilitiesSecret: *fs
NodeStageVolumeSecret: *fs
NodePublishVolumeSecret: *fs
ControllerExpandVolumeSecret: *fs
ListSnapshotsSecret: *fs
CreateSnapshotSecret: *fs
DeleteSnapshotSecret: *fs
ControllerModifyVolumeSecret: *fs
YAML
# The one mutable parameter (a VolumeAttributesClass): the ModifyVolume specs set it.
echo "onDelete: delete" > "$work/mutable.yaml"

common=(--juicefs="$bin/juicefs" --state-dir="$work/state" --log-level="${SANITY_LOG_LEVEL:-info}")
"$root/bin/csi-jfs" --mode=controller --endpoint="unix://$work/controller.sock" "${common[@]}" 2>"$work/controller.log" &
pids+=($!)
"$root/bin/csi-jfs" --mode=node --endpoint="unix://$work/node.sock" --nodeid=sanity-node --mount-mode=process "${common[@]}" 2>"$work/node.log" &
pids+=($!)
for s in controller node; do
  for _ in $(seq 1 150); do [ -S "$work/$s.sock" ] && break; sleep 0.2; done
  if [ ! -S "$work/$s.sock" ]; then echo "sanity: the $s did not start:" >&2; tail -20 "$work/$s.log" >&2; exit 1; fi
done

status=0
csi-sanity \
  --csi.endpoint="$work/node.sock" \
  --csi.controllerendpoint="$work/controller.sock" \
  --csi.secrets="$work/secrets.yaml" \
  --csi.mountdir="$work/target" \
  --csi.stagingdir="$work/staging" \
  --csi.testvolumeexpandsize=$((20 * 1024 * 1024 * 1024)) \
  --csi.testvolumemutableparameters="$work/mutable.yaml" \
  --ginkgo.timeout=20m \
  "$@" >"$work/sanity.out" 2>&1 || status=$?
[ -n "${SANITY_REPORT:-}" ] && cp "$work/sanity.out" "$SANITY_REPORT"
grep -E "^(Ran|PASS|FAIL|SUCCESS|\[FAIL\]|  \[FAIL\])|Summarizing|Passed|Skipped" "$work/sanity.out" || true
if [ $status -ne 0 ]; then
  tail -150 "$work/sanity.out"
  echo "--- controller log"; tail -40 "$work/controller.log"
  echo "--- node log"; tail -40 "$work/node.log"
fi
exit $status
