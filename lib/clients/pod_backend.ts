import { join, relative } from "node:path";
import type { ClientMount, ClientSpec, ClientUse, MountBackend } from "./backend.ts";
import { clientKey } from "./backend.ts";
import { mountAt, type Mounter, readTable } from "../mount/mounter.ts";
import type { MountTable } from "../mount/mountinfo.ts";
import { isJuiceFs } from "../mount/mountinfo.ts";
import { KeyedQueue } from "../locks.ts";
import { unavailable } from "../errors.ts";
import { pinSecrets } from "../redact.ts";
import { logger } from "../log.ts";
import type { Kube, PodEvent, V1Pod, Watching } from "../kube/kube.ts";
import type { EventRecorder } from "../kube/events.ts";
import type { FuseFdKeeper } from "./fuse_fd_keeper.ts";
import {
  ANNOTATION_DELETE_DELAY,
  ANNOTATION_KEY,
  asTemplate,
  buildMountPod,
  mountPodName,
  nodeSelector,
  settingsOf,
  settingsTextFromSecret,
  supervisorSettings,
  volumeAnnotation,
} from "./pod_spec.ts";
import { PodSweeper } from "./pod_sweep.ts";
import { PodReleases } from "./pod_release.ts";
import { PodWatch } from "./pod_watch.ts";
import { PodStarter } from "./pod_start.ts";

const log = logger("pod-backend");

export type Keeper = Pick<
  FuseFdKeeper,
  "start" | "requestRelease" | "drop" | "socketPath" | "adoptAll" | "stop"
>;

export interface PodBackendOptions {
  kube: Kube;
  /** The driver's namespace: Mount Pods and their Secrets live there. */
  namespace: string;
  nodeName: string;
  /** The node plugin's state directory (--state-dir). */
  stateDir: string;
  /** Its path on the host, when the plugin mounts it elsewhere (--state-host-dir). */
  hostStateDir?: string;
  /** The Mount Pod image when a StorageClass names none. */
  image: string;
  mounter: Mounter;
  keeper: Keeper;
  events?: EventRecorder;
  /** --mount-timeout: how long a stage waits for the file system to be live. */
  readyTimeoutMs?: number;
  /** juicefs exiting this many times without mounting fails the stage at once. */
  maxStartFailures?: number;
  supervisorArgs?: string[];
  /** The delay the releaser applies already (--client-release-delay). */
  releaserDelayMs?: number;
  pollMs?: number;
  /** CreateContainerConfigError this long after the Secret was written is a real problem. */
  configErrorGraceMs?: number;
  /** How long a deleted Mount Pod may take to go. */
  podGoneTimeoutMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Timers for delayed deletes and retries (unref'd: they never keep the process alive). */
  setTimer?: (fn: () => void, ms: number) => Timer;
}

/** What the backend knows of a client: enough to create its pod and Secret again. */
export interface PodClient {
  key: string;
  name: string;
  template: V1Pod;
  settingsText: string;
  deleteDelayMs: number;
  fsName: string;
}

type Timer = ReturnType<typeof setTimeout>;

/**
 * Runs each client in a Mount Pod on this node (see README "Mount Pod mode"). The pod's name is
 * a function of node and client key, so concurrent stages create exactly one; its Secret holds
 * the supervisor's settings; the node plugin's fd keeper holds a copy of the FUSE connection so
 * a deleted or OOMKilled pod is replaced (by watch) without breaking the binds made from it.
 */
export class PodBackend implements MountBackend {
  readonly queue = new KeyedQueue();
  readonly clients = new Map<string, PodClient>();
  /** Mount Pods of this node by name, from the watch (and our own calls). */
  readonly pods = new Map<string, V1Pod>();
  readonly inflight = new Map<string, Promise<ClientMount>>();
  readonly releasing = new Set<string>();
  private watching: Watching | undefined;
  readonly sweeper: PodSweeper;
  readonly releases: PodReleases;
  readonly watch: PodWatch;
  readonly starter: PodStarter;
  readonly o: Required<Omit<PodBackendOptions, "events">> & { events?: EventRecorder };

  constructor(opts: PodBackendOptions) {
    this.o = {
      hostStateDir: opts.stateDir,
      readyTimeoutMs: 60_000,
      maxStartFailures: 2,
      supervisorArgs: [],
      releaserDelayMs: 0,
      pollMs: 250,
      configErrorGraceMs: 10_000,
      podGoneTimeoutMs: 90_000,
      now: Date.now,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      setTimer: (fn, ms) => {
        const t = setTimeout(fn, ms);
        Deno.unrefTimer(t as unknown as number);
        return t;
      },
      ...opts,
    };
    this.sweeper = new PodSweeper(this);
    this.releases = new PodReleases(this);
    this.watch = new PodWatch(this);
    this.starter = new PodStarter(this);
  }

