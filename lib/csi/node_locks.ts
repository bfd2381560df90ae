import { aborted } from "../errors.ts";
import type { KeyedLocks } from "../locks.ts";

/**
 * A volume's lock on the node (`stage:<id>` in the shared KeyedLocks): stage and unstage take
 * it alone; publishes share it among themselves, so a publish never runs beside an unstage of
 * its volume (which could bind a staging directory being taken off), while publishes of one
 * volume to many pods still run together. Busy means ABORTED at once, as KeyedLocks does.
 * Lock order: the volume's, then a target's (`publish:<target>`); nothing takes them the other
 * way round, so they cannot deadlock.
 */
export class VolumeLocks {
  private publishing = new Map<string, number>();

  constructor(private locks: KeyedLocks) {}

  private key(id: string): string {
    return `stage:${id}`;
  }

  /** Stage and unstage: no other stage, unstage or publish of the volume runs meanwhile. */
  exclusive<T>(id: string, what: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.withLock(this.key(id), what, () => {
      if ((this.publishing.get(id) ?? 0) > 0) {
        throw aborted(`a publish of ${what} is in progress; retry later`);
      }
      return fn();
    });
  }

  /** Publish: beside other publishes of the volume, never beside its stage or unstage. */
  async shared<T>(id: string, what: string, fn: () => Promise<T>): Promise<T> {
    if (this.locks.isHeld(this.key(id))) {
      throw aborted(`a stage or unstage of ${what} is in progress; retry later`);
    }
    this.publishing.set(id, (this.publishing.get(id) ?? 0) + 1);
    try {
      return await fn();
    } finally {
      const n = (this.publishing.get(id) ?? 1) - 1;
      if (n > 0) this.publishing.set(id, n);
      else this.publishing.delete(id);
    }
  }
}
