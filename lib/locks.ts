import { aborted } from "./errors.ts";

/**
 * One operation per key at a time. CSI callers retry, so a second call for a busy key
 * is answered ABORTED at once instead of queueing behind a slow mount or delete.
 */
export class KeyedLocks {
  private held = new Set<string>();

  async withLock<T>(key: string, what: string, fn: () => Promise<T>): Promise<T> {
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

/** Serializes work per key (waits instead of refusing): for internal shared resources. */
export class KeyedQueue {
  private tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}
