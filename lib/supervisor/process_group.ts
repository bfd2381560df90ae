/**
 * Whether any live (not zombie) process is in the process group `pgid`, read from /proc: the
 * leader's exit status says nothing about the children juicefs forks into its group.
 */
export function processGroupAlive(pgid: number, procDir = "/proc"): boolean {
  for (const e of Deno.readDirSync(procDir)) {
    if (!/^\d+$/.test(e.name)) continue;
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`${procDir}/${e.name}/stat`);
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] !== "Z" && Number(fields[2]) === pgid) return true;
  }
  return false;
}
