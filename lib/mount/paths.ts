import { fsCall } from "../fs/syscalls.ts";
import * as libc from "../fs/libc_fs.ts";
import type { Reply } from "../fs/fs_worker.ts";

/**
 * What is at a path, asked on the fs worker (lib/fs/syscalls.ts) with a timeout, and without
 * a round trip to a FUSE client for a path whose attributes it already has (statx
 * AT_STATX_DONT_SYNC): a stopped client's mount point answers at once instead of hanging the
 * call and its volume's lock. A lookup that does reach a stopped client fails UNAVAILABLE.
 */

export type PathKind = "missing" | "directory" | "symlink" | "other" | "broken";

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/** What is at `path` itself (no link followed); "broken" for a dead FUSE mount and the like. */
export async function pathKind(path: string): Promise<PathKind> {
  const r = await fsCall("statx", [libc.AT_FDCWD, path, libc.AT_SYMLINK_NOFOLLOW | libc.AT_STATX_DONT_SYNC], {
    what: `stat ${path}`,
  });
  return kindOf(r);
}

function kindOf(r: Reply): PathKind {
  if (r.ret === 0 && r.stat) {
    const type = r.stat.mode & S_IFMT;
    return type === S_IFLNK ? "symlink" : type === S_IFDIR ? "directory" : "other";
  }
  if (r.errno === libc.ENOENT) return "missing";
  if (r.errno === libc.ENOTDIR) return "other";
  return "broken";
}

/** What is at `path` and whether its existing part is reached without a link: one worker message. */
export async function kindAndLinkFree(path: string): Promise<{ kind: PathKind; linkFree: boolean }> {
  const r = await fsCall("statLinks", [path], { what: `stat ${path}` });
  return { kind: kindOf(r), linkFree: r.linkFree ?? true };
}

/**
 * Whether the existing part of `path` reaches its place without following a symbolic
 * link: a link anywhere along it could point a mount, a bind or a delete elsewhere.
 * (A check only: what acts on the path opens it with lib/fs/beneath.ts, which refuses links
 * at the moment it acts.) The walk runs on the worker (lib/fs/fs_sequences.ts linkFree).
 */
export async function isLinkFree(path: string): Promise<boolean> {
  const r = await fsCall("statLinks", [path], { what: `open ${path}` });
  return r.linkFree ?? true;
}
