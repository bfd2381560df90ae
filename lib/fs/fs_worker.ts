/**
 * The worker that makes the blocking file-system calls of lib/fs/libc_fs.ts for
 * lib/fs/syscalls.ts. A call that blocks on a stopped FUSE client blocks this worker's thread
 * only; the main thread times it out and moves on to a fresh worker.
 *
 * Message in: { id, op, args }; message out: { id, ret, errno, stat? }.
 */
import { parentPort } from "node:worker_threads";
import * as libc from "./libc_fs.ts";

export type Op = "openat2" | "mkdirat" | "statx" | "chmod" | "mount" | "umount2" | "renameat2" | "close";

export interface Request {
  id: number;
  op: Op;
  args: Array<number | string>;
}

export interface Reply extends libc.Outcome {
  id: number;
  stat?: libc.StatxResult;
}

const n = (v: number | string | undefined): number => Number(v);
const s = (v: number | string | undefined): string => String(v);

function run(op: Op, a: Request["args"]): libc.Outcome & { stat?: libc.StatxResult } {
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
