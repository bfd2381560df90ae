/**
 * The worker that makes the blocking file-system calls of lib/fs/libc_fs.ts for
 * lib/fs/syscalls.ts. A call that blocks on a stopped FUSE client blocks this worker's thread
 * only; the main thread times it out and moves on to a fresh worker.
 *
 * Message in: { id, op, args }; message out: { id, ret, errno, stat? }.
 */
import { parentPort } from "node:worker_threads";
import * as libc from "./libc_fs.ts";
import { type FailedCall, linkFree, mountThenOpen, openPath } from "./fs_sequences.ts";

/** One syscall each, or a sequence of lib/fs/fs_sequences.ts ("openPath", "statLinks"). */
export type Op =
  | "openat2"
  | "mkdirat"
  | "statx"
  | "chmod"
  | "mount"
  | "umount2"
  | "renameat2"
  | "close"
  | "openPath"
  | "mountThenOpen"
  | "statLinks";

export interface Request {
  id: number;
  op: Op;
  args: Array<number | string>;
}

export interface Reply extends libc.Outcome {
  id: number;
  stat?: libc.StatxResult;
  /** openPath: the call that failed. */
  failed?: FailedCall;
  /** statLinks: whether the path's existing part is reached without a symbolic link. */
  linkFree?: boolean;
}

const n = (v: number | string | undefined): number => Number(v);
const s = (v: number | string | undefined): string => String(v);

function run(op: Op, a: Request["args"]): Omit<Reply, "id"> {
  switch (op) {
    case "openat2":
      return libc.openat2(n(a[0]), s(a[1]), n(a[2]), n(a[3]), n(a[4] ?? 0));
    case "mkdirat":
      return libc.mkdirat(n(a[0]), s(a[1]), n(a[2]));
    case "statx":
      return libc.statx(n(a[0]), s(a[1]), n(a[2]));
    case "chmod":
      return libc.chmod(s(a[0]), n(a[1]));
    case "mount":
      return libc.mount(s(a[0]), s(a[1]), s(a[2]), n(a[3]));
    case "umount2":
      return libc.umount2(s(a[0]), n(a[1]));
    case "renameat2":
      return libc.renameat2(n(a[0]), s(a[1]), n(a[2]), s(a[3]), n(a[4]));
    case "close":
      return libc.close(n(a[0]));
    case "openPath":
      // [dirfd, rel, sameMount (0/1), createMode (-1: none), stat (0/1)]
      return openPath({
        dirfd: n(a[0]),
        rel: s(a[1]),
        sameMount: a[2] === 1,
        createMode: n(a[3]),
        stat: a[4] === 1,
      });
    case "mountThenOpen":
      // [source, target, flags, path]
      return mountThenOpen(s(a[0]), s(a[1]), n(a[2]), s(a[3]));
    case "statLinks": {
      // [path]: statx of the path itself (no link followed, DONT_SYNC), and, unless it is a
      // link, whether the way to it is free of links: the two checks of a mount target.
      const st = libc.statx(libc.AT_FDCWD, s(a[0]), libc.AT_SYMLINK_NOFOLLOW | libc.AT_STATX_DONT_SYNC);
      const isLink = st.ret === 0 && st.stat !== undefined && (st.stat.mode & 0o170000) === 0o120000;
      return { ...st, linkFree: isLink ? false : linkFree(s(a[0])) };
    }
  }
}

parentPort?.on("message", (req: Request) => {
  const { id, op, args } = req;
  let reply: Reply;
  try {
    reply = { id, ...run(op, args) };
  } catch {
    reply = { id, ret: -1, errno: libc.EINVAL };
  }
  parentPort?.postMessage(reply);
});
