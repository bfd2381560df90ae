/** Timing helpers for the benchmark: wall-clock milliseconds of one action. */

export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Runs a command and returns how long it took; a failure aborts the benchmark with its output. */
export async function timedCmd(cmd: string, args: string[], env?: Record<string, string>): Promise<number> {
  const t0 = performance.now();
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", ...(env ? { env } : {}) })
    .output();
  const elapsed = performance.now() - t0;
  if (!r.success) {
    throw new Error(`${cmd} ${args.join(" ")}: exit ${r.code}: ${new TextDecoder().decode(r.stderr).trim()}`);
  }
  return elapsed;
}

export async function sh(cmd: string): Promise<string> {
  const r = await new Deno.Command("bash", { args: ["-c", cmd], stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(r.stdout);
  if (!r.success) throw new Error(`${cmd}: exit ${r.code}: ${new TextDecoder().decode(r.stderr).trim()}`);
  return text.trim();
}
