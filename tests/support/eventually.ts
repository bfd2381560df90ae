/**
 * Polls `probe` until it returns a value (not undefined) or `ms` pass; the last error it threw
 * goes into the timeout's message. For waiting on the system, never for timing assertions.
 */
export async function eventually<T>(
  what: string,
  ms: number,
  probe: () => Promise<T | undefined> | T | undefined,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}: ${last ?? ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
