#!/usr/bin/env bash
# Builds the CSI sidecars the cluster runs beside csi-jfs into $CACHE/csi-sidecars/bin as
# static binaries (once per version; later calls return at once): csi-provisioner,
# csi-resizer, csi-snapshotter and snapshot-controller from their released Go modules, and
# the registrar and livenessprobe stand-ins from hack/images/sidecars/. Their go.mod files
# carry replace directives, so `go install mod@version` refuses them: the module source is
# downloaded and built in place.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export PATH=/usr/local/go/bin:$PATH
SIDECAR_SRC=$(cd "$HERE_CLUSTER/../images/sidecars" && pwd)

# build_module NAME MODULE VERSION PACKAGE_DIR [SUBDIR=MODULE...]: each SUBDIR=MODULE puts
# MODULE@VERSION's source at SUBDIR of the tree first: a nested module that go.mod replaces
# by a relative path, which the proxy's zip of the outer module leaves out.
build_module() {
  local name=$1 module=$2 version=$3 pkg=$4 nested
  shift 4
  local out="$CACHE/csi-sidecars/$name-$version"
  if [ ! -x "$out/$name" ]; then
    log "$name $version: building from the Go module proxy"
    local src work
    src=$(module_dir "$module" "$version")
    work=$(mktemp -d "$CACHE/csi-sidecars/build-$name.XXXX")
    cp -r "$src/." "$work"
    for nested in "$@"; do
      mkdir -p "$work/${nested%%=*}" && cp -r "$(module_dir "${nested#*=}" "$version")/." "$work/${nested%%=*}"
    done
    chmod -R u+w "$work"
    mkdir -p "$out"
    (cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
      -ldflags "-s -w -X main.version=$version" -o "$out/$name.tmp" "./$pkg")
    mv "$out/$name.tmp" "$out/$name"
    rm -rf "$work"
  fi
  ln -sf "$out/$name" "$SIDECAR_BIN/$name"
}

# build_standin NAME: a stand-in under hack/images/sidecars/NAME, keyed by its source hash.
build_standin() {
  local name=$1 key
  key=$(cd "$SIDECAR_SRC" && cat go.mod go.sum "$name"/*.go | sha256sum | cut -c1-12)
  local out="$CACHE/csi-sidecars/$name-$key"
  if [ ! -x "$out/$name" ]; then
    log "$name (stand-in, source $key): building"
    mkdir -p "$out"
    (cd "$SIDECAR_SRC" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/$name.tmp" "./$name")
    mv "$out/$name.tmp" "$out/$name"
  fi
  ln -sf "$out/$name" "$SIDECAR_BIN/$name"
}

mkdir -p "$SIDECAR_BIN"
build_module csi-provisioner "$PROVISIONER_MODULE" "$PROVISIONER_VERSION" cmd/csi-provisioner
build_module csi-resizer "$RESIZER_MODULE" "$RESIZER_VERSION" cmd/csi-resizer
build_module csi-snapshotter "$SNAPSHOTTER_MODULE" "$SNAPSHOTTER_VERSION" cmd/csi-snapshotter \
  "client=$SNAPSHOTTER_CLIENT_MODULE"
build_module snapshot-controller "$SNAPSHOTTER_MODULE" "$SNAPSHOTTER_VERSION" cmd/snapshot-controller \
  "client=$SNAPSHOTTER_CLIENT_MODULE"
build_standin csi-node-driver-registrar
build_standin livenessprobe
echo "$SIDECAR_BIN"
