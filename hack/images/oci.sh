# Assembles OCI image archives from plain directories and imports them into the test
# cluster's containerd, with no image builder and no registry. Sourced by build-*.sh here.
# shellcheck shell=bash
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../cluster" && pwd)/lib.sh"
IMAGE_CACHE="$CACHE/images"
mkdir -p "$IMAGE_CACHE"

# layer_tar DIR OUT [TAR_ARGS...]: a reproducible uncompressed layer of DIR's contents
# (sorted, mtime 0, numeric owners), so unchanged input gives the same digest.
layer_tar() {
  local dir=$1 out=$2; shift 2
  tar --sort=name --mtime=@0 --numeric-owner --format=gnu \
    "$@" -C "$dir" -cf "$out.tmp" . && mv "$out.tmp" "$out"
}

_blob() { # _blob LAYOUT FILE -> prints "sha256:<hex> <size>", moving FILE into the layout
  local layout=$1 file=$2 hex size
  hex=$(sha256sum "$file" | cut -d' ' -f1)
  size=$(stat -c %s "$file")
  mkdir -p "$layout/blobs/sha256"
  mv "$file" "$layout/blobs/sha256/$hex"
  echo "sha256:$hex $size"
}

# oci_archive REF OUT ENTRYPOINT_JSON ENV_JSON LAYER...: writes OUT, an OCI image-layout tar
# holding one linux/amd64 image named REF whose layers are the given uncompressed tars
# (bottom first; they are copied, not moved). Prints the manifest digest.
oci_archive() {
  local ref=$1 out=$2 entrypoint=$3 env=$4; shift 4
  local layout digest size layers="[]" diffs="[]" l tmp
  layout=$(mktemp -d "$IMAGE_CACHE/layout.XXXX")
  for l in "$@"; do
    tmp="$layout/tmp.tar" && cp "$l" "$tmp"
    read -r digest size < <(_blob "$layout" "$tmp")
    layers=$(jq -c --arg d "$digest" --argjson s "$size" \
      '. + [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $d, size: $s}]' <<<"$layers")
    diffs=$(jq -c --arg d "$digest" '. + [$d]' <<<"$diffs")
  done
  jq -n --argjson ep "$entrypoint" --argjson env "$env" --argjson diffs "$diffs" '{
    architecture: "amd64", os: "linux", created: "1970-01-01T00:00:00Z",
    config: {Entrypoint: $ep, Env: $env, WorkingDir: "/"},
    rootfs: {type: "layers", diff_ids: $diffs}}' >"$layout/config.json"
  read -r digest size < <(_blob "$layout" "$layout/config.json")
  jq -n --arg d "$digest" --argjson s "$size" --argjson layers "$layers" '{
    schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $d, size: $s},
    layers: $layers}' >"$layout/manifest.json"
  read -r digest size < <(_blob "$layout" "$layout/manifest.json")
  jq -n --arg d "$digest" --argjson s "$size" --arg ref "$ref" '{
    schemaVersion: 2, manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: $d, size: $s, annotations: {"io.containerd.image.name": $ref,
        "org.opencontainers.image.ref.name": ($ref | split(":") | last)}}]}' >"$layout/index.json"
  echo '{"imageLayoutVersion": "1.0.0"}' >"$layout/oci-layout"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$layout" -cf "$out.tmp" .
  mv "$out.tmp" "$out"
  rm -rf "$layout"
  echo "$digest"
}

# import_image REF ARCHIVE DIGEST: imports ARCHIVE into containerd's k8s.io namespace unless
# REF already names that manifest there. Needs the cluster's containerd running.
import_image() {
  local ref=$1 archive=$2 digest=$3 have
  have=$(ctr_k8s images ls "name==$ref" 2>/dev/null | awk 'NR > 1 {print $3}')
  if [ "$have" = "$digest" ]; then log "image $ref: already imported"; return; fi
  log "image $ref: importing $(du -h "$archive" | cut -f1)"
  ctr_k8s images import "$archive" >/dev/null
  have=$(ctr_k8s images ls "name==$ref" | awk 'NR > 1 {print $3}')
  [ "$have" = "$digest" ] || die "image $ref: imported $archive but containerd names ${have:-nothing} for it"
}

# root_image REF ENTRYPOINT_JSON ROOT: a single-layer image of directory ROOT, built and
# imported (ROOT is left in place).
root_image() {
  local ref=$1 entrypoint=$2 root=$3 name digest
  name=$(echo "$ref" | tr '/:' '__')
  mkdir -p "$root/tmp" && chmod 1777 "$root/tmp"
  layer_tar "$root" "$IMAGE_CACHE/$name.layer.tar" --owner=0 --group=0
  digest=$(oci_archive "$ref" "$IMAGE_CACHE/$name.oci.tar" "$entrypoint" '["PATH=/usr/local/bin:/usr/bin:/bin"]' \
    "$IMAGE_CACHE/$name.layer.tar")
  rm -f "$IMAGE_CACHE/$name.layer.tar"
  import_image "$ref" "$IMAGE_CACHE/$name.oci.tar" "$digest"
}

# static_image REF ENTRYPOINT_JSON FILE=PATH...: a single-layer image of the given static
# files only (FILE copied to PATH in the image), built and imported.
static_image() {
  local ref=$1 entrypoint=$2; shift 2
  local root pair
  root=$(mktemp -d "$IMAGE_CACHE/root.XXXX")
  for pair in "$@"; do
    mkdir -p "$root$(dirname "${pair#*=}")"
    cp -L "${pair%%=*}" "$root${pair#*=}"
  done
  root_image "$ref" "$entrypoint" "$root"
  rm -rf "$root"
}
