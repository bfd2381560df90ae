# syntax=docker/dockerfile:1
# The csi-jfs image for real clusters. Same content as the test cluster's image
# (hack/images/build-csi-jfs.sh): Debian bookworm with util-linux, fuse3, procps,
# ca-certificates and sqlite3; the JuiceFS client at /usr/local/bin/juicefs; the program at
# /opt/csi-jfs with entrypoint /opt/csi-jfs/bin/csi-jfs. Two ways to carry the program:
#   docker build .                   -> "compiled": one `deno compile` binary (needs the
#                                       Deno runtime download to be reachable while building)
#   docker build --target source .   -> "source": deno plus the sources, npm deps cached in
#                                       DENO_DIR (what the e2e image is)
# Then point deploy/ at it: `kustomize edit set image csi-jfs=REGISTRY/csi-jfs:TAG`.
# Same pin as hack/install-tools.sh (2.9.4-2.9.6 crash in node:http2 under load).
ARG DENO_VERSION=2.9.3
ARG JUICEFS_VERSION=v1.3.1
ARG GO_VERSION=1.24

FROM denoland/deno:bin-${DENO_VERSION} AS deno

# JuiceFS from its Go module, with every storage and metadata backend (the test cluster's
# build drops some to build faster: hack/install-tools.sh).
FROM golang:${GO_VERSION}-bookworm AS juicefs
ARG JUICEFS_VERSION
ARG JUICEFS_TAGS=""
RUN set -eux; \
    src=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "github.com/juicedata/juicefs@${JUICEFS_VERSION}" \
      | sed -n 's/.*"Dir": "\(.*\)",/\1/p'); \
    cp -r "$src" /src && chmod -R u+w /src && cd /src; \
    CGO_ENABLED=1 go build -tags "${JUICEFS_TAGS}" -trimpath -ldflags "-s -w" -o /out/juicefs .

FROM debian:bookworm-slim AS base
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      util-linux mount fuse3 procps ca-certificates sqlite3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=juicefs /out/juicefs /usr/local/bin/juicefs

FROM base AS source
COPY --from=deno /deno /usr/local/bin/deno
ENV DENO_DIR=/opt/csi-jfs/deno-dir DENO_NO_UPDATE_CHECK=1
WORKDIR /opt/csi-jfs
COPY deno.json deno.lock main.ts ./
COPY bin/ bin/
COPY modes/ modes/
COPY lib/ lib/
COPY proto/ proto/
RUN deno cache main.ts
ENTRYPOINT ["/opt/csi-jfs/bin/csi-jfs"]

FROM base AS build
COPY --from=deno /deno /usr/local/bin/deno
WORKDIR /src
COPY deno.json deno.lock main.ts ./
COPY modes/ modes/
COPY lib/ lib/
COPY proto/ proto/
# The same permissions as `make compile` and the bin/csi-jfs launcher.
RUN deno compile --output /out/csi-jfs --include proto/ --include lib/fs/fs_worker.ts --allow-all \
      --v8-flags=--max-semi-space-size=1,--optimize-for-size main.ts

FROM base AS compiled
COPY --from=build /out/csi-jfs /opt/csi-jfs/bin/csi-jfs
ENTRYPOINT ["/opt/csi-jfs/bin/csi-jfs"]
