/**
 * The juicefs processes of a mount, for tests that kill them. juicefs rewrites its argv in
 * place (to hide passwords): /proc/PID/cmdline then holds the arguments joined by spaces, so
 * split on NUL and space both. Zombies are not counted.
 */
export function juicefsPids(mnt: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const argv = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split(/[\0 ]/);
      const state = Deno.readTextFileSync(`/proc/${e.name}/stat`).replace(/^.*\) /, "")[0];
      if (state === "Z") continue;
      if ((argv[0] ?? "").endsWith("juicefs") && argv.includes("mount") && argv.includes(mnt)) {
        pids.push(Number(e.name));
      }
    } catch { /* exited meanwhile */ }
  }
  return pids;
}

/** A signal to a process that may have exited already. */
export function kill(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch { /* gone */ }
}
