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
    if (!line.trim()) continue;
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const head = line.slice(0, sep).split(" ");
    const tail = line.slice(sep + 3).split(" ");
    const [id, parent, device, root, mountPoint, options] = head;
    const [fsType, source, superOptions] = tail;
    if (!id || !parent || !device || !root || !mountPoint || !options || !fsType) continue;
    out.push({
      id: Number(id),
      parentId: Number(parent),
      device,
      root: unescape(root),
      mountPoint: unescape(mountPoint),
      options: options.split(","),
      fsType,
      source: unescape(source ?? ""),
      superOptions: (superOptions ?? "").split(","),
    });
  }
  return out;
}

/** The topmost entry mounted at `path` (later lines stack on earlier ones). */
export function findMount(entries: MountEntry[], path: string): MountEntry | undefined {
  let found: MountEntry | undefined;
  for (const e of entries) if (e.mountPoint === path) found = e;
  return found;
}

export const isJuiceFs = (e: MountEntry): boolean => e.fsType === "fuse.juicefs";
export const isReadOnly = (e: MountEntry): boolean => e.options.includes("ro");
