import { AsyncLocalStorage } from "node:async_hooks";
import { Code, CodedError, deadlineExceeded } from "./errors.ts";

/**
 * What the caller of the operation running now allows it: a signal that fires when the
 * caller has gone (deadline passed, call cancelled) and the deadline itself. The gRPC edge
 * opens a scope per call; queues, locks and bounded syscalls read it, so a flood of calls
 * whose callers already left does not pile up work nobody waits for. Nothing here knows gRPC.
 */
export interface CallScope {
  signal: AbortSignal;
  /** Epoch milliseconds; Infinity when the caller set none. */
  deadline: number;
}

const storage = new AsyncLocalStorage<CallScope>();

export function withCallScope<T>(scope: CallScope, fn: () => T): T {
  return storage.run(scope, fn);
}

export function currentScope(): CallScope | undefined {
  return storage.getStore();
}

/** The current caller's signal, if the work runs on behalf of one. */
export function callerSignal(): AbortSignal | undefined {
  return storage.getStore()?.signal;
}

/** `max` milliseconds, or less when the caller's deadline comes sooner (never below `min`). */
export function timeLeft(max: number, min = 0, now = Date.now()): number {
  const deadline = storage.getStore()?.deadline ?? Infinity;
  return Math.max(min, Math.min(max, deadline - now));
}

export const callerCancelled = (what: string): CodedError =>
  new CodedError(Code.CANCELLED, `the caller cancelled ${what}`);

export const callerDeadlinePassed = (what: string): CodedError =>
  deadlineExceeded(`the caller's deadline passed before ${what} could finish`);

/**
 * Opens a scope for one call: aborts on `cancelled()` or at `deadline`. `dispose` clears the
 * timer once the call is answered.
 */
export function openScope(
  what: string,
  deadline: number,
): { scope: CallScope; cancel: () => void; dispose: () => void } {
  const ac = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (Number.isFinite(deadline)) {
    const fire = () => ac.abort(callerDeadlinePassed(what));
    const ms = deadline - Date.now();
    if (ms <= 0) fire();
    else timer = setTimeout(fire, ms);
  }
  return {
    scope: { signal: ac.signal, deadline },
    cancel: () => ac.abort(callerCancelled(what)),
    dispose: () => clearTimeout(timer),
  };
}
