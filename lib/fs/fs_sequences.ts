/**
 * Sequences of lib/fs/libc_fs.ts calls that the fs worker (lib/fs/fs_worker.ts) runs in one
 * message: a message to the worker and back costs ~0.03-0.05 ms of the JS thread, and opening
 * a target path without links took one per component, so a publish made some twenty.
 *
 * Each sequence makes exactly the calls the main thread made before, in the same order, with
 * the same flags (they are defined here once): only where they run changed. A sequence that
 * blocks (a stopped FUSE client) blocks the worker, which the main thread times out as a whole.
 * Descriptors opened on the way are closed here; the one returned is the caller's.
 */
import * as libc from "./libc_fs.ts";

// No O_NOFOLLOW: RESOLVE_NO_SYMLINKS already refuses a link as the last component, with
// ELOOP; O_NOFOLLOW would open the link itself and O_DIRECTORY then fail as ENOTDIR, hiding
// that a link was planted.
export const OPEN_FLAGS = libc.O_PATH | libc.O_DIRECTORY | libc.O_CLOEXEC;
export const RESOLVE = libc.RESOLVE_BENEATH | libc.RESOLVE_NO_SYMLINKS | libc.RESOLVE_NO_MAGICLINKS;
/** openat2 answers EAGAIN when a rename raced the lookup; it is safe to try again. */
const EAGAIN_RETRIES = 16;
/** DONT_SYNC: dev, ino and mount id need no round trip to a FUSE client. */
export const FD_STAT_FLAGS = libc.AT_EMPTY_PATH | libc.AT_STATX_DONT_SYNC;

/** The call of a sequence that failed, for the caller's message ("mkdir /x: ..."). */
export type FailedCall = "open" | "mkdir" | "chmod" | "stat" | "mount";

export interface OpenOutcome extends libc.Outcome {
  /** Which call failed (with ret -1); unset on success. */
  failed?: FailedCall;
  /** The opened directory's statx, when asked for. */
  stat?: libc.StatxResult;
}

export interface OpenRequest {
  /** Where `rel` is resolved from; AT_FDCWD: from "/", opened first (an absolute path). */
  dirfd: number;
  /** Components joined by "/", or "." for `dirfd` itself. */
  rel: string;
  /** Also refuse to cross a mount point (RESOLVE_NO_XDEV). */
  sameMount: boolean;
  /** Make missing components with exactly this mode; -1: do not. */
  createMode: number;
  /** Stat the result (AT_STATX_DONT_SYNC) in the same message. */
  stat: boolean;
}

function openat2(dirfd: number, rel: string, resolve: number): libc.Outcome {
  for (let i = 0;; i++) {
    const r = libc.openat2(dirfd, rel, OPEN_FLAGS, resolve);
    if (r.ret >= 0 || r.errno !== libc.EAGAIN || i >= EAGAIN_RETRIES) return r;
  }
}

const fail = (failed: FailedCall, errno: number): OpenOutcome => ({ ret: -1, errno, failed });

/**
 * Opens `rel` beneath `dirfd` with RESOLVE_BENEATH|NO_SYMLINKS|NO_MAGICLINKS; when it is
 * missing and `createMode` is set, one component at a time: open, else mkdirat and open, each
 * beneath the one before, a directory made here chmod'ed to exactly the mode through its fd.
 */
export function openPath(req: OpenRequest): OpenOutcome {
  let base = req.dirfd;
  let own = -1;
  if (base === libc.AT_FDCWD) {
    const root = openat2(libc.AT_FDCWD, "/", 0);
    if (root.ret < 0) return fail("open", root.errno);
    base = own = root.ret;
  }
  try {
    const r = openFrom(base, req);
    if (r.ret < 0 || !req.stat) return r;
    const st = libc.statx(r.ret, "", FD_STAT_FLAGS);
    if (st.ret !== 0 || !st.stat) {
      libc.close(r.ret);
      return fail("stat", st.errno || libc.EINVAL);
    }
    return { ...r, stat: st.stat };
  } finally {
    if (own >= 0) libc.close(own);
  }
}

function openFrom(base: number, req: OpenRequest): OpenOutcome {
  const resolve = RESOLVE | (req.sameMount ? libc.RESOLVE_NO_XDEV : 0);
  // From "/" an empty rest is "/" itself: a fresh fd of it, as the caller owns what it gets.
  const r = openat2(base, req.rel || ".", resolve);
  if (r.ret >= 0) return r;
  if (r.errno !== libc.ENOENT || req.createMode < 0) return fail("open", r.errno);
  const parts = req.rel.split("/").filter((c) => c !== "" && c !== ".");
  let dir = base;
  try {
    for (const part of parts) {
      let o = openat2(dir, part, resolve);
      if (o.ret < 0 && o.errno === libc.ENOENT) {
        const m = libc.mkdirat(dir, part, req.createMode);
        if (m.ret !== 0 && m.errno !== libc.EEXIST) return fail("mkdir", m.errno);
        o = openat2(dir, part, resolve);
        if (o.ret >= 0 && m.ret === 0) {
          // Ours, just made: exactly the mode asked for, whatever the umask (fchmod refuses O_PATH).
          const c = libc.chmod(`/proc/self/fd/${o.ret}`, req.createMode);
          if (c.ret !== 0) {
            libc.close(o.ret);
            return fail("chmod", c.errno);
          }
        }
      }
      if (o.ret < 0) return fail("open", o.errno);
      if (dir !== base) libc.close(dir);
      dir = o.ret;
    }
    if (dir === base) return fail("open", libc.ENOENT);
    const done = dir;
    dir = base; // handed to the caller: not closed below
    return { ret: done, errno: 0 };
  } finally {
    if (dir !== base) libc.close(dir);
  }
}

/**
 * Whether the existing part of `path` reaches its place without following a symbolic link:
 * the longest existing prefix is opened with RESOLVE_NO_SYMLINKS|NO_MAGICLINKS (and closed).
 */
export function linkFree(path: string): boolean {
  const resolve = libc.RESOLVE_NO_SYMLINKS | libc.RESOLVE_NO_MAGICLINKS;
  for (let p = path; p !== "/" && p !== "." && p !== ""; p = parentOf(p)) {
    const r = libc.openat2(libc.AT_FDCWD, p, libc.O_PATH | libc.O_CLOEXEC, resolve);
    if (r.ret >= 0) {
      libc.close(r.ret);
      return true;
    }
    if (r.errno === libc.ELOOP) return false;
    if (r.errno !== libc.ENOENT) return true; // a file on the way, a dead mount: nothing resolves behind it
  }
  return true;
}

/** node:path's dirname for the absolute paths given here ("/a/b" -> "/a", "/a" -> "/"). */
function parentOf(p: string): string {
  const trimmed = p.replace(/\/+$/, "");
  const at = trimmed.lastIndexOf("/");
  return at <= 0 ? "/" : trimmed.slice(0, at);
}

/**
 * mount(2) of `source` on `target` (their /proc/self/fd paths), then, if it worked, the mount now
 * on top at `path` opened from "/" and stat'ed: what a bind does to find and check its new mount.
 */
export function mountThenOpen(source: string, target: string, flags: number, path: string): OpenOutcome {
  const m = libc.mount(source, target, "", flags);
  if (m.ret !== 0) return { ret: -1, errno: m.errno, failed: "mount" };
  return openPath({
    dirfd: libc.AT_FDCWD,
    rel: path.replace(/^\/+/, ""),
    sameMount: false,
    createMode: -1,
    stat: true,
  });
}
