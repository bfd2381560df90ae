import type { MountBackend } from "./backend.ts";
import type { Mounter } from "../mount/mounter.ts";
import { KeyedQueue } from "../locks.ts";
import { logger } from "../log.ts";

const log = logger("releaser");

/**
 * Stops a shared client once the last volume bound from it is gone, optionally after a
 * delay (a pod rescheduled onto the node soon reuses the warm client). "In use" is read
 * from the mount table: any mount with the client's device besides its own mount point.
 */
export class ClientReleaser {
  private timers = new Map<string, ReturnType<typeof setTimeout>>();
  private queue = new KeyedQueue();

  constructor(private backend: MountBackend, private mounter: Mounter, private delayMs: number) {}

  /** Runs `fn` (ensure a client and bind from it) so that no release of `key` interleaves. */
  guard<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.queue.run(key, () => {
      this.cancel(key);
      return fn();
    });
  }

  cancel(key: string): void {
    const t = this.timers.get(key);
    if (t !== undefined) {
      clearTimeout(t);
      this.timers.delete(key);
    }
  }

  /** Finds the client that `device` belongs to and releases it when nothing else uses it. */
  async releaseIfUnused(device: string): Promise<void> {
    const entries = await this.mounter.list();
    for (const client of await this.backend.list()) {
      const own = entries.find((e) => e.mountPoint === client.mountPath);
      if (!own || own.device !== device) continue;
      if (this.delayMs <= 0) return await this.releaseNow(client.key, client.mountPath, device);
      this.cancel(client.key);
      const t = setTimeout(() => {
        this.timers.delete(client.key);
        this.releaseNow(client.key, client.mountPath, device).catch((e) =>
          log.warn("release {key}: {e}", { key: client.key, e: String(e) })
        );
      }, this.delayMs);
      this.timers.set(client.key, t);
    }
  }

  private releaseNow(key: string, mountPath: string, device: string): Promise<void> {
    return this.queue.run(key, async () => {
      const users = (await this.mounter.list()).filter((e) =>
        e.device === device && e.mountPoint !== mountPath
      );
      if (users.length > 0) return;
      log.info("client {key} has no volumes left; releasing it", { key });
      await this.backend.release(key);
    }, null);
  }

  /** Stops pending timers (shutdown); the clients themselves keep running. */
  stop(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
