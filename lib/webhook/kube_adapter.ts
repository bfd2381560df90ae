import { decodeBase64Text, encodeBase64Text } from "./base64.ts";
import { invalidArgument } from "../errors.ts";
import type { Kube, V1PersistentVolume, V1PersistentVolumeClaim, V1Secret } from "../kube/kube.ts";
import type { InjectorKube, PvcInfo, PvInfo, SecretObject, StorageClassInfo } from "./kube.ts";

/**
 * What the shared facade (lib/kube) lacks for the injector: a create that fails when another
 * replica was first (applySecret would overwrite its CA), a replace guarded by resourceVersion,
 * and the webhook configuration's caBundle. Real one: lib/webhook/kube_writes.ts.
 */
export interface InjectorWrites {
  /** ALREADY_EXISTS when it exists. */
  createSecret(namespace: string, secret: V1Secret): Promise<void>;
  /** ABORTED when metadata.resourceVersion is stale. */
  replaceSecret(namespace: string, secret: V1Secret): Promise<void>;
  setWebhookCaBundle(configName: string, caPem: string): Promise<void>;
}

/** "v1.29.3", "v1.30.1-gke.100", "1.31+" -> major, minor. */
export function parseVersion(gitVersion: string): { major: number; minor: number; gitVersion: string } {
  const m = /^v?(\d+)\.(\d+)/.exec(gitVersion.trim());
  if (!m) throw invalidArgument(`cannot read the Kubernetes version "${gitVersion.slice(0, 64)}"`);
  return { major: Number(m[1]), minor: Number(m[2]), gitVersion };
}

function pvcInfo(p: V1PersistentVolumeClaim, namespace: string, name: string): PvcInfo {
  return {
    name,
    namespace,
    uid: p.metadata?.uid ?? "",
    phase: p.status?.phase ?? "",
    ...(p.spec?.volumeName ? { volumeName: p.spec.volumeName } : {}),
    ...(p.spec?.storageClassName ? { storageClassName: p.spec.storageClassName } : {}),
    accessModes: p.spec?.accessModes ?? [],
    ...(p.spec?.volumeMode ? { volumeMode: p.spec.volumeMode } : {}),
  };
}

function pvInfo(v: V1PersistentVolume, name: string): PvInfo {
  const s = v.spec;
  const csi = s?.csi;
  const ref = (r: { name?: string; namespace?: string } | undefined) =>
    r?.name && r.namespace ? { name: r.name, namespace: r.namespace } : undefined;
  const stage = ref(csi?.nodeStageSecretRef);
  const publish = ref(csi?.nodePublishSecretRef);
  const claim = s?.claimRef;
  return {
    name,
    accessModes: s?.accessModes ?? [],
    mountOptions: s?.mountOptions ?? [],
    ...(s?.volumeMode ? { volumeMode: s.volumeMode } : {}),
    ...(s?.storageClassName ? { storageClassName: s.storageClassName } : {}),
    ...(claim
      ? {
        claimRef: {
          ...(claim.namespace ? { namespace: claim.namespace } : {}),
          ...(claim.name ? { name: claim.name } : {}),
          ...(claim.uid ? { uid: claim.uid } : {}),
        },
      }
      : {}),
    ...(csi
      ? {
        csi: {
          driver: csi.driver,
          volumeHandle: csi.volumeHandle,
          volumeAttributes: csi.volumeAttributes ?? {},
          ...(stage ? { nodeStageSecretRef: stage } : {}),
          ...(publish ? { nodePublishSecretRef: publish } : {}),
        },
      }
      : {}),
  };
}

function secretObject(s: V1Secret, namespace: string, name: string): SecretObject {
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) data[k] = decodeBase64Text(v);
  for (const [k, v] of Object.entries(s.stringData ?? {})) data[k] = v;
  return {
    name,
    namespace,
    data,
    ...(s.metadata?.labels ? { labels: s.metadata.labels } : {}),
    ...(s.metadata?.ownerReferences ? { ownerReferences: s.metadata.ownerReferences } : {}),
    ...(s.metadata?.resourceVersion ? { resourceVersion: s.metadata.resourceVersion } : {}),
  };
}

function v1Secret(s: SecretObject): V1Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "Opaque",
    metadata: {
      name: s.name,
      namespace: s.namespace,
      ...(s.labels ? { labels: s.labels } : {}),
      ...(s.ownerReferences ? { ownerReferences: s.ownerReferences } : {}),
      ...(s.resourceVersion ? { resourceVersion: s.resourceVersion } : {}),
    },
    data: Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, encodeBase64Text(v)])),
  };
}

/** The injector's view over the shared facade plus its own few writes. */
export class FacadeInjectorKube implements InjectorKube {
  constructor(private kube: Kube, private writes: InjectorWrites) {}

  async getPvc(namespace: string, name: string): Promise<PvcInfo | undefined> {
    const p = await this.kube.getPvc(namespace, name);
    return p ? pvcInfo(p, namespace, name) : undefined;
  }
  async getPv(name: string): Promise<PvInfo | undefined> {
    const v = await this.kube.getPv(name);
    return v ? pvInfo(v, name) : undefined;
  }
  async getStorageClass(name: string): Promise<StorageClassInfo | undefined> {
    const sc = await this.kube.getStorageClass(name);
    if (!sc) return undefined;
    return {
      name,
      provisioner: sc.provisioner,
      parameters: sc.parameters ?? {},
      ...(sc.volumeBindingMode ? { volumeBindingMode: sc.volumeBindingMode } : {}),
    };
  }
  async getSecret(namespace: string, name: string): Promise<SecretObject | undefined> {
    const s = await this.kube.getSecret(namespace, name);
    return s ? secretObject(s, namespace, name) : undefined;
  }
  createSecret(secret: SecretObject): Promise<void> {
    return this.writes.createSecret(secret.namespace, v1Secret(secret));
  }
  replaceSecret(secret: SecretObject): Promise<void> {
    return this.writes.replaceSecret(secret.namespace, v1Secret(secret));
  }
  async serverVersion() {
    return parseVersion(await this.kube.serverVersion());
  }
  setWebhookCaBundle(configName: string, caPem: string): Promise<void> {
    return this.writes.setWebhookCaBundle(configName, caPem);
  }
}
