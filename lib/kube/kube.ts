/**
 * The narrow view of the Kubernetes API that csi-jfs uses (Mount Pods, their Secrets, Events,
 * and what the sidecar helper reads). One real implementation (real_kube.ts, over
 * `@kubernetes/client-node`) and an in-memory fake for unit tests (fake_kube.ts).
 *
 * Every failure is a CodedError (lib/errors.ts): NOT_FOUND, ALREADY_EXISTS, ABORTED (a conflict),
 * PERMISSION_DENIED, INVALID_ARGUMENT (the API refused the object), UNAVAILABLE (the API server
 * could not be reached or failed). Messages name the operation and the object, never a value.
 * `get*` answer undefined for a missing object instead of NOT_FOUND.
 */
import type {
  CoreV1Event,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodStatus,
  V1Secret,
  V1StorageClass,
} from "@kubernetes/client-node";

export type {
  CoreV1Event,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodStatus,
  V1Secret,
  V1StorageClass,
};

/** The object an Event is about. */
export interface ObjectRef {
  kind: string;
  apiVersion?: string;
  namespace: string;
  name: string;
  uid?: string;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface PodEvent {
  type: WatchEventType;
  pod: V1Pod;
}

export interface Watching {
  stop(): void;
}

export interface WatchOptions {
  /**
   * Lists again this often and reports every pod as MODIFIED (and any it missed as DELETED), so a
   * lost watch event is repaired within this time.
   */
  resyncMs?: number;
  /** Called when the watch stream fails (it restarts by itself); for logs. */
  onError?: (e: unknown) => void;
}

export interface DeleteOptions {
  /** Delete only this incarnation of the object (a replacement with the same name stays). */
  uid?: string;
  gracePeriodSeconds?: number;
}

export interface Kube {
  createPod(namespace: string, pod: V1Pod): Promise<V1Pod>;
  getPod(namespace: string, name: string): Promise<V1Pod | undefined>;
  listPods(namespace: string, labelSelector: string): Promise<V1Pod[]>;
  /** Missing is success. */
  deletePod(namespace: string, name: string, opts?: DeleteOptions): Promise<void>;
  /** Merge-patches metadata.annotations: a null value removes the annotation. */
  patchPodAnnotations(
    namespace: string,
    name: string,
    annotations: Record<string, string | null>,
  ): Promise<void>;
  /** The last `lines` lines of a container's log ("" when it has none yet). */
  podLogTail(namespace: string, name: string, container: string, lines: number): Promise<string>;
  /** Reports pods matching the selector: first every existing one as ADDED, then changes. */
  watchPods(
    namespace: string,
    labelSelector: string,
    onEvent: (e: PodEvent) => void,
    opts?: WatchOptions,
  ): Watching;

  /** Creates the Secret, or replaces its data, labels and owners when it exists. */
  applySecret(namespace: string, secret: V1Secret): Promise<V1Secret>;
  getSecret(namespace: string, name: string): Promise<V1Secret | undefined>;
  /** Missing is success. */
  deleteSecret(namespace: string, name: string): Promise<void>;

  createEvent(namespace: string, event: CoreV1Event): Promise<void>;

  getPvc(namespace: string, name: string): Promise<V1PersistentVolumeClaim | undefined>;
  getPv(name: string): Promise<V1PersistentVolume | undefined>;
  getStorageClass(name: string): Promise<V1StorageClass | undefined>;
  /** "v1.34.4" */
  serverVersion(): Promise<string>;
}

/** A pod's "namespace/name", for messages. */
export const podRef = (namespace: string, name: string): string => `${namespace}/${name}`;
