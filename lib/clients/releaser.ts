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
  private sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(
    private backend: MountBackend & { sweep?: () => Promise<string[]> },
    private mounter: Mounter,
    private delayMs: number,
  ) {}

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

  /**
   * Reaps leftovers (a crash, a restart that lost the release timers): the backend's own sweep
   * when it has one, then every running client that no volume is bound from is released (after
   * the usual delay). Run at start and periodically.
   */
  async sweep(): Promise<void> {
    const swept = await this.backend.sweep?.() ?? [];
    for (const line of swept) log.info("sweep: client {line}", { line });
    const entries = await this.mounter.list();
    for (const client of await this.backend.list()) {
      const own = entries.find((e) => e.mountPoint === client.mountPath);
      if (!own || this.timers.has(client.key)) continue;
      if (entries.some((e) => e.device === own.device && e.mountPoint !== client.mountPath)) continue;
      log.info("sweep: client {key} has no volumes", { key: client.key });
      await this.releaseIfUnused(own.device).catch((e) =>
        log.warn("sweep: release {key}: {e}", { key: client.key, e: String(e) })
      );
    }
  }

  /** Sweeps now and every `everyMs` until stop(); the timer does not keep the process alive. */
  startSweeping(everyMs: number): void {
    const run = () => this.sweep().catch((e) => log.warn("sweep failed: {e}", { e: String(e) }));
    void run();
    this.sweeper = setInterval(run, everyMs);
    Deno.unrefTimer(this.sweeper);
  }

  /** Stops pending timers (shutdown); the clients themselves keep running. */
  stop(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    clearInterval(this.sweeper);
  }
}
