import { join } from "node:path";
import { RESERVED_TOP } from "./subdir.ts";

/**
 * What CreateVolume was asked for, kept in the file system beside the volumes
 * (`/.csi-jfs/volumes/`): a retried CreateVolume must compare against the exact
 * capacity, which `juicefs quota get` only prints rounded.
 */
export interface VolumeRecord {
  name: string;
  subdir: string;
  /** Bytes as a decimal string; "0" for no quota. */
  capacityBytes: string;
  createdAt: string;
}

const recordsDir = (root: string): string => join(root, RESERVED_TOP, "volumes");
const recordPath = (root: string, subdir: string): string =>
  join(recordsDir(root), `${encodeURIComponent(subdir)}.json`);

export async function readRecord(root: string, subdir: string): Promise<VolumeRecord | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(recordPath(root, subdir))) as VolumeRecord;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof SyntaxError) return undefined;
    throw e;
  }
}

export async function writeRecord(root: string, rec: VolumeRecord): Promise<void> {
  await Deno.mkdir(recordsDir(root), { recursive: true, mode: 0o700 });
  const path = recordPath(root, rec.subdir);
  await Deno.writeTextFile(`${path}.tmp`, JSON.stringify(rec));
  await Deno.rename(`${path}.tmp`, path);
}

export async function removeRecord(root: string, subdir: string): Promise<void> {
  await Deno.remove(recordPath(root, subdir)).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
}

export const archiveDir = (root: string): string => join(root, RESERVED_TOP, "archive");