  clientDir(key: string): string {
    return join(this.o.stateDir, "pods", key);
  }

  mountPathOf(key: string): string {
    return join(this.clientDir(key), "mnt");
  }

  podNameOf(key: string): string {
    return mountPodName(this.o.nodeName, key, key.replace(/-[0-9a-f]{12}$/, ""));
  }

  /** Adopts the Mount Pods of this node and starts watching them. */
  async start(): Promise<void> {
    await this.o.keeper.adoptAll();
    try {
      for (const pod of await this.o.kube.listPods(this.o.namespace, nodeSelector(this.o.nodeName))) {
        this.remember(pod);
        await this.adopt(pod).catch((e) =>
          log.warn("adopt {pod}: {e}", { pod: pod.metadata?.name, e: String(e) })
        );
      }
    } catch (e) {
      log.warn("cannot list Mount Pods (the watch retries): {e}", { e: String(e) });
    }
    this.watching = this.o.kube.watchPods(
      this.o.namespace,
      nodeSelector(this.o.nodeName),
      (e) => this.onPodEvent(e),
      {
        resyncMs: 120_000,
        onError: (e) => log.warn("watching Mount Pods: {e}", { e: String(e) }),
      },
    );
  }

  /** Stops watching and pending timers; the Mount Pods keep running (a restart adopts them). */
  async stop(): Promise<void> {
    this.watching?.stop();
    this.releases.stop();
    this.watch.stop();
    await this.o.keeper.stop();
  }

  /** Learns a running pod's client from the pod and its Secret (a restarted node plugin). */
  async adopt(pod: V1Pod): Promise<PodClient | undefined> {
    const key = pod.metadata?.annotations?.[ANNOTATION_KEY];
    const name = pod.metadata?.name;
    if (!key || !name || this.clients.has(key)) return this.clients.get(key ?? "");
    const secret = await this.o.kube.getSecret(this.o.namespace, name);
    const text = secret ? settingsTextFromSecret(secret) : undefined;
    if (!text) return undefined;
    const s = JSON.parse(text) as ReturnType<typeof supervisorSettings>;
    pinSecrets(key, Object.values(s.settings.secretEnv ?? {}));
    const c: PodClient = {
      key,
      name,
      template: asTemplate(pod),
      settingsText: text,
      deleteDelayMs: Number(pod.metadata?.annotations?.[ANNOTATION_DELETE_DELAY] ?? 0) || 0,
      fsName: s.settings.name,
    };
    this.clients.set(key, c);
    log.info("adopted Mount Pod {name} of client {key}", { name, key });
    return c;
  }

  remember(pod: V1Pod): void {
    const name = pod.metadata?.name;
    if (name) this.pods.set(name, pod);
  }

  private clientFor(key: string, spec: ClientSpec): PodClient {
    const known = this.clients.get(key);
    if (known) return known;
    const clientDir = this.clientDir(key);
    const keeperSocket = this.o.keeper.socketPath(key);
    const keeperDir = join(keeperSocket, "..");
    const onHost = (path: string) => join(this.o.hostStateDir, relative(this.o.stateDir, path));
    const template = buildMountPod({
      node: this.o.nodeName,
      namespace: this.o.namespace,
      key,
      spec,
      defaultImage: this.o.image,
      clientDir,
      keeperDir,
      hostClientDir: onHost(clientDir),
      hostKeeperDir: onHost(keeperDir),
      hostCacheDir: join(this.o.hostStateDir, "cache"),
      keeperSocket,
      supervisorArgs: this.o.supervisorArgs,
    });
    const c: PodClient = {
      key,
      name: template.metadata!.name!,
      template,
      settingsText: JSON.stringify(supervisorSettings(spec, clientDir)),
      deleteDelayMs: settingsOf(spec).deleteDelayMs,
      fsName: spec.settings.name,
    };
    this.clients.set(key, c);
    return c;
  }

