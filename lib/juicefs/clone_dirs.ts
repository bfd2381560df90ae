/**
 * Clones made whole or not at all (issue 10 item 4). A tree is cloned into the driver's
 * private `/.csi-jfs/tmp/<tmpName>` (0700; a deterministic name per target, so a retry finds
 * and removes what a failed attempt left), its inode handed to `beforeMove` (the caller
 * records it), and only then renamed (renameat2 between opened directories, no replace, no
 * link followed) to its final name. A crash at any step leaves either nothing at the final
 * name, or the complete tree with its inode already recorded.
 */
import { alreadyExists, failedPrecondition } from "../errors.ts";
import type { PathFd } from "../fs/beneath.ts";
import { moveEntry, statEntry } from "../fs/entries.ts";
import type { Cloner } from "./clone.ts";
import { openMetaDir } from "./volume_records.ts";

/** Removes `name` in `dir` (server-side, `juicefs rmr` through the fd); a no-op when missing. */
export type RemoveIn = (dir: PathFd, name: string) => Promise<void>;

export interface CloneTarget {
  /** Opened directory the tree ends up in, and its name there. */
  dir: PathFd;
  name: string;
  /** Name in `/.csi-jfs/tmp` while it is made (unique per target). */
  tmpName: string;
  /** For messages: "volume directory /x", "snapshot y". */
  what: string;
}

export async function cloneInto(
  root: PathFd,
  src: PathFd,
  target: CloneTarget,
  deps: { cloner: Cloner; removeIn: RemoveIn },
  beforeMove: (ino: string) => Promise<void>,
): Promise<string> {
  const tmp = await openMetaDir(root, "tmp", true);
  if (!tmp) throw new Error("unreachable: a created metadata directory is missing");
  try {
    if (await statEntry(target.dir, target.name)) {
      throw alreadyExists(`${target.what} already exists and is not the clone the driver made; refusing it`);
    }
    // What an attempt that failed half way left behind: ours (tmp is private), never adopted.
    await deps.removeIn(tmp, target.tmpName);
    try {
      await deps.cloner.clone(src, tmp, target.tmpName);
      const made = await statEntry(tmp, target.tmpName);
      if (made?.kind !== "directory") {
        throw failedPrecondition(`the clone for ${target.what} is not a directory`);
      }
      await beforeMove(made.ino);
      if (!(await moveEntry(tmp, target.tmpName, target.dir, target.name))) {
        throw failedPrecondition(
          `the clone for ${target.what} vanished before it was moved into place; retry`,
        );
      }
      const moved = await statEntry(target.dir, target.name);
      if (moved?.kind !== "directory" || moved.ino !== made.ino) {
        throw failedPrecondition(`${target.what} was replaced while the clone was moved into place; retry`);
      }
      return made.ino;
    } catch (e) {
      await deps.removeIn(tmp, target.tmpName).catch(() => {});
      throw e;
    }
  } finally {
    tmp.close();
  }
}
