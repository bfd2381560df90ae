# Pinned versions of everything the test cluster runs. Sourced by the scripts beside it.
# Kubernetes stays on 1.34: kubelet 1.35+ refuses cgroup v1 by default (failCgroupV1), and
# the test machines are cgroup v1. 1.34 has native sidecars and Bidirectional propagation.
K8S_VERSION=v1.34.4
# CSI sidecars, built from their Go modules. node-driver-registrar and livenessprobe tag v2.x
# without a /v2 module path, so they are pinned by pseudo-version (commit of the release tag).
PROVISIONER_MODULE=github.com/kubernetes-csi/external-provisioner/v5
PROVISIONER_VERSION=v5.3.0
RESIZER_MODULE=github.com/kubernetes-csi/external-resizer
RESIZER_VERSION=v1.14.0
# csi-snapshotter (the controller's sidecar) and snapshot-controller (a cluster add-on the
# e2e runner applies) from one release; the VolumeSnapshot CRDs from its client module
# (client/config/crd), and the snapshot-controller's RBAC and Deployment from its
# deploy/kubernetes/snapshot-controller. v8.6.0 is the release the Go proxy here serves.
SNAPSHOTTER_MODULE=github.com/kubernetes-csi/external-snapshotter/v8
SNAPSHOTTER_CLIENT_MODULE=github.com/kubernetes-csi/external-snapshotter/client/v8
SNAPSHOTTER_VERSION=v8.6.0
# node-driver-registrar and livenessprobe: their v2.x tags have no /v2 module path, so the
# proxy serves them only as pseudo-versions, and the curated proxy here holds none we could
# name (see hack/images/sidecars/README.md). Until one resolves, the test cluster runs small
# flag-compatible stand-ins built from hack/images/sidecars/ against these pinned modules.
REGISTRAR_UPSTREAM=registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.15.0
LIVENESSPROBE_UPSTREAM=registry.k8s.io/sig-storage/livenessprobe:v2.17.0
