import { basename, dirname } from "node:path";
import { Code, codeOf, failedPrecondition, invalidArgument } from "../errors.ts";
import { openAbsolute, openBeneath, type PathFd } from "../fs/beneath.ts";
import { openFile } from "../fs/entries.ts";
import type { DeletePolicy } from "../volume_id.ts";
import { RESERVED_TOP } from "./subdir.ts";

/**
 * What CreateVolume was asked for, kept in the file system beside the volumes
 * (`/.csi-jfs/volumes/`): a retried CreateVolume must compare against the exact
 * capacity, which `juicefs quota get` only prints rounded; DeleteVolume takes the delete
 * policy from here, never from the id (which a caller can edit).
 */
export interface VolumeRecord {
  name: string;
  subdir: string;
  /** Bytes as a decimal string; "0" for no quota. */
  capacityBytes: string;
  createdAt: string;
  /** Absent in records of versions before issue 11: read as "retain" (see policyOf). */
  onDelete?: DeletePolicy;
  /** "creating" until the directory has its quota and mode; absent (old records) means ready. */
  state?: "creating" | "ready";
  /** The volume directory's inode: the directory the driver made, whatever is at the path later. */
  ino?: string;
  /** The id CreateVolume answered (ListVolumes gives it back unchanged); absent in older records. */
  volumeId?: string;
  /** What the volume was made from (CreateVolume's content source), if anything. */
  contentSource?: { snapshotId: string } | { volumeId: string };
}

/**
 * The policy of a record. Records written before the policy was stored say nothing; the id's
 * policy is exactly what a forged id would change, so they get the one choice that loses no
 * data: retain. An operator removes such a directory by hand if it is no longer wanted.
 */
export const policyOf = (rec: VolumeRecord): DeletePolicy => rec.onDelete ?? "retain";

/** Longest record file name: NAME_MAX less room for the ".tmp" of a write in progress. */
const MAX_RECORD_NAME = 250;

/** The record's file name in `/.csi-jfs/volumes`; undefined when it would be too long. */
export function recordName(subdir: string): string | undefined {
  const name = `${encodeURIComponent(subdir)}.json`;
  return new TextEncoder().encode(name).length <= MAX_RECORD_NAME ? name : undefined;
}

/** Refuses a subdirectory whose record could not be written (before anything is created). */
export function checkRecordable(subdir: string, what: string): void {
  if (!recordName(subdir)) {
    throw invalidArgument(
      `${what} "${subdir.slice(0, 128)}..." is too long to record: at most ${
        MAX_RECORD_NAME - 5
      } bytes once "/" and other characters outside A-Z a-z 0-9 . _ - are percent-encoded`,
    );
  }
}

/** `snapshots` holds snapshot records and trees; `tmp` clones being made (lib/juicefs/clone.ts). */
export type MetaDir = "volumes" | "archive" | "trash" | "snapshots" | "tmp";

/** Opens the admin mount's root (a path of the driver's own state directory) as a PathFd. */
export async function openFsRoot(mountRoot: string): Promise<PathFd> {
  // The state directory may lie under a link the operator made (/var/lib -> /data); it is the
  // driver's, not a tenant's, so it is resolved first. The mount point itself is not: a
  // stopped client would hang realpath(3), and openat2 below has a timeout.
  const path = `${await Deno.realPath(dirname(mountRoot))}/${basename(mountRoot)}`;
  return await openAbsolute(path, { field: "file system root" });
}

/**
 * Opens `/.csi-jfs/<which>` beneath the file system root without following any link, making
 * what is missing when `create` (0700, the driver's own). Undefined when missing and not
 * `create`. A link, a non-directory, or a directory others may write (a tenant who can write
 * the root could have made it) is FAILED_PRECONDITION, and nothing is touched.
 */
