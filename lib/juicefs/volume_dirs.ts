/**
 * The controller's acts on volume directories, each through fds opened without following
 * links (lib/fs/), so that a tenant who swaps a directory for a link (or for another
 * directory) between a check and an act cannot redirect the act (issue 11 items 1, 3, 4):
 *
 * - a volume directory is made by mkdirat in its opened parent, opened, and known by inode
 *   from then on (the record keeps it);
 * - the quota, which `juicefs quota set` can only take as a path, is set between two checks
 *   that the path still reaches that inode; the mode is set through the fd;
 * - delete and archive rename the directory (renameat2 between opened directories, no
 *   replace) into the driver's private `/.csi-jfs/trash` or `archive`, check that what moved
 *   is that inode (else move it back and refuse), and only then remove it there.
 *
 * The quota engine and `juicefs rmr` work inside JuiceFS's metadata and never follow links
 * (a link on the path is ENOTDIR to them), so they cannot reach a host directory either way.
 */
import { posix } from "node:path";
import { alreadyExists, Code, codeOf, failedPrecondition } from "../errors.ts";
import { openBeneath, type PathFd } from "../fs/beneath.ts";
import { type EntryStat, makeDir, moveEntry, statEntry } from "../fs/entries.ts";
import type { VolumeRecord } from "./volume_records.ts";

/** Parents the driver makes for a pathPattern (`team/` of `team/member`): listable, not writable. */
const PARENT_MODE = 0o755;
/** A new volume directory is private until its quota is set, then opened to pods (VOLUME_MODE). */
const NEW_MODE = 0o700;
/** Pods run as any user: the volume root must be writable by them, as with JuiceFS CSI. */
export const VOLUME_MODE = 0o777;

const opts = (subdir: string) => ({ name: `volume directory /${subdir}`, sameMount: true });

export interface VolumeDir {
  parent: PathFd;
  base: string;
  dir: PathFd;
  ino: string;
  close(): void;
}

/** Opens the parent of `subdir` (making it when `create`); undefined when it is missing. */
export async function openParentDir(
  root: PathFd,
  subdir: string,
  create: boolean,
): Promise<PathFd | undefined> {
  const parent = posix.dirname(subdir);
  const rel = parent === "." ? "" : parent;
  const o = opts(subdir);
  return await openBeneath(root, rel, create ? { ...o, create: { mode: PARENT_MODE } } : o).catch(
    (e) => {
      if (!create && codeOf(e) === Code.NOT_FOUND) return undefined;
      throw e;
    },
  );
}

function refuseEntry(subdir: string, st: EntryStat, rec: VolumeRecord | undefined): never {
  if (st.kind === "symlink") {
    throw failedPrecondition(`volume directory /${subdir} is a symbolic link; refusing to use it`);
  }
  if (rec?.ino) {
    throw failedPrecondition(
      `volume directory /${subdir} is not the directory the driver made for volume "${rec.name}" ` +
        `(inode ${st.ino}, recorded ${rec.ino}); it was moved or replaced. Refusing to touch it`,
    );
  }
  // ALREADY_EXISTS, not FAILED_PRECONDITION: the name the caller asked for is taken by
  // something else, and no retry will change that; another name (pathPattern) will.
  throw alreadyExists(
    `directory /${subdir} already exists and was not made by this driver; it is not adopted. ` +
      `Use a static PersistentVolume for existing data, or a pathPattern that names a new directory`,
  );
}

/** Whether `subdir` still reaches inode `ino` from the root, no link followed. */
async function stillThere(root: PathFd, subdir: string, ino: string): Promise<boolean> {
  const d = await openBeneath(root, subdir, opts(subdir)).catch(() => undefined);
  if (!d) return false;
  try {
    return (await d.stat()).ino === ino;
  } finally {
    d.close();
  }
}

function volumeDir(parent: PathFd, base: string, dir: PathFd, ino: string): VolumeDir {
  return {
    parent,
    base,
    dir,
    ino,
    close() {
      dir.close();
      parent.close();
    },
  };
}

/**
 * Opens the volume directory of `rec` (undefined when it is gone). A link, or a directory
 * that is not the recorded inode, is FAILED_PRECONDITION.
 */
