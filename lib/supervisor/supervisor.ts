import type { Mounter } from "../mount/mounter.ts";
import { mountAt } from "../mount/mounter.ts";
import { isJuiceFs } from "../mount/mountinfo.ts";
import { logger } from "../log.ts";
import type { SupervisorSettings } from "./settings_file.ts";

const log = logger("supervisor");

/** Holds the FUSE device fd across client restarts (JuiceFS's JFS_SUPER_COMM protocol). */
export interface FdHolder {
  readonly socketPath: string;
  /** Whether a live FUSE connection is held (a dead one is dropped, so the next client mounts afresh). */
  holdsFd(): boolean;
  close(): Promise<void>;
}

/** A started client process: its pid (a process group leader) and its exit. */
export interface ClientProcess {
  pid: number;
  status: Promise<{ code: number; signal: string | null }>;
}

export interface SupervisorDeps {
  mounter: Mounter;
  spawnClient(args: string[], env: Record<string, string>): ClientProcess;
  killGroup(pid: number, sig: Deno.Signal): void;
  sleep(ms: number): Promise<void>;
  now(): number;
}

export interface SupervisorOptions {
  /** Backoff after a crash: doubles from min to max, back to min after a healthy run. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  healthyRunMs?: number;
  stopGraceMs?: number;
}

export function juicefsMountArgs(s: SupervisorSettings): string[] {
  return ["mount", s.settings.metaUrl, s.mountPoint, "--no-usage-report", ...s.mountFlags];
}

/**
 * Runs `juicefs mount` in the foreground, restarts it with backoff whenever it exits
 * while not asked to stop, and on stop() unmounts (lazily as the last resort) and ends
 * the client. The FUSE fd holder lets a restarted client serve the existing mount, so
 * binds of it (staging and pod targets) recover without being remounted.
 */
export class Supervisor {
  private stopping = false;
  private current: ClientProcess | undefined;
  private wake: (() => void) | undefined;
  private readonly o: Required<SupervisorOptions>;

  constructor(
    private s: SupervisorSettings,
    private holder: FdHolder,
    private deps: SupervisorDeps,
    opts: SupervisorOptions = {},
  ) {
    this.o = { minBackoffMs: 500, maxBackoffMs: 30_000, healthyRunMs: 60_000, stopGraceMs: 10_000, ...opts };
  }

  private clientEnv(): Record<string, string> {
    return { ...this.s.settings.secretEnv, JFS_SUPER_COMM: this.holder.socketPath };
  }

  /** Resolves with the exit code once stopped. */
  async run(): Promise<number> {
    let backoff = this.o.minBackoffMs;
    let restarts = 0;
    while (!this.stopping) {
      const entry = await mountAt(this.deps.mounter, this.s.mountPoint);
      const resuming = this.holder.holdsFd() && !!entry && isJuiceFs(entry);
      if (!resuming && entry && (await this.deps.mounter.health(this.s.mountPoint)) === "corrupted") {
        // No connection to resume: a new client would mount on top of the dead one.
        await this.deps.mounter.unmount(this.s.mountPoint, { lazy: true }).catch(() => {});
      }
      // stop() may have come while we looked at the mount point: start nothing then.
      if (this.stopping) break;
      const started = this.deps.now();
      this.current = this.deps.spawnClient(juicefsMountArgs(this.s), this.clientEnv());
      log.info("juicefs client {pid} started for {fs} at {mp} (restart {n}, {how})", {
        pid: this.current.pid,
        how: resuming ? "resuming the held FUSE connection" : "new mount",
        fs: this.s.settings.name,
        mp: this.s.mountPoint,
        n: restarts,
      });
      const st = await this.current.status;
      if (this.stopping) break;
      // juicefs's own supervisor may be gone while its child still serves /dev/fuse:
      // two servers on one connection would corrupt it, so the whole group goes.
      this.deps.killGroup(this.current.pid, "SIGKILL");
      const ran = this.deps.now() - started;
      if (ran >= this.o.healthyRunMs) backoff = this.o.minBackoffMs;
      log.warn(
        "juicefs client {pid} exited (code {code}, signal {signal}) after {ran}ms; restarting in {backoff}ms",
        {
          pid: this.current.pid,
          code: st.code,
          signal: st.signal ?? "none",
          ran,
          backoff,
        },
      );
      await Promise.race([this.deps.sleep(backoff), new Promise<void>((r) => (this.wake = r))]);
      backoff = Math.min(backoff * 2, this.o.maxBackoffMs);
      restarts++;
    }
    await this.teardown();
    return 0;
  }

  stop(): void {
    if (this.stopping) return;
    log.info("stopping: unmounting {mp}", { mp: this.s.mountPoint });
    this.stopping = true;
    this.wake?.();
    // Unmounting ends the client's FUSE session; the run loop then finishes teardown.
    void this.unmount().then(() => this.endClient());
  }

  private async unmount(): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!(await mountAt(this.deps.mounter, this.s.mountPoint))) return;
      try {
        await this.deps.mounter.unmount(this.s.mountPoint);
        return;
      } catch (e) {
        log.warn("umount {mp}: {e}", { mp: this.s.mountPoint, e: String(e) });
        await this.deps.sleep(1000);
      }
    }
    while (await mountAt(this.deps.mounter, this.s.mountPoint)) {
      log.warn("{mp} is still busy: detaching it lazily", { mp: this.s.mountPoint });
      await this.deps.mounter.unmount(this.s.mountPoint, { lazy: true }).catch(() => {});
    }
  }

  private async endClient(): Promise<void> {
    const c = this.current;
    if (!c) return;
    const exited = await Promise.race([
      c.status.then(() => true),
      this.deps.sleep(this.o.stopGraceMs).then(() => false),
    ]);
    if (!exited) {
      log.warn("juicefs client {pid} still running after unmount; terminating it", { pid: c.pid });
      this.deps.killGroup(c.pid, "SIGTERM");
      const gone = await Promise.race([c.status.then(() => true), this.deps.sleep(3_000).then(() => false)]);
      if (!gone) this.deps.killGroup(c.pid, "SIGKILL");
    }
  }

  private async teardown(): Promise<void> {
    await this.unmount();
    await this.endClient();
    await this.holder.close();
    log.info("stopped");
  }
}
