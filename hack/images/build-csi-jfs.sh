#!/usr/bin/env bash
# The csi-jfs image ($CSI_JFS_IMAGE, default localhost/csi-jfs/csi-jfs:e2e), three layers:
#   1. Debian bookworm root (build-rootfs.sh, cached by content key);
#   2. deno on PATH and juicefs at /usr/local/bin (cached by their versioned cache paths);
#   3. the program: bin/ main.ts modes/ lib/ proto/ deno.json deno.lock under /opt/csi-jfs,
#      with its npm dependencies cached in DENO_DIR=/opt/csi-jfs/deno-dir.
# Entrypoint /opt/csi-jfs/bin/csi-jfs. Imports it into the cluster's containerd.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/oci.sh"
REPO=$(cd "$HERE_CLUSTER/../.." && pwd)
REF=${CSI_JFS_IMAGE:-localhost/csi-jfs/csi-jfs:e2e}
DENO_BIN=$(readlink -f "$CACHE/bin/deno")
JUICEFS_BIN=$(readlink -f "$CACHE/bin/juicefs")
[ -x "$DENO_BIN" ] || die "no deno at $CACHE/bin/deno: run hack/install-tools.sh deno"
[ -x "$JUICEFS_BIN" ] || die "no juicefs at $CACHE/bin/juicefs: run hack/install-tools.sh juicefs"

rootfs=$("$(dirname "${BASH_SOURCE[0]}")/build-rootfs.sh")

tools_key=$(printf '%s %s\n' "$DENO_BIN" "$JUICEFS_BIN" | cat - <(stat -c '%s %Y' "$DENO_BIN" "$JUICEFS_BIN") |
  sha256sum | cut -c1-16)
tools="$IMAGE_CACHE/tools-$tools_key.tar"
if [ ! -s "$tools" ]; then
  log "csi-jfs image: tools layer $tools_key (deno, juicefs)"
  t=$(mktemp -d "$IMAGE_CACHE/tools.XXXX")
  install -D -m 755 "$DENO_BIN" "$t/usr/local/bin/deno"
  install -D -m 755 "$JUICEFS_BIN" "$t/usr/local/bin/juicefs"
  layer_tar "$t" "$tools" --owner=0 --group=0
  rm -rf "$t"
fi

app=$(mktemp -d "$IMAGE_CACHE/app.XXXX")
trap 'rm -rf "$app"' EXIT
dest="$app/opt/csi-jfs"
mkdir -p "$dest"
for f in bin main.ts modes lib proto deno.json deno.lock; do
  [ -e "$REPO/$f" ] && cp -r "$REPO/$f" "$dest/"
done
[ -e "$dest/main.ts" ] || log "csi-jfs image: WARNING: the repo has no main.ts yet; the image cannot run the driver"
# npm dependencies, cached per deno.json+deno.lock so rebuilds do not refetch them.
deps_key=$(cat "$REPO/deno.json" "$REPO/deno.lock" 2>/dev/null | sha256sum | cut -c1-16)
deps="$IMAGE_CACHE/deno-dir-$deps_key"
[ -d "$deps" ] && cp -a "$deps" "$dest/deno-dir"
(
  cd "$dest"
  export DENO_DIR="$dest/deno-dir" DENO_NO_UPDATE_CHECK=1
  if [ -e main.ts ]; then "$DENO_BIN" cache --quiet main.ts; else "$DENO_BIN" install --quiet; fi
) || die "deno could not cache the program's dependencies"
[ -d "$deps" ] || cp -a "$dest/deno-dir" "$deps"
# Emit and analysis caches name host paths and change every run: the image rebuilds its own.
# What is left is the same bytes for the same sources, so an unchanged image is not reimported.
rm -rf "$dest/deno-dir/gen" "$dest/deno-dir"/*_cache_v* "$dest/deno-dir"/*.db*
find "$dest/deno-dir" -name '.scripts-warned-*' -delete # named after the (random) build dir
layer_tar "$app" "$IMAGE_CACHE/app.tar" --owner=0 --group=0

env='["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  "DENO_DIR=/opt/csi-jfs/deno-dir", "DENO_NO_UPDATE_CHECK=1"]'
digest=$(oci_archive "$REF" "$IMAGE_CACHE/csi-jfs.oci.tar" '["/opt/csi-jfs/bin/csi-jfs"]' "$env" \
  "$rootfs" "$tools" "$IMAGE_CACHE/app.tar")
rm -f "$IMAGE_CACHE/app.tar"
import_image "$REF" "$IMAGE_CACHE/csi-jfs.oci.tar" "$digest"
