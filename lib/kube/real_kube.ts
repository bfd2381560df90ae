import {
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  StorageV1Api,
  VersionApi,
  Watch,
} from "@kubernetes/client-node";
import type {
  CoreV1Event,
  DeleteOptions,
  Kube,
  PodEvent,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1Pod,
  V1Secret,
  V1StorageClass,
  WatchEventType,
  Watching,
  WatchOptions,
} from "./kube.ts";
import { podRef } from "./kube.ts";
import { isAlreadyExists, isNotFound, kubeError } from "./kube_errors.ts";
import { ListWatchLoop } from "./list_watch.ts";
import { failedPrecondition } from "../errors.ts";

/**
 * Where the API is: `--kubeconfig` when given; else $KUBECONFIG or ~/.kube/config when
 * present (running by hand); else the pod's service account (in-cluster).
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
  } catch (e) {
    throw failedPrecondition(
      `kubeconfig ${path ?? "(default)"}: ${String((e as Error).message ?? e).split("\n")[0]}`,
    );
  }
  if (!kc.getCurrentCluster()) {
    throw failedPrecondition(
      "no Kubernetes API configured: run in a pod with a service account, or pass --kubeconfig",
    );
  }
  return kc;
}

/** The Kube facade over @kubernetes/client-node. */
export class RealKube implements Kube {
  private core: CoreV1Api;
  private storage: StorageV1Api;
  private version: VersionApi;

  constructor(private kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.storage = kc.makeApiClient(StorageV1Api);
    this.version = kc.makeApiClient(VersionApi);
  }

  private async call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw kubeError(op, e);
    }
  }

  private async orUndefined<T>(op: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await this.call(op, fn);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  createPod(namespace: string, pod: V1Pod): Promise<V1Pod> {
    return this.call(
      `create pod ${podRef(namespace, pod.metadata?.name ?? "?")}`,
      () => this.core.createNamespacedPod({ namespace, body: pod }),
    );
  }

  getPod(namespace: string, name: string): Promise<V1Pod | undefined> {
    return this.orUndefined(
      `get pod ${podRef(namespace, name)}`,
      () => this.core.readNamespacedPod({ namespace, name }),
    );
  }

  async listPods(namespace: string, labelSelector: string): Promise<V1Pod[]> {
    const list = await this.call(
      `list pods in ${namespace} (${labelSelector})`,
      () => this.core.listNamespacedPod({ namespace, labelSelector }),
    );
    return list.items;
  }

  async deletePod(namespace: string, name: string, opts: DeleteOptions = {}): Promise<void> {
    try {
      await this.call(`delete pod ${podRef(namespace, name)}`, () =>
        this.core.deleteNamespacedPod({
          namespace,
          name,
          ...(opts.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: opts.gracePeriodSeconds } : {}),
          body: {
            ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}),
            ...(opts.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: opts.gracePeriodSeconds } : {}),
          },
        }));
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  async patchPodAnnotations(
    namespace: string,
    name: string,
    annotations: Record<string, string | null>,
  ): Promise<void> {
    await this.call(
      `annotate pod ${podRef(namespace, name)}`,
      () =>
        this.core.patchNamespacedPod(
          { namespace, name, body: { metadata: { annotations } } },
          setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
        ),
    );
  }

  async podLogTail(namespace: string, name: string, container: string, lines: number): Promise<string> {
    try {
      return await this.call(
        `log of pod ${podRef(namespace, name)}`,
        () => this.core.readNamespacedPodLog({ namespace, name, container, tailLines: lines }),
      );
    } catch (e) {
      // A container that never started has no log: that is an answer, not a failure.
      if (isNotFound(e) || (e as { code?: number }).code === 3) return "";
      throw e;
    }
  }

  watchPods(
    namespace: string,
    labelSelector: string,
    onEvent: (e: PodEvent) => void,
    opts: WatchOptions = {},
  ): Watching {
    const watch = new Watch(this.kc);
    // The library aborts a stream idle this long; the server ends ours first (timeoutSeconds).
    // (A private field in its types, the only knob there is: its default, 30 s, would end
    // every quiet watch twice a minute.)
    (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = 6 * 60_000;
    const loop = new ListWatchLoop(
      {
        list: async () => {
          const l = await this.call(
            `list pods in ${namespace} (${labelSelector})`,
            () => this.core.listNamespacedPod({ namespace, labelSelector }),
          );
          return { items: l.items, resourceVersion: l.metadata?.resourceVersion ?? "" };
        },
        watch: async (resourceVersion, emit, onDone) => {
          const ctl = await watch.watch(
            `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
            { labelSelector, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 300 },
            (type: string, obj: unknown) => {
              if (type === "ADDED" || type === "MODIFIED" || type === "DELETED") {
                emit(type as WatchEventType, obj as V1Pod);
              } else if (type === "ERROR") {
                // Typically 410 Gone (the version is too old): list again.
                ctl?.abort();
                onDone(
                  kubeError(`watch pods in ${namespace}`, {
                    code: (obj as { code?: number })?.code,
                    body: obj,
                  }),
                );
              }
            },
            (err: unknown) => onDone(err ? kubeError(`watch pods in ${namespace}`, err) : undefined),
          );
          return () => ctl.abort();
        },
      },
      onEvent,
      { resyncMs: opts.resyncMs ?? 5 * 60_000, ...(opts.onError ? { onError: opts.onError } : {}) },
    );
    return loop.start();
  }

  async applySecret(namespace: string, secret: V1Secret): Promise<V1Secret> {
    const name = secret.metadata?.name ?? "?";
    try {
      return await this.call(
        `create secret ${podRef(namespace, name)}`,
        () => this.core.createNamespacedSecret({ namespace, body: secret }),
      );
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
    }
    // Replace, not patch: a stale key must go, and the owner must be the current pod.
    return await this.call(
      `replace secret ${podRef(namespace, name)}`,
      () => this.core.replaceNamespacedSecret({ namespace, name, body: secret }),
    );
  }

  getSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    return this.orUndefined(
      `get secret ${podRef(namespace, name)}`,
      () => this.core.readNamespacedSecret({ namespace, name }),
    );
  }

  async deleteSecret(namespace: string, name: string): Promise<void> {
    try {
      await this.call(
        `delete secret ${podRef(namespace, name)}`,
        () => this.core.deleteNamespacedSecret({ namespace, name }),
      );
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  async createEvent(namespace: string, event: CoreV1Event): Promise<void> {
    await this.call(
      `create event in ${namespace}`,
      () => this.core.createNamespacedEvent({ namespace, body: event }),
    );
  }

  getPvc(namespace: string, name: string): Promise<V1PersistentVolumeClaim | undefined> {
    return this.orUndefined(
      `get pvc ${podRef(namespace, name)}`,
      () => this.core.readNamespacedPersistentVolumeClaim({ namespace, name }),
    );
  }

  getPv(name: string): Promise<V1PersistentVolume | undefined> {
    return this.orUndefined(`get pv ${name}`, () => this.core.readPersistentVolume({ name }));
  }

  getStorageClass(name: string): Promise<V1StorageClass | undefined> {
    return this.orUndefined(`get storageclass ${name}`, () => this.storage.readStorageClass({ name }));
  }

  async serverVersion(): Promise<string> {
    const v = await this.call("get server version", () => this.version.getCode());
    return v.gitVersion;
  }
}