export async function openVolumeDir(root: PathFd, rec: VolumeRecord): Promise<VolumeDir | undefined> {
  const parent = await openParentDir(root, rec.subdir, false);
  if (!parent) return undefined;
  try {
    const base = posix.basename(rec.subdir);
    const st = await statEntry(parent, base);
    if (!st) {
      parent.close();
      return undefined;
    }
    if (st.kind !== "directory" || (rec.ino && st.ino !== rec.ino)) refuseEntry(rec.subdir, st, rec);
    const dir = await openBeneath(parent, base, opts(rec.subdir));
    const ino = (await dir.stat()).ino;
    if (ino !== st.ino) {
      dir.close();
      throw failedPrecondition(`volume directory /${rec.subdir} changed while it was opened; retry`);
    }
    return volumeDir(parent, base, dir, ino);
  } catch (e) {
    parent.close();
    throw e;
  }
}

/**
 * Makes (or, on a retry of an unfinished create, reopens) the directory of a volume. A
 * directory already at the path that is not the recorded one is never adopted.
 */
export async function makeVolumeDir(
  root: PathFd,
  subdir: string,
  rec: VolumeRecord | undefined,
): Promise<VolumeDir> {
  const parent = await openParentDir(root, subdir, true);
  if (!parent) throw new Error("unreachable: a created parent is missing");
  try {
    const base = posix.basename(subdir);
    const made = await makeDir(parent, base, NEW_MODE);
    const st = await statEntry(parent, base);
    if (!st) throw failedPrecondition(`volume directory /${subdir} vanished while it was made; retry`);
    if (!made && (st.kind !== "directory" || !rec?.ino || st.ino !== rec.ino)) refuseEntry(subdir, st, rec);
    if (made && (st.kind !== "directory" || st.uid !== Deno.uid())) {
      throw failedPrecondition(`volume directory /${subdir} was replaced while it was made; retry`);
    }
    const dir = await openBeneath(parent, base, opts(subdir));
    const fst = await dir.stat();
    if (fst.ino !== st.ino) {
      dir.close();
      throw failedPrecondition(`volume directory /${subdir} was replaced while it was made; retry`);
    }
    if (made) await dir.chmod(NEW_MODE); // exactly, whatever the umask
    return volumeDir(parent, base, dir, fst.ino);
  } catch (e) {
    parent.close();
    throw e;
  }
}

/**
 * Runs `setQuota` (which names the directory by path) only while `subdir` reaches `v`, and
 * checks again after: a directory swapped in meanwhile fails the call (FAILED_PRECONDITION).
 */
export async function quotaOnVolume(
  root: PathFd,
  subdir: string,
  v: VolumeDir,
  setQuota: () => Promise<void>,
): Promise<void> {
  const replaced = () =>
    failedPrecondition(`volume directory /${subdir} was replaced while its quota was set; refusing it`);
  if (!(await stillThere(root, subdir, v.ino))) throw replaced();
  try {
    await setQuota();
  } catch (e) {
    // The quota engine walks the path in JuiceFS's metadata and follows no link: one swapped in
    // (even for an instant) is "not a directory" to it. Say what happened, not that.
    if (/resolve dir .*(not a directory|no such file or directory)/i.test(String((e as Error)?.message))) {
      throw replaced();
    }
    if (!(await stillThere(root, subdir, v.ino))) throw replaced();
    throw e;
  }
  if (!(await stillThere(root, subdir, v.ino))) throw replaced();
}

/**
 * Moves the volume directory into `dest` as `name`, and checks that what moved is the
 * directory that was opened. Something else (a link or a directory swapped in at the last
 * moment) is moved back, and the call fails.
 */
export async function moveVolumeDir(
  v: VolumeDir,
  subdir: string,
  dest: PathFd,
  name: string,
): Promise<boolean> {
  if (!(await moveEntry(v.parent, v.base, dest, name))) return false;
  const moved = await statEntry(dest, name);
  if (moved?.kind === "directory" && moved.ino === v.ino) return true;
  await moveEntry(dest, name, v.parent, v.base);
  throw failedPrecondition(`volume directory /${subdir} was replaced while it was being moved; refusing it`);
}
