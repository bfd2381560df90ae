/**
 * An in-memory Kube for unit tests: objects in maps, resourceVersions, label selectors
 * (equality terms only), watches, uid preconditions, owner-reference garbage collection of
 * Secrets, and switches to make calls fail. Pods never run by themselves: a test sets their
 * status (setPodStatus) and logs (setLog), or hooks onCreatePod to play a kubelet.
 */
import type {
  CoreV1Event,
  DeleteOptions,
  Kube,
  PodEvent,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodStatus,
  V1Secret,
  V1StorageClass,
  WatchEventType,
  Watching,
  WatchOptions,
} from "./kube.ts";
import { podRef } from "./kube.ts";
import { CodedError } from "../errors.ts";
import { Code } from "../errors.ts";
import { ListWatchLoop } from "./list_watch.ts";

const clone = <T>(v: T): T => structuredClone(v);

/** `a=b,c=d` against labels. */
export function matchesSelector(labels: Record<string, string> | undefined, selector: string): boolean {
  for (const term of selector.split(",").map((t) => t.trim()).filter(Boolean)) {
    const [k, v] = term.split("=");
    if (k === undefined || v === undefined || (labels ?? {})[k] !== v) return false;
  }
  return true;
}

type Listener = (type: WatchEventType, pod: V1Pod) => void;

export class FakeKube implements Kube {
  pods = new Map<string, V1Pod>();
  secrets = new Map<string, V1Secret>();
  events: CoreV1Event[] = [];
  pvcs = new Map<string, V1PersistentVolumeClaim>();
  pvs = new Map<string, V1PersistentVolume>();
  storageClasses = new Map<string, V1StorageClass>();
  logs = new Map<string, string>();
  version = "v1.34.4";
  /** Counts of calls by method name. */
  calls = new Map<string, number>();
  /** Make the next calls of a method fail with this error (consumed one per call). */
  failures = new Map<string, CodedError[]>();
  /** Called after a pod is stored (e.g. a test's kubelet that sets its status). */
  onCreatePod: ((pod: V1Pod) => void) | undefined;
  /**
   * A test's kubelet stopping a deleted pod: while it runs the pod stays, marked with a
   * deletionTimestamp, as a graceful deletion does.
   */
  onDeletePod: ((pod: V1Pod) => Promise<void>) | undefined;
  /** Awaited at the start of pod and Secret calls: a test's random yields make races happen. */
  pause: (() => Promise<void>) | undefined;
  /** The clock of creationTimestamp. */
  now: () => number = Date.now;
  private rv = 0;
  private uid = 0;
  private listeners = new Set<{ ns: string; selector: string; fn: Listener }>();

  private count(method: string): void {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
    const f = this.failures.get(method)?.shift();
    if (f) throw f;
  }

  private tick(): string {
    return String(++this.rv);
  }

  private notify(type: WatchEventType, pod: V1Pod): void {
    for (const l of this.listeners) {
      if (pod.metadata?.namespace === l.ns && matchesSelector(pod.metadata?.labels, l.selector)) {
        l.fn(type, clone(pod));
      }
    }
  }

  async createPod(namespace: string, pod: V1Pod): Promise<V1Pod> {
    this.count("createPod");
    await this.pause?.();
    const name = pod.metadata?.name ?? "";
    const key = podRef(namespace, name);
    if (this.pods.has(key)) {
      throw new CodedError(Code.ALREADY_EXISTS, `kubernetes: create pod ${key}: already exists (HTTP 409)`);
    }
    const stored: V1Pod = clone(pod);
    stored.metadata = {
      ...stored.metadata,
      namespace,
      uid: `uid-${++this.uid}`,
      resourceVersion: this.tick(),
      creationTimestamp: new Date(this.now()),
    };
    stored.status = { phase: "Pending" };
    this.pods.set(key, stored);
    this.notify("ADDED", stored);
    this.onCreatePod?.(clone(stored));
    return clone(stored);
  }

  async getPod(namespace: string, name: string): Promise<V1Pod | undefined> {
    this.count("getPod");
    await this.pause?.();
    const p = this.pods.get(podRef(namespace, name));
    return p ? clone(p) : undefined;
  }

  // deno-lint-ignore require-await
  async listPods(namespace: string, labelSelector: string): Promise<V1Pod[]> {
    this.count("listPods");
    return this.podsIn(namespace, labelSelector);
  }

  private podsIn(namespace: string, labelSelector: string): V1Pod[] {
    return [...this.pods.values()]
      .filter((p) =>
        p.metadata?.namespace === namespace && matchesSelector(p.metadata?.labels, labelSelector)
      )
      .map(clone);
  }

  async deletePod(namespace: string, name: string, opts: DeleteOptions = {}): Promise<void> {
    this.count("deletePod");
    await this.pause?.();
    const key = podRef(namespace, name);
    const p = this.pods.get(key);
    if (!p) return;
    if (opts.uid && p.metadata?.uid !== opts.uid) {
      throw new CodedError(Code.ABORTED, `kubernetes: delete pod ${key}: uid precondition failed (HTTP 409)`);
    }
    if (opts.gracePeriodSeconds === 0) return this.removePod(key); // --force --grace-period=0
    if (this.onDeletePod && !p.metadata?.deletionTimestamp) {
      p.metadata = { ...p.metadata, deletionTimestamp: new Date(this.now()), resourceVersion: this.tick() };
      this.notify("MODIFIED", p);
      const uid = p.metadata.uid;
      void this.onDeletePod(clone(p)).finally(() => {
        if (this.pods.get(key)?.metadata?.uid === uid) this.removePod(key);
      });
      return;
    }
    if (p.metadata?.deletionTimestamp) return;
    this.removePod(key);
  }

