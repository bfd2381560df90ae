/**
 * Directories opened without following links: the primitive that closes check-then-act
 * races on paths a tenant can change (issue 11 items 1-3, 6).
 *
 * API
 * - `openAbsolute(path, opts)`: opens an absolute path from "/" (a staging or target path, the
 *   driver's state directory).
 * - `openBeneath(root, rel, opts)`: opens `rel` beneath an already opened directory (a
 *   volume's subdirectory beneath a client's mount root); `..` may not climb above `root`.
 * - Both return a `PathFd`: an `O_PATH|O_DIRECTORY|O_CLOEXEC` descriptor of the
 *   directory reached with `RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS` (and `RESOLVE_BENEATH`),
 *   its `/proc/self/fd/N` path (to hand to mount(2), chmod(2) and the like, which then act on
 *   exactly this directory whatever the path now holds), `stat()` (dev, ino, mount id of the
 *   fd itself) and `chmod(mode)`. The caller closes it (`close()`, or `withPathFd`).
 * - `opts.create`: missing components are made (mkdirat, then chmod to exactly `mode` through
 *   the new directory's own fd), each one opened beneath the previous, never through a link.
 * - `opts.sameMount`: refuse to cross a mount point (RESOLVE_NO_XDEV) below the start.
 *
 * Errors are coded (lib/errors.ts): a symbolic link on the way or an escape (ELOOP, EXDEV) is
 * FAILED_PRECONDITION naming the path; a missing component NOT_FOUND; a component over 255
 * bytes INVALID_ARGUMENT; a component that is not a directory FAILED_PRECONDITION, or
 * NOT_FOUND with `opts.notDir: "not-found"`; anything else FAILED_PRECONDITION with errno in the
 * message; a call that does not answer (a stopped FUSE client) UNAVAILABLE.
 *
 * Every call runs on a worker with a timeout (lib/fs/syscalls.ts): none can hang the caller. An
 * open is one message: the worker runs the whole sequence (lib/fs/fs_sequences.ts).
 */
import { type CodedError, failedPrecondition, invalidArgument, notFound } from "../errors.ts";
import * as libc from "./libc_fs.ts";
import { type CallOptions, fsCall } from "./syscalls.ts";
import type { Reply } from "./fs_worker.ts";
import { FD_STAT_FLAGS } from "./fs_sequences.ts";

export interface FdStat {
  /** "major:minor", as in /proc/self/mountinfo. */
  dev: string;
  ino: string;
  mode: number;
  uid: number;
  gid: number;
  /** mountinfo's id of the mount this fd was reached through (0 if the kernel did not say). */
  mountId: number;
  isDirectory: boolean;
}

export interface PathFd {
  readonly fd: number;
  /** The path it was opened by (for messages; the fd, not this, is what later calls act on). */
  readonly path: string;
  /** `/proc/self/fd/N`: names exactly this directory to path-taking syscalls. */
  readonly procPath: string;
  /**
   * The stat taken when it was opened, if it was (openAbsoluteWithStat, `opts.withStat`). Its
   * dev, ino and mount id are the fd's for good; mode and owners may have changed since.
   */
  readonly openedStat?: FdStat | undefined;
  stat(opts?: CallOptions): Promise<FdStat>;
  chmod(mode: number, opts?: CallOptions): Promise<void>;
  close(): void;
}

export interface OpenOptions extends CallOptions {
  /** How the path is named in errors ("staging_target_path"); "path" if unset. */
  field?: string;
  /** The whole name in errors instead of "<field> <path>" ("volume directory /x of \"fs\""). */
  name?: string;
  /** Make missing directories with this mode (exactly: umask does not apply). */
  create?: { mode: number };
  /** What a component that is not a directory means to the caller. */
  notDir?: "failed-precondition" | "not-found";
  /** Refuse to cross into another mount below the start. */
  sameMount?: boolean;
  /** Stat the directory in the same worker message (PathFd.openedStat). */
  withStat?: boolean;
}

export const NAME_MAX = 255;

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;

const encoder = new TextEncoder();
const MAX_ECHO = 256;
const echo = (s: string): string => s.length > MAX_ECHO ? `${s.slice(0, MAX_ECHO)}...` : s;

/** The coded error for errno `e` of a call on `path`. */
export function errnoError(e: number, path: string, opts: OpenOptions = {}, call = "open"): CodedError {
  const what = opts.name ?? `${opts.field ?? "path"} ${echo(path)}`;
  switch (e) {
    case libc.ELOOP:
      return failedPrecondition(`${what} is or lies under a symbolic link`);
    case libc.EXDEV:
      return failedPrecondition(`${what} leaves the directory it must stay beneath`);
    case libc.ENOENT:
      return notFound(`${what} does not exist`);
    case libc.ENAMETOOLONG:
      return invalidArgument(`${what} has a component longer than ${NAME_MAX} bytes`);
    case libc.ENOTDIR:
      return opts.notDir === "not-found"
        ? notFound(`${what} is not a directory`)
        : failedPrecondition(`${what} is not a directory (or lies under something that is not)`);
    default:
      return failedPrecondition(`${call} ${what}: ${libc.errnoText(e)}`);
  }
}

