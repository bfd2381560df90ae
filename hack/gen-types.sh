#!/usr/bin/env bash
# Generates the TypeScript types for proto/csi.proto into lib/csi/generated/ with
# @grpc/proto-loader's proto-loader-gen-types, using the same loader options as
# LOADER_OPTIONS in lib/csi/proto.ts so the types describe what loadCsi() returns.
# The generator lives in a cache outside the checkout (npm, pinned, installed once).
#
#   hack/gen-types.sh           regenerate lib/csi/generated/ in place
#   hack/gen-types.sh --verify  regenerate into a temp dir; exit 1 if the committed copy differs
set -euo pipefail

PROTO_LOADER_VERSION=0.8.1
# Pinned so the output (and so --verify) does not drift with protobufjs releases;
# the same version Deno resolves for npm:@grpc/proto-loader@0.8.1 at the time of writing.
PROTOBUFJS_VERSION=7.6.6

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${CSI_JFS_CACHE:-/var/cache/csi-jfs}
TOOL_DIR="$CACHE/proto-loader-$PROTO_LOADER_VERSION"
GEN="$TOOL_DIR/node_modules/.bin/proto-loader-gen-types"
OUT_REL=lib/csi/generated
log() { printf '[gen-types] %s\n' "$*" >&2; }

verify=0
case "${1:-}" in
  "") ;;
  --verify) verify=1 ;;
  *) echo "usage: $0 [--verify]" >&2; exit 2 ;;
esac

install_generator() {
  if [ -x "$GEN" ] && [ -f "$TOOL_DIR/.installed-protobufjs-$PROTOBUFJS_VERSION" ]; then
    return
  fi
  log "installing @grpc/proto-loader@$PROTO_LOADER_VERSION into $TOOL_DIR"
  mkdir -p "$TOOL_DIR"
  (cd "$TOOL_DIR" &&
    npm install --silent --no-audit --no-fund --no-save \
      "@grpc/proto-loader@$PROTO_LOADER_VERSION" "protobufjs@$PROTOBUFJS_VERSION" >/dev/null)
  touch "$TOOL_DIR/.installed-protobufjs-$PROTOBUFJS_VERSION"
}

# generate <out-dir>: out-dir is replaced wholesale.
generate() {
  local out=$1
  rm -rf "$out"
  mkdir -p "$out"
  # Run from the repo root with a relative include dir so the "Original file:"
  # header is proto/csi.proto wherever the checkout lives. `--` ends the
  # array-valued --includeDirs so the file name is not swallowed by it.
  (cd "$ROOT" && "$GEN" \
    --keepCase --longs=String --enums=String --defaults --oneofs \
    --grpcLib=@grpc/grpc-js --targetFileExtension=.ts --importFileExtension=.ts \
    --outDir "$out" --includeDirs proto -- csi.proto)
}

install_generator

if [ "$verify" = 0 ]; then
  generate "$ROOT/$OUT_REL"
  log "wrote $OUT_REL/ ($(find "$ROOT/$OUT_REL" -type f | wc -l) files)"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
generate "$tmp/generated"
if ! diff -r "$ROOT/$OUT_REL" "$tmp/generated" >/dev/null 2>&1; then
  log "$OUT_REL is stale (run hack/gen-types.sh); differences:"
  diff -rq "$ROOT/$OUT_REL" "$tmp/generated" |
    sed -e "s#$ROOT/##g" -e "s#$tmp/generated#<regenerated>#g" >&2 || true
  exit 1
fi
log "$OUT_REL is up to date"
