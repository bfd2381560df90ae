#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kubectl at
# $K8S_VERSION from the Go module proxy into $CACHE/k8s-$K8S_VERSION/bin (once; later calls
# return at once). k8s.io/kubernetes is not meant to be required as a module: its go.mod
# points every k8s.io/* staging module at ./staging, so a wrapper module requires it and
# replaces each staging module with its published v0.N.P twin.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BINS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
have_all() { local b; for b in "${BINS[@]}"; do [ -x "$K8S_BIN/$b" ] || return 1; done; }
if have_all; then echo "$K8S_BIN"; exit 0; fi

export PATH=/usr/local/go/bin:$PATH
staging_version="v0.${K8S_VERSION#v1.}"
work="$CACHE/k8s-$K8S_VERSION/wrapper"
rm -rf "$work" && mkdir -p "$work" "$K8S_BIN"
log "kubernetes $K8S_VERSION: writing wrapper module (staging modules at $staging_version)"
curl -fsS "https://proxy.golang.org/k8s.io/kubernetes/@v/$K8S_VERSION.mod" -o "$work/kubernetes.mod"
{
  echo "module csi-jfs.local/k8s-build"
  echo
  grep -E '^go ' "$work/kubernetes.mod"
  grep -E '^godebug ' "$work/kubernetes.mod" || true
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  echo "replace ("
  sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\t\1 => \1 '"$staging_version"'#p' "$work/kubernetes.mod"
  echo ")"
} >"$work/go.mod"

# The same version stamps the upstream build (hack/lib/version.sh) writes.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1"
  ldflags+=" -X $pkg.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
pkgs=()
for b in "${BINS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
log "kubernetes $K8S_VERSION: go build ${BINS[*]} (cold: 7-10 minutes on 2 cores)"
(cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$work/out/" "${pkgs[@]}")
for b in "${BINS[@]}"; do mv "$work/out/$b" "$K8S_BIN/$b"; done
rm -rf "$work"
have_all || die "kubernetes build did not produce all of ${BINS[*]}"
log "kubernetes $K8S_VERSION: built into $K8S_BIN"
echo "$K8S_BIN"
