import { join } from "node:path";
import type { ClientMount, ClientSpec, MountBackend } from "./backend.ts";
import { clientKey } from "./backend.ts";
import { mountAt, type Mounter, readTable } from "../mount/mounter.ts";
import type { MountTable } from "../mount/mountinfo.ts";
import { isJuiceFs } from "../mount/mountinfo.ts";
import { KeyedQueue } from "../locks.ts";
import { unavailable } from "../errors.ts";
import { pinSecrets, unpinSecrets } from "../redact.ts";
import { logger } from "../log.ts";
import { writeSettingsFile } from "../supervisor/settings_file.ts";
import { type ProcessTable, SystemProcessTable } from "./process_table.ts";
import { summarizeLog } from "./supervisor_log.ts";

const log = logger("process-backend");

export interface ProcessBackendOptions {
  /** Clients live under `<stateDir>/clients/<key>/` (mount point, pid file, log). */
  stateDir: string;
  /** How to start this program again, e.g. [".../bin/csi-jfs"]. */
  selfCommand: string[];
  mounter: Mounter;
  processes?: ProcessTable;
  readyTimeoutMs?: number;
  /**
   * A client whose juicefs process exits this many times before it ever mounted will not
   * mount (an unknown option, a wrong key): the start fails at once with juicefs's error
   * instead of after readyTimeoutMs.
   */
  maxStartFailures?: number;
  /** Extra arguments for every supervisor (log format and level). */
  supervisorArgs?: string[];
}

/**
 * Runs each client as a detached `csi-jfs --mode=mount-supervisor` child, so clients
 * outlive a restart of this process. The node's mount table and the supervisors' pid
 * files are the only state: a restarted plugin finds its clients again from them.
 */
export class ProcessBackend implements MountBackend {
  private queue = new KeyedQueue();
  private processes: ProcessTable;
  private readyTimeoutMs: number;
  private maxStartFailures: number;

  constructor(private opts: ProcessBackendOptions) {
    this.processes = opts.processes ?? new SystemProcessTable();
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
    this.maxStartFailures = opts.maxStartFailures ?? 2;
  }

  private logPath(key: string): string {
    return join(this.dir(key), "supervisor.log");
  }

  private dir(key: string): string {
    return join(this.opts.stateDir, "clients", key);
  }

  mountPathOf(key: string): string {
    return join(this.dir(key), "mnt");
  }

  private async supervisorPid(key: string): Promise<number | undefined> {
    const text = await Deno.readTextFile(join(this.dir(key), "supervisor.pid")).catch(() => "");
    const pid = Number(text.trim());
    if (!pid) return undefined;
    return (await this.processes.isSupervisor(pid, this.mountPathOf(key))) ? pid : undefined;
  }

  /** The client's JuiceFS mount: "live" answering stat, "hung" not answering, or "none". */
  private async mountState(key: string): Promise<"live" | "hung" | "none"> {
    const path = this.mountPathOf(key);
    const entry = await mountAt(this.opts.mounter, path);
    if (!entry || !isJuiceFs(entry)) return "none";
    const health = await this.opts.mounter.health(path);
    return health === "ok" ? "live" : health === "hung" ? "hung" : "none";
  }

  private async isLive(key: string): Promise<boolean> {
    return (await this.mountState(key)) === "live";
  }

  ensure(spec: ClientSpec): Promise<ClientMount> {
    const key = clientKey(spec);
    // Its secrets stay masked in every log for as long as the client may run.
    pinSecrets(key, Object.values(spec.settings.secretEnv));
    return this.queue.run(key, async () => {
      const mountPath = this.mountPathOf(key);
      const pid = await this.supervisorPid(key);
      const state = await this.mountState(key);
      if (state === "live") return { key, mountPath };
      if (state === "hung") {
        // Stopped or overloaded, not dead: replacing it would break every volume bound from it.
        throw unavailable(
          `the JuiceFS client for "${spec.settings.name}" at ${mountPath} does not answer (stopped or overloaded); retry later`,
        );
      }
      if (pid) {
        // The supervisor is restarting a crashed client on the held FUSE connection.
        if ((await this.waitLive(key, pid)).live) return { key, mountPath };
        log.warn("client {key}: supervisor {pid} did not recover the mount; starting over", { key, pid });
        await this.stopSupervisor(key, pid);
      }
      await this.clearMount(mountPath);
      await this.start(key, spec);
      return { key, mountPath };
    });
  }

