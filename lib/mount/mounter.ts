import { type CommandRunner, DenoCommandRunner, runOk } from "../exec.ts";
import { findMount, type MountEntry, parseMountinfo } from "./mountinfo.ts";
import { type ProbeHealth, type ProbeOptions, probeStat } from "./stat_probe.ts";

/** "hung": the path's file system did not answer in time (a stopped or overloaded FUSE client). */
export type PathHealth = ProbeHealth;

/** Mount-table side effects, behind one interface so services can be tested with a fake. */
export interface Mounter {
  list(): Promise<MountEntry[]>;
  /** Bind-mounts `source` on `target`; with readOnly the bind is remounted read-only. */
  bind(source: string, target: string, opts?: { readOnly?: boolean }): Promise<void>;
  /** Unmounts `target`; lazy detaches it even when busy or broken. */
  unmount(target: string, opts?: { lazy?: boolean }): Promise<void>;
  /**
   * Whether `path` can be stat'ed: "corrupted" for a dead FUSE connection (ENOTCONN) and the
   * like, "hung" when it does not answer within a bounded time. Never blocks past that bound.
   */
  health(path: string): Promise<PathHealth>;
}

/**
 * stat(2) of `path` in a child process with a timeout (lib/mount/stat_probe.ts): a path on a
 * stopped FUSE client answers "hung" instead of blocking the caller and its volume's lock.
 */
export function statHealth(path: string, opts: ProbeOptions = {}): Promise<PathHealth> {
  return probeStat(path, opts);
}

export class ExecMounter implements Mounter {
  constructor(
    private runner: CommandRunner = new DenoCommandRunner(),
    private mountinfoPath = "/proc/self/mountinfo",
  ) {}

  /** The mount table (procfs, never a FUSE path: this read cannot hang on a client). */
  async list(): Promise<MountEntry[]> {
    return parseMountinfo(await Deno.readTextFile(this.mountinfoPath));
  }

  async bind(source: string, target: string, opts: { readOnly?: boolean } = {}): Promise<void> {
    await runOk(this.runner, "mount", ["--bind", source, target], { timeoutMs: 30_000 });
    if (opts.readOnly) {
      try {
        await runOk(this.runner, "mount", ["-o", "remount,bind,ro", target], { timeoutMs: 30_000 });
      } catch (e) {
        // Never leave a writable bind behind when read-only was asked for.
        await this.unmount(target, { lazy: true }).catch(() => {});
        throw e;
      }
    }
  }

  async unmount(target: string, opts: { lazy?: boolean } = {}): Promise<void> {
    await runOk(this.runner, "umount", opts.lazy ? ["-l", target] : [target], { timeoutMs: 30_000 });
  }

  health(path: string): Promise<PathHealth> {
    return statHealth(path);
  }
}

export async function mountAt(m: Mounter, path: string): Promise<MountEntry | undefined> {
  return findMount(await m.list(), path);
}
