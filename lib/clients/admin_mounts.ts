import type { MountBackend } from "./backend.ts";
import { clientKey } from "./backend.ts";
import type { JuiceFsCli } from "../juicefs/cli.ts";
import type { FsSettings } from "../juicefs/settings.ts";
import { KeyedQueue } from "../locks.ts";
import { logger } from "../log.ts";
import { Code, CodedError } from "../errors.ts";

const log = logger("admin-mounts");

/**
 * The controller's own mounts of each file system (to create, delete and archive
 * volume directories). One per file system, reused by every call and released after
 * an idle time, so a warm CreateVolume costs no mount.
 */
export class AdminMounts {
  private known = new Set<string>();
  private idleTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private inUse = new Map<string, number>();
  private checks = new KeyedQueue();
  /** Client keys held (running or starting) per file system name. */
  private keysOf = new Map<string, Set<string>>();

  /**
   * @param maxPerFs Clients of one file system at once: each distinct set of credentials
   * (right or wrong) would otherwise start its own ~160 MB client.
   */
  constructor(
    private backend: MountBackend & { sweep?: () => Promise<string[]> },
    private cli: JuiceFsCli,
    private idleMs: number,
    private maxPerFs = 2,
  ) {}

  /** Makes room for `key` among the file system's clients: idle ones go first, else refuse. */
  private async admit(fs: string, key: string): Promise<void> {
    const keys = this.keysOf.get(fs) ?? new Set<string>();
    this.keysOf.set(fs, keys);
    if (keys.has(key)) return;
    for (const other of [...keys]) {
      if (keys.size < this.maxPerFs) break;
      if (this.inUse.get(other)) continue;
      log.info("releasing idle admin mount {key} to make room for another client of {fs}", {
        key: other,
        fs,
      });
      await this.releaseNow(other);
    }
    if (keys.size >= this.maxPerFs) {
      throw new CodedError(
        Code.RESOURCE_EXHAUSTED,
        `file system "${fs}" already has ${keys.size} admin clients in use with other credentials; retry later`,
      );
    }
    keys.add(key);
  }

  private async releaseNow(key: string): Promise<void> {
    clearTimeout(this.idleTimers.get(key));
    this.idleTimers.delete(key);
    for (const keys of this.keysOf.values()) keys.delete(key);
    this.inUse.delete(key);
    await this.backend.release(key).catch((e) => log.warn("release {key}: {e}", { key, e: String(e) }));
  }

  /**
   * Runs `fn` with the mount path of the file system's root, formatting the file system
   * first when it is new and `format` is allowed; `fn` gets undefined for an unformatted
   * file system when it is not.
   */
  async withMount<T>(
    settings: FsSettings,
    opts: { format: boolean },
    fn: (root: string | undefined) => Promise<T>,
  ): Promise<T> {
    const spec = { settings, mountFlags: [] };
    const key = clientKey(spec);
    // One check (and at most one format) per file system, even for concurrent first calls.
    const formatted = await this.checks.run(key, async () => {
      if (this.known.has(key)) return true;
      if (opts.format) await this.cli.ensureFormatted(settings);
      else if (!(await this.cli.status(settings)).formatted) return false;
      this.known.add(key);
      return true;
    });
    if (!formatted) return await fn(undefined);
    clearTimeout(this.idleTimers.get(key));
    await this.admit(settings.name, key);
    this.inUse.set(key, (this.inUse.get(key) ?? 0) + 1);
    let mountPath: string;
    try {
      mountPath = (await this.backend.ensure(spec)).mountPath;
    } catch (e) {
      // A client that failed to start is let go at once (its directory, its slot), not idled.
      const n = (this.inUse.get(key) ?? 1) - 1;
      this.inUse.set(key, n);
      if (n === 0) await this.releaseNow(key);
      throw e;
    }
    try {
      return await fn(mountPath);
    } finally {
      const n = (this.inUse.get(key) ?? 1) - 1;
      this.inUse.set(key, n);
      if (n === 0) this.scheduleRelease(key);
    }
  }

  private scheduleRelease(key: string): void {
    if (this.idleMs <= 0) return;
    const t = setTimeout(() => {
      this.idleTimers.delete(key);
      if (this.inUse.get(key)) return;
      log.info("releasing idle admin mount {key}", { key });
      void this.releaseNow(key);
    }, this.idleMs);
    Deno.unrefTimer(t);
    this.idleTimers.set(key, t);
  }

  /**
   * Reaps admin clients this controller does not hold: leftovers of a crashed or restarted
   * controller (nothing would ever release them) and the backend's own leftovers.
   */
  async sweep(): Promise<void> {
    for (const line of (await this.backend.sweep?.()) ?? []) log.info("sweep: client {line}", { line });
    const held = new Set([...this.keysOf.values()].flatMap((keys) => [...keys]));
    for (const m of await this.backend.list()) {
      if (held.has(m.key)) continue;
      log.info("sweep: releasing admin mount {key} left by an earlier run", { key: m.key });
      await this.backend.release(m.key).catch((e) =>
        log.warn("release {key}: {e}", { key: m.key, e: String(e) })
      );
    }
  }

  /** Sweeps now and every `everyMs`; the timer does not keep the process alive. */
  startSweeping(everyMs: number): void {
    const run = () => this.sweep().catch((e) => log.warn("sweep failed: {e}", { e: String(e) }));
    void run();
    Deno.unrefTimer(setInterval(run, everyMs));
  }

  async releaseAll(): Promise<void> {
    for (const t of this.idleTimers.values()) clearTimeout(t);
    this.idleTimers.clear();
    for (const m of await this.backend.list()) await this.backend.release(m.key);
  }
}
