/**
 * The part of the Kubernetes API the injector uses, in the shapes it needs. The real one is
 * lib/webhook/kube_client.ts (over @kubernetes/client-node); tests use lib/webhook/fake_kube.ts.
 * Reads return undefined for NOT_FOUND; other failures throw (a 403 as PERMISSION_DENIED).
 */

export interface SecretRef {
  name: string;
  namespace: string;
}

export interface PvcInfo {
  name: string;
  namespace: string;
  uid: string;
  phase: string;
  volumeName?: string;
  storageClassName?: string;
  accessModes: string[];
  volumeMode?: string;
}

export interface PvInfo {
  name: string;
  accessModes: string[];
  mountOptions: string[];
  volumeMode?: string;
  storageClassName?: string;
  claimRef?: { namespace?: string; name?: string; uid?: string };
  csi?: {
    driver: string;
    volumeHandle: string;
    volumeAttributes: Record<string, string>;
    nodeStageSecretRef?: SecretRef;
    nodePublishSecretRef?: SecretRef;
  };
}

export interface StorageClassInfo {
  name: string;
  provisioner: string;
  parameters: Record<string, string>;
  volumeBindingMode?: string;
}

export interface OwnerRef {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

export interface SecretObject {
  name: string;
  namespace: string;
  /** Decoded values. */
  data: Record<string, string>;
  labels?: Record<string, string>;
  ownerReferences?: OwnerRef[];
  resourceVersion?: string;
}

export interface InjectorKube {
  getPvc(namespace: string, name: string): Promise<PvcInfo | undefined>;
  getPv(name: string): Promise<PvInfo | undefined>;
  getStorageClass(name: string): Promise<StorageClassInfo | undefined>;
  getSecret(namespace: string, name: string): Promise<SecretObject | undefined>;
  /** ALREADY_EXISTS when another writer was first. */
  createSecret(secret: SecretObject): Promise<void>;
  /** Replaces at `resourceVersion`; ABORTED when someone changed it since. */
  replaceSecret(secret: SecretObject): Promise<void>;
  serverVersion(): Promise<{ major: number; minor: number; gitVersion: string }>;
  /** Sets clientConfig.caBundle of every webhook of the MutatingWebhookConfiguration. */
  setWebhookCaBundle(configName: string, caPem: string): Promise<void>;
}
