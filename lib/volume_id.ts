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
