/**
 * Whether a live (not zombie) process of the process group `pgid` runs, read from /proc: the
 * leader's exit says nothing about the children juicefs forks into its group. With `comm`,
 * only processes of those names count (the kernel keeps the first 15 bytes of a name): juicefs also runs helpers such as `df` on its mount
 * point, which wait (killably) on a connection nobody serves any more and would otherwise
 * look like a client that does not stop.
 */
export function processGroupAlive(
  pgid: number,
  opts: { comm?: readonly string[]; procDir?: string } = {},
): boolean {
  const procDir = opts.procDir ?? "/proc";
  for (const e of Deno.readDirSync(procDir)) {
    if (!/^\d+$/.test(e.name)) continue;
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`${procDir}/${e.name}/stat`);
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const close = stat.lastIndexOf(")");
    const fields = stat.slice(close + 2).split(" ");
    if (fields[0] === "Z" || Number(fields[2]) !== pgid) continue;
    if (opts.comm === undefined || opts.comm.includes(stat.slice(stat.indexOf("(") + 1, close))) return true;
  }
  return false;
}

/** The names (/proc comm) a program started from `path` runs under: the link's and the file's. */
export function commNames(path: string): string[] {
  const base = (p: string) => p.slice(p.lastIndexOf("/") + 1).slice(0, 15);
  const names = new Set([base(path)]);
  try {
    names.add(base(Deno.realPathSync(path)));
  } catch { /* not found here: the name alone */ }
  return [...names];
}