class OpenedDir implements PathFd {
  private closed = false;
  readonly procPath: string;

  constructor(readonly fd: number, readonly path: string, readonly openedStat?: FdStat) {
    this.procPath = `/proc/self/fd/${fd}`;
  }

  async stat(opts: CallOptions = {}): Promise<FdStat> {
    // DONT_SYNC: dev, ino and mount id need no round trip to a FUSE client.
    const r = await fsCall("statx", [this.fd, "", FD_STAT_FLAGS], {
      what: `stat ${this.path}`,
      ...opts,
    });
    if (r.ret !== 0 || !r.stat) throw errnoError(r.errno, this.path, {}, "stat");
    return { ...r.stat, isDirectory: (r.stat.mode & S_IFMT) === S_IFDIR };
  }

  async chmod(mode: number, opts: CallOptions = {}): Promise<void> {
    // chmod through the magic link acts on the fd's inode (fchmod refuses O_PATH fds).
    const r = await fsCall("chmod", [this.procPath, mode], { what: `chmod ${this.path}`, ...opts });
    if (r.ret !== 0) throw errnoError(r.errno, this.path, {}, "chmod");
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    libc.close(this.fd);
  }
}

/** The components of a relative path; "" and "." are dropped, `..` is left to the kernel. */
function components(rel: string, path: string, opts: OpenOptions): string[] {
  const parts = rel.split("/").filter((c) => c !== "" && c !== ".");
  if (parts.some((c) => encoder.encode(c).length > NAME_MAX)) throw errnoError(libc.ENAMETOOLONG, path, opts);
  if (rel.includes("\0")) throw invalidArgument(`${opts.field ?? "path"} ${echo(path)} contains NUL`);
  return parts;
}

/** The opened directory, with its stat when `withStat` asked for it in the same worker message. */
async function openPath(
  dirfd: number,
  rel: string,
  path: string,
  opts: OpenOptions,
  withStat: boolean,
): Promise<{ dir: PathFd; stat?: FdStat }> {
  const r = await fsCall(
    "openPath",
    [dirfd, rel, opts.sameMount ? 1 : 0, opts.create ? opts.create.mode : -1, withStat ? 1 : 0],
    { what: `open ${path}`, ...opts },
  );
  if (r.ret < 0) {
    const call = r.failed ?? "open";
    throw errnoError(r.errno, path, call === "open" || call === "mkdir" ? opts : {}, call);
  }
  return openedFrom(r, path);
}

/** The PathFd of a worker's reply that opened `path` (with its stat if the reply has one). */
export function openedFrom(r: Reply, path: string): { dir: PathFd; stat?: FdStat } {
  const stat = r.stat ? { ...r.stat, isDirectory: (r.stat.mode & S_IFMT) === S_IFDIR } : undefined;
  return stat ? { dir: new OpenedDir(r.ret, path, stat), stat } : { dir: new OpenedDir(r.ret, path) };
}

/**
 * Opens `rel` beneath `root` (see the file header): one message to the fs worker, which makes
 * the calls (lib/fs/fs_sequences.ts).
 */
export async function openBeneath(root: PathFd, rel: string, opts: OpenOptions = {}): Promise<PathFd> {
  const path = rel ? `${root.path.replace(/\/$/, "")}/${rel.replace(/^\/+/, "")}` : root.path;
  const parts = components(rel, path, opts);
  return (await openPath(root.fd, parts.length ? parts.join("/") : ".", path, opts, false)).dir;
}

/** Opens an absolute path from "/" (see the file header). */
export async function openAbsolute(path: string, opts: OpenOptions = {}): Promise<PathFd> {
  return (await openAbsoluteStat(path, opts, opts.withStat ?? false)).dir;
}

/**
 * openAbsolute and the fd's stat() in one worker message: what a check of the mount on top
 * at a path needs (its mount id), at the cost of one call instead of three.
 */
export async function openAbsoluteWithStat(
  path: string,
  opts: OpenOptions = {},
): Promise<{ dir: PathFd; stat: FdStat }> {
  const { dir, stat } = await openAbsoluteStat(path, opts, true);
  if (!stat) {
    dir.close();
    throw new Error(`unreachable: no stat of ${path}`);
  }
  return { dir, stat };
}

async function openAbsoluteStat(path: string, opts: OpenOptions, withStat: boolean) {
  if (!path.startsWith("/")) throw invalidArgument(`${opts.field ?? "path"} ${echo(path)} is not absolute`);
  const rel = path.replace(/^\/+/, "");
  const parts = components(rel, path, opts);
  return await openPath(libc.AT_FDCWD, parts.join("/"), path, opts, withStat);
}

/** Opens, runs `fn` with the fd, closes. */
export async function withPathFd<T>(open: Promise<PathFd>, fn: (d: PathFd) => Promise<T>): Promise<T> {
  const d = await open;
  try {
    return await fn(d);
  } finally {
    d.close();
  }
}
