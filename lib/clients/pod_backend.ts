import { join } from "node:path";
import type { ClientMount, ClientSpec, ClientUse, MountBackend } from "./backend.ts";
import { clientKey } from "./backend.ts";
import { mountAt, type Mounter } from "../mount/mounter.ts";
import { isJuiceFs } from "../mount/mountinfo.ts";
import { KeyedQueue } from "../locks.ts";
import { unavailable } from "../errors.ts";
import { pinSecrets, redact, unpinSecrets } from "../redact.ts";
import { logger } from "../log.ts";
import type { Kube, PodEvent, V1Pod, Watching } from "../kube/kube.ts";
import { isAlreadyExists } from "../kube/kube_errors.ts";
import type { EventRecorder } from "../kube/events.ts";
import type { FuseFdKeeper } from "./fuse_fd_keeper.ts";
import {
  ANNOTATION_DELETE_DELAY,
  ANNOTATION_KEY,
  asTemplate,
  buildMountPod,
  buildSettingsSecret,
  CONTAINER,
  mountPodName,
  nodeSelector,
  settingsOf,
  settingsTextFromSecret,
  supervisorSettings,
  volumeAnnotation,
} from "./pod_spec.ts";
import { diagnosePod, summarizeLog } from "./pod_status.ts";
import { PodSweeper } from "./pod_sweep.ts";

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
  /** The node plugin's state directory, the same path on the host and in the plugin. */
  stateDir: string;
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
  private delayed = new Map<string, { timer: Timer }>();
  private watching: Watching | undefined;
  private retries = new Map<string, Timer>();
  readonly sweeper: PodSweeper;
  readonly o: Required<Omit<PodBackendOptions, "events">> & { events?: EventRecorder };

  constructor(opts: PodBackendOptions) {
    this.o = {
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
        resyncMs: 60_000,
        onError: (e) => log.warn("watching Mount Pods: {e}", { e: String(e) }),
      },
    );
  }

  /** Stops watching and pending timers; the Mount Pods keep running (a restart adopts them). */
  async stop(): Promise<void> {
    this.watching?.stop();
    for (const t of [...[...this.delayed.values()].map((d) => d.timer), ...this.retries.values()]) {
      clearTimeout(t);
    }
    this.delayed.clear();
    this.retries.clear();
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

  private remember(pod: V1Pod): void {
    const name = pod.metadata?.name;
    if (name) this.pods.set(name, pod);
  }

  private clientFor(key: string, spec: ClientSpec): PodClient {
    const known = this.clients.get(key);
    if (known) return known;
    const clientDir = this.clientDir(key);
    const keeperSocket = this.o.keeper.socketPath(key);
    const template = buildMountPod({
      node: this.o.nodeName,
      namespace: this.o.namespace,
      key,
      spec,
      defaultImage: this.o.image,
      clientDir,
      keeperDir: join(keeperSocket, ".."),
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
    this.cancelDelayed(key);
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
    if (!requirePod && (await this.mountLive(key))) return { key, mountPath };
    const c = spec ? this.clientFor(key, spec) : this.clients.get(key);
    if (!c) throw unavailable(`client ${key}: its settings are unknown; stage the volume again`);
    await this.o.keeper.start(key);
    const started = this.o.now();
    const deadline = started + this.o.readyTimeoutMs;
    let pod = await this.createOrAdopt(c, deadline);
    let secretAt = this.o.now();
    let logAt = -Infinity;
    let summary = { clientExits: 0, tail: "" };
    let checkedAt = this.o.now();
    while (true) {
      if (await this.mountLive(key)) {
        log.info("client {key}: Mount Pod {name} serves {path}", { key, name: c.name, path: mountPath });
        return { key, mountPath };
      }
      const now = this.o.now();
      if (now - checkedAt >= 2_000 || !this.pods.has(c.name)) {
        // The watch keeps the cache fresh; a read now and then covers a watch that is down.
        const fresh = await this.o.kube.getPod(this.o.namespace, c.name).catch(() => this.pods.get(c.name));
        checkedAt = now;
        if (fresh) this.remember(fresh);
        else this.pods.delete(c.name);
      }
      pod = this.pods.get(c.name);
      if (!pod && now < deadline) {
        log.warn("client {key}: Mount Pod {name} went away while starting; creating it again", {
          key,
          name: c.name,
        });
        pod = await this.createOrAdopt(c, deadline);
        secretAt = this.o.now();
      }
      const d = diagnosePod(pod, now - secretAt >= this.o.configErrorGraceMs);
      if ((d.running || d.stuck || now >= deadline) && now - logAt >= 2_000) {
        logAt = now;
        summary = summarizeLog(
          await this.o.kube.podLogTail(this.o.namespace, c.name, CONTAINER, 50).catch(() => ""),
        );
      }
      let why: string | undefined;
      if (d.stuck) why = "";
      else if (summary.clientExits >= this.o.maxStartFailures) {
        why = ` (juicefs exited ${summary.clientExits} times without mounting)`;
      } else if (now >= deadline) why = ` within ${Math.round(this.o.readyTimeoutMs / 1000)}s`;
      if (why !== undefined) {
        const line = redact(
          `Mount Pod ${this.o.namespace}/${c.name} for file system "${c.fsName}" did not mount${why}: ${d.state}` +
            (summary.tail ? `; log: ${summary.tail}` : ""),
        );
        await this.failed(c, pod, line);
        throw unavailable(line);
      }
      await this.o.sleep(this.o.pollMs);
    }
  }

  /** Tells the Mount Pod's Event list, and takes a pod that serves no volume away (no crash loop). */
  private async failed(c: PodClient, pod: V1Pod | undefined, line: string): Promise<void> {
    log.warn("client {key}: {line}", { key: c.key, line });
    if (pod?.metadata?.name) {
      await this.o.events?.record(
        {
          kind: "Pod",
          namespace: this.o.namespace,
          name: pod.metadata.name,
          ...(pod.metadata.uid ? { uid: pod.metadata.uid } : {}),
        },
        "Warning",
        "MountFailed",
        line,
      );
    }
    if (!(await this.inUse(c.key))) {
      await this.deleteNow(c.key, "it did not mount").catch((e) =>
        log.warn("client {key}: deleting the failed Mount Pod: {e}", { key: c.key, e: String(e) })
      );
    }
  }

  /** The pod of `c` (created, or the existing one), with its Secret written for its uid. */
  private async createOrAdopt(c: PodClient, deadline: number): Promise<V1Pod | undefined> {
    const ns = this.o.namespace;
    for (let attempt = 0;; attempt++) {
      let pod = await this.o.kube.getPod(ns, c.name);
      if (pod?.metadata?.deletionTimestamp) {
        // The old incarnation is still stopping: its name is not free yet.
        if (this.o.now() >= deadline) return pod;
        await this.o.sleep(this.o.pollMs);
        continue;
      }
      if (!pod) {
        try {
          pod = await this.o.kube.createPod(ns, c.template);
          log.info("client {key}: created Mount Pod {name}", { key: c.key, name: c.name });
        } catch (e) {
          if (!isAlreadyExists(e) || attempt > 20) throw e;
          continue; // created meanwhile (another node plugin instance): adopt it
        }
      }
      this.remember(pod);
      const uid = pod.metadata?.uid;
      if (uid) {
        await this.o.kube.applySecret(
          ns,
          buildSettingsSecret({ ...this.o, node: this.o.nodeName, key: c.key }, {
            name: c.name,
            uid,
          }, c.settingsText),
        );
      }
      return pod;
    }
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

  /** Called by the releaser once no volume uses the client: deletes the pod (after the delay). */
  release(key: string): Promise<void> {
    return this.queue.run(key, async () => {
      const extra = (this.clients.get(key)?.deleteDelayMs ?? 0) - this.o.releaserDelayMs;
      if (extra > 0) {
        if (this.delayed.has(key)) return;
        log.info("client {key}: unused; its Mount Pod goes in {ms}ms (delete delay)", { key, ms: extra });
        const entry = { timer: undefined as unknown as Timer };
        entry.timer = this.o.setTimer(() => {
          if (this.delayed.get(key) !== entry) return; // cancelled by a stage meanwhile
          this.delayed.delete(key);
          void this.queue.run(key, async () => {
            if (this.inflight.has(key) || (await this.inUse(key))) return;
            await this.deleteNow(key, "unused after its delete delay");
          }, null).catch((e) => log.warn("client {key}: delayed release: {e}", { key, e: String(e) }));
        }, extra);
        this.delayed.set(key, entry);
        return;
      }
      await this.deleteNow(key, "no volume uses it");
    }, null);
  }

  private cancelDelayed(key: string): void {
    const d = this.delayed.get(key);
    if (d !== undefined) clearTimeout(d.timer);
    this.delayed.delete(key);
  }

  /**
   * Deletes the Mount Pod for good: the release file first (its supervisor then unmounts on
   * SIGTERM instead of leaving the mount to the keeper), the pod, its Secret, what is left of the
   * mount, then the keeper lets go. Runs in the key's queue.
   */
  async deleteNow(key: string, why: string): Promise<void> {
    const name = this.clients.get(key)?.name ?? this.podNameOf(key);
    this.releasing.add(key);
    try {
      log.info("client {key}: deleting Mount Pod {name}: {why}", { key, name, why });
      await this.o.keeper.requestRelease(key);
      await this.o.kube.deletePod(this.o.namespace, name);
      await this.untilPodGone(name);
      await this.o.kube.deleteSecret(this.o.namespace, name);
      await this.clearMount(key);
      await this.o.keeper.drop(key);
      this.clients.delete(key);
      this.pods.delete(name);
      unpinSecrets(key);
    } finally {
      this.releasing.delete(key);
    }
  }

  private async untilPodGone(name: string): Promise<void> {
    const deadline = this.o.now() + this.o.podGoneTimeoutMs;
    while (this.o.now() < deadline) {
      if (!(await this.o.kube.getPod(this.o.namespace, name))) return;
      await this.o.sleep(this.o.pollMs);
    }
    log.warn("Mount Pod {name} is still there after {ms}ms", { name, ms: this.o.podGoneTimeoutMs });
  }

  /** Unmounts what is left at the client's mount point, then removes its directory. */
  async clearMount(key: string): Promise<void> {
    const path = this.mountPathOf(key);
    for (let i = 0; i < 5 && (await mountAt(this.o.mounter, path)); i++) {
      await this.o.mounter.unmount(path, { lazy: true }).catch((e) =>
        log.warn("umount {path}: {e}", { path, e: String(e) })
      );
    }
    if (await mountAt(this.o.mounter, path)) {
      // Removing the directory now would delete the file system's data through the mount.
      throw unavailable(`could not unmount the JuiceFS client at ${path}; leaving it in place`);
    }
    await Deno.remove(this.clientDir(key), { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }

  /** Clients mounted now, from the mount table alone (publish and unstage call this). */
  async list(): Promise<ClientMount[]> {
    const root = join(this.o.stateDir, "pods") + "/";
    const out: ClientMount[] = [];
    for (const e of await this.o.mounter.list()) {
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

  /** The watch: a Mount Pod deleted (or evicted) while volumes use it is created again. */
  onPodEvent(e: PodEvent): void {
    const name = e.pod.metadata?.name;
    const key = e.pod.metadata?.annotations?.[ANNOTATION_KEY];
    if (!name) return;
    if (e.type === "DELETED") {
      if (this.pods.get(name)?.metadata?.uid === e.pod.metadata?.uid) this.pods.delete(name);
    } else {
      this.remember(e.pod);
    }
    if (!key) return;
    if (e.type !== "DELETED" && !this.clients.has(key)) {
      void this.adopt(e.pod).catch((err) => log.warn("adopt {name}: {e}", { name, e: String(err) }));
    }
    if (e.type === "DELETED") {
      this.recreateSoon(key, 0);
    } else if (e.pod.status?.phase === "Failed" || e.pod.status?.phase === "Succeeded") {
      // Evicted (or otherwise ended for good): it never restarts, so it goes and comes back.
      log.warn("Mount Pod {name} is {phase} ({reason}); replacing it", {
        name,
        phase: e.pod.status.phase,
        reason: e.pod.status.reason ?? "no reason",
      });
      void this.o.kube.deletePod(this.o.namespace, name, {
        ...(e.pod.metadata?.uid ? { uid: e.pod.metadata.uid } : {}),
        gracePeriodSeconds: 0,
      })
        .catch((err) => log.warn("delete {name}: {e}", { name, e: String(err) }));
    }
  }

  /** Creates the pod of `key` again if volumes still use its mount (retrying while they do). */
  recreateSoon(key: string, delayMs: number): void {
    if (this.retries.has(key)) return;
    const t = this.o.setTimer(() => {
      this.retries.delete(key);
      void this.queue.run(key, async () => {
        if (this.releasing.has(key) || this.inflight.has(key)) return;
        const c = this.clients.get(key);
        if (!(await this.inUse(key))) return;
        if (!c) {
          log.error(
            "client {key}: its Mount Pod is gone and its settings with it; the volumes using it fail",
            { key },
          );
          return;
        }
        if (await this.o.kube.getPod(this.o.namespace, c.name)) return;
        log.warn("client {key}: Mount Pod {name} is gone while volumes use it; creating it again", {
          key,
          name: c.name,
        });
        await this.bringUp(key, undefined, true);
      }, null).catch((e) => {
        log.warn("client {key}: recreating its Mount Pod: {e}", { key, e: String(e) });
        this.recreateSoon(key, Math.min(Math.max(delayMs * 2, 1000), 30_000));
      });
    }, delayMs);
    this.retries.set(key, t);
  }
}
