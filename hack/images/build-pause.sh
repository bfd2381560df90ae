#!/usr/bin/env bash
# The pod sandbox ("pause") image containerd uses ($PAUSE_IMAGE): Kubernetes' own pause.c from
# the k8s.io/kubernetes module at $K8S_VERSION, compiled static, cached by version.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/oci.sh"
out="$CACHE/k8s-$K8S_VERSION/pause"
if [ ! -x "$out" ]; then
  src=$(cd /tmp && GOFLAGS=-mod=mod /usr/local/go/bin/go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
    sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  tag=$(sed -n 's/^TAG ?= //p' "$src/build/pause/Makefile")
  log "pause $tag: compiling $src/build/pause/linux/pause.c"
  gcc -Os -Wall -Werror -static -DVERSION="v$tag-$K8S_VERSION" -o "$out.tmp" "$src/build/pause/linux/pause.c"
  mv "$out.tmp" "$out"
fi
static_image "$PAUSE_IMAGE" '["/pause"]' "$out=/pause"
