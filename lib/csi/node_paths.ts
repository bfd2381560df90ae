import { failedPrecondition, invalidArgument } from "../errors.ts";
import { decodeVolumeId } from "../volume_id.ts";
import { checkSubdir } from "../juicefs/subdir.ts";
import { kindAndLinkFree, type PathKind, pathKind } from "../mount/paths.ts";
import { logger } from "../log.ts";
import { NAME_MAX } from "../fs/beneath.ts";

const log = logger("node");
const MAX_ECHO = 256;

export const echo = (s: string): string => s.length > MAX_ECHO ? `${s.slice(0, MAX_ECHO)}...` : s;

export function required(value: string, field: string): string {
  if (!value) throw invalidArgument(`${field} is required`);
  if (value.includes("\0")) throw invalidArgument(`${field} contains NUL`);
  return value;
}

export function requiredPath(value: string, field: string): string {
  required(value, field);
  if (!value.startsWith("/") || value.split("/").includes("..") || value.length > 4096) {
    throw invalidArgument(`${field} must be an absolute path without ".." (got "${echo(value)}")`);
  }
  checkNameLengths(value, field);
  return value.length > 1 ? value.replace(/\/+$/, "") : value;
}

const encoder = new TextEncoder();

/** No file system of Linux takes a name over NAME_MAX bytes (ENAMETOOLONG): the caller's mistake. */
export function checkNameLengths(path: string, field: string): void {
  const long = path.split("/").find((c) => encoder.encode(c).length > NAME_MAX);
  if (long !== undefined) {
    throw invalidArgument(
      `${field} has a component of ${encoder.encode(long).length} bytes (at most ${NAME_MAX}): "${
        echo(long)
      }"`,
    );
  }
}

/**
 * The volume's directory inside the file system: from our id, or a static PV's `subdir`
 * attribute, else the root. An id that claims to be ours but does not decode is refused
 * rather than read as "the whole file system".
 */
export function volumeSubdir(volumeId: string, context: Record<string, string>): string {
  const ref = decodeVolumeId(volumeId);
  if (ref) return ref.subdir;
  if (volumeId.startsWith("jfs1/")) throw invalidArgument(`volume_id "${echo(volumeId)}" is malformed`);
  const sub = (context["subdir"] ?? context["subPath"] ?? "").replace(/^\/+|\/+$/g, "");
  return sub ? checkSubdir(sub, "volume attribute subdir") : "";
}

/**
 * A staging or target path must be a directory (or absent) reached without symbolic
 * links: a link would carry the mount, and later the removal, somewhere else.
 */
export async function checkMountTarget(path: string, field: string): Promise<void> {
  if ((await checkedTargetKind(path, field)) === "other") {
    throw failedPrecondition(`${field} ${echo(path)} exists and is not a directory`);
  }
}

/**
 * checkMountTarget, except that a file (kind "other") is returned rather than refused: what
 * an unstage or unpublish leaves alone. One worker message for both questions.
 */
export async function checkedTargetKind(path: string, field: string): Promise<PathKind> {
  const { kind, linkFree } = await kindAndLinkFree(path);
  if (kind === "other") return kind;
  if (kind === "symlink" || !linkFree) {
    throw failedPrecondition(`${field} ${echo(path)} is or lies under a symbolic link`);
  }
  return kind;
}

/** Removes the (empty) directory the driver created; never a file, a link or a non-empty directory. */
export async function removeMountDir(path: string): Promise<void> {
  if ((await pathKind(path)) !== "directory") return;
  await Deno.remove(path).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) {
      log.warn("could not remove {path}: {e}", { path, e: String(e) });
    }
  });
}
