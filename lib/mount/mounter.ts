import type { CommandRunner } from "../exec.ts";
import { failedPrecondition } from "../errors.ts";
import { errnoError, openAbsolute, openAbsoluteWithStat, openedFrom, type PathFd } from "../fs/beneath.ts";
import { fsCall } from "../fs/syscalls.ts";
import * as libc from "../fs/libc_fs.ts";
import {
  findMount,
  findMountByIdIn,
  findMountIn,
  type MountEntry,
  MountTable,
  parseMountinfo,
} from "./mountinfo.ts";
import { type ProbeHealth, type ProbeOptions, probeStat } from "./stat_probe.ts";

/** "hung": the path's file system did not answer in time (a stopped or overloaded FUSE client). */
export type PathHealth = ProbeHealth;

export interface BindOptions {
  readOnly?: boolean;
}

/** Mount-table side effects, behind one interface so services can be tested with a fake. */
export interface Mounter {
  list(): Promise<MountEntry[]>;
  /** The topmost entry at `path`; a mounter that can find it faster than list() does. */
  mountAt?(path: string): Promise<MountEntry | undefined>;
  /** One read of the table for several lookups; a mounter that can do better than list(). */
  table?(): Promise<MountTable>;
  /**
   * Bind-mounts the directory open at `source` onto the one open at `target` (mount(2) on
   * their /proc/self/fd paths: exactly those directories, whatever their paths hold now) and
   * returns the new mount's entry, for the caller to check what got mounted. With readOnly
   * the bind is remounted read-only (or taken off again if that fails).
   */
  bindFd(source: PathFd, target: PathFd, opts?: BindOptions): Promise<MountEntry>;
  /**
   * Unmounts the mount on top at `path` (opened without following links) if it is `expected`
   * (same mount id); otherwise FAILED_PRECONDITION and nothing changes. Lazy detaches
   * exactly that mount through its fd.
   */
  unmountChecked(path: string, expected: MountEntry, opts?: { lazy?: boolean }): Promise<void>;
  /**
   * Opens the mount on top at `path` (without following links) if it is `expected`, else
   * FAILED_PRECONDITION: the source of a bind that must be exactly what was checked.
   */
  openMount(path: string, expected: MountEntry, field: string): Promise<PathFd>;
  /** Bind by paths, opened without following links (bindFd). */
  bind(source: string, target: string, opts?: BindOptions): Promise<void>;
  /** Unmounts `target` (umount2, the last component not followed); lazy detaches it even when busy or broken. */
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

/** Per-mount flags a bind carries over from its source; a remount must repeat them or lose them. */
const KEPT: Record<string, number> = {
  nosuid: 2,
  nodev: 4,
  noexec: 8,
  noatime: 1024,
  nodiratime: 2048,
  relatime: 1 << 21,
  strictatime: 1 << 24,
};

function keptFlags(e: MountEntry): number {
  return e.options.reduce((f, o) => f | (KEPT[o] ?? 0), 0);
}

function mountError(call: string, path: string, errno: number): Error {
  return new Error(`${call} ${path}: ${libc.errnoText(errno)}`);
}

/**
 * mount(2) and umount2(2) made directly (on a worker, with a timeout: lib/fs/syscalls.ts), no
 * `mount`/`umount` processes: nothing resolves a path between the check and the act, and a
 * bind costs a syscall instead of a process. (The name stays for its callers.)
 */
export class ExecMounter implements Mounter {
  constructor(
    _runner?: CommandRunner,
    private mountinfoPath = "/proc/self/mountinfo",
  ) {}

  /** The mount table (procfs, never a FUSE path: this read cannot hang on a client). */
  async list(): Promise<MountEntry[]> {
    return parseMountinfo(await Deno.readTextFile(this.mountinfoPath));
  }

  /** One read of the table, parsed only if its caller needs every entry. */
  async table(): Promise<MountTable> {
    return MountTable.fromText(await Deno.readTextFile(this.mountinfoPath));
  }

  /** The topmost entry at `path`, found in the table's text without parsing all of it (hot path). */
  async mountAt(path: string): Promise<MountEntry | undefined> {
    return findMountIn(await Deno.readTextFile(this.mountinfoPath), path);
  }

  /** The entry with mount id `id`, found in the table's text without parsing all of it. */
  private async mountById(id: number): Promise<MountEntry | undefined> {
    return findMountByIdIn(await Deno.readTextFile(this.mountinfoPath), id);
  }

