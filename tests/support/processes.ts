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

/** What a command printed (stdout then stderr); `code` is null when it was killed for its time. */
export interface Run {
  code: number | null;
  out: string;
}

/** Runs a command to completion, SIGKILLing it after `timeoutMs` (code is then null). */
export async function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<Run> {
  const child = new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    kill(child.pid, "SIGKILL");
  }, timeoutMs);
  try {
    const { code, stdout, stderr } = await child.output();
    const dec = new TextDecoder();
    return { code: timedOut ? null : code, out: dec.decode(stdout) + dec.decode(stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** run(), and an error with the output unless the command exited 0. */
export async function mustRun(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const r = await run(cmd, args, timeoutMs);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.code ?? "timeout"}\n${r.out}`);
  return r.out;
}
