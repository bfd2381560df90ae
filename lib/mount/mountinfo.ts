/** One line of /proc/self/mountinfo. */
export interface MountEntry {
  id: number;
  parentId: number;
  /** "major:minor": equal for a FUSE mount and every bind of it. */
  device: string;
  /** The directory of the source file system this mount shows ("/" for a whole mount, "/sub" for a bind of a subdirectory). */
  root: string;
  mountPoint: string;
  options: string[];
  fsType: string;
  source: string;
  superOptions: string[];
}

const unescape = (s: string): string =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const e = parseLine(line);
    if (e) out.push(e);
  }
  return out;
}

/** The kernel's escaping of a path in mountinfo (space, tab, newline, backslash as \ooo). */
const escapePath = (p: string): string =>
  p.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);

/**
 * The topmost entry mounted at `path`, straight from the table's text: only lines that hold
 * the path are parsed. On a node with a thousand mounts this is one string search (~0.05 ms)
 * where parsing the whole table costs ~1.6 ms, and a publish asks several times.
 */
export function findMountIn(text: string, path: string): MountEntry | undefined {
  const needle = ` ${escapePath(path)} `;
  let found: MountEntry | undefined;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + 1)) {
    const start = text.lastIndexOf("\n", at) + 1;
    const end = text.indexOf("\n", at);
    const e = parseLine(text.slice(start, end < 0 ? text.length : end));
    // The path may also appear as a root or a source: only the mount point field counts.
    if (e?.mountPoint === path) found = e;
  }
  return found;
}

function parseLine(line: string): MountEntry | undefined {
  if (!line.trim()) return undefined;
  const sep = line.indexOf(" - ");
  if (sep < 0) return undefined;
  const head = line.slice(0, sep).split(" ");
  const tail = line.slice(sep + 3).split(" ");
  const [id, parent, device, root, mountPoint, options] = head;
  const [fsType, source, superOptions] = tail;
  if (!id || !parent || !device || !root || !mountPoint || !options || !fsType) return undefined;
  return {
    id: Number(id),
    parentId: Number(parent),
    device,
    root: unescape(root),
    mountPoint: unescape(mountPoint),
    options: options.split(","),
    fsType,
    source: unescape(source ?? ""),
    superOptions: (superOptions ?? "").split(","),
  };
}

/** The topmost entry mounted at `path` (later lines stack on earlier ones). */
export function findMount(entries: MountEntry[], path: string): MountEntry | undefined {
  let found: MountEntry | undefined;
  for (const e of entries) if (e.mountPoint === path) found = e;
  return found;
}

export const isJuiceFs = (e: MountEntry): boolean => e.fsType === "fuse.juicefs";
export const isReadOnly = (e: MountEntry): boolean => e.options.includes("ro");
