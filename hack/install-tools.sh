#!/usr/bin/env bash
# Installs the pinned tools csi-jfs runs with and is tested against, each built once
# into a cache outside the checkout keyed by version, so a second run takes seconds.
# Prints the directory holding the tool binaries (bin/) on its last line.
set -euo pipefail

# Not 2.9.4-2.9.6: their node:http2 (nghttp2) crashes the gRPC server under concurrent cancelled
# calls and dropped connections: "nghttp2_session.c: find_stream_on_goaway_func: Assertion
# `stream->closed_next == NULL' failed", segfaults, "free(): invalid pointer" (denoland/deno#36788).
# tests/soak: 2,000 hostile requests killed a driver in 7 of 7 runs on 2.9.4/2.9.6, 0 of 11 on
# 2.9.3, 2.9.2, 2.9.0, 2.8.3, 2.7.14. Move on once a release passes `make soak`.
DENO_VERSION=2.9.3
JUICEFS_VERSION=v1.3.1
CSI_TEST_VERSION=v5.4.0
# promparse: hack/tools/promparse, the reference Prometheus text parser for the metrics tests;
# its go.mod pins github.com/prometheus/common, whose version keys the cache.
PROMPARSE_VERSION=common-v0.67.5
# helm: lints and renders deploy/helm/csi-jfs (make helm-lint, make helm-template).
HELM_VERSION=v3.22.0
# Build tags drop object-storage and metadata backends the driver is not tested with here,
# to keep the cold build short; sqlite3, redis and the local "file" storage stay in.
JUICEFS_TAGS="nogateway,nowebdav,nocos,nobos,nohdfs,noibmcos,noobs,nooss,noqingstor,nosftp,noswift,noazure,nogs,noufile,nob2,nonfs,nodragonfly,notikv,nobadger,noetcd,nocifs"

CACHE=${CSI_JFS_CACHE:-/var/cache/csi-jfs}
BIN="$CACHE/bin"
mkdir -p "$BIN"
log() { printf '[install-tools] %s\n' "$*" >&2; }

install_deno() {
  local dir="$CACHE/deno-$DENO_VERSION"
  if [ ! -x "$dir/node_modules/deno/deno" ]; then
    log "deno $DENO_VERSION from the npm registry"
    mkdir -p "$dir"
    (cd "$dir" && npm install --silent --no-audit --no-fund --no-save "deno@$DENO_VERSION" >/dev/null)
  fi
  ln -sf "$dir/node_modules/deno/deno" "$BIN/deno"
}

install_juicefs() {
  local out="$CACHE/juicefs-$JUICEFS_VERSION/juicefs"
  if [ ! -x "$out" ]; then
    log "juicefs $JUICEFS_VERSION: building from the Go module proxy (cold: several minutes)"
    local src
    src=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "github.com/juicedata/juicefs@$JUICEFS_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
    local work="$CACHE/juicefs-$JUICEFS_VERSION/src"
    rm -rf "$work" && mkdir -p "$work" && cp -r "$src/." "$work" && chmod -R u+w "$work"
    (cd "$work" && CGO_ENABLED=1 go build -tags "$JUICEFS_TAGS" -trimpath -ldflags "-s -w" -o "$out.tmp" .)
    mv "$out.tmp" "$out"
    rm -rf "$work"
  fi
  ln -sf "$out" "$BIN/juicefs"
}

install_csi_sanity() {
  local dir="$CACHE/csi-sanity-$CSI_TEST_VERSION"
  if [ ! -x "$dir/csi-sanity" ]; then
    log "csi-sanity $CSI_TEST_VERSION: go install"
    GOBIN="$dir" go install "github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@$CSI_TEST_VERSION"
  fi
  ln -sf "$dir/csi-sanity" "$BIN/csi-sanity"
}

install_promparse() {
  local dir="$CACHE/promparse-$PROMPARSE_VERSION"
  if [ ! -x "$dir/promparse" ]; then
    log "promparse ($PROMPARSE_VERSION): go build"
    local src
    src=$(cd "$(dirname "$0")/tools/promparse" && pwd)
    mkdir -p "$dir"
    (cd "$src" && go build -trimpath -o "$dir/promparse.tmp" .)
    mv "$dir/promparse.tmp" "$dir/promparse"
  fi
  ln -sf "$dir/promparse" "$BIN/promparse"
}

install_helm() {
  local dir="$CACHE/helm-$HELM_VERSION"
  if [ ! -x "$dir/helm" ]; then
    log "helm $HELM_VERSION: go install (cold: a few minutes)"
    GOBIN="$dir" CGO_ENABLED=0 go install -trimpath "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  fi
  ln -sf "$dir/helm" "$BIN/helm"
}

ensure_packages() {
  local missing=()
  command -v fusermount3 >/dev/null || command -v fusermount >/dev/null || missing+=(fuse3)
  command -v sqlite3 >/dev/null || missing+=(sqlite3)
  command -v mountpoint >/dev/null || missing+=(util-linux)
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

what=${1:-all}
case "$what" in
  deno) install_deno ;;
  juicefs) install_juicefs ;;
  csi-sanity) install_csi_sanity ;;
  promparse) install_promparse ;;
  helm) install_helm ;;
  packages) ensure_packages ;;
  all) ensure_packages; install_deno; install_juicefs; install_csi_sanity; install_promparse; install_helm ;;
  *) echo "usage: $0 [all|deno|juicefs|csi-sanity|promparse|helm|packages]" >&2; exit 2 ;;
esac
echo "$BIN"
