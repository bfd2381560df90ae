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

/** The entry with mount id `id`, straight from the table's text (the id opens its line). */
export function findMountByIdIn(text: string, id: number): MountEntry | undefined {
  const head = `${id} `;
  const at = text.startsWith(head) ? 0 : text.indexOf(`\n${head}`);
  if (at < 0) return undefined;
  const start = at === 0 ? 0 : at + 1;
  const end = text.indexOf("\n", start);
  const e = parseLine(text.slice(start, end < 0 ? text.length : end));
  return e?.id === id ? e : undefined;
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

/**
 * One read of the mount table, for the lookups of one CSI call: a publish asked the table
 * five times (the staging mount, the clients twice, the target), each read and search
 * ~0.1-0.3 ms of the JS thread. Lookups search the text; the whole table is parsed only when
 * asked for (entries()), once.
 */
export class MountTable {
  private parsed: MountEntry[] | undefined;

  private constructor(private text: string | undefined, entries?: MountEntry[]) {
    this.parsed = entries;
  }

  static fromText(text: string): MountTable {
    return new MountTable(text);
  }

  static fromEntries(entries: MountEntry[]): MountTable {
    return new MountTable(undefined, entries);
  }

  /** The topmost entry mounted at `path`. */
  at(path: string): MountEntry | undefined {
    return this.text !== undefined ? findMountIn(this.text, path) : findMount(this.entries(), path);
  }

  entries(): MountEntry[] {
    this.parsed ??= parseMountinfo(this.text ?? "");
    return this.parsed;
  }
}

/** The topmost entry mounted at `path` (later lines stack on earlier ones). */
export function findMount(entries: MountEntry[], path: string): MountEntry | undefined {
  let found: MountEntry | undefined;
  for (const e of entries) if (e.mountPoint === path) found = e;
  return found;
}

export const isJuiceFs = (e: MountEntry): boolean => e.fsType === "fuse.juicefs";
export const isReadOnly = (e: MountEntry): boolean => e.options.includes("ro");
