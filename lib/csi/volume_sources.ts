/**
 * CreateVolume from a content source, a snapshot or another volume (issue 10 item 3): the
 * source's tree is cloned (metadata only) into the new volume's directory, made whole in
 * `/.csi-jfs/tmp` first (lib/juicefs/clone_dirs.ts). The restored volume shares data blocks
 * with its source by reference counts, so deleting the source never takes its data away.
 */
import { posix } from "node:path";
import type { VolumeContentSource__Output } from "./generated/csi/v1/VolumeContentSource.ts";
import type { VolumeContentSource } from "./generated/csi/v1/VolumeContentSource.ts";
import { failedPrecondition, invalidArgument, notFound } from "../errors.ts";
import type { PathFd } from "../fs/beneath.ts";
import { cloneInto, type RemoveIn } from "../juicefs/clone_dirs.ts";
import type { Cloner } from "../juicefs/clone.ts";
import {
  openMetaDir,
  readRecord,
  recordName,
  type VolumeRecord,
  writeRecord,
} from "../juicefs/volume_records.ts";
import { openParentDir, openVolumeDir, type VolumeDir } from "../juicefs/volume_dirs.ts";
import { decodeSnapshotId, decodeVolumeId, type SnapshotRef, type VolumeRef } from "../volume_id.ts";
import { openSnapshotTree, snapshotLockKey } from "./snapshots.ts";
import { echoId, using } from "./controller_support.ts";

export type Source =
  | { kind: "snapshot"; id: string; ref: SnapshotRef }
  | { kind: "volume"; id: string; ref: VolumeRef };

/** The source of a CreateVolume, checked against the file system the volume goes into. */
export function parseContentSource(
  src: VolumeContentSource__Output | null | undefined,
  fsName: string,
): Source | undefined {
  if (!src) return undefined;
  const other = (what: string, fs: string) =>
    invalidArgument(
      `the source ${what} is in file system "${fs}" but the volume would be in "${fsName}": ` +
        `a clone shares data blocks, so it can only be made within one file system`,
    );
  if (src.snapshot || src.type === "snapshot") {
    const id = src.snapshot?.snapshot_id ?? "";
    if (!id) throw invalidArgument("volume_content_source.snapshot.snapshot_id is required");
    const ref = decodeSnapshotId(id);
    if (!ref) throw notFound(`source snapshot "${id.slice(0, 128)}" does not exist`);
    if (ref.fsName !== fsName) throw other("snapshot", ref.fsName);
    return { kind: "snapshot", id, ref };
  }
  if (src.volume || src.type === "volume") {
    const id = src.volume?.volume_id ?? "";
    if (!id) throw invalidArgument("volume_content_source.volume.volume_id is required");
    const ref = decodeVolumeId(id);
    if (!ref) throw notFound(`source volume "${id.slice(0, 128)}" does not exist`);
    if (ref.fsName !== fsName) throw other("volume", ref.fsName);
    return { kind: "volume", id, ref };
  }
  throw invalidArgument("volume_content_source names neither a snapshot nor a volume");
}

export const sourceLockKey = (s: Source): string =>
  s.kind === "snapshot" ? snapshotLockKey(s.ref.fsName, s.ref.name) : `${s.ref.fsName}/${s.ref.subdir}`;

export const recordedSource = (s: Source): NonNullable<VolumeRecord["contentSource"]> =>
  s.kind === "snapshot" ? { snapshotId: s.id } : { volumeId: s.id };

export function sourceMessage(rec: VolumeRecord): VolumeContentSource | undefined {
  const c = rec.contentSource;
  if (!c) return undefined;
  return "snapshotId" in c
    ? { snapshot: { snapshot_id: c.snapshotId }, type: "snapshot" }
    : { volume: { volume_id: c.volumeId }, type: "volume" };
}

export function sameSource(rec: VolumeRecord, s: Source | undefined): boolean {
  const c = rec.contentSource;
  if (!c || !s) return !c && !s;
  return "snapshotId" in c ? s.kind === "snapshot" && c.snapshotId === s.id : s.kind === "volume" &&
    decodeVolumeId(c.volumeId)?.subdir === s.ref.subdir;
}

/** Opens the source's tree and its size (the least a restore may ask for); NOT_FOUND if gone. */
export async function openSource(root: PathFd, s: Source): Promise<{ tree: PathFd; sizeBytes: bigint }> {
  if (s.kind === "snapshot") {
    const found = await openSnapshotTree(root, s.ref.name);
    if (!found) throw notFound(`source snapshot "${echoId(s.id)}" does not exist`);
    return { tree: found.tree, sizeBytes: BigInt(found.rec.sizeBytes) };
  }
  const missing = () => notFound(`source volume "${echoId(s.id)}" does not exist`);
  const rec = await using(await openMetaDir(root, "volumes", false), async (volumes) => {
    const r = volumes && await readRecord(volumes, s.ref.subdir);
    if (!r) throw missing();
    if (r.state === "creating") {
      throw failedPrecondition(`source volume "${echoId(s.id)}" is still being created`);
    }
    return r;
  });
  const v = await openVolumeDir(root, rec);
  if (!v) throw missing();
  v.parent.close();
  return { tree: v.dir, sizeBytes: BigInt(rec.capacityBytes) };
}

/**
 * The directory of a volume made from `tree`, cloned whole and then moved into place. A retry
 * of a create that got the clone into place (its inode is recorded) goes on with it.
 */
export async function makeClonedVolumeDir(
  root: PathFd,
  volumes: PathFd,
  rec: VolumeRecord,
  tree: PathFd,
  deps: { cloner: Cloner; removeIn: RemoveIn },
): Promise<VolumeDir> {
  if (rec.ino) {
    const v = await openVolumeDir(root, rec).catch(() => undefined);
    if (v) return v;
  }
  const parent = await openParentDir(root, rec.subdir, true);
  if (!parent) throw new Error("unreachable: a created parent is missing");
  let ino: string;
  try {
    const target = {
      dir: parent,
      name: posix.basename(rec.subdir),
      tmpName: `v-${recordName(rec.subdir)!.replace(/\.json$/, "")}`,
      what: `volume directory /${rec.subdir}`,
    };
    ino = await cloneInto(root, tree, target, deps, (i) => writeRecord(volumes, { ...rec, ino: i }));
  } finally {
    parent.close();
  }
  const v = await openVolumeDir(root, { ...rec, ino });
  if (!v) throw failedPrecondition(`volume directory /${rec.subdir} vanished after it was cloned; retry`);
  return v;
}