  async ensure(spec: ClientSpec, use?: ClientUse): Promise<ClientMount> {
    const key = clientKey(spec);
    pinSecrets(key, Object.values(spec.settings.secretEnv));
    this.releases.cancelDelayed(key);
    let attempt = this.inflight.get(key);
    if (!attempt) {
      // Stages of many volumes of one client share one attempt (and one failure).
      attempt = this.queue.run(key, () => this.bringUp(key, spec), null).finally(() =>
        this.inflight.delete(key)
      );
      this.inflight.set(key, attempt);
    }
    try {
      const m = await attempt;
      if (use) await this.annotate(key, use);
      return m;
    } catch (e) {
      if (use?.pod) {
        await this.o.events?.record(
          {
            kind: "Pod",
            namespace: use.pod.namespace,
            name: use.pod.name,
            ...(use.pod.uid ? { uid: use.pod.uid } : {}),
          },
          "Warning",
          "JuiceFSMountFailed",
          `volume ${use.volumeId}: ${(e as Error).message}`,
        );
      }
      throw e;
    }
  }

  async mountLive(key: string): Promise<boolean> {
    const path = this.mountPathOf(key);
    const entry = await mountAt(this.o.mounter, path);
    return !!entry && isJuiceFs(entry) && (await this.o.mounter.health(path)) === "ok";
  }

  /** Whether any mount besides the client's own comes from it (a staged volume). */
  async inUse(key: string): Promise<boolean> {
    const path = this.mountPathOf(key);
    const table = await this.o.mounter.list();
    const own = table.find((e) => e.mountPoint === path);
    return !!own && table.some((e) => e.device === own.device && e.mountPoint !== path);
  }

  /** Makes the client's pod exist and waits for its mount (in the key's queue). */
  async bringUp(key: string, spec: ClientSpec | undefined, requirePod = false): Promise<ClientMount> {
    const mountPath = this.mountPathOf(key);
    // A replacement must be created even while the mount still answers: a force-deleted pod's
    // container may serve for a moment after it left the API.
    // Known (or rebuilt from the spec) even when the mount is live: a later deletion is repaired from it.
    const c = spec ? this.clientFor(key, spec) : this.clients.get(key);
    if (!requirePod && (await this.mountLive(key))) return { key, mountPath };
    if (!c) throw unavailable(`client ${key}: its settings are unknown; stage the volume again`);
    await this.o.keeper.start(key);
    await this.starter.run(c);
    return { key, mountPath };
  }

  private async annotate(key: string, use: ClientUse): Promise<void> {
    const c = this.clients.get(key);
    if (!c) return;
    const k = volumeAnnotation(use.volumeId);
    const annotations = (c.template.metadata!.annotations ??= {});
    if (
      annotations[k] === use.volumeId && this.pods.get(c.name)?.metadata?.annotations?.[k] === use.volumeId
    ) return;
    annotations[k] = use.volumeId;
    await this.o.kube.patchPodAnnotations(this.o.namespace, c.name, { [k]: use.volumeId }).catch((e) =>
      log.warn("client {key}: annotating its Mount Pod: {e}", { key, e: String(e) })
    );
  }

  async forget(volumeId: string): Promise<void> {
    const k = volumeAnnotation(volumeId);
    for (const c of this.clients.values()) {
      const annotations = c.template.metadata?.annotations ?? {};
      const onPod = this.pods.get(c.name)?.metadata?.annotations?.[k] !== undefined;
      if (annotations[k] === undefined && !onPod) continue;
      delete annotations[k];
      await this.o.kube.patchPodAnnotations(this.o.namespace, c.name, { [k]: null }).catch(() => {});
    }
  }

  /** Clients mounted now, from the mount table alone (publish and unstage call this). */
  async list(table?: MountTable): Promise<ClientMount[]> {
    const root = join(this.o.stateDir, "pods") + "/";
    const out: ClientMount[] = [];
    for (const e of (table ?? await readTable(this.o.mounter)).entries()) {
      if (!e.mountPoint.startsWith(root) || !e.mountPoint.endsWith("/mnt")) continue;
      const key = e.mountPoint.slice(root.length, -"/mnt".length);
      if (/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(key) && !out.some((c) => c.key === key)) {
        out.push({ key, mountPath: e.mountPoint });
      }
    }
    return out;
  }

  sweep(): Promise<string[]> {
    return this.sweeper.sweep();
  }

  /** Called by the releaser once no volume uses the client: deletes the pod (after the delay). */
  release(key: string): Promise<void> {
    return this.releases.release(key);
  }

  deleteNow(key: string, why: string): Promise<void> {
    return this.releases.deleteNow(key, why);
  }

  clearMount(key: string): Promise<void> {
    return this.releases.clearMount(key);
  }

  onPodEvent(e: PodEvent): void {
    this.watch.onPodEvent(e);
  }

  recreateSoon(key: string, delayMs: number): void {
    this.watch.recreateSoon(key, delayMs);
  }
}
