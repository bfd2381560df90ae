import { type CommandRunner, DenoCommandRunner, runOk } from "../exec.ts";
import { findMount, type MountEntry, parseMountinfo } from "./mountinfo.ts";

export type PathHealth = "ok" | "missing" | "corrupted";

/** Mount-table side effects, behind one interface so services can be tested with a fake. */
export interface Mounter {
  list(): Promise<MountEntry[]>;
  /** Bind-mounts `source` on `target`; with readOnly the bind is remounted read-only. */
  bind(source: string, target: string, opts?: { readOnly?: boolean }): Promise<void>;
  /** Unmounts `target`; lazy detaches it even when busy or broken. */
  unmount(target: string, opts?: { lazy?: boolean }): Promise<void>;
  /** Whether `path` can be stat'ed: "corrupted" for a dead FUSE connection (ENOTCONN) and the like. */
  health(path: string): Promise<PathHealth>;
}

const CORRUPTED_CODES = new Set(["ENOTCONN", "ESTALE", "EIO", "EACCES", "EHOSTDOWN", "ECONNABORTED"]);

export async function statHealth(path: string): Promise<PathHealth> {
  try {
    await Deno.stat(path);
    return "ok";
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "missing";
    const code = (e as { code?: string }).code ?? "";
    if (CORRUPTED_CODES.has(code) || e instanceof Deno.errors.NotConnected) return "corrupted";
    throw e;
  }
}

export class ExecMounter implements Mounter {
  constructor(
    private runner: CommandRunner = new DenoCommandRunner(),
    private mountinfoPath = "/proc/self/mountinfo",
  ) {}

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
