import { subdirProblem } from "./juicefs/subdir.ts";

export const DELETE_POLICIES = ["delete", "retain", "archive"] as const;
export type DeletePolicy = typeof DELETE_POLICIES[number];

/** What a volume id carries, so that DeleteVolume and expansion need nothing but it and the secrets. */
export interface VolumeRef {
  fsName: string;
  onDelete: DeletePolicy;
  subdir: string;
}

const PREFIX = "jfs1";

export function encodeVolumeId(ref: VolumeRef): string {
  return `${PREFIX}/${ref.fsName}/${ref.onDelete}/${ref.subdir}`;
}

/** Undefined for ids this driver did not make (malformed, or a static PV's own handle). */
export function decodeVolumeId(id: string): VolumeRef | undefined {
  const [prefix, fsName, onDelete, ...rest] = id.split("/");
  if (prefix !== PREFIX || !fsName || !/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(fsName)) return undefined;
  if (!(DELETE_POLICIES as readonly string[]).includes(onDelete ?? "")) return undefined;
  const subdir = rest.join("/");
  if (subdirProblem(subdir)) return undefined;
  return { fsName, onDelete: onDelete as DeletePolicy, subdir };
}

/** What a snapshot id carries: the file system and the snapshot's name (its record's key). */
export interface SnapshotRef {
  fsName: string;
  name: string;
}

const SNAPSHOT_PREFIX = "jfs1s";
const FS_NAME_RE = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

export function encodeSnapshotId(ref: SnapshotRef): string {
  return `${SNAPSHOT_PREFIX}/${ref.fsName}/${encodeURIComponent(ref.name)}`;
}

/** Undefined for ids this driver did not make; the record, not the id, says what the snapshot is. */
export function decodeSnapshotId(id: string): SnapshotRef | undefined {
  const [prefix, fsName, encoded, ...rest] = id.split("/");
  if (prefix !== SNAPSHOT_PREFIX || rest.length > 0 || !fsName || !FS_NAME_RE.test(fsName) || !encoded) {
    return undefined;
  }
  let name: string;
  try {
    name = decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
  // One spelling per snapshot: an id that encodes the same name differently is not ours.
  if (!name || name.includes("\0") || encodeURIComponent(name) !== encoded) return undefined;
  return { fsName, name };
}

/** Whether two volume ids name the same volume (the delete policy in an id is not identity). */
export function sameVolume(a: string, b: string): boolean {
  const x = decodeVolumeId(a);
  const y = decodeVolumeId(b);
  return !!x && !!y && x.fsName === y.fsName && x.subdir === y.subdir;
}