  /** A pod gone from the API (deleted, or force-deleted by a user); its owned Secrets go too. */
  removePod(key: string): void {
    const p = this.pods.get(key);
    if (!p) return;
    this.pods.delete(key);
    p.metadata = { ...p.metadata, resourceVersion: this.tick() };
    this.notify("DELETED", p);
    for (const [sk, s] of this.secrets) {
      if (s.metadata?.ownerReferences?.some((o) => o.uid === p.metadata?.uid)) this.secrets.delete(sk);
    }
  }

  /** A test's kubelet: sets a pod's status and tells the watchers. */
  setPodStatus(namespace: string, name: string, status: V1PodStatus): void {
    const p = this.pods.get(podRef(namespace, name));
    if (!p) throw new Error(`no pod ${name}`);
    p.status = clone(status);
    p.metadata = { ...p.metadata, resourceVersion: this.tick() };
    this.notify("MODIFIED", p);
  }

  setLog(namespace: string, name: string, text: string): void {
    this.logs.set(podRef(namespace, name), text);
  }

  // deno-lint-ignore require-await
  async patchPodAnnotations(
    namespace: string,
    name: string,
    annotations: Record<string, string | null>,
  ): Promise<void> {
    this.count("patchPodAnnotations");
    const key = podRef(namespace, name);
    const p = this.pods.get(key);
    if (!p) throw new CodedError(Code.NOT_FOUND, `kubernetes: annotate pod ${key}: not found (HTTP 404)`);
    const a = { ...(p.metadata?.annotations ?? {}) };
    for (const [k, v] of Object.entries(annotations)) {
      if (v === null) delete a[k];
      else a[k] = v;
    }
    p.metadata = { ...p.metadata, annotations: a, resourceVersion: this.tick() };
    this.notify("MODIFIED", p);
  }

  // deno-lint-ignore require-await
  async podLogTail(namespace: string, name: string, _container: string, lines: number): Promise<string> {
    this.count("podLogTail");
    const text = this.logs.get(podRef(namespace, name)) ?? "";
    return text.split("\n").filter((l) => l !== "").slice(-lines).join("\n");
  }

  watchPods(
    namespace: string,
    labelSelector: string,
    onEvent: (e: PodEvent) => void,
    opts: WatchOptions = {},
  ): Watching {
    this.count("watchPods");
    return new ListWatchLoop(
      {
        // deno-lint-ignore require-await
        list: async () => ({
          items: this.podsIn(namespace, labelSelector),
          resourceVersion: String(this.rv),
        }),
        // deno-lint-ignore require-await
        watch: async (_rv, emit) => {
          const l = { ns: namespace, selector: labelSelector, fn: emit };
          this.listeners.add(l);
          return () => this.listeners.delete(l);
        },
      },
      onEvent,
      { resyncMs: opts.resyncMs ?? 60_000, ...(opts.onError ? { onError: opts.onError } : {}) },
    )
      .start();
  }

  /** Watch streams open now. */
  watchers(): number {
    return this.listeners.size;
  }

  async applySecret(namespace: string, secret: V1Secret): Promise<V1Secret> {
    this.count("applySecret");
    await this.pause?.();
    const key = podRef(namespace, secret.metadata?.name ?? "");
    const owners = secret.metadata?.ownerReferences ?? [];
    const stored = clone(secret);
    stored.metadata = { ...stored.metadata, namespace, resourceVersion: this.tick() };
    // Like the garbage collector: a Secret whose every owner is gone is deleted.
    const alive = owners.length === 0 ||
      owners.some((o) => [...this.pods.values()].some((p) => p.metadata?.uid === o.uid));
    if (alive) this.secrets.set(key, stored);
    return clone(stored);
  }

  // deno-lint-ignore require-await
  async getSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    this.count("getSecret");
    const s = this.secrets.get(podRef(namespace, name));
    return s ? clone(s) : undefined;
  }

  // deno-lint-ignore require-await
  async deleteSecret(namespace: string, name: string): Promise<void> {
    this.count("deleteSecret");
    this.secrets.delete(podRef(namespace, name));
  }

  // deno-lint-ignore require-await
  async createEvent(namespace: string, event: CoreV1Event): Promise<void> {
    this.count("createEvent");
    this.events.push({ ...clone(event), metadata: { ...event.metadata, namespace } });
  }

  // deno-lint-ignore require-await
  async getPvc(namespace: string, name: string): Promise<V1PersistentVolumeClaim | undefined> {
    this.count("getPvc");
    return clone(this.pvcs.get(podRef(namespace, name)));
  }

  // deno-lint-ignore require-await
  async getPv(name: string): Promise<V1PersistentVolume | undefined> {
    this.count("getPv");
    return clone(this.pvs.get(name));
  }

  // deno-lint-ignore require-await
  async getStorageClass(name: string): Promise<V1StorageClass | undefined> {
    this.count("getStorageClass");
    return clone(this.storageClasses.get(name));
  }

  // deno-lint-ignore require-await
  async serverVersion(): Promise<string> {
    this.count("serverVersion");
    return this.version;
  }
}
