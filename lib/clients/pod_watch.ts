import type { PodEvent, V1Pod } from "../kube/kube.ts";
import { logger } from "../log.ts";
import { ANNOTATION_KEY, CONTAINER } from "./pod_spec.ts";
import type { PodBackend } from "./pod_backend.ts";

const log = logger("pod-watch");

type Timer = ReturnType<typeof setTimeout>;

/**
 * Reacts to the watch of this node's Mount Pods: a pod deleted (kubectl delete --force, a node
 * drain) or evicted while volumes use its mount is created again with the same name and
 * settings. The fd keeper holds the FUSE connection meanwhile, so the new pod's juicefs resumes
 * it and the binds in app pods work again without a new publish.
 */
export class PodWatch {
  private retries = new Map<string, Timer>();
  /** Restart counts already told, by pod uid. */
  private oomSeen = new Map<string, number>();

  constructor(private b: PodBackend) {}

  /** An OOMKilled mount container restarts in place (and resumes the mount): say so, once per restart. */
  private tellOomKill(pod: V1Pod): void {
    const c = pod.status?.containerStatuses?.find((s) => s.name === CONTAINER);
    const uid = pod.metadata?.uid ?? "";
    if (c?.lastState?.terminated?.reason !== "OOMKilled" || this.oomSeen.get(uid) === c.restartCount) return;
    this.oomSeen.set(uid, c.restartCount);
    const name = pod.metadata?.name ?? "";
    const limit = pod.spec?.containers.find((x) => x.name === CONTAINER)?.resources?.limits?.["memory"];
    const line =
      `the JuiceFS client of Mount Pod ${name} ran out of memory (limit ${limit ?? "none"}) and restarted` +
      ` (restart ${c.restartCount}); raise mountMemoryLimit in the StorageClass if it repeats`;
    log.warn("{line}", { line });
    void this.b.o.events?.record(
      { kind: "Pod", namespace: this.b.o.namespace, name, ...(uid ? { uid } : {}) },
      "Warning",
      "MountPodOOMKilled",
      line,
    );
  }

  stop(): void {
    for (const t of this.retries.values()) clearTimeout(t);
    this.retries.clear();
  }

  onPodEvent(e: PodEvent): void {
    const name = e.pod.metadata?.name;
    const key = e.pod.metadata?.annotations?.[ANNOTATION_KEY];
    if (!name) return;
    if (e.type === "DELETED") {
      if (this.b.pods.get(name)?.metadata?.uid === e.pod.metadata?.uid) this.b.pods.delete(name);
      this.oomSeen.delete(e.pod.metadata?.uid ?? "");
    } else {
      this.b.remember(e.pod);
    }
    if (!key) return;
    if (e.type !== "DELETED" && !this.b.clients.has(key)) {
      void this.b.adopt(e.pod).catch((err) => log.warn("adopt {name}: {e}", { name, e: String(err) }));
    }
    if (e.type === "MODIFIED") this.tellOomKill(e.pod);
    if (e.type === "DELETED") {
      this.recreateSoon(key, 0);
    } else if (
      (e.pod.status?.phase === "Failed" || e.pod.status?.phase === "Succeeded") &&
      // A pod being deleted (a release, or a delete already asked for) ends this way too.
      !e.pod.metadata?.deletionTimestamp && !this.b.releasing.has(key)
    ) {
      // Evicted (or otherwise ended for good): it never restarts, so it goes and comes back.
      log.warn("Mount Pod {name} is {phase} ({reason}); replacing it", {
        name,
        phase: e.pod.status.phase,
        reason: e.pod.status.reason ?? "no reason",
      });
      void this.b.o.kube.deletePod(this.b.o.namespace, name, {
        ...(e.pod.metadata?.uid ? { uid: e.pod.metadata.uid } : {}),
        gracePeriodSeconds: 0,
      })
        .catch((err) => log.warn("delete {name}: {e}", { name, e: String(err) }));
    }
  }

  /** Creates the pod of `key` again if volumes still use its mount (retrying while they do). */
  recreateSoon(key: string, delayMs: number): void {
    if (this.retries.has(key)) return;
    const t = this.b.o.setTimer(() => {
      this.retries.delete(key);
      void this.b.queue.run(key, async () => {
        if (this.b.releasing.has(key) || this.b.inflight.has(key)) return;
        const c = this.b.clients.get(key);
        if (!(await this.b.inUse(key))) return;
        if (!c) {
          log.error(
            "client {key}: its Mount Pod is gone and its settings with it; the volumes using it fail",
            { key },
          );
          return;
        }
        if (await this.b.o.kube.getPod(this.b.o.namespace, c.name)) return;
        log.warn("client {key}: Mount Pod {name} is gone while volumes use it; creating it again", {
          key,
          name: c.name,
        });
        await this.b.bringUp(key, undefined, true);
      }, null).catch((e) => {
        log.warn("client {key}: recreating its Mount Pod: {e}", { key, e: String(e) });
        this.recreateSoon(key, Math.min(Math.max(delayMs * 2, 1000), 30_000));
      });
    }, delayMs);
    this.retries.set(key, t);
  }
}
