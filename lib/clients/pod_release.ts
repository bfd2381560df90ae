import { mountAt } from "../mount/mounter.ts";
import { unavailable } from "../errors.ts";
import { unpinSecrets } from "../redact.ts";
import { logger } from "../log.ts";
import type { PodBackend } from "./pod_backend.ts";

const log = logger("pod-release");

type Timer = ReturnType<typeof setTimeout>;

/**
 * Deleting Mount Pods: at once, or after the StorageClass's delete delay (beyond the
 * releaser's own delay, which has passed by the time release() is called); a stage of the
 * client in between cancels it.
 */
export class PodReleases {
  private delayed = new Map<string, { timer: Timer }>();

  constructor(private b: PodBackend) {}

  /** Stops pending delayed deletes (shutdown: the pods stay, a restart's sweep finds them). */
  stop(): void {
    for (const d of this.delayed.values()) clearTimeout(d.timer);
    this.delayed.clear();
  }

  release(key: string): Promise<void> {
    return this.b.queue.run(key, async () => {
      const extra = (this.b.clients.get(key)?.deleteDelayMs ?? 0) - this.b.o.releaserDelayMs;
      if (extra > 0) {
        if (this.delayed.has(key)) return;
        log.info("client {key}: unused; its Mount Pod goes in {ms}ms (delete delay)", { key, ms: extra });
        const entry = { timer: undefined as unknown as Timer };
        entry.timer = this.b.o.setTimer(() => {
          if (this.delayed.get(key) !== entry) return; // cancelled by a stage meanwhile
          this.delayed.delete(key);
          void this.b.queue.run(key, async () => {
            if (this.b.inflight.has(key) || (await this.b.inUse(key))) return;
            await this.deleteNow(key, "unused after its delete delay");
          }, null).catch((e) => log.warn("client {key}: delayed release: {e}", { key, e: String(e) }));
        }, extra);
        this.delayed.set(key, entry);
        return;
      }
      await this.deleteNow(key, "no volume uses it");
    }, null);
  }

  cancelDelayed(key: string): void {
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
    const name = this.b.clients.get(key)?.name ?? this.b.podNameOf(key);
    this.b.releasing.add(key);
    try {
      log.info("client {key}: deleting Mount Pod {name}: {why}", { key, name, why });
      await this.b.o.keeper.requestRelease(key);
      await this.b.o.kube.deletePod(this.b.o.namespace, name);
      await this.untilPodGone(name);
      await this.b.o.kube.deleteSecret(this.b.o.namespace, name);
      await this.clearMount(key);
      await this.b.o.keeper.drop(key);
      this.b.clients.delete(key);
      this.b.pods.delete(name);
      unpinSecrets(key);
    } finally {
      this.b.releasing.delete(key);
    }
  }

  private async untilPodGone(name: string): Promise<void> {
    const deadline = this.b.o.now() + this.b.o.podGoneTimeoutMs;
    while (this.b.o.now() < deadline) {
      if (!(await this.b.o.kube.getPod(this.b.o.namespace, name))) return;
      await this.b.o.sleep(this.b.o.pollMs);
    }
    log.warn("Mount Pod {name} is still there after {ms}ms", { name, ms: this.b.o.podGoneTimeoutMs });
  }

  /** Unmounts what is left at the client's mount point, then removes its directory. */
  async clearMount(key: string): Promise<void> {
    const path = this.b.mountPathOf(key);
    for (let i = 0; i < 5 && (await mountAt(this.b.o.mounter, path)); i++) {
      await this.b.o.mounter.unmount(path, { lazy: true }).catch((e) =>
        log.warn("umount {path}: {e}", { path, e: String(e) })
      );
    }
    if (await mountAt(this.b.o.mounter, path)) {
      // Removing the directory now would delete the file system's data through the mount.
      throw unavailable(`could not unmount the JuiceFS client at ${path}; leaving it in place`);
    }
    await Deno.remove(this.b.clientDir(key), { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
}
