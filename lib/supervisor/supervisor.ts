import type { Mounter, PathHealth } from "../mount/mounter.ts";
import { mountAt } from "../mount/mounter.ts";
import { isJuiceFs, type MountEntry } from "../mount/mountinfo.ts";
import { logger } from "../log.ts";
import type { SupervisorSettings } from "./settings_file.ts";
import type { KeeperLink } from "./fd_keeper_link.ts";

const log = logger("supervisor");

/** Holds the FUSE device fd across client restarts (JuiceFS's JFS_SUPER_COMM protocol). */
export interface FdHolder {
  readonly socketPath: string;
  /** Whether a live FUSE connection is held (a dead one is dropped, so the next client mounts afresh). */
  holdsFd(): boolean;
  /** Takes ownership of a FUSE fd fetched from the node plugin's keeper. */
  adopt(fd: number, setting: Uint8Array): void;
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
  /** Whether a juicefs process of the group led by `pid` still runs (helpers it forked aside). */
  clientAlive(pid: number): boolean;
  /** Aborts the kernel FUSE connection of the mount with this mountinfo device ("0:53"). */
  abortConnection(device: string): Promise<void>;
  /** Whether the node plugin asked for a real release (only read with keepMountOnTerm). */
  releaseRequested(): Promise<boolean>;
  /** Resolves after `ms`; an aborted signal may leave it pending forever. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  now(): number;
  /** The node plugin's fd keeper, which keeps the mount alive when this supervisor dies. */
  keeper?: KeeperLink;
}

export interface SupervisorOptions {
  /** Backoff after a crash: doubles from min to max, back to min once a client ran healthyRunMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  healthyRunMs?: number;
  /** How long a client may take to exit once asked to (unmounted, or SIGHUP). */
  stopGraceMs?: number;
  /** Deadline of one umount. */
  umountTimeoutMs?: number;
  /** Deadline of the other steps of a stop (abort, keeper hand-over, closing the holder). */
  stepTimeoutMs?: number;
  /** On stop, leave the mount to the keeper (unless a release was asked for) instead of unmounting. */
  keepMountOnTerm?: boolean;
}

export function juicefsMountArgs(s: SupervisorSettings): string[] {
  return ["mount", s.settings.metaUrl, s.mountPoint, "--no-usage-report", ...s.mountFlags];
}

class Timeout extends Error {}

/**
 * Runs `juicefs mount` in the foreground, restarts it with backoff whenever it exits while not
 * asked to stop, and on stop() either unmounts and ends the client (a release), or, with
 * keepMountOnTerm and no release asked for, ends the client and leaves the mount to the node
 * plugin's fd keeper for the next supervisor. The FUSE fd holder lets a restarted client serve
 * the existing mount, so binds of it (staging and pod targets) recover without a remount.
 *
 * A stop never hangs: every step has a deadline, and a mount whose client is gone (or hung)
 * has its FUSE connection aborted before it is unmounted, since a plain umount would wait in
 * the kernel for a daemon that will never answer while the holder keeps the connection open.
 */
export class Supervisor {
  private stopping = false;
  private current: ClientProcess | undefined;
  private currentExited = false;
  private onStop!: () => void;
  private readonly stopped = new Promise<"stop">((r) => (this.onStop = () => r("stop")));
  private readonly o: Required<SupervisorOptions>;

  constructor(
    private s: SupervisorSettings,
    private holder: FdHolder,
    private deps: SupervisorDeps,
    opts: SupervisorOptions = {},
  ) {
    this.o = {
      minBackoffMs: 500,
      maxBackoffMs: 30_000,
      healthyRunMs: 60_000,
      stopGraceMs: 10_000,
      umountTimeoutMs: 10_000,
      stepTimeoutMs: 5_000,
      keepMountOnTerm: false,
      ...opts,
    };
  }

  private clientEnv(): Record<string, string> {
    return { ...this.s.settings.secretEnv, JFS_SUPER_COMM: this.holder.socketPath };
  }

