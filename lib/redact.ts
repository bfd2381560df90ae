/**
 * Secret values known to this process. Every log line and every error message that
 * leaves the process passes through `redact`, so a secret that slips into a message
 * (a metaurl quoted in an error, a client's stderr) is masked before anyone sees it.
 *
 * The set is bounded: a caller sending thousands of distinct secret values (each request's
 * secrets are registered when parsed) must not grow memory and slow every log line without
 * end. Values of clients that run now are pinned by their owner and never dropped; other
 * values are kept most-recently-seen first, up to a cap.
 */
const recent = new Map<string, true>();
const pinned = new Map<string, Set<string>>();
const pinsOf = new Map<string, string[]>();

/** Unpinned values kept at most; the oldest seen go first. */
export const DEFAULT_RECENT_LIMIT = 1024;
let recentLimit = DEFAULT_RECENT_LIMIT;

/** Short values are ignored as they would mask ordinary words. */
const worthMasking = (v: string | undefined): v is string => !!v && v.length >= 4;

/** Registers values to mask (or refreshes them: a value seen again is kept longest). */
export function registerSecrets(values: Iterable<string | undefined>): void {
  for (const v of values) {
    if (!worthMasking(v)) continue;
    recent.delete(v);
    recent.set(v, true);
  }
  for (const oldest of recent.keys()) {
    if (recent.size <= recentLimit) break;
    recent.delete(oldest);
  }
}

/**
 * Keeps `values` masked for as long as `owner` (e.g. a running client's key) holds them,
 * however many other values are registered meanwhile. Pinning again replaces the owner's set.
 */
export function pinSecrets(owner: string, values: Iterable<string | undefined>): void {
  unpinSecrets(owner);
  const list = [...values].filter(worthMasking);
  pinsOf.set(owner, list);
  for (const v of list) {
    const owners = pinned.get(v) ?? new Set<string>();
    owners.add(owner);
    pinned.set(v, owners);
  }
  // Still masked after the owner lets go, until newer values push it out.
  registerSecrets(list);
}

export function unpinSecrets(owner: string): void {
  for (const v of pinsOf.get(owner) ?? []) {
    const owners = pinned.get(v);
    owners?.delete(owner);
    if (owners?.size === 0) pinned.delete(v);
  }
  pinsOf.delete(owner);
}

/** How many distinct values are masked now (pinned or recent). */
export function knownSecretCount(): number {
  let n = recent.size;
  for (const v of pinned.keys()) if (!recent.has(v)) n++;
  return n;
}

export const MASK = "***";

function maskAll(text: string, values: Iterable<string>): string {
  let out = text;
  for (const v of values) {
    if (out.includes(v)) out = out.split(v).join(MASK);
  }
  return out;
}

export function redact(text: string): string {
  const out = maskAll(maskAll(text, pinned.keys()), recent.keys());
  // Passwords inside URLs (scheme://user:password@host) even when not registered.
  return out.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s]+@/gi, `$1${MASK}@`);
}

/** For tests only: forgets every value and sets the cap on unpinned ones. */
export function forgetSecrets(limit = DEFAULT_RECENT_LIMIT): void {
  recent.clear();
  pinned.clear();
  pinsOf.clear();
  recentLimit = limit;
}
