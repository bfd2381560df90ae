#!/usr/bin/env bash
# Images for the CSI sidecars and the snapshot-controller (static binaries from
# hack/cluster/build-sidecars.sh on an otherwise empty root) and the test pods' app image
# (Debian's busybox-static), imported into the cluster's containerd under localhost/csi-jfs/.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/oci.sh"
"$HERE_CLUSTER/build-sidecars.sh" >/dev/null

static_image "localhost/csi-jfs/csi-provisioner:$PROVISIONER_VERSION" '["/csi-provisioner"]' \
  "$SIDECAR_BIN/csi-provisioner=/csi-provisioner"
static_image "localhost/csi-jfs/csi-resizer:$RESIZER_VERSION" '["/csi-resizer"]' \
  "$SIDECAR_BIN/csi-resizer=/csi-resizer"
static_image "localhost/csi-jfs/csi-snapshotter:$SNAPSHOTTER_VERSION" '["/csi-snapshotter"]' \
  "$SIDECAR_BIN/csi-snapshotter=/csi-snapshotter"
static_image "localhost/csi-jfs/snapshot-controller:$SNAPSHOTTER_VERSION" '["/snapshot-controller"]' \
  "$SIDECAR_BIN/snapshot-controller=/snapshot-controller"
static_image localhost/csi-jfs/csi-node-driver-registrar:standin '["/csi-node-driver-registrar"]' \
  "$SIDECAR_BIN/csi-node-driver-registrar=/csi-node-driver-registrar"
static_image localhost/csi-jfs/livenessprobe:standin '["/livenessprobe"]' \
  "$SIDECAR_BIN/livenessprobe=/livenessprobe"

# busybox: one static binary and a link per applet.
if ! [ -x /bin/busybox ] || ! busybox --help 2>&1 | grep -q static; then
  dpkg -s busybox-static >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 busybox-static >/dev/null
  }
fi
bb=$(dpkg -L busybox-static | grep -m1 '/bin/busybox$')
root=$(mktemp -d "$IMAGE_CACHE/busybox.XXXX")
install -D -m 755 "$bb" "$root/bin/busybox"
for a in $("$bb" --list); do [ "$a" = busybox ] || ln -s busybox "$root/bin/$a"; done
root_image localhost/csi-jfs/busybox:e2e '["/bin/sh"]' "$root"
rm -rf "$root"