  /** Resolves with the exit code once stopped. */
  async run(): Promise<number> {
    await this.takeKeptConnection();
    this.deps.keeper?.start();
    let backoff = this.o.minBackoffMs;
    let restarts = 0;
    while (!this.stopping) {
      const entry = await mountAt(this.deps.mounter, this.s.mountPoint);
      const resuming = this.holder.holdsFd() && !!entry && isJuiceFs(entry);
      if (!resuming && entry && (await this.health()) === "corrupted") {
        // No connection to resume: a new client would mount on top of the dead one.
        await this.within(
          this.o.umountTimeoutMs,
          this.deps.mounter.unmount(this.s.mountPoint, { lazy: true }),
        )
          .catch(() => {});
      }
      // stop() may have come while we looked at the mount point: start nothing then.
      if (this.stopping) break;
      const started = this.deps.now();
      const c = this.deps.spawnClient(juicefsMountArgs(this.s), this.clientEnv());
      this.current = c;
      this.currentExited = false;
      void c.status.then(() => {
        if (this.current === c) this.currentExited = true;
      });
      log.info("juicefs client {pid} started for {fs} at {mp} (restart {n}, {how})", {
        pid: c.pid,
        how: resuming ? "resuming the held FUSE connection" : "new mount",
        fs: this.s.settings.name,
        mp: this.s.mountPoint,
        n: restarts,
      });
      const healthy = new AbortController();
      let outcome = await Promise.race([
        c.status,
        this.stopped,
        this.deps.sleep(this.o.healthyRunMs, healthy.signal).then(() => "healthy" as const),
      ]);
      if (outcome === "healthy") {
        if (backoff !== this.o.minBackoffMs) {
          log.info(
            "juicefs client {pid} healthy for {ms}ms: restart backoff reset from {backoff}ms to {min}ms",
            {
              pid: c.pid,
              ms: this.o.healthyRunMs,
              backoff,
              min: this.o.minBackoffMs,
            },
          );
        }
        backoff = this.o.minBackoffMs;
        outcome = await Promise.race([c.status, this.stopped]);
      }
      healthy.abort();
      if (this.stopping || outcome === "stop") break;
      // juicefs's own supervisor may be gone while its child still serves /dev/fuse:
      // two servers on one connection would corrupt it, so the whole group goes.
      this.deps.killGroup(c.pid, "SIGKILL");
      const ran = this.deps.now() - started;
      if (ran >= this.o.healthyRunMs) backoff = this.o.minBackoffMs;
      log.warn(
        "juicefs client {pid} exited (code {code}, signal {signal}) after {ran}ms; restarting in {backoff}ms",
        { pid: c.pid, code: outcome.code, signal: outcome.signal ?? "none", ran, backoff },
      );
      const pause = new AbortController();
      await Promise.race([this.deps.sleep(backoff, pause.signal), this.stopped]);
      pause.abort();
      backoff = Math.min(backoff * 2, this.o.maxBackoffMs);
      restarts++;
    }
    return await this.shutdown();
  }

  stop(): void {
    if (this.stopping) return;
    log.info("stopping the client of {mp}", { mp: this.s.mountPoint });
    this.stopping = true;
    this.onStop();
  }

  /** A replacement supervisor: the keeper's fd lets the first client resume the live mount. */
  private async takeKeptConnection(): Promise<void> {
    const keeper = this.deps.keeper;
    if (!keeper || this.holder.holdsFd()) return;
    const got = await this.within(this.o.stepTimeoutMs + 1_000, keeper.fetch(this.o.stepTimeoutMs))
      .catch((e) => {
        log.warn("no FUSE fd from the fd keeper: {error}", { error: String(e) });
        return null;
      });
    if (got === null) return;
    this.holder.adopt(got.fd, got.setting);
    log.info("took the FUSE connection of {mp} from the fd keeper: the client resumes it", {
      mp: this.s.mountPoint,
    });
  }

  /** stat() of a FUSE mount whose connection nobody serves would wait: bounded here. */
  private async health(): Promise<PathHealth | "hung"> {
    try {
      return await this.within(this.o.stepTimeoutMs, this.deps.mounter.health(this.s.mountPoint));
    } catch (e) {
      log.warn("{mp}: {error}", { mp: this.s.mountPoint, error: String(e) });
      return "hung";
    }
  }

  private async shutdown(): Promise<number> {
    const keep = this.o.keepMountOnTerm && !(await this.releaseRequested());
    const code = keep ? await this.leaveMounted() : await this.release();
    const { keeper } = this.deps;
    if (keeper) await this.within(this.o.stepTimeoutMs, keeper.close()).catch(() => {});
    await this.within(this.o.stepTimeoutMs, this.holder.close()).catch((e) =>
      log.warn("closing the FUSE fd holder: {error}", { error: String(e) })
    );
    log.info("stopped (exit {code})", { code });
    return code;
  }

  private async releaseRequested(): Promise<boolean> {
    try {
      return await this.within(this.o.stepTimeoutMs, this.deps.releaseRequested());
    } catch (e) {
      log.warn("cannot tell whether a release was asked for ({error}): keeping the mount", {
        error: String(e),
      });
      return false;
    }
  }

  /** No release asked for: the mount stays for the next supervisor, kept alive by the keeper. */
  private async leaveMounted(): Promise<number> {
    const { keeper } = this.deps;
    const kept = keeper
      ? await this.within(this.o.stepTimeoutMs + 1_000, keeper.handOver(this.o.stepTimeoutMs))
        .catch(() => false)
      : false;
    if (kept) {
      log.info("leaving {mp} mounted: the fd keeper holds its FUSE connection for the next supervisor", {
        mp: this.s.mountPoint,
      });
    } else {
      log.warn(
        "leaving {mp} mounted, but the fd keeper does not hold its FUSE connection: it breaks when the client ends",
        { mp: this.s.mountPoint },
      );
    }
    const c = this.current;
    if (c && this.deps.clientAlive(c.pid)) {
      // SIGHUP is juicefs's own hand-over exit: the serving process flushes buffered writes and
      // stops serving without unmounting; its parent (which would restart it) just exits.
      log.info("asking juicefs client {pid} to flush and exit without unmounting (SIGHUP)", { pid: c.pid });
      this.deps.killGroup(c.pid, "SIGHUP");
      await this.untilClientGone(c.pid, this.o.stopGraceMs);
      // What juicefs forked may be waiting on the now unserved mount (its `df` does): it goes too.
      this.deps.killGroup(c.pid, "SIGKILL");
    }
    return 0;
  }