  async bindFd(source: PathFd, target: PathFd, opts: BindOptions = {}): Promise<MountEntry> {
    const before = (target.openedStat ?? await target.stat()).mountId;
    // The bind, then the new mount on top at the target's path reached (the old fd still names
    // the directory underneath) and stat'ed, in one worker message; then checked to be the one
    // just made.
    const r = await fsCall("mountThenOpen", [source.procPath, target.procPath, libc.MS_BIND, target.path], {
      what: `bind ${source.path} on ${target.path}`,
    });
    if (r.ret < 0 && r.failed === "mount") throw mountError("bind mount on", target.path, r.errno);
    if (r.ret < 0) throw errnoError(r.errno, target.path, { field: "target" }, r.failed ?? "open");
    const { dir: top, stat } = openedFrom(r, target.path);
    try {
      const id = stat?.mountId ?? 0;
      const entry = await this.mountById(id);
      if (!entry || id === before || entry.mountPoint !== target.path) {
        throw failedPrecondition(`the bind at ${target.path} could not be found again in the mount table`);
      }
      if (opts.readOnly) {
        const ro = await fsCall("mount", [
          "",
          top.procPath,
          "",
          libc.MS_REMOUNT | libc.MS_BIND | libc.MS_RDONLY | keptFlags(entry),
        ], {
          what: `remount ${target.path} read-only`,
        });
        if (ro.ret !== 0) {
          // Never leave a writable bind behind when read-only was asked for.
          await fsCall("umount2", [top.procPath, libc.MNT_DETACH]).catch(() => {});
          throw mountError("remount read-only", target.path, ro.errno);
        }
        return (await this.mountById(id)) ?? entry;
      }
      return entry;
    } finally {
      top.close();
    }
  }

  async openMount(path: string, expected: MountEntry, field: string): Promise<PathFd> {
    const { dir: fd, stat } = await openAbsoluteWithStat(path, { field });
    try {
      const id = stat.mountId;
      if (id !== expected.id) {
        throw failedPrecondition(
          `${field} ${path} no longer reaches the mount ${expected.id} that was checked (it reaches ${id})`,
        );
      }
      return fd;
    } catch (e) {
      fd.close();
      throw e;
    }
  }

  async unmountChecked(path: string, expected: MountEntry, opts: { lazy?: boolean } = {}): Promise<void> {
    const { dir: top, stat } = await openAbsoluteWithStat(path, { field: "mount point" });
    try {
      const id = stat.mountId;
      if (id !== expected.id) {
        throw failedPrecondition(
          `${path} no longer reaches the mount ${expected.id} that was checked (it reaches ${id}); nothing unmounted`,
        );
      }
      if (opts.lazy) {
        // Exactly the mount checked: the magic link is followed to the fd's own mount.
        const r = await fsCall("umount2", [top.procPath, libc.MNT_DETACH], { what: `unmount ${path}` });
        if (r.ret !== 0) throw mountError("umount", path, r.errno);
        return;
      }
    } finally {
      top.close();
    }
    // A plain unmount fails (EBUSY) while anything, our fd included, holds the mount: so by path,
    // right after the check, under the caller's lock on it (host paths no tenant can change).
    await this.unmount(path);
  }

  async bind(source: string, target: string, opts: BindOptions = {}): Promise<void> {
    const s = await openAbsolute(source, { field: "bind source" });
    try {
      const t = await openAbsolute(target, { field: "bind target" });
      try {
        await this.bindFd(s, t, opts);
      } finally {
        t.close();
      }
    } finally {
      s.close();
    }
  }

  async unmount(target: string, opts: { lazy?: boolean } = {}): Promise<void> {
    const flags = libc.UMOUNT_NOFOLLOW | (opts.lazy ? libc.MNT_DETACH : 0);
    const r = await fsCall("umount2", [target, flags], { what: `unmount ${target}` });
    if (r.ret !== 0) throw mountError("umount", target, r.errno);
  }

  health(path: string): Promise<PathHealth> {
    return statHealth(path);
  }
}

export async function mountAt(m: Mounter, path: string): Promise<MountEntry | undefined> {
  return m.mountAt ? await m.mountAt(path) : findMount(await m.list(), path);
}

/** One read of `m`'s mount table for the lookups of one call (lib/mount/mountinfo.ts MountTable). */
export async function readTable(m: Mounter): Promise<MountTable> {
  return m.table ? await m.table() : MountTable.fromEntries(await m.list());
}
