import { dirname } from "node:path";
import { fsCall } from "../fs/syscalls.ts";
import * as libc from "../fs/libc_fs.ts";

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
  if (r.ret === 0 && r.stat) {
    const type = r.stat.mode & S_IFMT;
    return type === S_IFLNK ? "symlink" : type === S_IFDIR ? "directory" : "other";
  }
  if (r.errno === libc.ENOENT) return "missing";
  if (r.errno === libc.ENOTDIR) return "other";
  return "broken";
}

/**
 * Whether the existing part of `path` reaches its place without following a symbolic
 * link: a link anywhere along it could point a mount, a bind or a delete elsewhere.
 * (A check only: what acts on the path opens it with lib/fs/beneath.ts, which refuses links
 * at the moment it acts.)
 */
export async function isLinkFree(path: string): Promise<boolean> {
  const resolve = libc.RESOLVE_NO_SYMLINKS | libc.RESOLVE_NO_MAGICLINKS;
  for (let p = path; p !== "/" && p !== "."; p = dirname(p)) {
    const r = await fsCall("openat2", [libc.AT_FDCWD, p, libc.O_PATH | libc.O_CLOEXEC, resolve], {
      what: `open ${p}`,
    });
    if (r.ret >= 0) {
      libc.close(r.ret);
      return true;
    }
    if (r.errno === libc.ELOOP) return false;
    if (r.errno !== libc.ENOENT) return true; // a file on the way, a dead mount: nothing resolves behind it
  }
  return true;
}
