/**
 * Snapshots live in the driver's metadata tree, `/.csi-jfs/snapshots/` (0700, the driver's;
 * no pathPattern or volume id can name anything under `/.csi-jfs`): for a snapshot named N,
 * the record `<N>.json` and the cloned tree `<N>.tree` (N percent-encoded, so never a "/").
 * A record ends in ".json" and a tree in ".tree": no name of one is the name of another.
 * The record is written before the tree is moved into place (with the tree's inode) and
 * removed after the tree is gone, so a tree never exists without the record that owns it.
 */
import { invalidArgument } from "../errors.ts";
import type { PathFd } from "../fs/beneath.ts";
import { listJsonNames, readJson, removeJson, writeJson } from "./volume_records.ts";

export interface SnapshotRecord {
  name: string;
  /** The source volume's id as CreateSnapshot was given it. */
  sourceVolumeId: string;
  sourceSubdir: string;
  /** The source volume's capacity when the snapshot was taken: the least a restore may ask for. */
  sizeBytes: string;
  createdAt: string;
  state: "creating" | "ready";
  /** The tree's inode, recorded before the tree is moved into place. */
  ino?: string;
}

/** NAME_MAX less ".tree.tmp"-style suffixes. */
const MAX_KEY = 240;

export function snapshotKey(name: string): string | undefined {
  const key = encodeURIComponent(name);
  return new TextEncoder().encode(key).length <= MAX_KEY ? key : undefined;
}

export function checkSnapshotName(name: string): string {
  if (!name) throw invalidArgument("name is required");
  if (name.includes("\0") || !snapshotKey(name)) {
    throw invalidArgument(`snapshot name "${name.slice(0, 64)}..." contains NUL or is too long to record`);
  }
  return snapshotKey(name)!;
}

export const treeName = (key: string): string => `${key}.tree`;
const recordFile = (key: string): string => `${key}.json`;

export async function readSnapshotRecord(dir: PathFd, name: string): Promise<SnapshotRecord | undefined> {
  const key = snapshotKey(name);
  if (!key) return undefined;
  const rec = await readJson<SnapshotRecord>(dir, recordFile(key));
  return rec?.name === name ? rec : undefined;
}

export async function writeSnapshotRecord(dir: PathFd, rec: SnapshotRecord): Promise<void> {
  await writeJson(dir, recordFile(checkSnapshotName(rec.name)), rec);
}

export async function removeSnapshotRecord(dir: PathFd, name: string): Promise<void> {
  const key = snapshotKey(name);
  if (key) await removeJson(dir, recordFile(key));
}

/** Every snapshot record in the directory. */
export async function listSnapshotRecords(dir: PathFd): Promise<SnapshotRecord[]> {
  const out: SnapshotRecord[] = [];
  for (const file of await listJsonNames(dir)) {
    const rec = await readJson<SnapshotRecord>(dir, file);
    if (rec?.name && recordFile(snapshotKey(rec.name) ?? "") === file) out.push(rec);
  }
  return out;
}
