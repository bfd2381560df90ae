#!/usr/bin/env bash
# The VolumeSnapshot add-on of the test cluster, applied idempotently (tests/e2e/run.sh runs
# it after importing the images): the snapshot CRDs of external-snapshotter's client module
# (client/config/crd) and the snapshot-controller's RBAC and Deployment from the release's
# deploy/kubernetes/snapshot-controller, both $SNAPSHOTTER_VERSION from the Go module cache,
# made local by a kustomization written beside copies of them: the image imported into
# containerd (hack/images/build-sidecar-images.sh), one replica, the host network and the API
# at 127.0.0.1 (this cluster serves no ClusterIPs). Like on a real cluster it is not part of
# deploy/ and stays installed; down.sh removes it with the cluster.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export PATH=/usr/local/go/bin:$PATH

addon="$CLUSTER_ROOT/addons/snapshot-controller-$SNAPSHOTTER_VERSION"
rm -rf "$addon" && mkdir -p "$addon"
cp -r "$(module_dir "$SNAPSHOTTER_CLIENT_MODULE" "$SNAPSHOTTER_VERSION")/config/crd" "$addon/crd"
cp -r "$(module_dir "$SNAPSHOTTER_MODULE" "$SNAPSHOTTER_VERSION")/deploy/kubernetes/snapshot-controller" "$addon/controller"
chmod -R u+w "$addon"
cat >"$addon/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [crd, controller]
images:
  - name: registry.k8s.io/sig-storage/snapshot-controller
    newName: localhost/csi-jfs/snapshot-controller
    newTag: $SNAPSHOTTER_VERSION
patches:
  - target: { kind: Deployment, name: snapshot-controller }
    patch: |-
      - {op: replace, path: /spec/replicas, value: 1}
      - {op: replace, path: /spec/minReadySeconds, value: 0}
      - {op: replace, path: /spec/strategy, value: {type: Recreate}}
      - {op: add, path: /spec/template/spec/hostNetwork, value: true}
      - {op: add, path: /spec/template/spec/dnsPolicy, value: Default}
      - {op: test, path: /spec/template/spec/containers/0/name, value: snapshot-controller}
      - {op: replace, path: /spec/template/spec/containers/0/imagePullPolicy, value: Never}
      - {op: test, path: /spec/template/spec/containers/0/args/0, value: --v=5}
      - {op: replace, path: /spec/template/spec/containers/0/args/0, value: --v=2}
      - op: add
        path: /spec/template/spec/containers/0/env
        value:
          - {name: KUBERNETES_SERVICE_HOST, value: 127.0.0.1}
          - {name: KUBERNETES_SERVICE_PORT, value: "$API_PORT"}
YAML
log "snapshot add-on $SNAPSHOTTER_VERSION: applying"
kubectl_admin apply -k "$addon" >/dev/null
kubectl_admin wait --for condition=established --timeout=60s \
  crd/volumesnapshotclasses.snapshot.storage.k8s.io crd/volumesnapshotcontents.snapshot.storage.k8s.io \
  crd/volumesnapshots.snapshot.storage.k8s.io >/dev/null
kubectl_admin -n kube-system rollout status deployment/snapshot-controller --timeout=120s >&2
