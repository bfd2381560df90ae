import { aborted } from "./errors.ts";
import { callerSignal } from "./call_scope.ts";

/**
 * One operation per key at a time. CSI callers retry, so a second call for a busy key
 * is answered ABORTED at once instead of queueing behind a slow mount or delete.
 */
export class KeyedLocks {
  private held = new Set<string>();

  async withLock<T>(key: string, what: string, fn: () => Promise<T>): Promise<T> {
    // A caller that already left gets nothing done on its behalf, and holds no lock for it.
    callerSignal()?.throwIfAborted();
    if (this.held.has(key)) throw aborted(`an operation on ${what} is already in progress; retry later`);
    this.held.add(key);
    try {
      return await fn();
    } finally {
      this.held.delete(key);
    }
  }

  isHeld(key: string): boolean {
    return this.held.has(key);
  }
}

/** Default bound of operations waiting behind a running one, per key. */
export const MAX_WAITING = 16;

/**
 * Serializes work per key (waits instead of refusing): for internal shared resources.
 * The wait is bounded twice over: at most `maxWaiting` operations wait per key (more are
 * ABORTED, and callers retry), and an operation whose caller has gone (the current call
 * scope's signal, or the one passed) leaves the line at once and never runs. Once started,
 * an operation runs to its end: the next in line must not start beside it.
 */
export class KeyedQueue {
  private tails = new Map<string, Promise<unknown>>();
  private waiting = new Map<string, number>();

  constructor(private maxWaiting = MAX_WAITING) {}

  /** How many operations wait (not counting the running one) for `key`. */
  waitingFor(key: string): number {
    return this.waiting.get(key) ?? 0;
  }

  /** `signal` null: cleanup work that must run even when the caller that caused it has gone. */
  run<T>(key: string, fn: () => Promise<T>, signal: AbortSignal | null = callerSignal() ?? null): Promise<T> {
    signal?.throwIfAborted();
    const prev = this.tails.get(key);
    if (prev && this.waitingFor(key) >= this.maxWaiting) {
      return Promise.reject(
        aborted(`${this.waitingFor(key)} operations already wait for ${key}; retry later`),
      );
    }
    // Work with nothing ahead of it starts at once and is not counted as waiting.
    let left = !prev;
    if (prev) this.waiting.set(key, this.waitingFor(key) + 1);
    let started = false;
    const leave = () => {
      if (left) return;
      left = true;
      const n = this.waitingFor(key) - 1;
      if (n > 0) this.waiting.set(key, n);
      else this.waiting.delete(key);
    };
    const start = () => {
      started = true;
      leave();
      signal?.throwIfAborted();
      return fn();
    };
    const next = (prev ?? Promise.resolve()).then(start, start);
    const tail = next.catch(() => {});
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    if (!signal) return next;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        // Still waiting: answer now; `start` skips fn when the turn comes.
        if (!started) {
          leave();
          reject(signal.reason);
        }
      };
      signal.addEventListener("abort", onAbort, { once: true });
      next.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }
}
