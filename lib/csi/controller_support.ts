/** What the controller's services (volumes, snapshots, listings) share. */
import { aborted, invalidArgument } from "../errors.ts";
import type { PathFd } from "../fs/beneath.ts";
import { statEntry } from "../fs/entries.ts";
import type { JuiceFsCli } from "../juicefs/cli.ts";
import { type FsSettings, settingsFromSecrets } from "../juicefs/settings.ts";
import { openFsRoot } from "../juicefs/volume_records.ts";
import type { RemoveIn } from "../juicefs/clone_dirs.ts";

/** An id as messages quote it: a caller's 10 KiB id is not echoed whole. */
export const echoId = (id: string): string => (id.length > 128 ? `${id.slice(0, 128)}...` : id);

/** Runs `fn` with the admin mount's root opened as an fd (see lib/fs/beneath.ts). */
export async function withFsRoot<T>(mount: string, fn: (root: PathFd) => Promise<T>): Promise<T> {
  const root = await openFsRoot(mount);
  try {
    return await fn(root);
  } finally {
    root.close();
  }
}

/** Runs `fn` with `dir` and closes it; undefined dirs are passed through. */
export async function using<T>(
  dir: PathFd | undefined,
  fn: (d: PathFd | undefined) => Promise<T>,
): Promise<T> {
  try {
    return await fn(dir);
  } finally {
    dir?.close();
  }
}

/** Secrets must describe the file system an id names. */
export function settingsFor(
  ref: { fsName: string },
  secrets: Record<string, string>,
  what = "volume",
): FsSettings {
  const s = settingsFromSecrets(secrets);
  if (s.name !== ref.fsName) {
    throw invalidArgument(
      `${what} belongs to file system "${ref.fsName}" but the secrets describe "${s.name}"`,
    );
  }
  return s;
}

/** `juicefs rmr` of `name` in `dir`, through the directory's fd: the parent is exactly `dir`. */
export function removeInFor(cli: JuiceFsCli, settings: FsSettings): RemoveIn {
  return async (dir, name) => {
    if (!(await statEntry(dir, name))) return;
    await cli.rmr(`/proc/${Deno.pid}/fd/${dir.fd}/${name}`, settings.secretEnv);
    await Deno.remove(`${dir.procPath}/${name}`, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  };
}

/**
 * The file systems this controller process has served (their settings, secrets included, in
 * memory only). ListVolumes, GetCapacity and an unfiltered ListSnapshots carry no secrets: they
 * can only look at these. A restarted controller knows none until a call brings secrets.
 */
export class KnownFileSystems {
  private byName = new Map<string, FsSettings>();

  remember(s: FsSettings): void {
    this.byName.set(s.name, s);
  }

  get(name: string): FsSettings | undefined {
    return this.byName.get(name);
  }

  forget(name: string): void {
    this.byName.delete(name);
  }

  all(): FsSettings[] {
    return [...this.byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
}

/**
 * A page of `entries` (sorted by `keyOf`) after the cursor in `token`. Tokens are "k1:" and
 * the last key returned, so entries added or deleted between pages do not shift the next one;
 * anything else (a token of another driver, a mangled one) is ABORTED, as the spec asks.
 */
export function paginate<T>(
  entries: T[],
  keyOf: (e: T) => string,
  maxEntries: number,
  token: string,
): { page: T[]; next: string } {
  if (maxEntries < 0) throw invalidArgument(`max_entries must not be negative (got ${maxEntries})`);
  let start = 0;
  if (token) {
    if (!token.startsWith("k1:")) {
      throw aborted(`starting_token "${token.slice(0, 64)}" is not one this driver gave`);
    }
    const after = token.slice(3);
    start = entries.findIndex((e) => keyOf(e) > after);
    if (start < 0) start = entries.length;
  }
  const end = maxEntries > 0 ? Math.min(entries.length, start + maxEntries) : entries.length;
  const page = entries.slice(start, end);
  const next = end < entries.length && page.length > 0 ? `k1:${keyOf(page[page.length - 1]!)}` : "";
  return { page, next };
}
