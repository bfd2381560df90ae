import { dirname } from "node:path";

export type PathKind = "missing" | "directory" | "symlink" | "other" | "broken";

/** What is at `path` itself (no link followed); "broken" for a dead FUSE mount and the like. */
export async function pathKind(path: string): Promise<PathKind> {
  try {
    const st = await Deno.lstat(path);
    if (st.isSymlink) return "symlink";
    return st.isDirectory ? "directory" : "other";
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "missing";
    if (e instanceof Deno.errors.NotADirectory) return "other";
    return "broken";
  }
}

/**
 * Whether the existing part of `path` reaches its place without following a symbolic
 * link: a link anywhere along it could point a mount, a bind or a delete elsewhere.
 */
export async function isLinkFree(path: string): Promise<boolean> {
  let p = path;
  while (p !== "/") {
    const kind = await pathKind(p);
    if (kind === "symlink") return false;
    if (kind === "missing") {
      p = dirname(p);
      continue;
    }
    if (kind === "broken") return true; // a dead mount point: nothing behind it resolves anyway
    try {
      return (await Deno.realPath(p)) === p;
    } catch {
      return false;
    }
  }
  return true;
}
