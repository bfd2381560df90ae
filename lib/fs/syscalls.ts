/**
 * Runs the blocking calls of lib/fs/libc_fs.ts on a worker thread with a timeout, so that a
 * path on a stopped FUSE client never blocks the event loop nor outlives its caller.
 *
 * One worker serves the calls in order. A call that does not answer in time is failed with
 * UNAVAILABLE; its worker is retired (it may be stuck in the kernel for as long as the client
 * is stopped) and later calls go to a fresh one. A retired worker is terminated once its last
 * call returns; an fd that such a late call opened is closed then. At most MAX_RETIRED stuck
 * workers are kept: beyond that, calls fail at once instead of piling up threads.
 */
import { Worker } from "node:worker_threads";
import { timeLeft } from "../call_scope.ts";
import { unavailable } from "../errors.ts";
import * as libc from "./libc_fs.ts";
import type { Op, Reply, Request } from "./fs_worker.ts";

export const DEFAULT_FS_TIMEOUT_MS = 10_000;
const MAX_RETIRED = 8;

export interface CallOptions {
  /** Upper bound; a caller's earlier deadline (lib/call_scope.ts) shortens it. */
  timeoutMs?: number;
  /** What the call is for, in the timeout's message ("open /x"). */
  what?: string;
}

interface Pending {
  op: Op;
  resolve: (r: Reply) => void;
  timer: ReturnType<typeof setTimeout>;
  /** The caller gave up: a late fd is closed, not returned. */
  abandoned: boolean;
}

class Lane {
  readonly worker = new Worker(new URL("./fs_worker.ts", import.meta.url));
  readonly pending = new Map<number, Pending>();
  retired = false;

  constructor(private onIdleRetired: (l: Lane) => void) {
    this.worker.on("message", (r: Reply) => this.answer(r));
    // An idle worker must not keep the process alive; a call in flight does (ref below).
    this.worker.unref();
  }

  private answer(r: Reply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    clearTimeout(p.timer);
    if (this.pending.size === 0) this.worker.unref();
    if (p.abandoned) {
      if ((p.op === "openat2" || p.op === "openPath" || p.op === "mountThenOpen") && r.ret >= 0) {
        libc.close(r.ret);
      }
    } else p.resolve(r);
    if (this.retired && this.pending.size === 0) this.onIdleRetired(this);
  }
}

let current: Lane | undefined;
const retired = new Set<Lane>();
let nextId = 1;

function retire(lane: Lane): void {
  if (lane.retired) return;
  lane.retired = true;
  if (current === lane) current = undefined;
  retired.add(lane);
}

function dropRetired(lane: Lane): void {
  retired.delete(lane);
  lane.worker.terminate();
}

/** Makes one call on the worker. Resolves with its outcome; rejects UNAVAILABLE on timeout. */
export function fsCall(op: Op, args: Request["args"], opts: CallOptions = {}): Promise<Reply> {
  if (!current) {
    if (retired.size >= MAX_RETIRED) {
      return Promise.reject(
        unavailable(`${retired.size} file-system calls are stuck (a stopped JuiceFS client?); retry later`),
      );
    }
    current = new Lane(dropRetired);
  }
  const lane = current;
  const id = nextId++;
  const ms = Math.max(50, timeLeft(opts.timeoutMs ?? DEFAULT_FS_TIMEOUT_MS));
  return new Promise<Reply>((resolve, reject) => {
    const timer = setTimeout(() => {
      const p = lane.pending.get(id);
      if (!p) return;
      p.abandoned = true;
      // A stuck call must not keep the process from exiting either.
      lane.worker.unref();
      retire(lane);
      reject(
        unavailable(
          `${opts.what ?? op} does not answer within ${(ms / 1000).toFixed(1)}s ` +
            `(the file system's client is stopped or overloaded); retry later`,
        ),
      );
    }, ms);
    lane.pending.set(id, { op, resolve, timer, abandoned: false });
    lane.worker.ref();
    lane.worker.postMessage({ id, op, args } satisfies Request);
  });
}

/** Ends the idle worker (tests, and a process about to exit); stuck ones end when they return. */
export function stopFsWorker(): void {
  if (current && current.pending.size === 0) {
    current.worker.terminate();
    current = undefined;
  }
}

/** How many workers are stuck in a call that timed out (for tests and diagnostics). */
export function stuckWorkers(): number {
  return retired.size;
}
