#!/usr/bin/env bash
# The csi-jfs image's base layer: a Debian bookworm minbase root made by debootstrap with the
# packages the driver runs (mount/umount, FUSE, ps, TLS roots, sqlite3 for JuiceFS metadata).
# Cached as $CACHE/images/rootfs-<key>.tar, the key hashing everything that shapes the root;
# prints the layer tar's path.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/oci.sh"
SUITE=bookworm
MIRROR=${CSI_JFS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=util-linux,mount,fuse3,procps,ca-certificates,sqlite3
RECIPE_VERSION=1  # bump when the steps below change what the root holds

key=$(printf '%s\n' "$SUITE" "$MIRROR" "$PACKAGES" "$RECIPE_VERSION" | sha256sum | cut -c1-16)
out="$IMAGE_CACHE/rootfs-$key.tar"
if [ -s "$out" ]; then echo "$out"; exit 0; fi

command -v debootstrap >/dev/null || {
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 debootstrap >/dev/null
}
root=$(mktemp -d "$IMAGE_CACHE/rootfs-$key.XXXX")
cleanup() { # debootstrap mounts /proc and /sys inside; never leave them behind
  local m
  for m in $(awk -v r="$root" '$5 ~ "^"r {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m" || true; done
  rm -rf "$root"
}
trap cleanup EXIT
log "rootfs $key: debootstrap $SUITE with $PACKAGES (cold: a few minutes)"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1 ||
  { tail -20 "$root.log" >&2; die "debootstrap failed (log above, full: $root.log)"; }
rm -f "$root.log"
rm -f "$root/etc/hostname" "$root/etc/resolv.conf" "$root/etc/machine-id"
layer_tar "$root" "$out" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
  --exclude='./var/cache/apt/archives/*.deb' --exclude='./var/lib/apt/lists/*' --exclude='./tmp/*'
log "rootfs $key: $(du -h "$out" | cut -f1)"
echo "$out"