  private async start(key: string, spec: ClientSpec): Promise<void> {
    const dir = this.dir(key);
    const mountPath = this.mountPathOf(key);
    await Deno.mkdir(mountPath, { recursive: true, mode: 0o700 });
    await Deno.chmod(dir, 0o700);
    const settingsFile = join(dir, "settings.json");
    await writeSettingsFile(settingsFile, {
      settings: spec.settings,
      mountFlags: spec.mountFlags,
      mountPoint: mountPath,
    });
    const [cmd, ...pre] = this.opts.selfCommand;
    if (!cmd) throw new Error("selfCommand is empty");
    const args = [
      ...pre,
      "--mode=mount-supervisor",
      `--settings-file=${settingsFile}`,
      `--log-file=${this.logPath(key)}`,
      `--fd-socket=${join(dir, "fuse-fd.sock")}`,
      ...(this.opts.supervisorArgs ?? []),
    ];
    // What this supervisor logs starts here (a reused directory keeps older runs' lines).
    const logFrom = await this.logSize(key);
    const child = new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
      detached: true,
    }).spawn();
    child.unref();
    await Deno.writeTextFile(join(dir, "supervisor.pid"), `${child.pid}\n`);
    log.info("client {key}: started supervisor {pid} for {fs} at {mountPath}", {
      key,
      pid: child.pid,
      fs: spec.settings.name,
      mountPath,
    });
    const wait = await this.waitLive(key, child.pid, logFrom);
    if (!wait.live) {
      const tail = await this.logTail(key, wait.logFrom);
      await this.stopSupervisor(key, child.pid);
      throw unavailable(
        `JuiceFS client for "${spec.settings.name}" did not mount at ${mountPath}${wait.why}: ${tail}`,
      );
    }
  }

  private async logSize(key: string): Promise<number> {
    return await Deno.stat(this.logPath(key)).then((s) => s.size, () => 0);
  }

  /** The supervisor's log from byte `from` on (what this wait has seen), as lines. */
  private async logLinesFrom(key: string, from: number): Promise<string[]> {
    const bytes = await Deno.readFile(this.logPath(key)).catch(() => new Uint8Array());
    return new TextDecoder().decode(bytes.subarray(from)).split("\n").filter((l) => l.trim());
  }

  /**
   * Polls until the mount is live. Not live when the supervisor exits, when its client
   * exited maxStartFailures times without mounting (read from the supervisor's log, which is
   * written line by line), or when the time is up.
   */
  private async waitLive(
    key: string,
    pid: number,
    logFrom?: number,
  ): Promise<{ live: boolean; why: string; logFrom: number }> {
    logFrom ??= await this.logSize(key);
    const deadline = Date.now() + this.readyTimeoutMs;
    while (Date.now() < deadline) {
      if (await this.isLive(key)) return { live: true, why: "", logFrom };
      if (!(await this.processes.isAlive(pid))) {
        return { live: await this.isLive(key), why: " (its supervisor exited)", logFrom };
      }
      const said = summarizeLog(await this.logLinesFrom(key, logFrom));
      if (said.clientExits >= this.maxStartFailures) {
        return { live: false, why: ` (juicefs exited ${said.clientExits} times without mounting)`, logFrom };
      }
      if (said.unreachableMeta) {
        return { live: false, why: " (juicefs cannot reach its metadata engine)", logFrom };
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    return { live: false, why: ` within ${Math.round(this.readyTimeoutMs / 1000)}s`, logFrom };
  }

  /** The errors juicefs and the supervisor logged since `from`, newest last, redacted. */
  private async logTail(key: string, from = 0): Promise<string> {
    // juicefs's own words first: they say what is wrong; the supervisor's only that it exited.
    return summarizeLog(await this.logLinesFrom(key, from)).tail ||
      "no error logged (see the supervisor log)";
  }

  private async stopSupervisor(key: string, pid: number): Promise<void> {
    await this.processes.signal(pid, "SIGTERM");
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (await this.processes.isAlive(pid))) {
      await new Promise((r) => setTimeout(r, 100));
    }
    if (await this.processes.isAlive(pid)) {
      log.warn("client {key}: supervisor {pid} ignored SIGTERM; killing it", { key, pid });
      await this.processes.signal(pid, "SIGKILL");
    }
  }

  /** Unmounts whatever is left at a client's mount path (a dead mount, an orphan). */
  private async clearMount(path: string): Promise<void> {
    for (let i = 0; i < 5 && (await mountAt(this.opts.mounter, path)); i++) {
      await this.opts.mounter.unmount(path, { lazy: true }).catch((e) =>
        log.warn("umount {path}: {e}", { path, e: String(e) })
      );
    }
  }

  release(key: string): Promise<void> {
    return this.queue.run(key, async () => {
      const pid = await this.supervisorPid(key);
      if (pid) await this.stopSupervisor(key, pid);
      const mountPath = this.mountPathOf(key);
      await this.clearMount(mountPath);
      if (await mountAt(this.opts.mounter, mountPath)) {
        // Removing the directory now would delete the file system's data through the mount.
        throw unavailable(`could not unmount the JuiceFS client at ${mountPath}; leaving it in place`);
      }
      await Deno.remove(this.dir(key), { recursive: true }).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
      unpinSecrets(key);
      log.info("client {key}: released", { key });
    }, null);
  }

  /**
   * Reaps what a crash left behind, client by client (never beside an ensure or release of the
   * same client): a supervisor that has no mount (it cannot mount, and crash-loops) is stopped
   * and its directory removed; a directory with neither supervisor nor mount is removed; a dead
   * mount (no supervisor, not answering) that no volume is bound from is taken off. Returns
   * what it did, one line per client.
   */
  async sweep(): Promise<string[]> {
    const done: string[] = [];
    let keys: string[] = [];
    try {
      for await (const e of Deno.readDir(join(this.opts.stateDir, "clients"))) {
        if (e.isDirectory) keys.push(e.name);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    keys = keys.sort();
    for (const key of keys) {
      const what = await this.queue.run(key, () => this.sweepOne(key), null).catch((e) => `failed: ${e}`);
      if (what) done.push(`${key}: ${what}`);
    }
    return done;
  }

  private async sweepOne(key: string): Promise<string | undefined> {
    const mountPath = this.mountPathOf(key);
    const pid = await this.supervisorPid(key);
    const table = await this.opts.mounter.list();
    const own = table.find((e) => e.mountPoint === mountPath);
    if (!own) {
      if (pid) await this.stopSupervisor(key, pid);
      await Deno.remove(this.dir(key), { recursive: true }).catch(() => {});
      unpinSecrets(key);
      return pid ? `supervisor ${pid} never mounted; stopped and removed` : "leftover directory removed";
    }
    if (pid) return undefined;
    const users = table.filter((e) => e.device === own.device && e.mountPoint !== mountPath);
    if (users.length > 0 || (await this.opts.mounter.health(mountPath)) !== "corrupted") return undefined;
    await this.clearMount(mountPath);
    if (await mountAt(this.opts.mounter, mountPath)) return "dead mount could not be taken off";
    await Deno.remove(this.dir(key), { recursive: true }).catch(() => {});
    unpinSecrets(key);
    return "dead mount without supervisor removed";
  }

  async list(table?: MountTable): Promise<ClientMount[]> {
    // One read of the mount table for all clients (or the caller's): publish and unstage call this.
    const t = table ?? await readTable(this.opts.mounter);
    const out: ClientMount[] = [];
    try {
      for await (const e of Deno.readDir(join(this.opts.stateDir, "clients"))) {
        const mountPath = this.mountPathOf(e.name);
        if (e.isDirectory && t.at(mountPath)) out.push({ key: e.name, mountPath });
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return out;
  }
}