  /** A real release: unmount, then end the client; never hangs on a dead or hung client. */
  private async release(): Promise<number> {
    const mp = this.s.mountPoint;
    // The group, not the exit status we may not have seen yet: a SIGTERM can be handled
    // before the exit of a client killed just before it.
    const c = this.current;
    const alive = c !== undefined && !this.currentExited && this.deps.clientAlive(c.pid);
    let unmounted = !(await mountAt(this.deps.mounter, mp));
    let hung = false;
    if (!unmounted && alive) {
      for (let attempt = 0; attempt < 3 && !unmounted && !hung; attempt++) {
        if (!(await mountAt(this.deps.mounter, mp))) {
          unmounted = true;
          break;
        }
        try {
          await this.within(this.o.umountTimeoutMs, this.deps.mounter.unmount(mp));
          unmounted = true;
        } catch (e) {
          hung = e instanceof Timeout;
          log.warn("umount {mp}: {error}", { mp, error: String(e) });
          if (!hung) await this.deps.sleep(1000);
        }
      }
    }
    const entry = unmounted ? undefined : await mountAt(this.deps.mounter, mp);
    if (entry) {
      if (!alive || hung) {
        await this.abort(entry, alive ? "the juicefs client does not answer" : "no juicefs client serves it");
      }
      await this.lazyUnmount();
    }
    await this.endClient();
    if (await mountAt(this.deps.mounter, mp)) {
      log.error("{mp} is still mounted after the stop", { mp });
      return 1;
    }
    return 0;
  }

  private async abort(entry: MountEntry, why: string): Promise<void> {
    const mp = this.s.mountPoint;
    try {
      await this.within(this.o.stepTimeoutMs, this.deps.abortConnection(entry.device));
      log.warn("aborted the FUSE connection {device} of {mp}: {why}", { device: entry.device, mp, why });
    } catch (e) {
      // Without the control file, dropping our own copy of the fd aborts the connection when
      // no one else holds one.
      log.warn("cannot abort the FUSE connection {device} of {mp} ({error}): closing the held fd instead", {
        device: entry.device,
        mp,
        error: String(e),
      });
      await this.within(this.o.stepTimeoutMs, this.holder.close()).catch(() => {});
    }
  }

  private async lazyUnmount(): Promise<void> {
    const mp = this.s.mountPoint;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!(await mountAt(this.deps.mounter, mp))) return;
      log.warn("detaching {mp} lazily", { mp });
      try {
        await this.within(this.o.umountTimeoutMs, this.deps.mounter.unmount(mp, { lazy: true }));
      } catch (e) {
        log.warn("umount -l {mp}: {error}", { mp, error: String(e) });
        await this.deps.sleep(500);
      }
    }
  }

  private async endClient(): Promise<void> {
    const c = this.current;
    if (!c || this.currentExited) return;
    if (await this.exitsWithin(c, this.o.stopGraceMs)) return;
    log.warn("juicefs client {pid} still running after the unmount; terminating it", { pid: c.pid });
    this.deps.killGroup(c.pid, "SIGTERM");
    if (await this.exitsWithin(c, 3_000)) return;
    this.deps.killGroup(c.pid, "SIGKILL");
    if (!(await this.exitsWithin(c, 3_000))) {
      log.error("juicefs client {pid} survived SIGKILL", { pid: c.pid });
    }
  }

  private async untilClientGone(pid: number, ms: number): Promise<void> {
    for (let waited = 0; waited < ms; waited += 100) {
      if (!this.deps.clientAlive(pid)) return;
      await this.deps.sleep(100);
    }
    log.warn("juicefs client {pid} did not exit within {ms}ms; killing it", { pid, ms });
    this.deps.killGroup(pid, "SIGKILL");
    for (let waited = 0; waited < 3_000 && this.deps.clientAlive(pid); waited += 100) {
      await this.deps.sleep(100);
    }
  }

  private async exitsWithin(c: ClientProcess, ms: number): Promise<boolean> {
    const timer = new AbortController();
    const exited = await Promise.race([
      c.status.then(() => true),
      this.deps.sleep(ms, timer.signal).then(() => false),
    ]);
    timer.abort();
    return exited;
  }

  /** `p`, or a Timeout after `ms` (the work itself may go on; its result is dropped). */
  private async within<T>(ms: number, p: Promise<T>): Promise<T> {
    const timer = new AbortController();
    try {
      return await Promise.race([
        p,
        this.deps.sleep(ms, timer.signal).then(() => {
          throw new Timeout(`did not finish within ${ms}ms`);
        }),
      ]);
    } finally {
      timer.abort();
    }
  }
}
