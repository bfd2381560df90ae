/**
 * Secret values known to this process. Every log line and every error message that
 * leaves the process passes through `redact`, so a secret that slips into a message
 * (a metaurl quoted in an error, a client's stderr) is masked before anyone sees it.
 */
const known = new Set<string>();

/** Registers values to mask; short values are ignored as they would mask ordinary words. */
export function registerSecrets(values: Iterable<string | undefined>): void {
  for (const v of values) {
    if (v && v.length >= 4) known.add(v);
  }
}

export const MASK = "***";

export function redact(text: string): string {
  let out = text;
  for (const v of known) {
    if (out.includes(v)) out = out.split(v).join(MASK);
  }
  // Passwords inside URLs (scheme://user:password@host) even when not registered.
  return out.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s]+@/gi, `$1${MASK}@`);
}

/** For tests only. */
export function forgetSecrets(): void {
  known.clear();
}
