/**
 * Entries (one name) inside a directory opened by lib/fs/beneath.ts, acted on through the
 * directory's fd and never through a link: what the controller needs beyond opening
 * directories (issue 11 items 1-3). A name here is one path component.
 *
 * - `statEntry`: what `name` itself is (a link is reported as a link, not followed).
 * - `makeDir`: mkdirat, then the exact mode through the new directory's fd.
 * - `moveEntry`: renameat2 between two opened directories, never replacing: a link swapped in
 *   for a directory moves the link, and nothing outside the file system can be reached.
 * - `openFile`: an O_PATH fd of a regular file reached with no link; read it through its
 *   `/proc/self/fd/N`.
 *
 * Errors are coded as in beneath.ts (errnoError).
 */
import { failedPrecondition } from "../errors.ts";
import { errnoError, type PathFd } from "./beneath.ts";
import * as libc from "./libc_fs.ts";
import { fsCall } from "./syscalls.ts";

const AT_SYMLINK_NOFOLLOW = 0x100;
const RENAME_NOREPLACE = 1;
const S_IFMT = 0o170000;
const KINDS: Record<number, EntryKind> = { 0o040000: "directory", 0o100000: "file", 0o120000: "symlink" };

export type EntryKind = "directory" | "file" | "symlink" | "other";

export interface EntryStat {
  kind: EntryKind;
  ino: string;
  dev: string;
  mode: number;
  uid: number;
}

const where = (dir: PathFd, name: string): string => `${dir.path.replace(/\/$/, "")}/${name}`;

/** What `name` in `dir` is, without following it; undefined when there is nothing. */
export async function statEntry(dir: PathFd, name: string): Promise<EntryStat | undefined> {
  const r = await fsCall("statx", [dir.fd, name, AT_SYMLINK_NOFOLLOW], { what: `stat ${where(dir, name)}` });
  if (r.ret !== 0 || !r.stat) {
    if (r.errno === libc.ENOENT) return undefined;
    throw errnoError(r.errno, where(dir, name), {}, "stat");
  }
  const { ino, dev, mode, uid } = r.stat;
  return { kind: KINDS[mode & S_IFMT] ?? "other", ino, dev, mode: mode & 0o7777, uid };
}

/** Makes directory `name` in `dir` with exactly `mode`; false if something is there already. */
export async function makeDir(dir: PathFd, name: string, mode: number): Promise<boolean> {
  const r = await fsCall("mkdirat", [dir.fd, name, mode], { what: `mkdir ${where(dir, name)}` });
  if (r.ret !== 0) {
    if (r.errno === libc.EEXIST) return false;
    throw errnoError(r.errno, where(dir, name), {}, "mkdir");
  }
  return true;
}

/** Renames `from`/`name` to `to`/`newName`; false if `name` is gone. Never replaces `newName`. */
export async function moveEntry(from: PathFd, name: string, to: PathFd, newName: string): Promise<boolean> {
  const r = await fsCall("renameat2", [from.fd, name, to.fd, newName, RENAME_NOREPLACE], {
    what: `rename ${where(from, name)}`,
  });
  if (r.ret !== 0) {
    if (r.errno === libc.ENOENT) return false;
    throw errnoError(r.errno, where(from, name), {}, "rename");
  }
  return true;
}

export interface FileFd {
  readonly procPath: string;
  close(): void;
}

/** An O_PATH fd of regular file `name` in `dir`; undefined when missing. A link is refused. */
export async function openFile(dir: PathFd, name: string): Promise<FileFd | undefined> {
  const path = where(dir, name);
  const resolve = libc.RESOLVE_BENEATH | libc.RESOLVE_NO_SYMLINKS | libc.RESOLVE_NO_MAGICLINKS;
  const r = await fsCall("openat2", [dir.fd, name, libc.O_PATH | libc.O_CLOEXEC, resolve], {
    what: `open ${path}`,
  });
  if (r.ret < 0) {
    if (r.errno === libc.ENOENT) return undefined;
    throw errnoError(r.errno, path);
  }
  const fd = r.ret;
  const close = () => void libc.close(fd);
  // Reopening through /proc/self/fd of a FIFO or a device would block or act: files only.
  const st = await fsCall("statx", [fd, "", libc.AT_EMPTY_PATH], { what: `stat ${path}` });
  if (st.ret !== 0 || !st.stat || (st.stat.mode & S_IFMT) !== 0o100000) {
    close();
    if (st.ret !== 0) throw errnoError(st.errno, path, {}, "stat");
    throw failedPrecondition(`${path} is not a regular file`);
  }
  return { procPath: `/proc/self/fd/${fd}`, close };
}