export async function openMetaDir(
  root: PathFd,
  which: MetaDir,
  create: boolean,
): Promise<PathFd | undefined> {
  const opts = (name: string) => ({ name: `the driver's metadata directory ${name}`, sameMount: true });
  const make = (name: string) => create ? { ...opts(name), create: { mode: 0o700 } } : opts(name);
  const top = await openBeneath(root, RESERVED_TOP, make(`/${RESERVED_TOP}`))
    .catch((e) => {
      if (codeOf(e) === Code.NOT_FOUND) return undefined;
      throw e;
    });
  if (!top) return undefined;
  try {
    await requirePrivate(top, `/${RESERVED_TOP}`);
    const dir = await openBeneath(top, which, make(`/${RESERVED_TOP}/${which}`))
      .catch((e) => {
        if (codeOf(e) === Code.NOT_FOUND) return undefined;
        throw e;
      });
    if (!dir) return undefined;
    try {
      await requirePrivate(dir, `/${RESERVED_TOP}/${which}`);
    } catch (e) {
      dir.close();
      throw e;
    }
    return dir;
  } finally {
    top.close();
  }
}

async function requirePrivate(dir: PathFd, name: string): Promise<void> {
  const st = await dir.stat();
  if (st.uid !== Deno.uid() || (st.mode & 0o022) !== 0) {
    throw failedPrecondition(
      `${name} in the file system is not the driver's (owner uid ${st.uid}, mode ${
        (st.mode & 0o7777).toString(8)
      }); a tenant may have replaced it. Check its contents, then make it root-owned and mode 0700`,
    );
  }
}

export async function readRecord(volumes: PathFd, subdir: string): Promise<VolumeRecord | undefined> {
  const name = recordName(subdir);
  if (!name) return undefined; // no such record can exist
  return await readJson<VolumeRecord>(volumes, name);
}

/** Written whole, 0600, then renamed into place: never through a link, never half a record. */
export async function writeRecord(volumes: PathFd, rec: VolumeRecord): Promise<void> {
  const name = recordName(rec.subdir);
  if (!name) throw invalidArgument(`volume directory /${rec.subdir.slice(0, 128)}... is too long to record`);
  await writeJson(volumes, name, rec);
}

export async function removeRecord(volumes: PathFd, subdir: string): Promise<void> {
  const name = recordName(subdir);
  if (name) await removeJson(volumes, name);
}

/** Every volume record, in name order (ListVolumes). */
export async function listRecords(volumes: PathFd): Promise<VolumeRecord[]> {
  const out: VolumeRecord[] = [];
  for (const name of await listJsonNames(volumes)) {
    const rec = await readJson<VolumeRecord>(volumes, name);
    if (rec?.subdir && recordName(rec.subdir) === name) out.push(rec);
  }
  return out;
}

/** A JSON file of the metadata tree, read through `dir`'s fd, no link followed; undefined when missing or torn. */
export async function readJson<T>(dir: PathFd, name: string): Promise<T | undefined> {
  const file = await openFile(dir, name);
  if (!file) return undefined;
  try {
    return JSON.parse(await Deno.readTextFile(file.procPath)) as T;
  } catch (e) {
    if (e instanceof SyntaxError) return undefined;
    throw e;
  } finally {
    file.close();
  }
}

/** Written whole, 0600, then renamed into place: never through a link, never half a file. */
export async function writeJson(dir: PathFd, name: string, value: unknown): Promise<void> {
  const tmp = `${dir.procPath}/${name}.tmp`;
  // unlink(2) removes a leftover (or a planted link) itself; O_EXCL then refuses anything new.
  await Deno.remove(tmp).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  await Deno.writeTextFile(tmp, JSON.stringify(value), { createNew: true, mode: 0o600 });
  await Deno.rename(tmp, `${dir.procPath}/${name}`);
}

export async function removeJson(dir: PathFd, name: string): Promise<void> {
  await Deno.remove(`${dir.procPath}/${name}`).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
}

/** Names of the regular `*.json` files in `dir`, sorted (links and directories are skipped). */
export async function listJsonNames(dir: PathFd): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir.procPath)) {
    if (e.isFile && !e.isSymlink && e.name.endsWith(".json")) names.push(e.name);
  }
  return names.sort();
}
